"""Deadlines at the HTTP edge of `gate serve`, `gate proxy` and `gate mcp http`, on a real uvicorn
server on loopback with raw sockets: a body shorter than its Content-Length gets a 408 and a close
(and the proxy's upstream never hears of it), and a request whose headers never finish is cut off
(uvicorn alone holds such a connection for ever). The check service's body deadline is tested in
test_server_hardening.py."""

from __future__ import annotations

import socket
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import orjson
import pytest

from gate.cli import _settings, build_parser
from gate.deadlines import header_deadline_protocol
from gate.gate import Gate
from gate.mcp.gateway import Gateway, http_upstream
from gate.mcp.http import http_app
from gate.proxy.app import create_proxy_app
from gate.proxy.routes import parse_routes
from gate.server import create_app
from gate.settings import Settings
from gate.testing import free_port, raw_exchange, spawned, uvicorn_in_thread

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
    with spawned([sys.executable, str(FIXTURES / "mcp_server.py"), "--http", str(port), "--rug-file", str(rug)], port):
        yield f"http://127.0.0.1:{port}/mcp"


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


# -- request headers that never end (slowloris) --------------------------------------------------

HEADER_TIMEOUT_S = 0.5


@pytest.fixture(params=[(name, http) for name in ("serve", "proxy", "mcp") for http in ("httptools", "h11")],
                ids=lambda p: "-".join(p))
def entry(request: pytest.FixtureRequest, loaded: Gate, upstream: RecordingUpstream) -> Iterator[int]:
    """Each entry point's app on uvicorn with the header-deadline protocol, httptools and h11."""
    name, http = request.param
    gate = gate_with(loaded, body_timeout_s=2.0)
    if name == "serve":
        app = create_app(gate)
    elif name == "proxy":
        routes = parse_routes((FIXTURES / "routes.yaml").read_text().replace("http://127.0.0.1:9", upstream.url), "r.yaml")
        app = create_proxy_app(gate, routes)
    else:
        app = http_app(Gateway(gate, agent="notes-assistant",
                               upstream=http_upstream(request.getfixturevalue("mcp_upstream"), timeout_s=5)))
    with uvicorn_in_thread(app, http=header_deadline_protocol(HEADER_TIMEOUT_S, http)) as port:
        yield port


def drip(port: int, first: bytes, every_s: float = 0.05, limit_s: float = 3.0,
         before: bytes = b"", idle_s: float = 0.0) -> tuple[bytes, float, bool]:
    """Send `first`, then one more header byte every `every_s` (headers that never end), reading
    meanwhile: (what came back, seconds from the first send, whether the server closed).
    With `before` (a GET /healthz): send it first, wait for its whole answer, then idle `idle_s`."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit_s) as s:
        answered = b""
        if before:
            s.sendall(before)
            while not answered.endswith(b'{"status":"ok"}'):
                chunk = s.recv(65536)
                assert chunk, answered
                answered += chunk
            time.sleep(idle_s)
        t0 = time.monotonic()
        if first:
            s.sendall(first)
        data = answered
        while time.monotonic() - t0 < limit_s:
            s.settimeout(every_s)
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                if first:
                    try:
                        s.sendall(b"x")
                    except OSError:   # closed under us
                        return data, time.monotonic() - t0, True
                continue
            except ConnectionResetError:
                return data, time.monotonic() - t0, True
            if not chunk:
                return data, time.monotonic() - t0, True
            data += chunk
        return data, time.monotonic() - t0, False


def assert_cut(data: bytes, elapsed: float, closed: bool, after_s: float = HEADER_TIMEOUT_S) -> None:
    assert closed, f"still open after {elapsed:.2f} s: {data!r}"
    assert after_s - 0.05 < elapsed < after_s + 1.0, elapsed
    at = data.rfind(b"HTTP/1.1 408 ")
    assert at >= 0, data
    _, headers, body = split_response(data[at:])
    assert headers[b"connection"] == b"close", data
    err = orjson.loads(body)["error"]
    assert err["code"] == "request_timeout" and "headers" in err["message"]


def test_headers_that_never_end_are_cut_off(entry: int) -> None:
    assert_cut(*drip(entry, b"POST /v1/check HTTP/1.1\r\nHost: gate\r\nX-Slow: "))


@pytest.fixture(params=["httptools", "h11"])
def check_service(request: pytest.FixtureRequest, loaded: Gate) -> Iterator[int]:
    app = create_app(gate_with(loaded, body_timeout_s=2.0))
    with uvicorn_in_thread(app, http=header_deadline_protocol(HEADER_TIMEOUT_S, request.param)) as port:
        yield port


def test_a_connection_that_sends_nothing_is_cut_off(check_service: int) -> None:
    assert_cut(*drip(check_service, b""))


def test_slow_headers_after_a_kept_alive_request_are_cut_off(check_service: int) -> None:
    # uvicorn's keep-alive timer is disarmed by the next request's first byte; the idle 0.3 s
    # comes before the headers begin and does not count against them
    data, elapsed, closed = drip(check_service, b"GET /healthz HTTP/1.1\r\nX-Slow: ", idle_s=0.3,
                                 before=b"GET /healthz HTTP/1.1\r\nHost: gate\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200") and data.count(b"HTTP/1.1 ") == 2, data
    assert_cut(data, elapsed, closed)


CHECK = orjson.dumps({"agent": "billing-assistant", "action": {"tool": "read_invoice", "args": {"invoice_id": "INV-1"}}})


def test_the_header_deadline_spares_slow_bodies_and_idle_kept_alive_connections(check_service: int) -> None:
    head = b"POST /v1/check HTTP/1.1\r\nHost: gate\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(CHECK)
    # headers in three parts within the deadline; the body over 1.2 s (past the header deadline,
    # within the body deadline); then idle 0.7 s (past the header deadline, within uvicorn's 5 s
    # keep-alive) and a second request on the same connection
    parts = [head[:10], head[10:30], head[30:] + CHECK[:5], CHECK[5:20], CHECK[20:],
             b"GET /healthz HTTP/1.1\r\nHost: gate\r\nConnection: close\r\n\r\n"]
    with socket.create_connection(("127.0.0.1", check_service), timeout=3) as s:
        for part, pause in zip(parts, [0, 0.1, 0.1, 0.6, 0.6, 0.7]):
            time.sleep(pause)
            s.sendall(part)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    first, second = data.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200") and b'"decision"' in first, data
    assert second.startswith(b"200") and second.endswith(b'{"status":"ok"}'), data


@pytest.mark.parametrize("command", [["serve"], ["proxy", "--routes", str(FIXTURES / "routes.yaml")],
                                     ["mcp", "http", "--agent", "notes-assistant", "--upstream", "http://127.0.0.1:9/mcp"]])
def test_each_server_command_runs_uvicorn_with_the_header_deadline(command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    import uvicorn

    ran: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.update(kw))
    monkeypatch.setattr(gc, "freeze", lambda: None)   # `gate serve` freezes its heap; not this one's
    args = build_parser().parse_args([*command, "--policies", str(FIXTURES / "policies"), "--audit", "off",
                                      "--header-timeout", "2.5", "--body-timeout", "1.5"])
    assert _settings(args).body_timeout_s == 1.5
    assert args.fn(args) == 0
    protocol = ran["http"]
    assert protocol.header_timeout == 2.5 and protocol.__name__ == "HeaderDeadlineHttpToolsProtocol"
    settings = Settings.from_env({"GATE_HEADER_TIMEOUT_S": "4", "GATE_BODY_TIMEOUT_S": "3"})
    assert (settings.header_timeout_s, settings.body_timeout_s) == (4.0, 3.0) and Settings().header_timeout_s == 10.0
    with pytest.raises(ValueError, match="header_timeout_s"):
        Settings(header_timeout_s=0)
