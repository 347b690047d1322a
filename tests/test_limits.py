"""Hard limits against hostile and broken servers (issue 8): reconnect storms, huge
``retry:`` values, memory held by caches and buffers, the scheduler, BaseExceptions.

Each test names the bound it holds and fails if the line keeping it is removed.
Timing runs on ``autojump_clock``; servers are trio_sse.testing's scripted server on
real loopback sockets, counting the connections a session makes.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import trio
import trio.testing

from trio_sse import (
    ServerSentEvent,
    SessionState,
    SSEClient,
    SSEConnectionError,
    SSEParser,
    SSEResponseError,
    SSETimeoutError,
)
from trio_sse._handoff import (
    BATCH_BUFFER,
    BUFFER,
    FAIR_SHARE,
    INCOMING_BUFFER,
    MAX_BATCH,
    EventHandoff,
)
from trio_sse._parser import _TYPE_NAMES, TYPE_NAME_CACHE_ENTRIES, TYPE_NAME_CACHE_MAX_LENGTH
from trio_sse._reconnect import MAX_RETRY_AFTER, MIN_RECONNECTION_DELAY
from trio_sse._session import CHECKPOINT_BYTES
from trio_sse.testing import (
    Pause,
    RecordedRequest,
    ScriptedResponse,
    SSETestServer,
    open_sse_test_server,
)

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

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


# -- the event-name cache (#1) -------------------------------------------------------


@pytest.fixture
def empty_type_name_cache() -> Iterator[dict[bytes, str]]:
    """The parser's process-wide cache, emptied for the test and restored after."""
    saved = dict(_TYPE_NAMES)
    _TYPE_NAMES.clear()
    try:
        yield _TYPE_NAMES
    finally:
        _TYPE_NAMES.clear()
        _TYPE_NAMES.update(saved)


def cache_footprint(cache: dict[bytes, str]) -> int:
    return sum(sys.getsizeof(key) + sys.getsizeof(value) for key, value in cache.items())


def test_long_event_names_are_not_pinned_by_the_cache(
    empty_type_name_cache: dict[bytes, str],
) -> None:
    """1,100 distinct 100 KB names: each is decoded and delivered, none is kept."""
    parser = SSEParser(max_event_size=2**20)
    names = [f"{n:05d}".encode() + b"x" * 100_000 for n in range(1_100)]
    for name in names:
        (event,) = parser.feed(b"event: " + name + b"\ndata: x\n\n")
        assert event.event == name.decode()
    # 1,024 entries of at most 64 bytes each (plus object headers): well under 512 KiB.
    assert cache_footprint(empty_type_name_cache) <= 512 * 1024
    assert all(len(key) <= TYPE_NAME_CACHE_MAX_LENGTH for key in empty_type_name_cache)


def test_the_event_name_cache_is_capped_in_entries(
    empty_type_name_cache: dict[bytes, str],
) -> None:
    parser = SSEParser()
    for n in range(3 * TYPE_NAME_CACHE_ENTRIES):
        (event,) = parser.feed(f"event: t{n}\ndata: x\n\n".encode())
        assert event.event == f"t{n}"
    assert len(empty_type_name_cache) == TYPE_NAME_CACHE_ENTRIES <= 1024
    (again,) = parser.feed(b"event: t5\ndata: y\n\n")  # a cached name still works
    assert again.event == "t5"


# -- incoming is bounded (#4) ----------------------------------------------------------


async def test_incoming_holds_a_small_number_of_events_whatever_their_size(
    autojump_clock: trio.testing.MockClock, server: SSETestServer
) -> None:
    """A consumer that switched to ``incoming`` and stopped reading: the reader stops
    after a few events, so at most INCOMING_BUFFER * max_event_size bytes wait."""
    size = 16 * 1024
    events = [ServerSentEvent(data=str(n % 10) * size, id=str(n)) for n in range(100)]
    server.script(ScriptedResponse.events(*events, end="hang"))
    client = make_client(max_event_size=2 * size)
    async with client.sse(server.url) as session:
        first = await session.incoming.receive()
        assert first.id == "0"
        for _ in range(3):  # the reader runs as far as it can, then waits on the channel
            await trio.testing.wait_all_tasks_blocked()
        buffered = session.statistics().events_buffered
        assert 1 <= buffered <= INCOMING_BUFFER <= 16
        assert buffered * size <= INCOMING_BUFFER * client.config.max_event_size
        rest = [await session.incoming.receive() for _ in range(99)]
    assert [ev.id for ev in rest] == [str(n) for n in range(1, 100)]  # nothing lost


# -- BaseExceptions in the reader (#5) ---------------------------------------------------


def interrupting(kind: type[BaseException]) -> Callable[[Any, str], str]:
    """A deserialize that raises ``kind`` on the event whose data is "stop" (used with
    ``model=str``, so that the reader calls it on every event)."""

    def deserialize(model: Any, text: str) -> str:
        if text == "stop":
            raise kind
        return text

    return deserialize


def run_with_server(consume: Callable[[str], Awaitable[None]]) -> None:
    """trio.run a consumer against a server that sends "a", then (later) "stop"."""

    async def main() -> None:
        async with open_sse_test_server() as server:
            server.script(
                ScriptedResponse.events("data: a\n\n", Pause(1.0), "data: stop\n\n", end="hang")
            )
            await consume(server.url)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.parametrize("kind", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("busy", [True, False], ids=["consumer-busy", "consumer-waiting"])
def test_a_base_exception_in_the_reader_leaves_block_scoped_sessions_as_itself(
    kind: type[BaseException], busy: bool
) -> None:
    async def consume(url: str) -> None:
        async with SSEClient().sse(url, model=str, deserialize=interrupting(kind)) as session:
            async for _ in session:
                if busy:
                    await trio.sleep(10.0)  # the reader dies while the consumer sleeps

    with pytest.raises(kind) as info:
        run_with_server(consume)
    assert type(info.value) is kind


@pytest.mark.parametrize("kind", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("busy", [True, False], ids=["consumer-busy", "consumer-waiting"])
def test_a_base_exception_in_the_reader_leaves_a_started_session_as_itself(
    kind: type[BaseException], busy: bool
) -> None:
    async def consume(url: str) -> None:
        sse_session = functools.partial(
            SSEClient().sse_session, url, model=str, deserialize=interrupting(kind)
        )
        async with trio.open_nursery() as nursery:
            session = await nursery.start(sse_session)
            async for _ in session:
                if busy:
                    await trio.sleep(10.0)

    with pytest.raises(BaseExceptionGroup) as info:  # the caller's own nursery groups it
        run_with_server(consume)
    leaves = leaf_exceptions(info.value)
    assert [type(leaf) for leaf in leaves] == [kind]


def leaf_exceptions(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaf_exceptions(inner)]
    return [exc]


# -- checkpoints in a body that yields nothing (#2) --------------------------------------


def gzip_response(decoded: bytes) -> ScriptedResponse:
    return ScriptedResponse(
        headers=[("Content-Type", "text/event-stream"), ("Content-Encoding", "gzip")],
        body=(gzip.compress(decoded),),
        framing="content-length",
        end="hang",
    )


BLANK_LINES = b"\r\n" * (2 * 2**20) + b"data: done\n\n"  # 4 MiB that yield no event


class Heartbeat:
    """Another task that counts its turns: how often the others let it run."""

    def __init__(self) -> None:
        self.ticks = 0
        self.stopped = False

    async def run(self) -> None:
        while not self.stopped:
            self.ticks += 1
            await trio.lowlevel.checkpoint()


async def test_a_compressed_body_of_blank_lines_lets_other_tasks_run(
    server: SSETestServer,
) -> None:
    """Another task counts how often it runs while the session chews 4 MiB of decoded
    blank lines out of ~4 KiB of gzip: at least once per CHECKPOINT_BYTES or so."""
    server.script(gzip_response(BLANK_LINES))
    heartbeat = Heartbeat()
    async with trio.open_nursery() as nursery, SSEClient().sse(server.url) as session:
        nursery.start_soon(heartbeat.run)
        event = await session.__anext__()
        heartbeat.stopped = True
    assert event.data == "done"
    assert heartbeat.ticks >= len(BLANK_LINES) // CHECKPOINT_BYTES // 2


async def test_a_cancel_scope_fires_in_the_middle_of_a_compressed_body(
    server: SSETestServer,
) -> None:
    """The caller's cancel scope is cancelled while the body is being chewed: the
    session stops there, before the event at the end of the 4 MiB."""
    server.script(gzip_response(BLANK_LINES))
    got: list[ServerSentEvent] = []
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery, SSEClient().sse(server.url) as session:

            async def cancel_soon() -> None:
                for _ in range(3):
                    await trio.lowlevel.checkpoint()
                scope.cancel()

            nursery.start_soon(cancel_soon)
            async for event in session:
                got.append(event)
    assert scope.cancelled_caught
    assert got == []


async def serve_in_one_write(wire: bytes, task_status: trio.TaskStatus[int]) -> None:
    """A raw server that answers every request with ``wire`` in one write (head and
    body arrive together), then keeps the connection open."""

    async def answer(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive_some(4096)
        await stream.send_all(wire)
        await trio.sleep_forever()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(answer, listeners)


async def test_the_end_of_the_body_is_not_silence(autojump_clock: trio.testing.MockClock) -> None:
    """The read that brings the last event also brings the body's end, and handing the
    event over takes longer than read_timeout (the clock jumps in ``deserialize``): the
    stream ends cleanly. Catches a close of the connection that is not shielded from
    the passed deadline, which would turn the end into a timeout."""

    def slow_deserialize(model: Any, data: str | None) -> Any:
        autojump_clock.jump(10.0)
        return data

    body = b"data: last\n\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    client = make_client(read_timeout=5.0, deserialize=slow_deserialize)
    got: list[str | None] = []
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_in_one_write, head + body)
        async with client.sse(f"http://127.0.0.1:{port}/", model=str) as session:
            async for event in session:
                got.append(event.data)
        assert session.error is None
        nursery.cancel_scope.cancel()
    assert got == ["last"]


@pytest.mark.parametrize("with_the_head", [False, True])
async def test_read_timeout_fires_in_the_middle_of_a_compressed_body(
    autojump_clock: trio.testing.MockClock, server: SSETestServer, with_the_head: bool
) -> None:
    """Time passes (the clock jumps) while the session chews 4 MiB of blank lines:
    read_timeout fires at the next checkpoint, before the event at the body's end,
    also when the body came in the same read as the head (the clock starts at once)."""
    client = make_client(read_timeout=5.0)
    got: list[str | None] = []
    errors: list[SSETimeoutError] = []

    async def time_passes() -> None:
        for _ in range(3):
            await trio.lowlevel.checkpoint()
        autojump_clock.jump(10.0)

    async with trio.open_nursery() as nursery:
        url = server.url
        if with_the_head:
            body = gzip.compress(BLANK_LINES)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            head += b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
            port = await nursery.start(serve_in_one_write, head + body)
            url = f"http://127.0.0.1:{port}/"
        else:
            server.script(gzip_response(BLANK_LINES))
        try:
            async with client.sse(url) as session:
                nursery.start_soon(time_passes)
                async for event in session:
                    got.append(event.data)
        except SSETimeoutError as exc:
            errors.append(exc)
        nursery.cancel_scope.cancel()
    assert len(errors) == 1
    assert got == []


# -- promises the suite did not check (each guards one line) ------------------------------


async def test_iteration_checkpoints_at_least_every_fair_share_events(
    autojump_clock: trio.testing.MockClock, server: SSETestServer
) -> None:
    """Events already buffered are taken without waiting, but the consumer still lets
    other tasks run at least every FAIR_SHARE events (guards the budget in __anext__
    and the checkpoint in EventHandoff.get)."""
    count = 1_000
    server.script(ScriptedResponse.events("".join(f"data: {n}\n\n" for n in range(count))))
    heartbeat = Heartbeat()
    seen: list[int] = []  # the heartbeat's tick at each event
    async with trio.open_nursery() as nursery, SSEClient().sse(server.url) as session:
        await trio.testing.wait_all_tasks_blocked()  # everything read and buffered
        nursery.start_soon(heartbeat.run)
        async for _ in session:
            seen.append(heartbeat.ticks)
        heartbeat.stopped = True
    assert len(seen) == count
    longest_run = max(len(list(run)) for _, run in itertools.groupby(seen))
    # Trio reverses the order of a scheduling batch at random, so the consumer may run
    # twice between two runs of the heartbeat: 2 * FAIR_SHARE, where a missing
    # checkpoint gives a whole batch (MAX_BATCH) or more.
    assert longest_run <= 2 * FAIR_SHARE < MAX_BATCH


async def test_one_read_with_many_events_is_cut_into_bounded_batches() -> None:
    """A compressed read can hold thousands of tiny events: they go in MAX_BATCH at a
    time, so a reader with no consumer stops at BUFFER events, not at the read's end."""
    handoff = EventHandoff[int]()
    count = 3 * BUFFER
    blocked: list[bool] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(handoff.put, list(range(count)), lambda: blocked.append(True))
        await trio.testing.wait_all_tasks_blocked()
        assert blocked
        assert handoff.buffered() == BUFFER == BATCH_BUFFER * MAX_BATCH <= 2048
        got = [await handoff.get() for _ in range(count)]
    assert got == list(range(count))  # nothing lost or reordered on the way


async def test_aclose_waits_for_the_reader_even_when_cancelled(
    autojump_clock: trio.testing.MockClock, server: SSETestServer
) -> None:
    """aclose() called in an already-cancelled scope still waits (shielded) for the
    reader to finish: when it returns, the session is closed and the socket with it."""
    server.script(ScriptedResponse.events("data: a\n\n", end="hang"))
    async with trio.open_nursery() as nursery:
        session = await nursery.start(SSEClient().sse_session, server.url)
        with trio.CancelScope() as scope:
            scope.cancel()
            await session.aclose()
        # No checkpoint since aclose returned: the reader must already be done.
        assert session.statistics().state is SessionState.CLOSED
        assert session._finished.is_set()
    await server.wait_for_disconnects(1)
