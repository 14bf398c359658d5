"""Deadlines at the HTTP edge, shared by `gate serve`, `gate proxy` and `gate mcp http`.

* `BodyDeadline`: a request body must arrive whole within `body_timeout_s`, else 408.
* `read_body`: one ASGI request body, read under that deadline and a size limit.

A client that declares `Content-Length: 1000` and sends 10 bytes would otherwise hold its
request (and, in the proxy, the upstream call it is about to make) for as long as it likes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, MutableMapping

from gate.errors import PayloadTooLarge, RequestTimeout

__all__ = ["BodyDeadline", "read_body"]


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
