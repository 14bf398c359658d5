"""The HTTP reverse proxy: an ASGI app that gates every tool call on its way to an upstream.

    agent ──(Bearer key | X-Gate-Key)──► proxy ──► Gate.check ──ALLOW/REWRITE──► upstream
                                            └──BLOCK──► 403 {"error": {"code": "blocked"}, "decision": …}

* Identity comes only from a credential whose sha256 is declared in a policy (constant-time
  comparison against every digest); session and task come from `X-Gate-Session` / `X-Gate-Task`.
* A route (routes file) names the tool; its args come from path parameters, query and JSON body.
  REWRITE rebuilds path, query and body from the rewritten args before forwarding.
* Responses stream through unbuffered; JSON bodies up to `observe_max_bytes` are reported to the
  session with `Gate.observe` after the last byte has been sent. A call whose upstream failed
  (unreachable, timed out, cut short) is reported too, as an error result, after the client
  has its error (or its truncated body).
* It is a bare ASGI app (no framework): the hop costs what the decision costs, plus the forward.
* A request body must arrive whole within `body_timeout_s`, else 408 and the connection is closed;
  a client that leaves mid-body is neither decided nor forwarded.

Own endpoints (no credential): `GET /_gate/healthz`, `/_gate/readyz`, `/_gate/metrics`.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any, Awaitable, Callable, MutableMapping
from urllib.parse import quote

import orjson
from anyio import to_thread
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gate.core.session import OUTCOME_UNKNOWN
from gate.core.verdict import Decision
from gate.deadlines import BodyDeadline, read_body
from gate.errors import GateError, RequestTimeout
from gate.gate import Gate
from gate.proxy.credentials import CredentialIndex, presented_key
from gate.proxy.errors import UnknownRoute, UpstreamError
from gate.proxy.routes import RouteTable, Upstream
from gate.proxy.upstream import TransportKind, UpstreamPool

__all__ = ["ProxyApp", "create_proxy_app", "HOP_BY_HOP", "GATE_HEADERS"]

log = logging.getLogger("gate.proxy")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
    b"trailers", b"transfer-encoding", b"upgrade", b"proxy-connection",
})
# Never forwarded: the gate's own headers (credentials, session, task). Host and length are recomputed.
GATE_HEADERS = frozenset({b"x-gate-key", b"x-gate-session", b"x-gate-task", b"host", b"content-length"})

_JSON = [(b"content-type", b"application/json")]


class ProxyApp:
    """ASGI reverse proxy in front of the upstreams of a `RouteTable`, deciding with `gate`."""

    def __init__(self, gate: Gate, routes: RouteTable, *, pool: UpstreamPool | None = None,
                 transport_kind: TransportKind = "aiohttp") -> None:
        self.gate = gate
        self.routes = routes
        self.pool = pool or UpstreamPool(max_connections=routes.max_connections, kind=transport_kind)
        self._credentials = CredentialIndex()
        self._deadline = BodyDeadline(gate.settings.body_timeout_s)
        self._static: dict[str, tuple[Upstream, list[tuple[bytes, bytes]]]] = {}

    # ASGI ---------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            try:
                await self._http(scope, receive, send)
            except GateError as exc:
                # after a 408 the connection still holds an unread remainder of the body
                await _send_json(send, exc.status, exc.to_wire(), close=isinstance(exc, RequestTimeout))
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.pool.open()  # inside the server's loop
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        await self.pool.aclose()
        self.gate.close()

    def authenticate(self, key: str | None) -> str:
        """The agent whose declared sha256 digest matches `key` (raises `Unauthorized`)."""
        return self._credentials.agent_for(self.gate.bundle, key)

    # requests -----------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path.startswith("/_gate/"):
            return await self._own(path, send)
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        session = task = None
        for name, value in raw_headers:
            if name == b"x-gate-session":
                session = value.decode("utf-8", "replace")
            elif name == b"x-gate-task":
                task = value.decode("utf-8", "replace")
        # X-Gate-Key wins; an Authorization header that carried the key is the gate's and is dropped.
        key, strip_authorization = presented_key(raw_headers)
        agent = self.authenticate(key)

        body = await read_body(scope, receive, self.routes.max_request_bytes, self._deadline)
        if body is None:
            return  # the client left mid-body: what did arrive is not the call it meant to make
        method: str = scope["method"]
        qs: bytes = scope["query_string"]
        match = self.routes.match(method, path, qs, body)
        headers = _forward_headers(raw_headers, strip_authorization)
        if match is None:
            if self.routes.unknown_routes != "forward" or self.routes.unknown_routes_upstream is None:
                raise UnknownRoute(f"{method} {path} is not a configured route")
            upstream = self.routes.upstreams[self.routes.unknown_routes_upstream]
            return await self._forward(send, upstream, method, _target(scope, path, qs), headers, body, None, None)

        route = match.route
        request: dict[str, Any] = {"agent": agent, "action": {"tool": route.tool, "args": match.args}}
        if session:
            request["session"] = session
        if task:
            request["task"] = task
        decision = await self._decide(request)
        if decision.decision == "BLOCK":
            codes = ", ".join(r["code"] for r in decision.reasons)
            return await _send_json(send, 403, {
                "error": {"code": "blocked", "message": f"gate blocked {route.tool}: {codes}"},
                "decision": decision.to_dict(),
            })
        if decision.decision == "REWRITE":
            new_path, new_qs, new_body = match.rebuild(decision.action["args"], body)
            target = _encoded(new_path + ("?" + new_qs if new_qs else ""))
            if new_body is not None:
                body = new_body
                headers = [h for h in headers if h[0] != b"content-type"] + _JSON
        else:
            # ALLOW: the original bytes go on untouched (path as the client encoded it, body as sent).
            target = _target(scope, path, qs)
        headers.append((b"x-gate-decision-id", decision.decision_id.encode()))
        await self._forward(send, self.routes.upstreams[route.upstream], method, target, headers, body,
                            decision, session)

    async def _decide(self, request: dict[str, Any]) -> Decision:
        return await self.gate.acheck(request, via="proxy")

    def _static_headers(self, upstream: Upstream) -> list[tuple[bytes, bytes]]:
        found = self._static.get(upstream.name)
        if found is None or found[0] is not upstream:
            found = self._static[upstream.name] = (upstream, [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in upstream.headers])
        return found[1]

    async def _forward(self, send: Send, upstream: Upstream, method: str, target: str,
                       headers: list[tuple[bytes, bytes]], body: bytes, decision: Decision | None,
                       session: str | None) -> None:
        headers.extend(self._static_headers(upstream))
        try:
            response = await self.pool.send(upstream, method, target, headers, body)
        except UpstreamError as exc:
            return await self._failed(send, exc, decision, session)
        out: list[tuple[bytes, bytes]] = []
        json_body = False
        for k, v in response.headers:
            k = k.lower()
            if k in HOP_BY_HOP:
                continue
            if k == b"content-type" and b"json" in v:
                json_body = True
            out.append((k, v))
        if decision is not None:
            out.append((b"x-gate-decision", decision.decision.encode()))
            out.append((b"x-gate-decision-id", decision.decision_id.encode()))
        # Only a JSON result is kept (up to observe_max_bytes) for the session; nothing else is buffered.
        limit = self.routes.observe_max_bytes
        kept = bytearray() if (decision is not None and session is not None and limit > 0 and json_body) else None
        started = False
        last = False
        try:
            async with contextlib.aclosing(self.pool.iter_body(response, upstream)) as chunks:
                async for chunk, last in chunks:
                    if not started:
                        await send({"type": "http.response.start", "status": response.status, "headers": out})
                        started = True
                    if kept is not None:
                        if len(kept) + len(chunk) <= limit:
                            kept += chunk
                        else:
                            kept = None  # too large to report: the session records the call without a result
                    # The last chunk carries the end of the body: one ASGI message, not two.
                    await send({"type": "http.response.body", "body": chunk, "more_body": not last})
        except UpstreamError as exc:
            if not started:
                return await self._failed(send, exc, decision, session)
            # Headers are gone: all that is left is to cut the body short (the client sees it truncated).
            log.warning("upstream %s failed mid-response; response truncated", upstream.name)
            if decision is not None and session is not None:
                await self._observe_failure(decision, session, exc, response.status)
            return
        if not started:
            await send({"type": "http.response.start", "status": response.status, "headers": out})
        if not last:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        if decision is not None and session is not None:
            await self._observe(decision, session, kept, response.status)

    async def _failed(self, send: Send, exc: UpstreamError, decision: Decision | None, session: str | None) -> None:
        """The upstream failed before the client got headers: the client gets its error first,
        then the session learns that the call it allowed failed."""
        await _send_json(send, exc.status, exc.to_wire())
        if decision is not None and session is not None:
            await self._observe_failure(decision, session, exc, None)

    async def _observe(self, decision: Decision, session: str, kept: bytearray | None, status: int) -> None:
        """Report the executed call and its result; the client already has the response."""
        result: Any = None
        if kept:
            try:
                result = orjson.loads(kept)
            except orjson.JSONDecodeError:
                result = None
        await self._report(decision, session, result if status < 400 else {"status": status, "error": result})

    async def _observe_failure(self, decision: Decision, session: str, exc: UpstreamError, status: int | None) -> None:
        """Report an allowed call whose upstream failed, so it stops being pending and the
        session knows. A call that never reached the upstream failed (`upstream_unreachable`);
        one that may have run (a timeout or reset after the request was sent, a response too
        large, or one cut short: `upstream_truncated`) has an unknown outcome, so a payment
        counts as made (`gate.core.session.result_failed`)."""
        if not exc.reached:
            result: dict[str, Any] = {"error": "upstream_unreachable"}
        else:
            result = {"error": "upstream_truncated" if status is not None else exc.code, "outcome": OUTCOME_UNKNOWN}
            if status is not None:
                result["status"] = status
        await self._report(decision, session, result)

    async def _report(self, decision: Decision, session: str, result: Any) -> None:
        """`Gate.observe` of the forwarded call; a failure is logged, never raised (the client
        already has its response)."""
        body = {"agent": decision.agent, "session": session, "action": decision.action, "result": result,
                "decision_id": decision.decision_id}
        try:
            await self.gate.aobserve(body, via="proxy")
        except GateError as exc:
            log.warning("observe failed for decision %s: %s", decision.decision_id, exc.message)
        except Exception:   # a bug; the response is out, so it is logged and goes no further
            log.exception("observe failed for decision %s", decision.decision_id)

    async def _own(self, path: str, send: Send) -> None:
        if path == "/_gate/healthz":
            return await _send_json(send, 200, {"status": "ok"})
        if path == "/_gate/readyz":
            ok, why = await to_thread.run_sync(self.gate.ready)
            return await _send_json(send, 200 if ok else 503, {"ready": ok, "detail": why,
                                                               "policy_revision": self.gate.revision})
        if path == "/_gate/metrics":
            body = generate_latest(self.gate.metrics.registry)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", CONTENT_TYPE_LATEST.encode())]})
            return await send({"type": "http.response.body", "body": body})
        await _send_json(send, 404, {"error": {"code": "not_found", "message": f"no gate endpoint {path}"}})


_DROP = HOP_BY_HOP | GATE_HEADERS
_DROP_AUTH = _DROP | {b"authorization"}


def _forward_headers(headers: list[tuple[bytes, bytes]], strip_authorization: bool) -> list[tuple[bytes, bytes]]:
    drop = _DROP_AUTH if strip_authorization else _DROP
    for name, value in headers:
        if name == b"connection":  # headers the client marked hop-by-hop
            drop = drop | {t.strip().lower() for t in value.split(b",")}
    return [(k, v) for k, v in headers if k not in drop]


# A request target that may go upstream as it is: visible ASCII only (no space, CR, LF, NUL).
_SAFE_TARGET = re.compile(r"[\x21-\x7e]*")


def _encoded(target: str) -> str:
    """`target` when it is already a clean encoded request target, else percent-encoded."""
    if _SAFE_TARGET.fullmatch(target):
        return target
    return quote(target, safe="/?=&%:@!$'()*+,;-._~")


def _target(scope: Scope, path: str, qs: bytes) -> str:
    """The request target as the client encoded it (ASGI `raw_path`), falling back to `path`."""
    raw: bytes | None = scope.get("raw_path")
    target = raw.decode("latin-1") if raw else quote(path, safe="/:@!$&'()*+,;=-._~")
    if qs:
        target += "?" + qs.decode("latin-1")
    return _encoded(target)


_CLOSE = [(b"connection", b"close")]


async def _send_json(send: Send, status: int, content: Any, close: bool = False) -> None:
    body = orjson.dumps(content)
    headers = _JSON + [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + _CLOSE if close else headers})
    await send({"type": "http.response.body", "body": body})


def create_proxy_app(gate: Gate, routes: RouteTable, *, transport_kind: TransportKind = "aiohttp",
                     pool: UpstreamPool | None = None) -> ProxyApp:
    """The proxy ASGI app (run it with uvicorn; its lifespan opens and closes the upstream pool)."""
    return ProxyApp(gate, routes, pool=pool, transport_kind=transport_kind)
