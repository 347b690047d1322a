"""Whole-client fuzz target: a hostile loopback server against a real SSEClient.

Each example draws a script of responses (one per connection, then 204 to stop):
an arbitrary status line (valid, odd or garbage), headers (Content-Type right or wrong,
Location, Retry-After, junk), a framing (chunked with drawn chunk sizes, a Content-Length
that is right, short or long, or close-delimited), a Content-Encoding (none, gzip,
deflate, a gzip bomb of blank lines, garbage), an event-stream or random body, written in
drawn pieces and cut at a drawn byte, then ended by a close, a TCP reset or a hang. A
raw trio socket server plays it; a client with short timeouts and a few reconnection
attempts reads it, by iteration or through ``incoming``, maybe leaving early.

Invariants, per example:

1. Only SSEError subclasses (or a clean end) reach the caller: no bare h11/ssl/OSError,
   trio exception or ExceptionGroup.
2. No hang past the configured timeouts: the client runs under ``fail_after`` with a
   budget computed from them (connect, read, delays, attempts, plus slack).
3. No leaked task (trio's ``tasks_living`` before and after) or file descriptor
   (``/proc/self/fd`` before and after the ``trio.run``).
4. No other task starved: a heartbeat task measures the CPU time this thread spent
   between two of its runs (``time.thread_time``, so a busy machine does not count).
5. Memory under a fixed bound: the resident set after each example.

Wall time is fine here; the deterministic pytest version (tests/test_fuzz_client.py)
runs a handful of seeded examples so that the suite covers the target.
"""

from __future__ import annotations

import gc
import gzip
import os
import socket
import struct
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import trio
from hypothesis import given, seed
from hypothesis import strategies as st

import trio_sse._session
from fuzz import fuzz_settings
from trio_sse import SSEClient, SSEError

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = ["ClientStats", "Example", "Response", "client_fuzz_test", "run_example"]

CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 0.3
ERROR_BODY_TIMEOUT = 0.3  # the session's courtesy wait for a refusal's body, shortened
MAX_EVENT_SIZE = 64 * 1024
SLACK = 5.0  # seconds on top of the computed budget: a loaded CI machine is slow
STARVATION_LIMIT = 0.05  # seconds of CPU another task may take between two heartbeats
MEMORY_LIMIT = 512 * 2**20  # resident bytes after an example
HEARTBEAT = 0.001


@dataclass(frozen=True)
class Response:
    """One connection's answer: the wire bytes, where they are cut, how it ends."""

    wire: bytes
    cuts: tuple[int, ...]  # write boundaries
    stop_at: int | None  # send only this many bytes (None: all)
    end: str  # "close" | "reset" | "hang"


@dataclass(frozen=True)
class Example:
    responses: tuple[Response, ...]
    reconnection_time: float
    max_attempts: int
    use_incoming: bool
    leave_after: int | None  # events to read before leaving the block early
    show_comments: bool
    show_retries: bool


@dataclass
class ClientStats:
    """Counters shared between the hypothesis test and the command line."""

    examples: int = 0
    connections: int = 0
    events: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    worst_starvation: float = 0.0  # CPU seconds between two heartbeats
    peak_rss: int = 0
    deadline: float = float("inf")
    failing: bool = False


STATS = ClientStats()


# -- strategies -------------------------------------------------------------------------

STATUS_LINES = st.one_of(
    st.sampled_from(
        [
            b"HTTP/1.1 200 OK",
            b"HTTP/1.1 200 OK",
            b"HTTP/1.1 200 OK",
            b"HTTP/1.0 200 OK",
            b"HTTP/1.1 204 No Content",
            b"HTTP/1.1 301 Moved",
            b"HTTP/1.1 307 Temporary Redirect",
            b"HTTP/1.1 404 Not Found",
            b"HTTP/1.1 429 Too Many Requests",
            b"HTTP/1.1 503 Service Unavailable",
            b"HTTP/1.1 500 Internal Server Error",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK",
            b"HTTP/1.1 200",
            b"HTTP/2 200 OK",
            b"HTTP/1.1 2000 OK",
            b"ICY 200 OK",
            b"",
        ]
    ),
    st.binary(max_size=40),
)
CONTENT_TYPES = st.sampled_from(
    [
        b"text/event-stream",
        b"text/event-stream",
        b"Text/Event-Stream; charset=utf-8",
        b"text/plain",
        b"",
        b"text/event-stream\x00",
    ]
)
EXTRA_HEADERS = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"Location: /",
                b"Location: /elsewhere",
                b"Location: http://[::1",
                b"Retry-After: 0",
                b"Retry-After: soon",
                b"Connection: close",
                b"Content-Type: text/event-stream",
                b"Transfer-Encoding: chunked",
                b"Content-Length: 5",
                b"Content-Length: 5, 6",
                b"X-Junk: \x80\xff",
                b" folded: line",
                b"no-colon",
            ]
        ),
        st.binary(max_size=30).map(lambda junk: b"X-Fuzz: " + junk.replace(b"\r", b"")),
    ),
    max_size=3,
)

FIELD_LINES = st.one_of(
    st.text(max_size=30).map(lambda text: b"data: " + text.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"data",
            b"data:",
            b"event: update",
            b"event: " + b"e" * 100,
            b"id: 1",
            b"id: \x0b",
            b"id: a\x00b",
            b"retry: 0",
            b"retry: 15",
            b"retry: 12x",
            b": keep-alive",
            b"",
            b"",
            b"\xef\xbb\xbfdata: bom",
            b"data: \xff\xfe",
        ]
    ),
    st.binary(max_size=20),
)
ENDINGS = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def event_streams(draw: st.DrawFn) -> bytes:
    """Blocks of field lines, each ended by a blank line (the last maybe not)."""
    out: list[bytes] = []
    for _ in range(draw(st.integers(0, 8))):
        lines = draw(st.lists(st.tuples(FIELD_LINES, ENDINGS), min_size=1, max_size=4))
        out.extend(line + ending for line, ending in lines)
        out.append(draw(ENDINGS))
    return b"".join(out)


@st.composite
def encoded_bodies(draw: st.DrawFn) -> tuple[bytes, bytes | None]:
    """(body bytes on the wire, Content-Encoding value or None)."""
    body = draw(event_streams()) if draw(st.integers(0, 3)) else draw(st.binary(max_size=200))
    coding = draw(st.sampled_from(["identity", "identity", "gzip", "deflate", "bomb", "junk"]))
    if coding == "gzip":
        return gzip.compress(body), b"gzip"
    if coding == "deflate":
        raw = draw(st.booleans())
        packed = zlib.compress(body) if not raw else zlib.compress(body)[2:-4]
        return packed, b"deflate"
    if coding == "bomb":  # megabytes of blank lines (and maybe an event) from a few KiB
        size = draw(st.integers(1, 4)) * 2**20
        return gzip.compress(b"\n" * size + body), b"gzip"
    if coding == "junk":
        name = draw(st.sampled_from([b"gzip", b"deflate", b"br", b"zstd", b"gzip, gzip", b"x"]))
        return draw(st.binary(max_size=60)), name
    return body, None


@st.composite
def responses(draw: st.DrawFn) -> Response:
    healthy = draw(st.integers(0, 9)) < 6  # most answers look right: the stream gets read
    status = b"HTTP/1.1 200 OK" if healthy else draw(STATUS_LINES)
    content_type = b"text/event-stream" if healthy else draw(CONTENT_TYPES)
    body, coding = draw(encoded_bodies())
    framing = draw(st.sampled_from(["chunked", "length", "short", "long", "close", "bad-chunk"]))
    headers = [b"Content-Type: " + content_type] if content_type else []
    if coding is not None:
        headers.append(b"Content-Encoding: " + coding)
    if framing in ("chunked", "bad-chunk"):
        headers.append(b"Transfer-Encoding: chunked")
        sizes = draw(st.lists(st.integers(1, 4096), max_size=6))
        chunks, start = [], 0
        for size in [*sizes, len(body)]:
            piece = body[start : start + size]
            start += size
            if piece:
                chunks.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        if framing == "bad-chunk":
            chunks.insert(draw(st.integers(0, len(chunks))), draw(st.binary(max_size=8)))
        body = b"".join(chunks) + b"0\r\n\r\n"
    elif framing in ("length", "short", "long"):
        declared = len(body) + {"length": 0, "short": -1, "long": 7}[framing]
        headers.append(b"Content-Length: %d" % max(declared, 0))
    headers.extend(draw(EXTRA_HEADERS))
    wire = status + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body
    cuts = tuple(draw(st.lists(st.integers(0, len(wire)), max_size=4)))
    stop_at = draw(st.one_of(st.none(), st.integers(0, len(wire))))
    end = draw(st.sampled_from(["close", "close", "reset", "hang"]))
    return Response(wire, cuts, stop_at, end)


EXAMPLES = st.builds(
    Example,
    responses=st.lists(responses(), min_size=1, max_size=3).map(tuple),
    reconnection_time=st.sampled_from([0.0, 0.005, 0.02]),
    max_attempts=st.integers(0, 2),
    use_incoming=st.booleans(),
    leave_after=st.one_of(st.none(), st.integers(0, 3)),
    show_comments=st.booleans(),
    show_retries=st.booleans(),
)


# -- the server -------------------------------------------------------------------------


STOP = Response(b"HTTP/1.1 204 No Content\r\n\r\n", (), None, "close")


class Server:
    """Answers each connection with the next response of the script, then 204 (stop:
    a healthy stream would otherwise be reconnected for ever); knows how many answers
    are still running."""

    def __init__(self, script: tuple[Response, ...]) -> None:
        self.script = script
        self.connections = 0
        self.active = 0
        self.idle = trio.Event()
        self.idle.set()

    async def serve(self, listener: trio.SocketListener) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                stream = await listener.accept()
                script = self.script
                response = script[self.connections] if self.connections < len(script) else STOP
                self.connections += 1
                STATS.connections += 1
                self.active += 1
                self.idle = trio.Event()
                nursery.start_soon(self.answer, stream, response)

    async def answer(self, stream: trio.SocketStream, response: Response) -> None:
        try:
            with stream.socket:
                await send_response(stream, response)
        finally:
            self.active -= 1
            if not self.active:
                self.idle.set()


async def send_response(stream: trio.SocketStream, response: Response) -> None:
    try:
        await read_request(stream)
        wire = response.wire if response.stop_at is None else response.wire[: response.stop_at]
        start = 0
        for cut in [*sorted(set(response.cuts)), len(wire)]:
            if start < cut <= len(wire):
                await stream.send_all(wire[start:cut])
                start = cut
        if response.end == "hang":  # until the client goes away
            while await stream.receive_some(4096):
                pass
        elif response.end == "reset":
            linger = struct.pack("ii", 1, 0)
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass  # the client left first: part of the game


async def read_request(stream: trio.SocketStream) -> None:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = await stream.receive_some(4096)
        if not chunk:
            return
        data += chunk


# -- one example ------------------------------------------------------------------------


def budget(example: Example) -> float:
    """Seconds the client may take: each connection (the script's, then the 204) may
    use each timeout once, plus a reconnection delay."""
    per_connection = CONNECT_TIMEOUT + max(READ_TIMEOUT, ERROR_BODY_TIMEOUT)
    delay = example.reconnection_time + 0.1  # retry: values drawn are at most 15 ms
    return (len(example.responses) + 1) * (per_connection + delay) + SLACK


async def consume(url: str, example: Example) -> str:
    """Read the stream as the example says; the outcome's name."""
    client = SSEClient(
        reconnection_time=example.reconnection_time,
        max_reconnection_attempts=example.max_attempts,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        max_event_size=MAX_EVENT_SIZE,
        show_comment_events=example.show_comments,
        show_retry_events=example.show_retries,
        trust_env=False,
    )
    seen = 0
    try:
        async with client.sse(url) as session:
            events = session.incoming if example.use_incoming else session
            async for _ in events:
                seen += 1
                STATS.events += 1
                if example.leave_after is not None and seen >= example.leave_after:
                    return "left early"
    except SSEError as exc:
        return type(exc).__name__
    return "clean end"


async def check_example(example: Example) -> str:
    worst = 0.0
    running = True

    async def heartbeat() -> None:
        nonlocal worst
        last = time.thread_time()
        while running:
            await trio.sleep(HEARTBEAT)
            now = time.thread_time()
            worst = max(worst, now - last)
            last = now

    server = Server(example.responses)
    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        nursery.start_soon(server.serve, listeners[0])
        nursery.start_soon(heartbeat)
        await trio.lowlevel.checkpoint()
        tasks_before = trio.lowlevel.current_statistics().tasks_living
        try:
            with trio.fail_after(budget(example)):
                outcome = await consume(f"http://127.0.0.1:{port}/events", example)
        except BaseExceptionGroup as group:
            raise AssertionError(f"an ExceptionGroup reached the caller: {group!r}") from group
        # Every answer ends once the client has closed its socket: one still running
        # is a socket the client left open.
        with trio.move_on_after(SLACK):
            await server.idle.wait()
        assert server.active == 0, f"{server.active} client connection(s) left open"
        leaked = trio.lowlevel.current_statistics().tasks_living - tasks_before
        assert leaked <= 0, f"{leaked} task(s) outlived the session"
        running = False
        nursery.cancel_scope.cancel()
        for listener in listeners:
            await listener.aclose()
    STATS.worst_starvation = max(STATS.worst_starvation, worst)
    assert worst <= STARVATION_LIMIT, f"a task was starved for {worst * 1000:.1f} ms of CPU"
    return outcome


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_example(example: Example) -> str:
    """One example in its own trio.run; raises AssertionError if an invariant breaks."""
    fds = open_fds()
    # A full collection of a big heap takes tens of milliseconds whoever triggers it:
    # collect before, not during, so that the heartbeat measures our scheduling only.
    gc.collect()
    gc.disable()
    try:
        outcome = trio.run(check_example, example)
    finally:
        gc.enable()
    assert open_fds() == fds, f"file descriptors leaked: {fds} before, {open_fds()} after"
    rss = resident_bytes()
    STATS.peak_rss = max(STATS.peak_rss, rss)
    assert rss <= MEMORY_LIMIT, f"{rss / 2**20:.0f} MiB resident after the example"
    STATS.outcomes[outcome] = STATS.outcomes.get(outcome, 0) + 1
    STATS.examples += 1
    return outcome


WARM_UP_RESPONSES = (
    Response(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
        b"\r\n" + gzip.compress(b"id: 1\ndata: warm\n\n"),
        (),
        None,
        "reset",
    ),
    Response(
        b"HTTP/1.1 503 Busy\r\nRetry-After: 0\r\nContent-Length: 1\r\n\r\nx", (), None, "close"
    ),
    Response(b"HTTP/1.1 301 Moved\r\nLocation: /\r\n\r\n", (), None, "close"),
    *(  # the optional decoders are imported on first use
        Response(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: "
            + coding
            + b"\r\nContent-Length: 3\r\n\r\nabc",
            (),
            None,
            "close",
        )
        for coding in (b"br", b"zstd", b"deflate")
    ),
)


_warmed_up = False


def warm_up() -> None:
    """Run one ordinary example, uncounted, so that first-use costs (imports, caches,
    the first trio.run) are not taken for a starved task."""
    global _warmed_up
    if not _warmed_up:
        for response in WARM_UP_RESPONSES:
            example = Example((response,), 0.0, 1, False, None, False, False)
            trio.run(check_example, example)
        _warmed_up = True
        STATS.worst_starvation = 0.0


def client_fuzz_test(max_examples: int, seed_value: int | None = None) -> Callable[[], None]:
    """A hypothesis test running ``max_examples`` examples per call (skipping once
    STATS.deadline has passed, unless it is shrinking a failure)."""

    @fuzz_settings(max_examples, targeted=False)
    @given(example=EXAMPLES)
    def fuzz_client(example: Example) -> None:
        if not STATS.failing and time.monotonic() > STATS.deadline:
            return
        saved = trio_sse._session.ERROR_BODY_TIMEOUT
        trio_sse._session.ERROR_BODY_TIMEOUT = ERROR_BODY_TIMEOUT
        try:
            warm_up()
            run_example(example)
        except BaseException:
            STATS.failing = True
            raise
        finally:
            trio_sse._session.ERROR_BODY_TIMEOUT = saved

    return fuzz_client if seed_value is None else seed(seed_value)(fuzz_client)
