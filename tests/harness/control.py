"""The harness's WebSocket control channel (trio-websocket), and the client tests use.

Protocol: JSON text messages. A command is ``{"id": 1, "cmd": "emit", "args": {...}}``;
its answer is ``{"id": 1, "ok": true, "result": ...}`` or ``{"id": 1, "ok": false,
"error": "...", "type": "ValueError"}``. Commands run concurrently (each in its own
task), so a ``wait_requests`` does not hold up the others; answers carry the command's
id. The commands are HarnessServer's ``cmd_*`` methods (see tests/harness/server.py),
plus ``commands``, which lists them.

In a test::

    async with open_harness(events=100, finished=True) as harness:
        await harness.fault("drop", after_events=3, mid_event=True)
        async with trio_sse.open_sse_session(harness.sse_url, ...) as session: ...
        first, second = await harness.wait_requests(2)
        assert second.last_event_id == "3"

``open_harness`` runs the server in-process (under a MockClock too); ``connect_harness``
attaches to one started with ``python -m tests.harness``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    WebSocketServer,
    open_websocket_url,
    serve_websocket,
)

import trio_sse

from .server import HarnessServer, generated_event

__all__ = [
    "ChaosReport",
    "Harness",
    "HarnessError",
    "RequestInfo",
    "connect_harness",
    "open_harness",
    "run_chaos",
    "run_harness",
    "serve_control",
]

MAX_MESSAGE_SIZE = 64 * 2**20  # request lists of long chaos runs are big


class HarnessError(Exception):
    """A command failed on the harness side (or the control channel closed)."""


# -- the server side ------------------------------------------------------------------


async def serve_control(
    server: HarnessServer,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: trio.TaskStatus[WebSocketServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the control channel for ``server`` until cancelled."""

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await _ControlSession(server, ws).run()

    await serve_websocket(
        handler,
        host,
        port,
        ssl_context=None,
        max_message_size=MAX_MESSAGE_SIZE,
        task_status=task_status,
    )


class _ControlSession:
    def __init__(self, server: HarnessServer, ws: WebSocketConnection) -> None:
        self.server = server
        self.ws = ws
        self.send_lock = trio.Lock()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                try:
                    message = await self.ws.get_message()
                except ConnectionClosed:
                    break
                nursery.start_soon(self.answer, message)
            nursery.cancel_scope.cancel()

    async def answer(self, message: str | bytes) -> None:
        command_id: Any = None
        try:
            request = json.loads(message)
            if not isinstance(request, dict):
                raise ValueError("a command is a JSON object")
            command_id = request.get("id")
            command = request.get("cmd")
            args = request.get("args") or {}
            if not isinstance(command, str) or not isinstance(args, dict):
                raise ValueError('a command needs "cmd" (a string) and "args" (an object)')
            if command == "commands":
                result: Any = HarnessServer.commands()
            else:
                result = await self.server.call(command, args)
            reply = {"id": command_id, "ok": True, "result": result}
        except Exception as exc:
            reply = {"id": command_id, "ok": False, "error": str(exc), "type": type(exc).__name__}
        async with self.send_lock:
            with suppress(ConnectionClosed):
                await self.ws.send_message(json.dumps(reply))


async def run_harness(
    host: str = "127.0.0.1",
    port: int = 0,
    control_port: int = 0,
    *,
    task_status: trio.TaskStatus[tuple[HarnessServer, str]] = trio.TASK_STATUS_IGNORED,
    **options: Any,
) -> None:
    """Run a harness (SSE server and control channel) until cancelled.

    ``options`` are HarnessServer's (events, finished, resume, write_size, framing).
    Reports ``(server, control_url)``; the SSE URL is ``server.url``.
    """
    server = HarnessServer(**options)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, host, port)
        control: WebSocketServer = await nursery.start(serve_control, server, host, control_port)
        task_status.started((server, _ws_url(host, control.port)))


def _ws_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{port}/control"


# -- the client side ------------------------------------------------------------------


@dataclass(frozen=True)
class RequestInfo:
    """A request as the harness recorded it (see server.RequestRecord)."""

    number: int
    time: float
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: str
    last_event_id: str | None
    response: str
    status: int
    connections_open: int
    start_id: str | None
    start_index: int
    fault: dict[str, Any] | None
    fault_fired: dict[str, Any] | None
    bytes_sent: int
    open: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RequestInfo:
        values = dict(data)
        values["headers"] = tuple((k, v) for k, v in values["headers"])
        return cls(**values)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)


@dataclass
class _Reply:
    event: trio.Event = field(default_factory=trio.Event)
    message: dict[str, Any] | None = None


class Harness:
    """A connection to a harness's control channel. Use :func:`open_harness` or
    :func:`connect_harness`; ``server`` is the HarnessServer when it runs in-process."""

    def __init__(self, ws: WebSocketConnection, control_url: str) -> None:
        self._ws = ws
        self._replies: dict[int, _Reply] = {}
        self._next_id = 0
        self._closed: str | None = None
        self.control_url = control_url
        self.sse_url = ""
        self.server: HarnessServer | None = None

    async def command(self, cmd: str, /, **args: Any) -> Any:
        """Send one command and wait for its result; HarnessError if it failed."""
        if self._closed is not None:
            raise HarnessError(self._closed)
        self._next_id += 1
        command_id = self._next_id
        reply = self._replies[command_id] = _Reply()
        try:
            await self._ws.send_message(json.dumps({"id": command_id, "cmd": cmd, "args": args}))
            await reply.event.wait()
        except ConnectionClosed:
            raise HarnessError("the control channel is closed") from None
        finally:
            del self._replies[command_id]
        message = reply.message
        if message is None:
            raise HarnessError(self._closed or "the control channel is closed")
        if not message.get("ok"):
            raise HarnessError(f"{cmd}: {message.get('type')}: {message.get('error')}")
        return message.get("result")

    async def _read_replies(self) -> None:
        try:
            while True:
                message = json.loads(await self._ws.get_message())
                reply = self._replies.get(message.get("id"))
                if reply is not None:
                    reply.message = message
                    reply.event.set()
        except ConnectionClosed:
            self._closed = "the control channel is closed"
        finally:
            self._closed = self._closed or "the control channel is closed"
            for reply in self._replies.values():
                reply.event.set()

    # -- conveniences, one per command ------------------------------------------------

    async def info(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.command("info")
        self.sse_url = result["sse_url"]
        return result

    async def reset_state(self, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.command("reset_state", **options)
        return result

    async def configure(self, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.command("configure", **options)
        return result

    async def emit(
        self, count: int = 0, events: Iterable[trio_sse.ServerSentEvent] = ()
    ) -> dict[str, Any]:
        """Append ``count`` generated events, then ``events`` (sent verbatim)."""
        items = [
            {name: getattr(ev, name) for name in ev.__match_args__ if getattr(ev, name) is not None}
            for ev in events
        ]
        result: dict[str, Any] = await self.command("emit", count=count, events=items)
        return result

    async def finish(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.command("finish")
        return result

    async def fault(self, kind: str, target: str = "next", **spec: Any) -> dict[str, Any]:
        """Plan (``target="next"``) or inject (``"current"``) one fault; see server.Fault."""
        if "headers" in spec:
            spec["headers"] = [list(item) for item in spec["headers"]]
        result: dict[str, Any] = await self.command("fault", kind=kind, target=target, **spec)
        return result

    async def random_faults(self, count: int, seed: int, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.command(
            "random_faults", count=count, seed=seed, **options
        )
        return result

    async def clear_faults(self) -> None:
        await self.command("clear_faults")

    async def plan(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.command("plan")
        return result

    async def requests(self, start: int = 0) -> list[RequestInfo]:
        records = await self.command("requests", start=start)
        return [RequestInfo.from_json(record) for record in records]

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.command("stats")
        return result

    async def wait_requests(self, count: int) -> list[RequestInfo]:
        records = await self.command("wait_requests", count=count)
        return [RequestInfo.from_json(record) for record in records]

    async def wait_faults(self, count: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.command("wait_faults", count=count)
        return result

    async def wait_closed(self, count: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.command("wait_closed", count=count)
        return result


@asynccontextmanager
async def connect_harness(control_url: str) -> AsyncIterator[Harness]:
    """Attach to a running harness's control channel (``ws://host:port/control``)."""
    body_error: BaseException | None = None
    async with (
        open_websocket_url(control_url, max_message_size=MAX_MESSAGE_SIZE) as ws,
        trio.open_nursery() as nursery,
    ):
        harness = Harness(ws, control_url)
        nursery.start_soon(harness._read_replies)
        try:
            await harness.info()
            yield harness
        except BaseException as exc:
            # Re-raised outside the nursery, so a failing assert in the block comes
            # out as itself rather than inside an ExceptionGroup.
            body_error = exc
        finally:
            nursery.cancel_scope.cancel()
    if body_error is not None:
        raise body_error


@asynccontextmanager
async def open_harness(host: str = "127.0.0.1", **options: Any) -> AsyncIterator[Harness]:
    """Run a harness in-process for the block and connect to it.

    ``options`` are HarnessServer's: ``events`` (generate ids 1..events), ``finished``
    (no more events will come: caught-up requests get 204), ``resume``, ``write_size``,
    ``framing``. ``harness.server`` is the HarnessServer itself.
    """
    body_error: BaseException | None = None
    async with trio.open_nursery() as nursery:
        server, control_url = await nursery.start(_run_harness_kw, host, options)
        try:
            async with connect_harness(control_url) as harness:
                harness.server = server
                yield harness
        except BaseException as exc:
            body_error = exc
        finally:
            nursery.cancel_scope.cancel()
    if body_error is not None:
        raise body_error


async def _run_harness_kw(
    host: str,
    options: dict[str, Any],
    *,
    task_status: trio.TaskStatus[tuple[HarnessServer, str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    await run_harness(host, task_status=task_status, **options)


# -- the chaos scenario ---------------------------------------------------------------


CHAOS_KINDS = ("drop", "reset", "close", "status")


@dataclass
class ChaosReport:
    """What a chaos run did and what the consumer saw."""

    events: int
    faults_planned: int
    seed: int
    faults_injected: int = 0
    faults_by_kind: dict[str, int] = field(default_factory=dict)
    faults_mid_event: int = 0
    faults_mid_character: int = 0
    requests: int = 0
    received: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    corrupted: int = 0
    reconnects: int = 0
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.out_of_order or self.corrupted)

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.faults_by_kind.items()))
        return (
            f"chaos seed={self.seed}: events {self.events}, "
            f"faults injected {self.faults_injected} of {self.faults_planned} ({kinds}; "
            f"mid-event {self.faults_mid_event}, mid-UTF-8 {self.faults_mid_character}), "
            f"requests {self.requests}, reconnects {self.reconnects}, "
            f"received {self.received}, lost {self.lost}, duplicated {self.duplicated}, "
            f"out of order {self.out_of_order}, corrupted {self.corrupted}, "
            f"elapsed {self.elapsed:.2f}s"
        )


async def run_chaos(
    harness: Harness,
    *,
    events: int,
    faults: int,
    seed: int,
    kinds: Iterable[str] = CHAOS_KINDS,
    max_offset: int | None = None,
    write_size: int = 4096,
    framing: str = "chunked",
) -> ChaosReport:
    """Serve ids 1..events through ``faults`` random faults to a reconnecting consumer.

    The consumer (SSEClient, reconnection_time=0) checks every event against the
    generated log; the report counts what was lost, duplicated, reordered or corrupted.
    """
    await harness.reset_state(events=events, finished=True, write_size=write_size, framing=framing)
    await harness.random_faults(faults, seed, kinds=list(kinds), max_offset=max_offset)
    report = ChaosReport(events=events, faults_planned=faults, seed=seed)
    client = trio_sse.SSEClient(reconnection_time=0, max_reconnection_attempts=100)
    seen: list[int] = []
    started = time.perf_counter()
    async with client.sse(harness.sse_url) as session:
        async for event in session:
            try:
                number = int(event.id or "")
            except ValueError:
                report.corrupted += 1
                continue
            expected = generated_event(number)
            if (event.data, event.event) != (expected.data, expected.event):
                report.corrupted += 1
            seen.append(number)
        report.reconnects = session.statistics().reconnects
    report.elapsed = time.perf_counter() - started
    stats = await harness.stats()
    report.faults_injected = stats["faults_injected"]
    report.faults_by_kind = stats["faults_by_kind"]
    report.faults_mid_event = stats["faults_mid_event"]
    report.faults_mid_character = stats["faults_mid_character"]
    report.requests = stats["requests"]
    report.received = len(seen)
    unique = set(seen)
    report.lost = len(set(range(1, events + 1)) - unique)
    report.duplicated = len(seen) - len(unique)
    report.out_of_order = sum(1 for a, b in itertools.pairwise(seen) if b <= a)
    return report
