"""The ``trio-sse`` command line: the demo end to end in a subprocess, and ``stream``
against a scripted server (main() calls trio.run, so it runs in a worker thread)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trustme

from tests.proxy_server import open_proxy_server
from trio_sse import (
    ServerSentEvent,
    SSEConnectionError,
    SSEError,
    SSEProtocolError,
    SSETimeoutError,
)
from trio_sse.__main__ import (
    EXIT_CONNECTION,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_PROTOCOL,
    EXIT_PROXY,
    EXIT_RESPONSE,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    _exit_code,
    _Printer,
    main,
)
from trio_sse.testing import Pause, ScriptedResponse, SSETestServer, open_sse_test_server

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


# -- the command line as a subprocess against the test server -----------------------------

SAFETY = 30  # seconds: a hang guard, never part of what is tested
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def restore_sigint() -> None:
    """In the child before exec: SIGINT as a terminal would deliver it (not ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_env(**extra: str) -> dict[str, str]:
    """The environment without proxy settings (they would apply to loopback too)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.pop("NO_COLOR", None)
    return {**env, **extra}


async def open_json_stream(url: str) -> trio.Process:
    """``trio-sse stream URL --format json`` left running, its stdout and stderr piped,
    for tests that read it as it goes and then signal or close it."""
    return await trio.lowlevel.open_process(
        [sys.executable, "-m", "trio_sse", "stream", url, "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
        # A test run started in the background (``pytest &``) inherits SIGINT
        # ignored, and so would the CLI, rightly: give it the terminal's default.
        preexec_fn=restore_sigint,
    )


async def cli(
    *argv: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``python -m trio_sse`` with these arguments; our trio loop serves meanwhile."""
    with trio.fail_after(SAFETY):
        return await trio.run_process(
            [sys.executable, "-m", "trio_sse", *argv],
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=env or cli_env(),
        )


@contextlib.contextmanager
def socket_without_listener() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening) meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def in_process(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> subprocess.CompletedProcess[bytes]:
    """main() in a worker thread (it starts its own trio.run): the output formats need no
    new interpreter each; the process-level behaviour has its subprocess tests."""
    with trio.fail_after(SAFETY):
        code = await trio.to_thread.run_sync(main, list(argv))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(
        list(argv), code, captured.out.encode(), captured.err.encode()
    )


def one_line(stderr: bytes) -> str:
    """The single line a failure prints (never a traceback)."""
    text = stderr.decode()
    assert "Traceback" not in text
    assert text.endswith("\n")
    assert text.count("\n") == 1, text
    return text


IDS = ScriptedResponse.events(
    ServerSentEvent(data="one", id="1"),
    ServerSentEvent(data="two", event="tick"),  # no id line: remembers "1"
    ServerSentEvent(data="three", id="1"),  # the server repeats its id
    "id\ndata: four\n\n",  # an empty id line resets the last event ID
    ServerSentEvent(comments="ping"),
    "retry: 250\n\n",
    ServerSentEvent(data="a\nb", event="multi", id="9"),
)


async def test_json_lines_carry_each_events_own_id(
    server: SSETestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format json: one object per line for jq; ``id`` is the event's own id line,
    also when the server repeats an id, "" for an empty id line, null when none."""
    server.script(IDS)
    result = await in_process(
        capsys, "stream", server.url, "--format", "json", "--comments", "--retry-events"
    )
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert objects == [
        {"event": None, "data": "one", "id": "1", "retry": None, "comments": None},
        {"event": "tick", "data": "two", "id": None, "retry": None, "comments": None},
        {"event": None, "data": "three", "id": "1", "retry": None, "comments": None},
        {"event": None, "data": "four", "id": "", "retry": None, "comments": None},
        {"event": None, "data": None, "id": None, "retry": None, "comments": "ping"},
        {"event": None, "data": None, "id": None, "retry": 250, "comments": None},
        {"event": "multi", "data": "a\nb", "id": "9", "retry": None, "comments": None},
    ]


async def test_sticky_ids_print_the_remembered_last_event_id(
    server: SSETestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script(IDS)
    result = await in_process(capsys, "stream", server.url, "--format", "json", "--sticky-ids")
    ids = [json.loads(line)["id"] for line in result.stdout.decode().splitlines()]
    assert ids == ["1", "1", "1", None, "9"]


async def test_raw_is_the_wire_format_and_event_filters(
    server: SSETestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format raw re-creates the id lines the server sent; --event filters by type
    ("message" = no type), -n counts printed events only."""
    server.script(IDS, IDS)
    result = await in_process(capsys, "stream", server.url, "--format", "raw")
    assert result.stdout.decode() == (
        "id: 1\ndata: one\n\nevent: tick\ndata: two\n\nid: 1\ndata: three\n\n"
        "id: \ndata: four\n\nevent: multi\nid: 9\ndata: a\ndata: b\n\n"
    )
    result = await in_process(
        capsys, "stream", server.url, "--event", "multi", "--event", "message", "-n", "3"
    )
    assert result.returncode == 0
    assert (
        result.stdout.decode() == "id: 1\ndata: one\n\nid: 1\ndata: three\n\nid: \ndata: four\n\n"
    )


async def test_pretty_is_plain_text_off_a_terminal(
    server: SSETestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script(IDS)
    result = await in_process(capsys, "stream", server.url, "--format", "pretty", "-n", "2")
    out = result.stdout.decode()
    assert out == "message id=1\n  one\n\ntick\n  two\n\n"
    assert "\x1b[" not in out


class Terminal(io.StringIO):
    """A text stream that says it is a terminal, for the colour decision."""

    def isatty(self) -> bool:
        return True


def test_pretty_is_coloured_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Colour when stdout is a terminal (unless NO_COLOR); never in a pipe."""
    from trio_sse.__main__ import _wants_colour

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    terminal = Terminal()
    assert _wants_colour(terminal)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not _wants_colour(terminal)
    printer = _Printer("pretty", terminal, colour=True)
    printer.print(ServerSentEvent("hi", "greeting", "7"))
    assert terminal.getvalue() == "\x1b[1;36mgreeting\x1b[0m \x1b[33mid=7\x1b[0m\n  hi\n\n"


async def test_request_options_reach_the_server(server: SSETestServer, tmp_path: Path) -> None:
    """-X, repeated -H, -d @file, --last-event-id; -d - reads stdin (POST by default);
    --json sets the Content-Type."""
    body_file = tmp_path / "body.txt"
    body_file.write_bytes(b"from a file")
    server.script(ONE_EVENT, ONE_EVENT, ONE_EVENT)
    args = ["-H", "X-A: 1", "-H", "X-B: two words", "--last-event-id", "41"]
    result = await cli("stream", server.url, "-X", "PUT", "-d", f"@{body_file}", *args)
    assert result.returncode == 0, result.stderr
    result = await cli("stream", server.url, "-d", "-", stdin=b"from stdin")
    assert result.returncode == 0, result.stderr
    result = await cli("stream", server.url, "--json", '{"prompt": "hi"}')
    assert result.returncode == 0, result.stderr
    first, second, third = server.requests
    assert (first.method, first.body) == ("PUT", b"from a file")
    assert (first.header("x-a"), first.header("x-b")) == ("1", "two words")
    assert first.header("last-event-id") == "41"
    assert (second.method, second.body) == ("POST", b"from stdin")
    assert (third.method, json.loads(third.body)) == ("POST", {"prompt": "hi"})
    assert third.header("content-type") == "application/json"
    assert first.header("accept") == "text/event-stream"


ONE_EVENT = ScriptedResponse.events(ServerSentEvent(data="ok"))


async def test_reconnects_are_reported_on_stderr(server: SSETestServer) -> None:
    """--reconnect N with --reconnection-time: each reconnect is one line on stderr and
    the stream resumes with Last-Event-ID; the events alone go to stdout."""
    server.script(
        ScriptedResponse.events(ServerSentEvent(data="a", id="1")),
        ScriptedResponse.events(ServerSentEvent(data="b", id="2")),
        ScriptedResponse(status=204),
    )
    result = await cli("stream", server.url, "--reconnect", "inf", "--reconnection-time", "0.01")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "id: 1\ndata: a\n\nid: 2\ndata: b\n\n"
    err = result.stderr.decode().splitlines()
    assert err == [
        "trio-sse: the server ended the stream; reconnecting in 0.01s (attempt 1)",
        "trio-sse: reconnected (HTTP 200)",
        "trio-sse: the server ended the stream; reconnecting in 0.01s (attempt 1)",
    ]  # the 204 then ends the stream: exit 0, nothing more to say
    assert [r.header("last-event-id") for r in server.requests] == [None, "1", "2"]


async def test_ctrl_c_exits_130_without_a_traceback(server: SSETestServer) -> None:
    """SIGINT once the first event is printed: exit status 130, nothing on stderr."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="first"), end="hang"))
    with trio.fail_after(SAFETY):
        process = await open_json_stream(server.url)
        assert process.stdout is not None
        assert process.stderr is not None
        received = b""
        while b"\n" not in received:
            chunk = await process.stdout.receive_some()
            assert chunk, "the CLI exited before printing an event"
            received += chunk
        assert json.loads(received)["data"] == "first"
        process.send_signal(signal.SIGINT)
        assert await process.wait() == EXIT_INTERRUPTED
        err = b""
        while chunk := await process.stderr.receive_some():
            err += chunk
    assert err == b""


def console_script(
    *argv: str, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The ``trio-sse`` command as pip installs it: a wrapper that imports pyproject's
    [project.scripts] entry and exits with what it returns."""
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    (entry,) = re.findall(r'^trio-sse = "([^"]+)"', pyproject, re.MULTILINE)
    module, _, function = entry.partition(":")
    wrapper = f"import sys\nfrom {module} import {function}\nsys.exit({function}())\n"
    paths = [str(REPO_ROOT)] if pythonpath is None else [str(pythonpath), str(REPO_ROOT)]
    return subprocess.run(
        [sys.executable, "-c", wrapper, *argv],
        cwd=pythonpath or REPO_ROOT,
        env=cli_env(PYTHONPATH=os.pathsep.join(paths)),
        capture_output=True,
        timeout=SAFETY,
        check=False,
    )


def test_ctrl_c_while_loading_exits_130_without_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C in the first fraction of a second, while Python still imports trio: the
    console script exits 130 quietly too. That Ctrl-C is a fake ``trio`` first on the
    path, whose import raises KeyboardInterrupt as a SIGINT there would."""
    (tmp_path / "trio").mkdir()
    (tmp_path / "trio" / "__init__.py").write_text("raise KeyboardInterrupt\n")
    result = console_script("stream", "http://127.0.0.1:1/", pythonpath=tmp_path)
    assert (result.returncode, result.stderr) == (EXIT_INTERRUPTED, b"")


def test_console_script_runs_the_command_line() -> None:
    """The entry that catches that early Ctrl-C hands the arguments on unchanged."""
    result = console_script("stream", "http://127.0.0.1:1/", "-H", "no colon")
    assert result.returncode == EXIT_USAGE
    assert "bad header 'no colon'" in one_line(result.stderr)


# -- exit codes, one each ---------------------------------------------------------------------


async def test_exit_code_response_refused(server: SSETestServer) -> None:
    server.script(ScriptedResponse(status=404, body=b"nope", framing="content-length"))
    result = await cli("stream", server.url)
    assert result.returncode == EXIT_RESPONSE
    assert "404" in one_line(result.stderr)


async def test_exit_code_connection_failed() -> None:
    with socket_without_listener() as port:
        result = await cli("stream", f"http://127.0.0.1:{port}/")
    assert result.returncode == EXIT_CONNECTION
    assert f"127.0.0.1:{port}" in one_line(result.stderr)


async def test_exit_code_timeout(server: SSETestServer) -> None:
    server.script(ScriptedResponse.events(Pause(60), end="hang"))
    result = await cli("stream", server.url, "--read-timeout", "0.2")
    assert result.returncode == EXIT_TIMEOUT
    assert "read_timeout" in one_line(result.stderr)


async def test_exit_code_protocol_error(server: SSETestServer) -> None:
    server.script(
        ScriptedResponse(headers=[("Content-Type", "text/event-stream"), ("Content-Length", "x")])
    )
    result = await cli("stream", server.url)
    assert result.returncode == EXIT_PROTOCOL, result.stderr
    one_line(result.stderr)


async def test_exit_code_proxy_failed(server: SSETestServer) -> None:
    """The library's proxy support reads the environment; an unreachable proxy is 7."""
    with socket_without_listener() as port:
        env = cli_env(HTTP_PROXY=f"http://127.0.0.1:{port}")
        result = await cli("stream", server.url, env=env)
    assert result.returncode == EXIT_PROXY
    assert "proxy" in one_line(result.stderr)


@pytest.mark.parametrize(
    ("status", "proxy_status", "code"),
    [
        (502, '"gw.example"; error=destination_unavailable', EXIT_PROXY),  # the proxy's own
        (502, '"gw.example"; error=http_protocol_error; received-status=502', EXIT_RESPONSE),
        (502, None, EXIT_RESPONSE),  # nothing says who made it: the server's, as it came
        (200, '"gw.example"; error=destination_unavailable', EXIT_RESPONSE),  # not a refusal
    ],
)
async def test_exit_code_of_a_refusal_a_proxy_says_it_made(
    server: SSETestServer, status: int, proxy_status: str | None, code: int
) -> None:
    """A forwarding proxy that cannot reach the server answers 502 itself; with a
    Proxy-Status error (RFC 9209) that is the proxy failing, 7, not the server, 5. A
    200 that is not an event stream is the server's answer, whatever the header says."""
    headers = [("Content-Type", "text/html")]
    headers += [("Proxy-Status", proxy_status)] if proxy_status else []
    server.script(
        ScriptedResponse(status=status, headers=headers, body=b"<p>no", framing="content-length")
    )
    result = await cli("stream", server.url)
    assert result.returncode == code, result.stderr
    said_proxy = "proxy 'gw.example' answered 502" in one_line(result.stderr)
    assert said_proxy == (code == EXIT_PROXY)


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (ScriptedResponse(status=503, body=b"busy", framing="content-length"), EXIT_RESPONSE),
        (
            ScriptedResponse(
                status=502,
                headers=[("Proxy-Status", '"gw.example"; error=destination_unavailable')],
                body=b"",
                framing="content-length",
            ),
            EXIT_PROXY,
        ),
        (ScriptedResponse(body=[]), EXIT_CONNECTION),  # a stream that ends without an event
    ],
)
async def test_giving_up_exits_with_the_last_failures_code(
    server: SSETestServer, answer: ScriptedResponse, code: int
) -> None:
    """--reconnect retries a 503, a proxy's own 502 and an empty stream; once the attempts
    are used up the exit code is the failure's, as it is without --reconnect, and not
    always 3 (the give-up error is an SSEConnectionError whatever failed)."""
    server.script(answer, answer)
    result = await cli("stream", server.url, "--reconnect", "1", "--reconnection-time", "0.01")
    assert result.returncode == code, result.stderr
    last_line = result.stderr.decode().splitlines()[-1]  # after one "reconnecting" line
    assert last_line.endswith("(gave up after 1 reconnection attempts)"), last_line
    assert len(server.requests) == 2


async def test_giving_up_on_an_unreachable_proxy_exits_7(server: SSETestServer) -> None:
    with socket_without_listener() as port:
        env = cli_env(HTTP_PROXY=f"http://127.0.0.1:{port}")
        result = await cli(
            "stream", server.url, "--reconnect", "1", "--reconnection-time", "0.01", env=env
        )
    assert result.returncode == EXIT_PROXY, result.stderr
    assert (
        result.stderr.decode().splitlines()[-1].endswith("(gave up after 1 reconnection attempts)")
    )


def test_a_give_up_is_classified_by_its_cause() -> None:
    for cause, code in [
        (SSEProtocolError("bad"), EXIT_PROTOCOL),
        (SSETimeoutError("slow"), EXIT_TIMEOUT),
        (SSEConnectionError("reset"), EXIT_CONNECTION),
    ]:
        gave_up = SSEConnectionError(f"{cause} (gave up)", attempts=3)
        gave_up.__cause__ = cause
        assert _exit_code(gave_up) == code
    lost = SSEConnectionError("lost")  # no attempts: not a give-up, whatever its cause
    lost.__cause__ = SSEProtocolError("bad")
    assert _exit_code(lost) == EXIT_CONNECTION


async def test_exit_code_usage() -> None:
    """A bad command line: one line naming the problem, exit 2, nothing connects."""
    result = await cli("stream", "http://127.0.0.1:1/", "-H", "no colon")
    assert result.returncode == EXIT_USAGE
    assert "bad header 'no colon'" in one_line(result.stderr)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--json", "{not json"], "not valid JSON"),
        (["-d", "@/nonexistent/body"], "cannot read '/nonexistent/body'"),
        (["--reconnect", "-2"], "expected a count, inf or -1"),
        (["--reconnect", "many"], "expected a count, inf or -1"),
        (["--read-timeout", "0"], "positive number"),
        (["--connect-timeout", "soon"], "expected seconds"),
        (["-n", "0"], "at least 1"),
        (["--format", "yaml"], "invalid choice"),
        (["--cacert", "/nonexistent/ca.pem"], "cannot load --cacert"),
        (["--data", "x", "--json", "{}"], "not allowed with"),
        (["--bogus"], "unrecognized arguments"),
        (["--reconnection-time", "inf"], "positive number"),
        (["--read-timeout", "nan"], "positive number"),
        (["--reconnect", "1.5"], "expected a count, inf or -1"),
        (["-H", ": no name"], "bad header"),
        (["--json", "@/nonexistent/body.json"], "cannot read '/nonexistent/body.json'"),
        (["--cacert", "ca.pem", "--insecure"], "--insecure: not allowed with argument --cacert"),
        (["--insecure", "--cacert", "ca.pem"], "--cacert: not allowed with argument --insecure"),
    ],
)
def test_usage_errors_in_process(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same for every check made before connecting (main() in this process)."""
    assert main(["stream", "http://127.0.0.1:1/", *argv]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1, err


def test_unlimited_reconnects_are_spelled_inf_or_minus_one() -> None:
    from trio_sse.__main__ import _attempts

    assert _attempts("inf") is None
    assert _attempts("-1") is None
    assert _attempts("0") == 0
    assert _attempts("5") == 5


def test_a_bad_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stream", "ftp://example.invalid/x"]) == EXIT_USAGE
    assert "ftp" in capsys.readouterr().err


def test_exit_codes_are_distinct_and_documented() -> None:
    """Each error class maps to its own code, and --help lists every code."""
    from trio_sse import __main__ as cli_module

    assert _exit_code(SSEError("other")) == EXIT_ERROR
    codes = [0, EXIT_ERROR, EXIT_USAGE, EXIT_CONNECTION, EXIT_TIMEOUT, EXIT_RESPONSE]
    codes += [EXIT_PROTOCOL, EXIT_PROXY, EXIT_INTERRUPTED]
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert f"\n  {code} " in cli_module.EXIT_CODES_HELP  # what --help prints


# -- TLS: --cacert and --insecure ---------------------------------------------------------


async def test_cacert_and_insecure(
    tls_ca: trustme.CA, server_ssl_context: ssl.SSLContext, tmp_path: Path
) -> None:
    """Without --cacert the test CA is not trusted (exit 3); with it the stream works;
    --insecure works too but says loudly on stderr that nothing is verified."""
    ca_file = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))
    async with open_sse_test_server(ssl_context=server_ssl_context) as server:
        server.script(ONE_EVENT, ONE_EVENT)
        url = server.url
        assert url.startswith("https://")
        refused = await cli("stream", url)
        trusted = await cli("stream", url, "--cacert", str(ca_file))
        insecure = await cli("stream", url, "--insecure")
    assert refused.returncode == EXIT_CONNECTION
    assert "certificate" in one_line(refused.stderr)
    assert (trusted.returncode, trusted.stdout, trusted.stderr) == (0, b"data: ok\n\n", b"")
    assert (insecure.returncode, insecure.stdout) == (0, b"data: ok\n\n")
    assert "WARNING" in insecure.stderr.decode()
    assert "NOT verified" in insecure.stderr.decode()


def test_help_says_cacert_and_insecure_exclude_each_other(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--insecure used to win over --cacert silently; now the pair is a usage error
    (test_usage_errors_in_process), and --help says so before anyone tries."""
    with pytest.raises(SystemExit) as exit_info:
        main(["stream", "--help"])
    assert exit_info.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "[--cacert FILE | --insecure]" in help_text
    assert "(not with --insecure)" in help_text
    assert "not with --cacert" in help_text


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
    assert main(["stream", "http://127.0.0.1:1/", "--proxy", "socks5://p:1"]) == EXIT_USAGE
    assert "socks5" in capsys.readouterr().err


def test_stream_over_a_missing_unix_socket(capsys: pytest.CaptureFixture[str]) -> None:
    """``--unix-socket PATH``: nothing listening there is a connection error."""
    argv = ["stream", "http://localhost/", "--unix-socket", "/nonexistent/sse.sock"]
    assert main(argv) == EXIT_CONNECTION
    assert "/nonexistent/sse.sock" in capsys.readouterr().err
