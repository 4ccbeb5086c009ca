"""Errors of the query pipeline. The HTTP layer turns them into JSON error responses."""

from __future__ import annotations

from engine.errors import FieldError

# A request the engine will not run: 400, naming the field and what it accepts (the engine's one
# field-error type; the name stays for the query modules that raise it).
QueryError = FieldError


def one_of(values) -> str:
    return "valid values: " + ", ".join(values)
