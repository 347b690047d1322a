"""Interop server: an sse-starlette app on Starlette, the endpoints of tests/interop_contract.py.

tests/test_interop.py serves ``app`` twice: with uvicorn (asyncio) in a subprocess started by
``python -m tests.interop_apps``, which prints its port once it accepts connections, and
with hypercorn in-process under trio. Nothing here is scripted byte by byte: the wire
format is whatever sse-starlette, Starlette and the ASGI server produce (CRLF lines, and
sse-starlette's ``: ping - <time>`` comments). It cannot cut a connection mid-body
(/resume's ``drop``) and compresses with gzip only (Starlette's GZipMiddleware).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import anyio
from sse_starlette import EventSourceResponse, JSONServerSentEvent, ServerSentEvent
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from tests import interop_contract as contract  # the scenarios both servers serve

__all__ = ["app", "main"]

NO_PING = 3600  # seconds: pings off where a test does not want them (0 busy-loops in old versions)

_LOG = contract.RequestLog(anyio.Event)  # per-key request logs (tests/interop_contract.py)


def _int(request: Request, name: str, default: int) -> int:
    return int(request.query_params.get(name, default))


async def events(request: Request) -> EventSourceResponse:
    n = _int(request, "n", 5)
    sep = contract.SEPARATORS[request.query_params.get("sep", "crlf")]
    hold = request.query_params.get("hold") == "1"

    async def stream() -> AsyncIterator[ServerSentEvent]:
        for i in range(1, n + 1):
            yield ServerSentEvent(
                contract.event_data(i), id=str(i), event=contract.event_type(i), sep=sep
            )
        if hold:
            await anyio.sleep_forever()  # until the client leaves

    return EventSourceResponse(stream(), ping=NO_PING, sep=sep)


async def typed_events(request: Request) -> EventSourceResponse:
    n = _int(request, "n", 5)
    hold = request.query_params.get("hold") == "1"

    async def stream() -> AsyncIterator[ServerSentEvent]:
        for i in range(1, n + 1):
            kind, data = contract.typed_event(i)
            yield ServerSentEvent(json.dumps(data, ensure_ascii=False), id=str(i), event=kind)
        if hold:
            await anyio.sleep_forever()  # until the client leaves

    return EventSourceResponse(stream(), ping=NO_PING)


async def retry(request: Request) -> EventSourceResponse:
    ms = _int(request, "ms", 1234)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(retry=ms)
        yield ServerSentEvent("after retry", id="r1")

    return EventSourceResponse(stream(), ping=NO_PING)


async def ping(request: Request) -> EventSourceResponse:
    """sse-starlette's own keep-alive pings, counted so the stream's shape is fixed:
    "before", at least ``count`` ping comments, "after", end (a ping may follow "after")."""
    count = _int(request, "count", 3)
    interval = float(request.query_params.get("interval", "0.02"))
    sent = 0
    enough = anyio.Event()

    def ping_message() -> ServerSentEvent:
        # The comment sse-starlette sends by default (": ping - <time>"), counted. The
        # pinger builds ping k+1 only after it sent ping k, so at the (count+1)-th call
        # ``count`` pings are on the wire, ahead of "after".
        nonlocal sent
        sent += 1
        if sent > count:
            enough.set()
        return ServerSentEvent(comment=f"ping - {datetime.now(timezone.utc)}")

    async def stream() -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent("before", id="p1")
        await enough.wait()
        yield ServerSentEvent("after", id="p2")

    return EventSourceResponse(stream(), ping=interval, ping_message_factory=ping_message)


async def resume(request: Request) -> Response:
    """``per`` events per connection, then the response ends (the connection is lost as
    far as the event stream goes); a reconnect resumes after its Last-Event-ID."""
    key = request.query_params["key"]
    total = _int(request, "total", 9)
    per = _int(request, "per", 3)
    retry_ms = request.query_params.get("retry")
    last_id = request.headers.get("last-event-id")
    body = await request.json() if request.method == "POST" else None
    entry = {"method": request.method, "last_event_id": last_id, "body": body}
    _LOG.record(key, entry | {name: request.headers.get(name) for name in contract.LOGGED_HEADERS})
    start = int(last_id) + 1 if last_id else 1
    if start > total:
        return Response(status_code=204)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        for i in range(start, min(start + per, total + 1)):
            retry = int(retry_ms) if retry_ms and i == start else None
            data = {"i": i, "last_event_id": last_id, "method": request.method, "echo": body}
            yield JSONServerSentEvent(data, id=str(i), event="item", retry=retry)

    return EventSourceResponse(stream(), ping=NO_PING)


async def endless(request: Request) -> EventSourceResponse:
    """Events until the client goes away; the log records when the server noticed."""
    key = request.query_params["key"]
    _LOG.record(key, {"event": "connected"})

    async def stream() -> AsyncIterator[ServerSentEvent]:
        i = 0
        try:
            while True:
                i += 1
                yield ServerSentEvent(f"endless {i}", id=str(i))
                await anyio.sleep(0.005)
        finally:
            _LOG.record(key, {"event": "closed", "sent": i})

    return EventSourceResponse(stream(), ping=NO_PING)


async def chat(request: Request) -> EventSourceResponse:
    """A POST that streams its answer, as LLM APIs do: JSON chunks, then a final event."""
    payload = await request.json()
    prompt = payload["prompt"]
    words = contract.CHAT_WORDS[: payload.get("max_tokens", len(contract.CHAT_WORDS))]
    content_type = request.headers.get("content-type")

    async def stream() -> AsyncIterator[dict[str, Any]]:
        for index, word in enumerate(words):
            chunk = {"index": index, "delta": word, "prompt": prompt}
            yield {"event": "token", "id": f"tok-{index}", "data": json.dumps(chunk)}
        done = {"finish_reason": "stop", "tokens": len(words), "content_type": content_type}
        yield {"event": "done", "data": json.dumps(done)}

    return EventSourceResponse(stream(), ping=NO_PING)


async def flaky(request: Request) -> Response:
    key = request.query_params["key"]
    failures = _int(request, "failures", 2)
    status = _int(request, "status", 503)
    log = _LOG.record(key, {"method": request.method})
    if len(log) <= failures:
        return PlainTextResponse("try again", status_code=status, headers={"Retry-After": "0"})

    async def stream() -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent("recovered", id="f1")

    return EventSourceResponse(stream(), ping=NO_PING)


async def log(request: Request) -> EventSourceResponse:
    """A key's log, once it has at least ``min`` entries (a long poll: no client polling)."""
    key = request.query_params["key"]
    wanted = _int(request, "min", 0)
    entries = await _LOG.at_least(key, wanted)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        yield JSONServerSentEvent(entries, event="log")

    return EventSourceResponse(stream(), ping=NO_PING)


async def nocontent(request: Request) -> Response:
    return Response(status_code=204)


async def status(request: Request) -> Response:
    code = int(request.path_params["code"])
    return PlainTextResponse(contract.status_body(code, "starlette"), status_code=code)


# Starlette excludes text/event-stream from compression by default; this mount opts in, so
# the stream is gzip-compressed and flushed chunk by chunk (Starlette >= 1.5).
_gzipped = GZipMiddleware(
    Starlette(routes=[Route("/events", events), Route("/typed/events", typed_events)]),
    minimum_size=0,
    exclude_content_types=(),
)

app = Starlette(
    routes=[
        Route("/events", events),
        Route("/typed/events", typed_events),
        Route("/retry", retry),
        Route("/ping", ping),
        Route("/resume", resume, methods=["GET", "POST"]),
        Route("/endless", endless),
        Route("/chat", chat, methods=["POST"]),
        Route("/flaky", flaky),
        Route("/log", log),
        Route("/nocontent", nocontent),
        Route("/status/{code:int}", status),
        Mount("/gz", app=_gzipped),
    ]
)


async def _serve_uvicorn() -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # startup failed: raise why
            return
        await asyncio.sleep(0.01)
    print(sock.getsockname()[1], flush=True)  # the parent waits for this line
    await task


def main() -> None:
    """Serve ``app`` with uvicorn on a free loopback port; print the port when ready."""
    asyncio.run(_serve_uvicorn())


if __name__ == "__main__":
    main()
