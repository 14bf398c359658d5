"""The MCP gateway: an MCP server in front of one upstream MCP server, deciding every tool call.

    MCP client ──► gateway (this Server) ──► Gate.check ──ALLOW/REWRITE──► upstream ClientSession
                                                  └──BLOCK──► CallToolResult(isError=true, decision…)

* `tools/call` is decided by `Gate.check` (tool = MCP tool name, args = arguments): forwarded with
  the (possibly rewritten) arguments, or answered with a tool error result whose text carries the
  decision, the reason codes and the decision_id. Results go back to the session (`Gate.observe`).
* `tools/list` is guarded by `ToolGuard`: definitions pinned by sha256 at first listing (the gateway
  lists once when it connects), rug pulls reported and their calls blocked, poisoned descriptions
  hidden, neutralised or flagged (`poisoned_tools`).
* Resources and prompts pass through when the upstream offers them, and are refused with
  METHOD_NOT_FOUND when it does not.

The upstream is any async context manager yielding an initialised `ClientSession`
(`stdio_upstream` spawns a command; `http_upstream` connects to a streamable-HTTP endpoint).
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Mapping, Sequence

import anyio
import mcp.types as types
import orjson
from anyio import to_thread
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from gate.core.verdict import Decision
from gate.errors import RequestError, StoreUnavailable
from gate.gate import Gate
from gate.mcp.guard import PoisonedMode, ToolGuard

__all__ = ["Gateway", "UpstreamFactory", "stdio_upstream", "http_upstream", "OBSERVE_MAX_CHARS"]

log = logging.getLogger("gate.mcp")

UpstreamFactory = Callable[[], contextlib.AbstractAsyncContextManager[ClientSession]]
OBSERVE_MAX_CHARS = 65_536       # results larger than this are reported without their content
_MAX_PAGES = 50                  # bound on upstream tools/list pagination


def stdio_upstream(command: Sequence[str], *, env: Mapping[str, str] | None = None,
                   timeout_s: float = 60.0) -> UpstreamFactory:
    """Spawn `command` as the upstream MCP server (stdio) and open a client session to it."""
    if not command:
        raise ValueError("an upstream server command is required after `--`")

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[ClientSession]:
        params = StdioServerParameters(command=command[0], args=list(command[1:]), env=dict(env or {}))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=timeout_s) as session:
                await session.initialize()
                yield session

    return connect


def http_upstream(url: str, *, headers: Mapping[str, str] | None = None, timeout_s: float = 60.0) -> UpstreamFactory:
    """Connect to a streamable-HTTP upstream MCP server at `url`."""

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[ClientSession]:
        async with create_mcp_http_client(headers=dict(headers or {})) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=timeout_s) as session:
                    await session.initialize()
                    yield session

    return connect


@dataclass
class _Connection:
    """Lifespan state: the upstream session and the gate session id of this gateway."""

    upstream: ClientSession
    session: str


def _wire(tool: types.Tool) -> dict[str, Any]:
    return tool.model_dump(by_alias=True, exclude_none=True, mode="json")


class Gateway:
    """Builds the gateway's MCP `Server` for one agent in front of one upstream."""

    def __init__(self, gate: Gate, *, agent: str, upstream: UpstreamFactory, session: str | None = None,
                 task: str | None = None, poisoned_tools: PoisonedMode = "hide", pins_path: Path | None = None) -> None:
        if agent not in gate.bundle.agents:
            raise RequestError(f"agent {agent!r} has no policy (known: {', '.join(sorted(gate.bundle.agents))})")
        self.gate = gate
        self.agent = agent
        self.task = task
        self.fixed_session = session
        self.upstream = upstream
        self.pins_path = pins_path
        pins = orjson.loads(pins_path.read_bytes()) if pins_path is not None and pins_path.exists() else {}
        self.guard = ToolGuard(pins, poisoned_tools=poisoned_tools)
        self._list_lock = anyio.Lock()
        self._reported: set[tuple[str, str]] = set()

    # the MCP server -------------------------------------------------------------------------
    def server(self) -> Server[_Connection]:
        return Server(
            "gate-mcp-gateway", version="0.1.0", lifespan=self._lifespan,
            instructions=None,
            on_list_tools=self._list_tools, on_call_tool=self._call_tool,
            on_list_resources=self._list_resources, on_list_resource_templates=self._list_resource_templates,
            on_read_resource=self._read_resource, on_list_prompts=self._list_prompts, on_get_prompt=self._get_prompt,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _: Server[Any]) -> AsyncIterator[_Connection]:
        async with self.upstream() as upstream:
            conn = _Connection(upstream, self.fixed_session or f"mcp-{uuid.uuid4().hex[:12]}")
            await self._refresh(upstream)  # pin every tool at first sight, before any client lists
            log.warning("gate mcp: agent %s, session %s, %d upstream tool(s) pinned", self.agent, conn.session,
                        len(self.guard.status))
            yield conn

    async def _refresh(self, upstream: ClientSession) -> list[dict[str, Any]]:
        tools: list[types.Tool] = []
        cursor: str | None = None
        async with self._list_lock:
            for _ in range(_MAX_PAGES):
                params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await upstream.list_tools(params=params)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            review = self.guard.review([_wire(t) for t in tools])
        for name in review.changed:
            log.warning("gate mcp: RUG PULL: tool %r changed its definition since it was pinned; its calls are blocked", name)
        for name in review.poisoned:
            st = self.guard.status[name]
            if (name, st.digest) in self._reported:
                continue
            self._reported.add((name, st.digest))
            log.warning("gate mcp: poisoned tool %r (%s): %s", name, ", ".join(f.code for f in st.findings),
                        self.guard.poisoned_tools)
        if review.new_pins and self.pins_path is not None:
            await to_thread.run_sync(self._save_pins)
        return review.listed

    def _save_pins(self) -> None:
        assert self.pins_path is not None
        tmp = self.pins_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(self.guard.pins, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        os.replace(tmp, self.pins_path)

    def _session_of(self, ctx: ServerRequestContext[_Connection]) -> str:
        if self.fixed_session:
            return self.fixed_session
        request = ctx.request
        sid = getattr(request, "headers", {}).get("mcp-session-id") if request is not None else None
        return f"mcp-{sid}" if sid else ctx.lifespan_context.session

    # tools ----------------------------------------------------------------------------------
    async def _list_tools(self, ctx: ServerRequestContext[_Connection],
                          params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        listed = await self._refresh(ctx.lifespan_context.upstream)
        return types.ListToolsResult(tools=[types.Tool.model_validate(t) for t in listed])

    async def _call_tool(self, ctx: ServerRequestContext[_Connection],
                         params: types.CallToolRequestParams) -> types.CallToolResult:
        upstream = ctx.lifespan_context.upstream
        name, args = params.name, dict(params.arguments or {})
        if name not in self.guard.status:  # called before (or without) a listing that shows it
            await self._refresh(upstream)
        session = self._session_of(ctx)
        request: dict[str, Any] = {"agent": self.agent, "session": session, "action": {"tool": name, "args": args}}
        if self.task:
            request["task"] = self.task
        refusal = self.guard.refusal(name)
        if refusal is not None:
            code, message = refusal
            log.warning("gate mcp: blocked %s: %s", name, message)
            try:
                refused = self.gate.refuse(request, "mcp_tool_guard", code, message, via="mcp")
            except RequestError as exc:
                raise MCPError(code=types.INVALID_PARAMS, message=f"{exc.code}: {exc.message}") from None
            return _blocked(name, list(refused.reasons), refused.decision_id, refused.policy_revision)
        try:
            decision = await self._decide(request)
        except RequestError as exc:
            raise MCPError(code=types.INVALID_PARAMS, message=f"{exc.code}: {exc.message}") from None
        if decision.decision == "BLOCK":
            return _blocked(name, list(decision.reasons), decision.decision_id, decision.policy_revision)
        try:
            result = await upstream.call_tool(name, decision.action["args"])
        except MCPError:
            # the upstream answered the request with a protocol error: the tool did not run
            await self._observe_failure(decision, session, {"error": "upstream_rejected"})
            raise
        except Exception:
            # the connection failed or timed out after the request left: the tool may have run
            await self._observe_failure(decision, session, {"error": "upstream_failed", "outcome": "unknown"})
            raise
        await self._observe(decision, session, result)
        return result

    async def _decide(self, request: dict[str, Any]) -> Decision:
        return await self.gate.acheck(request, via="mcp")

    async def _observe(self, decision: Decision, session: str, result: types.CallToolResult) -> None:
        content: Any
        if result.structured_content is not None:
            content = result.structured_content
        else:
            content = "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))
        if len(orjson.dumps(content)) > OBSERVE_MAX_CHARS:
            content = None
        body = {"agent": self.agent, "session": session, "action": decision.action,
                "result": {"error": content} if result.is_error else content, "decision_id": decision.decision_id}
        try:
            await self.gate.aobserve(body, via="mcp")
        except (RequestError, StoreUnavailable) as exc:
            log.warning("gate mcp: observe failed for %s: %s", decision.decision_id, exc.message)

    async def _observe_failure(self, decision: Decision, session: str, result: dict[str, Any]) -> None:
        """Report an allowed call whose upstream failed, so the session does not keep it pending
        and knows whether it may have run (`docs/observe.md`); the caller still gets the error."""
        body = {"agent": self.agent, "session": session, "action": decision.action, "result": result,
                "decision_id": decision.decision_id}
        try:
            await self.gate.aobserve(body, via="mcp")
        except (RequestError, StoreUnavailable) as exc:
            log.warning("gate mcp: observe failed for %s: %s", decision.decision_id, exc.message)

    # pass-through ---------------------------------------------------------------------------
    @staticmethod
    def _offers(upstream: ClientSession, what: str) -> None:
        caps = upstream.server_capabilities
        if caps is None or getattr(caps, what, None) is None:
            raise MCPError(code=types.METHOD_NOT_FOUND, message=f"the upstream MCP server offers no {what}")

    async def _list_resources(self, ctx: ServerRequestContext[_Connection],
                              params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        self._offers(ctx.lifespan_context.upstream, "resources")
        return await ctx.lifespan_context.upstream.list_resources(params=params)

    async def _list_resource_templates(self, ctx: ServerRequestContext[_Connection],
                                       params: types.PaginatedRequestParams | None) -> types.ListResourceTemplatesResult:
        self._offers(ctx.lifespan_context.upstream, "resources")
        return await ctx.lifespan_context.upstream.list_resource_templates(params=params)

    async def _read_resource(self, ctx: ServerRequestContext[_Connection],
                             params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        self._offers(ctx.lifespan_context.upstream, "resources")
        return await ctx.lifespan_context.upstream.read_resource(params.uri)

    async def _list_prompts(self, ctx: ServerRequestContext[_Connection],
                            params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        self._offers(ctx.lifespan_context.upstream, "prompts")
        return await ctx.lifespan_context.upstream.list_prompts(params=params)

    async def _get_prompt(self, ctx: ServerRequestContext[_Connection],
                          params: types.GetPromptRequestParams) -> types.GetPromptResult:
        self._offers(ctx.lifespan_context.upstream, "prompts")
        return await ctx.lifespan_context.upstream.get_prompt(params.name, params.arguments)


def _blocked(tool: str, reasons: list[dict[str, Any]], decision_id: str, revision: str) -> types.CallToolResult:
    """The tool error result for a blocked call: the model and the user see why, with the id."""
    codes = ", ".join(r["code"] for r in reasons)
    why = "; ".join(r.get("message", "") for r in reasons)
    payload = {"decision": "BLOCK", "tool": tool,
               "reasons": [{"check": r.get("check"), "code": r["code"], "message": r.get("message")} for r in reasons],
               "decision_id": decision_id, "policy_revision": revision}
    text = (f"gate BLOCKED the call to {tool} ({codes}): {why}. decision_id={decision_id}\n"
            + orjson.dumps(payload).decode())
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)
