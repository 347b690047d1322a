"""The sans-IO HTTP layer: request building, response framing and decoding, judging.

No sockets: requests are parsed back with an h11 server, responses are fed as bytes.
"""

from __future__ import annotations

import ast
import gzip
import json
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_sse import SSEConnectionError, SSEProtocolError, __version__
from trio_sse._protocol import (
    BODY_CHUNK_LIMIT,
    ERROR_BODY_LIMIT,
    MAX_REDIRECTS,
    USER_AGENT,
    EndStream,
    FollowRedirect,
    Headers,
    HTTPExchange,
    OpenStream,
    PreparedRequest,
    Reject,
    RetryLater,
    SSEResponse,
    build_request_head,
    judge_response,
    prepare_request,
)

GET = prepare_request("http://example.com/events")


def test_protocol_module_never_imports_trio() -> None:
    source = Path(__file__).parent.parent / "trio_sse" / "_protocol.py"
    tree = ast.parse(source.read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert "trio" not in imported
    assert "h11" in imported


def test_constants() -> None:
    assert f"trio-sse/{__version__}" == USER_AGENT
    assert MAX_REDIRECTS == 10
    assert ERROR_BODY_LIMIT == 64 * 1024


# --------------------------------------------------------------------------- Headers


def test_headers_case_insensitive_and_joined() -> None:
    h = Headers([(b"Content-Type", b"text/plain"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
    assert h["content-type"] == h["CONTENT-TYPE"] == "text/plain"
    assert h["Set-Cookie"] == "a=1, b=2"
    assert h.get_list("SET-COOKIE") == ["a=1", "b=2"]
    assert h.get_list("missing") == []
    assert h.raw == (("content-type", "text/plain"), ("set-cookie", "a=1"), ("set-cookie", "b=2"))
    assert list(h) == ["content-type", "set-cookie"]
    assert len(h) == 2
    assert "Content-Type" in h
    assert 1 not in h  # type: ignore[comparison-overlap]
    assert h.get("nope") is None
    with pytest.raises(KeyError):
        h["nope"]


def test_headers_decode_latin1() -> None:
    assert Headers([(b"x", b"caf\xe9")])["X"] == "café"


def test_headers_equality_repr_hash() -> None:
    h = Headers({"Content-Type": "text/event-stream", "X-A": "1"})
    assert h == {"content-type": "text/event-stream", "x-a": "1"}
    assert h == {"CONTENT-TYPE": "text/event-stream", "X-a": "1"}
    assert h == Headers([("x-a", "1"), ("content-type", "text/event-stream")])
    assert h != {"content-type": "text/html", "x-a": "1"}
    assert h != [("x-a", "1")]
    assert hash(h) == hash(Headers([("X-A", "1"), ("content-type", "text/event-stream")]))
    assert repr(h) == "Headers([('content-type', 'text/event-stream'), ('x-a', '1')])"
    assert not hasattr(h, "__setitem__")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text/event-stream", "text/event-stream"),
        ("TEXT/Event-Stream; charset=utf-8", "text/event-stream"),
        ("  text/event-stream ;x=1", "text/event-stream"),
        ("", None),
        (None, None),
    ],
)
def test_content_type(value: str | None, expected: str | None) -> None:
    headers = Headers([] if value is None else [("Content-Type", value)])
    assert response(200, headers).content_type == expected


# --------------------------------------------------------------------------- prepare_request


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "target", "host_header", "normalized"),
    [
        ("http://example.com", "http", "example.com", 80, "/", "example.com", None),
        ("https://example.com/events", "https", "example.com", 443, "/events", None, None),
        (
            "https://example.com:8443/a?b=1&c",
            "https",
            "example.com",
            8443,
            "/a?b=1&c",
            "example.com:8443",
            None,
        ),
        ("http://example.com:80/x", "http", "example.com", 80, "/x", None, "http://example.com/x"),
        (
            "https://example.com:443/",
            "https",
            "example.com",
            443,
            "/",
            None,
            "https://example.com/",
        ),
        ("http://[::1]:8080/x?y", "http", "::1", 8080, "/x?y", "[::1]:8080", None),
        ("http://[::1]/", "http", "::1", 80, "/", "[::1]", None),
        ("http://[0:0::1]/", "http", "::1", 80, "/", "[::1]", "http://[::1]/"),
        ("http://127.0.0.1:9000", "http", "127.0.0.1", 9000, "/", "127.0.0.1:9000", None),
        ("HTTP://EXAMPLE.com/Path", "http", "example.com", 80, "/Path", None, None),
        ("http://example.com/x#frag", "http", "example.com", 80, "/x", None, None),
        ("http://example.com/x?q=1#f", "http", "example.com", 80, "/x?q=1", None, None),
        ("http://bücher.de/", "http", "xn--bcher-kva.de", 80, "/", None, None),
        ("http://example.com/ü b", "http", "example.com", 80, "/%C3%BC%20b", None, None),
        (
            "http://example.com/?q=ä&r=a b",
            "http",
            "example.com",
            80,
            "/?q=%C3%A4&r=a%20b",
            None,
            None,
        ),
        ("http://example.com/a%20b?x=%2F", "http", "example.com", 80, "/a%20b?x=%2F", None, None),
        ("http://example.com/a?", "http", "example.com", 80, "/a", None, None),
        ("  http://example.com/  ", "http", "example.com", 80, "/", None, None),
        ("//example.com/x", "http", "example.com", 80, "/x", None, None),
    ],
)
def test_prepare_request_url_forms(
    url: str,
    scheme: str,
    host: str,
    port: int,
    target: str,
    host_header: str | None,
    normalized: str | None,
) -> None:
    request = prepare_request(url)
    assert (request.scheme, request.host, request.port, request.target) == (
        scheme,
        host,
        port,
        target,
    )
    assert request.host_header == (host_header or host)
    assert request.origin == (scheme, host, port)
    assert request.method == "GET"
    assert request.headers == ()
    assert request.body is None
    assert request.redirect_count == 0
    if normalized is not None:
        assert request.url == normalized
    # The URL round-trips.
    assert prepare_request(request.url) == request


def test_prepare_request_components() -> None:
    request = prepare_request(host="127.0.0.1", port=8080, path="/events")
    assert request.url == "http://127.0.0.1:8080/events"
    assert prepare_request(host="example.com").url == "http://example.com/"
    assert prepare_request(scheme="https", host="example.com").port == 443
    assert prepare_request(scheme="HTTPS", host="example.com").scheme == "https"
    assert prepare_request(host="example.com", path="events?x=1").target == "/events?x=1"
    assert prepare_request(host="::1", port=1).url == "http://[::1]:1/"
    assert prepare_request(host="[::1]").host == "::1"
    assert prepare_request(host="Bücher.DE").host == "xn--bcher-kva.de"


def test_components_override_url() -> None:
    base = "https://a.example:8443/x?y=1"
    assert prepare_request(base, host="b.example").url == "https://b.example:8443/x?y=1"
    assert prepare_request(base, port=9000).url == "https://a.example:9000/x?y=1"
    # An explicit URL port stays when only the scheme changes.
    assert prepare_request(base, scheme="http").url == "http://a.example:8443/x?y=1"
    # path replaces path and query together.
    assert prepare_request(base, path="/z").url == "https://a.example:8443/z"
    # Without an explicit port, the default follows the final scheme.
    assert prepare_request("https://a.example/x", scheme="http").url == "http://a.example/x"
    # A bare path URL with a host component.
    assert prepare_request("/events?a=1", host="h.example").url == "http://h.example/events?a=1"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"url": "ftp://example.com/"}, "scheme"),
        ({"url": "ws://example.com/"}, "scheme"),
        ({"url": "localhost:8080/x"}, "scheme"),
        ({"url": "example.com/events"}, "did you mean 'http://example.com/events'"),
        ({"url": "http://"}, "missing host"),
        ({"url": "http:///x"}, "missing host"),
        ({}, "missing host"),
        ({"url": "http://user:pw@example.com/"}, "Authorization"),
        ({"url": "http://user@example.com/"}, "Authorization"),
        ({"url": "http://example.com:99999/"}, "invalid URL"),
        ({"url": "http://example.com:0/"}, "out of range"),
        ({"url": "http://example.com:abc/"}, "invalid URL"),
        ({"url": "http://[::1/"}, "invalid URL"),
        ({"url": "http://[not-ipv6]/"}, None),
        ({"url": "http://exa mple.com/"}, "invalid host"),
        ({"url": "http://example.com/a\r\nInjected: 1"}, "control characters"),
        ({"url": "http://example.com/a\tb"}, "control characters"),
        ({"host": "example.com", "port": 70000}, "out of range"),
        ({"host": "example.com", "port": 0}, "out of range"),
        ({"host": "a\r\nb"}, "invalid host"),
        ({"host": "example.com:80"}, "invalid host"),
        ({"host": "example.com/x"}, "invalid host"),
        ({"host": "x", "path": "/a\r\nb"}, "control characters"),
        ({"host": "x", "scheme": "file"}, "scheme"),
        ({"host": "x", "method": "GE T"}, "method"),
        ({"host": "x", "method": "GET\r\n"}, "method"),
        ({"host": "x", "method": ""}, "method"),
        ({"host": "x", "method": "connect"}, "CONNECT"),
        ({"host": "x", "headers": {"X": "a\r\nb"}}, "CR, LF or NUL"),
        ({"host": "x", "headers": {"X": "a\nb"}}, "CR, LF or NUL"),
        ({"host": "x", "headers": {"X": "a\rb"}}, "CR, LF or NUL"),
        ({"host": "x", "headers": {"X": "a\0b"}}, "CR, LF or NUL"),
        ({"host": "x", "headers": {"X": "a\x0bb"}}, "control character"),
        ({"host": "x", "headers": {"Bad Name": "v"}}, "header name"),
        ({"host": "x", "headers": {"X:Y": "v"}}, "header name"),
        ({"host": "x", "headers": {"X\r\nY": "v"}}, "header name"),
        ({"host": "x", "headers": {"": "v"}}, "header name"),
        ({"host": "x", "headers": {"X": "€"}}, "ISO-8859-1"),
        ({"host": "x", "headers": {"Transfer-Encoding": "chunked"}}, "Transfer-Encoding"),
        ({"host": "x", "headers": [("Host", "a"), ("host", "b")]}, "Host"),
        ({"host": "x", "headers": {"Content-Length": "5"}, "content": b"abc"}, "Content-Length"),
        ({"host": "x", "headers": {"Content-Length": "1"}}, "Content-Length"),
        ({"host": "x", "content": b"a", "json": {"a": 1}}, "not both"),
        ({"host": "x", "json": float("nan")}, None),
    ],
)
def test_prepare_request_value_errors(kwargs: dict[str, object], match: str | None) -> None:
    with pytest.raises(ValueError, match=match):
        prepare_request(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": b"http://example.com/"},
        {"host": b"example.com"},
        {"host": "x", "port": "80"},
        {"host": "x", "port": 80.0},
        {"host": "x", "port": True},
        {"host": "x", "path": b"/"},
        {"host": "x", "method": None},
        {"host": "x", "scheme": b"http"},
        {"host": "x", "headers": {"X": 1}},
        {"host": "x", "headers": {b"X": "v"}},
        {"host": "x", "headers": [("X", b"v")]},
        {"host": "x", "headers": [("X",)]},
        {"host": "x", "headers": ["XY"]},
        {"host": "x", "headers": "X: v"},
        {"host": "x", "content": 123},
        {"host": "x", "json": object()},
    ],
)
def test_prepare_request_type_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        prepare_request(**kwargs)  # type: ignore[arg-type]


def test_prepare_request_method_and_headers() -> None:
    request = prepare_request(
        "http://x/", method="post", headers=[("X-A", " 1 "), ("x-a", "2"), ("Cookie", "c=1")]
    )
    assert request.method == "POST"
    assert request.headers == (("X-A", "1"), ("x-a", "2"), ("Cookie", "c=1"))
    assert prepare_request("http://x/", headers={"X": "caf\xe9\x01"}).headers == (
        ("X", "caf\xe9\x01"),
    )


def test_prepare_request_bodies() -> None:
    assert prepare_request("http://x/", content="héllo").body == "héllo".encode()
    assert prepare_request("http://x/", content=b"\x00\xff").body == b"\x00\xff"
    buffer: object = bytearray(b"ab")
    assert prepare_request("http://x/", content=buffer).body == b"ab"  # type: ignore[arg-type]
    assert prepare_request("http://x/", content=b"").body == b""
    request = prepare_request("http://x/", method="POST", json={"a": [1, 2], "b": "é"})
    assert request.body == b'{"a":[1,2],"b":"\\u00e9"}'
    assert json.loads(request.body) == {"a": [1, 2], "b": "é"}
    assert request.headers == (("Content-Type", "application/json"),)
    custom = prepare_request(
        "http://x/", json=[1], headers={"content-type": "application/vnd.api+json"}
    )
    assert custom.headers == (("content-type", "application/vnd.api+json"),)
    assert prepare_request("http://x/", json=False).body == b"false"
    matching = prepare_request("http://x/", content=b"abc", headers={"Content-Length": "3"})
    assert matching.headers == (("Content-Length", "3"),)


def test_prepared_request_is_frozen() -> None:
    with pytest.raises(AttributeError):
        GET.method = "POST"  # type: ignore[misc]


# --------------------------------------------------------------------------- build_request_head


def names(head: list[tuple[str, str]]) -> list[str]:
    return [name for name, _ in head]


def test_request_head_defaults_in_order() -> None:
    assert build_request_head(GET, None) == [
        ("Host", "example.com"),
        ("User-Agent", USER_AGENT),
        ("Accept", "text/event-stream"),
        ("Cache-Control", "no-cache"),
    ]
    assert build_request_head(GET, "") == build_request_head(GET, None)
    assert build_request_head(GET, "42")[4] == ("Last-Event-ID", "42")
    request = prepare_request("http://[::1]:8080/")
    assert build_request_head(request, None)[0] == ("Host", "[::1]:8080")


def test_request_head_user_headers_replace_defaults() -> None:
    request = prepare_request(
        "http://x/",
        headers=[("X-Trace", "t"), ("accept", "text/event-stream, */*"), ("User-Agent", "me/1")],
    )
    assert build_request_head(request, "7") == [
        ("Host", "x"),
        ("User-Agent", "me/1"),
        ("accept", "text/event-stream, */*"),
        ("Cache-Control", "no-cache"),
        ("Last-Event-ID", "7"),
        ("X-Trace", "t"),
    ]


def test_request_head_last_event_id_precedence() -> None:
    request = prepare_request("http://x/", headers={"last-event-id": "user"})
    assert ("last-event-id", "user") in build_request_head(request, None)
    assert ("last-event-id", "user") in build_request_head(request, "")
    head = build_request_head(request, "session")
    assert ("Last-Event-ID", "session") in head
    assert [n.lower() for n in names(head)].count("last-event-id") == 1


def test_request_head_last_event_id_encoding() -> None:
    # WHATWG: the id is sent UTF-8 encoded; values here are latin-1 strs of wire bytes.
    head = dict(build_request_head(GET, "日本"))
    assert head["Last-Event-ID"].encode("latin-1") == "日本".encode()
    # An id no header can carry is left out rather than mangled.
    assert "Last-Event-ID" not in dict(build_request_head(GET, "a\x0bb"))
    assert "Last-Event-ID" not in dict(build_request_head(GET, "  "))
    assert dict(build_request_head(GET, " a b "))["Last-Event-ID"] == "a b"


def test_request_head_content_length() -> None:
    assert "Content-Length" not in names(build_request_head(GET, None))
    post = prepare_request("http://x/", method="POST")
    assert build_request_head(post, None)[-1] == ("Content-Length", "0")
    for method in ("PUT", "PATCH"):
        request = prepare_request("http://x/", method=method)
        assert build_request_head(request, None)[-1] == ("Content-Length", "0")
    with_body = prepare_request("http://x/", content="abc", headers={"X": "1"})
    assert build_request_head(with_body, "1")[-2:] == [("X", "1"), ("Content-Length", "3")]
    user = prepare_request("http://x/", content="abc", headers={"content-length": "3"})
    assert [n.lower() for n in names(build_request_head(user, None))].count("content-length") == 1


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


def test_request_bytes_on_the_wire() -> None:
    request = prepare_request(
        "https://example.com:8443/stream?x=1",
        method="POST",
        json={"prompt": "hi"},
        headers={"Authorization": "Bearer t"},
    )
    exchange = HTTPExchange(request, last_event_id="41")
    wire, body = parse_request(exchange.request_bytes())
    assert wire.method == b"POST"
    assert wire.target == b"/stream?x=1"
    assert wire.http_version == b"1.1"
    assert [(bytes(n), bytes(v)) for n, v in wire.headers] == [
        (b"host", b"example.com:8443"),
        (b"user-agent", USER_AGENT.encode()),
        (b"accept", b"text/event-stream"),
        (b"cache-control", b"no-cache"),
        (b"last-event-id", b"41"),
        (b"authorization", b"Bearer t"),
        (b"content-type", b"application/json"),
        (b"content-length", b"15"),
    ]
    assert body == b'{"prompt":"hi"}'
    assert exchange.request_bytes().startswith(b"POST /stream?x=1 HTTP/1.1\r\nHost: ")


def test_request_bytes_get_and_non_ascii() -> None:
    exchange = HTTPExchange(prepare_request("http://x/é", headers={"X": "café"}), "日本")
    wire, body = parse_request(exchange.request_bytes())
    assert wire.target == b"/%C3%A9"
    headers = dict(wire.headers)
    assert headers[b"x"] == "café".encode("latin-1")
    assert headers[b"last-event-id"] == "日本".encode()
    assert b"content-length" not in headers
    assert body == b""


def test_hand_built_bad_request_is_a_value_error() -> None:
    bad = PreparedRequest("GET", "http", "x", 80, "/a b", (), None)
    with pytest.raises(ValueError, match="cannot send"):
        HTTPExchange(bad)


# --------------------------------------------------------------------------- HTTPExchange

HEAD_SSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
EVENTS = b"data: hello\n\ndata: world\n\n"


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
        with pytest.raises(SSEConnectionError, match="mid-body") as info:
            drain(exchange)
        assert isinstance(info.value.__cause__, h11.RemoteProtocolError)
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
    with pytest.raises(SSEProtocolError) as info:
        exchange.next_body()
    assert isinstance(info.value.__cause__, h11.RemoteProtocolError)


def test_large_identity_body_is_handed_out_in_bounded_pieces() -> None:
    body = bytes(range(256)) * (3 * 4096 + 7)  # a bit over 3 MiB
    exchange = HTTPExchange(GET)
    exchange.feed(framed("length", body))
    assert exchange.next_head() is not None
    parts = []
    while part := exchange.next_body():
        assert len(part) <= BODY_CHUNK_LIMIT
        parts.append(part)
    assert b"".join(parts) == body
    assert len(parts) == -(-len(body) // BODY_CHUNK_LIMIT)  # full pieces, then the rest
    assert exchange.complete


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


# --------------------------------------------------------------------------- Content-Encoding

PAYLOAD = b"".join(b"id: %d\ndata: event number %d\n\n" % (i, i) for i in range(2000))


def deflate_raw(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODINGS = {
    "gzip": gzip.compress(PAYLOAD),
    "x-gzip": gzip.compress(PAYLOAD),
    "GZIP": gzip.compress(PAYLOAD),
    "deflate": zlib.compress(PAYLOAD),
    "deflate-raw": deflate_raw(PAYLOAD),
    "gzip-multi": gzip.compress(PAYLOAD[:1000]) + gzip.compress(PAYLOAD[1000:]),
    "gzip-trailing-garbage": gzip.compress(PAYLOAD) + b"\x00\x00junk",
    "identity": PAYLOAD,
    "gzip, identity": gzip.compress(PAYLOAD),
}


def encoded(name: str, kind: str = "chunked") -> bytes:
    coding = name.split("-")[0] if name not in ("x-gzip", "gzip, identity") else name
    return framed(kind, ENCODINGS[name], b"Content-Encoding: %s\r\n" % coding.encode())


@pytest.mark.parametrize("kind", ["chunked", "length", "close"])
@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_content_encodings_decode_in_tiny_pieces(name: str, kind: str) -> None:
    exchange, _, body = run(pieces(encoded(name, kind), "threes"))
    assert body == PAYLOAD
    assert exchange.complete


def test_empty_compressed_bodies() -> None:
    for coding in (b"gzip", b"deflate"):
        data = HEAD_SSE + b"Content-Encoding: %s\r\nContent-Length: 0\r\n\r\n" % coding
        exchange, _, body = run([data], eof=False)
        assert (body, exchange.complete) == (b"", True)


@pytest.mark.parametrize(
    "body",
    [
        b"this is not gzip at all",
        gzip.compress(PAYLOAD)[:50] + b"\xff" * 50 + gzip.compress(PAYLOAD)[100:],
        gzip.compress(PAYLOAD)[:-8] + b"\x00" * 8,  # bad CRC
    ],
)
def test_corrupt_gzip_is_a_protocol_error(body: bytes) -> None:
    data = framed("length", body, b"Content-Encoding: gzip\r\n")
    with pytest.raises(SSEProtocolError, match="gzip") as info:
        run(pieces(data, "threes"))
    assert isinstance(info.value.__cause__, zlib.error)


def test_truncated_compressed_body() -> None:
    short = gzip.compress(PAYLOAD)[:-20]
    # A complete HTTP body holding half a gzip stream: the server is broken.
    with pytest.raises(SSEProtocolError, match="truncated"):
        run([framed("length", short, b"Content-Encoding: gzip\r\n")])
    with pytest.raises(SSEProtocolError, match="truncated"):
        run([framed("length", b"x", b"Content-Encoding: deflate\r\n")])
    # A close-delimited body cut short: the connection was lost.
    with pytest.raises(SSEConnectionError, match="truncated"):
        run([framed("close", short, b"Content-Encoding: gzip\r\n")])


def test_gzip_bomb_is_decoded_in_bounded_steps() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    bomb = b"".join(compressor.compress(block) for _ in range(100)) + compressor.flush()
    assert len(bomb) < 200_000
    exchange = HTTPExchange(GET)
    exchange.feed(framed("length", bomb, b"Content-Encoding: gzip\r\n"))
    assert exchange.next_head() is not None
    total = 0
    calls = 0
    while part := exchange.next_body():
        assert 0 < len(part) <= BODY_CHUNK_LIMIT
        assert part.count(0) == len(part)
        total += len(part)
        calls += 1
    assert total == 100 * 1024 * 1024
    assert calls >= 100
    assert exchange.complete


def test_unknown_encoding() -> None:
    data = framed("length", b"raw bytes", b"Content-Encoding: br\r\n")
    exchange = HTTPExchange(GET)
    exchange.feed(data)
    assert exchange.next_head() is not None
    with pytest.raises(SSEProtocolError, match="br"):
        exchange.next_body()
    # The error body is still available, undecoded.
    assert exchange.read_error_body() == b"raw bytes"
    stacked = framed("length", b"x", b"Content-Encoding: deflate, gzip\r\n")
    with pytest.raises(SSEProtocolError, match="deflate, gzip"):
        run([stacked])


# --------------------------------------------------------------------------- error bodies


def rejected(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def test_error_body_small_and_cumulative() -> None:
    data = rejected(b"no such stream")
    exchange = HTTPExchange(GET)
    exchange.feed(data[:-5])
    assert exchange.next_head() is not None
    assert exchange.read_error_body() == b"no such s"
    assert not exchange.complete
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
    assert len(exchange.next_body()) == BODY_CHUNK_LIMIT  # the first piece of 100,000 bytes
    assert exchange.body_limit_reached
    assert exchange.read_error_body() == b"a" * ERROR_BODY_LIMIT


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


# --------------------------------------------------------------------------- judge_response


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


@pytest.mark.parametrize(
    "content_type",
    [
        "text/event-stream",
        "TEXT/Event-Stream; charset=utf-8",
        "text/event-stream;charset=UTF-8",
        "  text/event-stream  ",
    ],
)
def test_judge_accepts_event_stream(content_type: str) -> None:
    decision = judge_response(GET, response(200, {"Content-Type": content_type}))
    assert decision == OpenStream()


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("text/event-streamx", "'text/event-streamx'"),
        ("text/html; charset=utf-8", "'text/html; charset=utf-8'"),
        ("application/json", "'application/json'"),
        ("text/plain; text/event-stream", "'text/plain; text/event-stream'"),
        (None, "without a Content-Type"),
    ],
)
def test_judge_rejects_other_content_types(content_type: str | None, shown: str) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    decision = judge_response(GET, response(200, headers))
    assert isinstance(decision, Reject)
    assert shown in decision.reason
    assert "expected text/event-stream" in decision.reason
    assert decision.reason.startswith("server answered 200 OK")


def test_judge_204_ends_the_stream() -> None:
    assert judge_response(GET, response(204)) == EndStream()


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_judge_retryable_statuses(status: int) -> None:
    decision = judge_response(GET, response(status))
    assert isinstance(decision, RetryLater)
    assert decision.retry_after is None
    assert decision.reason.startswith(f"server answered {status}")


@pytest.mark.parametrize("value", ["120", "Wed, 21 Oct 2015 07:28:00 GMT", "garbage"])
def test_judge_retry_after_passthrough(value: str) -> None:
    decision = judge_response(GET, response(503, {"Retry-After": value}))
    assert decision == RetryLater("server answered 503 Service Unavailable", value)


@pytest.mark.parametrize(
    "status", [201, 202, 206, 300, 304, 305, 400, 401, 403, 404, 405, 410, 418, 501, 505, 599]
)
def test_judge_rejects_other_statuses(status: int) -> None:
    decision = judge_response(GET, response(status, {"Content-Type": "text/event-stream"}))
    assert isinstance(decision, Reject)
    assert decision.reason.endswith(", expected 200 with text/event-stream")


def test_judge_reject_messages() -> None:
    assert judge_response(GET, response(404)) == Reject(
        "server answered 404 Not Found, expected 200 with text/event-stream"
    )
    # An empty reason phrase falls back to the standard one, or just the code.
    assert "401 Unauthorized" in judge_response(GET, response(401, reason="")).reason  # type: ignore[union-attr]
    assert "answered 599," in judge_response(GET, response(599, reason="")).reason  # type: ignore[union-attr]


# ---- redirects

POST = prepare_request(
    "https://api.example.com/v1/stream?x=1",
    method="POST",
    json={"q": 1},
    headers={
        "Authorization": "Bearer secret",
        "Cookie": "s=1",
        "Proxy-Authorization": "Basic p",
        "X-Custom": "keep",
    },
)


def follow(
    request: PreparedRequest, status: int, location: str | None, **headers: str
) -> PreparedRequest:
    fields = dict(headers)
    if location is not None:
        fields["Location"] = location
    decision = judge_response(request, response(status, fields, url=request.url))
    assert isinstance(decision, FollowRedirect), decision
    assert decision.request.redirect_count == request.redirect_count + 1
    return decision.request


def header_names(request: PreparedRequest) -> set[str]:
    return {name.lower() for name, _ in request.headers}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_get_stays_get(status: int) -> None:
    new = follow(GET, status, "http://example.com/other")
    assert new.method == "GET"
    assert new.url == "http://example.com/other"
    assert new.body is None


@pytest.mark.parametrize("status", [301, 302, 303])
def test_redirect_post_becomes_get(status: int) -> None:
    new = follow(POST, status, "/v2/stream")
    assert new.method == "GET"
    assert new.body is None
    assert new.url == "https://api.example.com/v2/stream"
    assert "content-type" not in header_names(new)
    assert "content-length" not in header_names(new)
    # Same origin: credentials stay.
    assert {"authorization", "cookie", "proxy-authorization", "x-custom"} <= header_names(new)


def test_303_drops_user_content_length_and_other_methods() -> None:
    put = prepare_request(
        "http://x/", method="PUT", content=b"abc", headers={"Content-Length": "3"}
    )
    assert follow(put, 303, "/y").headers == ()
    kept = follow(put, 302, "/y")  # only POST changes on 301/302
    assert (kept.method, kept.body) == ("PUT", b"abc")


@pytest.mark.parametrize("status", [307, 308])
def test_redirect_307_308_keep_method_and_body(status: int) -> None:
    new = follow(POST, status, "/v2/stream")
    assert new.method == "POST"
    assert new.body == POST.body
    assert new.headers == POST.headers


@pytest.mark.parametrize(
    "location",
    [
        "https://other.example.com/v1/stream",
        "https://api.example.com:8443/v1/stream",
        "http://api.example.com/v1/stream",  # downgrade: allowed, but cross-origin
        "//evil.example/x",
    ],
)
def test_cross_origin_redirect_drops_credentials(location: str) -> None:
    new = follow(POST, 307, location)
    assert header_names(new) == {"x-custom", "content-type"}
    assert new.body == POST.body


def test_cross_origin_redirect_drops_user_host_header() -> None:
    request = prepare_request("http://10.0.0.1/", headers={"Host": "virtual.example"})
    assert follow(request, 302, "/x").headers == (("Host", "virtual.example"),)
    assert follow(request, 302, "http://10.0.0.2/").headers == ()


@pytest.mark.parametrize(
    ("base", "location", "expected"),
    [
        ("http://example.com/a/b?q=1", "next", "http://example.com/a/next"),
        ("http://example.com/a/b?q=1", "/other?x=1", "http://example.com/other?x=1"),
        ("http://example.com/a/b?q=1", "?page=2", "http://example.com/a/b?page=2"),
        ("http://example.com/a/b", "../c", "http://example.com/c"),
        ("http://example.com/a", "//cdn.example.com/s", "http://cdn.example.com/s"),
        ("https://example.com/a", "HTTPS://Example.COM:443/b#frag", "https://example.com/b"),
        ("http://[::1]:8080/a", "/b", "http://[::1]:8080/b"),
        ("http://example.com/", " /spaced ", "http://example.com/spaced"),
        ("http://example.com/", "/caf\xc3\xa9", "http://example.com/caf%C3%A9"),  # raw UTF-8
        ("http://example.com/", "/a b", "http://example.com/a%20b"),
        ("http://example.com/", "http://bücher.de/", "http://xn--bcher-kva.de/"),
    ],
)
def test_redirect_location_resolution(base: str, location: str, expected: str) -> None:
    assert follow(prepare_request(base), 302, location).url == expected


@pytest.mark.parametrize(
    ("location", "match"),
    [
        (None, "without a Location"),
        ("", "without a Location"),
        ("ftp://example.com/file", "unusable Location"),
        ("javascript:alert(1)", "unusable Location"),
        ("mailto:a@example.com", "unusable Location"),
        ("http://user:pw@example.com/", "unusable Location"),
        ("http://[::1/", "unusable Location"),
        ("http://example.com:99999/", "unusable Location"),
        ("http://:80/", "without host"),
        ("/a\x01b", "unusable Location"),
    ],
)
def test_redirect_bad_location_is_rejected(location: str | None, match: str) -> None:
    headers = {} if location is None else {"Location": location}
    decision = judge_response(GET, response(302, headers, reason="Found"))
    assert isinstance(decision, Reject)
    assert match in decision.reason
    assert "302 Found" in decision.reason


def test_redirect_several_locations_rejected() -> None:
    headers = Headers([("Location", "/a"), ("Location", "/b")])
    assert isinstance(judge_response(GET, response(302, headers)), Reject)
    same = Headers([("Location", "/a"), ("Location", "/a")])
    assert isinstance(judge_response(GET, response(302, same)), FollowRedirect)


def test_too_many_redirects() -> None:
    request = GET
    for _ in range(MAX_REDIRECTS):
        request = follow(request, 302, "/again")
    assert request.redirect_count == MAX_REDIRECTS
    decision = judge_response(request, response(302, {"Location": "/again"}))
    assert isinstance(decision, Reject)
    assert "too many redirects" in decision.reason


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


def split_at(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    start = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        if cut > start:  # an empty piece would mean EOF
            yield data[start:cut]
            start = cut


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


@settings(max_examples=100, deadline=None)
@given(
    body=st.binary(max_size=500),
    kind=st.sampled_from(["chunked", "length", "close"]),
    coding=st.sampled_from(["identity", "gzip", "deflate", "raw"]),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20),
)
def test_valid_bodies_round_trip_under_any_chunking(
    body: bytes, kind: str, coding: str, cuts: list[int]
) -> None:
    wire = {
        "identity": lambda b: b,
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "raw": deflate_raw,
    }[coding](body)
    name = b"deflate" if coding == "raw" else coding.encode()
    data = framed(kind, wire, b"Content-Encoding: %s\r\n" % name)
    exchange, head, decoded = run(split_at(data, cuts))
    assert head is not None
    assert decoded == body
    assert exchange.complete


@settings(max_examples=200, deadline=None)
@given(url=st.text(max_size=40), location=st.text(max_size=40))
def test_prepare_and_redirect_never_send_anything_invalid(url: str, location: str) -> None:
    for candidate in (url, "http://" + url, "http://example.com/" + url):
        try:
            request = prepare_request(candidate)
        except ValueError:
            continue
        parse_request(HTTPExchange(request, url).request_bytes())
    decision = judge_response(GET, response(302, {"Location": location}))
    if isinstance(decision, FollowRedirect):
        parse_request(HTTPExchange(decision.request).request_bytes())
    else:
        assert isinstance(decision, Reject)


@settings(max_examples=100, deadline=None)
@given(headers=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4))
def test_header_validation_matches_h11(headers: dict[str, str]) -> None:
    try:
        request = prepare_request("http://x/", headers=headers)
    except ValueError:
        return
    wire, _ = parse_request(HTTPExchange(request).request_bytes())
    sent = {bytes(n) for n, _ in wire.headers}
    assert {name.lower().encode() for name in headers} <= sent
