"""Proxies on the transport seam: the Trio side of ``_proxy.py``.

:class:`ProxyTransport` routes each origin through the proxy its :class:`ProxyChoice`
names, or to the direct transport when none applies (no proxy for the scheme, or
NO_PROXY). http:// origins get the proxy's stream as it is, and the session writes the
request in absolute form with ``Proxy-Authorization`` (see :meth:`forwarding`); https://
origins get a CONNECT tunnel, then TLS to the origin under the origin's own name, so the
proxy sees neither the request nor its credentials.

:func:`build_transport` turns the client's ``transport`` / ``uds`` / ``proxy`` /
``trust_env`` / ``ssl_context`` arguments into the one transport its sessions use.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

import trio

from ._exceptions import SSEProxyError
from ._proxy import Proxy, ProxyChoice, TunnelHandshake, tunnel_error_retryable
from ._transport import (
    Connector,
    Forwarding,
    Origin,
    TCPTransport,
    Transport,
    TransportError,
    UnixSocketTransport,
    as_transport,
    connect_tcp,
    start_tls,
)

__all__ = ["ProxyTransport", "build_transport"]

_RECEIVE_SIZE = 16 * 1024


class ProxyTransport:
    """Connects through HTTP proxies: ``ProxyTransport("http://user:pass@proxy:3128")``
    sends everything through one proxy; a :class:`ProxyChoice` picks per origin."""

    def __init__(
        self,
        proxy: str | Proxy | ProxyChoice,
        *,
        ssl_context: ssl.SSLContext | None = None,
        direct: Transport | None = None,
    ) -> None:
        if isinstance(proxy, ProxyChoice):
            self.choice = proxy
        elif isinstance(proxy, (str, Proxy)):
            self.choice = ProxyChoice.single(proxy)
        else:
            raise TypeError(f"proxy must be a URL str, not {type(proxy).__name__}")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError("ssl_context must be an ssl.SSLContext or None")
        self.ssl_context = ssl_context
        self.direct = direct if direct is not None else TCPTransport(ssl_context=ssl_context)

    def __repr__(self) -> str:
        return f"ProxyTransport({self.choice!r})"

    def forwarding(self, origin: Origin) -> Forwarding | None:
        """http:// through a proxy: absolute-form target, credentials for the proxy."""
        proxy = self.choice.proxy_for(origin.scheme, origin.host, origin.port)
        if proxy is None or origin.scheme != "http":
            return None
        auth = proxy.authorization
        return Forwarding(str(proxy), (("Proxy-Authorization", auth),) if auth else ())

    async def connect(self, origin: Origin) -> trio.abc.Stream:
        proxy = self.choice.proxy_for(origin.scheme, origin.host, origin.port)
        if proxy is None:
            return await self.direct.connect(origin)
        stream = await _open_proxy_stream(proxy)
        if origin.scheme != "https":
            return stream
        try:
            await _tunnel(stream, proxy, origin)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return await start_tls(stream, origin, self.ssl_context)


async def _open_proxy_stream(proxy: Proxy) -> trio.abc.Stream:
    try:
        return await connect_tcp(proxy.host, proxy.port)
    except (OSError, ValueError) as exc:  # ValueError: a proxy name the resolver rejects
        error = SSEProxyError(f"cannot connect to the proxy {proxy}: {exc}")
        error.__cause__ = exc
        raise TransportError(error, retryable=isinstance(exc, OSError)) from None


async def _tunnel(stream: trio.abc.Stream, proxy: Proxy, origin: Origin) -> None:
    """CONNECT to the origin; on return the stream is a tunnel to it."""
    handshake = TunnelHandshake(proxy, origin.host, origin.port)
    try:
        await stream.send_all(handshake.request_bytes())
        while not handshake.established():
            handshake.feed(bytes(await stream.receive_some(_RECEIVE_SIZE)))
    except SSEProxyError as exc:
        raise TransportError(exc, retryable=tunnel_error_retryable(exc)) from None
    except (trio.BrokenResourceError, OSError) as exc:
        cause = exc.__cause__ or exc
        error = SSEProxyError(f"connection to the proxy {proxy} lost during CONNECT: {cause}")
        error.__cause__ = cause
        raise TransportError(error, retryable=True) from None
    if handshake.trailing:
        # The origin speaks first in TLS only after our ClientHello: bytes here are a
        # confused proxy, and feeding them to TLS would only hide that.
        error = SSEProxyError(f"proxy {proxy} sent data before the tunnel was used")
        raise TransportError(error, retryable=False)


def build_transport(
    *,
    transport: Transport | Connector | None = None,
    uds: str | None = None,
    proxy: str | None = None,
    trust_env: bool = True,
    ssl_context: ssl.SSLContext | None = None,
    environ: Mapping[str, str] | None = None,
) -> Transport:
    """The client's transport from its arguments (validated here, at the call).

    ``transport`` is used as given (the environment is not read for it); ``uds``
    connects every request to a Unix socket (never proxied); ``proxy`` sends
    everything through one proxy; otherwise with ``trust_env`` the proxy variables of
    ``environ`` (default ``os.environ``, read now) decide per origin.
    """
    if not isinstance(trust_env, bool):
        raise TypeError("trust_env must be a bool")
    if transport is not None:
        if uds is not None or proxy is not None or ssl_context is not None:
            raise ValueError(
                "transport= replaces uds=, proxy= and ssl_context=: configure the transport"
            )
        return as_transport(transport)
    if uds is not None:
        if proxy is not None:
            raise ValueError("a Unix socket (uds=) cannot be combined with proxy=")
        return UnixSocketTransport(uds, ssl_context=ssl_context)
    direct = TCPTransport(ssl_context=ssl_context)
    if proxy is not None:
        if not isinstance(proxy, str):
            raise TypeError(f"proxy must be a URL str, not {type(proxy).__name__}")
        return ProxyTransport(proxy, ssl_context=ssl_context, direct=direct)
    if trust_env:
        choice = ProxyChoice.from_environ(os.environ if environ is None else environ)
        if choice:
            return ProxyTransport(choice, ssl_context=ssl_context, direct=direct)
    return direct
