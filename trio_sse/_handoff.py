"""EventHandoff: carries events from a session's reader task to its consumer.

A trio memory channel costs about a microsecond per item on each side, more than
parsing an event. So events travel in batches (the events of one network read)
over a small bounded channel, and the consumer takes them one at a time from a
local deque: the per-event cost is a ``popleft``. Backpressure is kept: when the
channel is full the reader waits, stops reading the socket, and TCP pushes back.

Ktor's ``incoming`` is a channel of single events. It is opened on first use; the
events already queued move into it, and from then on the reader sends to it event
by event, so nothing is lost or reordered by switching.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import trio

__all__ = ["BATCH_BUFFER", "FAIR_SHARE", "INCOMING_BUFFER", "EventHandoff"]

E = TypeVar("E")

BATCH_BUFFER = 8  # batches the reader may run ahead of the consumer
MAX_BATCH = 256  # events per batch: with BATCH_BUFFER, at most ~2,300 events wait
# Events waiting in ``incoming`` once it is in use. A memory channel cannot count bytes
# (nothing tells the reader when one is taken), so the count is small: at most
# INCOMING_BUFFER * max_event_size bytes wait, like the ~BATCH_BUFFER + 1 big events
# that iteration holds.
INCOMING_BUFFER = 8
FAIR_SHARE = 32  # events a consumer takes between two checkpoints


class EventHandoff(Generic[E]):
    """The reader calls ``put`` and ``close_producer``; the consumer ``get``,
    ``incoming`` and ``close_consumer``. End of stream is ``trio.EndOfChannel``.

    A consumer on a hot path may take ``pending.popleft()`` itself while ``pending``
    is non-empty and ``budget`` is positive, decrementing ``budget``; ``get`` does
    the rest (checkpoints, refills, the ``incoming`` channel).
    """

    def __init__(self) -> None:
        send, receive = trio.open_memory_channel[list[E]](BATCH_BUFFER)
        self._batch_send = send
        self._batch_receive = receive
        self.pending: deque[E] = deque()  # events of the current batch
        self.budget = 0  # events that may be taken before the next checkpoint
        self._incoming_send: trio.MemorySendChannel[E] | None = None
        self._incoming: trio.MemoryReceiveChannel[E] | None = None
        self._producer_closed = False
        self._consumer_closed = False
        self._delivered = 0
        self._unbatched = 0  # events moved from the channel into ``pending``

    # -- producer side ---------------------------------------------------------------

    async def put(self, events: list[E], on_block: Callable[[], None]) -> None:
        """Hand over the events of one read; ``on_block`` runs before waiting for room.

        Raises trio.BrokenResourceError once the consumer has closed its side.
        """
        # One read can hold thousands of tiny events (a compressed body, say): cut it
        # into batches, so the channel's bound is a bound on events too.
        for start in range(0, len(events), MAX_BATCH):
            if self._incoming_send is not None:  # the consumer switched to ``incoming``
                await self._put_one_by_one(events[start:], on_block)
                return
            batch = events[start : start + MAX_BATCH] if len(events) > MAX_BATCH else events
            self._delivered += len(batch)
            try:
                self._batch_send.send_nowait(batch)
            except trio.WouldBlock:
                on_block()
                await self._batch_send.send(batch)

    async def _put_one_by_one(self, events: list[E], on_block: Callable[[], None]) -> None:
        send = self._incoming_send
        assert send is not None
        self._delivered += len(events)
        for event in events:
            try:
                send.send_nowait(event)
            except trio.WouldBlock:
                on_block()
                await send.send(event)

    def close_producer(self) -> None:
        """No more events: the consumer sees EndOfChannel after the queued ones."""
        self._producer_closed = True
        self._batch_send.close()
        if self._incoming_send is not None:
            self._incoming_send.close()

    # -- consumer side ---------------------------------------------------------------

    async def get(self) -> E:
        """The next event; a checkpoint at least every FAIR_SHARE events."""
        if self._incoming is not None:
            return await self._incoming.receive()
        pending = self.pending
        if pending:
            await trio.lowlevel.checkpoint()
        else:
            batch = await self._batch_receive.receive()
            self._unbatched += len(batch)
            pending.extend(batch)
        self.budget = FAIR_SHARE - 1
        return pending.popleft()

    @property
    def incoming(self) -> trio.MemoryReceiveChannel[E]:
        if self._incoming is None:
            self._open_incoming()
            assert self._incoming is not None
        return self._incoming

    def _open_incoming(self) -> None:
        """Switch to a per-event channel, moving every queued event into it, in order."""
        queued: list[E] = list(self.pending)
        self.pending.clear()
        self.budget = 0
        while True:
            try:
                queued.extend(self._batch_receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        send, receive = trio.open_memory_channel[E](max(INCOMING_BUFFER, len(queued)))
        for event in queued:
            send.send_nowait(event)
        self._incoming_send = send
        self._incoming = receive
        if self._producer_closed:
            send.close()

    def close_consumer(self) -> None:
        """The consumer is gone: drop what is queued and make the reader's put fail."""
        self._consumer_closed = True
        self.pending.clear()
        self.budget = 0
        self._batch_receive.close()
        if self._incoming is not None:
            self._incoming.close()

    def buffered(self) -> int:
        """Events handed over by the reader and not yet taken by the consumer."""
        if self._consumer_closed:
            return 0
        if self._incoming is not None:
            return self._incoming.statistics().current_buffer_used
        return self._delivered - self._unbatched + len(self.pending)
