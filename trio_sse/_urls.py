"""URL parts checked and normalised for a request line: scheme, host, port, target, method.

Everything a user or a server's ``Location`` names goes through here, so that nothing
malformed reaches h11 (which would refuse it half-way through a connection) or the
resolver. Sans-IO: the standard library only.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TypeAlias
from urllib.parse import quote, urlsplit

__all__ = [
    "DEFAULT_PORTS",
    "TOKEN_RE",
    "URLParts",
    "check_method",
    "check_port",
    "check_scheme",
    "normalize_host",
    "normalize_target",
    "split_url",
]

DEFAULT_PORTS = {"http": 80, "https": 443}
#: An RFC 9110 token: what a method or a header name may be.
TOKEN_RE = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
# After IDNA, a host name is letters, digits, "-" and "." ("_" occurs in the wild).
_HOST_RE = re.compile(r"[a-z0-9._-]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))
# Percent-encode what WHATWG URL encodes (plus "?" in the path); keep "%" so that
# existing escapes survive.
_PATH_SAFE = "".join(c for c in _PRINTABLE if c not in '"#<>?`{}')
_QUERY_SAFE = "".join(c for c in _PRINTABLE if c not in '"#<>`')

URLParts: TypeAlias = tuple[str | None, str | None, int | None, str | None]


def split_url(url: str) -> URLParts:
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
    host = normalize_host(parts.hostname) if parts.hostname else None
    if host is not None and "[" in parts.netloc and ":" not in host:
        # Brackets are for IPv6 only; Python 3.10's urlsplit does not check that itself.
        raise ValueError(f"invalid URL {url!r}: brackets around a host that is not IPv6")
    raw_target = parts.path + (f"?{parts.query}" if parts.query else "")
    target = normalize_target(raw_target) if raw_target else None
    return (parts.scheme.lower() or None, host, port, target)


def check_scheme(scheme: str) -> str:
    if not isinstance(scheme, str):
        raise TypeError(f"scheme must be a str, not {type(scheme).__name__}")
    if scheme.lower() not in DEFAULT_PORTS:
        raise ValueError(f"unsupported URL scheme {scheme!r}: only http and https")
    return scheme.lower()


def normalize_host(host: str) -> str:
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


def check_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 1-65535")
    return port


def normalize_target(path: str) -> str:
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


def check_method(method: str) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, not {type(method).__name__}")
    if not TOKEN_RE.fullmatch(method):
        raise ValueError(f"invalid HTTP method {method!r}")
    if method.upper() == "CONNECT":
        raise ValueError("CONNECT cannot open an event stream")
    return method.upper()
