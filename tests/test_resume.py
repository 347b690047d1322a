"""The resume point is never lost silently (issue 8, item 9), on real loopback.

A server ``id:`` holding a character no header can carry (U+000B, U+000C) ends the
session with SSEProtocolError at the reconnect that needs it, after the events, and
without a request that would replay the stream from its start. Other control characters
are sent as they are.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_sse import ServerSentEvent, SSEClient, SSEProtocolError
from trio_sse.testing import ScriptedResponse, SSETestServer

HANG = 600  # virtual seconds: under the autojump clock, turns a hang into a failure


@pytest.mark.parametrize(
    ("wire_id", "why"),
    [
        ("x\x0by", "holds U+000B"),
        ("x\x0cy", "holds U+000C"),
        # HTTP trims a field's edge whitespace: sent, such an id would reach the server
        # as no id at all, and the stream would be replayed from its start.
        ("  ", "is only spaces or tabs"),
        ("\t", "is only spaces or tabs"),
        (" \t ", "is only spaces or tabs"),
    ],
)
async def test_an_id_no_header_can_carry_ends_the_session_at_the_reconnect(
    server: SSETestServer, autojump_clock: trio.testing.MockClock, wire_id: str, why: str
) -> None:
    server.script(
        ScriptedResponse.events(ServerSentEvent(data="a", id="1")),
        ScriptedResponse.events(f"id: {wire_id}\ndata: b\n\n"),
        ScriptedResponse.events(ServerSentEvent(data="replayed from the start")),
    )
    client = SSEClient(max_reconnection_attempts=5, reconnection_time=1.0)
    got: list[str | None] = []
    ids: list[str | None] = []

    async def consume() -> None:
        async with client.sse(server.url) as session:
            async for event in session:
                got.append(event.data)
                ids.append(session.last_event_id)

    with trio.fail_after(HANG), pytest.raises(SSEProtocolError, match="cannot resume") as info:
        await consume()
    assert why in str(info.value)
    assert got == ["a", "b"]
    assert ids == ["1", wire_id]
    assert [r.header("last-event-id") for r in server.requests] == [None, "1"]
    assert server.statistics().connections_total == 2  # no connection for nothing


async def test_an_id_with_an_unsendable_character_is_fine_without_reconnection(
    server: SSETestServer,
) -> None:
    """Only the reconnect needs the id: a stream that is not resumed just ends."""
    server.script(ScriptedResponse.events("id: x\x0by\ndata: b\n\n"))
    async with SSEClient().sse(server.url) as session:
        assert [event.data async for event in session] == ["b"]
        assert session.last_event_id == "x\x0by"


@pytest.mark.parametrize(
    ("wire_id", "header"),
    [
        ("x\x01\x7fy", "x\x01\x7fy"),  # other control characters go as they are
        (" 4 2\t", "4 2"),  # edge whitespace: trimmed, as HTTP trims a field value
    ],
)
async def test_an_id_is_sent_as_a_header_carries_it(
    server: SSETestServer, autojump_clock: trio.testing.MockClock, wire_id: str, header: str
) -> None:
    server.script(
        ScriptedResponse.events(f"id: {wire_id}\ndata: a\n\n"),
        ScriptedResponse(status=204, headers=[], framing="content-length"),
    )
    client = SSEClient(max_reconnection_attempts=1, reconnection_time=1.0)
    with trio.fail_after(HANG):
        async with client.sse(server.url) as session:
            assert [event.data async for event in session] == ["a"]
            assert session.last_event_id == wire_id
    assert [r.header("last-event-id") for r in server.requests] == [None, header]


@pytest.mark.parametrize("char", ["\x0b", "\x0c"])
def test_an_unsendable_last_event_id_is_refused_at_the_call(char: str) -> None:
    with pytest.raises(ValueError, match="no header can carry"):
        SSEClient().sse("http://127.0.0.1:9/", last_event_id=f"a{char}b")


@pytest.mark.parametrize("blank", [" ", "\t\t"])
def test_a_last_event_id_of_only_whitespace_is_refused_at_the_call(blank: str) -> None:
    with pytest.raises(ValueError, match="only spaces or tabs"):
        SSEClient().sse("http://127.0.0.1:9/", last_event_id=blank)
