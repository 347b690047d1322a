"""Tests for trio_sse.testing, driven by a raw trio socket + h11 client.

The client side deliberately avoids trio_sse's session so that the test server can be
trusted independently of the code it is meant to test.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import h11
import pytest
import trio
import trio.testing
import trustme

from trio_sse import ServerSentEvent, SSEParser
from trio_sse.testing import (
    DemoHandler,
    EndNow,
    Framing,
    Pause,
    RecordedRequest,
    ScriptedResponse,
    SSETestServer,
    demo_events,
    demo_responses,
    open_sse_test_server,
    serve_sse_test_server,
    sse_stream,
)

# -- a minimal h11 client ---------------------------------------------------------------


@dataclass
class Result:
    """What the client saw: the head, the body bytes and how the exchange ended."""

    response: h11.Response
    body: bytes
    ending: str  # "complete" | "truncated" | "reset" | "open"
    error: BaseException | None = None

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for key, value in self.response.headers:
            if key == wanted:
                return value.decode()
        return None


async def connect(
    server: SSETestServer, ssl_context: ssl.SSLContext | None = None
) -> trio.abc.Stream:
    if ssl_context is None:
        return await trio.open_tcp_stream(server.host, server.port)
    return await trio.open_ssl_over_tcp_stream(
        server.host, server.port, ssl_context=ssl_context, https_compatible=True
    )


async def send_request(
    stream: trio.abc.Stream,
    client: h11.Connection,
    method: str = "GET",
    target: str = "/",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
    chunked: bool = False,
) -> None:
    all_headers = [("Host", "test"), *headers]
    if body is not None:
        all_headers.append(
            ("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(body)))
        )
    await stream.send_all(
        client.send(h11.Request(method=method, target=target, headers=all_headers))
    )
    if body is not None:
        if chunked:  # two chunks, to show the server reassembles them
            for part in (body[:3], body[3:]):
                if part:
                    await stream.send_all(client.send(h11.Data(data=part)))
        else:
            await stream.send_all(client.send(h11.Data(data=body)))
    await stream.send_all(client.send(h11.EndOfMessage()))


async def read_response(
    stream: trio.abc.Stream, client: h11.Connection, *, stop_after: bytes | None = None
) -> Result:
    """Read a response; with ``stop_after``, return ("open") once that body has arrived."""
    response: h11.Response | None = None
    body = bytearray()
    while True:
        try:
            event = client.next_event()
        except h11.RemoteProtocolError as exc:
            assert response is not None
            return Result(response, bytes(body), "truncated", exc)
        if event is h11.NEED_DATA:
            if response is not None and stop_after is not None and body == stop_after:
                return Result(response, bytes(body), "open")
            try:
                data = await stream.receive_some(65536)
            except trio.BrokenResourceError as exc:
                assert response is not None
                return Result(response, bytes(body), "reset", exc)
            client.receive_data(bytes(data))
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert response is not None
            if stop_after is not None:
                return Result(response, bytes(body), "open")
            return Result(response, bytes(body), "complete")


async def fetch(
    server: SSETestServer,
    ssl_context: ssl.SSLContext | None = None,
    *,
    method: str = "GET",
    target: str = "/",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
    chunked: bool = False,
) -> Result:
    stream = await connect(server, ssl_context)
    async with stream:
        client = h11.Connection(h11.CLIENT)
        await send_request(stream, client, method, target, headers, body, chunked)
        return await read_response(stream, client)


@pytest.fixture
async def server() -> AsyncIterator[SSETestServer]:
    async with open_sse_test_server() as srv:
        yield srv


# -- request recording ------------------------------------------------------------------


async def test_records_a_get_request(server: SSETestServer) -> None:
    server.script(ScriptedResponse.events(ServerSentEvent(data="x")))
    await fetch(server, target="/events?a=1", headers=[("Last-Event-ID", "42"), ("X-Two", "b")])
    (req,) = await server.wait_for_requests(1)
    assert (req.method, req.target, req.http_version) == ("GET", "/events?a=1", "1.1")
    assert req.body == b""
    assert ("last-event-id", "42") in req.headers
    assert req.header("LAST-EVENT-ID") == "42"
    assert req.header("missing") is None


@pytest.mark.parametrize("chunked", [False, True])
async def test_records_a_post_body(server: SSETestServer, chunked: bool) -> None:
    payload = b'{"prompt": "hello"}'
    await fetch(server, method="POST", body=payload, chunked=chunked)
    (req,) = server.requests
    assert req.method == "POST"
    assert req.body == payload
    assert req.header("transfer-encoding" if chunked else "content-length") is not None


async def test_answers_expect_100_continue(server: SSETestServer) -> None:
    stream = await connect(server)
    async with stream:
        client = h11.Connection(h11.CLIENT)
        headers = [("Host", "t"), ("Content-Length", "2"), ("Expect", "100-continue")]
        await stream.send_all(client.send(h11.Request(method="POST", target="/", headers=headers)))
        client.receive_data(bytes(await stream.receive_some(65536)))
        assert isinstance(client.next_event(), h11.InformationalResponse)
        await stream.send_all(client.send(h11.Data(data=b"ok")))
        await stream.send_all(client.send(h11.EndOfMessage()))
        result = await read_response(stream, client)
    assert result.response.status_code == 404
    assert server.requests[0].body == b"ok"


# -- choosing responses -----------------------------------------------------------------


async def test_script_is_served_in_order_then_default_404(server: SSETestServer) -> None:
    server.script(
        ScriptedResponse(body=[b"data: one\n\n"]), ScriptedResponse(status=503, body="busy")
    )
    first, second, third = [await fetch(server) for _ in range(3)]
    assert (first.response.status_code, first.body) == (200, b"data: one\n\n")
    assert (second.response.status_code, second.body) == (503, b"busy")
    assert third.response.status_code == 404
    assert third.header("content-type") == "text/plain; charset=utf-8"
    assert third.ending == "complete"


async def test_default_can_be_a_response_or_a_handler(server: SSETestServer) -> None:
    server.default = ScriptedResponse(status=204, headers=(), framing="close")
    assert (await fetch(server)).response.status_code == 204
    server.default = lambda req: ScriptedResponse(body=[req.target])
    assert (await fetch(server, target="/echo")).body == b"/echo"


async def test_handler_takes_precedence_over_the_script(server: SSETestServer) -> None:
    server.script(ScriptedResponse(body=[b"scripted"]))

    async def resume(req: RecordedRequest) -> ScriptedResponse:
        await trio.lowlevel.checkpoint()
        return ScriptedResponse(body=[f"after {req.header('last-event-id')}"])

    server.handler = resume
    assert (await fetch(server, headers=[("Last-Event-ID", "7")])).body == b"after 7"
    server.handler = None
    assert (await fetch(server)).body == b"scripted"


async def test_a_failing_handler_answers_500_and_the_server_survives(
    server: SSETestServer,
) -> None:
    def broken(req: RecordedRequest) -> ScriptedResponse:
        raise RuntimeError("boom")

    server.handler = broken
    assert (await fetch(server)).response.status_code == 500
    assert [type(e) for e in server.errors] == [RuntimeError]
    server.handler = lambda req: "not a response"  # type: ignore[assignment,return-value]
    assert (await fetch(server)).response.status_code == 500  # a wrong answer fails too
    assert [type(e) for e in server.errors] == [RuntimeError, TypeError]
    server.handler = None
    server.script(ScriptedResponse(body=["fine"]))
    assert (await fetch(server)).body == b"fine"


async def test_a_malformed_request_gets_400_and_the_server_survives(
    server: SSETestServer,
) -> None:
    stream = await connect(server)
    async with stream:
        await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
        reply = b""
        while chunk := await stream.receive_some(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert server.errors == []
    assert (await fetch(server)).response.status_code == 404


async def test_a_client_that_leaves_without_a_request_is_fine(server: SSETestServer) -> None:
    stream = await connect(server)
    await stream.aclose()
    await server.wait_for_disconnects(1)
    assert server.requests == []
    assert server.errors == []


# -- framing x end ----------------------------------------------------------------------

BODY = (b"data: one\n\n", "data: d\u00e9j\u00e0 vu\n\n", b"id: 3\ndata: three\n\n")
EXPECTED = b"".join(x.encode() if isinstance(x, str) else x for x in BODY)
FRAMINGS = ["chunked", "content-length", "close"]


def framing_headers(result: Result) -> tuple[str | None, str | None]:
    return result.header("transfer-encoding"), result.header("content-length")


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_end_close_sends_a_complete_message(server: SSETestServer, framing: Framing) -> None:
    server.script(ScriptedResponse(body=BODY, framing=framing, end="close"))
    result = await fetch(server)
    assert (result.ending, result.body) == ("complete", EXPECTED)
    expected_headers = {
        "chunked": ("chunked", None),
        "content-length": (None, str(len(EXPECTED))),
        "close": (None, None),
    }
    assert framing_headers(result) == expected_headers[framing]
    await server.wait_for_disconnects(1)


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_end_truncate_closes_mid_message(server: SSETestServer, framing: Framing) -> None:
    server.script(ScriptedResponse(body=BODY, framing=framing, end="truncate"))
    result = await fetch(server)
    assert result.body == EXPECTED
    # A close-delimited body has no "middle": closing is how it ends.
    assert result.ending == ("complete" if framing == "close" else "truncated")
    if framing == "content-length":
        assert result.header("content-length") == str(len(EXPECTED) + 1)


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_end_reset_aborts_the_connection(server: SSETestServer, framing: Framing) -> None:
    server.script(ScriptedResponse(body=BODY, framing=framing, end="reset"))
    stream = await connect(server)
    async with stream:
        client = h11.Connection(h11.CLIENT)
        await send_request(stream, client)
        result = await read_response(stream, client)
        assert EXPECTED.startswith(result.body)
        if result.ending == "complete":  # Content-Length: every byte came before the RST
            assert framing == "content-length"
            with pytest.raises(trio.BrokenResourceError) as info:
                await stream.receive_some(65536)
            error: BaseException | None = info.value
        else:
            assert result.ending == "reset"
            error = result.error
    assert isinstance(error, trio.BrokenResourceError)
    assert isinstance(error.__cause__, ConnectionResetError)


async def test_end_now_in_the_body_overrides_the_ending(server: SSETestServer) -> None:
    """EndNow stops the body where it stands and ends the response its own way: here a
    scripted clean close becomes a truncation after the first item, body cut short."""
    server.script(ScriptedResponse(body=[BODY[0], EndNow("truncate"), BODY[1]], end="close"))
    result = await fetch(server)
    assert result.body == BODY[0]
    assert result.ending == "truncated"


async def test_end_now_from_a_computed_body(server: SSETestServer) -> None:
    async def body() -> AsyncIterator[bytes | EndNow]:
        yield b"data: one\n\n"
        yield EndNow("reset")
        yield b"data: never sent\n\n"  # pragma: no cover

    server.script(ScriptedResponse(body=body))
    result = await fetch(server)
    assert result.body == b"data: one\n\n"
    assert result.ending == "reset"


def test_end_now_rejects_unknown_endings() -> None:
    with pytest.raises(ValueError, match=r"EndNow\.end"):
        EndNow("explode")  # type: ignore[arg-type]  # deliberately wrong: checks the ValueError


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_end_hang_keeps_the_connection_open(server: SSETestServer, framing: Framing) -> None:
    server.script(ScriptedResponse(body=BODY, framing=framing, end="hang"))
    stream = await connect(server)
    client = h11.Connection(h11.CLIENT)
    await send_request(stream, client)
    result = await read_response(stream, client, stop_after=EXPECTED)
    assert (result.ending, result.body) == ("open", EXPECTED)
    assert server.connections_open == 1
    await stream.aclose()  # the server notices the client leaving
    await server.wait_for_disconnects(1)
    assert server.connections_open == 0


@pytest.mark.parametrize("framing", ["chunked", "close"])
async def test_hang_sends_nothing_more_until_the_server_closes(framing: Framing) -> None:
    with trio.fail_after(5):
        async with open_sse_test_server() as server:
            server.script(ScriptedResponse(body=BODY, framing=framing, end="hang"))
            stream = await connect(server)
            client = h11.Connection(h11.CLIENT)
            await send_request(stream, client)
            assert (await read_response(stream, client, stop_after=EXPECTED)).ending == "open"
            await server.aclose()
        # Whatever arrives after the hang is only the close: no terminator, no more data.
        assert await stream.receive_some(65536) == b""
        await stream.aclose()
    client.receive_data(b"")
    if framing == "chunked":
        with pytest.raises(h11.RemoteProtocolError):
            client.next_event()
    else:
        assert isinstance(client.next_event(), h11.EndOfMessage)


# -- bodies -----------------------------------------------------------------------------


async def test_pause_uses_trio_time(server: SSETestServer, autojump_clock: trio.abc.Clock) -> None:
    server.script(ScriptedResponse(body=[b"a", Pause(30), b"b", Pause(30)]))
    start = trio.current_time()
    result = await fetch(server)
    assert result.body == b"ab"
    assert trio.current_time() - start >= 60


async def test_async_callable_body(server: SSETestServer) -> None:
    async def ticks() -> AsyncIterator[bytes | str | Pause]:
        for i in range(3):
            yield f"data: {i}\n\n"
            yield Pause(0)

    server.script(ScriptedResponse(body=ticks), ScriptedResponse(body=ticks))
    expected = b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert (await fetch(server)).body == expected
    assert (await fetch(server)).body == expected  # a callable body is reusable


async def test_bare_bytes_or_str_body_is_one_write(server: SSETestServer) -> None:
    server.script(ScriptedResponse(body=b"data: x\n\n"), ScriptedResponse(body="data: \u2603\n\n"))
    assert (await fetch(server)).body == b"data: x\n\n"
    assert (await fetch(server)).body == "data: \u2603\n\n".encode()


async def test_a_failing_body_script_is_recorded(server: SSETestServer) -> None:
    def body() -> AsyncIterator[bytes]:
        raise ValueError("bad script")

    server.script(ScriptedResponse(body=body))
    result = await fetch(server)
    assert result.ending == "truncated"
    assert [type(e) for e in server.errors] == [ValueError]


def test_content_length_needs_a_finite_body() -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x"

    with pytest.raises(ValueError, match="content-length"):
        ScriptedResponse(body=endless, framing="content-length")
    with pytest.raises(ValueError, match="end"):
        ScriptedResponse(end="explode")  # type: ignore[arg-type]  # deliberately wrong: checks the ValueError
    with pytest.raises(ValueError, match="Pause"):
        Pause(-1)


async def test_explicit_framing_headers_are_kept(server: SSETestServer) -> None:
    headers = (("Content-Type", "text/event-stream"), ("Content-Length", "3"))
    server.script(ScriptedResponse(headers=headers, body=[b"abc"], framing="content-length"))
    result = await fetch(server)
    assert (result.header("content-length"), result.body) == ("3", b"abc")


async def test_a_wrong_content_length_can_be_scripted(server: SSETestServer) -> None:
    """The promise that makes it useful: only the scripted Content-Length is sent, so a
    client sees a body cut short (h11 would refuse two different values)."""
    headers = (("Content-Type", "text/event-stream"), ("Content-Length", "100"))
    server.script(
        ScriptedResponse(headers=headers, body=[b"data: x\n\n"], framing="content-length")
    )
    result = await fetch(server)
    lengths = [v for k, v in result.response.headers if k == b"content-length"]
    assert (lengths, result.body, result.ending) == ([b"100"], b"data: x\n\n", "truncated")


def test_events_helper_and_sse_stream_render_the_wire_format() -> None:
    ev = ServerSentEvent(data="a\nb", event="t", id="1")
    response = ScriptedResponse.events(ev, Pause(1), ": hi\n\n", b"data: raw\n\n", end="hang")
    assert response.body == (str(ev), Pause(1), ": hi\n\n", b"data: raw\n\n")
    assert response.end == "hang"
    wire = sse_stream(ev, ": hi\n\n", b"data: raw\n\n")
    assert wire == b"event: t\nid: 1\ndata: a\ndata: b\n\n: hi\n\ndata: raw\n\n"
    with pytest.raises(TypeError):
        sse_stream(Pause(1))  # type: ignore[arg-type]  # deliberately wrong: checks the TypeError


# -- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


async def test_tls(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls
    async with open_sse_test_server(ssl_context=server_ctx) as server:
        assert server.url == f"https://127.0.0.1:{server.port}/"
        server.script(
            ScriptedResponse.events(ServerSentEvent(data="secret")),
            ScriptedResponse(body=BODY, end="truncate"),
        )
        assert (await fetch(server, client_ctx)).body == b"data: secret\n\n"
        assert (await fetch(server, client_ctx)).ending == "truncated"


async def test_tls_reset_resets_the_tcp_connection(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = tls
    async with open_sse_test_server(ssl_context=server_ctx) as server:
        server.script(ScriptedResponse(body=BODY, end="reset"))
        result = await fetch(server, client_ctx)
    assert result.ending == "reset"
    assert isinstance(result.error, trio.BrokenResourceError)


async def test_a_failed_tls_handshake_does_not_crash_the_server(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, _ = tls
    untrusting = ssl.create_default_context()  # does not know our CA
    async with open_sse_test_server(ssl_context=server_ctx) as server:
        stream = await connect(server, untrusting)
        with pytest.raises(trio.BrokenResourceError):
            await stream.send_all(b"GET / HTTP/1.1\r\n\r\n")
        await stream.aclose()
        await server.wait_for_disconnects(1)
        assert server.errors == []


# -- waiting, lifecycle -------------------------------------------------------------------


async def test_wait_for_requests_blocks_until_enough_arrived(server: SSETestServer) -> None:
    got: list[RecordedRequest] = []

    async def waiter() -> None:
        got.extend(await server.wait_for_requests(2))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await fetch(server, target="/1")
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        await fetch(server, target="/2")
    assert [r.target for r in got] == ["/1", "/2"]
    assert await server.wait_for_requests(1) == got[:1]  # returns the first n


async def test_waiting_on_a_closed_server_raises_instead_of_hanging() -> None:
    async with open_sse_test_server() as server:
        pass
    with pytest.raises(trio.ClosedResourceError):
        await server.wait_for_requests(1)
    with pytest.raises(trio.ClosedResourceError):
        await server.wait_for_disconnects(1)


async def test_aclose_is_idempotent_and_closes_hanging_connections() -> None:
    async with open_sse_test_server() as server:
        server.script(ScriptedResponse(body=["data: x\n\n"], end="hang", framing="close"))
        stream = await connect(server)
        client = h11.Connection(h11.CLIENT)
        await send_request(stream, client)
        await read_response(stream, client, stop_after=b"data: x\n\n")
        with trio.fail_after(5):
            await server.aclose()
            await server.aclose()
        assert server.connections_open == 0
        assert await stream.receive_some(100) == b""  # the server closed it
        await stream.aclose()
        with pytest.raises(OSError, match="connect"):  # no longer listening
            await connect(server)


async def test_leaving_the_block_with_a_hanging_connection_is_prompt() -> None:
    with trio.fail_after(5):
        async with open_sse_test_server() as server:
            server.default = ScriptedResponse(body=["data: x\n\n"], end="hang")
            streams = [await connect(server) for _ in range(3)]
            for stream in streams:
                await send_request(stream, h11.Connection(h11.CLIENT))
            await server.wait_for_requests(3)
        assert server.connections_open == 0
        for stream in streams:
            await stream.aclose()


async def test_a_failing_block_raises_its_own_exception() -> None:
    with pytest.raises(KeyError):
        async with open_sse_test_server():
            raise KeyError("not wrapped in an ExceptionGroup")


async def test_serve_with_nursery_start() -> None:
    async with trio.open_nursery() as nursery:
        serve = functools.partial(serve_sse_test_server, responses=[ScriptedResponse(body=["hi"])])
        server = await nursery.start(serve)
        assert isinstance(server, SSETestServer)
        assert (await fetch(server)).body == b"hi"
        nursery.cancel_scope.cancel()
    assert server.connections_open == 0


async def test_serve_returns_after_aclose() -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_sse_test_server)
        await server.aclose()  # the nursery can now exit on its own


async def test_url_and_statistics(server: SSETestServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}/"
    assert server.url_for("/a/b?c=1") == f"http://127.0.0.1:{server.port}/a/b?c=1"
    assert server.url_for("x") == f"http://127.0.0.1:{server.port}/x"
    await fetch(server)
    await server.wait_for_disconnects(1)
    stats = server.statistics()
    assert (stats.requests, stats.connections_open, stats.connections_total) == (1, 0, 1)
    assert stats.connections_closed == 1


# -- demo -----------------------------------------------------------------------------------


def parse(body: bytes) -> list[ServerSentEvent]:
    parser = SSEParser(show_comment_events=True, show_retry_events=True)
    return parser.feed(body) + parser.feed_eof()


async def test_demo_responses_are_a_pleasant_valid_stream(
    server: SSETestServer, autojump_clock: trio.abc.Clock
) -> None:
    server.script(*demo_responses())
    result = await fetch(server)
    assert parse(result.body) == demo_events()
    kinds = {(ev.event, ev.comments is not None, ev.retry is not None) for ev in demo_events()}
    assert (None, True, False) in kinds  # a comment
    assert (None, False, True) in kinds  # a retry
    assert any(ev.data and "\n" in ev.data for ev in demo_events())  # multi-line data


async def test_demo_handler_resumes_from_last_event_id(
    server: SSETestServer, autojump_clock: trio.abc.Clock
) -> None:
    server.handler = DemoHandler(per_connection=3)
    seen: list[ServerSentEvent] = []
    ids_per_connection: list[int] = []
    last_id: str | None = None
    for _ in range(10):
        headers = [("Last-Event-ID", last_id)] if last_id else []
        result = await fetch(server, headers=headers)
        if result.response.status_code == 204:
            break
        events = parse(result.body)
        seen.extend(events)
        ids = [ev.id for ev in events if ev.id]
        ids_per_connection.append(len(ids))
        last_id = ids[-1]
    assert seen == demo_events()
    assert ids_per_connection == [3, 3]  # at most per_connection each, then 204
    assert len(server.requests) == 3
