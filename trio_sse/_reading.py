"""How the session reads a connection: one ``receive()`` per network read.

With thousands of mostly idle streams, each event is its own read, and a read costs
more in what it allocates while it waits than in what it copies: every object a parked
read holds lives until the next event (about a second), so CPython's cyclic collector
promotes it to the oldest generation and pays for it again in each full collection,
which scans every stream. ``trio.SocketStream.receive_some`` parks behind six coroutine
frames (stream, socket wrapper, non-blocking helper, ...) and, for a drained socket,
first tries a ``recv`` that fails with EAGAIN. For a plain socket (TCP or Unix, the
fan-in case) :class:`SocketReader` waits on the file descriptor itself and calls
``recv`` once it is readable: half the ``recv`` calls (two syscalls per event, not
three) and fewer objects per event. Anything
else (TLS, a user's transport, an in-memory stream) goes through the stream's own
``receive_some`` (:class:`StreamReader`).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Protocol

import trio
from trio.lowlevel import cancel_shielded_checkpoint, checkpoint_if_cancelled, wait_readable

__all__ = ["RECEIVE_SIZE", "ByteReader", "SocketReader", "StreamReader", "reader_for"]

# Bytes asked of each read. Not more: a buffer over glibc's 128 KiB mmap threshold is
# mapped and unmapped on every read, and its page faults cost more than the syscalls
# a bigger read saves (about 20 faults per 64 KiB event with 1 MiB reads).
RECEIVE_SIZE = 64 * 1024


class ByteReader(Protocol):
    """Reads one connection's bytes. ``receive`` is a checkpoint, returns b"" at EOF,
    and raises OSError or trio.BrokenResourceError when the connection breaks."""

    async def receive(self) -> bytes: ...


class StreamReader:
    """Any ``trio.abc.Stream``, read through its own ``receive_some``."""

    __slots__ = ("_stream",)

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream

    async def receive(self) -> bytes:
        return bytes(await self._stream.receive_some(RECEIVE_SIZE))


class SocketReader:
    """A non-blocking stdlib socket, read without trio's wrappers.

    It guesses whether data is waiting from the last read: a full buffer says more is
    queued, so it reads at once (after a cancel check, with a schedule point after, as
    trio's own sockets do); a short one says the socket is drained, so it waits for
    the kernel to report it readable before it calls ``recv``. A wrong guess costs one
    EAGAIN or one pass through the scheduler, never a lost byte.
    """

    __slots__ = ("_expect_data", "_fd", "_recv")

    def __init__(self, sock: socket.socket) -> None:
        self._fd = sock.fileno()
        self._recv: Callable[[int], bytes] = sock.recv  # recv(size) is all it calls
        self._expect_data = True  # nothing known yet: one try costs at most an EAGAIN

    async def receive(self) -> bytes:
        if self._expect_data:
            await checkpoint_if_cancelled()
            try:
                data = self._recv(RECEIVE_SIZE)
            except BlockingIOError:
                pass
            except OSError:
                await cancel_shielded_checkpoint()  # a failed read yields too, as trio's
                raise
            else:
                await cancel_shielded_checkpoint()  # the bytes are read: never lose them
                self._expect_data = len(data) == RECEIVE_SIZE
                return data
        while True:
            await wait_readable(self._fd)  # the checkpoint: cancellation loses nothing
            try:
                data = self._recv(RECEIVE_SIZE)
            except BlockingIOError:  # woken without data (it happens): wait again
                continue
            self._expect_data = len(data) == RECEIVE_SIZE
            return data


def reader_for(stream: trio.abc.Stream) -> ByteReader:
    """The cheapest reader for ``stream``: a SocketReader for a trio.SocketStream
    over a plain socket, else the stream's own ``receive_some``."""
    if type(stream) is trio.SocketStream:  # final: no subclass can read differently
        # trio keeps the stdlib socket in a private attribute; if that ever changes,
        # the generic path still works.
        raw = getattr(stream.socket, "_sock", None)
        if isinstance(raw, socket.socket):
            return SocketReader(raw)
    return StreamReader(stream)
