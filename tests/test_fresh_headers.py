"""headers= as an async function: awaited before every connection attempt (first,
reconnects, redirects), merged like a mapping, validated each time; its failures end
the session as SSEError with the cause, never retried blindly."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import trio

from trio_sse import ServerSentEvent, SSEClient, SSEError, open_sse_session
from trio_sse.testing import ScriptedResponse, SSETestServer, open_sse_test_server

STOP = ScriptedResponse(status=204, headers=(), framing="close")


class Tokens:
    """A token source that hands out a new bearer token on every call."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> Mapping[str, str]:
        await trio.lowlevel.checkpoint()  # a real one would ask an identity provider
        self.calls += 1
        return {"Authorization": f"Bearer token-{self.calls}"}


async def test_a_fresh_token_on_every_reconnect(server: SSETestServer) -> None:
    server.script(
        ScriptedResponse.events(ServerSentEvent(data="1", id="a")),
        ScriptedResponse.events(ServerSentEvent(data="2", id="b")),
        STOP,
    )
    tokens = Tokens()
    client = SSEClient(headers=tokens, max_reconnection_attempts=3, reconnection_time=0)
    async with client.sse(server.url) as session:
        assert [ev.data async for ev in session] == ["1", "2"]
    assert [r.header("authorization") for r in server.requests] == [
        "Bearer token-1",
        "Bearer token-2",
        "Bearer token-3",
    ]
    assert [r.header("last-event-id") for r in server.requests] == [None, "a", "b"]


async def test_redirects_ask_again(server: SSETestServer) -> None:
    server.script(
        ScriptedResponse(status=307, headers=[("Location", "/moved")], framing="close"),
        ScriptedResponse.events(ServerSentEvent(data="here")),
    )
    async with open_sse_session(server.url, headers=Tokens()) as session:
        assert [ev.data async for ev in session] == ["here"]
    assert [(r.target, r.header("authorization")) for r in server.requests] == [
        ("/", "Bearer token-1"),
        ("/moved", "Bearer token-2"),
    ]


async def test_no_credentials_for_another_origin(server: SSETestServer) -> None:
    """After a redirect to another origin the function's Authorization is dropped, as
    static credentials are; its other headers still go."""
    async with open_sse_test_server() as other:
        server.script(
            ScriptedResponse(status=307, headers=[("Location", other.url)], framing="close")
        )
        other.script(ScriptedResponse.events(ServerSentEvent(data="elsewhere")))

        async def headers() -> list[tuple[str, str]]:
            return [("Authorization", "Bearer secret"), ("X-Trace", "t1")]

        async with SSEClient().sse(server.url, headers=headers) as session:
            assert [ev.data async for ev in session] == ["elsewhere"]
        (request,) = other.requests
    assert request.header("authorization") is None
    assert request.header("x-trace") == "t1"
    assert server.requests[0].header("authorization") == "Bearer secret"


async def test_merged_like_a_mapping(server: SSETestServer) -> None:
    """The client's function over the defaults; the call's static headers win over it;
    a call's function replaces the client's static header of the same name."""
    server.script(
        ScriptedResponse.events(ServerSentEvent(data="x")),
        ScriptedResponse.events(ServerSentEvent(data="y")),
    )

    async def client_headers() -> dict[str, str]:
        return {"Authorization": "from-function", "X-A": "function", "Accept": "text/event-stream"}

    client = SSEClient(headers=client_headers)
    async with client.sse(server.url, headers={"x-a": "call"}) as session:
        assert [ev.data async for ev in session] == ["x"]

    async def call_headers() -> dict[str, str]:
        return {"X-B": "function"}

    static = SSEClient(headers={"X-B": "client", "X-C": "client"})
    async with static.sse(server.url, headers=call_headers) as session:
        assert [ev.data async for ev in session] == ["y"]
    first, second = server.requests
    assert first.header("authorization") == "from-function"
    assert first.header_values("x-a") == ["call"]
    assert first.header_values("accept") == ["text/event-stream"]
    assert (second.header_values("x-b"), second.header("x-c")) == (["function"], "client")


async def test_a_plain_function_works_too(server: SSETestServer) -> None:
    server.script(ScriptedResponse.events(ServerSentEvent(data="x")))
    async with SSEClient(headers=lambda: {"X-Sync": "yes"}).sse(server.url) as session:
        assert [ev.data async for ev in session] == ["x"]
    assert server.requests[0].header("x-sync") == "yes"


async def test_a_failing_function_ends_the_session_unretried(server: SSETestServer) -> None:
    calls = 0

    async def broken() -> dict[str, str]:
        nonlocal calls
        calls += 1
        raise LookupError("the vault is sealed")

    client = SSEClient(headers=broken, max_reconnection_attempts=5, reconnection_time=0)
    with pytest.raises(SSEError, match="headers function failed") as info:
        async with client.sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert isinstance(info.value.__cause__, LookupError)
    assert calls == 1
    assert server.requests == []


@pytest.mark.parametrize(
    ("answer", "cause"),
    [
        ({"X-Bad": "line\r\nbreak"}, ValueError),
        ({"bad name": "v"}, ValueError),
        (42, TypeError),
        ({"Content-Length": "5"}, ValueError),
    ],
)
async def test_unusable_answers_are_an_sse_error(
    server: SSETestServer, answer: object, cause: type[Exception]
) -> None:
    async def headers() -> object:
        return answer

    with pytest.raises(SSEError, match="unusable headers") as info:
        async with SSEClient().sse(server.url, headers=headers):  # type: ignore[arg-type]  # deliberately unusable
            pytest.fail("the session must not open")  # pragma: no cover
    assert isinstance(info.value.__cause__, cause)
    assert server.requests == []


async def test_a_failure_on_reconnect_comes_after_the_events(server: SSETestServer) -> None:
    """Checked on every attempt: the first stream's events arrive, then the error."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="before")))
    tokens = Tokens()

    async def expiring() -> Mapping[str, str]:
        if tokens.calls:
            raise PermissionError("refresh token expired")
        return await tokens()

    got: list[str | None] = []
    client = SSEClient(headers=expiring, max_reconnection_attempts=3, reconnection_time=0)

    async def consume() -> None:
        async with client.sse(server.url) as session:
            async for ev in session:
                got.append(ev.data)

    with pytest.raises(SSEError, match="refresh token expired"):
        await consume()
    assert got == ["before"]
    assert len(server.requests) == 1
