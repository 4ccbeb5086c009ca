"""Errors of the query pipeline. The HTTP layer turns them into JSON error responses."""

from __future__ import annotations


class QueryError(ValueError):
    """A request the engine will not run: 400, naming the field and what it accepts."""

    status = 400

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def one_of(values) -> str:
    return "valid values: " + ", ".join(values)
