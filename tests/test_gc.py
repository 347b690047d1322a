"""What the README's recipe for thousands of streams relies on (rarer full collections,
gc.freeze): a session that is reading leaves no reference cycles behind, so garbage
does not pile up while the cyclic collector waits."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator

import pytest
import trio

import trio_sse
from trio_sse.testing import BodyItem, Framing, ScriptedResponse, SSETestServer

EVENTS = 200


@pytest.fixture
def collector_paused() -> Iterator[None]:
    """Only explicit collections run, so each one sees all cyclic garbage made since."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@pytest.mark.parametrize("framing", ["chunked", "close"])
async def test_reading_events_makes_no_cyclic_garbage(
    server: SSETestServer, collector_paused: None, framing: Framing
) -> None:
    send_next, next_event = trio.open_memory_channel[None](0)

    async def one_event_per_read() -> AsyncIterator[BodyItem]:
        n = 0
        async for _ in next_event:  # the client asks for each event once it has the last
            yield f"id: {n}\ndata: event {n}\n\n"
            n += 1

    server.script(ScriptedResponse(body=one_event_per_read, framing=framing))
    async with trio_sse.open_sse_session(server.url) as events:
        await send_next.send(None)
        assert (await events.__anext__()).data == "event 0"  # connected, warmed up
        gc.collect()
        for n in range(1, EVENTS + 1):
            await send_next.send(None)
            assert (await events.__anext__()).data == f"event {n}"
        cyclic_garbage = gc.collect()
    assert cyclic_garbage == 0
