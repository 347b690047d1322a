"""The request: validated once (``prepare_request``), serialised per attempt
(``build_request_head``), with the session's ``Last-Event-ID`` added each time.

Bad arguments raise ValueError/TypeError here, at the call, never half-way through a
connection. Sans-IO: the standard library only.
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

from ._decoders import SUPPORTED_CODINGS
from ._exceptions import SSEProtocolError
from ._urls import (
    DEFAULT_PORTS,
    TOKEN_RE,
    check_method,
    check_port,
    check_scheme,
    normalize_host,
    normalize_target,
    split_url,
)
from ._version import __version__

__all__ = [
    "ORIGIN_BOUND_HEADERS",
    "USER_AGENT",
    "HeadersAnswer",
    "HeadersFunction",
    "HeadersSource",
    "PreparedRequest",
    "build_request_head",
    "check_accept_encoding",
    "check_headers",
    "last_event_id_value",
    "prepare_request",
    "unsendable_id_character",
    "with_headers",
]

USER_AGENT = f"trio-sse/{__version__}"

HeadersAnswer: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]] | None
HeadersFunction: TypeAlias = Callable[[], Awaitable[HeadersAnswer] | HeadersAnswer]
"""``headers=`` as a function, async or plain: called (and awaited, if async) before
every connection attempt, so each one carries fresh values (a bearer token refreshed on
reconnect)."""

# Credentials are for the origin the user named, never for one a server points us to.
ORIGIN_BOUND_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "host"})

# A header value holds no control character but HTAB (RFC 9110 section 5.5).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# What h11 refuses in a header value (the parser lets no CR, LF or NUL into an id).
_UNSENDABLE_ID_RE = re.compile(r"[\x00\x0a-\x0d]")


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A validated request, re-sent unchanged on every reconnect."""

    method: str
    scheme: str
    host: str
    port: int
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    redirect_count: int = 0
    accept_encoding: str | None = None  # sent unless the user's own header replaces it
    downgraded: bool = False
    """A redirect went from https to http: no header of the user's is sent any more."""

    @property
    def host_header(self) -> str:
        """The Host header value: brackets around IPv6, the port only when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == DEFAULT_PORTS.get(self.scheme):
            return host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.target}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def _check_header(name: object, value: object) -> tuple[str, str]:
    """One user header, validated now so that nothing malformed is ever half-sent."""
    if not isinstance(name, str) or not isinstance(value, str):
        raise TypeError(f"header names and values must be str, got {name!r}: {value!r}")
    if not TOKEN_RE.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}")
    value = value.strip(" \t")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {name!r} must not contain CR, LF or NUL: {value!r}")
    if _CONTROL_RE.search(value):
        raise ValueError(f"header {name!r} contains a control character: {value!r}")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(
            f"header {name!r} has characters outside ISO-8859-1; encode the value first"
        ) from None
    if name.lower() == "transfer-encoding":
        raise ValueError("Transfer-Encoding is not supported: the body is sent whole")
    return (name, value)


def check_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
) -> list[tuple[str, str]]:
    """The user's headers as validated (name, value) pairs, in order."""
    if headers is None:
        return []
    # Callers without a type checker can pass a str, an iterable that is not pairs: the
    # types above rule it out, so the check looks at the value as the object it may be.
    given: object = headers
    if isinstance(given, (str, bytes)):
        raise TypeError("headers must be a mapping or an iterable of (name, value) pairs")
    pairs: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers
    checked = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError(f"headers must be (name, value) pairs, got {pair!r}")
        checked.append(_check_header(pair[0], pair[1]))
    return checked


def with_headers(request: PreparedRequest, headers: Iterable[tuple[str, str]]) -> PreparedRequest:
    """``request`` with ``headers`` (checked pairs) replacing its fields of the same
    names: how a headers function's answer is merged, as a mapping's would have been."""
    extra = list(headers)
    names = {name.lower() for name, _ in extra}
    merged = [(n, v) for n, v in request.headers if n.lower() not in names] + extra
    _check_content_length(merged, request.body)
    if sum(name.lower() == "host" for name, _ in merged) > 1:
        raise ValueError("more than one Host header")
    return replace(request, headers=tuple(merged))


@dataclass(frozen=True, slots=True)
class HeadersSource:
    """A headers function and the names it may not set: those the call gave as a
    mapping when the function is the client's (the call's headers win)."""

    function: HeadersFunction
    overridden: frozenset[str] = frozenset()

    def apply(
        self, request: PreparedRequest, answer: object, *, cross_origin: bool
    ) -> PreparedRequest:
        """``request`` with the function's ``answer`` merged in. Checked every time (a
        bad answer is TypeError/ValueError); after a redirect to another origin the
        credentials it returns are dropped, as the user's static ones are, and after a
        downgrade to http none of it is sent."""
        pairs = check_headers(answer)  # type: ignore[arg-type]  # unchecked answer: this is the check
        if request.downgraded:
            return request
        dropped = self.overridden | (ORIGIN_BOUND_HEADERS if cross_origin else frozenset())
        return with_headers(request, [(n, v) for n, v in pairs if n.lower() not in dropped])


def _encode_body(content: bytes | str | None, json: Any) -> bytes | None:
    if content is not None and json is not None:
        raise ValueError("pass content or json, not both")
    if json is not None:
        return _json.dumps(json, separators=(",", ":"), allow_nan=False).encode()
    if content is None:
        return None
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, (bytes, bytearray, memoryview)):
        return bytes(content)
    raise TypeError(f"content must be bytes or str, not {type(content).__name__}")


def _has_header(headers: Iterable[tuple[str, str]], name: str) -> bool:
    return any(field.lower() == name for field, _ in headers)


def _check_content_length(headers: Iterable[tuple[str, str]], body: bytes | None) -> None:
    """A user Content-Length is allowed only when it is the one we would send."""
    expected = str(len(body or b""))
    for name, value in headers:
        if name.lower() == "content-length" and value != expected:
            raise ValueError(f"Content-Length {value!r} does not match the body ({expected})")


def prepare_request(
    url: str | None = None,
    *,
    scheme: str | None = None,
    host: str | None = None,
    port: int | None = None,
    path: str | None = None,
    method: str = "GET",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    content: bytes | str | None = None,
    json: Any = None,
    accept_encoding: str | None = None,
) -> PreparedRequest:
    """Validate everything about a request up front, so that bad arguments raise
    ValueError/TypeError at the call and never half-way through a connection.

    Components (scheme/host/port/path) override the matching parts of ``url``; ``path``
    replaces the URL's path and query together.
    """
    url_scheme, url_host, url_port, url_target = (None, None, None, None)
    if url is not None:
        url_scheme, url_host, url_port, url_target = split_url(url)
    final_scheme = check_scheme(scheme if scheme is not None else url_scheme or "http")
    final_host = normalize_host(host) if host is not None else url_host
    if not final_host:
        hint = f" (did you mean 'http://{url}'?)" if url and "//" not in url else ""
        raise ValueError(f"missing host: pass an http(s) URL or host={hint}")
    if port is not None:
        final_port = check_port(port)
    elif url_port is not None:
        final_port = check_port(url_port)
    else:
        final_port = DEFAULT_PORTS[final_scheme]
    target = normalize_target(path) if path is not None else url_target or "/"
    body = _encode_body(content, json)
    user_headers = check_headers(headers)
    if json is not None and not _has_header(user_headers, "content-type"):
        user_headers.append(("Content-Type", "application/json"))
    _check_content_length(user_headers, body)
    if sum(name.lower() == "host" for name, _ in user_headers) > 1:
        raise ValueError("more than one Host header")
    return PreparedRequest(
        method=check_method(method),
        scheme=final_scheme,
        host=final_host,
        port=final_port,
        target=target,
        headers=tuple(user_headers),
        body=body,
        accept_encoding=check_accept_encoding(accept_encoding),
    )


def unsendable_id_character(last_event_id: str) -> str | None:
    """The first character of an event ID that no Last-Event-ID header can carry, if any.

    The parser lets no CR, LF or NUL into an id, but a stream may set one holding a
    vertical tab or a form feed, which h11 (rightly, RFC 9110) refuses in a header.
    (h11 sends the other control characters, so such ids go as they are.)"""
    match = _UNSENDABLE_ID_RE.search(last_event_id)
    return None if match is None else match.group()


def check_accept_encoding(value: str | None) -> str | None:
    """An Accept-Encoding we can keep: only codings this installation decodes (a server
    taking us at our word must not produce a body we cannot read), or None for none."""
    if value is None:
        return None
    _, value = _check_header("Accept-Encoding", value)
    for item in value.split(","):
        coding = item.partition(";")[0].strip().lower()
        if coding and coding != "identity" and coding not in SUPPORTED_CODINGS:
            hint = {"br": " (install brotli)", "zstd": " (install backports.zstd)"}
            raise ValueError(
                f"cannot decode the content coding {coding!r}{hint.get(coding, '')}; "
                f"this installation decodes {', '.join(SUPPORTED_CODINGS)}"
            )
    return value


def last_event_id_value(last_event_id: str | None) -> str | None:
    """The header value for an id: its UTF-8 bytes (as WHATWG says), carried as a latin-1
    str like every other value here; None when it is empty.

    An id that cannot be sent is never dropped silently (the server would replay the
    stream from its start): SSEProtocolError, at the connection that needed it. HTTP
    trims a field value's edge spaces and tabs, so the server reads " 42 " as "42"
    whatever is sent, and an id of nothing else as no id at all: that one cannot be sent.
    """
    if not last_event_id:
        return None
    bad = unsendable_id_character(last_event_id)
    if bad is not None:
        raise _cannot_resume(last_event_id, f"holds U+{ord(bad):04X}")
    value = last_event_id.encode("utf-8", "surrogatepass").decode("latin-1").strip(" \t")
    if not value:
        raise _cannot_resume(last_event_id, "is only spaces or tabs, which HTTP trims away")
    return value


def _cannot_resume(last_event_id: str, why: str) -> SSEProtocolError:
    return SSEProtocolError(
        f"cannot resume: the server's last event ID {last_event_id!r} {why}, so no"
        " Last-Event-ID header can carry it; not reconnecting without it, since the"
        " server would replay the stream from its start"
    )


def build_request_head(
    request: PreparedRequest, last_event_id: str | None
) -> list[tuple[str, str]]:
    """The request's header fields in send order: our defaults, each replaced in place by
    the user's header of the same name, then the user's other headers, then Content-Length.

    The session's Last-Event-ID wins over a user-supplied one; without a session id
    the user's is sent (a way to resume from a known id).
    """
    session_id = last_event_id_value(last_event_id)
    defaults = [
        ("Host", request.host_header),
        ("User-Agent", USER_AGENT),
        ("Accept", "text/event-stream"),
        ("Cache-Control", "no-cache"),
    ]
    if request.accept_encoding is not None:
        defaults.append(("Accept-Encoding", request.accept_encoding))
    user = list(request.headers)
    if session_id is not None:
        defaults.append(("Last-Event-ID", session_id))
        user = [(n, v) for n, v in user if n.lower() != "last-event-id"]
    head: list[tuple[str, str]] = []
    replaced: set[str] = set()
    for name, value in defaults:
        key = name.lower()
        mine = [(n, v) for n, v in user if n.lower() == key]
        if mine:
            head.extend(mine)
            replaced.add(key)
        else:
            head.append((name, value))
    head.extend((n, v) for n, v in user if n.lower() not in replaced)
    needs_length = request.body is not None or request.method in ("POST", "PUT", "PATCH")
    if needs_length and not _has_header(user, "content-length"):
        head.append(("Content-Length", str(len(request.body or b""))))
    return head
