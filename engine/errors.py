"""The one error type for a request the engine refuses because of a field's value.

Validation of events, queries and administration all raise `FieldError`; the HTTP layer turns
every one into the same JSON error response (`status`, 400 unless said otherwise, with the
message "<field>: <what is wrong / what it accepts>"), so no route translates errors by hand.
"""

from __future__ import annotations


class FieldError(ValueError):
    """A bad value in a request: `field` names it, `message` says what it accepts."""

    def __init__(self, field_name: str, message: str, status: int = 400):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message
        self.status = status
