"""Cluster mode: how the single-node schema maps onto a sharded ClickHouse cluster.

The migrations in `schema/` are written for one node. In cluster mode (`CLICKPORT_CLUSTER=<name>`)
every statement is rewritten here, generically, and run on every node of the cluster:

- `CREATE TABLE t ... ENGINE = <X>MergeTree` becomes `t_local` (same columns, key, settings) on each
  node plus `t`, a `Distributed` table over all the `t_local`s. The app keeps using `t`: inserts are
  routed by the sharding key, reads gather every shard.
- Sharding key: `cityHash64(session_id)` for a table with a `session_id` column, so every event of a
  session lands on one shard and the session, page-visit and other per-session aggregates that the
  materialized views build from it are complete and exact on that shard. A table without one is
  sharded by a hash of its ORDER BY key, so all versions of a row (ReplacingMergeTree) or all states of
  a key (AggregatingMergeTree) meet on one shard and `FINAL` stays exact per shard. A comment line
  `-- shard by: <expr>` inside the CREATE statement overrides that: a table filled by copying another
  node-locally (a re-sorted copy) keeps the source's placement, so new versions meet the copied ones.
  The admin tables (sites, api_keys, goals) are sharded by their key and read through Distributed.
- `CREATE MATERIALIZED VIEW v TO t AS SELECT ... FROM s` becomes `v` on each node reading `s_local`
  and writing `t_local`: each shard aggregates its own rows.
- `INSERT INTO t SELECT ... FROM s` (backfills), `TRUNCATE`, `OPTIMIZE` and index ALTERs run on each
  node's local tables; column ALTERs and DROPs run on both the local and the Distributed table.
- With `replicated=True` the local tables use `Replicated<X>MergeTree('/clickhouse/tables/{shard}/
  <db>/<t>_local', '{replica}')` (the macros come from each node's config). The migrator applies
  statements node by node (engine/migrations.py); with Keeper, `on_cluster()` adds `ON CLUSTER`
  to the schema statements instead (CLICKPORT_ON_CLUSTER=1).

Table names are rewritten only where a table is named (after FROM, JOIN, TO, INTO, TABLE, VIEW,
OPTIMIZE TABLE ...), never inside string literals, comments or column names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LOCAL_SUFFIX = "_local"
# Node-local bookkeeping: each node records the migrations it has applied.
NODE_LOCAL_TABLES = frozenset({"schema_migrations"})

_TOKEN = re.compile(
    r"""(?P<comment>--[^\n]*)
      | (?P<string>'(?:[^'\\]|\\.|'')*')
      | (?P<quoted>`(?:[^`\\]|\\.)*`)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<space>\s+)
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
# Keywords after which (skipping IF [NOT] EXISTS) the next identifier names a table.
_TABLE_CONTEXT = {"FROM", "JOIN", "TO", "INTO", "TABLE", "VIEW", "EXISTS"}
_ENGINE = re.compile(r"\bENGINE\s*=\s*(?P<engine>\w*MergeTree)\b\s*(?:\((?P<args>[^()]*)\))?",
                     re.IGNORECASE)


def on_cluster(sql: str, cluster: str) -> str:
    """The DDL statement with `ON CLUSTER '<cluster>'` after the object it names (CREATE TABLE / VIEW,
    ALTER, DROP, TRUNCATE), for the Keeper DDL queue to run it on every node."""
    tokens = _tokens(sql)
    code = _code(tokens)
    skip = {"CREATE", "ALTER", "DROP", "TRUNCATE", "TABLE", "VIEW", "MATERIALIZED", "IF", "NOT",
            "EXISTS", "OR", "REPLACE"}
    for index in code:
        kind, text = tokens[index]
        if kind == "word" and text.upper() in skip:
            continue
        if _ident(tokens[index]) is None:
            break
        tokens.insert(index + 1, ("other", f" ON CLUSTER '{cluster}'"))
        return "".join(text for _, text in tokens)
    raise ClusterDDLError(f"cannot find the object name in: {sql[:120]}")


def is_data_statement(sql: str) -> bool:
    """INSERT / TRUNCATE / OPTIMIZE: changes data, not schema (see engine/migrations.py)."""
    return _head(sql, 1)[:1] in (["INSERT"], ["TRUNCATE"], ["OPTIMIZE"])


class ClusterDDLError(ValueError):
    """A migration statement that cluster mode cannot map (name it, never guess)."""


@dataclass(frozen=True)
class ClusterTarget:
    name: str           # the cluster name in <remote_servers>
    database: str       # the database the tables live in, on every node
    replicated: bool = False


def _tokens(sql: str) -> list[tuple[str, str]]:
    return [(m.lastgroup or "other", m.group()) for m in _TOKEN.finditer(sql)]


def _ident(token: tuple[str, str]) -> str | None:
    kind, text = token
    if kind == "word":
        return text
    if kind == "quoted":
        return text[1:-1]
    return None


def _code(tokens: list[tuple[str, str]]) -> list[int]:
    """Indexes of the tokens that are code (not whitespace or comments)."""
    return [i for i, (kind, _) in enumerate(tokens) if kind not in ("space", "comment")]


def rename_tables(sql: str, names: set[str], suffix: str = LOCAL_SUFFIX) -> str:
    """Append `suffix` to every reference to a table in `names` (by position, not by text)."""
    tokens = _tokens(sql)
    code = _code(tokens)
    for pos, index in enumerate(code[1:], start=1):
        name = _ident(tokens[index])
        if name not in names:
            continue
        previous = tokens[code[pos - 1]][1].upper()
        following = tokens[code[pos + 1]][1] if pos + 1 < len(code) else ""
        if previous in _TABLE_CONTEXT and following != ".":
            tokens[index] = ("quoted", f"`{name}{suffix}`")
    return "".join(text for _, text in tokens)


def _head(sql: str, count: int = 8) -> list[str]:
    tokens = _tokens(sql)
    return [tokens[i][1].upper() for i in _code(tokens)[:count]]


def _object_name(sql: str) -> str:
    """The table/view a CREATE / ALTER / DROP / TRUNCATE / INSERT / OPTIMIZE statement names."""
    tokens = _tokens(sql)
    code = _code(tokens)
    skip = {"CREATE", "ALTER", "DROP", "TRUNCATE", "INSERT", "INTO", "OPTIMIZE", "TABLE", "VIEW",
            "MATERIALIZED", "IF", "NOT", "EXISTS", "OR", "REPLACE"}
    for index in code:
        kind, text = tokens[index]
        if kind == "word" and text.upper() in skip:
            continue
        name = _ident(tokens[index])
        if name is None:
            break
        return name
    raise ClusterDDLError(f"cannot find the table name in: {sql[:120]}")


_SHARD_HINT = re.compile(r"^\s*--\s*shard by:\s*(?P<expr>.+?)\s*$", re.MULTILINE)


def _sharding_key(columns_sql: str, order_by: str | None, statement: str = "") -> str:
    hint = _SHARD_HINT.search(statement)
    if hint:
        return hint.group("expr")
    if re.search(r"(^|[\s(,`])session_id`?\s", columns_sql):
        return "cityHash64(session_id)"
    if order_by:
        return f"cityHash64({order_by})"
    return "rand()"


def _order_by(sql: str) -> str | None:
    """The ORDER BY expression of a CREATE TABLE (balanced parentheses), or None."""
    text = _strip_comments(sql)
    match = re.search(r"\bORDER\s+BY\s+", text, re.IGNORECASE)
    if not match:
        return None
    rest = text[match.end():]
    if not rest.startswith("("):
        word = re.match(r"[\w`]+", rest)
        return word.group() if word else None
    depth = 0
    for i, char in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return rest[: i + 1]
    return None


def _strip_comments(sql: str) -> str:
    return "".join(text for kind, text in _tokens(sql) if kind != "comment")


class ClusterSchema:
    """Maps single-node statements to per-node statements. Remembers the sharded tables it has
    seen (also loaded from the nodes, so a later migration can refer to an earlier table)."""

    def __init__(self, target: ClusterTarget, sharded: set[str] | None = None):
        self.target = target
        self.sharded: set[str] = set(sharded or ())

    def local_name(self, table: str) -> str:
        return table + LOCAL_SUFFIX

    def statements_for_node(self, sql: str) -> list[str]:
        """What to run on EVERY node for one migration statement."""
        head = _head(sql)
        if head[:1] == ["CREATE"] and "MATERIALIZED" in head[:4]:
            return [self._materialized_view(sql)]
        if head[:1] == ["CREATE"] and "TABLE" in head[:4]:
            return self._create_table(sql)
        if head[:1] in (["INSERT"], ["TRUNCATE"], ["OPTIMIZE"]):
            return [rename_tables(sql, self.sharded)]
        if head[:2] == ["ALTER", "TABLE"]:
            return self._alter(sql)
        if head[:1] == ["DROP"]:
            return self._drop(sql)
        # Plain views, functions, dictionaries...: created as written (they read Distributed tables).
        return [sql]

    def _create_table(self, sql: str) -> list[str]:
        name = _object_name(sql)
        engine = _ENGINE.search(_strip_comments(sql))
        if name in NODE_LOCAL_TABLES or engine is None:
            return [sql]  # not a MergeTree table (e.g. Memory, Null, Distributed): as written
        self.sharded.add(name)
        local = self.local_name(name)
        local_sql = rename_tables(sql, {name})
        if self.target.replicated:
            local_sql = self._replicated(local_sql, local)
        columns = sql[sql.find("("):engine.start()] if "(" in sql[:engine.start()] else ""
        key = _sharding_key(columns, _order_by(sql), sql)
        distributed = (
            f"CREATE TABLE IF NOT EXISTS `{name}` AS `{local}` ENGINE = Distributed("
            f"'{self.target.name}', '{self.target.database}', '{local}', {key})"
        )
        return [local_sql, distributed]

    def _replicated(self, sql: str, local: str) -> str:
        def replace(match: re.Match) -> str:
            engine, args = match.group("engine"), (match.group("args") or "").strip()
            path = f"'/clickhouse/tables/{{shard}}/{self.target.database}/{local}'"
            params = ", ".join(p for p in (path, "'{replica}'", args) if p)
            return f"ENGINE = Replicated{engine}({params})"

        return _ENGINE.sub(replace, sql, count=1)

    def _materialized_view(self, sql: str) -> str:
        head = _head(sql, 16)
        if "TO" not in head:
            raise ClusterDDLError(
                f"cluster mode needs materialized views in the `TO <table>` form: {sql[:120]}")
        return rename_tables(sql, self.sharded)

    def _alter(self, sql: str) -> list[str]:
        name = _object_name(sql)
        if name not in self.sharded:
            return [sql]
        local = rename_tables(sql, {name})
        if re.search(r"\b(ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b", _strip_comments(sql), re.IGNORECASE):
            return [local, sql]  # the Distributed table mirrors the columns
        return [local]

    def _drop(self, sql: str) -> list[str]:
        name = _object_name(sql)
        if name not in self.sharded:
            return [sql]
        return [sql, rename_tables(sql, {name})]
