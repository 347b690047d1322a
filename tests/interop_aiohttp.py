"""Interop server: aiohttp with aiohttp-sse, the endpoints of tests/interop_contract.py.

tests/test_interop.py starts it with ``python -m tests.interop_aiohttp`` in a subprocess
(aiohttp runs on asyncio); it prints its port once it accepts connections. Written as an
aiohttp back end writes one: aiohttp-sse frames the events (CRLF lines) and sends its own
``: ping`` comments. Where aiohttp-sse has no API (a retry-only block), the handler writes
the bytes itself. aiohttp's compressor flushes only at the end of the body (aiohttp-sse
disables compression for that reason), so compressed streams are finite here.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from tests import interop_contract as contract  # the scenarios both servers serve

__all__ = ["app", "main"]

NO_PING = 3600.0  # seconds: aiohttp-sse's pinger kept out of the way where a test wants no pings

_LOG = contract.RequestLog(asyncio.Event)  # per-key request logs (tests/interop_contract.py)


# aiohttp-sse 3 (Python 3.11 on) takes the ping interval and allow_all_methods as
# keywords; 2.2, which the test extra installs on Python 3.10, takes neither: it allows
# every method, and its pinger reads the interval from an attribute.
_TAKES_KEYWORDS = "ping_interval" in inspect.signature(EventSourceResponse).parameters

R = TypeVar("R", bound=EventSourceResponse)


def configured(
    response_class: type[R],
    *,
    ping_interval: float = NO_PING,
    allow_all_methods: bool = False,
    **kwargs: Any,
) -> R:
    """``response_class(**kwargs)`` with this ping interval, on either aiohttp-sse."""
    if _TAKES_KEYWORDS:
        kwargs |= {"ping_interval": ping_interval, "allow_all_methods": allow_all_methods}
        return response_class(**kwargs)
    response = response_class(**kwargs)
    response._ping_interval = ping_interval  # aiohttp-sse 2.2's own, read by its pinger
    return response


@asynccontextmanager
async def streaming(
    request: web.Request, response: EventSourceResponse | None = None
) -> AsyncIterator[EventSourceResponse]:
    """aiohttp-sse's ``sse_response`` (by default without pings): the response
    prepared, and on leaving, its streaming stopped."""
    response = response or configured(EventSourceResponse)
    await response.prepare(request)
    async with response:
        yield response


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


async def _send_events(request: web.Request, resp: EventSourceResponse, typed: bool) -> None:
    n = int(request.query.get("n", 5))
    for i in range(1, n + 1):
        if typed:
            kind, data = contract.typed_event(i)
            await resp.send(json.dumps(data, ensure_ascii=False), id=str(i), event=kind)
        else:
            await resp.send(contract.event_data(i), id=str(i), event=contract.event_type(i))


async def events(request: web.Request) -> web.StreamResponse:
    sep = contract.SEPARATORS[request.query.get("sep", "crlf")]
    async with streaming(request, configured(EventSourceResponse, sep=sep)) as resp:
        await _send_events(request, resp, typed=False)
    return resp


async def typed_events(request: web.Request) -> web.StreamResponse:
    async with streaming(request) as resp:
        await _send_events(request, resp, typed=True)
    return resp


async def _gz(request: web.Request, typed: bool) -> web.StreamResponse:
    resp = configured(CompressedEventSource)
    resp.enable_compression()  # the coding Accept-Encoding asks for, identity if none
    async with streaming(request, resp):
        await _send_events(request, resp, typed=typed)
    return resp


async def gz_events(request: web.Request) -> web.StreamResponse:
    return await _gz(request, typed=False)


async def gz_typed_events(request: web.Request) -> web.StreamResponse:
    return await _gz(request, typed=True)


async def retry(request: web.Request) -> web.StreamResponse:
    ms = int(request.query.get("ms", 1234))
    async with streaming(request) as resp:
        await resp.write(f"retry: {ms}\r\n\r\n".encode())  # aiohttp-sse has no retry-only block
        await resp.send("after retry", id="r1")
    return resp


async def ping(request: web.Request) -> web.StreamResponse:
    count = int(request.query.get("count", 3))
    interval = float(request.query.get("interval", 0.02))
    resp = configured(CountingPings, ping_interval=interval, count=count)
    async with streaming(request, resp):
        await resp.send("before", id="p1")
        await resp.enough.wait()
        await resp.send("after", id="p2")
    return resp


async def resume(request: web.Request) -> web.StreamResponse:
    key = request.query["key"]
    total = int(request.query.get("total", 9))
    per = int(request.query.get("per", 3))
    retry_ms = request.query.get("retry")
    drop = request.query.get("drop") == "1"
    body = await request.json() if request.method == "POST" else None
    resp = configured(EventSourceResponse, allow_all_methods=True)
    last_id = request.headers.get(resp.DEFAULT_LAST_EVENT_HEADER)
    entry = {"method": request.method, "last_event_id": last_id, "body": body}
    _LOG.record(key, entry | {name: request.headers.get(name) for name in contract.LOGGED_HEADERS})
    start = int(last_id) + 1 if last_id else 1
    if start > total:
        return web.Response(status=204)
    async with streaming(request, resp):
        for i in range(start, min(start + per, total + 1)):
            seen = {"i": i, "last_event_id": resp.last_event_id, "method": request.method}
            data = json.dumps(seen | {"echo": body}, ensure_ascii=False)
            retry = int(retry_ms) if retry_ms and i == start else None
            await resp.send(data, id=str(i), event="item", retry=retry)
        if drop:
            assert request.transport is not None
            request.transport.close()  # flushes what was sent, then closes: no last chunk
    return resp


async def endless(request: web.Request) -> web.StreamResponse:
    """Events until the client goes away; the log records when the server noticed."""
    key = request.query["key"]
    _LOG.record(key, {"event": "connected"})
    i = 0
    try:
        async with streaming(request) as resp:
            while True:
                i += 1
                await resp.send(f"endless {i}", id=str(i))
                await asyncio.sleep(0.005)
    finally:  # a send to the closed connection raised, or the handler was cancelled
        _LOG.record(key, {"event": "closed", "sent": i})


async def chat(request: web.Request) -> web.StreamResponse:
    """A POST that streams its answer, as LLM APIs do: JSON chunks, then a final event."""
    payload = await request.json()
    prompt = payload["prompt"]
    words = contract.CHAT_WORDS[: payload.get("max_tokens", len(contract.CHAT_WORDS))]
    content_type = request.headers.get("content-type")
    resp = configured(EventSourceResponse, allow_all_methods=True)
    async with streaming(request, resp):
        for index, word in enumerate(words):
            chunk = {"index": index, "delta": word, "prompt": prompt}
            await resp.send(json.dumps(chunk), id=f"tok-{index}", event="token")
        done = {"finish_reason": "stop", "tokens": len(words), "content_type": content_type}
        await resp.send(json.dumps(done), event="done")
    return resp


async def flaky(request: web.Request) -> web.StreamResponse:
    key = request.query["key"]
    failures = int(request.query.get("failures", 2))
    status = int(request.query.get("status", 503))
    log = _LOG.record(key, {"method": request.method})
    if len(log) <= failures:
        return web.Response(text="try again", status=status, headers={"Retry-After": "0"})
    async with streaming(request) as resp:
        await resp.send("recovered", id="f1")
    return resp


async def log(request: web.Request) -> web.StreamResponse:
    """A key's log, once it has at least ``min`` entries (a long poll: no client polling)."""
    key = request.query["key"]
    wanted = int(request.query.get("min", 0))
    entries = await _LOG.at_least(key, wanted)
    async with streaming(request) as resp:
        await resp.send(json.dumps(entries), event="log")
    return resp


async def nocontent(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    return web.Response(text=contract.status_body(code, "aiohttp"), status=code)


app = web.Application()
app.router.add_get("/events", events)
app.router.add_get("/typed/events", typed_events)
app.router.add_get("/gz/events", gz_events)
app.router.add_get("/gz/typed/events", gz_typed_events)
app.router.add_get("/retry", retry)
app.router.add_get("/ping", ping)
app.router.add_route("*", "/resume", resume)
app.router.add_get("/endless", endless)
app.router.add_post("/chat", chat)
app.router.add_get("/flaky", flaky)
app.router.add_get("/log", log)
app.router.add_get("/nocontent", nocontent)
app.router.add_get(r"/status/{code:\d+}", status)


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
