"""Requests: URL parts, validation at the call, and the head on the wire (parsed back by
an h11 server)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.http_helpers import GET, attribute_values, parse_request, response
from trio_sse import SSEProtocolError, __version__
from trio_sse._exchange import ERROR_BODY_LIMIT, HTTPExchange
from trio_sse._judge import MAX_REDIRECTS, FollowRedirect, Reject, judge_response
from trio_sse._request import (
    USER_AGENT,
    PreparedRequest,
    build_request_head,
    prepare_request,
    unsendable_id_character,
)


def test_constants() -> None:
    assert f"trio-sse/{__version__}" == USER_AGENT
    assert MAX_REDIRECTS == 10
    assert ERROR_BODY_LIMIT == 64 * 1024


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


class _RequestArgs(TypedDict, total=False):
    """prepare_request's keywords, well typed: the values are wrong, not their types."""

    url: str
    host: str
    port: int
    path: str
    scheme: str
    method: str
    headers: Mapping[str, str] | Iterable[tuple[str, str]]
    content: bytes | str
    json: Any


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
        # The reason differs (urlsplit refuses it from 3.11, split_url on 3.10); the start not.
        ({"url": "http://[not-ipv6]/"}, r"invalid URL 'http://\[not-ipv6\]/': "),
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
        ({"host": "x", "json": float("nan")}, "Out of range float values are not JSON compliant"),
    ],
)
def test_prepare_request_value_errors(kwargs: _RequestArgs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        prepare_request(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"url": b"http://example.com/"}, "url must be a str, not bytes"),
        ({"host": b"example.com"}, "host must be a str, not bytes"),
        ({"host": "x", "port": "80"}, "port must be an int, not str"),
        ({"host": "x", "port": 80.0}, "port must be an int, not float"),
        ({"host": "x", "port": True}, "port must be an int, not bool"),
        ({"host": "x", "path": b"/"}, "path must be a str, not bytes"),
        ({"host": "x", "method": None}, "method must be a str, not NoneType"),
        ({"host": "x", "scheme": b"http"}, "scheme must be a str, not bytes"),
        ({"host": "x", "headers": {"X": 1}}, "header names and values must be str"),
        ({"host": "x", "headers": {b"X": "v"}}, "header names and values must be str"),
        ({"host": "x", "headers": [("X", b"v")]}, "header names and values must be str"),
        ({"host": "x", "headers": [("X",)]}, r"headers must be \(name, value\) pairs"),
        ({"host": "x", "headers": ["XY"]}, r"headers must be \(name, value\) pairs"),
        # Not iterated as the characters "X", ":", ...: refused as a whole.
        ({"host": "x", "headers": "X: v"}, "headers must be a mapping or an iterable"),
        ({"host": "x", "content": 123}, "content must be bytes or str, not int"),
        ({"host": "x", "json": object()}, "not JSON serializable"),
    ],
)
def test_prepare_request_type_errors(kwargs: dict[str, object], match: str) -> None:
    """Each TypeError names what is wrong, so one raised elsewhere would not pass."""
    with pytest.raises(TypeError, match=match):
        prepare_request(**kwargs)  # type: ignore[arg-type]  # deliberately wrong types


def test_prepare_request_method_and_headers() -> None:
    request = prepare_request(
        "http://x/", method="post", headers=[("X-A", " 1 "), ("x-a", "2"), ("Cookie", "c=1")]
    )
    assert request.method == "POST"
    assert request.headers == (("X-A", "1"), ("x-a", "2"), ("Cookie", "c=1"))
    assert prepare_request("http://x/", headers={"X": "caf\xe9\tb"}).headers == (
        ("X", "caf\xe9\tb"),
    )


@pytest.mark.parametrize("char", ["\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"])
def test_header_values_with_control_characters_are_refused_at_the_call(char: str) -> None:
    """RFC 9110: a field value holds no control character but HTAB; h11 would send some
    of these (U+0001, U+007F), so they are refused here, with the header's name."""
    with pytest.raises(ValueError, match="'X-Key' contains a control character"):
        prepare_request("http://x/", headers={"X-Key": f"secret{char}value"})


def test_prepare_request_bodies() -> None:
    assert prepare_request("http://x/", content="héllo").body == "héllo".encode()
    assert prepare_request("http://x/", content=b"\x00\xff").body == b"\x00\xff"
    buffer: object = bytearray(b"ab")
    assert prepare_request("http://x/", content=buffer).body == b"ab"  # type: ignore[arg-type]  # bytearray: accepted, not typed
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
        GET.method = "POST"  # type: ignore[misc]  # deliberately: it is frozen


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
    # Other control characters go as they are (h11 sends them; browsers send them).
    assert dict(build_request_head(GET, "a\x01\x7fb"))["Last-Event-ID"] == "a\x01\x7fb"
    assert dict(build_request_head(GET, " a b "))["Last-Event-ID"] == "a b"  # as HTTP trims
    assert "Last-Event-ID" not in dict(build_request_head(GET, ""))  # the id was reset


@pytest.mark.parametrize("blank", ["  ", "\t", " \t"])
def test_an_id_of_only_whitespace_is_an_error_never_dropped(blank: str) -> None:
    """HTTP trims it to nothing: the server would read no id and replay from the start."""
    with pytest.raises(SSEProtocolError, match="only spaces or tabs"):
        build_request_head(GET, blank)


@pytest.mark.parametrize("char", ["\x0b", "\x0c"])
def test_an_id_no_header_can_carry_is_an_error_never_dropped(char: str) -> None:
    """Sending no Last-Event-ID would make the server replay the stream from its start."""
    with pytest.raises(SSEProtocolError, match=f"U\\+000{char.encode().hex()[1].upper()}"):
        build_request_head(GET, f"a{char}b")
    with pytest.raises(SSEProtocolError, match="cannot resume"):
        HTTPExchange(GET, f"a{char}b")


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


def test_request_bytes_on_the_wire() -> None:
    request = prepare_request(
        "https://example.com:8443/stream?x=1",
        method="POST",
        json={"prompt": "hi"},
        headers={"Authorization": "Bearer t"},
    )
    exchange = HTTPExchange(request, last_event_id="41")
    data = exchange.request_bytes()
    wire, body = parse_request(data)
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
    assert data.startswith(b"POST /stream?x=1 HTTP/1.1\r\nHost: ")


def test_request_bytes_are_handed_over_once() -> None:
    # A stream lives for hours: its exchange must not keep the request it sent.
    exchange = HTTPExchange(prepare_request("http://example.com/events"))
    assert exchange.request_bytes().startswith(b"GET /events HTTP/1.1\r\n")
    with pytest.raises(RuntimeError, match="already handed over"):
        exchange.request_bytes()
    assert not [v for v in attribute_values(exchange) if isinstance(v, bytes) and b"GET" in v]


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


# --------------------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None)
@given(url=st.text(max_size=40), location=st.text(max_size=40))
def test_prepare_and_redirect_never_send_anything_invalid(url: str, location: str) -> None:
    for candidate in (url, "http://" + url, "http://example.com/" + url):
        try:
            request = prepare_request(candidate)
        except ValueError:
            continue
        last_event_id = None if unsendable_id_character(url) else url
        parse_request(HTTPExchange(request, last_event_id).request_bytes())
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
