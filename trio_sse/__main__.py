"""The ``trio-sse`` command line: ``trio-sse demo`` and ``trio-sse stream URL``."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Sequence

import trio

from ._client import SSEClient
from ._events import ServerSentEvent
from ._exceptions import SSEError


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="trio-sse", description="A Trio-native SSE client.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="stream from the embedded demo server, reconnecting with Last-Event-ID"
    )
    demo.add_argument("--pause", type=float, default=0.3, help="seconds between demo events")

    stream = commands.add_parser("stream", help="print the events of a stream")
    stream.add_argument("url")
    stream.add_argument(
        "-H", "--header", action="append", default=[], help="'Name: value', repeatable"
    )
    stream.add_argument("--last-event-id", default=None)
    stream.add_argument(
        "--reconnect",
        type=int,
        default=0,
        metavar="N",
        help="reconnection attempts per outage (default 0)",
    )
    stream.add_argument("--read-timeout", type=float, default=None)
    stream.add_argument(
        "--proxy", default=None, metavar="URL", help="http://[user:pass@]host:port (as curl -x)"
    )
    stream.add_argument(
        "--unix-socket", default=None, metavar="PATH", help="connect to this Unix socket"
    )
    stream.add_argument("--comments", action="store_true", help="show comment-only blocks")
    stream.add_argument("-n", "--max-events", type=_positive_int, default=None, metavar="N")
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _print_event(ev: ServerSentEvent) -> None:
    print(str(ev), end="", flush=True)


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
                _print_event(ev)
        stats = session.statistics()
        print(
            f"# the server said stop (204) after {stats.events_received} events, "
            f"{stats.connection_attempts} connections, last event id {session.last_event_id!r}"
        )


async def _stream(args: argparse.Namespace) -> None:
    headers = []
    for header in args.header:
        name, sep, value = header.partition(":")
        if not sep:
            raise SystemExit(f"trio-sse: bad header {header!r}: expected 'Name: value'")
        headers.append((name.strip(), value.strip()))
    client = SSEClient(
        headers=headers,
        max_reconnection_attempts=args.reconnect,
        read_timeout=args.read_timeout,
        show_comment_events=args.comments,
        proxy=args.proxy,
        uds=args.unix_socket,
    )
    count = 0
    async with client.sse(args.url, last_event_id=args.last_event_id) as session:
        async for ev in session:
            _print_event(ev)
            count += 1
            if args.max_events is not None and count >= args.max_events:
                break


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    run = functools.partial(_demo, args.pause) if args.command == "demo" else None
    try:
        if run is not None:
            trio.run(run)
        else:
            trio.run(_stream, args)
    except SSEError as exc:
        print(f"trio-sse: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:
        print(f"trio-sse: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output left (``trio-sse stream URL | head``): stop quietly,
        # and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
