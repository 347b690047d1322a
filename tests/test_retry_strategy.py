"""retry_strategy(failure, delay) has the last word on every failure, with the built-in
policy's proposal in hand; backoff= takes any Backoff, ExponentialBackoff being one."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping

import pytest
import trio
import trio.testing

from trio_sse import (
    Backoff,
    ConnectionFailure,
    ExponentialBackoff,
    ServerSentEvent,
    SSEClient,
    SSEConnectionError,
    SSEError,
    SSEResponseError,
)
from trio_sse.testing import RecordedRequest, ScriptedResponse, SSETestServer

HANG = 3600


def status(code: int) -> ScriptedResponse:
    return ScriptedResponse(status=code, headers=(), framing="content-length")


STOP = ScriptedResponse(status=204, headers=(), framing="close")


def give_up_after_10_minutes(failure: ConnectionFailure, delay: float | None) -> float | None:
    return None if failure.unhealthy_for >= 600 else delay


async def test_give_up_after_10_minutes(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """Unlimited attempts, but a strategy that stops once the stream has been down for
    ten minutes: the failure that found it so is raised, with the 503 as cause."""
    server.default = status(503)
    client = SSEClient(
        reconnection_time=10.0,
        max_reconnection_attempts=None,
        retry_strategy=give_up_after_10_minutes,
    )
    with trio.fail_after(HANG), pytest.raises(SSEConnectionError) as info:
        async with client.sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert trio.current_time() == 600.0
    assert len(server.requests) == 61  # at 0, 10, ..., 600 seconds
    cause = info.value.__cause__
    assert isinstance(cause, SSEResponseError)
    assert cause.status_code == 503


async def test_a_strategys_wait_is_at_most_a_day(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """An answer of ``math.inf`` (or any huge wait) waits a day, like a server's
    Retry-After or ``retry:`` (README, Limits: clamped to 24 h), not forever."""
    server.default = status(503)
    client = SSEClient(
        retry_strategy=lambda failure, delay: math.inf if failure.attempt == 1 else None
    )
    with trio.fail_after(3 * 86400), pytest.raises(SSEResponseError):
        async with client.sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert len(server.requests) == 2  # the second 503 is the strategy's stop
    assert trio.current_time() == pytest.approx(86400.0)


class Tokens:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> Mapping[str, str]:
        self.calls += 1
        return {"Authorization": f"Bearer token-{self.calls}"}


def retry_401_once(failure: ConnectionFailure, delay: float | None) -> float | None:
    if failure.response is not None and failure.response.status_code == 401:
        return 0.0 if failure.attempt == 1 else None
    return delay


def only_the_fresh_token(fresh: str) -> Callable[[RecordedRequest], ScriptedResponse]:
    def handler(request: RecordedRequest) -> ScriptedResponse:
        if request.header("authorization") != fresh:
            return status(401)
        return ScriptedResponse.events(ServerSentEvent(data="welcome back"))

    return handler


async def test_retry_a_401_once_with_a_refreshed_token(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """A 401 is never retried by the built-in policy (and reconnection is off here):
    the strategy retries it at once, the headers function runs again, and the fresh
    token opens the stream."""
    server.handler = only_the_fresh_token("Bearer token-2")
    seen: list[tuple[bool, float | None]] = []

    def strategy(failure: ConnectionFailure, delay: float | None) -> float | None:
        seen.append((failure.retryable, delay))
        return retry_401_once(failure, delay)

    client = SSEClient(headers=Tokens(), retry_strategy=strategy)
    with trio.fail_after(HANG):
        async with client.sse(server.url) as session:
            assert [ev.data async for ev in session] == ["welcome back"]
    assert [r.header("authorization") for r in server.requests] == [
        "Bearer token-1",
        "Bearer token-2",
    ]
    assert seen == [(False, None)]  # the built-in would have stopped
    assert trio.current_time() == 0.0


async def test_a_second_401_is_raised(server: SSETestServer) -> None:
    server.handler = only_the_fresh_token("Bearer never")
    client = SSEClient(headers=Tokens(), retry_strategy=retry_401_once)
    with pytest.raises(SSEResponseError) as info:
        async with client.sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert info.value.status_code == 401
    assert len(server.requests) == 2


async def test_the_strategy_sets_the_delay(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    server.script(
        status(503), status(500), ScriptedResponse.events(ServerSentEvent(data="x")), STOP
    )
    proposals: list[float | None] = []

    def seven_seconds(failure: ConnectionFailure, delay: float | None) -> float:
        proposals.append(delay)
        return 7

    client = SSEClient(reconnection_time=1.0, max_reconnection_attempts=1)
    with trio.fail_after(HANG):
        async with client.sse(server.url, retry_strategy=seven_seconds) as session:
            assert trio.current_time() == 14.0  # opened after two waits of 7 s
            assert [ev.data async for ev in session] == ["x"]
    # The second: attempts used up, the strategy goes on; the third after a clean end.
    assert proposals == [1.0, None, 1.0]
    assert trio.current_time() == 21.0


async def test_stopping_a_retryable_failure_gives_up_like_the_policy(
    server: SSETestServer,
) -> None:
    server.default = status(503)

    def third_time_stop(failure: ConnectionFailure, delay: float | None) -> float | None:
        return None if failure.attempt == 3 else 0

    client = SSEClient(max_reconnection_attempts=None, retry_strategy=third_time_stop)
    with pytest.raises(SSEConnectionError, match="gave up") as info:
        async with client.sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert isinstance(info.value.__cause__, SSEResponseError)
    assert len(server.requests) == 3


async def test_stopping_after_a_clean_end_ends_cleanly(server: SSETestServer) -> None:
    server.script(ScriptedResponse.events(ServerSentEvent(data="only")), STOP)
    client = SSEClient(max_reconnection_attempts=5, retry_strategy=lambda failure, delay: None)
    async with client.sse(server.url) as session:
        assert [ev.data async for ev in session] == ["only"]
    assert session.error is None
    assert len(server.requests) == 1


@pytest.mark.parametrize("answer", ["soon", -1, True, math.nan, [1]])
async def test_a_bad_answer_is_an_sse_error(server: SSETestServer, answer: object) -> None:
    server.script(status(503))
    client = SSEClient(retry_strategy=lambda failure, delay: answer)  # type: ignore[arg-type,return-value]  # deliberately bad answer
    with pytest.raises(SSEError, match="retry_strategy callback returned"):
        async with client.sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover


async def test_a_raising_strategy_is_an_sse_error(server: SSETestServer) -> None:
    server.script(status(503))

    def broken(failure: ConnectionFailure, delay: float | None) -> float | None:
        raise ZeroDivisionError

    with pytest.raises(SSEError, match="retry_strategy callback raised") as info:
        async with SSEClient(retry_strategy=broken).sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert isinstance(info.value.__cause__, ZeroDivisionError)


async def test_a_failing_headers_function_is_never_retried(server: SSETestServer) -> None:
    calls = 0

    async def broken() -> dict[str, str]:
        nonlocal calls
        calls += 1
        raise OSError("the vault is down")

    client = SSEClient(headers=broken, retry_strategy=lambda failure, delay: 0)
    with pytest.raises(SSEError, match="headers function failed"):
        async with client.sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert calls == 1


class Linear:
    """Another delay schedule: n times the base, no jitter."""

    reset_after = 60.0

    def delay(self, n: int, base: float, rng: random.Random | None) -> float:
        return n * base


async def test_another_backoff_schedule_plugs_in(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    server.script(status(503), status(503), status(503), STOP)
    delays: list[float | None] = []
    client = SSEClient(
        reconnection_time=2.0,
        max_reconnection_attempts=5,
        backoff=Linear(),
        on_error=lambda failure, retry_in: delays.append(retry_in),
    )
    with trio.fail_after(HANG):
        async with client.sse(server.url) as session:
            assert [ev async for ev in session] == []
    assert delays == [2.0, 4.0, 6.0]
    assert isinstance(Linear(), Backoff)
    assert isinstance(ExponentialBackoff(), Backoff)


def test_exponential_backoff_is_one_schedule() -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    backoff = ExponentialBackoff(multiplier=3.0, maximum=50.0)
    assert [backoff.delay(n, 2.0, Top()) for n in (1, 2, 3, 4)] == [2.0, 6.0, 18.0, 50.0]
    assert backoff.delay(10**6, 2.0, Top()) == 50.0  # no overflow


def test_backoff_and_strategy_are_checked_at_the_call() -> None:
    with pytest.raises(TypeError, match="Backoff"):
        SSEClient(backoff=object())  # type: ignore[arg-type]  # deliberately wrong
    with pytest.raises(TypeError, match="retry_strategy must be a function"):
        SSEClient(retry_strategy=3)  # type: ignore[arg-type]  # deliberately wrong

    async def asynchronous(failure: ConnectionFailure, delay: float | None) -> float:
        raise AssertionError  # pragma: no cover

    with pytest.raises(TypeError, match="plain function"):
        SSEClient(retry_strategy=asynchronous)  # type: ignore[arg-type]  # deliberately async
