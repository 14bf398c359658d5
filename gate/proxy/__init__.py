"""The HTTP reverse-proxy sidecar mode: `gate proxy --policies DIR --routes ROUTES.yaml`.

See docs/sidecars.md. `create_proxy_app(gate, routes)` is the ASGI app; `load_routes(path)` reads
and validates a routes file.
"""

from gate.proxy.app import ProxyApp, create_proxy_app
from gate.proxy.routes import RouteTable, load_routes, parse_routes

__all__ = ["ProxyApp", "RouteTable", "create_proxy_app", "load_routes", "parse_routes"]
