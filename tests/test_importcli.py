"""`clickport import`'s file reader: whole requests in file order, read ahead on a thread."""

from __future__ import annotations

import gzip

import pytest

from server.importcli import _chunks, _prefetched


def test_requests_come_in_file_order_with_their_first_line_numbers(tmp_path):
    path = tmp_path / "history.ndjson.gz"
    lines = [b'{"n":%d}\n' % i for i in range(25)]
    with gzip.open(path, "wb") as out:
        out.writelines(lines)
    got = list(_prefetched(_chunks(str(path), 10), compress=True))
    assert [first for first, _, _ in got] == [1, 11, 21]
    assert [gzip.decompress(body) for _, body, _ in got] == [b"".join(lines[i:i + 10]) for i in (0, 10, 20)]
    assert got[-1][2] == path.stat().st_size  # the progress bar ends at the file's size
    plain = list(_prefetched(_chunks(str(path), 10), compress=False))
    assert [body for _, body, _ in plain] == [b"".join(lines[i:i + 10]) for i in (0, 10, 20)]


def test_a_read_error_reaches_the_sender_and_stopping_early_ends_the_reader(tmp_path):
    broken = tmp_path / "broken.ndjson.gz"
    broken.write_bytes(gzip.compress(b'{"n":1}\n' * 5)[:-12])  # cut off: the reader fails
    with pytest.raises((EOFError, OSError)):
        list(_prefetched(_chunks(str(broken), 2), compress=False))
    path = tmp_path / "ok.ndjson"
    path.write_bytes(b'{"n":1}\n' * 50)
    for first, _, _ in _prefetched(_chunks(str(path), 2), compress=False):
        if first == 3:
            break  # the generator's `finally` stops and joins the reader thread


def test_clickport_import_with_parts_in_flight_stores_what_one_at_a_time_stores(tmp_path):
    """The CLI against a real server: 2 numbered parts in flight give the same rows, sessions and
    visitors as one request at a time (sessions run across the 60-line requests)."""
    import datetime as dt

    from loadtest.history import history_lines
    from loadtest.model import ModelConfig, TrafficModel
    from server.importcli import run_import
    from tests.serverproc import ServerProcess, query_store

    model = TrafficModel(ModelConfig(seed=11))
    end = dt.date.today() - dt.timedelta(days=2)
    path = tmp_path / "history.ndjson"
    path.write_bytes(b"".join(history_lines(model, events=300, days=1, end_day=end, domain="cli.example")))
    server = ServerProcess(str(tmp_path)).start()
    try:
        results = {}
        for in_flight in (1, 2):
            site_id, key = server.site_with_key(f"cli{in_flight}.example")
            summary = run_import(server.base, key, str(path), 60, progress=False, in_flight=in_flight)
            assert summary["ok"] and summary["requests"] >= 4 and summary["stored"] > 200, summary
            kept = ("lines", "stored", "dropped", "requests")
            results[in_flight] = (site_id, {k: summary[k] for k in kept})
    finally:
        assert server.terminate() == 0
    assert results[1][1] == results[2][1]
    counts = ("count(), uniqExact(session_id), uniqExact(user_id), uniqExact(page_visit_id), "
              "sum(engaged_delta_ms)")
    got = {n: query_store(str(tmp_path), f"SELECT {counts} FROM events WHERE site_id = {site_id}")
           for n, (site_id, _) in results.items()}
    assert got[1] == got[2] and got[1][0][0] == results[1][1]["stored"]


@pytest.mark.parametrize("option, value, message", [
    ("--in-flight", "0", "argument --in-flight: must be at least 1"),
    ("--lines-per-request", "-5", "argument --lines-per-request: must be at least 1"),
    ("--lines-per-request", "ten", "argument --lines-per-request: 'ten' is not a whole number"),
])
def test_bad_client_options_are_refused_by_name(option, value, message, capsys):
    """Was: --in-flight 0 quietly meant 1, --lines-per-request 0 sent the whole file at once."""
    from server.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["import", "history.ndjson", "--site", "example.com", option, value])
    assert exited.value.code == 2 and message in capsys.readouterr().err
    from server.importcli import run_import

    with pytest.raises(ValueError, match="at least 1"):
        run_import("http://127.0.0.1:9", "ck_x", "history.ndjson", in_flight=0)
