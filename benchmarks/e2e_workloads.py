"""The event streams of the end-to-end benchmarks and the answer a correct client gives.

Five workloads (``small``, ``llm``, ``starlette``, ``large``, ``large_starlette``) in three
HTTP framings (``close``, ``event``, ``64k``). Every event's data is distinct, so a client
that drops, repeats, splits or garbles events gets a different digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

Framing = Literal["close", "event", "64k"]
FRAMINGS: dict[Framing, str] = {
    "close": "close-delimited",
    "event": "one chunk per event",
    "64k": "64 KiB chunks",
}
WORKLOADS: dict[str, tuple[str, int]] = {  # key -> (title, full event count)
    "small": ("small events", 200_000),
    "llm": ("LLM-token-like JSON", 100_000),
    "starlette": ("LLM-like JSON, sse-starlette style", 100_000),
    "large": ("64 KiB events", 2_000),
    "large_starlette": ("64 KiB events, sse-starlette style", 2_000),
}
HTTP_CHUNK = 64 * 1024
_FILLER = b"abcdefghijklmnopqrstuvwxyz0123456789" * (65536 // 36 + 1)


def event_data(workload: str, i: int) -> bytes:
    """The data of event ``i`` (one line, ASCII)."""
    if workload == "small":
        return b"event %d" % i
    if workload in ("llm", "starlette"):
        return (
            b'{"id":"chatcmpl-7","object":"chat.completion.chunk","created":1700000000,'
            b'"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" tok%d"},'
            b'"finish_reason":null}]}' % i
        )
    if workload in ("large", "large_starlette"):
        return (b"%08d" % i + _FILLER)[:65536]
    raise ValueError(f"unknown workload {workload!r}")


def event_block(workload: str, i: int) -> bytes:
    """Event ``i`` on the wire: a plain ``data:`` line, or for the sse-starlette styles
    the id, event type and data lines with CRLF ends that sse-starlette writes."""
    if workload in ("starlette", "large_starlette"):
        return b"id: %d\r\nevent: delta\r\ndata: %s\r\n\r\n" % (i, event_data(workload, i))
    return b"data: " + event_data(workload, i) + b"\n\n"


def event_bytes(workload: str, count: int) -> list[bytes]:
    return [event_block(workload, i) for i in range(count)]


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def body_for(workload: str, framing: Framing, count: int) -> bytes:
    """The response body (after the head) for ``count`` events in ``framing``."""
    events = event_bytes(workload, count)
    if framing == "close":
        return b"".join(events)
    if framing == "event":
        return b"".join(map(_chunk, events)) + b"0\r\n\r\n"
    raw = b"".join(events)
    pieces = [_chunk(raw[i : i + HTTP_CHUNK]) for i in range(0, len(raw), HTTP_CHUNK)]
    return b"".join(pieces) + b"0\r\n\r\n"


def digest(datas: Iterable[str]) -> str:
    """What a client's events must hash to: sha256 of the data, NUL-separated."""
    h = hashlib.sha256()
    for data in datas:
        h.update(data.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def expected_digest(workload: str, count: int) -> str:
    return digest(event_data(workload, i).decode() for i in range(count))


def wire_size(workload: str) -> int:
    """Bytes on the wire of a typical event (for MB/s)."""
    return len(event_block(workload, 12345))
