"""A scripted SSE server on real loopback sockets, for tests, demos and users' own tests.

Why a real server: the bugs an SSE client has live in the bytes and in the way a
connection ends -- a chunk split mid-line, a body cut short, a TCP reset, a server that
goes quiet. A fake transport cannot reproduce those faithfully; a socket can. So each
response is a script: a status, headers, a body (bytes, str and :class:`Pause` items,
one socket write per item), a framing and an :data:`End` mode::

    async with open_sse_test_server() as server:
        server.script(
            ScriptedResponse.events(ServerSentEvent(data="hi", id="1"), end="truncate"),
            ScriptedResponse.events(ServerSentEvent(data="again", id="2")),
        )
        ...  # point a client at server.url
        first, second = await server.wait_for_requests(2)
        assert second.header("Last-Event-ID") == "1"

Requests are read with h11 and recorded *before* a response is chosen, so a handler can
answer based on them (e.g. resume from ``Last-Event-ID``). Responses are written by
hand rather than through h11, because h11 (rightly) refuses to send the broken or
close-delimited framing that a test server must be able to produce.

This module deliberately imports nothing from the client side of trio_sse.
"""

from __future__ import annotations

import inspect
import logging
import socket
import ssl
import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, TypeGuard

import h11
import trio
import trio.testing

from ._events import ServerSentEvent, TypedServerSentEvent

__all__ = [
    "BodyItem",
    "DemoHandler",
    "End",
    "EndNow",
    "Framing",
    "Handler",
    "Pause",
    "RecordedRequest",
    "SSETestServer",
    "SSETestServerStatistics",
    "ScriptedResponse",
    "demo_events",
    "demo_responses",
    "open_sse_test_server",
    "serve_sse_test_server",
    "sse_stream",
]

logger = logging.getLogger(__name__)

End = Literal["close", "hang", "reset", "truncate"]
"""How a response ends.

- ``close``: finish the message (chunked terminator / all Content-Length bytes), then close.
- ``hang``: send nothing more but keep the connection open until the client goes away or
  the server closes.
- ``reset``: abort the TCP connection with an RST; the client sees ECONNRESET. Like a real
  reset, bytes still in flight may be lost.
- ``truncate``: close the connection cleanly (FIN; close_notify on TLS) without finishing
  the message. With ``framing="close"`` this is indistinguishable from ``close``.
"""

_ENDS = ("close", "hang", "reset", "truncate")
Framing = Literal["chunked", "content-length", "close"]
"""How the body is delimited: chunked, a Content-Length, or by closing the connection."""


@dataclass(frozen=True)
class Pause:
    """In a body script: sleep this long before the next item.

    Uses ``trio.sleep``, so scripts with long pauses run instantly under a MockClock
    (pytest-trio's ``autojump_clock``).
    """

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError(f"Pause.seconds must be >= 0, got {self.seconds!r}")


@dataclass(frozen=True)
class EndNow:
    """In a body script: stop the body here and end the response as ``end`` says,
    whatever ``ScriptedResponse.end`` is. Lets a computed body decide, mid-stream,
    to reset or truncate (fault injection)."""

    end: End

    def __post_init__(self) -> None:
        if self.end not in _ENDS:
            raise ValueError(f"EndNow.end must be one of {_ENDS}, got {self.end!r}")


BodyItem = bytes | str | Pause | EndNow
"""One step of a body script: bytes (one socket write), str (UTF-8), a Pause or EndNow."""

_AnyEvent = ServerSentEvent | TypedServerSentEvent[Any]
_DEFAULT_HEADERS: tuple[tuple[str, str], ...] = (("Content-Type", "text/event-stream"),)
_FRAMINGS = ("chunked", "content-length", "close")


@dataclass(frozen=True)
class ScriptedResponse:
    """One scripted answer to one request.

    ``body`` is an iterable of items or a zero-argument callable returning an async
    iterator of them (for endless or computed streams; not allowed with
    ``framing="content-length"``, whose length must be known up front). A bare bytes
    or str body is taken as a single write. A one-shot iterator (a generator) is used
    up by the first request; give a tuple or a callable if the response is reused,
    e.g. as :attr:`SSETestServer.default`.

    Framing headers (Transfer-Encoding / Content-Length) are added unless ``headers``
    already has them, so a deliberately wrong Content-Length can be scripted. With
    ``end="truncate"`` and a computed Content-Length, the declared length is one more
    than the bytes sent, so the message is really cut short.
    """

    status: int = 200
    headers: Sequence[tuple[str, str]] = _DEFAULT_HEADERS
    body: bytes | Iterable[BodyItem] | Callable[[], AsyncIterator[BodyItem]] = ()
    end: End = "close"
    framing: Framing = "chunked"

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 999:
            raise ValueError(f"status must be a 3-digit HTTP status, got {self.status!r}")
        if self.end not in _ENDS:
            raise ValueError(f"end must be one of {_ENDS}, got {self.end!r}")
        if self.framing not in _FRAMINGS:
            raise ValueError(f"framing must be one of {_FRAMINGS}, got {self.framing!r}")
        if self.framing == "content-length" and _is_async_body(self.body):
            raise ValueError("framing='content-length' needs a finite body, not a callable")
        object.__setattr__(self, "headers", tuple((k, v) for k, v in self.headers))
        if isinstance(self.body, (bytes, str)):
            object.__setattr__(self, "body", (self.body,))
        elif isinstance(self.body, list):
            object.__setattr__(self, "body", tuple(self.body))

    @classmethod
    def events(
        cls,
        *events: _AnyEvent | str | bytes | Pause,
        status: int = 200,
        headers: Sequence[tuple[str, str]] = _DEFAULT_HEADERS,
        end: End = "close",
        framing: Framing = "chunked",
    ) -> ScriptedResponse:
        """A response whose body is these events, one socket write per event.

        Events are rendered with ``str(ev)``; str and bytes items are sent as they are
        (for hand-made wire data), Pauses pause.
        """
        body = tuple(_render_item(item) for item in events)
        return cls(status=status, headers=headers, body=body, end=end, framing=framing)


def _is_async_body(body: object) -> bool:
    """A callable body produces an async iterator; anything else is a plain iterable."""
    return callable(body) and not isinstance(body, Iterable)


def _render_item(item: _AnyEvent | str | bytes | Pause) -> BodyItem:
    if isinstance(item, (ServerSentEvent, TypedServerSentEvent)):
        return str(item)
    if isinstance(item, (str, bytes, Pause)):
        return item
    raise TypeError(f"expected an event, str, bytes or Pause, got {type(item).__name__}")


def sse_stream(*events: _AnyEvent | str | bytes) -> bytes:
    """The wire bytes of these events (str/bytes items are taken verbatim)."""
    out = bytearray()
    for item in events:
        rendered = _render_item(item)
        if isinstance(rendered, (Pause, EndNow)):
            raise TypeError("sse_stream() renders bytes; Pause only makes sense in a script")
        out += _encode(rendered)
    return bytes(out)


def _encode(item: bytes | str) -> bytes:
    return item.encode("utf-8") if isinstance(item, str) else item


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server received it; header names are lower-cased."""

    method: str
    target: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in order."""
        wanted = name.lower()
        return [value for key, value in self.headers if key == wanted]


Handler = Callable[[RecordedRequest], ScriptedResponse | Awaitable[ScriptedResponse]]
"""Chooses the response for a recorded request; may be sync or async."""


@dataclass(frozen=True)
class SSETestServerStatistics:
    """A snapshot of the server's counters."""

    requests: int
    connections_open: int
    connections_total: int
    connections_closed: int


_NOT_FOUND = ScriptedResponse(
    status=404,
    headers=(("Content-Type", "text/plain; charset=utf-8"),),
    body=(b"no scripted response left for this request\n",),
    framing="content-length",
)
_HANDLER_FAILED = ScriptedResponse(
    status=500,
    headers=(("Content-Type", "text/plain; charset=utf-8"),),
    body=(b"the test server's handler raised; see SSETestServer.errors\n",),
    framing="content-length",
)
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
# Errors that only mean the client went away or spoke garbage: not the script's fault.
_PEER_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError)


class SSETestServer:
    """A running scripted server. Get one from :func:`open_sse_test_server` or
    ``await nursery.start(serve_sse_test_server)``.

    Responses are chosen per request: :attr:`handler` if set, else the next scripted
    response, else :attr:`default` (a 404 unless changed). One request per connection.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        responses: Iterable[ScriptedResponse] = (),
        handler: Handler | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.handler: Handler | None = handler
        self.default: ScriptedResponse | Handler = _NOT_FOUND
        self.requests: list[RecordedRequest] = []
        self.errors: list[Exception] = []
        """Exceptions from handlers and body scripts (not from clients that went away)."""
        self._queue: deque[ScriptedResponse] = deque(responses)
        self._connections_open = 0
        self._connections_total = 0
        self._connections_closed = 0
        self._changed = trio.Event()
        self._cancel_scope = trio.CancelScope()
        self._stopped = trio.Event()
        self._nursery: trio.Nursery | None = None

    # -- public surface -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:PORT/`` (https when serving TLS)."""
        return self.url_for("/")

    def url_for(self, path: str) -> str:
        """An absolute URL on this server for ``path`` (a leading slash is optional)."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{_url_host(self.host)}:{self.port}/{path.lstrip('/')}"

    def script(self, *responses: ScriptedResponse) -> None:
        """Queue responses; each request takes the next one, in order."""
        self._queue.extend(responses)

    @property
    def connections_open(self) -> int:
        return self._connections_open

    def statistics(self) -> SSETestServerStatistics:
        return SSETestServerStatistics(
            requests=len(self.requests),
            connections_open=self._connections_open,
            connections_total=self._connections_total,
            connections_closed=self._connections_closed,
        )

    async def wait_for_requests(self, n: int) -> list[RecordedRequest]:
        """Wait until at least ``n`` requests arrived; return the first ``n``.

        Raises trio.ClosedResourceError if the server stops first, so a test that
        expected a request it never got fails instead of hanging.
        """
        await self._wait_until(lambda: len(self.requests) >= n, f"{n} requests")
        return self.requests[:n]

    async def wait_for_disconnects(self, n: int) -> None:
        """Wait until ``n`` connections have ended (peer EOF/reset or server close)."""
        await self._wait_until(lambda: self._connections_closed >= n, f"{n} disconnects")

    async def aclose(self) -> None:
        """Stop listening and close every connection, hanging ones included.

        Idempotent; returns once the server's tasks are done.
        """
        self._cancel_scope.cancel()
        await self._stopped.wait()

    # -- internals --------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake every waiter; they re-check their condition (no polling)."""
        self._changed.set()
        self._changed = trio.Event()

    async def _wait_until(self, condition: Callable[[], bool], what: str) -> None:
        await trio.lowlevel.checkpoint()
        while not condition():
            if self._stopped.is_set():
                raise trio.ClosedResourceError(f"test server closed before {what}")
            await self._changed.wait()

    async def _run(
        self, *, task_status: trio.TaskStatus[SSETestServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen, report started, serve until cancelled or aclose()d."""
        try:
            with self._cancel_scope:
                listeners = await self._open_listeners()
                try:
                    async with trio.open_nursery() as nursery:
                        self._nursery = nursery
                        for listener in listeners:
                            nursery.start_soon(self._accept_loop, listener, nursery)
                        task_status.started(self)
                finally:
                    self._nursery = None
                    _close_listeners(listeners)
        finally:
            self._stopped.set()
            self._notify()

    async def _open_listeners(self) -> list[trio.SocketListener]:
        """Bind; with port 0 keep a single listener so the server has one port."""
        listeners = await trio.open_tcp_listeners(self.port, host=self.host or None)
        if self.port == 0:
            _close_listeners(listeners[1:])
            listeners = listeners[:1]
        self.port = listeners[0].socket.getsockname()[1]
        return listeners

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        while True:
            stream = await listener.accept()
            nursery.start_soon(self._serve_connection, stream)

    async def serve_stream(self, stream: trio.abc.Stream) -> None:
        """Serve one connection on a stream opened elsewhere -- an accepted Unix socket,
        one end of ``trio.testing.memory_stream_pair()`` -- exactly as a TCP connection
        is served and counted (TLS too, with ``ssl_context``). Returns when it ends.
        Only TCP can send a reset: ``end="reset"`` closes other streams abruptly."""
        await self._serve_connection(stream)

    def connector(self) -> Callable[[Any], Awaitable[trio.abc.Stream]]:
        """A connector for ``SSEClient(transport=server.connector())``: each connection
        reaches this server through an in-memory stream pair, with no socket at all
        (use :attr:`url` for the URL; the connector ignores where it points). The stream
        is plain: with an ``ssl_context`` the server expects TLS, which a connector of
        your own must then start on the client end."""

        async def connect(origin: Any) -> trio.abc.Stream:
            if self._nursery is None:
                raise trio.ClosedResourceError("the test server is not running")
            client_end, server_end = trio.testing.memory_stream_pair()
            self._nursery.start_soon(self._serve_connection, server_end)
            await trio.lowlevel.checkpoint()
            return client_end

        return connect

    async def _serve_connection(self, tcp: trio.abc.Stream) -> None:
        """One connection: read a request, record it, answer it; never raise."""
        self._connections_total += 1
        self._connections_open += 1
        self._notify()
        conn = _Connection(tcp, self.ssl_context)
        try:
            await self._exchange(conn)
        except _PEER_ERRORS as exc:
            logger.debug("test server: client connection ended: %r", exc)
            if isinstance(exc, h11.RemoteProtocolError):
                await conn.send_raw_quietly(_BAD_REQUEST)
        except Exception as exc:
            logger.warning("test server: error while answering a request", exc_info=True)
            self.errors.append(exc)
        finally:
            try:
                await conn.abort()  # re-raises Cancelled when the server is closing
            finally:
                self._connections_open -= 1
                self._connections_closed += 1
                self._notify()

    async def _exchange(self, conn: _Connection) -> None:
        request = await conn.read_request()
        if request is None:
            return
        self.requests.append(request)
        self._notify()
        response = await self._choose_response(request)
        await conn.send_response(response)

    async def _choose_response(self, request: RecordedRequest) -> ScriptedResponse:
        """handler > script queue > default; a failing handler becomes a 500."""
        source: ScriptedResponse | Handler
        if self.handler is not None:
            source = self.handler
        elif self._queue:
            source = self._queue.popleft()
        else:
            source = self.default
        if isinstance(source, ScriptedResponse):
            return source
        try:
            return await _call_handler(source, request)
        except Exception as exc:
            logger.warning("test server: handler raised", exc_info=True)
            self.errors.append(exc)
            return _HANDLER_FAILED


async def _call_handler(handler: Handler, request: RecordedRequest) -> ScriptedResponse:
    result: object = handler(request)
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, ScriptedResponse):
        raise TypeError(f"handler must return a ScriptedResponse, got {type(result).__name__}")
    return result


def _close_listeners(listeners: Iterable[trio.SocketListener]) -> None:
    """Synchronous on purpose: an await here would raise Cancelled and skip the rest."""
    for listener in listeners:
        listener.socket.close()


def _url_host(host: str) -> str:
    """The host as it goes in a URL; wildcard binds are reached via loopback."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class _Connection:
    """One accepted socket (optionally TLS-wrapped) and the ways it can end."""

    def __init__(self, tcp: trio.abc.Stream, ssl_context: ssl.SSLContext | None) -> None:
        if _is_tcp(tcp):
            tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self.tcp = tcp
        self.stream: trio.abc.Stream = tcp
        if ssl_context is not None:
            self.stream = trio.SSLStream(tcp, ssl_context, server_side=True)
        self.closed = False

    async def read_request(self) -> RecordedRequest | None:
        """Read one full request (head and body) with h11; None if the peer left first."""
        parser = h11.Connection(h11.SERVER)
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = parser.next_event()
            if event is h11.NEED_DATA:
                if parser.they_are_waiting_for_100_continue:
                    await self.stream.send_all(_continue(parser))
                parser.receive_data(bytes(await self.stream.receive_some(65536)))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return _record(head, bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def send_response(self, response: ScriptedResponse) -> None:
        items: Iterable[BodyItem] | None = None
        headers = list(response.headers)
        if response.framing == "content-length":
            items = list(_sync_body(response))
            sent = 0
            for item in items:
                if isinstance(item, EndNow):
                    break
                if not isinstance(item, Pause):
                    sent += len(_encode(item))
            declared = sent + 1 if response.end == "truncate" else sent
            _set_default_header(headers, "Content-Length", str(declared))
        elif response.framing == "chunked":
            _set_default_header(headers, "Transfer-Encoding", "chunked")
        await self.stream.send_all(_render_head(response.status, headers))
        if items is not None:
            end = await self._send_items(items, response.framing)
        elif _is_async_body(response.body):
            end = await self._send_async_body(response)
        else:
            end = await self._send_items(_sync_body(response), response.framing)
        await self._end(response, response.end if end is None else end)

    async def _send_items(self, items: Iterable[BodyItem], framing: Framing) -> End | None:
        """Send the items; the ending an EndNow item asked for, if any."""
        for item in items:
            if isinstance(item, EndNow):
                return item.end
            await self._send_item(item, framing)
        return None

    async def _send_async_body(self, response: ScriptedResponse) -> End | None:
        factory = response.body
        assert not isinstance(factory, Iterable)  # the caller checked: _is_async_body
        iterator = factory()
        try:
            async for item in iterator:
                if isinstance(item, EndNow):
                    return item.end
                await self._send_item(item, response.framing)
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
        return None

    async def _send_item(self, item: BodyItem, framing: Framing) -> None:
        if isinstance(item, Pause):
            await trio.sleep(item.seconds)
            return
        if not isinstance(item, (bytes, str)):
            raise TypeError(f"body items must be bytes, str or Pause, got {type(item).__name__}")
        data = _encode(item)
        if data:  # an empty chunk would be the terminator
            await self.stream.send_all(_frame(data, framing))

    async def _end(self, response: ScriptedResponse, end: End) -> None:
        if end == "close":
            if response.framing == "chunked":
                await self.stream.send_all(b"0\r\n\r\n")
            await self.close()
        elif end == "truncate":
            await self.close()
        elif end == "reset":
            await self.reset()
        else:
            await self.wait_for_peer_to_leave()

    async def wait_for_peer_to_leave(self) -> None:
        """For ``hang``: read and discard until EOF, so a departing client is noticed."""
        try:
            while await self.stream.receive_some(65536):
                pass
        except trio.BrokenResourceError:
            pass

    async def close(self) -> None:
        """Clean close: FIN (after close_notify on TLS)."""
        self.closed = True
        await self.stream.aclose()

    async def reset(self) -> None:
        """Abort with RST: SO_LINGER on with a zero timeout, then close the TCP socket."""
        self.closed = True
        if _is_tcp(self.tcp):
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await self.tcp.aclose()
        else:
            await trio.aclose_forcefully(self.tcp)

    async def abort(self) -> None:
        """Close at once if still open (cancelled or failed); never blocks."""
        if not self.closed:
            self.closed = True
            await trio.aclose_forcefully(self.stream)

    async def send_raw_quietly(self, data: bytes) -> None:
        """Best effort (e.g. a 400 for a malformed request); the peer may be gone."""
        if self.closed:
            return
        with trio.move_on_after(1):
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self.stream.send_all(data)


def _is_tcp(stream: trio.abc.Stream) -> TypeGuard[trio.SocketStream]:
    return isinstance(stream, trio.SocketStream) and stream.socket.family in (
        socket.AF_INET,
        socket.AF_INET6,
    )


def _continue(parser: h11.Connection) -> bytes:
    data = parser.send(h11.InformationalResponse(status_code=100, headers=[]))
    assert data is not None
    return data


def _record(head: h11.Request, body: bytes) -> RecordedRequest:
    return RecordedRequest(
        method=head.method.decode("latin-1"),
        target=head.target.decode("latin-1"),
        http_version=head.http_version.decode("latin-1"),
        headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers),
        body=body,
    )


def _sync_body(response: ScriptedResponse) -> Iterable[BodyItem]:
    body = response.body
    assert isinstance(body, Iterable)
    assert not isinstance(body, bytes)  # __post_init__ wrapped a bare bytes body
    return body


def _set_default_header(headers: list[tuple[str, str]], name: str, value: str) -> None:
    if not any(key.lower() == name.lower() for key, _ in headers):
        headers.append((name, value))


def _render_head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _frame(data: bytes, framing: Framing) -> bytes:
    if framing == "chunked":
        return b"%x\r\n%s\r\n" % (len(data), data)
    return data


@asynccontextmanager
async def open_sse_test_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    responses: Iterable[ScriptedResponse] = (),
    handler: Handler | None = None,
) -> AsyncIterator[SSETestServer]:
    """Run a scripted server for the duration of the block.

    On exit every task and socket is closed, hanging connections included.
    """
    server = SSETestServer(
        host=host, port=port, ssl_context=ssl_context, responses=responses, handler=handler
    )
    body_error: BaseException | None = None
    async with trio.open_nursery() as nursery:
        await nursery.start(server._run)
        try:
            yield server
        except BaseException as exc:
            # Re-raised below, outside the nursery, so that a failing assert in the
            # block surfaces as itself rather than wrapped in an ExceptionGroup.
            body_error = exc
        finally:
            server._cancel_scope.cancel()
    if body_error is not None:
        raise body_error


async def serve_sse_test_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    responses: Iterable[ScriptedResponse] = (),
    handler: Handler | None = None,
    task_status: trio.TaskStatus[SSETestServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """``server = await nursery.start(serve_sse_test_server)``; runs until cancelled
    or until ``server.aclose()``."""
    server = SSETestServer(
        host=host, port=port, ssl_context=ssl_context, responses=responses, handler=handler
    )
    await server._run(task_status=task_status)


# -- the demo stream (used by `trio-sse demo`) ----------------------------------------


def demo_events() -> list[ServerSentEvent]:
    """A short stream that shows the format's features: a comment, ``retry``, typed
    events with ids, multi-line data and an untyped "message" event."""
    return [
        ServerSentEvent(comments="welcome to the trio-sse demo"),
        ServerSentEvent(retry=1000),
        ServerSentEvent(event="greeting", id="1", data="hello from the demo server"),
        ServerSentEvent(event="tick", id="2", data="1"),
        ServerSentEvent(event="tick", id="3", data="2"),
        ServerSentEvent(id="4", data="a plain message\nwith two lines"),
        ServerSentEvent(event="tick", id="5", data="3"),
        ServerSentEvent(event="bye", id="6", data="that's all, folks"),
    ]


def demo_responses(*, pause: float = 0.3) -> list[ScriptedResponse]:
    """The whole demo as one stream, ``pause`` seconds between events, then close."""
    return [ScriptedResponse.events(*_paced(demo_events(), pause))]


def _paced(events: Sequence[ServerSentEvent], pause: float) -> list[ServerSentEvent | Pause]:
    out: list[ServerSentEvent | Pause] = []
    for i, event in enumerate(events):
        if i and pause:
            out.append(Pause(pause))
        out.append(event)
    return out


@dataclass
class DemoHandler:
    """A handler that resumes the demo from ``Last-Event-ID``, to show reconnection.

    Each connection gets at most ``per_connection`` events with an id, then the
    server closes; a reconnecting client continues where it left off, and once
    everything was delivered it gets 204 (the SSE way to say "stop, don't retry").
    """

    pause: float = 0.3
    per_connection: int = 3
    events: list[ServerSentEvent] = field(default_factory=demo_events)

    def __call__(self, request: RecordedRequest) -> ScriptedResponse:
        remaining = self._after(request.header("last-event-id"))
        if not any(ev.id is not None for ev in remaining):
            return ScriptedResponse(status=204, headers=(), framing="close")
        return ScriptedResponse.events(*_paced(self._take(remaining), self.pause))

    def _after(self, last_id: str | None) -> list[ServerSentEvent]:
        ids = [ev.id for ev in self.events]
        if last_id is None or last_id not in ids:
            return list(self.events)
        return self.events[ids.index(last_id) + 1 :]

    def _take(self, remaining: list[ServerSentEvent]) -> list[ServerSentEvent]:
        """Events up to and including the ``per_connection``-th one with an id."""
        taken: list[ServerSentEvent] = []
        with_id = 0
        for ev in remaining:
            taken.append(ev)
            with_id += ev.id is not None
            if with_id >= self.per_connection:
                break
        return taken
