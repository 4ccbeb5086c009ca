"""An append-only spool of accepted events: what makes a 200 durable.

Layout in the spool directory:
- `seg-NNNNNNNNN.log`: segments of newline-terminated JSON rows, appended in groups; with
  `sync=True` each group is fsynced before its rows count as durable (SYNC_MODES below).
- `checkpoint.json`: how far the rows have reached ClickHouse ({segment, offset}) and, while an
  insert is under way, where that batch ends (`inflight_end`). After a crash the in-flight batch
  is re-sent byte for byte with the same deduplication token, so ClickHouse skips it if the first
  try had landed: replays never double-count.

Segments wholly behind the checkpoint are deleted, so disk use is bounded by what has not reached
the store yet. All methods are synchronous; the writer calls them from worker threads, one caller
at a time for the appending side and one for the reading side.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass

log = logging.getLogger("clickport.spool")

# How far an appended group goes before its events are acknowledged (CLICKPORT_SPOOL_SYNC):
# "write": into the kernel (write(2)); survives the process being killed (SIGKILL, OOM, crash),
#   as SPEC §5 asks; a power loss or kernel crash can lose the last seconds, as it can for the
#   parts ClickHouse itself writes by default (fsync_after_insert = 0), which every event reaches
#   within a second. The default.
# "fsync": also onto the disk (fsync(2)) before the 200: survives a power loss while the event
#   waits in the spool, at the cost of an fsync in every acknowledgement's path (p50 0.7 ms,
#   p99 4-40 ms on this box while ClickHouse writes parts: docs/reliability.md).
SYNC_MODES = ("write", "fsync")

_SEGMENT = re.compile(r"^seg-(\d{9})\.log$")


@dataclass(frozen=True)
class Batch:
    segment: int
    start: int
    end: int
    lines: list[bytes]

    @property
    def token(self) -> str:
        return f"spool:{self.segment}:{self.start}:{self.end}"


class Spool:
    def __init__(self, directory: str, segment_bytes: int = 64 * 1024**2, sync: bool = True):
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.sync = sync
        os.makedirs(directory, exist_ok=True)
        self._lock = threading.Lock()  # guards the durable end, read by the inserting side
        self._segments = self._list_segments()
        self._recover_torn_tail()
        self.checkpoint_segment, self.checkpoint_offset, self.inflight_end = self._read_checkpoint()
        if not self._segments:
            self._segments = [max(1, self.checkpoint_segment)]
        self._current = self._segments[-1]
        self._fd = os.open(self._path(self._current), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size  # of the current segment (appends only come from here)
        self._durable = (self._current, self._size)
        self.recovered_rows = self.count_unread_rows()

    # --- files ----------------------------------------------------------------------------

    def _path(self, segment: int) -> str:
        return os.path.join(self.directory, f"seg-{segment:09d}.log")

    def _list_segments(self) -> list[int]:
        found = [int(m.group(1)) for name in os.listdir(self.directory) if (m := _SEGMENT.match(name))]
        return sorted(found)

    def _recover_torn_tail(self) -> None:
        """A crash mid-append leaves a partial last line that was never acknowledged: cut it."""
        if not self._segments:
            return
        path = self._path(self._segments[-1])
        with open(path, "rb+") as handle:
            data = handle.read()
            cut = data.rfind(b"\n") + 1
            if cut != len(data):
                handle.truncate(cut)
                handle.flush()
                os.fsync(handle.fileno())
                log.warning("spool: dropped a torn, unacknowledged tail of %d bytes", len(data) - cut)

    def _read_checkpoint(self) -> tuple[int, int, int | None]:
        path = os.path.join(self.directory, "checkpoint.json")
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            return int(data["segment"]), int(data["offset"]), data.get("inflight_end")
        except FileNotFoundError:
            first = self._segments[0] if self._segments else 1
            return first, 0, None

    def _write_checkpoint(self) -> None:
        path = os.path.join(self.directory, "checkpoint.json")
        tmp = path + ".tmp"
        data = {"segment": self.checkpoint_segment, "offset": self.checkpoint_offset,
                "inflight_end": self.inflight_end}
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    # --- appending side ---------------------------------------------------------------------

    def append(self, lines: list[bytes]) -> None:
        """Write (and with `sync`, fsync) a group of rows (each ends with a newline). Returns once
        durable in the spool's sense (SYNC_MODES)."""
        if self._size >= self.segment_bytes:
            self._rotate()
        data = memoryview(lines[0] if len(lines) == 1 else b"".join(lines))
        while data:  # a regular file takes it all at once but for a signal or a full disk
            written = os.write(self._fd, data)
            self._size += written
            data = data[written:]
        if self.sync:
            os.fsync(self._fd)
        with self._lock:
            self._durable = (self._current, self._size)

    def _rotate(self) -> None:
        if self.sync:
            os.fsync(self._fd)
        os.close(self._fd)
        self._current += 1
        self._segments.append(self._current)
        self._fd = os.open(self._path(self._current), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0
        if not self.sync:
            return
        # Make the new file's directory entry durable too.
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def size_bytes(self) -> int:
        total = 0
        for segment in list(self._segments):
            try:
                total += os.path.getsize(self._path(segment))
            except FileNotFoundError:
                continue
        return max(0, total - self.checkpoint_offset)

    # --- reading side -------------------------------------------------------------------------

    def _readable_end(self, segment: int) -> int:
        with self._lock:
            durable_segment, durable_offset = self._durable
        if segment == durable_segment:
            return durable_offset
        return os.path.getsize(self._path(segment))

    def next_batch(self, max_rows: int) -> Batch | None:
        """The next rows not yet in the store (at most `max_rows`, never across segments).
        After a crash, the first batch is exactly the one that was in flight."""
        self._skip_finished_segment()
        segment, start = self.checkpoint_segment, self.checkpoint_offset
        end_limit = self.inflight_end if self.inflight_end is not None else self._readable_end(segment)
        if end_limit <= start:
            return None
        lines: list[bytes] = []
        with open(self._path(segment), "rb") as handle:
            handle.seek(start)
            position = start
            while position < end_limit and (self.inflight_end is not None or len(lines) < max_rows):
                line = handle.readline()
                if not line.endswith(b"\n"):
                    break
                lines.append(line)
                position += len(line)
        if not lines:
            return None
        batch = Batch(segment, start, position, lines)
        self.inflight_end = batch.end
        self._write_checkpoint()
        return batch

    def _skip_finished_segment(self) -> None:
        with self._lock:
            durable_segment = self._durable[0]
        segment = self.checkpoint_segment
        if segment < durable_segment and self.checkpoint_offset >= os.path.getsize(self._path(segment)):
            self.checkpoint_segment = min(s for s in self._segments if s > segment)
            self.checkpoint_offset = 0
            self._write_checkpoint()
            os.remove(self._path(segment))
            self._segments.remove(segment)

    def done(self, batch: Batch) -> None:
        """The batch is in the store: move the checkpoint past it."""
        self.checkpoint_segment, self.checkpoint_offset = batch.segment, batch.end
        self.inflight_end = None
        self._write_checkpoint()

    def unread_lines(self):
        """Every row not yet in the store, in order (read at start, before the inserter runs)."""
        for segment in list(self._segments):
            if segment < self.checkpoint_segment:
                continue
            with open(self._path(segment), "rb") as handle:
                if segment == self.checkpoint_segment:
                    handle.seek(self.checkpoint_offset)
                for line in handle:
                    if line.endswith(b"\n"):
                        yield line

    def count_unread_rows(self) -> int:
        count = 0
        for segment in self._segments:
            if segment < self.checkpoint_segment:
                continue
            with open(self._path(segment), "rb") as handle:
                if segment == self.checkpoint_segment:
                    handle.seek(self.checkpoint_offset)
                count += sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        return count

    def close(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass
