"""judge_response: which heads open a stream, stop, retry, redirect or are rejected."""

from __future__ import annotations

import http
from dataclasses import replace

import pytest

from tests.http_helpers import GET, response
from trio_sse._headers import Headers
from trio_sse._judge import (
    MAX_REDIRECTS,
    EndStream,
    FollowRedirect,
    OpenStream,
    Reject,
    RetryLater,
    judge_response,
)
from trio_sse._request import HeadersSource, PreparedRequest, prepare_request


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
    for status, phrase in [(401, "401 Unauthorized"), (599, "answered 599,")]:
        decision = judge_response(GET, response(status, reason=""))
        assert isinstance(decision, Reject)
        assert phrase in decision.reason


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


# ---- redirect policy: follow_redirects, https -> http


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_follow_redirects_off_rejects_every_redirect(status: int) -> None:
    answer = response(status, {"Location": "/next"})
    decision = judge_response(GET, answer, follow_redirects=False)
    assert decision == Reject(
        f"server answered {status} {http.HTTPStatus(status).phrase} to '/next';"
        " follow_redirects is off"
    )
    assert isinstance(judge_response(GET, answer), FollowRedirect)


def test_follow_redirects_off_leaves_other_statuses_alone() -> None:
    ok = response(200, {"Content-Type": "text/event-stream"})
    assert judge_response(GET, ok, follow_redirects=False) == OpenStream()
    assert judge_response(GET, response(204), follow_redirects=False) == EndStream()


@pytest.mark.parametrize("location", ["http://api.example.com/v1/stream", "http://other.test/"])
def test_https_to_http_is_refused_by_default(location: str) -> None:
    decision = judge_response(POST, response(307, {"Location": location}, url=POST.url))
    assert isinstance(decision, Reject)
    assert "from https to http" in decision.reason
    assert "allow_insecure_redirects=True" in decision.reason


def test_https_to_https_and_http_to_http_are_not_downgrades() -> None:
    assert not follow(POST, 307, "https://other.test/").downgraded
    plain = prepare_request("http://a.test/", headers={"X-Api-Key": "k"})
    moved = follow(plain, 302, "http://b.test/")
    assert not moved.downgraded
    assert moved.headers == (("X-Api-Key", "k"),)  # only Authorization/Cookie are origin-bound


@pytest.mark.parametrize("status", [302, 307])
def test_an_allowed_downgrade_carries_none_of_the_users_headers(status: int) -> None:
    request = prepare_request(
        "https://api.example.com/stream",
        method="POST",
        json={"q": 1},
        headers={"X-Api-Key": "secret", "Api-Key": "secret", "Authorization": "Bearer s"},
    )
    answer = response(status, {"Location": "http://api.example.com/stream"}, url=request.url)
    decision = judge_response(request, answer, allow_insecure_redirects=True)
    assert isinstance(decision, FollowRedirect)
    moved = decision.request
    assert moved.downgraded
    assert moved.scheme == "http"
    if status == 307:  # the body goes on (the caller allowed it), described as before
        assert moved.headers == (("Content-Type", "application/json"),)
    else:
        assert moved.headers == ()
    # ... nor any later hop, even back to https.
    again = follow(replace(moved, headers=(("X-Late", "1"),)), 302, "https://api.example.com/")
    assert again.downgraded
    assert again.headers == ()


async def test_a_headers_function_adds_nothing_after_a_downgrade() -> None:
    async def fresh() -> dict[str, str]:
        return {"X-Api-Key": "fresh"}  # pragma: no cover (never awaited here)

    source = HeadersSource(fresh)
    request = prepare_request("http://x.test/")
    assert source.apply(request, {"X-Api-Key": "k"}, cross_origin=True).headers == (
        ("X-Api-Key", "k"),
    )
    downgraded = replace(request, downgraded=True)
    assert source.apply(downgraded, {"X-Api-Key": "k"}, cross_origin=True) == downgraded


def test_303_keeps_head_as_head() -> None:
    """RFC 9110 15.4.4: a 303 turns any method into GET, except HEAD."""
    head = prepare_request("http://example.com/events", method="HEAD")
    assert follow(head, 303, "/other").method == "HEAD"
    put = prepare_request("http://example.com/events", method="PUT", content="x")
    assert follow(put, 303, "/other").method == "GET"


def test_the_last_content_type_wins() -> None:
    both = Headers([("Content-Type", "text/html"), ("Content-Type", "text/event-stream")])
    assert judge_response(GET, response(200, both)) == OpenStream()
    reverse = Headers([("Content-Type", "text/event-stream"), ("Content-Type", "text/html")])
    assert isinstance(judge_response(GET, response(200, reverse)), Reject)
