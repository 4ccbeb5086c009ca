"""The baseline: a bare Starlette POST /api/event that reads and decodes the JSON body and answers
the same response shape as Clickport, served by uvicorn exactly as `clickport serve` is (one
process, default loop/http = uvloop/httptools, no access log). Ingest throughput is reported as a
ratio to this: what the HTTP stack alone sustains on the same box under the same load.

    python -m loadtest.echo --port 8099
"""

from __future__ import annotations

import argparse

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_count = {"requests": 0}


async def event(request: Request) -> Response:
    body = orjson.loads(await request.body())
    _count["requests"] += 1
    sid = 1 if isinstance(body, dict) else None
    return Response(orjson.dumps({"success": True, "session_id": sid, "page_visit_id": "a1b2c3d4"}),
                    media_type="application/json")


async def health(request: Request) -> Response:
    return Response(orjson.dumps({"status": "ok", **_count}), media_type="application/json")


app = Starlette(routes=[
    Route("/api/event", event, methods=["POST"]),
    Route("/healthz", health, methods=["GET"]),
])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
