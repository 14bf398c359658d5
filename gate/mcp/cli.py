"""`gate mcp stdio|http`: the MCP gateway in front of one upstream MCP server.

    gate mcp stdio --policies DIR --agent A [--session S --task T] -- <server command...>
    gate mcp http  --policies DIR --agent A --upstream URL [--host H --port P]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "DEFAULT_PORT"]

DEFAULT_PORT = 8702


def _gateway(args: argparse.Namespace, upstream: Any) -> Any:
    from gate.cli import load_gate
    from gate.errors import RequestError
    from gate.mcp.gateway import Gateway

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    gate = load_gate(args)
    try:
        return Gateway(gate, agent=args.agent, upstream=upstream, session=args.session, task=args.task,
                       poisoned_tools=args.poisoned_tools, pins_path=Path(args.pins) if args.pins else None)
    except RequestError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_stdio(args: argparse.Namespace) -> int:
    import anyio
    from mcp.server.stdio import stdio_server

    from gate.mcp.gateway import stdio_upstream

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("error: give the upstream server command after `--`", file=sys.stderr)
        return 2
    # The upstream server inherits this environment (as it would if the client spawned it).
    gateway = _gateway(args, stdio_upstream(command, env=dict(os.environ), timeout_s=args.timeout))
    server = gateway.server()

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(run)
    return 0


def cmd_http(args: argparse.Namespace) -> int:
    import uvicorn

    from gate.cli import has_module, http_protocol
    from gate.mcp.gateway import http_upstream
    from gate.mcp.http import http_app

    if args.port is None:
        args.port = DEFAULT_PORT
    gateway = _gateway(args, http_upstream(args.upstream, timeout_s=args.timeout))
    host = gateway.gate.settings.host
    app = http_app(gateway, args.path)
    print(f"gate mcp: agent {args.agent} -> {args.upstream}; serving http://{host}:{gateway.gate.settings.port}{args.path}",
          file=sys.stderr)
    uvicorn.run(app, host=host, port=gateway.gate.settings.port, access_log=False, log_level="warning",
                http=http_protocol(gateway.gate.settings), loop="uvloop" if has_module("uvloop") else "asyncio")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policies", required=True)
    p.add_argument("--agent", required=True, help="the agent (policy) every call through this gateway is decided for")
    p.add_argument("--session", help="gate session id (default: one per gateway connection)")
    p.add_argument("--task", help="the session's task imprint")
    p.add_argument("--poisoned-tools", dest="poisoned_tools", choices=["hide", "flag", "block"], default="hide",
                   help="tools whose descriptions carry instructions to the model: hide (default), flag, or block")
    p.add_argument("--pins", help="JSON file that keeps tool definition pins across restarts")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each upstream answer")
    p.add_argument("--store", choices=["memory", "redis"])
    p.add_argument("--redis-url", dest="redis_url")
    p.add_argument("--audit", help="audit log path ('off' to disable)")
    p.add_argument("--mode", choices=["enforce", "dry-run"], help="dry-run: decide, log and count every call, but let it run")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `gate mcp stdio|http` to the `gate` parser."""
    from gate.cli import add_deadline_flags

    m = sub.add_parser("mcp", help="MCP gateway in front of an MCP server (see docs/sidecars.md)")
    msub = m.add_subparsers(dest="mcp_command", required=True)
    s = msub.add_parser("stdio", help="serve MCP on stdio; spawn the real server: ... -- <server command>")
    _common(s)
    s.add_argument("command", nargs=argparse.REMAINDER, help="-- <upstream server command and args>")
    s.set_defaults(fn=cmd_stdio)
    h = msub.add_parser("http", help="serve streamable-HTTP MCP in front of a streamable-HTTP upstream")
    _common(h)
    h.add_argument("--upstream", required=True, help="upstream MCP endpoint, e.g. http://127.0.0.1:9000/mcp")
    h.add_argument("--host")
    h.add_argument("--port", type=int, help=f"default {DEFAULT_PORT}")
    h.add_argument("--path", default="/mcp", help="endpoint path (default /mcp)")
    add_deadline_flags(h)
    h.set_defaults(fn=cmd_http)
