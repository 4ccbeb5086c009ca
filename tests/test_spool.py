"""The spool on its own: durability bookkeeping, crash recovery, bounded disk use."""

from __future__ import annotations

import json
import os

from engine.ingest.spool import Spool


def lines(n: int, start: int = 0) -> list[bytes]:
    return [json.dumps({"i": i}).encode() + b"\n" for i in range(start, start + n)]


def test_batches_follow_the_checkpoint(tmp_path):
    spool = Spool(str(tmp_path))
    spool.append(lines(5))
    batch = spool.next_batch(3)
    assert [json.loads(x)["i"] for x in batch.lines] == [0, 1, 2]
    spool.done(batch)
    batch = spool.next_batch(10)
    assert [json.loads(x)["i"] for x in batch.lines] == [3, 4]
    spool.done(batch)
    assert spool.next_batch(10) is None
    assert spool.size_bytes() == 0


def test_inflight_batch_is_replayed_exactly_after_a_crash(tmp_path):
    spool = Spool(str(tmp_path))
    spool.append(lines(4))
    inflight = spool.next_batch(3)
    spool.append(lines(4, start=4))  # more rows arrive while the insert is under way
    # crash: no done(); a new process opens the spool
    reopened = Spool(str(tmp_path))
    assert reopened.recovered_rows == 8
    replay = reopened.next_batch(100)
    assert (replay.segment, replay.start, replay.end) == (inflight.segment, inflight.start, inflight.end)
    assert replay.token == inflight.token and replay.lines == inflight.lines
    reopened.done(replay)
    rest = reopened.next_batch(100)
    assert [json.loads(x)["i"] for x in rest.lines] == [3, 4, 5, 6, 7]


def test_torn_unacknowledged_tail_is_cut(tmp_path):
    spool = Spool(str(tmp_path))
    spool.append(lines(2))
    spool.close()
    [segment] = [p for p in os.listdir(tmp_path) if p.startswith("seg-")]
    with open(tmp_path / segment, "ab") as handle:
        handle.write(b'{"i": 99')  # a crash in the middle of a write
    reopened = Spool(str(tmp_path))
    assert reopened.recovered_rows == 2
    batch = reopened.next_batch(10)
    assert [json.loads(x)["i"] for x in batch.lines] == [0, 1]


def test_the_sync_mode_decides_whether_a_group_waits_for_fsync(tmp_path, monkeypatch):
    """CLICKPORT_SPOOL_SYNC: "fsync" syncs every appended group before it counts as durable;
    "write" (the default) hands it to the kernel only, which a killed process cannot lose: a new
    process (no close, no sync) reads every row back."""
    import pytest

    from server.config import Config

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    Spool(str(tmp_path / "f"), sync=True).append(lines(3))
    assert len(synced) == 1
    synced.clear()
    written = Spool(str(tmp_path / "w"), sync=False)
    written.append(lines(3))
    written.append(lines(2, start=3))
    assert synced == []
    reopened = Spool(str(tmp_path / "w"))  # as after SIGKILL: the first one never closed
    assert [json.loads(x)["i"] for x in reopened.next_batch(10).lines] == [0, 1, 2, 3, 4]
    assert Config.from_env(data_dir=str(tmp_path), admin_token="t" * 16).spool_sync == "write"
    monkeypatch.setenv("CLICKPORT_SPOOL_SYNC", "FSYNC")
    assert Config.from_env(data_dir=str(tmp_path), admin_token="t" * 16).spool_sync == "fsync"
    monkeypatch.setenv("CLICKPORT_SPOOL_SYNC", "sometimes")
    with pytest.raises(ValueError, match="CLICKPORT_SPOOL_SYNC: one of write, fsync"):
        Config.from_env(data_dir=str(tmp_path))


def test_finished_segments_are_deleted(tmp_path):
    spool = Spool(str(tmp_path), segment_bytes=100)
    for start in range(0, 60, 6):
        spool.append(lines(6, start))
    assert len([p for p in os.listdir(tmp_path) if p.startswith("seg-")]) > 3
    seen = []
    while (batch := spool.next_batch(4)) is not None:
        seen += [json.loads(x)["i"] for x in batch.lines]
        spool.done(batch)
    assert seen == list(range(60))
    assert len([p for p in os.listdir(tmp_path) if p.startswith("seg-")]) == 1
    assert spool.size_bytes() == 0


def test_writer_waits_longer_only_under_steady_traffic(client, app, tmp_path):
    import time

    from engine.ingest.rows import EVENT_COLUMNS
    from engine.ingest.writer import BatchWriter

    writer = BatchWriter(app.state.store, "events", EVENT_COLUMNS, str(tmp_path),
                         max_age_s=0.2, busy_age_s=0.8, fsync=False)
    assert writer._age_limit() == 0.2  # nothing inserted yet: low traffic
    writer._last_insert = time.monotonic()
    assert writer._age_limit() == 0.8  # an insert just ran: steady traffic
    writer._last_insert = time.monotonic() - 0.9
    assert writer._age_limit() == 0.8  # the last one is still within a busy interval
    writer._last_insert = time.monotonic() - 1.5
    assert writer._age_limit() == 0.2


def test_the_commit_thread_does_not_wait_for_the_event_loop(client, app, tmp_path):
    """A row put while the event loop is busy is appended and fsynced anyway: the commit thread
    takes queued rows itself (was: a coroutine on the loop dispatched every group, so each fsync
    waited for the loop, on top of the fsync in progress; issue 10, drill d)."""
    import asyncio
    import datetime as dt
    import time

    from engine.ingest.rows import EVENT_COLUMNS, EventRow
    from engine.ingest.writer import BatchWriter

    store = app.state.store
    store.command("CREATE TABLE IF NOT EXISTS writer_probe AS events")
    values = dict.fromkeys(EventRow._fields, "")
    moment = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    values.update(site_id=7, timestamp=moment, event_id=1, type="pageview", user_id=11, session_id=5,
                  session_start=moment, page_visit_id=3, scroll_depth=None, engaged_ms=None,
                  engaged_delta_ms=0, revenue_amount=0, revenue_currency="", meta_key=[], meta_value=[])
    spool_dir = str(tmp_path / "spool")

    def spooled() -> int:
        return sum(os.path.getsize(os.path.join(spool_dir, name))
                   for name in os.listdir(spool_dir) if name.endswith(".log"))

    async def scenario() -> tuple[int, int]:
        writer = BatchWriter(store, "writer_probe", EVENT_COLUMNS, spool_dir, max_age_s=60, busy_age_s=60,
                             fsync=True)  # the fsync mode's commit thread
        writer.start()
        put = asyncio.create_task(writer.put(EventRow(**values)))
        await asyncio.sleep(0)  # the row is queued; from here on the loop is blocked
        deadline = time.monotonic() + 10
        while spooled() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        while_blocked = spooled()
        await put
        await writer.close()
        return while_blocked, writer.inserted_rows

    try:
        while_blocked, inserted = asyncio.run(scenario())
    finally:
        store.command("DROP TABLE IF EXISTS writer_probe")
    assert while_blocked > 0 and inserted == 1
