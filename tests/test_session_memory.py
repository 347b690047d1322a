"""What an open stream keeps, for processes with thousands of them: nothing of its
start-up, and no synchronisation object it may never need ("Memory per stream" in
docs/architecture.md)."""

from __future__ import annotations

import functools
import gc
import math
import types
import weakref
from collections.abc import AsyncIterator
from typing import Any

import h11
import pytest
import trio
import trio.testing

from tests.http_helpers import attribute_values
from trio_sse import ServerSentEvent, SSEClient, SSESession
from trio_sse._client import _Opening
from trio_sse._exchange import HTTPExchange
from trio_sse._framing import Spliced
from trio_sse._handoff import EventHandoff
from trio_sse._judge import OpenStream
from trio_sse.testing import (
    BodyItem,
    Handler,
    Pause,
    RecordedRequest,
    ScriptedResponse,
    SSETestServer,
)


class TaskStatusProbe(trio.TaskStatus[SSESession[Any]]):
    """A task status whose lifetime a test can watch with a weak reference."""

    def __init__(self) -> None:
        self.value: SSESession[Any] | None = None
        self.reported = trio.Event()

    def started(self, value: SSESession[Any] | None = None) -> None:
        self.value = value
        self.reported.set()


def answer_once_told(answer: trio.Event, *, hang: bool) -> Handler:
    """A handler that answers "data: hello" once ``answer`` is set: until then, the
    stream waits for its head."""

    async def answer_when_told(request: RecordedRequest) -> ScriptedResponse:
        await answer.wait()
        return ScriptedResponse(body=["data: hello\n\n"], end="hang" if hang else "close")

    return answer_when_told


def open_forever(server: SSETestServer) -> None:
    server.script(ScriptedResponse(body=["data: hello\n\n"], end="hang"))


async def test_a_started_session_lets_go_of_its_task_status(server: SSETestServer) -> None:
    # trio's task status holds the start-up nursery, its cancel scope and status: about
    # 1.5 KiB per stream if the reader kept it for its whole life.
    open_forever(server)
    probe = TaskStatusProbe()
    watcher = weakref.ref(probe)
    session: SSESession[Any] = SSESession(SSEClient()._session_options(server.url, None, {}))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.run, probe)
        await probe.reported.wait()
        assert probe.value is session
        del probe
        gc.collect()
        assert watcher() is None
        assert (await session.__anext__()).data == "hello"  # still reading
        await session.aclose()


async def test_sse_session_lets_go_of_its_task_status(server: SSETestServer) -> None:
    open_forever(server)
    probe = TaskStatusProbe()
    watcher = weakref.ref(probe)
    client = SSEClient()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(client.sse_session, server.url, task_status=probe))
        await probe.reported.wait()
        session = probe.value
        assert session is not None
        del probe
        gc.collect()
        assert watcher() is None
        assert (await session.__anext__()).data == "hello"
        await session.aclose()


async def test_an_open_session_holds_no_event_until_aclose_waits(server: SSETestServer) -> None:
    open_forever(server)
    client = SSEClient()
    async with trio.open_nursery() as nursery:
        session = await nursery.start(client.sse_session, server.url)
        assert (await session.__anext__()).data == "hello"
        assert [v for v in attribute_values(session) if isinstance(v, trio.Event)] == []
        # aclose() from the consumer still waits for the reader: when it returns, the
        # reader task has ended, not merely been told to.
        await session.aclose()
        assert nursery.child_tasks == frozenset()


async def test_an_open_stream_keeps_neither_dicts_nor_its_request(server: SSETestServer) -> None:
    # The session and the exchange live as long as the stream: slotted, and the
    # request's bytes are let go once written.
    open_forever(server)
    async with SSEClient().sse(server.url) as session:
        assert (await session.__anext__()).data == "hello"
        assert session._reader_task is not None
        pump: Any = session._reader_task.coro.cr_await  # SSESession._run_connection
        exchange = pump.cr_frame.f_locals["exchange"]
        assert isinstance(exchange, HTTPExchange)
        assert not hasattr(session, "__dict__")
        assert not hasattr(exchange, "__dict__")
        held = [v for v in attribute_values(exchange) if isinstance(v, bytes) and b"GET " in v]
        assert held == []


async def test_a_stream_waits_for_its_head_in_one_cancel_scope_without_h11(
    server: SSETestServer,
) -> None:
    # connect_timeout is the deadline of the connection's own cancel scope, and the
    # request's h11 connection is let go once it has made the request's bytes. With
    # thousands of streams waiting for their heads at once, what each holds only there
    # (about 0.6 KiB for a scope of its own, 1 KiB for h11) is freed after the head and
    # stays in the process as holes (benchmarks/RESULTS.md, "Memory left by opening").
    answer = trio.Event()
    server.handler = answer_once_told(answer, hang=True)
    options = SSEClient(connect_timeout=30.0)._session_options(server.url, None, {})
    session: SSESession[Any] = SSESession(options)
    probe = TaskStatusProbe()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.run, probe)
        await trio.testing.wait_all_tasks_blocked()
        assert len(server.requests) == 1
        reader = session._reader_task
        assert reader is not None
        assert reader._cancel_status._scope is session._cancel_scope
        assert session._cancel_scope.deadline < math.inf  # connect_timeout runs on it
        exchange = awaited_frame_locals(reader, "SSESession._connect")["exchange"]
        assert not [v for v in attribute_values(exchange) if isinstance(v, h11.Connection)]
        answer.set()
        await probe.reported.wait()
        assert (await session.__anext__()).data == "hello"
        assert session._cancel_scope.deadline == math.inf  # not once the head is judged
        await session.aclose()


async def test_read_timeout_runs_on_the_connections_own_cancel_scope(
    server: SSETestServer,
) -> None:
    # The silence clock is the connection's scope's deadline, not a scope of its own
    # that every idle stream would hold for its whole life.
    open_forever(server)
    async with SSEClient(read_timeout=60.0).sse(server.url) as session:
        assert (await session.__anext__()).data == "hello"
        await trio.testing.wait_all_tasks_blocked()
        reader = session._reader_task
        assert reader is not None
        assert reader._cancel_status._scope is session._cancel_scope
        assert session._cancel_scope.deadline < math.inf


async def test_an_open_block_keeps_no_generator_of_ours(server: SSETestServer) -> None:
    # The async with of sse() is a class, not an @asynccontextmanager, whose generator
    # frame and wrapper (about 0.4 KiB, two objects for the collector) each open
    # stream would keep for its whole life.
    open_forever(server)
    async with SSEClient().sse(server.url) as session:
        assert (await session.__anext__()).data == "hello"
        ours = [
            generator.__qualname__
            for generator in gc.get_objects()
            if isinstance(generator, types.AsyncGeneratorType)
            and "trio_sse" in generator.ag_code.co_filename
            and not generator.ag_code.co_filename.endswith("testing.py")  # the server's
        ]
        assert ours == []


def our_frames(task: trio.lowlevel.Task) -> list[str]:
    """The trio-sse coroutines a parked task's await chain holds, outermost first."""
    names = []
    awaited: Any = task.coro
    while awaited is not None:
        code = getattr(awaited, "cr_code", None) or getattr(awaited, "gi_code", None)
        if code is not None and "trio_sse" in code.co_filename:
            names.append(awaited.__qualname__)  # code.co_qualname: Python 3.11 and later
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return names


@pytest.mark.parametrize("read_timeout", [None, 60.0])
async def test_what_a_parked_reader_and_consumer_hold(
    server: SSETestServer, read_timeout: float | None
) -> None:
    # Between two events of an idle stream both tasks wait, and every frame they hold
    # lives until the next event: with thousands of streams, each is an object the
    # collector promotes and rescans. One level more per task is a regression.
    open_forever(server)
    consumer_task: list[trio.lowlevel.Task] = []

    async def consume(session: SSESession[Any]) -> None:
        consumer_task.append(trio.lowlevel.current_task())
        async for _ in session:
            pass

    client = SSEClient(read_timeout=read_timeout)
    async with client.sse(server.url) as session, trio.open_nursery() as nursery:
        nursery.start_soon(consume, session)
        await trio.testing.wait_all_tasks_blocked()
        reader = session._reader_task
        assert reader is not None
        assert our_frames(reader) == [
            "SSESession.run",
            "SSESession._run_connection",
        ]
        assert our_frames(consumer_task[0]) == ["EventHandoff.get"]
        nursery.cancel_scope.cancel()


def awaited_frame_locals(task: trio.lowlevel.Task, qualname: str) -> dict[str, Any]:
    """The local variables of the coroutine ``qualname`` in a parked task's await chain."""
    awaited: Any = task.coro
    while awaited is not None:
        if getattr(awaited, "__qualname__", None) == qualname:
            return dict(awaited.cr_frame.f_locals)
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    raise AssertionError(f"{qualname} is not in the task's await chain")


@pytest.mark.parametrize("read_timeout", [None, 60.0])
async def test_a_parked_pump_holds_no_cell_and_no_spent_decision(
    server: SSETestServer, read_timeout: float | None
) -> None:
    # Each would be one more object per idle stream for the collector: a closure's
    # cell (made as the frame starts, whether read_timeout's clock runs or not) and the
    # judge's decision, spent once the stream opened.
    assert SSESession._run_connection.__code__.co_cellvars == ()
    open_forever(server)
    async with SSEClient(read_timeout=read_timeout).sse(server.url) as session:
        assert (await session.__anext__()).data == "hello"
        await trio.testing.wait_all_tasks_blocked()
        assert session._reader_task is not None
        held = awaited_frame_locals(session._reader_task, "SSESession._run_connection")
        assert not [value for value in held.values() if isinstance(value, OpenStream)]


@pytest.mark.parametrize("framing", ["chunked", "close"])
async def test_a_parked_reader_holds_no_bytes_of_its_last_read(
    server: SSETestServer, framing: str
) -> None:
    # A stream waits with its last read and body gone (here the body's last bytes: the
    # event took two reads): with thousands of streams of large events, a body of up to
    # a read kept by each waiting one would be most of the memory.
    big = "data: " + "y" * 65536 + "\n\n"
    server.script(ScriptedResponse(body=[big], end="hang", framing=framing))  # type: ignore[arg-type]
    async with SSEClient().sse(server.url) as session:
        assert len((await session.__anext__()).data or "") == 65536
        await trio.testing.wait_all_tasks_blocked()
        assert session._reader_task is not None
        held = awaited_frame_locals(session._reader_task, "SSESession._run_connection")
        kept = [name for name, value in held.items() if isinstance(value, (bytes, Spliced))]
        assert kept == []


async def test_an_idle_streams_reader_decoder_and_parser_keep_no_spare_object(
    server: SSETestServer,
) -> None:
    # Every object a waiting stream keeps is one more for the collector to track and
    # scan, 10,000 times over: the socket reader keeps its socket, not a bound recv; the
    # decoder of an unencoded body, drained, keeps no list; the parser keeps no list of
    # comments once the block that had some has been dispatched.
    server.script(ScriptedResponse(body=[": note\ndata: hello\n\n"], end="hang"))
    async with SSEClient(show_comment_events=True).sse(server.url) as session:
        assert (await session.__anext__()).comments == "note"
        await trio.testing.wait_all_tasks_blocked()
        assert session._reader_task is not None
        held = awaited_frame_locals(session._reader_task, "SSESession._run_connection")
        reader, exchange, parser = held["reader"], held["exchange"], held["parser"]
        assert type(reader).__name__ == "SocketReader"  # a plain socket: the fast path
        tracked = [value for value in attribute_values(reader) if gc.is_tracked(value)]
        assert [type(value).__name__ for value in tracked] == ["socket"]
        decoder = exchange._decoder
        assert type(decoder).__name__ == "IdentityDecoder"
        assert not any(gc.is_tracked(value) for value in attribute_values(decoder))
        assert parser._comments is None


async def test_a_one_event_read_is_handed_over_without_a_copy() -> None:
    handoff = EventHandoff[str]()
    pending = handoff.pending
    await handoff.put(["only"], lambda: None)
    assert await handoff.get() == "only"
    assert handoff.pending is pending  # no reversed copy of a one-event batch
    await handoff.put(["a", "b"], lambda: None)
    assert [await handoff.get(), await handoff.get()] == ["a", "b"]


async def test_a_block_waits_for_its_stream_without_a_start_up_nursery(
    server: SSETestServer,
) -> None:
    # nursery.start would park the reader in a nursery of its own while it connects:
    # the block's task would then have two child nurseries, not one.
    answer = trio.Event()
    server.handler = answer_once_told(answer, hang=False)
    block_task: list[trio.lowlevel.Task] = []
    received: list[str | None] = []

    async def block() -> None:
        block_task.append(trio.lowlevel.current_task())
        async with SSEClient().sse(server.url) as session:
            received.extend([event.data async for event in session])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(block)
        await server.wait_for_requests(1)
        await trio.testing.wait_all_tasks_blocked()
        assert len(block_task[0].child_nurseries) == 1
        answer.set()
    assert received == ["hello"]


async def test_a_reader_that_ends_before_its_stream_opened_says_so(
    server: SSETestServer,
) -> None:
    # As trio's nursery.start does for a task that never calls started(): a block
    # waiting for its stream must not wait forever.
    session: SSESession[Any] = SSESession(SSEClient()._session_options(server.url, None, {}))
    await session.aclose()  # before the reader ran: it ends at once, nothing opened
    with pytest.raises(RuntimeError, match="ended before its stream opened"):
        await session.run(TaskStatusProbe())


async def test_a_connecting_session_holds_no_channel(server: SSETestServer) -> None:
    # The hand-off's memory channel (about 1.7 KiB) is opened once events must wait:
    # thousands of streams connecting at once would otherwise all hold one.
    answer = trio.Event()
    server.handler = answer_once_told(answer, hang=True)
    session: SSESession[Any] = SSESession(SSEClient()._session_options(server.url, None, {}))

    def channels() -> list[object]:
        return [
            part
            for part in gc.get_referents(session._handoff)
            if isinstance(part, (trio.MemorySendChannel, trio.MemoryReceiveChannel))
        ]

    async with trio.open_nursery() as nursery:
        probe = TaskStatusProbe()
        nursery.start_soon(session.run, probe)
        await server.wait_for_requests(1)
        await trio.testing.wait_all_tasks_blocked()
        assert channels() == []
        answer.set()
        await probe.reported.wait()
        await trio.testing.wait_all_tasks_blocked()  # the event waits for the consumer
        assert len(channels()) == 2
        assert (await session.__anext__()).data == "hello"
        await session.aclose()


async def test_a_stream_whose_consumer_keeps_up_holds_no_channel(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    # A consumer waiting for each read gets it from the reader directly: an idle
    # stream never needs the channel, and does not hold one.
    server.script(
        ScriptedResponse.events(
            Pause(1.0), ServerSentEvent(data="a"), Pause(1.0), ServerSentEvent(data="b"), end="hang"
        )
    )
    with trio.fail_after(600):
        async with SSEClient().sse(server.url) as session:
            assert (await session.__anext__()).data == "a"
            assert (await session.__anext__()).data == "b"  # parked, then handed "b"
            handoff = session._handoff
            await trio.testing.wait_all_tasks_blocked()
            assert handoff._batch_send is None
            assert handoff._batch_receive is None


async def test_the_blocks_start_signal_wakes_cancels_and_may_come_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    opening = _Opening()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(opening.wait)
        await trio.testing.wait_all_tasks_blocked()
        opening.started()  # wakes the waiter: the nursery can close
    with trio.move_on_after(1) as waited:
        await _Opening().wait()  # nobody will call started(): a cancel ends the wait
    assert waited.cancelled_caught
    early = _Opening()
    early.started()
    with trio.testing.assert_checkpoints():
        await early.wait()  # already opened: returns at once, still a checkpoint


async def test_a_read_whose_events_fit_is_delivered_without_a_coroutine(
    server: SSETestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With thousands of idle streams each event is its own read: handing it over must
    # not cost a coroutine (two, with the hand-off's put) when the consumer keeps up.
    server.script(ScriptedResponse(body=[f"data: {n}\n\n" for n in range(5)]))

    async def no_coroutine_expected(*args: object) -> None:
        raise AssertionError("_deliver was used where nothing had to wait")

    monkeypatch.setattr(SSESession, "_deliver", no_coroutine_expected)
    async with SSEClient().sse(server.url) as session:
        assert [event.data async for event in session] == ["0", "1", "2", "3", "4"]


async def test_a_read_of_one_whole_chunk_asks_the_exchange_once(
    server: SSETestServer, monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    # An idle stream's event is one chunk in one read: once next_read has returned it,
    # the exchange says it is starved and the reader goes back to the socket, without
    # the call that would only return b"" (a few calls per event at 10,000 streams).
    async def a_tick_a_second() -> AsyncIterator[BodyItem]:
        for n in range(5):
            await trio.sleep(1)  # each event its own read
            yield f"data: {n}\n\n"

    server.script(ScriptedResponse(body=a_tick_a_second, end="hang"))
    returned: list[bytes | Spliced] = []
    next_read = HTTPExchange.next_read

    def counted(exchange: HTTPExchange) -> bytes | Spliced:
        returned.append(next_read(exchange))
        return returned[-1]

    monkeypatch.setattr(HTTPExchange, "next_read", counted)
    async with SSEClient().sse(server.url) as session:
        got = []
        async for event in session:
            got.append(event.data)
            if len(got) == 5:
                break
    assert got == ["0", "1", "2", "3", "4"]
    first = next(i for i, body in enumerate(returned) if body)
    assert returned[first:] == [b"data: %d\n\n" % n for n in range(5)]
