"""The HTTP edge of the MCP gateway: the agent's credential and a body deadline in front of the
streamable-HTTP app.

    client ──► credential_guard ──► body_deadline_guard ──► the MCP SDK's streamable-HTTP app
               401 without the key   408 + close for a late body
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE

from gate.deadlines import BodyDeadline, read_body
from gate.errors import GateError, RequestError, RequestTimeout, Unauthorized
from gate.gate import Gate
from gate.proxy.credentials import CredentialIndex, presented_key

if TYPE_CHECKING:
    from gate.mcp.gateway import Gateway

__all__ = ["http_app", "credential_guard", "body_deadline_guard"]


def http_app(gateway: Gateway, path: str = "/mcp") -> Any:
    """The ASGI app `gate mcp http` serves: `gateway`'s MCP server behind both guards."""
    gate = gateway.gate
    app = gateway.server().streamable_http_app(streamable_http_path=path, host=gate.settings.host)
    # the SDK's own body limit (it answers 413 past it): the guard buffers no more than it would
    app = body_deadline_guard(app, BodyDeadline(gate.settings.body_timeout_s), DEFAULT_MAX_REQUEST_BODY_SIZE)
    return credential_guard(app, gate, gateway.agent)


async def _send_error(send: Any, exc: GateError, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = orjson.dumps(exc.to_wire())
    await send({"type": "http.response.start", "status": exc.status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def credential_guard(app: Any, gate: Gate, agent: str) -> Any:
    """Require `agent`'s key (Bearer or X-Gate-Key) when its policy declares `credentials`.

    An agent without declared credentials is served without a key: bind the gateway to loopback.
    The gate's own headers never reach the MCP app.
    """
    index = CredentialIndex()

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and gate.bundle.agents[agent].policy.credentials:
            key, from_authorization = presented_key(scope["headers"])
            try:
                index.agent_for(gate.bundle, key, only=agent)
            except Unauthorized as exc:
                await _send_error(send, exc)
                return
            drop = {b"x-gate-key"} | ({b"authorization"} if from_authorization else set())
            scope = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k not in drop])
        await app(scope, receive, send)

    return guarded


def body_deadline_guard(app: Any, deadline: BodyDeadline, limit: int) -> Any:
    """Read each request body whole, within `deadline` and `limit` bytes, before `app` sees it
    (the SDK reads it whole too, with no deadline): a late body gets 408 and a close, a client
    that leaves mid-body reaches nothing. `app` then receives the body as one message."""

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        try:
            body = await read_body(scope, receive, limit, deadline)
        except RequestError as exc:   # PayloadTooLarge, RequestTimeout
            # after a 408 the connection still holds an unread remainder of the body
            await _send_error(send, exc, [(b"connection", b"close")] if isinstance(exc, RequestTimeout) else None)
            return
        if body is None:
            return
        pending: list[dict[str, Any]] = [{"type": "http.request", "body": body, "more_body": False}]

        async def replay() -> Any:
            return pending.pop() if pending else await receive()

        await app(scope, replay, send)

    return guarded
