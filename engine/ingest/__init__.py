"""Ingestion: validate → drop rules → enrich → sessionize → batched durable write."""
