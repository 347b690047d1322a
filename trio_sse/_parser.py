"""SSEParser: a sans-IO decoder for the WHATWG ``text/event-stream`` format.

It works on bytes, not text. CR, LF and ``:`` are ASCII and never occur inside a
multi-byte UTF-8 sequence, so splitting lines and fields on bytes gives exactly what
decoding the whole stream first would, and only the values we hand out (data, event
type, id) are decoded, each in one C call.

Speed comes from doing per chunk what C can do and keeping Python off the common
paths: a chunk of short lines is one ``bytes.splitlines`` (CR, LF and CRLF in one
pass), and long lines are found with ``find`` (memchr), never split byte by byte; the
line loop keeps the block's state in locals; whole blocks of plain ``data: <value>``
events are cut out with ``count``/``split`` and never reach the loop; a chunk holding
exactly one such event, the usual shape of token streams, returns after a handful of C
calls; and only one-byte searches (memchr) run over long stretches.

Memory stays linear in the event size: an incomplete line grows in a bytearray, and a
block that grows past SPILL_SIZE moves its data and comment lines from lists of small
bytes objects (about 40 bytes of overhead each) into bytearrays. The size limit is
enforced from a cheap upper bound kept per chunk, so the hot path pays nothing for it.

Imports neither trio nor h11: this module decides, it does no I/O.
"""

from __future__ import annotations

from ._events import ServerSentEvent
from ._exceptions import SSEProtocolError

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEParser", "check_last_event_id"]

DEFAULT_MAX_EVENT_SIZE = 16 * 2**20
SPILL_SIZE = 64 * 1024  # a block buffering more than this is compacted and measured
# A chunk larger than FEED_PIECE_LIMIT is parsed FEED_PIECE bytes at a time: the copies
# the parser makes of runs of whole blocks then stay small enough for the CPU's cache
# and under glibc's default 128 KiB mmap threshold (a long line still grows in the
# tail, as it does across reads). The session's reads (64 KiB) are not cut.
FEED_PIECE = 64 * 1024
FEED_PIECE_LIMIT = 96 * 1024
_BOM = b"\xef\xbb\xbf"
_DIGITS = frozenset(b"0123456789")


# A first line at least this long marks a run of plain data events as long ones, walked
# LF to LF: split's multi-byte search and count cost ~0.4 ns a byte, memchr far less.
LONG_LINE = 1024
# Chunks at least this long are split by _split_lines: bytes.splitlines (and split) walk
# byte by byte, about 0.4 ns a byte, while find (memchr) crosses a long line for a few
# hundredths of that. Long lines outside plain data events (a CRLF stream, a block with an
# id or a type, several data lines) would otherwise cost 26 µs per 64 KiB.
WALK_SIZE = 4096
# Lines shorter than this are short: a chunk that starts with two is left to splitlines
# (but for a long unterminated rest), and a walk gives up once its lines average less.
WALK_AVERAGE = 512


def _split_lines(data: bytes) -> tuple[list[bytes], int]:
    """``data.splitlines()`` for the lines that end in ``data``, and the offset of the
    unterminated rest (``len(data)`` when there is none).

    The rest is found from the end (memrchr), so it is never split. A chunk with two
    line ends in its first WALK_AVERAGE bytes is split by splitlines, as many small
    events come; otherwise its lines are found break to break with find, until four or
    more of them average under WALK_AVERAGE bytes and splitlines takes the rest. Every
    search is bounded and each LF is searched for once, so the walk stays linear in any
    mix of line endings."""
    end = len(data)
    lf = data.rfind(b"\n")
    cr = data.rfind(b"\r", lf + 1)
    rest = (cr if cr >= 0 else lf) + 1  # just past the last line break, 0 if none
    find = data.find
    first = find(b"\n", 0, WALK_AVERAGE)
    ending = b"\n"
    if first < 0:
        first = find(b"\r", 0, WALK_AVERAGE)
        ending = b"\r"
    if first >= 0 and find(ending, first + 1, WALK_AVERAGE) >= 0:  # short lines ahead
        if end - rest < WALK_AVERAGE:
            lines = data.splitlines()  # the chunk as it was always split
            if rest < end:
                lines.pop()
            return lines, rest
        return data[:rest].splitlines(), rest
    lines = []
    add = lines.append
    pos = 0
    next_lf = -1  # the first LF at or after pos, or past rest when none is left
    while pos < rest:
        if len(lines) >= 4 and pos < WALK_AVERAGE * len(lines):
            lines += data[pos:rest].splitlines()  # ends in a line break: no empty last item
            break
        if next_lf < pos:
            next_lf = find(b"\n", pos, rest)
            if next_lf < 0:
                next_lf = rest + 1
        cr = find(b"\r", pos, next_lf)
        if cr < 0:  # the line ends at the LF
            add(data[pos:next_lf])
            pos = next_lf + 1
        else:  # at a CR, or a CRLF pair
            add(data[pos:cr])
            pos = cr + 2 if cr + 1 == next_lf else cr + 1
    return lines, rest


def _end_of_blocks(data: bytes, last_lf: int) -> int:
    """The offset just past the last LF that ends a blank line, at or before the LF at
    ``last_lf``; -1 if there is none.

    Walks back LF to LF (memrchr) over a few lines: a two-byte rfind crosses a long
    data line at about 0.75 ns a byte. Blocks of many lines are left to that rfind."""
    lf = last_lf
    for _ in range(8):
        if lf <= 0:
            return -1  # no LF left, or one at 0 with nothing before it to pair with
        if data[lf - 1] == 10:
            return lf + 1
        lf = data.rfind(b"\n", 0, lf)
    pair = data.rfind(b"\n\n", 0, lf + 1)
    return pair + 2 if pair >= 0 else -1


# Chunks up to this size that end in a blank line are tried as one whole block of data,
# event and id lines (SSEParser._one_block) before the general path.
ONE_BLOCK_SIZE = 2048
_new_event = tuple.__new__  # ServerSentEvent's constructor without the Python-level __new__
_TYPE_NAMES: dict[bytes, str] = {}  # decoded event types: a stream uses a few, over and over
# The cache lives as long as the process, so it is bounded in entries and in bytes: a
# hostile stream's long or ever-new names are decoded each time, never kept.
TYPE_NAME_CACHE_ENTRIES = 1024
TYPE_NAME_CACHE_MAX_LENGTH = 64  # bytes of one cached name


def _type_name(raw: bytes) -> str:
    name = raw.decode("utf-8", "replace")
    if len(raw) <= TYPE_NAME_CACHE_MAX_LENGTH and len(_TYPE_NAMES) < TYPE_NAME_CACHE_ENTRIES:
        _TYPE_NAMES[raw] = name
    return name


_MAX_RETRY = 2**63 - 1


def _parse_retry(digits: bytes) -> int:
    """ASCII digits as milliseconds, capped at 2**63 - 1 (about 292 million years):
    exact up to the cap, and absurd lengths cannot hit int()'s digit limit."""
    digits = digits.lstrip(b"0") or b"0"
    if len(digits) > 19:
        return _MAX_RETRY
    return min(int(digits), _MAX_RETRY)


def check_last_event_id(value: object) -> None:
    """An id to resume from must be a str a stream could have set: no NUL, CR or LF."""
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"last_event_id must be a str or None, not {type(value).__name__}")
    if any(c in value for c in "\0\r\n"):
        raise ValueError("last_event_id must not contain NUL, CR or LF")


class SSEParser:
    """Turn the bytes of one response body into ServerSentEvents.

    ``feed`` takes chunks split anywhere (even inside a CRLF pair or a UTF-8
    character) and returns the events they complete; ``feed_eof`` ends the body and
    discards an incomplete block, as the standard says.

    ``last_event_id`` is the committed last event ID (set at a blank line), which a
    reconnect must send; ``retry`` is the latest valid ``retry:`` value in ms.
    Each event's ``id`` is that last event ID at dispatch; with ``own_ids=True`` it is
    instead the value of the event's own ``id`` line (None if its block had none),
    for tools that must tell an id the server sent from one remembered (``trio-sse
    stream --format json``); ``last_event_id`` and reconnects are the same either way.
    A line, or a block's data or comments, longer than ``max_event_size`` bytes
    raises SSEProtocolError: memory stays bounded and nothing is silently truncated.
    The block that breaches the limit is not dispatched, so ``last_event_id`` stays the
    id of the last block that was, and ``retry`` the value before that block began; the
    error names the limit the stream broke first, a line's or an event's. None of these
    depends on how the body was cut into chunks.
    """

    __slots__ = (
        "_block_bound",
        "_block_extras",
        "_block_retry",
        "_blocked",
        "_bom_buffer",
        "_check_at",
        "_comment_spill",
        "_comments",
        "_committed_id",
        "_data",
        "_data_spill",
        "_event_id",
        "_event_type",
        "_failed",
        "_id_buffer",
        "_idle",
        "_line_end",
        "_max_event_size",
        "_one_block_size",
        "_own_ids",
        "_pending_cr",
        "_retry",
        "_retry_before_block",
        "_show_comment_events",
        "_show_retry_events",
        "_shown_id",
        "_tail",
    )

    def __init__(
        self,
        *,
        show_comment_events: bool = False,
        show_retry_events: bool = False,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        last_event_id: str | None = None,
        own_ids: bool = False,
    ) -> None:
        if isinstance(max_event_size, bool) or not isinstance(max_event_size, int):
            raise TypeError(f"max_event_size must be an int, not {type(max_event_size).__name__}")
        if max_event_size < 1:
            raise ValueError(f"max_event_size must be positive, got {max_event_size}")
        check_last_event_id(last_event_id)
        self._show_comment_events = bool(show_comment_events)
        self._show_retry_events = bool(show_retry_events)
        self._max_event_size = max_event_size
        self._line_end = max_event_size + 1  # an LF at or past this offset ends a long line
        # A chunk this small holds no line and no data over the limit: _one_block may run.
        self._one_block_size = min(ONE_BLOCK_SIZE, max_event_size)
        # Line assembly.
        self._bom_buffer: bytes | None = b""  # None once the leading BOM is settled
        self._pending_cr = False  # the last chunk ended in CR: swallow a leading LF
        self._tail = bytearray()  # the incomplete last line
        # The block being read (everything since the last blank line).
        self._data: list[bytes] = []  # data values not yet spilled
        self._data_spill = bytearray()  # earlier data values, each followed by LF
        self._event_type = b""
        self._comments: list[bytes] | None = None  # a list only while a block has some
        self._comment_spill = bytearray()
        self._block_retry: int | None = None
        self._block_extras = False  # type, comments, retry or spill: not the fast path
        self._block_bound = 0  # an upper bound of the bytes buffered for this block
        self._check_at = min(max_event_size, SPILL_SIZE)  # bound that triggers a measurement
        # Stream state.
        self._id_buffer = last_event_id or ""
        self._committed_id = self._id_buffer
        # The id events get: the last event ID (None when empty), or with own_ids the
        # value of the block's own id line ("" included) and None if it had none.
        self._own_ids = bool(own_ids)
        self._shown_id = None if own_ids else self._id_buffer or None
        self._retry: int | None = None
        # ``_retry`` when the block with a ``retry:`` line started: a block that breaches
        # the size limit is never dispatched, so its retry is taken back, as its id is.
        self._retry_before_block: int | None = None
        self._failed: str | None = None  # the message of the error that stopped the parser
        self._blocked = False  # failed or finished: one check on the hot path for both
        # Between blocks with nothing pending (no partial line, no block state, no CR
        # to pair, no uncommitted id, BOM settled): feed's one-event fast path may run.
        # Recomputed at the end of every general feed.
        self._idle = False
        self._event_id = self._shown_id  # the id events get while idle

    @property
    def last_event_id(self) -> str | None:
        """The last event ID committed by a blank line (None when empty)."""
        return self._committed_id or None

    @property
    def retry(self) -> int | None:
        """The latest valid ``retry:`` value in milliseconds, or None. After a size
        error, the latest of the blocks before the one that breached the limit."""
        return self._retry

    def feed(self, data: bytes | bytearray | memoryview) -> list[ServerSentEvent]:
        """Consume a chunk of the body and return the events it completes."""
        if self._idle and type(data) is bytes:
            try:
                if data[:6] == b"data: " and data[-1] == 10:  # a piece of a long line stops here
                    # Exactly one plain data event between blocks, as token streams send
                    # them, with LF or CRLF line ends; the one line within the limit.
                    end = len(data) - 2
                    lf = data.find(b"\n", 6, self._line_end)
                    if lf == end and 13 not in data:
                        text: str | None = data[6:end].decode()
                    elif lf == end - 1 and data.find(b"\r", 6) == end - 2 and data[end] == 13:
                        text = data[6 : end - 2].decode()
                    else:
                        text = None
                    if text is not None:
                        event = (text, None, self._event_id, None, None)
                        return [_new_event(ServerSentEvent, event)]
            except UnicodeDecodeError:
                pass  # the general path replaces invalid UTF-8
            if len(data) <= self._one_block_size and data[-1:] == b"\n":
                one = self._one_block(data)
                if one is not None:
                    return one
        if self._blocked:
            self._raise_blocked()
        if type(data) is not bytes:
            view = memoryview(data)  # bytes-like only: bytes(5) would be 5 NULs
            if view.nbytes > FEED_PIECE_LIMIT and view.c_contiguous:
                return self._feed_pieces(view.cast("B"))  # copied a piece at a time
            data = view.tobytes()
        if len(data) > FEED_PIECE_LIMIT:
            return self._feed_pieces(data)
        if not data:
            return []  # before the CR bookkeeping: an empty chunk must not end a CRLF pair
        if self._bom_buffer is not None:
            data = self._strip_bom(data)
        if self._pending_cr:
            self._pending_cr = False
            if data[:1] == b"\n":
                data = data[1:]
        if not data:
            return []
        events: list[ServerSentEvent] = []
        try:
            if not self._tail:
                if 13 in data:
                    self._feed_lines(data, events)  # CR line endings: the general path
                else:
                    self._feed_blocks(data, events)
            elif 13 in data:
                if not self._long_crlf_data_ends(data, events):
                    self._feed_lines(data, events)
            elif (lf := data.find(b"\n")) < 0:
                self._extend_tail(data)  # the middle of a long line: two memchr, no split
            elif not self._long_data_ends(data, lf, events):
                self._feed_blocks(data, events)
        except SSEProtocolError as exc:
            exc.events = events  # what came before the error is not lost
            raise
        self._settle()
        return events

    def _feed_pieces(self, data: bytes | memoryview) -> list[ServerSentEvent]:
        """``feed`` of a chunk larger than FEED_PIECE_LIMIT, FEED_PIECE bytes at a time.
        The events do not depend on where a body is cut (the property tests and the
        fuzzer hold that), and pieces keep the parser's copies of runs of whole blocks
        small: fed whole, a megabyte of 64 KiB events took up to ten times as long per
        event (2.5 times with ``id`` and ``event`` lines), each copy a megabyte."""
        events: list[ServerSentEvent] = []
        feed = SSEParser.feed  # not a subclass's override: it saw the chunk once already
        for start in range(0, len(data), FEED_PIECE):
            piece = data[start : start + FEED_PIECE]
            try:
                events += feed(self, piece if isinstance(piece, bytes) else piece.tobytes())
            except SSEProtocolError as exc:
                exc.events = events + exc.events  # every event of this call before it
                raise
        return events

    def feed_spliced(self, data: bytes, cut: int, resume: int) -> list[ServerSentEvent]:
        """``feed(data[:cut] + data[resume:])``, without joining the two pieces first
        when it can (``feed_in_place``); ``0 <= cut <= resume <= len(data)``."""
        events = self.feed_in_place(data, cut, resume)
        if events is None:
            view = memoryview(data)
            events = self.feed(b"".join((view[:cut], view[resume:])))
        return events

    def feed_in_place(self, data: bytes, cut: int, resume: int) -> list[ServerSentEvent] | None:
        """The events of ``data[:cut] + data[resume:]`` (what ``feed`` of the two pieces
        joined would return, leaving the same state), read in place; or None, with
        nothing changed, when they cannot be: then join and ``feed`` them, after letting
        go of ``data``, so that the read and its copy are not both held while parsed.

        What it reads in place: a chunked read that ends one long event and starts the
        next (ChunkedFraming.read_spliced). Only a first piece that ends with a blank
        line can be: anything else is refused at once, without a search.
        _end_long_data then takes only a long data line going on, so no error, BOM or
        CR is pending either."""
        if not 0 <= cut <= resume <= len(data):
            raise ValueError(f"need 0 <= cut <= resume <= {len(data)}, got {cut} and {resume}")
        events: list[ServerSentEvent] = []
        try:
            if data.endswith(b"\n\n", 0, cut):  # LF line ends, as _long_data_ends
                taken = (
                    data.find(b"\n", 0, cut) == cut - 2
                    and data.find(b"\r", 0, cut) < 0
                    and data.find(b"\r", resume) < 0
                    and self._end_long_data(data, cut - 2, resume, False, events, resume - cut)
                )
            elif data.endswith(b"\r\n\r\n", 0, cut):  # CRLF, as _long_crlf_data_ends
                taken = (
                    data.find(b"\r", 0, cut) == cut - 4
                    and data.find(b"\n", 0, cut - 4) < 0
                    and self._end_long_data(data, cut - 4, resume, True, events, resume - cut)
                )
            else:
                taken = False
        except SSEProtocolError as exc:
            exc.events = events
            raise
        if not taken:
            return None
        self._settle()
        return events

    def _settle(self) -> None:
        """After a chunk: the id the next event shows, and whether the parser is idle."""
        self._event_id = self._shown_id
        self._idle = not (
            self._tail
            or self._data
            or self._block_extras
            or self._event_type
            or self._pending_cr
            or self._id_buffer != self._committed_id
            or (self._own_ids and self._shown_id is not None)  # an id line, maybe a repeat
        )

    def _long_data_ends(self, data: bytes, lf: int, events: list[ServerSentEvent]) -> bool:
        """A long ``data:`` line, its block's only data line, ends at ``lf`` and the
        blank line follows: how events far larger than a read arrive, one per read or
        so. Dispatches the event without the line loop; False (nothing changed) for
        anything else, which the general path then reads. ``data`` has no CR."""
        if data[lf + 1 : lf + 2] != b"\n":
            return False
        return self._end_long_data(data, lf, lf + 2, False, events)

    def _long_crlf_data_ends(self, data: bytes, events: list[ServerSentEvent]) -> bool:
        """The same with CRLF line ends, as sse-starlette writes them: the first CR and
        LF of ``data`` end the line, and the blank line's CRLF follows."""
        cr = data.find(b"\r")
        if data[cr + 1 : cr + 4] != b"\n\r\n" or data.find(b"\n", 0, cr) >= 0:
            return False
        return self._end_long_data(data, cr, cr + 4, True, events)

    def _end_long_data(
        self,
        data: bytes,
        end: int,
        rest: int,
        crlf: bool,
        events: list[ServerSentEvent],
        hole: int = 0,
    ) -> bool:
        """Dispatch the buffered ``data:`` line, which ``data[:end]`` finishes, as its
        block's event, if the block has no other data, comment or retry line (``event``
        and ``id`` lines are fine), then read ``data[rest:]`` as the line loop would
        have. False (nothing changed) otherwise. The ``hole`` bytes before ``rest`` are
        not the chunk's (feed_spliced's size line): the chunk is ``hole`` bytes shorter.

        The parser is left exactly as the line loop leaves it, down to the block's size
        bound: with LF ends that is ``_feed_blocks``, which splits the chunk after the
        blank line; with CR in the chunk ``_feed_lines``, which reads it whole."""
        tail = self._tail
        if (
            not tail.startswith(b"data: ")
            or len(tail) + end > self._max_event_size
            or self._data
            or self._block_extras
        ):
            return False
        # What the line loop's bound counts for the block the blank line ends.
        counted = len(tail) + (len(data) if crlf else rest) - hole
        tail += memoryview(data)[:end]
        del tail[:6]  # cheap at the front of a bytearray
        try:
            text = tail.decode()
        except UnicodeDecodeError:
            text = tail.decode("utf-8", "replace")
        # The line's bytes go before the next line's are copied: the line, its text and
        # the start of the next event are never all held at once.
        self._tail = bytearray()
        del tail
        # The blank line: commit the block's id, and its type goes with the event.
        event_type = self._event_type
        name = _TYPE_NAMES.get(event_type) or _type_name(event_type) if event_type else None
        event_id = self._shown_id
        self._committed_id = self._id_buffer
        self._event_type = b""
        if self._own_ids:
            self._shown_id = None  # the next block shows an id only if it has one
        events.append(_new_event(ServerSentEvent, (text, name, event_id, None, None)))
        if crlf:  # the rest's lines, then the bound and its check, as _feed_lines
            self._block_bound = 0
            lf = data.rfind(b"\n", rest)
            whole = max(lf, data.rfind(b"\r", max(lf + 1, rest))) + 1  # past the last break
            if whole > rest and data[whole - 1] == 13:
                self._feed_lines(data[rest:], events)  # is an LF paired with that CR?
            else:
                # Only the whole lines are sliced off (the next event's ``event`` and
                # ``id`` lines, say); the start of its long data line goes to the tail.
                if whole > rest:
                    self._feed_lines(data[rest:whole], events)
                else:
                    whole = rest
                if whole < len(data):
                    self._extend_tail(memoryview(data)[whole:])  # the next line's start
            self._block_bound = counted
            if counted > self._check_at:
                self._spill_and_measure()
        else:  # the bound and its check, then the rest, as _feed_blocks
            self._block_bound = counted if counted <= self._check_at else 0
            if rest < len(data):
                self._feed_from_block_start(data, events, rest)
        return True

    def _one_block(self, data: bytes) -> list[ServerSentEvent] | None:
        """A chunk between blocks that is exactly one block of ``data``, ``event`` and
        ``id`` lines (any line ends), as sse-starlette and most servers send an event:
        its event, without the line loop's bookkeeping. None (nothing changed) for
        anything else: comments, retry, other fields, a second block, invalid UTF-8,
        no data."""
        lines = data.splitlines()  # data ends in LF: no CR left for the next chunk
        if lines.pop():
            return None  # the chunk does not end with a blank line
        raw = event_type = id_value = None
        more: list[bytes] | None = None  # data lines after the first, if any
        for line in lines:
            field, _, value = line.partition(b": ")  # "data" alone: the empty value
            if field == b"data":
                if raw is None:
                    raw = value
                elif more is None:
                    more = [raw, value]
                else:
                    more.append(value)
            elif field == b"event":
                event_type = value
            elif field == b"id":
                if 0 not in value:  # an id with NUL is ignored, as the general path does
                    id_value = value
            else:
                return None  # another field, a comment, a retry, a blank line (a 2nd block)
        if raw is None:
            return None
        try:
            text = (raw if more is None else b"\n".join(more)).decode()
            id_ = None if id_value is None else id_value.decode()
        except UnicodeDecodeError:
            return None
        name = (_TYPE_NAMES.get(event_type) or _type_name(event_type)) if event_type else None
        event_id = self._event_id
        if id_ is not None:
            self._id_buffer = self._committed_id = id_
            if self._own_ids:
                event_id = id_  # the block's own id; the next block starts without one
            else:
                self._shown_id = self._event_id = event_id = id_ or None
        return [_new_event(ServerSentEvent, (text, name, event_id, None, None))]

    def _feed_blocks(self, data: bytes, events: list[ServerSentEvent]) -> None:
        """An LF-only chunk, split where blocks end: the part that finishes the current
        block (general path), whole blocks (a fast path if they are plain data events),
        and the start of the next block (general path). Only one-byte searches run over
        long stretches: a two-byte ``find`` is ~80 times slower than memchr."""
        if not self._idle:
            end = self._end_of_first_block(data)
            if end < 0:
                self._feed_lines(data, events)
                return
            start = 0
            if self._tail:
                # A long line ends here: its last bytes go into the tail from a view,
                # copied once, instead of being sliced, split and then appended.
                start = data.find(b"\n")
                if start:
                    self._extend_tail(memoryview(data)[:start])
            self._feed_lines(data[start:end], events)
            if end == len(data):
                return
            if data.find(b"\n", end) < 0:
                self._extend_tail(memoryview(data)[end:])  # the next block's first line
                return
            self._feed_from_block_start(data, events, end)
            return
        self._feed_from_block_start(data, events)

    def _feed_from_block_start(
        self, data: bytes, events: list[ServerSentEvent], first: int = 0
    ) -> None:
        """The rest of ``_feed_blocks``: an LF-only chunk that starts a block at
        ``first``. Nothing is copied from past the last LF but into the tail: after a
        64 KiB event, the next one's ``event`` and ``id`` lines are sliced off, not the
        start of its long data line as well."""
        last_lf = data.rfind(b"\n", first)
        if last_lf < 0:
            self._extend_tail(memoryview(data)[first:])  # the next block's first line
            return
        # Back over the next block's lines only; a blank line before ``first`` (the end
        # of the block before it) is never past ``first``.
        start = max(_end_of_blocks(data, last_lf), first)
        if start > first:
            blocks = data[first:start]
            if not self._plain_data_events(blocks, events):
                self._feed_lines(blocks, events)
        whole = last_lf + 1
        if start < whole:
            self._feed_lines(data[start:whole], events)
        if whole < len(data):
            self._extend_tail(memoryview(data)[whole:])  # the next block's first line

    def _end_of_first_block(self, data: bytes) -> int:
        """The offset just past the LF of the first blank line, or -1 if it is not near.

        Walks LF to LF (memchr) over at most a few lines; a block with more lines than
        that is left to the general path whole."""
        if not self._tail and data[0] == 10:
            return 1  # the previous chunk ended a line: this LF is a blank line
        start = 0
        for _ in range(8):
            lf = data.find(b"\n", start)
            if lf < 0:
                return -1
            if data[lf + 1 : lf + 2] == b"\n":
                return lf + 2
            start = lf + 1
        return -1

    def _plain_data_events(self, blocks: bytes, events: list[ServerSentEvent]) -> bool:
        """Whole blocks that are all exactly ``data: <value>\n\n``, in a few C calls.

        False (use the general path) unless ``blocks`` starts with ``data: ``, decodes
        as strict UTF-8, and every LF in it is half of a ``\n\n`` followed by ``data: ``
        (or ends it). Short events: splitting on ``\n\ndata: `` gives half as many
        values as there are LFs (separators and the final ``\n\n`` hold two apiece, so
        no value holds one). Long events: each LF found is checked where it is.
        """
        if blocks[:6] != b"data: " or len(blocks) > self._max_event_size:
            return False
        try:
            text = blocks[6:-2].decode()
        except UnicodeDecodeError:
            return False
        if blocks.find(b"\n", 0, LONG_LINE) >= 0:  # short events: split, count to check
            values = text.split("\n\ndata: ")
            if 2 * len(values) != blocks.count(b"\n"):
                return False
        else:  # long events: walk LF to LF (memchr); every LF must start "\n\ndata: "
            values = []
            start = 0
            while (lf := text.find("\n", start)) >= 0:
                if not text.startswith("\n\ndata: ", lf):
                    return False
                values.append(text[start:lf])
                start = lf + 8
            values.append(text[start:])
        self._committed_id = self._id_buffer
        self._block_bound = 0
        id_ = self._shown_id  # no block here has an id line: None with own_ids
        events += [_new_event(ServerSentEvent, (value, None, id_, None, None)) for value in values]
        return True

    def _feed_lines(self, data: bytes, events: list[ServerSentEvent]) -> None:
        """The general path: any bytes (CR, LF or CRLF endings), continuing the state.

        The block's state lives in locals for the loop (an attribute costs several times
        a local) and goes back to the parser before anything else can look at it."""
        rest: bytes | memoryview | None = None
        if len(data) < WALK_SIZE:
            lines = data.splitlines()  # bytes.splitlines: only CR, LF and CRLF, in one pass
            if data[-1] not in b"\r\n":
                rest = lines.pop()
        else:
            lines, rest_at = _split_lines(data)
            if rest_at < len(data):
                rest = memoryview(data)[rest_at:]  # copied once, into the tail
        if data[-1] == 13:
            self._pending_cr = True  # an LF at the start of the next chunk is this CRLF's
        if not lines:
            assert rest is not None  # data is not empty: it has a line or a rest
            self._extend_tail(rest)
            return
        size = len(data)
        limit = self._max_event_size
        tail = self._tail
        if tail:
            size += len(tail)
            tail += lines[0]
            self._tail = bytearray()
            if tail[:6] == b"data: " and len(tail) <= limit:
                # A long data line: drop the field name in place (cheap at the front of
                # a bytearray) and keep the bytearray as the value, copying nothing.
                del tail[:6]
                self._data.append(tail)  # type: ignore[arg-type]  # decoded like bytes
                del lines[0]
            else:
                lines[0] = bytes(tail)
            del tail
        too_long = size > limit and max(map(len, lines), default=0) > limit
        if too_long:  # interpret the lines before the first long one, then fail
            del lines[next(i for i, line in enumerate(lines) if len(line) > limit) :]

        data_lines = self._data
        add_data = data_lines.append
        add_event = events.append
        new_event = _new_event
        event_class = ServerSentEvent
        type_names = _TYPE_NAMES
        event_type = self._event_type
        id_buffer = self._id_buffer
        committed = self._committed_id
        shown_id = self._shown_id
        own_ids = self._own_ids
        extras = self._block_extras
        dispatched = False
        for line in lines:
            if not line:
                dispatched = True
                event_id = shown_id
                if own_ids:
                    shown_id = None
                if extras:
                    self._event_type = event_type
                    self._id_buffer = id_buffer
                    self._committed_id = committed  # its own once it is dispatched
                    self._end_block_with_extras(events, event_id)
                    event_type = b""
                    extras = False
                elif data_lines:
                    if len(data_lines) > 1:
                        raw = b"\n".join(data_lines)
                        if len(raw) > limit:
                            # Not dispatched: its id is not committed, as when the
                            # lines come one feed at a time and the bound stops them.
                            self._id_buffer = id_buffer
                            self._committed_id = committed
                            self._fail_event_size()
                    else:
                        raw = data_lines[0]  # never over the limit: its line was not
                    data_lines.clear()
                    try:
                        text = raw.decode()
                    except UnicodeDecodeError:
                        text = raw.decode("utf-8", "replace")
                    if event_type:
                        name = type_names.get(event_type) or _type_name(event_type)
                        event_type = b""
                    else:
                        name = None
                    add_event(new_event(event_class, (text, name, event_id, None, None)))
                else:
                    event_type = b""
                committed = id_buffer
                continue
            # One partition splits the common "name: value" lines. A known name before
            # the first ": " is also the text before the first colon, and a line that is
            # just "data", "event" or "id" has the empty value the standard gives it;
            # anything else ("data:x", comments, retry, ...) goes to _field.
            field, _, value = line.partition(b": ")
            if field == b"data":
                add_data(value)
            elif field == b"event":
                event_type = value
            elif field == b"id":
                if 0 not in value:
                    try:
                        id_buffer = value.decode()
                    except UnicodeDecodeError:
                        id_buffer = value.decode("utf-8", "replace")
                    shown_id = id_buffer if own_ids else id_buffer or None
            else:
                self._event_type = event_type
                self._id_buffer = id_buffer
                self._shown_id = shown_id
                self._field(line)
                event_type = self._event_type
                id_buffer = self._id_buffer
                shown_id = self._shown_id
                extras = self._block_extras
        self._event_type = event_type
        self._id_buffer = id_buffer
        self._committed_id = committed
        self._shown_id = shown_id

        if too_long:
            # The lines before it may already have taken the block's data or comments
            # over the limit: that breach came first, as it does fed a line at a time.
            self._spill_and_measure()
            self._fail(f"a line is longer than max_event_size ({limit} bytes)")
        if dispatched:
            self._block_bound = size
        else:
            self._block_bound += size
        if self._block_bound > self._check_at:
            self._spill_and_measure()
        if rest:
            self._extend_tail(rest)

    def feed_eof(self) -> list[ServerSentEvent]:
        """End the body. An incomplete line or block is discarded, never dispatched."""
        if self._failed is not None:
            self._raise_blocked()
        self._blocked = True
        self._idle = False
        self._tail = bytearray()
        self._reset_block()
        self._id_buffer = self._committed_id
        self._shown_id = None if self._own_ids else self._committed_id or None
        return []

    # -- internals ---------------------------------------------------------------------

    def _field(self, line: bytes) -> None:
        """Interpret one non-blank line other than the common "data: " one."""
        colon = line.find(b":")
        if colon == 0:
            comment = line[2:] if line[1:2] == b" " else line[1:]
            if self._comments is None:
                self._comments = [comment]
            else:
                self._comments.append(comment)
            self._block_extras = True
            return
        if colon < 0:
            field = line
            value = b""
        else:
            field = line[:colon]
            value = line[colon + 2 :] if line[colon + 1 : colon + 2] == b" " else line[colon + 1 :]
        if field == b"data":
            self._data.append(value)
        elif field == b"event":
            self._event_type = value
        elif field == b"id":
            if b"\0" not in value:
                self._id_buffer = id_ = value.decode("utf-8", "replace")
                self._shown_id = id_ if self._own_ids else id_ or None
        elif field == b"retry" and value and _DIGITS.issuperset(value):
            if self._block_retry is None:
                self._retry_before_block = self._retry
            self._retry = self._block_retry = _parse_retry(value)
            self._block_extras = True
        # Any other field, including a whitespace-only line, is ignored.

    def _end_block_with_extras(self, events: list[ServerSentEvent], event_id: str | None) -> None:
        """End a block that had a type, comments, a retry or spilled lines; Ktor's
        filters decide whether a block without data is surfaced."""
        raw_data = self._joined(self._data_spill, self._data)
        raw_comments = self._joined(self._comment_spill, self._comments)
        retry = self._block_retry
        if raw_data is None and not (
            (self._show_comment_events and raw_comments is not None)
            or (self._show_retry_events and retry is not None)
        ):
            self._reset_block()
            return
        event = ServerSentEvent(
            None if raw_data is None else raw_data.decode("utf-8", "replace"),
            self._event_type.decode("utf-8", "replace") if self._event_type else None,
            event_id,
            retry,
            None if raw_comments is None else raw_comments.decode("utf-8", "replace"),
        )
        self._reset_block()
        events.append(event)

    def _joined(self, spill: bytearray, lines: list[bytes] | None) -> bytes | bytearray | None:
        """Spilled and listed lines joined with LF (None if there are none), size-checked."""
        raw: bytes | bytearray
        if spill:  # each spilled line ends in LF: append the rest, or drop the last LF
            if lines:
                spill += b"\n".join(lines)
            else:
                del spill[-1]
            raw = spill
        elif lines:
            raw = b"\n".join(lines)
        else:
            return None
        if len(raw) > self._max_event_size:
            self._fail_event_size()
        return raw

    def _reset_block(self) -> None:
        self._data.clear()
        self._data_spill = bytearray()
        self._event_type = b""
        self._comments = None
        self._comment_spill = bytearray()
        self._block_retry = None
        self._block_extras = False
        self._block_bound = 0

    def _extend_tail(self, piece: bytes | memoryview) -> None:
        self._tail += piece
        if len(self._tail) > self._max_event_size:
            self._fail(f"a line is longer than max_event_size ({self._max_event_size} bytes)")

    def _spill_and_measure(self) -> None:
        """Compact the block's lines into bytearrays, then enforce the limit exactly.

        Called when the cheap bound passes ``_check_at``; the bound then becomes the
        exact size, so a block that keeps growing is measured again only after it grew
        by another chunk or so: linear work overall.
        """
        if self._data:
            self._data_spill += b"\n".join(self._data)
            self._data_spill += b"\n"
            self._data.clear()
            self._block_extras = True
        if self._comments:
            self._comment_spill += b"\n".join(self._comments)
            self._comment_spill += b"\n"
            self._comments = None
            self._block_extras = True
        # Each spill holds its lines plus one LF apiece; the joined value has one LF fewer.
        if max(len(self._data_spill), len(self._comment_spill)) - 1 > self._max_event_size:
            self._fail_event_size()
        self._block_bound = len(self._data_spill) + len(self._comment_spill)

    def _fail_event_size(self) -> None:
        self._fail(f"an event is larger than max_event_size ({self._max_event_size} bytes)")

    def _strip_bom(self, data: bytes) -> bytes:
        """Drop one UTF-8 BOM at the very start of the body, even if split across chunks."""
        assert self._bom_buffer is not None
        data = self._bom_buffer + data
        if len(data) < len(_BOM) and _BOM.startswith(data):
            self._bom_buffer = data
            return b""
        self._bom_buffer = None
        return data[len(_BOM) :] if data.startswith(_BOM) else data

    def _fail(self, message: str) -> None:
        """Stop at a size breach. The breaching block is never dispatched: its retry
        is taken back, and its id was never committed."""
        if self._block_retry is not None:
            self._retry = self._retry_before_block
        self._tail = bytearray()
        self._reset_block()
        self._failed = message
        self._blocked = True
        self._idle = False
        raise SSEProtocolError(message)

    def _raise_blocked(self) -> None:
        if self._failed is not None:
            raise SSEProtocolError(self._failed)  # a fresh one: its ``events`` are this call's
        raise RuntimeError("feed() after feed_eof(): use one parser per response body")
