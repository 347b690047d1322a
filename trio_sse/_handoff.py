"""EventHandoff: carries events from a session's reader task to its consumer.

A trio memory channel costs about a microsecond per item on each side, more than
parsing an event, and a batch channel still costs a channel operation per read when
events arrive one per read (the usual case for a live stream). So the events wait in
a plain deque: the reader appends the events of one read, the consumer pops them.
Either side parks on Trio's low-level primitives only when it must wait: the consumer
when the deque is empty, the reader when it is full (BUFFER events). Backpressure is
kept: a full deque stops the reader, which stops reading the socket, and TCP pushes
back on the server.

Ktor's ``incoming`` is a channel of single events. It is opened on first use; the
events already queued move into it, and from then on the reader sends to it event
by event, so nothing is lost or reordered by switching.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import trio

__all__ = ["BATCH_BUFFER", "BUFFER", "FAIR_SHARE", "INCOMING_BUFFER", "MAX_BATCH", "EventHandoff"]

E = TypeVar("E")

MAX_BATCH = 256  # events added to the deque at once; the rest of a read waits for room
BATCH_BUFFER = 8  # reads (batches) whose events may wait, not all taken yet
BUFFER = BATCH_BUFFER * MAX_BATCH  # events the reader may run ahead of the consumer
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
    the rest (checkpoints, waiting, waking the reader, the ``incoming`` channel).
    """

    __slots__ = (
        "_batch_ends",
        "_consumer_closed",
        "_consumer_task",
        "_incoming",
        "_incoming_send",
        "_producer_closed",
        "_producer_task",
        "_put_total",
        "budget",
        "pending",
    )

    def __init__(self) -> None:
        self.pending: deque[E] = deque()  # handed over, not yet taken
        self.budget = 0  # events that may be taken before the next checkpoint
        self._put_total = 0  # events ever added to ``pending``
        # _put_total after each batch not all taken (at most BATCH_BUFFER: a list is
        # smaller than a deque, and popping its front is cheap at that length)
        self._batch_ends: list[int] = []
        self._consumer_task: trio.lowlevel.Task | None = None  # parked: nothing to take
        self._producer_task: trio.lowlevel.Task | None = None  # parked: no room
        self._incoming_send: trio.MemorySendChannel[E] | None = None
        self._incoming: trio.MemoryReceiveChannel[E] | None = None
        self._producer_closed = False
        self._consumer_closed = False

    # Each side parks with trio.lowlevel.wait_task_rescheduled and is woken with
    # reschedule() by the other; a cancelled wait just forgets the parked task.

    def _forget_producer(self, _: object) -> trio.lowlevel.Abort:
        self._producer_task = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _forget_consumer(self, _: object) -> trio.lowlevel.Abort:
        self._consumer_task = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _wake_consumer(self) -> None:
        task = self._consumer_task
        if task is not None:
            self._consumer_task = None
            trio.lowlevel.reschedule(task)

    def _wake_producer(self) -> None:
        task = self._producer_task
        if task is not None:
            self._producer_task = None
            trio.lowlevel.reschedule(task)

    # -- producer side ---------------------------------------------------------------

    async def put(self, events: list[E], on_block: Callable[[], None]) -> None:
        """Hand over the events of one read; ``on_block`` runs before waiting for room.

        Raises trio.BrokenResourceError once the consumer has closed its side.
        """
        pending = self.pending
        # One read can hold thousands of tiny events (a compressed body, say): they go
        # in MAX_BATCH at a time, so BUFFER bounds the events waiting, not the read.
        start = 0
        while start < len(events):
            if self._consumer_closed:
                raise trio.BrokenResourceError("the consumer closed the session")
            if self._incoming_send is not None:  # the consumer switched to ``incoming``
                await self._put_one_by_one(events[start:], on_block)
                return
            if self._full():
                on_block()
                self._producer_task = trio.lowlevel.current_task()
                await trio.lowlevel.wait_task_rescheduled(self._forget_producer)
                continue
            batch = (
                events
                if start == 0 and len(events) <= MAX_BATCH
                else events[start : start + MAX_BATCH]
            )
            pending.extend(batch)
            self._put_total += len(batch)
            self._batch_ends.append(self._put_total)
            start += MAX_BATCH
            self._wake_consumer()

    def _full(self) -> bool:
        """Events of BATCH_BUFFER batches wait (so at most BUFFER events)."""
        ends = self._batch_ends
        taken = self._put_total - len(self.pending)
        if ends and ends[0] <= taken:
            done = 1
            while done < len(ends) and ends[done] <= taken:
                done += 1
            del ends[:done]
        return len(ends) >= BATCH_BUFFER

    async def _put_one_by_one(self, events: list[E], on_block: Callable[[], None]) -> None:
        send = self._incoming_send
        assert send is not None
        for event in events:
            try:
                send.send_nowait(event)
            except trio.WouldBlock:
                on_block()
                await send.send(event)

    def close_producer(self) -> None:
        """No more events: the consumer sees EndOfChannel after the queued ones."""
        self._producer_closed = True
        if self._incoming_send is not None:
            self._incoming_send.close()
        self._wake_consumer()

    # -- consumer side ---------------------------------------------------------------

    async def get(self) -> E:
        """The next event; a checkpoint at least every FAIR_SHARE events."""
        if self._incoming is not None:
            return await self._incoming.receive()
        pending = self.pending
        if pending:
            await trio.lowlevel.checkpoint()
        while not pending:
            if self._consumer_closed:
                raise trio.ClosedResourceError("the session was closed")
            if self._incoming is not None:  # switched while this call waited
                return await self._incoming.receive()
            if self._producer_closed:
                raise trio.EndOfChannel
            self._wake_producer()  # the fast path may have emptied a full deque
            self._consumer_task = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._forget_consumer)
        event = pending.popleft()
        if self._producer_task is not None and not self._full():
            self._wake_producer()
        self.budget = FAIR_SHARE - 1
        return event

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
        self._batch_ends.clear()
        self.budget = 0
        send, receive = trio.open_memory_channel[E](max(INCOMING_BUFFER, len(queued)))
        for event in queued:
            send.send_nowait(event)
        self._incoming_send = send
        self._incoming = receive
        if self._producer_closed:
            send.close()
        self._wake_producer()  # a reader waiting for room goes on with the channel
        self._wake_consumer()  # a consumer waiting in get() goes on with the channel

    def close_consumer(self) -> None:
        """The consumer is gone: drop what is queued and make the reader's put fail."""
        self._consumer_closed = True
        self.pending.clear()
        self._batch_ends.clear()
        self.budget = 0
        if self._incoming is not None:
            self._incoming.close()
        self._wake_producer()
        self._wake_consumer()

    def buffered(self) -> int:
        """Events handed over by the reader and not yet taken by the consumer."""
        if self._consumer_closed:
            return 0
        if self._incoming is not None:
            return self._incoming.statistics().current_buffer_used
        return len(self.pending)
