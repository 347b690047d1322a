"""Proxies: http:// through a real loopback proxy in absolute form, https:// through a
CONNECT tunnel with TLS to the origin under the origin's name, Basic credentials for the
proxy only, clear SSEProxyErrors when the proxy refuses or cannot be reached, and the
proxy environment variables read as curl and httpx read them."""

from __future__ import annotations

import base64
import logging
import os
import socket
import ssl

import pytest
import trustme

from tests.http_helpers import GET, response
from tests.proxy_server import ProxyServer, open_proxy_server
from trio_sse import (
    ProxyTransport,
    ServerSentEvent,
    SSEClient,
    SSEConnectionError,
    SSEProxyError,
    SSEResponseError,
    TCPTransport,
)
from trio_sse._headers import Headers
from trio_sse._judge import Reject, RetryLater, judge_response
from trio_sse._proxy import NoProxy, Proxy, ProxyChoice, TunnelHandshake
from trio_sse.testing import ScriptedResponse, SSETestServer, open_sse_test_server

# --------------------------------------------------------------------------- sans-IO


def test_proxy_url_parsing() -> None:
    proxy = Proxy.parse("http://alice:p%40ss@Proxy.Example:3128")
    assert (proxy.host, proxy.port, proxy.username, proxy.password) == (
        "proxy.example",
        3128,
        "alice",
        "p@ss",
    )
    assert proxy.authorization == "Basic " + base64.b64encode(b"alice:p@ss").decode()
    assert "p@ss" not in repr(proxy)
    assert str(proxy) == "http://proxy.example:3128"
    assert Proxy.parse("proxy.example") == Proxy("proxy.example", 80)  # curl: http, port 80
    assert Proxy.parse("http://[::1]:8080/").host == "::1"
    assert Proxy.parse("http://proxy:1").authorization is None


@pytest.mark.parametrize(
    "url",
    ["socks5://proxy:1080", "https://proxy:443", "http://proxy/path", "http://:80", "http://p:x"],
)
def test_unusable_proxy_urls(url: str) -> None:
    with pytest.raises(ValueError, match="proxy"):
        Proxy.parse(url)


def test_a_bad_proxy_url_error_hides_the_password() -> None:
    with pytest.raises(ValueError, match="unsupported proxy scheme") as info:
        Proxy.parse("socks5://alice:secret@proxy:1080")
    assert "secret" not in str(info.value)
    assert "alice:***@proxy:1080" in str(info.value)


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "exempt"),
    [
        ("example.com", "example.com", 80, True),
        ("example.com", "api.example.com", 80, True),
        ("example.com", "badexample.com", 80, False),
        (".example.com", "example.com", 80, True),
        ("*.example.com", "a.b.example.com", 80, True),
        ("EXAMPLE.com", "example.COM", 80, True),
        ("*", "anything.test", 443, True),
        ("other.test, ,example.com", "example.com", 443, True),
        ("127.0.0.1", "127.0.0.1", 8080, True),
        ("127.0.0.1", "127.0.0.2", 8080, False),
        ("10.0.0.0/8", "10.20.30.40", 80, True),
        ("10.0.0.0/8", "11.0.0.1", 80, False),
        ("::1", "::1", 80, True),
        ("[::1]:8080", "::1", 8080, True),
        ("[::1]:8080", "::1", 80, False),
        ("example.com:8080", "example.com", 8080, True),
        ("example.com:8080", "example.com", 80, False),
        ("localhost", "127.0.0.1", 80, False),  # names are not resolved
        ("", "example.com", 80, False),
    ],
)
def test_no_proxy_matching(no_proxy: str, host: str, port: int, exempt: bool) -> None:
    assert NoProxy.parse(no_proxy).matches(host, port) is exempt


def test_environment_lower_case_wins_and_all_proxy_fills_in() -> None:
    choice = ProxyChoice.from_environ(
        {"http_proxy": "http://lower:1", "HTTP_PROXY": "http://upper:2", "ALL_PROXY": "every:3"}
    )
    assert choice.proxy_for("http", "example.com", 80) == Proxy("lower", 1)
    assert choice.proxy_for("https", "example.com", 443) == Proxy("every", 3)


def test_environment_per_scheme() -> None:
    choice = ProxyChoice.from_environ({"HTTPS_PROXY": "http://secure:1"})
    assert choice.proxy_for("http", "example.com", 80) is None
    assert choice.proxy_for("https", "example.com", 443) == Proxy("secure", 1)


def test_environment_loopback_is_proxied_unless_listed() -> None:
    """As httpx: 127.0.0.1 and localhost go through the proxy unless NO_PROXY says not."""
    choice = ProxyChoice.from_environ({"HTTP_PROXY": "http://p:1"})
    assert choice.proxy_for("http", "127.0.0.1", 80) == Proxy("p", 1)
    assert choice.proxy_for("http", "localhost", 80) == Proxy("p", 1)
    listed = ProxyChoice.from_environ({"HTTP_PROXY": "http://p:1", "no_proxy": "localhost"})
    assert listed.proxy_for("http", "localhost", 80) is None


def test_environment_empty_values_are_unset() -> None:
    assert not ProxyChoice.from_environ({"HTTP_PROXY": " ", "https_proxy": ""})


def test_environment_ignores_upper_case_http_proxy_under_cgi() -> None:
    """httpoxy: in a CGI process HTTP_PROXY may come from a request's Proxy header."""
    cgi = {"REQUEST_METHOD": "GET", "HTTP_PROXY": "http://attacker:1"}
    assert ProxyChoice.from_environ(cgi).proxy_for("http", "example.com", 80) is None
    cgi["http_proxy"] = "http://mine:2"
    assert ProxyChoice.from_environ(cgi).proxy_for("http", "example.com", 80) == Proxy("mine", 2)


@pytest.mark.parametrize("url", ["http://:3128", "http://p:1/path", "http://p:0"])
def test_environment_with_a_broken_http_proxy_is_an_error(url: str) -> None:
    """An http:// proxy URL was meant for us: going direct instead would bypass it
    unannounced, so a broken one is an error naming the variable."""
    with pytest.raises(ValueError, match="HTTPS_PROXY from the environment"):
        ProxyChoice.from_environ({"HTTPS_PROXY": url})


def test_environment_proxy_we_cannot_speak_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ALL_PROXY=socks5://... is for the machine's other programs (curl speaks socks):
    left out, as if unset, with a warning naming it (password hidden), so that making a
    client does not fail; a scheme-specific variable then falls back to ALL_PROXY."""
    caplog.set_level(logging.WARNING, logger="trio_sse")
    assert not ProxyChoice.from_environ({"ALL_PROXY": "socks5://alice:secret@p:1080"})
    (record,) = caplog.records
    message = record.getMessage()
    assert "ignoring ALL_PROXY from the environment" in message
    assert "socks5" in message
    assert "secret" not in message
    caplog.clear()
    choice = ProxyChoice.from_environ({"https_proxy": "https://p:443", "all_proxy": "every:3"})
    assert choice.proxy_for("https", "example.com", 443) == Proxy("every", 3)
    assert choice.proxy_for("http", "example.com", 80) == Proxy("every", 3)
    assert ["HTTPS_PROXY" in r.getMessage() for r in caplog.records] == [True]


def test_tunnel_handshake_bytes() -> None:
    handshake = TunnelHandshake(Proxy("p", 1, "u", "pw"), "::1", 8443)
    request = handshake.request_bytes()
    assert request.startswith(b"CONNECT [::1]:8443 HTTP/1.1\r\n")
    assert b"Host: [::1]:8443\r\n" in request
    assert b"Proxy-Authorization: Basic " + base64.b64encode(b"u:pw") in request
    assert not handshake.established()
    handshake.feed(b"HTTP/1.1 200 Connection established\r\n")
    assert not handshake.established()
    handshake.feed(b"\r\n")
    assert handshake.established()
    assert handshake.trailing == b""


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n", 407),
        (b"HTTP/1.1 502 Bad Gateway\r\n\r\n", 502),
        (b"", None),  # closed without answering
        (b"garbage\r\n\r\n", None),
    ],
)
def test_tunnel_handshake_refusals(answer: bytes, status: int | None) -> None:
    handshake = TunnelHandshake(Proxy("p", 1), "origin.test", 443)
    handshake.feed(answer)
    if not answer:
        handshake.feed(b"")
    with pytest.raises(SSEProxyError, match=r"proxy http://p:1 .*CONNECT origin\.test:443") as info:
        handshake.established()
    assert info.value.status_code == status


def refusal_reason(status: int, *proxy_status: str) -> str:
    """What the SSEResponseError for this refusal will say."""
    headers = Headers([("Proxy-Status", value) for value in proxy_status])
    decision = judge_response(GET, response(status, headers, reason="Bad Gateway"))
    assert isinstance(decision, (RetryLater, Reject))
    return decision.reason


@pytest.mark.parametrize(
    ("proxy_status", "proxy"),
    [
        (["corp; error=dns_timeout"], "'corp' answered 502 Bad Gateway itself"),
        (['"edge, eu;1"; next-hop=x; error=connection_refused'], "'edge, eu;1' answered"),
        (["origin-gw, corp; error=destination_unavailable"], "'corp' answered"),
        (["origin-gw", "corp; error=connection_timeout"], "'corp' answered"),  # two fields
        (["corp; error=http_protocol_error; received-status=200"], "'corp' answered"),
    ],
)
def test_a_proxy_that_says_it_answered_itself_is_named(proxy_status: list[str], proxy: str) -> None:
    """RFC 9209: the Proxy-Status member nearest us (the last) with an ``error`` made the
    answer itself; the refusal names that proxy, not the server."""
    reason = refusal_reason(502, *proxy_status)
    assert reason.startswith(f"proxy {proxy}")
    assert "(Proxy-Status error=" in reason
    assert reason.endswith("not the server")


@pytest.mark.parametrize(
    "proxy_status",
    [
        [],  # a proxy that says nothing: its 502 cannot be told from the server's
        ["corp"],
        ["corp; received-status=502"],
        ["origin-gw; error=connection_refused, corp; received-status=502"],  # relayed
        ["corp; error=http_response_incomplete; received-status=502"],  # the server's 502
        ["corp; error"],  # a boolean, not an error type
        ['corp; details="error=fake"'],
    ],
)
def test_a_proxy_that_does_not_say_so_leaves_the_server_answering(proxy_status: list[str]) -> None:
    """Conservative: only the nearest proxy's own word makes it the one that answered."""
    assert refusal_reason(502, *proxy_status) == "server answered 502 Bad Gateway"


def test_proxy_status_names_the_proxy_in_rejections_too() -> None:
    """A refusal that is not retried (403 from a proxy's policy) says who refused; a
    redirect or a 200 is never attributed to a proxy."""
    headers = Headers([("Proxy-Status", "corp; error=http_request_denied")])
    decision = judge_response(GET, response(403, headers, reason="Forbidden"))
    assert decision == Reject(
        "proxy 'corp' answered 403 Forbidden itself (Proxy-Status error=http_request_denied), "
        "not the server"
    )
    decision = judge_response(GET, response(200, headers))
    assert isinstance(decision, Reject)
    assert decision.reason.startswith("server answered 200 OK without a Content-Type")
    decision = judge_response(GET, response(206, headers, reason="Partial Content"))
    assert decision == Reject(
        "server answered 206 Partial Content, expected 200 with text/event-stream"
    )


# --------------------------------------------------------------------------- on loopback


async def test_http_through_the_proxy_in_absolute_form(server: SSETestServer) -> None:
    server.script(ScriptedResponse.events(ServerSentEvent(data="relayed", id="1")))
    async with open_proxy_server() as proxy:
        client = SSEClient(proxy=proxy.url)
        assert isinstance(client.transport, ProxyTransport)
        url = server.url_for("/events?x=1")
        async with client.sse(url) as session:
            assert [ev.data async for ev in session] == ["relayed"]
            assert session.response.url == url
    (seen,) = proxy.requests
    assert (seen.method, seen.target) == ("GET", url)
    assert seen.header("host") == f"127.0.0.1:{server.port}"
    (request,) = server.requests
    assert request.target == "/events?x=1"


async def test_proxy_credentials_go_to_the_proxy(server: SSETestServer) -> None:
    server.script(ScriptedResponse.events(ServerSentEvent(data="ok")))
    async with open_proxy_server(credentials=("alice", "p@ss")) as proxy:
        client = SSEClient(proxy=proxy.url_with("alice", "p%40ss"))
        async with client.sse(server.url) as session:
            assert [ev.data async for ev in session] == ["ok"]
    token = base64.b64encode(b"alice:p@ss").decode()
    assert proxy.requests[0].header("proxy-authorization") == f"Basic {token}"
    assert server.requests[0].header("proxy-authorization") is None


async def test_https_through_a_connect_tunnel(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    """CONNECT, then TLS to the origin: the proxy sees the CONNECT (with its
    credentials) and nothing of the request; the origin sees no proxy credentials."""
    async with (
        open_sse_test_server(ssl_context=server_ssl_context) as origin,
        open_proxy_server(credentials=("bob", "pw")) as proxy,
    ):
        origin.script(ScriptedResponse.events(ServerSentEvent(data="through the tunnel")))
        client = SSEClient(proxy=proxy.url_with("bob", "pw"), ssl_context=client_ssl_context)
        url = f"https://localhost:{origin.port}/secret"
        async with client.sse(url, headers={"Authorization": "Bearer origin-only"}) as session:
            assert [ev.data async for ev in session] == ["through the tunnel"]
    (seen,) = proxy.requests
    assert (seen.method, seen.target) == ("CONNECT", f"localhost:{origin.port}")
    assert seen.header("proxy-authorization") is not None
    assert seen.header("authorization") is None
    (request,) = origin.requests
    assert request.header("authorization") == "Bearer origin-only"
    assert request.header("proxy-authorization") is None
    assert request.target == "/secret"


async def test_the_tunnel_checks_the_origins_certificate(
    tls_ca: trustme.CA, client_ssl_context: ssl.SSLContext
) -> None:
    """TLS inside the tunnel is to the origin's name: a certificate for another
    name is rejected (not retried) although the proxy itself is fine."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("elsewhere.test").configure_cert(server_context)
    async with (
        open_sse_test_server(ssl_context=server_context) as origin,
        open_proxy_server() as proxy,
    ):
        client = SSEClient(
            proxy=proxy.url, ssl_context=client_ssl_context, max_reconnection_attempts=3
        )
        with pytest.raises(SSEConnectionError, match="certificate of localhost") as info:
            async with client.sse(f"https://localhost:{origin.port}/"):
                pytest.fail("the session must not open")  # pragma: no cover
        assert origin.requests == []
        assert len(proxy.requests) == 1
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_proxy_407_is_a_proxy_error_not_retried(
    server: SSETestServer, client_ssl_context: ssl.SSLContext, scheme: str
) -> None:
    async with open_proxy_server(credentials=("alice", "right")) as proxy:
        client = SSEClient(
            proxy=proxy.url_with("alice", "wrong"),
            ssl_context=client_ssl_context,
            max_reconnection_attempts=3,
            reconnection_time=0,
        )
        url = f"{scheme}://127.0.0.1:{server.port}/"
        with pytest.raises(SSEProxyError, match=r"proxy http://127\.0\.0\.1") as info:
            async with client.sse(url):
                pytest.fail("the session must not open")  # pragma: no cover
        assert len(proxy.requests) == 1
    assert info.value.status_code == 407
    assert "407" in str(info.value)
    assert "wrong" not in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize(("status", "requests"), [(500, 3), (502, 3), (503, 3), (504, 3), (501, 1)])
async def test_a_proxy_refusing_connect(
    client_ssl_context: ssl.SSLContext, status: int, requests: int
) -> None:
    """A 500, 502, 503 or 504 on CONNECT is retried like any connection failure, and is
    the cause of the SSEConnectionError once attempts are used up; a proxy that does not
    implement CONNECT (501) will not next time either: raised at once."""
    async with open_proxy_server(connect_status=status) as proxy:
        client = SSEClient(
            proxy=proxy.url,
            ssl_context=client_ssl_context,
            max_reconnection_attempts=2,
            reconnection_time=0,
        )
        with pytest.raises(SSEConnectionError) as info:
            async with client.sse("https://origin.test/"):
                pytest.fail("the session must not open")  # pragma: no cover
        assert len(proxy.requests) == requests
    error = info.value.__cause__ if requests > 1 else info.value
    assert isinstance(error, SSEProxyError)
    assert error.status_code == status
    assert f"refused the tunnel: {status}" in str(error)


@pytest.mark.parametrize(
    ("proxy_status", "who"), [("corp-proxy", "proxy 'corp-proxy'"), (None, "server")]
)
async def test_a_forwarding_proxys_own_502_is_reported_as_the_proxys(
    proxy_status: str | None, who: str
) -> None:
    """http:// through a proxy that cannot reach the origin: its 502 says in Proxy-Status
    that it answered itself, so the SSEResponseError names the proxy. Without that
    header nothing tells it from the server's 502 (README, proxies: a limitation)."""
    async with open_proxy_server(proxy_status=proxy_status) as proxy:
        client = SSEClient(proxy=proxy.url)
        with pytest.raises(SSEResponseError) as info:
            async with client.sse(f"http://127.0.0.1:{closed_port()}/events"):
                pytest.fail("the session must not open")  # pragma: no cover
    assert info.value.response is not None
    assert info.value.response.status_code == 502
    assert str(info.value).startswith(f"{who} answered 502 Bad Gateway")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_unreachable_proxy_is_retried_and_named() -> None:
    client = SSEClient(
        proxy=f"http://127.0.0.1:{closed_port()}", max_reconnection_attempts=1, reconnection_time=0
    )
    with pytest.raises(SSEConnectionError) as info:
        async with client.sse("http://origin.test/"):
            pytest.fail("the session must not open")  # pragma: no cover
    assert info.value.attempts == 1
    cause = info.value.__cause__
    assert isinstance(cause, SSEProxyError)
    assert "cannot connect to the proxy http://127.0.0.1:" in str(cause)
    assert isinstance(cause.__cause__, OSError)


# --------------------------------------------------------------------------- trust_env


async def read_one(client: SSEClient, server: SSETestServer) -> None:
    server.script(ScriptedResponse.events(ServerSentEvent(data="x")))
    async with client.sse(server.url) as session:
        assert [ev.data async for ev in session] == ["x"]


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
async def test_trust_env_uses_the_proxy_variables(
    server: SSETestServer, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    async with open_proxy_server() as proxy:
        monkeypatch.setenv(variable, proxy.url)
        await read_one(SSEClient(), server)
        assert [r.target for r in proxy.requests] == [server.url]


async def test_trust_env_false_ignores_them(
    server: SSETestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_proxy_server() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        client = SSEClient(trust_env=False)
        assert isinstance(client.transport, TCPTransport)
        await read_one(client, server)
        assert proxy.requests == []


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "NO_PROXY=127.0.0.0/8", "*"])
async def test_no_proxy_goes_direct(
    server: SSETestServer, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    async with open_proxy_server() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("no_proxy", no_proxy.removeprefix("NO_PROXY="))
        await read_one(SSEClient(), server)
        assert proxy.requests == []
        assert len(server.requests) == 1


async def test_the_environment_is_read_when_the_client_is_made(
    server: SSETestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_proxy_server() as proxy:
        before = SSEClient()
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        await read_one(before, server)
        assert proxy.requests == []


async def test_an_explicit_proxy_wins_over_the_environment(
    server: SSETestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_proxy_server() as chosen:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
        monkeypatch.setenv("NO_PROXY", "*")  # not consulted for an explicit proxy
        await read_one(SSEClient(proxy=chosen.url), server)
        assert len(chosen.requests) == 1


def test_proxy_arguments_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="only http://"):
        SSEClient(proxy="socks5://p:1080")
    with pytest.raises(TypeError):
        SSEClient(proxy=3128)  # type: ignore[arg-type]  # deliberately not a str
    with pytest.raises(ValueError, match="uds"):
        SSEClient(proxy="http://p:1", uds="/tmp/s")
    with pytest.raises(ValueError, match="transport"):
        SSEClient(proxy="http://p:1", transport=TCPTransport())
    with pytest.raises(TypeError, match="trust_env"):
        SSEClient(trust_env="yes")  # type: ignore[arg-type]  # deliberately not a bool
    monkeypatch.setenv("HTTPS_PROXY", "http://p:1/path")
    with pytest.raises(ValueError, match="HTTPS_PROXY"):
        SSEClient()
    assert isinstance(SSEClient(trust_env=False).transport, TCPTransport)


async def test_a_socks_proxy_in_the_environment_does_not_stop_the_client(
    server: SSETestServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ALL_PROXY=socks5://... made SSEClient() raise: now the client is made, the stream
    is read directly and a warning says why; proxy="socks5://..." given to the client
    itself is still refused at the call."""
    caplog.set_level(logging.WARNING, logger="trio_sse")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    client = SSEClient()
    assert isinstance(client.transport, TCPTransport)
    await read_one(client, server)
    assert any("ignoring ALL_PROXY" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="unsupported proxy scheme 'socks5'"):
        SSEClient(proxy="socks5://127.0.0.1:1080")


def test_an_ignored_proxy_variable_is_warned_about_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The environment is the same for every client: the warning comes with the first
    SSEClient(), not with each; another value (or variable) is news, warned about once."""
    caplog.set_level(logging.WARNING, logger="trio_sse")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    SSEClient()
    SSEClient()
    assert ["ignoring ALL_PROXY" in r.getMessage() for r in caplog.records] == [True]
    caplog.clear()
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1081")
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    SSEClient()
    SSEClient()
    messages = sorted(r.getMessage().split(" from ")[0] for r in caplog.records)
    assert messages == ["trio-sse: ignoring ALL_PROXY", "trio-sse: ignoring HTTPS_PROXY"]


def test_the_proxy_warnings_remembered_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    """Values that keep changing do not grow the memory of warnings without end: past
    its bound the oldest is forgotten, and warned about again if it comes back."""
    from trio_sse import _proxy

    caplog.set_level(logging.WARNING, logger="trio_sse")
    values = [f"socks5://p:{port}" for port in range(1, _proxy._WARNED_ENV_SIZE + 2)]
    for value in values:
        ProxyChoice.from_environ({"ALL_PROXY": value})
    assert len(_proxy._warned_env) == _proxy._WARNED_ENV_SIZE
    assert len(caplog.records) == len(values)
    ProxyChoice.from_environ({"ALL_PROXY": values[-1]})
    assert len(caplog.records) == len(values)
    ProxyChoice.from_environ({"ALL_PROXY": values[0]})
    assert len(caplog.records) == len(values) + 1


def test_the_proxy_password_stays_out_of_reprs() -> None:
    client = SSEClient(proxy="http://alice:hunter2@proxy.test:3128")
    assert "hunter2" not in repr(client)
    assert "hunter2" not in repr(client.transport)


def test_proxy_server_helper_urls() -> None:
    assert ProxyServer(port=1).url_with("a", "b") == "http://a:b@127.0.0.1:1"


def test_the_machines_proxy_variables_are_cleared_for_every_test() -> None:
    """conftest's autouse fixture: a proxy set on the CI machine reroutes nothing here."""
    from tests.conftest import PROXY_VARIABLES

    for name in PROXY_VARIABLES:
        assert name not in os.environ
        assert name.lower() not in os.environ
    assert isinstance(SSEClient().transport, TCPTransport)


async def test_reconnects_go_through_the_proxy_again(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    """A lost stream behind a proxy: the reconnect opens a new tunnel, resumes from the
    last event ID, and the proxy's credentials go with every CONNECT."""
    async with (
        open_sse_test_server(ssl_context=server_ssl_context) as origin,
        open_proxy_server(credentials=("bob", "pw")) as proxy,
    ):
        origin.script(
            ScriptedResponse.events(ServerSentEvent(data="1", id="a"), end="truncate"),
            ScriptedResponse.events(ServerSentEvent(data="2", id="b")),
            ScriptedResponse(status=204, headers=(), framing="close"),
        )
        client = SSEClient(
            proxy=proxy.url_with("bob", "pw"),
            ssl_context=client_ssl_context,
            max_reconnection_attempts=2,
            reconnection_time=0,
        )
        async with client.sse(f"https://localhost:{origin.port}/") as session:
            assert [ev.data async for ev in session] == ["1", "2"]
    assert [r.method for r in proxy.requests] == ["CONNECT"] * 3
    assert all(r.header("proxy-authorization") for r in proxy.requests)
    assert [r.header("last-event-id") for r in origin.requests] == [None, "a", "b"]
