"""Versioned schema migrations: `schema/NNNN_name.sql`, applied in order, recorded, idempotent."""

from __future__ import annotations

import logging
import re
from importlib import resources

from engine.store import Store

log = logging.getLogger("clickport.migrations")

_FILE = re.compile(r"^(\d{4})_[\w-]+\.sql$")


def migration_files() -> list[tuple[int, str, str]]:
    """(version, file name, SQL text) for every migration shipped in the `schema` package."""
    found = []
    for entry in resources.files("schema").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def statements(sql: str) -> list[str]:
    """Split on lines holding only ';' (so a ';' inside a comment or string never splits)."""
    parts = re.split(r"^\s*;\s*$", sql, flags=re.MULTILINE)
    return [p.strip() for p in parts if _has_code(p)]


def _has_code(part: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in part.splitlines())


def apply_migrations(store: Store) -> list[str]:
    """Apply every migration not yet recorded. Each statement is itself idempotent, so a
    migration interrupted half-way is simply re-run in full next time."""
    store.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = {row[0] for row in store.rows("SELECT version FROM schema_migrations")}
    applied = []
    for version, name, sql in migration_files():
        if version in done:
            continue
        for statement in statements(sql):
            store.command(statement)
        store.command(
            "INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
            parameters={"v": version, "n": name},
        )
        log.info("applied migration %s", name)
        applied.append(name)
    return applied
