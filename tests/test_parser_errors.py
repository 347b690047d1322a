"""An SSEProtocolError loses nothing: the events before the bad bytes still come out.

``feed`` raises with ``exc.events`` holding what the same chunk completed before the
offending line or block, so a chunking never changes which events a consumer gets.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_sse import ServerSentEvent, SSEParser, SSEProtocolError

LIMIT = 16

blocks = st.one_of(
    st.binary(max_size=8).map(lambda v: b"data: " + v.replace(b"\n", b"") + b"\n\n"),
    st.integers(1, 40).map(lambda n: b"data: " + b"x" * n + b"\n\n"),  # maybe a long line
    st.integers(1, 12).map(lambda n: b"data: 12345\n" * n + b"\n"),  # maybe a big event
    st.just(b": comment\n\n"),
    st.just(b"event: e\ndata: y\n\n"),
)


def events_until_error(chunks: list[bytes]) -> tuple[list[ServerSentEvent], bool]:
    """Every event the parser hands out, then whether it stopped with SSEProtocolError."""
    parser = SSEParser(max_event_size=LIMIT, show_comment_events=True)
    out: list[ServerSentEvent] = []
    try:
        for chunk in chunks:
            out += parser.feed(chunk)
    except SSEProtocolError as exc:
        return out + exc.events, True
    return out, False


@settings(max_examples=300)
@given(stream=st.lists(blocks, max_size=12).map(b"".join), cuts=st.lists(st.integers(0, 500)))
def test_same_events_before_the_error_for_any_chunking(stream: bytes, cuts: list[int]) -> None:
    expected = events_until_error([stream[i : i + 1] for i in range(len(stream))])
    assert events_until_error([stream]) == expected
    points = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    assert events_until_error([stream[a:b] for a, b in itertools.pairwise(points)]) == expected


def test_event_before_a_long_line_in_the_same_chunk() -> None:
    parser = SSEParser(max_event_size=10)
    with pytest.raises(SSEProtocolError) as caught:
        parser.feed(b"data: a\n\ndata: " + b"x" * 20 + b"\n\n")
    assert caught.value.events == [ServerSentEvent("a")]


def test_later_calls_raise_without_repeating_events() -> None:
    parser = SSEParser(max_event_size=10)
    with pytest.raises(SSEProtocolError) as caught:
        parser.feed(b"data: a\n\ndata: 0123456789a\n")
    assert caught.value.events == [ServerSentEvent("a")]
    with pytest.raises(SSEProtocolError) as again:
        parser.feed(b"data: b\n\n")
    assert again.value.events == []
    with pytest.raises(SSEProtocolError) as at_eof:
        parser.feed_eof()
    assert at_eof.value.events == []
