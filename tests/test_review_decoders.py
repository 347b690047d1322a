"""Second reading of _decoders.py: each test fails if the one line keeping a bound or a
rule is changed (the mutation it catches is named in its docstring)."""

from __future__ import annotations

import zlib

import pytest

from trio_sse._decoders import IdentityDecoder, ZlibDecoder


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
