"""The HTTP proxy reports an allowed call whose upstream failed: unreachable (a real upstream on
loopback, stopped), timed out, or cut short mid-body (a real server that closes the connection
halfway). The client gets its error (or its truncated body) first; the call stops being pending,
the audit chain records the failure, and a payment that may have run counts as made."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import orjson
import pytest
from aiohttp import web

from gate.errors import StoreUnavailable
from gate.gate import Gate
from gate.proxy.app import ProxyApp
from gate.settings import Settings
from test_proxy import AUTH, FIXTURES, KEY, routes_for

AGENT = "billing-assistant"
KINDS = ["aiohttp", "httpx-aiohttp", "httpx"]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


@pytest.fixture
def gate(log_path: Path) -> Gate:
    return Gate.from_policies(FIXTURES / "policies", Settings(audit_path=log_path))


class Live:
    """A real aiohttp upstream on loopback that the test can stop."""

    def __init__(self) -> None:
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.seen = 0

    async def start(self) -> Live:
        async def refund(request: web.Request) -> web.Response:
            self.seen += 1
            return web.json_response({"status": "refunded", "amount": (await request.json())["amount"]})

        async def slow(request: web.Request) -> web.Response:
            await asyncio.sleep(1)
            return web.json_response({})

        app = web.Application()
        app.router.add_post("/v1/invoices/{invoice_id}/refunds", refund)
        app.router.add_get("/slow", slow)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    up = await Live().start()
    yield up
    await up.stop()


@pytest.fixture
async def truncating() -> AsyncIterator[str]:
    """A real HTTP server that answers 200 with a JSON body, promises 200 bytes, sends 20 and
    closes the connection."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
                     b'{"status": "refunde')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


def client(app: ProxyApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy")


def refund(invoice: str, amount: float) -> tuple[str, dict]:
    return f"/v1/invoices/{invoice}/refunds", {"amount": amount}


def pending(gate: Gate, session: str) -> int:
    return gate.session(AGENT, session)["pending_observations"]


def audited(gate: Gate, log: Path, session: str, source: str = "observe") -> list[dict]:
    gate.audit.close()   # flush the writer thread
    recs = [orjson.loads(x) for x in log.read_bytes().splitlines() if x.strip()]
    return [r for r in recs if r.get("source") == source and r["session"] == session]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_call_to_a_stopped_upstream_is_reported_as_failed(gate: Gate, log_path: Path, live: Live, kind: str) -> None:
    app = ProxyApp(gate, routes_for(live.url), transport_kind=kind)  # type: ignore[arg-type]
    headers = AUTH | {"X-Gate-Session": "down"}
    async with client(app) as c:
        path, body = refund("INV-7", 30)
        ok = await c.post(path, json=body, headers=headers)
        assert ok.status_code == 200 and pending(gate, "down") == 0
        await live.stop()
        path, body = refund("INV-8", 60)
        r = await c.post(path, json=body, headers=headers)
    await app.pool.aclose()
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_unavailable"
    view = gate.session(AGENT, "down")
    assert view["pending_observations"] == 0          # it was reported
    assert view["steps"] == 2                          # once each: the report matched its check
    # the call never reached the upstream: it failed, so retrying the refund is no second refund
    up = await Live().start()
    retry_app = ProxyApp(gate, routes_for(up.url), transport_kind=kind)  # type: ignore[arg-type]
    async with client(retry_app) as c:
        again = await c.post(path, json=body, headers=headers)
    await retry_app.pool.aclose()
    await up.stop()
    assert again.status_code == 200 and up.seen == 1, again.text
    failed = audited(gate, log_path, "down")[1]
    assert failed["decision_id"] == audited(gate, log_path, "down", "core")[1]["decision_id"]
    assert (failed["counted"], failed["mismatch"], failed["via"]) == ("matched", None, "proxy")
    assert failed["result_error"] is True and failed["error_code"] == "upstream_unreachable"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_response_cut_short_is_reported_and_the_refund_counts_as_made(gate: Gate, log_path: Path,
                                                                              truncating: str, kind: str) -> None:
    app = ProxyApp(gate, routes_for(truncating), transport_kind=kind)  # type: ignore[arg-type]
    sent: list[dict[str, Any]] = []

    async def send(m: dict[str, Any]) -> None:
        sent.append(m)

    path, body = refund("INV-9", 60)
    raw = orjson.dumps(body)
    scope = {"type": "http", "method": "POST", "path": path, "query_string": b"", "scheme": "http", "asgi": {"version": "3.0"},
             "headers": [(b"x-gate-key", KEY.encode()), (b"x-gate-session", b"cut"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(raw)).encode())]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    await asyncio.wait_for(app(scope, receive, send), 5)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert not any(m["type"] == "http.response.body" and m.get("more_body") is False for m in sent)  # cut short
    assert pending(gate, "cut") == 0
    # the upstream may have refunded: a second refund of 60 on the invoice makes 120, over the
    # per-call limit of 100 (structuring), and is blocked before it reaches the upstream
    async with client(app) as c:
        again = await c.post(path, json=body, headers=AUTH | {"X-Gate-Session": "cut"})
    await app.pool.aclose()
    assert again.status_code == 403
    assert "split_payment" in {r["code"] for r in again.json()["decision"]["reasons"]}
    (cut,) = audited(gate, log_path, "cut")
    assert cut["counted"] == "matched" and cut["result_error"] is True and cut["error_code"] == "upstream_truncated"


async def test_a_timed_out_call_is_reported_with_an_unknown_outcome(gate: Gate, log_path: Path, live: Live) -> None:
    app = ProxyApp(gate, routes_for(live.url))
    async with client(app) as c:
        t0 = asyncio.get_running_loop().time()
        r = await c.get("/slow", headers=AUTH | {"X-Gate-Session": "slow"})
    await app.pool.aclose()
    assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"
    assert asyncio.get_running_loop().time() - t0 < 2
    assert pending(gate, "slow") == 0
    (rec,) = audited(gate, log_path, "slow")
    assert rec["counted"] == "matched" and rec["error_code"] == "upstream_timeout"


@pytest.mark.parametrize("error", [StoreUnavailable("redis down"), RuntimeError("a bug")])
async def test_a_failing_report_never_changes_the_clients_error(gate: Gate, live: Live, error: Exception,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    async def broken(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        raise error

    monkeypatch.setattr(gate, "aobserve", broken)
    app = ProxyApp(gate, routes_for(live.url))
    await live.stop()
    with caplog.at_level(logging.WARNING, logger="gate.proxy"):
        async with client(app) as c:
            path, body = refund("INV-1", 10)
            r = await c.post(path, json=body, headers=AUTH | {"X-Gate-Session": "s"})
    await app.pool.aclose()
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_unavailable"
    assert any("observe failed for decision" in rec.getMessage() for rec in caplog.records)
    assert pending(gate, "s") == 1    # nothing was reported: the call stays pending, as before
