"""Compression: Accept-Encoding sent by default (gzip, deflate, plus br and zstd when
their decoders are installed; the test extra installs them), an off switch, the user's
header winning, and br/zstd bodies decoded with bounded output, on loopback too."""

from __future__ import annotations

from typing import TypedDict

import brotli
import pytest

try:
    from compression import zstd  # type: ignore[import-not-found]  # stdlib from 3.14
except ImportError:  # before Python 3.14
    from backports import zstd

from trio_sse import ServerSentEvent, SSEClient, SSEProtocolError
from trio_sse._decoders import (
    DEFAULT_ACCEPT_ENCODING,
    SUPPORTED_CODINGS,
    BrotliDecoder,
    ZstdDecoder,
)
from trio_sse.testing import ScriptedResponse, SSETestServer, sse_stream

STREAM = sse_stream(*(ServerSentEvent(data=f"event {i}", id=str(i)) for i in range(200)))
LIMIT = 64 * 1024


def compress(coding: str, data: bytes) -> bytes:
    if coding == "br":
        return bytes(brotli.compress(data, quality=5))
    return bytes(zstd.compress(data))


def decoder(coding: str) -> BrotliDecoder | ZstdDecoder:
    return BrotliDecoder() if coding == "br" else ZstdDecoder()


def drain(dec: BrotliDecoder | ZstdDecoder, limit: int = LIMIT) -> bytes:
    out = b""
    while part := dec.read(limit):
        assert len(part) <= limit
        out += part
    return out


def test_the_installed_codings_are_advertised() -> None:
    assert SUPPORTED_CODINGS == ("gzip", "deflate", "br", "zstd")
    assert DEFAULT_ACCEPT_ENCODING == "gzip, deflate, br, zstd"


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_round_trip_in_small_pieces(coding: str) -> None:
    body = compress(coding, STREAM)
    dec = decoder(coding)
    out = b""
    for i in range(0, len(body), 7):
        dec.feed(body[i : i + 7])
        out += drain(dec, limit=100)
    assert out == STREAM
    assert not dec.unfinished()


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_a_bomb_is_decoded_a_bounded_piece_at_a_time(coding: str) -> None:
    """20 MiB from a few hundred bytes: never more than the limit per read."""
    size = 20 * 2**20
    body = compress(coding, b"\0" * size)
    assert len(body) < 1024
    dec = decoder(coding)
    dec.feed(body)
    reads = 0
    total = 0
    while part := dec.read(LIMIT):
        assert 0 < len(part) <= LIMIT
        total += len(part)
        reads += 1
    assert total == size
    assert reads >= size // LIMIT


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_truncated_and_corrupt_bodies(coding: str) -> None:
    body = compress(coding, STREAM)
    cut = decoder(coding)
    cut.feed(body[: len(body) // 2])
    drain(cut)
    assert cut.unfinished()
    corrupt = decoder(coding)
    corrupt.feed(b"\xff" * 64)
    with pytest.raises(SSEProtocolError, match=f"corrupt {coding}"):
        drain(corrupt)


def test_zstd_frames_in_a_row() -> None:
    dec = ZstdDecoder()
    dec.feed(zstd.compress(b"first ") + zstd.compress(b"second"))
    assert drain(dec) == b"first second"
    assert not dec.unfinished()


@pytest.mark.parametrize(
    ("coding", "later"),
    # (brotli itself refuses a chunk with junk after the end, good bytes and all: the
    # decoder finds them again, see test_decoders.py)
    [("br", False), ("br", True), ("zstd", False), ("zstd", True)],
)
def test_data_after_the_end_is_an_error_after_the_good_bytes(coding: str, later: bool) -> None:
    """As for gzip: the decoded bytes first, then SSEProtocolError, never a clean end."""
    dec = decoder(coding)
    body = compress(coding, b"good bytes")
    dec.feed(body if later else body + b"\x00junk")
    assert dec.read(LIMIT) == b"good bytes"
    if later:
        dec.feed(b"\x00junk")
    with pytest.raises(SSEProtocolError, match=f"data after the end of the {coding}"):
        dec.read(LIMIT)


def test_zstd_refuses_a_window_over_8_mib() -> None:
    """RFC 8878: a server must not make us allocate a huge window."""
    compressor = zstd.ZstdCompressor(options={zstd.CompressionParameter.window_log: 25})
    dec = ZstdDecoder()
    dec.feed(compressor.compress(b"x" * 1000) + compressor.flush())
    with pytest.raises(SSEProtocolError, match="zstd"):
        drain(dec)


def compressed_response(coding: str) -> ScriptedResponse:
    body = compress(coding, STREAM)
    chunks = [body[i : i + 50] for i in range(0, len(body), 50)]
    headers = [("Content-Type", "text/event-stream"), ("Content-Encoding", coding)]
    return ScriptedResponse(headers=headers, body=chunks)


@pytest.mark.parametrize("coding", ["br", "zstd"])
async def test_compressed_streams_on_loopback(server: SSETestServer, coding: str) -> None:
    server.script(compressed_response(coding))
    async with SSEClient().sse(server.url) as session:
        events = [ev async for ev in session]
    assert [ev.id for ev in events] == [str(i) for i in range(200)]
    assert server.requests[0].header_values("accept-encoding") == ["gzip, deflate, br, zstd"]


class _ClientOptions(TypedDict, total=False):
    accept_encoding: str | None
    headers: dict[str, str]


@pytest.mark.parametrize(
    ("client", "call_headers", "sent"),
    [
        ({"accept_encoding": None}, None, []),
        ({"accept_encoding": "gzip"}, None, ["gzip"]),
        ({}, {"Accept-Encoding": "identity"}, ["identity"]),
        ({"headers": {"accept-encoding": "br;q=1, gzip;q=0.5"}}, None, ["br;q=1, gzip;q=0.5"]),
    ],
)
async def test_accept_encoding_is_configurable(
    server: SSETestServer,
    client: _ClientOptions,
    call_headers: dict[str, str] | None,
    sent: list[str],
) -> None:
    server.script(ScriptedResponse.events(ServerSentEvent(data="x")))
    async with SSEClient(**client).sse(server.url, headers=call_headers) as session:
        assert [ev.data async for ev in session] == ["x"]
    assert server.requests[0].header_values("accept-encoding") == sent


@pytest.mark.parametrize(
    ("value", "error"),
    [("compress", ValueError), ("gzip, sdch", ValueError), ("gzip\r\nX: y", ValueError)],
)
def test_an_accept_encoding_we_cannot_decode_is_refused(value: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        SSEClient(accept_encoding=value)
