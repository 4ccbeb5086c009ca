"""Settings from the environment (server/config.py): a bad value is named, never a traceback."""

from __future__ import annotations


def test_a_bad_setting_stops_serve_with_its_name(tmp_path, monkeypatch, capsys):
    """Every numeric setting names its variable when it does not parse, and `clickport serve`
    says so in one line (was: a traceback ending in `invalid literal for int()`)."""
    from server.cli import main

    for name, value, message in (
        ("CLICKPORT_MAX_CONNECTIONS", "abc", "CLICKPORT_MAX_CONNECTIONS: not a whole number (got 'abc')"),
        ("CLICKPORT_FLUSH_INTERVAL_S", "0.5s", "CLICKPORT_FLUSH_INTERVAL_S: not a number (got '0.5s')"),
        ("CLICKPORT_SPOOL_SYNC", "sometimes", "CLICKPORT_SPOOL_SYNC: one of write, fsync"),
    ):
        monkeypatch.setenv(name, value)
        assert main(["--data-dir", str(tmp_path), "serve", "--port", "1"]) == 2
        assert f"clickport serve: {message}" in capsys.readouterr().err
        monkeypatch.delenv(name)

