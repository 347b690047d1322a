"""The byte streams the parser benchmarks feed, built up front (never inside a timing).

Each workload is a list of chunks, as a socket would hand them over, plus what a correct
parser must produce from them: the number of events and the data of the first and last.
``scale`` divides the event counts (``--quick`` uses 10).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["WORKLOADS", "Workload", "chunked"]

KiB = 1024


@dataclass(frozen=True)
class Workload:
    """One benchmark input and the answer a correct parser gives for it."""

    key: str
    title: str
    chunks: list[bytes]
    events: int  # events a WHATWG parser dispatches (comment-only blocks are not events)
    first_data: str
    last_data: str
    largest_event: int  # bytes on the wire of the largest block, blank line included
    target: float  # the target: trio-sse speed / fastest peer speed

    @property
    def total_bytes(self) -> int:
        """Size of the whole stream."""
        return sum(map(len, self.chunks))

    @property
    def largest_chunk(self) -> int:
        """Size of the largest chunk."""
        return max(map(len, self.chunks))


def chunked(stream: bytes, size: int) -> list[bytes]:
    """Cut ``stream`` into ``size``-byte chunks (the last may be shorter)."""
    return [stream[i : i + size] for i in range(0, len(stream), size)]


# -- A: many small events, the LLM token stream -------------------------------------------

_SMALL_DATA = '{"choices":[{"delta":{"content":"hi"}}]}'
_SMALL_EVENT = f"data: {_SMALL_DATA}\n\n".encode()


def small_events_per_chunk(scale: int = 1) -> Workload:
    """A1: 100k small events, one event per chunk."""
    n = 100_000 // scale
    return Workload(
        key="A1",
        title=f"{n:,} small events, one event per chunk",
        chunks=[_SMALL_EVENT] * n,
        events=n,
        first_data=_SMALL_DATA,
        last_data=_SMALL_DATA,
        largest_event=len(_SMALL_EVENT),
        target=1.5,
    )


def small_events_64k(scale: int = 1) -> Workload:
    """A2: the A1 stream in 64 KiB chunks."""
    n = 100_000 // scale
    return Workload(
        key="A2",
        title=f"{n:,} small events in 64 KiB chunks",
        chunks=chunked(_SMALL_EVENT * n, 64 * KiB),
        events=n,
        first_data=_SMALL_DATA,
        last_data=_SMALL_DATA,
        largest_event=len(_SMALL_EVENT),
        target=1.5,
    )


def _starlette_data(i: int) -> str:
    return f'{{"choices":[{{"delta":{{"content":"tok{i}"}}}}]}}'


def starlette_events_per_chunk(scale: int = 1) -> Workload:
    """A3: 100k small events as sse-starlette writes them (id, event type, data, CRLF
    line ends), one event per chunk: what an LLM endpoint on uvicorn sends."""
    n = 100_000 // scale
    chunks = [
        f"id: {i}\r\nevent: delta\r\ndata: {_starlette_data(i)}\r\n\r\n".encode() for i in range(n)
    ]
    return Workload(
        key="A3",
        title=f"{n:,} small sse-starlette events (id, event, CRLF), one event per chunk",
        chunks=chunks,
        events=n,
        first_data=_starlette_data(0),
        last_data=_starlette_data(n - 1),
        largest_event=max(map(len, chunks)),
        target=1.5,
    )


# -- B: large events, one 64 KiB data line each -------------------------------------------

_FILLER = "abcdefghijklmnopqrstuvwxyz0123456789" * (64 * KiB // 36 + 1)


def _large_data(i: int) -> str:
    """64 KiB of ASCII that starts with the event's number (so first != last)."""
    return (f"{i:08d}" + _FILLER)[: 64 * KiB]


def large_events(key: str, chunk_size: int, scale: int = 1, *, typed: bool = False) -> Workload:
    """B1/B2: 1k events of one 64 KiB data line each, in ``chunk_size`` chunks.

    B3 (``typed``): the same events as sse-starlette writes them, with an id and an
    event type and CRLF line endings: the general path, not the plain-data one."""
    n = 1_000 // scale
    if typed:
        blocks = (f"id: {i}\r\nevent: chunk\r\ndata: {_large_data(i)}\r\n\r\n" for i in range(n))
    else:
        blocks = (f"data: {_large_data(i)}\n\n" for i in range(n))
    stream = "".join(blocks).encode()
    style = " with id, type and CRLF" if typed else ""
    return Workload(
        key=key,
        title=f"{n:,} events of 64 KiB data{style} in {chunk_size // KiB} KiB chunks",
        chunks=chunked(stream, chunk_size),
        events=n,
        first_data=_large_data(0),
        last_data=_large_data(n - 1),
        largest_event=len(stream) // n,
        target=1.0,
    )


# -- C: a realistic mixed stream, as sse-starlette writes it ------------------------------

_EVENT_TYPES = ("completion.delta", "completion.delta", "completion.delta", "status", "usage")
# sse-starlette's keep-alive: a comment block, ": ping - <timestamp>" then a blank line.
_PING = b": ping - 2024-05-01 12:00:00.000000+00:00\r\n\r\n"


def _mixed_data(i: int) -> str:
    """Two JSON-ish lines, as an LLM proxy would send them."""
    return (
        f'{{"id":"chatcmpl-{i}","object":"chat.completion.chunk","choices":'
        f'[{{"index":0,"delta":{{"content":"token {i} "}},"finish_reason":null}}]}}\n'
        f'{{"usage":{{"prompt_tokens":42,"completion_tokens":{i},"total_tokens":{i + 42}}}}}'
    )


def mixed_stream(scale: int = 1) -> Workload:
    """C: 50k CRLF events (event, id, two data lines) plus a ping every 50, in 16 KiB chunks."""
    n = 50_000 // scale
    parts: list[bytes] = []
    largest = len(_PING)
    for i in range(n):
        if i and i % 50 == 0:
            parts.append(_PING)
        line1, line2 = _mixed_data(i).split("\n")
        block = (
            f"event: {_EVENT_TYPES[i % len(_EVENT_TYPES)]}\r\nid: {i}\r\n"
            f"data: {line1}\r\ndata: {line2}\r\n\r\n"
        ).encode()
        largest = max(largest, len(block))
        parts.append(block)
    return Workload(
        key="C",
        title=f"{n:,} mixed CRLF events (sse-starlette style, ping every 50) in 16 KiB chunks",
        chunks=chunked(b"".join(parts), 16 * KiB),
        events=n,
        first_data=_mixed_data(0),
        last_data=_mixed_data(n - 1),
        largest_event=largest,
        target=1.5,
    )


WORKLOADS: dict[str, Callable[[int], Workload]] = {
    "A1": small_events_per_chunk,
    "A2": small_events_64k,
    "A3": starlette_events_per_chunk,
    "B1": lambda scale: large_events("B1", 64 * KiB, scale),
    "B2": lambda scale: large_events("B2", 4 * KiB, scale),
    "B3": lambda scale: large_events("B3", 64 * KiB, scale, typed=True),
    "C": mixed_stream,
}
"""Workload builders by key, in report order; each takes the scale divisor."""
