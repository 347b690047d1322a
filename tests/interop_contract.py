"""The endpoints every interop server serves, and the data they send.

tests/test_interop.py runs each scenario against every server: one sse-starlette app
(tests/interop_apps.py, served by uvicorn and by hypercorn), aiohttp with aiohttp-sse
(tests/interop_aiohttp.py) and a plain Node.js ``http`` server (tests/interop_node.js,
which repeats the data functions below in JavaScript). A server that cannot serve an
endpoint or parameter says so here, and the scenarios exclude it with that reason.

Endpoints (optional query parameters in brackets):

- ``GET /events [n, sep=crlf|lf|cr, hold]``: n events, id i, ``event_type(i)`` and the
  multi-line ``event_data(i)``; lines end with ``sep`` (default: the server's own);
  ``hold=1`` keeps the stream open after the events until the client leaves (not
  aiohttp: its compressor flushes only at the end of the body, so a held compressed
  stream would never arrive)
- ``GET /typed/events [n, hold]``: n JSON events, ``typed_event(i)``, id i
- ``GET /gz/events``, ``GET /gz/typed/events``: the same, compressed as Accept-Encoding
  asks (sse-starlette: gzip only), flushed after each event (not aiohttp); identity
  without Accept-Encoding
- ``GET /retry [ms]``: a retry-only block, then one event
- ``GET /ping [count, interval]``: an event, at least ``count`` keep-alive comments written
  by the server's own pinger, another event, end
- ``GET|POST /resume?key= [total, per, retry, drop]``: ``per`` ``item`` events per response,
  resuming after the Last-Event-ID header, 204 once ``total`` were sent; ``retry`` (ms) on
  each response's first event; ``drop=1`` cuts the connection mid-body instead of ending
  the response (not sse-starlette: ASGI has no way but crashing). Each event's JSON data
  reports what the server saw: ``i``, ``last_event_id``, ``method``, the POST's body as
  ``echo``
- ``GET /endless?key=``: events until the client disconnects
- ``POST /chat``: LLM-style, JSON body in, JSON ``token`` events and a ``done`` event out
- ``GET /flaky?key= [failures, status]``: ``failures`` refusals (Retry-After: 0), then one
  event
- ``GET /log?key= [min]``: what /resume, /flaky and /endless logged for ``key``, as one
  JSON ``log`` event, sent once the log has ``min`` entries (a long poll)
- ``GET /nocontent``: 204; ``GET /status/{code}``: text/plain ``status_body(code, kind)``
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = [
    "CHAT_WORDS",
    "LOGGED_HEADERS",
    "SEPARATORS",
    "customer",
    "event_data",
    "event_type",
    "product",
    "status_body",
    "typed_event",
]

SEPARATORS = {"crlf": "\r\n", "lf": "\n", "cr": "\r"}
CHAT_WORDS = ("Hello", " from", " a", " real", " server", ".")
LOGGED_HEADERS = ("accept", "cache-control", "user-agent", "content-type")


def event_data(i: int) -> str:
    """The data of event ``i`` on /events: several lines, an empty one, non-ASCII text and
    U+2028 (a line separator only to str.splitlines, never to an event stream)."""
    return f"event {i}, line one\nline two: naïve ☃ \u2028 still two\n\nline four {i}"


def event_type(i: int) -> str | None:
    """Odd events are typed ``tick``; even ones have the default ``message`` type."""
    return "tick" if i % 2 else None


def customer(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"customer {i}", "note": "naïve ☃"}


def product(i: int) -> dict[str, Any]:
    return {"sku": f"P-{i}", "price": i * 1.5}


def typed_event(i: int) -> tuple[str, dict[str, Any]]:
    """Event ``i`` on /typed/events: ``customer`` (odd i) or ``product`` (even i)."""
    return ("customer", customer(i)) if i % 2 else ("product", product(i))


def status_body(code: int, kind: str) -> str:
    """The body of /status/{code} from a ``starlette``, ``aiohttp`` or ``node`` server."""
    return f"status {code} from {kind}"


class _Event(Protocol):
    def set(self) -> None: ...

    async def wait(self) -> Any: ...


class RequestLog:
    """Per-key request logs of /resume, /flaky and /endless, and /log's long poll. One
    server process serves many tests, so keys are unique per test. ``new_event`` makes
    the server library's event (asyncio's or anyio's), set and replaced whenever a
    key's log grows."""

    def __init__(self, new_event: Callable[[], _Event]) -> None:
        self._entries: dict[str, list[dict[str, Any]]] = {}
        self._changed: dict[str, _Event] = {}
        self._new_event = new_event

    def record(self, key: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
        """Append ``entry`` to ``key``'s log and wake its waiters; the log so far."""
        log = self._entries.setdefault(key, [])
        log.append(entry)
        changed = self._changed.pop(key, None)
        if changed is not None:
            changed.set()
        return log

    async def at_least(self, key: str, wanted: int) -> list[dict[str, Any]]:
        """``key``'s log once it has ``wanted`` entries (no polling)."""
        while len(self._entries.get(key, [])) < wanted:
            await self._changed.setdefault(key, self._new_event()).wait()
        return self._entries.get(key, [])
