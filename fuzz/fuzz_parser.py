"""Fuzz target for SSEParser: arbitrary bytes, arbitrary chunkings, arbitrary options.

The invariants, checked on every example:

1. ``feed`` returns a list of well-formed ServerSentEvents or raises SSEProtocolError;
   nothing else escapes. After a SSEProtocolError every later call raises it again.
   Every other chunk goes through ``feed_spliced`` instead, with a chunk-size line put
   in it as the chunked decoder leaves it.
2. Chunking never matters: the same body fed whole or in any pieces (empty ones included)
   gives the same events and state; or it raises in both cases, with the same events
   before the error (those of the raising call in its ``events``), the same
   ``last_event_id`` and ``retry`` after it and the same message. Events before a raise
   are a prefix of what an unlimited parser would produce.
3. Memory stays bounded: during any single ``feed`` the traced allocations above the
   baseline stay below ``memory_bound(max_event_size, len(chunk))``. Large bodies built by
   repetition make unbounded growth (a limit not enforced, a buffer never released) show.
"""

from __future__ import annotations

import itertools
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import given, seed
from hypothesis import strategies as st

from fuzz import fuzz_settings
from trio_sse import ServerSentEvent, SSEParser, SSEProtocolError
from trio_sse._parser import DEFAULT_MAX_EVENT_SIZE

__all__ = ["FuzzStats", "check_parser", "memory_bound", "parser_fuzz_test"]

# Memory bound: retained state is a few buffers of at most max_event_size each (the
# incomplete line, a block's data and comments, the type and the id), lists of small line
# objects before they are compacted, and transient copies when lines are joined and
# decoded; a feed also holds the chunk's lines and the events it returns. All linear: a
# leak or an unenforced limit grows with the body instead and blows through it.
EVENT_SIZE_FACTOR = 32
CHUNK_FACTOR = 64
CONSTANT_BYTES = 64 * 1024
MAX_FEEDS = 20_000  # per example, so that tracing stays fast: chunk sizes grow to fit


def memory_bound(max_event_size: int, chunk_size: int) -> int:
    """The most a single feed may allocate above what existed before the parser."""
    return EVENT_SIZE_FACTOR * max_event_size + CHUNK_FACTOR * chunk_size + CONSTANT_BYTES


@dataclass
class FuzzStats:
    """Counters shared between the hypothesis test and the command line."""

    examples: int = 0
    feeds: int = 0
    bytes_fed: int = 0
    protocol_errors: int = 0
    events: int = 0
    peak_bytes: int = 0  # the largest traced peak of any single feed
    worst_ratio: float = 0.0  # the largest peak / memory_bound seen: how close it came
    deadline: float = float("inf")  # time.monotonic() after which examples are skipped
    failing: bool = False  # once a failure is seen, never skip: hypothesis is shrinking


STATS = FuzzStats()


# -- strategies -------------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"
TOKENS = [
    b"data",
    b"data:",
    b"data: ",
    b"event:",
    b"id:",
    b"retry:",
    b"retry: 10",
    b":",
    b": ",
    b" ",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"\r\r",
    b"\x00",
    BOM,
    b"\xef\xbb",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x98\x80",
    "é".encode(),
    "\u2028".encode(),
    b"0123456789",
]
UNITS = [
    b"a",
    b"data:xy\n",
    b"data\n",
    b"data: x\n\n",
    b"\n",
    b"\r",
    b"\r\n",
    b": c\n",
    b":\n\n",
    b"event: x\n",
    b"id: 1\n",
    b"retry: 5\n",
    b"\xff",
    b"data: \xf0\x9f\x98\x80\r\n",
]

SOUP = st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=6)), max_size=200).map(
    b"".join
)
REPEATED = st.builds(
    lambda unit, count: unit * count, st.sampled_from(UNITS), st.integers(0, 30_000)
)
# Token streams: mostly plain "data: <value>\n\n" blocks, the parser's fast paths.
PLAIN_BLOCK = st.builds(lambda value: b"data: " + value + b"\n\n", SOUP.map(lambda s: s[:40]))
TOKEN_STREAMS = st.lists(
    st.one_of(PLAIN_BLOCK, PLAIN_BLOCK, PLAIN_BLOCK, st.sampled_from(UNITS + TOKENS)), max_size=60
).map(b"".join)
# Long lines with any endings and fields: chunks this long are walked with find.
LONG_LINES = st.lists(
    st.builds(
        lambda name, length, eol: name + b"L" * length + eol,
        st.sampled_from([b"data: ", b"data:", b"id: ", b"event: ", b": ", b"retry: ", b""]),
        st.one_of(st.integers(0, 600), st.integers(0, 9000)),
        st.sampled_from([b"\n", b"\r", b"\r\n", b"\n\n", b"\r\r", b"\r\n\r\n", b""]),
    ),
    max_size=12,
).map(b"".join)


def long_events(blank: bytes, heads: list[bytes], between: list[bytes]) -> st.SearchStrategy[bytes]:
    """Events of one long data line (up to 9,000 bytes: it ends inside a later chunk),
    each after one of ``heads`` and ended by one of ``between`` and the ``blank`` line."""
    return st.lists(
        st.builds(
            lambda head, length, middle: head + b"data: " + b"D" * length + middle + blank,
            st.sampled_from(heads),
            st.one_of(st.integers(0, 600), st.integers(0, 9000)),
            st.sampled_from(between),
        ),
        max_size=8,
    ).map(b"".join)


# As sse-starlette writes them (id, type, CRLF, a ping now and then), read in place when
# spliced; now and then a line with a bare LF end comes between the long line and the
# blank line: read in place, that LF must still end the long line.
LONG_CRLF_EVENTS = long_events(
    b"\r\n\r\n",
    [b"", b"id: 7\r\n", b"event: e\r\nid: 8\r\n", b": ping\r\n\r\n"],
    [b"", b"", b"", b"\ndata: x", b"\nid: 3", b"\n: c", b"\n"],
)
# The same with LF line ends, as most servers write them, and now and then a CR: in a
# line between the long line and the blank line, or in the next event's lines.
LONG_LF_EVENTS = long_events(
    b"\n\n",
    [b"", b"id: 7\n", b"event: e\nid: 8\n", b": ping\n\n", b"id: 9\r\n"],
    [b"", b"", b"", b"\ndata: x", b"\nid: 3", b"\n: c", b"\r", b"\n"],
)
BODIES = st.one_of(
    st.binary(max_size=3000),
    SOUP,
    REPEATED,
    TOKEN_STREAMS,
    LONG_LINES,
    LONG_CRLF_EVENTS,
    LONG_LF_EVENTS,
    st.lists(
        st.one_of(SOUP, REPEATED, TOKEN_STREAMS, LONG_LINES, LONG_CRLF_EVENTS, LONG_LF_EVENTS),
        max_size=4,
    ).map(b"".join),
)
MAX_EVENT_SIZES = st.one_of(
    st.integers(1, 64), st.integers(65, 4096), st.just(65_536), st.just(DEFAULT_MAX_EVENT_SIZE)
)
LAST_EVENT_IDS = st.one_of(
    st.none(), st.text(st.characters(codec="utf-8", exclude_characters="\0\r\n"), max_size=8)
)
# Chunk sizes, used cyclically: tiny ones cut everywhere, zeros make empty chunks (between
# a CR and its LF, say), a huge one is the whole body.
CHUNKINGS = st.one_of(
    st.lists(st.one_of(st.integers(0, 8), st.integers(0, 4096)), min_size=1, max_size=12),
    st.just([2**40]),
)


def chunk(body: bytes, sizes: list[int]) -> list[bytes]:
    """Cut the body into chunks of the given sizes (cyclically), at most about MAX_FEEDS."""
    total = sum(sizes)
    if total == 0:
        sizes, total = [*sizes, 1], 1
    feeds = len(body) * len(sizes) // total
    if feeds > MAX_FEEDS:  # scale up so that tracing stays fast; zeros stay empty chunks
        factor = -(-feeds // MAX_FEEDS)
        sizes = [size * factor for size in sizes]
    return cut_cyclically(body, sizes)


def cut_cyclically(body: bytes, sizes: list[int]) -> list[bytes]:
    """The body in chunks of the given sizes, used cyclically (some size must be > 0);
    a size 0 is an empty chunk. tests/test_parser_properties.py cuts the same way."""
    chunks: list[bytes] = []
    position = 0
    for size in itertools.cycle(sizes):
        if position >= len(body):
            return chunks
        chunks.append(body[position : position + size])
        position += size
    raise AssertionError("unreachable")


# -- the invariants ---------------------------------------------------------------------------


def check_event(event: object) -> None:
    """One returned item: exactly a ServerSentEvent with fields of the documented types."""
    assert type(event) is ServerSentEvent, f"not a ServerSentEvent: {event!r}"
    assert isinstance(event, ServerSentEvent)
    for text in (event.data, event.comments):
        assert text is None or (type(text) is str and "\r" not in text), event
    for text in (event.event, event.id):
        assert text is None or (type(text) is str and text and not set(text) & {"\r", "\n"})
    assert event.id is None or "\0" not in event.id, event
    assert event.retry is None or (type(event.retry) is int and event.retry >= 0), event


@dataclass
class Result:
    """What feeding a body produced: events (those before an error included), the
    final state, and the error's message if it raised."""

    events: list[ServerSentEvent]
    last_event_id: str | None
    retry: int | None
    error: str | None

    @property
    def raised(self) -> bool:
        return self.error is not None


def run_whole(body: bytes, options: dict[str, Any]) -> Result:
    """The body in one feed: the reference every chunking must match."""
    return run_chunks([body], options)


def run_chunks(chunks: list[bytes], options: dict[str, Any]) -> Result:
    """The chunks fed one by one, then EOF; an error ends the body."""
    parser = SSEParser(**options)
    events: list[ServerSentEvent] = []
    error = None
    try:
        for piece in chunks:
            events += parser.feed(piece)
        events += parser.feed_eof()
    except SSEProtocolError as exc:
        events += exc.events
        error = str(exc)
    return Result(events, parser.last_event_id, parser.retry, error)


def check_untraced(chunks: list[bytes], options: dict[str, Any], whole: Result) -> None:
    """Feed the chunks without memory tracing and compare with the whole-body result."""
    result = run_chunks(chunks, options)
    assert result.error == whole.error, f"fed whole: {whole.error}; in pieces: {result.error}"
    assert result.events == whole.events, "in pieces: events differ"
    assert (result.last_event_id, result.retry) == (whole.last_event_id, whole.retry)


SIZE_LINE = b"\r\n10000\r\n"


def spliced_read(piece: bytes) -> tuple[bytes, int, int]:
    """``piece`` as a chunked read that spans two chunks holds it (for feed_spliced): a
    chunk's CRLF and the next one's size line inside it, where a blank line ends if one
    does (one chunk per event), else in the middle."""
    ends = [at + 2 for at in (piece.find(b"\n\n"),) if at >= 0]
    ends += [at + 4 for at in (piece.find(b"\r\n\r\n"),) if at >= 0]  # feed_in_place's CRLF
    cut = min(ends) if ends else len(piece) // 2
    return piece[:cut] + SIZE_LINE + piece[cut:], cut, cut + len(SIZE_LINE)


def check_parser(body: bytes, chunks: list[bytes], options: dict[str, Any]) -> None:
    """Assert all invariants for one body, chunking and set of options."""
    limit = options["max_event_size"]
    whole = run_whole(body, options)
    unlimited = run_whole(body, {**options, "max_event_size": max(len(body), 1)})
    assert not unlimited.raised, "a body cannot exceed a limit of its own length"
    if not whole.raised:
        assert whole.events == unlimited.events
    # Before an error, the events an unlimited parser gives; the chunked run must give
    # them too, and no other (compared one by one below, counted at the end).
    assert whole.events == unlimited.events[: len(whole.events)], "events before the error"
    expected = unlimited.events
    if len(body) <= 4096:  # every boundary at once, empty chunks in between (untraced: fast)
        pieces = [piece for i in range(len(body)) for piece in (body[i : i + 1], b"")]
        check_untraced(pieces, options, whole)
    if len(body) <= 256 * 1024:  # one chunk per block, as event-per-write servers send them
        blocks = body.split(b"\n\n")
        pieces = [block + b"\n\n" for block in blocks[:-1]] + [blocks[-1]]
        check_untraced(pieces, options, whole)

    tracemalloc.start()
    try:
        parser = SSEParser(**options)
        baseline = tracemalloc.get_traced_memory()[0]
        position = 0  # events are compared as they come and dropped: only the parser grows
        raised = False
        error = None
        for n, piece in enumerate(chunks):
            spliced = spliced_read(piece) if n % 2 else None  # as a chunked read may come
            tracemalloc.reset_peak()
            try:
                got = parser.feed(piece) if spliced is None else parser.feed_spliced(*spliced)
            except SSEProtocolError as exc:
                raised = True
                error = str(exc)
                got = exc.events  # the events of the raising call come with its error
            peak = tracemalloc.get_traced_memory()[1] - baseline
            STATS.peak_bytes = max(STATS.peak_bytes, peak)
            bound = memory_bound(limit, len(piece))
            STATS.worst_ratio = max(STATS.worst_ratio, peak / bound)
            assert peak <= bound, (
                f"feed of {len(piece)} bytes peaked at {peak} bytes above the baseline "
                f"(bound {bound}, max_event_size {limit})"
            )
            STATS.feeds += 1
            STATS.bytes_fed += len(piece)
            assert type(got) is list, f"feed returned {type(got).__name__}"
            for event in got:
                check_event(event)
            assert got == expected[position : position + len(got)], "events differ"
            position += len(got)
            STATS.events += len(got)
            del got
            if raised:
                break
    finally:
        tracemalloc.stop()

    if raised:
        STATS.protocol_errors += 1
        assert error == whole.error, f"fed whole: {whole.error}; in chunks: {error}"
        assert position == len(whole.events), "chunked feeding: other events before the error"
        assert (parser.last_event_id, parser.retry) == (whole.last_event_id, whole.retry)
        for more in (b"data: x\n\n", None):
            try:
                parser.feed_eof() if more is None else parser.feed(more)
            except SSEProtocolError:
                continue
            raise AssertionError("a failed parser accepted more input")
        return
    tail = parser.feed_eof()
    assert tail == [], f"feed_eof dispatched {tail!r}"
    assert not whole.raised, "raised when fed whole but not when fed in chunks"
    assert position == len(expected), "chunked feeding produced fewer events"
    assert (parser.last_event_id, parser.retry) == (whole.last_event_id, whole.retry)


# -- the hypothesis test ----------------------------------------------------------------------


def parser_fuzz_test(max_examples: int, seed_value: int | None = None) -> Callable[[], None]:
    """A hypothesis test running ``max_examples`` examples per call (skipping once
    STATS.deadline has passed, unless it is shrinking a failure)."""

    @fuzz_settings(max_examples)
    @given(
        body=BODIES,
        chunking=CHUNKINGS,
        show_comment_events=st.booleans(),
        show_retry_events=st.booleans(),
        max_event_size=MAX_EVENT_SIZES,
        last_event_id=LAST_EVENT_IDS,
    )
    def fuzz_parser(
        body: bytes,
        chunking: list[int],
        show_comment_events: bool,
        show_retry_events: bool,
        max_event_size: int,
        last_event_id: str | None,
    ) -> None:
        if not STATS.failing and time.monotonic() > STATS.deadline:
            return
        options = {
            "show_comment_events": show_comment_events,
            "show_retry_events": show_retry_events,
            "max_event_size": max_event_size,
            "last_event_id": last_event_id,
        }
        try:
            check_parser(body, chunk(body, chunking), options)
        except BaseException:
            STATS.failing = True
            raise
        STATS.examples += 1

    if seed_value is not None:
        return seed(seed_value)(fuzz_parser)
    return fuzz_parser
