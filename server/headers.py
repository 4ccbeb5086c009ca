"""Security headers on every response (issue 10), the lean ingest path included:

- `X-Content-Type-Options: nosniff` everywhere;
- a Content-Security-Policy that allows no inline script (the dashboard loads only its own
  /dashboard-assets files and calls the same-origin API) and `frame-ancestors 'none'` with its
  old-browser twin `X-Frame-Options: DENY`, so no other site can frame the dashboard;
- `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

from starlette.types import Message, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
        await send(message)

    return wrapped
