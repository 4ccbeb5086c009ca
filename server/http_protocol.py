"""uvicorn's httptools protocol with the limits a public server needs (issue 10):

- a cap on the request line + headers (431 and close): an unfinished 32 MB header no longer
  grows the process by 32 MB per connection;
- a header read timeout: a connection that has not completed its request head within
  `header_timeout_s` of opening (or of its previous response) gets 408 and is closed, so slow
  senders (slowloris) cannot hold connections open indefinitely;
- a cap on requests per keep-alive connection (`max_requests`, CLICKPORT_MAX_REQUESTS_PER_CONNECTION):
  the answer to a connection's last allowed request carries `connection: close` and the
  connection closes after it (as nginx's `keepalive_requests`), so one client cannot hold a
  connection, and what it pins, forever; well-behaved HTTP clients simply reconnect;
- one send per response: uvicorn writes a response's head (status line + headers) and its body
  in two `transport.write` calls, i.e. two `send` syscalls on loopback, each running the
  receiver's side in the kernel too: the largest single item of the event loop's time under
  drill d (loadtest/results/run2/forged/profile-server-drill-d.txt). The head is held and goes
  out with the first body write (`_HeadWithBody`);
- counters of these outcomes (`OUTCOMES`, exported on /metrics).

Body read timeouts are enforced where bodies are read (server.requests.read_body); idle
keep-alive connections close after uvicorn's `timeout_keep_alive`.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

OUTCOMES = {"header_too_large": 0, "header_timeout": 0, "connection_request_cap": 0}


def _reply_and_close(protocol: HttpToolsProtocol, status: bytes, message: bytes) -> None:
    protocol.transport.write(
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(message)).encode() + b"\r\nconnection: close\r\n\r\n" + message
    )
    protocol.transport.close()


_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _HeadWithBody:
    """The transport a request's response cycle writes to: the response head (the cycle's first
    write other than `100 Continue`, which uvicorn writes before the head) is held and sent with
    the first body write, so a response is one `send`. Everything else passes through to the
    connection's transport (the head of a HEAD response, which has no body write, goes at once).

    It holds no reference to its cycle: the cycle holds it, and a reference back would make every
    request's objects (cycle, scope, headers, events: ≈ 20 per request) a reference cycle that
    only the garbage collector frees; under drill a those young collections took 15–100 ms of the
    event loop each (loadtest/results/run2/issue10-rerun/9-gc-*)."""

    __slots__ = ("_transport", "_head", "_head_seen")

    def __init__(self, transport, method: str) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._head_seen = method == "HEAD"

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif not self._head_seen and data != _CONTINUE:
            self._head, self._head_seen = data, True
            return
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:  # a response abandoned after its head: as before, head then close
            head, self._head = self._head, None
            self._transport.write(head)
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


def guarded_protocol(max_header_bytes: int, header_timeout_s: float,
                     max_requests: int = 1000) -> type[HttpToolsProtocol]:
    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_bytes = 0
            self._in_head = True
            self._head_timer = None
            self._requests = 0
            self._arm_head_timer()

        def _arm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(header_timeout_s, self._head_timed_out)

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._in_head and not self.transport.is_closing():
                OUTCOMES["header_timeout"] += 1
                _reply_and_close(self, b"408 Request Timeout", b"request headers took too long")

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                self._head_bytes += len(data)
            super().data_received(data)
            # Still inside the request head after this chunk and over the cap: refuse.
            if self._in_head and self._head_bytes > max_header_bytes and not self.transport.is_closing():
                OUTCOMES["header_too_large"] += 1
                _reply_and_close(self, b"431 Request Header Fields Too Large",
                                 f"request line and headers over {max_header_bytes} bytes".encode())

        def on_headers_complete(self) -> None:
            self._in_head = False
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            previous = self.cycle
            super().on_headers_complete()
            if self.cycle is not previous:  # a new request (not a protocol upgrade)
                self.cycle.transport = _HeadWithBody(self.transport, self.cycle.scope["method"])
                self._requests += 1
                if self._requests >= max_requests and self.cycle.keep_alive:
                    # Its answer says `connection: close` and the transport closes after it;
                    # anything pipelined behind it is dropped with the connection.
                    self.cycle.keep_alive = False
                    OUTCOMES["connection_request_cap"] += 1

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # The next request on this connection gets its own head budget.
            self._in_head = True
            self._head_bytes = 0
            if not self.transport.is_closing():
                self._arm_head_timer()

        def connection_lost(self, exc) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().connection_lost(exc)

    return GuardedHttpToolsProtocol
