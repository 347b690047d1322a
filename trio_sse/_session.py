"""SSESession: the Trio driver that moves bytes between a socket and the parser.

Everything that decides lives in the sans-IO modules (_parser, _request, _exchange,
_judge, _reconnect);
this module only connects, reads, sleeps and cancels. One reader task per session
runs the reconnect loop; each connection lives inside that task, in a cancel scope of
its own, and is closed before the next one opens, so cancelling the connection's scope
(``aclose()``) ends everything at once.

Events go to the consumer through an EventHandoff (bounded, batched per network read):
a slow consumer stops the reader, which stops reading the socket, so TCP flow control
pushes back on the server and memory stays bounded.
"""

from __future__ import annotations

import enum
import functools
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar, overload

import trio

from ._deserialize import Deserializer, EventTyper
from ._exceptions import (
    SSEConnectionError,
    SSEDeserializationError,
    SSEError,
    SSEProtocolError,
    SSEProxyError,
    SSEResponseError,
    SSETimeoutError,
)
from ._exchange import HTTPExchange
from ._framing import Spliced
from ._handoff import EventHandoff
from ._judge import EndStream, FollowRedirect, OpenStream, Reject, RetryLater, judge_response
from ._parser import SSEParser
from ._reading import ByteReader, reader_for
from ._reconnect import (
    MAX_RETRY_AFTER,
    Backoff,
    ReconnectPolicy,
    clamp_server_retry,
    parse_retry_after,
)
from ._request import HeadersSource, PreparedRequest
from ._response import SSEResponse
from ._retry import ConnectionFailure, Outage, RetryStrategy
from ._transport import (
    Forwarding,
    Origin,
    Transport,
    forwarding_for,
    lost_connection,
    translate_error,
)

__all__ = ["SSESession", "SessionOptions", "SessionState", "SessionStatistics"]

log = logging.getLogger("trio_sse")

# Decoded body bytes parsed between two checkpoints at most (one plain read's worth):
# a compressed body can inflate to megabytes that yield no event and need no read, and
# without this the whole Trio run would freeze while they are parsed.
CHECKPOINT_BYTES = 64 * 1024
ERROR_BODY_TIMEOUT = 2.0  # seconds to collect the body of a rejected response

EventT = TypeVar("EventT")
T = TypeVar("T")


class SessionState(enum.Enum):
    """Where the session is in its life; see ``SSESession.statistics()``."""

    CONNECTING = "connecting"
    OPEN = "open"
    WAITING = "waiting"  # for the next reconnection attempt
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class SessionStatistics:
    """A snapshot of a session's counters, in the spirit of trio's ``statistics()``."""

    state: SessionState
    events_received: int  # events handed to the incoming channel
    events_buffered: int  # of those, not yet taken by the consumer
    bytes_received: int  # raw bytes read from the sockets
    connection_attempts: int  # TCP connections opened, redirects and retries included
    streams_opened: int  # responses that opened an event stream
    reconnects: int  # reconnection attempts made after a loss or a failure
    reconnection_attempts: int  # consecutive failed attempts of the current outage
    last_error: SSEError | None


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Everything one session needs, already merged from the client and the call."""

    request: PreparedRequest
    reconnection_time: float
    max_reconnection_attempts: int | None
    backoff: Backoff | None
    show_comment_events: bool
    show_retry_events: bool
    max_event_size: int
    last_event_id: str | None
    read_timeout: float | None
    connect_timeout: float | None
    transport: Transport  # opens each connection's byte stream (TCP/TLS, proxy, socket)
    deserialize: Deserializer  # Ktor's (TypeInfo, String) -> Any, for deserialize()
    typer: EventTyper | None  # the call asked for typed events (``model``)
    headers_sources: tuple[HeadersSource, ...] = ()  # awaited before every attempt
    follow_redirects: bool = True
    allow_insecure_redirects: bool = False  # https -> http
    on_open: Callable[[SSEResponse], object] | None = None
    on_error: Callable[[ConnectionFailure, float | None], object] | None = None
    retry_strategy: RetryStrategy | None = None
    own_ids: bool = False  # each event's id is its block's own id line (SSEParser)


_Answer = OpenStream | EndStream | Reject | RetryLater  # a judged response, redirects followed


class _AttemptFailed(Exception):
    """Internal: this connection attempt failed in a way a reconnect may cure.

    ``error`` is what the user sees if no attempt is left; ``cause`` becomes its
    ``__cause__``, so the original network failure is never lost.
    """

    def __init__(
        self,
        error: SSEError,
        cause: BaseException | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(str(error))
        if cause is not None:
            error.__cause__ = cause
        self.error = error
        self.retry_after = retry_after


class _CallbackError(SSEError):
    """User code (on_open, on_error, retry_strategy, a headers function) raised or
    misbehaved: ends the session, never retried."""


class _ConsumerGone(Exception):
    """Internal: the consumer closed the incoming channel; stop quietly."""


class SSESession(trio.abc.AsyncResource, Generic[EventT]):
    """An open event stream: iterate it with ``async for``, or read ``incoming``.

    Created by ``SSEClient.sse()`` / ``open_sse_session()`` (block-scoped) or
    ``nursery.start(client.sse_session, url)`` (the reader lives in your nursery).
    An error that ends the stream is raised by the iteration after the events that
    came before it; ``aclose()`` stops everything promptly, events unread or not.
    """

    # Slots, not a dict: one session per stream, for the stream's whole life.
    __slots__ = (
        "_bytes",
        "_cancel_scope",
        "_closing",
        "_connecting_to",
        "_connection_attempts",
        "_error",
        "_error_raised",
        "_events",
        "_finished",
        "_handoff",
        "_incoming_used",
        "_last_error",
        "_last_event_id",
        "_options",
        "_outage",
        "_parser",
        "_policy",
        "_reader_done",
        "_reader_task",
        "_reconnects",
        "_response",
        "_run_started",
        "_started",
        "_state",
        "_streams_opened",
        "_task_status",
        "_told_healthy",
    )

    def __init__(self, options: SessionOptions) -> None:
        self._options = options
        self._handoff: EventHandoff[Any] = EventHandoff()
        # The connection's cancel scope: a new one for each connection (the wait before
        # it included). aclose() cancels it; its deadline is the connection's clock,
        # connect_timeout until the head is judged, then read_timeout's silence.
        # One scope for the three, not one each: an entered scope costs about 0.6 KiB,
        # and with thousands of streams connecting at once, a connect_timeout scope of
        # its own, freed after the head, left that much per stream in holes the
        # process keeps (benchmarks/RESULTS.md, "Memory left by opening").
        self._cancel_scope = trio.CancelScope()
        self._closing = False  # aclose() was called: no connection after this one
        # While connect_timeout runs, the URL being connected (for the timeout's message).
        self._connecting_to: str | None = None
        self._policy = ReconnectPolicy(
            reconnection_time=options.reconnection_time,
            max_attempts=options.max_reconnection_attempts,
            backoff=options.backoff,
        )
        self._parser: SSEParser | None = None
        self._last_event_id = options.last_event_id
        self._response: SSEResponse | None = None
        self._state = SessionState.CONNECTING
        self._error: SSEError | None = None
        self._error_raised = False
        self._incoming_used = False  # the consumer took ``incoming``, which cannot raise
        self._last_error: SSEError | None = None
        self._run_started = False
        self._outage = Outage(0.0)  # made again when the reader starts, on its clock
        self._started = False
        # Held only until the first response is accepted: trio's _TaskStatus keeps the
        # start-up nursery (its cancel scope and status) alive while anyone holds it.
        self._task_status: trio.TaskStatus[SSESession[EventT]] | None = None
        self._reader_done = False
        # Made only when aclose() has to wait for the reader: a trio.Event per stream
        # costs about 0.8 KiB, and most sessions end without anyone waiting.
        self._finished: trio.Event | None = None
        self._reader_task: trio.lowlevel.Task | None = None
        self._events = 0
        # The open stream has delivered an event, and the reconnection policy and the
        # outage know it: later events need not tell them again (once per connection).
        self._told_healthy = False
        self._bytes = 0
        self._connection_attempts = 0
        self._streams_opened = 0
        self._reconnects = 0

    # -- what the consumer sees ------------------------------------------------------

    @property
    def response(self) -> SSEResponse:
        """The response head of the current (or last) connection: Ktor's ``call``."""
        if self._response is None:
            raise RuntimeError("the session has not received a response yet")
        return self._response

    @property
    def incoming(self) -> trio.MemoryReceiveChannel[EventT]:
        """The channel of events: Ktor's ``incoming``. It ends (EndOfChannel) when the
        stream does; the error that ended it, if any, is in ``error``.

        Iterating the session itself is faster (events come in batches, not one
        channel operation each) and raises the ending error; use one or the other."""
        self._incoming_used = True
        incoming: trio.MemoryReceiveChannel[EventT] = self._handoff.incoming
        return incoming

    @property
    def error(self) -> SSEError | None:
        """The error that ended the stream, or None (still running, or a clean end)."""
        return self._error

    @property
    def last_event_id(self) -> str | None:
        """The last committed event ID: what a reconnect sends as ``Last-Event-ID``."""
        if self._parser is not None:
            return self._parser.last_event_id
        return self._last_event_id or None

    @property
    def reconnection_time(self) -> float:
        """The current reconnection delay in seconds, after any ``retry:`` from the server."""
        if self._parser is not None and self._parser.retry is not None:
            return clamp_server_retry(self._parser.retry)
        return self._policy.reconnection_time

    @property
    def state(self) -> SessionState:
        return self._state

    def statistics(self) -> SessionStatistics:
        return SessionStatistics(
            state=self._state,
            events_received=self._events,
            events_buffered=self._handoff.buffered(),
            bytes_received=self._bytes,
            connection_attempts=self._connection_attempts,
            streams_opened=self._streams_opened,
            reconnects=self._reconnects,
            reconnection_attempts=self._policy.attempts,
            last_error=self._last_error,
        )

    @overload
    def deserialize(self, model: type[T], data: str | None) -> T | None: ...
    @overload
    def deserialize(self, model: Any, data: str | None) -> Any: ...

    def deserialize(self, model: Any, data: str | None) -> Any:
        """Ktor's ``deserialize<T>(event.data)``: ``data`` built into ``model`` by the
        client's (or call's) ``deserialize`` function; None stays None.

        For choosing the type per event, e.g. by ``ev.event``. A failure is an
        SSEDeserializationError with the function's error as ``__cause__`` (its
        ``event`` is None: only the text is known here); the stream goes on.
        """
        if data is None:
            return None
        try:
            return self._options.deserialize(model, data)
        except Exception as exc:
            name = getattr(model, "__name__", None) or repr(model)
            raise SSEDeserializationError(f"data does not fit {name}: {exc}", None) from exc

    def __aiter__(self) -> SSESession[EventT]:
        return self

    def __anext__(self) -> Awaitable[EventT]:
        """The next event. A checkpoint on every network read and at least every
        FAIR_SHARE events; the ending error, if any, after the last event."""
        # Not a coroutine of its own: the hand-off's is the one a waiting consumer holds.
        return self._handoff.get(self)

    def _end_of_events(self) -> NoReturn:
        if self._error is not None:
            self._error_raised = True
            raise self._error
        raise StopAsyncIteration

    def unreported_error(self) -> SSEError | None:
        """The ending error if the consumer drained the channel without being told of it."""
        if self._error is None or self._error_raised:
            return None
        if not self._incoming_used:
            return None  # iteration raises the error itself; one that stopped early is done
        if self._handoff.buffered():
            return None  # the consumer stopped early: it did not wait for the end
        return self._error

    async def aclose(self) -> None:
        """Stop reading and close the connection. Idempotent; never waits on the network."""
        self._closing = True
        self._cancel_scope.cancel()
        self._handoff.close_consumer()
        if (
            self._run_started
            and not self._reader_done
            and trio.lowlevel.current_task() is not self._reader_task
        ):
            if self._finished is None:
                self._finished = trio.Event()
            with trio.CancelScope(shield=True):
                await self._finished.wait()
        else:
            await trio.lowlevel.checkpoint()
        self._state = SessionState.CLOSED

    # -- the reader task -------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[SSESession[EventT]]) -> None:
        """The reader: connect, reconnect, read. Reports ``self`` to ``task_status`` once
        the first response has been accepted; errors before that propagate, later
        ones are raised to the consumer."""
        if self._run_started:
            raise RuntimeError("an SSESession runs only once")
        self._run_started = True
        self._task_status = task_status
        del task_status  # see _report_started
        self._reader_task = trio.lowlevel.current_task()
        self._outage = Outage(trio.current_time())
        try:
            # Connect, and after each failure or loss ask _next_delay: retry, when, or
            # stop? The loop is here, not in a coroutine of its own: every frame the
            # reader holds is held by each of thousands of idle streams.
            delay: float | None = None  # before the first connection: none
            while True:
                retry_after: float | None = None
                failure: SSEError | None = None
                retryable = True
                scope = self._cancel_scope
                with scope:
                    try:
                        if delay is not None:
                            await trio.sleep(delay)
                            self._reconnects += 1
                        if await self._run_connection():
                            break  # 204: the server says stop
                    except _AttemptFailed as failed:
                        failure = failed.error
                        retry_after = failed.retry_after
                    except (SSEDeserializationError, _CallbackError):
                        raise  # the data or the user's code failed, not the connection
                    except SSEError as exc:
                        failure, retryable = exc, False  # never retried by the policy
                connecting_to, self._connecting_to = self._connecting_to, None
                if self._closing:
                    break  # aclose(): whatever the connection was doing
                if scope.cancelled_caught:  # the connection's clock ran out
                    failure = self._timed_out(connecting_to)
                delay = self._next_delay(failure, retry_after, retryable)
                if delay is None:
                    break
                self._state = SessionState.WAITING
                self._cancel_scope = trio.CancelScope()  # the next connection's
        except _ConsumerGone:
            pass
        except SSEError as exc:
            self._last_error = exc
            if not self._started:
                raise
            self._error = exc
        except trio.Cancelled:
            # Not aclose() (our own scope absorbs that): the task was cancelled from
            # outside, e.g. with the nursery it was started in. A consumer elsewhere
            # must not take that for the end of the stream.
            self._error = SSEError("the session's reader task was cancelled from outside")
            raise
        except Exception as exc:
            # A failure nobody translated is still an SSEError for the consumer (and
            # never tears down the nursery the reader was started in), original as cause.
            error = SSEError(f"unexpected error in the session reader: {exc!r}")
            error.__cause__ = exc
            self._last_error = error
            if not self._started:
                raise error from exc
            self._error = error
        finally:
            # State first, then the channel, synchronously: a consumer woken by the end
            # of the channel must already see the final state and error.
            self._state = SessionState.CLOSED
            self._task_status = None
            self._handoff.close_producer()
            self._reader_done = True
            if self._finished is not None:
                self._finished.set()
        if not self._started:
            # What trio's nursery.start says of a task that returns without calling
            # started(); a starter that waits for started() itself must not wait forever.
            raise RuntimeError("the session's reader ended before its stream opened")

    def _timed_out(self, connecting_to: str | None) -> SSETimeoutError:
        """The error of a connection whose clock ran out: connect_timeout while it was
        connecting to ``connecting_to``, else read_timeout's silence."""
        if connecting_to is not None:
            timeout = self._options.connect_timeout
            return SSETimeoutError(
                f"no response from {connecting_to} within connect_timeout={timeout}s"
            )
        return SSETimeoutError(f"no data for read_timeout={self._options.read_timeout}s")

    def _report_started(self) -> None:
        """Tell the starter the stream is open, once, and let go of its task status."""
        task_status = self._task_status
        if task_status is not None:
            self._task_status = None
            self._started = True
            task_status.started(self)

    def _next_delay(
        self, failure: SSEError | None, retry_after: float | None, retryable: bool
    ) -> float | None:
        """The wait before the next attempt after a connection ended (``failure`` None:
        cleanly), None to end the session quietly; raises the error that ends it.

        The built-in policy proposes a delay (None: it would stop) for the failures it
        retries; the user's ``retry_strategy``, if any, has the last word on every one,
        with the proposal in hand. ``on_error`` hears the decision before the wait.
        """
        policy = self._policy
        url = self._options.request.url
        if failure is None and not policy.enabled:
            return None  # a clean end without reconnection: the iteration just stops
        if failure is not None:
            self._last_error = failure
        now = trio.current_time()
        proposed = None
        if retryable and policy.enabled:
            proposed = policy.next_delay(now, retry_after)
        if failure is None and proposed is None:  # empty streams count as failures
            failure = SSEConnectionError(f"{url} ended the stream without an event")
        error = failure or SSEConnectionError("the server ended the stream")
        record = self._outage.failed(error, now, retry_after, retryable=retryable)
        delay = proposed
        if self._options.retry_strategy is not None:
            delay = _decide(self._options.retry_strategy, record, proposed)
        if self._options.on_error is not None:
            _call_back("on_error", self._options.on_error, record, delay)
        if delay is None:
            if failure is None:
                return None  # the strategy stops after a clean end: so does the session
            if retryable and policy.enabled:
                raise self._give_up(failure)
            raise failure
        limit = "unlimited" if policy.max_attempts is None else policy.max_attempts
        log.info(
            "trio-sse: reconnecting to %s in %.3fs (attempt %d of %s): %s",
            url,
            delay,
            record.attempt,
            limit,
            error,
        )
        return delay

    def _give_up(self, failure: SSEError) -> SSEConnectionError:
        attempts = self._policy.attempts
        error_type = SSETimeoutError if isinstance(failure, SSETimeoutError) else SSEConnectionError
        message = f"{failure} (gave up after {attempts} reconnection attempts)"
        error = error_type(message, attempts=attempts)
        error.__cause__ = failure
        return error

    async def _run_connection(self) -> bool:
        """One connection, from connect to loss: connect, judge the answer, then feed
        body bytes to the parser and events to the consumer until the stream ends.
        True if the server said stop (204).

        One coroutine, not one per phase: every frame a parked read holds is held by
        each of thousands of idle streams for their whole life.
        """
        self._state = SessionState.CONNECTING
        stream, reader, exchange, response, decision = await self._connect(self._options.request)
        try:
            self._response = response
            if isinstance(decision, (RetryLater, Reject)):
                await self._reject(reader, exchange, response, decision)
            if isinstance(decision, EndStream):
                self._report_started()
                return True
            parser = self._stream_opened(exchange, response)
            del response, decision  # the session keeps the one; the other is spent
            read_timeout = self._options.read_timeout
            silence: trio.CancelScope | None = None
            on_block = _nothing
            quiet_limit = 0.0  # read_timeout, as a float, when the clock runs
            if read_timeout is not None:
                quiet_limit = read_timeout
                # The silence clock (the connection's scope's deadline) starts now: body
                # bytes that came with the head were the last read, and chewing them (a
                # compressed body, say) must not outlast read_timeout. Waiting on the
                # consumer is not silence. When it runs out, run() raises the timeout.
                silence = self._cancel_scope
                silence.deadline = trio.current_time() + quiet_limit
                # Not a closure: its cell would be made with every frame, clock or not.
                on_block = functools.partial(_stop_clock, silence)

            unscheduled = 0  # decoded bytes parsed since the last checkpoint
            try:
                while True:
                    try:
                        body = exchange.next_read()
                        if not body and exchange.complete:
                            parser.feed_eof()
                            break
                    except SSEConnectionError as exc:
                        raise _AttemptFailed(exc) from None
                    if body:
                        unscheduled += len(body)
                        if unscheduled > CHECKPOINT_BYTES:
                            await trio.lowlevel.checkpoint()  # others run, deadlines fire
                            unscheduled = len(body)
                        try:
                            if isinstance(body, Spliced):
                                events = parser.feed_in_place(body.data, body.cut, body.resume)
                                if events is None:
                                    body = body.joined()  # the read is let go first
                                    events = parser.feed(body)
                            else:
                                events = parser.feed(body)
                        except SSEProtocolError as exc:
                            await self._deliver(exc.events, on_block)  # then the error
                            raise
                        if events and not self._deliver_now(events):
                            await self._deliver(events, on_block)
                        del events  # not held while the next read waits (_reading.py)
                        if not exchange.starved:
                            continue  # more may be decodable, or the body may end
                    del body  # nor the body: up to a read's bytes per waiting stream
                    if silence is not None:
                        silence.deadline = trio.current_time() + quiet_limit
                    try:
                        await reader.wait()  # a checkpoint, parked in trio's own wait
                        while (data := reader.read()) is None:
                            await reader.wait()  # nothing came after all: wait again
                    except (trio.BrokenResourceError, OSError) as exc:
                        raise _AttemptFailed(lost_connection(exc)) from None
                    self._bytes += len(data)
                    exchange.feed(data)
                    del data  # nor the read's bytes: the exchange has them
                    unscheduled = 0
            finally:
                self._last_event_id = parser.last_event_id
                self._policy.set_server_retry(parser.retry)
            return False
        finally:
            # Shielded: a read_timeout deadline that passed in the step that read the
            # body's end is not a timeout (the stream ended), and this close is the
            # connection's last checkpoint in its scope. It never waits.
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)

    def _stream_opened(self, exchange: HTTPExchange, response: SSEResponse) -> SSEParser:
        """The response was accepted: a fresh parser, the counters, ``on_open``, and
        the starter told."""
        exchange.stream_accepted()
        parser = SSEParser(
            show_comment_events=self._options.show_comment_events,
            show_retry_events=self._options.show_retry_events,
            max_event_size=self._options.max_event_size,
            last_event_id=self._last_event_id,
            own_ids=self._options.own_ids,
        )
        self._parser = parser
        now = trio.current_time()
        self._policy.stream_opened(now)
        self._outage.stream_opened(now)
        self._told_healthy = False
        self._streams_opened += 1
        self._state = SessionState.OPEN
        if self._options.on_open is not None:
            _call_back("on_open", self._options.on_open, response)
        self._report_started()
        return parser

    # -- connecting ------------------------------------------------------------------

    async def _connect(
        self, request: PreparedRequest
    ) -> tuple[trio.abc.Stream, ByteReader, HTTPExchange, SSEResponse, _Answer]:
        """Connect, send, and read the head, following redirects, within connect_timeout.

        A refusal is returned, not raised: its body is read outside this deadline, so a
        slow error body still gives the SSEResponseError, not a timeout."""
        timeout = self._options.connect_timeout
        clock = self._cancel_scope  # the connection's: run() raises the timeout
        if timeout is not None:
            clock.deadline = trio.current_time() + timeout
        try:
            while True:
                self._connecting_to = request.url
                request = await self._fresh_headers(request)
                origin = Origin(request.scheme, request.host, request.port)
                forwarding = forwarding_for(self._options.transport, origin)
                # Built before connecting: a request that cannot be sent (an event ID no
                # header can carry) ends the session without touching the network.
                exchange = HTTPExchange(
                    request,
                    self._last_event_id,
                    proxy_headers=None if forwarding is None else forwarding.headers,
                )
                stream = await self._open_transport(origin)
                reader = reader_for(stream)
                try:
                    response = await self._send_and_read_head(stream, reader, exchange)
                    if forwarding is not None and response.status_code == 407:
                        raise _proxy_refused(forwarding, request, response)
                    decision = judge_response(
                        request,
                        response,
                        follow_redirects=self._options.follow_redirects,
                        allow_insecure_redirects=self._options.allow_insecure_redirects,
                    )
                    if not isinstance(decision, FollowRedirect):
                        # A deadline that passed in the step that read the head is a
                        # connect timeout: raised here, while the URL is known, for
                        # once it has passed the scope stays cancelled.
                        await trio.lowlevel.checkpoint_if_cancelled()
                        self._connecting_to = None
                        return stream, reader, exchange, response, decision
                    request = decision.request
                except BaseException:
                    await trio.aclose_forcefully(stream)
                    raise
                await trio.aclose_forcefully(stream)
        finally:
            clock.deadline = math.inf  # a refusal's body is read outside connect_timeout

    async def _fresh_headers(self, request: PreparedRequest) -> PreparedRequest:
        """Await the headers functions and merge what they return: once before every
        connection attempt (first, reconnects, redirects). Their failures, and answers
        that are not valid headers, end the session: retrying blindly would not help."""
        cross_origin = request.origin != self._options.request.origin
        for source in self._options.headers_sources:
            try:
                answer: object = source.function()
                if inspect.isawaitable(answer):
                    answer = await answer
            except Exception as exc:
                raise _CallbackError(f"the headers function failed: {exc!r}") from exc
            try:
                request = source.apply(request, answer, cross_origin=cross_origin)
            except (TypeError, ValueError) as exc:
                message = f"the headers function returned unusable headers: {exc}"
                raise _CallbackError(message) from exc
        return request

    async def _open_transport(self, origin: Origin) -> trio.abc.Stream:
        """The transport's stream to ``origin``; how it was made is not our business.
        Failures come translated: retryable ones go to the reconnect policy, the others
        (a bad certificate, a bad host name, a proxy's 407) end the session at once."""
        self._connection_attempts += 1
        try:
            return await self._options.transport.connect(origin)
        except trio.Cancelled:
            raise
        except Exception as exc:
            failure = translate_error(exc, origin)
        if failure.retryable:
            raise _AttemptFailed(failure.error) from None
        raise failure.error from failure.error.__cause__

    async def _send_and_read_head(
        self, stream: trio.abc.Stream, reader: ByteReader, exchange: HTTPExchange
    ) -> SSEResponse:
        """Send the request and read the response head.

        A server may answer before it has read the whole request (a 401 or 413 for a
        long POST) and close, which makes the send fail: its answer, already on the
        way, is read all the same, and decides. Only without one is the failed send
        the error (retryable, as a lost connection)."""
        try:
            await stream.send_all(exchange.request_bytes())
        except (trio.BrokenResourceError, OSError) as exc:
            send_failure = _AttemptFailed(lost_connection(exc, "while sending the request"))
            try:
                return await self._read_head(reader, exchange)
            except _AttemptFailed:
                raise send_failure from None
        return await self._read_head(reader, exchange)

    async def _receive(self, reader: ByteReader) -> bytes:
        try:
            data = await reader.receive()
        except (trio.BrokenResourceError, OSError) as exc:
            raise _AttemptFailed(lost_connection(exc)) from None
        self._bytes += len(data)
        return data

    async def _read_head(self, reader: ByteReader, exchange: HTTPExchange) -> SSEResponse:
        while True:
            try:
                head = exchange.next_head()
            except SSEConnectionError as exc:
                raise _AttemptFailed(exc) from None
            if head is not None:
                return head
            exchange.feed(await self._receive(reader))

    async def _reject(
        self,
        reader: ByteReader,
        exchange: HTTPExchange,
        response: SSEResponse,
        decision: RetryLater | Reject,
    ) -> NoReturn:
        body = await self._read_error_body(reader, exchange)
        error = SSEResponseError(decision.reason, response, body)
        if isinstance(decision, RetryLater):
            retry_after = parse_retry_after(decision.retry_after, time.time())
            raise _AttemptFailed(error, retry_after=retry_after)
        raise error

    async def _read_error_body(self, reader: ByteReader, exchange: HTTPExchange) -> bytes:
        """Collect what the server says about a refusal, within a short time and size.
        The body is only a courtesy (the status already decided), so nothing here
        raises: a body cut short or in an unknown coding is kept as far as it came."""
        with trio.move_on_after(ERROR_BODY_TIMEOUT):
            try:
                # Everything available now, each time: a kept-alive connection sends no
                # EOF, so the body's end is seen only by reading it.
                while True:
                    exchange.read_error_body()
                    if exchange.error_body_read:
                        break
                    exchange.feed(await self._receive(reader))
            except _AttemptFailed:
                pass
        return exchange.read_error_body()

    # -- reading the stream ----------------------------------------------------------

    async def _deliver(self, events: list[Any], on_block: Callable[[], None]) -> None:
        """Hand one read's events to the consumer. With a ``model``, an event whose data
        does not fit ends the stream after the good events before it were delivered
        (or is skipped and logged, with ``on_deserialize_error="skip"``)."""
        failure: SSEDeserializationError | None = None
        if self._options.typer is not None:
            events, failure = self._options.typer.type_events(events)
        try:
            if events:
                await self._handoff.put(events, on_block)
        except trio.BrokenResourceError:
            raise _ConsumerGone from None
        self._count_delivered(events)
        if failure is not None:
            raise failure

    def _deliver_now(self, events: list[Any]) -> bool:
        """``_deliver`` without a coroutine, when there is no model to apply and the
        hand-off has room (a consumer that keeps up): False if ``_deliver`` must."""
        if self._options.typer is not None:
            return False
        try:
            if not self._handoff.put_nowait(events):
                return False
        except trio.BrokenResourceError:
            raise _ConsumerGone from None
        if self._told_healthy:
            self._events += len(events)  # _count_delivered's steady state, inline
        else:
            self._count_delivered(events)
        return True

    def _count_delivered(self, events: list[Any]) -> None:
        if events and not self._told_healthy:
            # The stream is healthy: the outage is over. Only a failure, which ends the
            # connection, can change that, so the first event of a connection says it.
            self._told_healthy = True
            self._policy.event_delivered()
            self._outage.healthy()
        self._events += len(events)


def _nothing() -> None:
    """The hand-off's on_block when no read_timeout clock runs."""


def _stop_clock(silence: trio.CancelScope) -> None:
    """The hand-off's on_block when read_timeout's clock runs: waiting on the consumer
    is not silence."""
    silence.deadline = math.inf


def _call_back(name: str, callback: Callable[..., object], *args: object) -> object:
    """Run a user callback inside the reader task: it must be a plain function that
    returns at once. Whatever it raises ends the session as an SSEError."""
    try:
        result = callback(*args)
    except Exception as exc:
        raise _CallbackError(f"the {name} callback raised {exc!r}") from exc
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()  # a coroutine never awaited would warn later, far from the cause
        raise _CallbackError(
            f"the {name} callback returned an awaitable: callbacks run inside the reader "
            "task and must not block; hand the work to a nursery or a memory channel"
        )
    return result


def _decide(
    strategy: RetryStrategy, failure: ConnectionFailure, proposed: float | None
) -> float | None:
    """The strategy's answer, checked: None (stop) or seconds >= 0 (at most a day)."""
    delay = _call_back("retry_strategy", strategy, failure, proposed)
    if delay is None:
        return None
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not delay >= 0:
        raise _CallbackError(
            f"the retry_strategy callback returned {delay!r}: it must return None (stop) "
            "or a number of seconds >= 0 (0: at once)"
        )
    return min(float(delay), MAX_RETRY_AFTER)


def _proxy_refused(
    forwarding: Forwarding, request: PreparedRequest, response: SSEResponse
) -> SSEProxyError:
    """A forwarding proxy's 407 is about its credentials, not the origin's: say so."""
    status = f"{response.status_code} {response.reason}".strip()
    return SSEProxyError(
        f"proxy {forwarding.proxy} refused to forward the request to {request.url}: {status}",
        status_code=response.status_code,
    )
