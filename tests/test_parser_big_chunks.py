"""Chunks much larger than a read, as a user of the sans-IO parser may feed it (a file, a
transport that reads 256 KiB or more): ``feed`` parses such a chunk FEED_PIECE bytes at a
time, so that the parser's copies of runs of whole blocks stay about a piece in size. The
events, errors and state are those of the chunk fed whole, which the parser's own
chunking independence (property tests, fuzzer) already guarantees; these tests check the
cut itself, at its edges.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from tests.test_parser_properties import split
from trio_sse import SSEParser, SSEProtocolError
from trio_sse._parser import FEED_PIECE, FEED_PIECE_LIMIT

KIB64 = 64 * 1024


def state(parser: SSEParser) -> tuple[str | None, int | None]:
    return parser.last_event_id, parser.retry


def mixed_body() -> bytes:
    """Every kind of line, with pieces' edges inside long lines, between a CR and its LF
    and in the middle of small events."""
    small = b"".join(b"id: %d\nevent: e\ndata: %d\n\n" % (i, i) for i in range(3000))
    crlf = b"".join(b"id: c%d\r\ndata: " % i + b"z" * 20000 + b"\r\n\r\n" for i in range(4))
    body = small + b": ping\n\nretry: 1500\n\n" + crlf + b"data: " + b"y" * KIB64 + b"\n\n"
    # A CR as the last byte of the first piece, its LF the first of the second.
    cr_at = FEED_PIECE - 1
    head = b"data: " + b"x" * (cr_at - len(b"data: ")) + b"\r\ndata: after the CR\r\n\r\n"
    return head + body + b"data: \xff\xc3\xa9 and the rest\n\n" + b"data: unfinished"


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview"])
def test_a_big_chunk_gives_the_events_and_state_of_small_ones(kind: str) -> None:
    body = mixed_body()
    assert len(body) > 3 * FEED_PIECE_LIMIT
    whole = SSEParser()
    chunks: dict[str, bytes | bytearray | memoryview] = {
        "bytes": body,
        "bytearray": bytearray(body),
        "memoryview": memoryview(body),
    }
    events = whole.feed(chunks[kind])
    small = SSEParser()
    expected = [event for piece in split(body, [4096]) for event in small.feed(piece)]
    assert events == expected
    assert len(events) == 3000 + 2 + 4 + 1  # "unfinished" is not an event yet
    assert state(whole) == state(small) == ("c3", 1500)
    assert whole.feed(b"\n\n")[0].data == small.feed(b"\n\n")[0].data == "unfinished"


def test_an_error_in_a_later_piece_keeps_every_event_of_the_chunk_before_it() -> None:
    # Events 0-2 come from the first piece; 3, a and b from the second, which also
    # holds the line over the limit: the error's events are all six, in order.
    good = b"".join(b"id: %d\ndata: " % i + b"y" * 20000 + b"\n\n" for i in range(4))
    small = b"id: a\ndata: a\n\nid: b\ndata: b\n\n"
    body = good + small + b"data: " + b"n" * 45000 + b"\n\ndata: never\n\n"
    too_long_ends = len(good + small) + 45006
    assert len(good) > FEED_PIECE
    assert too_long_ends < 2 * FEED_PIECE
    parser = SSEParser(max_event_size=40000)
    with pytest.raises(SSEProtocolError, match="max_event_size") as raised:
        parser.feed(body)
    assert [event.id for event in raised.value.events] == ["0", "1", "2", "3", "a", "b"]
    assert parser.last_event_id == "b"
    with pytest.raises(SSEProtocolError):  # the error is sticky, as for any chunk
        parser.feed(b"data: more\n\n")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"own_ids": True},
        {"show_comment_events": True, "show_retry_events": True},
        {"last_event_id": "start", "max_event_size": 30000},
    ],
)
def test_big_chunks_in_a_row_match_small_ones_whatever_the_options(options: dict[str, Any]) -> None:
    # A BOM first; an "é" cut between two pieces; a comment and a retry in each chunk.
    first = b"\xef\xbb\xbfdata: " + b"x" * (FEED_PIECE - 10) + "é".encode() + b"\n\n"
    assert first.index("é".encode()) == FEED_PIECE - 1
    block = b": ping\nretry: 2500\nid: %d\nevent: e\ndata: " + b"w" * 25000 + b"\n\n"
    second = b"".join(block % i for i in range(8))
    chunks = [first + second, second + b"data: tail\n", b"\n" + second]
    big, small = SSEParser(**options), SSEParser(**options)
    for chunk in chunks:
        assert len(chunk) > FEED_PIECE_LIMIT
        try:
            got: list[Any] = big.feed(chunk)
        except SSEProtocolError as exc:
            got = [str(exc), *exc.events]
        expected: list[Any] = []
        try:
            for piece in split(chunk, [4096]):
                expected += small.feed(piece)
        except SSEProtocolError as exc:
            expected = [str(exc), *expected, *exc.events]
        assert got == expected
        assert state(big) == state(small)


def test_a_subclass_that_overrides_feed_sees_a_big_chunk_once() -> None:
    class Counting(SSEParser):
        fed = 0

        def feed(self, data: bytes | bytearray | memoryview) -> list[Any]:
            self.fed += len(data)
            return super().feed(data)

    parser = Counting()
    body = b"data: hello\n\n" * 20000
    assert len(parser.feed(body)) == 20000
    assert parser.fed == len(body)


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(b"data: %05d" + b"y" * (KIB64 - 5) + b"\n\n", id="plain, LF"),
        pytest.param(b"data: %05d" + b"y" * (KIB64 - 5) + b"\r\n\r\n", id="plain, CRLF"),
        pytest.param(b"id: %05d\nevent: t\ndata: " + b"y" * KIB64 + b"\n\n", id="typed, LF"),
        pytest.param(
            b"id: %05d\r\nevent: t\r\ndata: " + b"y" * KIB64 + b"\r\n\r\n", id="typed, CRLF"
        ),
    ],
)
@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview"])
def test_a_megabyte_chunk_costs_the_parser_no_copy_of_itself(event: bytes, kind: str) -> None:
    """Fed whole, 16 events of 64 KiB in one chunk held 17 to 31 times 64 KiB beyond the
    events (copies of the whole run of blocks, its text, the data lines); a piece at a
    time, about one piece. A bytearray or memoryview is copied a piece at a time too."""
    body = b"".join(event % i for i in range(16))
    chunks: dict[str, bytes | bytearray | memoryview] = {
        "bytes": body,
        "bytearray": bytearray(body),
        "memoryview": memoryview(bytearray(body)),
    }
    chunk = chunks.pop(kind)
    del chunks
    del body
    parser = SSEParser()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        events = parser.feed(chunk)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert len(events) == 16
    held = sum(len(event.data or "") for event in events)
    assert peak - held <= 2 * FEED_PIECE, f"{(peak - held) / KIB64:.1f} x 64 KiB beyond"
