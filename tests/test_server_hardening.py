"""The HTTP service's edges: /docs offline, the documented 200 bodies, who may reload, and a
body that never arrives (in process, and on a real uvicorn server on loopback)."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import httpx
import jsonschema
import orjson
import pytest
from swagger_ui_bundle import swagger_ui_path

from gate import Gate
from gate.cli import _settings, build_parser
from gate.deadlines import BodyDeadline
from gate.server import create_app
from gate.settings import Settings
from gate.testing import raw_exchange, uvicorn_in_thread

ROOT = Path(__file__).resolve().parent.parent
REFUND = {"agent": "billing-assistant", "session": "h-1", "task": "Refund invoice INV-1009, it was charged twice",
          "action": {"tool": "issue_refund", "args": {"invoice_id": "INV-1009", "amount": 40}}}
CONTRACT_FIELDS = {"decision", "action", "reasons", "decision_id", "policy_revision"}


@pytest.fixture(scope="module")
def loaded() -> Gate:
    """Policies compiled once for the module; tests build their own `Gate` around the bundle."""
    return Gate.from_policies(ROOT / "policies", Settings(audit_path=None))


def make_gate(loaded: Gate, **settings: Any) -> Gate:
    return Gate(loaded.bundle, settings=replace(loaded.settings, **settings), encoder=loaded.encoder)


def client_for(gate: Gate, host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(gate), client=(host, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://gate")


# -- /docs without a network ----------------------------------------------------------------

async def test_docs_page_loads_only_local_assets(loaded: Gate) -> None:
    async with client_for(make_gate(loaded)) as c:
        page = await c.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        urls = re.findall(r'(?:src|href)="([^"]*)"', page.text)
        assert len(urls) == 3 and not re.search(r"https?://|//cdn", page.text), urls
        assets = {u.rsplit(".", 1)[-1]: await c.get(u) for u in urls}
        for ext, kind in (("js", "javascript"), ("css", "css"), ("png", "image/png")):
            assert assets[ext].status_code == 200 and kind in assets[ext].headers["content-type"], ext
        assert len(assets["js"].content) > 100_000 and b"SwaggerUIBundle" in assets["js"].content
        assert len(assets["css"].content) > 10_000
        assert "url: '/openapi.json'" in page.text and (await c.get("/openapi.json")).status_code == 200
        assert (await c.get("/docs/oauth2-redirect")).status_code == 200
        missing = await c.get("/docs/assets/nope.js")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        # ReDoc would load from a CDN and has no local copy: it is off
        assert (await c.get("/redoc")).json()["error"]["code"] == "not_found"


async def test_bundled_swagger_ui_renders_the_openapi_version_gate_writes(loaded: Gate) -> None:
    # Swagger UI 4 (swagger-ui-bundle 1.1.0) renders only `openapi: 3.0.n`; FastAPI writes 3.1.
    async with client_for(make_gate(loaded)) as c:
        spec = (await c.get("/openapi.json")).json()
    major = int(swagger_ui_path.name.rsplit("-", 1)[-1].split(".")[0])
    assert spec["openapi"].startswith("3.1.") and major >= 5, (spec["openapi"], swagger_ui_path.name)


# -- documented 200 bodies --------------------------------------------------------------------

def _schema(spec: dict[str, Any], path: str, status: str) -> dict[str, Any]:
    schema = spec["paths"][path]["post"]["responses"][status]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


async def test_openapi_describes_the_check_and_observe_bodies_they_send(loaded: Gate) -> None:
    async with client_for(make_gate(loaded)) as c, client_for(make_gate(loaded, mode="dry-run")) as dry:
        spec = (await c.get("/openapi.json")).json()
        check, observe = _schema(spec, "/v1/check", "200"), _schema(spec, "/v1/observe", "200")
        error = _schema(spec, "/v1/check", "4XX")
        assert CONTRACT_FIELDS <= set(check["required"])
        assert {"session", "steps", "risk_level", "tainted_destinations", "policy_revision"} <= set(observe["required"])
        rewrite = {**REFUND, "action": {"tool": "issue_refund", "args": {"invoice_id": "INV-1009", "amount": 400}}}
        block = {"agent": "billing-assistant", "action": {"tool": "delete_customer", "args": {"id": "CUS-1"}}}
        bodies = [(await c.post("/v1/check", json=REFUND)).json(),
                  (await c.post("/v1/check?trail=1", json=rewrite)).json(),
                  (await c.post("/v1/check", json=block)).json(),
                  (await dry.post("/v1/check", json=block)).json()]
        observed = await c.post("/v1/observe", json={**REFUND, "result": {"ok": True}, "decision_id": bodies[0]["decision_id"]})
        refused = await c.post("/v1/check", content=b"{nope")
    assert [b["decision"] for b in bodies] == ["ALLOW", "REWRITE", "BLOCK", "ALLOW"]
    assert "risk" in bodies[0] and "trail" in bodies[1] and any("patches" in r for r in bodies[1]["reasons"]) and "dry_run" in bodies[3]
    for body in bodies:
        jsonschema.validate(body, check, cls=jsonschema.Draft202012Validator)
    jsonschema.validate(observed.json(), observe, cls=jsonschema.Draft202012Validator)
    jsonschema.validate(refused.json(), error, cls=jsonschema.Draft202012Validator)
    # and the schema is not vacuous
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**bodies[0], "decision": "MAYBE"}, check, cls=jsonschema.Draft202012Validator)


# -- who may reload ---------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "testclient"])
async def test_without_a_token_loopback_clients_reload(loaded: Gate, host: str) -> None:
    async with client_for(make_gate(loaded), host) as c:
        r = await c.post("/v1/reload")
    assert r.status_code == 200 and r.json()["reloaded"] is True


@pytest.mark.parametrize("host", ["10.0.0.5", "192.168.1.7", "2001:db8::1", "::ffff:10.0.0.5", "localhost.evil.example"])
async def test_without_a_token_other_clients_may_not_reload(loaded: Gate, host: str) -> None:
    gate = make_gate(loaded)
    async with client_for(gate, host) as c:
        r = await c.post("/v1/reload")
        assert (await c.post("/v1/check", json=REFUND)).status_code == 200   # only reload is guarded
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "forbidden" and "GATE_RELOAD_TOKEN" in err["message"]


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Bearer s3cret-token-x", "Basic s3cret-token", "s3cret-token",
                                    "Bearer", "Bearer s3cr\u00e9t"])
async def test_with_a_token_reload_needs_the_bearer_header(loaded: Gate, header: str | None) -> None:
    headers = {} if header is None else {"authorization": header.encode("latin-1")}
    async with client_for(make_gate(loaded, reload_token="s3cret-token")) as c:   # loopback, but the token rules
        r = await c.post("/v1/reload", headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.5"])
async def test_with_a_token_the_right_header_reloads_from_anywhere(loaded: Gate, host: str) -> None:
    async with client_for(make_gate(loaded, reload_token="s3cret-token"), host) as c:
        r = await c.post("/v1/reload", headers={"Authorization": "bearer  s3cret-token"})
    assert r.status_code == 200 and r.json()["reloaded"] is True


def test_reload_token_and_body_timeout_come_from_env_and_flags() -> None:
    s = Settings.from_env({"GATE_RELOAD_TOKEN": "from-env", "GATE_BODY_TIMEOUT_S": "2.5"})
    assert s.reload_token == "from-env" and s.body_timeout_s == 2.5 and "from-env" not in repr(s)
    assert Settings.from_env({"GATE_RELOAD_TOKEN": ""}).reload_token is None
    assert Settings().reload_token is None and Settings().body_timeout_s == 10.0
    args = build_parser().parse_args(["serve", "--policies", "policies", "--reload-token", "from-flag"])
    assert _settings(args).reload_token == "from-flag"
    with pytest.raises(ValueError, match="body_timeout_s"):
        Settings(body_timeout_s=0)


# -- a body that never arrives -----------------------------------------------------------------

async def _call_with_a_stalled_body(app: Any, drip: bool) -> tuple[int, dict[str, bytes], bytes]:
    """One ASGI POST /v1/check whose body stops after 10 of its declared 100 bytes, or (`drip`)
    goes on arriving one byte every 20 ms."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/check", "raw_path": b"/v1/check", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"gate"), (b"content-type", b"application/json"), (b"content-length", b"100")],
             "client": ("127.0.0.1", 1234), "server": ("gate", 80)}
    sent = [{"type": "http.request", "body": b'{"agent": ', "more_body": True}]
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if sent:
            return sent.pop()
        if drip:
            await asyncio.sleep(0.02)
            return {"type": "http.request", "body": b" ", "more_body": True}
        await never.wait()
        return {"type": "http.disconnect"}

    out: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        out.append(message)

    async with asyncio.timeout(5):
        await app(scope, receive, send)
    start = out[0]
    body = b"".join(m.get("body", b"") for m in out[1:])
    return start["status"], {k.decode(): v for k, v in start["headers"]}, body


@pytest.mark.parametrize("drip", [False, True], ids=["stalled", "drip"])
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "documented-route"])
async def test_a_late_body_gets_a_408_in_process(loaded: Gate, fast_path: bool, drip: bool) -> None:
    app = create_app(make_gate(loaded, body_timeout_s=0.2))
    t0 = time.monotonic()
    status, headers, body = await _call_with_a_stalled_body(app if fast_path else app.app, drip)
    assert 0.2 <= time.monotonic() - t0 < 3
    assert status == 408 and headers["connection"] == b"close"
    err = orjson.loads(body)["error"]
    assert err["code"] == "request_timeout" and "0.2 s" in err["message"]


def test_the_deadline_cuts_only_its_own_reads_and_survives_a_new_event_loop() -> None:
    deadline = BodyDeadline(0.1)

    async def read(wait_s: float) -> str:
        try:
            with deadline:
                await asyncio.sleep(wait_s)
        except TimeoutError:
            return "timeout"
        return "read"

    async def cancelled_by_someone_else() -> str:
        task = asyncio.create_task(read(5))
        await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        return "not cancelled"

    def run(coro: Any) -> str:
        async def bounded() -> str:
            async with asyncio.timeout(3):
                return await coro
        return asyncio.run(bounded())

    assert run(read(0)) == "read"              # this loop ends with the sweep still armed
    assert run(read(5)) == "timeout"           # a new loop re-arms it
    assert run(cancelled_by_someone_else()) == "cancelled"
    assert run(read(0.02)) == "read"


@pytest.fixture(params=["httptools", "h11"])
def server(request: pytest.FixtureRequest, loaded: Gate) -> Iterator[tuple[int, Gate]]:
    """A real uvicorn server on an ephemeral loopback port, in a thread, with a 0.5 s body timeout."""
    gate = make_gate(loaded, body_timeout_s=0.5)
    with uvicorn_in_thread(create_app(gate), http=request.param) as port:
        yield port, gate


def _head(length: int) -> bytes:
    return (b"POST /v1/check HTTP/1.1\r\nHost: gate\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % length)


def test_a_body_shorter_than_its_content_length_gets_a_408_and_a_close(server: tuple[int, Gate]) -> None:
    port, _ = server
    data, waited, closed = raw_exchange(port, [_head(100) + b'{"agent": '])
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), data
    assert 0.4 < waited < 3 and closed
    assert b"connection: close" in head.lower()
    assert orjson.loads(body)["error"]["code"] == "request_timeout"


def test_a_body_that_arrives_in_time_is_decided(server: tuple[int, Gate]) -> None:
    port, _ = server
    body = orjson.dumps({**REFUND, "session": "h-slow"})
    data, _, _ = raw_exchange(port, [_head(len(body)) + body[:10], body[10:] + b"GET /healthz HTTP/1.1\r\nHost: gate\r\n"
                                  b"Connection: close\r\n\r\n"], pause_s=0.2)
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200"), data
    assert b'"decision":"ALLOW"' in rest and rest.rstrip().endswith(b'{"status":"ok"}')
