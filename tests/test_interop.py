"""Interop: trio_sse against real SSE servers nobody here wrote the framing for.

Every scenario runs against every server that can serve it (tests/interop_contract.py
is the endpoints they all serve):

- ``uvicorn``: the sse-starlette app of tests/interop_apps.py on uvicorn (asyncio, h11),
  in a subprocess started once per module
- ``hypercorn``: the same app on hypercorn, in-process under this test's trio loop
- ``aiohttp``: aiohttp with aiohttp-sse (tests/interop_aiohttp.py), in a subprocess
  (aiohttp-sse 3, or 2.2 on Python 3.10, where 3 does not install)
- ``node``: a plain Node.js ``http`` server (tests/interop_node.js, no npm packages, LF
  lines, zlib compression flushed per event), in a subprocess. Node.js must be installed:
  its fixture fails, never skips, when ``node`` is missing.

A server that cannot serve a scenario is left out by ``serving(not_on=...)``, which says
why. The tests speak only trio_sse's public API and assert what a user would see.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import h11
import pytest
import trio

from tests import interop_apps
from tests.interop_contract import (
    CHAT_WORDS,
    customer,
    event_data,
    event_type,
    product,
    status_body,
    typed_event,
)
from tests.interop_process import QUICK, SAFETY, serve_subprocess
from trio_sse import (
    ServerSentEvent,
    SSEClient,
    SSEConnectionError,
    SSEDeserializationError,
    SSEResponseError,
    SSESession,
    TypedServerSentEvent,
    open_sse_session,
)

# --------------------------------------------------------------------------- servers

SERVERS = ("uvicorn", "hypercorn", "aiohttp", "node")
STARLETTE = ("uvicorn", "hypercorn")


@dataclass(frozen=True)
class Wire:
    """What a server's own choices look like on the wire, where the servers differ."""

    kind: str  # who writes the bytes: starlette, aiohttp or node (see status_body)
    line_end: bytes  # the line ending it frames events with unless asked otherwise
    ping: str  # a regular expression its keep-alive comments match (one space stripped)
    not_found: bytes  # its body for a route it does not have
    coding: str  # what it compresses with when the client accepts gzip and deflate
    pings_after_the_end: bool = False  # may a keep-alive ping follow the last event?


STARLETTE_WIRE = Wire("starlette", b"\r\n", r"ping - .+", b"Not Found", "gzip", True)
WIRE = {
    "uvicorn": STARLETTE_WIRE,
    "hypercorn": STARLETTE_WIRE,
    "aiohttp": Wire("aiohttp", b"\r\n", "ping", b"404: Not Found", "deflate"),
    "node": Wire("node", b"\n", "ping", b"Not Found", "gzip"),
}


@dataclass(frozen=True)
class Backend:
    """A running server: its name (one of SERVERS), root URL and wire."""

    name: str
    url: str
    wire: Wire


# Servers left out of a scenario: a server, or a (server, parameter value) pair -> why.
Exclusions = dict[str | tuple[str, Any], str]


def serving(not_on: Exclusions | None = None, **params: Sequence[Any]) -> pytest.MarkDecorator:
    """Parametrize a scenario over every server and the values of at most one of its own
    parameters, leaving out each key of ``not_on`` (a server, or a (server, value) pair)
    for the reason it maps to: no server is left out silently."""
    not_on = dict(not_on or {})
    assert len(params) <= 1, "one parameter besides the server"
    assert all(reason.strip() for reason in not_on.values()), "every exclusion says why"
    ((argname, values),) = params.items() if params else (("", [None]),)
    argvalues = []
    for name in SERVERS:
        for value in values:
            if name in not_on or (name, value) in not_on:
                continue
            if argname:
                argvalues.append(pytest.param(name, value, id=f"{name}-{value}"))
            else:
                argvalues.append(pytest.param(name, id=name))
    matched = {*SERVERS, *((n, v) for n in SERVERS for v in values)}
    assert set(not_on) <= matched, f"no such server or case: {set(not_on) - matched}"
    argnames = ["server_name", argname] if argname else ["server_name"]
    return pytest.mark.parametrize(argnames, argvalues, indirect=["server_name"])


def on_starlette(reason: str, value: object = None) -> Exclusions:
    """Both servers of the sse-starlette app cannot serve it (or its case ``value``)."""
    return {(name if value is None else (name, value)): reason for name in STARLETTE}


@pytest.fixture(scope="module")
def uvicorn_url() -> Iterator[str]:
    """``python -m tests.interop_apps``: uvicorn on a free port, printed once it listens."""
    with serve_subprocess([sys.executable, "-m", "tests.interop_apps"], "uvicorn") as url:
        yield url


@pytest.fixture(scope="module")
def aiohttp_url() -> Iterator[str]:
    with serve_subprocess([sys.executable, "-m", "tests.interop_aiohttp"], "aiohttp") as url:
        yield url


@pytest.fixture(scope="module")
def node_url() -> Iterator[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "Node.js is not installed: tests/test_interop.py needs `node` on PATH "
            "to run tests/interop_node.js (any Node.js >= 18, no npm packages)"
        )
    with serve_subprocess([node, "tests/interop_node.js"], "node") as url:
        yield url


async def start_hypercorn(nursery: trio.Nursery) -> str:
    """The sse-starlette app on hypercorn, under this test's trio loop (``nursery.start``)."""
    import hypercorn.config
    import hypercorn.trio
    import hypercorn.typing

    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.loglevel = "WARNING"
    # An ASGI app, but typed apart: hypercorn's scopes are TypedDicts, which mypy does not
    # accept for the MutableMapping scope Starlette's __call__ takes.
    app = cast(hypercorn.typing.ASGIFramework, interop_apps.app)
    binds = await nursery.start(functools.partial(hypercorn.trio.serve, app, config))
    return str(binds[0])


@pytest.fixture(params=SERVERS)
def server_name(request: pytest.FixtureRequest) -> str:
    """Which server; ``serving()`` parametrizes it for the scenarios some cannot serve."""
    name: str = request.param
    return name


@pytest.fixture
def subprocess_url(request: pytest.FixtureRequest, server_name: str) -> str | None:
    """The URL of a server that runs in a subprocess (started once per module), else None."""
    if server_name == "hypercorn":
        return None
    url: str = request.getfixturevalue(f"{server_name}_url")
    return url


@pytest.fixture
async def server(server_name: str, subprocess_url: str | None, nursery: trio.Nursery) -> Backend:
    """The server of this run of a scenario, started if it runs in this test (in this
    module it replaces conftest's scripted ``server``)."""
    url = subprocess_url if subprocess_url is not None else await start_hypercorn(nursery)
    return Backend(server_name, url, WIRE[server_name])


def unique_key() -> str:
    return uuid.uuid4().hex


async def collect(session: SSESession[Any]) -> list[Any]:
    return [ev async for ev in session]


async def server_log(base: str, key: str, min_entries: int = 0) -> list[dict[str, Any]]:
    """What /resume, /flaky or /endless logged for ``key``, read back through trio_sse
    itself; the server answers once the log has ``min_entries`` entries."""
    url = f"{base}/log?key={key}&min={min_entries}"
    async with open_sse_session(url, model=list[dict[str, Any]]) as session:
        (ev,) = await collect(session)
    assert ev.event == "log"
    entries: list[dict[str, Any]] = ev.data
    return entries


async def raw_body(base: str, target: str) -> bytes:
    """The body of GET ``target`` as the server sent it, de-chunked but not decoded."""
    host, port = base.removeprefix("http://").split(":")
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET", target=target, headers=[("Host", host), ("Connection", "close")]
    )
    body = bytearray()
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some())
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return bytes(body)
            else:
                assert isinstance(event, h11.Response), event
                assert event.status_code == 200, event


@dataclass
class Customer:
    id: int
    name: str
    note: str


@dataclass
class Product:
    sku: str
    price: float


CANNOT_DROP = "ASGI gives an app no way to cut its connection mid-body but crashing"
NO_DROP = on_starlette(CANNOT_DROP, "dropped")
NO_DEFLATE = on_starlette("Starlette's GZipMiddleware compresses with gzip only", "deflate")
NO_HOLD: Exclusions = {"aiohttp": "aiohttp's compressor flushes only at the end of the body"}

# --------------------------------------------------------------------------- events


@serving(sep=["crlf", "lf", "cr"])
async def test_ids_types_and_multiline_data_arrive_intact(server: Backend, sep: str) -> None:
    n = 6
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{server.url}/events?n={n}&sep={sep}") as session:
            assert session.response.status_code == 200
            assert session.response.content_type == "text/event-stream"
            got = await collect(session)
    assert [(ev.id, ev.event, ev.data) for ev in got] == [
        (str(i), event_type(i), event_data(i)) for i in range(1, n + 1)
    ]
    assert all(isinstance(ev, ServerSentEvent) for ev in got)
    assert all(ev.retry is None and ev.comments is None for ev in got)
    assert session.last_event_id == str(n)


async def test_each_server_frames_with_its_own_line_ends(server: Backend) -> None:
    """The premise of the separator cases above: left alone, sse-starlette and aiohttp-sse
    really send CRLF and the Node.js server LF, and nothing else."""
    with trio.fail_after(SAFETY):
        body = await raw_body(server.url, "/events?n=1")
    sep = server.wire.line_end
    expected = [b"id: 1", b"event: tick", b"data: event 1, line one", b"data: line two"]
    assert sep.join(expected) in body
    assert sep + b"data: " + sep + b"data: line four 1" + sep + sep in body  # the empty line
    assert re.search(rb"[\r\n]", body.replace(sep, b"")) is None  # no other line end at all


async def test_json_events_arrive_typed(server: Backend) -> None:
    n = 6
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{server.url}/typed/events?n={n}", model=dict[str, Any]
        ) as session:
            assert session.response.status_code == 200
            assert session.response.content_type == "text/event-stream"
            got = await collect(session)
    assert all(isinstance(ev, TypedServerSentEvent) for ev in got)
    assert [(ev.id, ev.event, ev.data) for ev in got] == [
        (str(i), *typed_event(i)) for i in range(1, n + 1)
    ]
    assert got[0].data["note"] == "naïve ☃"  # UTF-8 on the wire, decoded
    assert session.last_event_id == str(n)


async def test_events_typed_by_event_type_with_a_model_mapping(server: Backend) -> None:
    """model={type: dataclass}: each event built into its type's model, as the server sent it."""
    models = {"customer": Customer, "product": Product}
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{server.url}/typed/events?n=4", model=models) as session:
            got = await collect(session)
    assert [ev.data for ev in got] == [
        Customer(**customer(1)),
        Product(**product(2)),
        Customer(**customer(3)),
        Product(**product(4)),
    ]
    assert [(ev.id, ev.event) for ev in got] == [
        ("1", "customer"),
        ("2", "product"),
        ("3", "customer"),
        ("4", "product"),
    ]


async def test_session_deserialize_chooses_the_model_per_event(server: Backend) -> None:
    """Ktor's form: events stay ServerSentEvent; session.deserialize(T, ev.data) by type."""
    built: list[Customer | Product | None] = []
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{server.url}/typed/events?n=4") as session:
            async for ev in session:
                assert isinstance(ev, ServerSentEvent)
                model: type[Customer | Product] = Customer if ev.event == "customer" else Product
                built.append(session.deserialize(model, ev.data))
    assert built == [
        Customer(**customer(1)),
        Product(**product(2)),
        Customer(**customer(3)),
        Product(**product(4)),
    ]


async def test_deserialize_failure_carries_the_event(server: Backend) -> None:
    with trio.fail_after(SAFETY), pytest.raises(SSEDeserializationError) as info:
        async with open_sse_session(f"{server.url}/events?n=2", model=dict[str, Any]) as session:
            await collect(session)
    event = info.value.event
    assert event is not None
    assert (event.id, event.event, event.data) == ("1", "tick", event_data(1))
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


# --------------------------------------------------------------------------- compression


@asynccontextmanager
async def compressed_session(
    url: str, coding: str, model: Any = None
) -> AsyncIterator[SSESession[Any]]:
    """A session that asked for ``coding`` and got it from the server."""
    async with open_sse_session(url, headers={"Accept-Encoding": coding}, model=model) as session:
        assert session.response.headers.get("content-encoding") == coding
        yield session


@serving(NO_DEFLATE, coding=["gzip", "deflate"])
async def test_compressed_stream_is_decoded(server: Backend, coding: str) -> None:
    """Both kinds of events, through a real server's compressor: multi-line text, and
    JSON deserialized by the client."""
    n = 20
    with trio.fail_after(SAFETY):
        async with compressed_session(f"{server.url}/gz/events?n={n}", coding) as session:
            text = await collect(session)
        url = f"{server.url}/gz/typed/events?n={n}"
        async with compressed_session(url, coding, model=dict[str, Any]) as session:
            typed = await collect(session)
    assert [(ev.id, ev.event, ev.data) for ev in text] == [
        (str(i), event_type(i), event_data(i)) for i in range(1, n + 1)
    ]
    assert [(ev.id, ev.event, ev.data) for ev in typed] == [
        (str(i), *typed_event(i)) for i in range(1, n + 1)
    ]


async def test_compressed_route_without_accept_encoding_is_identity(server: Backend) -> None:
    """accept_encoding=None sends no Accept-Encoding: the server must not compress."""
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{server.url}/gz/events?n=3", accept_encoding=None) as session:
            assert "content-encoding" not in session.response.headers
            got = await collect(session)
    assert [(ev.id, ev.data) for ev in got] == [(str(i), event_data(i)) for i in (1, 2, 3)]


async def test_compressed_route_compresses_by_default(server: Backend) -> None:
    """The default Accept-Encoding lets a real server compress, and the events decode."""
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{server.url}/gz/events?n=3") as session:
            assert session.response.headers.get("content-encoding") == server.wire.coding
            got = await collect(session)
    assert [ev.data for ev in got] == [event_data(i) for i in (1, 2, 3)]


@serving(NO_HOLD | NO_DEFLATE, coding=["gzip", "deflate"])
async def test_compressed_events_arrive_while_the_stream_stays_open(
    server: Backend, coding: str
) -> None:
    """The server flushes its compressor after each event and then holds the stream open:
    every event must reach the consumer before the body ends (a decoder that waited for
    more compressed input, or for the end, would hang here until the hang guard)."""
    n = 3
    with trio.fail_after(SAFETY):
        url = f"{server.url}/gz/typed/events?n={n}&hold=1"
        async with compressed_session(url, coding) as session:
            got = []
            async for ev in session:
                got.append(ev.id)
                if len(got) == n:
                    break
    assert got == [str(i) for i in range(1, n + 1)]


# --------------------------------------------------------------------------- comments


async def test_ping_comments_are_hidden_by_default(server: Backend) -> None:
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{server.url}/ping?count=3") as session:
            got = await collect(session)
    assert [(ev.id, ev.data, ev.comments) for ev in got] == [
        ("p1", "before", None),
        ("p2", "after", None),
    ]


async def test_ping_comments_surface_with_show_comment_events(server: Backend) -> None:
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{server.url}/ping?count=3", show_comment_events=True
        ) as session:
            got = await collect(session)
    data = [ev.data for ev in got]
    assert data[0] == "before"
    after = data.index("after")
    pings = got[1:after]
    assert len(pings) >= 3  # at least three pings between "before" and "after"
    for ev in pings:
        assert ev.comments is not None
        assert re.fullmatch(server.wire.ping, ev.comments), ev.comments  # ": ping", space stripped
        assert (ev.data, ev.event, ev.retry) == (None, None, None)
        assert ev.id == "p1"  # a comment block still reports the stream's last event ID
    trailing = got[after + 1 :]
    assert all(ev.data is None and ev.id == "p2" for ev in trailing)
    if not server.wire.pings_after_the_end:  # sse-starlette's pinger may get one in after "after"
        assert trailing == []


async def test_pings_keep_a_quiet_stream_within_read_timeout(server: Backend) -> None:
    """Comments count as activity: ~0.4 s without an event, but a ping every 0.04 s."""
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{server.url}/ping?count=10&interval=0.04", read_timeout=0.3
        ) as session:
            got = await collect(session)
            assert session.statistics().reconnects == 0
    assert [ev.data for ev in got] == ["before", "after"]


# --------------------------------------------------------------------------- retry


@serving(show_retry_events=[False, True])
async def test_retry_sets_the_reconnection_time(server: Backend, show_retry_events: bool) -> None:
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{server.url}/retry?ms=1234",
            show_retry_events=show_retry_events,
            reconnection_time=3.0,
        ) as session:
            got = await collect(session)
            assert session.reconnection_time == pytest.approx(1.234)
    expected: list[tuple[str | None, str | None, int | None]]
    expected = [(None, None, 1234)] if show_retry_events else []
    expected.append(("after retry", "r1", None))
    assert [(ev.data, ev.id, ev.retry) for ev in got] == expected


# --------------------------------------------------------------------------- reconnection


@serving(NO_DROP, end=["ended", "dropped"])
async def test_reconnect_resumes_from_last_event_id(server: Backend, end: str) -> None:
    """Every 3 events the server ends the response (or cuts the connection mid-body); the
    client reconnects with Last-Event-ID, sees each id exactly once, and stops at the 204
    after the last."""
    key = unique_key()
    drop = int(end == "dropped")
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{server.url}/resume?key={key}&total=9&per=3&drop={drop}",
            max_reconnection_attempts=1,
            reconnection_time=QUICK,
            model=dict[str, Any],
        ) as session:
            got = await collect(session)
            stats = session.statistics()
        log = await server_log(server.url, key)
    assert [ev.id for ev in got] == [str(i) for i in range(1, 10)]
    assert [ev.data["i"] for ev in got] == list(range(1, 10))
    seen = [ev.data["last_event_id"] for ev in got]  # the header, as the server read it
    assert seen == [None] * 3 + ["3"] * 3 + ["6"] * 3
    assert {ev.event for ev in got} == {"item"}
    assert session.last_event_id == "9"
    assert session.response.status_code == 204
    assert stats.streams_opened == 3
    assert stats.reconnects == 3
    assert [entry["last_event_id"] for entry in log] == [None, "3", "6", "9"]
    for entry in log:  # what the real server saw of trio_sse's request, every time
        assert entry["method"] == "GET"
        assert entry["accept"] == "text/event-stream"
        assert entry["cache-control"] == "no-cache"
        assert entry["user-agent"].startswith("trio-sse/")


async def test_server_retry_replaces_the_reconnection_time(server: Backend) -> None:
    """A 5 s client default, but the server says ``retry: 20``: reconnects come fast."""
    key = unique_key()
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{server.url}/resume?key={key}&total=6&per=2&retry=20",
            max_reconnection_attempts=1,
            reconnection_time=5.0,
        ) as session:
            with trio.fail_after(3):  # three reconnects at 5 s each would take 15 s
                got = await collect(session)
            assert session.reconnection_time == pytest.approx(0.02)
    assert [ev.id for ev in got] == [str(i) for i in range(1, 7)]
    assert [ev.retry for ev in got] == [20, None] * 3


@serving(NO_DROP, end=["ended", "dropped"])
async def test_post_body_is_resent_on_every_reconnect(server: Backend, end: str) -> None:
    key = unique_key()
    body = {"query": "ünïcode ☃", "n": [1, 2]}
    client = SSEClient(max_reconnection_attempts=1, reconnection_time=QUICK)
    with trio.fail_after(SAFETY):
        async with client.sse(
            f"{server.url}/resume?key={key}&total=4&per=2&drop={int(end == 'dropped')}",
            method="POST",
            json=body,
            model=dict[str, Any],
        ) as session:
            got = await collect(session)
        log = await server_log(server.url, key)
    assert [(ev.id, ev.data["i"]) for ev in got] == [("1", 1), ("2", 2), ("3", 3), ("4", 4)]
    assert all(ev.data["echo"] == body for ev in got)
    assert [(ev.data["method"], ev.data["last_event_id"]) for ev in got] == [
        ("POST", None),
        ("POST", None),
        ("POST", "2"),
        ("POST", "2"),
    ]
    assert [(e["method"], e["last_event_id"], e["body"]) for e in log] == [
        ("POST", None, body),
        ("POST", "2", body),
        ("POST", "4", body),
    ]


@serving(on_starlette(CANNOT_DROP))
async def test_dropped_connection_without_reconnection_is_an_error(server: Backend) -> None:
    """A body cut off mid-stream is never mistaken for a clean end."""
    got: list[str | None] = []

    async def read_all() -> None:
        url = f"{server.url}/resume?key={unique_key()}&total=9&per=3&drop=1"
        async with open_sse_session(url) as session:
            async for ev in session:
                got.append(ev.id)

    with trio.fail_after(SAFETY), pytest.raises(SSEConnectionError):
        await read_all()
    assert got == ["1", "2", "3"]  # the events before the cut, then the error


async def test_dropped_connection_with_clean_end_is_not_an_error(server: Backend) -> None:
    """The control for the test above: the same stream ended properly ends ``async for``."""
    url = f"{server.url}/resume?key={unique_key()}&total=9&per=3&drop=0"
    with trio.fail_after(SAFETY):
        async with open_sse_session(url) as session:
            got = [ev.id for ev in await collect(session)]
    assert got == ["1", "2", "3"]


async def test_last_event_id_option_starts_the_stream_there(server: Backend) -> None:
    key = unique_key()
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{server.url}/resume?key={key}&total=9&per=3", last_event_id="4"
        ) as session:
            got = await collect(session)  # no reconnection: the first response's end ends it
        log = await server_log(server.url, key)
    assert [ev.id for ev in got] == ["5", "6", "7"]
    assert [entry["last_event_id"] for entry in log] == ["4"]


async def test_retryable_status_is_retried_until_the_stream_opens(server: Backend) -> None:
    key = unique_key()
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{server.url}/flaky?key={key}&failures=1&status=503",
            max_reconnection_attempts=3,
            reconnection_time=QUICK,
        ) as session:
            first = await session.__anext__()
            stats = session.statistics()
        log = await server_log(server.url, key)
    assert (first.id, first.data) == ("f1", "recovered")
    assert stats.connection_attempts == 2
    assert stats.streams_opened == 1
    assert len(log) == 2


async def test_retryable_status_gives_up_after_the_attempts(server: Backend) -> None:
    key = unique_key()
    with trio.fail_after(SAFETY), pytest.raises(SSEConnectionError) as info:
        async with open_sse_session(
            f"{server.url}/flaky?key={key}&failures=10&status=500",
            max_reconnection_attempts=1,
            reconnection_time=QUICK,
        ):
            pytest.fail("the session opened")  # pragma: no cover
    assert info.value.attempts == 1
    cause = info.value.__cause__
    assert isinstance(cause, SSEResponseError)
    assert cause.status_code == 500
    assert cause.body == b"try again"
    assert len(await server_log(server.url, key)) == 2  # the first request and one retry


async def test_leaving_early_closes_the_connection_and_the_server_notices(
    server: Backend,
) -> None:
    """aclose() with the server still sending: the socket closes, so the server's stream
    is torn down (its cleanup runs) instead of streaming into the void."""
    key = unique_key()
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{server.url}/endless?key={key}") as session:
            async for ev in session:
                if ev.id == "3":
                    break
        log = await server_log(server.url, key, min_entries=2)  # waits for "closed"
    assert [entry["event"] for entry in log] == ["connected", "closed"]
    assert log[1]["sent"] >= 3


# --------------------------------------------------------------------------- POST streams


async def test_post_json_streams_back_typed_events(server: Backend) -> None:
    """An LLM-style POST: JSON in, JSON token events out, deserialized by the client."""
    client = SSEClient()
    with trio.fail_after(SAFETY):
        async with client.sse(
            f"{server.url}/chat",
            method="POST",
            json={"prompt": "Say hi", "max_tokens": len(CHAT_WORDS)},
            model=dict[str, Any],
        ) as session:
            got = await collect(session)
    assert all(isinstance(ev, TypedServerSentEvent) for ev in got)
    *tokens, done = got
    assert [ev.event for ev in tokens] == ["token"] * len(CHAT_WORDS)
    assert [ev.id for ev in tokens] == [f"tok-{i}" for i in range(len(CHAT_WORDS))]
    assert "".join(ev.data["delta"] for ev in tokens) == "Hello from a real server."
    assert {ev.data["prompt"] for ev in tokens} == {"Say hi"}
    assert done.event == "done"
    assert done.id == f"tok-{len(CHAT_WORDS) - 1}"  # the id persists to later events
    assert done.data == {
        "finish_reason": "stop",
        "tokens": len(CHAT_WORDS),
        "content_type": "application/json",
    }


async def test_post_stream_with_sse_session_in_a_nursery(server: Backend) -> None:
    """Ktor's sseSession(): the reader lives in the caller's nursery."""
    client = SSEClient()
    call = functools.partial(
        client.sse_session,
        f"{server.url}/chat",
        method="POST",
        json={"prompt": "x", "max_tokens": 2},
    )
    with trio.fail_after(SAFETY):
        async with trio.open_nursery() as nursery:
            session = await nursery.start(call)
            got = [ev async for ev in session.incoming]
            await session.aclose()
    assert [ev.event for ev in got] == ["token", "token", "done"]
    assert [json.loads(ev.data)["delta"] for ev in got[:2]] == ["Hello", " from"]


# --------------------------------------------------------------------------- refusals


async def test_204_ends_the_stream_cleanly_and_is_not_retried(server: Backend) -> None:
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{server.url}/nocontent", max_reconnection_attempts=3, reconnection_time=QUICK
        ) as session:
            got = await collect(session)
            stats = session.statistics()
    assert got == []
    assert session.response.status_code == 204
    assert stats.connection_attempts == 1
    assert stats.streams_opened == 0


@serving(route=["status", "unknown"])
async def test_404_raises_sse_response_error_and_is_not_retried(
    server: Backend, route: str
) -> None:
    path = "/status/404" if route == "status" else "/no/such/route"
    with trio.fail_after(SAFETY), pytest.raises(SSEResponseError) as info:
        async with open_sse_session(
            f"{server.url}{path}", max_reconnection_attempts=3, reconnection_time=QUICK
        ):
            pytest.fail("the session opened")  # pragma: no cover
    assert info.value.status_code == 404
    assert info.value.response.status_code == 404
    if route == "status":
        assert info.value.body == status_body(404, server.wire.kind).encode()
    else:
        assert info.value.body == server.wire.not_found


async def test_500_without_reconnection_raises_sse_response_error(server: Backend) -> None:
    with trio.fail_after(SAFETY), pytest.raises(SSEResponseError) as info:
        async with open_sse_session(f"{server.url}/status/500"):
            pytest.fail("the session opened")  # pragma: no cover
    assert info.value.status_code == 500
    assert info.value.body == status_body(500, server.wire.kind).encode()


async def test_a_refusal_is_reported_without_waiting_for_the_server_to_close(
    server: Backend,
) -> None:
    """Real servers keep the connection alive after a refusal with a Content-Length body.

    The whole body is there at once, so the SSEResponseError should be too, not after
    the 2 s the session gives a slow error body (ERROR_BODY_TIMEOUT).
    """
    with trio.move_on_after(1.0) as slow, pytest.raises(SSEResponseError) as info:
        async with open_sse_session(f"{server.url}/status/404"):
            pytest.fail("the session opened")  # pragma: no cover
    assert not slow.cancelled_caught, "a complete 404 took over 1 s to be reported"
    assert info.value.body == status_body(404, server.wire.kind).encode()


async def test_a_200_that_is_not_an_event_stream_is_refused(server: Backend) -> None:
    with trio.fail_after(SAFETY), pytest.raises(SSEResponseError) as info:
        async with open_sse_session(
            f"{server.url}/status/200", max_reconnection_attempts=3, reconnection_time=QUICK
        ):
            pytest.fail("the session opened")  # pragma: no cover
    assert info.value.status_code == 200
    assert info.value.response.content_type == "text/plain"
    assert info.value.body == status_body(200, server.wire.kind).encode()
