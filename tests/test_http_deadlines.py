"""Deadlines at the HTTP edge of `gate proxy` and `gate mcp http`, on a real uvicorn server on
loopback with raw sockets: a body shorter than its Content-Length gets a 408 and a close (and the
proxy's upstream never hears of it), and a request whose headers never finish is cut off."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import orjson
import pytest

from gate.gate import Gate
from gate.mcp.gateway import Gateway, http_upstream
from gate.mcp.http import http_app
from gate.proxy.app import create_proxy_app
from gate.proxy.routes import parse_routes
from gate.settings import Settings
from gate.testing import free_port, raw_exchange, uvicorn_in_thread

FIXTURES = Path(__file__).parent / "fixtures"
KEY = b"test-key-billing"
BODY_TIMEOUT_S = 0.5


class RecordingUpstream:
    """A real HTTP server on loopback (stdlib, its own threads) that records every request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                seen.append((self.command, self.path, body))
                out = orjson.dumps({"ok": True})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    up = RecordingUpstream()
    thread = threading.Thread(target=up.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield up
    finally:
        up.server.shutdown()
        up.server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def loaded() -> Gate:
    return Gate.from_policies(FIXTURES / "policies", Settings(audit_path=None))


def gate_with(loaded: Gate, **settings: Any) -> Gate:
    return Gate(loaded.bundle, settings=replace(loaded.settings, **settings), encoder=loaded.encoder)


@pytest.fixture(params=["httptools", "h11"])
def proxy(request: pytest.FixtureRequest, loaded: Gate, upstream: RecordingUpstream) -> Iterator[int]:
    """`gate proxy`'s app on a real uvicorn server, in front of the recording upstream."""
    routes = parse_routes((FIXTURES / "routes.yaml").read_text().replace("http://127.0.0.1:9", upstream.url), "routes.yaml")
    app = create_proxy_app(gate_with(loaded, body_timeout_s=BODY_TIMEOUT_S), routes)
    with uvicorn_in_thread(app, http=request.param) as port:
        yield port


def refund_head(length: int, extra: bytes = b"") -> bytes:
    return (b"POST /v1/invoices/INV-1009/refunds HTTP/1.1\r\nHost: proxy\r\nX-Gate-Key: " + KEY +
            b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % length + extra + b"\r\n")


def split_response(data: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines)}
    return status, headers, body


# -- the proxy's request body ------------------------------------------------------------------

def test_proxy_answers_a_short_body_with_408_and_close_and_forwards_nothing(proxy: int, upstream: RecordingUpstream) -> None:
    data, waited, closed = raw_exchange(proxy, [refund_head(100) + b'{"amount": '], wait_s=3)
    status, headers, body = split_response(data)
    assert status.startswith(b"HTTP/1.1 408"), data
    assert BODY_TIMEOUT_S - 0.1 < waited < BODY_TIMEOUT_S + 2.5 and closed
    assert headers[b"connection"] == b"close"
    err = orjson.loads(body)["error"]
    assert err["code"] == "request_timeout" and f"{BODY_TIMEOUT_S:g} s" in err["message"]
    assert upstream.seen == []


def test_proxy_forwards_nothing_when_the_client_leaves_mid_body(proxy: int, upstream: RecordingUpstream) -> None:
    # what did arrive is a whole JSON object: decided on its own it would be an allowed refund
    with socket.create_connection(("127.0.0.1", proxy), timeout=3) as s:
        s.sendall(refund_head(100) + b'{"amount": 40}')
        time.sleep(0.1)
    time.sleep(0.5)   # time enough for a forward to reach the upstream
    assert upstream.seen == []


def test_proxy_forwards_a_body_that_arrives_in_time(proxy: int, upstream: RecordingUpstream) -> None:
    body = b'{"amount": 40}'
    # in two parts with a pause, then a second request on the same (kept-alive) connection
    data, _, closed = raw_exchange(proxy, [refund_head(len(body)) + body[:5], body[5:] + refund_head(len(body), b"Connection: close\r\n") + body],
                                   pause_s=0.2)
    first, rest = data.split(b"HTTP/1.1 ", 2)[1:]
    assert first.startswith(b"200") and rest.startswith(b"200") and closed, data
    assert b"x-gate-decision: allow" in first.lower()
    assert [(m, p, orjson.loads(b)) for m, p, b in upstream.seen] == [("POST", "/v1/invoices/INV-1009/refunds", {"amount": 40})] * 2


# -- the MCP gateway's request body ------------------------------------------------------------

@pytest.fixture(scope="module")
def mcp_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test MCP server (tests/fixtures/mcp_server.py) over streamable HTTP, in a subprocess:
    the gateway connects to it when it starts."""
    port = free_port()
    rug = tmp_path_factory.mktemp("mcp") / "rug"
    proc = subprocess.Popen([sys.executable, str(FIXTURES / "mcp_server.py"), "--http", str(port), "--rug-file", str(rug)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "the test MCP server did not start"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(params=["httptools", "h11"])
def mcp_gateway(request: pytest.FixtureRequest, loaded: Gate, mcp_upstream: str) -> Iterator[int]:
    """`gate mcp http`'s app on a real uvicorn server, in front of the test MCP server."""
    gateway = Gateway(gate_with(loaded, body_timeout_s=BODY_TIMEOUT_S), agent="notes-assistant",
                      upstream=http_upstream(mcp_upstream, timeout_s=5))
    with uvicorn_in_thread(http_app(gateway), http=request.param) as port:
        yield port


def mcp_head(port: int, length: int, extra: bytes = b"") -> bytes:
    return (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Gate-Key: test-key-notes\r\nContent-Type: application/json\r\n"
            b"Accept: application/json, text/event-stream\r\nContent-Length: %d\r\n" % (port, length) + extra + b"\r\n")


def test_mcp_gateway_answers_a_short_body_with_408_and_close(mcp_gateway: int) -> None:
    data, waited, closed = raw_exchange(mcp_gateway, [mcp_head(mcp_gateway, 100) + b'{"jsonrpc": '], wait_s=3)
    status, headers, body = split_response(data)
    assert status.startswith(b"HTTP/1.1 408"), data
    assert BODY_TIMEOUT_S - 0.1 < waited < BODY_TIMEOUT_S + 2.5 and closed
    assert headers[b"connection"] == b"close"
    assert orjson.loads(body)["error"]["code"] == "request_timeout"


def test_mcp_gateway_passes_a_body_that_arrives_in_time_to_the_sdk(mcp_gateway: int) -> None:
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
    data, _, _ = raw_exchange(mcp_gateway, [mcp_head(mcp_gateway, len(body), b"Connection: close\r\n") + body[:10], body[10:]], pause_s=0.2, wait_s=3)
    status, headers, rest = split_response(data)
    assert status.startswith(b"HTTP/1.1 200") and b"mcp-session-id" in headers, data
    assert b'"serverInfo"' in rest and b"gate-mcp-gateway" in rest
