"""HTTPExchange: response framing, errors and error bodies, fed as bytes (no sockets)."""

from __future__ import annotations

import gzip

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.http_helpers import (
    EVENTS,
    GET,
    HEAD_SSE,
    attribute_values,
    chunked,
    drain,
    framed,
    pieces,
    run,
    split_at,
)
from trio_sse import SSEConnectionError, SSEProtocolError
from trio_sse import _exchange as exchange_module
from trio_sse._exchange import ERROR_BODY_LIMIT, HTTPExchange, Phase
from trio_sse._framing import Spliced
from trio_sse._request import PreparedRequest, build_request_head, prepare_request


@pytest.mark.parametrize("mode", ["whole", "bytes", "threes"])
@pytest.mark.parametrize("kind", ["chunked", "length", "close"])
def test_body_framings(kind: str, mode: str) -> None:
    exchange, head, body = run(pieces(framed(kind, EVENTS), mode))
    assert head is not None
    assert head.status_code == 200
    assert head.reason == "OK"
    assert head.http_version == "1.1"
    assert head.url == "http://example.com/events"
    assert head.content_type == "text/event-stream"
    assert body == EVENTS
    assert exchange.complete
    assert exchange.next_head() is None
    assert exchange.next_body() == b""


@pytest.mark.parametrize("kind", ["chunked", "length"])
def test_framed_body_completes_without_eof_and_ignores_trailing_data(kind: str) -> None:
    exchange, _, body = run([framed(kind, EVENTS) + b"HTTP/1.1 200 junk\r\n"], eof=False)
    assert body == EVENTS
    assert exchange.complete
    exchange.feed(b"more junk")
    exchange.feed(b"")
    assert exchange.next_body() == b""
    assert exchange.complete


def test_close_delimited_body_is_not_complete_until_eof() -> None:
    exchange, _, body = run([framed("close", EVENTS)], eof=False)
    assert body == EVENTS
    assert not exchange.complete
    exchange.feed(b"")
    assert exchange.next_body() == b""
    assert exchange.complete


def test_head_split_across_feeds_is_returned_once() -> None:
    exchange = HTTPExchange(GET)
    data = framed("length", b"data: x\n\n")
    exchange.feed(data[:20])
    assert exchange.next_head() is None
    assert exchange.next_body() == b""
    exchange.feed(data[20:40])
    assert exchange.next_head() is None
    exchange.feed(data[40:])
    head = exchange.next_head()
    assert head is not None
    assert head.status_code == 200
    assert exchange.next_head() is None
    assert exchange.next_body() == b"data: x\n\n"


def test_informational_responses_are_skipped() -> None:
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n"
        + b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        + framed("chunked", EVENTS)
    )
    for mode in ("whole", "bytes"):
        exchange, head, body = run(pieces(data, mode))
        assert head is not None
        assert head.status_code == 200
        assert body == EVENTS
        assert exchange.complete


def test_response_head_details() -> None:
    data = (
        b"HTTP/1.0 200 Fine Thanks\r\nContent-Type: text/event-stream\r\n"
        b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Latin: caf\xe9\r\n\r\n" + EVENTS
    )
    exchange, head, body = run([data])
    assert head is not None
    assert head.http_version == "1.0"
    assert head.reason == "Fine Thanks"
    assert head.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert head.headers["x-latin"] == "café"
    assert body == EVENTS
    assert exchange.complete


def test_responses_without_body() -> None:
    exchange, head, body = run([b"HTTP/1.1 204 No Content\r\n\r\n"], eof=False)
    assert head is not None
    assert head.status_code == 204
    assert (body, exchange.complete) == (b"", True)
    head_request = prepare_request("http://example.com/", method="HEAD")
    data = HEAD_SSE + b"Content-Length: 100\r\n\r\n"
    exchange, head, body = run([data], request=head_request, eof=False)
    assert (body, exchange.complete) == (b"", True)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
    ],
)
def test_eof_before_complete_head_is_a_connection_error(data: bytes) -> None:
    exchange = HTTPExchange(GET)
    if data:
        exchange.feed(data)
        assert exchange.next_head() is None
    exchange.feed(b"")
    with pytest.raises(SSEConnectionError) as info:
        exchange.next_head()
    assert isinstance(info.value.__cause__, h11.RemoteProtocolError)
    with pytest.raises(SSEConnectionError):  # sticky
        exchange.next_body()


@pytest.mark.parametrize(
    "data",
    [
        framed("chunked", EVENTS)[:-5],  # no terminating chunk
        framed("chunked", EVENTS)[:-12],  # mid-chunk
        HEAD_SSE + b"Transfer-Encoding: chunked\r\n\r\n7\r\ndata",
        HEAD_SSE + b"Content-Length: 100\r\n\r\n" + EVENTS,
        HEAD_SSE + b"Content-Length: 100\r\n\r\n",
    ],
)
def test_truncated_body_is_a_connection_error(data: bytes) -> None:
    for mode in ("whole", "bytes"):
        exchange = HTTPExchange(GET)
        received = bytearray()
        for piece in pieces(data, mode):
            exchange.feed(piece)
            exchange.next_head()
            received += exchange.next_body()
        assert not exchange.complete
        exchange.feed(b"")
        with pytest.raises(SSEConnectionError, match="mid-body"):
            drain(exchange)
        assert not exchange.complete
        assert EVENTS.startswith(bytes(received))


@pytest.mark.parametrize(
    "data",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000,  # head too large
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
    ],
)
def test_malformed_head_is_a_protocol_error(data: bytes) -> None:
    exchange = HTTPExchange(GET)
    exchange.feed(data)
    with pytest.raises(SSEProtocolError) as info:
        exchange.next_head()
    assert isinstance(info.value.__cause__, h11.ProtocolError) or "switched" in str(info.value)
    with pytest.raises(SSEProtocolError):
        exchange.next_head()  # sticky


def test_malformed_chunk_is_a_protocol_error() -> None:
    exchange = HTTPExchange(GET)
    exchange.feed(HEAD_SSE + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n")
    assert exchange.next_head() is not None
    with pytest.raises(SSEProtocolError, match="malformed chunked body"):
        exchange.next_body()
    with pytest.raises(SSEProtocolError, match="malformed chunked body"):
        exchange.next_body()  # sticky


@pytest.mark.parametrize("read_size", [1000, 64 * 1024, 1024 * 1024])
@pytest.mark.parametrize("kind", ["length", "close", "chunked"])
def test_each_read_of_an_identity_body_is_one_piece(kind: str, read_size: int) -> None:
    """Take everything a read brings, whatever the read's size: one piece per feed."""
    body = bytes(range(256)) * (3 * 4096 + 7)  # a bit over 3 MiB
    if kind == "chunked":  # one chunk per event-sized piece
        data = HEAD_SSE + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body, 100)
    else:
        data = framed(kind, body)
    exchange = HTTPExchange(GET)
    parts = []
    for at in range(0, len(data), read_size):
        piece = data[at : at + read_size]
        exchange.feed(piece)
        exchange.next_head()
        if part := exchange.next_body():
            parts.append(part)
        assert exchange.next_body() == b""
    assert b"".join(parts) == body
    assert all(len(part) <= read_size for part in parts)


def test_next_body_before_next_head_keeps_the_head() -> None:
    exchange = HTTPExchange(GET)
    exchange.feed(framed("length", EVENTS))
    assert exchange.next_body() == EVENTS
    head = exchange.next_head()
    assert head is not None
    assert head.status_code == 200
    assert exchange.next_head() is None


def test_data_after_eof_is_ignored() -> None:
    exchange, _, body = run([framed("close", b"abc")])
    exchange.feed(b"late")
    assert exchange.next_body() == b""
    assert body == b"abc"
    assert exchange.complete


# --------------------------------------------------------------------------- error bodies


def rejected(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def complete(exchange: HTTPExchange) -> bool:
    """``exchange.complete`` read through a call (as ``phase()`` below): mypy would keep
    the property narrowed by one assert across the feed that changes it."""
    return exchange.complete


def test_error_body_small_and_cumulative() -> None:
    data = rejected(b"no such stream")
    exchange = HTTPExchange(GET)
    exchange.feed(data[:-5])
    assert exchange.next_head() is not None
    assert exchange.read_error_body() == b"no such s"
    assert not complete(exchange)
    exchange.feed(data[-5:])
    assert exchange.read_error_body() == b"no such stream"
    assert exchange.complete
    assert not exchange.body_limit_reached


def test_error_body_is_capped() -> None:
    exchange = HTTPExchange(GET)
    exchange.feed(rejected(b"x" * (3 * ERROR_BODY_LIMIT)))
    assert exchange.next_head() is not None
    body = exchange.read_error_body()
    assert len(body) == ERROR_BODY_LIMIT
    assert exchange.body_limit_reached
    assert exchange.read_error_body() == body


def test_error_body_includes_what_next_body_returned() -> None:
    # The session may loop on next_body and call read_error_body once at the end.
    exchange = HTTPExchange(GET)
    exchange.feed(rejected(b"a" * 100_000))
    assert exchange.next_head() is not None
    assert len(exchange.next_body()) == 100_000  # what the read brought, in one piece
    assert exchange.body_limit_reached
    assert exchange.read_error_body() == b"a" * ERROR_BODY_LIMIT


CHUNKED_404 = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
)
CHUNKED_HEAD_200 = CHUNKED_404.replace(b"404 Not Found", b"200 OK").replace(
    b"text/plain", b"text/event-stream"
)
FIRST, SECOND = b"a" * 2998 + b"\n\n", b"b" * 2998 + b"\n\n"  # chunks that end lines


def test_a_read_across_two_chunks_comes_spliced_from_next_read_and_joined_from_next_body() -> None:
    reads = [
        b"%x\r\n" % len(FIRST) + FIRST[:1000],
        FIRST[1000:] + b"\r\n%x\r\n" % 3000 + SECOND[:10],
    ]
    spliced, joined = HTTPExchange(GET), HTTPExchange(GET)
    for exchange in (spliced, joined):
        exchange.feed(CHUNKED_HEAD_200 + reads[0])
        assert exchange.next_head() is not None
        assert exchange.next_body() == FIRST[:1000]
        exchange.feed(reads[1])
    data = spliced.next_read()
    assert isinstance(data, Spliced)
    assert data.data is reads[1]
    assert data.joined() == FIRST[1000:] + SECOND[:10]
    assert joined.next_body() == FIRST[1000:] + SECOND[:10]
    assert spliced.starved
    assert joined.starved
    assert spliced.next_read() == joined.next_body() == b""


def test_an_error_body_keeps_a_spliced_read_joined() -> None:
    exchange = HTTPExchange(GET)
    exchange.feed(CHUNKED_404 + b"%x\r\n" % len(FIRST) + FIRST[:1000])
    assert exchange.next_head() is not None
    assert exchange.next_read() == FIRST[:1000]
    exchange.feed(FIRST[1000:] + b"\r\n%x\r\n" % len(SECOND) + SECOND[:10])
    assert isinstance(exchange.next_read(), Spliced)
    exchange.feed(SECOND[10:] + b"\r\n0\r\n\r\n")
    assert exchange.read_error_body() == FIRST + SECOND


def test_next_body_after_read_error_body_returns_the_rest() -> None:
    # read_error_body reads at most ERROR_BODY_LIMIT bytes of the read; the rest waits
    # in the decoder, and next_body must return it before it takes the framing's end
    # for the body's (it skips the decoder for an unencoded body that holds nothing).
    body = bytes(range(256)) * 400
    exchange = HTTPExchange(GET)
    exchange.feed(rejected(body))
    assert exchange.next_head() is not None
    assert exchange.read_error_body() == body[:ERROR_BODY_LIMIT]
    assert exchange.next_body() == body[ERROR_BODY_LIMIT:]
    assert exchange.next_body() == b""
    assert exchange.complete


@pytest.mark.parametrize("framing", ["content-length", "close"])
def test_a_big_first_read_through_next_body_alone_loses_nothing(framing: str) -> None:
    # next_body may read the head itself; a first read over the per-read limit leaves
    # bytes in the decoder, which must come out before the framing's end is taken for
    # the body's (the shortcut past the decoder waits until it is empty).
    body = bytes(range(256)) * 400
    length = f"Content-Length: {len(body) + 1}\r\n" if framing == "content-length" else ""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n{length}\r\n"
    exchange = HTTPExchange(GET)
    exchange.feed(head.encode() + body)
    exchange.feed(b"!")
    if framing == "close":
        exchange.feed(b"")
    got = bytearray()
    while not complete(exchange):
        part = exchange.next_body()
        assert part or complete(exchange), "no progress"
        got += part
    assert got == body + b"!"


def test_error_body_decoded_and_never_raises() -> None:
    exchange, _, _ = run([rejected(gzip.compress(b"why"), b"Content-Encoding: gzip\r\n")])
    assert exchange.read_error_body() == b"why"
    truncated = HTTPExchange(GET)
    truncated.feed(rejected(b"partial body")[:-4])
    assert truncated.next_head() is not None
    truncated.feed(b"")
    assert truncated.read_error_body() == b"partial "
    assert not truncated.complete
    corrupt = HTTPExchange(GET)
    corrupt.feed(rejected(b"not gzip", b"Content-Encoding: gzip\r\n"))
    assert corrupt.next_head() is not None
    assert corrupt.read_error_body() == b""


# --------------------------------------------------------------------------- properties

HEAD_PREFIXES = [
    b"",
    b"HTTP/1.1 ",
    b"HTTP/1.1 200 OK\r\n",
    HEAD_SSE + b"Transfer-Encoding: chunked\r\n\r\n",
    HEAD_SSE + b"Content-Length: 40\r\n\r\n",
    HEAD_SSE + b"\r\n",
    HEAD_SSE + b"Content-Encoding: gzip\r\n\r\n" + gzip.compress(EVENTS)[:12],
    HEAD_SSE + b"Content-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
]


@settings(max_examples=400, deadline=None)
@given(
    prefix=st.sampled_from(HEAD_PREFIXES),
    data=st.binary(max_size=200),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    eof=st.booleans(),
    error_body=st.booleans(),
)
def test_arbitrary_bytes_only_raise_sse_errors(
    prefix: bytes, data: bytes, cuts: list[int], eof: bool, error_body: bool
) -> None:
    exchange = HTTPExchange(GET)
    chunks = [*split_at(prefix + data, cuts), *([b""] if eof else [])]
    try:
        for chunk in chunks:
            exchange.feed(chunk)
            if error_body:
                exchange.next_head()
                exchange.read_error_body()
            else:
                exchange.next_head()
                while exchange.next_body():
                    pass
    except (SSEProtocolError, SSEConnectionError):
        pass
    assert isinstance(exchange.read_error_body(), bytes)


def phase(exchange: HTTPExchange) -> Phase:
    """``exchange.phase`` read through a call: mypy would keep the property narrowed by
    the last assert across the calls that move it on."""
    return exchange.phase


def test_phases() -> None:
    """HEAD until the head is read, BODY until next_body has returned all of it, then
    COMPLETE; any error is FAILED for good."""
    exchange = HTTPExchange(GET)
    assert phase(exchange) is Phase.HEAD
    data = framed("length", EVENTS)
    exchange.feed(data[:-3])
    assert exchange.next_head() is not None
    assert phase(exchange) is Phase.BODY
    assert exchange.next_body() == EVENTS[:-3]
    exchange.feed(data[-3:])
    assert exchange.next_body() == EVENTS[-3:]
    assert phase(exchange) is Phase.BODY  # the end is seen when next_body says b""
    assert exchange.next_body() == b""
    assert phase(exchange) is Phase.COMPLETE
    broken = HTTPExchange(GET)
    broken.feed(b"garbage\r\n\r\n")
    with pytest.raises(SSEProtocolError):
        broken.next_head()
    assert phase(broken) is Phase.FAILED


def test_h11_is_dropped_once_the_head_is_read() -> None:
    # Only the request and the head need h11's connection (about 1 KiB per stream).
    exchange = HTTPExchange(GET)
    exchange.feed(HEAD_SSE + b"\r\ndata: x\n\n")
    assert exchange.next_head() is not None
    assert not [v for v in attribute_values(exchange) if isinstance(v, h11.Connection)]
    assert exchange.next_body() == b"data: x\n\n"


def test_an_accepted_stream_keeps_no_copy_of_its_body() -> None:
    """The first ERROR_BODY_LIMIT bytes are kept only for a refusal's report: a stream
    that runs for days must not hold 64 KiB it never reports."""
    exchange = HTTPExchange(GET)
    exchange.feed(framed("close", b""))
    assert exchange.next_head() is not None
    exchange.stream_accepted()
    exchange.feed(b"data: x\n\n" * (ERROR_BODY_LIMIT // 4))
    assert len(drain(exchange)) == 9 * (ERROR_BODY_LIMIT // 4)
    assert exchange.read_error_body() == b""
    assert not exchange.body_limit_reached


def test_h11_is_held_only_while_the_head_is_read() -> None:
    """The request's h11 connection is let go once the request's bytes are made, and
    the head's is made by its first bytes: a stream waiting for its head holds none
    (thousands of streams wait there at once). Dropped again once the head is read."""

    def h11_held(exchange: HTTPExchange) -> int:
        return sum(isinstance(v, h11.Connection) for v in attribute_values(exchange))

    exchange = HTTPExchange(GET)
    assert exchange.request_bytes().startswith(b"GET ")
    assert exchange.next_head() is None
    assert h11_held(exchange) == 0
    exchange.feed(b"HTTP/1.1 200 OK\r\n")
    assert exchange.next_head() is None
    assert h11_held(exchange) == 1
    exchange.feed(b"Content-Type: text/event-stream\r\n\r\ndata: x\n\n")
    head = exchange.next_head()
    assert head is not None
    assert head.status_code == 200
    assert h11_held(exchange) == 0
    assert exchange.next_body() == b"data: x\n\n"


def test_the_proxy_credential_and_the_event_id_are_not_kept() -> None:
    """Once the request's bytes are handed over, the exchange holds neither: the head's
    h11 connection replays the request without them, so a stream does not keep a
    Proxy-Authorization credential while it waits for its head, or for its whole life."""
    credential = ("Proxy-Authorization", "Basic c2VjcmV0")
    exchange = HTTPExchange(GET, "event-42", proxy_headers=(credential,))
    request = exchange.request_bytes()
    assert b"Basic c2VjcmV0" in request
    assert b"event-42" in request
    for held in (attribute_values(exchange), None):
        if held is None:  # again once the head, read by the replayed h11 state, is in
            exchange.feed(HEAD_SSE + b"\r\n")
            assert exchange.next_head() is not None
            held = attribute_values(exchange)
        assert "c2VjcmV0" not in repr(held)
        assert "event-42" not in repr(held)


def test_a_hand_built_request_h11_sent_has_its_head_read() -> None:
    """Catches the replay for the head's h11 connection using the request's host where
    the request sent the user's Host field: h11 accepted the request, and the replay
    must not fail where it did not (here a host h11 refuses in a field)."""
    request = PreparedRequest("GET", "http", "a\x00b", 80, "/", (("Host", "ok"),), None)
    exchange = HTTPExchange(request)
    assert b"\r\nHost: ok\r\n" in exchange.request_bytes()
    exchange.feed(HEAD_SSE + b"Content-Length: 9\r\n\r\ndata: x\n\n")
    head = exchange.next_head()
    assert head is not None
    assert head.status_code == 200
    assert exchange.next_body() == b"data: x\n\n"


def test_the_head_is_read_without_building_the_request_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Catches the head's h11 connection replaying the whole request: its fields built,
    encoded and validated a second time for every stream opened. What h11 reads of the
    request is still replayed (test_a_switch_of_protocols_is_a_protocol_error)."""
    built: list[PreparedRequest] = []

    def counting(request: PreparedRequest, last_event_id: str | None) -> list[tuple[str, str]]:
        built.append(request)
        return build_request_head(request, last_event_id)

    monkeypatch.setattr(exchange_module, "build_request_head", counting)
    request = prepare_request("http://example.com/events", method="POST", content=b"{}")
    exchange = HTTPExchange(request, "event-1")
    exchange.request_bytes()
    exchange.feed(HEAD_SSE + b"Transfer-Encoding: chunked\r\n\r\n5\r\ndata:\r\n")
    head = exchange.next_head()
    assert head is not None
    assert head.status_code == 200
    assert exchange.next_body() == b"data:"
    assert built == [request]
