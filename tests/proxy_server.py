"""A small HTTP proxy on loopback, on Trio, for testing the client's proxy support.

It handles what an SSE client sends a proxy: an absolute-form request
(``GET http://origin/path``), forwarded to the origin in origin form without the
proxy's own headers; and ``CONNECT host:port``, answered with a tunnel piped both ways.
It records every request head it received, can demand Basic credentials (407 without
them) and can refuse tunnels with a given status. An origin it cannot reach gets its
own 502, with a Proxy-Status header (RFC 9209) naming it unless ``proxy_status`` is None.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11
import trio

_HOP_BY_HOP = {b"proxy-authorization", b"proxy-connection", b"connection", b"keep-alive"}


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        for field_name, value in self.headers:
            if field_name == name.lower():
                return value
        return None


@dataclass
class ProxyServer:
    """What the proxy was told; configure before the client connects."""

    port: int = 0
    credentials: tuple[str, str] | None = None  # demand these (Basic), else 407
    connect_status: int | None = None  # answer CONNECT with this status instead of tunnelling
    proxy_status: str | None = "test-proxy"  # its name in Proxy-Status on its own 502s
    requests: list[ProxiedRequest] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    async def handle(self, client: trio.SocketStream) -> None:
        # One side going away or speaking garbage: a proxy just drops the connection.
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            async with client:
                await self._handle(client)

    async def _handle(self, client: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        request = await _next(conn, client)
        if not isinstance(request, h11.Request):
            return
        recorded = ProxiedRequest(
            request.method.decode(),
            request.target.decode(),
            tuple((n.decode().lower(), v.decode("latin-1")) for n, v in request.headers),
        )
        self.requests.append(recorded)
        if not self._authorized(recorded):
            await client.send_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
            )
            return
        if request.method == b"CONNECT":
            await self._tunnel(client, recorded)
        else:
            await self._forward(client, conn, request)

    def _authorized(self, request: ProxiedRequest) -> bool:
        if self.credentials is None:
            return True
        token = base64.b64encode(":".join(self.credentials).encode()).decode()
        return request.header("proxy-authorization") == f"Basic {token}"

    async def _tunnel(self, client: trio.SocketStream, request: ProxiedRequest) -> None:
        if self.connect_status is not None:
            status = b"%d Refused" % self.connect_status
            await client.send_all(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = request.target.rpartition(":")
        try:
            origin = await trio.open_tcp_stream(host.strip("[]"), int(port))
        except OSError:
            await client.send_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        async with origin:
            await client.send_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await _pipe_both_ways(client, origin)

    async def _forward(
        self, client: trio.SocketStream, conn: h11.Connection, request: h11.Request
    ) -> None:
        url = urlsplit(request.target.decode())
        if url.scheme != "http" or url.hostname is None:
            await client.send_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        head = b"%s %s HTTP/1.1\r\n" % (request.method, target.encode())
        for name, value in request.headers:
            if name.lower() not in _HOP_BY_HOP:
                head += name + b": " + value + b"\r\n"
        body = b""
        while True:
            event = await _next(conn, client)
            if isinstance(event, h11.Data):
                body += event.data
            else:
                break
        try:
            origin = await trio.open_tcp_stream(url.hostname, url.port or 80)
        except OSError:
            await client.send_all(self._bad_gateway("connection_refused"))
            return
        async with origin:
            await origin.send_all(head + b"Connection: close\r\n\r\n" + body)
            await _copy(origin, client)

    def _bad_gateway(self, error: str) -> bytes:
        """The proxy's own 502, saying so in Proxy-Status (when it has a name)."""
        head = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
        if self.proxy_status is not None:
            head += f"Proxy-Status: {self.proxy_status}; error={error}\r\n".encode()
        return head + b"\r\n"


async def _next(conn: h11.Connection, stream: trio.abc.Stream) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(bytes(await stream.receive_some(65536)))


async def _copy(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
    while data := await source.receive_some(65536):
        await sink.send_all(data)


async def _pipe_both_ways(a: trio.abc.Stream, b: trio.abc.Stream) -> None:
    """Until either side closes; then both are closed."""
    async with trio.open_nursery() as nursery:

        async def one_way(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await _copy(source, sink)
            nursery.cancel_scope.cancel()

        nursery.start_soon(one_way, a, b)
        nursery.start_soon(one_way, b, a)


@asynccontextmanager
async def open_proxy_server(
    *,
    credentials: tuple[str, str] | None = None,
    connect_status: int | None = None,
    proxy_status: str | None = "test-proxy",
) -> AsyncIterator[ProxyServer]:
    proxy = ProxyServer(
        credentials=credentials, connect_status=connect_status, proxy_status=proxy_status
    )
    async with trio.open_nursery() as nursery:
        serve = functools.partial(trio.serve_tcp, proxy.handle, 0, host="127.0.0.1")
        listeners = await nursery.start(serve)
        proxy.port = listeners[0].socket.getsockname()[1]
        try:
            yield proxy
        finally:
            nursery.cancel_scope.cancel()
