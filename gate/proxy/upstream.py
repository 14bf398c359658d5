"""The one place the proxy does upstream I/O: a pooled forwarder and the error boundary.

    UpstreamPool.send(upstream, method, target, headers, body) -> UpstreamResponse
        ├── AiohttpForwarder  (default, "aiohttp")  one pooled aiohttp.ClientSession, called directly
        └── HttpxForwarder    any httpx transport:  "httpx-aiohttp" (httpx API over aiohttp, the old
                              default), "httpx" (plain httpx), or an injected one (httpx.MockTransport)

The forwarders take an already-encoded request target and raw header pairs, and hand back the
status, the raw response headers and the body as it arrives; nothing is parsed twice. The httpx
seam stays for tests and comparison: building an `httpx.Request` (URL parsing, header
normalisation) and adapting it to aiohttp cost ~25% of the proxy's CPU per request on the 2-core
benchmark machine, so the default path skips it. Library errors are mapped to gate's errors once,
here (`map_upstream_error`), and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator, Iterable, Literal, Protocol, Sequence

import aiohttp
import httpx
from multidict import CIMultiDict
from yarl import URL

from gate.proxy.errors import (
    UpstreamError,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnavailable,
)
from gate.proxy.routes import Upstream

__all__ = ["TransportKind", "TRANSPORT_KINDS", "UpstreamPool", "UpstreamResponse", "Forwarder",
           "AiohttpForwarder", "HttpxForwarder", "map_upstream_error", "UPSTREAM_ERRORS"]

TransportKind = Literal["aiohttp", "httpx-aiohttp", "httpx"]
TRANSPORT_KINDS: tuple[str, ...] = ("aiohttp", "httpx-aiohttp", "httpx")

Headers = Sequence[tuple[bytes, bytes]]

# What a transport may raise; everything else is a bug and propagates.
UPSTREAM_ERRORS = (httpx.HTTPError, aiohttp.ClientError, OSError, TimeoutError)


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def map_upstream_error(exc: BaseException, upstream: Upstream) -> UpstreamError:
    """The gate error for a transport failure (504 timeouts, 502 everything else).

    httpx_aiohttp maps every `aiohttp.ClientConnectionError` (connection refused included) to
    `httpx.ConnectTimeout`, so the aiohttp cause, when there is one, decides.
    """
    chain = list(_chain(exc))
    aio = next((e for e in chain if isinstance(e, aiohttp.ClientError)), None)
    if aio is not None:
        timed_out = isinstance(aio, TimeoutError)
        reached = not (isinstance(aio, _AIOHTTP_NOT_CONNECTED) or any(_unsent(e) for e in chain))
    else:
        timed_out = any(isinstance(e, (httpx.TimeoutException, TimeoutError)) for e in chain)
        reached = not any(isinstance(e, _NOT_CONNECTED) for e in chain)
    if timed_out:
        return UpstreamTimeout(f"upstream {upstream.name!r} did not answer in time", reached=reached)
    return UpstreamUnavailable(f"upstream {upstream.name!r} is unavailable ({type(aio or exc).__name__})", reached=reached)


# Failures that prove the request never left: no connection was made (refused, unroutable,
# name not found, connect timed out) or none was free in the pool. Anything else (a reset or a
# timeout after the request was written) may come after the upstream ran the call.
_AIOHTTP_NOT_CONNECTED = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
_NOT_CONNECTED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, ConnectionRefusedError)


def _unsent(e: BaseException) -> bool:
    """aiohttp found the connection already closing when it came to write the request (a pooled
    keep-alive connection the upstream had closed, the usual first failure after an upstream
    stops): the bytes of that write were never sent, so the request never arrived whole.
    Matched by aiohttp's message; should it change, the failure counts as maybe-run (safe)."""
    return isinstance(e, aiohttp.ClientConnectionResetError) and str(e) == "Cannot write to closing transport"


class UpstreamResponse(Protocol):
    """An upstream's answer: status and raw headers now, the body as it arrives."""

    status: int
    headers: Headers

    async def next_chunk(self) -> tuple[bytes, bool]:
        """The next piece of body and whether it is the last one (b"", True at the end)."""

    async def aclose(self) -> None:
        """Give the connection back (or drop it when the body was not read to the end)."""


class Forwarder(Protocol):
    """Forwards one request to an upstream; one pooled instance per proxy."""

    async def send(self, upstream: Upstream, method: str, target: str, headers: Headers,
                   body: bytes) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


# aiohttp, called directly -------------------------------------------------------------------

class _AiohttpResponse:
    __slots__ = ("status", "headers", "_r")

    def __init__(self, r: aiohttp.ClientResponse) -> None:
        self.status = r.status
        self.headers = r.raw_headers
        self._r = r

    async def next_chunk(self) -> tuple[bytes, bool]:
        content = self._r.content
        data = await content.readany()
        return data, content.at_eof()

    async def aclose(self) -> None:
        if self._r.content.at_eof():
            self._r.release()  # back to the pool, kept alive
        else:
            self._r.close()


class AiohttpForwarder:
    """One `aiohttp.ClientSession` (pooled, keep-alive, TCP_NODELAY), created inside the loop."""

    def __init__(self, *, max_connections: int, keepalive_s: float) -> None:
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._bases: dict[str, tuple[str, aiohttp.ClientTimeout]] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # One upstream may take every connection (limit_per_host == limit); no DNS, proxy or
            # cookie state shared across agents; no default headers added to what we forward.
            connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=self.max_connections,
                                             keepalive_timeout=self.keepalive_s, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"), auto_decompress=False)
        return self._session

    def _base(self, upstream: Upstream) -> tuple[str, aiohttp.ClientTimeout]:
        found = self._bases.get(upstream.name)
        if found is None or found[0] != upstream.url:
            # `total` (headers) and `stream` (body) are enforced by the pool; aiohttp bounds the rest.
            found = self._bases[upstream.name] = (upstream.url, aiohttp.ClientTimeout(
                total=None, connect=upstream.total_timeout, sock_connect=upstream.connect_timeout,
                sock_read=upstream.read_timeout))
        return found

    async def send(self, upstream: Upstream, method: str, target: str, headers: Headers,
                   body: bytes) -> UpstreamResponse:
        base, timeout = self._base(upstream)
        r = await self.session.request(
            method, URL(base + target, encoded=True),  # target is already percent-encoded (see app)
            headers=CIMultiDict([(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]),
            data=body or None, allow_redirects=False, compress=None, timeout=timeout)
        return _AiohttpResponse(r)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# any httpx transport ------------------------------------------------------------------------

class _HttpxResponse:
    __slots__ = ("status", "headers", "_r", "_it")

    def __init__(self, r: httpx.Response) -> None:
        self.status = r.status_code
        self.headers = r.headers.raw
        self._r = r
        self._it = r.stream.__aiter__()  # type: ignore[union-attr]

    async def next_chunk(self) -> tuple[bytes, bool]:
        try:
            return await self._it.__anext__(), False
        except StopAsyncIteration:
            return b"", True

    async def aclose(self) -> None:
        await self._r.aclose()


class HttpxForwarder:
    """Forwards through an `httpx.AsyncBaseTransport` (for tests and comparison)."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport

    async def send(self, upstream: Upstream, method: str, target: str, headers: Headers,
                   body: bytes) -> UpstreamResponse:
        timeout = {"connect": upstream.connect_timeout, "read": upstream.read_timeout,
                   "write": upstream.read_timeout, "pool": upstream.total_timeout}
        request = httpx.Request(method, upstream.url + target, headers=list(headers), content=body or None,
                                extensions={"timeout": timeout})
        return _HttpxResponse(await self.transport.handle_async_request(request))

    async def aclose(self) -> None:
        await self.transport.aclose()


def _httpx_transport(kind: str, max_connections: int, keepalive_s: float) -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                          keepalive_expiry=keepalive_s)
    if kind == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits, trust_env=False, retries=0)
    from httpx_aiohttp import AiohttpTransport

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=max_connections, limit_per_host=max_connections,
                                         keepalive_timeout=keepalive_s, ttl_dns_cache=300)
        return aiohttp.ClientSession(connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
                                     skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"))

    return AiohttpTransport(limits=limits, trust_env=False, client=session)


# the pool -----------------------------------------------------------------------------------

class UpstreamPool:
    """One pooled forwarder for every configured upstream, opened in the app lifespan.

    `kind` picks the forwarder; `transport` (an httpx transport, e.g. `httpx.MockTransport`)
    overrides it and is not closed by the pool.
    """

    def __init__(self, *, max_connections: int = 256, keepalive_s: float = 30.0, kind: TransportKind = "aiohttp",
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if kind not in TRANSPORT_KINDS:
            raise ValueError(f"unknown transport {kind!r} (one of {', '.join(TRANSPORT_KINDS)})")
        self.kind = kind
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self._injected = transport
        self._forwarder: Forwarder | None = None

    @property
    def forwarder(self) -> Forwarder:
        if self._forwarder is None:  # created lazily inside the running loop
            if self._injected is not None:
                self._forwarder = HttpxForwarder(self._injected)
            elif self.kind == "aiohttp":
                self._forwarder = AiohttpForwarder(max_connections=self.max_connections, keepalive_s=self.keepalive_s)
            else:
                self._forwarder = HttpxForwarder(_httpx_transport(self.kind, self.max_connections, self.keepalive_s))
        return self._forwarder

    def open(self) -> None:
        """Create the forwarder now (call inside the server's loop)."""
        fw = self.forwarder
        if isinstance(fw, AiohttpForwarder):
            _ = fw.session

    async def aclose(self) -> None:
        if self._forwarder is not None and self._injected is None:
            await self._forwarder.aclose()
        self._forwarder = None

    async def send(self, upstream: Upstream, method: str, target: str, headers: Headers,
                   body: bytes) -> UpstreamResponse:
        """Send one request (`target`: encoded path and query); the body is not read yet."""
        try:
            async with asyncio.timeout(upstream.total_timeout):
                response = await self.forwarder.send(upstream, method, target, headers, body)
        except UPSTREAM_ERRORS as exc:
            raise map_upstream_error(exc, upstream) from exc
        for name, value in response.headers:
            if len(name) == 14 and name.lower() == b"content-length":
                if value.isdigit() and int(value) > upstream.max_response_bytes:
                    with contextlib.suppress(*UPSTREAM_ERRORS):
                        await response.aclose()
                    raise UpstreamTooLarge(f"upstream {upstream.name!r} answered {value.decode()} bytes, over the "
                                           f"limit of {upstream.max_response_bytes}")
                break
        return response

    @staticmethod
    async def iter_body(response: UpstreamResponse, upstream: Upstream) -> AsyncIterator[tuple[bytes, bool]]:
        """The body as it arrives, as (chunk, last), bounded in size and time; closes the response."""
        total = 0
        try:
            async with asyncio.timeout(upstream.stream_timeout):
                last = False
                while not last:
                    chunk, last = await response.next_chunk()
                    total += len(chunk)
                    if total > upstream.max_response_bytes:
                        raise UpstreamTooLarge(f"upstream {upstream.name!r} sent more than "
                                               f"{upstream.max_response_bytes} bytes")
                    if chunk or last:
                        yield chunk, last
        except UPSTREAM_ERRORS as exc:
            raise map_upstream_error(exc, upstream) from exc
        finally:
            with contextlib.suppress(*UPSTREAM_ERRORS):
                await response.aclose()
