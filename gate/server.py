"""The HTTP service: /v1/check, /v1/observe, health, readiness, metrics and OpenAPI docs.

The hot route parses bodies with orjson into plain structures (no pydantic model: measured
at ~50 µs a request) and decides through `Gate.acheck`: inline with the in-memory store (the
decision is pure CPU), in a worker thread with Redis so the event loop never waits on it.
`/docs` serves Swagger UI from the `swagger_ui_bundle` package, so it works offline.
`/v1/reload` takes a Bearer token (`reload_token`) or, without one, loopback clients only.
A body must arrive whole within `body_timeout_s`, else 408.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
from pathlib import Path
from typing import Any, AsyncIterator

import orjson
from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

from gate.deadlines import BodyDeadline
from gate.errors import Forbidden, GateError, MalformedRequest, PayloadTooLarge, RequestTimeout, Unauthorized
from gate.gate import Gate

log = logging.getLogger("gate.server")

__all__ = ["create_app", "ORJSONResponse", "FastPath", "BodyDeadline", "handle"]


class ORJSONResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def error_response(exc: GateError) -> ORJSONResponse:
    headers = None
    if isinstance(exc, RequestTimeout):
        headers = {"connection": "close"}   # the connection still holds an unread remainder of the body
    elif isinstance(exc, Unauthorized):
        headers = {"www-authenticate": "Bearer"}
    return ORJSONResponse(exc.to_wire(), status_code=exc.status, headers=headers)


async def _read(request: Request, limit: int, deadline: BodyDeadline) -> bytes:
    """The body bytes; 413 past `limit`, 408 when it has not all arrived in time."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    body = bytearray()
    try:
        with deadline:
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    except TimeoutError as exc:
        raise RequestTimeout(str(exc)) from None
    return bytes(body)


# The 200 bodies as JSON Schema (OpenAPI 3.1). Documentation only: the routes serialize
# `Decision.to_dict` and `Gate.observe` with orjson and nothing validates them on the request path.
# `additionalProperties` stays open: the contract lets fields be added, never removed.
_LEVEL = {"type": "string", "enum": ["SAFE", "MILD", "ELEVATED", "CRITICAL", "VIOLATED"]}
_ACTION = {"type": "object", "required": ["tool", "args"], "properties": {
    "tool": {"type": "string"}, "args": {"type": "object"}}}
_REASON = {"type": "object", "required": ["check", "code", "message"], "properties": {
    "check": {"type": "string", "example": "scope"},
    "code": {"type": "string", "example": "tool_in_scope"},
    "message": {"type": "string", "example": "issue_refund is declared"},
    "scores": {"type": "object", "additionalProperties": {"type": "number"}},
    "patches": {"type": "array", "description": "the REWRITE's edits of the arguments", "items": {
        "type": "object", "required": ["path", "op"],
        "properties": {"path": {"type": "string"}, "op": {"type": "string"}}}}}}
_DECISION = {"type": "object", "required": ["decision", "action", "reasons", "decision_id", "policy_revision"],
             "properties": {
    "decision": {"type": "string", "enum": ["ALLOW", "BLOCK", "REWRITE"]},
    "action": {**_ACTION, "description": "the call to execute (the rewritten one for REWRITE)"},
    "reasons": {"type": "array", "items": _REASON},
    "decision_id": {"type": "string"},
    "policy_revision": {"type": "string", "description": "content hash of the policies that decided"},
    "agent": {"type": "string"},
    "session": {"type": ["string", "null"]},
    "scores": {"type": "object", "additionalProperties": {"type": "number"}},
    "model": {"type": "string", "description": "the embedding model that scored the call"},
    "risk": {"type": "object", "description": "session risk, for agents with a risk model",
             "required": ["level", "previous_level", "horizon"], "properties": {
        "level": _LEVEL, "previous_level": _LEVEL, "projected_level": _LEVEL,
        "horizon": {"type": "integer"}, "category": {"type": "string"},
        "p_violation": {"type": "number"}, "expected_steps": {"type": "number"},
        "projected_state": {"type": "string", "description": "the risk chain's state after the call: the level and the "
                                                            "session facts the chain is indexed by"}}},
    "dry_run": {"type": "object", "description": "dry-run mode: what enforce would have answered",
                "required": ["decision", "action", "reasons"], "properties": {
        "decision": {"type": "string", "enum": ["BLOCK", "REWRITE"]}, "action": _ACTION,
        "reasons": {"type": "array", "items": _REASON}}},
    "trail": {"type": "array", "description": "with `?trail=1`: every check's verdict in cascade order", "items": {
        **_REASON, "required": ["check", "code", "message", "outcome"],
        "properties": {**_REASON["properties"], "outcome": {"type": "string", "enum": ["pass", "flag", "rewrite", "block"]}}}},
}}
_OBSERVATION = {"type": "object", "required": ["session", "steps", "risk_level", "tainted_destinations",
                                               "secrets_seen", "policy_revision", "counted", "mismatch"], "properties": {
    "session": {"type": "string"},
    "steps": {"type": "integer", "description": "calls the session has executed"},
    "risk_level": _LEVEL,
    "tainted_destinations": {"type": "integer", "description": "destinations named by untrusted results"},
    "secrets_seen": {"type": "integer"},
    "policy_revision": {"type": "string"},
    "counted": {"type": "string", "enum": ["matched", "new"],
                "description": "`matched`: a call the gate allowed and counted when it was checked (named by `decision_id`, "
                               "or without one the oldest pending allowed call with the same tool and arguments); "
                               "`new`: counted now as a step of its own, quotas included"},
    "mismatch": {"type": ["string", "null"], "enum": ["unknown_decision", "tool_differs", "args_differ", None],
                 "description": "why a given `decision_id` did not match: not a pending allowed call of this session "
                                "(never issued, blocked, already observed, or past the last 16 allowed), or its call had "
                                "another tool or other arguments; null otherwise"},
}}
_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "string", "example": "invalid_request"}, "message": {"type": "string"}}}}}
_ERRORS = {"4XX": {"description": "`{\"error\": {\"code\", \"message\"}}`",
                   "content": {"application/json": {"schema": _ERROR}}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


_CHECK_SCHEMA = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["agent", "action"],
        "properties": {
            "agent": {"type": "string", "example": "billing-assistant"},
            "session": {"type": "string", "example": "s-42"},
            "task": {"type": "string", "example": "Refund invoice INV-1009, it was charged twice"},
            "action": {"type": "object", "required": ["tool"], "properties": {
                "tool": {"type": "string", "example": "issue_refund"},
                "args": {"type": "object", "example": {"invoice_id": "INV-1009", "amount": 40}}}},
        }}}}},
    "responses": {"200": {"description": "The decision: ALLOW, BLOCK or REWRITE with reasons", **_json(_DECISION)},
                  **_ERRORS},
}
_OBSERVE_SCHEMA = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["agent", "session", "action"],
        "properties": {
            "agent": {"type": "string"}, "session": {"type": "string"},
            "action": {"type": "object"}, "result": {},
            "decision_id": {"type": "string", "description": "the /v1/check decision this call executed, if any: "
                                                             "the call counts once only if it is the call that decision allowed"},
        }}}}},
    "responses": {"200": {"description": "The session after the call", **_json(_OBSERVATION)}, **_ERRORS},
}


def _parse(raw: bytes) -> Any:
    if not raw:
        raise MalformedRequest("the request body is empty; send a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"the request body is not JSON gate can read: {exc.msg} at position {exc.pos} "
                               "(numbers must fit a 64-bit float, text must be valid UTF-8)") from None


async def handle(gate: Gate, path: str, raw: bytes, trail: bool) -> tuple[int, bytes]:
    """The check and observe endpoints as (status, JSON bytes): one implementation for the
    raw ASGI fast path and the documented FastAPI routes."""
    try:
        body = _parse(raw)
        if path == "/v1/check":
            decision = await gate.acheck(body, via="api")
            return 200, orjson.dumps(decision.to_dict(trail=trail))
        return 200, orjson.dumps(await gate.aobserve(body, via="api"))
    except GateError as exc:
        return exc.status, orjson.dumps(exc.to_wire())
    except Exception as exc:  # noqa: BLE001 - a bug must still answer JSON, never a dropped connection
        log.exception("gate: unhandled error on %s", path)
        return 500, orjson.dumps({"error": {"code": "internal_error", "message": f"{type(exc).__name__}: a bug in gate"}})


_JSON_HEADERS = [(b"content-type", b"application/json")]
_CLOSE = [(b"connection", b"close")]


class FastPath:
    """Serves POST /v1/check and /v1/observe straight from ASGI; everything else goes to the
    FastAPI app. Routing, a Request object and a Response class cost ~0.1 ms a call here;
    the hot routes skip them and share `handle` with the FastAPI routes that document them."""

    def __init__(self, app: FastAPI, gate: Gate, limit: int, deadline: BodyDeadline) -> None:
        self.app = app
        self.gate = gate
        self.limit = limit
        self.deadline = deadline

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in ("/v1/check", "/v1/observe"):
            await self.app(scope, receive, send)
            return
        status, payload = await self._respond(scope, receive)
        headers = _JSON_HEADERS + [(b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status,
                    "headers": headers + _CLOSE if status == 408 else headers})
        await send({"type": "http.response.body", "body": payload})

    async def _respond(self, scope: Any, receive: Any) -> tuple[int, bytes]:
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return 413, orjson.dumps(PayloadTooLarge(f"request body is larger than {self.limit} bytes").to_wire())
        chunks: list[bytes] = []
        size = 0
        more = True
        try:
            with self.deadline:   # for the whole body: a slow drip is cut too
                while more:
                    msg = await receive()
                    if msg["type"] == "http.disconnect":
                        return 400, b""
                    chunk = msg.get("body", b"")
                    size += len(chunk)
                    if size > self.limit:
                        return 413, orjson.dumps(PayloadTooLarge(f"request body is larger than {self.limit} bytes").to_wire())
                    chunks.append(chunk)
                    more = msg.get("more_body", False)
        except TimeoutError as exc:
            return 408, orjson.dumps(RequestTimeout(str(exc)).to_wire())
        trail = b"trail=1" in scope.get("query_string", b"")
        return await handle(self.gate, scope["path"], b"".join(chunks), trail)


def _policy_digest(directory: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(directory.glob("*.y*ml")):
        with contextlib.suppress(OSError):
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 (also IPv4-mapped), and Starlette's TestClient."""
    if host == "testclient":
        return True
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _authorize_reload(request: Request, token: str | None) -> None:
    """Raise unless this caller may reload: with a `token`, `Authorization: Bearer <token>`
    (any client); without one, loopback clients only."""
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # headers are latin-1 text: back to the bytes that were sent, so any token compares
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("latin-1"), token.encode()):
            raise Unauthorized("POST /v1/reload needs the header `Authorization: Bearer <GATE_RELOAD_TOKEN>`")
    elif not _is_loopback(request.client.host if request.client else None):
        raise Forbidden("POST /v1/reload is open to loopback clients only; set GATE_RELOAD_TOKEN "
                        "and send it as `Authorization: Bearer <token>` to reload from elsewhere")


def create_app(gate: Gate) -> FastPath:
    """The ASGI app serving `gate`."""
    limit = gate.settings.max_body_bytes
    deadline = BodyDeadline(gate.settings.body_timeout_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if gate.settings.reload_interval_s > 0:
            task = asyncio.create_task(_watch(gate, gate.settings.reload_interval_s))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            gate.close()

    # /docs is served below from local assets; ReDoc has no local copy, so it is off
    app = FastAPI(title="gate", version="0.1.0", default_response_class=ORJSONResponse, lifespan=lifespan,
                  description="Deterministic pre-execution safety gate for AI agents.", docs_url=None, redoc_url=None)
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @app.exception_handler(GateError)
    async def _gate_error(request: Request, exc: GateError) -> ORJSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> ORJSONResponse:
        # routing errors (unknown path, wrong method) in the documented error shape
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        message = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed on {request.url.path}"}.get(
            exc.status_code, str(exc.detail))
        return ORJSONResponse({"error": {"code": code, "message": message}}, status_code=exc.status_code,
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> ORJSONResponse:
        return ORJSONResponse({"error": {"code": "internal_error", "message": f"{type(exc).__name__}: a bug in gate"}}, status_code=500)

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + str(app.openapi_url), title="gate - Swagger UI",
            swagger_js_url=f"{root}/docs/assets/swagger-ui-bundle.js", swagger_css_url=f"{root}/docs/assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/assets/favicon-32x32.png", oauth2_redirect_url=f"{root}/docs/oauth2-redirect")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def docs_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.post("/v1/check", openapi_extra=_CHECK_SCHEMA, summary="Decide one proposed tool call")
    async def check(request: Request) -> Response:
        # Served by FastPath; this route documents it and answers if the app is mounted alone.
        status, payload = await handle(gate, "/v1/check", await _read(request, limit, deadline), request.query_params.get("trail") == "1")
        return Response(payload, status_code=status, media_type="application/json")

    @app.post("/v1/observe", openapi_extra=_OBSERVE_SCHEMA, summary="Report an executed call and its result")
    async def observe(request: Request) -> Response:
        status, payload = await handle(gate, "/v1/observe", await _read(request, limit, deadline), False)
        return Response(payload, status_code=status, media_type="application/json")

    @app.get("/healthz", summary="Alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Ready: policies loaded and a real decision succeeds")
    async def readyz() -> ORJSONResponse:
        ok, why = await to_thread.run_sync(gate.ready)
        body = {"ready": ok, "detail": why, "policy_revision": gate.revision, "agents": len(gate.bundle.agents)}
        return ORJSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(gate.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/policies", summary="Agents and revision being served")
    async def policies() -> dict[str, Any]:
        b = gate.bundle
        return {"policy_revision": b.revision, "model": b.model, "cascade": gate.cascade.describe(),
                "agents": sorted(b.agents), "last_reload_error": gate.last_reload_error}

    @app.get("/v1/sessions/{agent}/{session}", summary="One session's state: risk levels, counts and quota usage",
             description="Levels, counts and quota usage only: destinations, values and fingerprints are counted, "
                         "never listed. 404 `unknown_session` when the store holds no such session (never seen or expired).")
    async def session_state(agent: str, session: str) -> ORJSONResponse:
        view = await gate.asession(agent, session)
        if view is None:
            return ORJSONResponse({"error": {"code": "unknown_session", "message": f"no session {session!r} of agent {agent!r}"}},
                                  status_code=404)
        return ORJSONResponse(view)

    @app.get("/v1/agents/{agent}/quotas", summary="An agent's agent-wide quotas (per: agent) in their current windows",
             description="Each quota's limits, the calls and total spent in the current window, and the window's start "
                         "and end (epoch seconds, UTC-aligned). An empty list when the agent has no agent-wide quota.")
    async def agent_quotas(agent: str) -> ORJSONResponse:
        return ORJSONResponse({"agent": agent, "quotas": await gate.aagent_quotas(agent)})

    @app.post("/v1/reload", summary="Reload policies from disk (keeps the last good bundle on error)",
              description="With `GATE_RELOAD_TOKEN` set, send `Authorization: Bearer <token>` (else 401); "
                          "without it only loopback clients may reload (else 403).")
    async def reload(request: Request) -> ORJSONResponse:
        _authorize_reload(request, gate.settings.reload_token)
        ok = await to_thread.run_sync(gate.reload)
        body = {"reloaded": ok, "policy_revision": gate.revision, "error": gate.last_reload_error}
        return ORJSONResponse(body, status_code=200 if ok else 422)

    return FastPath(app, gate, limit, deadline)


async def _watch(gate: Gate, interval: float) -> None:
    """Poll the policies directory; reload when its content changes."""
    last = _policy_digest(gate.settings.policies)
    while True:
        await asyncio.sleep(interval)
        try:
            now = await to_thread.run_sync(_policy_digest, gate.settings.policies)
            if now != last:
                last = now
                await to_thread.run_sync(gate.reload)
        except Exception:   # noqa: BLE001 - the watcher outlives any one failed poll
            log.exception("policy watch: a poll failed; watching on")
