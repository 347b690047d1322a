"""The parser's fast paths for plain ``data:`` events must agree with its general path.

A chunk of whole ``data: <value>\\n\\n`` blocks is parsed with a few C calls instead of
the line loop. Byte-by-byte feeding never takes that path, so comparing the two on
streams built to hit its edges (values containing ``data: ``, blank-line runs, CRs,
invalid UTF-8, blocks that are almost plain) checks it against the general path.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from trio_sse import ServerSentEvent, SSEParser
from trio_sse._parser import DEFAULT_MAX_EVENT_SIZE, LONG_LINE

VALUE_PIECES = [
    *(b"x", b"data: ", b"\xc3\xa9", b"\xff", b" ", b":", b"\x00", b"{}", b"\xe2\x82"),
    *(b"\r", b"\r\n", b"\x0b", b"\x1c", b"\xe2\x80\xa8"),  # CR ends a line; the rest do not
]

values = st.lists(st.sampled_from(VALUE_PIECES), max_size=6).map(b"".join)
plain_block = values.map(lambda v: b"data: " + v + b"\n\n")
almost_plain_block = st.one_of(
    values.map(lambda v: b"data:" + v + b"\n\n"),  # no space after the colon
    values.map(lambda v: b"data: " + v + b"\n\n\n"),  # an extra blank line
    values.map(lambda v: b"data: " + v + b"\r\n\r\n"),
    values.map(lambda v: b"data: " + v + b"\ndata: " + v + b"\n\n"),  # two lines
    values.map(lambda v: b"id: " + v + b"\ndata: x\n\n"),
    values.map(lambda v: b"event: e\ndata: " + v + b"\n\n"),
    values.map(lambda v: b": c\ndata: " + v + b"\n\n"),
    st.just(b"retry: 5\n\n"),
    st.just(b"\n"),
)
streams = st.lists(
    st.one_of(plain_block, plain_block, plain_block, almost_plain_block), max_size=25
).map(b"".join)


def parse(
    chunks: list[bytes], max_event_size: int = DEFAULT_MAX_EVENT_SIZE
) -> tuple[list[ServerSentEvent], str | None]:
    parser = SSEParser(max_event_size=max_event_size)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.feed_eof()
    return events, parser.last_event_id


def byte_by_byte(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


@settings(max_examples=400)
@given(stream=streams, cuts=st.lists(st.integers(0, 2000), max_size=6))
def test_fast_paths_agree_with_the_line_loop(stream: bytes, cuts: list[int]) -> None:
    expected = parse(byte_by_byte(stream))
    assert parse([stream]) == expected
    points = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(points)]
    assert parse(chunks) == expected


@settings(max_examples=200)
@given(stream=streams, limit=st.integers(1, 40))
def test_fast_paths_respect_max_event_size(stream: bytes, limit: int) -> None:
    """Same events, or the same SSEProtocolError, as the general path under a small limit."""
    outcomes: list[tuple[list[ServerSentEvent], str | None] | type[Exception]] = []
    for chunks in ([stream], byte_by_byte(stream)):
        try:
            outcomes.append(parse(chunks, max_event_size=limit))
        except Exception as exc:
            outcomes.append(type(exc))
    assert outcomes[0] == outcomes[1]


def test_one_plain_event_per_chunk() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n\n") == [ServerSentEvent("a")]
    assert parser.feed(b"id: 7\n\n") == []
    assert parser.feed(b"data: b\n\n") == [ServerSentEvent("b", id="7")]
    assert parser.feed(b"data: \xff\n\n") == [ServerSentEvent("\ufffd", id="7")]


def test_a_cr_inside_a_one_event_chunk_ends_the_line() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n\n") == [ServerSentEvent("a")]  # now between blocks
    assert parser.feed(b"data: a\rb\n\n") == [ServerSentEvent("a")]  # "b" is a field


def test_many_plain_events_in_one_chunk_after_a_partial_block() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: par") == []
    events = parser.feed(b"tial\n\n" + b"data: x\n\n" * 3 + b"data: data: y\n\ndata: z")
    assert [e.data for e in events] == ["partial", "x", "x", "x", "data: y"]
    assert parser.feed(b"\n\n") == [ServerSentEvent("z")]


long_value = values.map(lambda v: b"L" * LONG_LINE + v)
long_streams = st.lists(
    st.one_of(
        long_value.map(lambda v: b"data: " + v + b"\n\n"),
        long_value.map(lambda v: b"data: " + v + b"\n\n"),
        long_value.map(lambda v: b"data: " + v + b"\n\n\n"),  # an extra blank line
        long_value.map(lambda v: b"data: " + v + b"\ndata: x\n\n"),  # two lines
        long_value.map(lambda v: b"data: " + v + b"\n\ndata:" + v + b"\n\n"),  # no space
        long_value.map(lambda v: b"data: " + v + b"\n\nid: 7\n\n"),
        plain_block,
    ),
    max_size=8,
).map(b"".join)


@settings(max_examples=150)
@given(stream=long_streams, cut=st.integers(0, 20_000))
def test_long_plain_events_walked_line_by_line_agree_with_the_line_loop(
    stream: bytes, cut: int
) -> None:
    """Runs of events whose first line is LONG_LINE bytes or more are checked LF by LF,
    not split: every LF must start a ``\\n\\ndata: ``, or the general path runs."""
    expected = parse(byte_by_byte(stream))
    assert parse([stream]) == expected
    cut %= len(stream) + 1
    assert parse([stream[:cut], stream[cut:]]) == expected
