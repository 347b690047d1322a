"""Shared helpers for the sans-IO HTTP tests: wire bytes, exchange drivers, response heads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import h11

from trio_sse._exchange import BODY_CHUNK_LIMIT, HTTPExchange
from trio_sse._headers import Headers
from trio_sse._request import PreparedRequest, prepare_request
from trio_sse._response import SSEResponse

GET = prepare_request("http://example.com/events")

HEAD_SSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
EVENTS = b"data: hello\n\ndata: world\n\n"


def attribute_values(obj: object) -> list[object]:
    """What a slotted object holds (``vars()`` needs a ``__dict__``): its set slots."""
    names = [name for cls in type(obj).__mro__ for name in getattr(cls, "__slots__", ())]
    return [getattr(obj, name) for name in names if hasattr(obj, name)]


def chunked(body: bytes, size: int = 7) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def framed(kind: str, body: bytes, extra_headers: bytes = b"") -> bytes:
    head = HEAD_SSE + extra_headers
    if kind == "chunked":
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body)
    if kind == "length":
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    return head + b"\r\n" + body  # close-delimited


def pieces(data: bytes, mode: str) -> list[bytes]:
    if mode == "whole":
        return [data]
    if mode == "bytes":
        return [data[i : i + 1] for i in range(len(data))]
    return [data[i : i + 3] for i in range(0, len(data), 3)]


def drain(exchange: HTTPExchange) -> bytes:
    body = bytearray()
    while part := exchange.next_body():
        body += part
    return bytes(body)


def run(
    chunks: Iterable[bytes], request: PreparedRequest = GET, eof: bool = True
) -> tuple[HTTPExchange, SSEResponse | None, bytes]:
    """Drive an exchange the way the session does: feed, then drain head and body."""
    exchange = HTTPExchange(request)
    head = None
    body = bytearray()
    for chunk in [*chunks, *([b""] if eof else [])]:
        exchange.feed(chunk)
        if head is None:
            head = exchange.next_head()
        if head is not None:
            while part := exchange.next_body():
                assert len(part) <= BODY_CHUNK_LIMIT
                body += part
    return exchange, head, bytes(body)


def parse_request(data: bytes) -> tuple[h11.Request, bytes]:
    server = h11.Connection(h11.SERVER)
    server.receive_data(data)
    request = server.next_event()
    assert isinstance(request, h11.Request)
    body = b""
    while True:
        event = server.next_event()
        if isinstance(event, h11.EndOfMessage):
            break
        assert isinstance(event, h11.Data)
        body += event.data
    assert server.next_event() is h11.NEED_DATA  # nothing after the request
    return request, body


def response(
    status: int,
    headers: Headers | dict[str, str] | None = None,
    reason: str | None = None,
    url: str = "http://example.com/events",
) -> SSEResponse:
    if not isinstance(headers, Headers):
        headers = Headers(headers or {})
    if reason is None:
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}.get(status, "")
    return SSEResponse(status, reason, "1.1", headers, url)


def split_at(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    start = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        if cut > start:  # an empty piece would mean EOF
            yield data[start:cut]
            start = cut
