"""Hard limits against hostile and broken servers (issue 8): reconnect storms, huge
``retry:`` values, memory held by caches and buffers, the scheduler, BaseExceptions.

Each test names the bound it holds and fails if the line keeping it is removed.
Timing runs on ``autojump_clock``; servers are trio_sse.testing's scripted server on
real loopback sockets, counting the connections a session makes.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio
import trio.testing

from trio_sse import SSEClient, SSEConnectionError, SSEResponseError
from trio_sse._reconnect import MAX_RETRY_AFTER, MIN_RECONNECTION_DELAY
from trio_sse.testing import RecordedRequest, ScriptedResponse, SSETestServer

STORM_LIMIT = 50  # a test server answers 404 after this many requests: old code stops too


class CountingHandler:
    """Answers with ``response`` and records when each request came (mock-clock time);
    after STORM_LIMIT requests it answers 404, so a client without the bound still ends."""

    def __init__(self, response: ScriptedResponse, first: ScriptedResponse | None = None) -> None:
        self.response = response
        self.first = first
        self.times: list[float] = []

    def __call__(self, request: RecordedRequest) -> ScriptedResponse:
        self.times.append(trio.current_time())
        if len(self.times) > STORM_LIMIT:
            return ScriptedResponse(status=404, headers=[("Content-Type", "text/plain")])
        if self.first is not None and len(self.times) == 1:
            return self.first
        return self.response

    def gaps(self) -> list[float]:
        return [b - a for a, b in itertools.pairwise(self.times)]


def make_client(**options: Any) -> SSEClient:
    options.setdefault("connect_timeout", None)
    return SSEClient(**options)


async def drain(client: SSEClient, url: str) -> list[str | None]:
    """Every event's data until the session ends (or raises)."""
    got: list[str | None] = []
    async with client.sse(url) as session:
        async for event in session:
            got.append(event.data)
    return got


# -- reconnect storms (#3) -----------------------------------------------------------


async def test_empty_streams_with_retry_zero_are_bounded_by_the_attempts(
    autojump_clock: trio.testing.MockClock, server: SSETestServer
) -> None:
    """200 + ``retry: 0`` + a clean end on every request: each stream opens but delivers
    nothing, so each is a failed attempt, and max_reconnection_attempts ends it."""
    handler = CountingHandler(ScriptedResponse.events("retry: 0\n\n"))
    server.handler = handler
    client = make_client(reconnection_time=3.0, max_reconnection_attempts=2)
    with pytest.raises(SSEConnectionError, match="without an event") as info:
        await drain(client, server.url)
    assert info.value.attempts == 2
    assert len(handler.times) == 3  # the first request and two reconnection attempts
    assert handler.gaps() == pytest.approx([0.0, MIN_RECONNECTION_DELAY])


async def test_a_stream_that_delivers_an_event_ends_the_outage(
    autojump_clock: trio.testing.MockClock, server: SSETestServer
) -> None:
    handler = CountingHandler(ScriptedResponse.events("retry: 0\ndata: x\n\n"))
    server.handler = handler
    client = make_client(reconnection_time=3.0, max_reconnection_attempts=1)
    with pytest.raises(SSEResponseError):  # the 404 after STORM_LIMIT requests
        await drain(client, server.url)
    assert len(handler.times) == STORM_LIMIT + 1  # every stream delivered: no outage


async def test_retry_zero_then_resets_cannot_storm(
    autojump_clock: trio.testing.MockClock, server: SSETestServer
) -> None:
    """A server says ``retry: 0`` once, then resets every connection: after the first
    immediate reconnect, every attempt waits at least MIN_RECONNECTION_DELAY."""
    handler = CountingHandler(
        ScriptedResponse(body=(b"",), end="reset"),
        first=ScriptedResponse.events("retry: 0\ndata: hello\n\n"),
    )
    server.handler = handler
    client = make_client(reconnection_time=3.0, max_reconnection_attempts=None)
    with trio.move_on_after(10.0):
        await drain(client, server.url)
    gaps = handler.gaps()
    assert gaps[0] == pytest.approx(0.0)
    assert all(gap >= MIN_RECONNECTION_DELAY - 1e-9 for gap in gaps[1:])
    assert len(handler.times) <= 2 + 10.0 / MIN_RECONNECTION_DELAY


async def test_a_huge_retry_is_clamped_to_max_retry_after(
    autojump_clock: trio.testing.MockClock, server: SSETestServer
) -> None:
    """``retry:`` with 30 digits must not put the session to sleep for ever."""
    handler = CountingHandler(
        ScriptedResponse.events("data: again\n\n"),
        first=ScriptedResponse.events("retry: " + "9" * 30 + "\ndata: first\n\n"),
    )
    server.handler = handler
    client = make_client(reconnection_time=3.0, max_reconnection_attempts=1)
    got: list[str | None] = []
    async with client.sse(server.url) as session:
        async for event in session:
            got.append(event.data)
            assert session.reconnection_time <= MAX_RETRY_AFTER
            if len(got) == 2:
                break
    assert got == ["first", "again"]
    assert handler.gaps() == pytest.approx([MAX_RETRY_AFTER])
