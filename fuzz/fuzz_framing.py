"""Fuzz target for the body framing decoders (trio_sse._framing), with h11 as the oracle.

h11 decoded response bodies before ``_framing`` did; the two must agree on every input.
Each example is a chunked body (valid, with extensions, trailers and odd spellings, then
mutated by inserting, replacing and deleting bytes and cut short) or arbitrary bytes, fed
in arbitrary pieces, with or without the peer's EOF after them. Invariants:

1. The same body bytes and the same outcome as h11: a clean end, SSEProtocolError where h11
   raised before the EOF, SSEConnectionError where it raised after it, or still waiting.
2. Splits never matter: whole, in the drawn pieces, in fixed-size reads and byte by byte
   give the same result.
3. Nothing but SSEProtocolError and SSEConnectionError escapes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import h11
from hypothesis import given, seed
from hypothesis import strategies as st

from fuzz import fuzz_settings
from trio_sse import SSEConnectionError, SSEProtocolError
from trio_sse._exchange import MAX_HEAD_SIZE
from trio_sse._framing import BodyFraming, ChunkedFraming, Spliced

__all__ = [
    "CHUNKED_HEAD",
    "FramingStats",
    "Outcome",
    "big_chunked_bodies",
    "check_chunked",
    "chunked_bodies",
    "decode",
    "framing_fuzz_test",
    "h11_decode",
    "mutated",
    "split_at",
]

Outcome = tuple[str, bytes]  # ("ok" | "protocol" | "connection" | "waiting", body bytes)

CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


@dataclass
class FramingStats:
    """Counters shared between the hypothesis test and the command line."""

    examples: int = 0
    bytes_fed: int = 0
    outcomes: dict[str, int] | None = None
    deadline: float = float("inf")
    failing: bool = False


STATS = FramingStats(outcomes={})


def split_at(data: bytes, cuts: Iterable[int]) -> Iterator[bytes]:
    """``data`` cut at the given offsets (modulo its length), without empty pieces."""
    start = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        if cut > start:  # an empty piece would mean EOF
            yield data[start:cut]
            start = cut


def decode(framing: BodyFraming, pieces: Iterable[bytes], eof: bool) -> Outcome:
    """Drive a framing as HTTPExchange does: feed, then read (``read_spliced``, as the
    session's reads go) until b""."""
    out = bytearray()
    try:
        for piece in [*pieces, *([b""] if eof else [])]:
            if framing.done:
                break
            if piece:
                framing.feed(piece)
            else:
                framing.feed_eof()
            while data := framing.read_spliced():
                if isinstance(data, Spliced):
                    joined = data.joined()
                    assert len(data) == len(joined)
                    data = joined
                out += data
    except SSEProtocolError:
        return ("protocol", bytes(out))
    except SSEConnectionError:
        return ("connection", bytes(out))
    return ("ok" if framing.done else "waiting", bytes(out))


def h11_decode(head: bytes, pieces: Iterable[bytes], eof: bool, method: str = "GET") -> Outcome:
    """The same body read by h11's own readers, the EOF given once h11 needs data."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    out = bytearray()

    def drain() -> str | None:
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                return "connection" if conn.trailing_data[1] else "protocol"
            if event is h11.NEED_DATA:
                return None
            if isinstance(event, h11.Data):
                out.extend(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return "ok"

    conn.receive_data(head)
    outcome = drain()
    for piece in [*pieces, *([b""] if eof else [])]:
        if outcome is not None:
            break
        conn.receive_data(piece)
        outcome = drain()
    return (outcome or "waiting", bytes(out))


# -- strategies: valid framings, then mutated ----------------------------------------------

EXTENSIONS = [b"", b";a=1", b";name", b'; q="x;y"', b";a\rb", b"; \t", b";\xff"]
TRAILER_LINES = [
    b"X-Trailer: yes",
    b"Expires: never  ",
    b"X:",
    b"  folded on",
    b"Content-Length: 7",
    b"Content-Length: 7, 7",
    b"Content-Length: 1, 2",
    b"Content-Length: x",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip",
    b"no colon",
    b"X: a\x00b",
    b"X : y",
]
NOISE = [b"\r", b"\n", b"\r\n", b";", b"0", b"a", b"g", b" ", b"\t", b"\x00", b"ff"]


@st.composite
def chunked_bodies(draw: st.DrawFn, max_chunk: int = 30) -> bytes:
    """A well-formed chunked body in one of the many spellings h11 accepts."""
    wire = bytearray()
    for data in draw(st.lists(st.binary(min_size=1, max_size=max_chunk), max_size=5)):
        size = format(len(data), draw(st.sampled_from(["x", "X"])))
        size = "0" * draw(st.integers(0, 2)) + size
        ows = draw(st.sampled_from([b"", b" ", b"\t "]))
        wire += size.encode() + draw(st.sampled_from(EXTENSIONS)) + ows + b"\r\n"
        wire += data + b"\r\n"
    wire += b"0" + draw(st.sampled_from(EXTENSIONS)) + b"\r\n"
    for line in draw(st.lists(st.sampled_from(TRAILER_LINES), max_size=3)):
        wire += line + draw(st.sampled_from([b"\r\n", b"\n"]))
    wire += draw(st.sampled_from([b"\r\n", b"\n"]))
    return bytes(wire)


@st.composite
def mutated(draw: st.DrawFn, bodies: st.SearchStrategy[bytes]) -> bytes:
    """A body with a few bytes inserted, replaced or deleted, maybe cut short, maybe
    followed by bytes that are not part of it."""
    wire = bytearray(draw(bodies))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(wire)))
        op = draw(st.sampled_from(["insert", "replace", "delete"]))
        noise = draw(st.sampled_from(NOISE))
        if op == "insert":
            wire[at:at] = noise
        elif op == "replace":
            wire[at : at + len(noise)] = noise
        else:
            del wire[at : at + draw(st.integers(1, 4))]
    if draw(st.booleans()):
        wire = wire[: draw(st.integers(0, len(wire)))]  # cut short
    return bytes(wire + draw(st.sampled_from([b"", b"HTTP/1.1 200 OK\r\n", b"\r\n", b"junk"])))


@st.composite
def big_chunked_bodies(draw: st.DrawFn) -> bytes:
    """Chunks of up to a few KiB, so that reads end inside them and hold the end of one
    and the start of the next, as 64 KiB events read 64 KiB at a time do."""
    wire = bytearray()
    for size in draw(st.lists(st.integers(1, 3000), min_size=1, max_size=6)):
        spelling = draw(st.sampled_from(["x", "x", "X", "04x"]))
        extension = draw(st.sampled_from([b"", b"", b"", b";a=1", b" "]))
        wire += format(size, spelling).encode() + extension + b"\r\n"
        wire += bytes([size % 256]) * size + b"\r\n"
    if draw(st.integers(0, 7)) == 0:  # a chunk too big to end: positions past a C index
        huge = draw(st.sampled_from([b"7fffffffffffffff", b"8000000000000000", b"f" * 20]))
        return bytes(wire + huge + b"\r\n" + b"h" * draw(st.integers(0, 3000)))
    return bytes(wire + b"0\r\n\r\n")


WIRES = (
    mutated(chunked_bodies(max_chunk=300)) | mutated(big_chunked_bodies()) | st.binary(max_size=200)
)
CUTS = st.lists(st.integers(min_value=0, max_value=4000), max_size=12)


def check_chunked(wire: bytes, cuts: list[int], eof: bool) -> Outcome:
    """Invariants 1-3 for one body; returns the common outcome."""
    expected = h11_decode(CHUNKED_HEAD, [wire] if wire else [], eof)
    assert decode(ChunkedFraming(), [wire] if wire else [], eof) == expected, "whole"
    assert decode(ChunkedFraming(), split_at(wire, cuts), eof) == expected, "split"
    bytewise = [wire[i : i + 1] for i in range(len(wire))]
    assert decode(ChunkedFraming(), bytewise, eof) == expected, "byte by byte"
    by_chunk = split_at(wire, chunk_ends(wire))
    assert decode(ChunkedFraming(), by_chunk, eof) == expected, "chunk by chunk"
    size = 50 + (cuts[0] if cuts else len(wire)) % 4000  # as a socket reads: fixed-size reads
    reads = [wire[i : i + size] for i in range(0, len(wire), size)]
    assert decode(ChunkedFraming(), reads, eof) == expected, f"in reads of {size} bytes"
    return expected


def chunk_ends(wire: bytes) -> list[int]:
    """Where each well-formed leading chunk ends (after its data's CRLF): reads cut
    there are one whole chunk each, as an idle stream's events arrive."""
    ends = []
    pos = 0
    while (line := re.match(rb"([0-9A-Fa-f]{1,20})\r\n", wire[pos:])) is not None:
        pos += line.end() + int(line[1], 16) + 2
        if pos > len(wire):
            break
        ends.append(pos)
    return ends


def framing_fuzz_test(max_examples: int, seed_value: int | None = None) -> Callable[[], None]:
    """A hypothesis test running ``max_examples`` examples per call (skipping once
    STATS.deadline has passed, unless it is shrinking a failure)."""

    @fuzz_settings(max_examples)
    @given(wire=WIRES, cuts=CUTS, eof=st.booleans())
    def fuzz_framing(wire: bytes, cuts: list[int], eof: bool) -> None:
        if not STATS.failing and time.monotonic() > STATS.deadline:
            return
        try:
            outcome, _ = check_chunked(wire, cuts, eof)
        except BaseException:
            STATS.failing = True
            raise
        STATS.examples += 1
        STATS.bytes_fed += 3 * len(wire)
        assert STATS.outcomes is not None
        STATS.outcomes[outcome] = STATS.outcomes.get(outcome, 0) + 1

    return fuzz_framing if seed_value is None else seed(seed_value)(fuzz_framing)
