"""Second reading of _reading.py: each test fails if the one line keeping a promise is
changed (the mutation it catches is named in its docstring)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from tests.test_reading import counting
from trio_sse._reading import SocketReader, StreamReader, reader_for


@pytest.fixture
async def sockets() -> AsyncIterator[tuple[SocketReader, trio.SocketStream]]:
    """What reader_for gives the client end of a plain socket pair, and the server end."""
    a, b = trio.socket.socketpair()
    client, server = trio.SocketStream(a), trio.SocketStream(b)
    reader = reader_for(client)
    assert isinstance(reader, SocketReader)
    yield reader, server
    await client.aclose()
    await server.aclose()


async def test_a_large_read_short_of_a_full_buffer_still_says_drained(
    sockets: tuple[SocketReader, trio.SocketStream],
) -> None:
    """Only a read that filled the 64 KiB buffer says more is queued: after a 40 KiB
    event the socket is drained, and the next event costs one recv, not a failed one
    (EAGAIN) first. Catches the guess made on a half-full buffer."""
    reader, server = sockets
    events = [b"data: " + bytes([97 + n]) * (40 * 1024) + b"\n\n" for n in range(5)]
    await server.send_all(b"data: 0\n\n")
    assert await reader.receive() == b"data: 0\n\n"  # a short read: drained now
    calls = counting(reader)
    with trio.fail_after(60):  # a hang guard only
        for event in events:
            got: list[bytes] = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_into, reader, got)
                # The reader is waiting before anything is sent, whichever task trio
                # runs first: a wrong guess would have tried a recv already.
                await trio.testing.wait_all_tasks_blocked()
                await server.send_all(event)
            assert got == [event]  # the whole event in one read
    assert len(calls) == len(events)


async def read_into(reader: SocketReader, got: list[bytes]) -> None:
    got.append(await reader.receive())


async def test_a_stream_reader_asks_for_at_most_64_kib_a_read() -> None:
    """A read is at most 64 KiB (a larger buffer is mapped and unmapped by malloc on
    every read). Catches a larger size asked of receive_some."""
    client, server = trio.testing.memory_stream_pair()
    reader = reader_for(client)
    assert isinstance(reader, StreamReader)
    sent = bytes(range(256)) * (3 * 64 * 4)  # 3 * 64 KiB, all waiting at once
    await server.send_all(sent)
    await server.send_eof()
    got = bytearray()
    sizes = []
    with trio.fail_after(60):  # a hang guard only
        while data := await reader.receive():
            sizes.append(len(data))
            got += data
    assert got == sent
    assert max(sizes) <= 64 * 1024
    assert sizes == [64 * 1024] * 3  # everything was waiting: each read is full


async def test_a_stream_reader_hands_over_bytes_whatever_its_stream_returns() -> None:
    """``read()`` returns bytes, as the parser and the exchange expect, even from a
    stream whose receive_some returns a bytearray (trio's memory streams do). Catches
    the bytes() conversion dropped."""
    client, server = trio.testing.memory_stream_pair()
    assert type(await _receive_some_of(client, server)) is bytearray  # what it returns
    reader = reader_for(client)
    assert isinstance(reader, StreamReader)
    await server.send_all(b"data: 1\n\n")
    with trio.fail_after(60):  # a hang guard only
        data = await reader.receive()
    assert type(data) is bytes
    assert data == b"data: 1\n\n"


async def _receive_some_of(client: trio.abc.Stream, server: trio.abc.Stream) -> object:
    await server.send_all(b"x")
    return await client.receive_some(1)
