"""The command line's smaller promises, one test each: the ones a one-line change to
trio_sse/__main__.py broke without any other test noticing (a mutation review)."""

from __future__ import annotations

import json

import pytest
import trio

from tests.test_cli import SAFETY, Terminal, cli, cli_env, in_process, one_line, open_json_stream
from tests.test_transport import serve_unix, socket_path  # noqa: F401 (a fixture)
from trio_sse import ServerSentEvent
from trio_sse.__main__ import EXIT_TIMEOUT, _wants_colour
from trio_sse.testing import ScriptedResponse, SSETestServer


def test_no_colour_on_a_dumb_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "dumb")
    assert not _wants_colour(Terminal())


async def test_pretty_shows_comments_retry_and_an_empty_id(
    server: SSETestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format pretty: comment lines (with --comments), the retry (with --retry-events),
    an empty id line as ``id=`` and multi-line data, one line each."""
    server.script(
        ScriptedResponse.events(
            "id\ndata: reset\n\n",
            ServerSentEvent(comments="ping\npong"),
            "retry: 250\n\n",
            ServerSentEvent(data="a\nb", event="multi", id="9"),
        )
    )
    argv = ["stream", server.url, "--format", "pretty", "--comments", "--retry-events"]
    result = await in_process(capsys, *argv)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == (
        "message id=\n  reset\n\n"
        "message\n  : ping\n  : pong\n\n"
        "message retry=250ms\n\n"
        "multi id=9\n  a\n  b\n\n"
    )


async def test_data_at_minus_reads_standard_input(server: SSETestServer) -> None:
    """``-d @-`` reads the body from stdin, as ``-d -`` does (curl's spelling)."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="ok")))
    result = await cli("stream", server.url, "-d", "@-", stdin=b"piped body")
    assert result.returncode == 0, result.stderr
    (request,) = server.requests
    assert (request.method, request.body) == ("POST", b"piped body")


async def test_connect_timeout_is_the_one_given(capsys: pytest.CaptureFixture[str]) -> None:
    """--connect-timeout reaches the client: a server that accepts the connection but
    never answers is given up on after that long (exit 4), not after the default."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")  # never accepting
    port = listeners[0].socket.getsockname()[1]
    try:
        url = f"http://127.0.0.1:{port}/"
        result = await in_process(capsys, "stream", url, "--connect-timeout", "0.25")
    finally:
        for listener in listeners:
            await listener.aclose()
    assert result.returncode == EXIT_TIMEOUT
    assert "connect_timeout=0.25s" in one_line(result.stderr)


async def test_unix_socket_carries_the_stream(
    server: SSETestServer,
    socket_path: str,  # noqa: F811 (the fixture imported above)
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--unix-socket PATH: the request goes over the socket file, the URL names the Host."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="over a socket file")))
    async with serve_unix(server, socket_path):
        url = "http://docker.invalid/events"
        result = await in_process(capsys, "stream", url, "--unix-socket", socket_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"data: over a socket file\n\n"
    (request,) = server.requests
    assert request.header("host") == "docker.invalid"


def test_an_error_message_is_folded_onto_one_line() -> None:
    """Whatever an error's message holds (a server's text, an OS message), stderr gets
    one line: its words, whitespace folded; an empty message gives the error's name."""
    from trio_sse import SSEError
    from trio_sse.__main__ import _one_line

    assert _one_line(SSEError("refused:\n  no\r\nsuch   stream\n")) == "refused: no such stream"
    assert _one_line(SSEError()) == "SSEError"


async def test_a_reader_that_leaves_ends_the_stream_quietly(server: SSETestServer) -> None:
    """``trio-sse stream URL | head -1``: when the reader of stdout goes away the command
    stops with status 0 and no traceback (no BrokenPipeError, not even at exit)."""
    payload = "x" * 1024
    events = [ServerSentEvent(data=payload, id=str(i)) for i in range(400)]  # > a pipe buffer
    server.script(ScriptedResponse.events(*events, end="hang"))
    with trio.fail_after(SAFETY):
        process = await open_json_stream(server.url)
        assert process.stdout is not None
        assert process.stderr is not None
        first = await process.stdout.receive_some()
        assert json.loads(first.split(b"\n")[0])["id"] == "0"
        await process.stdout.aclose()
        assert await process.wait() == 0
        err = b""
        while chunk := await process.stderr.receive_some():
            err += chunk
    assert err == b""


def test_header_values_are_trimmed() -> None:
    """``-H 'Name:   value  '`` sends ``value``: curl trims around the value too."""
    from trio_sse.__main__ import _headers

    assert _headers(["X-A:   spaced out  ", "X-B:"]) == [("X-A", "spaced out"), ("X-B", "")]


async def test_no_proxy_from_the_environment_is_honoured(server: SSETestServer) -> None:
    """HTTP_PROXY names a dead proxy, NO_PROXY exempts the server's host: the stream is
    read directly, as the library reads the environment."""
    from tests.test_cli import socket_without_listener

    server.script(ScriptedResponse.events(ServerSentEvent(data="direct")))
    with socket_without_listener() as port:
        env = cli_env(HTTP_PROXY=f"http://127.0.0.1:{port}", NO_PROXY="127.0.0.1")
        result = await cli("stream", server.url, env=env)
    assert (result.returncode, result.stdout) == (0, b"data: direct\n\n"), result.stderr


async def test_event_message_also_picks_events_named_message(
    server: SSETestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--event message`` picks the default type, whether the server wrote no event
    line or ``event: message`` (the same type to EventSource); other types are left out."""
    server.script(
        ScriptedResponse.events(
            "event: message\ndata: named\n\n", "data: unnamed\n\n", "event: tick\ndata: t\n\n"
        )
    )
    result = await in_process(capsys, "stream", server.url, "--event", "message")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"event: message\ndata: named\n\ndata: unnamed\n\n"
