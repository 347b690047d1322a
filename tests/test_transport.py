"""The transport seam: the session gets a trio.abc.Stream from a replaceable transport
and knows nothing of how it was made -- a real Unix socket, an in-memory stream pair,
a user's own connector -- and whatever a transport raises is translated in one place."""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

import trio_sse
from trio_sse import (
    ConnectorTransport,
    Origin,
    ServerSentEvent,
    SSEClient,
    SSEConnectionError,
    SSEError,
    TCPTransport,
    Transport,
    UnixSocketTransport,
)
from trio_sse.testing import ScriptedResponse, SSETestServer, open_sse_test_server

HANG = 600  # virtual seconds: under the autojump clock, turns a hang into a failure


@pytest.fixture
def socket_path() -> Iterator[str]:
    """A short path (Unix socket paths are limited to ~100 bytes) in a fresh directory."""
    with tempfile.TemporaryDirectory(prefix="sse-", dir="/tmp") as directory:
        yield os.path.join(directory, "s")


@asynccontextmanager
async def serve_unix(server: SSETestServer, path: str) -> AsyncIterator[None]:
    """Accept on a real Unix socket at ``path`` and let ``server`` answer each one."""
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    await sock.bind(path)
    sock.listen()
    listener = trio.SocketListener(sock)
    async with trio.open_nursery() as nursery:

        async def accept_loop() -> None:
            while True:
                stream = await listener.accept()
                nursery.start_soon(server.serve_stream, stream)

        nursery.start_soon(accept_loop)
        try:
            yield
        finally:
            nursery.cancel_scope.cancel()
            await listener.aclose()


async def test_unix_socket(server: SSETestServer, socket_path: str) -> None:
    """SSEClient(uds=path) reaches the server on the Unix socket whatever the URL's
    host, which still names the Host header."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="over a socket file", id="1")))
    async with serve_unix(server, socket_path):
        client = SSEClient(uds=socket_path)
        assert isinstance(client.transport, UnixSocketTransport)
        async with client.sse("http://docker.invalid/events") as session:
            events = [ev async for ev in session]
            assert session.response.url == "http://docker.invalid/events"
    assert [ev.data for ev in events] == ["over a socket file"]
    (request,) = server.requests
    assert request.header("host") == "docker.invalid"
    assert request.target == "/events"


async def test_tls_over_a_unix_socket(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext, socket_path: str
) -> None:
    """https over a Unix socket: TLS with the URL's host as server name, verified."""
    async with open_sse_test_server(ssl_context=server_ssl_context) as server:
        server.script(ScriptedResponse.events(ServerSentEvent(data="sealed")))
        async with serve_unix(server, socket_path):
            client = SSEClient(uds=socket_path, ssl_context=client_ssl_context)
            async with client.sse("https://localhost/") as session:
                assert [ev.data async for ev in session] == ["sealed"]


async def test_missing_unix_socket_is_retried(
    socket_path: str, autojump_clock: trio.testing.MockClock
) -> None:
    """No server on the socket is a connection failure like a refused TCP port:
    retried, then SSEConnectionError naming the socket, the OSError as cause."""
    client = SSEClient(uds=socket_path, max_reconnection_attempts=2, reconnection_time=1.0)
    with trio.fail_after(HANG), pytest.raises(SSEConnectionError) as info:
        async with client.sse("http://localhost/"):
            pytest.fail("the session must not open")  # pragma: no cover
    assert info.value.attempts == 2
    assert trio.current_time() == 2.0  # two reconnection delays were slept
    cause = info.value.__cause__
    assert isinstance(cause, SSEConnectionError)
    assert socket_path in str(cause)
    assert isinstance(cause.__cause__, OSError)


async def test_in_memory_transport(server: SSETestServer) -> None:
    """The scripted server reached through memory_stream_pair: no socket at all, the
    same bytes, the same reconnect behaviour (Last-Event-ID on the second stream)."""
    server.script(
        ScriptedResponse.events(ServerSentEvent(data="a", id="1")),
        ScriptedResponse.events(ServerSentEvent(data="b", id="2")),
        ScriptedResponse(status=204, headers=(), framing="close"),
    )
    client = SSEClient(
        transport=server.connector(), max_reconnection_attempts=3, reconnection_time=0
    )
    async with client.sse(server.url) as session:
        assert [ev.data async for ev in session] == ["a", "b"]
    assert server.statistics().connections_total == 3
    assert [r.header("last-event-id") for r in server.requests] == [None, "1", "2"]


async def test_lockstep_stream_connector() -> None:
    """A connector of one's own: an async function given the Origin, returning any
    trio.abc.Stream (here lockstep_stream_pair, served by a task of the test)."""
    origins: list[Origin] = []
    body = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: hi\n\n"
    async with trio.open_nursery() as nursery:

        async def serve(stream: trio.abc.Stream) -> None:
            received = b""
            while b"\r\n\r\n" not in received:
                received += await stream.receive_some()
            await stream.send_all(body)
            await stream.aclose()

        async def connect(origin: Origin) -> trio.abc.Stream:
            origins.append(origin)
            client_end, server_end = trio.testing.lockstep_stream_pair()
            nursery.start_soon(serve, server_end)
            return client_end

        async with SSEClient(transport=connect).sse("https://example.test:8443/x") as session:
            assert [ev.data async for ev in session] == ["hi"]
    assert origins == [Origin("https", "example.test", 8443)]
    assert str(origins[0]) == "https://example.test:8443"


async def test_the_origin_follows_redirects(server: SSETestServer) -> None:
    """Each connection asks the transport for the origin of the request it carries."""
    server.script(
        ScriptedResponse(
            status=307, headers=[("Location", "http://other.test:81/b")], framing="close"
        ),
        ScriptedResponse.events(ServerSentEvent(data="there")),
    )
    asked: list[Origin] = []
    to_server = server.connector()

    async def connect(origin: Origin) -> trio.abc.Stream:
        asked.append(origin)
        return await to_server(origin)

    async with SSEClient(transport=connect).sse("http://first.test/a") as session:
        assert [ev.data async for ev in session] == ["there"]
    assert asked == [Origin("http", "first.test", 80), Origin("http", "other.test", 81)]
    assert [r.header("host") for r in server.requests] == ["first.test", "other.test:81"]


class CountingTransport:
    """A transport class (the Protocol, structurally) that fails as told."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    async def connect(self, origin: Origin) -> trio.abc.Stream:
        self.calls += 1
        raise self.error


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (trio.BrokenResourceError("gone"), True),
        (OSError(101, "unreachable"), True),
        (RuntimeError("a bug in the transport"), False),
        (SSEConnectionError("the transport's own words"), True),
        (SSEError("not a connection problem"), False),
    ],
)
async def test_transport_errors_are_translated_in_one_place(
    error: BaseException, retried: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """Whatever a transport raises, the user gets an SSEError: network failures are
    retried, anything else ends the session at once, the original as the cause."""
    transport = CountingTransport(error)
    assert isinstance(transport, Transport)
    client = SSEClient(transport=transport, max_reconnection_attempts=2, reconnection_time=1)
    with trio.fail_after(HANG), pytest.raises(SSEError) as info:
        async with client.sse("http://example.test/"):
            pytest.fail("the session must not open")  # pragma: no cover
    assert transport.calls == (3 if retried else 1)
    raised: BaseException | None = info.value
    if retried:
        assert isinstance(raised, SSEConnectionError)
        raised = raised.__cause__
    if isinstance(error, SSEError):
        assert raised is error
    else:
        assert isinstance(raised, SSEConnectionError)
        assert raised.__cause__ is error


async def test_a_connector_must_return_a_stream() -> None:
    """A connector that returns something else is a clear SSEError, not retried."""
    calls = 0

    async def connect(origin: Origin) -> trio.abc.Stream:
        nonlocal calls
        calls += 1
        return "not a stream"  # type: ignore[return-value]  # deliberately wrong

    client = SSEClient(transport=connect, max_reconnection_attempts=3, reconnection_time=0)
    with pytest.raises(SSEError, match=r"returned str, not a trio\.abc\.Stream"):
        async with client.sse("http://example.test/"):
            pytest.fail("the session must not open")  # pragma: no cover
    assert calls == 1


async def test_cancelling_a_connect_is_not_an_error() -> None:
    """A connect cancelled from outside leaves as trio.Cancelled, untranslated."""

    async def connect(origin: Origin) -> trio.abc.Stream:
        await trio.sleep_forever()
        raise AssertionError  # pragma: no cover

    with trio.move_on_after(0) as scope:
        async with SSEClient(transport=connect).sse("http://example.test/"):
            pytest.fail("the session must not open")  # pragma: no cover
    assert scope.cancelled_caught


def test_default_transport_is_tcp(client_ssl_context: ssl.SSLContext) -> None:
    client = SSEClient(ssl_context=client_ssl_context)
    assert isinstance(client.transport, TCPTransport)
    assert client.transport.ssl_context is client_ssl_context


def test_a_connector_function_becomes_a_transport() -> None:
    async def connect(origin: Origin) -> trio.abc.Stream:
        raise AssertionError  # pragma: no cover

    transport = SSEClient(transport=connect).transport
    assert isinstance(transport, ConnectorTransport)
    assert isinstance(transport, Transport)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"transport": 42}, TypeError),
        ({"transport": TCPTransport(), "uds": "/tmp/s"}, ValueError),
        ({"transport": TCPTransport(), "ssl_context": ssl.create_default_context()}, ValueError),
        ({"uds": ""}, ValueError),
        ({"uds": b"/tmp/s"}, TypeError),
        ({"uds": "/tmp/s", "ssl_context": "yes"}, TypeError),
    ],
)
def test_bad_transport_arguments(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        SSEClient(**kwargs)  # type: ignore[arg-type]  # some deliberately mistyped


def test_transport_names_are_public() -> None:
    for name in (
        "Connector",
        "ConnectorTransport",
        "Forwarding",
        "ForwardingTransport",
        "Origin",
        "TCPTransport",
        "Transport",
        "UnixSocketTransport",
    ):
        assert name in trio_sse.__all__
        assert getattr(trio_sse, name) is not None


async def test_a_transport_of_ones_own_may_forward(server: SSETestServer) -> None:
    """A user transport with forwarding(origin) gets the request in absolute form with
    its headers, as the built-in proxy transport does (here the 'proxy' is the server)."""
    to_server = server.connector()
    server.script(ScriptedResponse.events(ServerSentEvent(data="forwarded")))

    class ViaGateway:
        async def connect(self, origin: Origin) -> trio.abc.Stream:
            return await to_server(origin)

        def forwarding(self, origin: Origin) -> trio_sse.Forwarding:
            return trio_sse.Forwarding("gateway", (("X-Gateway-Key", "k"),))

    assert isinstance(ViaGateway(), trio_sse.ForwardingTransport)
    async with SSEClient(transport=ViaGateway()).sse("http://origin.test/x") as session:
        assert [ev.data async for ev in session] == ["forwarded"]
    (request,) = server.requests
    assert request.target == "http://origin.test/x"
    assert request.header("x-gateway-key") == "k"


async def test_a_subclass_of_tcp_transport_may_forward(server: SSETestServer) -> None:
    """The built-in transports are known never to forward, but a subclass that adds
    forwarding(origin) is asked like any other transport."""
    to_server = server.connector()
    server.script(ScriptedResponse.events(ServerSentEvent(data="forwarded")))

    class ViaGateway(trio_sse.TCPTransport):
        async def connect(self, origin: Origin) -> trio.abc.Stream:
            return await to_server(origin)

        def forwarding(self, origin: Origin) -> trio_sse.Forwarding:
            return trio_sse.Forwarding("gateway", (("X-Gateway-Key", "k"),))

    async with SSEClient(transport=ViaGateway()).sse("http://origin.test/x") as session:
        assert [ev.data async for ev in session] == ["forwarded"]
    (request,) = server.requests
    assert request.target == "http://origin.test/x"
    assert request.header("x-gateway-key") == "k"


async def test_a_forwarding_that_fails_is_not_taken_for_no_forwarding(
    server: SSETestServer,
) -> None:
    """A bug in a transport's forwarding (an AttributeError inside a property) ends the
    session with it as the cause; the request never goes out as if nothing forwarded."""
    to_server = server.connector()

    class Broken:
        async def connect(self, origin: Origin) -> trio.abc.Stream:
            return await to_server(origin)

        @property
        def forwarding(self) -> Callable[[Origin], trio_sse.Forwarding]:
            raise AttributeError("a typo in the user's property")

    with pytest.raises(trio_sse.SSEError) as caught:
        async with SSEClient(transport=Broken()).sse("http://origin.test/x"):
            pass
    assert isinstance(caught.value.__cause__, AttributeError)
    assert server.requests == []
