"""EventHandoff: the batch channel between a session's reader and its consumer."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from trio_sse._handoff import BATCH_BUFFER, BUFFER, MAX_BATCH, EventHandoff

# Every test that waits runs on the autojump clock inside trio.fail_after(HANG): a
# missing wake-up fails at once instead of hanging. pytest-trio installs a clock only
# for a test that takes it as an argument (not through usefixtures), hence the
# ``autojump_clock`` parameters.
HANG = 600


@contextlib.asynccontextmanager
async def guarded_nursery() -> AsyncIterator[trio.Nursery]:
    with trio.fail_after(HANG):
        async with trio.open_nursery() as nursery:
            yield nursery


def _never_blocks() -> None:
    raise AssertionError("the reader must not wait here")


async def test_events_of_one_put_are_taken_without_waiting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    handoff = EventHandoff[int]()
    await handoff.put([1, 2, 3], _never_blocks)
    assert handoff.buffered() == 3
    assert [await handoff.get() for _ in range(3)] == [1, 2, 3]
    assert handoff.buffered() == 0


async def take_one(handoff: EventHandoff[int], got: list[int]) -> None:
    """A consumer that waits in get() for one event."""
    got.append(await handoff.get())


async def test_a_waiting_consumer_is_woken_by_put(autojump_clock: trio.testing.MockClock) -> None:
    handoff = EventHandoff[int]()
    got: list[int] = []
    async with guarded_nursery() as nursery:
        nursery.start_soon(take_one, handoff, got)
        await trio.testing.wait_all_tasks_blocked()
        await handoff.put([7], _never_blocks)
    assert got == [7]


async def test_a_cancelled_wait_leaves_the_handoff_usable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The abort callback forgets the parked consumer: a later put must not wake a task
    that stopped waiting (trio would fail on rescheduling it)."""
    handoff = EventHandoff[int]()
    with trio.move_on_after(1):
        await handoff.get()
    await handoff.put([1], _never_blocks)
    assert await handoff.get() == 1


async def test_a_full_channel_parks_the_reader_until_a_batch_is_taken(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """BATCH_BUFFER batches wait in the channel; the reader waits for room, and goes
    on once the consumer has moved one batch into its own deque."""
    handoff = EventHandoff[int]()
    blocked: list[int] = []
    done = trio.Event()
    await handoff.put(list(range(BUFFER)), _never_blocks)

    async def produce() -> None:
        await handoff.put([-1], lambda: blocked.append(handoff.buffered()))
        done.set()

    async with guarded_nursery() as nursery:
        nursery.start_soon(produce)
        await trio.testing.wait_all_tasks_blocked()
        assert blocked == [BUFFER]  # on_block ran, then the reader waited
        assert not done.is_set()
        assert await handoff.get() == 0  # a batch leaves the channel: room
        await done.wait()
    assert handoff.buffered() == BUFFER  # 255 pending, 7 batches and [-1] waiting
    assert len(handoff.pending) == MAX_BATCH - 1


async def test_a_huge_read_goes_in_batches_within_the_bound(
    autojump_clock: trio.testing.MockClock,
) -> None:
    handoff = EventHandoff[int]()
    events = list(range(BUFFER + 5 * MAX_BATCH))
    got: list[int] = []
    async with guarded_nursery() as nursery:

        async def produce() -> None:
            await handoff.put(events, lambda: None)
            handoff.close_producer()

        nursery.start_soon(produce)
        await trio.testing.wait_all_tasks_blocked()
        assert handoff.buffered() == BUFFER
        while True:
            try:
                got.append(await handoff.get())
            except trio.EndOfChannel:
                break
            assert handoff.buffered() < BUFFER + MAX_BATCH
    assert got == events


async def test_closing_the_consumer_fails_a_waiting_reader(
    autojump_clock: trio.testing.MockClock,
) -> None:
    handoff = EventHandoff[int]()
    await handoff.put(list(range(BUFFER)), _never_blocks)
    async with guarded_nursery() as nursery:

        async def produce() -> None:
            with pytest.raises(trio.BrokenResourceError):
                await handoff.put([1], lambda: None)

        nursery.start_soon(produce)
        await trio.testing.wait_all_tasks_blocked()
        handoff.close_consumer()
    assert handoff.buffered() == 0


async def test_closing_the_producer_ends_a_waiting_consumer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    handoff = EventHandoff[int]()
    async with guarded_nursery() as nursery:

        async def consume() -> None:
            assert await handoff.get() == 1
            with pytest.raises(trio.EndOfChannel):
                await handoff.get()

        nursery.start_soon(consume)
        await handoff.put([1], _never_blocks)
        await trio.testing.wait_all_tasks_blocked()
        handoff.close_producer()


async def test_switching_to_incoming_keeps_order_and_frees_a_waiting_reader(
    autojump_clock: trio.testing.MockClock,
) -> None:
    handoff = EventHandoff[int]()
    await handoff.put(list(range(BUFFER)), _never_blocks)
    async with guarded_nursery() as nursery:

        async def produce() -> None:
            await handoff.put([BUFFER, BUFFER + 1], lambda: None)
            handoff.close_producer()

        nursery.start_soon(produce)
        await trio.testing.wait_all_tasks_blocked()
        got = [event async for event in handoff.incoming]
    assert got == list(range(BUFFER + 2))


async def test_the_events_of_batch_buffer_reads_fill_it_whatever_their_count(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """One read brings at most one event larger than the read: counting the reads not
    yet taken bounds the bytes waiting, where a count of events could not."""
    handoff = EventHandoff[str]()
    for n in range(BATCH_BUFFER):
        await handoff.put([f"big {n}"], _never_blocks)
    blocked: list[int] = []
    async with guarded_nursery() as nursery:

        async def produce() -> None:
            await handoff.put(["one more"], lambda: blocked.append(handoff.buffered()))

        nursery.start_soon(produce)
        await trio.testing.wait_all_tasks_blocked()
        assert blocked == [BATCH_BUFFER]
        assert await handoff.get() == "big 0"
    assert handoff.buffered() == BATCH_BUFFER


async def test_a_consumer_on_its_fast_path_then_in_get_frees_a_waiting_reader(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The session's ``__anext__`` pops ``pending`` itself; when it then waits in get()
    for more, a reader waiting on the full channel must get through, or both wait
    forever."""
    handoff = EventHandoff[int]()
    for n in range(BATCH_BUFFER):
        await handoff.put([n], _never_blocks)
    async with guarded_nursery() as nursery:
        nursery.start_soon(handoff.put, [BATCH_BUFFER], lambda: None)
        await trio.testing.wait_all_tasks_blocked()
        taken = [await handoff.get()]
        while handoff.pending:  # the fast path
            taken.append(handoff.pending.pop())
        for _ in range(BATCH_BUFFER):
            taken.append(await handoff.get())
    assert taken == list(range(BATCH_BUFFER + 1))


async def test_get_waiting_when_incoming_opens_goes_on_with_incoming(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A consumer parked in get() while ``incoming`` is opened elsewhere must not be
    stranded on the batch channel."""
    handoff = EventHandoff[int]()
    got: list[int] = []
    async with guarded_nursery() as nursery:
        nursery.start_soon(take_one, handoff, got)
        await trio.testing.wait_all_tasks_blocked()
        assert handoff.incoming is not None
        await handoff.put([5], _never_blocks)
    assert got == [5]


async def test_the_consumer_leaves_the_readers_list_as_it_was(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The reader's list may also be an SSEProtocolError's ``events``: taking events
    # from it must not reorder or empty it.
    handoff = EventHandoff[int]()
    events = [1, 2, 3]
    await handoff.put(events, _never_blocks)
    assert [await handoff.get() for _ in range(3)] == [1, 2, 3]
    assert events == [1, 2, 3]


def test_an_idle_handoff_keeps_no_deque() -> None:
    # One per stream: the consumer's pending events are a list (56 bytes), not a
    # deque (about 600), since they are refilled only once taken.
    assert sys.getsizeof(EventHandoff[int]().pending) < 100


async def test_put_nowait_hands_over_only_what_fits_as_one_batch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    handoff = EventHandoff[int]()
    assert handoff.put_nowait([1, 2])
    assert not handoff.put_nowait(list(range(MAX_BATCH + 1)))  # must be cut: put() does
    for n in range(BATCH_BUFFER - 1):
        assert handoff.put_nowait([10 + n])
    assert not handoff.put_nowait([99])  # no room: nothing handed over
    assert handoff.buffered() == 2 + BATCH_BUFFER - 1
    assert [await handoff.get() for _ in range(3)] == [1, 2, 10]
    assert handoff.incoming is not None  # the consumer switched to single events
    assert not handoff.put_nowait([7])  # put() sends those one by one
    handoff.close_consumer()
    handoff_closed = EventHandoff[int]()
    handoff_closed.close_consumer()
    with pytest.raises(trio.BrokenResourceError):
        handoff_closed.put_nowait([1])


async def test_a_one_event_read_goes_over_without_its_list(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Each tracked object the reader allocates and the consumer frees counts toward the
    # collector's young generation meanwhile: one event per read sends the event alone.
    handoff = EventHandoff[tuple[str]]()
    event = ("only",)
    assert handoff.put_nowait([event])
    assert handoff.buffered() == 1
    assert handoff._batches()[1].receive_nowait() is event


async def test_single_events_and_batches_come_out_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    handoff = EventHandoff[str]()
    for events in (["a"], ["b", "c"], ["d"], ["e"]):
        assert handoff.put_nowait(events)
    assert handoff.buffered() == 5
    assert [await handoff.get() for _ in range(3)] == ["a", "b", "c"]
    assert handoff.buffered() == 2
    assert [await handoff.get() for _ in range(2)] == ["d", "e"]
    assert handoff.buffered() == 0


async def test_an_event_that_is_a_list_stays_in_its_batch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # With a model, an event may itself be a list: it must come out whole, not as the
    # batch of its items.
    handoff = EventHandoff[list[int]]()
    assert handoff.put_nowait([[1, 2]])
    assert handoff.put_nowait([[]])
    assert await handoff.get() == [1, 2]
    assert await handoff.get() == []


async def test_switching_to_incoming_keeps_single_events_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    handoff = EventHandoff[str]()
    assert handoff.put_nowait(["a"])
    assert handoff.put_nowait(["b", "c"])
    assert handoff.put_nowait(["d"])
    incoming = handoff.incoming
    assert [incoming.receive_nowait() for _ in range(4)] == ["a", "b", "c", "d"]


# -- a consumer that waits parks in the hand-off: the next read goes straight to it


async def test_a_waiting_consumer_parks_in_the_handoff_not_in_the_channel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An idle stream's reads each bring one event while its consumer waits: that read
    goes to the consumer without a channel operation on either side."""
    handoff = EventHandoff[int]()
    got: list[int] = []
    async with guarded_nursery() as nursery:
        nursery.start_soon(take_one, handoff, got)
        await trio.testing.wait_all_tasks_blocked()
        channel = handoff._batches()[1].statistics()
        assert channel.tasks_waiting_receive == 0  # parked in the hand-off
        assert handoff.put_nowait([42])
        assert handoff._batches()[1].statistics().current_buffer_used == 0
        assert handoff.buffered() == 1  # handed over, not yet taken
    assert got == [42]
    assert handoff.buffered() == 0


async def test_a_batch_for_a_parked_consumer_comes_out_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    handoff = EventHandoff[int]()
    got: list[int] = []
    async with guarded_nursery() as nursery:
        nursery.start_soon(take_one, handoff, got)
        await trio.testing.wait_all_tasks_blocked()
        assert handoff.put_nowait([1, 2, 3])
        await trio.testing.wait_all_tasks_blocked()
        assert handoff.put_nowait([4])  # queued: the consumer is not waiting now
        got += [await handoff.get() for _ in range(3)]
    assert got == [1, 2, 3, 4]


async def test_a_parked_consumer_is_woken_by_close_consumer_from_another_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    handoff = EventHandoff[int]()
    async with guarded_nursery() as nursery:

        async def consume() -> None:
            with pytest.raises(trio.ClosedResourceError):
                await handoff.get()

        nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        handoff.close_consumer()
    with pytest.raises(trio.BrokenResourceError):
        handoff.put_nowait([1])


async def test_two_waiting_consumers_each_get_a_read_and_then_the_end(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Only one consumer parks in the hand-off; a second waits in the channel. Each read
    wakes one of them, and the end wakes both."""
    handoff = EventHandoff[int]()
    got: list[int] = []
    ended: list[str] = []

    async def consume(name: str) -> None:
        while True:
            try:
                got.append(await handoff.get())
            except trio.EndOfChannel:
                ended.append(name)
                return

    async with guarded_nursery() as nursery:
        nursery.start_soon(consume, "first")
        nursery.start_soon(consume, "second")
        await trio.testing.wait_all_tasks_blocked()
        assert handoff._batches()[1].statistics().tasks_waiting_receive == 1
        for n in range(4):
            assert handoff.put_nowait([n])
            await trio.testing.wait_all_tasks_blocked()
        handoff.close_producer()
    assert sorted(got) == [0, 1, 2, 3]
    assert sorted(ended) == ["first", "second"]


async def test_get_after_close_consumer_fails_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    handoff = EventHandoff[int]()
    handoff.close_consumer()
    with trio.fail_after(HANG), pytest.raises(trio.ClosedResourceError):
        await handoff.get()
