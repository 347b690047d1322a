"""The fault-injecting harness itself, driven over its WebSocket control channel.

The SSE side is read with a raw trio socket and h11, not with trio_sse's session, so
the harness can be trusted independently of the client it is meant to test.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit

import h11
import pytest
import trio
import trio.testing
from trio_websocket import open_websocket_url

from tests.harness import (
    Harness,
    HarnessError,
    HarnessServer,
    connect_harness,
    generated_event,
    open_harness,
)
from trio_sse import ServerSentEvent, SSEParser

ROOT = Path(__file__).resolve().parent.parent


class RawClient:
    """One GET on a fresh connection; records the head, the body and how it ended."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.ending: str | None = None  # "complete" | "truncated" | "reset"

    @classmethod
    async def open(cls, url: str, last_event_id: str | None = None) -> RawClient:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        client = cls(await trio.open_tcp_stream(parts.hostname, parts.port))
        headers = [("Host", parts.netloc), ("Accept", "text/event-stream")]
        if last_event_id is not None:
            headers.append(("Last-Event-ID", last_event_id))
        request = h11.Request(method="GET", target=parts.path or "/", headers=headers)
        await client.stream.send_all(
            client.conn.send(request) + client.conn.send(h11.EndOfMessage())
        )
        return client

    async def _receive(self) -> None:
        try:
            data = await self.stream.receive_some(65536)
        except trio.BrokenResourceError:
            self.ending = "reset"
            return
        self.conn.receive_data(data)
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError:
                self.ending = "truncated"
                return
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.Response):
                self.status = event.status_code
                self.headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                self.body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self.ending = "complete"
                return

    async def read_until(self, condition: Callable[[RawClient], bool]) -> None:
        while self.ending is None and not condition(self):
            await self._receive()

    async def read_all(self) -> RawClient:
        await self.read_until(lambda _: False)
        await self.stream.aclose()
        return self

    def events(self) -> list[ServerSentEvent]:
        return SSEParser().feed(bytes(self.body))


async def fetch(url: str, last_event_id: str | None = None) -> RawClient:
    client = await RawClient.open(url, last_event_id)
    return await client.read_all()


def wire(*numbers: int) -> bytes:
    return b"".join(str(generated_event(n)).encode() for n in numbers)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with open_harness() as h:
        yield h


# -- the log and resuming -------------------------------------------------------------


async def test_info_and_the_command_list(harness: Harness) -> None:
    info = await harness.info()
    assert info["sse_url"] == harness.sse_url
    assert harness.sse_url.startswith("http://127.0.0.1:")
    assert harness.sse_url.endswith("/events")
    assert info["events"] == 0
    commands = await harness.command("commands")
    assert commands == HarnessServer.commands()
    assert {"emit", "fault", "random_faults", "requests", "stats", "wait_requests"} <= set(commands)


def test_generated_events_are_deterministic_and_mostly_multibyte() -> None:
    assert generated_event(12) == generated_event(12)
    assert [generated_event(n).id for n in (1, 2, 10)] == ["1", "2", "10"]
    assert generated_event(5).event == "tick"
    assert "\n" in (generated_event(7).data or "")
    data = wire(*range(1, 101))
    assert data.decode("utf-8")  # valid UTF-8
    widths = {len(ch.encode()) for n in range(1, 10) for ch in generated_event(n).data or ""}
    assert widths == {1, 2, 3, 4}
    continuation = sum(1 for byte in data if byte & 0xC0 == 0x80)
    assert continuation / len(data) > 0.3  # a random cut is often mid-character


async def test_streams_the_log_and_ends_with_204_once_caught_up(harness: Harness) -> None:
    await harness.reset_state(events=20, finished=True)
    response = await fetch(harness.sse_url)
    assert response.status == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.ending == "complete"
    assert bytes(response.body) == wire(*range(1, 21))
    assert response.events() == [generated_event(n) for n in range(1, 21)]

    caught_up = await fetch(harness.sse_url, last_event_id="20")
    assert (caught_up.status, caught_up.ending, bytes(caught_up.body)) == (204, "complete", b"")
    first, second = await harness.requests()
    assert (first.last_event_id, first.start_id, first.response) == (None, "1", "stream")
    assert first.bytes_sent == len(wire(*range(1, 21)))
    assert (second.last_event_id, second.start_id, second.response) == ("20", None, "no content")
    stats = await harness.stats()
    assert (stats["requests"], stats["streams"], stats["no_content"]) == (2, 1, 1)


async def test_resumes_after_last_event_id(harness: Harness) -> None:
    await harness.reset_state(events=10, finished=True)
    assert (await fetch(harness.sse_url, "7")).body == wire(8, 9, 10)
    assert (await fetch(harness.sse_url, "no such id")).body == wire(*range(1, 11))
    await harness.configure(resume=False)
    assert (await fetch(harness.sse_url, "7")).body == wire(*range(1, 11))
    records = await harness.requests()
    assert [r.start_id for r in records] == ["8", "1", "1"]
    assert [r.header("last-event-id") for r in records] == ["7", "no such id", "7"]


async def test_close_framing(harness: Harness) -> None:
    await harness.reset_state(events=3, finished=True, framing="close")
    response = await fetch(harness.sse_url)
    assert "transfer-encoding" not in response.headers
    assert (response.ending, bytes(response.body)) == ("complete", wire(1, 2, 3))


async def test_live_log_streams_emitted_events_at_once(harness: Harness) -> None:
    client = await RawClient.open(harness.sse_url)
    await harness.wait_requests(1)
    await harness.emit(2)
    await client.read_until(lambda c: len(c.body) >= len(wire(1, 2)))
    assert bytes(client.body) == wire(1, 2)
    custom = [
        ServerSentEvent(data="custom", event="note", id="x", retry=1500),
        ServerSentEvent(data="no id"),
        ServerSentEvent(comments="just a comment"),
    ]
    result = await harness.emit(1, events=custom)
    assert result["events"] == 6
    expected = wire(1, 2, 3) + "".join(str(ev) for ev in custom).encode()
    await client.read_until(lambda c: len(c.body) >= len(expected))
    await harness.finish()
    await client.read_all()
    assert (client.ending, bytes(client.body)) == ("complete", expected)
    # Resuming after a custom id re-sends what followed it, id-less events included.
    assert (await fetch(harness.sse_url, "x")).events() == [ServerSentEvent(data="no id")]


# -- faults ---------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 1, 17, 40, 41, 42, 100])
async def test_drop_at_an_offset_truncates_after_exactly_that_many_bytes(
    harness: Harness, offset: int
) -> None:
    await harness.reset_state(events=5, finished=True, write_size=7)
    await harness.fault("drop", offset=offset)
    response = await fetch(harness.sse_url)
    full = wire(1, 2, 3, 4, 5)
    assert (response.status, response.ending) == (200, "truncated")
    assert bytes(response.body) == full[:offset]
    [record] = await harness.requests()
    assert record.fault is not None
    assert (record.fault["kind"], record.fault["offset"]) == ("drop", offset)
    assert record.fault_fired == {
        "kind": "drop",
        "offset": offset,
        "mid_event": offset not in {0, *(len(wire(*range(1, n + 1))) for n in range(1, 6))},
        "mid_character": 0 < offset < len(full) and full[offset] & 0xC0 == 0x80,
    }
    stats = await harness.stats()
    assert stats["faults_injected"] == 1
    assert stats["faults_by_kind"] == {"drop": 1}


async def test_a_cut_can_split_a_utf8_character(harness: Harness) -> None:
    await harness.reset_state(events=3, finished=True)
    full = wire(1, 2, 3)
    offset = next(i for i, byte in enumerate(full) if byte & 0xC0 == 0x80)
    await harness.fault("drop", offset=offset)
    response = await fetch(harness.sse_url)
    with pytest.raises(UnicodeDecodeError):
        bytes(response.body).decode("utf-8")
    stats = await harness.stats()
    assert (stats["faults_mid_character"], stats["faults_mid_event"]) == (1, 1)


async def test_after_events_and_mid_event(harness: Harness) -> None:
    await harness.reset_state(events=6, finished=True)
    await harness.fault("drop", after_events=2)
    await harness.fault("drop", after_events=1, mid_event=True)
    assert bytes((await fetch(harness.sse_url)).body) == wire(1, 2)
    cut = await fetch(harness.sse_url, last_event_id="2")
    third, fourth = wire(3), wire(4)
    assert bytes(cut.body) == third + fourth[: len(fourth) // 2]
    assert cut.events() == [generated_event(3)]
    fired = [r.fault_fired for r in await harness.requests()]
    assert [f["mid_event"] for f in fired if f] == [False, True]


async def test_drop_with_close_framing_is_a_clean_end(harness: Harness) -> None:
    await harness.reset_state(events=3, finished=True, framing="close")
    await harness.fault("drop", offset=10)
    response = await fetch(harness.sse_url)
    assert (response.ending, bytes(response.body)) == ("complete", wire(1, 2, 3)[:10])


async def test_close_finishes_the_message_wherever_the_cut_is(harness: Harness) -> None:
    await harness.reset_state(events=3, finished=True)
    await harness.fault("close", offset=10)
    response = await fetch(harness.sse_url)
    assert (response.ending, bytes(response.body)) == ("complete", wire(1, 2, 3)[:10])


async def test_reset_aborts_the_connection(harness: Harness) -> None:
    await harness.reset_state(events=3, finished=True)
    await harness.fault("reset", offset=30)
    response = await fetch(harness.sse_url)
    assert response.ending == "reset"
    assert wire(1, 2, 3)[:30].startswith(bytes(response.body))  # in-flight bytes may be lost


async def test_a_fault_beyond_a_finished_log_fires_at_its_end(harness: Harness) -> None:
    await harness.reset_state(events=2, finished=True)
    await harness.fault("drop", offset=10_000)
    response = await fetch(harness.sse_url)
    assert (response.ending, bytes(response.body)) == ("truncated", wire(1, 2))
    # A caught-up request gets 204 and leaves the plan alone.
    await harness.fault("reset")
    assert (await fetch(harness.sse_url, "2")).status == 204
    assert [f["kind"] for f in await harness.plan()] == ["reset"]


async def test_stall_pauses_then_goes_on(harness: Harness, autojump_clock: trio.abc.Clock) -> None:
    await harness.reset_state(events=3, finished=True)
    await harness.fault("stall", offset=25, seconds=30)
    client = await RawClient.open(harness.sse_url)
    start = trio.current_time()
    await client.read_until(lambda c: len(c.body) >= 25)
    assert trio.current_time() == start
    await client.read_all()
    assert trio.current_time() - start == pytest.approx(30)
    assert (client.ending, bytes(client.body)) == ("complete", wire(1, 2, 3))


async def test_stall_for_ever_hangs_until_the_client_leaves(
    harness: Harness, autojump_clock: trio.abc.Clock
) -> None:
    await harness.reset_state(events=3, finished=True)
    await harness.fault("stall", after_events=1)
    client = await RawClient.open(harness.sse_url)
    with trio.move_on_after(3600) as waited:
        await client.read_all()
    assert waited.cancelled_caught
    assert (client.ending, bytes(client.body)) == (None, wire(1))
    await client.stream.aclose()
    stats = await harness.wait_closed(1)
    assert stats["streams_open"] == 0
    assert harness.server is not None
    assert harness.server.sse is not None
    await harness.server.sse.wait_for_disconnects(1)


async def test_status_answers_the_next_request_only(harness: Harness) -> None:
    await harness.reset_state(events=2, finished=True)
    await harness.fault(
        "status", status=503, headers=[("Retry-After", "7"), ("X-Why", "busy")], body="later"
    )
    await harness.fault("status", status=200, headers=[("Content-Type", "text/plain")])
    busy = await fetch(harness.sse_url)
    assert (busy.status, busy.headers["retry-after"], bytes(busy.body)) == (503, "7", b"later")
    wrong_type = await fetch(harness.sse_url)
    assert (wrong_type.status, wrong_type.headers["content-type"]) == (200, "text/plain")
    assert (await fetch(harness.sse_url)).body == wire(1, 2)
    records = await harness.requests()
    assert [(r.response, r.status) for r in records] == [
        ("status", 503),
        ("status", 200),
        ("stream", 200),
    ]


@pytest.mark.parametrize(("kind", "ending"), [("drop", "truncated"), ("close", "complete")])
async def test_a_fault_injected_into_the_current_connection(
    harness: Harness, kind: str, ending: str
) -> None:
    client = await RawClient.open(harness.sse_url)
    await harness.wait_requests(1)
    await harness.emit(2)
    await client.read_until(lambda c: len(c.body) >= len(wire(1, 2)))
    result = await harness.fault(kind, target="current", after_events=1, mid_event=True)
    assert result["streams"] == 1
    await harness.emit(2)
    await client.read_all()
    fourth = wire(4)
    assert client.ending == ending
    assert bytes(client.body) == wire(1, 2, 3) + fourth[: len(fourth) // 2]


async def test_a_reset_injected_into_the_current_connection(harness: Harness) -> None:
    client = await RawClient.open(harness.sse_url)
    await harness.wait_requests(1)
    await harness.emit(1)
    await client.read_until(lambda c: len(c.body) >= len(wire(1)))
    await harness.fault("reset", target="current")
    await client.read_all()
    assert (client.ending, bytes(client.body)) == ("reset", wire(1))


async def test_a_stall_injected_into_the_current_connection(
    harness: Harness, autojump_clock: trio.abc.Clock
) -> None:
    client = await RawClient.open(harness.sse_url)
    await harness.wait_requests(1)
    await harness.fault("stall", target="current", seconds=60)
    start = trio.current_time()
    await harness.emit(1)
    await harness.finish()
    await client.read_all()
    assert trio.current_time() - start == pytest.approx(60)
    assert (client.ending, bytes(client.body)) == ("complete", wire(1))


async def test_random_faults_are_reproducible_from_the_seed(harness: Harness) -> None:
    await harness.reset_state(events=100, finished=True)
    planned = await harness.random_faults(50, seed=1234, kinds=["drop", "reset", "status"])
    assert planned["count"] == 50
    assert planned["max_offset"] == len(wire(*range(1, 101))) // 50
    first = await harness.plan()
    await harness.clear_faults()
    assert await harness.plan() == []
    await harness.random_faults(50, seed=1234, kinds=["drop", "reset", "status"])
    assert await harness.plan() == first
    assert {f["kind"] for f in first} == {"drop", "reset", "status"}
    offsets = [f["offset"] for f in first if f["kind"] != "status"]
    assert all(0 <= offset <= planned["max_offset"] for offset in offsets)
    await harness.clear_faults()
    await harness.random_faults(50, seed=1235, kinds=["drop", "reset", "status"])
    assert await harness.plan() != first


async def test_each_planned_fault_serves_one_request(harness: Harness) -> None:
    await harness.reset_state(events=4, finished=True)
    await harness.random_faults(5, seed=99, kinds=["drop", "close"], max_offset=40)
    for _ in range(5):
        await fetch(harness.sse_url)
    stats = await harness.wait_faults(5)
    assert (stats["faults_injected"], stats["faults_planned"]) == (5, 0)
    records = await harness.requests()
    for r in records:
        assert r.fault is not None
        assert r.fault_fired is not None
        assert r.fault_fired["offset"] == r.fault["offset"]


# -- the control channel --------------------------------------------------------------


async def test_errors_come_back_as_harness_errors(harness: Harness) -> None:
    with pytest.raises(HarnessError, match="unknown command"):
        await harness.command("no_such_command")
    with pytest.raises(HarnessError, match="fault kind"):
        await harness.fault("explode")
    with pytest.raises(HarnessError, match="TypeError"):
        await harness.command("emit", colour="blue")
    with pytest.raises(HarnessError, match="no connection is streaming"):
        await harness.fault("drop", target="current")
    with pytest.raises(HarnessError, match="use target='next'"):
        await harness.fault("status", target="current")
    with pytest.raises(HarnessError, match="not both"):
        await harness.fault("drop", offset=1, after_events=1)
    with pytest.raises(HarnessError, match="framing must be"):
        await harness.configure(framing="content-length")
    with pytest.raises(HarnessError, match="framing must be"):
        await harness.reset_state(framing="gzip")
    with pytest.raises(HarnessError, match="unknown fault kind 'explode'"):
        await harness.random_faults(1, seed=1, kinds=["drop", "explode"])
    with pytest.raises(HarnessError, match="kinds must not be empty"):
        await harness.random_faults(1, seed=1, kinds=[])
    assert (await harness.info())["framing"] == "chunked"
    assert await harness.plan() == []
    await harness.finish()
    with pytest.raises(HarnessError, match="finished"):
        await harness.emit(1)
    assert (await harness.stats())["requests"] == 0  # the channel still works


async def test_malformed_messages_get_an_error_reply(harness: Harness) -> None:
    async with open_websocket_url(harness.control_url) as ws:
        await ws.send_message("not json")
        reply = json.loads(await ws.get_message())
        assert (reply["id"], reply["ok"], reply["type"]) == (None, False, "JSONDecodeError")
        await ws.send_message(json.dumps({"id": 7, "cmd": "stats", "args": [1]}))
        reply = json.loads(await ws.get_message())
        assert (reply["id"], reply["ok"]) == (7, False)
        await ws.send_message(json.dumps({"id": 8, "cmd": "stats"}))
        reply = json.loads(await ws.get_message())
        assert (reply["id"], reply["ok"], reply["result"]["requests"]) == (8, True, 0)


async def test_commands_run_concurrently(harness: Harness) -> None:
    await harness.reset_state(events=1, finished=True)
    waited: list[str | None] = []

    async def wait_for_a_request() -> None:
        [record] = await harness.wait_requests(1)
        waited.append(record.start_id)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_for_a_request)
        assert (await harness.stats())["requests"] == 0  # not held up by the wait
        await fetch(harness.sse_url)
    assert waited == ["1"]


async def test_reset_state_cuts_connections_to_the_old_log(harness: Harness) -> None:
    client = await RawClient.open(harness.sse_url)
    await harness.wait_requests(1)
    await harness.emit(1)
    await client.read_until(lambda c: len(c.body) >= len(wire(1)))
    await harness.reset_state(events=2)
    await client.read_all()
    assert (client.ending, bytes(client.body)) == ("truncated", wire(1))
    assert await harness.requests() == []


async def test_standalone_server_with_python_dash_m() -> None:
    command = [sys.executable, "-m", "tests.harness", "--port", "0", "--events", "3", "--finished"]
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            functools.partial(
                trio.run_process, command, cwd=ROOT, stdout=subprocess.PIPE, check=False
            )
        )
        try:
            assert process.stdout is not None
            line = bytearray()
            with trio.fail_after(30):
                while not line.endswith(b"\n"):
                    chunk = await process.stdout.receive_some(1)
                    assert chunk, "the harness exited before printing its URLs"
                    line += chunk
            urls = json.loads(line)
            async with connect_harness(urls["control_url"]) as harness:
                assert harness.sse_url == urls["sse_url"]
                await harness.fault("drop", after_events=1)
                assert (await fetch(harness.sse_url)).body == wire(1)
                assert (await fetch(harness.sse_url, "1")).body == wire(2, 3)
                assert [r.last_event_id for r in await harness.requests()] == [None, "1"]
        finally:
            process.kill()
