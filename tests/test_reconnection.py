"""Reconnection and fault tolerance, one section per bullet of the behaviour it promises.

The server is the fault-injecting harness (tests/harness), driven over its control
channel, or trio_sse.testing's scripted server where a test needs its own handler.
Timing runs on pytest-trio's ``autojump_clock``: the harness records
``trio.current_time()`` for every request, so the gaps between requests are the delays
the session chose, exactly. Clients are made with ``connect_timeout=None`` unless a
test is about it, so that no deadline but the measured ones exists.
"""

from __future__ import annotations

import datetime
import email.utils
import functools
import itertools
import json
import logging
import random
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

import trio_sse._session
from tests.harness import Harness, RequestInfo, generated_event, open_harness
from trio_sse import (
    ExponentialBackoff,
    ServerSentEvent,
    SessionState,
    SSEClient,
    SSEConnectionError,
    SSEProtocolError,
    SSEResponseError,
    SSESession,
    SSETimeoutError,
)
from trio_sse._reconnect import MIN_RECONNECTION_DELAY, ReconnectPolicy
from trio_sse.testing import (
    RecordedRequest,
    ScriptedResponse,
    SSETestServer,
    open_sse_test_server,
)

RETRYABLE = [408, 429, 500, 502, 503, 504]
NOW = 1_700_000_000.0  # a fixed wall clock for Retry-After dates


# -- helpers --------------------------------------------------------------------------


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with open_harness() as h:
        yield h


def make_client(**options: Any) -> SSEClient:
    options.setdefault("connect_timeout", None)
    return SSEClient(**options)


async def consume(
    url: str, client: SSEClient, **call: Any
) -> tuple[list[ServerSentEvent], SSESession[Any]]:
    got: list[ServerSentEvent] = []
    async with client.sse(url, **call) as session:
        async for event in session:
            got.append(event)
    return got, session


async def consume_expecting(
    error: type[BaseException], url: str, client: SSEClient, **call: Any
) -> tuple[list[ServerSentEvent], SSESession[Any] | None, Any]:
    """Like consume(), for a session whose iteration (or opening) raises ``error``;
    the session is None when opening raised."""
    got: list[ServerSentEvent] = []
    sessions: list[SSESession[Any]] = []

    async def run() -> None:
        async with client.sse(url, **call) as session:
            sessions.append(session)
            async for event in session:
                got.append(event)

    with pytest.raises(error) as info:
        await run()
    if sessions:
        assert sessions[0].error is info.value
    return got, sessions[0] if sessions else None, info.value


def ids(events: list[ServerSentEvent]) -> list[str | None]:
    return [event.id for event in events]


def numbers(*values: int) -> list[str]:
    return [str(n) for n in values]


def gaps(records: list[RequestInfo]) -> list[float]:
    return [b.time - a.time for a, b in itertools.pairwise(records)]


def approx(values: list[float]) -> Any:
    return pytest.approx(values, abs=1e-9)


async def status(harness: Harness, code: int, *headers: tuple[str, str]) -> None:
    await harness.fault("status", status=code, headers=[("Content-Type", "text/plain"), *headers])


async def no_content(harness: Harness) -> None:
    await harness.fault("status", status=204, headers=[])


class ReconnectLog(logging.Handler):
    """Keeps the session's "reconnecting" records; a test can wait for the n-th one.

    The session logs just before it sleeps, without a checkpoint in between, so a task
    woken by the n-th record runs while the session is in its reconnect wait.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.times: list[float] = []
        self._changed = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "trio_sse" and "reconnecting" in record.getMessage():
            self.records.append(record)
            self.times.append(trio.current_time())
            self._changed.set()
            self._changed = trio.Event()

    async def wait_for(self, count: int) -> None:
        while len(self.records) < count:
            await self._changed.wait()


@pytest.fixture
def reconnect_log() -> Iterator[ReconnectLog]:
    handler = ReconnectLog()
    logger = logging.getLogger("trio_sse")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def seed_backoff(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Sessions made from now on draw their backoff jitter from random.Random(seed)."""
    seeded = functools.partial(ReconnectPolicy, rng=random.Random(seed))
    monkeypatch.setattr(trio_sse._session, "ReconnectPolicy", seeded)


def full_jitter(
    seed: int, base: float, backoff: ExponentialBackoff, exponents: list[int]
) -> list[float]:
    """The delays full jitter gives for these exponents, computed independently."""
    rng = random.Random(seed)
    return [rng.uniform(0.0, min(backoff.maximum, base * backoff.multiplier**n)) for n in exponents]


# -- the reconnect loop ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error", "first_gap"),
    [
        ("close", None, 1.0),  # a clean EOF, mid-event
        ("drop", SSEConnectionError, 1.0),  # a truncated chunked body
        ("reset", SSEConnectionError, 1.0),  # TCP RST
        ("stall", SSETimeoutError, 5.0 + 1.0),  # silence: read_timeout, then the delay
    ],
)
async def test_the_iteration_goes_on_across_a_lost_connection(
    autojump_clock: trio.testing.MockClock,
    harness: Harness,
    kind: str,
    error: type[Exception] | None,
    first_gap: float,
) -> None:
    await harness.reset_state(events=6, finished=True)
    await harness.fault(kind, after_events=2, mid_event=True)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=1, read_timeout=5.0)
    got, session = await consume(harness.sse_url, client)

    assert got == [generated_event(n) for n in range(1, 7)]  # each once, in order, intact
    records = await harness.requests()
    assert [r.last_event_id for r in records] == [None, "2", "6"]
    assert [r.response for r in records] == ["stream", "stream", "no content"]
    assert gaps(records) == approx([first_gap, 1.0])
    # Each connection was closed before the next one opened.
    assert [r.connections_open for r in records] == [1, 1, 1]
    stats = session.statistics()
    assert (stats.connection_attempts, stats.streams_opened, stats.reconnects) == (3, 2, 2)
    if error is None:
        assert stats.last_error is None
    else:
        assert type(stats.last_error) is error


async def test_a_content_length_body_cut_short_is_a_lost_connection(
    autojump_clock: trio.testing.MockClock,
    server: SSETestServer,
) -> None:
    server.script(
        ScriptedResponse.events(
            ServerSentEvent(data="a", id="1"), framing="content-length", end="truncate"
        ),
        ScriptedResponse.events(ServerSentEvent(data="b", id="2"), framing="content-length"),
        ScriptedResponse(status=204, headers=(), framing="close"),
    )
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=1)
    got, session = await consume(server.url, client)
    assert [ev.data for ev in got] == ["a", "b"]
    assert [r.header("last-event-id") for r in server.requests] == [None, "1", "2"]
    assert isinstance(session.statistics().last_error, SSEConnectionError)


async def test_events_the_server_sends_again_are_not_dropped(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    """The session never de-duplicates: a server that ignores Last-Event-ID is heard."""
    await harness.reset_state(events=3, finished=True, resume=False)
    await harness.fault("drop", after_events=2)
    await harness.fault("none")
    await no_content(harness)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=1)
    got, _ = await consume(harness.sse_url, client)
    assert ids(got) == numbers(1, 2, 1, 2, 3)


# -- Last-Event-ID --------------------------------------------------------------------


async def test_last_event_id_is_sent_on_every_reconnect(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.reset_state(events=10, finished=True)
    await harness.fault("drop", after_events=2, mid_event=True)  # 1 2 + half of 3
    await harness.fault("reset", after_events=3)  # 3 4 5
    await harness.fault("close", after_events=1, mid_event=True)  # 6 + half of 7
    await harness.fault("drop", mid_event=True)  # half of 7: no progress, a failed attempt
    client = make_client(reconnection_time=0.5, max_reconnection_attempts=2)
    got, session = await consume(harness.sse_url, client)
    assert got == [generated_event(n) for n in range(1, 11)]
    records = await harness.requests()
    assert [r.last_event_id for r in records] == [None, "2", "5", "6", "6", "10"]
    assert session.last_event_id == "10"


@pytest.mark.parametrize(
    ("cut", "expected"),
    [
        (len(b"id: 2\n"), "1"),  # the id line of event 2 was read, its blank line was not
        (len(str(generated_event(2)).encode()) - 1, "1"),  # all of event 2 but the blank line
        (len(str(generated_event(2)).encode()), "2"),  # event 2 complete
    ],
)
async def test_the_id_counts_only_once_its_event_is_complete(
    autojump_clock: trio.testing.MockClock, harness: Harness, cut: int, expected: str
) -> None:
    assert str(generated_event(2)).startswith("id: 2\n")
    await harness.reset_state(events=3, finished=True)
    await harness.fault("drop", offset=len(str(generated_event(1)).encode()) + cut)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=1)
    got, _ = await consume(harness.sse_url, client)
    assert ids(got) == numbers(1, 2, 3)
    records = await harness.requests()
    assert records[1].last_event_id == expected


async def test_a_non_ascii_id_is_sent_as_utf8(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.emit(
        events=[ServerSentEvent(data="a", id="évènement-1 ✓"), ServerSentEvent(data="b", id="2")]
    )
    await harness.finish()
    await harness.fault("drop", after_events=1, mid_event=True)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=1)
    got, _ = await consume(harness.sse_url, client)
    assert [ev.data for ev in got] == ["a", "b"]
    _, second, _ = await harness.requests()
    assert second.last_event_id == "évènement-1 ✓"  # decoded by the harness as UTF-8
    assert second.header("last-event-id") == "évènement-1 ✓".encode().decode("latin-1")


async def test_an_empty_id_omits_the_header(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.emit(events=[ServerSentEvent(data="a", id="1"), ServerSentEvent(data="b", id="")])
    await harness.finish()
    await harness.fault("drop", after_events=2)
    await no_content(harness)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=1)
    got, _ = await consume(harness.sse_url, client)
    assert [ev.data for ev in got] == ["a", "b"]
    first, second = await harness.requests()
    assert first.header("last-event-id") is None
    assert second.header("last-event-id") is None


async def test_an_explicit_last_event_id_seeds_the_first_request(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.reset_state(events=10, finished=True)
    await harness.fault("drop", after_events=2)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=1)
    got, _ = await consume(harness.sse_url, client, last_event_id="4")
    assert ids(got) == numbers(5, 6, 7, 8, 9, 10)
    records = await harness.requests()
    assert [r.last_event_id for r in records] == ["4", "6", "10"]


async def test_the_seed_is_kept_until_the_stream_sets_an_id(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.emit(events=[ServerSentEvent(data="a"), ServerSentEvent(data="b")])
    await harness.finish()
    await harness.fault("drop", after_events=1)
    await no_content(harness)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=1)
    got, _ = await consume(harness.sse_url, client, last_event_id="before-the-restart")
    assert [(ev.data, ev.id) for ev in got] == [("a", "before-the-restart")]
    records = await harness.requests()
    assert [r.last_event_id for r in records] == ["before-the-restart"] * 2


# -- the delay ------------------------------------------------------------------------


async def test_the_default_delay_is_three_seconds(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.reset_state(events=3, finished=True)
    await harness.fault("drop", after_events=1)
    await harness.fault("reset", after_events=1)
    client = SSEClient(max_reconnection_attempts=1, connect_timeout=None)
    got, session = await consume(harness.sse_url, client)
    assert ids(got) == numbers(1, 2, 3)
    assert gaps(await harness.requests()) == approx([3.0, 3.0, 3.0])
    assert session.reconnection_time == 3.0


async def test_reconnection_time_sets_the_delay_and_a_call_overrides_it(
    autojump_clock: trio.testing.MockClock,
    harness: Harness,
) -> None:
    await harness.reset_state(events=2, finished=True)
    await harness.fault("drop", after_events=1)
    client = make_client(reconnection_time=10.0, max_reconnection_attempts=1)
    got, _ = await consume(harness.sse_url, client, reconnection_time=0.25)
    assert ids(got) == numbers(1, 2)
    assert gaps(await harness.requests()) == approx([0.25, 0.25])


async def test_the_servers_retry_replaces_the_delay_for_the_rest_of_the_session(
    autojump_clock: trio.testing.MockClock,
    harness: Harness,
) -> None:
    await harness.emit(
        events=[
            ServerSentEvent(data="1", id="1", retry=1500),
            ServerSentEvent(data="2", id="2"),
            ServerSentEvent(data="3", id="3", retry=250),
            ServerSentEvent(data="4", id="4"),
        ]
    )
    await harness.finish()
    for _ in range(3):
        await harness.fault("drop", after_events=1)
    client = make_client(reconnection_time=5.0, max_reconnection_attempts=1)
    got, session = await consume(harness.sse_url, client)
    assert [ev.data for ev in got] == ["1", "2", "3", "4"]
    # retry: 1500 holds on the connection after the one that sent it; 250 replaces it.
    assert gaps(await harness.requests()) == approx([1.5, 1.5, 0.25, 0.25])
    assert session.reconnection_time == 0.25


async def test_backoff_is_exponential_with_full_jitter_and_a_cap(
    autojump_clock: trio.testing.MockClock, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = 20240611
    seed_backoff(monkeypatch, seed)
    backoff = ExponentialBackoff(multiplier=2.0, maximum=5.0, reset_after=60.0)
    await harness.reset_state(events=1, finished=True)
    for _ in range(5):
        await status(harness, 503)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=5, backoff=backoff)
    got, _ = await consume(harness.sse_url, client)
    assert ids(got) == ["1"]
    # Five failures (ceilings 1, 2, 4, 5, 5), then a stream that ended at once: the
    # exponent goes on (ceiling 5), since that connection was not healthy for 60 s.
    expected = full_jitter(seed, 1.0, backoff, [0, 1, 2, 3, 4, 5])
    observed = gaps(await harness.requests())
    assert observed == approx(expected)
    ceilings = [1, 2, 4, 5, 5, 5]
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(observed, ceilings, strict=True))
    assert len(set(observed)) == len(observed)


@pytest.mark.parametrize(("healthy_for", "reset"), [(60.0, True), (59.0, False)])
async def test_backoff_resets_after_a_healthy_connection(
    autojump_clock: trio.testing.MockClock,
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    healthy_for: float,
    reset: bool,
) -> None:
    seed = 7
    seed_backoff(monkeypatch, seed)
    backoff = ExponentialBackoff(multiplier=2.0, maximum=30.0, reset_after=60.0)
    await harness.reset_state(events=1, finished=True)
    await status(harness, 503)
    await status(harness, 503)
    await harness.fault("stall", seconds=healthy_for)  # open, quiet, then event 1 and EOF
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=3, backoff=backoff)
    got, _ = await consume(harness.sse_url, client)
    assert ids(got) == ["1"]
    first, second, third = full_jitter(seed, 1.0, backoff, [0, 1, 0 if reset else 2])
    second = max(second, MIN_RECONNECTION_DELAY)  # a repeated attempt keeps the floor
    assert gaps(await harness.requests()) == approx([first, second, healthy_for + third])


@pytest.mark.parametrize("code", [429, 503])
async def test_retry_after_seconds_is_honoured(
    autojump_clock: trio.testing.MockClock, harness: Harness, code: int
) -> None:
    await harness.reset_state(events=1, finished=True)
    await status(harness, code, ("Retry-After", "7"))
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=1)
    got, _ = await consume(harness.sse_url, client)
    assert ids(got) == ["1"]
    records = await harness.requests()
    assert [r.status for r in records] == [code, 200, 204]
    assert gaps(records) == approx([7.0, 1.0])


HTTP_DATE_FORMATS: dict[str, Callable[[datetime.datetime], str]] = {  # RFC 9110 5.6.7
    "IMF-fixdate": lambda when: email.utils.format_datetime(when, usegmt=True),
    "rfc850-date": lambda when: when.strftime("%A, %d-%b-%y %H:%M:%S GMT"),
    "asctime-date": lambda when: f"{when:%a %b} {when.day:2d} {when:%H:%M:%S %Y}",
}


@pytest.mark.parametrize("date_format", list(HTTP_DATE_FORMATS))
async def test_retry_after_http_date_is_honoured(
    autojump_clock: trio.testing.MockClock,
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    date_format: str,
) -> None:
    monkeypatch.setattr(trio_sse._session, "time", SimpleNamespace(time=lambda: NOW))
    when = datetime.datetime.fromtimestamp(NOW + 30, datetime.timezone.utc)
    await harness.reset_state(events=1, finished=True)
    await status(harness, 503, ("Retry-After", HTTP_DATE_FORMATS[date_format](when)))
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=1)
    got, _ = await consume(harness.sse_url, client)
    assert ids(got) == ["1"]
    assert gaps(await harness.requests()) == approx([30.0, 1.0])


@pytest.mark.parametrize(
    ("retry_after", "delay"),
    [
        ("1", 5.0),  # a floor: never sooner than the session's own delay
        ("soon", 5.0),  # unparsable: ignored
        ("Wed, 21 Oct 2015 07:28:00 GMT", 5.0),  # in the past
    ],
)
async def test_retry_after_is_a_floor_and_bad_values_are_ignored(
    autojump_clock: trio.testing.MockClock, harness: Harness, retry_after: str, delay: float
) -> None:
    await harness.reset_state(events=1, finished=True)
    await status(harness, 429, ("Retry-After", retry_after))
    client = make_client(reconnection_time=5.0, max_reconnection_attempts=1)
    await consume(harness.sse_url, client)
    assert gaps(await harness.requests()) == approx([delay, 5.0])


# -- attempts -------------------------------------------------------------------------


async def test_reconnection_is_off_by_default(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.reset_state(events=3, finished=True)
    await harness.fault("close", after_events=1)
    got, session = await consume(harness.sse_url, SSEClient())
    assert ids(got) == ["1"]  # a clean end just ends the iteration
    assert session.statistics().reconnects == 0

    await harness.fault("drop", after_events=1)
    got, _, error = await consume_expecting(SSEConnectionError, harness.sse_url, SSEClient())
    assert ids(got) == ["1"]
    assert error.attempts == 0
    assert len(await harness.requests()) == 2


async def test_attempts_run_out_on_the_first_request(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.reset_state(events=1, finished=True)
    for _ in range(4):
        await status(harness, 503)
    client = make_client(reconnection_time=2.0, max_reconnection_attempts=3)
    with pytest.raises(SSEConnectionError) as info:
        async with client.sse(harness.sse_url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert not isinstance(info.value, SSETimeoutError)
    assert info.value.attempts == 3
    cause = info.value.__cause__
    assert isinstance(cause, SSEResponseError)
    assert cause.status_code == 503
    records = await harness.requests()
    assert [r.status for r in records] == [503] * 4
    assert gaps(records) == approx([2.0, 2.0, 2.0])


async def test_attempts_run_out_mid_session(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.reset_state(events=3, finished=True)
    await harness.fault("drop", after_events=1)
    for code in (500, 502, 504):
        await status(harness, code)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=3)
    got, _, error = await consume_expecting(SSEConnectionError, harness.sse_url, client)
    assert ids(got) == ["1"]
    assert error.attempts == 3
    assert isinstance(error.__cause__, SSEResponseError)
    assert error.__cause__.status_code == 504  # the last cause
    assert len(await harness.requests()) == 4


async def test_a_successful_reconnect_resets_the_count(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.reset_state(events=3, finished=True)
    for _ in range(2):
        await harness.fault("drop", after_events=1)
        await status(harness, 503)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=2)
    got, session = await consume(harness.sse_url, client)
    assert ids(got) == numbers(1, 2, 3)
    records = await harness.requests()
    assert [r.status for r in records] == [200, 503, 200, 503, 200, 204]
    assert session.statistics().reconnects == 5  # more than 2: the count is per outage


async def test_unlimited_attempts(autojump_clock: trio.testing.MockClock, harness: Harness) -> None:
    await harness.reset_state(events=1, finished=True)
    for _ in range(25):
        await status(harness, 503)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=None)
    got, _ = await consume(harness.sse_url, client)
    assert ids(got) == ["1"]
    assert len(await harness.requests()) == 27


@pytest.mark.parametrize("code", RETRYABLE)
async def test_the_first_request_is_retried_for_a_retryable_status(
    autojump_clock: trio.testing.MockClock, harness: Harness, code: int
) -> None:
    await harness.reset_state(events=1, finished=True)
    await status(harness, code)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=1)
    got, _ = await consume(harness.sse_url, client)
    assert ids(got) == ["1"]
    records = await harness.requests()
    assert [r.status for r in records] == [code, 200, 204]
    assert gaps(records) == approx([1.0, 1.0])


async def test_the_first_request_is_retried_after_a_network_error(
    autojump_clock: trio.testing.MockClock,
    reconnect_log: ReconnectLog,
) -> None:
    """Nothing listens at first (the connection is refused); then a server comes up."""
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))  # bound but not listening: connects are refused
        port = placeholder.getsockname()[1]
        got: list[ServerSentEvent] = []
        done = trio.Event()
        client = make_client(reconnection_time=2.0, max_reconnection_attempts=1)

        async def consume_in_background() -> None:
            events, _ = await consume(f"http://127.0.0.1:{port}/", client)
            got.extend(events)
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume_in_background)
            await reconnect_log.wait_for(1)
            assert "cannot connect" in reconnect_log.records[0].getMessage()
            placeholder.close()
            responses = [
                ScriptedResponse.events(ServerSentEvent(data="up", id="1")),
                ScriptedResponse(status=204, headers=(), framing="close"),
            ]
            async with open_sse_test_server(port=port, responses=responses) as server:
                await done.wait()
    assert [ev.data for ev in got] == ["up"]
    assert len(server.requests) == 2


async def test_network_errors_use_up_the_attempts(autojump_clock: trio.testing.MockClock) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{placeholder.getsockname()[1]}/"
        client = make_client(reconnection_time=2.0, max_reconnection_attempts=2)
        start = trio.current_time()
        with pytest.raises(SSEConnectionError) as info:
            async with client.sse(url):
                pytest.fail("the session must not open")  # pragma: no cover
    assert trio.current_time() - start == pytest.approx(4.0)
    assert info.value.attempts == 2
    assert not isinstance(info.value, SSETimeoutError)
    assert isinstance(info.value.__cause__, SSEConnectionError)
    assert isinstance(info.value.__cause__.__cause__, OSError)  # the refused connect


async def test_timeouts_use_up_the_attempts_as_a_timeout_error(
    autojump_clock: trio.testing.MockClock, server: SSETestServer
) -> None:
    async def never_answer(request: RecordedRequest) -> ScriptedResponse:
        await trio.sleep_forever()
        raise AssertionError  # pragma: no cover

    server.handler = never_answer
    client = SSEClient(reconnection_time=1.0, max_reconnection_attempts=2, connect_timeout=5.0)
    start = trio.current_time()
    with pytest.raises(SSETimeoutError) as info:
        async with client.sse(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert trio.current_time() - start == pytest.approx(5 + 1 + 5 + 1 + 5)
    assert info.value.attempts == 2
    assert isinstance(info.value.__cause__, SSETimeoutError)
    assert len(server.requests) == 3


async def test_a_read_timeout_without_reconnection_is_a_timeout_error(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.reset_state(events=2, finished=True)
    await harness.fault("stall", after_events=1)
    client = make_client(read_timeout=30.0)
    got, _, error = await consume_expecting(SSETimeoutError, harness.sse_url, client)
    assert ids(got) == ["1"]
    assert error.attempts == 0
    assert trio.current_time() == pytest.approx(30.0)


# -- never retried --------------------------------------------------------------------


async def test_204_ends_the_stream_cleanly_and_is_never_retried(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.reset_state(events=3, finished=True)
    await no_content(harness)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=5)
    got, session = await consume(harness.sse_url, client)
    assert got == []
    assert session.statistics().reconnects == 0
    assert len(await harness.requests()) == 1

    await harness.reset_state(events=3, finished=True)
    await harness.fault("drop", after_events=1)
    await no_content(harness)
    got, session = await consume(harness.sse_url, client)
    assert ids(got) == ["1"]
    assert session.error is None
    assert [r.status for r in await harness.requests()] == [200, 204]


@pytest.mark.parametrize("code", [400, 401, 403, 404, 410, 501])
async def test_a_non_retryable_status_is_never_retried(
    autojump_clock: trio.testing.MockClock, harness: Harness, code: int
) -> None:
    await harness.reset_state(events=3, finished=True)
    await status(harness, code)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=5)
    with pytest.raises(SSEResponseError) as info:
        async with client.sse(harness.sse_url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert info.value.status_code == code
    assert len(await harness.requests()) == 1

    # On a reconnect too: the iteration raises after the events before it.
    await harness.fault("drop", after_events=1)
    await status(harness, code)
    got, _, _ = await consume_expecting(SSEResponseError, harness.sse_url, client)
    assert ids(got) == ["1"]
    assert len(await harness.requests()) == 3


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", None])
async def test_a_wrong_content_type_is_never_retried(
    autojump_clock: trio.testing.MockClock, harness: Harness, content_type: str | None
) -> None:
    await harness.reset_state(events=3, finished=True)
    headers = [] if content_type is None else [("Content-Type", content_type)]
    await harness.fault("status", status=200, headers=headers or [("X-Nothing", "1")])
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=5)
    with pytest.raises(SSEResponseError) as info:
        async with client.sse(harness.sse_url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert info.value.status_code == 200
    assert len(await harness.requests()) == 1


async def test_an_event_over_max_event_size_is_never_retried(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.emit(
        events=[ServerSentEvent(data="small", id="1"), ServerSentEvent(data="x" * 5000, id="2")]
    )
    await harness.finish()
    # The pause makes the small event arrive in a read of its own: the parser drops the
    # events that precede an oversized line in the same chunk (reported separately).
    await harness.fault("stall", after_events=1, seconds=1.0)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=5, max_event_size=1024)
    got, _, _ = await consume_expecting(SSEProtocolError, harness.sse_url, client)
    assert [ev.data for ev in got] == ["small"]
    assert len(await harness.requests()) == 1


async def test_aclose_during_the_reconnect_wait_makes_no_new_request(
    autojump_clock: trio.testing.MockClock, harness: Harness, reconnect_log: ReconnectLog
) -> None:
    await harness.reset_state(events=3, finished=True)
    await harness.fault("drop", after_events=1)
    client = make_client(reconnection_time=10.0, max_reconnection_attempts=3)
    async with trio.open_nursery() as nursery:
        session = await nursery.start(client.sse_session, harness.sse_url)
        assert ids([await session.incoming.receive()]) == ["1"]
        await reconnect_log.wait_for(1)
        assert session.state is SessionState.WAITING
        start = trio.current_time()
        await session.aclose()
        assert trio.current_time() == start  # the wait is cancelled, not waited out
        assert session.statistics().state is SessionState.CLOSED
    # The reader task is gone with the nursery: no request can follow. Let the clock
    # pass the delay anyway, to show that nothing was left behind to make one.
    await trio.sleep(100)
    assert len(await harness.requests()) == 1


async def test_cancellation_during_the_reconnect_wait_makes_no_new_request(
    autojump_clock: trio.testing.MockClock, harness: Harness, reconnect_log: ReconnectLog
) -> None:
    await harness.reset_state(events=3, finished=True)
    await harness.fault("reset", after_events=1)
    client = make_client(reconnection_time=10.0, max_reconnection_attempts=3)
    got: list[ServerSentEvent] = []

    async def consume_until_cancelled(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            async with client.sse(harness.sse_url) as session:
                async for event in session:
                    got.append(event)
        assert scope.cancelled_caught

    async with trio.open_nursery() as nursery:
        scope = await nursery.start(consume_until_cancelled)
        await reconnect_log.wait_for(1)
        start = trio.current_time()
        scope.cancel()
    assert trio.current_time() == start  # no waiting out the delay
    await trio.sleep(100)
    assert ids(got) == ["1"]
    assert len(await harness.requests()) == 1


# -- the request is re-sent unchanged -------------------------------------------------


async def test_the_request_is_re_sent_unchanged_but_for_last_event_id(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.reset_state(events=3, finished=True)
    await harness.fault("drop", after_events=1, mid_event=True)
    await harness.fault("reset", after_events=1)
    client = make_client(
        reconnection_time=1.0,
        max_reconnection_attempts=1,
        headers={"Authorization": "Bearer token", "X-Client": "a"},
    )
    got, _ = await consume(
        harness.sse_url + "?topic=news",
        client,
        method="POST",
        json={"prompt": "bonjour ✓"},
        headers={"X-Call": "b"},
    )
    assert ids(got) == numbers(1, 2, 3)
    records = await harness.requests()
    assert len(records) == 4
    assert [r.last_event_id for r in records] == [None, "1", "2", "3"]
    assert {(r.method, r.target) for r in records} == {("POST", "/events?topic=news")}
    assert {r.body for r in records} == {json.dumps({"prompt": "bonjour ✓"}, separators=(",", ":"))}
    without_id = {tuple((k, v) for k, v in r.headers if k != "last-event-id") for r in records}
    assert len(without_id) == 1
    headers = dict(without_id.pop())
    assert headers["authorization"] == "Bearer token"
    assert (headers["x-client"], headers["x-call"]) == ("a", "b")


async def test_the_sessions_last_event_id_replaces_a_user_supplied_one(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.reset_state(events=3, finished=True)
    await harness.fault("drop", after_events=1)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=1)
    got, _ = await consume(harness.sse_url, client, headers={"Last-Event-ID": "1"})
    assert ids(got) == numbers(2, 3)
    records = await harness.requests()
    assert [r.last_event_id for r in records] == ["1", "2", "3"]
    assert all(len([k for k, _ in r.headers if k == "last-event-id"]) == 1 for r in records)


# -- observability --------------------------------------------------------------------


async def test_statistics_count_connections_reconnects_and_the_last_error(
    autojump_clock: trio.testing.MockClock, harness: Harness, reconnect_log: ReconnectLog
) -> None:
    await harness.reset_state(events=3, finished=True)
    await harness.fault("drop", after_events=1, mid_event=True)
    await status(harness, 503)
    await harness.fault("reset", after_events=1)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=2)
    snapshots = []

    async def watch(session: SSESession[Any]) -> None:
        for n in range(1, 5):
            await reconnect_log.wait_for(n)
            snapshots.append(session.statistics())

    got = []
    async with trio.open_nursery() as nursery:
        session = await nursery.start(client.sse_session, harness.sse_url)
        nursery.start_soon(watch, session)
        async for event in session:
            got.append(event)
    assert ids(got) == numbers(1, 2, 3)

    assert {s.state for s in snapshots} == {SessionState.WAITING}
    assert [s.reconnects for s in snapshots] == [0, 1, 2, 3]
    assert [s.reconnection_attempts for s in snapshots] == [1, 2, 1, 1]
    assert [s.connection_attempts for s in snapshots] == [1, 2, 3, 4]
    assert [s.streams_opened for s in snapshots] == [1, 1, 2, 3]
    assert [type(s.last_error) for s in snapshots] == [
        SSEConnectionError,  # the truncated body
        SSEResponseError,  # the 503
        SSEConnectionError,  # the reset
        SSEConnectionError,  # a clean end is no error: the reset stays the last one
    ]
    final = session.statistics()
    assert final.state is SessionState.CLOSED
    assert (final.connection_attempts, final.streams_opened, final.reconnects) == (5, 3, 4)
    assert (final.events_received, final.events_buffered) == (3, 0)
    assert final.last_error is snapshots[-1].last_error


async def test_the_state_is_visible_through_a_reconnect(
    autojump_clock: trio.testing.MockClock, server: SSETestServer, reconnect_log: ReconnectLog
) -> None:
    sessions: list[SSESession[Any]] = []
    state_at_request: list[SessionState | None] = []

    def handler(request: RecordedRequest) -> ScriptedResponse:
        state_at_request.append(sessions[0].state if sessions else None)
        if len(state_at_request) == 1:
            return ScriptedResponse.events(ServerSentEvent(data="a", id="1"), end="reset")
        if len(state_at_request) == 2:
            return ScriptedResponse.events(ServerSentEvent(data="b", id="2"))
        return ScriptedResponse(status=204, headers=(), framing="close")

    server.handler = handler
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=1)
    waiting: list[SessionState] = []

    async def watch(session: SSESession[Any]) -> None:
        for n in (1, 2):
            await reconnect_log.wait_for(n)
            waiting.append(session.state)

    async with trio.open_nursery() as nursery:
        session = await nursery.start(client.sse_session, server.url)
        sessions.append(session)
        assert session.state is SessionState.OPEN
        nursery.start_soon(watch, session)
        got = [event.data async for event in session]
    assert got == ["a", "b"]
    assert state_at_request == [None, SessionState.CONNECTING, SessionState.CONNECTING]
    assert waiting == [SessionState.WAITING, SessionState.WAITING]
    assert session.statistics().state is SessionState.CLOSED


async def test_each_reconnect_is_logged_with_its_reason_and_delay(
    autojump_clock: trio.testing.MockClock, harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_sse")
    await harness.reset_state(events=2, finished=True)
    await harness.fault("drop", after_events=1, mid_event=True)
    await status(harness, 503)
    client = make_client(reconnection_time=2.5, max_reconnection_attempts=3)
    got, _ = await consume(harness.sse_url, client)
    assert ids(got) == numbers(1, 2)
    messages = [r.getMessage() for r in caplog.records if r.name == "trio_sse"]
    assert len(messages) == 3
    assert all(harness.sse_url in m and "in 2.500s" in m for m in messages)
    assert "attempt 1 of 3" in messages[0]
    assert "closed the connection" in messages[0]
    assert "attempt 2 of 3" in messages[1]
    assert "503" in messages[1]
    assert "attempt 1 of 3" in messages[2]
    assert "the server ended the stream" in messages[2]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "trio_sse")


# -- the background form --------------------------------------------------------------


async def test_the_background_session_reconnects_the_same_way(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.reset_state(events=8, finished=True)
    await harness.fault("drop", after_events=2, mid_event=True)
    await status(harness, 503, ("Retry-After", "4"))
    await harness.fault("reset", after_events=2)
    await harness.fault("close", after_events=1, mid_event=True)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=2)
    async with trio.open_nursery() as nursery:
        session = await nursery.start(
            functools.partial(client.sse_session, harness.sse_url, last_event_id="1")
        )
        got = [event async for event in session]
        await session.aclose()
    assert got == [generated_event(n) for n in range(2, 9)]
    records = await harness.requests()
    assert [r.last_event_id for r in records] == ["1", "3", "3", "5", "6", "8"]
    assert [r.status for r in records] == [200, 503, 200, 200, 200, 204]
    assert gaps(records) == approx([1.0, 4.0, 1.0, 1.0, 1.0])
    assert session.statistics().reconnects == 5


async def test_the_background_session_gives_up_the_same_way(
    autojump_clock: trio.testing.MockClock, harness: Harness
) -> None:
    await harness.reset_state(events=3, finished=True)
    await harness.fault("drop", after_events=1)
    await status(harness, 503)
    await status(harness, 503)
    client = make_client(reconnection_time=1.0, max_reconnection_attempts=2)
    got: list[ServerSentEvent] = []

    async def read(session: SSESession[Any]) -> None:
        async for event in session:
            got.append(event)

    async with trio.open_nursery() as nursery:
        session = await nursery.start(client.sse_session, harness.sse_url)
        with pytest.raises(SSEConnectionError) as info:
            await read(session)
    assert ids(got) == ["1"]
    assert info.value.attempts == 2
    assert session.error is info.value
    assert gaps(await harness.requests()) == approx([1.0, 1.0])
