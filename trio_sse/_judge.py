"""Judging a response head: open the stream, stop, follow a redirect, retry later, or reject.

``judge_response`` is the whole HTTP policy of docs/architecture.md ("Where each rule
lives", HTTP) for one head; the session only carries the decision out. Redirects are
built here too, with the method, body and credential rules of Fetch. Sans-IO: the
standard library only.
"""

from __future__ import annotations

import http
import re
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import TypeAlias
from urllib.parse import urljoin

from ._request import ORIGIN_BOUND_HEADERS, PreparedRequest
from ._response import SSEResponse
from ._urls import DEFAULT_PORTS, check_scheme, split_url

__all__ = [
    "MAX_REDIRECTS",
    "Decision",
    "EndStream",
    "FollowRedirect",
    "OpenStream",
    "Reject",
    "RetryLater",
    "judge_response",
]

MAX_REDIRECTS = 10

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Fetch's "request-body-header names": meaningless once a redirect drops the body.
_BODY_HEADERS = frozenset(
    {"content-type", "content-length", "content-encoding", "content-language", "content-location"}
)


@dataclass(frozen=True, slots=True)
class OpenStream:
    """200 with text/event-stream: read events."""


@dataclass(frozen=True, slots=True)
class EndStream:
    """204: the server says stop; the stream ends cleanly and is never retried."""


@dataclass(frozen=True, slots=True)
class FollowRedirect:
    request: PreparedRequest


@dataclass(frozen=True, slots=True)
class RetryLater:
    reason: str
    retry_after: str | None


@dataclass(frozen=True, slots=True)
class Reject:
    """Raise SSEResponseError(reason, response, body) and never retry."""

    reason: str


Decision: TypeAlias = OpenStream | EndStream | FollowRedirect | RetryLater | Reject


def _status_text(response: SSEResponse) -> str:
    reason = response.reason
    if not reason:
        try:
            reason = http.HTTPStatus(response.status_code).phrase
        except ValueError:
            return str(response.status_code)
    return f"{response.status_code} {reason}"


def _answered(response: SSEResponse, expected: str = "") -> str:
    """Who refused: the server (then ``expected``), unless a proxy says that it made
    this answer itself: a forwarding proxy's own 502/503/504 is not the server's."""
    status = _status_text(response)
    said = proxy_refusal(response)
    if said is None:
        return f"server answered {status}{expected}"
    proxy, error = said
    return f"proxy {proxy!r} answered {status} itself (Proxy-Status error={error}), not the server"


def proxy_refusal(response: SSEResponse) -> tuple[str, str] | None:
    """(proxy, error type) when the intermediary nearest us says it made this refusal
    (RFC 9209): a status of 400 or more, the last Proxy-Status member has an ``error``,
    and no ``received-status`` equal to the answer's (which would say it only relayed the
    server's). Without the header, a proxy's own 502 cannot be told from the server's:
    nothing is guessed."""
    value = response.headers.get("proxy-status")
    if not value or response.status_code < 400:
        return None
    name, *parameters = _split_outside_quotes(_split_outside_quotes(value, ",")[-1], ";")
    found = {
        key.strip().lower(): raw.strip() for key, _, raw in (p.partition("=") for p in parameters)
    }
    error = _unquote(found.get("error", ""))
    if not name or not error or found.get("received-status") == str(response.status_code):
        return None
    return _unquote(name), error


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` where it is not inside a quoted string (a
    Structured Field, RFC 8941: a proxy's name may be a string holding commas)."""
    cuts = [-1]
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            cuts.append(index)
    cuts.append(len(text))
    return [text[start + 1 : end].strip() for start, end in pairwise(cuts)]


def _unquote(item: str) -> str:
    """A Structured Field token as it is, a string without its quotes and escapes."""
    if len(item) >= 2 and item[0] == item[-1] == '"':
        return re.sub(r"\\(.)", r"\1", item[1:-1])
    return item


def _utf8_location(location: str) -> str:
    """Servers often send a raw UTF-8 Location; h11 gave us its bytes as latin-1."""
    try:
        return location.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return location


def _without(
    headers: tuple[tuple[str, str], ...], names: frozenset[str]
) -> tuple[tuple[str, str], ...]:
    return tuple((n, v) for n, v in headers if n.lower() not in names)


def _redirect(request: PreparedRequest, response: SSEResponse, *, allow_insecure: bool) -> Decision:
    status = _status_text(response)
    if request.redirect_count >= MAX_REDIRECTS:
        return Reject(f"too many redirects (more than {MAX_REDIRECTS}); the last was {status}")
    locations = {value.strip() for value in response.headers.get_list("location")} - {""}
    if len(locations) != 1:
        what = "without a Location header" if not locations else "with several Locations"
        return Reject(f"server answered {status} {what}")
    location = _utf8_location(locations.pop())
    try:
        scheme, host, port, target = split_url(urljoin(request.url, location))
        scheme = check_scheme(scheme or "")
    except ValueError as exc:
        return Reject(f"server answered {status} with an unusable Location {location!r}: {exc}")
    if host is None:
        return Reject(f"server answered {status} with a Location without host: {location!r}")
    downgrade = request.scheme == "https" and scheme == "http"
    if downgrade and not allow_insecure:
        return Reject(
            f"server answered {status} redirecting from https to http ({location!r}); refused"
            " because the request would travel unencrypted (allow_insecure_redirects=True"
            " follows it, without your headers)"
        )
    method, body, headers = request.method, request.body, request.headers
    code = response.status_code
    if (code == 303 and method != "HEAD") or (code in (301, 302) and method == "POST"):
        method, body, headers = "GET", None, _without(headers, _BODY_HEADERS)
    new = PreparedRequest(
        method=method,
        scheme=scheme,
        host=host,
        port=port if port is not None else DEFAULT_PORTS[scheme],
        target=target or "/",
        headers=headers,
        body=body,
        redirect_count=request.redirect_count + 1,
        accept_encoding=request.accept_encoding,
    )
    if new.origin != request.origin:
        new = replace(new, headers=_without(new.headers, ORIGIN_BOUND_HEADERS))
    if downgrade or request.downgraded:
        # Custom credentials (X-Api-Key, ...) cannot be told from other headers: none of
        # the user's follow a downgrade, only those describing the body.
        body_headers = tuple((n, v) for n, v in new.headers if n.lower() in _BODY_HEADERS)
        new = replace(new, headers=body_headers, downgraded=True)
    return FollowRedirect(new)


def judge_response(
    request: PreparedRequest,
    response: SSEResponse,
    *,
    follow_redirects: bool = True,
    allow_insecure_redirects: bool = False,
) -> Decision:
    """What the session does with this response head (docs/architecture.md, HTTP rules).

    With ``follow_redirects`` off a redirect is rejected like any other status; an https
    to http redirect is rejected unless ``allow_insecure_redirects``."""
    code = response.status_code
    if code == 200:
        content_type = response.content_type
        if content_type == "text/event-stream":
            return OpenStream()
        raw = response.headers.get("content-type")
        got = f"with Content-Type {raw!r}" if raw is not None else "without a Content-Type"
        return Reject(f"server answered {_status_text(response)} {got}, expected text/event-stream")
    if code == 204:
        return EndStream()
    if code in _REDIRECT_STATUSES:
        if not follow_redirects:
            location = response.headers.get("location")
            to = f" to {location!r}" if location is not None else ""
            return Reject(f"server answered {_status_text(response)}{to}; follow_redirects is off")
        return _redirect(request, response, allow_insecure=allow_insecure_redirects)
    if code in _RETRY_STATUSES:
        retry_after = response.headers.get("retry-after")
        return RetryLater(_answered(response), retry_after)
    return Reject(_answered(response, ", expected 200 with text/event-stream"))
