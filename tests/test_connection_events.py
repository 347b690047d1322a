"""on_open / on_error: the connection's life observed as it happens, without polling.

Both are plain functions run inside the reader task: on_open with each response that
opens a stream, on_error with each failure (a ConnectionFailure: the error, the response
if any, the attempt in this outage, how long the stream has been unhealthy) and the delay
before the next attempt, called before that delay is slept (None: the session ends).
"""

from __future__ import annotations

from typing import Literal

import pytest
import trio
import trio.testing

from trio_sse import (
    ConnectionFailure,
    ServerSentEvent,
    SSEClient,
    SSEConnectionError,
    SSEError,
    SSEResponse,
    SSEResponseError,
)
from trio_sse.testing import ScriptedResponse, SSETestServer

HANG = 600


def status(code: int, *headers: tuple[str, str]) -> ScriptedResponse:
    return ScriptedResponse(status=code, headers=headers, framing="content-length")


STOP = ScriptedResponse(status=204, headers=(), framing="close")


class Log:
    """Records each callback with the (virtual) time it ran at."""

    def __init__(self) -> None:
        self.opened: list[tuple[float, int, str]] = []
        self.failed: list[tuple[float, ConnectionFailure, float | None]] = []

    def on_open(self, response: SSEResponse) -> None:
        self.opened.append((trio.current_time(), response.status_code, response.url))

    def on_error(self, failure: ConnectionFailure, retry_in: float | None) -> None:
        self.failed.append((trio.current_time(), failure, retry_in))


async def test_the_life_of_a_session(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """A healthy stream lost, two refusals (one with Retry-After), a new stream, the end:
    each reported when it happens, with the outage's attempt count and age."""
    server.script(
        ScriptedResponse.events(ServerSentEvent(data="1", id="a")),
        status(503),
        status(429, ("Retry-After", "5")),
        ScriptedResponse.events(ServerSentEvent(data="2", id="b")),
        STOP,
    )
    log = Log()
    client = SSEClient(
        reconnection_time=1.0,
        max_reconnection_attempts=5,
        on_open=log.on_open,
        on_error=log.on_error,
    )
    with trio.fail_after(HANG):
        async with client.sse(server.url) as session:
            assert len(log.opened) == 1  # before the block runs
            assert [ev.data async for ev in session] == ["1", "2"]
    assert [(t, code) for t, code, _ in log.opened] == [(0.0, 200), (7.0, 200)]
    assert log.opened[0][2] == server.url
    summary = [
        (t, type(f.error).__name__, f.response and f.response.status_code, f.attempt,
         f.unhealthy_for, f.retry_after, retry_in)
        for t, f, retry_in in log.failed
    ]  # fmt: skip
    assert summary == [
        (0.0, "SSEConnectionError", None, 1, 0.0, None, 1.0),  # the stream ended
        (1.0, "SSEResponseError", 503, 2, 1.0, None, 1.0),
        (2.0, "SSEResponseError", 429, 3, 2.0, 5.0, 5.0),  # Retry-After is a floor
        (7.0, "SSEConnectionError", None, 1, 0.0, None, 1.0),  # healthy again, then ended
    ]
    assert "ended the stream" in str(log.failed[0][1].error)


async def test_the_last_failure_is_reported_without_a_retry(server: SSETestServer) -> None:
    """Reconnection off: the failure that ends the session, with retry_in None."""
    server.script(status(500))
    log = Log()
    with pytest.raises(SSEResponseError):
        async with SSEClient(on_error=log.on_error).sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    ((_, failure, retry_in),) = log.failed
    assert retry_in is None
    assert failure.response is not None
    assert failure.response.status_code == 500
    assert failure.attempt == 1


async def test_giving_up_and_refusals_are_reported(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """Attempts used up: every failure reported, the last with None; a refusal that
    is never retried (404) is reported with None too."""
    server.script(status(503), status(503), status(404))
    log = Log()
    client = SSEClient(reconnection_time=1.0, max_reconnection_attempts=1, on_error=log.on_error)
    with trio.fail_after(HANG), pytest.raises(SSEConnectionError):
        async with client.sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert [(f.attempt, retry_in) for _, f, retry_in in log.failed] == [(1, 1.0), (2, None)]
    log.failed.clear()
    with pytest.raises(SSEResponseError):
        async with client.sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    ((_, failure, retry_in),) = log.failed
    assert isinstance(failure.error, SSEResponseError)
    assert (failure.error.status_code, retry_in) == (404, None)


async def test_the_calls_callbacks_replace_the_clients(server: SSETestServer) -> None:
    server.script(ScriptedResponse.events(ServerSentEvent(data="x")))
    client_log, call_log = Log(), Log()
    client = SSEClient(on_open=client_log.on_open)
    async with client.sse(server.url, on_open=call_log.on_open) as session:
        assert [ev.data async for ev in session] == ["x"]
    assert client_log.opened == []
    assert len(call_log.opened) == 1


@pytest.mark.parametrize("which", ["on_open", "on_error"])
async def test_a_raising_callback_ends_the_session(
    server: SSETestServer, which: Literal["on_open", "on_error"]
) -> None:
    server.script(status(503), ScriptedResponse.events(ServerSentEvent(data="x")))
    calls = 0

    def broken(*args: object) -> None:
        nonlocal calls
        calls += 1
        raise KeyError("bug in the callback")

    client = SSEClient(
        max_reconnection_attempts=3,
        reconnection_time=0,
        on_open=broken if which == "on_open" else None,
        on_error=broken if which == "on_error" else None,
    )
    with pytest.raises(SSEError, match=f"the {which} callback raised") as info:
        async with client.sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert isinstance(info.value.__cause__, KeyError)
    assert calls == 1


def test_async_callbacks_are_refused_at_the_call() -> None:
    async def on_open(response: SSEResponse) -> None:
        raise AssertionError  # pragma: no cover

    with pytest.raises(TypeError, match="plain function"):
        SSEClient(on_open=on_open)
    with pytest.raises(TypeError, match="on_error must be a function"):
        SSEClient(on_error="log it")  # type: ignore[arg-type]  # deliberately not a function


async def test_a_callback_returning_an_awaitable_is_an_error(server: SSETestServer) -> None:
    """A lambda around an async function slips past the check at the call: the
    awaitable is closed (no 'never awaited' warning) and the session ends clearly."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="x")))

    async def later(response: SSEResponse) -> None:
        raise AssertionError  # pragma: no cover

    with pytest.raises(SSEError, match="returned an awaitable"):
        async with SSEClient(on_open=lambda r: later(r)).sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
