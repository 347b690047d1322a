"""The ``trio-sse`` command line: the demo end to end in a subprocess, and ``stream``
against a scripted server (main() calls trio.run, so it runs in a worker thread)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.proxy_server import open_proxy_server
from trio_sse import ServerSentEvent
from trio_sse.__main__ import main
from trio_sse.testing import ScriptedResponse, SSETestServer

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_to_the_end() -> None:
    """``python -m trio_sse demo`` connects, reconnects with Last-Event-ID until the
    demo server says 204, prints every demo event, and exits 0."""
    result = subprocess.run(
        [sys.executable, "-m", "trio_sse", "demo", "--pause", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "# demo server listening on http://127.0.0.1:" in out
    assert "# connected: HTTP 200" in out
    assert "data: hello from the demo server" in out
    assert "data: a plain message\ndata: with two lines" in out
    assert "data: that's all, folks" in out
    assert ": welcome to the trio-sse demo" in out
    # Each event exactly once across the reconnects, in order.
    ids = [line[4:] for line in out.splitlines() if line.startswith("id: ")]
    assert ids == ["1", "2", "3", "4", "5", "6"]
    assert "the server said stop (204)" in out
    assert "last event id '6'" in out


async def run_main(*argv: str) -> int:
    """main() in a worker thread: it starts its own trio.run."""
    return await trio.to_thread.run_sync(main, list(argv))


async def test_stream_prints_n_events(
    server: SSETestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``stream URL -n 2`` prints two events in wire format, sends the headers and
    Last-Event-ID it was given, and stops (closing the connection) with status 0."""
    server.script(
        ScriptedResponse.events(
            ServerSentEvent(data="one", id="1"),
            ServerSentEvent(data="two", event="tick", id="2"),
            ServerSentEvent(data="three", id="3"),
            end="hang",
        )
    )
    url = server.url_for("/events")
    argv = ["stream", url, "-n", "2", "-H", "X-Token: abc", "--last-event-id", "0"]
    with trio.fail_after(10):
        assert await run_main(*argv) == 0
        await server.wait_for_disconnects(1)
    out = capsys.readouterr().out
    assert out == "id: 1\ndata: one\n\nevent: tick\nid: 2\ndata: two\n\n"
    (request,) = server.requests
    assert request.target == "/events"
    assert request.header("x-token") == "abc"
    assert request.header("last-event-id") == "0"


async def test_stream_reports_a_refusal(
    server: SSETestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 404 is reported on stderr with exit status 1, not as a traceback."""
    server.script(ScriptedResponse(status=404, body=b"nope", framing="content-length"))
    with trio.fail_after(10):
        assert await run_main("stream", server.url) == 1
    err = capsys.readouterr().err
    assert "SSEResponseError" in err
    assert "404" in err


def test_stream_rejects_a_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    """A URL that is not http(s) is a usage error (status 2), found before connecting."""
    assert main(["stream", "ftp://example.invalid/x"]) == 2
    assert "ftp" in capsys.readouterr().err


def test_stream_rejects_a_bad_header() -> None:
    """A -H without a colon exits with a message naming the header."""
    with pytest.raises(SystemExit, match="bad header"):
        main(["stream", "http://127.0.0.1:1/", "-H", "no colon here"])


@pytest.mark.parametrize("count", ["0", "-3"])
def test_stream_rejects_a_count_below_one(count: str, capsys: pytest.CaptureFixture[str]) -> None:
    """-n 0 would still print one event; it is a usage error instead."""
    with pytest.raises(SystemExit) as info:
        main(["stream", "http://127.0.0.1:1/", "-n", count])
    assert info.value.code == 2
    assert "at least 1" in capsys.readouterr().err


async def test_stream_through_a_proxy(
    server: SSETestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--proxy URL`` as curl's -x: the request goes to the proxy in absolute form."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="via proxy")))
    async with open_proxy_server() as proxy:
        with trio.fail_after(10):
            assert await run_main("stream", server.url, "--proxy", proxy.url) == 0
    assert "data: via proxy" in capsys.readouterr().out
    assert [r.target for r in proxy.requests] == [server.url]


def test_stream_rejects_a_bad_proxy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stream", "http://127.0.0.1:1/", "--proxy", "socks5://p:1"]) == 2
    assert "socks5" in capsys.readouterr().err


def test_stream_over_a_missing_unix_socket(capsys: pytest.CaptureFixture[str]) -> None:
    """``--unix-socket PATH``: nothing listening there is a connection error (status 1)."""
    assert main(["stream", "http://localhost/", "--unix-socket", "/nonexistent/sse.sock"]) == 1
    assert "/nonexistent/sse.sock" in capsys.readouterr().err
