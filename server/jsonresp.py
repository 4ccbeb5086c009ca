"""orjson responses (fast, and Decimal/datetime safe)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_default)


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if headers is None and status == 200:
        return _JsonOk(dumps(content))
    return Response(dumps(content), status_code=status, headers=headers, media_type="application/json")


class _JsonOk(Response):
    """A plain 200 JSON answer (every ingest acknowledgement): the same response, with its two
    headers built directly instead of through Starlette's general `init_headers`."""

    media_type = "application/json"

    def __init__(self, body: bytes):
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", str(len(body)).encode()),
                            (b"content-type", b"application/json")]
