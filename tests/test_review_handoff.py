"""Second reading of _handoff.py: each test fails if the one line keeping a promise is
changed (the mutation it catches is named in its docstring)."""

from __future__ import annotations

import gc
import weakref

import trio
import trio.testing

from trio_sse._handoff import BUFFER, MAX_BATCH, EventHandoff

# Every test that could wait runs on the autojump clock inside trio.fail_after(HANG): a
# missing wake-up fails at once instead of hanging. The clock is a parameter of each:
# pytest-trio installs only a clock the test function itself asks for (a
# ``usefixtures`` mark leaves the system clock, and HANG real seconds).
HANG = 600


def _never_blocks() -> None:
    raise AssertionError("the reader must not wait here")


class Event:
    """An event a weak reference can watch (ints and strings cannot be)."""

    def __init__(self, n: int) -> None:
        self.n = n


class StepCounter(trio.abc.Instrument):
    """Counts each task's steps: a task that went through the scheduler (a checkpoint)
    starts a new step."""

    def __init__(self) -> None:
        self.steps: dict[trio.lowlevel.Task, int] = {}

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[task] = self.steps.get(task, 0) + 1


async def test_a_reader_let_through_by_incoming_sends_the_rest_of_its_read_there(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Switching to ``incoming`` loses and reorders nothing, even in the middle of one
    put: the batches after the one that waited go to ``incoming``, not to the closed
    batch channel. Catches the switch checked only before the first batch."""
    handoff = EventHandoff[int]()
    events = list(range(BUFFER + 2 * MAX_BATCH))  # the 9th of 10 batches must wait
    with trio.fail_after(HANG):
        async with trio.open_nursery() as nursery:

            async def produce() -> None:
                await handoff.put(events, lambda: None)
                handoff.close_producer()

            nursery.start_soon(produce)
            await trio.testing.wait_all_tasks_blocked()
            assert handoff.buffered() == BUFFER  # the reader waits for room
            got = [event async for event in handoff.incoming]
    assert got == events


async def test_incoming_starts_with_the_rest_of_a_batch_being_taken_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The events left of a batch the consumer started come first in ``incoming``, in
    order. Catches ``pending`` (kept last first) moved without reversing it."""
    handoff = EventHandoff[int]()
    await handoff.put([1, 2, 3], _never_blocks)
    assert await handoff.get() == 1
    handoff.close_producer()
    with trio.fail_after(HANG):
        assert [event async for event in handoff.incoming] == [2, 3]


async def test_incoming_opened_after_the_end_ends_after_the_queued_events(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A stream that ended before ``incoming`` was first used: ``incoming`` gives the
    queued events, then ends. Catches its send side left open (the iteration hangs)."""
    handoff = EventHandoff[int]()
    await handoff.put([1], _never_blocks)
    handoff.close_producer()
    with trio.fail_after(HANG):
        assert [event async for event in handoff.incoming] == [1]


async def test_close_consumer_lets_go_of_the_events_of_a_batch_being_taken() -> None:
    """The consumer is gone: what it had not taken is dropped, not held until the
    session is. Catches ``pending`` not cleared by close_consumer."""
    handoff = EventHandoff[Event]()
    watchers = []
    events = []
    for n in range(3):
        events.append(Event(n))
        watchers.append(weakref.ref(events[-1]))
    await handoff.put(events, _never_blocks)
    del events
    assert (await handoff.get()).n == 0
    handoff.close_consumer()
    assert handoff.buffered() == 0
    assert handoff.pending == []
    gc.collect()
    assert [watcher() for watcher in watchers] == [None, None, None]


async def test_a_consumer_checkpoints_at_least_every_32_events_taken() -> None:
    """README: "at least every 32 events taken (FAIR_SHARE)". A consumer that keeps up
    with a fast stream must still let other tasks run. Catches FAIR_SHARE raised."""
    handoff = EventHandoff[int]()
    count = 200  # one batch (under MAX_BATCH): nothing else would make get() wait
    await handoff.put(list(range(count)), _never_blocks)
    counter = StepCounter()
    task = trio.lowlevel.current_task()
    trio.lowlevel.add_instrument(counter)
    try:
        yielded = []
        for n in range(count):
            before = counter.steps.get(task, 0)
            assert await handoff.get() == n
            yielded.append(counter.steps.get(task, 0) != before)
    finally:
        trio.lowlevel.remove_instrument(counter)
    runs = "".join("y" if y else "." for y in yielded).split("y")
    assert max(len(run) for run in runs) <= 32 - 1  # a checkpoint within each 32 taken
    assert yielded[0]  # the first take of a read is a checkpoint too
