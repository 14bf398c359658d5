"""`gate proxy --policies DIR --routes ROUTES.yaml [--host H] [--port P]`: the HTTP reverse proxy."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "DEFAULT_PORT"]

DEFAULT_PORT = 8701


def cmd_proxy(args: argparse.Namespace) -> int:
    import uvicorn

    from gate.cli import has_module, http_protocol, load_gate
    from gate.proxy.app import create_proxy_app
    from gate.proxy.errors import RoutesError
    from gate.proxy.routes import load_routes

    try:
        routes = load_routes(args.routes)
    except RoutesError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    if args.port is None:
        args.port = DEFAULT_PORT
    gate = load_gate(args)
    ok, why = gate.ready()
    agents = sum(1 for a in gate.bundle.agents.values() if a.policy.credentials)
    print(f"gate proxy: {len(routes.routes)} route(s) to {len(routes.upstreams)} upstream(s) "
          f"({', '.join(f'{u.name}={u.url}' for u in routes.upstreams.values())}); unknown routes: {routes.unknown_routes}",
          file=sys.stderr)
    print(f"gate proxy: {agents} agent(s) with credentials, revision {gate.revision}, ready={ok} ({why}); "
          f"transport {args.transport}; serving on http://{gate.settings.host}:{gate.settings.port}", file=sys.stderr)
    if agents == 0:
        print("gate proxy: warning: no policy declares `credentials`, every call will get 401", file=sys.stderr)
    app = create_proxy_app(gate, routes, transport_kind=args.transport)
    # No access log (it cost 36-45% of throughput), no X-Forwarded-* rewriting (the proxy does not
    # use the client address), and no Server/Date of its own: forwarded responses keep the upstream's.
    uvicorn.run(app, host=gate.settings.host, port=gate.settings.port, access_log=False, log_level="warning",
                http=http_protocol(gate.settings), loop="uvloop" if has_module("uvloop") else "asyncio",
                lifespan="on", proxy_headers=False, server_header=False, date_header=False)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `gate proxy` to the `gate` parser."""
    from gate.cli import add_deadline_flags

    p = sub.add_parser("proxy", help="serve the HTTP reverse proxy in front of tool APIs (see docs/sidecars.md)")
    p.add_argument("--policies", required=True)
    p.add_argument("--routes", required=True, help="routes file: HTTP routes -> tools on configured upstreams")
    p.add_argument("--host")
    p.add_argument("--port", type=int, help=f"default {DEFAULT_PORT}")
    p.add_argument("--store", choices=["memory", "redis"])
    p.add_argument("--redis-url", dest="redis_url")
    p.add_argument("--audit", help="audit log path ('off' to disable)")
    p.add_argument("--mode", choices=["enforce", "dry-run"], help="dry-run: decide, log and count every call, but let it run")
    p.add_argument("--transport", choices=["aiohttp", "httpx-aiohttp", "httpx"], default="aiohttp",
                   help="upstream forwarder: aiohttp (default); httpx-aiohttp (the httpx API over aiohttp) and "
                        "httpx (the plain httpx transport) are for comparison only")
    add_deadline_flags(p)
    p.set_defaults(fn=cmd_proxy)
