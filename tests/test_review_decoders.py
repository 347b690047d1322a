"""Second reading of _decoders.py: each test fails if the one line keeping a bound or a
rule is changed (the mutation it catches is named in its docstring)."""

from __future__ import annotations

import pytest

from trio_sse._decoders import IdentityDecoder


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
