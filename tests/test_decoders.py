"""Content-Encoding: gzip, deflate (wrapped or raw), identity and unknown codings."""

from __future__ import annotations

import gc
import gzip
import random
import sys
import zlib
from collections.abc import Iterable

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.http_helpers import GET, HEAD_SSE, framed, pieces, run, split_at
from trio_sse import SSEConnectionError, SSEProtocolError, _decoders
from trio_sse._decoders import (
    _INPUT_SLICE,
    SUPPORTED_CODINGS,
    BrotliDecoder,
    IdentityDecoder,
    ZlibDecoder,
    ZstdDecoder,
)
from trio_sse._exchange import BODY_CHUNK_LIMIT, HTTPExchange

try:
    from compression import zstd  # type: ignore[import-not-found]  # stdlib from 3.14
except ImportError:  # before Python 3.14
    from backports import zstd

# --------------------------------------------------------------------------- Content-Encoding

PAYLOAD = b"".join(b"id: %d\ndata: event number %d\n\n" % (i, i) for i in range(2000))


def deflate_raw(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODINGS = {
    "gzip": gzip.compress(PAYLOAD),
    "x-gzip": gzip.compress(PAYLOAD),
    "GZIP": gzip.compress(PAYLOAD),
    "deflate": zlib.compress(PAYLOAD),
    "deflate-raw": deflate_raw(PAYLOAD),
    "gzip-multi": gzip.compress(PAYLOAD[:1000]) + gzip.compress(PAYLOAD[1000:]),
    "gzip-empty-member": gzip.compress(PAYLOAD) + gzip.compress(b""),
    "identity": PAYLOAD,
    "gzip, identity": gzip.compress(PAYLOAD),
}


def encoded(name: str, kind: str = "chunked") -> bytes:
    coding = name.split("-")[0] if name not in ("x-gzip", "gzip, identity") else name
    return framed(kind, ENCODINGS[name], b"Content-Encoding: %s\r\n" % coding.encode())


@pytest.mark.parametrize("kind", ["chunked", "length", "close"])
@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_content_encodings_decode_in_tiny_pieces(name: str, kind: str) -> None:
    exchange, _, body = run(pieces(encoded(name, kind), "threes"))
    assert body == PAYLOAD
    assert exchange.complete


def test_empty_compressed_bodies() -> None:
    for coding in (b"gzip", b"deflate"):
        data = HEAD_SSE + b"Content-Encoding: %s\r\nContent-Length: 0\r\n\r\n" % coding
        exchange, _, body = run([data], eof=False)
        assert (body, exchange.complete) == (b"", True)


@pytest.mark.parametrize(
    "body",
    [
        b"this is not gzip at all",
        gzip.compress(PAYLOAD)[:50] + b"\xff" * 50 + gzip.compress(PAYLOAD)[100:],
        gzip.compress(PAYLOAD)[:-8] + b"\x00" * 8,  # bad CRC
    ],
)
def test_corrupt_gzip_is_a_protocol_error(body: bytes) -> None:
    data = framed("length", body, b"Content-Encoding: gzip\r\n")
    with pytest.raises(SSEProtocolError, match="gzip") as info:
        run(pieces(data, "threes"))
    assert isinstance(info.value.__cause__, zlib.error)


def read_all(exchange: HTTPExchange, data: Iterable[bytes], received: bytearray) -> None:
    """Feed every piece and collect every body byte, until the end or an error."""
    for piece in data:
        exchange.feed(piece)
        while part := exchange.next_body():
            received.extend(part)


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", gzip.compress(PAYLOAD) + b"\x00\x00junk"),
        ("gzip", gzip.compress(PAYLOAD) + b"\x00"),
        ("gzip", gzip.compress(PAYLOAD) + b"\n"),
        ("gzip", gzip.compress(PAYLOAD) + b"\x1f\x00"),
        ("deflate", zlib.compress(PAYLOAD) + b"junk"),
        ("deflate", deflate_raw(PAYLOAD) + b"\x00"),
    ],
)
@pytest.mark.parametrize("mode", ["whole", "threes"])
def test_data_after_the_compressed_stream_is_a_protocol_error(
    coding: str, body: bytes, mode: str
) -> None:
    """Never a clean end with bytes dropped: after the good bytes, SSEProtocolError."""
    data = framed("length", body, b"Content-Encoding: %s\r\n" % coding.encode())
    exchange = HTTPExchange(GET)
    received = bytearray()
    with pytest.raises(SSEProtocolError, match=r"after the end of the \w+ response body"):
        read_all(exchange, pieces(data, mode), received)
    assert received == PAYLOAD
    assert not exchange.complete
    with pytest.raises(SSEProtocolError):
        exchange.next_body()  # sticky


COMPRESS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": lambda data: bytes(brotli.compress(data, quality=5)),
    "zstd": zstd.compress,
}


@pytest.mark.parametrize("coding", SUPPORTED_CODINGS)
@pytest.mark.parametrize("mode", ["whole", "threes"])
def test_junk_in_the_piece_that_ends_the_stream_comes_after_every_good_byte(
    coding: str, mode: str
) -> None:
    """Every coding alike: when one piece holds the end of the compressed stream and
    junk after it, the piece's good bytes are delivered, then SSEProtocolError (br lost
    them: brotli drops the output of a step that runs past the end)."""
    body = COMPRESS[coding](PAYLOAD) + b"\x00junk"
    data = framed("length", body, b"Content-Encoding: %s\r\n" % coding.encode())
    exchange = HTTPExchange(GET)
    received = bytearray()
    with pytest.raises(SSEProtocolError, match=f"after the end of the {coding} response body"):
        read_all(exchange, pieces(data, mode), received)
    assert received == PAYLOAD
    with pytest.raises(SSEProtocolError, match="after the end"):
        exchange.next_body()  # sticky


def br_drain(decoder: BrotliDecoder, limit: int, out: bytearray) -> None:
    """Read into ``out`` until the decoder has nothing more or raises."""
    while part := decoder.read(limit):
        assert len(part) <= limit
        out += part


@pytest.mark.parametrize("limit", [7, 1000, BODY_CHUNK_LIMIT])
def test_br_finds_the_end_again_past_an_input_slice(limit: int) -> None:
    """A br body longer than one input slice, read in small pieces (brotli holding back
    output the limit cut short): the step that fails is decoded again after the slice
    before it, and every byte comes out once, in order, before the error."""
    data = random.Random(3).randbytes(90_000) + b"data: x\n\n" * 20_000
    body = COMPRESS["br"](data)
    assert _INPUT_SLICE < len(body) < _decoders._BR_REPLAY_LIMIT
    decoder = BrotliDecoder()
    decoder.feed(body + b"junk")
    out = bytearray()
    with pytest.raises(SSEProtocolError, match="data after the end of the br"):
        br_drain(decoder, limit, out)
    assert out == data
    assert not decoder.unfinished()


def test_br_past_the_replay_limit_still_fails_as_a_protocol_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A body longer than the replay keeps is not decoded again: the error comes without
    the failed step's bytes, and says it cannot tell corrupt data from junk after it."""
    monkeypatch.setattr(_decoders, "_BR_REPLAY_LIMIT", 100)
    decoder = BrotliDecoder()
    decoder.feed(COMPRESS["br"](PAYLOAD) + b"junk")
    with pytest.raises(SSEProtocolError, match="corrupt br response body, or data after"):
        br_drain(decoder, BODY_CHUNK_LIMIT, bytearray())


@pytest.mark.parametrize("decoder", [BrotliDecoder, ZstdDecoder])
def test_a_br_or_zstd_error_stays_raised_without_asking_the_library_again(
    decoder: type[BrotliDecoder | ZstdDecoder],
) -> None:
    """The same SSEProtocolError from every read after it (brotli's decoder, asked
    again, raised its own brotli.error about being unhealthy, not an SSEError)."""
    dec = decoder()
    dec.feed(b"\xff" * 64)
    with pytest.raises(SSEProtocolError, match="corrupt") as first:
        dec.read(BODY_CHUNK_LIMIT)
    for _ in range(2):
        with pytest.raises(SSEProtocolError) as again:
            dec.read(BODY_CHUNK_LIMIT)
        assert again.value is first.value


def test_decoder_returns_good_bytes_before_the_error() -> None:
    decoder = ZlibDecoder("gzip")
    decoder.feed(gzip.compress(b"hello") + b"garbage")
    assert decoder.read(BODY_CHUNK_LIMIT) == b"hello"
    with pytest.raises(SSEProtocolError, match="not gzip"):
        decoder.read(BODY_CHUNK_LIMIT)
    with pytest.raises(SSEProtocolError, match="not gzip"):
        decoder.read(BODY_CHUNK_LIMIT)


def test_truncated_compressed_body() -> None:
    short = gzip.compress(PAYLOAD)[:-20]
    # A complete HTTP body holding half a gzip stream: the server is broken.
    with pytest.raises(SSEProtocolError, match="truncated"):
        run([framed("length", short, b"Content-Encoding: gzip\r\n")])
    with pytest.raises(SSEProtocolError, match="truncated"):
        run([framed("length", b"x", b"Content-Encoding: deflate\r\n")])
    # A close-delimited body cut short: the connection was lost.
    with pytest.raises(SSEConnectionError, match="truncated"):
        run([framed("close", short, b"Content-Encoding: gzip\r\n")])


def test_gzip_bomb_is_decoded_in_bounded_steps() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    bomb = b"".join(compressor.compress(block) for _ in range(100)) + compressor.flush()
    assert len(bomb) < 200_000
    exchange = HTTPExchange(GET)
    exchange.feed(framed("length", bomb, b"Content-Encoding: gzip\r\n"))
    assert exchange.next_head() is not None
    total = 0
    calls = 0
    while part := exchange.next_body():
        assert 0 < len(part) <= BODY_CHUNK_LIMIT
        assert part.count(0) == len(part)
        total += len(part)
        calls += 1
    assert total == 100 * 1024 * 1024
    assert calls >= 100
    assert exchange.complete


def test_unknown_encoding() -> None:
    data = framed("length", b"raw bytes", b"Content-Encoding: compress\r\n")
    exchange = HTTPExchange(GET)
    exchange.feed(data)
    assert exchange.next_head() is not None
    with pytest.raises(SSEProtocolError, match="compress"):
        exchange.next_body()
    # The error body is still available, undecoded.
    assert exchange.read_error_body() == b"raw bytes"
    assert exchange.error_body_read


def test_an_unknown_encodings_error_body_is_kept_as_it_comes_in_reads() -> None:
    data = framed("length", b"raw bytes", b"Content-Encoding: compress\r\n")
    exchange = HTTPExchange(GET)
    exchange.feed(data[:-5])
    assert exchange.next_head() is not None
    assert exchange.read_error_body() == b"raw "
    assert not exchange.error_body_read  # more is on its way: feed it
    exchange.feed(data[-5:])
    assert exchange.read_error_body() == b"raw bytes"
    assert exchange.error_body_read  # the Content-Length is in


def test_stacked_encodings_are_unknown() -> None:
    stacked = framed("length", b"x", b"Content-Encoding: deflate, gzip\r\n")
    with pytest.raises(SSEProtocolError, match="deflate, gzip"):
        run([stacked])


@settings(max_examples=100, deadline=None)
@given(
    body=st.binary(max_size=500),
    kind=st.sampled_from(["chunked", "length", "close"]),
    coding=st.sampled_from(["identity", "gzip", "deflate", "raw"]),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20),
)
def test_valid_bodies_round_trip_under_any_chunking(
    body: bytes, kind: str, coding: str, cuts: list[int]
) -> None:
    wire = {
        "identity": lambda b: b,
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "raw": deflate_raw,
    }[coding](body)
    name = b"deflate" if coding == "raw" else coding.encode()
    data = framed(kind, wire, b"Content-Encoding: %s\r\n" % name)
    exchange, head, decoded = run(split_at(data, cuts))
    assert head is not None
    assert decoded == body
    assert exchange.complete


def test_identity_decoder_hands_out_pieces_in_order_within_the_limit() -> None:
    decoder = IdentityDecoder()
    for piece in (b"abc", b"defgh", b"ij"):
        decoder.feed(piece)
    assert decoder.read(4) == b"abcd"
    assert decoder.read(5) == b"efghi"
    decoder.feed(b"kl")
    assert decoder.read(100) == b"jkl"
    assert decoder.drained()
    assert decoder.read(100) == b""
    decoder.feed(b"mn")
    assert decoder.read(100) == b"mn"


@pytest.mark.parametrize(
    ("fed", "limit"),
    [([b"ab"], 100), ([b"a", b"b"], 100), ([b"ab"], 1), ([b"a", b"bc"], 2)],
    ids=["one-piece", "whole-pieces", "slices", "whole-then-slice"],
)
def test_a_drained_identity_decoder_keeps_no_list(fed: list[bytes], limit: int) -> None:
    # One per stream, alive as long as the stream: an empty list left in it would be
    # one more object per stream for the collector to track.
    decoder = IdentityDecoder()
    for piece in fed:
        decoder.feed(piece)
    out = b""
    while not decoder.drained():
        out += decoder.read(limit)
    assert out == b"".join(fed)
    assert not any(gc.is_tracked(getattr(decoder, name)) for name in ("_chunks", "name"))


def test_identity_decoder_state_is_small() -> None:
    # One per stream: a deque here cost about 600 bytes per connection.
    decoder = IdentityDecoder()
    assert not hasattr(decoder, "__dict__")
    assert sum(sys.getsizeof(getattr(decoder, n)) for n in ("_chunks", "name")) < 200
