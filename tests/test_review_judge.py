"""Second reading of _judge.py: each test fails if the one line keeping a redirect rule
is changed (the mutation it catches is named in its docstring)."""

from __future__ import annotations

import pytest

from tests.http_helpers import response
from trio_sse._judge import FollowRedirect, judge_response
from trio_sse._request import PreparedRequest, prepare_request


def redirected(request: PreparedRequest, location: str, status: int = 302) -> PreparedRequest:
    decision = judge_response(request, response(status, {"Location": location}, url=request.url))
    assert isinstance(decision, FollowRedirect), decision
    return decision.request


def test_a_redirect_keeps_the_accept_encoding() -> None:
    """Catches ``accept_encoding`` not carried to the redirected request: the stream
    would silently go uncompressed, or with the default after the user turned it off."""
    request = prepare_request("http://example.com/a", accept_encoding="gzip")
    assert redirected(request, "/b").accept_encoding == "gzip"
    assert redirected(request, "http://other.example/b").accept_encoding == "gzip"
    off = prepare_request("http://example.com/a")
    assert redirected(off, "/b").accept_encoding is None


@pytest.mark.parametrize(
    ("url", "location", "port"),
    [
        ("http://example.com:8080/a", "https://example.com/b", 443),
        ("https://example.com:8443/a", "https://other.example/b", 443),
        ("http://example.com:8080/a", "/b", 8080),
        ("http://example.com:8080/a", "//other.example/b", 80),
    ],
)
def test_a_location_without_a_port_means_its_schemes_default(
    url: str, location: str, port: int
) -> None:
    """Catches the new port taken from the old request instead of the new scheme's
    default (a redirect to https://host/ must not go to the old :8080)."""
    assert redirected(prepare_request(url), location).port == port


def test_a_change_of_scheme_alone_is_another_origin() -> None:
    """Catches the origin compared without its scheme: http://host:8443 and
    https://host:8443 are different origins, so credentials stay behind."""
    request = prepare_request(
        "http://example.com:8443/a", headers={"Authorization": "Bearer t", "Cookie": "c=1"}
    )
    moved = redirected(request, "https://example.com:8443/b")
    assert (moved.scheme, moved.host, moved.port) == ("https", "example.com", 8443)
    assert moved.headers == ()
