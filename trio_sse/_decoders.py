"""Content decoders: turn a response body's Content-Encoding back into the bytes sent.

Each decoder is fed encoded bytes and read with an output ``limit``, so a compression
bomb costs bounded memory per step; ``unfinished()`` tells a truncated compressed stream
from a complete one. ``make_decoder`` picks one from the response headers. Sans-IO.
"""

from __future__ import annotations

import importlib
import zlib
from typing import Any, TypeAlias

from ._exceptions import SSEProtocolError
from ._headers import Headers

__all__ = [
    "DEFAULT_ACCEPT_ENCODING",
    "SUPPORTED_CODINGS",
    "BrotliDecoder",
    "Decoder",
    "IdentityDecoder",
    "UnsupportedDecoder",
    "ZlibDecoder",
    "ZstdDecoder",
    "make_decoder",
]


def _optional(*modules: str) -> Any:
    """The first of ``modules`` that imports, or None: br and zstd are optional extras."""
    for name in modules:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


_brotli = _optional("brotli", "brotlicffi")
if _brotli is not None and not hasattr(_brotli.Decompressor(), "can_accept_more_data"):
    _brotli = None  # before 1.2 brotli cannot bound its output: a bomb would go off
# compression.zstd is the standard library's from 3.14; backports.zstd is the same API.
# (The zstandard package cannot bound one call's output, so it is not used.)
_zstd = _optional("compression.zstd", "backports.zstd")

SUPPORTED_CODINGS: tuple[str, ...] = (
    ("gzip", "deflate") + (("br",) if _brotli else ()) + (("zstd",) if _zstd else ())
)
"""The content codings this installation decodes, in order of preference."""
DEFAULT_ACCEPT_ENCODING = ", ".join(SUPPORTED_CODINGS)


class IdentityDecoder:
    """Bytes as they came (also for an unknown coding's error body).

    The common case (one chunk in, the same chunk out) copies nothing; an oversized
    chunk is handed out in ``limit``-sized slices of a memoryview, which stays linear.
    """

    __slots__ = ("_chunks", "name")

    def __init__(self) -> None:
        self.name = "identity"
        # None when drained: an open stream's decoder keeps no list (one object fewer
        # per stream for the collector). A list, not a deque: it rarely holds more than
        # one chunk, and an empty deque costs about 600 bytes against a list's 56.
        self._chunks: list[bytes | memoryview] | None = None

    def feed(self, data: bytes) -> None:
        if data:
            if self._chunks is None:
                self._chunks = [data]
            else:
                self._chunks.append(data)

    def drained(self) -> bool:
        """Nothing fed is left to read."""
        return not self._chunks

    def read(self, limit: int) -> bytes:
        chunks = self._chunks
        if not chunks:
            return b""
        if len(chunks) == 1 and len(chunks[0]) <= limit:
            self._chunks = None
            return bytes(chunks[0])  # no copy when it is bytes already
        parts: list[bytes | memoryview] = []
        size = 0
        taken = 0
        for chunk in chunks:
            if size >= limit:
                break
            room = limit - size
            if len(chunk) > room:
                view = memoryview(chunk)
                chunks[taken] = view[room:]
                chunk = view[:room]
                taken -= 1  # the chunk's rest stays
            parts.append(chunk)
            size += len(chunk)
            taken += 1
        del chunks[:taken]
        if not chunks:
            self._chunks = None
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


# Feed brotli and zstd at most this much input per call, as for zlib.
_INPUT_SLICE = 64 * 1024
# RFC 8878 section 7.2: HTTP zstd decoders need not accept windows above 8 MiB, and a
# server must not make us allocate more.
_ZSTD_WINDOW_LOG_MAX = 23


class _Bounded:
    """Shared state of the decoders whose library may overshoot ``limit`` a little:
    the excess waits in ``_pending`` for the next read, so no read returns more."""

    name = ""

    def __init__(self) -> None:
        self._input = bytearray()
        self._pending = b""
        self._started = False  # input was given to the current stream
        self._finished = False
        self._error: SSEProtocolError | None = None  # raised once the good bytes are out

    def feed(self, data: bytes) -> None:
        if not self._finished:
            self._input += data
        elif data and self._error is None:
            self._error = self._trailing_data()

    def _trailing_data(self) -> SSEProtocolError:
        """Bytes after the end of the compressed stream: as for gzip, not a clean end."""
        return SSEProtocolError(f"data after the end of the {self.name} response body")

    def _take_input(self, size: int = _INPUT_SLICE) -> bytes:
        chunk = bytes(self._input[:size])
        del self._input[:size]
        self._started = True
        return chunk

    def _emit(self, out: bytearray, decoded: bytes, limit: int) -> None:
        room = limit - len(out)
        out += decoded[:room]
        self._pending = decoded[room:]

    def read(self, limit: int) -> bytes:
        out = bytearray()
        if self._pending:
            self._emit(out, self._pending, limit)
        try:
            # Once an error is waiting, the library is not asked again (brotli's decoder
            # would raise its own error about being unhealthy).
            while len(out) < limit and not self._finished and self._error is None:
                decoded = self._step(limit - len(out))
                if decoded is None:
                    break
                self._emit(out, decoded, limit)
        except SSEProtocolError as exc:
            self._error = exc
        if self._error is not None and not out and not self._pending:
            raise self._error  # the bytes decoded before the bad ones went out first
        return bytes(out)

    def _step(self, room: int) -> bytes | None:
        """Up to about ``room`` more decoded bytes; None when it needs more input."""
        raise NotImplementedError


_BR_REPLAY_LIMIT = 256 * 1024
"""A br body is kept for a replay (see BrotliDecoder) while its compressed input and its
decoded output are both at most this long (an LLM's answer fits); then it is let go."""


class BrotliDecoder(_Bounded):
    """br (RFC 7932), through the brotli or brotlicffi package (1.2 or later, whose
    ``output_buffer_limit`` bounds each step's output).

    brotli refuses a step whose input runs on past the end of the stream, and drops the
    step's output with it; it cannot say where the stream ended. So that those good bytes
    still come out before the error (as for gzip and zstd), the input is kept while the
    body is short (_BR_REPLAY_LIMIT); when a step fails, the body is decoded again up to
    that step, skipping what was handed out, and the step's input is fed a byte at a
    time, which finds the end exactly. Past the limit the error drops that step's bytes.
    """

    name = "br"

    def __init__(self) -> None:
        super().__init__()
        self._obj = _brotli.Decompressor()
        self._history: bytearray | None = bytearray()  # the input taken, for a replay
        self._step_start = 0  # where the latest input taken starts in _history
        self._produced = 0  # decoded bytes so far
        self._skip = 0  # decoded bytes a replay must not hand out again
        self._replaying: int | None = None  # input left before going a byte at a time
        self._holding = False  # the last step gave output: brotli may hold more

    def _take_input(self, size: int = _INPUT_SLICE) -> bytes:
        if self._replaying is not None:  # up to the failed step, then a byte at a time
            size = min(size, self._replaying) or 1
            self._replaying = max(self._replaying - size, 0)
        chunk = super()._take_input(size)
        history = self._history
        if history is not None:
            self._step_start = len(history)
            history += chunk
            if len(history) > _BR_REPLAY_LIMIT or self._produced > _BR_REPLAY_LIMIT:
                self._history = None
        return chunk

    def _step(self, room: int) -> bytes | None:
        obj = self._obj
        # Without room for input it holds output the last limit cut short; with room it
        # may still hold some, so an empty input is tried too before asking for more.
        # A byte at a time, the next byte waits until all output is out: a byte given
        # while the end is still to come out would run past the end again.
        careful = self._replaying == 0
        take = obj.can_accept_more_data() and self._input and not (careful and self._holding)
        chunk = self._take_input() if take else b""
        try:
            decoded: bytes = obj.process(chunk, output_buffer_limit=room)
        except _brotli.error as exc:
            if self._replay():
                return b""
            # Replaying, the failed byte is corrupt; otherwise it may be the end then junk.
            maybe = "" if self._replaying is not None else ", or data after its end"
            raise SSEProtocolError(f"corrupt br response body{maybe}: {exc}") from exc
        self._holding = bool(decoded)
        if obj.is_finished():
            self._finished = True
            if self._input:
                self._error = self._trailing_data()
            self._input.clear()
        elif not chunk and not decoded and not (careful and self._input):
            return None  # no progress without input: never spin
        return self._fresh(decoded)

    def _fresh(self, decoded: bytes) -> bytes:
        """``decoded`` less what a replay must not hand out a second time."""
        if self._skip:
            skipped = min(self._skip, len(decoded))
            self._skip -= skipped
            decoded = decoded[skipped:]
        self._produced += len(decoded)
        return decoded

    def _replay(self) -> bool:
        """After a failed step: start again from the kept input (once). False if there
        is none: the body was too long, or this is the replay failing (corrupt data)."""
        history = self._history
        if history is None or self._produced > _BR_REPLAY_LIMIT:
            return False
        self._history = None
        self._obj = _brotli.Decompressor()
        self._input[:0] = history
        self._replaying = self._step_start
        self._skip = self._produced
        self._holding = False
        return True

    def unfinished(self) -> bool:
        return not self._finished and (self._started or bool(self._input))


class ZstdDecoder(_Bounded):
    """zstd (RFC 8878), through compression.zstd or backports.zstd: one or more frames,
    each step's output bounded by ``max_length``; windows above 8 MiB are refused."""

    name = "zstd"

    def __init__(self) -> None:
        super().__init__()
        self._obj = self._decompressor()
        self._frame_done = False  # a complete frame was seen
        self._produced = False  # the current frame produced output

    @staticmethod
    def _decompressor() -> Any:
        options = {_zstd.DecompressionParameter.window_log_max: _ZSTD_WINDOW_LOG_MAX}
        return _zstd.ZstdDecompressor(options=options)

    def _step(self, room: int) -> bytes | None:
        obj = self._obj
        if obj.needs_input:
            if not self._input:
                return None
            chunk = self._take_input()
        else:
            chunk = b""
        try:
            decoded: bytes = obj.decompress(chunk, max_length=room)
        except _zstd.ZstdError as exc:
            if self._frame_done and not self._produced:
                self._finish()
                raise self._trailing_data() from exc  # not another frame
            raise SSEProtocolError(f"corrupt zstd response body: {exc}") from exc
        if not chunk and not decoded and not obj.eof:
            return None  # no progress without input: never spin
        self._produced = self._produced or bool(decoded)
        if obj.eof:  # the next frame, if any, starts in what this one did not use
            self._input[:0] = obj.unused_data
            self._obj = self._decompressor()
            self._frame_done = True
            self._started = self._produced = False
        return decoded

    def _finish(self) -> None:
        self._finished = True
        self._input.clear()

    def unfinished(self) -> bool:
        if self._finished:
            return False
        return self._started or bool(self._input) or bool(self._pending)


class UnsupportedDecoder(IdentityDecoder):
    """A coding we cannot decode: an event stream fails, an error body is kept raw."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


Decoder: TypeAlias = IdentityDecoder | ZlibDecoder | BrotliDecoder | ZstdDecoder


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
    if len(codings) == 1:
        coding = codings[0]
        if coding in ("gzip", "x-gzip", "deflate"):
            return ZlibDecoder(coding)
        if coding == "br" and _brotli is not None:
            return BrotliDecoder()
        if coding == "zstd" and _zstd is not None:
            return ZstdDecoder()
    return UnsupportedDecoder(", ".join(codings))
