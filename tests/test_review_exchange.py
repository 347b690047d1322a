"""Second reading of _exchange.py: each test fails if the one line keeping a rule is
changed (the mutation it catches is named in its docstring)."""

from __future__ import annotations

import pytest

from tests.http_helpers import parse_request
from trio_sse import SSEConnectionError
from trio_sse._exchange import HTTPExchange
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
