"""SSEParser.feed_spliced: a read that spans two HTTP chunks, read in place.

A 64 KiB event sent as one chunk and read 64 KiB at a time arrives as reads that hold
the end of one chunk, the next chunk's size line and the start of its data
(ChunkedFraming.read_spliced). ``feed_spliced(data, cut, resume)`` must be exactly
``feed(data[:cut] + data[resume:])``. Every case here is checked against that, step by
step: the same events, the same errors (with the events before them), the same last
event ID and retry, and the same state for whatever comes next. The spy tells whether
the read was taken in place or joined and fed.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable
from typing import Any, TypeAlias

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

# A: a read that ends inside a long data line; B: the rest of that line, X: all of it.
from tests.test_parser_large_events import KIB64, OPTIONS, A, B, X, bodies, state
from tests.test_parser_properties import split
from trio_sse import SSEParser, SSEProtocolError, open_sse_session
from trio_sse._framing import ChunkedFraming, Spliced
from trio_sse.testing import ScriptedResponse, SSETestServer

# A step is fed whole (bytes) or spliced: (data, cut, resume).
Step: TypeAlias = "bytes | tuple[bytes, int, int]"

SIZE_LINE = b"\r\n10000\r\n"  # what read_spliced cuts out: a chunk's CRLF and a size line


class Joins:
    """Counts the spliced reads that were read in place (``feed_in_place`` took them,
    through ``feed_spliced`` or the session) and those that had to be joined."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.in_place = self.joined = 0
        feed_in_place = SSEParser.feed_in_place

        def counted(parser: SSEParser, data: bytes, cut: int, resume: int) -> Any:
            try:
                events = feed_in_place(parser, data, cut, resume)
            except SSEProtocolError:  # raised by what follows the event: taken
                self.in_place += 1
                raise
            if events is None:
                self.joined += 1
            else:
                self.in_place += 1
            return events

        monkeypatch.setattr(SSEParser, "feed_in_place", counted)


def trace(steps: list[Step], options: dict[str, Any], in_place: bool) -> list[object]:
    """What each step returns or raises and the state it leaves. Spliced steps go
    through feed_spliced, or (not ``in_place``) are joined and fed."""
    parser = SSEParser(**options)
    out: list[object] = []
    for step in [*steps, None]:
        try:
            if step is None:
                events = parser.feed_eof()
            elif isinstance(step, bytes):
                events = parser.feed(step)
            elif in_place:
                events = parser.feed_spliced(*step)
            else:
                data, cut, resume = step
                events = parser.feed(data[:cut] + data[resume:])
            out.append(("events", events))
        except SSEProtocolError as exc:
            out.append(("error", str(exc), exc.events))
        out.append((parser.last_event_id, parser.retry, state(parser)))
    return out


def check(steps: list[Step], options: dict[str, Any] | None = None) -> tuple[int, int]:
    """(taken in place, joined) over the spliced steps, and the proof that reading in
    place changed nothing."""
    options = options or {}
    with pytest.MonkeyPatch.context() as patch:
        joins = Joins(patch)
        in_place = trace(steps, options, True)
    assert in_place == trace(steps, options, False)
    return joins.in_place, joins.joined


def spliced(first: bytes, second: bytes, hole: bytes = SIZE_LINE) -> tuple[bytes, int, int]:
    return (first + hole + second, len(first), len(first) + len(hole))


@st.composite
def spliced_reads(draw: st.DrawFn) -> list[Step]:
    """A body of mostly long events in reads, some of them spliced: a hole of any
    bytes put in, most often where a blank line ends (where a chunk ends when each
    event is one chunk)."""
    body = draw(bodies())
    reads = split(body, draw(st.lists(st.integers(1, 4000), min_size=1, max_size=5)))
    steps: list[Step] = []
    for read in reads:
        if not draw(st.integers(0, 2)):
            steps.append(read)
            continue
        ends = [i + 2 for i in range(len(read)) if read[i : i + 2] == b"\n\n"]
        ends += [i + 4 for i in range(len(read)) if read[i : i + 4] == b"\r\n\r\n"]
        at_an_end = draw(st.booleans()) and bool(ends)
        cut = draw(st.sampled_from(ends) if at_an_end else st.integers(0, len(read)))
        hole = draw(st.sampled_from([SIZE_LINE, b"", b"\r\n5;x\r\n", b"\n\n", b"\r", b"data"]))
        steps.append(spliced(read[:cut], read[cut:], hole))
    return steps


@settings(max_examples=400, deadline=None)
@given(steps=spliced_reads(), options=OPTIONS)
@example(
    steps=[b"data: " + b"y" * 2000, spliced(b"y" * 1000 + b"\n\n", b"data: " + b"z" * 3000)],
    options={},
)
def test_a_spliced_read_is_the_joined_read(steps: list[Step], options: dict[str, Any]) -> None:
    check(steps, options)


def test_random_spliced_reads_are_taken_in_place_often() -> None:
    """The property test's shape, seeded: most bodies have reads taken in place."""
    rng = random.Random(11)
    bodies_taken = 0
    for _ in range(200):
        eol = rng.choice([b"\n", b"\r\n"])
        events = [
            rng.choice([b"", b"id: 4" + eol, b"event: t" + eol])
            + b"data: "
            + b"y" * rng.randint(0, 9000)
            + eol
            + eol
            for _ in range(rng.randint(2, 8))
        ]
        body = b"".join(events)
        ends = [len(b"".join(events[: i + 1])) for i in range(len(events))]
        size = rng.randint(1000, 5000)
        steps: list[Step] = []
        for start in range(0, len(body), size):
            read = body[start : start + size]
            inside = [end - start for end in ends if start < end < start + len(read)]
            # one chunk per event: the read is spliced where an event ends in it
            steps.append(spliced(read[: inside[0]], read[inside[0] :]) if inside else read)
        taken, _ = check(steps, {"own_ids": rng.random() < 0.5})
        bodies_taken += taken > 0
    assert bodies_taken > 100


def plain(i: int) -> bytes:
    return b"data: %05d" % i + b"y" * KIB64 + b"\n\n"


def plain_crlf(i: int) -> bytes:
    return b"data: %05d" % i + b"y" * KIB64 + b"\r\n\r\n"


def starlette(i: int) -> bytes:
    return b"id: %05d\r\nevent: big\r\ndata: " % i + b"y" * KIB64 + b"\r\n\r\n"


@pytest.mark.parametrize("event", [plain, plain_crlf, starlette])
def test_64_kib_events_one_chunk_each_are_read_in_place(event: Callable[[int], bytes]) -> None:
    """What ChunkedFraming.read_spliced gives for 64 KiB events, one chunk each, read
    64 KiB at a time: every read that ends an event and starts the next is taken in
    place, and the events are those sent."""
    payloads = [event(i) for i in range(12)]
    wire = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in payloads) + b"0\r\n\r\n"
    framing = ChunkedFraming()
    steps: list[Step] = []
    for start in range(0, len(wire), KIB64):
        framing.feed(wire[start : start + KIB64])
        while data := framing.read_spliced():
            steps.append(data if isinstance(data, bytes) else (data.data, data.cut, data.resume))
    assert framing.done
    assert check(steps) == (len(payloads) - 1, 0)
    parser = SSEParser()
    got = [
        (event.id, event.event, event.data)
        for step in steps
        for event in (parser.feed(step) if isinstance(step, bytes) else parser.feed_spliced(*step))
    ]
    if event is starlette:
        assert got == [(f"{i:05d}", "big", "y" * KIB64) for i in range(12)]
    else:
        assert got == [(None, None, f"{i:05d}" + "y" * KIB64) for i in range(12)]


@pytest.mark.parametrize(
    ("steps", "options"),
    [
        pytest.param([spliced(A + b"\n\n", b"data: b")], {}, id="no long line going on"),
        pytest.param([A, spliced(B + b"\n\ndata: b\n\n", b"data: c")], {}, id="LF, more after"),
        pytest.param([A, spliced(B + b"\nx", b"data: c")], {}, id="LF, no blank line"),
        pytest.param([A, spliced(B + b"\n\n", b"data: c\r")], {}, id="LF, a CR after the hole"),
        pytest.param([A, spliced(B + b"\r\n\r\nx", b"data: c")], {}, id="CRLF, more after"),
        pytest.param([A, spliced(B + b"\r\nx\n", b"data: c")], {}, id="CRLF, no blank line"),
        pytest.param([A, spliced(B + b"\nx\r\n\r\n", b"data: c")], {}, id="CRLF, an LF before"),
        pytest.param([A, spliced(B + b"\r\r\r\r", b"data: c")], {}, id="CR line ends"),
        pytest.param([A, spliced(B + b"\r\n\n", b"data: c")], {}, id="LF, a CR before"),
        pytest.param([A, spliced(B + b"\rx\r\n\r\n", b"data: c")], {}, id="CRLF, a CR before"),
        pytest.param(
            [b"data: a\n" + A, spliced(B + b"\n\n", b"data: c")], {}, id="an earlier data line"
        ),
        pytest.param(
            [A, spliced(B + b"\n\n", b"data: c")], {"max_event_size": len(X) + 5}, id="too long"
        ),
    ],
)
def test_what_is_joined_and_fed(steps: list[Step], options: dict[str, Any]) -> None:
    """Each case fails one of the conditions for reading in place."""
    assert check(steps, options) == (0, 1)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
@pytest.mark.parametrize(
    ("rest", "options"),
    [
        pytest.param(b"", {}, id="nothing after the hole"),
        pytest.param(b"data: n", {}, id="the next line's start"),
        pytest.param(b"id: 7\n: c\ndata: b\n\ndata: n", {}, id="whole blocks, then a line"),
        pytest.param(b"data: a\n", {"max_event_size": 3100}, id="a complete data line"),
        pytest.param(b"data: " + X + b"y", {"max_event_size": len(X) + 6}, id="over the limit"),
        pytest.param(b"x" * 3200 + b"\n", {"max_event_size": 3100}, id="a long line"),
    ],
)
@pytest.mark.parametrize("hole", [SIZE_LINE, b"", b"\r\n\r\n\r"])
def test_what_follows_the_hole_is_read_as_the_joined_read(
    rest: bytes, options: dict[str, Any], eol: bytes, hole: bytes
) -> None:
    """Whatever the next chunk starts with: more blocks, lines, errors (after the
    event the read ended). The hole's own bytes, CRs and all, are never read."""
    rest = rest.replace(b"\n", eol)
    taken, _ = check([A, spliced(B + eol + eol, rest, hole), b"xt" + eol + eol], options)
    assert taken == 1


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_the_bound_counts_the_chunk_without_the_hole(eol: bytes) -> None:
    """The block's size bound is part of the compared state: a bound that counted the
    size line would differ from the joined read's (and reach the limit sooner)."""
    hole = b"\r\n" + b"0" * 3000 + b"1\r\n"  # leading zeros: a long, valid size line
    steps: list[Step] = [A, spliced(B + eol + eol, b"data: " + b"z" * 500, hole), eol + eol]
    assert check(steps, {"max_event_size": 3200}) == (1, 0)


def test_a_spliced_read_after_an_error_raises_it_again() -> None:
    parser = SSEParser(max_event_size=10)
    with pytest.raises(SSEProtocolError):
        parser.feed(b"data: " + b"y" * 20)
    with pytest.raises(SSEProtocolError, match="max_event_size"):
        parser.feed_spliced(*spliced(b"data: a\n\n", b"data: b"))


def test_a_spliced_read_after_the_end_is_misuse() -> None:
    parser = SSEParser()
    parser.feed_eof()
    with pytest.raises(RuntimeError, match="after feed_eof"):
        parser.feed_spliced(*spliced(b"data: a\n\n", b"data: b"))


def test_a_spliced_read_of_the_framing_says_how_long_it_is() -> None:
    spliced_read = Spliced(b"abc" + SIZE_LINE + b"de", 3, 3 + len(SIZE_LINE))
    assert spliced_read.joined() == b"abcde"
    assert len(spliced_read) == 5


async def test_a_session_reads_64_kib_chunks_in_place(
    server: SSETestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end, over loopback: the session hands the framing's spliced reads to
    feed_spliced, which reads them in place, and every event arrives whole."""
    joins = Joins(monkeypatch)
    payloads = [starlette(i) for i in range(12)]
    wire = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in payloads) + b"0\r\n\r\n"
    server.script(
        ScriptedResponse(
            headers=[("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked")],
            body=(wire,),
            framing="close",  # the bytes as they are, in one write: the framing is in them
        )
    )
    got = []
    async with open_sse_session(server.url) as events:
        async for event in events:
            got.append((event.id, event.event, event.data))
            if len(got) == len(payloads):
                break
    assert got == [(f"{i:05d}", "big", "y" * KIB64) for i in range(12)]
    assert joins.in_place >= len(payloads) // 2  # reads of 64 KiB, chunks a bit larger


async def test_a_read_the_parser_cannot_take_in_place_is_let_go_before_it_is_parsed(
    server: SSETestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block with a comment is not read in place: the session joins the read and
    lets go of it before feeding the copy, so that a 64 KiB read and its copy are
    not both held while the events are parsed."""
    joins = Joins(monkeypatch)
    spliced_while_parsing: list[int] = []
    feed = SSEParser.feed

    def watched_feed(parser: SSEParser, data: Any) -> Any:
        spliced_while_parsing.append(sum(type(o) is Spliced for o in gc.get_objects()))
        return feed(parser, data)

    monkeypatch.setattr(SSEParser, "feed", watched_feed)
    payloads = [b": note\ndata: %05d" % i + b"y" * KIB64 + b"\n\n" for i in range(6)]
    wire = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in payloads) + b"0\r\n\r\n"
    server.script(
        ScriptedResponse(
            headers=[("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked")],
            body=(wire,),
            framing="close",
        )
    )
    got = []
    async with open_sse_session(server.url) as events:
        async for event in events:
            got.append(event.data)
            if len(got) == len(payloads):
                break
    assert got == [f"{i:05d}" + "y" * KIB64 for i in range(6)]
    assert joins.joined >= len(payloads) // 2
    assert joins.in_place == 0
    assert set(spliced_while_parsing) == {0}


@pytest.mark.parametrize(("cut", "resume"), [(6, 10), (6, -2), (-1, 3), (5, 4)])
def test_pieces_out_of_the_read_are_refused(cut: int, resume: int) -> None:
    parser = SSEParser()
    parser.feed(b"data: yy")
    with pytest.raises(ValueError, match="cut <= resume"):
        parser.feed_spliced(b"yy\r\n\r\nab", cut, resume)
    assert parser.feed(b"\n\n")[0].data == "yy"  # nothing changed
