"""Body framing: where a response body ends, decoded from the raw bytes after the head.

h11 reads the response head and decides nothing more; from there on the body's
transfer framing is decoded here, sans-IO: chunked (sizes, extensions, trailers),
Content-Length, or delimited by the connection's close. Real servers send one HTTP
chunk per event, so ``read()`` returns every body byte available in one piece, however
many chunks they came in, instead of one h11 event (and one parser call) per chunk.

The grammar and the errors are h11's, so that nothing changed when h11 stopped reading
bodies (tests/test_framing.py checks that on arbitrary framings): malformed framing is
SSEProtocolError; a body cut short by the peer is SSEConnectionError, never a clean end.
An error is raised only after the good bytes before it have been returned.
"""

from __future__ import annotations

import re
from typing import TypeAlias

from ._exceptions import SSEConnectionError, SSEError, SSEProtocolError
from ._headers import Headers

__all__ = [
    "MAX_CHUNK_LINE",
    "MAX_TRAILER_SIZE",
    "BodyFraming",
    "ChunkedFraming",
    "CloseDelimitedFraming",
    "LengthFraming",
    "framing_for",
]

#: The longest chunk-size line accepted (size and extensions, without its CRLF).
MAX_CHUNK_LINE = 4096
#: The most trailer bytes accepted after the last chunk (h11's head limit here).
MAX_TRAILER_SIZE = 64 * 1024

# h11's chunk header: 1-20 hex digits, extensions unparsed ("." stops at LF), trailing
# whitespace tolerated as h11 does for servers in the wild.
_CHUNK_LINE_RE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*\r\n")
# What real servers send: a bare size line. Matched where it starts, without a search.
_PLAIN_CHUNK_LINE_RE = re.compile(rb"([0-9A-Fa-f]{1,20})\r\n")
# h11's header field: token ":" OWS value OWS, where a value byte is neither NUL nor space.
_FIELD_RE = re.compile(
    rb"([-!#$%&'*+.^_`|~0-9a-zA-Z]+):[ \t]*((?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?)[ \t]*"
)
_BLANK_LINE_RE = re.compile(rb"\n\r?\n")
_FOLD_RE = re.compile(rb"[ \t]+")
_DIGITS_RE = re.compile(rb"[0-9]+")
_CONTENT_LENGTH_MAX_DIGITS = 20

_MID_BODY = "the server closed the connection mid-body"


class Spliced:
    """Body bytes ``data[:cut] + data[resume:]``, not yet joined: a read that holds the
    end of one chunk, the next chunk's size line and the start of its data, as a chunk
    larger than a read arrives. The parser reads such a read in place
    (``SSEParser.feed_in_place``) and saves copying it; anyone else calls ``joined``."""

    __slots__ = ("cut", "data", "resume")

    def __init__(self, data: bytes, cut: int, resume: int) -> None:
        self.data = data
        self.cut = cut
        self.resume = resume

    def __len__(self) -> int:
        return len(self.data) - (self.resume - self.cut)

    def joined(self) -> bytes:
        view = memoryview(self.data)
        return b"".join((view[: self.cut], view[self.resume :]))


class _Framing:
    """The shared part: a buffer of raw bytes, the peer's EOF, and a deferred error."""

    __slots__ = ("_buf", "_eof", "_error", "done", "starved")

    ended_by_eof = False  # True only for a body delimited by the connection's close

    def __init__(self) -> None:
        self._buf = b""
        self._eof = False
        self._error: SSEError | None = None
        self.done = False  # the body's end was seen; bytes after it are ignored
        # Meaningful right after a read() that returned bytes: True when nothing more
        # can come out before more input (no bytes kept, no EOF, no deferred error, the
        # end not seen). Set by read(), so that asking costs no call.
        self.starved = False

    def feed(self, data: bytes) -> None:
        """Raw bytes from the connection, after the head."""
        if self.done or self._eof or not data:
            return
        self._buf = self._buf + data if self._buf else data

    def feed_eof(self) -> None:
        """The peer closed the connection."""
        self._eof = True

    def _finish(self) -> None:
        self.done = True
        self._buf = b""


class LengthFraming(_Framing):
    """A body of Content-Length bytes (0 for 204, 304 and answers to HEAD)."""

    __slots__ = ("_length", "_remaining")

    def __init__(self, length: int) -> None:
        super().__init__()
        self._length = self._remaining = length
        if length == 0:
            self._finish()

    def read(self) -> bytes:
        """Every body byte available now; b"" when none (see ``done``)."""
        buf = self._buf
        if buf:
            remaining = self._remaining
            if len(buf) < remaining:
                self._buf = b""
                self._remaining = remaining - len(buf)
                self.starved = not self._eof
                return buf
            self._remaining = 0
            self._finish()
            self.starved = False
            return buf[:remaining]
        if self._eof and not self.done:
            got = self._length - self._remaining
            raise SSEConnectionError(f"{_MID_BODY} ({got} of {self._length} bytes)")
        return b""

    read_spliced = read  # never spliced: the body is the connection's bytes


class CloseDelimitedFraming(_Framing):
    """A body without Content-Length or chunking: it ends when the peer closes."""

    __slots__ = ()

    ended_by_eof = True

    def read(self) -> bytes:
        """Every body byte available now; b"" when none (see ``done``)."""
        buf = self._buf
        if buf:
            self._buf = b""
            self.starved = not self._eof
            return buf
        if self._eof and not self.done:
            self._finish()
        return b""

    read_spliced = read  # never spliced: the body is the connection's bytes


# ChunkedFraming's states
_SIZE = 0  # expecting a chunk-size line
_DATA = 1  # inside a chunk's data
_DATA_END = 2  # expecting the CRLF after a chunk's data
_TRAILER = 3  # after the last chunk: trailer fields up to a blank line


class ChunkedFraming(_Framing):
    """Transfer-Encoding: chunked, decoded with h11's grammar and limits of our own."""

    __slots__ = ("_remaining", "_scanned", "_state")

    def __init__(self) -> None:
        super().__init__()
        self._state = _SIZE
        self._remaining = 0  # bytes left in the current chunk
        # How much of the buffer was already searched for the end of a size line or of
        # the trailer: a line trickling in byte by byte is not searched again each time.
        self._scanned = 0

    def read(self) -> bytes:
        """Every body byte available now, in one piece; b"" when none (see ``done``).

        A framing error is raised by the call after the one that returned the good
        bytes before it (at once when there were none)."""
        data = self.read_spliced()
        return data.joined() if isinstance(data, Spliced) else data

    def read_spliced(self) -> bytes | Spliced:
        """``read``, except that a read holding the end of one chunk and the start of
        the next, larger than the rest of the read, comes as a Spliced: the size line
        between them is cut out without copying the two chunks' data together."""
        if self._error is not None:
            raise self._error
        if self.done:  # an EOF after the last chunk is the normal end, not a lost body
            return b""
        buf = self._buf
        if not buf and not self._eof:
            return b""  # the common second call after a read: nothing came since
        if self._state == _SIZE and not self._scanned:
            # The buffer is exactly one whole plain chunk: an idle stream's event.
            line = _PLAIN_CHUNK_LINE_RE.match(buf)
            if line is not None:
                start = len(line[1]) + 2
                stop = start + int(line[1], 16)
                if stop + 2 == len(buf) and stop > start and buf.endswith(b"\r\n"):
                    self._buf = b""
                    self.starved = not self._eof
                    return buf[start:stop]
        elif self._state == _DATA and not self._eof:
            data = self._chunk_ends(buf)
            if data is not None:
                return data
        parts: list[bytes | memoryview] = []
        try:
            self._decode(parts)
        except SSEError as exc:
            self._error = exc
            self._buf = b""
            if not parts:
                raise
        # Nothing kept, the end not seen, no error deferred (_decode turns an EOF into
        # one of the last two).
        self.starved = not (self._buf or self.done or self._error is not None)
        if len(parts) == 1:
            part = parts[0]
            return part if type(part) is bytes else bytes(part)
        return b"".join(parts)  # the chunks' data copied once, from views of the read

    def _chunk_ends(self, buf: bytes) -> bytes | Spliced | None:
        """The buffer holds the current chunk's last bytes, a plain size line and the
        start of the next chunk, which goes on past it: how chunks larger than a read
        arrive (an event of 64 KiB in one chunk, read 64 KiB at a time). The data of
        both; None (nothing changed) for anything else.

        Spliced around the size line when the chunk ends a line, as a server's chunk
        per event does: the parser can read that in place (SSEParser.feed_in_place).
        Otherwise joined here, while the read is fresh in the cache: the parser could
        only join it later (measured end to end, that cost more than joining it here)."""
        stop = self._remaining
        if stop + 5 > len(buf):  # no room for a CRLF and a size line, or a huge chunk
            return None  # (before the match: re takes no position past a C ssize_t)
        line = _PLAIN_CHUNK_LINE_RE.match(buf, stop + 2)
        if line is None or not buf.startswith(b"\r\n", stop):
            return None
        start = line.end()
        size = int(line[1], 16)
        if len(buf) - start >= size:
            return None  # the next chunk ends in this read too: the decoder's case
        self._remaining = size - (len(buf) - start)
        self._buf = b""
        self.starved = True
        if buf[stop - 1] == 10:  # stop > 0: a chunk in _DATA has bytes left
            return Spliced(buf, stop, start)
        view = memoryview(buf)
        return b"".join((view[:stop], view[start:]))

    def _decode(self, parts: list[bytes | memoryview]) -> None:
        """Move every decodable byte of the buffer into ``parts`` (views of the buffer,
        or the buffer itself when it is all data); keep the rest."""
        buf = self._buf
        view = memoryview(buf)
        end = len(buf)
        pos = 0
        state = self._state
        remaining = self._remaining
        scanned = self._scanned
        try:
            while pos < end:
                if state == _DATA:
                    stop = pos + remaining
                    if stop > end:
                        parts.append(view[pos:] if pos else buf)
                        remaining -= end - pos
                        pos = end
                        break
                    # A view saves a copy of a big chunk; a small one slices cheaper.
                    parts.append(view[pos:stop] if remaining > 512 else buf[pos:stop])
                    remaining = 0
                    if buf.startswith(b"\r\n", stop):  # the usual case: skip _DATA_END
                        pos = stop + 2
                        state = _SIZE
                    else:
                        pos = stop
                        state = _DATA_END
                elif state == _SIZE:
                    if not scanned:  # the common case first: whole plain chunks
                        pos = _plain_chunks(buf, pos, parts)
                        if pos == end:
                            break
                    newline = buf.find(b"\r\n", max(pos, scanned - 1) if scanned else pos)
                    if newline < 0 or newline - pos > MAX_CHUNK_LINE:
                        _check_line_length(buf, pos, newline)
                        break
                    scanned = 0
                    match = _CHUNK_LINE_RE.fullmatch(buf, pos, newline + 2)
                    if match is None:
                        line = buf[pos : newline + 2]
                        raise SSEProtocolError(f"malformed chunked body: chunk line {line!r}")
                    pos = newline + 2
                    remaining = int(match[1], 16)
                    state = _DATA if remaining else _TRAILER
                elif state == _DATA_END:
                    footer = buf[pos : pos + 2]
                    if footer != b"\r\n"[: len(footer)]:
                        raise SSEProtocolError(
                            f"malformed chunked body: {footer!r} after a chunk, expected CRLF"
                        )
                    if len(footer) < 2:
                        break
                    pos += 2
                    state = _SIZE
                else:
                    if _read_trailer(buf, pos, scanned) is None:
                        break  # incomplete: keep it all
                    self._finish()
                    return
        finally:
            self._state = state
            self._remaining = remaining
            self._scanned = end - pos if state in (_SIZE, _TRAILER) else 0
            if not self.done:
                self._buf = buf[pos:] if pos < end else b""
        if self._eof:
            raise SSEConnectionError(f"{_MID_BODY} (incomplete chunked body)")


def _plain_chunks(buf: bytes, pos: int, parts: list[bytes | memoryview]) -> int:
    """Decode the whole chunks of a size line with no extension from ``pos`` on, one
    regex match per chunk (one chunk per event makes this the hot loop); return where
    the general state machine must go on: a last chunk, an extension, a partial chunk,
    or anything malformed, which it judges."""
    match = _PLAIN_CHUNK_LINE_RE.match
    append = parts.append
    crlf = b"\r\n"
    startswith = buf.startswith
    while line := match(buf, pos):
        digits = line[1]
        size = int(digits, 16)
        start = pos + len(digits) + 2
        stop = start + size
        if not size or not startswith(crlf, stop):  # also False when cut short
            break
        # A view saves a copy of a big chunk; a small one slices cheaper.
        append(buf[start:stop] if size <= 512 else memoryview(buf)[start:stop])
        pos = stop + 2
    return pos


def _check_line_length(buf: bytes, pos: int, newline: int) -> None:
    """A chunk line (without CRLF) longer than MAX_CHUNK_LINE is refused, found whole
    or still arriving (a pending final CR may still turn out to be its CRLF)."""
    length = newline - pos if newline >= 0 else len(buf) - pos - buf.endswith(b"\r")
    if length > MAX_CHUNK_LINE:
        raise SSEProtocolError(
            f"malformed chunked body: chunk line longer than {MAX_CHUNK_LINE} bytes"
        )


def _read_trailer(buf: bytes, pos: int, scanned: int) -> int | None:
    """The position after the trailer section, or None while it is incomplete.

    As h11 reads it: lines end at LF (a CR before it is dropped), a blank line ends the
    section, obsolete line folding joins lines, every line must be a valid field."""
    if buf.startswith(b"\n", pos):
        return pos + 1
    if buf.startswith(b"\r\n", pos):
        return pos + 2
    blank = _BLANK_LINE_RE.search(buf, max(pos, scanned - 2))
    if blank is None:
        if len(buf) - pos > MAX_TRAILER_SIZE:
            raise SSEProtocolError(f"chunked body trailer larger than {MAX_TRAILER_SIZE} bytes")
        return None
    stop = blank.end()
    if stop - pos > MAX_TRAILER_SIZE:
        raise SSEProtocolError(f"chunked body trailer larger than {MAX_TRAILER_SIZE} bytes")
    lines = buf[pos:stop].split(b"\n")[:-2]
    _check_trailer_fields([line[:-1] if line.endswith(b"\r") else line for line in lines])
    return stop


def _check_trailer_fields(lines: list[bytes]) -> None:
    """Validate trailer fields as h11 does (they are then dropped: nothing here uses them)."""
    fields: list[bytes] = []
    for line in lines:
        fold = _FOLD_RE.match(line)
        if fold is None:
            fields.append(line)
        elif not fields:
            raise SSEProtocolError("malformed chunked body: trailer starts with a continuation")
        else:
            fields[-1] += b" " + line[fold.end() :]
    content_length: bytes | None = None
    transfer_encoding = False
    for field in fields:
        match = _FIELD_RE.fullmatch(field)
        if match is None:
            raise SSEProtocolError(f"malformed chunked body: trailer field {field!r}")
        name, value = match[1].lower(), match[2]
        if name == b"content-length":
            lengths = {length.strip() for length in value.split(b",")}
            value = lengths.pop()
            if (
                lengths
                or not _DIGITS_RE.fullmatch(value)
                or len(value) > _CONTENT_LENGTH_MAX_DIGITS
                or content_length not in (None, value)
            ):
                raise SSEProtocolError("malformed chunked body: bad Content-Length trailer")
            content_length = value
        elif name == b"transfer-encoding":
            if transfer_encoding or value.lower() != b"chunked":
                raise SSEProtocolError("malformed chunked body: bad Transfer-Encoding trailer")
            transfer_encoding = True


BodyFraming: TypeAlias = LengthFraming | CloseDelimitedFraming | ChunkedFraming


def framing_for(method: str, status_code: int, headers: Headers) -> BodyFraming:
    """The framing of a response whose head h11 has validated (RFC 9112 section 6.3):
    no body for 204, 304 and HEAD; then Transfer-Encoding (only chunked passes h11);
    then Content-Length (h11 has merged repeats); else until the connection closes."""
    if status_code in (204, 304) or method == "HEAD":
        return LengthFraming(0)
    if "transfer-encoding" in headers:
        return ChunkedFraming()
    length = headers.get("content-length")
    if length is not None:
        return LengthFraming(int(length))
    return CloseDelimitedFraming()
