"""The sans-IO HTTP/1.1 side of an SSE connection, on top of h11.

Everything here decides and does no I/O, so it is tested by feeding bytes: building
and validating the request (``prepare_request``, ``build_request_head``), framing and
decoding one response (``HTTPExchange``), and judging a response head
(``judge_response``: open the stream, stop, follow a redirect, retry later, or reject).
``_session.py`` only moves the bytes this module produces and consumes.

Imports h11 and the standard library, never trio.
"""

from __future__ import annotations

import http
import ipaddress
import json as _json
import re
import zlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeAlias
from urllib.parse import quote, urljoin, urlsplit

import h11

from ._exceptions import SSEConnectionError, SSEError, SSEProtocolError
from ._headers import Headers
from ._version import __version__

__all__ = [
    "BODY_CHUNK_LIMIT",
    "ERROR_BODY_LIMIT",
    "MAX_REDIRECTS",
    "USER_AGENT",
    "Decision",
    "EndStream",
    "FollowRedirect",
    "HTTPExchange",
    "Headers",
    "OpenStream",
    "PreparedRequest",
    "Reject",
    "RetryLater",
    "SSEResponse",
    "build_request_head",
    "judge_response",
    "prepare_request",
]

USER_AGENT = f"trio-sse/{__version__}"
MAX_REDIRECTS = 10
ERROR_BODY_LIMIT = 64 * 1024
#: At most this many decoded bytes per ``next_body`` call, so a compression bomb
#: costs bounded memory per step.
BODY_CHUNK_LIMIT = 64 * 1024
#: h11's limit on an incomplete response head; 16 KiB (its default) is too tight for
#: servers with large cookies or CSP headers.
MAX_HEAD_SIZE = 64 * 1024

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN_RE = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
# After IDNA, a host name is letters, digits, "-" and "." ("_" occurs in the wild).
_HOST_RE = re.compile(r"[a-z0-9._-]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# What h11 refuses inside a header value besides CR, LF and NUL.
_BAD_VALUE_RE = re.compile(r"[\x0b\x0c]")
_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))
# Percent-encode what WHATWG URL encodes (plus "?" in the path); keep "%" so that
# existing escapes survive.
_PATH_SAFE = "".join(c for c in _PRINTABLE if c not in '"#<>?`{}')
_QUERY_SAFE = "".join(c for c in _PRINTABLE if c not in '"#<>`')

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Fetch's "request-body-header names": meaningless once a redirect drops the body.
_BODY_HEADERS = frozenset(
    {"content-type", "content-length", "content-encoding", "content-language", "content-location"}
)
# Credentials are for the origin the user named, never for one a server points us to.
_ORIGIN_BOUND_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "host"})


# --------------------------------------------------------------------------- request


@dataclass(frozen=True, slots=True)
class SSEResponse:
    """The head of the response a connection got (the Ktor ``call.response``)."""

    status_code: int
    reason: str
    http_version: str
    headers: Headers
    url: str

    @property
    def content_type(self) -> str | None:
        """The media type, lower-cased and without parameters (None when absent)."""
        values = self.headers.get_list("content-type")
        if not values:
            return None
        return values[-1].split(";", 1)[0].strip().lower() or None


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

    @property
    def host_header(self) -> str:
        """The Host header value: brackets around IPv6, the port only when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == _DEFAULT_PORTS.get(self.scheme):
            return host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.target}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


_URLParts: TypeAlias = tuple[str | None, str | None, int | None, str | None]


def _split_url(url: str) -> _URLParts:
    """(scheme, host, port, target) of an absolute or relative URL; None for absent parts."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    url = url.strip()
    if _CONTROL_RE.search(url):
        raise ValueError(f"URL must not contain control characters: {url!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid URL {url!r}: {exc}") from None
    if "@" in parts.netloc:
        raise ValueError(f"URL {url!r} contains credentials; pass an Authorization header instead")
    host = _normalize_host(parts.hostname) if parts.hostname else None
    if host is not None and "[" in parts.netloc and ":" not in host:
        # Brackets are for IPv6 only; Python 3.10's urlsplit does not check that itself.
        raise ValueError(f"invalid URL {url!r}: brackets around a host that is not IPv6")
    raw_target = parts.path + (f"?{parts.query}" if parts.query else "")
    target = _normalize_target(raw_target) if raw_target else None
    return (parts.scheme.lower() or None, host, port, target)


def _check_scheme(scheme: str) -> str:
    if not isinstance(scheme, str):
        raise TypeError(f"scheme must be a str, not {type(scheme).__name__}")
    if scheme.lower() not in _DEFAULT_PORTS:
        raise ValueError(f"unsupported URL scheme {scheme!r}: only http and https")
    return scheme.lower()


def _normalize_host(host: str) -> str:
    """A host for connecting: IPv6 without brackets, names lower-cased and IDNA-encoded."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in name:
        try:
            return ipaddress.IPv6Address(name).compressed
        except ValueError:
            raise ValueError(f"invalid host {host!r} (a port goes in port=)") from None
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"invalid host {host!r}: {exc}") from None
    name = name.lower()
    if not _HOST_RE.fullmatch(name):
        raise ValueError(f"invalid host {host!r}")
    return name


def _check_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 1-65535")
    return port


def _normalize_target(path: str) -> str:
    """Path and query for the request line: rooted, no fragment, non-ASCII percent-encoded."""
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, not {type(path).__name__}")
    if _CONTROL_RE.search(path):
        raise ValueError(f"path must not contain control characters: {path!r}")
    path = path.partition("#")[0]
    path, _, query = path.partition("?")
    if not path.startswith("/"):
        path = "/" + path
    target = quote(path, safe=_PATH_SAFE)
    if query:
        target += "?" + quote(query, safe=_QUERY_SAFE)
    return target


def _check_method(method: str) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, not {type(method).__name__}")
    if not _TOKEN_RE.fullmatch(method):
        raise ValueError(f"invalid HTTP method {method!r}")
    if method.upper() == "CONNECT":
        raise ValueError("CONNECT cannot open an event stream")
    return method.upper()


def _check_header(name: object, value: object) -> tuple[str, str]:
    """One user header, validated now so that nothing malformed is ever half-sent."""
    if not isinstance(name, str) or not isinstance(value, str):
        raise TypeError(f"header names and values must be str, got {name!r}: {value!r}")
    if not _TOKEN_RE.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}")
    value = value.strip(" \t")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {name!r} must not contain CR, LF or NUL: {value!r}")
    if _BAD_VALUE_RE.search(value):
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


def _check_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, (str, bytes)):
        raise TypeError("headers must be a mapping or an iterable of (name, value) pairs")
    pairs: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers
    checked = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError(f"headers must be (name, value) pairs, got {pair!r}")
        checked.append(_check_header(pair[0], pair[1]))
    return checked


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
) -> PreparedRequest:
    """Validate everything about a request up front, so that bad arguments raise
    ValueError/TypeError at the call and never half-way through a connection.

    Components (scheme/host/port/path) override the matching parts of ``url``; ``path``
    replaces the URL's path and query together.
    """
    url_scheme, url_host, url_port, url_target = (None, None, None, None)
    if url is not None:
        url_scheme, url_host, url_port, url_target = _split_url(url)
    final_scheme = _check_scheme(scheme if scheme is not None else url_scheme or "http")
    final_host = _normalize_host(host) if host is not None else url_host
    if not final_host:
        hint = f" (did you mean 'http://{url}'?)" if url and "//" not in url else ""
        raise ValueError(f"missing host: pass an http(s) URL or host={hint}")
    if port is not None:
        final_port = _check_port(port)
    elif url_port is not None:
        final_port = _check_port(url_port)
    else:
        final_port = _DEFAULT_PORTS[final_scheme]
    target = _normalize_target(path) if path is not None else url_target or "/"
    body = _encode_body(content, json)
    user_headers = _check_headers(headers)
    if json is not None and not _has_header(user_headers, "content-type"):
        user_headers.append(("Content-Type", "application/json"))
    _check_content_length(user_headers, body)
    if sum(name.lower() == "host" for name, _ in user_headers) > 1:
        raise ValueError("more than one Host header")
    return PreparedRequest(
        method=_check_method(method),
        scheme=final_scheme,
        host=final_host,
        port=final_port,
        target=target,
        headers=tuple(user_headers),
        body=body,
    )


def _last_event_id_value(last_event_id: str | None) -> str | None:
    """The header value for an id: its UTF-8 bytes (as WHATWG says), carried as a latin-1
    str like every other value here; None when it is empty or cannot be a header value.

    The parser never lets CR, LF or NUL into an id, but an id may hold other characters
    h11 refuses (vertical tab, form feed); such an id is not sent rather than mangled.
    """
    if not last_event_id:
        return None
    value = last_event_id.encode("utf-8", "surrogatepass").decode("latin-1").strip(" \t")
    if not value or "\r" in value or "\n" in value or "\0" in value:
        return None
    if _BAD_VALUE_RE.search(value):
        return None
    return value


def build_request_head(
    request: PreparedRequest, last_event_id: str | None
) -> list[tuple[str, str]]:
    """The request's header fields in send order: our defaults, each replaced in place by
    the user's header of the same name, then the user's other headers, then Content-Length.

    The session's Last-Event-ID wins over a user-supplied one; without a session id
    the user's is sent (a way to resume from a known id).
    """
    session_id = _last_event_id_value(last_event_id)
    defaults = [
        ("Host", request.host_header),
        ("User-Agent", USER_AGENT),
        ("Accept", "text/event-stream"),
        ("Cache-Control", "no-cache"),
    ]
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


# --------------------------------------------------------------------------- body decoding


class _IdentityDecoder:
    """Bytes as they came (also for an unknown coding's error body).

    The common case (one chunk in, the same chunk out) copies nothing; an oversized
    chunk is handed out in ``limit``-sized slices of a memoryview, which stays linear.
    """

    name = "identity"

    def __init__(self) -> None:
        self._chunks: deque[bytes | memoryview] = deque()

    def feed(self, data: bytes) -> None:
        if data:
            self._chunks.append(data)

    def read(self, limit: int) -> bytes:
        chunks = self._chunks
        if len(chunks) == 1 and len(chunks[0]) <= limit:
            return bytes(chunks.popleft())  # no copy when it is bytes already
        parts: list[bytes | memoryview] = []
        size = 0
        while chunks and size < limit:
            chunk = chunks.popleft()
            room = limit - size
            if len(chunk) > room:
                view = memoryview(chunk)
                chunks.appendleft(view[room:])
                chunk = view[:room]
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)

    def unfinished(self) -> bool:
        return False


# Feed zlib at most this much input per call: CPython copies ``unconsumed_tail`` on every
# call, so big inputs would make bounded-output decoding quadratic.
_ZLIB_INPUT_SLICE = 64 * 1024


class _ZlibDecoder:
    """gzip or deflate, decoded at most ``limit`` output bytes at a time.

    gzip may hold several members (RFC 1952); garbage after a complete member is ignored,
    as gzip(1) does. deflate is zlib-wrapped per RFC 9110, but some servers send raw
    deflate, so the first two bytes decide (a zlib header is a checksummed pair).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._gzip = name != "deflate"
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS) if self._gzip else None
        self._input = bytearray()
        self._tail = b""  # input zlib did not consume because of the output limit
        self._more = False  # zlib may hold output it could not return under the limit
        self._started = False  # the current stream has been given input
        self._produced = False  # the current stream has produced output
        self._member_done = False  # a complete gzip member was seen
        self._finished = False  # the stream ended; anything more is ignored

    def feed(self, data: bytes) -> None:
        if not self._finished:
            self._input += data

    def _decompressor(self) -> Any:
        if self._obj is None and len(self._input) >= 2:
            cmf, flg = self._input[0], self._input[1]
            wrapped = cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0
            self._obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return self._obj

    def _next_input(self) -> bytes | None:
        if self._tail:
            chunk, self._tail = self._tail, b""
            return chunk
        if self._input:
            chunk = bytes(self._input[:_ZLIB_INPUT_SLICE])
            del self._input[:_ZLIB_INPUT_SLICE]
            return chunk
        return b"" if self._more else None

    def read(self, limit: int) -> bytes:
        out = bytearray()
        while len(out) < limit and not self._finished:
            obj = self._decompressor()
            chunk = self._next_input() if obj is not None else None
            if obj is None or chunk is None:
                break
            room = limit - len(out)
            try:
                decoded = obj.decompress(chunk, room)
            except zlib.error as exc:
                if self._trailing_garbage():
                    self._finish()
                    break
                raise SSEProtocolError(f"corrupt {self.name} response body: {exc}") from exc
            out += decoded
            self._started = self._started or bool(chunk)
            self._produced = self._produced or bool(decoded)
            self._more = len(decoded) == room
            self._tail = obj.unconsumed_tail
            if obj.eof:
                self._end_of_stream(obj.unused_data)
        return bytes(out)

    def _end_of_stream(self, unused: bytes) -> None:
        if not self._gzip:
            self._finish()
            return
        self._member_done = True
        self._input[:0] = unused + self._tail  # the next member, if any
        self._tail = b""
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._started = self._produced = self._more = False

    def _trailing_garbage(self) -> bool:
        """Bytes after a complete gzip member that never decoded to anything: ignored."""
        return self._member_done and not self._produced

    def _finish(self) -> None:
        self._finished = True
        self._input.clear()
        self._tail = b""
        self._more = False

    def unfinished(self) -> bool:
        """True when the body ended inside a compressed stream (truncated)."""
        if self._finished or self._trailing_garbage():
            return False
        return self._started or bool(self._input) or bool(self._tail)


class _UnsupportedDecoder(_IdentityDecoder):
    """A coding we cannot decode: an event stream fails, an error body is kept raw."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


_Decoder: TypeAlias = _IdentityDecoder | _ZlibDecoder


def _make_decoder(headers: Headers) -> _Decoder:
    codings = [
        coding.strip().lower()
        for value in headers.get_list("content-encoding")
        for coding in value.split(",")
    ]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return _IdentityDecoder()
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _ZlibDecoder(codings[0])
    return _UnsupportedDecoder(", ".join(codings))


# --------------------------------------------------------------------------- exchange


def _response_from(event: h11.Response, url: str) -> SSEResponse:
    return SSEResponse(
        status_code=event.status_code,
        reason=event.reason.decode("latin-1"),
        http_version=event.http_version.decode("ascii", "replace"),
        headers=Headers(event.headers),
        url=url,
    )


class HTTPExchange:
    """One request and its response on one fresh connection, as a byte-in/byte-out machine.

    h11 errors are translated here: malformed bytes are SSEProtocolError; bytes that were a
    valid prefix until the peer closed are SSEConnectionError (a truncated body is a lost
    connection, never a clean end). The EOF is handed to h11 only once h11 has used every
    byte before it, which is what tells the two apart. The first error is sticky.
    """

    def __init__(self, request: PreparedRequest, last_event_id: str | None = None) -> None:
        self.request = request
        self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
        self._request_bytes = self._serialize(build_request_head(request, last_event_id))
        self._eof_pending = False
        self._eof_delivered = False
        self._error: SSEError | None = None
        self._head: SSEResponse | None = None
        self._head_returned = False
        self._decoder: _Decoder = _IdentityDecoder()
        self._body_ended = False
        self._ended_by_eof = False
        self._complete = False
        self._error_body = bytearray()

    def _serialize(self, head: list[tuple[str, str]]) -> bytes:
        request = self.request
        fields = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in head]
        try:
            out = self._conn.send(
                h11.Request(method=request.method, target=request.target, headers=fields)
            )
            if request.body:
                out += self._conn.send(h11.Data(data=request.body))
            out += self._conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:  # only for a hand-built PreparedRequest
            raise ValueError(f"cannot send this request: {exc}") from exc
        return out

    def request_bytes(self) -> bytes:
        """The whole request, head and body, to write to the socket once."""
        return self._request_bytes

    def feed(self, data: bytes) -> None:
        """Bytes from the socket; b"" means the peer closed. Nothing can follow EOF."""
        if self._eof_pending or self._eof_delivered:
            return
        if data:
            self._conn.receive_data(data)
        else:
            self._eof_pending = True

    # ---- translation

    def _fail(self, error: SSEError, cause: BaseException | None = None) -> SSEError:
        error.__cause__ = cause
        self._error = error
        return error

    def _translate(self, exc: h11.ProtocolError) -> SSEError:
        if not self._eof_delivered:
            return self._fail(SSEProtocolError(f"malformed HTTP response: {exc}"), exc)
        where = "before a complete response head" if self._head is None else "mid-body"
        return self._fail(SSEConnectionError(f"the server closed the connection {where}"), exc)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _next_event(self) -> Any:
        """The next h11 event or NEED_DATA, giving h11 the EOF only once it needs data."""
        while True:
            try:
                event = self._conn.next_event()
                if event is h11.NEED_DATA and self._eof_pending:
                    self._eof_pending = False
                    self._eof_delivered = True
                    self._conn.receive_data(b"")
                    continue
            except h11.ProtocolError as exc:
                raise self._translate(exc) from exc
            if isinstance(event, h11.ConnectionClosed):
                raise self._translate(h11.RemoteProtocolError("connection closed"))
            if event is h11.PAUSED:
                raise self._fail(SSEProtocolError("the server switched protocols"))
            return event

    # ---- head

    def _read_head(self) -> bool:
        while self._head is None:
            event = self._next_event()
            if event is h11.NEED_DATA:
                return False
            if isinstance(event, h11.Response):
                self._head = _response_from(event, self.request.url)
                self._decoder = _make_decoder(self._head.headers)
            elif not isinstance(event, h11.InformationalResponse):
                raise self._fail(SSEProtocolError(f"unexpected {event!r} before the head"))
        return True

    def next_head(self) -> SSEResponse | None:
        """The final response head once complete (1xx skipped), once; else None."""
        self._raise_if_failed()
        if self._head_returned or not self._read_head():
            return None
        self._head_returned = True
        return self._head

    # ---- body

    def _decode(self, limit: int) -> bytes:
        try:
            return self._decoder.read(limit)
        except SSEProtocolError as exc:
            raise self._fail(exc, exc.__cause__) from exc.__cause__

    def _end_body(self) -> None:
        if self._decoder.unfinished():
            message = f"the {self._decoder.name} response body is truncated"
            if self._ended_by_eof:
                raise self._fail(SSEConnectionError(f"the server closed the connection: {message}"))
            raise self._fail(SSEProtocolError(message))
        self._complete = True

    def _read_body(self, limit: int) -> bytes:
        if self._complete or (self._head is None and not self._read_head()):
            return b""
        while True:
            out = self._decode(limit)
            if out:
                self._remember(out)
                return out
            if self._body_ended:
                self._end_body()
                return b""
            event = self._next_event()
            if event is h11.NEED_DATA:
                return b""
            if isinstance(event, h11.Data):
                self._decoder.feed(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self._body_ended = True
                self._ended_by_eof = self._eof_delivered

    def _remember(self, data: bytes) -> None:
        """Keep the body's first ERROR_BODY_LIMIT bytes, whichever method read them."""
        room = ERROR_BODY_LIMIT - len(self._error_body)
        if room > 0:
            self._error_body += data[:room]

    def next_body(self) -> bytes:
        """Decoded body bytes available now (at most BODY_CHUNK_LIMIT); b"" = need more input."""
        self._raise_if_failed()
        if isinstance(self._decoder, _UnsupportedDecoder):
            # Not sticky: read_error_body still returns such a body as it came.
            raise SSEProtocolError(f"unsupported Content-Encoding {self._decoder.name!r}")
        return self._read_body(BODY_CHUNK_LIMIT)

    @property
    def complete(self) -> bool:
        """The body ended cleanly and next_body has returned all of it."""
        return self._complete

    def read_error_body(self) -> bytes:
        """The first ERROR_BODY_LIMIT decoded bytes of the body, including any that
        next_body already returned, after reading what is available now.

        Call it after each feed (or loop on next_body and call it once). Never raises:
        the body only explains the SSEResponseError about to be raised, so a broken one
        is cut short (an unknown Content-Encoding is returned undecoded).
        """
        try:
            while self._error is None and not self._complete and not self.body_limit_reached:
                if not self._read_body(ERROR_BODY_LIMIT - len(self._error_body)):
                    break
        except SSEError:
            pass
        return bytes(self._error_body)

    @property
    def body_limit_reached(self) -> bool:
        """ERROR_BODY_LIMIT bytes of body have been read: stop waiting for more."""
        return len(self._error_body) >= ERROR_BODY_LIMIT


# --------------------------------------------------------------------------- judging


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


def _redirect(request: PreparedRequest, response: SSEResponse) -> Decision:
    status = _status_text(response)
    if request.redirect_count >= MAX_REDIRECTS:
        return Reject(f"too many redirects (more than {MAX_REDIRECTS}); the last was {status}")
    locations = {value.strip() for value in response.headers.get_list("location")} - {""}
    if len(locations) != 1:
        what = "without a Location header" if not locations else "with several Locations"
        return Reject(f"server answered {status} {what}")
    location = _utf8_location(locations.pop())
    try:
        scheme, host, port, target = _split_url(urljoin(request.url, location))
        scheme = _check_scheme(scheme or "")
    except ValueError as exc:
        return Reject(f"server answered {status} with an unusable Location {location!r}: {exc}")
    if host is None:
        return Reject(f"server answered {status} with a Location without host: {location!r}")
    method, body, headers = request.method, request.body, request.headers
    code = response.status_code
    if (code == 303 and method != "HEAD") or (code in (301, 302) and method == "POST"):
        method, body, headers = "GET", None, _without(headers, _BODY_HEADERS)
    new = PreparedRequest(
        method=method,
        scheme=scheme,
        host=host,
        port=port if port is not None else _DEFAULT_PORTS[scheme],
        target=target or "/",
        headers=headers,
        body=body,
        redirect_count=request.redirect_count + 1,
    )
    if new.origin != request.origin:
        new = replace(new, headers=_without(new.headers, _ORIGIN_BOUND_HEADERS))
    return FollowRedirect(new)


def judge_response(request: PreparedRequest, response: SSEResponse) -> Decision:
    """What the session does with this response head (see DESIGN.md, HTTP and reconnection)."""
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
        return _redirect(request, response)
    if code in _RETRY_STATUSES:
        retry_after = response.headers.get("retry-after")
        return RetryLater(f"server answered {_status_text(response)}", retry_after)
    return Reject(f"server answered {_status_text(response)}, expected 200 with text/event-stream")
