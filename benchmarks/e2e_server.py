"""A deliberately dumb, fast SSE server for the end-to-end benchmarks, run in its own process.

Run: ``python -m benchmarks.e2e_server PORT_FILE``; it writes its port there. Endpoints:

- ``/bulk/<workload>/<framing>/<count>``: ``count`` events of a workload (``small``,
  ``llm``, ``starlette``, ``large``, ``large_starlette``) in a framing (``close``: no
  framing, the server closes; ``event``: one HTTP chunk per event; ``64k``: 64 KiB HTTP
  chunks). The response is built once, cached, and written in 256 KiB pieces, so the
  client is the bottleneck.
- ``/latency/<count>/<interval_ms>``: ``count`` events, one chunk each, ``interval_ms``
  apart; each event's data is the server's ``time.monotonic_ns()`` at the write (the
  monotonic clock is system-wide on Linux, so the client can subtract it).
- ``/tick``: a stream that never ends, one event per second, in one chunk each, at a
  phase of its own within the second; the data is the write's ``monotonic_ns``. Used by
  the fan-in run with thousands of connections.
- ``/tick/ping``: the same, but each second brings sse-starlette's keep-alive comment
  (``: ping - <monotonic_ns>``) instead of an event: an idle stream kept open.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys
import time

from benchmarks.e2e_workloads import FRAMINGS, Framing, body_for

WRITE_SIZE = 256 * 1024
TICK_SLOTS = 100  # the second is cut into this many slots; each stream ticks in one

_HEAD_CHUNKED = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Connection: close\r\n\r\n"
)
_HEAD_CLOSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Connection: close\r\n\r\n"
)
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

_cache: dict[tuple[str, str, int], bytes] = {}


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def bulk_response(workload: str, framing: Framing, count: int) -> bytes:
    key = (workload, framing, count)
    if key not in _cache:
        head = _HEAD_CLOSE if framing == "close" else _HEAD_CHUNKED
        _cache[key] = head + body_for(workload, framing, count)
    return _cache[key]


class _Ticker:
    """Writes one event (or keep-alive comment) per second to every /tick stream,
    spread over the second."""

    def __init__(self) -> None:
        self.slots: list[set[asyncio.StreamWriter]] = [set() for _ in range(TICK_SLOTS)]
        self.pinged: set[asyncio.StreamWriter] = set()  # /tick/ping streams
        self._next = 0

    def add(self, writer: asyncio.StreamWriter, ping: bool) -> set[asyncio.StreamWriter]:
        slot = self.slots[self._next % TICK_SLOTS]
        self._next += 1
        slot.add(writer)
        if ping:
            self.pinged.add(writer)
        return slot

    def remove(self, writer: asyncio.StreamWriter, slot: set[asyncio.StreamWriter]) -> None:
        slot.discard(writer)
        self.pinged.discard(writer)

    async def run(self) -> None:
        start = time.monotonic()
        n = 0
        while True:
            n += 1
            await asyncio.sleep(max(0.0, start + n / TICK_SLOTS - time.monotonic()))
            for writer in list(self.slots[n % TICK_SLOTS]):
                now = time.monotonic_ns()
                if writer in self.pinged:
                    writer.write(_chunk(b": ping - %d\n\n" % now))
                else:
                    writer.write(_chunk(b"data: %d\n\n" % now))


_ticker = _Ticker()


def _framing(name: str) -> Framing | None:
    """The framing a /bulk path names, or None (a 404) for one it does not."""
    for framing in FRAMINGS:
        if framing == name:
            return framing
    return None


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        parts = head.split(b" ", 2)[1].decode().strip("/").split("/")
        if parts[0] == "bulk" and (framing := _framing(parts[2])) is not None:
            view = memoryview(bulk_response(parts[1], framing, int(parts[3])))
            for i in range(0, len(view), WRITE_SIZE):
                writer.write(view[i : i + WRITE_SIZE])
                await writer.drain()
        elif parts[0] == "latency":
            count, interval = int(parts[1]), int(parts[2]) / 1000
            writer.write(_HEAD_CHUNKED)
            start = time.monotonic()
            for i in range(count):
                await asyncio.sleep(max(0.0, start + i * interval - time.monotonic()))
                writer.write(_chunk(b"data: %d\n\n" % time.monotonic_ns()))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        elif parts[0] == "tick":
            writer.write(_HEAD_CHUNKED)
            slot = _ticker.add(writer, ping=parts[1:] == ["ping"])
            try:
                await reader.read()  # until the client goes away
            finally:
                _ticker.remove(writer, slot)
        else:
            writer.write(_NOT_FOUND)
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass  # the client went away early; nothing to do
    finally:
        writer.close()


async def serve(port_file: str) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = await asyncio.start_server(_handle, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    with open(port_file, "w") as f:
        f.write(str(port))
    ticker = asyncio.create_task(_ticker.run())
    async with server:
        await server.serve_forever()
    ticker.cancel()


def main(port_file: str) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(port_file))


if __name__ == "__main__":
    main(sys.argv[1])
