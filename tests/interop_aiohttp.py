"""Interop server: aiohttp with aiohttp-sse, written as an aiohttp back end writes one.

tests/test_interop_servers.py starts it with ``python -m tests.interop_aiohttp`` in a
subprocess (aiohttp runs on asyncio); it prints its port once it accepts connections.
tests/interop_node.js serves the same endpoints from Node.js, so one set of tests runs
against both (see that file for the shared contract):

- ``GET /events [n]``: n JSON events, ``customer`` (odd i) and ``product`` (even i), id i
- ``GET /ping [count, interval]``: an event, at least ``count`` of aiohttp-sse's own
  ``: ping`` keep-alive comments, another event, end
- ``GET|POST /resume [total, per, drop]``: ``per`` ``item`` events per response, resuming
  after the Last-Event-ID header, then the response ends (``drop=1``: the connection is
  closed mid-body instead, no terminating chunk); 204 once ``total`` were sent. Each
  event's JSON data reports what the server saw: ``i``, ``last_event_id``, ``method``
  and the POST's JSON body as ``echo``
- ``GET /gz/events [n]``: /events compressed as Accept-Encoding asks (gzip or deflate).
  aiohttp's compressor flushes only at the end of the body (aiohttp-sse disables
  compression for that reason), so this stream is finite.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

__all__ = ["app", "customer", "main", "product", "typed_event"]

NO_PING = 3600.0  # seconds: aiohttp-sse's pinger kept out of the way where a test wants no pings


def customer(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"customer {i}", "note": "naïve ☃"}


def product(i: int) -> dict[str, Any]:
    return {"sku": f"P-{i}", "price": i * 1.5}


def typed_event(i: int) -> tuple[str, dict[str, Any]]:
    return ("customer", customer(i)) if i % 2 else ("product", product(i))


class CountingPings(EventSourceResponse):
    """aiohttp-sse's own pinger, observed: ``enough`` is set once ``count`` pings are sent."""

    def __init__(self, count: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.count = count
        self.pings = 0
        self.enough = asyncio.Event()

    async def write(self, data: bytes | bytearray | memoryview[int]) -> None:
        await super().write(data)
        if bytes(data).startswith(b":"):
            self.pings += 1
            if self.pings >= self.count:
                self.enough.set()


class CompressedEventSource(EventSourceResponse):
    """aiohttp-sse refuses compression (aiohttp buffers it to the end); a finite stream may."""

    enable_compression = web.StreamResponse.enable_compression


async def events(request: web.Request) -> web.StreamResponse:
    n = int(request.query.get("n", 5))
    async with sse_response(request, ping_interval=NO_PING) as resp:
        for i in range(1, n + 1):
            kind, data = typed_event(i)
            await resp.send(json.dumps(data, ensure_ascii=False), id=str(i), event=kind)
    return resp


async def ping(request: web.Request) -> web.StreamResponse:
    count = int(request.query.get("count", 3))
    interval = float(request.query.get("interval", 0.02))
    resp = CountingPings(count, ping_interval=interval)
    await resp.prepare(request)
    async with resp:
        await resp.send("before", id="p1")
        await resp.enough.wait()
        await resp.send("after", id="p2")
    return resp


async def resume(request: web.Request) -> web.StreamResponse:
    total = int(request.query.get("total", 9))
    per = int(request.query.get("per", 3))
    drop = request.query.get("drop") == "1"
    body = await request.json() if request.method == "POST" else None
    resp = EventSourceResponse(ping_interval=NO_PING, allow_all_methods=True)
    last_id = request.headers.get(resp.DEFAULT_LAST_EVENT_HEADER)
    start = int(last_id) + 1 if last_id else 1
    if start > total:
        return web.Response(status=204)
    await resp.prepare(request)
    async with resp:
        for i in range(start, min(start + per, total + 1)):
            seen = {"i": i, "last_event_id": resp.last_event_id, "method": request.method}
            data = json.dumps(seen | {"echo": body}, ensure_ascii=False)
            await resp.send(data, id=str(i), event="item")
        if drop:
            assert request.transport is not None
            request.transport.close()  # flushes what was sent, then closes: no last chunk
    return resp


async def gz_events(request: web.Request) -> web.StreamResponse:
    n = int(request.query.get("n", 5))
    resp = CompressedEventSource(ping_interval=NO_PING)
    resp.enable_compression()  # the coding Accept-Encoding asks for, identity if none
    await resp.prepare(request)
    async with resp:
        for i in range(1, n + 1):
            kind, data = typed_event(i)
            await resp.send(json.dumps(data, ensure_ascii=False), id=str(i), event=kind)
    return resp


app = web.Application()
app.router.add_get("/events", events)
app.router.add_get("/ping", ping)
app.router.add_route("*", "/resume", resume)
app.router.add_get("/gz/events", gz_events)


async def _serve() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    print(sock.getsockname()[1], flush=True)  # the parent waits for this line
    try:
        await asyncio.Event().wait()  # until the parent terminates us
    finally:
        await runner.cleanup()


def main() -> None:
    """Serve ``app`` on a free loopback port; print the port when ready."""
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
