"""How the session reads a connection, one network read at a time.

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
``receive_some`` (:class:`StreamReader`). The session's read loop awaits the
reader's ``wait()`` itself; for a plain socket that is trio's own wait, with no frame
of ours in between.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable
from typing import Protocol

import trio
from trio.lowlevel import checkpoint, wait_readable

__all__ = ["RECEIVE_SIZE", "ByteReader", "SocketReader", "StreamReader", "reader_for"]

# Bytes asked of each read. Not more: a buffer over glibc's 128 KiB mmap threshold is
# mapped and unmapped on every read, and its page faults cost more than the syscalls
# a bigger read saves (about 20 faults per 64 KiB event with 1 MiB reads).
RECEIVE_SIZE = 64 * 1024


class _Receiving(Protocol):
    """What SocketReader calls on its socket."""

    def recv(self, size: int, /) -> bytes: ...


class ByteReader:
    """Reads one connection's bytes, in two steps so that a caller can park in the
    transport's own wait: ``wait()`` is a checkpoint after which ``read()`` returns
    bytes (b"" at EOF) or None (nothing yet: wait again). ``wait()`` returns an
    awaitable rather than being a coroutine of its own: for a plain socket trio's own
    wait, so each of thousands of idle streams holds one frame less while it waits
    (a StreamReader's is a coroutine of ours around ``receive_some``). Both raise
    OSError or trio.BrokenResourceError when the connection breaks."""

    __slots__ = ()

    def wait(self) -> Awaitable[object]:
        raise NotImplementedError

    def read(self) -> bytes | None:
        raise NotImplementedError

    async def receive(self) -> bytes:
        """The next read's bytes (b"" at EOF): ``wait`` and ``read`` until there are some."""
        while True:
            await self.wait()
            data = self.read()
            if data is not None:
                return data


class StreamReader(ByteReader):
    """Any ``trio.abc.Stream``, read through its own ``receive_some``: ``wait`` reads,
    ``read`` hands over what it read."""

    __slots__ = ("_data", "_stream")

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        self._data: bytes | None = None

    def wait(self) -> Awaitable[object]:
        return self._receive_some()

    async def _receive_some(self) -> None:
        self._data = bytes(await self._stream.receive_some(RECEIVE_SIZE))

    def read(self) -> bytes | None:
        data, self._data = self._data, None
        return data


class SocketReader(ByteReader):
    """A non-blocking stdlib socket, read without trio's wrappers.

    It guesses whether data is waiting from the last read: a full buffer says more is
    queued, so ``wait`` is a plain checkpoint and the read comes at once; a short one
    says the socket is drained, so ``wait`` waits for the kernel to report it readable
    and ``read`` then calls ``recv`` once. A wrong guess costs one EAGAIN (``read``
    returns None) or one pass through the scheduler, never a lost byte: nothing is
    read until the checkpoint is over, so a cancellation there loses nothing.
    """

    __slots__ = ("_expect_data", "_fd", "_sock")

    def __init__(self, sock: socket.socket) -> None:
        self._fd = sock.fileno()
        # The socket, not its bound ``recv``: a bound method would be one more object
        # per stream for the collector to track and scan (recv(size) is all it calls).
        self._sock: _Receiving = sock
        self._expect_data = True  # nothing known yet: one try costs at most an EAGAIN

    def wait(self) -> Awaitable[object]:
        # Returned, not awaited here: the caller awaits trio's coroutine directly.
        if self._expect_data:
            return checkpoint()  # noqa: ASYNC105
        return wait_readable(self._fd)  # noqa: ASYNC105

    def read(self) -> bytes | None:
        try:
            data = self._sock.recv(RECEIVE_SIZE)
        except BlockingIOError:  # a wrong guess, or woken without data (it happens)
            self._expect_data = False
            return None
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
