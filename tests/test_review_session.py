"""Second reading of _session.py (and of the hand-off as a session uses it): each test
fails if the one line keeping a promise is changed (the mutation it catches is named in
its docstring)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest
import trio
import trio.testing

import trio_sse._session
from tests.test_limits import gzip_response
from tests.test_session_memory import awaited_frame_locals
from trio_sse import (
    ServerSentEvent,
    SessionState,
    SSEClient,
    SSEProtocolError,
    SSESession,
    open_sse_session,
)
from trio_sse._parser import SSEParser
from trio_sse._reading import ByteReader, SocketReader, reader_for
from trio_sse.testing import Pause, ScriptedResponse, SSETestServer

HANG = 600  # virtual seconds: a hang guard on the autojump clock, never a measure


async def test_incoming_first_used_after_the_stream_ended_ends_too(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """``incoming`` ends when the stream does, even one that ended before ``incoming``
    was first used. Catches _open_incoming not closing a channel opened after the end
    (the iteration would wait forever)."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="a"), ServerSentEvent(data="b")))
    with trio.fail_after(HANG):
        async with open_sse_session(server.url) as session:
            while session.state is not SessionState.CLOSED:  # the reader is done
                await trio.testing.wait_all_tasks_blocked()
            assert [event.data async for event in session.incoming] == ["a", "b"]
            assert session.error is None


async def test_waiting_on_a_slow_incoming_consumer_is_not_silence(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """read_timeout measures the server, not the consumer, for ``incoming`` users too.
    Catches the reader waiting for room in ``incoming`` without stopping the clock."""
    count = 30  # more than ``incoming`` holds: the reader must wait for the consumer
    server.script(
        ScriptedResponse.events(
            ServerSentEvent(data="0"),
            Pause(1.0),  # the rest come once the consumer has switched and taken one
            *(ServerSentEvent(data=str(n)) for n in range(1, count)),
            end="hang",
        )
    )
    with trio.fail_after(HANG):
        async with open_sse_session(server.url, read_timeout=5.0) as session:
            incoming = session.incoming
            got = [(await incoming.receive()).data]
            await trio.sleep(60)  # busy elsewhere for 12x read_timeout
            got += [(await incoming.receive()).data for _ in range(count - 1)]
            assert session.error is None
    assert got == [str(n) for n in range(count)]


class WakingWithoutData(ByteReader):
    """A socket reader that, every other time, finds nothing after its wait (a
    spurious wake-up, which epoll allows: SocketReader.read then returns None)."""

    __slots__ = ("inner", "reads", "spurious")

    def __init__(self, inner: ByteReader) -> None:
        self.inner = inner
        self.reads = 0
        self.spurious = 0

    def wait(self) -> Awaitable[object]:
        return self.inner.wait()

    def read(self) -> bytes | None:
        self.reads += 1
        if self.reads % 2:
            self.spurious += 1
            return None  # nothing read: the bytes stay in the socket
        return self.inner.read()


async def test_a_wake_up_without_data_is_neither_a_lost_byte_nor_an_end(
    server: SSETestServer,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read that finds nothing after its wait waits again. Catches the read loop
    taking None for b"" (the peer's EOF): the stream would end, cut short, at once."""
    readers: list[WakingWithoutData] = []

    def waking_without_data(stream: trio.abc.Stream) -> ByteReader:
        inner = reader_for(stream)
        assert isinstance(inner, SocketReader)  # its wait may safely be repeated
        readers.append(WakingWithoutData(inner))
        return readers[-1]

    monkeypatch.setattr(trio_sse._session, "reader_for", waking_without_data)
    server.script(
        ScriptedResponse.events(
            ServerSentEvent(data="1"),
            Pause(1.0),  # each event its own read
            ServerSentEvent(data="2"),
            Pause(1.0),
            ServerSentEvent(data="3"),
        )
    )
    with trio.fail_after(HANG):
        async with open_sse_session(server.url) as session:
            assert [event.data async for event in session] == ["1", "2", "3"]
            assert session.error is None
    assert len(readers) == 1
    assert readers[0].spurious >= 3  # before the head's read and each paused event's


async def test_the_events_before_an_oversized_one_come_first_then_the_error(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """An error is raised after the events that came before it, even those of the read
    that brought it. Catches the error's ``events`` dropped."""
    server.script(
        ScriptedResponse(body=["data: a\n\ndata: " + "y" * 5000 + "\n\n"], end="hang")
    )  # one write: "a" and the oversized event come in one read
    got: list[str | None] = []
    sessions: list[SSESession[Any]] = []

    async def consume() -> None:
        async with open_sse_session(server.url, max_event_size=1000) as session:
            sessions.append(session)
            async for event in session:
                got.append(event.data)

    with trio.fail_after(HANG), pytest.raises(SSEProtocolError) as info:
        await consume()
    assert got == ["a"]
    assert sessions[0].error is info.value


class ParsedPerStep(trio.abc.Instrument):
    """The decoded body bytes fed to the parser in each task step: a step ends at a
    checkpoint (a pass through the scheduler), so this is what is parsed between two."""

    def __init__(self) -> None:
        self.current = 0
        self.steps: list[int] = []

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.current = 0

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.current:
            self.steps.append(self.current)


async def test_a_checkpoint_at_least_every_64_kib_of_decoded_body(
    server: SSETestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: a checkpoint "at least every 64 KiB of decoded body (CHECKPOINT_BYTES)",
    measured step by step: no step of the reader parses more. Catches the count
    restarted at 0 after a checkpoint (128 KiB between two) and a larger
    CHECKPOINT_BYTES."""
    blank_lines = b"\r\n" * (2 * 2**20) + b"data: done\n\n"  # 4 MiB that yield no event
    server.script(gzip_response(blank_lines))
    parsed = ParsedPerStep()
    feed = SSEParser.feed

    def counted(parser: SSEParser, data: bytes | bytearray | memoryview) -> list[ServerSentEvent]:
        parsed.current += len(data)
        return feed(parser, data)

    monkeypatch.setattr(SSEParser, "feed", counted)
    trio.lowlevel.add_instrument(parsed)
    try:
        with trio.fail_after(60):  # a hang guard only (real seconds: no clock is mocked)
            async with SSEClient().sse(server.url) as session:
                event = await session.__anext__()
    finally:
        trio.lowlevel.remove_instrument(parsed)
    assert event.data == "done"
    assert sum(parsed.steps) == len(blank_lines)  # every byte went through feed
    assert max(parsed.steps) <= 64 * 1024
    assert len(parsed.steps) >= len(blank_lines) // (64 * 1024)


async def test_a_parked_reader_holds_no_list_of_events(server: SSETestServer) -> None:
    """The events of the last read are not held while the next read waits (one list
    per idle stream). Catches ``del events`` removed."""
    server.script(ScriptedResponse(body=["data: hello\n\n"], end="hang"))
    with trio.fail_after(60):  # a hang guard only
        async with SSEClient().sse(server.url) as session:
            assert (await session.__anext__()).data == "hello"
            await trio.testing.wait_all_tasks_blocked()
            assert session._reader_task is not None
            held = awaited_frame_locals(session._reader_task, "SSESession._run_connection")
            assert "parser" in held  # the reader is parked in its read loop
            assert [name for name, value in held.items() if isinstance(value, list)] == []
