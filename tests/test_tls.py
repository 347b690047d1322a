"""Real TLS over loopback with a trustme CA: https streams work when the CA is
trusted, and a certificate the client cannot verify is a clear, non-retried error."""

from __future__ import annotations

import ssl

import pytest
import trio
import trio.testing
import trustme

from trio_sse import ServerSentEvent, SSEClient, SSEConnectionError, SSETimeoutError
from trio_sse.testing import ScriptedResponse, SSETestServer, open_sse_test_server

HANG = 600  # virtual seconds: under the autojump clock, turns a hang into a failure


async def test_https_stream(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    """A verifying client that trusts the CA reads events over https."""
    async with open_sse_test_server(ssl_context=server_ssl_context) as server:
        server.script(
            ScriptedResponse.events(
                ServerSentEvent(data="secret", id="1"), ServerSentEvent(data="more")
            )
        )
        client = SSEClient(ssl_context=client_ssl_context)
        url = server.url_for("/events")
        assert url.startswith("https://")
        async with client.sse(url, headers={"Authorization": "Bearer t"}) as session:
            events = [ev async for ev in session]
            assert session.response.url == url
        (request,) = server.requests
    assert [ev.data for ev in events] == ["secret", "more"]
    assert request.header("authorization") == "Bearer t"


@pytest.mark.parametrize("framing", ["chunked", "close"])
async def test_https_truncation_is_not_a_clean_end(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext, framing: str
) -> None:
    """Over TLS a close_notify after a complete close-delimited body is a clean end,
    while a chunked body cut short is still an SSEConnectionError."""
    async with open_sse_test_server(ssl_context=server_ssl_context) as server:
        if framing == "chunked":
            script = ScriptedResponse.events(ServerSentEvent(data="x"), end="truncate")
        else:
            script = ScriptedResponse.events(ServerSentEvent(data="x"), framing="close")
        server.script(script)
        client = SSEClient(ssl_context=client_ssl_context)
        got: list[str | None] = []

        async def consume() -> None:
            async with client.sse(server.url) as session:
                async for ev in session:
                    got.append(ev.data)

        if framing == "chunked":
            with pytest.raises(SSEConnectionError):
                await consume()
        else:
            await consume()
        assert got == ["x"]


async def test_untrusted_certificate_is_rejected_and_not_retried(
    server_ssl_context: ssl.SSLContext, autojump_clock: trio.testing.MockClock
) -> None:
    """The default (system CAs) context refuses the test CA: SSEConnectionError naming
    the certificate, raised at once although reconnection is on, and no HTTP request
    ever reaches the server."""
    with trio.fail_after(HANG):
        async with open_sse_test_server(ssl_context=server_ssl_context) as server:
            client = SSEClient(max_reconnection_attempts=3, reconnection_time=1.0)
            with pytest.raises(SSEConnectionError) as info:
                async with client.sse(server.url):
                    pytest.fail("the session must not open")  # pragma: no cover
            await server.wait_for_disconnects(1)
            assert trio.current_time() == 0  # no reconnection delay was slept
            assert server.statistics().connections_total == 1
            assert server.requests == []
        error = info.value
        assert not isinstance(error, SSETimeoutError)
        assert "certificate" in str(error).lower()
        assert isinstance(error.__cause__, ssl.SSLCertVerificationError)


async def test_certificate_for_another_host_is_rejected(
    tls_ca: trustme.CA, client_ssl_context: ssl.SSLContext
) -> None:
    """A trusted CA is not enough: the certificate must name the host we asked for."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("example.test").configure_cert(server_context)
    async with open_sse_test_server(ssl_context=server_context) as server:
        client = SSEClient(ssl_context=client_ssl_context, max_reconnection_attempts=2)
        with pytest.raises(SSEConnectionError, match="certificate") as info:
            async with client.sse(server.url):
                pytest.fail("the session must not open")  # pragma: no cover
        assert server.requests == []
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


async def test_http_redirected_to_https(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    """An http URL that redirects to https upgrades to TLS, with the client's context."""
    async with (
        open_sse_test_server() as plain,
        open_sse_test_server(ssl_context=server_ssl_context) as secure,
    ):
        plain.script(redirect_to(secure.url_for("/events")))
        secure.script(ScriptedResponse.events(ServerSentEvent(data="upgraded")))
        client = SSEClient(ssl_context=client_ssl_context)
        async with client.sse(plain.url) as session:
            assert [ev.data async for ev in session] == ["upgraded"]
            assert session.response.url == secure.url_for("/events")


async def test_http_redirected_to_https_verifies_by_default(
    server_ssl_context: ssl.SSLContext,
) -> None:
    """Without an ssl_context, a redirect to https still verifies the certificate with
    the default context: an untrusted one is SSEConnectionError (was AssertionError)."""
    async with (
        open_sse_test_server() as plain,
        open_sse_test_server(ssl_context=server_ssl_context) as secure,
    ):
        plain.script(redirect_to(secure.url))
        with pytest.raises(SSEConnectionError, match="certificate"):
            async with SSEClient().sse(plain.url):
                pytest.fail("the session must not open")  # pragma: no cover
        assert secure.requests == []


async def test_https_to_a_plain_http_server(server: SSETestServer) -> None:
    """Speaking TLS to a plain-HTTP port fails the handshake: SSEConnectionError with
    the ssl error as its cause, not a bare ssl or trio exception."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="x")))
    url = server.url.replace("http://", "https://")
    with pytest.raises(SSEConnectionError, match="TLS handshake") as info:
        async with SSEClient().sse(url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert isinstance(info.value.__cause__, ssl.SSLError)


def redirect_to(location: str) -> ScriptedResponse:
    return ScriptedResponse(
        status=307, headers=[("Location", location)], body=b"", framing="content-length"
    )
