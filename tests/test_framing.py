"""Body framing (trio_sse._framing): chunked, Content-Length and close-delimited bodies.

The reference is h11, which decoded bodies before _framing did: on arbitrary framings,
mutations and splits both must give the same bytes and the same outcome (a clean end,
SSEProtocolError where h11 raised before the EOF, SSEConnectionError where it raised
after it, or still waiting for more).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz.fuzz_framing import (
    CHUNKED_HEAD,
    big_chunked_bodies,
    check_chunked,
    chunked_bodies,
    decode,
    framing_fuzz_test,
    h11_decode,
    mutated,
)
from tests.http_helpers import GET, HEAD_SSE, chunked, split_at
from trio_sse import SSEConnectionError, SSEProtocolError, open_sse_session
from trio_sse._exchange import BODY_CHUNK_LIMIT, HTTPExchange
from trio_sse._framing import (
    MAX_CHUNK_LINE,
    MAX_TRAILER_SIZE,
    ChunkedFraming,
    CloseDelimitedFraming,
    LengthFraming,
    Spliced,
    framing_for,
)
from trio_sse._headers import Headers
from trio_sse._reading import RECEIVE_SIZE
from trio_sse.testing import ScriptedResponse, SSETestServer

CUTS = st.lists(st.integers(min_value=0, max_value=400), max_size=10)


@settings(max_examples=600, deadline=None)
@given(wire=mutated(chunked_bodies()) | st.binary(max_size=80), cuts=CUTS, eof=st.booleans())
def test_chunked_matches_h11_under_any_split(wire: bytes, cuts: list[int], eof: bool) -> None:
    """Whole, in arbitrary pieces and byte by byte: h11's bytes and outcome."""
    check_chunked(wire, cuts, eof)


def test_framing_fuzz_target_runs() -> None:
    """The target ``python -m fuzz`` runs (a few examples, so that it cannot rot)."""
    framing_fuzz_test(20, seed_value=1)()


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=60),
    length=st.integers(0, 80),
    cuts=CUTS,
    eof=st.booleans(),
)
def test_length_and_close_match_h11(body: bytes, length: int, cuts: list[int], eof: bool) -> None:
    head = HEAD_SSE + b"Content-Length: %d\r\n\r\n" % length
    expected = h11_decode(head, [body] if body else [], eof)
    assert decode(LengthFraming(length), split_at(body, cuts), eof) == expected
    expected = h11_decode(HEAD_SSE + b"\r\n", [body] if body else [], eof)
    assert decode(CloseDelimitedFraming(), split_at(body, cuts), eof) == expected


@settings(max_examples=200, deadline=None)
@given(wire=mutated(chunked_bodies()), cuts=CUTS, eof=st.booleans())
def test_exchange_body_matches_h11(wire: bytes, cuts: list[int], eof: bool) -> None:
    """The same through HTTPExchange, the head and body in arbitrary pieces."""
    expected = h11_decode(CHUNKED_HEAD, [wire] if wire else [], eof)
    exchange = HTTPExchange(GET)
    out = bytearray()
    outcome = "waiting"
    try:
        for piece in [*split_at(CHUNKED_HEAD + wire, cuts), *([b""] if eof else [])]:
            exchange.feed(piece)
            while data := exchange.next_body():
                out += data
            if exchange.complete:
                outcome = "ok"
                break
    except SSEProtocolError:
        outcome = "protocol"
    except SSEConnectionError:
        outcome = "connection"
    assert (outcome, bytes(out)) == expected


# -- examples --------------------------------------------------------------------------------

TINY_EVENTS = b"".join(b"data: %d\n\n" % i for i in range(3000))


def one_chunk_per_event(body: bytes) -> bytes:
    events = body.split(b"\n\n")[:-1]
    return b"".join(b"%x\r\n%s\n\n\r\n" % (len(e) + 2, e) for e in events) + b"0\r\n\r\n"


@pytest.mark.parametrize("mode", ["whole", "bytes", "trailing"])
def test_chunked_whole_bytewise_and_with_trailing_data(mode: str) -> None:
    wire = chunked(TINY_EVENTS, 5)[:-2] + b"X-T: 1\r\n\r\n"  # with a trailer
    pieces = [wire[i : i + 1] for i in range(len(wire))] if mode == "bytes" else [wire]
    if mode == "trailing":
        pieces = [wire + b"HTTP/1.1 200 OK\r\n\r\nmore", b"ignored"]
    assert decode(ChunkedFraming(), pieces, eof=False) == ("ok", TINY_EVENTS)


def test_chunk_extensions_and_trailers_are_skipped() -> None:
    wire = b"5;name=value;flag\r\nhello\r\n6 \t\r\n world\r\n0;last\r\nX-A: 1\r\n  folded\r\n\r\n"
    assert decode(ChunkedFraming(), [wire], eof=False) == ("ok", b"hello world")


def test_a_read_of_many_tiny_chunks_is_one_piece() -> None:
    """Take everything a read brings: one network read of one-chunk-per-event framing
    comes out of one next_body call whole, not one piece per chunk."""
    wire = one_chunk_per_event(TINY_EVENTS)
    read = wire[: RECEIVE_SIZE - len(CHUNKED_HEAD)]  # the first read: head and body
    exchange = HTTPExchange(GET)
    exchange.feed(CHUNKED_HEAD + read)
    assert exchange.next_head() is not None
    first = exchange.next_body()
    assert exchange.next_body() == b""
    exchange.feed(wire[len(read) :])  # the rest in one more read
    second = exchange.next_body()
    assert exchange.next_body() == b""
    assert exchange.complete
    assert first + second == TINY_EVENTS
    assert len(first) > RECEIVE_SIZE // 2


def test_the_largest_read_of_tiny_chunks_is_one_piece() -> None:
    """However large a read is (the exchange does not know the session's size), each
    comes out of next_body whole."""
    wire = one_chunk_per_event(TINY_EVENTS * 60)  # over 16 * RECEIVE_SIZE in all
    exchange = HTTPExchange(GET)
    exchange.feed(CHUNKED_HEAD)
    assert exchange.next_head() is not None
    read = wire[: 16 * RECEIVE_SIZE]
    exchange.feed(read)
    piece = exchange.next_body()
    assert exchange.next_body() == b""
    assert len(piece) > BODY_CHUNK_LIMIT
    assert (TINY_EVENTS * 60).startswith(piece)


@pytest.mark.parametrize(
    ("bad", "good_part", "error"),
    [
        (b"zz\r\nhello\r\n", b"", SSEProtocolError),
        (b"5\r\nhelloXX", b"hello", SSEProtocolError),
        (b"5\r\nhel", b"hel", SSEConnectionError),
        (b"", b"", SSEConnectionError),
    ],
)
def test_framing_errors_come_after_the_good_bytes(
    bad: bytes, good_part: bytes, error: type[Exception]
) -> None:
    good = chunked(b"data: ok\n\n", 3)[: -len(b"0\r\n\r\n")]
    exchange = HTTPExchange(GET)
    exchange.feed(CHUNKED_HEAD + good + bad)
    if error is SSEConnectionError:
        exchange.feed(b"")  # the peer closed
    assert exchange.next_body() == b"data: ok\n\n" + good_part
    with pytest.raises(error):
        exchange.next_body()
    with pytest.raises(error):
        exchange.next_body()  # sticky


@pytest.mark.parametrize("split", [False, True])
def test_chunk_line_limit(split: bool) -> None:
    for extension, ok in (
        (b";" + b"x" * (MAX_CHUNK_LINE - 2), True),
        (b";" * MAX_CHUNK_LINE, False),
    ):
        wire = b"1" + extension + b"\r\nA\r\n0\r\n\r\n"
        pieces = [wire[i : i + 1000] for i in range(0, len(wire), 1000)] if split else [wire]
        outcome = decode(ChunkedFraming(), pieces, eof=False)
        assert outcome == (("ok", b"A") if ok else ("protocol", b""))


def test_endless_chunk_line_is_refused_before_the_eof() -> None:
    """A size line that never ends is malformed as soon as it passes the limit."""
    framing = ChunkedFraming()
    framing.feed(b"1" * MAX_CHUNK_LINE + b"\r")  # its CRLF may still come
    assert framing.read() == b""
    framing.feed(b"1")
    with pytest.raises(SSEProtocolError, match="longer than"):
        framing.read()


def test_trailer_limit() -> None:
    line = b"X: " + b"a" * 1000 + b"\r\n"
    big = line * (MAX_TRAILER_SIZE // len(line) + 1)
    assert decode(ChunkedFraming(), [b"0\r\n" + big], eof=False) == ("protocol", b"")
    pieces = [b"0\r\n", *[line] * (MAX_TRAILER_SIZE // len(line) + 1)]
    assert decode(ChunkedFraming(), pieces, eof=False) == ("protocol", b"")
    small = line * 10 + b"\r\n"
    assert decode(ChunkedFraming(), [b"0\r\n" + small], eof=False) == ("ok", b"")


@pytest.mark.parametrize(
    ("method", "status", "headers", "kind"),
    [
        ("GET", 200, {"Transfer-Encoding": "chunked", "Content-Length": "5"}, ChunkedFraming),
        ("GET", 200, {"Content-Length": "5"}, LengthFraming),
        ("GET", 200, {}, CloseDelimitedFraming),
        ("HEAD", 200, {"Transfer-Encoding": "chunked"}, LengthFraming),
        ("GET", 204, {}, LengthFraming),
        ("GET", 304, {"Content-Length": "5"}, LengthFraming),
    ],
)
def test_framing_for(method: str, status: int, headers: dict[str, str], kind: type) -> None:
    framing = framing_for(method, status, Headers(headers))
    assert isinstance(framing, kind)
    if kind is LengthFraming and (method == "HEAD" or status != 200):
        assert framing.done


def test_close_delimited_ends_by_eof() -> None:
    framing = CloseDelimitedFraming()
    assert decode(framing, [b"abc", b"def"], eof=True) == ("ok", b"abcdef")
    assert framing.ended_by_eof
    assert not ChunkedFraming().ended_by_eof
    assert not LengthFraming(3).ended_by_eof


@pytest.mark.parametrize(
    ("tail", "error"),
    [(b"zz\r\nbad\r\n", SSEProtocolError), (b"9\r\ndata", SSEConnectionError)],
)
async def test_a_framing_error_ends_the_session_after_the_events_before_it(
    server: SSETestServer, tail: bytes, error: type[Exception]
) -> None:
    """On loopback, in one write: the good chunks' events, then the error (malformed
    framing, or a body cut short by the peer), never a clean end."""
    good = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in [b"data: a\n\n", b"data: b\n\n"])
    server.script(
        ScriptedResponse(
            headers=[("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked")],
            body=(good + tail,),
            framing="close",  # the bytes as they are: the framing is in the body
        )
    )
    events: list[str | None] = []

    async def read_all() -> None:
        async with open_sse_session(server.url) as session:
            async for event in session:
                events.append(event.data)

    with pytest.raises(error):
        await read_all()
    assert events == ["a", "b"]


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(st.binary(min_size=1, max_size=600), max_size=8), eof=st.booleans())
def test_reads_of_exactly_one_chunk_each(payloads: list[bytes], eof: bool) -> None:
    """One read per chunk, as an idle stream's events come (read() has a shortcut for
    a buffer that is one whole chunk): each read gives its chunk's data, and the last
    chunk ends the body, as h11 says."""
    framing = ChunkedFraming()
    for payload in payloads:
        framing.feed(b"%x\r\n" % len(payload) + payload + b"\r\n")
        assert framing.read() == payload
        assert framing.read() == b""
        assert not framing.done
    framing.feed(b"0\r\n\r\n")
    if eof:
        framing.feed_eof()
    assert framing.read() == b""
    assert framing.done
    wire = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in payloads) + b"0\r\n\r\n"
    assert h11_decode(CHUNKED_HEAD, [wire], eof) == ("ok", b"".join(payloads))


@pytest.mark.parametrize(
    ("read", "data", "then"),
    [
        (b"5\r\nhelloXY", b"hello", SSEProtocolError),  # not CRLF after the data
        (b"5\r\nhello\r\n3\r\nab", b"helloab", None),  # a chunk and a half
        (b"5\r\nhello\r", b"hello", None),  # the CRLF not all there yet
    ],
)
def test_a_read_shaped_almost_like_one_chunk(
    read: bytes, data: bytes, then: type[Exception] | None
) -> None:
    framing = ChunkedFraming()
    framing.feed(read)
    assert framing.read() == data
    if then is None:
        assert framing.read() == b""
        assert not framing.done
    else:
        with pytest.raises(then):
            framing.read()


def test_a_read_ending_inside_a_big_chunk_is_returned_as_bytes() -> None:
    # The decoder slices big chunks as memoryviews of the read (one copy, at the join);
    # what it returns must still be bytes the caller may keep after the next read.
    framing = ChunkedFraming()
    data = b"x" * 4000
    framing.feed(b"%x\r\n" % (2 * len(data)) + data)
    first = framing.read()
    assert type(first) is bytes
    assert first == data
    framing.feed(data + b"\r\n" + b"%x\r\n" % len(data) + data[:1000])
    second = framing.read()
    assert type(second) is bytes
    assert second == data + data[:1000]
    framing.feed(data[1000:] + b"\r\n0\r\n\r\n")
    assert framing.read() == data[1000:]
    assert framing.read() == b""
    assert framing.done


# -- chunks larger than a read: the data of two chunks in one read ----------------------


class ChunkEndsSpy:
    """Counts the reads that ChunkedFraming._chunk_ends answered."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.taken = 0
        original = ChunkedFraming._chunk_ends

        def spied(framing: ChunkedFraming, buf: bytes) -> bytes | Spliced | None:
            data = original(framing, buf)
            self.taken += data is not None
            return data

        monkeypatch.setattr(ChunkedFraming, "_chunk_ends", spied)


@settings(max_examples=300, deadline=None)
@given(
    wire=mutated(big_chunked_bodies()),
    cuts=st.lists(st.integers(min_value=0, max_value=20000), max_size=12),
    eof=st.booleans(),
)
def test_reads_across_big_chunks_match_h11(wire: bytes, cuts: list[int], eof: bool) -> None:
    """Reads that end inside big chunks, as 64 KiB events read 64 KiB at a time do
    (check_chunked also reads the body in reads of a fixed size)."""
    check_chunked(wire, cuts, eof)


def test_64_kib_events_one_chunk_each_read_64_kib_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = ChunkEndsSpy(monkeypatch)
    payloads = [b"%05d" % i + b"y" * (64 * 1024) for i in range(12)]
    wire = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in payloads) + b"0\r\n\r\n"
    reads = [wire[i : i + RECEIVE_SIZE] for i in range(0, len(wire), RECEIVE_SIZE)]
    framing = ChunkedFraming()
    out = bytearray()
    for read in reads:
        framing.feed(read)
        data = framing.read()
        assert type(data) is bytes
        out += data
        if spy.taken and not framing.done:
            assert framing.starved  # nothing kept: the pump goes back to the socket
            assert framing.read() == b""
    assert bytes(out) == b"".join(payloads)
    assert framing.done
    # Every read that holds a chunk's end and the next chunk's start, but the last.
    assert spy.taken == len(payloads) - 1


@pytest.mark.parametrize("ending", [b"\n\n", b"\r\n\r\n", b"", b"\n\r"])
def test_a_read_across_two_chunks_is_spliced_if_the_chunk_ends_a_line(
    monkeypatch: pytest.MonkeyPatch, ending: bytes
) -> None:
    """read_spliced gives such a read as it came, with where the size line starts and
    ends, when the chunk ends a line (a server's chunk per event ends with the blank
    line): nothing is copied, the parser reads it in place. Any other chunk end comes
    joined, copied once while the read is fresh."""
    payloads = [b"data: %05d" % i + b"y" * (64 * 1024) + ending for i in range(12)]
    wire = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in payloads) + b"0\r\n\r\n"
    reads = [wire[i : i + RECEIVE_SIZE] for i in range(0, len(wire), RECEIVE_SIZE)]
    spy = ChunkEndsSpy(monkeypatch)
    framing = ChunkedFraming()
    out = bytearray()
    spliced = 0
    for read in reads:
        framing.feed(read)
        data = framing.read_spliced()
        if isinstance(data, Spliced):
            spliced += 1
            assert data.data is read
            assert read[data.cut : data.resume] == b"\r\n%x\r\n" % len(payloads[0])
            assert len(data) == len(read) - (data.resume - data.cut)
            data = data.joined()
        out += data
    assert bytes(out) == b"".join(payloads)
    assert framing.done
    assert spy.taken == len(payloads) - 1  # every read but the last spans two chunks
    assert spliced == (spy.taken if ending.endswith(b"\n") else 0)


BIG = b"y" * 3000
NEXT = b"z" * 3000


@pytest.mark.parametrize(
    ("second_read", "data", "then"),
    [
        pytest.param(b"\r\nbb8;ext\r\n" + NEXT[:10], NEXT[:10], None, id="an extension"),
        pytest.param(b"\r\n3\r\nabc\r\n", b"abc", None, id="the next chunk is whole"),
        pytest.param(b"\r\n0\r\n\r\n", b"", "done", id="the last chunk"),
        pytest.param(b"XYbb8\r\n" + NEXT[:10], b"", SSEProtocolError, id="no CRLF after the data"),
        pytest.param(b"\r\nbb8\r\n" + NEXT[:10], NEXT[:10], SSEConnectionError, id="then EOF"),
    ],
)
def test_reads_the_chunk_ends_path_leaves_to_the_decoder(
    monkeypatch: pytest.MonkeyPatch, second_read: bytes, data: bytes, then: object
) -> None:
    framing = ChunkedFraming()
    framing.feed(b"%x\r\n" % (2 * len(BIG)) + BIG)
    assert framing.read() == BIG
    spy = ChunkEndsSpy(monkeypatch)
    framing.feed(BIG[:-1] + b"!" + second_read)
    if then is SSEConnectionError:
        framing.feed_eof()
    assert framing.read() == BIG[:-1] + b"!" + data
    assert spy.taken == 0
    if then is None:
        assert framing.starved
        assert framing.read() == b""
    elif then == "done":
        assert framing.done
    else:
        assert not framing.starved
        with pytest.raises(then):  # type: ignore[call-overload]
            framing.read()


def test_a_read_that_ends_after_the_size_line(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = ChunkEndsSpy(monkeypatch)
    framing = ChunkedFraming()
    framing.feed(b"%x\r\n" % len(BIG) + BIG[:1000])
    assert framing.read() == BIG[:1000]
    framing.feed(BIG[1000:] + b"\r\n%x\r\n" % len(NEXT))
    assert framing.read() == BIG[1000:]
    assert spy.taken == 1
    assert framing.starved
    framing.feed(NEXT + b"\r\n")
    assert framing.read() == NEXT
    assert framing.read() == b""
    assert not framing.done


def test_the_chunk_ends_path_keeps_counting_the_next_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = ChunkEndsSpy(monkeypatch)
    framing = ChunkedFraming()
    framing.feed(b"%x\r\n" % len(BIG) + BIG[:1000])
    assert framing.read() == BIG[:1000]
    framing.feed(BIG[1000:] + b"\r\n%x\r\n" % len(NEXT) + NEXT[:1000])
    assert framing.read() == BIG[1000:] + NEXT[:1000]
    assert spy.taken == 1
    assert framing.starved
    # Exactly the rest of the next chunk is data: one byte more is its CRLF's place.
    framing.feed(NEXT[1000:] + b"\r\n0\r\n\r\n")
    assert framing.read() == NEXT[1000:]
    assert framing.read() == b""
    assert framing.done


@pytest.mark.parametrize("size", [b"7fffffffffffffff", b"8000000000000000", b"f" * 20])
def test_a_chunk_too_big_for_a_c_index_is_read_as_h11_reads_it(size: bytes) -> None:
    # h11 takes chunk sizes of up to 20 hex digits; positions that far into a read do
    # not fit the regex module's index, so the shortcut for a chunk's end must not try.
    framing = ChunkedFraming()
    framing.feed(size + b"\r\nx")
    assert framing.read() == b"x"
    framing.feed(b"y" * 10)
    assert framing.read() == b"y" * 10
    assert framing.starved
    assert h11_decode(CHUNKED_HEAD, [size + b"\r\nx" + b"y" * 10], False) == (
        "waiting",
        b"x" + b"y" * 10,
    )
