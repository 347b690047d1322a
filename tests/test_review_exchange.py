"""Second reading of _exchange.py: each test fails if the one line keeping a rule is
changed (the mutation it catches is named in its docstring)."""

from __future__ import annotations

import pytest

from tests.http_helpers import HEAD_SSE, attribute_values, parse_request
from trio_sse import SSEConnectionError, SSEProtocolError
from trio_sse._exchange import HTTPExchange, Phase
from trio_sse._request import prepare_request


def test_proxy_credentials_replace_the_users_own_and_go_only_in_absolute_form() -> None:
    """Catches the user's Proxy-Authorization kept beside the proxy's (two fields, the
    proxy picking either), and the absolute-form target dropped."""
    request = prepare_request(
        "http://example.com/events", headers={"Proxy-Authorization": "Basic user", "X-A": "1"}
    )
    proxied = HTTPExchange(request, proxy_headers=(("Proxy-Authorization", "Basic proxy"),))
    head, _ = parse_request(proxied.request_bytes())
    assert head.target == b"http://example.com/events"
    fields = [(n, v) for n, v in head.headers if n == b"proxy-authorization"]
    assert fields == [(b"proxy-authorization", b"Basic proxy")]
    assert (b"x-a", b"1") in head.headers
    direct = HTTPExchange(prepare_request("http://example.com/events"))
    head, _ = parse_request(direct.request_bytes())
    assert head.target == b"/events"
    assert all(n != b"proxy-authorization" for n, _ in head.headers)


@pytest.mark.parametrize("late", [b" OK\r\n\r\n", b""])
def test_nothing_fed_after_the_eof_reaches_h11(late: bytes) -> None:
    """Catches ``feed`` passing bytes on after the peer's EOF: h11 raises a bare
    RuntimeError for data after its close. The head stays cut short."""
    exchange = HTTPExchange(prepare_request("http://example.com/events"))
    exchange.feed(b"HTTP/1.1 200")
    exchange.feed(b"")
    exchange.feed(late)
    with pytest.raises(SSEConnectionError, match="before a complete response head"):
        exchange.next_head()


def test_a_switch_of_protocols_is_a_protocol_error() -> None:
    """Catches h11's PAUSED (after a 101 to a request that offered an upgrade) taken
    as "need more data": the exchange would wait forever for a head."""
    request = prepare_request(
        "http://example.com/events", headers={"Upgrade": "h2c", "Connection": "Upgrade"}
    )
    exchange = HTTPExchange(request)
    exchange.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")
    with pytest.raises(SSEProtocolError, match="switched protocols"):
        exchange.next_head()
    assert exchange.phase is Phase.FAILED


def test_a_response_head_larger_than_h11s_default_limit_is_read() -> None:
    """Catches MAX_HEAD_SIZE not given to h11 (its 16 KiB default refuses the large
    cookie or CSP headers some servers send)."""
    big = b"X-Policy: " + b"a" * (40 * 1024) + b"\r\n"
    exchange = HTTPExchange(prepare_request("http://example.com/events"))
    exchange.feed(HEAD_SSE + big)  # h11's limit is on a head still incomplete
    assert exchange.next_head() is None
    exchange.feed(b"Content-Length: 0\r\n\r\n")
    head = exchange.next_head()
    assert head is not None
    assert len(head.headers["x-policy"]) == 40 * 1024
    too_big = HTTPExchange(prepare_request("http://example.com/events"))
    too_big.feed(HEAD_SSE + big * 2)
    with pytest.raises(SSEProtocolError):
        too_big.next_head()


def test_a_failure_in_an_unencoded_body_is_raised_again_as_it_was() -> None:
    """The first error is sticky (FAILED: every later call raises it again), also for a
    body read on the unencoded fast path. Catches _fail leaving that path open: the
    framing would be asked again, and answer otherwise."""
    exchange = HTTPExchange(prepare_request("http://example.com/events"))
    exchange.feed(HEAD_SSE + b"Content-Length: 10\r\n\r\n")
    assert exchange.next_head() is not None
    exchange.feed(b"abc")
    assert exchange.next_body() == b"abc"  # the fast path is open from here on
    exchange.feed(b"")  # 7 bytes short
    with pytest.raises(SSEConnectionError) as first:
        exchange.next_body()
    assert exchange.phase is Phase.FAILED
    with pytest.raises(SSEConnectionError) as second:
        exchange.next_body()
    assert second.value is first.value


def test_the_replayed_fields_go_once_the_head_is_read() -> None:
    """Only the head's h11 connection needs the request's Upgrade offer: an open stream
    keeps no copy of it for its whole life. Catches the replayed fields kept."""
    request = prepare_request(
        "http://example.com/events", headers={"Upgrade": "h2c", "Connection": "Upgrade"}
    )
    exchange = HTTPExchange(request)

    def replayed() -> list[object]:
        return [
            value
            for value in attribute_values(exchange)
            if isinstance(value, tuple) and (b"Upgrade", b"h2c") in value
        ]

    assert replayed() != []  # held while the head is read
    exchange.feed(HEAD_SSE + b"\r\ndata: hello\n\n")
    assert exchange.next_head() is not None
    assert replayed() == []
    assert exchange.next_body() == b"data: hello\n\n"
