"""The query engine: POST /api/query and the read endpoints (see run.py for entry points)."""

from engine.query.errors import QueryError
from engine.query.run import compile_query, run_query, run_query_sync

__all__ = ["QueryError", "compile_query", "run_query", "run_query_sync"]
