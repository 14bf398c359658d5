"""The HTTP reverse proxy: the ASGI app in-process, a real aiohttp upstream on loopback."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import orjson
import pytest
from aiohttp import web

from gate.cli import main as gate_main
from gate.gate import Gate
from gate.proxy.app import ProxyApp
from gate.proxy.errors import RoutesError
from gate.proxy.routes import parse_routes
from gate.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
KEY = "test-key-billing"
AUTH = {"Authorization": f"Bearer {KEY}"}


# a real upstream on loopback ------------------------------------------------------------------

class Upstream:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self.url = ""

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        rec = {"method": request.method, "path": request.path, "query": request.query_string,
               "headers": {k.lower(): v for k, v in request.headers.items()},
               "body": orjson.loads(body) if body else None}
        self.seen.append(rec)
        return web.json_response({"ok": True, "got": rec, "invoice": {"id": "INV-1", "email": "someone@example.org"}})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        self.seen.append({"path": request.path, "query": request.query_string})
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        await resp.write(b"first chunk\n")
        await asyncio.wait_for(self.release.wait(), 5)  # set by the test once the first chunk got through
        await resp.write(b"second chunk\n")
        await resp.write_eof()
        return resp

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({})

    async def big(self, request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 300_000, content_type="application/octet-stream")

    async def big_stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(30):
            await resp.write(b"y" * 10_000)
        await resp.write_eof()
        return resp


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    app = web.Application()
    app.router.add_get("/v1/invoices", up.stream)
    app.router.add_get("/slow", up.slow)
    app.router.add_get("/big", up.big)
    app.router.add_get("/big-stream", up.big_stream)
    app.router.add_route("*", "/{tail:.*}", up.echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    up.url = f"http://127.0.0.1:{port}"
    yield up
    up.release.set()
    await runner.cleanup()


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate.from_policies(FIXTURES / "policies", Settings(audit_path=None))


def routes_for(url: str, extra: str = "") -> Any:
    text = (FIXTURES / "routes.yaml").read_text().replace("http://127.0.0.1:9", url) + extra
    return parse_routes(text, "routes.yaml")


@pytest.fixture(params=["aiohttp", "httpx-aiohttp", "httpx"])
async def proxy(request: pytest.FixtureRequest, gate: Gate, upstream: Upstream) -> AsyncIterator[ProxyApp]:
    app = ProxyApp(gate, routes_for(upstream.url), transport_kind=request.param)
    yield app
    await app.pool.aclose()


def client(app: ProxyApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy")


# routes file ----------------------------------------------------------------------------------

def test_routes_file_lists_every_error_by_line() -> None:
    bad = """\
upstreams:
  billing:
    url: ftp://example.org
routes:
  - {method: POST, path: /a, tool: t, upstream: nowhere}
  - {method: POST, path: "/b/{x}/{x}", tool: t, upstream: billing}
  - {method: POST, path: /a, tool: t2, upstream: billing}
unknown_routes: forward
"""
    with pytest.raises(RoutesError) as err:
        parse_routes(bad, "r.yaml")
    lines = sorted(i.line for i in err.value.issues)
    assert lines == [3, 5, 6, 7, 8], err.value.message
    with pytest.raises(RoutesError) as err:
        parse_routes("upstreams: {a: {url: 'http://x', timeout: 3}}\nroutes:\n  - {method: FETCH, path: /a, tool: t, upstream: a}\n")
    assert len(err.value.issues) == 2 and {i.line for i in err.value.issues} == {1, 3}


def test_cli_refuses_bad_routes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "routes.yaml"
    bad.write_text("upstreams: {}\nroutes: []\n")
    assert gate_main(["proxy", "--policies", str(FIXTURES / "policies"), "--routes", str(bad)]) == 2
    assert "routes.yaml:1" in capsys.readouterr().err


# identity -------------------------------------------------------------------------------------

async def test_missing_or_wrong_credential_is_401(proxy: ProxyApp, upstream: Upstream) -> None:
    async with client(proxy) as c:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"X-Gate-Key": "nope"}, {"Authorization": KEY},
                        {"X-Gate-Agent": "billing-assistant"}):
            r = await c.get("/v1/invoices/INV-1", headers=headers)
            assert r.status_code == 401, headers
            assert r.json()["error"]["code"] == "unauthorized"
    assert upstream.seen == []


async def test_allow_forwards_and_strips_gate_and_hop_headers(proxy: ProxyApp, upstream: Upstream) -> None:
    async with client(proxy) as c:
        r = await c.get("/v1/invoices/INV-1?expand=lines", headers={
            "X-Gate-Key": KEY, "X-Gate-Session": "s-1", "X-Gate-Task": "explain invoice INV-1",
            "Connection": "keep-alive, X-Private", "X-Private": "hop", "X-Trace": "t-1"})
    assert r.status_code == 200, r.text
    assert r.headers["x-gate-decision"] == "ALLOW"
    got = r.json()["got"]
    assert got["path"] == "/v1/invoices/INV-1" and got["query"] == "expand=lines"
    h = got["headers"]
    assert "x-gate-key" not in h and "x-gate-session" not in h and "x-gate-task" not in h
    assert "x-private" not in h and h["x-trace"] == "t-1"
    assert h["x-upstream-auth"] == "upstream-secret"
    assert h["x-gate-decision-id"] == r.headers["x-gate-decision-id"]


async def test_allow_forwards_the_path_as_the_client_encoded_it(proxy: ProxyApp, upstream: Upstream) -> None:
    """An escaped `?` in a path parameter stays escaped: the upstream sees the call the gate judged."""
    async with client(proxy) as c:
        r = await c.get("/v1/invoices/INV%3Fadmin?expand=lines", headers=AUTH)
    assert r.status_code == 200, r.text
    got = r.json()["got"]
    assert got["path"] == "/v1/invoices/INV?admin" and got["query"] == "expand=lines"


async def test_bearer_credential_is_not_forwarded(proxy: ProxyApp, upstream: Upstream) -> None:
    async with client(proxy) as c:
        r = await c.get("/v1/invoices/INV-1", headers=AUTH)
    assert r.status_code == 200
    assert "authorization" not in r.json()["got"]["headers"]


# decisions ------------------------------------------------------------------------------------

async def test_rewrite_forwards_the_rewritten_args(proxy: ProxyApp, upstream: Upstream) -> None:
    async with client(proxy) as c:
        r = await c.post("/v1/invoices/INV-7/refunds", headers=AUTH, json={"amount": 500, "currency": "USD"})
    assert r.status_code == 200, r.text
    assert r.headers["x-gate-decision"] == "REWRITE"
    got = r.json()["got"]
    assert got["path"] == "/v1/invoices/INV-7/refunds"
    assert got["body"] == {"amount": 100, "currency": "USD"}


async def test_block_is_403_with_the_decision_and_nothing_forwarded(proxy: ProxyApp, upstream: Upstream) -> None:
    async with client(proxy) as c:
        r = await c.post("/v1/payment_methods", headers=AUTH, json={"card": "4111"})
    assert r.status_code == 403
    body = r.json()
    assert body["error"]["code"] == "blocked"
    assert body["decision"]["decision"] == "BLOCK"
    assert "tool_not_declared" in [x["code"] for x in body["decision"]["reasons"]]
    assert len(body["decision"]["decision_id"]) == 32
    assert upstream.seen == []


async def test_dry_run_forwards_what_enforce_would_block(gate: Gate, upstream: Upstream) -> None:
    shadow = Gate(gate.bundle, settings=Settings(audit_path=None, mode="dry-run"), encoder=gate.encoder)
    app = ProxyApp(shadow, routes_for(upstream.url))
    try:
        async with client(app) as c:
            r = await c.post("/v1/payment_methods", headers=AUTH, json={"card": "4111"})
        assert r.status_code == 200, r.text
        assert r.headers["x-gate-decision"] == "ALLOW"
        assert len(upstream.seen) == 1
        assert shadow.metrics.registry.get_sample_value(
            "gate_decisions_total", {"agent": "billing-assistant", "decision": "BLOCK", "via": "proxy"}) == 1
    finally:
        await app.pool.aclose()


async def test_unknown_route_blocked_by_default_and_forwardable(gate: Gate, upstream: Upstream) -> None:
    app = ProxyApp(gate, routes_for(upstream.url))
    async with client(app) as c:
        r = await c.get("/admin/users", headers=AUTH)
    assert r.status_code == 403 and r.json()["error"]["code"] == "unknown_route"
    assert upstream.seen == []
    fwd = ProxyApp(gate, routes_for(upstream.url, "unknown_routes: forward\nunknown_routes_upstream: billing\n"))
    async with client(fwd) as c:
        r = await c.get("/admin/users?x=1", headers=AUTH)
        unauth = await c.get("/admin/users")
    await app.pool.aclose()
    await fwd.pool.aclose()
    assert r.status_code == 200 and r.json()["got"]["path"] == "/admin/users"
    assert unauth.status_code == 401


async def test_observe_reports_the_json_result_to_the_session(proxy: ProxyApp, upstream: Upstream,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    real = proxy.gate.observe

    def spy(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        seen.append(body)
        return real(body, **kw)

    monkeypatch.setattr(proxy.gate, "observe", spy)
    async with client(proxy) as c:
        r = await c.get("/v1/invoices/INV-1", headers=AUTH | {"X-Gate-Session": "obs-1"})
        await c.get("/v1/invoices/INV-1", headers=AUTH)  # no session: nothing to report
    assert r.status_code == 200
    assert len(seen) == 1
    assert seen[0]["session"] == "obs-1" and seen[0]["agent"] == "billing-assistant"
    assert seen[0]["decision_id"] == r.headers["x-gate-decision-id"]
    assert seen[0]["result"]["invoice"]["id"] == "INV-1"


# limits and upstream failures -----------------------------------------------------------------

async def test_request_too_large_is_413(proxy: ProxyApp, upstream: Upstream) -> None:
    async with client(proxy) as c:
        r = await c.post("/v1/invoices/INV-1/refunds", headers=AUTH, json={"amount": 1, "note": "x" * 20_000})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert upstream.seen == []


async def test_upstream_timeout_is_504(proxy: ProxyApp, upstream: Upstream) -> None:
    async with client(proxy) as c:
        t0 = asyncio.get_running_loop().time()
        r = await c.get("/slow", headers=AUTH)
    assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"
    assert asyncio.get_running_loop().time() - t0 < 2


async def test_upstream_down_is_502(gate: Gate) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for kind in ("aiohttp", "httpx-aiohttp", "httpx"):
        app = ProxyApp(gate, routes_for(f"http://127.0.0.1:{port}"), transport_kind=kind)  # type: ignore[arg-type]
        async with client(app) as c:
            r = await c.get("/v1/invoices/INV-1", headers=AUTH)
        await app.pool.aclose()
        assert r.status_code == 502, kind
        assert r.json()["error"]["code"] == "upstream_unavailable", kind


async def test_upstream_response_too_large_is_502(proxy: ProxyApp, upstream: Upstream) -> None:
    async with client(proxy) as c:
        r = await c.get("/big", headers=AUTH)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_response_too_large"


async def test_oversized_stream_is_cut_short(gate: Gate, upstream: Upstream) -> None:
    extra = "  - {method: GET, path: /big-stream, tool: read_invoice, upstream: billing}\n"
    app = ProxyApp(gate, routes_for(upstream.url, extra))
    sent: list[dict[str, Any]] = []

    async def send(m: dict[str, Any]) -> None:
        sent.append(m)

    await app(_scope("GET", "/big-stream"), _receive(b""), send)
    await app.pool.aclose()
    body = sum(len(m.get("body", b"")) for m in sent if m["type"] == "http.response.body")
    assert body <= 200_000
    assert not any(m["type"] == "http.response.body" and m.get("more_body") is False for m in sent)


def _scope(method: str, path: str, query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "query_string": query, "scheme": "http",
            "headers": [(b"x-gate-key", KEY.encode()), (b"host", b"proxy")], "asgi": {"version": "3.0"}}


def _receive(body: bytes) -> Any:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


async def test_stream_passes_through_without_buffering(proxy: ProxyApp, upstream: Upstream) -> None:
    """The upstream holds its second chunk until the first one has reached the client."""
    chunks: list[bytes] = []
    status: list[int] = []

    async def send(m: dict[str, Any]) -> None:
        if m["type"] == "http.response.start":
            status.append(m["status"])
        elif m.get("body"):
            chunks.append(m["body"])
            if b"first" in m["body"]:
                upstream.release.set()

    await asyncio.wait_for(proxy(_scope("GET", "/v1/invoices", b"status=open"), _receive(b""), send), 4)
    assert status == [200]
    assert b"".join(chunks) == b"first chunk\nsecond chunk\n"
    assert upstream.seen[0]["query"] == "status=open"


# parser differentials -------------------------------------------------------------------------

async def test_a_body_naming_a_key_twice_is_refused(proxy: ProxyApp, upstream: Upstream) -> None:
    # this parser keeps the last value (50); a first-wins upstream would refund 5000
    raw = b'{"amount": 5000, "currency": "USD", "amount": 50}'
    async with client(proxy) as c:
        r = await c.post("/v1/invoices/INV-7/refunds", headers={**AUTH, "Content-Type": "application/json"}, content=raw)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "malformed_request"
    assert "twice" in r.json()["error"]["message"]
    assert upstream.seen == []


async def test_a_nested_duplicate_key_is_refused_and_a_colon_in_a_value_is_not(proxy: ProxyApp, upstream: Upstream) -> None:
    async with client(proxy) as c:
        r = await c.post("/v1/invoices/INV-7/refunds", headers={**AUTH, "Content-Type": "application/json"},
                         content=b'{"amount": 20, "currency": "USD", "meta": {"k": 1, "k": 2}}')
        assert r.status_code == 400, r.text
        # quotes followed by a colon inside a value only send the body through the second parse
        r = await c.post("/v1/invoices/INV-7/refunds", headers=AUTH,
                         json={"amount": 20, "currency": "USD", "reason": 'customer wrote "urgent": twice'})
    assert r.status_code == 200, r.text
    assert upstream.seen[-1]["body"]["reason"] == 'customer wrote "urgent": twice'


async def test_one_argument_from_two_places_with_two_values_is_refused(proxy: ProxyApp, upstream: Upstream) -> None:
    async with client(proxy) as c:
        r = await c.post("/v1/invoices/INV-7/refunds", headers=AUTH,
                         json={"invoice_id": "INV-8", "amount": 20, "currency": "USD"})
        assert r.status_code == 400, r.text
        assert "invoice_id" in r.json()["error"]["message"]
        r = await c.post("/v1/invoices/INV-7/refunds", headers=AUTH,
                         json={"invoice_id": "INV-7", "amount": 20, "currency": "USD"})
    assert r.status_code == 200, r.text
    assert len(upstream.seen) == 1


def test_routes_with_anchors_and_merge_keys_keep_their_lines() -> None:
    # the routes file is parsed once (composed, then built from the nodes): a merge key gives the
    # route its fields, and an error after it is still named by its own line
    text = """\
upstreams:
  billing: {url: "http://127.0.0.1:9"}
routes:
  - &post {method: POST, upstream: billing, path: /refunds, tool: issue_refund}
  - {<<: *post, path: /charges, tool: create_charge, upstream: nowhere}
"""
    with pytest.raises(RoutesError) as err:
        parse_routes(text, "r.yaml")
    assert [i.line for i in err.value.issues if "nowhere" in i.message] == [5], err.value.message
    table = parse_routes(text.replace(", upstream: nowhere", ""), "r.yaml")
    assert {(r.method, r.template, r.tool) for r in table.routes} == {
        ("POST", "/refunds", "issue_refund"), ("POST", "/charges", "create_charge")}


def test_routes_nested_past_the_stack_are_refused_not_a_crash() -> None:
    with pytest.raises(RoutesError, match="nests too deep|YAML syntax error"):
        parse_routes("upstreams: " + "[" * 3000 + "]" * 3000 + "\nroutes: []\n", "r.yaml")
