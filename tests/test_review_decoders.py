"""Second reading of _decoders.py: each test fails if the one line keeping a bound or a
rule is changed (the mutation it catches is named in its docstring)."""

from __future__ import annotations

import gzip
import random
import zlib

import brotli
import pytest

try:
    from compression import zstd  # type: ignore[import-not-found]  # stdlib from 3.14
except ImportError:  # before Python 3.14
    from backports import zstd

from trio_sse import SSEProtocolError
from trio_sse._decoders import (
    _INPUT_SLICE,
    BrotliDecoder,
    IdentityDecoder,
    ZlibDecoder,
    ZstdDecoder,
)


@pytest.mark.parametrize("limit", [1, 4, 9])
def test_identity_read_never_returns_more_than_the_limit(limit: int) -> None:
    """Catches the one-chunk fast path taken whatever the chunk's size (``<= limit``
    dropped): the bound is what keeps an error body's read to ERROR_BODY_LIMIT."""
    decoder = IdentityDecoder()
    decoder.feed(b"0123456789")
    out = []
    while part := decoder.read(limit):
        assert len(part) <= limit
        out.append(part)
    assert b"".join(out) == b"0123456789"


def test_identity_read_of_exactly_the_limit_is_one_piece() -> None:
    """Catches ``size < limit`` made ``size <= limit`` (one chunk too many taken)."""
    decoder = IdentityDecoder()
    decoder.feed(b"abc")
    decoder.feed(b"def")
    decoder.feed(b"ghi")
    assert decoder.read(6) == b"abcdef"
    assert decoder.read(3) == b"ghi"
    assert decoder.read(3) == b""
    decoder.feed(b"abcd")
    assert decoder.read(4) == b"abcd"


# A raw deflate stream (a stored block, then an empty final one) whose first two bytes
# pass zlib's header checksum with the deflate method, but name a 64 KiB window (CINFO 8),
# which no zlib header may: only CINFO <= 7 tells a zlib-wrapped stream from a raw one.
_DATA = b"data: stored block, 28 bytes\n"[:28]
RAW_LOOKING_WRAPPED = b"\x88\x1c\x00\xe3\xff" + _DATA + b"\x01\x00\x00\xff\xff"


def test_raw_deflate_whose_start_passes_the_header_checksum() -> None:
    """Catches the CINFO <= 7 test dropped from the zlib-header sniffing."""
    assert (0x88 << 8 | 0x1C) % 31 == 0
    assert zlib.decompress(RAW_LOOKING_WRAPPED, -zlib.MAX_WBITS) == _DATA
    decoder = ZlibDecoder("deflate")
    decoder.feed(RAW_LOOKING_WRAPPED)
    assert decoder.read(1024) == _DATA
    assert decoder.read(1024) == b""
    assert not decoder.unfinished()


def test_br_junk_beyond_the_input_slice_is_an_error_after_the_good_bytes() -> None:
    """Catches the trailing-input check after a finished br stream deleted: when the
    compressed body is exactly one input slice long, the junk after it is never shown
    to brotli (which refuses junk only within the chunk it is given)."""
    data = random.Random(7).randbytes(65532)
    body = brotli.compress(data, quality=0)
    assert len(body) == _INPUT_SLICE
    decoder = BrotliDecoder()
    decoder.feed(body + b"junk")
    out = b""
    while len(out) < len(data):
        out += decoder.read(1 << 20)
    assert out == data
    with pytest.raises(SSEProtocolError, match="data after the end of the br"):
        decoder.read(1 << 20)


@pytest.mark.parametrize(("window_log", "ok"), [(23, True), (24, False)])
def test_zstd_window_bound_is_exactly_8_mib(window_log: int, ok: bool) -> None:
    """Catches _ZSTD_WINDOW_LOG_MAX raised to 24 (RFC 8878 section 7.2: 8 MiB)."""
    options = {zstd.CompressionParameter.window_log: window_log}
    compressor = zstd.ZstdCompressor(options=options)
    decoder = ZstdDecoder()
    decoder.feed(compressor.compress(b"x" * 1000) + compressor.flush())
    if ok:
        assert decoder.read(1 << 20) == b"x" * 1000
    else:
        with pytest.raises(SSEProtocolError, match="zstd"):
            decoder.read(1 << 20)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_zlib_output_held_back_by_the_limit_comes_out_without_more_input(coding: str) -> None:
    """Catches ``_more`` forgotten: once zlib has taken all the input but still holds
    output a limit cut short, the next reads must flush it, not wait for input."""
    data = b"x" * 20_000  # ends inside a long match: its copy is what zlib holds
    body = gzip.compress(data) if coding == "gzip" else zlib.compress(data)
    trailer = 8 if coding == "gzip" else 4  # CRC32 and size, or Adler-32
    decoder = ZlibDecoder(coding)
    decoder.feed(body[:-trailer])  # every compressed byte, but not the checksum yet
    out = b""
    while part := decoder.read(7):
        assert len(part) <= 7
        out += part
    assert out == data  # all of it, before the checksum comes
    decoder.feed(body[-trailer:])
    assert decoder.read(1000) == b""
    assert not decoder.unfinished()


def test_a_corrupt_gzip_error_stays_raised() -> None:
    """Catches the sticky error of ZlibDecoder.read deleted: the corrupt input is
    consumed by the read that failed, so without it the next read returns b"" and a
    corrupt body could end as if clean."""
    body = bytearray(gzip.compress(b"data: " + random.Random(1).randbytes(4000)))
    body[2000:2010] = b"\xff" * 10  # stored (incompressible) data: only the CRC tells
    decoder = ZlibDecoder("gzip")
    decoder.feed(bytes(body))
    for _ in range(3):  # the CRC check fails in the first read, and in every later one
        with pytest.raises(SSEProtocolError, match="corrupt gzip"):
            decoder.read(1 << 20)
