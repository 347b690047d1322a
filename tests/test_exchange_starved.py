"""HTTPExchange.starved: the session's shortcut back to the network after a read.

When ``starved`` is True, the reader skips the ``next_body`` call that would return
b"" and goes straight to the socket. So it must never be True while that call would
return bytes, end the body or raise: a body that just ended (its last chunk, its
Content-Length, an EOF) or a framing error deferred behind good bytes would otherwise
wait for data that never comes.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.http_helpers import GET, HEAD_SSE, chunked, framed
from trio_sse import SSEConnectionError, SSEProtocolError
from trio_sse._exchange import HTTPExchange

CHUNKED_HEAD = HEAD_SSE + b"Transfer-Encoding: chunked\r\n\r\n"


def opened(head: bytes) -> HTTPExchange:
    """An exchange past its response head, as the session holds it while streaming."""
    exchange = HTTPExchange(GET)
    exchange.feed(head)
    assert exchange.next_head() is not None
    exchange.stream_accepted()
    assert exchange.next_body() == b""
    return exchange


def starved(exchange: HTTPExchange) -> bool:
    """Read afresh: mypy would keep the value an earlier assert narrowed it to."""
    return exchange.starved


def test_one_whole_chunk_per_read_goes_straight_back_to_the_network() -> None:
    exchange = opened(CHUNKED_HEAD)
    for n in range(3):
        event = b"data: %d\n\n" % n
        exchange.feed(b"%x\r\n%s\r\n" % (len(event), event))
        assert exchange.next_body() == event
        assert starved(exchange)
        assert exchange.next_body() == b""
        assert not exchange.complete


@pytest.mark.parametrize("kind", ["length", "close"])
def test_a_read_of_an_unframed_body_goes_straight_back_too(kind: str) -> None:
    body = b"data: 1\n\n"
    head = framed(kind, b"")
    if kind == "length":
        head = head.replace(b"Content-Length: 0", b"Content-Length: 100")
    exchange = opened(head)
    exchange.feed(body)
    assert exchange.next_body() == body
    assert starved(exchange)


def test_new_input_clears_it() -> None:
    exchange = opened(CHUNKED_HEAD)
    exchange.feed(b"9\r\ndata: 1\n\n\r\n")
    assert exchange.next_body() == b"data: 1\n\n"
    assert starved(exchange)
    exchange.feed(b"9\r\ndata: 2\n\n\r\n")
    assert not starved(exchange)
    assert exchange.next_body() == b"data: 2\n\n"


def test_not_when_the_last_chunk_came_in_the_same_read() -> None:
    exchange = opened(CHUNKED_HEAD)
    exchange.feed(b"9\r\ndata: 1\n\n\r\n0\r\n\r\n")
    assert exchange.next_body() == b"data: 1\n\n"
    assert not starved(exchange)
    assert exchange.next_body() == b""
    assert exchange.complete


def test_not_when_the_content_length_is_reached() -> None:
    body = b"data: 1\n\n"
    exchange = opened(framed("length", b"").replace(b"Content-Length: 0", b"Content-Length: 9"))
    exchange.feed(body + b"trailing junk")
    assert exchange.next_body() == body
    assert not starved(exchange)
    assert exchange.next_body() == b""
    assert exchange.complete


def test_not_when_the_peer_closed_in_the_same_step() -> None:
    exchange = opened(framed("close", b""))
    exchange.feed(b"data: 1\n\n")
    exchange.feed(b"")
    assert exchange.next_body() == b"data: 1\n\n"
    assert not starved(exchange)
    assert exchange.next_body() == b""
    assert exchange.complete


LENGTH_50_HEAD = framed("length", b"").replace(b"Content-Length: 0", b"Content-Length: 50")


@pytest.mark.parametrize(
    ("head", "read"),
    [
        (CHUNKED_HEAD, b"9\r\ndata: 1\n\n\r\n"),  # a whole chunk: the one-chunk path
        (CHUNKED_HEAD, b"20\r\ndata: 1\n\n"),  # 9 bytes of a 32-byte chunk: the general path
        (LENGTH_50_HEAD, b"data: 1\n\n"),  # 9 of 50 bytes
    ],
    ids=["whole chunk", "part of a chunk", "part of a Content-Length body"],
)
def test_not_when_the_eof_came_with_a_body_it_cuts_short(head: bytes, read: bytes) -> None:
    exchange = opened(head)
    exchange.feed(read)
    exchange.feed(b"")
    assert exchange.next_body() == b"data: 1\n\n"
    assert not starved(exchange)
    with pytest.raises(SSEConnectionError):
        exchange.next_body()


def test_not_when_an_error_waits_behind_the_good_bytes() -> None:
    exchange = opened(CHUNKED_HEAD)
    exchange.feed(b"9\r\ndata: 1\n\n\r\nzz\r\n")
    assert exchange.next_body() == b"data: 1\n\n"
    assert not starved(exchange)
    with pytest.raises(SSEProtocolError, match="malformed chunked body"):
        exchange.next_body()


def test_not_while_part_of_a_chunk_size_line_is_kept() -> None:
    exchange = opened(CHUNKED_HEAD)
    exchange.feed(b"9\r\ndata: 1\n\n\r\n1")  # the next chunk's size line has begun
    assert exchange.next_body() == b"data: 1\n\n"
    assert not starved(exchange)  # only a shortcut: unknown is False
    assert exchange.next_body() == b""


@st.composite
def wires(draw: st.DrawFn) -> tuple[bytes, list[int], str]:
    """A response in any framing, sometimes broken or cut, and where the reads end."""
    body = draw(st.binary(max_size=200))
    kind = draw(st.sampled_from(["chunked", "length", "close"]))
    if kind == "chunked":
        wire = CHUNKED_HEAD + chunked(body, draw(st.integers(1, 50)))
    else:
        wire = framed(kind, body)
    wire = wire[: draw(st.integers(len(wire) // 2, len(wire)))]  # maybe cut short
    wire += draw(st.sampled_from([b"", b"zz\r\n", b"0\r\n\r\n", b"5\r\nab"]))
    cuts = sorted(draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    return wire, cuts, draw(st.sampled_from(["none", "alone", "with the last read"]))


@given(wires())
def test_when_it_says_so_the_next_call_returns_nothing(
    wire: tuple[bytes, list[int], str],
) -> None:
    """Driven as the session drives it, whatever the framing, the cuts, an EOF (its
    own step, as the session feeds it, or fed with the last read before anything is
    read) or an error: every time ``starved`` is True, next_body returns b"", raises
    nothing and does not end the body."""
    data, cuts, eof = wire
    exchange = HTTPExchange(GET)
    reads = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    steps = [[read] for read in reads if read] + ([[b""]] if eof == "alone" else [])
    if eof == "with the last read":
        steps = [*steps[:-1], [*steps[-1], b""]] if steps else [[b""]]
    head = None
    try:
        for step in steps:
            for read in step:
                exchange.feed(read)
            if head is None and (head := exchange.next_head()) is None:
                continue
            while exchange.next_body():
                if starved(exchange):
                    assert exchange.next_body() == b""
                    assert not exchange.complete
                    break
    except (SSEProtocolError, SSEConnectionError):
        pass
