"""Second reading of _urls.py and _request.py: each test fails if the one line keeping
a bound or a rule is changed (the mutation it catches is named in its docstring)."""

from __future__ import annotations

import pytest

from trio_sse._request import check_accept_encoding, prepare_request, with_headers
from trio_sse._urls import check_port, normalize_target


@pytest.mark.parametrize("port", [1, 65535])
def test_ports_at_both_ends_of_the_range_are_accepted(port: int) -> None:
    """Catches ``1 <= port`` made ``1 < port`` or ``port <= 65535`` made ``port < 65535``."""
    assert check_port(port) == port
    assert prepare_request("http://example.com/", port=port).port == port


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_ports_just_outside_the_range_are_refused(port: int) -> None:
    """Catches the upper bound moved to 65536 (or the lower to 0)."""
    with pytest.raises(ValueError, match="out of range"):
        check_port(port)
    with pytest.raises(ValueError, match="out of range"):
        prepare_request("http://example.com/", port=port)


def test_a_fragment_given_as_path_never_reaches_the_request_line() -> None:
    """Catches the fragment kept (it would go out as %23 in the target)."""
    assert normalize_target("/a#frag") == "/a"
    assert normalize_target("/a?b=1#frag?c") == "/a?b=1"
    assert prepare_request(host="example.com", path="/events#top").target == "/events"


def test_a_headers_answer_with_two_hosts_is_refused() -> None:
    """Catches the Host count check in ``with_headers`` loosened: a headers function
    answering with two Host fields would make a request smuggling shape."""
    request = prepare_request("http://example.com/")
    with pytest.raises(ValueError, match="Host"):
        with_headers(request, [("Host", "a.example"), ("Host", "b.example")])
    assert with_headers(request, [("Host", "a.example")]).headers == (("Host", "a.example"),)


@pytest.mark.parametrize(
    "value", ["identity", "gzip, identity;q=0.5", "GZIP", "Deflate;q=1.0, IDENTITY"]
)
def test_accept_encoding_identity_and_any_case_are_accepted(value: str) -> None:
    """Catches ``identity`` no longer exempt, or codings compared case-sensitively
    (RFC 9110 section 8.4.1: content codings are case-insensitive)."""
    assert check_accept_encoding(value) == value
    assert prepare_request("http://example.com/", accept_encoding=value).accept_encoding == value
