"""Sans-IO proxy decisions: which proxy (if any) a request goes through, and the CONNECT
handshake that opens a tunnel through it.

- :class:`Proxy` is a parsed ``http://[user:pass@]host:port`` proxy URL.
- :class:`ProxyChoice` is the client's proxy configuration: one proxy for everything
  (``SSEClient(proxy=...)``) or the environment's ``HTTP_PROXY`` / ``HTTPS_PROXY`` /
  ``ALL_PROXY`` / ``NO_PROXY`` read as curl and httpx read them (:meth:`from_environ`).
- :class:`TunnelHandshake` is the CONNECT exchange as a byte-in/byte-out machine.

The Trio side that opens the sockets is ``_proxy_transport.py``. Imports h11 and the
standard library, never trio.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import h11

from ._exceptions import SSEProxyError

__all__ = ["NoProxy", "Proxy", "ProxyChoice", "TunnelHandshake", "tunnel_error_retryable"]

log = logging.getLogger("trio_sse")

_MAX_HEAD_SIZE = 64 * 1024
# 5xx from a proxy means it could not reach the origin or is overloaded: worth a retry.
# 407 (credentials) and other refusals do not heal by waiting.
_RETRYABLE_TUNNEL_STATUSES = frozenset({500, 502, 503, 504})


def tunnel_error_retryable(error: SSEProxyError) -> bool:
    """A proxy that closed, garbled or 5xx-ed the CONNECT may do better next time."""
    return error.status_code is None or error.status_code in _RETRYABLE_TUNNEL_STATUSES


@dataclass(frozen=True, slots=True)
class Proxy:
    """An HTTP proxy: where it listens, and the credentials it wants (if any)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> Proxy:
        """``http://[user:pass@]host[:port]`` (a URL without a scheme is taken as http,
        as curl does; the default port is 80). Percent-escapes in the credentials are
        decoded. Other schemes (https, socks) are a ValueError."""
        if not isinstance(url, str):
            raise TypeError(f"a proxy URL must be a str, not {type(url).__name__}")
        text = url.strip()
        if "://" not in text:
            text = "http://" + text
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"invalid proxy URL {_redact(url)!r}: {exc}") from None
        if parts.scheme.lower() != "http":
            raise _UnsupportedScheme(
                f"unsupported proxy scheme {parts.scheme!r} in {_redact(url)!r}: only http:// "
                "proxies are supported (https origins go through them in a CONNECT tunnel)"
            )
        if not parts.hostname:
            raise ValueError(f"proxy URL {_redact(url)!r} has no host")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"proxy URL {_redact(url)!r} must not have a path or query")
        if port == 0:  # urlsplit accepts it; "port or 80" would quietly mean 80
            raise ValueError(f"invalid proxy URL {_redact(url)!r}: port 0")
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(parts.hostname.lower(), 80 if port is None else port, username, password)

    @property
    def authorization(self) -> str | None:
        """The ``Proxy-Authorization`` value (Basic), or None without credentials."""
        if self.username is None:
            return None
        token = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(token).decode("ascii")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class _UnsupportedScheme(ValueError):
    """A proxy URL whose scheme we cannot speak (socks5://, https://)."""


def _redact(url: str) -> str:
    """A proxy URL fit for an error message: the password never goes into one."""
    scheme, sep, rest = url.rpartition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{hostpart}"


# --------------------------------------------------------------------------- NO_PROXY


@dataclass(frozen=True, slots=True)
class NoProxy:
    """The hosts ``NO_PROXY`` exempts, matched as curl does.

    Comma-separated entries: ``*`` (no proxy at all), a domain (matches itself and
    every subdomain; a leading ``.`` or ``*.`` is ignored), an IP address, an IP
    network in CIDR form, each optionally with ``:port``. Case-insensitive.
    """

    everything: bool = False
    entries: tuple[tuple[str, int | None], ...] = ()

    @classmethod
    def parse(cls, value: str) -> NoProxy:
        entries: list[tuple[str, int | None]] = []
        for raw in value.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry == "*":
                return cls(everything=True)
            host, port = _split_host_port(entry)
            host = host.removeprefix("*").lstrip(".")
            if host:
                entries.append((host, port))
        return cls(entries=tuple(entries))

    def matches(self, host: str, port: int) -> bool:
        """True when a request to ``host:port`` must not use the proxy."""
        if self.everything:
            return True
        host = host.lower().rstrip(".")
        address = _ip(host)
        for pattern, pattern_port in self.entries:
            if pattern_port is not None and pattern_port != port:
                continue
            if _host_matches(host, address, pattern):
                return True
        return False


def _split_host_port(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port``, ``v6`` or ``cidr`` -> (host, port or None)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if port.isdigit():
            return host, int(port)
    return entry, None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _host_matches(
    host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, pattern: str
) -> bool:
    if address is not None:
        try:
            return address in ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            return False
    return host == pattern or host.endswith("." + pattern)


# --------------------------------------------------------------------------- choice


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """A proxy variable as curl reads it: lower case first, then upper case. Upper-case
    HTTP_PROXY is ignored in a CGI process (REQUEST_METHOD set), where a client's
    ``Proxy:`` request header would land in it ("httpoxy"), as urllib and curl do."""
    value = environ.get(name.lower())
    if value is None and not (name == "HTTP_PROXY" and "REQUEST_METHOD" in environ):
        value = environ.get(name.upper())
    if value is None or not value.strip():
        return None
    return value.strip()


@dataclass(frozen=True, slots=True)
class ProxyChoice:
    """Which proxy each origin goes through: per scheme, minus the NO_PROXY exemptions."""

    http: Proxy | None = None
    https: Proxy | None = None
    no_proxy: NoProxy = NoProxy()

    @classmethod
    def single(cls, proxy: str | Proxy) -> ProxyChoice:
        """Everything through one proxy (``SSEClient(proxy=...)``); NO_PROXY not consulted."""
        chosen = proxy if isinstance(proxy, Proxy) else Proxy.parse(proxy)
        return cls(http=chosen, https=chosen)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ProxyChoice:
        """``http_proxy`` for http://, ``https_proxy`` for https://, ``all_proxy`` for
        either when its own is unset, ``no_proxy`` exempting hosts; either case. Loopback
        hosts are proxied too unless NO_PROXY lists them, as httpx does. A variable
        naming a proxy we cannot speak is left out with a warning (see _env_proxy)."""
        http = _env_proxy(environ, "HTTP_PROXY")
        https = _env_proxy(environ, "HTTPS_PROXY")
        if http is None or https is None:
            every = _env_proxy(environ, "ALL_PROXY")
            http = http or every
            https = https or every
        no_proxy = _env(environ, "NO_PROXY")
        return cls(
            http=http, https=https, no_proxy=NoProxy.parse(no_proxy) if no_proxy else NoProxy()
        )

    def proxy_for(self, scheme: str, host: str, port: int) -> Proxy | None:
        """The proxy a request to this origin goes through, or None for a direct one."""
        proxy = self.https if scheme == "https" else self.http
        if proxy is None or self.no_proxy.matches(host, port):
            return None
        return proxy

    def __bool__(self) -> bool:
        return self.http is not None or self.https is not None


def _env_proxy(environ: Mapping[str, str], name: str) -> Proxy | None:
    """A proxy variable, parsed. One naming a scheme we cannot speak (a socks5:// proxy
    set for the machine's other programs) is ignored, as if unset, with a warning (once
    per variable and value): a client that cannot be made at all helps no one. A broken
    http:// URL was meant for us, though: it stays an error, since going direct would
    bypass it unannounced."""
    value = _env(environ, name)
    if value is None:
        return None
    try:
        return Proxy.parse(value)
    except _UnsupportedScheme as exc:
        if _first_warning(name, value):
            log.warning("trio-sse: ignoring %s from the environment: %s", name, exc)
        return None
    except ValueError as exc:
        raise ValueError(f"{name} from the environment: {exc}") from None


# The ignored (variable, value) pairs already warned about. The environment is the same
# for every client, so the warning would repeat with each SSEClient() and say nothing new:
# once per process is enough. Bounded (the oldest forgotten first, then warned about
# again) because the values are not fixed: os.environ can be changed and from_environ
# takes any mapping, and a program that keeps changing them must not grow this without
# end. Threads racing here can at worst log the same warning twice.
_warned_env: dict[tuple[str, str], None] = {}
_WARNED_ENV_SIZE = 32


def _first_warning(name: str, value: str) -> bool:
    """True the first time this ignored variable and value are seen (see _warned_env)."""
    key = (name, value)
    if key in _warned_env:
        return False
    _warned_env[key] = None
    while len(_warned_env) > _WARNED_ENV_SIZE:
        del _warned_env[next(iter(_warned_env))]
    return True


# --------------------------------------------------------------------------- CONNECT


class TunnelHandshake:
    """``CONNECT host:port`` through a proxy, as bytes in and out.

    ``request_bytes()`` is written once; then ``feed`` the proxy's bytes until
    ``established()`` returns True (or raises SSEProxyError for a refusal).
    ``trailing`` holds any bytes the proxy sent after its 2xx head: they belong to
    the tunnel.
    """

    def __init__(self, proxy: Proxy, host: str, port: int) -> None:
        self.proxy = proxy
        self.authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD_SIZE)
        headers = [("Host", self.authority)]
        if proxy.authorization is not None:
            headers.append(("Proxy-Authorization", proxy.authorization))
        request = h11.Request(method="CONNECT", target=self.authority, headers=headers)
        self._request = self._conn.send(request) + self._conn.send(h11.EndOfMessage())
        self.trailing = b""
        self.status_code: int | None = None

    def request_bytes(self) -> bytes:
        return self._request

    def feed(self, data: bytes) -> None:
        """Bytes from the proxy; b"" means it closed the connection."""
        self._conn.receive_data(data)

    def established(self) -> bool:
        """True once the proxy accepted; False when it needs more bytes. A refusal,
        a malformed answer or a close raises SSEProxyError."""
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._error(f"sent a malformed answer to CONNECT: {exc}") from exc
            if event is h11.NEED_DATA:
                return False
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                self.status_code = event.status_code
                if not 200 <= event.status_code < 300:
                    reason = event.reason.decode("latin-1")
                    status = f"{event.status_code} {reason}".strip()
                    raise self._error(f"refused the tunnel: {status}")
                continue
            if event is h11.PAUSED:  # 2xx to CONNECT: from here on the bytes are the tunnel's
                self.trailing = bytes(self._conn.trailing_data[0])
                return True
            raise self._error("closed the connection before answering CONNECT")

    def _error(self, what: str) -> SSEProxyError:
        message = f"proxy {self.proxy} {what} (CONNECT {self.authority})"
        return SSEProxyError(message, status_code=self.status_code)
