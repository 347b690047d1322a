"""HTTPExchange: one request and its response on one fresh connection, sans-IO.

Bytes in (``feed``), request bytes and response parts out (``request_bytes``,
``next_head``, ``next_body``, ``read_error_body``). h11 is the HTTP/1.1 machine for the
request, the response head, informational responses and the framing decision; the body
is then decoded by ``_framing`` (from h11's leftover bytes, then raw socket bytes) and
``_decoders``. h11's exceptions are translated in one place (``_h11_errors``), so callers
only ever see SSEProtocolError (malformed bytes), SSEConnectionError (the peer closed
early) or, for a hand-built request h11 refuses, ValueError. Imports h11, never trio.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import h11

from ._decoders import Decoder, IdentityDecoder, UnsupportedDecoder, make_decoder
from ._exceptions import SSEConnectionError, SSEError, SSEProtocolError
from ._framing import BodyFraming, LengthFraming, Spliced, framing_for
from ._headers import Headers
from ._request import PreparedRequest, build_request_head
from ._response import SSEResponse

__all__ = ["BODY_CHUNK_LIMIT", "ERROR_BODY_LIMIT", "MAX_HEAD_SIZE", "HTTPExchange", "Phase"]

ERROR_BODY_LIMIT = 64 * 1024
#: At most this many decoded bytes per ``next_body`` call from a compressed body, so a
#: compression bomb costs bounded memory per step. An identity body cannot inflate: its
#: bound is per read (what the last ``feed`` brought, plus this much left over), so the
#: body bytes a read brings come out in one piece however large the read.
BODY_CHUNK_LIMIT = 64 * 1024
#: h11's limit on an incomplete response head; 16 KiB (its default) is too tight for
#: servers with large cookies or CSP headers.
MAX_HEAD_SIZE = 64 * 1024


class Phase(enum.Enum):
    """Where an exchange is in reading its response (as h11's and wsproto's states)."""

    HEAD = "head"  # reading the response head (1xx responses skipped)
    BODY = "body"  # the head is read; the body has not all been returned
    COMPLETE = "complete"  # the body ended cleanly and next_body returned all of it
    FAILED = "failed"  # an error was raised; every later call raises it again


_HEAD = Phase.HEAD  # for feed(), on every read: a global is cheaper than Phase.HEAD
# The request field that changes how h11 reads a response head: an offer to switch
# protocols, which makes a 101 answer valid (and the exchange's error). Keep-alive
# (Connection) changes only h11's states once a message is complete, never how it
# reads a head.
_STATE_FIELDS = frozenset({b"upgrade"})
# h11 requires a Host in an HTTP/1.1 request and reads nothing else of it. A constant,
# not the request's: a hand-built request's host may not be one h11 accepts (its own
# Host field is what was sent), and then the replay would fail where the request did not.
_REPLAYED_HOST = (b"Host", b"replayed")


def _response_from(event: h11.Response, url: str) -> SSEResponse:
    return SSEResponse(
        status_code=event.status_code,
        reason=event.reason.decode("latin-1"),
        http_version=event.http_version.decode("ascii", "replace"),
        headers=Headers(event.headers),
        url=url,
    )


class HTTPExchange:
    """One request and its response on one fresh connection, as a byte-in/byte-out machine.

    Malformed bytes are SSEProtocolError; bytes that were a valid prefix until the peer
    closed are SSEConnectionError (a truncated body is a lost connection, never a clean
    end). The EOF is handed to h11 only once h11 has used every byte before it, which is
    what tells the two apart. The first error is sticky.
    """

    # Slots, not a dict: an exchange lives as long as its connection, one per stream.
    __slots__ = (
        "_conn",
        "_decoder",
        "_error",
        "_error_body",
        "_framing",
        "_head",
        "_identity_limit",
        "_keep_body",
        "_peer_closed",
        "_phase",
        "_replayed_fields",
        "_request_bytes",
        "_unencoded",
        "_unreturned_head",
        "request",
        "starved",
    )

    def __init__(
        self,
        request: PreparedRequest,
        last_event_id: str | None = None,
        *,
        proxy_headers: tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        """``proxy_headers`` not None: the stream leads to a forwarding HTTP proxy, so the
        target goes in absolute form and these headers (Proxy-Authorization) are added."""
        self.request = request
        # Only the request and the head need h11 (about 1 KiB), and the exchange holds
        # it only while it reads the head (see _h11).
        self._conn: h11.Connection | None = None
        self._phase = Phase.HEAD
        self._peer_closed = False  # feed(b"") was called; h11 is told when it needs data
        self._error: SSEError | None = None
        self._head: SSEResponse | None = None
        self._unreturned_head: SSEResponse | None = None  # next_head has yet to return it
        self._framing: BodyFraming = LengthFraming(0)  # replaced once the head is read
        self._decoder: Decoder = IdentityDecoder()
        # The body has no Content-Encoding and its decoder holds nothing: next_body can
        # read the framing directly. Set by next_body once the decoder is empty (in the
        # BODY phase); cleared when the exchange fails (its error must be raised again)
        # and by a limited read that may leave bytes there (read_error_body).
        self._unencoded = False
        self._identity_limit = BODY_CHUNK_LIMIT  # an identity body's bound: per read
        #: True when ``next_body`` just returned body bytes and would now return b"" (the
        #: body not complete) until the next ``feed``: a reader may go straight back to
        #: the network. False whenever that is not known, so it is only ever a shortcut.
        self.starved = False
        self._error_body = bytearray()
        self._keep_body = True  # until stream_accepted(): the body may be a refusal's
        fields = self._request_fields(last_event_id, proxy_headers)
        target = request.url if proxy_headers is not None else request.target
        self._request_bytes: bytes | None = self._send_request(self._new_h11(), target, fields)
        # What the head's h11 connection must see of the request's fields (see _h11).
        # Usually none: the shared empty tuple.
        self._replayed_fields = tuple(
            (name, value) for name, value in fields if name.lower() in _STATE_FIELDS
        )

    @property
    def phase(self) -> Phase:
        return self._phase

    @staticmethod
    def _new_h11() -> h11.Connection:
        return h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)

    def _request_fields(
        self, last_event_id: str | None, proxy_headers: tuple[tuple[str, str], ...] | None
    ) -> list[tuple[bytes, bytes]]:
        """The request's header fields, encoded for h11."""
        head = build_request_head(self.request, last_event_id)
        if proxy_headers:
            names = {name.lower() for name, _ in proxy_headers}
            head = [(n, v) for n, v in head if n.lower() not in names] + list(proxy_headers)
        return [(n.encode("latin-1"), v.encode("latin-1")) for n, v in head]

    def _send_request(
        self, conn: h11.Connection, target: str, fields: list[tuple[bytes, bytes]]
    ) -> bytes:
        """The request's bytes, as ``conn`` (a fresh h11 connection) sends them."""
        request = self.request
        with self._h11_errors():
            out = conn.send(h11.Request(method=request.method, target=target, headers=fields))
            if request.body:
                out += conn.send(h11.Data(data=request.body))
            out += conn.send(h11.EndOfMessage())
        return out

    def request_bytes(self) -> bytes:
        """The whole request, head and body, to write to the socket: handed over once,
        since each of thousands of open streams would otherwise keep its request (a few
        hundred bytes) for its whole life. A second call raises RuntimeError."""
        data = self._request_bytes
        if data is None:
            raise RuntimeError("the request bytes were already handed over")
        self._request_bytes = None
        return data

    def feed(self, data: bytes) -> None:
        """Bytes from the socket; b"" means the peer closed. Nothing can follow EOF."""
        self.starved = False
        if self._peer_closed:
            return
        if not data:
            self._peer_closed = True
            if self._phase is not Phase.HEAD:
                self._framing.feed_eof()
        else:
            self._identity_limit = BODY_CHUNK_LIMIT + len(data)
            if self._phase is _HEAD:
                self._h11().receive_data(data)
            else:
                self._framing.feed(data)

    # ---- errors: h11's translated here, and only here

    @contextmanager
    def _h11_errors(self) -> Iterator[None]:
        """Translate h11's exceptions, like httpcore's ``map_exceptions``."""
        try:
            yield
        except h11.LocalProtocolError as exc:  # only for a hand-built PreparedRequest
            raise ValueError(f"cannot send this request: {exc}") from exc
        except h11.RemoteProtocolError as exc:
            if not self._h11_saw_eof():
                raise self._fail(SSEProtocolError(f"malformed HTTP response: {exc}"), exc) from exc
            where = "before a complete response head" if self._head is None else "mid-body"
            error = SSEConnectionError(f"the server closed the connection {where}")
            raise self._fail(error, exc) from exc

    def _h11(self) -> h11.Connection:
        """h11's connection for the response head, made when the head is first read.

        The request's own h11 connection is let go once it has made the request's
        bytes: a stream waits for its head without one, and with thousands connecting
        at once, the 1 KiB each held there, freed after the head, stayed in the
        process as holes (benchmarks/RESULTS.md, "Memory left by opening"). The head's
        connection sends a request again, its bytes dropped, so that h11 reads a
        response head as it would have after the request: with any offer to switch
        protocols (_STATE_FIELDS) and a Host, which h11 requires. The method goes too, a
        precaution: h11 reads a head the same for every method trio-sse sends (HEAD
        changes only how it reads a body, and CONNECT, which would change how it reads
        a head, is refused by prepare_request). Not the whole request: building and
        validating every field
        again cost 5 of the exchange's 65 µs in a micro-benchmark (4-8% of the CPU of
        opening 10,000 streams with the collector off), and kept a Last-Event-ID and a
        Proxy-Authorization credential for the head's wait.
        """
        conn = self._conn
        if conn is None:
            if self._phase is not Phase.HEAD:
                raise RuntimeError("h11 was dropped once the response head was read")
            conn = self._new_h11()
            replayed = [_REPLAYED_HOST, *self._replayed_fields]
            with self._h11_errors():  # fields h11 accepted when it made the request
                conn.send(h11.Request(method=self.request.method, target="/", headers=replayed))
                conn.send(h11.EndOfMessage())
            self._conn = conn
        return conn

    def _h11_saw_eof(self) -> bool:
        return self._h11().trailing_data[1]

    def _fail(self, error: SSEError, cause: BaseException | None = None) -> SSEError:
        error.__cause__ = cause
        self._error = error
        self._phase = Phase.FAILED
        self._unencoded = False
        return error

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _next_event(self) -> Any:
        """The next h11 event or NEED_DATA, giving h11 the EOF only once it needs data."""
        with self._h11_errors():
            while True:
                event = self._h11().next_event()
                if event is h11.NEED_DATA and self._peer_closed and not self._h11_saw_eof():
                    self._h11().receive_data(b"")
                    continue
                if isinstance(event, h11.ConnectionClosed):
                    raise h11.RemoteProtocolError("connection closed")
                break
        if event is h11.PAUSED:
            raise self._fail(SSEProtocolError("the server switched protocols"))
        return event

    # ---- head

    def _read_head(self) -> bool:
        """Advance through the head; True once it is read (the phase has left HEAD)."""
        if self._conn is None and self._phase is Phase.HEAD and not self._peer_closed:
            return False  # no byte of the head yet: no h11 connection either (_h11)
        while self._phase is Phase.HEAD:
            event = self._next_event()
            if event is h11.NEED_DATA:
                return False
            if isinstance(event, h11.Response):
                self._start_body(_response_from(event, self.request.url))
            elif not isinstance(event, h11.InformationalResponse):
                raise self._fail(SSEProtocolError(f"unexpected {event!r} before the head"))
        return True

    def _start_body(self, head: SSEResponse) -> None:
        """From here on h11 reads nothing: the body is ours, starting with its leftovers."""
        self._head = self._unreturned_head = head
        self._decoder = make_decoder(head.headers)
        self._framing = framing_for(self.request.method, head.status_code, head.headers)
        self._framing.feed(self._h11().trailing_data[0])
        self._conn = None
        self._replayed_fields = ()  # only _h11 needed them
        if self._peer_closed:
            self._framing.feed_eof()
        self._phase = Phase.BODY

    def next_head(self) -> SSEResponse | None:
        """The final response head once complete (1xx skipped), once; else None."""
        self._raise_if_failed()
        if not self._read_head():
            return None
        head, self._unreturned_head = self._unreturned_head, None
        return head

    # ---- body

    def _decode(self, limit: int) -> bytes:
        try:
            return self._decoder.read(limit)
        except SSEProtocolError as exc:
            raise self._fail(exc, exc.__cause__) from exc.__cause__

    def _unframe(self) -> bytes:
        try:
            return self._framing.read()
        except SSEError as exc:
            raise self._fail(exc, exc.__cause__) from exc.__cause__

    def _end_body(self) -> None:
        if self._decoder.unfinished():
            message = f"the {self._decoder.name} response body is truncated"
            if self._framing.ended_by_eof:
                raise self._fail(SSEConnectionError(f"the server closed the connection: {message}"))
            raise self._fail(SSEProtocolError(message))
        self._phase = Phase.COMPLETE

    def _read_body(self, limit: int) -> bytes:
        if self._phase is Phase.HEAD and not self._read_head():
            return b""
        while self._phase is Phase.BODY:
            out = self._decode(limit)
            if out:
                self._remember(out)
                return out
            data = self._unframe()
            if data:
                self._decoder.feed(data)
            elif self._framing.done:
                self._end_body()  # the decoder was just drained: this is the end
            else:
                break
        return b""

    def _remember(self, data: bytes | Spliced) -> None:
        """Keep the body's first ERROR_BODY_LIMIT bytes, whichever method read them."""
        room = ERROR_BODY_LIMIT - len(self._error_body)
        if room > 0 and self._keep_body:
            self._error_body += (data.joined() if isinstance(data, Spliced) else data)[:room]

    def stream_accepted(self) -> None:
        """The body is the event stream, never an error to report: stop keeping its first
        ERROR_BODY_LIMIT bytes, which a long-lived stream would otherwise hold for good."""
        self._keep_body = False
        self._error_body = bytearray()

    def next_body(self) -> bytes:
        """Decoded body bytes available now; b"" = need more input. Everything the last
        ``feed`` brought comes in one piece, except that a compressed body comes at most
        BODY_CHUNK_LIMIT decoded bytes at a time."""
        data = self.next_read()
        return data.joined() if isinstance(data, Spliced) else data

    def next_read(self) -> bytes | Spliced:
        """``next_body``, except that the bytes of a read that spans two chunks may come
        as a Spliced (see ChunkedFraming.read_spliced), for the parser to read in place."""
        if self._unencoded:
            # No Content-Encoding and nothing left in the decoder: the framing's output
            # is the body. It needs no limit: it is one read's bytes, plus at most a
            # chunk-size line kept from the read before. This is every read of an
            # ordinary stream, so it skips the decoder's feed and read, and is inline.
            framing = self._framing
            try:
                data = framing.read_spliced()
            except SSEError as exc:
                raise self._fail(exc, exc.__cause__) from exc.__cause__
            if data:
                if self._keep_body:
                    self._remember(data)
                self.starved = framing.starved
                return data
            if framing.done:
                self._phase = Phase.COMPLETE  # an unencoded body is never cut mid-coding
            return b""
        self._raise_if_failed()
        decoder = self._decoder
        if type(decoder) is IdentityDecoder:
            body = self._read_body(self._identity_limit)
            # A limit may have left bytes in the decoder (next_body before next_head,
            # with a big first read; read_error_body): read it until it is empty. The
            # head may just have been read, replacing the decoder: ask the current one.
            decoder = self._decoder
            self._unencoded = (
                self._phase is Phase.BODY and type(decoder) is IdentityDecoder and decoder.drained()
            )
            return body
        if isinstance(decoder, UnsupportedDecoder):
            # Not sticky: read_error_body still returns such a body as it came.
            raise SSEProtocolError(f"unsupported Content-Encoding {decoder.name!r}")
        return self._read_body(BODY_CHUNK_LIMIT)

    @property
    def complete(self) -> bool:
        """The body ended cleanly and next_body has returned all of it."""
        return self._phase is Phase.COMPLETE

    def read_error_body(self) -> bytes:
        """The first ERROR_BODY_LIMIT decoded bytes of the body, including any that
        next_body already returned, after reading what is available now.

        Call it after each feed (or loop on next_body and call it once). Never raises:
        the body only explains the SSEResponseError about to be raised, so a broken one
        is cut short (an unknown Content-Encoding is returned undecoded).
        """
        self._unencoded = False  # a limited read may leave bytes in the decoder
        try:
            while self._phase is not Phase.FAILED and not self.complete:
                if self.body_limit_reached:
                    break
                if not self._read_body(ERROR_BODY_LIMIT - len(self._error_body)):
                    break
        except SSEError:
            pass
        return bytes(self._error_body)

    @property
    def error_body_read(self) -> bool:
        """Nothing more of an error body will be kept: it ended (cleanly or not), the
        peer closed, or ERROR_BODY_LIMIT bytes are in. Until then, feed and call
        read_error_body again."""
        return (
            self._phase is Phase.COMPLETE
            or self._phase is Phase.FAILED
            or self._peer_closed
            or self.body_limit_reached
        )

    @property
    def body_limit_reached(self) -> bool:
        """ERROR_BODY_LIMIT bytes of body have been read: stop waiting for more."""
        return len(self._error_body) >= ERROR_BODY_LIMIT
