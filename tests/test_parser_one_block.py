"""One event per chunk, as servers other than token streams send it.

sse-starlette writes ``id``, ``event`` and ``data`` lines with CRLF ends, one event per
write; most servers add an id or a type. Such a chunk, between blocks, is parsed by
``SSEParser._one_block`` (or, for a lone CRLF data line, the plain fast path) instead of
the line loop. Byte-by-byte feeding never takes those paths, so every case here is
checked against it: same events, same last event ID, same errors, and the same
behaviour for whatever comes next.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.test_parser_properties import parser_options
from trio_sse import ServerSentEvent, SSEParser, SSEProtocolError
from trio_sse._parser import ONE_BLOCK_SIZE

VALUES = st.one_of(
    st.sampled_from([b"", b"x", b"7", b"\xc3\xa9", b"\xff", b"a\x00b", b": ", b"data: ", b" "]),
    st.binary(max_size=12).filter(lambda v: b"\r" not in v and b"\n" not in v),
)
LINES = st.one_of(
    st.builds(lambda v: b"data: " + v, VALUES),
    st.builds(lambda v: b"event: " + v, VALUES),
    st.builds(lambda v: b"id: " + v, VALUES),
    st.sampled_from([b"data", b"event", b"id"]),  # a name alone: the empty value
    # What _one_block must leave to the line loop:
    st.builds(lambda v: b"data:" + v, VALUES),
    st.builds(lambda v: b": " + v, VALUES),
    st.sampled_from([b"retry: 5", b"retry: x", b"other: 1", b"", b"dat: a", b"id : 1"]),
)
EOLS = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def one_event_chunks(draw: st.DrawFn) -> bytes:
    """A block of lines, each with its own line end, and a blank line: one chunk."""
    lines = draw(st.lists(LINES, min_size=1, max_size=5))
    return b"".join(line + draw(EOLS) for line in lines) + draw(EOLS.filter(lambda e: e != b"\r"))


OPTIONS = parser_options(st.integers(1, 40))


def run(chunks: list[bytes], options: dict[str, Any]) -> tuple[list[object], str | None]:
    """Events and the last event ID after ``chunks``; after an error, the events before
    it and a marker (the limit stops a byte-by-byte feed before the blank line that
    would commit the block's id, and a whole chunk at it: the ids may differ)."""
    parser = SSEParser(**options)
    out: list[object] = []
    for chunk in chunks:
        try:
            out += parser.feed(chunk)
        except SSEProtocolError as exc:
            return [*out, *exc.events, "SSEProtocolError"], None
    return out, parser.last_event_id


def bytewise(chunks: list[bytes]) -> list[bytes]:
    return [b[i : i + 1] for b in chunks for i in range(len(b))]


@settings(max_examples=500)
@given(chunks=st.lists(one_event_chunks(), min_size=1, max_size=6), options=OPTIONS)
@example(chunks=[b"data: a\n\n", b"id: 1\r\nevent: e\r\ndata: x\r\n\r\n"], options={})
@example(chunks=[b"data: a\n\n", b"id: a\x00b\ndata: x\n\n"], options={"own_ids": True})
@example(chunks=[b"data: a\n\n", b"id: 1\ndata: x\n\n", b"data: y\n\n"], options={"own_ids": True})
@example(chunks=[b"data: a\n\n", b"id: 1\ndata: x\n\n", b"id: \ndata: y\n\n"], options={})
@example(chunks=[b"data: a\n\n", b"id: 1\ndata: x\ndata: y\n\n"], options={})
@example(chunks=[b"data: a\n\n", b"data: 1\ndata: 2\r\ndata: 3\n\n"], options={})
@example(chunks=[b"data: a\n\n", b"event: e\ndata: \xff\n\n"], options={})
@example(chunks=[b"data: a\n\n", b"id: \xff\ndata: x\n\n"], options={})
@example(chunks=[b"data: a\n\n", b"id: 1\n\n", b"data: b\n\n"], options={})
@example(chunks=[b"data: a\n\n", b"id: 1\ndata: x\n\n\n"], options={})
@example(chunks=[b"data: a\n\n", b"id: 1\ndata: 123456789\n\n"], options={"max_event_size": 12})
def test_one_event_per_chunk_agrees_with_the_line_loop(
    chunks: list[bytes], options: dict[str, Any]
) -> None:
    # The first chunk leaves the parser between blocks, where the fast paths may run.
    chunks = [b"data: first\n\n", *chunks, b"data: after\n\n"]
    assert run(chunks, options) == run(bytewise(chunks), options)


def test_sse_starlette_events_one_per_chunk() -> None:
    parser = SSEParser()
    chunks = [b'id: %d\r\nevent: delta\r\ndata: {"n": %d}\r\n\r\n' % (i, i) for i in range(3)]
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    assert events == [ServerSentEvent(f'{{"n": {i}}}', "delta", str(i)) for i in range(3)]
    assert parser.last_event_id == "2"


def test_a_lone_crlf_data_line_per_chunk() -> None:
    parser = SSEParser(last_event_id="5")
    assert parser.feed(b"data: a\r\n\r\n") == [ServerSentEvent("a", id="5")]
    assert parser.feed(b"data: b\r\n\r\n") == [ServerSentEvent("b", id="5")]
    # A CR inside the value ends the line: not one plain event.
    assert parser.feed(b"data: c\rd\r\n\r\n") == [ServerSentEvent("c", id="5")]


def test_own_ids_give_each_block_its_own_id() -> None:
    parser = SSEParser(own_ids=True)
    assert parser.feed(b"data: a\n\n") == [ServerSentEvent("a")]
    assert parser.feed(b"id: 1\ndata: b\n\n") == [ServerSentEvent("b", id="1")]
    assert parser.feed(b"data: c\n\n") == [ServerSentEvent("c")]  # no id line: None
    assert parser.last_event_id == "1"


def test_the_size_limit_holds_for_one_block_chunks() -> None:
    parser = SSEParser(max_event_size=10)
    assert parser.feed(b"data: a\n\n") == [ServerSentEvent("a")]
    with pytest.raises(SSEProtocolError, match="max_event_size"):
        parser.feed(b"id: 1\ndata: 0123456789\n\n")


def test_chunks_over_one_block_size_take_the_general_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The chunk of one block is at most ONE_BLOCK_SIZE: a bigger one is not split in
    # the hope that it is one block (many events in one read are the A2 shape).
    calls = []
    original = SSEParser._one_block

    def spy(parser: SSEParser, data: bytes) -> list[ServerSentEvent] | None:
        calls.append(len(data))
        return original(parser, data)

    monkeypatch.setattr(SSEParser, "_one_block", spy)
    parser = SSEParser()
    parser.feed(b"data: a\n\n")
    for size in (ONE_BLOCK_SIZE, ONE_BLOCK_SIZE + 1):
        value = b"v" * (size - len(b"id: 1\ndata: \n\n"))
        [event] = parser.feed(b"id: 1\ndata: " + value + b"\n\n")
        assert event.data == value.decode()
    assert calls == [ONE_BLOCK_SIZE]
