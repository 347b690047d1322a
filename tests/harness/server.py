"""The fault-injecting SSE server of the test harness.

It serves one event log to any number of connections. The log holds events with ids
1..N whose data mixes ASCII with 2-, 3- and 4-byte UTF-8 characters (and, now and then,
a second line and an event type), so that a cut can land inside an event, a line or a
character. Each request resumes after its ``Last-Event-ID`` (or replays from the start,
``resume=False``), and a connection streams the log's bytes from there: an offset into
a connection is an offset into one deterministic byte string, which is what lets a fault
be placed on any byte and lets a consumer check that it saw every event exactly once.

Faults (:class:`Fault`) are taken one per request from a plan (``target="next"``), or
injected into the connections that are streaming now (``target="current"``):

- ``drop``: close the connection (FIN) without finishing the HTTP message, so the body is
  truncated (with ``framing="close"`` that is a clean end of stream);
- ``reset``: abort with a TCP RST (bytes still in flight may be lost, as in real life);
- ``close``: finish the message cleanly and close, wherever the cut is (a clean EOF,
  possibly mid-event);
- ``stall``: send nothing for ``seconds`` (then go on), or for ever (``seconds=None``);
- ``status``: answer the request with ``status``/``headers``/``body`` instead of a stream
  (e.g. 503 with ``Retry-After``, or 200 with a wrong Content-Type). Plan only;
- ``none``: no fault, a placeholder that lets a plan leave one request alone.

A fault fires at ``offset`` body bytes into the connection, or after ``after_events``
complete events (``mid_event=True``: halfway through the next one). Without either it
fires at once, right after the response head. Once the log is finished, a fault that
lies beyond its end fires at the end, so a planned fault is never silently skipped;
a request that is already caught up with a finished log gets 204, and the plan waits.

The server is built on :mod:`trio_sse.testing`: its handler records each request and
returns a ScriptedResponse whose body is an async generator over the log. The server
side's clock is ``trio.current_time()``, so under a MockClock the recorded request
times are exact.
"""

from __future__ import annotations

import bisect
import functools
import inspect
import random
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

import trio

from trio_sse import ServerSentEvent
from trio_sse.testing import (
    BodyItem,
    End,
    EndNow,
    Pause,
    RecordedRequest,
    ScriptedResponse,
    SSETestServer,
    serve_sse_test_server,
)

__all__ = [
    "FAULT_KINDS",
    "Fault",
    "HarnessServer",
    "generated_event",
]

FaultKind = Literal["drop", "reset", "close", "stall", "status", "none"]
FAULT_KINDS: tuple[FaultKind, ...] = ("drop", "reset", "close", "stall", "status", "none")
STREAM_FAULTS: tuple[FaultKind, ...] = ("drop", "reset", "close", "stall")
StreamFraming = Literal["chunked", "close"]
STREAM_FRAMINGS: tuple[StreamFraming, ...] = ("chunked", "close")
_Choice = TypeVar("_Choice", bound=str)
_END_OF: dict[str, End] = {"drop": "truncate", "reset": "reset", "close": "close", "stall": "hang"}

# Pieces of generated data: 2-byte (é ß ж ñ), 3-byte (€ 日本語 ✓) and 4-byte (𝄞 🎉) UTF-8.
_PIECES = ("é", "€", "𝄞", "日本語", "ß", "🎉", "ж", "ñ", "✓")


def generated_event(number: int) -> ServerSentEvent:
    """Event ``number`` of a generated log: the same for every run, id ``str(number)``.

    Its data is mostly multibyte UTF-8; every 7th event has a second data line and every
    5th is typed ``tick``, so cuts also land between data lines and after ``event:``.
    """
    turn = number % len(_PIECES)
    data = f"{number} " + "".join(_PIECES[turn:] + _PIECES[:turn])
    if number % 7 == 0:
        data += f"\nline two of {number} ✓"
    return ServerSentEvent(data=data, event="tick" if number % 5 == 0 else None, id=str(number))


def _one_of(value: str, choices: tuple[_Choice, ...]) -> _Choice | None:
    """``value`` as the matching member of ``choices`` (a Literal, where mypy cannot
    narrow a str by ``in``), or None."""
    for choice in choices:
        if value == choice:
            return choice
    return None


def _stream_framing(framing: str) -> StreamFraming:
    checked = _one_of(framing, STREAM_FRAMINGS)
    if checked is None:
        raise ValueError(f"framing must be 'chunked' or 'close', got {framing!r}")
    return checked


# -- faults --------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One fault; see the module docstring. JSON-friendly via :meth:`from_json`/``asdict``."""

    kind: FaultKind
    offset: int | None = None
    after_events: int | None = None
    mid_event: bool = False
    seconds: float | None = None
    status: int = 503
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, got {self.kind!r}")
        for name in ("offset", "after_events"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        if self.offset is not None and (self.after_events is not None or self.mid_event):
            raise ValueError("give offset, or after_events (and mid_event), not both")
        if self.seconds is not None and not self.seconds >= 0:
            raise ValueError(f"seconds must be >= 0 or None, got {self.seconds!r}")
        if not 100 <= self.status <= 999:
            raise ValueError(f"status must be a 3-digit HTTP status, got {self.status!r}")
        object.__setattr__(self, "headers", tuple((str(k), str(v)) for k, v in self.headers))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["headers"] = [list(item) for item in self.headers]
        return out


@dataclass
class _Pending:
    """A fault waiting in a stream: its position is resolved (to an absolute byte offset
    into the log) as soon as the log holds the events it is placed relative to."""

    fault: Fault
    ref: int  # the stream position the fault is relative to
    pos: int | None = None


# -- the event log --------------------------------------------------------------------


class EventLog:
    """The events every connection streams, and their wire bytes as one byte string."""

    def __init__(self) -> None:
        self.events: list[ServerSentEvent] = []
        self.data = bytearray()
        self.starts: list[int] = []  # byte offset of each event
        self.ends: list[int] = []  # byte offset just past each event
        self.finished = False
        self.next_number = 1
        self._resume_at: dict[str, int] = {}  # id -> index of the event after it

    def __len__(self) -> int:
        return len(self.events)

    @property
    def total_bytes(self) -> int:
        return len(self.data)

    def append(self, event: ServerSentEvent) -> None:
        self.starts.append(len(self.data))
        self.data += str(event).encode("utf-8")
        self.ends.append(len(self.data))
        self.events.append(event)
        if event.id is not None:
            self._resume_at[event.id] = len(self.events)

    def generate(self, count: int) -> None:
        for _ in range(count):
            self.append(generated_event(self.next_number))
            self.next_number += 1

    def start_index(self, last_event_id: str | None) -> int:
        """Where a request with this Last-Event-ID resumes (0 if the id is unknown)."""
        if last_event_id is None:
            return 0
        return self._resume_at.get(last_event_id, 0)

    def offset(self, index: int) -> int:
        """The byte offset where event ``index`` starts (or would, for the next one)."""
        return self.starts[index] if index < len(self.starts) else len(self.data)

    def index_at(self, pos: int) -> int:
        """The index of the first event that starts at or after byte ``pos``."""
        return bisect.bisect_left(self.starts, pos)

    def is_boundary(self, pos: int) -> bool:
        index = self.index_at(pos)
        return pos >= len(self.data) or (index < len(self.starts) and self.starts[index] == pos)

    def is_mid_character(self, pos: int) -> bool:
        """A cut at ``pos`` splits a multibyte UTF-8 character."""
        return 0 < pos < len(self.data) and self.data[pos] & 0xC0 == 0x80


# -- records -------------------------------------------------------------------------


@dataclass
class RequestRecord:
    """What the harness saw of one request and did with it (JSON-friendly)."""

    number: int
    time: float  # trio.current_time() when the request was complete
    method: str
    target: str
    headers: list[list[str]]
    body: str
    last_event_id: str | None
    response: str  # "stream", "status", "no content"
    status: int
    connections_open: int  # TCP connections open on the server, this one included
    start_id: str | None = None  # the id of the first event streamed (None: none yet)
    start_index: int = 0
    fault: dict[str, Any] | None = None  # the planned fault this request took
    fault_fired: dict[str, Any] | None = None  # where it fired: kind, offset, mid_*
    bytes_sent: int = 0
    open: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Stream:
    record: RequestRecord
    log: EventLog
    base: int  # absolute log offset where the body started
    pos: int  # absolute log offset of the next byte to send
    pending: list[_Pending] = field(default_factory=list)


# -- the server ----------------------------------------------------------------------


class HarnessServer:
    """The harness's state and commands; serve it with :meth:`serve`.

    Every ``cmd_*`` method is a control-channel command (tests/harness/control.py)
    taking and returning JSON-friendly values; in-process code may call them directly.
    """

    def __init__(
        self,
        *,
        events: int = 0,
        finished: bool = False,
        resume: bool = True,
        write_size: int = 4096,
        framing: StreamFraming = "chunked",
    ) -> None:
        self._changed = trio.Event()
        self.sse: SSETestServer | None = None
        self._reset(events, finished, resume, write_size, framing)

    def _reset(
        self, events: int, finished: bool, resume: bool, write_size: int, framing: str
    ) -> None:
        if isinstance(events, bool) or not isinstance(events, int) or events < 0:
            raise ValueError(f"events must be an int >= 0, got {events!r}")
        self._check_write_size(write_size)
        self.framing = _stream_framing(framing)
        self.log = EventLog()
        self.log.generate(events)
        self.log.finished = bool(finished)
        self.resume = bool(resume)
        self.write_size = write_size
        self.plan: deque[Fault] = deque()
        self.records: list[RequestRecord] = []
        self.streams: list[_Stream] = []
        self.counts: Counter[str] = Counter()
        self._notify()

    @staticmethod
    def _check_write_size(write_size: int | None) -> None:
        if write_size is not None and (
            isinstance(write_size, bool) or not isinstance(write_size, int) or write_size < 1
        ):
            raise ValueError(f"write_size must be an int >= 1, got {write_size!r}")

    # -- serving ------------------------------------------------------------------------

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        task_status: trio.TaskStatus[SSETestServer] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve SSE until cancelled; ``task_status`` gets the SSETestServer (its url)."""
        async with trio.open_nursery() as nursery:
            self.sse = await nursery.start(
                functools.partial(serve_sse_test_server, host=host, port=port, handler=self._handle)
            )
            task_status.started(self.sse)

    @property
    def url(self) -> str:
        if self.sse is None:
            raise RuntimeError("the harness is not serving yet")
        return self.sse.url_for("/events")

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _wait_until(self, condition: Callable[[], bool]) -> None:
        await trio.lowlevel.checkpoint()
        while not condition():
            await self._changed.wait()

    def _handle(self, request: RecordedRequest) -> ScriptedResponse:
        last_event_id = request.header("last-event-id")
        if last_event_id is not None:  # header values arrive as latin-1; ids are UTF-8
            last_event_id = last_event_id.encode("latin-1").decode("utf-8", "replace")
        start = self.log.start_index(last_event_id) if self.resume else 0
        record = RequestRecord(
            number=len(self.records) + 1,
            time=trio.current_time(),
            method=request.method,
            target=request.target,
            headers=[[k, v] for k, v in request.headers],
            body=request.body.decode("utf-8", "replace"),
            last_event_id=last_event_id,
            response="stream",
            status=200,
            connections_open=self.sse.connections_open if self.sse is not None else 0,
            start_index=start,
        )
        self.records.append(record)
        self.counts["requests"] += 1
        try:
            return self._respond(record, start)
        finally:
            self._notify()

    def _respond(self, record: RequestRecord, start: int) -> ScriptedResponse:
        if self.plan and self.plan[0].kind == "status":
            fault = self.plan.popleft()
            record.fault = record.fault_fired = fault.to_json()
            record.response, record.status = "status", fault.status
            self._count_fault(fault.kind)
            self.counts["status"] += 1
            return ScriptedResponse(
                status=fault.status,
                headers=fault.headers or (("Content-Type", "text/plain; charset=utf-8"),),
                body=fault.body.encode("utf-8"),
                framing="content-length",
            )
        if start >= len(self.log) and self.log.finished:
            record.response, record.status = "no content", 204
            self.counts["no_content"] += 1
            return ScriptedResponse(status=204, headers=(), framing="close")
        base = self.log.offset(start)
        stream = _Stream(record=record, log=self.log, base=base, pos=base)
        if self.plan:
            fault = self.plan.popleft()
            record.fault = fault.to_json()
            if fault.kind != "none":
                stream.pending.append(_Pending(fault, ref=base))
        if start < len(self.log):
            record.start_id = self.log.events[start].id
        record.open = True
        self.streams.append(stream)
        self.counts["streams"] += 1
        response = ScriptedResponse(
            headers=(("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")),
            body=functools.partial(self._stream_body, stream),
            framing=self.framing,
        )
        return response

    async def _stream_body(self, stream: _Stream) -> AsyncIterator[BodyItem]:
        log = stream.log
        try:
            while True:
                due = self._due_fault(stream)
                if due is not None and stream.pos >= due[0]:
                    fault = due[1].fault
                    stream.pending.remove(due[1])
                    self._fire(stream, fault)
                    if fault.kind == "stall" and fault.seconds is not None:
                        yield Pause(fault.seconds)
                        continue
                    yield EndNow(_END_OF[fault.kind])
                    return
                limit = min(log.total_bytes, stream.pos + self.write_size)
                if due is not None:
                    limit = min(limit, due[0])
                if limit > stream.pos:
                    chunk = bytes(log.data[stream.pos : limit])
                    stream.pos = limit
                    stream.record.bytes_sent = stream.pos - stream.base
                    self.counts["bytes_sent"] += len(chunk)
                    yield chunk
                    continue
                if log.finished and not stream.pending:
                    return  # all sent: finish the message and close
                await self._changed.wait()
        finally:
            stream.record.open = False
            if stream in self.streams:
                self.streams.remove(stream)
            self._notify()

    @staticmethod
    def _resolve(log: EventLog, pending: _Pending) -> int | None:
        if pending.pos is not None:
            return pending.pos
        fault = pending.fault
        if fault.offset is not None:
            pending.pos = pending.ref + fault.offset
        else:
            index = log.index_at(pending.ref) + (fault.after_events or 0)
            if fault.mid_event and index < len(log):
                pending.pos = log.starts[index] + (log.ends[index] - log.starts[index]) // 2
            elif not fault.mid_event and index <= len(log):
                pending.pos = log.offset(index)
        return pending.pos

    def _due_fault(self, stream: _Stream) -> tuple[int, _Pending] | None:
        """The stream's next fault and where it fires (clamped to the end of a finished log)."""
        log = stream.log
        best: tuple[int, _Pending] | None = None
        for pending in stream.pending:
            pos = self._resolve(log, pending)
            if log.finished and (pos is None or pos > log.total_bytes):
                pos = log.total_bytes
            if pos is not None and (best is None or pos < best[0]):
                best = (pos, pending)
        return best

    def _fire(self, stream: _Stream, fault: Fault) -> None:
        log = stream.log
        mid_event = not log.is_boundary(stream.pos)
        mid_character = log.is_mid_character(stream.pos)
        stream.record.fault_fired = {
            "kind": fault.kind,
            "offset": stream.pos - stream.base,
            "mid_event": mid_event,
            "mid_character": mid_character,
        }
        self._count_fault(fault.kind)
        self.counts["faults_mid_event"] += mid_event
        self.counts["faults_mid_character"] += mid_character
        self._notify()

    def _count_fault(self, kind: str) -> None:
        self.counts["faults"] += 1
        self.counts[f"faults_{kind}"] += 1

    # -- commands -----------------------------------------------------------------------

    def cmd_info(self) -> dict[str, Any]:
        """The SSE URL (path /events; any path serves the same log) and the settings."""
        return {
            "sse_url": self.url,
            "events": len(self.log),
            "finished": self.log.finished,
            "resume": self.resume,
            "write_size": self.write_size,
            "framing": self.framing,
        }

    def cmd_reset_state(
        self,
        events: int = 0,
        finished: bool = False,
        resume: bool = True,
        write_size: int = 4096,
        framing: str = "chunked",
    ) -> dict[str, Any]:
        """Start afresh: a new log of ``events`` generated events, no plan, no records.

        Connections still streaming the old log are cut (truncated) at once.
        """
        for stream in list(self.streams):
            stream.pending.append(_Pending(Fault("drop"), ref=stream.pos, pos=stream.pos))
        self._reset(events, finished, resume, write_size, framing)
        return self.cmd_info()

    def cmd_configure(
        self,
        resume: bool | None = None,
        write_size: int | None = None,
        framing: str | None = None,
    ) -> dict[str, Any]:
        """Change settings; ``resume=False`` replays the log from the start on every request
        (the server ignores Last-Event-ID). Framing applies to later requests."""
        self._check_write_size(write_size)
        checked = None if framing is None else _stream_framing(framing)
        if resume is not None:
            self.resume = bool(resume)
        if write_size is not None:
            self.write_size = write_size
        if checked is not None:
            self.framing = checked
        self._notify()
        return self.cmd_info()

    def cmd_emit(self, count: int = 0, events: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """Append ``count`` generated events, then the given ones (ServerSentEvent fields:
        data, event, id, retry, comments; taken verbatim, so an event without "id" has no
        id line). Open streams send them at once."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be an int >= 0, got {count!r}")
        if self.log.finished:
            raise ValueError("the log is finished; reset_state to start a new one")
        custom = [ServerSentEvent(**dict(item)) for item in events]
        self.log.generate(count)
        for event in custom:
            self.log.append(event)
        self._notify()
        return {"events": len(self.log), "total_bytes": self.log.total_bytes}

    def cmd_finish(self) -> dict[str, Any]:
        """No more events: streams close once they sent everything, caught-up requests
        get 204."""
        self.log.finished = True
        self._notify()
        return {"events": len(self.log), "total_bytes": self.log.total_bytes}

    def cmd_fault(self, kind: str, target: str = "next", **spec: Any) -> dict[str, Any]:
        """Plan a fault for the next request (``target="next"``), or inject it into every
        connection streaming now, relative to its current position (``"current"``)."""
        fault = Fault.from_json({"kind": kind, **spec})
        if target == "next":
            self.plan.append(fault)
        elif target == "current":
            if fault.kind in ("status", "none"):
                raise ValueError(f"a {fault.kind} fault is for a request; use target='next'")
            if not self.streams:
                raise ValueError("no connection is streaming now")
            for stream in self.streams:
                stream.pending.append(_Pending(fault, ref=stream.pos))
        else:
            raise ValueError(f"target must be 'next' or 'current', got {target!r}")
        self._notify()
        return {"fault": fault.to_json(), "planned": len(self.plan), "streams": len(self.streams)}

    def cmd_random_faults(
        self,
        count: int,
        seed: int,
        kinds: Iterable[str] = ("drop", "reset", "close"),
        max_offset: int | None = None,
        status: int = 503,
        retry_after: str | None = "0",
    ) -> dict[str, Any]:
        """Plan ``count`` faults of the given kinds, each at a random offset in
        ``[0, max_offset]``, drawn from ``random.Random(seed)``.

        ``max_offset`` defaults to the log's size divided by ``count``: the offsets then add
        up to about half the log, so every planned fault fires before the consumer is done.
        A "status" fault answers ``status`` with ``Retry-After: retry_after``; a "stall"
        pauses for a random time of up to 10 ms (there is no read timeout to trigger).
        """
        checked: list[FaultKind] = []
        for name in kinds:
            found = _one_of(name, FAULT_KINDS)
            if found is None:
                raise ValueError(f"unknown fault kind {name!r}")
            checked.append(found)
        if not checked:
            raise ValueError("kinds must not be empty")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be an int >= 0, got {count!r}")
        if max_offset is None:
            max_offset = max(1, self.log.total_bytes // max(count, 1))
        rng = random.Random(seed)
        headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/plain"),)
        if retry_after is not None:
            headers += (("Retry-After", retry_after),)
        planned = Counter[str]()
        for _ in range(count):
            kind = rng.choice(checked)
            offset = rng.randint(0, max_offset)
            if kind == "status":
                fault = Fault("status", status=status, headers=headers, body="try again")
            elif kind == "stall":
                fault = Fault("stall", offset=offset, seconds=rng.uniform(0.0, 0.01))
            else:
                fault = Fault(kind, offset=offset)
            self.plan.append(fault)
            planned[kind] += 1
        self._notify()
        return {"seed": seed, "count": count, "max_offset": max_offset, "kinds": dict(planned)}

    def cmd_clear_faults(self) -> dict[str, Any]:
        """Forget the planned faults (and those pending in open streams)."""
        self.plan.clear()
        for stream in self.streams:
            stream.pending.clear()
        self._notify()
        return {"planned": 0}

    def cmd_plan(self) -> list[dict[str, Any]]:
        """The faults planned for the next requests, in order."""
        return [fault.to_json() for fault in self.plan]

    def cmd_requests(self, start: int = 0) -> list[dict[str, Any]]:
        """The records of requests ``start`` onwards, oldest first."""
        return [record.to_json() for record in self.records[start:]]

    def cmd_stats(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "requests": counts["requests"],
            "streams": counts["streams"],
            "streams_open": len(self.streams),
            "status_responses": counts["status"],
            "no_content": counts["no_content"],
            "events": len(self.log),
            "total_bytes": self.log.total_bytes,
            "finished": self.log.finished,
            "bytes_sent": counts["bytes_sent"],
            "faults_planned": len(self.plan),
            "faults_injected": counts["faults"],
            "faults_by_kind": {
                kind: counts[f"faults_{kind}"] for kind in FAULT_KINDS if counts[f"faults_{kind}"]
            },
            "faults_mid_event": counts["faults_mid_event"],
            "faults_mid_character": counts["faults_mid_character"],
        }

    async def cmd_wait_requests(self, count: int) -> list[dict[str, Any]]:
        """Wait until ``count`` requests arrived; their records."""
        await self._wait_until(lambda: len(self.records) >= count)
        return self.cmd_requests()[:count]

    async def cmd_wait_faults(self, count: int) -> dict[str, Any]:
        """Wait until ``count`` faults have fired; the stats."""
        await self._wait_until(lambda: self.counts["faults"] >= count)
        return self.cmd_stats()

    async def cmd_wait_closed(self, count: int) -> dict[str, Any]:
        """Wait until ``count`` streams have ended on the server side; the stats."""
        await self._wait_until(lambda: self.counts["streams"] - len(self.streams) >= count)
        return self.cmd_stats()

    async def call(self, command: str, args: Mapping[str, Any]) -> Any:
        """Run a command by name (what the control channel does)."""
        method = getattr(self, f"cmd_{command}", None) if command.isidentifier() else None
        if method is None:
            raise ValueError(f"unknown command {command!r}")
        result = method(**args)
        if inspect.isawaitable(result):
            result = await result
        return result

    @classmethod
    def commands(cls) -> list[str]:
        return sorted(name[4:] for name in dir(cls) if name.startswith("cmd_"))
