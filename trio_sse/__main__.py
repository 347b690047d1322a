"""The ``trio-sse`` command line: ``trio-sse stream URL`` is ``curl -N`` for event streams,
``trio-sse demo`` streams from the embedded demo server. Also ``python -m trio_sse``.

Proxies come from the environment as the library reads them (HTTP_PROXY, HTTPS_PROXY,
ALL_PROXY, NO_PROXY, either case), or from --proxy.

Exit codes of ``stream``: EXIT_CODES_HELP below, which ``trio-sse stream --help`` prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import ssl
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

import trio

from ._client import CallOptions, SSEClient, _SessionScope
from ._events import ServerSentEvent
from ._exceptions import (
    SSEConnectionError,
    SSEError,
    SSEProtocolError,
    SSEProxyError,
    SSEResponseError,
    SSETimeoutError,
)
from ._judge import proxy_refusal
from ._response import SSEResponse
from ._retry import ConnectionFailure
from ._session import SessionOptions, SSESession

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_TIMEOUT = 4
EXIT_RESPONSE = 5
EXIT_PROTOCOL = 6
EXIT_PROXY = 7
EXIT_INTERRUPTED = 130

# Most specific first: SSEProxyError and SSETimeoutError are SSEConnectionErrors.
_EXIT_CODES: list[tuple[type[SSEError], int]] = [
    (SSEProxyError, EXIT_PROXY),
    (SSETimeoutError, EXIT_TIMEOUT),
    (SSEConnectionError, EXIT_CONNECTION),
    (SSEResponseError, EXIT_RESPONSE),
    (SSEProtocolError, EXIT_PROTOCOL),
]

EXIT_CODES_HELP = """\
exit codes:
  0    the stream ended: by the server (EOF without reconnection, or 204), or -n reached
  1    another trio-sse error
  2    bad command line (an option, a header, a file that cannot be read, invalid --json)
  3    connection failed or lost
  4    timed out (--connect-timeout, --read-timeout)
  5    the server refused: a status other than 200, or not text/event-stream
  6    the server broke the protocol (malformed HTTP, an event over the size limit)
  7    the proxy failed or refused (also a refusal that a forwarding proxy says it
       made itself, in a Proxy-Status header: it could not reach the server)
  130  interrupted (Ctrl-C)
With --reconnect, giving up exits with the code of the last attempt's failure.

--format json prints one object per line: {"event", "data", "id", "retry", "comments"};
"event" is null for the default type ("message"), "id" is the event's own id line (null
if it had none) unless --sticky-ids. Without --proxy, proxies come from HTTP_PROXY,
HTTPS_PROXY, ALL_PROXY and NO_PROXY (either case)."""


class UsageError(Exception):
    """A bad command line found after argparse: exit 2 with this message."""


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, with its errors as one line on stderr (exit 2) like all the others."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


# -- arguments -------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _ArgumentParser(prog="trio-sse", description="A Trio-native SSE client.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="stream from the embedded demo server, reconnecting with Last-Event-ID"
    )
    demo.add_argument("--pause", type=float, default=0.3, help="seconds between demo events")

    stream = commands.add_parser(
        "stream",
        help="print the events of a stream",
        description="Print the events of an event stream, as curl -N would, one by one.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stream.add_argument("url", help="the stream's http:// or https:// URL")
    request = stream.add_argument_group("request")
    request.add_argument("-X", "--method", help="HTTP method (default GET; POST with a body)")
    request.add_argument(
        "-H", "--header", action="append", default=[], help="'Name: value', repeatable"
    )
    body = request.add_mutually_exclusive_group()
    body.add_argument(
        "-d", "--data", metavar="DATA", help="request body; @FILE reads a file, - or @- stdin"
    )
    body.add_argument(
        "--json",
        metavar="DATA",
        help="JSON request body (@FILE, - as for -d), sent with Content-Type: application/json",
    )
    request.add_argument("--last-event-id", metavar="ID", help="resume after this event ID")
    request.add_argument("--proxy", metavar="URL", help="http://[user:pass@]host:port (as curl -x)")
    request.add_argument("--unix-socket", metavar="PATH", help="connect to this Unix socket")
    # One or the other: --insecure would make --cacert a silent no-op.
    tls = request.add_mutually_exclusive_group()
    tls.add_argument(
        "--cacert", metavar="FILE", help="trust the CA certificates in FILE (not with --insecure)"
    )
    tls.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify TLS certificates (DANGEROUS; not with --cacert)",
    )

    behaviour = stream.add_argument_group("stream")
    behaviour.add_argument(
        "--reconnect",
        type=_attempts,
        default=0,
        metavar="N",
        help="reconnection attempts per outage: 0 (default) never, inf or -1 without limit",
    )
    behaviour.add_argument(
        "--reconnection-time", type=_seconds, metavar="SECONDS", help="delay (default 3)"
    )
    behaviour.add_argument(
        "--read-timeout", type=_seconds, metavar="SECONDS", help="silence that means lost"
    )
    behaviour.add_argument("--connect-timeout", type=_seconds, metavar="SECONDS", help="default 10")
    behaviour.add_argument("--comments", action="store_true", help="show comment-only blocks")
    behaviour.add_argument("--retry-events", action="store_true", help="show retry-only blocks")
    behaviour.add_argument(
        "-n", "--max-events", type=_positive_int, metavar="N", help="stop after N events"
    )
    behaviour.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="TYPE",
        help="only events of this type (repeatable; 'message' is the default type)",
    )

    output = stream.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=["pretty", "json", "raw"],
        help="pretty (coloured on a terminal), json (one object per line) or raw (the wire "
        "format); default: pretty on a terminal, raw otherwise",
    )
    output.add_argument(
        "--sticky-ids",
        action="store_true",
        help="print each event's id as the stream's last event ID, remembered from earlier "
        "events (as EventSource does), not only the id line of the event itself",
    )
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _attempts(text: str) -> int | None:
    if text.lower() in ("inf", "infinity", "unlimited", "-1"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count, inf or -1, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a count, inf or -1, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _headers(raw: list[str]) -> list[tuple[str, str]]:
    headers = []
    for header in raw:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"bad header {header!r}: expected 'Name: value'")
        headers.append((name.strip(), value.strip()))
    return headers


def _body(spec: str) -> bytes:
    """-d/--json DATA: the text itself, @FILE a file's bytes, - or @- standard input."""
    if spec in ("-", "@-"):
        return sys.stdin.buffer.read()
    if spec.startswith("@"):
        try:
            with open(spec[1:], "rb") as file:
                return file.read()
        except OSError as exc:
            raise UsageError(f"cannot read {spec[1:]!r}: {exc.strerror or exc}") from None
    return spec.encode()


def _ssl_context(args: argparse.Namespace, err: TextIO) -> ssl.SSLContext | None:
    if args.insecure:
        print(
            "trio-sse: WARNING: --insecure: TLS certificates are NOT verified; anyone on the "
            "network path can read and change this stream",
            file=err,
            flush=True,
        )
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if args.cacert is not None:
        try:
            return ssl.create_default_context(cafile=args.cacert)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot load --cacert {args.cacert!r}: {exc}") from None
    return None


# -- output ----------------------------------------------------------------------------------


class _Printer:
    """Writes events in one of the three formats, flushing after each (for pipes)."""

    def __init__(self, fmt: str, out: TextIO, *, colour: bool) -> None:
        self._out = out
        self._colour = colour
        formats: dict[str, Callable[[ServerSentEvent], str]] = {
            "raw": str,
            "json": _as_json_line,
            "pretty": self._pretty,
        }
        self._format = formats[fmt]

    def print(self, ev: ServerSentEvent) -> None:
        self._out.write(self._format(ev))
        self._out.flush()

    def _style(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self._colour else text

    def _pretty(self, ev: ServerSentEvent) -> str:
        head = [self._style("1;36", ev.event or "message")]
        if ev.id is not None:
            head.append(self._style("33", f"id={ev.id}"))
        if ev.retry is not None:
            head.append(self._style("35", f"retry={ev.retry}ms"))
        lines = [" ".join(head)]
        if ev.comments is not None:
            lines += [self._style("2", f"  : {line}") for line in _lines(ev.comments)]
        if ev.data is not None:
            lines += [f"  {line}" for line in _lines(ev.data)]
        return "\n".join(lines) + "\n\n"


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _as_json_line(ev: ServerSentEvent) -> str:
    fields = {
        "event": ev.event,
        "data": ev.data,
        "id": ev.id,
        "retry": ev.retry,
        "comments": ev.comments,
    }
    return json.dumps(fields, ensure_ascii=False) + "\n"


def _wants_colour(out: TextIO) -> bool:
    return out.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


# -- running ---------------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@dataclasses.dataclass
class _StreamJob:
    """Everything ``stream`` needs, prepared (and validated) before trio.run."""

    options: SessionOptions
    printer: _Printer
    wanted: frozenset[str]  # --event filter: event types, "message" the default one
    max_events: int | None


def _prepare_stream(args: argparse.Namespace, out: TextIO, err: TextIO) -> _StreamJob:
    headers = _headers(args.header)
    content = None
    if args.data is not None:
        content = _body(args.data)
    elif args.json is not None:
        content = _body(args.json)
        try:
            json.loads(content)
        except ValueError as exc:
            raise UsageError(f"--json is not valid JSON: {exc}") from None
        headers.append(("Content-Type", "application/json"))
    fmt = args.format or ("pretty" if out.isatty() else "raw")
    printer = _Printer(fmt, out, colour=fmt == "pretty" and _wants_colour(out))
    outage = False

    def on_error(failure: ConnectionFailure, retry_in: float | None) -> None:
        nonlocal outage
        if retry_in is None:
            return  # the session ends with this error: main() reports it
        outage = True
        print(
            f"trio-sse: {_one_line(failure.error)}; reconnecting in {retry_in:.3g}s "
            f"(attempt {failure.attempt})",
            file=err,
            flush=True,
        )

    def on_open(response: SSEResponse) -> None:
        nonlocal outage
        if outage:
            outage = False
            print(f"trio-sse: reconnected (HTTP {response.status_code})", file=err, flush=True)

    client = SSEClient(
        headers=headers,
        max_reconnection_attempts=args.reconnect,
        read_timeout=args.read_timeout,
        show_comment_events=args.comments,
        show_retry_events=args.retry_events,
        ssl_context=_ssl_context(args, err),
        on_open=on_open,
        on_error=on_error,
        proxy=args.proxy,
        uds=args.unix_socket,
        **({} if args.reconnection_time is None else {"reconnection_time": args.reconnection_time}),
        **({} if args.connect_timeout is None else {"connect_timeout": args.connect_timeout}),
    )
    call: CallOptions = {
        "method": args.method or ("POST" if content is not None else "GET"),
        "content": content,
        "last_event_id": args.last_event_id,
    }
    options = client._session_options(args.url, None, call)
    # The id printed is the event's own id line unless --sticky-ids (see SSEParser).
    options = dataclasses.replace(options, own_ids=not args.sticky_ids)
    wanted = frozenset(args.event)
    return _StreamJob(options, printer, wanted, args.max_events)


async def _stream(job: _StreamJob) -> None:
    count = 0
    async with _SessionScope(SSESession[ServerSentEvent](job.options)) as session:
        async for ev in session:
            # No type and ``event: message`` are one type (WHATWG): "message".
            if job.wanted and (ev.event or "message") not in job.wanted:
                continue
            job.printer.print(ev)
            count += 1
            if job.max_events is not None and count >= job.max_events:
                break


async def _demo(pause: float) -> None:
    from .testing import DemoHandler, open_sse_test_server

    # Show each reconnect (logged by the session) between the events.
    logging.basicConfig(level=logging.INFO, format="# %(message)s", stream=sys.stdout)

    async with open_sse_test_server(handler=DemoHandler(pause=pause)) as server:
        print(f"# demo server listening on {server.url}", flush=True)
        client = SSEClient(
            reconnection_time=0.5,
            max_reconnection_attempts=3,
            show_comment_events=True,
            show_retry_events=True,
        )
        async with client.sse(server.url_for("/events")) as session:
            print(f"# connected: HTTP {session.response.status_code}", flush=True)
            async for ev in session:
                print(str(ev), end="", flush=True)
        stats = session.statistics()
        print(
            f"# the server said stop (204) after {stats.events_received} events, "
            f"{stats.connection_attempts} connections, last event id {session.last_event_id!r}"
        )


def _exit_code(exc: SSEError) -> int:
    if isinstance(exc, SSEConnectionError) and exc.attempts and isinstance(exc.__cause__, SSEError):
        # The session gave up after reconnection attempts: say what kept failing (a
        # proxy, a refusing server), as the same failure without --reconnect would.
        return _exit_code(exc.__cause__)
    if isinstance(exc, SSEResponseError) and proxy_refusal(exc.response) is not None:
        return EXIT_PROXY  # a forwarding proxy says it made this refusal itself
    for error_type, code in _EXIT_CODES:
        if isinstance(exc, error_type):
            return code
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    out, err = sys.stdout, sys.stderr
    try:
        args = _parse_args(argv)
        if args.command == "demo":
            trio.run(_demo, args.pause)
        else:
            trio.run(_stream, _prepare_stream(args, out, err))
    except SSEError as exc:
        print(f"trio-sse: error: {_one_line(exc)}", file=err)
        return _exit_code(exc)
    except (UsageError, ValueError, TypeError) as exc:
        print(f"trio-sse: {_one_line(exc)}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output left (``trio-sse stream URL | head``): stop quietly,
        # and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
