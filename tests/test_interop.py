"""Interop: trio_sse against real SSE servers from PyPI, no scripted bytes.

The app is tests/interop_apps.py (sse-starlette on Starlette). Every test runs against
it twice: served by uvicorn (asyncio, h11) in a subprocess, once per module, and by
hypercorn in-process under trio, once per test. The tests speak only trio_sse's public
API and assert what a user would see.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
import trio

from tests import interop_apps
from tests.interop_apps import CHAT_WORDS, event_data, event_type
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


@pytest.fixture(scope="module")
def uvicorn_url() -> Iterator[str]:
    """``python -m tests.interop_apps``: uvicorn on a free port, printed once it listens."""
    with serve_subprocess([sys.executable, "-m", "tests.interop_apps"], "uvicorn") as url:
        yield url


async def start_hypercorn(nursery: trio.Nursery) -> str:
    """The same app on hypercorn, under this test's trio loop (``nursery.start``)."""
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


@pytest.fixture(params=["uvicorn", "hypercorn"])
async def base(request: pytest.FixtureRequest, uvicorn_url: str, nursery: trio.Nursery) -> str:
    """The server's root URL, for each server in turn."""
    if request.param == "uvicorn":
        return uvicorn_url
    return await start_hypercorn(nursery)


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


# --------------------------------------------------------------------------- events


@pytest.mark.parametrize("sep", ["crlf", "lf", "cr"])
async def test_ids_types_and_multiline_data_arrive_intact(base: str, sep: str) -> None:
    n = 6
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{base}/events?n={n}&sep={sep}") as session:
            assert session.response.status_code == 200
            assert session.response.content_type == "text/event-stream"
            got = await collect(session)
    assert [(ev.id, ev.event, ev.data) for ev in got] == [
        (str(i), event_type(i), event_data(i)) for i in range(1, n + 1)
    ]
    assert all(isinstance(ev, ServerSentEvent) for ev in got)
    assert all(ev.retry is None and ev.comments is None for ev in got)
    assert session.last_event_id == str(n)


async def test_sse_starlette_frames_with_crlf_by_default(uvicorn_url: str) -> None:
    """The premise of the default-separator case above: sse-starlette really sends CRLF."""
    host, port = uvicorn_url.removeprefix("http://").split(":")
    with trio.fail_after(SAFETY):
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            request = f"GET /events?n=1 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            await stream.send_all(request.encode())
            raw = bytearray()
            while chunk := await stream.receive_some():
                raw += chunk
    assert b"id: 1\r\nevent: tick\r\ndata: event 1, line one\r\ndata: line two" in raw
    assert b"\r\ndata: \r\ndata: line four 1\r\n\r\n" in raw  # the empty data line too
    assert re.search(rb"[^\r]\n|\r[^\n]", bytes(raw)) is None  # no LF or CR alone anywhere


async def test_client_reads_a_gzip_compressed_stream(base: str) -> None:
    n = 20
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{base}/gz/events?n={n}", headers={"Accept-Encoding": "gzip"}
        ) as session:
            assert session.response.headers.get("content-encoding") == "gzip"
            got = await collect(session)
    assert [(ev.id, ev.event, ev.data) for ev in got] == [
        (str(i), event_type(i), event_data(i)) for i in range(1, n + 1)
    ]


async def test_gzip_route_without_accept_encoding_is_identity(base: str) -> None:
    """accept_encoding=None sends no Accept-Encoding: the server must not compress."""
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{base}/gz/events?n=3", accept_encoding=None) as session:
            assert "content-encoding" not in session.response.headers
            got = await collect(session)
    assert [ev.data for ev in got] == [event_data(i) for i in (1, 2, 3)]


async def test_gzip_route_compresses_by_default(base: str) -> None:
    """The default Accept-Encoding lets a real server compress, and the events decode."""
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{base}/gz/events?n=3") as session:
            assert session.response.headers.get("content-encoding") == "gzip"
            got = await collect(session)
    assert [ev.data for ev in got] == [event_data(i) for i in (1, 2, 3)]


# --------------------------------------------------------------------------- comments


async def test_ping_comments_are_hidden_by_default(base: str) -> None:
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{base}/ping?count=3") as session:
            got = await collect(session)
    assert [(ev.id, ev.data, ev.comments) for ev in got] == [
        ("p1", "before", None),
        ("p2", "after", None),
    ]


async def test_ping_comments_surface_with_show_comment_events(base: str) -> None:
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{base}/ping?count=3", show_comment_events=True) as session:
            got = await collect(session)
    data = [ev.data for ev in got]
    assert data[0] == "before"
    after = data.index("after")
    pings = [ev for ev in got if ev.data is None]
    assert after >= 4  # at least three pings between "before" and "after"
    assert all(ev.data is None for ev in got[1:after])
    assert len(pings) >= 3
    for ev in pings:
        assert ev.comments is not None
        assert ev.comments.startswith("ping - ")  # ": ping - <time>", one space stripped
        assert ev.event is None
        assert ev.retry is None
    assert got[1].id == "p1"  # a comment block still reports the stream's last event ID


async def test_pings_keep_a_quiet_stream_within_read_timeout(base: str) -> None:
    """Comments count as activity: ~0.4 s without an event, but a ping every 0.04 s."""
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{base}/ping?count=10&interval=0.04", read_timeout=0.3
        ) as session:
            got = await collect(session)
            assert session.statistics().reconnects == 0
    assert [ev.data for ev in got] == ["before", "after"]


# --------------------------------------------------------------------------- retry


@pytest.mark.parametrize("show_retry_events", [False, True])
async def test_retry_sets_the_reconnection_time(base: str, show_retry_events: bool) -> None:
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{base}/retry?ms=1234", show_retry_events=show_retry_events, reconnection_time=3.0
        ) as session:
            got = await collect(session)
            assert session.reconnection_time == pytest.approx(1.234)
    expected: list[tuple[str | None, str | None, int | None]]
    expected = [(None, None, 1234)] if show_retry_events else []
    expected.append(("after retry", "r1", None))
    assert [(ev.data, ev.id, ev.retry) for ev in got] == expected


# --------------------------------------------------------------------------- reconnection


async def test_reconnect_resumes_from_last_event_id(base: str) -> None:
    """The server ends the response every 3 events; the client reconnects with
    Last-Event-ID, sees each id exactly once, and stops at the 204 after the last."""
    key = unique_key()
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{base}/resume?key={key}&total=9&per=3",
            max_reconnection_attempts=2,
            reconnection_time=QUICK,
        ) as session:
            got = await collect(session)
            stats = session.statistics()
        log = await server_log(base, key)
    assert [ev.id for ev in got] == [str(i) for i in range(1, 10)]
    assert [json.loads(ev.data)["i"] for ev in got] == list(range(1, 10))
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


async def test_server_retry_replaces_the_reconnection_time(base: str) -> None:
    """A 5 s client default, but the server says ``retry: 20``: reconnects come fast."""
    key = unique_key()
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{base}/resume?key={key}&total=6&per=2&retry=20",
            max_reconnection_attempts=1,
            reconnection_time=5.0,
        ) as session:
            with trio.fail_after(3):  # three reconnects at 5 s each would take 15 s
                got = await collect(session)
            assert session.reconnection_time == pytest.approx(0.02)
    assert [ev.id for ev in got] == [str(i) for i in range(1, 7)]
    assert [ev.retry for ev in got] == [20, None] * 3


async def test_post_body_is_resent_on_every_reconnect(base: str) -> None:
    key = unique_key()
    body = {"query": "ünïcode ☃", "n": [1, 2]}
    client = SSEClient(max_reconnection_attempts=1, reconnection_time=QUICK)
    with trio.fail_after(SAFETY):
        async with client.sse(
            f"{base}/resume?key={key}&total=4&per=2",
            method="POST",
            json=body,
            model=dict[str, Any],
        ) as session:
            got = await collect(session)
        log = await server_log(base, key)
    assert [(ev.id, ev.data["i"]) for ev in got] == [("1", 1), ("2", 2), ("3", 3), ("4", 4)]
    assert all(ev.data["echo"] == body for ev in got)
    assert [(e["method"], e["last_event_id"], e["body"]) for e in log] == [
        ("POST", None, body),
        ("POST", "2", body),
        ("POST", "4", body),
    ]


async def test_last_event_id_option_starts_the_stream_there(base: str) -> None:
    key = unique_key()
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{base}/resume?key={key}&total=9&per=3", last_event_id="4"
        ) as session:
            got = await collect(session)  # no reconnection: the first response's end ends it
        log = await server_log(base, key)
    assert [ev.id for ev in got] == ["5", "6", "7"]
    assert [entry["last_event_id"] for entry in log] == ["4"]


async def test_retryable_status_is_retried_until_the_stream_opens(base: str) -> None:
    key = unique_key()
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{base}/flaky?key={key}&failures=1&status=503",
            max_reconnection_attempts=3,
            reconnection_time=QUICK,
        ) as session:
            first = await session.__anext__()
            stats = session.statistics()
        log = await server_log(base, key)
    assert (first.id, first.data) == ("f1", "recovered")
    assert stats.connection_attempts == 2
    assert stats.streams_opened == 1
    assert len(log) == 2


async def test_retryable_status_gives_up_after_the_attempts(base: str) -> None:
    key = unique_key()
    with trio.fail_after(SAFETY), pytest.raises(SSEConnectionError) as info:
        async with open_sse_session(
            f"{base}/flaky?key={key}&failures=10&status=500",
            max_reconnection_attempts=1,
            reconnection_time=QUICK,
        ):
            pytest.fail("the session opened")  # pragma: no cover
    assert info.value.attempts == 1
    cause = info.value.__cause__
    assert isinstance(cause, SSEResponseError)
    assert cause.status_code == 500
    assert cause.body == b"try again"
    assert len(await server_log(base, key)) == 2  # the first request and one retry


async def test_leaving_early_closes_the_connection_and_the_server_notices(base: str) -> None:
    """aclose() with the server still sending: the socket closes, so sse-starlette's
    generator is torn down (its finally runs) instead of streaming into the void."""
    key = unique_key()
    with trio.fail_after(SAFETY):
        async with open_sse_session(f"{base}/endless?key={key}") as session:
            async for ev in session:
                if ev.id == "3":
                    break
        log = await server_log(base, key, min_entries=2)  # waits for "closed"
    assert [entry["event"] for entry in log] == ["connected", "closed"]
    assert log[1]["sent"] >= 3


async def test_deserialize_failure_carries_the_event(base: str) -> None:
    with trio.fail_after(SAFETY), pytest.raises(SSEDeserializationError) as info:
        async with open_sse_session(f"{base}/events?n=2", model=dict[str, Any]) as session:
            await collect(session)
    event = info.value.event
    assert event is not None
    assert (event.id, event.event, event.data) == ("1", "tick", event_data(1))
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


# --------------------------------------------------------------------------- POST streams


async def test_post_json_streams_back_typed_events(base: str) -> None:
    """An LLM-style POST: JSON in, JSON token events out, deserialized by the client."""
    client = SSEClient()
    with trio.fail_after(SAFETY):
        async with client.sse(
            f"{base}/chat",
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


async def test_post_stream_with_sse_session_in_a_nursery(base: str) -> None:
    """Ktor's sseSession(): the reader lives in the caller's nursery."""
    client = SSEClient()
    call = functools.partial(
        client.sse_session, f"{base}/chat", method="POST", json={"prompt": "x", "max_tokens": 2}
    )
    with trio.fail_after(SAFETY):
        async with trio.open_nursery() as nursery:
            session = await nursery.start(call)
            got = [ev async for ev in session.incoming]
            await session.aclose()
    assert [ev.event for ev in got] == ["token", "token", "done"]
    assert [json.loads(ev.data)["delta"] for ev in got[:2]] == ["Hello", " from"]


# --------------------------------------------------------------------------- refusals


async def test_204_ends_the_stream_cleanly_and_is_not_retried(base: str) -> None:
    with trio.fail_after(SAFETY):
        async with open_sse_session(
            f"{base}/nocontent", max_reconnection_attempts=3, reconnection_time=QUICK
        ) as session:
            got = await collect(session)
            stats = session.statistics()
    assert got == []
    assert session.response.status_code == 204
    assert stats.connection_attempts == 1
    assert stats.streams_opened == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [("/status/404", b"status 404 from starlette"), ("/no/such/route", b"Not Found")],
)
async def test_404_raises_sse_response_error_and_is_not_retried(
    base: str, path: str, body: bytes
) -> None:
    with trio.fail_after(SAFETY), pytest.raises(SSEResponseError) as info:
        async with open_sse_session(
            f"{base}{path}", max_reconnection_attempts=3, reconnection_time=QUICK
        ):
            pytest.fail("the session opened")  # pragma: no cover
    assert info.value.status_code == 404
    assert info.value.response.status_code == 404
    assert info.value.body == body


async def test_500_without_reconnection_raises_sse_response_error(base: str) -> None:
    with trio.fail_after(SAFETY), pytest.raises(SSEResponseError) as info:
        async with open_sse_session(f"{base}/status/500"):
            pytest.fail("the session opened")  # pragma: no cover
    assert info.value.status_code == 500
    assert info.value.body == b"status 500 from starlette"


async def test_a_refusal_is_reported_without_waiting_for_the_server_to_close(base: str) -> None:
    """Real servers keep the connection alive after a refusal with a Content-Length body.

    The whole body is there at once, so the SSEResponseError should be too, not after
    the 2 s the session gives a slow error body (ERROR_BODY_TIMEOUT).
    """
    with trio.move_on_after(1.0) as slow, pytest.raises(SSEResponseError) as info:
        async with open_sse_session(f"{base}/status/404"):
            pytest.fail("the session opened")  # pragma: no cover
    assert not slow.cancelled_caught, "a complete 404 took over 1 s to be reported"
    assert info.value.body == b"status 404 from starlette"


async def test_a_200_that_is_not_an_event_stream_is_refused(base: str) -> None:
    with trio.fail_after(SAFETY), pytest.raises(SSEResponseError) as info:
        async with open_sse_session(
            f"{base}/status/200", max_reconnection_attempts=3, reconnection_time=QUICK
        ):
            pytest.fail("the session opened")  # pragma: no cover
    assert info.value.status_code == 200
    assert info.value.response.content_type == "text/plain"
    assert info.value.body == b"status 200 from starlette"
