"""EventHandoff: carries events from a session's reader task to its consumer.

The reader hands over the events of each network read as one batch on a bounded trio
memory channel; the consumer keeps the batch it took (reversed, so taking the next event
is a ``list.pop()``) and takes events from it one at a time. A channel operation per
item costs about a microsecond on each side, more than parsing a small event, so
batching makes the per-event cost a ``pop`` whenever a read brings several events.

A consumer that finds nothing queued parks in the hand-off itself, not in the
channel, and the reader's next read goes straight to it: the wake-up it needs anyway,
without a channel operation on either side. That is how an idle stream's events
arrive, one per read, with the consumer waiting: at 10,000 streams it cut a tenth of
the client's CPU per event (benchmarks/RESULTS.md). The channel stays the queue
whenever events wait, and with it the bound below.

A read that brings one event, as an idle stream's do, hands over the event alone,
without its list. Every tracked object that the reader allocates and the consumer
frees raises CPython's young-generation count in between; with thousands of streams a
burst of such reads can push the count past the collector's threshold, and passes then
follow one another (benchmarks/RESULTS.md, "The collector, again"). One object fewer per
event is a third less of that rise.

Backpressure: when BATCH_BUFFER batches wait in the channel, the reader waits, stops
reading the socket, and TCP pushes back on the server. A read completes at most one
event larger than itself, so counting batches (reads) bounds the bytes waiting too.

Ktor's ``incoming`` is a channel of single events. It is opened on first use; the
events already queued move into it, and from then on the reader sends to it event
by event, so nothing is lost or reordered by switching.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, NoReturn, Protocol, TypeVar, cast

import trio

__all__ = ["BATCH_BUFFER", "BUFFER", "FAIR_SHARE", "INCOMING_BUFFER", "MAX_BATCH", "EventHandoff"]

E = TypeVar("E")

BATCH_BUFFER = 8  # batches (reads) that may wait in the channel
MAX_BATCH = 256  # events per batch: a huge read is cut, so BUFFER bounds events too
BUFFER = BATCH_BUFFER * MAX_BATCH  # events in the channel when the reader must wait
# Events waiting in ``incoming`` once it is in use. A memory channel cannot count bytes
# (nothing tells the reader when one is taken), so the count is small: at most
# INCOMING_BUFFER * max_event_size bytes wait, like the BATCH_BUFFER + 1 big events
# that iteration holds.
INCOMING_BUFFER = 8
FAIR_SHARE = 32  # events a consumer takes between two checkpoints
_NOTHING = object()  # a parked consumer woken without a read


class Ending(Protocol):
    """Who decides what the end of the events raises (the session: its error, or
    StopAsyncIteration)."""

    def _end_of_events(self) -> NoReturn: ...


class EventHandoff(Generic[E]):
    """The reader calls ``put`` and ``close_producer``; the consumer ``get``,
    ``incoming`` and ``close_consumer``. End of stream is ``trio.EndOfChannel``.

    A consumer may also take ``pending.pop()`` itself while ``pending`` is non-empty
    and ``budget`` is positive, decrementing ``budget``; ``get`` does the same first.
    """

    __slots__ = (
        "_batch_receive",
        "_batch_send",
        "_consumer_closed",
        "_delivered",
        "_incoming",
        "_incoming_send",
        "_parked",
        "_producer_closed",
        "_received",
        "_unbatched",
        "budget",
        "pending",
    )

    def __init__(self) -> None:
        # Opened on first use (_batches): a session holds none while it connects, nor
        # while its consumer waits for each read.
        # Items are batches (lists) or single events that are not lists (put_nowait).
        self._batch_send: trio.MemorySendChannel[list[E] | E] | None = None
        self._batch_receive: trio.MemoryReceiveChannel[list[E] | E] | None = None
        # The events of the batch taken from the channel, last first: a list, not a
        # deque (56 bytes per stream, not about 600), since it is refilled only when empty.
        self.pending: list[E] = []
        self.budget = 0  # events that may be taken before the next checkpoint
        self._incoming_send: trio.MemorySendChannel[E] | None = None
        self._incoming: trio.MemoryReceiveChannel[E] | None = None
        self._producer_closed = False
        self._consumer_closed = False
        self._delivered = 0  # events sent into the batch channel
        self._unbatched = 0  # events moved from the channel into ``pending``
        # The consumer parked in get() with nothing queued, and what the reader handed
        # it directly (_NOTHING: woken to look at the channel, which is closed).
        self._parked: trio.lowlevel.Task | None = None
        self._received: list[E] | E | object = _NOTHING

    def _batches(
        self,
    ) -> tuple[trio.MemorySendChannel[list[E] | E], trio.MemoryReceiveChannel[list[E] | E]]:
        """The batch channel, opened on first use: when events must wait, or an end
        must be told. A memory channel costs about 1.7 KiB (its state, a deque, two task
        registries, both ends), and a stream whose consumer keeps up, as thousands of
        idle ones do, gets each read handed to it and never needs one."""
        if self._batch_send is None or self._batch_receive is None:
            send, receive = trio.open_memory_channel[list[E] | E](BATCH_BUFFER)
            self._batch_send, self._batch_receive = send, receive
            return send, receive
        return self._batch_send, self._batch_receive

    # -- producer side ---------------------------------------------------------------

    async def put(self, events: list[E], on_block: Callable[[], None]) -> None:
        """Hand over the events of one read; ``on_block`` runs before waiting for room.

        Takes ownership of ``events``. Raises trio.BrokenResourceError once the
        consumer has closed its side.
        """
        # One read can hold thousands of tiny events (a compressed body, say): cut it
        # into batches, so the channel's bound is a bound on events too.
        for start in range(0, len(events), MAX_BATCH):
            if self._incoming_send is not None:  # the consumer switched to ``incoming``
                await self._put_one_by_one(events[start:], on_block)
                return
            batch = events[start : start + MAX_BATCH] if len(events) > MAX_BATCH else events
            if not self._hand_to_parked(batch):
                send = self._batch_send or self._batches()[0]
                try:
                    send.send_nowait(batch)
                except trio.WouldBlock:
                    on_block()
                    await send.send(batch)
            self._delivered += len(batch)

    def put_nowait(self, events: list[E]) -> bool:
        """Hand over the events of one read now, as one batch, if ``put`` would not
        wait; False (nothing handed over) if it would, or if they must be cut into
        batches or go to ``incoming``: then call ``put``. Raises as ``put`` does."""
        if self._incoming_send is not None or len(events) > MAX_BATCH:
            return False
        # One event goes alone (a list event stays in its batch, or get() could not tell).
        item = events[0] if len(events) == 1 and not isinstance(events[0], list) else events
        if not self._hand_to_parked(item):
            send = self._batch_send or self._batches()[0]
            try:
                send.send_nowait(item)
            except trio.WouldBlock:
                return False
        self._delivered += len(events)
        return True

    def _hand_to_parked(self, item: list[E] | E) -> bool:
        """Give ``item`` to the consumer parked in get(), if one is: True if it took it.
        Only a consumer that found nothing queued parks, and nothing is queued while it
        waits, so this keeps the order."""
        parked = self._parked
        if parked is None:
            return False
        self._parked = None
        self._received = item
        trio.lowlevel.reschedule(parked)
        return True

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
        self._batches()[0].close()
        self._wake_parked()  # to find the channel closed and empty: the end
        if self._incoming_send is not None:
            self._incoming_send.close()

    # -- consumer side ---------------------------------------------------------------

    async def get(self, ending: Ending | None = None) -> E:
        """The next event; a checkpoint at least every FAIR_SHARE events. After the
        last one, ``ending._end_of_events()`` raises (without ``ending``, the channel's
        trio.EndOfChannel or ClosedResourceError does).

        Everything happens in this one coroutine (the session's ``__anext__`` returns
        it as it is): a consumer parked here holds one frame of ours, not two, and with
        thousands of streams each parked frame is an object the collector rescans.
        """
        pending = self.pending
        if pending and self.budget:  # events of the last read: no checkpoint yet
            self.budget -= 1
            return pending.pop()
        try:
            if self._incoming is not None:
                return await self._incoming.receive()
            if pending:
                await trio.lowlevel.checkpoint()
            else:
                try:
                    if (
                        self._delivered == self._unbatched  # nothing queued or on its way
                        and self._parked is None  # a second consumer waits in the channel
                        and not self._producer_closed
                        and not self._consumer_closed
                    ):
                        # Parked here, for _hand_to_parked: not a coroutine of its own,
                        # as the docstring says.
                        await trio.lowlevel.checkpoint_if_cancelled()
                        self._parked = trio.lowlevel.current_task()
                        await trio.lowlevel.wait_task_rescheduled(self._unpark)
                        received, self._received = self._received, _NOTHING
                        if received is _NOTHING:  # woken to find the channel closed
                            batch = await self._batches()[1].receive()
                        else:
                            batch = cast("list[E] | E", received)
                    else:
                        batch = await (self._batch_receive or self._batches()[1]).receive()
                except trio.ClosedResourceError:
                    incoming = self._incoming_now()
                    if incoming is None:
                        raise
                    # ``incoming`` was opened while this call waited: go on with it.
                    return await incoming.receive()
                self.budget = FAIR_SHARE - 1
                if not isinstance(batch, list):  # one event, handed over alone
                    self._unbatched += 1
                    return batch
                self._unbatched += len(batch)
                if len(batch) == 1:
                    return batch[0]
                # Reversed (a copy: the reader's list may also be an error's
                # ``events``), so the next event is at the end.
                self.pending = pending = batch[::-1]
        except (trio.EndOfChannel, trio.ClosedResourceError):
            if ending is None:
                raise
            ending._end_of_events()
        self.budget = FAIR_SHARE - 1
        return pending.pop()

    def _unpark(self, _: object) -> trio.lowlevel.Abort:
        """The parked consumer was cancelled: the reader's next read goes to the channel."""
        self._parked = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _wake_parked(self) -> None:
        parked = self._parked
        if parked is not None:
            self._parked = None
            trio.lowlevel.reschedule(parked)

    def _incoming_now(self) -> trio.MemoryReceiveChannel[E] | None:
        """``_incoming`` read afresh: after an await, mypy would still take it for the
        None it was narrowed to before, though ``incoming`` may have opened meanwhile."""
        return self._incoming

    @property
    def incoming(self) -> trio.MemoryReceiveChannel[E]:
        if self._incoming is None:
            self._open_incoming()
            assert self._incoming is not None
        return self._incoming

    def _open_incoming(self) -> None:
        """Switch to a per-event channel, moving every queued event into it, in order.

        A reader waiting for room in the batch channel is let through: its batch is
        queued here too, and its next ``put`` goes to ``incoming``."""
        queued: list[E] = self.pending[::-1]
        self.pending.clear()
        self.budget = 0
        batches = self._batches()[1]
        while True:
            try:
                batch = batches.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            if isinstance(batch, list):
                self._unbatched += len(batch)
                queued.extend(batch)
            else:
                self._unbatched += 1
                queued.append(batch)
        send, receive = trio.open_memory_channel[E](max(INCOMING_BUFFER, len(queued)))
        for event in queued:
            send.send_nowait(event)
        self._incoming_send = send
        self._incoming = receive
        batches.close()  # a consumer waiting in get() moves to ``incoming``
        self._wake_parked()
        if self._producer_closed:
            send.close()

    def close_consumer(self) -> None:
        """The consumer is gone: drop what is queued and make the reader's put fail."""
        self._consumer_closed = True
        self._wake_parked()  # another task of the consumer's, waiting: ClosedResourceError
        self.pending.clear()
        self.budget = 0
        self._batches()[1].close()
        if self._incoming is not None:
            self._incoming.close()

    def buffered(self) -> int:
        """Events handed over by the reader and not yet taken by the consumer."""
        if self._consumer_closed:
            return 0
        if self._incoming is not None:
            return self._incoming.statistics().current_buffer_used
        return self._delivered - self._unbatched + len(self.pending)
