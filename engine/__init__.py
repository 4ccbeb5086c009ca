"""Clickport engine: ingestion and queries over ClickHouse. Knows nothing of HTTP."""
