"""``python -m tests.harness --port 8080``: run the fault-injecting SSE server standalone.

The SSE stream is at ``http://HOST:PORT/events``; the WebSocket control channel at
``ws://HOST:CONTROL_PORT/control`` (``--control-port``, default PORT + 1, or any free
port when PORT is 0). The first line printed is JSON with both URLs, for scripts.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys

import trio

from .control import run_harness


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.harness", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="SSE port (0: any free port)")
    parser.add_argument("--control-port", type=int, default=None, help="default: PORT + 1")
    parser.add_argument("--events", type=int, default=0, help="generate ids 1..EVENTS")
    parser.add_argument(
        "--finished", action="store_true", help="no more events will come: end with 204"
    )
    parser.add_argument(
        "--no-resume", action="store_true", help="ignore Last-Event-ID: replay from the start"
    )
    parser.add_argument("--write-size", type=int, default=4096)
    parser.add_argument("--framing", choices=("chunked", "close"), default="chunked")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    control_port = args.control_port
    if control_port is None:
        control_port = args.port + 1 if args.port else 0
    runner = functools.partial(
        run_harness,
        args.host,
        args.port,
        control_port,
        events=args.events,
        finished=args.finished,
        resume=not args.no_resume,
        write_size=args.write_size,
        framing=args.framing,
    )
    async with trio.open_nursery() as nursery:
        server, control_url = await nursery.start(runner)
        print(json.dumps({"sse_url": server.url, "control_url": control_url}), flush=True)
        print(
            f"trio-sse test harness: SSE at {server.url}, control channel at {control_url}"
            " (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        trio.run(serve, args)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
