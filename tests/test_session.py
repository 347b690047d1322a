"""SSESession end to end over real loopback sockets against the scripted test server.

Covers what a session does with the bytes and with the way a connection ends: event
delivery, framings, truncation and resets, timeouts, cancellation, backpressure,
exception hygiene and the background (``nursery.start``) form.
"""

from __future__ import annotations

import functools
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

import trio_sse
from trio_sse import (
    ServerSentEvent,
    SessionState,
    SSEClient,
    SSEConnectionError,
    SSEError,
    SSEProtocolError,
    SSEResponseError,
    SSESession,
    SSETimeoutError,
    open_sse_session,
)
from trio_sse.testing import (
    BodyItem,
    End,
    Framing,
    Pause,
    RecordedRequest,
    ScriptedResponse,
    SSETestServer,
    open_sse_test_server,
    sse_stream,
)

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

SAFETY = 5  # seconds: a hang guard only, never part of what a test measures
HANG = 600  # virtual seconds: the same guard for tests on the autojump clock


async def collect(session: SSESession[Any]) -> list[Any]:
    return [ev async for ev in session]


async def consume_until_error(
    server: SSETestServer,
    error: type[BaseException],
    seen: trio.Event | None = None,
    **options: Any,
) -> tuple[list[Any], SSESession[Any]]:
    """Read a session until it raises ``error``; return the data seen and the session.
    ``seen`` is set after each event, for scripts that wait for the client."""
    got: list[Any] = []
    sessions: list[SSESession[Any]] = []

    async def consume() -> None:
        async with open_sse_session(server.url, **options) as session:
            sessions.append(session)
            async for ev in session:
                got.append(ev.data)
                if seen is not None:
                    seen.set()

    with pytest.raises(error) as info:
        await consume()
    assert sessions[0].error is info.value
    return got, sessions[0]


def _then(gate: trio.Event, before: list[BodyItem], after: list[BodyItem] | None = None) -> Any:
    """A body that sends ``before``, waits for ``gate``, then sends ``after`` and ends:
    the test decides when the client has seen the first part, so what comes after
    (more data, a reset, a truncation) is never a race."""

    async def body() -> AsyncIterator[BodyItem]:
        for item in before:
            yield item
        await gate.wait()
        for item in after or ():
            yield item

    return body


async def wait_until_steady(*counters: Callable[[], object]) -> None:
    """Return once every task is blocked and the counters stopped changing: the
    pipeline has stalled (no timing involved, only the scheduler's idleness)."""
    while True:
        before = [counter() for counter in counters]
        await trio.testing.wait_all_tasks_blocked(cushion=0.05)
        if [counter() for counter in counters] == before:
            return


# -- open_sse_session end to end ------------------------------------------------------


async def test_events_arrive_in_order_with_their_fields(server: SSETestServer) -> None:
    """Types, ids, multi-line data and the sticky last id come through as parsed;
    the comment-only block is hidden by default; a clean EOF ends ``async for``."""
    server.script(
        ScriptedResponse.events(
            ServerSentEvent(data="first", id="1"),
            ServerSentEvent(comments="keep-alive"),
            ServerSentEvent(data="line one\nline two", event="update"),
            'event: done\ndata: {"x": 1}\nid: 3\n\n',
        )
    )
    async with open_sse_session(server.url_for("/events")) as session:
        events = await collect(session)
        assert session.error is None
    assert events == [
        ServerSentEvent(data="first", id="1"),
        ServerSentEvent(data="line one\nline two", event="update", id="1"),
        ServerSentEvent(data='{"x": 1}', event="done", id="3"),
    ]


async def test_response_describes_the_connection(server: SSETestServer) -> None:
    """``session.response`` is the accepted response head (Ktor's ``call``)."""
    server.script(
        ScriptedResponse.events(
            ServerSentEvent(data="x"),
            headers=[("Content-Type", "text/event-stream"), ("X-Server", "scripted")],
        )
    )
    url = server.url_for("/events?topic=a")
    async with open_sse_session(url) as session:
        response = session.response
        assert response.status_code == 200
        assert response.reason == "OK"
        assert response.http_version == "1.1"
        assert response.url == url
        assert response.headers["x-server"] == "scripted"
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.content_type == "text/event-stream"
        await collect(session)


async def test_incoming_channel_is_usable_directly(server: SSETestServer) -> None:
    """``incoming`` is a plain MemoryReceiveChannel that ends with the stream."""
    server.script(ScriptedResponse.events(*(ServerSentEvent(data=str(i)) for i in range(5))))
    async with open_sse_session(server.url) as session:
        assert isinstance(session.incoming, trio.MemoryReceiveChannel)
        first = await session.incoming.receive()
        rest = [ev.data async for ev in session.incoming]
        with pytest.raises((trio.EndOfChannel, trio.ClosedResourceError)):
            await session.incoming.receive()
        assert session.error is None
    assert first == ServerSentEvent(data="0")
    assert rest == ["1", "2", "3", "4"]


async def test_incoming_users_get_the_error_when_leaving(server: SSETestServer) -> None:
    """``incoming`` just ends when the stream breaks; the error is in ``session.error``
    and leaving the block raises it, so a failure is never mistaken for a clean end."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="a"), end="truncate"))
    got: list[Any] = []

    async def consume() -> None:
        async with open_sse_session(server.url) as session:
            got.extend([ev.data async for ev in session.incoming])
            assert isinstance(session.error, SSEConnectionError)

    with pytest.raises(SSEConnectionError):
        await consume()
    assert got == ["a"]


async def test_breaking_out_is_not_told_of_a_later_failure(server: SSETestServer) -> None:
    """A consumer that breaks out after the event it wanted is done: a reset that the
    reader noticed afterwards stays in ``session.error`` and leaving the block is quiet
    (it used to raise or not depending on timing)."""
    gate = trio.Event()
    server.script(
        ScriptedResponse(
            body=_then(gate, [str(ServerSentEvent(data="answer")), "data: [DONE]\n\n"]),
            end="reset",
        )
    )
    with trio.fail_after(SAFETY):
        async with open_sse_session(server.url) as session:
            async for ev in session:
                if ev.data == "[DONE]":
                    break
            gate.set()
            await server.wait_for_disconnects(1)
            while session.error is None:
                await trio.testing.wait_all_tasks_blocked()
    assert isinstance(session.error, SSEConnectionError)


@pytest.mark.parametrize("via", ["iteration", "incoming"])
async def test_leaving_with_events_unread_is_not_told_of_a_later_failure(
    server: SSETestServer, via: str
) -> None:
    """Events left unread mean the consumer stopped early: the truncation that ended
    the stream afterwards is not raised on leaving (aclose() dropping the unread
    events used to make it look as if the consumer had drained them)."""
    wire = sse_stream(*(ServerSentEvent(data=str(i)) for i in range(5)))
    server.script(ScriptedResponse(body=(wire,), end="truncate"))
    with trio.fail_after(SAFETY):
        async with open_sse_session(server.url) as session:
            if via == "incoming":
                first = await session.incoming.receive()
            else:
                first = await anext(session)
            assert first.data == "0"
            while session.error is None:
                await trio.testing.wait_all_tasks_blocked()
            assert session.statistics().events_buffered == 4
    assert isinstance(session.error, SSEConnectionError)


async def test_switching_from_iteration_to_incoming_loses_nothing(
    server: SSETestServer,
) -> None:
    """Events queued for ``async for`` (with the reader blocked on a full buffer) move
    to ``incoming`` in order when a consumer switches."""
    count = 3000
    pad = "p" * 1000
    server.script(
        ScriptedResponse.events(*(ServerSentEvent(data=f"{i} {pad}") for i in range(count)))
    )
    with trio.fail_after(SAFETY):
        async with open_sse_session(server.url) as session:
            first = await anext(session)
            await wait_until_steady(lambda: session.statistics().bytes_received)
            rest = [ev.data async for ev in session.incoming]
    numbers = []
    for data in [first.data, *rest]:
        assert data is not None
        numbers.append(int(data.split()[0]))
    assert numbers == list(range(count))


async def test_last_event_id_and_reconnection_time_track_the_stream(
    server: SSETestServer,
) -> None:
    """``last_event_id`` follows committed ids; ``reconnection_time`` follows ``retry:``."""
    seen = trio.Event()
    server.script(
        ScriptedResponse(
            body=_then(
                seen,
                [str(ServerSentEvent(data="a", id="41"))],
                [
                    "retry: 1500\n\n",
                    str(ServerSentEvent(data="b", id="42")),
                    "id: 43\n\n",  # no data: nothing dispatched, but the id is committed
                ],
            )
        )
    )
    async with open_sse_session(server.url, reconnection_time=7.0) as session:
        first = await session.incoming.receive()
        assert first.id == "41"
        assert session.last_event_id == "41"
        assert session.reconnection_time == 7.0
        seen.set()
        events = await collect(session)
        assert [ev.id for ev in events] == ["42"]
        assert session.reconnection_time == 1.5
        assert session.last_event_id == "43"


async def test_statistics_count_what_happened(server: SSETestServer) -> None:
    """The counters reflect one connection, one stream and the events delivered."""
    wire = b"".join(str(ServerSentEvent(data=f"event {i}")).encode() for i in range(3))
    server.script(ScriptedResponse(body=(wire,), framing="content-length"))
    async with open_sse_session(server.url) as session:
        first = await session.incoming.receive()
        assert first.data == "event 0"
        await collect(session)
        stats = session.statistics()
        assert stats.events_received == 3
        assert stats.events_buffered == 0
        assert stats.bytes_received > len(wire)  # the head counts too
        assert stats.connection_attempts == 1
        assert stats.streams_opened == 1
        assert stats.reconnects == 0
        assert stats.reconnection_attempts == 0
        assert stats.last_error is None
    assert session.statistics().state is SessionState.CLOSED


async def test_statistics_while_open_and_buffered(server: SSETestServer) -> None:
    """Unread events show as ``events_buffered`` while the stream is open."""
    server.script(
        ScriptedResponse.events(*(ServerSentEvent(data=str(i)) for i in range(4)), end="hang")
    )
    async with open_sse_session(server.url) as session:
        with trio.fail_after(SAFETY):
            while session.statistics().events_received < 4:
                await trio.testing.wait_all_tasks_blocked()
        stats = session.statistics()
        assert stats.state is SessionState.OPEN
        assert stats.events_buffered == 4
        await session.incoming.receive()
        assert session.statistics().events_buffered == 3


# -- body framings and how a body ends --------------------------------------------------


@pytest.mark.parametrize("framing", ["chunked", "content-length", "close"])
async def test_each_framing_delivers_events(server: SSETestServer, framing: Framing) -> None:
    """Chunked, Content-Length and close-delimited bodies all end cleanly."""
    server.script(
        ScriptedResponse.events(
            ServerSentEvent(data="one", id="1"),
            ServerSentEvent(data="two", id="2"),
            framing=framing,
        )
    )
    async with open_sse_session(server.url) as session:
        events = await collect(session)
        assert session.error is None
    assert [ev.data for ev in events] == ["one", "two"]
    assert session.last_event_id == "2"


@pytest.mark.parametrize(
    ("framing", "end"),
    [("chunked", "truncate"), ("content-length", "truncate"), ("chunked", "reset")],
)
async def test_a_cut_body_is_an_error_not_a_clean_end(
    server: SSETestServer, framing: Framing, end: End
) -> None:
    """A truncated message or a TCP reset raises SSEConnectionError after the events
    that came before it, when reconnection is off (the default)."""
    seen = trio.Event()
    if framing == "content-length":
        # A computed Content-Length needs a finite body: one byte short is the cut.
        server.script(
            ScriptedResponse.events(
                ServerSentEvent(data="before"), framing="content-length", end="truncate"
            )
        )
    else:
        server.script(
            ScriptedResponse(
                body=_then(seen, [str(ServerSentEvent(data="before"))]),
                framing=framing,
                end=end,
            )
        )
    got, session = await consume_until_error(server, SSEConnectionError, seen)
    assert got == ["before"]
    assert not isinstance(session.error, SSETimeoutError)
    assert session.statistics().last_error is session.error


@pytest.mark.parametrize("framing", ["chunked", "close"])
async def test_event_split_at_every_byte(server: SSETestServer, framing: Framing) -> None:
    """One socket write per byte, splitting CRLF and a UTF-8 sequence, still parses."""
    wire = b"data: h\xc3\xa9llo\r\nid: 1\r\n\r\ndata: 2\r\n\r\n"
    server.script(
        ScriptedResponse(
            body=tuple(wire[i : i + 1] for i in range(len(wire))),
            framing=framing,
        )
    )
    async with open_sse_session(server.url) as session:
        events = await collect(session)
    assert events == [ServerSentEvent(data="héllo", id="1"), ServerSentEvent(data="2", id="1")]


# -- connecting and timeouts -----------------------------------------------------------


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused() -> None:
    """A refused connect is SSEConnectionError, caused by the OSError."""
    with pytest.raises(SSEConnectionError) as info:
        async with open_sse_session(f"http://127.0.0.1:{_closed_port()}/"):
            pytest.fail("the session must not open")  # pragma: no cover
    assert isinstance(info.value.__cause__, OSError)
    assert not isinstance(info.value, SSETimeoutError)


async def raw_server(
    reply: bytes, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """A one-shot server for what the scripted one cannot say: read a request head,
    write ``reply`` verbatim, close."""
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with listener:
        task_status.started(listener.socket.getsockname()[1])
        stream = await listener.accept()
        async with stream:
            received = b""
            while b"\r\n\r\n" not in received:
                received += await stream.receive_some(65536)
            if reply:
                await stream.send_all(reply)


async def test_a_refusal_sent_before_the_request_body_was_read_is_the_error(
    nursery: trio.Nursery,
) -> None:
    """A server that answers a long POST after its head alone (a bad API key) and
    closes makes sending the rest fail: its 401 is the error, with its body, and is not
    retried as a lost connection (the server said no)."""
    reply = (
        b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        b'Content-Length: 27\r\nConnection: close\r\n\r\n{"error":"invalid_api_key"}'
    )
    port = await nursery.start(raw_server, reply)  # one connection, then it is gone
    client = SSEClient(max_reconnection_attempts=3, reconnection_time=0.01)
    big = b"x" * (32 * 2**20)  # more than both sockets' buffers: the send cannot finish
    with trio.fail_after(30), pytest.raises(SSEResponseError) as info:
        async with client.sse(f"http://127.0.0.1:{port}/", method="POST", content=big):
            pytest.fail("the session must not open")  # pragma: no cover
    assert info.value.status_code == 401
    assert info.value.body == b'{"error":"invalid_api_key"}'


async def test_a_send_that_fails_without_an_answer_is_a_lost_connection(
    nursery: trio.Nursery,
) -> None:
    port = await nursery.start(raw_server, b"")  # reads the head, closes, says nothing
    big = b"x" * (32 * 2**20)
    with trio.fail_after(30), pytest.raises(SSEConnectionError, match="while sending the request"):
        async with open_sse_session(f"http://127.0.0.1:{port}/", method="POST", content=big):
            pytest.fail("the session must not open")  # pragma: no cover


async def test_http_1_0_response(nursery: trio.Nursery) -> None:
    """An HTTP/1.0 server (close-delimited body) works; response.http_version says so."""
    reply = b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: old\n\n"
    port = await nursery.start(raw_server, reply)
    async with open_sse_session(f"http://127.0.0.1:{port}/") as session:
        assert session.response.http_version == "1.0"
        assert [ev.data for ev in await collect(session)] == ["old"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"", SSEConnectionError),  # closed without a word
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/ev", SSEConnectionError),  # cut head
        (b"SSE/9 200 whatever\r\n\r\n", SSEProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Type text/event-stream\r\n\r\n", SSEProtocolError),
    ],
)
async def test_broken_response_heads(
    nursery: trio.Nursery, reply: bytes, error: type[SSEError]
) -> None:
    """A server that closes before or inside the head, or speaks garbage, is an
    SSEError of the right kind, never an h11 exception."""
    port = await nursery.start(raw_server, reply)
    with pytest.raises(error) as info:
        async with open_sse_session(f"http://127.0.0.1:{port}/"):
            pytest.fail("the session must not open")  # pragma: no cover
    assert not isinstance(info.value, SSETimeoutError)


async def test_connect_timeout_when_the_head_never_comes(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """A server that accepts and reads the request but never answers times out."""
    with trio.fail_after(HANG):

        async def never_answer(request: RecordedRequest) -> ScriptedResponse:
            await trio.sleep_forever()
            raise AssertionError  # pragma: no cover

        server.handler = never_answer
        start = trio.current_time()
        with pytest.raises(SSETimeoutError) as info:
            async with open_sse_session(server.url, connect_timeout=5.0):
                pytest.fail("the session must not open")  # pragma: no cover
        assert trio.current_time() - start == pytest.approx(5.0)
        assert isinstance(info.value, SSEConnectionError)
        assert len(server.requests) == 1


async def test_connect_timeout_covers_a_headers_function_that_hangs(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """connect_timeout runs from before the headers functions are awaited, and its error
    names the URL being connected, not read_timeout."""
    with trio.fail_after(HANG):

        async def never_ready() -> dict[str, str]:
            await trio.sleep_forever()
            raise AssertionError  # pragma: no cover

        start = trio.current_time()
        with pytest.raises(SSETimeoutError) as info:
            async with open_sse_session(server.url, connect_timeout=5.0, headers=never_ready):
                pytest.fail("the session must not open")  # pragma: no cover
        assert trio.current_time() - start == pytest.approx(5.0)
        assert str(info.value) == f"no response from {server.url} within connect_timeout=5.0s"
        assert server.requests == []


def one_stream_transport(client_end: trio.abc.Stream) -> Callable[[Any], Awaitable[Any]]:
    """A transport that hands out ``client_end``: a memory stream, whose sender writes
    without a checkpoint after, so a test can move the clock in the same scheduler step
    as the bytes arrive (a socket's send_all lets the reader run first)."""

    async def connect(origin: Any) -> trio.abc.Stream:
        return client_end

    return connect


async def test_a_head_that_comes_as_connect_timeout_passes_is_a_connect_timeout(
    mock_clock: trio.testing.MockClock,
) -> None:
    """The head arrives in the same step as connect_timeout's deadline passes: the
    stream does not open (once passed, the deadline has cancelled the connection's
    scope), and the error is the connect timeout, naming the URL."""
    client_end, server_end = trio.testing.memory_stream_pair()
    opened: list[int] = []

    async def answer_at_the_deadline() -> None:
        await server_end.receive_some()
        await server_end.send_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        mock_clock.jump(5.0)
        await server_end.send_all(b"data: hello\n\n")

    client = SSEClient(
        connect_timeout=5.0,
        transport=one_stream_transport(client_end),
        on_open=lambda response: opened.append(response.status_code),
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(answer_at_the_deadline)
        with pytest.raises(SSETimeoutError) as info:
            async with client.sse("http://example.test/events"):
                pytest.fail("the session must not open")  # pragma: no cover
    assert str(info.value) == (
        "no response from http://example.test/events within connect_timeout=5.0s"
    )
    assert opened == []


async def test_a_body_that_ends_as_read_timeout_passes_ends_cleanly(
    mock_clock: trio.testing.MockClock,
) -> None:
    """The body's last bytes arrive in the same step as read_timeout's deadline passes:
    the stream ended, it did not go silent. Closing the connection must not take that
    deadline, which has cancelled the connection's scope, for a timeout."""
    body = b"data: a\n\ndata: b\n\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    client_end, server_end = trio.testing.memory_stream_pair()

    async def end_at_the_deadline() -> None:
        await server_end.receive_some()
        await server_end.send_all(head + body[:9])
        await trio.testing.wait_all_tasks_blocked()
        await server_end.send_all(body[9:])
        mock_clock.jump(5.0)
        await trio.sleep_forever()

    client = SSEClient(read_timeout=5.0, transport=one_stream_transport(client_end))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(end_at_the_deadline)
        async with client.sse("http://example.test/events") as session:
            got = [event.data async for event in session]
        assert session.error is None
        nursery.cancel_scope.cancel()
    assert got == ["a", "b"]


async def test_a_refusal_with_a_stalled_body_is_still_a_response_error(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """The error body is read outside connect_timeout, within its own short limit: a 404
    whose body stalls reports the 404, with what did arrive, not a connect timeout."""
    with trio.fail_after(HANG):
        server.script(ScriptedResponse(status=404, body=[b"no such ", Pause(60)], end="hang"))
        start = trio.current_time()
        with pytest.raises(SSEResponseError) as info:
            async with open_sse_session(server.url, connect_timeout=1.0):
                pytest.fail("the session must not open")  # pragma: no cover
        assert info.value.status_code == 404
        assert info.value.body == b"no such "
        assert trio.current_time() - start == pytest.approx(trio_sse._session.ERROR_BODY_TIMEOUT)


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
async def test_a_refusals_body_in_an_unknown_coding_is_kept_as_it_came_after_the_head(
    server: SSETestServer, autojump_clock: trio.testing.MockClock, framing: Framing
) -> None:
    """The body of a refusal in a coding trio-sse cannot decode is kept raw, however
    it is cut into reads: the first read after the head must not end the reading."""
    headers = [("Content-Type", "text/plain"), ("Content-Encoding", "x-unknown")]
    body: list[bytes | Pause] = [Pause(0.1), b"token has ", Pause(0.1), b"expired!"]
    server.script(ScriptedResponse(status=403, headers=headers, body=body, framing=framing))
    with trio.fail_after(HANG), pytest.raises(SSEResponseError) as info:
        async with open_sse_session(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert info.value.status_code == 403
    assert info.value.body == b"token has expired!"


async def test_read_timeout_on_a_silent_stream(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """A stream that goes quiet (but stays open) fails after read_timeout."""
    with trio.fail_after(HANG):
        server.script(ScriptedResponse.events(ServerSentEvent(data="hi"), end="hang"))
        got, _ = await consume_until_error(server, SSETimeoutError, read_timeout=30.0)
        assert got == ["hi"]
        assert trio.current_time() == pytest.approx(30.0)  # the clock started at 0
        await server.wait_for_disconnects(1)


async def test_comments_keep_a_stream_alive(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """Keep-alive comments below read_timeout are traffic: no timeout over 4x the limit."""
    with trio.fail_after(HANG):
        pings: list[str | Pause] = []
        for _ in range(8):
            pings += [Pause(4.0), ": ping\n\n"]
        server.script(
            ScriptedResponse.events(ServerSentEvent(data="a"), *pings, ServerSentEvent(data="b"))
        )
        start = trio.current_time()
        async with open_sse_session(server.url, read_timeout=5.0) as session:
            events = await collect(session)
        assert [ev.data for ev in events] == ["a", "b"]
        assert trio.current_time() - start == pytest.approx(32.0)


async def test_waiting_on_a_slow_consumer_is_not_silence(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """read_timeout measures the server, not how long the consumer takes."""
    with trio.fail_after(HANG):
        # 4 MB: far more than the session buffers, so the reader must wait for the consumer.
        count = 4000
        pad = "x" * 1000
        server.script(
            ScriptedResponse.events(*(ServerSentEvent(data=f"{i} {pad}") for i in range(count)))
        )
        async with open_sse_session(server.url, read_timeout=5.0) as session:
            got: list[str] = []
            async for ev in session:
                if not got:
                    await trio.sleep(60)  # a consumer busy elsewhere for 12x read_timeout
                assert ev.data is not None
                got.append(ev.data.split()[0])
        assert got == [str(i) for i in range(count)]


# -- cancellation and closing ------------------------------------------------------------


async def test_cancelling_the_consumer_closes_the_socket_promptly(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """A cancel scope around the session ends it, and the server sees the disconnect
    with no time passing after the cancel."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="one"), end="hang"))
    got = []
    with trio.move_on_after(10) as scope:
        async with open_sse_session(server.url) as session:
            async for ev in session:
                got.append(ev.data)
    assert scope.cancelled_caught
    assert got == ["one"]
    cancelled_at = trio.current_time()
    await server.wait_for_disconnects(1)
    assert trio.current_time() == cancelled_at
    assert session.statistics().state is SessionState.CLOSED


async def test_an_outer_cancel_leaves_the_block_as_a_plain_cancelled(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """An outer cancel scope hits both the block and the reader task; what leaves the
    block is one trio.Cancelled, not an ExceptionGroup of two."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="one"), end="hang"))
    passing: list[BaseException] = []
    with trio.move_on_after(10) as scope:
        try:
            async with open_sse_session(server.url) as session:
                await collect(session)
        except BaseException as exc:
            passing.append(exc)
            raise
    assert scope.cancelled_caught
    assert [type(exc) for exc in passing] == [trio.Cancelled]


def test_a_cancel_raised_by_aclose_leaves_the_block_in_a_loose_run() -> None:
    """In a run with strict_exception_groups=False, our nursery lets a lone exception
    out as it is, not in a group. The caller's cancel, raised by aclose()'s checkpoint
    as the block ends (the reader is already done), must still leave the block, as it
    would leave any ``async with`` of a nursery."""
    left_normally: list[bool] = []

    async def main() -> None:
        async with open_sse_test_server() as server:
            server.script(ScriptedResponse(body=["data: hello\n\n"]))
            with trio.CancelScope() as scope:
                async with SSEClient().sse(server.url) as session:
                    assert [event.data async for event in session] == ["hello"]
                    scope.cancel()  # no checkpoint before the block ends
                left_normally.append(True)
            assert scope.cancelled_caught

    with pytest.warns(trio.TrioDeprecationWarning):  # loose runs are deprecated, not gone
        trio.run(main, strict_exception_groups=False)
    assert left_normally == []


async def test_an_error_raised_on_cancel_is_not_wrapped(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """A block that turns a cancellation into its own exception gets that exception
    back as itself, not grouped with the reader task's Cancelled."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="one"), end="hang"))

    async def block() -> None:
        async with open_sse_session(server.url) as session:
            try:
                await collect(session)
            except trio.Cancelled:
                raise KeyError("stopped") from None

    with trio.move_on_after(10):
        with pytest.raises(KeyError):
            await block()


async def test_cancelling_only_the_iteration_keeps_the_session(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """Cancelling just the ``async for`` loses no event: iteration can resume."""
    with trio.fail_after(HANG):
        server.script(
            ScriptedResponse.events(
                ServerSentEvent(data="one"), Pause(20), ServerSentEvent(data="two")
            )
        )
        async with open_sse_session(server.url) as session:
            with trio.move_on_after(10) as scope:
                async for ev in session:
                    assert ev.data == "one"
            assert scope.cancelled_caught
            assert [ev.data for ev in await collect(session)] == ["two"]


async def test_break_out_of_async_for(server: SSETestServer) -> None:
    """Breaking out and leaving the block closes the connection."""
    server.script(
        ScriptedResponse.events(*(ServerSentEvent(data=str(i)) for i in range(3)), end="hang")
    )
    with trio.fail_after(SAFETY):
        async with open_sse_session(server.url) as session:
            async for ev in session:
                assert ev.data == "0"
                break
        await server.wait_for_disconnects(1)
    assert session.statistics().state is SessionState.CLOSED


async def test_leaving_with_many_events_unread_does_not_hang(server: SSETestServer) -> None:
    """The reader blocked on a full channel and a server blocked on a full socket
    must not keep the block from exiting."""

    async def endless() -> AsyncIterator[BodyItem]:
        i = 0
        while True:
            yield "".join(str(ServerSentEvent(data=f"event {i + k}")) for k in range(100))
            i += 100

    server.script(ScriptedResponse(body=endless))
    with trio.fail_after(SAFETY):
        async with open_sse_session(server.url) as session:
            first = await anext(session)
            await wait_until_steady(lambda: session.statistics().bytes_received)
            assert session.statistics().events_buffered > 0
        await server.wait_for_disconnects(1)
    assert first.data == "event 0"


async def test_aclose_is_idempotent(server: SSETestServer) -> None:
    """aclose() twice inside the block, and again after it, is harmless; iteration
    after aclose simply ends."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="x"), end="hang"))
    with trio.fail_after(SAFETY):
        async with open_sse_session(server.url) as session:
            await session.aclose()
            await session.aclose()
            assert await collect(session) == []
            assert session.statistics().state is SessionState.CLOSED
            await server.wait_for_disconnects(1)
        await session.aclose()
    assert session.error is None


def _all_tasks() -> list[trio.lowlevel.Task]:
    tasks = []
    todo = [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        assert task is not None
        tasks.append(task)
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return tasks


def _session_tasks() -> list[trio.lowlevel.Task]:
    return [t for t in _all_tasks() if "SSESession" in t.name or "trio_sse._" in t.name]


async def test_no_task_outlives_the_session(server: SSETestServer) -> None:
    """The reader task exists while the block runs and is gone once it exits."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="x"), end="hang"))
    async with open_sse_session(server.url) as session:
        await session.incoming.receive()
        assert _session_tasks(), "the reader task should be visible while open"
    assert _session_tasks() == []


# -- backpressure ------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["iteration", "incoming"])
async def test_a_stalled_consumer_stalls_the_server(server: SSETestServer, via: str) -> None:
    """With a consumer that reads nothing, the session's buffer fills to its bound, the
    reader stops reading, TCP pushes back, and the server's generator stops far short of
    the 100 MB it would send: memory stays bounded (for ``async for`` and ``incoming``)."""
    total = 100 * 2**20
    event = str(ServerSentEvent(data="x" * 1000)).encode()
    item = event * (64 * 1024 // len(event))
    produced = 0

    async def firehose() -> AsyncIterator[BodyItem]:
        nonlocal produced
        while produced < total:
            produced += len(item)
            yield item

    server.script(ScriptedResponse(body=firehose))
    with trio.fail_after(SAFETY * 4):
        async with open_sse_session(server.url) as session:
            if via == "incoming":
                receive: Callable[[], Awaitable[Any]] = session.incoming.receive
            else:
                receive = functools.partial(anext, session)
            assert (await receive()).data == "x" * 1000
            await wait_until_steady(lambda: produced, lambda: session.statistics().bytes_received)
            stats = session.statistics()
            stalled_at = produced
            assert 0 < stats.events_buffered * len(event) <= 4 * 2**20
            assert stalled_at < total // 3, f"the server sent {stalled_at} bytes unread"
            assert stats.bytes_received < total // 3
            # Reading resumes the flow: it was backpressure, not the end of the body.
            for _ in range(stats.events_buffered + 2000):
                await receive()
            while produced == stalled_at:
                await trio.testing.wait_all_tasks_blocked()
            assert produced > stalled_at


# -- exceptions ---------------------------------------------------------------------------


async def test_user_exception_propagates_as_itself(server: SSETestServer) -> None:
    """An error in the block leaves it unwrapped, even if the stream also failed."""
    seen = trio.Event()
    server.script(ScriptedResponse(body=_then(seen, [str(ServerSentEvent(data="x"))]), end="reset"))

    async def fail_in_the_block() -> None:
        async with open_sse_session(server.url) as session:
            await session.incoming.receive()
            seen.set()
            await server.wait_for_disconnects(1)
            raise KeyError("mine")

    with pytest.raises(KeyError) as info:
        await fail_in_the_block()
    assert type(info.value) is KeyError
    assert info.value.args == ("mine",)


async def test_user_exception_propagates_while_the_stream_runs(server: SSETestServer) -> None:
    """An error while the reader is busy is not wrapped in an ExceptionGroup either."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="x"), end="hang"))
    with pytest.raises(ZeroDivisionError):
        async with open_sse_session(server.url):
            _ = 1 / 0


def _failure_scripts() -> dict[str, Any]:
    garbage_length = [("Content-Type", "text/event-stream"), ("Content-Length", "abc")]
    return {
        "404": (ScriptedResponse(status=404, body=b"no", framing="content-length"), {}),
        "truncated": (ScriptedResponse.events(ServerSentEvent(data="x"), end="truncate"), {}),
        "reset": (ScriptedResponse.events(ServerSentEvent(data="x"), end="reset"), {}),
        "malformed-http": (ScriptedResponse(headers=garbage_length, framing="close"), {}),
        "oversized-event": (
            ScriptedResponse.events(ServerSentEvent(data="y" * 5000)),
            {"max_event_size": 1000},
        ),
        "read-timeout": (ScriptedResponse(end="hang"), {"read_timeout": 1.0}),
    }


@pytest.mark.parametrize("case", list(_failure_scripts()))
async def test_failures_are_sse_errors_never_groups(
    server: SSETestServer, autojump_clock: trio.testing.MockClock, case: str
) -> None:
    """Whatever goes wrong, the user sees one SSEError subclass, never a bare OSError,
    trio, h11 or ssl exception, nor an ExceptionGroup."""
    with trio.fail_after(HANG):
        response, options = _failure_scripts()[case]
        server.script(response)
        with pytest.raises(SSEError) as info:
            async with open_sse_session(server.url, **options) as session:
                await collect(session)
        assert not isinstance(info.value, BaseExceptionGroup)
        expected = {
            "404": SSEResponseError,
            "malformed-http": SSEProtocolError,
            "oversized-event": SSEProtocolError,
            "read-timeout": SSETimeoutError,
        }.get(case, SSEConnectionError)
        assert isinstance(info.value, expected)


# -- the background form: nursery.start(client.sse_session, ...) -------------------------


async def test_background_session_in_the_callers_nursery(server: SSETestServer) -> None:
    """The reader runs in our nursery; aclose() ends it and the nursery can exit."""
    server.script(
        ScriptedResponse.events(
            ServerSentEvent(data='{"n": 1}'), ServerSentEvent(data='{"n": 2}'), end="hang"
        )
    )
    client = SSEClient()
    with trio.fail_after(SAFETY):
        async with trio.open_nursery() as nursery:
            session = await nursery.start(
                functools.partial(client.sse_session, server.url, model=dict[str, int])
            )
            assert isinstance(session, SSESession)
            assert len(nursery.child_tasks) == 1
            assert session.response.status_code == 200
            got = [await session.incoming.receive() for _ in range(2)]
            await session.aclose()
        await server.wait_for_disconnects(1)
    assert [ev.data for ev in got] == [{"n": 1}, {"n": 2}]
    assert isinstance(got[0], trio_sse.TypedServerSentEvent)


async def test_background_aclose_from_another_task_ends_the_iteration(
    server: SSETestServer,
) -> None:
    """A consumer waiting in ``async for`` is released (the loop just ends) when another
    task closes the session."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="a"), end="hang"))
    got: list[Any] = []
    with trio.fail_after(SAFETY):
        async with trio.open_nursery() as nursery:
            session = await nursery.start(SSEClient().sse_session, server.url)

            async def consume() -> None:
                async for ev in session:
                    got.append(ev.data)

            nursery.start_soon(consume)
            while not got:
                await trio.testing.wait_all_tasks_blocked()
            await session.aclose()
        await server.wait_for_disconnects(1)
    assert got == ["a"]
    assert session.error is None


async def test_background_error_goes_to_the_consumer_not_the_nursery(
    server: SSETestServer,
) -> None:
    """A reset after start is raised by the iteration; the caller's nursery and its
    other tasks carry on."""
    seen = trio.Event()
    server.script(ScriptedResponse(body=_then(seen, [str(ServerSentEvent(data="x"))]), end="reset"))
    sibling_finished = False

    async def sibling(done: trio.Event) -> None:
        nonlocal sibling_finished
        await done.wait()
        sibling_finished = True

    done = trio.Event()
    with trio.fail_after(SAFETY):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sibling, done)
            session = await nursery.start(SSEClient().sse_session, server.url)
            got: list[Any] = []

            async def consume() -> None:
                async for ev in session:
                    got.append(ev.data)
                    seen.set()

            with pytest.raises(SSEConnectionError):
                await consume()
            assert isinstance(session.error, SSEConnectionError)
            done.set()
    assert got == ["x"]
    assert sibling_finished


async def test_a_refusal_before_the_block_runs_carries_no_cancelled_of_ours(
    server: SSETestServer,
) -> None:
    """The reader's error leaves the async with as itself: not with the Cancelled that
    ended the block's wait for the stream (ours, not the caller's) as its context, and
    with its own context kept (here, the exception the caller was handling)."""
    server.script(ScriptedResponse(status=404, body=b"gone", framing="content-length"))

    async def enter_while_handling() -> None:
        try:
            raise KeyError("being handled")
        except KeyError:
            async with SSEClient().sse(server.url):
                pytest.fail("the session must not open")  # pragma: no cover

    with pytest.raises(SSEResponseError) as info:
        await enter_while_handling()
    assert isinstance(info.value.__context__, KeyError)


async def test_an_sse_block_is_entered_once(server: SSETestServer) -> None:
    """Entering the same sse() object again is a clear error, made before anything
    starts: no second request, no second reader."""
    server.script(ScriptedResponse(body=["data: hello\n\n"]))
    block = SSEClient().sse(server.url)
    async with block as session:
        assert [event.data async for event in session] == ["hello"]
    with pytest.raises(RuntimeError, match="entered only once"):
        async with block:
            pytest.fail("entered twice")  # pragma: no cover
    assert len(server.requests) == 1


async def test_an_sse_block_left_without_being_entered_or_twice_says_so(
    server: SSETestServer,
) -> None:
    """Calling __aexit__ by hand out of turn is a clear RuntimeError (not an assertion,
    which ``python -O`` drops), and it makes no request."""
    server.script(ScriptedResponse(body=["data: hello\n\n"]))
    never_entered = SSEClient().sse(server.url)
    with pytest.raises(RuntimeError, match="left without being entered, or twice"):
        await never_entered.__aexit__(None, None, None)
    assert server.requests == []
    block = SSEClient().sse(server.url)
    async with block as session:
        assert [event.data async for event in session] == ["hello"]
    with pytest.raises(RuntimeError, match="left without being entered, or twice"):
        await block.__aexit__(None, None, None)
    assert len(server.requests) == 1


async def test_background_error_before_start_raises_from_start(server: SSETestServer) -> None:
    """A refusal before the stream opens propagates from nursery.start itself."""
    server.script(ScriptedResponse(status=404, body=b"gone", framing="content-length"))
    async with trio.open_nursery() as nursery:
        with pytest.raises(SSEResponseError) as info:
            await nursery.start(SSEClient().sse_session, server.url)
        assert not nursery.child_tasks
    assert info.value.response.status_code == 404
    assert info.value.body == b"gone"
