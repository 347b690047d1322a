"""Second reading of _proxy.py, _proxy_transport.py and _transport.py: each test fails
if the one line keeping a rule is changed (the mutation it catches is in its docstring)."""

from __future__ import annotations

import base64
import socket
import ssl
import struct

import pytest
import trio

from trio_sse import SSEClient, SSEConnectionError, SSEProxyError
from trio_sse._proxy import NoProxy, Proxy, ProxyChoice, TunnelHandshake
from trio_sse._proxy_transport import ProxyTransport
from trio_sse._transport import Origin, TransportError, translate_error


@pytest.mark.parametrize("url", ["http://proxy.example:0", "http://user:secret@proxy.example:0"])
def test_a_proxy_on_port_0_is_refused_not_taken_as_80(url: str) -> None:
    """Regression: ``port or 80`` made ``http://proxy:0`` silently mean port 80."""
    with pytest.raises(ValueError, match="port 0") as caught:
        Proxy.parse(url)
    assert "secret" not in str(caught.value)


def test_a_proxy_without_a_port_is_on_80() -> None:
    assert Proxy.parse("http://proxy.example").port == 80
    assert Proxy.parse("proxy.example:3128").port == 3128


def test_an_ipv6_origin_is_named_with_brackets() -> None:
    """Catches the brackets dropped from Origin.__str__ (``http://::1:80`` is no URL)."""
    assert str(Origin("http", "::1", 8080)) == "http://[::1]:8080"
    assert str(Origin("https", "example.com", 443)) == "https://example.com:443"


@pytest.mark.parametrize(
    ("error", "tls", "retryable"),
    [
        (ssl.SSLError("no client method"), True, False),  # a context unfit for clients
        (ValueError("server_hostname"), True, False),
        (ValueError("label too long"), False, False),  # a name the resolver rejects
        (OSError(111, "refused"), False, True),
        (trio.BrokenResourceError("gone"), True, True),  # a failed handshake
        (trio.ClosedResourceError("closed"), False, True),
        (RuntimeError("a bug"), False, False),
    ],
)
def test_which_transport_failures_a_retry_may_cure(
    error: Exception, tls: bool, retryable: bool
) -> None:
    """Catches a retryable flag flipped in translate_error: a TLS context that cannot
    make client sockets, or a bug in a transport, does not heal by waiting."""
    translated = translate_error(error, Origin("https", "example.com", 443), tls=tls)
    assert translated.retryable is retryable
    assert isinstance(translated.error, SSEConnectionError)
    assert translated.error.__cause__ is error


async def test_a_proxy_that_talks_before_the_tunnel_is_used_is_a_proxy_error(
    client_ssl_context: ssl.SSLContext,
) -> None:
    """Catches the check of bytes after the CONNECT's 2xx deleted: they would be dropped
    and the failure blamed on the origin's TLS handshake (and retried)."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    connects = 0

    async def confused_proxy(stream: trio.SocketStream) -> None:
        nonlocal connects
        connects += 1
        async with stream:
            head = b""
            while b"\r\n\r\n" not in head:
                head += await stream.receive_some(4096)
            await stream.send_all(b"HTTP/1.1 200 Connection established\r\n\r\nhello")
            await stream.receive_some(4096)  # until the client gives up

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, confused_proxy, listeners)
        client = SSEClient(
            proxy=f"http://127.0.0.1:{port}",
            ssl_context=client_ssl_context,
            max_reconnection_attempts=2,
            reconnection_time=0.001,
        )
        with trio.fail_after(10), pytest.raises(SSEProxyError, match="before the tunnel"):
            async with client.sse("https://origin.example/events"):
                pytest.fail("the session must not open")  # pragma: no cover
        nursery.cancel_scope.cancel()
    assert connects == 1  # a confused proxy is not retried


@pytest.mark.parametrize("status", [300, 304])
def test_a_3xx_answer_to_connect_is_a_refusal(status: int) -> None:
    """Catches the 2xx test of the CONNECT answer made ``<= 300``."""
    handshake = TunnelHandshake(Proxy("proxy.example", 3128), "origin.example", 443)
    handshake.feed(b"HTTP/1.1 %d Nope\r\nContent-Length: 0\r\n\r\n" % status)
    with pytest.raises(SSEProxyError, match="refused the tunnel") as caught:
        handshake.established()
    assert caught.value.status_code == status


def test_no_proxy_matches_a_host_written_with_its_final_dot() -> None:
    """Catches the final dot of a fully qualified name no longer ignored: the URL
    ``http://internal.example./`` must not be sent to the proxy NO_PROXY exempts it from."""
    no_proxy = NoProxy.parse("internal.example")
    assert no_proxy.matches("internal.example.", 80)
    assert no_proxy.matches("a.internal.example.", 80)
    choice = ProxyChoice(http=Proxy("proxy.example", 3128), no_proxy=no_proxy)
    assert choice.proxy_for("http", "internal.example.", 80) is None


async def test_a_proxy_name_the_resolver_rejects_is_not_retried() -> None:
    """Catches ``retryable`` made True for a proxy host name that cannot be resolved
    at all (an IDNA label over 63 characters): waiting will not fix it."""
    transport = ProxyTransport(Proxy("x" * 64 + ".example", 3128))
    with pytest.raises(TransportError) as caught:
        await transport.connect(Origin("http", "origin.example", 80))
    assert caught.value.retryable is False
    assert isinstance(caught.value.error, SSEProxyError)


@pytest.mark.parametrize("reset", [False, True])
async def test_a_proxy_lost_during_connect_is_retried(
    reset: bool, client_ssl_context: ssl.SSLContext
) -> None:
    """Catches ``retryable`` made False for a proxy that closes or resets the connection
    before answering CONNECT (overloaded, restarting): the next attempt may work."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    connects = 0

    async def vanishing_proxy(stream: trio.SocketStream) -> None:
        nonlocal connects
        connects += 1
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive_some(4096)
        if reset:  # an RST, not a FIN: the client's read fails instead of ending
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, vanishing_proxy, listeners)
        client = SSEClient(
            proxy=f"http://127.0.0.1:{port}",
            ssl_context=client_ssl_context,
            max_reconnection_attempts=1,
            reconnection_time=0.001,
        )
        with trio.fail_after(10), pytest.raises(SSEConnectionError) as caught:
            async with client.sse("https://origin.example/events"):
                pytest.fail("the session must not open")  # pragma: no cover
        nursery.cancel_scope.cancel()
    assert connects == 2
    assert isinstance(caught.value.__cause__, SSEProxyError)


def test_proxy_credentials_without_a_password() -> None:
    """Catches ``password or ''`` dropped: ``http://user@proxy`` is ``user:`` in Basic,
    never ``user:None``; percent-escapes in the credentials are decoded first."""
    assert Proxy.parse("http://user@proxy.example:3128").authorization == (
        "Basic " + base64.b64encode(b"user:").decode()
    )
    assert Proxy.parse("http://us%40er:p%3Ass@proxy.example").authorization == (
        "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    )
