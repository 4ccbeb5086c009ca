"""`clickport` command line: setup, serve, and administration through the running server's admin API."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from engine.sites import GOAL_TYPES  # the engine's list (one source)
from server import importcli

DEFAULT_URL = "http://127.0.0.1:8000"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args) or 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clickport", description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("CLICKPORT_DATA_DIR", "data"),
                        help="data directory (embedded store, secrets, GeoIP database); default ./data")
    parser.add_argument("--url", default=os.environ.get("CLICKPORT_URL", DEFAULT_URL),
                        help="the running server, for admin commands; default %(default)s")
    sub = parser.add_subparsers(metavar="command")

    p = sub.add_parser("setup", help="install the GeoIP database into the data dir (idempotent)")
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("serve", help="run the server (embedded store unless CLICKPORT_CLICKHOUSE_URL)")
    p.add_argument("--host", default=os.environ.get("CLICKPORT_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("CLICKPORT_PORT", "8000")))
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("status", help="writer and store status of the running server")
    p.set_defaults(func=lambda a: _print(_admin(a, "GET", "/api/admin/status")))

    sites = sub.add_parser("sites", help="list, create, update or delete sites")
    sites = sites.add_subparsers(metavar="action")
    p = sites.add_parser("list")
    p.set_defaults(func=lambda a: _print(_admin(a, "GET", "/api/admin/sites")))
    p = sites.add_parser("create")
    p.add_argument("domain")
    p.add_argument("--timezone", default="UTC", help="IANA name, e.g. Europe/Berlin")
    p.set_defaults(func=lambda a: _print(_admin(a, "POST", "/api/admin/sites",
                                                {"domain": a.domain, "timezone": a.timezone})))
    p = sites.add_parser("update")
    p.add_argument("site", help="site id or domain")
    p.add_argument("--timezone", required=True)
    p.set_defaults(func=lambda a: _print(_admin(a, "PATCH", f"/api/admin/sites/{a.site}",
                                                {"timezone": a.timezone})))
    p = sites.add_parser("delete")
    p.add_argument("site", help="site id or domain")
    p.set_defaults(func=lambda a: _print(_admin(a, "DELETE", f"/api/admin/sites/{a.site}")))

    keys = sub.add_parser("keys", help="list, create or revoke API keys").add_subparsers(metavar="action")
    p = keys.add_parser("list")
    p.add_argument("site")
    p.set_defaults(func=lambda a: _print(_admin(a, "GET", f"/api/admin/sites/{a.site}/keys")))
    p = keys.add_parser("create", help="prints the key once; only its hash is stored")
    p.add_argument("site")
    p.add_argument("--name", default="")
    p.add_argument("--permissions", default="read,tracker", help="read, tracker or read,tracker")
    p.set_defaults(func=lambda a: _print(_admin(
        a, "POST", f"/api/admin/sites/{a.site}/keys",
        {"name": a.name, "permissions": [x.strip() for x in a.permissions.split(",") if x.strip()]})))
    p = keys.add_parser("revoke")
    p.add_argument("prefix", help="the key's prefix as listed (or the whole key)")
    p.set_defaults(func=lambda a: _print(_admin(a, "DELETE", f"/api/admin/keys/{a.prefix}")))

    goals = sub.add_parser("goals", help="list, create or delete goals").add_subparsers(metavar="action")
    p = goals.add_parser("list")
    p.add_argument("site")
    p.set_defaults(func=lambda a: _print(_admin(a, "GET", f"/api/admin/sites/{a.site}/goals")))
    p = goals.add_parser("create")
    p.add_argument("site")
    p.add_argument("--name", required=True)
    p.add_argument("--type", required=True, choices=GOAL_TYPES)
    p.add_argument("--match", default="",
                   help="pageview: path (/pricing, /blog/*); custom: event name (default: the goal "
                        "name); form/click: event name or form id (empty: any)")
    p.set_defaults(func=lambda a: _print(_admin(a, "POST", f"/api/admin/sites/{a.site}/goals",
                                                {"name": a.name, "type": a.type, "match": a.match})))
    p = goals.add_parser("delete")
    p.add_argument("site")
    p.add_argument("goal_id", type=int)
    p.set_defaults(func=lambda a: _print(_admin(a, "DELETE",
                                                f"/api/admin/sites/{a.site}/goals/{a.goal_id}")))
    p = sub.add_parser("import", help="bulk-import an NDJSON history file (gzip ok) into a site")
    p.add_argument("file", help="FILE.ndjson or FILE.ndjson.gz: one /api/event body per line plus "
                                "timestamp, ip and user_agent (docs/import.md)")
    p.add_argument("--site", required=True, help="the site's domain (or id)")
    p.add_argument("--key", default=os.environ.get("CLICKPORT_API_KEY", ""),
                   help="a key with tracker permission (default: $CLICKPORT_API_KEY; without one, a "
                        "temporary key is made through the admin API and revoked afterwards)")
    p.add_argument("--lines-per-request", type=_at_least_one, default=importcli.LINES_PER_REQUEST)
    p.add_argument("--in-flight", type=_at_least_one, default=importcli.IN_FLIGHT,
                   help="requests sent at once (numbered parts: the server stores them in file order; "
                        "2 measured +2.5%% events/s and +70–300 MiB server RSS on 2 cores)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_import)
    _add_loadtest(sub)
    return parser


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def cmd_import(args: argparse.Namespace) -> int:
    key, temporary = args.key, None
    if not key:
        made = _admin(args, "POST", f"/api/admin/sites/{args.site}/keys",
                      {"name": "clickport import (temporary)", "permissions": ["tracker"]})
        key, temporary = made["key"], made["prefix"]
    try:
        summary = importcli.run_import(args.url, key, args.file, args.lines_per_request,
                             progress=not args.no_progress, in_flight=args.in_flight)
    finally:
        if temporary:
            _admin(args, "DELETE", f"/api/admin/keys/{temporary}")
    _print(summary)
    return 0 if summary["ok"] else 1


def _add_loadtest(sub) -> None:
    try:
        from loadtest.cli import add_subcommands
    except ImportError:
        return
    add_subcommands(sub)


def cmd_setup(args: argparse.Namespace) -> int:
    from engine.enrich.geo_install import GeoInstallError, install_city_db

    data_dir = os.path.abspath(args.data_dir)
    os.makedirs(data_dir, exist_ok=True)
    try:
        path = install_city_db(data_dir)
    except GeoInstallError as exc:
        print(f"clickport setup: could not install the GeoIP database: {exc}", file=sys.stderr)
        print("The server still runs; countries, regions and cities stay (not set) until it is installed.",
              file=sys.stderr)
        return 1
    print(f"GeoIP database: {path}")
    print("IP geolocation by DB-IP.com (https://db-ip.com), licensed CC BY 4.0.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from server.app import create_app
    from server.config import Config, admin_token_path
    from server.observability import configure_logging

    configure_logging(args.log_level, os.environ.get("CLICKPORT_LOG_FORMAT", "text"))
    try:
        config = Config.from_env(data_dir=args.data_dir)
    except ValueError as exc:  # a setting's own message names its variable
        print(f"clickport serve: {exc}", file=sys.stderr)
        return 2
    if not config.geoip_path:
        logging.getLogger("clickport").warning(
            "no GeoIP database in %s/geo: run `clickport setup`; countries will be (not set)",
            config.data_dir)
    print(f"Clickport on http://{args.host}:{args.port}  store: {config.clickhouse_url}")
    print(f"Admin token: in {admin_token_path(config.data_dir)} (or CLICKPORT_ADMIN_TOKEN)")
    # One process: the embedded store belongs to exactly one process (and chDB is not fork-safe).
    from server.http_protocol import guarded_protocol

    # The app resolves the visitor behind trusted proxies itself, once per request
    # (server.client_ip.resolve_scope): uvicorn's own proxy-header handling is off. The
    # protocol caps request heads (431) and their read time (408); idle keep-alive connections
    # close after CLICKPORT_KEEPALIVE_S, and any connection after CLICKPORT_MAX_REQUESTS_PER_CONNECTION
    # requests; past CLICKPORT_MAX_CONNECTIONS new ones get 503.
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level,
                access_log=False, timeout_graceful_shutdown=30, log_config=None,
                proxy_headers=False,
                http=guarded_protocol(config.max_header_bytes, config.header_timeout_s,
                                      config.max_requests_per_connection),
                timeout_keep_alive=config.keepalive_s, limit_concurrency=config.max_connections,
                h11_max_incomplete_event_size=config.max_header_bytes)
    return 0


def _admin_token(args: argparse.Namespace) -> str:
    token = os.environ.get("CLICKPORT_ADMIN_TOKEN", "")
    if token:
        return token
    path = os.path.join(os.path.abspath(args.data_dir), "admin_token")
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        sys.exit(f"clickport: no admin token: set CLICKPORT_ADMIN_TOKEN or run from the directory "
                 f"holding the server's data dir ({path} not found)")


def _admin(args: argparse.Namespace, method: str, path: str, body: dict | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(args.url.rstrip("/") + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {_admin_token(args)}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", "")
        except ValueError:
            message = ""
        sys.exit(f"clickport: {exc.code} {message}")
    except urllib.error.URLError as exc:
        sys.exit(f"clickport: cannot reach the server at {args.url} ({exc.reason}); "
                 "is `clickport serve` running?")


def _print(value: Any) -> int:
    print(json.dumps(value, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
