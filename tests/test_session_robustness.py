"""Failure paths found in review: each keeps the contract that users see SSEErrors (or
their own exceptions, untouched), that nothing is taken for a clean end, and that
memory stays bounded whatever one network read holds."""

from __future__ import annotations

import gzip
import ssl
import sys

import pytest
import trio
import trio.testing

from trio_sse import (
    SSEClient,
    SSEConnectionError,
    SSEError,
    SSEResponseError,
    open_sse_session,
)
from trio_sse._exchange import HTTPExchange
from trio_sse._handoff import BUFFER, MAX_BATCH
from trio_sse._reading import RECEIVE_SIZE
from trio_sse.testing import ScriptedResponse, SSETestServer

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

HANG = 600  # virtual seconds: a guard for tests on the autojump clock


async def test_a_name_the_resolver_rejects_is_a_connection_error() -> None:
    """An IDNA-invalid host ("a..b") fails in the resolver with UnicodeError: the user
    gets SSEConnectionError, not the resolver's exception."""
    with pytest.raises(SSEConnectionError) as info:
        async with open_sse_session("http://a..b/", max_reconnection_attempts=3):
            pytest.fail("the session must not open")  # pragma: no cover
    assert isinstance(info.value.__cause__, UnicodeError)


async def test_a_server_side_ssl_context_is_a_connection_error(server: SSETestServer) -> None:
    """A context that cannot make client sockets is reported, and the socket closed."""
    server_only = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    client = SSEClient(ssl_context=server_only)
    with pytest.raises(SSEConnectionError) as info:
        async with client.sse(f"https://127.0.0.1:{server.port}/"):
            pytest.fail("the session must not open")  # pragma: no cover
    assert isinstance(info.value.__cause__, ssl.SSLError)
    await server.wait_for_disconnects(1)


async def test_a_redirect_to_a_bad_host_after_start_reaches_the_consumer(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """A failure during a reconnect, after the start, is raised by the iteration; it
    neither ends the stream quietly nor tears down the caller's nursery."""
    with trio.fail_after(HANG):
        server.script(
            ScriptedResponse.events("data: one\n\n"),
            ScriptedResponse(status=307, headers=(("Location", "http://a..b/x"),)),
        )
        client = SSEClient(max_reconnection_attempts=2, reconnection_time=1.0)
        got: list[str | None] = []
        async with trio.open_nursery() as nursery:
            session = await nursery.start(client.sse_session, server.url)
            got.append((await session.__anext__()).data)
            with pytest.raises(SSEConnectionError):
                await session.__anext__()
        assert got == ["one"]


async def test_a_reader_cancelled_from_outside_is_not_a_clean_end(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """The background form's reader lives in the caller's nursery; if that nursery is
    cancelled, a consumer elsewhere is told, rather than seeing the stream end."""
    with trio.fail_after(HANG):
        server.script(ScriptedResponse.events("data: one\n\n", end="hang"))
        client = SSEClient()
        with trio.CancelScope() as reader_scope:
            async with trio.open_nursery() as nursery:
                session = await nursery.start(client.sse_session, server.url)
                assert await session.__anext__() is not None
                reader_scope.cancel()
        with pytest.raises(SSEError, match="cancelled from outside"):
            await session.__anext__()


async def test_a_users_exception_group_leaves_the_block_untouched(
    server: SSETestServer,
) -> None:
    server.script(ScriptedResponse.events("data: one\n\n", end="hang"))
    mine = ExceptionGroup("mine", [ValueError(1)])
    with pytest.raises(ExceptionGroup) as info:
        async with open_sse_session(server.url):
            raise mine
    assert info.value is mine


async def test_a_users_plain_exception_keeps_its_context(server: SSETestServer) -> None:
    server.script(ScriptedResponse.events("data: one\n\n", end="hang"))
    with pytest.raises(KeyError) as info:
        async with open_sse_session(server.url):
            raise KeyError("mine")
    assert info.value.__context__ is None


async def test_one_compressed_read_of_tiny_events_stays_bounded(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """A few KB of gzip can hold a million tiny events. With a stalled consumer, what
    waits in the hand-off is bounded by BUFFER events (+ one batch), not by the read."""
    body = gzip.compress(b"data:\n\n" * 200_000)
    server.script(
        ScriptedResponse(
            headers=(("Content-Type", "text/event-stream"), ("Content-Encoding", "gzip")),
            body=[body],
            end="hang",
        )
    )
    with trio.fail_after(HANG):
        async with open_sse_session(server.url) as session:
            first = await session.__anext__()
            assert first.data == ""
            await trio.testing.wait_all_tasks_blocked()
            buffered = session.statistics().events_buffered
            # A full buffer, plus at most the last batch added to it; the rest of the
            # read waits, unparsed or not yet handed over, upstream.
            assert 0 < buffered < BUFFER + MAX_BATCH
            count = 1
            async for _ in session:
                count += 1
                if count == 200_000:
                    break
        assert session.statistics().events_buffered == 0  # closed: nothing waits


async def test_statistics_after_close_report_nothing_buffered(server: SSETestServer) -> None:
    server.script(ScriptedResponse.events(*["data: x\n\n"] * 50, end="hang"))
    async with open_sse_session(server.url) as session:
        await session.__anext__()
        await trio.testing.wait_all_tasks_blocked()
        assert session.statistics().events_buffered > 0
    assert session.statistics().events_buffered == 0


async def test_a_refused_stream_is_still_a_response_error_with_an_absurd_retry_after(
    server: SSETestServer,
) -> None:
    """A Retry-After date that overflows the stdlib's parser is ignored, not raised."""
    absurd = "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"
    server.script(ScriptedResponse(status=503, headers=(("Retry-After", absurd),)))
    with pytest.raises(SSEResponseError) as info:
        async with open_sse_session(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert info.value.status_code == 503


def test_reads_stay_under_the_allocators_mmap_threshold() -> None:
    """A read buffer over glibc's 128 KiB mmap threshold is mapped and unmapped on every
    read: page faults that cost more per byte than the syscalls bigger reads save."""
    assert RECEIVE_SIZE <= 128 * 1024


async def test_an_open_stream_stops_keeping_its_body_for_error_reports(
    server: SSETestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exchange keeps a body's first 64 KiB only while it may be a refusal's; the
    session tells it, once per accepted connection, that this body is the stream."""
    accepted: list[HTTPExchange] = []
    original = HTTPExchange.stream_accepted

    def spy(exchange: HTTPExchange) -> None:
        accepted.append(exchange)
        original(exchange)

    monkeypatch.setattr(HTTPExchange, "stream_accepted", spy)
    server.script(ScriptedResponse.events("data: one\n\n", "data: two\n\n"))
    async with open_sse_session(server.url) as events:
        assert [event.data async for event in events] == ["one", "two"]
    assert len(accepted) == 1
    assert accepted[0].read_error_body() == b""
