"""Deadlines at the HTTP edge, shared by `gate serve`, `gate proxy` and `gate mcp http`.

* `BodyDeadline`: a request body must arrive whole within `body_timeout_s`, else 408.
* `read_body`: one ASGI request body, read under that deadline and a size limit.
* `header_deadline_protocol`: uvicorn's HTTP protocol with a deadline on each request's
  headers (`header_timeout_s`), else 408 and the connection is closed.

A client that declares `Content-Length: 1000` and sends 10 bytes would otherwise hold its
request (and, in the proxy, the upstream call it is about to make) for as long as it likes.
Headers are the same story one step earlier (slowloris): uvicorn 0.54 arms no timer on a new
connection, and on a kept-alive one the first byte of the next request disarms its keep-alive
timer, so a client that sends nothing, or headers a byte at a time, holds a connection for ever
(measured with h11 and httptools: still open after 7 s, past the 5 s `timeout_keep_alive`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, MutableMapping

import orjson

from gate.errors import PayloadTooLarge, RequestTimeout

__all__ = ["BodyDeadline", "read_body", "header_deadline_protocol"]


class BodyDeadline:
    """`with deadline:` around reading a request body raises `TimeoutError` once the body has
    not all arrived `timeout` seconds after reading began (the read is cancelled).

    One timer sweeps every read in flight, rather than a timer per request: `asyncio.timeout`
    around the read cost ~4.5 µs a request (measured in a loop; ~2.5% of a loopback check),
    this ~1 µs (a dict entry). Serves one event loop at a time (a new loop starts afresh).

        try:
            with deadline:
                body = await read_all(receive)
        except TimeoutError:
            ...  # answer 408
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._due: dict[asyncio.Task[Any], float] = {}
        self._cut: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._armed = False

    def __enter__(self) -> None:
        task = asyncio.current_task()
        assert task is not None, "a body is read inside a task"
        loop = task.get_loop()
        if loop is not self._loop:   # a new event loop: reads left on an ended one never finish
            self._loop, self._armed = loop, False
            self._due.clear()
            self._cut.clear()
        self._due[task] = time.monotonic() + self.timeout
        if not self._armed:
            self._arm(loop, self.timeout)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        task = asyncio.current_task()
        self._due.pop(task, None)  # type: ignore[arg-type]
        if task in self._cut:
            self._cut.discard(task)
            # cut by the sweep alone: withdraw the cancellation and say why; cancelled by
            # someone else as well (shutdown): let the cancellation go on
            if kind is asyncio.CancelledError and task.uncancel() == 0:  # type: ignore[union-attr]
                raise TimeoutError(f"the request body did not arrive within {self.timeout:g} s "
                                   "(is Content-Length larger than the body?)") from None

    def _arm(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self._armed = True
        loop.call_later(max(delay, 0.0), self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:
            return
        self._armed = False
        now = time.monotonic()
        for task, due in list(self._due.items()):
            if due <= now:
                del self._due[task]
                self._cut.add(task)
                task.cancel()
        if self._due:
            self._arm(loop, min(self._due.values()) - now)


async def read_body(scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
                    limit: int, deadline: BodyDeadline) -> bytes | None:
    """The whole body of the ASGI request `scope`, or None when the client went away before
    sending it all. Raises `PayloadTooLarge` past `limit` bytes (declared or sent) and
    `RequestTimeout` when it has not all arrived within the deadline."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        with deadline:   # for the whole body: a slow drip is cut too
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"request body is larger than {limit} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError as exc:
        raise RequestTimeout(str(exc)) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class _HeaderDeadline:
    """Mixed in before a uvicorn HTTP protocol class (`header_deadline_protocol` builds the class).

    The clock starts when the connection opens and, on a kept-alive connection, when data
    arrives that does not complete a request's headers; the headers are complete once uvicorn
    has made the request's cycle (both protocols do so as the headers end). One timer per
    connection at most, re-armed lazily when it fires: headers that arrive whole in one read,
    the usual case, cost two attribute reads and no timer.
    """

    header_timeout: float = 10.0
    _timeout_response: bytes = b""
    # provided by the uvicorn protocol
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._head_since: float | None = self.loop.time()   # a connection that sends nothing is cut too
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(self.header_timeout, self._check_head)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        cycle = self.cycle
        if self._head_since is None:
            if cycle is None or cycle.response_complete:   # the next request's headers began, unfinished
                self._head_since = self.loop.time()
                if self._head_timer is None:
                    self._head_timer = self.loop.call_later(self.header_timeout, self._check_head)
        elif cycle is not None and not cycle.response_complete:
            self._head_since = None   # the headers are complete: the request is the app's now

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    def _check_head(self) -> None:
        self._head_timer = None
        since = self._head_since
        # the protocol may have handed the transport on (a WebSocket upgrade)
        if since is None or self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        left = since + self.header_timeout - self.loop.time()
        if left > 0:
            self._head_timer = self.loop.call_later(left, self._check_head)
            return
        self.transport.write(self._timeout_response)
        self.transport.close()


def header_deadline_protocol(timeout: float, http: str = "httptools") -> type[asyncio.Protocol]:
    """uvicorn's `http` protocol ("httptools" or "h11") with a deadline of `timeout` seconds on
    each request's headers: past it the client gets a 408 `request_timeout` and a close.

        uvicorn.run(app, http=header_deadline_protocol(settings.header_timeout_s))
    """
    if http == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    elif http == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol as base
    else:
        raise ValueError(f"http protocol {http!r} is not httptools or h11")
    body = orjson.dumps(RequestTimeout(f"the request headers did not arrive within {timeout:g} s").to_wire())
    response = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(body), body))
    return type(f"HeaderDeadline{base.__name__}", (_HeaderDeadline, base),
                {"header_timeout": timeout, "_timeout_response": response, "__module__": __name__})
