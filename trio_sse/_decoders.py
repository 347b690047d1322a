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


_GZIP_MAGIC = b"\x1f\x8b"  # how every gzip member starts (RFC 1952)
# Feed zlib at most this much input per call: CPython copies ``unconsumed_tail`` on every
# call, so big inputs would make bounded-output decoding quadratic.
_ZLIB_INPUT_SLICE = 64 * 1024


class ZlibDecoder:
    """gzip or deflate, decoded at most ``limit`` output bytes at a time.

    gzip may hold several members (RFC 1952); anything after a complete member must be
    another member, and bytes after the end of a deflate stream are refused likewise:
    data the server sent is never dropped silently. deflate is zlib-wrapped per RFC 9110,
    but some servers send raw deflate, so the first two bytes decide (a zlib header is a
    checksummed pair). An error is raised by the ``read`` after the one that returned
    the good bytes before it.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._gzip = name != "deflate"
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS) if self._gzip else None
        self._input = bytearray()
        self._tail = b""  # input zlib did not consume because of the output limit
        self._more = False  # zlib may hold output it could not return under the limit
        self._started = False  # the current stream has been given input
        self._member_done = False  # a complete gzip member was seen
        self._finished = False  # the deflate stream ended: nothing may follow
        self._error: SSEProtocolError | None = None  # raised by the next read

    def feed(self, data: bytes) -> None:
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
        if self._error is not None:
            raise self._error
        out = bytearray()
        try:
            self._read_into(out, limit)
        except SSEProtocolError as exc:
            self._error = exc
            if not out:
                raise
        return bytes(out)

    def _read_into(self, out: bytearray, limit: int) -> None:
        while len(out) < limit:
            if self._finished:
                if self._input or self._tail:
                    raise SSEProtocolError(f"data after the end of the {self.name} response body")
                break
            if (
                self._member_done
                and not self._started
                and not _GZIP_MAGIC.startswith(self._input[:2])
            ):
                raise SSEProtocolError(
                    f"data after the end of the {self.name} response body is not gzip"
                )
            obj = self._decompressor()
            chunk = self._next_input() if obj is not None else None
            if obj is None or chunk is None:
                break
            room = limit - len(out)
            try:
                decoded = obj.decompress(chunk, room)
            except zlib.error as exc:
                if self._member_done and not self._started:
                    message = f"data after the end of the {self.name} response body is not gzip"
                else:
                    message = f"corrupt {self.name} response body: {exc}"
                raise SSEProtocolError(message) from exc
            out += decoded
            self._started = self._started or bool(chunk)
            self._more = len(decoded) == room
            self._tail = obj.unconsumed_tail
            if obj.eof:
                self._end_of_stream(obj.unused_data)

    def _end_of_stream(self, unused: bytes) -> None:
        self._input[:0] = unused + self._tail  # the next member, if any
        self._tail = b""
        self._more = False
        if not self._gzip:
            self._finished = True
            return
        self._member_done = True
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._started = False

    def unfinished(self) -> bool:
        """True when the body ended inside a compressed stream (truncated)."""
        if self._finished:
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
