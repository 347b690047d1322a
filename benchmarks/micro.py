"""Where SSEParser's time goes: a profiling aid, not part of the report.

``python -m benchmarks.micro [--repeat N] [--profile KEY]`` prints

- the cost of building one event: ServerSentEvent against the cheapest Python objects;
- ns per event of SSEParser on streams that add one feature at a time (an ``event:``
  line, an ``id:`` line, a second data line, CRLF, comment blocks), so the marginal
  cost of each is visible, next to the launchdarkly-eventsource reader (the fastest
  peer on workloads A and C);
- workload A1 against its floor (slice, decode, build the event), gc on and off;
- with ``--profile KEY``, cProfile's top functions for SSEParser on a workload of
  benchmarks.workloads.

It uses only the public API (SSEParser.feed, ServerSentEvent), so it keeps working
while the parser's internals change.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time
import timeit
from collections.abc import Callable

from trio_sse import ServerSentEvent

from .bench_parser import Runner, _launchdarkly, run_trio_sse
from .workloads import WORKLOADS, chunked

KiB = 1024


class PlainEvent:
    """A mutable slotted class with ServerSentEvent's fields: the cheapest Python object."""

    __slots__ = ("comments", "data", "event", "id", "retry")

    def __init__(
        self,
        data: str | None,
        event: str | None,
        id: str | None,
        retry: int | None,
        comments: str | None,
    ) -> None:
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comments = comments


def constructors(number: int = 200_000) -> str:
    """ns to build one event, per constructor, as a Markdown table."""
    from ld_eventsource.actions import Event

    new = tuple.__new__
    cases: dict[str, Callable[[], object]] = {
        "trio_sse.ServerSentEvent(data, None, None, None, None)": lambda: ServerSentEvent(
            "x", None, None, None, None
        ),
        "plain slotted class, 5 fields": lambda: PlainEvent("x", None, None, None, None),
        "ld_eventsource Event (plain class, 4 fields)": lambda: Event("message", "x", None, None),
        "tuple.__new__(cls, 5-tuple)": lambda: new(tuple, ("x", None, None, None, None)),
    }
    empty = min(timeit.repeat(lambda: None, number=number, repeat=5))
    lines = ["| constructor | ns per event |", "|---|---:|"]
    for name, make in cases.items():
        t = min(timeit.repeat(make, number=number, repeat=5)) - empty
        lines.append(f"| {name} | {t / number * 1e9:.0f} |")
    return "\n".join(lines) + "\n"


def feature_streams(n: int = 50_000) -> dict[str, tuple[list[bytes], int]]:
    """Streams of ``n`` events in 16 KiB chunks, each adding one feature to the previous."""

    def build(make_block: Callable[[int], str], ping: bool = False, eol: str = "\n") -> bytes:
        parts = []
        for i in range(n):
            if ping and i and i % 50 == 0:
                parts.append(f": ping - 2024-05-01 12:00:00.000000+00:00{eol}{eol}")
            parts.append(make_block(i).replace("\n", eol))
        return "".join(parts).encode()

    payload = '{"choices":[{"delta":{"content":"token"}}]}'
    variants: dict[str, bytes] = {
        "data: only": build(lambda i: f"data: {payload}\n\n"),
        "+ event: line": build(lambda i: f"event: delta\ndata: {payload}\n\n"),
        "+ id: line": build(lambda i: f"event: delta\nid: {i}\ndata: {payload}\n\n"),
        "+ second data: line": build(
            lambda i: f"event: delta\nid: {i}\ndata: {payload}\ndata: {payload}\n\n"
        ),
        "+ CRLF line endings": build(
            lambda i: f"event: delta\nid: {i}\ndata: {payload}\ndata: {payload}\n\n", eol="\r\n"
        ),
        "+ ping comment block every 50": build(
            lambda i: f"event: delta\nid: {i}\ndata: {payload}\ndata: {payload}\n\n",
            ping=True,
            eol="\r\n",
        ),
    }
    return {name: (chunked(stream, 16 * KiB), n) for name, stream in variants.items()}


def best_time(run: Runner, chunks: list[bytes], expected: int, repeat: int) -> float:
    """Best wall time of ``repeat`` runs (gc enabled), checking the event count."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        events = run(chunks)
        best = min(best, time.perf_counter() - start)
        if len(events) != expected:
            raise AssertionError(f"{len(events)} events, expected {expected}")
        del events
    return best


def features(repeat: int) -> str:
    """ns per event, and the marginal cost of each feature, as a Markdown table."""
    ld = _launchdarkly()
    lines = [
        "| stream (16 KiB chunks) | trio-sse ns/event | marginal | ld reader ns/event "
        "| marginal | trio-sse speed-up |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    previous: tuple[float, float] | None = None
    for name, (chunks, n) in feature_streams().items():
        ours = best_time(run_trio_sse, chunks, n, repeat) / n * 1e9
        theirs = best_time(ld, chunks, n, repeat) / n * 1e9
        if previous is None:
            d_ours = d_theirs = ""
        else:
            d_ours = f"{ours - previous[0]:+,.0f}"
            d_theirs = f"{theirs - previous[1]:+,.0f}"
        lines.append(
            f"| {name} | {ours:,.0f} | {d_ours} | {theirs:,.0f} | {d_theirs} "
            f"| {theirs / ours:.2f}x |"
        )
        previous = (ours, theirs)
    return "\n".join(lines) + "\n"


def a1_ceiling(repeat: int) -> str:
    """Workload A1 (one small event per feed) against the least any parser must do.

    "floor" slices and decodes each event's data and builds the ServerSentEvent
    directly: no parsing, no checks. Each row with the garbage collector on and off:
    events are tracked objects (a tuple subclass is never untracked), and the run keeps
    them all, as a consumer collecting them would."""
    from trio_sse._parser import _new_event

    chunks = WORKLOADS["A1"](1).chunks
    n = len(chunks)

    def floor(chunks: list[bytes]) -> list[object]:
        events: list[object] = []
        extend = events.extend
        for chunk in chunks:
            extend([_new_event(ServerSentEvent, (chunk[6:-2].decode(), None, None, None, None))])
        return events

    runners: dict[str, Runner] = {
        "floor: slice, decode, ServerSentEvent": floor,
        "trio-sse SSEParser.feed": run_trio_sse,
        "launchdarkly-eventsource reader": _launchdarkly(),
    }
    lines = ["| A1, ns per event | gc on | gc off |", "|---|---:|---:|"]
    for name, run in runners.items():
        on = best_time(run, chunks, n, repeat) / n * 1e9
        gc.disable()
        try:
            off = best_time(run, chunks, n, repeat) / n * 1e9
        finally:
            gc.enable()
        lines.append(f"| {name} | {on:,.0f} | {off:,.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the breakdown tables, or a profile with --profile."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.micro")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", choices=list(WORKLOADS), help="cProfile SSEParser on one")
    args = parser.parse_args(argv)
    if args.profile:
        workload = WORKLOADS[args.profile](1)
        profiler = cProfile.Profile()
        profiler.runcall(run_trio_sse, workload.chunks)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return 0
    print(a1_ceiling(args.repeat), flush=True)
    print(constructors(), flush=True)
    print(features(args.repeat), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
