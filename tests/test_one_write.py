"""A response's head and body leave in one write (`gate.deadlines._HeadHold`), on the httptools
protocol every gate server runs: the same bytes as uvicorn alone sends, HEAD, chunked, empty and
100-continue responses unchanged, keep-alive intact, and nothing held when the app gives up."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from gate.deadlines import _HeadHold, header_deadline_protocol
from gate.testing import uvicorn_in_thread


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"


def test_a_head_with_a_length_goes_out_with_the_body() -> None:
    t = _Recorder()
    h = _HeadHold(t)  # type: ignore[arg-type]
    h.write(HEAD)
    assert t.writes == []
    h.write(b"{}")
    assert t.writes == [HEAD + b"{}"]
    assert h.is_closing() is False       # anything else reaches the transport


def test_interim_and_chunked_heads_pass_straight_through() -> None:
    t = _Recorder()
    h = _HeadHold(t)  # type: ignore[arg-type]
    h.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    h.write(chunked)
    assert t.writes == [b"HTTP/1.1 100 Continue\r\n\r\n", chunked]


def test_only_the_first_head_of_a_cycle_is_held_and_close_sends_it() -> None:
    t = _Recorder()
    h = _HeadHold(t)  # type: ignore[arg-type]
    h.write(HEAD)
    h.close()
    assert t.writes == [HEAD] and t.closed
    t2 = _Recorder()
    h2 = _HeadHold(t2)  # type: ignore[arg-type]
    h2.write(HEAD)
    h2.write(b"{}")
    h2.write(HEAD)                         # not a second head to hold: written as it comes
    assert t2.writes == [HEAD + b"{}", HEAD]


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        msg = await receive()
        more = msg.get("more_body", False)
    path = scope["path"]
    if path == "/json":
        body = b'{"decision":"ALLOW"}'
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    elif path == "/chunked":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"one,", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})
    elif path == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/gives-up":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
        raise RuntimeError("the app fails after its head")


def _exchange(port: int, request: bytes, wait_s: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as s:
        s.sendall(request)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
    return out


def _without_date(raw: bytes) -> bytes:
    return b"\r\n".join(line for line in raw.split(b"\r\n") if not line.lower().startswith(b"date:"))


REQUESTS = [
    b"GET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    b"HEAD /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    b"GET /chunked HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    b"GET /empty HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    b"POST /json HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    # keep-alive: two requests on one connection, both answered
    b"GET /json HTTP/1.1\r\nHost: t\r\n\r\nGET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    b"GET /gives-up HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
]


@pytest.fixture(scope="module")
def servers() -> Any:
    with uvicorn_in_thread(_app, http="httptools") as plain, \
            uvicorn_in_thread(_app, http=header_deadline_protocol(10.0, "httptools")) as gated:
        yield plain, gated


@pytest.mark.parametrize("request_bytes", REQUESTS)
def test_the_bytes_on_the_wire_are_uvicorns(servers: tuple[int, int], request_bytes: bytes) -> None:
    plain, gated = servers
    want = _without_date(_exchange(plain, request_bytes))
    assert want.startswith(b"HTTP/1.1 ")
    assert _without_date(_exchange(gated, request_bytes)) == want


def test_a_json_response_is_one_write_on_the_socket() -> None:
    """Counted at the transport under the wrapper: uvicorn alone writes the head and the body apart."""
    writes: list[bytes] = []

    class Counting:
        def __init__(self, t: Any) -> None:
            self._t = t

        def write(self, data: bytes) -> None:
            writes.append(bytes(data))
            self._t.write(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._t, name)

    base = header_deadline_protocol(10.0, "httptools")

    class Probe(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(Counting(transport))

    with uvicorn_in_thread(_app, http=Probe) as port:
        raw = _exchange(port, REQUESTS[0])
    assert raw.endswith(b'{"decision":"ALLOW"}')
    assert len(writes) == 1 and writes[0] == raw
