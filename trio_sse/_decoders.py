"""Content decoders: turn a response body's Content-Encoding back into the bytes sent.

Each decoder is fed encoded bytes and read with an output ``limit``, so a compression
bomb costs bounded memory per step; ``unfinished()`` tells a truncated compressed stream
from a complete one. ``make_decoder`` picks one from the response headers. Sans-IO.
"""

from __future__ import annotations

import zlib
from collections import deque
from typing import Any, TypeAlias

from ._exceptions import SSEProtocolError
from ._headers import Headers

__all__ = ["Decoder", "IdentityDecoder", "UnsupportedDecoder", "ZlibDecoder", "make_decoder"]


class IdentityDecoder:
    """Bytes as they came (also for an unknown coding's error body).

    The common case (one chunk in, the same chunk out) copies nothing; an oversized
    chunk is handed out in ``limit``-sized slices of a memoryview, which stays linear.
    """

    name = "identity"

    def __init__(self) -> None:
        self._chunks: deque[bytes | memoryview] = deque()

    def feed(self, data: bytes) -> None:
        if data:
            self._chunks.append(data)

    def read(self, limit: int) -> bytes:
        chunks = self._chunks
        if len(chunks) == 1 and len(chunks[0]) <= limit:
            return bytes(chunks.popleft())  # no copy when it is bytes already
        parts: list[bytes | memoryview] = []
        size = 0
        while chunks and size < limit:
            chunk = chunks.popleft()
            room = limit - size
            if len(chunk) > room:
                view = memoryview(chunk)
                chunks.appendleft(view[room:])
                chunk = view[:room]
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)

    def unfinished(self) -> bool:
        return False


# Feed zlib at most this much input per call: CPython copies ``unconsumed_tail`` on every
# call, so big inputs would make bounded-output decoding quadratic.
_ZLIB_INPUT_SLICE = 64 * 1024


class ZlibDecoder:
    """gzip or deflate, decoded at most ``limit`` output bytes at a time.

    gzip may hold several members (RFC 1952); garbage after a complete member is ignored,
    as gzip(1) does. deflate is zlib-wrapped per RFC 9110, but some servers send raw
    deflate, so the first two bytes decide (a zlib header is a checksummed pair).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._gzip = name != "deflate"
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS) if self._gzip else None
        self._input = bytearray()
        self._tail = b""  # input zlib did not consume because of the output limit
        self._more = False  # zlib may hold output it could not return under the limit
        self._started = False  # the current stream has been given input
        self._produced = False  # the current stream has produced output
        self._member_done = False  # a complete gzip member was seen
        self._finished = False  # the stream ended; anything more is ignored

    def feed(self, data: bytes) -> None:
        if not self._finished:
            self._input += data

    def _decompressor(self) -> Any:
        if self._obj is None and len(self._input) >= 2:
            cmf, flg = self._input[0], self._input[1]
            wrapped = cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0
            self._obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return self._obj

    def _next_input(self) -> bytes | None:
        if self._tail:
            chunk, self._tail = self._tail, b""
            return chunk
        if self._input:
            chunk = bytes(self._input[:_ZLIB_INPUT_SLICE])
            del self._input[:_ZLIB_INPUT_SLICE]
            return chunk
        return b"" if self._more else None

    def read(self, limit: int) -> bytes:
        out = bytearray()
        while len(out) < limit and not self._finished:
            obj = self._decompressor()
            chunk = self._next_input() if obj is not None else None
            if obj is None or chunk is None:
                break
            room = limit - len(out)
            try:
                decoded = obj.decompress(chunk, room)
            except zlib.error as exc:
                if self._trailing_garbage():
                    self._finish()
                    break
                raise SSEProtocolError(f"corrupt {self.name} response body: {exc}") from exc
            out += decoded
            self._started = self._started or bool(chunk)
            self._produced = self._produced or bool(decoded)
            self._more = len(decoded) == room
            self._tail = obj.unconsumed_tail
            if obj.eof:
                self._end_of_stream(obj.unused_data)
        return bytes(out)

    def _end_of_stream(self, unused: bytes) -> None:
        if not self._gzip:
            self._finish()
            return
        self._member_done = True
        self._input[:0] = unused + self._tail  # the next member, if any
        self._tail = b""
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._started = self._produced = self._more = False

    def _trailing_garbage(self) -> bool:
        """Bytes after a complete gzip member that never decoded to anything: ignored."""
        return self._member_done and not self._produced

    def _finish(self) -> None:
        self._finished = True
        self._input.clear()
        self._tail = b""
        self._more = False

    def unfinished(self) -> bool:
        """True when the body ended inside a compressed stream (truncated)."""
        if self._finished or self._trailing_garbage():
            return False
        return self._started or bool(self._input) or bool(self._tail)


class UnsupportedDecoder(IdentityDecoder):
    """A coding we cannot decode: an event stream fails, an error body is kept raw."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


Decoder: TypeAlias = IdentityDecoder | ZlibDecoder


def make_decoder(headers: Headers) -> Decoder:
    """The decoder for the response's Content-Encoding (several codings: unsupported)."""
    codings = [
        coding.strip().lower()
        for value in headers.get_list("content-encoding")
        for coding in value.split(",")
    ]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return IdentityDecoder()
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return ZlibDecoder(codings[0])
    return UnsupportedDecoder(", ".join(codings))
