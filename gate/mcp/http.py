"""The HTTP edge of the MCP gateway: the agent's credential in front of the streamable-HTTP app."""

from __future__ import annotations

from typing import Any

import orjson

from gate.errors import Unauthorized
from gate.gate import Gate
from gate.proxy.credentials import CredentialIndex, presented_key

__all__ = ["credential_guard"]


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
                body = orjson.dumps(exc.to_wire())
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            drop = {b"x-gate-key"} | ({b"authorization"} if from_authorization else set())
            scope = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k not in drop])
        await app(scope, receive, send)

    return guarded
