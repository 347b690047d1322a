"""Second reading of _framing.py: the exact bounds and the trailer rules, each checked
against h11 (the reference the framing must agree with) where h11 has the same rule.
Each test fails if the one line keeping its rule is changed (named in its docstring)."""

from __future__ import annotations

import pytest

from fuzz.fuzz_framing import CHUNKED_HEAD, check_chunked, decode
from tests.http_helpers import EVENTS, GET, framed
from trio_sse import SSEProtocolError
from trio_sse._exchange import HTTPExchange
from trio_sse._framing import MAX_TRAILER_SIZE, ChunkedFraming, LengthFraming


def trailer_of(size: int) -> bytes:
    """A trailer section of exactly ``size`` bytes, its closing blank line included."""
    return b"X: " + b"a" * (size - 7) + b"\r\n\r\n"


@pytest.mark.parametrize("pieces", [1, 2])
def test_a_trailer_of_exactly_the_limit_is_accepted(pieces: int) -> None:
    """Catches ``stop - pos > MAX_TRAILER_SIZE`` made ``>=``."""
    wire = b"1\r\nA\r\n0\r\n" + trailer_of(MAX_TRAILER_SIZE)
    cut = len(wire) // 2
    parts = [wire] if pieces == 1 else [wire[:cut], wire[cut:]]
    assert decode(ChunkedFraming(), parts, eof=False) == ("ok", b"A")


def test_a_trailer_one_byte_over_the_limit_is_refused() -> None:
    wire = b"0\r\n" + trailer_of(MAX_TRAILER_SIZE + 1)
    assert decode(ChunkedFraming(), [wire], eof=False) == ("protocol", b"")


def test_an_unfinished_trailer_is_refused_just_past_the_limit() -> None:
    """Catches ``len(buf) - pos > MAX_TRAILER_SIZE`` made ``>=``: a trailer still
    arriving may be exactly the limit long, and must not be refused yet."""
    framing = ChunkedFraming()
    framing.feed(b"0\r\nX: " + b"a" * (MAX_TRAILER_SIZE - 3))  # MAX_TRAILER_SIZE bytes
    assert framing.read() == b""
    assert not framing.done
    framing.feed(b"a")
    with pytest.raises(SSEProtocolError, match="trailer larger"):
        framing.read()


@pytest.mark.parametrize("digits", [20, 21])
def test_chunk_size_digits_as_h11(digits: int) -> None:
    """Catches the 20-digit bound of a chunk size moved (h11 refuses 21 digits)."""
    wire = b"1".rjust(digits, b"0") + b"\r\nA\r\n0\r\n\r\n"
    outcome = check_chunked(wire, [], eof=False)
    assert outcome == (("ok", b"A") if digits == 20 else ("protocol", b""))


@pytest.mark.parametrize(
    "trailer",
    [
        b"Content-Length: 5\r\nContent-Length: 6\r\n",  # two different lengths
        b"Content-Length: 5, 6\r\n",  # a list of different lengths
        b"Content-Length: " + b"1" * 21 + b"\r\n",  # more digits than h11 takes
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b" folded: at the start\r\n",  # a continuation with nothing to continue
        b"no colon\r\n",
    ],
)
@pytest.mark.parametrize("bytewise", [False, True])
def test_malformed_trailers_are_protocol_errors_as_in_h11(trailer: bytes, bytewise: bool) -> None:
    """Catches each trailer rule deleted: repeated or listed Content-Lengths that differ,
    over-long ones, a repeated or non-chunked Transfer-Encoding, a leading fold."""
    wire = b"1\r\nA\r\n0\r\n" + trailer + b"\r\n"
    cuts = list(range(len(wire))) if bytewise else []
    assert check_chunked(wire, cuts, eof=False) == ("protocol", b"A")


@pytest.mark.parametrize(
    "trailer",
    [
        b"Content-Length: 5\r\nContent-Length: 5\r\n",
        b"Content-Length: 5, 5\r\n",
        b"Content-Length: " + b"1" * 20 + b"\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"X: a\r\n  folded\r\n",
    ],
)
def test_acceptable_trailers_as_in_h11(trailer: bytes) -> None:
    wire = b"1\r\nA\r\n0\r\n" + trailer + b"\r\n"
    assert check_chunked(wire, list(range(len(wire))), eof=False) == ("ok", b"A")


@pytest.mark.parametrize("end", [b"\r\n\r\n", b"\n\r\n", b"\n\n", b"\r\n\n"])
def test_a_trailer_trickling_in_byte_by_byte_ends_at_its_blank_line(end: bytes) -> None:
    """Catches the resumed search for the blank line starting one byte too late (it can
    be ``\\n\\r\\n``, three bytes, split anywhere)."""
    framing = ChunkedFraming()
    framing.feed(b"0\r\n")
    assert framing.read() == b""
    for byte in b"X: y" + end:
        assert not framing.done
        framing.feed(bytes([byte]))
        assert framing.read() == b""
    assert framing.done


def test_a_size_line_trickling_in_byte_by_byte() -> None:
    """Catches the resumed search for a size line's CRLF starting one byte too late."""
    framing = ChunkedFraming()
    out = b""
    for byte in b"3;ext=1\r\nabc\r\n0\r\n\r\n":
        framing.feed(bytes([byte]))
        out += framing.read()
    assert (out, framing.done) == (b"abc", True)


def done(framing: LengthFraming) -> bool:
    """``framing.done`` read through a call: mypy would keep the attribute narrowed by
    one assert across the feed that changes it."""
    return framing.done


def test_a_length_body_is_done_with_its_last_byte() -> None:
    """Catches ``len(buf) < remaining`` made ``<=`` (the end seen one read late)."""
    framing = LengthFraming(3)
    framing.feed(b"ab")
    assert framing.read() == b"ab"
    assert not done(framing)
    framing.feed(b"c")
    assert framing.read() == b"c"
    assert framing.done
    framing = LengthFraming(3)
    framing.feed(b"abc")
    assert framing.read() == b"abc"
    assert framing.done


def test_bytes_after_a_chunked_body_are_ignored() -> None:
    """Catches ``feed`` taking bytes after the body's end (a pipelined or junk tail)."""
    framing = ChunkedFraming()
    framing.feed(b"1\r\nA\r\n0\r\n\r\n")
    assert framing.read() == b"A"
    assert framing.done
    framing.feed(b"5\r\nhello\r\n")
    framing.feed_eof()
    assert framing.read() == b""
    assert framing.done


def test_head_constant_is_chunked() -> None:
    assert b"chunked" in CHUNKED_HEAD.lower()


@pytest.mark.parametrize("kind", ["chunked", "length", "close"])
def test_an_eof_after_a_complete_body_is_a_clean_end_however_the_reads_fall(kind: str) -> None:
    """Regression: a chunked body whose last chunk had been read, then the peer's close
    fed before the next ``next_body``, was SSEConnectionError ("closed mid-body")."""
    exchange = HTTPExchange(GET)
    exchange.feed(framed(kind, EVENTS))
    assert exchange.next_head() is not None
    assert exchange.next_body() == EVENTS
    exchange.feed(b"")  # the server closes, as it may after the terminating chunk
    assert exchange.next_body() == b""
    assert exchange.complete
