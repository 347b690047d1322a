"""The transport seam: how the byte stream for one HTTP request is opened.

The session speaks HTTP/1.1 over a ``trio.abc.Stream`` and never learns how that stream
was made. A :class:`Transport` makes it: plain TCP, TLS over TCP (:class:`TCPTransport`),
a Unix socket (:class:`UnixSocketTransport`), a proxy (``_proxy.py``), or anything a user
or a test supplies (an in-memory stream, a socket from a pool), in the spirit of
httpcore's network backends. The interface is one coroutine, so an ``async def``
wrapped in :class:`ConnectorTransport` is a transport too.

Whatever a transport raises is translated to an SSEError in one place,
:func:`translate_error`, which also says whether a retry may cure it (a refused
connection may; a certificate that does not verify will not).
"""

from __future__ import annotations

import functools
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

import trio

from ._exceptions import SSEConnectionError, SSEError
from ._groups import unwrap

if sys.version_info < (3, 11):  # trio depends on the backport there
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "Connector",
    "ConnectorTransport",
    "Forwarding",
    "ForwardingTransport",
    "Origin",
    "TCPTransport",
    "Transport",
    "TransportError",
    "UnixSocketTransport",
    "as_transport",
    "connect_tcp",
    "default_ssl_context",
    "forwarding_for",
    "lost_connection",
    "start_tls",
    "translate_error",
]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request goes: scheme (``http`` or ``https``), host (IPv6 without
    brackets, names IDNA-encoded) and port. For https, the transport does the TLS
    handshake with ``host`` as the server name (SNI and certificate check)."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@runtime_checkable
class Transport(Protocol):
    """Opens the byte stream one request travels on.

    ``connect`` returns a stream ready for HTTP/1.1 to ``origin``: TLS already done for
    https. The session owns the stream from then on and closes it. Failures may be
    raised as they come (OSError, trio.BrokenResourceError, ssl errors) or as an
    SSEError; the session translates them (see :func:`translate_error`).
    """

    async def connect(self, origin: Origin) -> trio.abc.Stream: ...


@dataclass(frozen=True, slots=True)
class Forwarding:
    """How to write a request that a forwarding HTTP proxy relays: the target in absolute
    form (``GET http://host:port/path``) and ``headers`` for the proxy's eyes only.
    ``proxy`` names the proxy in error messages (never with its password)."""

    proxy: str
    headers: tuple[tuple[str, str], ...] = ()


@runtime_checkable
class ForwardingTransport(Transport, Protocol):
    """A transport whose streams may lead to a forwarding proxy rather than the origin
    (plain http:// through an HTTP proxy). Transports without ``forwarding`` never do."""

    def forwarding(self, origin: Origin) -> Forwarding | None: ...


def forwarding_for(transport: Transport, origin: Origin) -> Forwarding | None:
    """How the request to ``origin`` must be written on ``transport``'s stream.

    Our own TCP and Unix transports never forward, and are asked first: on Python 3.11
    the runtime-protocol check costs about 13 µs per connection attempt (3% of opening
    a stream). Any other transport, their subclasses included, gets the protocol's own
    decision, whose errors (a ``forwarding`` property that raises, say) surface."""
    if type(transport) is TCPTransport or type(transport) is UnixSocketTransport:
        return None
    if isinstance(transport, ForwardingTransport):
        return transport.forwarding(origin)
    return None


class TransportError(SSEError):
    """A translated transport failure (``error``, what the user sees) and whether a
    retry may cure it. The session unwraps it; a transport built on one of ours
    may let it pass through."""

    def __init__(self, error: SSEError, *, retryable: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """One verifying context per process: loading the system CA store takes tens of
    milliseconds, so it is done once, not per client or per connection. (Not in a
    worker thread: a thread wait would let a test's autojump clock leap ahead.)"""
    return ssl.create_default_context()


def translate_error(exc: BaseException, origin: Origin, *, tls: bool = False) -> TransportError:
    """The one place where what a transport raised becomes an SSEError.

    Retryable: refused or unreachable, a failed handshake, a lost connection. Not
    retryable: a certificate that does not verify, a host name the resolver rejects,
    an SSL context that cannot make client sockets (none of these heal by waiting).
    An SSEError a transport raised itself is kept; it is retryable if it is an
    SSEConnectionError.
    """
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, SSEError):
        return TransportError(exc, retryable=isinstance(exc, SSEConnectionError))
    where = f"{origin.host}:{origin.port}"
    cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else None
    if isinstance(cause, ssl.SSLCertVerificationError):
        error = SSEConnectionError(
            f"TLS certificate of {origin.host} rejected: {cause.verify_message}"
        )
        return _with_cause(error, cause, retryable=False)
    if tls and isinstance(exc, trio.BrokenResourceError):
        error = SSEConnectionError(f"TLS handshake with {origin.host} failed: {cause or exc}")
        return _with_cause(error, cause or exc, retryable=True)
    if tls and isinstance(exc, (ssl.SSLError, ValueError)):  # a context unfit for clients
        error = SSEConnectionError(f"cannot start TLS with {origin.host}: {exc}")
        return _with_cause(error, exc, retryable=False)
    if isinstance(exc, (UnicodeError, ValueError)):  # a name the resolver rejects (IDNA)
        error = SSEConnectionError(f"cannot resolve host {origin.host!r}: {exc}")
        return _with_cause(error, exc, retryable=False)
    if isinstance(exc, OSError):
        return _with_cause(
            SSEConnectionError(f"cannot connect to {where}: {exc}"), exc, retryable=True
        )
    if isinstance(exc, (trio.BrokenResourceError, trio.ClosedResourceError)):
        error = SSEConnectionError(f"connection to {where} lost while opening: {cause or exc}")
        return _with_cause(error, cause or exc, retryable=True)
    error = SSEConnectionError(f"the transport failed to connect to {where}: {exc!r}")
    return _with_cause(error, exc, retryable=False)


def _with_cause(error: SSEError, cause: BaseException, *, retryable: bool) -> TransportError:
    error.__cause__ = cause
    return TransportError(error, retryable=retryable)


def lost_connection(exc: BaseException, doing: str = "") -> SSEConnectionError:
    """A stream that broke after it was opened: always worth a reconnect."""
    cause = exc.__cause__ or exc
    error = SSEConnectionError(f"connection lost{' ' + doing if doing else ''}: {cause}")
    error.__cause__ = cause
    return error


#: How long a connection attempt runs alone before the next address is tried beside it
#: (RFC 8305's Connection Attempt Delay; trio's default too).
ATTEMPT_DELAY = 0.25

_AddressInfo: TypeAlias = tuple[int, int, int, str, object]


async def connect_tcp(host: str, port: int) -> trio.SocketStream:
    """A TCP connection to ``host``, resolved once.

    A name with one address (an IP literal, most service names) is connected
    directly. ``trio.open_tcp_stream`` would race even that one address in a nursery
    with a task per attempt, about 6 KiB of objects while it waits; thousands of
    streams opening at once all wait there together, and that peak stays in the
    process's resident memory long after it is freed. A name with several addresses
    (IPv4 and IPv6, say) gets happy eyeballs over the addresses already resolved.
    """
    targets = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    if not targets:  # a custom resolver may answer so; the stdlib's raises instead
        raise OSError(f"no results found for hostname lookup: {host}:{port}")
    if len(targets) == 1:
        return trio.SocketStream(await _connect(targets[0]))
    return trio.SocketStream(await _race(host, port, _interleaved(targets)))


async def _connect(target: _AddressInfo) -> trio.socket.SocketType:
    family, kind, proto, _, address = target
    sock = trio.socket.socket(family, kind, proto)
    try:
        await sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _interleaved(targets: Sequence[_AddressInfo]) -> list[_AddressInfo]:
    """The first address of the other family second (RFC 8305, section 4): when one
    family is broken, the other is tried after one delay, not after all its addresses."""
    first_family = targets[0][0]
    for index, target in enumerate(targets):
        if target[0] != first_family:
            return [targets[0], target, *targets[1:index], *targets[index + 1 :]]
    return list(targets)


async def _race(host: str, port: int, targets: list[_AddressInfo]) -> trio.socket.SocketType:
    """Happy eyeballs: each address in turn gets ATTEMPT_DELAY (or until it fails)
    before the next one starts beside it; the first connection wins and the others
    are cancelled. OSError naming every failure when none connects; anything else an
    attempt raises, and the caller's cancellation, leave as themselves, not in the
    nursery's group."""
    connected: list[trio.socket.SocketType] = []
    errors: list[OSError] = []
    failures: list[str] = []

    async def attempt(target: _AddressInfo, failed: trio.Event) -> None:
        try:
            sock = await _connect(target)
        except OSError as exc:
            errors.append(exc)
            address = str(target[4])  # trio's message names it, unless connect() refused
            failures.append(str(exc) if address in str(exc) else f"{address}: {exc}")
            failed.set()
            return
        connected.append(sock)  # two may connect in the same pass of the scheduler
        nursery.cancel_scope.cancel()

    try:
        async with trio.open_nursery() as nursery:
            for target in targets:
                failed = trio.Event()
                nursery.start_soon(attempt, target, failed)
                with trio.move_on_after(ATTEMPT_DELAY):
                    await failed.wait()
    except BaseException as exc:
        for sock in connected:
            sock.close()
        single = unwrap(exc) if isinstance(exc, BaseExceptionGroup) else exc
        if single is exc:
            raise
        raise single from single.__cause__
    if not connected:
        message = f"all attempts to connect to {host}:{port} failed: {'; '.join(failures)}"
        raise OSError(message) from errors[0]
    for sock in connected[1:]:
        sock.close()
    return connected[0]


async def start_tls(
    stream: trio.abc.Stream, origin: Origin, ssl_context: ssl.SSLContext | None
) -> trio.abc.Stream:
    """Wrap ``stream`` in TLS to ``origin`` (its host as SNI and certificate name) and
    finish the handshake; on failure the stream is closed and the error translated."""
    try:
        context = ssl_context or default_ssl_context()
        tls = trio.SSLStream(stream, context, server_hostname=origin.host, https_compatible=True)
        await tls.do_handshake()
    except trio.Cancelled:
        await trio.aclose_forcefully(stream)
        raise
    except Exception as exc:
        await trio.aclose_forcefully(stream)
        raise translate_error(exc, origin, tls=True) from None
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return tls


class TCPTransport:
    """The default: a TCP connection to the origin, TLS on top for https.

    ``ssl_context`` verifies the server (default: the system CAs, hostname checked).
    """

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        _check_ssl_context(ssl_context)
        self.ssl_context = ssl_context

    def __repr__(self) -> str:
        return f"TCPTransport(ssl_context={self.ssl_context!r})"

    async def connect(self, origin: Origin) -> trio.abc.Stream:
        try:
            stream: trio.abc.Stream = await connect_tcp(origin.host, origin.port)
        except (OSError, UnicodeError, ValueError) as exc:
            raise translate_error(exc, origin) from None
        if origin.scheme == "https":
            return await start_tls(stream, origin, self.ssl_context)
        return stream


class UnixSocketTransport:
    """Every request goes to the server listening on the Unix socket at ``path``,
    whatever the URL's host (which still names the Host header and, for https, the
    TLS server name): how Docker's and many local daemons' APIs are reached."""

    def __init__(self, path: str, *, ssl_context: ssl.SSLContext | None = None) -> None:
        if not isinstance(path, str):
            raise TypeError(f"the Unix socket path must be a str, not {type(path).__name__}")
        if not path:
            raise ValueError("the Unix socket path must not be empty")
        _check_ssl_context(ssl_context)
        self.path = path
        self.ssl_context = ssl_context

    def __repr__(self) -> str:
        return f"UnixSocketTransport({self.path!r})"

    async def connect(self, origin: Origin) -> trio.abc.Stream:
        try:
            stream: trio.abc.Stream = await trio.open_unix_socket(self.path)
        except OSError as exc:
            error = SSEConnectionError(f"cannot connect to the Unix socket {self.path!r}: {exc}")
            raise _with_cause(error, exc, retryable=True) from None
        if origin.scheme == "https":
            return await start_tls(stream, origin, self.ssl_context)
        return stream


class ConnectorTransport:
    """A transport made of one ``async def connect(origin) -> trio.abc.Stream``."""

    def __init__(self, connect: Connector) -> None:
        if not callable(connect):
            raise TypeError("a connector must be an async function taking an Origin")
        self._connect = connect

    def __repr__(self) -> str:
        return f"ConnectorTransport({self._connect!r})"

    async def connect(self, origin: Origin) -> trio.abc.Stream:
        stream = await self._connect(origin)
        if not isinstance(stream, trio.abc.Stream):
            # A bug in the connector, not a network failure: never retried.
            raise TransportError(
                SSEError(f"the connector returned {type(stream).__name__}, not a trio.abc.Stream"),
                retryable=False,
            )
        return stream


Connector: TypeAlias = Callable[[Origin], Awaitable[trio.abc.Stream]]
"""An ``async def connect(origin) -> trio.abc.Stream``: accepted wherever a Transport is."""


def as_transport(value: object) -> Transport:
    """A Transport from what a user passed: a transport, or an async connect function."""
    if isinstance(value, Transport):
        return value
    if callable(value):
        return ConnectorTransport(value)
    raise TypeError(
        "transport must have an async connect(origin) method or be an async function "
        f"taking an Origin, not {type(value).__name__}"
    )


def _check_ssl_context(ssl_context: object) -> None:
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise TypeError("ssl_context must be an ssl.SSLContext or None")
