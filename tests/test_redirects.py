"""Redirect policy on real loopback (issue 8, item 8): ``follow_redirects`` on the client
and per call, and https -> http refused unless ``allow_insecure_redirects``; when allowed,
none of the caller's headers follow the downgrade. TLS servers use the trustme CA."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import pytest

from trio_sse import (
    ServerSentEvent,
    SSEClient,
    SSEResponseError,
    open_sse_session,
)
from trio_sse.testing import ScriptedResponse, SSETestServer, open_sse_test_server

ONE = ScriptedResponse.events(ServerSentEvent(data="ok"))
SECRETS = {"X-Api-Key": "k1", "Api-Key": "k2", "Authorization": "Bearer t", "Cookie": "s=1"}


def redirect(status: int, location: str) -> ScriptedResponse:
    return ScriptedResponse(
        status=status, headers=[("Location", location)], body=b"", framing="content-length"
    )


@asynccontextmanager
async def https_to_http(
    server_ssl_context: ssl.SSLContext, status: int = 307
) -> AsyncIterator[tuple[SSETestServer, SSETestServer]]:
    """An https server that redirects to a plain http server serving one event."""
    async with (
        open_sse_test_server(ssl_context=server_ssl_context) as secure,
        open_sse_test_server() as plain,
    ):
        secure.script(redirect(status, plain.url_for("/events")))
        plain.script(ONE)
        yield secure, plain


async def test_https_to_http_is_refused_by_default(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with https_to_http(server_ssl_context) as (secure, plain):
        client = SSEClient(ssl_context=client_ssl_context, headers=SECRETS)
        with pytest.raises(SSEResponseError, match="from https to http") as info:
            async with client.sse(secure.url, method="POST", json={"prompt": "secret"}):
                pytest.fail("the session must not open")  # pragma: no cover
        assert plain.requests == []  # nothing went out unencrypted
    assert info.value.response.status_code == 307
    assert info.value.response.url == secure.url
    assert "allow_insecure_redirects=True" in str(info.value)


class Downgrade(TypedDict, total=False):
    """The option set on the client or on the call, or left out (taking the default)."""

    allow_insecure_redirects: bool


@pytest.mark.parametrize("where", ["client", "call"])
async def test_an_allowed_downgrade_sends_none_of_the_callers_headers(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext, where: str
) -> None:
    async def fresh_headers() -> dict[str, str]:
        return {"X-Fresh-Token": "t2"}

    async with https_to_http(server_ssl_context, status=302) as (secure, plain):
        on_client: Downgrade = {"allow_insecure_redirects": True} if where == "client" else {}
        on_call: Downgrade = {"allow_insecure_redirects": True} if where == "call" else {}
        client = SSEClient(ssl_context=client_ssl_context, headers=fresh_headers, **on_client)
        async with client.sse(secure.url, headers=SECRETS, **on_call) as session:
            assert [ev.data async for ev in session] == ["ok"]
            assert session.response.url == plain.url_for("/events")
        (first,) = secure.requests
        (second,) = plain.requests
    assert first.header("x-api-key") == "k1"
    assert first.header("x-fresh-token") == "t2"
    for name in [*SECRETS, "X-Fresh-Token"]:
        assert second.header(name) is None, name
    assert second.header("accept") == "text/event-stream"


async def test_follow_redirects_off_on_the_client(server: SSETestServer) -> None:
    """A 3xx is then an SSEResponseError carrying that response; nothing else is asked."""
    server.script(redirect(307, "/elsewhere"), ONE)
    client = SSEClient(follow_redirects=False)
    with pytest.raises(SSEResponseError, match="follow_redirects is off") as info:
        async with client.sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert info.value.response.status_code == 307
    assert info.value.response.headers["location"] == "/elsewhere"
    assert len(server.requests) == 1


async def test_follow_redirects_per_call_overrides_the_client(server: SSETestServer) -> None:
    server.script(redirect(302, "/elsewhere"), ONE, redirect(302, "/elsewhere"))
    async with SSEClient(follow_redirects=False).sse(server.url, follow_redirects=True) as s:
        assert [ev.data async for ev in s] == ["ok"]
    with pytest.raises(SSEResponseError, match="follow_redirects is off"):
        async with open_sse_session(server.url, follow_redirects=False):
            pytest.fail("the session must not open")  # pragma: no cover
    assert [r.target for r in server.requests] == ["/", "/elsewhere", "/"]


async def test_https_to_https_across_origins_is_followed(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    """Not a downgrade: followed by default; only the origin-bound credentials stay."""
    async with (
        open_sse_test_server(ssl_context=server_ssl_context) as first,
        open_sse_test_server(ssl_context=server_ssl_context, host="localhost") as second,
    ):
        first.script(redirect(308, second.url_for("/events")))
        second.script(ONE)
        client = SSEClient(ssl_context=client_ssl_context)
        async with client.sse(first.url, headers=SECRETS) as session:
            assert [ev.data async for ev in session] == ["ok"]
        (there,) = second.requests
    assert there.header("authorization") is None
    assert there.header("cookie") is None
    assert there.header("x-api-key") == "k1"


@pytest.mark.parametrize("value", [1, None, "yes"])
def test_redirect_options_must_be_bools(value: object) -> None:
    # Not bools on purpose: the runtime checks are under test.
    with pytest.raises(TypeError, match="follow_redirects"):
        SSEClient(follow_redirects=value)  # type: ignore[arg-type]  # not a bool on purpose
    with pytest.raises(TypeError, match="allow_insecure_redirects"):
        SSEClient().sse("http://127.0.0.1:9/", allow_insecure_redirects=value)  # type: ignore[call-overload]  # not a bool on purpose
