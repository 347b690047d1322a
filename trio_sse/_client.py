"""SSEClient and SSEConfig: the analogue of Ktor's ``HttpClient { install(SSE) { ... } }``.

A client holds settings shared by its sessions; each ``sse()`` / ``sse_session()`` call
may override the per-call ones. All arguments are validated at the call, before any
connection is made, so a typo is a ValueError or TypeError where it was written.
"""

from __future__ import annotations

import inspect
import math
import ssl
import sys
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar, overload

import trio

from ._decoders import DEFAULT_ACCEPT_ENCODING
from ._deserialize import Deserializer, EventTyper, check_model, default_deserialize
from ._events import ServerSentEvent, TypedServerSentEvent
from ._groups import unwrap
from ._parser import DEFAULT_MAX_EVENT_SIZE, check_last_event_id
from ._proxy_transport import build_transport
from ._reconnect import Backoff
from ._request import (
    HeadersFunction,
    HeadersSource,
    PreparedRequest,
    check_accept_encoding,
    check_headers,
    prepare_request,
    unsendable_id_character,
)
from ._response import SSEResponse
from ._retry import ConnectionFailure, RetryStrategy
from ._session import SessionOptions, SSESession
from ._transport import Connector, Transport

if sys.version_info < (3, 11):  # trio depends on the backport there
    from exceptiongroup import BaseExceptionGroup
if TYPE_CHECKING:  # typing.Unpack is 3.11+; runtime dependencies stay trio and h11
    from typing_extensions import Unpack

__all__ = [
    "CallOptions",
    "ClientOptions",
    "OpenOptions",
    "SSEClient",
    "SSEConfig",
    "open_sse_session",
]

T = TypeVar("T")
HeadersArg = Mapping[str, str] | Iterable[tuple[str, str]] | HeadersFunction | None
"""Headers as a mapping or (name, value) pairs, or an async function returning them that
is awaited before every connection attempt (fresh credentials on each reconnect)."""
OnOpen = Callable[[SSEResponse], object]
"""``on_open(response)``: called in the reader task each time a stream opens."""
OnError = Callable[[ConnectionFailure, "float | None"], object]
"""``on_error(failure, retry_in)``: called in the reader task for each failure, before
the reconnection delay (``retry_in`` seconds; None when the session ends with it)."""
StaticHeaders = Mapping[str, str] | Iterable[tuple[str, str]] | None
DeserializeErrors = Literal["raise", "skip"]


class CallOptions(TypedDict, total=False):
    """The per-call keywords of ``SSEClient.sse`` and ``SSEClient.sse_session`` (and of
    ``open_sse_session``), besides ``url`` and ``model``: the one definition both mypy
    and the runtime check read. An option left out takes the client's value."""

    scheme: str | None  # with host/port/path instead of a URL
    host: str | None
    port: int | None
    path: str | None
    method: str  # default "GET"
    headers: HeadersArg  # replace the client's headers of the same name; or an async function
    content: bytes | str | None  # the request body, re-sent on every reconnect
    json: Any  # a body encoded as JSON, with Content-Type: application/json
    reconnection_time: float
    max_reconnection_attempts: int | None
    show_comment_events: bool
    show_retry_events: bool
    last_event_id: str | None  # the ID the first request resumes from (ValueError if unsendable)
    follow_redirects: bool  # False: a 3xx is an SSEResponseError carrying that response
    allow_insecure_redirects: bool  # True: follow https -> http (without the user's headers)
    on_open: OnOpen | None  # called with the response each time a stream opens
    on_error: OnError | None  # called with each failure and the delay before the next try
    retry_strategy: RetryStrategy | None  # the last word on each failure: stop, or when
    deserialize: Deserializer  # (type, text) -> object, Ktor's (TypeInfo, String) -> Any
    on_deserialize_error: DeserializeErrors


class ClientOptions(TypedDict, total=False):
    """The keywords of ``SSEClient()``, for ``open_sse_session`` (see SSEConfig)."""

    reconnection_time: float
    max_reconnection_attempts: int | None
    backoff: Backoff | None
    show_comment_events: bool
    show_retry_events: bool
    headers: HeadersArg
    follow_redirects: bool
    allow_insecure_redirects: bool
    read_timeout: float | None
    connect_timeout: float | None
    max_event_size: int
    ssl_context: ssl.SSLContext | None
    transport: Transport | Connector | None
    uds: str | None
    proxy: str | None
    trust_env: bool
    on_open: OnOpen | None
    on_error: OnError | None
    retry_strategy: RetryStrategy | None
    accept_encoding: str | None
    deserialize: Deserializer
    on_deserialize_error: DeserializeErrors


class OpenOptions(ClientOptions, CallOptions, total=False):
    """The keywords of ``open_sse_session``: the client's and the call's."""


_CALL_OPTIONS = frozenset(CallOptions.__optional_keys__)
# Per-call options that override a field of the client's SSEConfig when given.
_CONFIG_OVERRIDES = (_CALL_OPTIONS & frozenset(ClientOptions.__optional_keys__)) - {"headers"}
_CLIENT_ONLY = frozenset(ClientOptions.__optional_keys__) - _CALL_OPTIONS


def _check_keywords(function: str, options: Mapping[str, object], known: frozenset[str]) -> None:
    """TypeError naming the public function the user called, as Python's own would."""
    for name in options:
        if name not in known:
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}")


def _check_seconds(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def _check_attempts(value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("max_reconnection_attempts must be an int (0 = off) or None (no limit)")
    if value < 0:
        raise ValueError(f"max_reconnection_attempts must be >= 0 or None, got {value}")


@dataclass(frozen=True, slots=True)
class SSEConfig:
    """Client-wide settings. Times are in seconds; ``max_reconnection_attempts`` is
    0 (never reconnect, Ktor's default) or a count per outage, or None for no limit."""

    reconnection_time: float = 3.0
    max_reconnection_attempts: int | None = 0
    backoff: Backoff | None = None
    show_comment_events: bool = False
    show_retry_events: bool = False
    headers: tuple[tuple[str, str], ...] | HeadersFunction = ()
    """Checked (name, value) pairs, or the async function that gives them per attempt."""
    follow_redirects: bool = True
    """Follow 301/302/303/307/308 (at most MAX_REDIRECTS); False: a 3xx is an
    SSEResponseError carrying that response."""
    allow_insecure_redirects: bool = False
    """Follow a redirect from https to http. Refused by default (SSEResponseError): the
    request would travel unencrypted. Even then none of your headers follow it (a 307/308
    repeats the body, and Last-Event-ID is sent to resume the stream)."""
    read_timeout: float | None = None
    connect_timeout: float | None = 10.0
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False)
    transport: Transport | Connector | None = field(default=None, compare=False)
    """Opens each connection's byte stream; None: TCP (and TLS for https)."""
    uds: str | None = None
    """Connect every request to this Unix socket instead of the URL's host."""
    proxy: str | None = field(default=None, repr=False)  # may hold a password
    """``http://[user:pass@]host:port``: every request goes through this proxy."""
    trust_env: bool = True
    """Without ``proxy``/``uds``/``transport``: use HTTP(S)_PROXY, ALL_PROXY, NO_PROXY."""
    on_open: OnOpen | None = field(default=None, compare=False)
    """``on_open(response)``: a stream opened. A plain function, run in the reader task."""
    on_error: OnError | None = field(default=None, compare=False)
    """``on_error(failure, retry_in)``: a connection failed or a stream was lost; the
    next attempt is in ``retry_in`` seconds (None: the session ends with this error)."""
    retry_strategy: RetryStrategy | None = field(default=None, compare=False)
    """``retry_strategy(failure, delay)``: None to stop, else the seconds to wait; ``delay``
    is the built-in policy's proposal (None: it would stop). See ConnectionFailure."""
    accept_encoding: str | None = DEFAULT_ACCEPT_ENCODING
    """Sent as Accept-Encoding: ``gzip, deflate`` plus ``br`` and ``zstd`` when their
    decoders are installed; None sends none. A user Accept-Encoding header wins."""
    deserialize: Deserializer = default_deserialize
    """``deserialize(type, text)``: Ktor's ``(TypeInfo, String) -> Any``, called by
    ``session.deserialize(T, data)`` and for typed events (``model=``); the default reads
    JSON into dataclasses, TypedDicts, containers, pydantic models and msgspec Structs."""
    on_deserialize_error: DeserializeErrors = "raise"
    """For typed events: "raise" ends the stream with SSEDeserializationError after the
    good events before the bad one; "skip" logs the bad event and drops it."""

    def __post_init__(self) -> None:
        _check_seconds("reconnection_time", self.reconnection_time, optional=False)
        _check_attempts(self.max_reconnection_attempts)
        _check_seconds("read_timeout", self.read_timeout, optional=True)
        _check_seconds("connect_timeout", self.connect_timeout, optional=True)
        if self.read_timeout == 0 or self.connect_timeout == 0:
            raise ValueError("timeouts must be positive, or None for no timeout")
        if isinstance(self.max_event_size, bool) or not isinstance(self.max_event_size, int):
            raise TypeError("max_event_size must be an int")
        if self.max_event_size < 1:
            raise ValueError("max_event_size must be positive")
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise TypeError(
                "backoff must be an ExponentialBackoff, another Backoff (reset_after and "
                "delay(n, base, rng)) or None"
            )
        for name in ("follow_redirects", "allow_insecure_redirects"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False")
        if self.ssl_context is not None and not isinstance(self.ssl_context, ssl.SSLContext):
            raise TypeError("ssl_context must be an ssl.SSLContext or None")
        check_accept_encoding(self.accept_encoding)
        _check_callback("on_open", self.on_open)
        _check_callback("on_error", self.on_error)
        _check_callback("retry_strategy", self.retry_strategy)
        if not callable(self.deserialize):
            raise TypeError("deserialize must be a function of (type, text)")
        if self.on_deserialize_error not in ("raise", "skip"):
            raise ValueError("on_deserialize_error must be 'raise' or 'skip'")


def _check_callback(name: str, callback: object) -> None:
    if callback is None:
        return
    if not callable(callback):
        raise TypeError(f"{name} must be a function or None")
    if inspect.iscoroutinefunction(callback):
        raise TypeError(
            f"{name} must be a plain function: it runs inside the reader task and must not "
            "block (to do async work, send to a memory channel or start a task from it)"
        )


def _header_items(headers: StaticHeaders) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError("headers must be a mapping or an iterable of (name, value) pairs")
    return items


def _merge_headers(
    base: Iterable[tuple[str, str]], override: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The call's headers replace the client's headers of the same name."""
    override = list(override)
    replaced = {name.lower() for name, _ in override if isinstance(name, str)}
    return [(n, v) for n, v in base if n.lower() not in replaced] + override


class SSEClient:
    """Opens event-stream sessions with shared settings (see SSEConfig for each one).

    ``async with client.sse(url) as session`` is Ktor's ``sse { }``: the session and its
    reader live inside the block. ``await nursery.start(client.sse_session, url)`` is
    Ktor's ``sseSession()``: the reader lives in your nursery until ``session.aclose()``.

    ``on_open(response)`` and ``on_error(failure, retry_in)`` report the connection's
    life as it happens. They are callbacks rather than marker items in the event stream
    because the first attempts, retries included, run before ``async with`` hands over
    the session, when nobody iterates yet; because a failure should be seen when it
    happens, not behind buffered events; and so that the stream's items stay events.
    They run inside the reader task, so they must be plain functions that return at
    once: for async work, ``send_nowait`` to a memory channel or start a task in a
    nursery of yours. What they raise ends the session as an SSEError.

    Events are ServerSentEvents; ``session.deserialize(T, ev.data)`` builds a T from one
    with the client's ``deserialize`` (Ktor's form), and ``sse(url, model=T)`` (or a
    mapping from event type to type) asks for TypedServerSentEvents instead.

    Header values are checked at the call: a control character other than HTAB is a
    ValueError. A reconnect resumes from the last event ID; one that no header can carry
    (a server's ``id:`` holding U+000B or U+000C, or only spaces and tabs) ends the
    session with SSEProtocolError at the reconnect, rather than being dropped and the
    stream replayed from its start.
    """

    def __init__(
        self,
        *,
        reconnection_time: float = 3.0,
        max_reconnection_attempts: int | None = 0,
        backoff: Backoff | None = None,
        show_comment_events: bool = False,
        show_retry_events: bool = False,
        headers: HeadersArg = None,
        follow_redirects: bool = True,
        allow_insecure_redirects: bool = False,
        read_timeout: float | None = None,
        connect_timeout: float | None = 10.0,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        ssl_context: ssl.SSLContext | None = None,
        transport: Transport | Connector | None = None,
        uds: str | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        on_open: OnOpen | None = None,
        on_error: OnError | None = None,
        retry_strategy: RetryStrategy | None = None,
        accept_encoding: str | None = DEFAULT_ACCEPT_ENCODING,
        deserialize: Deserializer = default_deserialize,
        on_deserialize_error: DeserializeErrors = "raise",
    ) -> None:
        self.config = SSEConfig(
            reconnection_time=reconnection_time,
            max_reconnection_attempts=max_reconnection_attempts,
            backoff=backoff,
            show_comment_events=show_comment_events,
            show_retry_events=show_retry_events,
            headers=headers if callable(headers) else tuple(check_headers(_header_items(headers))),
            follow_redirects=follow_redirects,
            allow_insecure_redirects=allow_insecure_redirects,
            read_timeout=read_timeout,
            connect_timeout=connect_timeout,
            max_event_size=max_event_size,
            ssl_context=ssl_context,
            transport=transport,
            uds=uds,
            proxy=proxy,
            trust_env=trust_env,
            on_open=on_open,
            on_error=on_error,
            retry_strategy=retry_strategy,
            accept_encoding=accept_encoding,
            deserialize=deserialize,
            on_deserialize_error=on_deserialize_error,
        )
        # The environment is read now, once: a client behaves the same all its life.
        self.transport: Transport = build_transport(
            transport=transport, uds=uds, proxy=proxy, trust_env=trust_env, ssl_context=ssl_context
        )
        """What opens the byte streams of this client's sessions."""

    def __repr__(self) -> str:
        return f"SSEClient({self.config!r})"

    @overload
    def sse(
        self,
        url: str | None = None,
        *,
        model: None = None,
        **options: Unpack[CallOptions],
    ) -> AbstractAsyncContextManager[SSESession[ServerSentEvent]]: ...

    @overload
    def sse(
        self,
        url: str | None = None,
        *,
        model: type[T],
        **options: Unpack[CallOptions],
    ) -> AbstractAsyncContextManager[SSESession[TypedServerSentEvent[T]]]: ...

    @overload
    def sse(
        self,
        url: str | None = None,
        *,
        model: dict[str, type],  # a dict literal: mypy joins its values, no union
        **options: Unpack[CallOptions],
    ) -> AbstractAsyncContextManager[SSESession[TypedServerSentEvent[Any] | ServerSentEvent]]: ...

    @overload
    def sse(
        self,
        url: str | None = None,
        *,
        model: Mapping[str, type[T]],
        **options: Unpack[CallOptions],
    ) -> AbstractAsyncContextManager[SSESession[TypedServerSentEvent[T] | ServerSentEvent]]: ...

    @overload
    def sse(
        self,
        url: str | None = None,
        *,
        model: Mapping[str, Any],
        **options: Unpack[CallOptions],
    ) -> AbstractAsyncContextManager[SSESession[TypedServerSentEvent[Any] | ServerSentEvent]]: ...

    @overload
    def sse(
        self,
        url: str | None = None,
        *,
        model: Any,
        **options: Unpack[CallOptions],
    ) -> AbstractAsyncContextManager[SSESession[TypedServerSentEvent[Any]]]: ...

    def sse(
        self,
        url: str | None = None,
        *,
        model: Any = None,
        **options: Unpack[CallOptions],
    ) -> AbstractAsyncContextManager[SSESession[Any]]:
        """Open a session for the duration of an ``async with`` block.

        Entering waits until the server has accepted the stream (retrying first
        attempts if reconnection is on) and raises if it refuses; leaving closes
        the connection at once, whether or not all events were read. The keywords
        are those of CallOptions; an unknown one is a TypeError here.

        Events are ServerSentEvent unless ``model`` asks for typed ones: with a type,
        every event is a TypedServerSentEvent whose ``data`` is built by ``deserialize``
        (JSON into dataclasses, TypedDicts, containers, pydantic models, msgspec
        Structs by default); with a mapping from event type to type (the default type
        is "message"), events of those types are typed and the others left as they
        are. For mypy to see the union of a mapping's types, give the mapping a type:
        ``MODELS: Mapping[str, type[A] | type[B]] = {"a": A, "b": B}``.
        """
        _check_keywords("SSEClient.sse", options, _CALL_OPTIONS)
        session_options = self._session_options(url, model, options)
        # Not ``SSESession[Any](...)``: calling a subscripted generic tries to store
        # ``__orig_class__`` on every instance (a slotted session has no room for it).
        session: SSESession[Any] = SSESession(session_options)
        return _SessionScope(session)

    async def sse_session(
        self,
        url: str | None = None,
        *,
        model: Any = None,
        task_status: trio.TaskStatus[SSESession[Any]] = trio.TASK_STATUS_IGNORED,
        **options: Unpack[CallOptions],
    ) -> None:
        """The reading task of an open session, for ``session = await nursery.start(...)``.

        ``nursery.start`` passes positional arguments only: use ``functools.partial``
        for ``model`` (as in ``sse``) and the options (those of CallOptions). The task
        returns when the stream ends or ``session.aclose()`` is called; errors after the
        start are raised to the session's consumer, so they never tear down your nursery.
        """
        _check_keywords("SSEClient.sse_session", options, _CALL_OPTIONS)
        session_options = self._session_options(url, model, options)
        session: SSESession[Any] = SSESession(session_options)
        reading = session.run(task_status)
        del task_status  # the session lets go of it once started; so must this frame
        await reading

    def _session_options(
        self,
        url: str | None,
        model: Any,
        options: CallOptions,
    ) -> SessionOptions:
        """The call's options merged over the client's and validated (the keywords
        were checked against CallOptions by the public method the user called)."""
        config = self.config
        overrides: dict[str, Any] = {
            name: value for name, value in options.items() if name in _CONFIG_OVERRIDES
        }
        if overrides:
            config = replace(config, **overrides)
        typer = None
        if model is not None:
            check_model(model, config.deserialize)
            skip = config.on_deserialize_error == "skip"
            typer = EventTyper(model, config.deserialize, skip=skip)
        last_event_id = options.get("last_event_id")
        check_last_event_id(last_event_id)
        if last_event_id is not None and (bad := unsendable_id_character(last_event_id)):
            raise ValueError(f"last_event_id holds U+{ord(bad):04X}, which no header can carry")
        if last_event_id and not last_event_id.strip(" \t"):
            raise ValueError("last_event_id is only spaces or tabs, which no header can carry")
        sources: list[HeadersSource] = []
        client_headers, call_headers = config.headers, options.get("headers")
        call_static = [] if callable(call_headers) else _header_items(call_headers)
        if callable(client_headers):  # the call's static headers win over its answers
            overridden = frozenset(name.lower() for name, _ in check_headers(call_static))
            sources.append(HeadersSource(client_headers, overridden))
            client_headers = ()
        if callable(call_headers):
            sources.append(HeadersSource(call_headers))
        request: PreparedRequest = prepare_request(
            url,
            scheme=options.get("scheme"),
            host=options.get("host"),
            port=options.get("port"),
            path=options.get("path"),
            method=options.get("method", "GET"),
            headers=_merge_headers(client_headers, call_static),
            content=options.get("content"),
            json=options.get("json"),
            accept_encoding=config.accept_encoding,
        )
        return SessionOptions(
            request=request,
            reconnection_time=config.reconnection_time,
            max_reconnection_attempts=config.max_reconnection_attempts,
            backoff=config.backoff,
            show_comment_events=bool(config.show_comment_events),
            show_retry_events=bool(config.show_retry_events),
            max_event_size=config.max_event_size,
            last_event_id=last_event_id,
            read_timeout=config.read_timeout,
            connect_timeout=config.connect_timeout,
            transport=self.transport,
            deserialize=config.deserialize,
            typer=typer,
            headers_sources=tuple(sources),
            on_open=config.on_open,
            on_error=config.on_error,
            follow_redirects=config.follow_redirects,
            allow_insecure_redirects=config.allow_insecure_redirects,
            retry_strategy=config.retry_strategy,
        )


class _Opening:
    """The ``task_status`` of a block's reader: the block waits for ``started``.

    ``await nursery.start(session.run)`` would do the same, but trio parks the starting
    task in a nursery of its own (with its cancel scope and status, about 1.3 KiB)
    until it calls ``started``, and thousands of streams opening at once all wait
    there together: that peak stays in the process's resident memory. For the same
    reason the block parks itself here, not on a ``trio.Event`` (an object and a set
    more). If the reader fails first, the nursery cancels the wait and raises the
    reader's error.
    """

    __slots__ = ("_opened", "_waiter")

    def __init__(self) -> None:
        self._opened = False
        self._waiter: trio.lowlevel.Task | None = None

    def started(self, value: SSESession[Any] | None = None) -> None:
        self._opened = True
        if self._waiter is not None:
            trio.lowlevel.reschedule(self._waiter)
            self._waiter = None

    async def wait(self) -> None:
        if self._opened:
            await trio.lowlevel.checkpoint()
            return
        self._waiter = trio.lowlevel.current_task()
        await trio.lowlevel.wait_task_rescheduled(self._abort)

    def _abort(self, _: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        self._waiter = None
        return trio.lowlevel.Abort.SUCCEEDED


class _SessionScope:
    """The ``async with`` of ``SSEClient.sse()``: the session's reader runs in a nursery
    of our own for the life of the block.

    The block's own exception leaves exactly as it was raised, never wrapped or
    flattened (but for a run with ``strict_exception_groups=False``, where a cancel
    that ``aclose()`` raises as the block leaves takes its place, as it would from any
    ``async with`` of a nursery); the reader's errors leave as themselves, never in an
    ExceptionGroup. Entered once, like the generator-based context managers.

    A class, as trio's own NurseryManager is, not an ``@asynccontextmanager``: the
    generator's frame and its wrapper (about 0.5 KiB, three objects for the collector)
    would be kept by each of thousands of open streams for its whole life. Entering
    and leaving the nursery by hand does what ``async with`` would (``_leave``).
    """

    __slots__ = ("_entered", "_nursery_manager", "_session")

    def __init__(self, session: SSESession[Any]) -> None:
        self._session = session
        self._nursery_manager: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._entered = False

    async def __aenter__(self) -> SSESession[Any]:
        if self._entered:
            raise RuntimeError("an sse() block can be entered only once: call sse() again")
        self._entered = True
        manager = trio.open_nursery()
        nursery = await manager.__aenter__()
        try:
            opening = _Opening()
            nursery.start_soon(self._session.run, opening)
            await opening.wait()
            del opening
        except BaseException as exc:
            # The reader failed before the stream opened (the nursery then cancelled
            # the wait), or the caller was cancelled: the nursery says what leaves.
            error = await _leave(manager, exc)
        else:
            self._nursery_manager = manager
            return self._session
        # Raised outside the except clause: the wait's Cancelled, which is ours, must
        # not become the error's __context__ in place of its own.
        assert error is not None  # only a failing reader cancels our nursery
        raise error from error.__cause__

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        manager = self._nursery_manager
        if manager is None:  # a misuse, kept an error under ``python -O`` too
            raise RuntimeError("an sse() block was left without being entered, or twice")
        self._nursery_manager = None
        session = self._session
        unreported = None
        if exc is None:
            # Judged before aclose(), which drops the unread events: a consumer that
            # left events unread stopped early and is not told of a later error.
            unreported = session.unreported_error()
        try:
            await session.aclose()
        except BaseException as raised:  # Cancelled from aclose()'s checkpoint
            error = await _leave(manager, raised, body_error=exc)
        else:
            error = await _leave(manager, None, body_error=exc)
        if error is None or error is exc:
            if unreported is not None:
                raise unreported
            return False  # the block's own exception, if any, leaves as it was raised
        raise error from error.__cause__


async def _leave(
    manager: AbstractAsyncContextManager[trio.Nursery],
    raised: BaseException | None,
    *,
    body_error: BaseException | None = None,
) -> BaseException | None:
    """Leave our nursery as ``async with`` would, ``raised`` being what the code inside
    it raised (None: nothing), and say what must leave the block: the reader's error
    (unwrapped from the nursery's group) if it outranks ``body_error`` (the block's
    own), else ``body_error``, else the reader's error. None when nothing must.

    As from ``async with``, an exception the nursery lets out as it is (not a group:
    a run with ``strict_exception_groups=False``) leaves at once. A group of more than
    one error is the reader's error as it is: a bug to see whole.
    """
    reader_error: BaseException | None = None
    try:
        if raised is None:
            await manager.__aexit__(None, None, None)
        elif not await manager.__aexit__(type(raised), raised, raised.__traceback__):
            raise raised
    except BaseExceptionGroup as group:
        # The reader raises only before it started (then the block never ran) and
        # Cancelled; anything else here is the group itself, a bug to see whole.
        reader_error = unwrap(group)
    if _outranks(reader_error, body_error):
        # KeyboardInterrupt, SystemExit...: the reader died of it and the block only saw
        # the Cancelled that followed. Ctrl-C must leave as itself, never as Cancelled.
        return reader_error
    if body_error is not None:
        return body_error
    return reader_error


def _outranks(reader_error: BaseException | None, body_error: BaseException | None) -> bool:
    """The reader's error wins over the block's when it is a BaseException that is not
    an Exception (the reader translates every Exception), not Cancelled, not a group."""
    if reader_error is None or body_error is None or isinstance(reader_error, Exception):
        return False
    return not isinstance(reader_error, (trio.Cancelled, BaseExceptionGroup))


@overload
def open_sse_session(
    url: str | None = None,
    *,
    model: None = None,
    **options: Unpack[OpenOptions],
) -> AbstractAsyncContextManager[SSESession[ServerSentEvent]]: ...


@overload
def open_sse_session(
    url: str | None = None,
    *,
    model: type[T],
    **options: Unpack[OpenOptions],
) -> AbstractAsyncContextManager[SSESession[TypedServerSentEvent[T]]]: ...


@overload
def open_sse_session(
    url: str | None = None,
    *,
    model: dict[str, type],  # a dict literal: mypy joins its values, no union
    **options: Unpack[OpenOptions],
) -> AbstractAsyncContextManager[SSESession[TypedServerSentEvent[Any] | ServerSentEvent]]: ...


@overload
def open_sse_session(
    url: str | None = None,
    *,
    model: Mapping[str, type[T]],
    **options: Unpack[OpenOptions],
) -> AbstractAsyncContextManager[SSESession[TypedServerSentEvent[T] | ServerSentEvent]]: ...


@overload
def open_sse_session(
    url: str | None = None,
    *,
    model: Mapping[str, Any],
    **options: Unpack[OpenOptions],
) -> AbstractAsyncContextManager[SSESession[TypedServerSentEvent[Any] | ServerSentEvent]]: ...


@overload
def open_sse_session(
    url: str | None = None,
    *,
    model: Any,
    **options: Unpack[OpenOptions],
) -> AbstractAsyncContextManager[SSESession[TypedServerSentEvent[Any]]]: ...


def open_sse_session(
    url: str | None = None,
    *,
    model: Any = None,
    **options: Unpack[OpenOptions],
) -> AbstractAsyncContextManager[SSESession[Any]]:
    """``async with open_sse_session(url, **options) as events: async for ev in events``.

    Shorthand for ``SSEClient(**client_options).sse(url, model=model, **call_options)``:
    options are the keyword arguments of SSEClient and of SSEClient.sse (OpenOptions).
    """
    _check_keywords("open_sse_session", options, _OPEN_OPTIONS)
    client_options: dict[str, Any] = {}
    call_options: dict[str, Any] = {}
    for name, value in options.items():
        (client_options if name in _CLIENT_ONLY else call_options)[name] = value
    client = SSEClient(**client_options)
    return client.sse(url, model=model, **call_options)


_OPEN_OPTIONS = frozenset(OpenOptions.__optional_keys__)
