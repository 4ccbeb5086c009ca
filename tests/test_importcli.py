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
