"""Interop: trio_sse against SSE servers nobody here wrote the framing for.

Two back ends serve the same endpoints: aiohttp with aiohttp-sse (tests/interop_aiohttp.py,
asyncio, CRLF lines) and a plain Node.js ``http`` server (tests/interop_node.js, no npm
packages, LF lines, zlib compression flushed per event). Each runs in a subprocess started
once per module on a free loopback port and stopped at teardown. Node.js must be installed:
its fixture fails, never skips, when ``node`` is missing. The tests speak only trio_sse's
public API and assert what a user would see.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import trio

from tests.interop_aiohttp import customer, product, typed_event
from tests.interop_process import QUICK, SAFETY, serve_subprocess
from trio_sse import (
    ServerSentEvent,
    SSEClient,
    SSEConnectionError,
    SSESession,
    TypedServerSentEvent,
    open_sse_session,
)


@pytest.fixture(scope="module")
def aiohttp_url() -> Iterator[str]:
    with serve_subprocess([sys.executable, "-m", "tests.interop_aiohttp"], "aiohttp") as url:
        yield url


@pytest.fixture(scope="module")
def node_url() -> Iterator[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "Node.js is not installed: tests/test_interop_servers.py needs `node` on PATH "
            "to run tests/interop_node.js (any Node.js >= 18, no npm packages)"
        )
    with serve_subprocess([node, "tests/interop_node.js"], "node") as url:
        yield url


@pytest.fixture(params=["aiohttp", "node"])
def base(request: pytest.FixtureRequest) -> str:
    """The server's root URL, for each back end in turn."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def collect(session: SSESession[Any]) -> list[Any]:
    return [ev async for ev in session]


@dataclass
class Customer:
    id: int
    name: str
    note: str


@dataclass
class Product:
    sku: str
    price: float


# --------------------------------------------------------------------------- typed events


async def test_json_events_arrive_typed(base: str) -> None:
    n = 6
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{base}/events?n={n}", model=dict[str, Any]) as session:
            assert session.response.status_code == 200
            assert session.response.content_type == "text/event-stream"
            got = await collect(session)
    assert all(isinstance(ev, TypedServerSentEvent) for ev in got)
    assert [(ev.id, ev.event, ev.data) for ev in got] == [
        (str(i), *typed_event(i)) for i in range(1, n + 1)
    ]
    assert got[0].data["note"] == "naïve ☃"  # UTF-8 on the wire, decoded
    assert session.last_event_id == str(n)


async def test_events_typed_by_event_type_with_a_model_mapping(base: str) -> None:
    """model={type: dataclass}: each event built into its type's model, as the server sent it."""
    models = {"customer": Customer, "product": Product}
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{base}/events?n=4", model=models) as session:
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


async def test_session_deserialize_chooses_the_model_per_event(base: str) -> None:
    """Ktor's form: events stay ServerSentEvent; session.deserialize(T, ev.data) by type."""
    built: list[Customer | Product | None] = []
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{base}/events?n=4") as session:
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


# --------------------------------------------------------------------------- keep-alive


async def test_keepalive_pings_are_hidden_by_default(base: str) -> None:
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{base}/ping?count=3") as session:
            got = await collect(session)
    assert [(ev.id, ev.data, ev.comments) for ev in got] == [
        ("p1", "before", None),
        ("p2", "after", None),
    ]


async def test_keepalive_pings_surface_with_show_comment_events(base: str) -> None:
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{base}/ping?count=3", show_comment_events=True) as session:
            got = await collect(session)
    assert got[0].data == "before"
    assert got[-1].data == "after"
    pings = got[1:-1]
    assert len(pings) >= 3
    for ev in pings:
        assert (ev.data, ev.event, ev.comments, ev.retry) == (None, None, "ping", None)
        assert ev.id == "p1"  # a comment block still reports the stream's last event ID


async def test_keepalive_pings_keep_a_quiet_stream_within_read_timeout(base: str) -> None:
    """Comments count as activity: ~0.4 s without an event, but a ping every 0.04 s."""
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{base}/ping?count=10&interval=0.04", read_timeout=0.3
        ) as session:
            got = await collect(session)
            assert session.statistics().reconnects == 0
    assert [ev.data for ev in got] == ["before", "after"]


# --------------------------------------------------------------------------- disconnects


@pytest.mark.parametrize("drop", [False, True], ids=["ended", "dropped"])
async def test_server_disconnect_is_resumed_with_last_event_id(base: str, drop: bool) -> None:
    """Every 3 events the server ends the response (or cuts the connection mid-body);
    the client reconnects with Last-Event-ID, the server continues after it, and the
    204 after the last event ends the stream."""
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{base}/resume?total=9&per=3&drop={int(drop)}",
            max_reconnection_attempts=1,
            reconnection_time=QUICK,
            model=dict[str, Any],
        ) as session:
            got = await collect(session)
            stats = session.statistics()
    assert [ev.id for ev in got] == [str(i) for i in range(1, 10)]
    assert [ev.data["i"] for ev in got] == list(range(1, 10))
    seen = [ev.data["last_event_id"] for ev in got]  # the header, as the server read it
    assert seen == [None] * 3 + ["3"] * 3 + ["6"] * 3
    assert {ev.event for ev in got} == {"item"}
    assert session.last_event_id == "9"
    assert session.response.status_code == 204
    assert stats.streams_opened == 3
    assert stats.reconnects == 3


async def test_dropped_connection_without_reconnection_is_an_error(base: str) -> None:
    """A body cut off mid-stream is never mistaken for a clean end."""
    got: list[str | None] = []

    async def read_all() -> None:
        async with open_sse_session(f"{base}/resume?total=9&per=3&drop=1") as session:
            async for ev in session:
                got.append(ev.id)

    with trio.fail_after(SAFETY), pytest.raises(SSEConnectionError):
        await read_all()
    assert got == ["1", "2", "3"]  # the events before the cut, then the error


async def test_dropped_connection_with_clean_end_is_not_an_error(base: str) -> None:
    """The control for the test above: the same stream ended properly ends ``async for``."""
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{base}/resume?total=9&per=3&drop=0") as session:
            got = [ev.id for ev in await collect(session)]
    assert got == ["1", "2", "3"]


# --------------------------------------------------------------------------- POST


async def test_post_json_body_is_sent_and_resent_on_reconnect(base: str) -> None:
    body = {"query": "ünïcode ☃", "n": [1, 2]}
    client = SSEClient(max_reconnection_attempts=1, reconnection_time=QUICK)
    with trio.fail_after(SAFETY):
        async with client.sse(
            f"{base}/resume?total=4&per=2&drop=1",
            method="POST",
            json=body,
            model=dict[str, Any],
        ) as session:
            got = await collect(session)
    assert [ev.id for ev in got] == ["1", "2", "3", "4"]
    assert [(ev.data["method"], ev.data["last_event_id"]) for ev in got] == [
        ("POST", None),
        ("POST", None),
        ("POST", "2"),
        ("POST", "2"),
    ]
    assert all(ev.data["echo"] == body for ev in got)


# --------------------------------------------------------------------------- compression


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_compressed_stream_is_decoded(base: str, coding: str) -> None:
    n = 20
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{base}/gz/events?n={n}", headers={"Accept-Encoding": coding}, model=dict[str, Any]
        ) as session:
            assert session.response.headers.get("content-encoding") == coding
            got = await collect(session)
    assert [(ev.id, ev.event, ev.data) for ev in got] == [
        (str(i), *typed_event(i)) for i in range(1, n + 1)
    ]


async def test_compressed_route_without_accept_encoding_is_identity(base: str) -> None:
    """accept_encoding=None sends no Accept-Encoding: the server must not compress."""
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{base}/gz/events?n=3", accept_encoding=None) as session:
            assert "content-encoding" not in session.response.headers
            got = await collect(session)
    assert [ev.id for ev in got] == ["1", "2", "3"]


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_compressed_events_arrive_while_the_stream_stays_open(
    node_url: str, coding: str
) -> None:
    """Node flushes the compressor after each event and then holds the stream open: every
    event must reach the consumer before the body ends (a decoder that waited for more
    compressed input, or for the end, would hang here until the hang guard)."""
    n = 3
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{node_url}/gz/events?n={n}&hold=1", headers={"Accept-Encoding": coding}
        ) as session:
            assert session.response.headers.get("content-encoding") == coding
            got = []
            async for ev in session:
                got.append(ev.id)
                if len(got) == n:
                    break
    assert got == [str(i) for i in range(1, n + 1)]
