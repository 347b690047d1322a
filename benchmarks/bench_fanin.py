"""Fan-in: K streams in one process, one event per stream per second, over loopback.

The server (benchmarks/e2e_server.py, ``/tick``) writes each stream one event a
second, in one HTTP chunk, at a phase of its own, with the write's monotonic time as
data. Each client runs in a fresh child process (so its memory is its own) that opens
K streams at once and reports: the time until all K are open, the resident memory
added per stream (after the warm-up and again after the window, so that growth in a
stream's life shows), the CPU it uses (percent of one core, and per event) over a
measuring window after a warm-up, and the delay from the server's write to the
consumer's receipt (p50 / p99 / max) over that window. By default every client runs
three rounds of 30 s windows, interleaved (``--rounds``, ``--window``): the tables give
each figure's median over the rounds, each ratio as the median of the rounds' own, and
every round's ratios.

The "Trio alone" row is no SSE client but the design's own floor: a reader task per
raw socket handing each read over a memory channel to a consumer task, with no HTTP and
no SSE parsing (its consumer only picks out the timestamp, to record the delay as the
clients' consumers do). What trio-sse costs above it is what its HTTP, SSE and session
code add.

With ``--pings`` (``/tick/ping``) the server writes sse-starlette's keep-alive comment
instead of each event: idle streams kept open. No client hands a comment to its
consumer, so CPU is reported per ping and no delay exists.

With ``--stall S`` each client's event loop is blocked for S seconds once, at the start
of the window, as a full pass of the cyclic collector or a slow callback blocks it: a
backlog of S x K events then arrives at once. What matters is how the client gets back:
the collector's passes in the window and their time, and the delays (the stall's own
S x K events are all late by up to S, so p99 over a window shorter than 100 x S mostly
shows the stall itself).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.bench_e2e import cpu_seconds, start_server

CLIENTS = (
    "trio-sse",
    PACED := "trio-sse, gc paced",
    FROZEN := "trio-sse, gc frozen",
    PEER := "aiohttp-sse-client2",
    TRIO_ALONE := "Trio alone",
)
"""Report order. "Trio alone" is no SSE client: the design's own cost (see child_trio_alone).
"gc paced" is the README's recipe for thousands of streams, whole; "gc frozen" is its
first step alone: ``gc.freeze()`` once the streams are open, nothing else."""
OURS = CLIENTS[:3]  # the rows compared with aiohttp-sse-client2
COMPARED = (*OURS, TRIO_ALONE)  # the rows whose CPU each round compares with the peer's
# The README's recipe for long-running processes with thousands of streams ("Thousands
# of streams in one process"): rarer full collections, the open streams' objects frozen
# out of their sight, and the young generations collected on a clock so that they never
# grow to every stream's pending read.
GC_THRESHOLDS = (700, 10, 1000)
GC_PACE = 0.01  # seconds between young collections
GC_MIDDLE_EVERY = 5  # every 5th of them collects the middle generation too


async def pace_the_collector() -> None:
    """The README's pace_the_collector, with its defaults."""
    import trio

    n = 0
    while True:
        await trio.sleep(GC_PACE)
        n += 1
        gc.collect(1 if n % GC_MIDDLE_EVERY == 0 else 0)


WARMUP = 2.0  # seconds after the last stream opened: every stream has ticked once
# The defaults: a single pair of runs on a shared machine gave anything from 0.85x to
# 1.8x, so every client runs in several rounds, interleaved, and the ratios are the
# medians of each round's own (as issue 7 measures them). Half a minute a round: three
# give each client a minute and a half of windows, in which the collector's passes,
# which start some tens of seconds after the streams open, show in some rounds.
ROUNDS = 3
WINDOW = 30.0


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Probe:
    """What the child measures; the streams call ``opened`` and ``received``. It also
    counts the cyclic collector's passes within the measuring window, and their time
    (``gc.callbacks``): a pass there is a pause every stream's events wait out."""

    def __init__(self, k: int, stall: float = 0.0) -> None:
        self.k = k
        self.stall = stall  # seconds the loop is blocked at the start of the window
        self.open = 0
        self.recording = False
        self.delays: list[int] = []
        self.events = 0  # reads "Trio alone" counts where it has no delay (--pings)
        self.collections = 0
        self.full_collections = 0  # of them, passes over the oldest generation
        self.collecting_s = 0.0
        self._collection_start = 0.0
        gc.callbacks.append(self._collector_pass)

    def _collector_pass(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._collection_start = time.perf_counter()
        elif self.recording:
            self.collections += 1
            self.full_collections += info["generation"] == 2
            self.collecting_s += time.perf_counter() - self._collection_start

    def received(self, data: str | None) -> None:
        if self.recording:
            assert data is not None  # None only for comment or retry events
            self.delays.append(time.monotonic_ns() - int(data))

    async def measure(
        self, sleep: Callable[[float], Awaitable[object]], window: float, rss0: int
    ) -> tuple[int, int, float]:
        """After the warm-up, record ``window`` seconds (with either event loop's
        ``sleep``): RSS added since ``rss0`` before and after, and the CPU used."""
        await sleep(WARMUP)
        rss = rss_bytes() - rss0
        self.recording = True
        cpu0 = cpu_seconds()
        if self.stall:
            time.sleep(self.stall)  # blocking the loop is the point
        await sleep(window)
        cpu = cpu_seconds() - cpu0
        rss_after = rss_bytes() - rss0
        self.recording = False
        return rss, rss_after, cpu

    def report(
        self, open_time: float, rss: int, rss_after: int, cpu: float, window: float
    ) -> dict[str, Any]:
        delays = sorted(self.delays)
        n = len(delays)
        count = n or self.events  # with --pings, reads counted: there are no delays

        def ms(q: float) -> float:
            return delays[min(n - 1, int(n * q))] / 1e6 if n else float("nan")

        window += self.stall  # the stall is part of the window: its events come late
        return {
            "k": self.k,
            "open_s": open_time,
            "rss_per_stream_kib": rss / self.k / 1024,
            "rss_after_per_stream_kib": rss_after / self.k / 1024,
            "cpu_pct": 100 * cpu / window,
            "cpu_us_per_event": cpu / count * 1e6 if count else float("nan"),
            "events": count,
            "expected": self.k * window,
            "p50_ms": ms(0.5),
            "p99_ms": ms(0.99),
            "max_ms": delays[-1] / 1e6 if n else float("nan"),
            "collections": self.collections,
            "full_collections": self.full_collections,
            "collecting_ms": self.collecting_s * 1e3,
        }


async def measure_trio_streams(
    probe: Probe,
    window: float,
    stream: Callable[[Callable[[], None]], Awaitable[None]],
    gc_mode: str = "",
) -> dict[str, Any]:
    """The Trio children's measurement: run ``probe.k`` copies of ``stream`` (each calls
    the function it is given once its stream is open), wait for all to open, warm up,
    then measure a window of ``window`` seconds."""
    import trio

    all_open = trio.Event()

    def opened() -> None:
        probe.open += 1
        if probe.open == probe.k:
            all_open.set()

    rss0 = rss_bytes()
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(probe.k):
            nursery.start_soon(stream, opened)
        await all_open.wait()
        open_time = time.perf_counter() - start
        if gc_mode:  # PACED or FROZEN: the open streams' objects leave the collector's sight
            gc.freeze()
        if gc_mode == PACED:
            nursery.start_soon(pace_the_collector)
        rss, rss_after, cpu = await probe.measure(trio.sleep, window, rss0)
        nursery.cancel_scope.cancel()
    return probe.report(open_time, rss, rss_after, cpu, window)


def child_trio_sse(
    url: str, k: int, window: float, gc_mode: str = "", stall: float = 0.0
) -> dict[str, Any]:
    import trio

    import trio_sse

    probe = Probe(k, stall)
    if gc_mode == PACED:
        gc.set_threshold(*GC_THRESHOLDS)

    async def main() -> dict[str, Any]:
        client = trio_sse.SSEClient(connect_timeout=120.0)

        async def stream(opened: Callable[[], None]) -> None:
            async with client.sse(url) as events:
                opened()
                async for event in events:
                    probe.received(event.data)

        return await measure_trio_streams(probe, window, stream, gc_mode)

    return trio.run(main)


def child_trio_alone(url: str, k: int, window: float, stall: float = 0.0) -> dict[str, Any]:
    """What the design costs before any HTTP or SSE: per stream, a reader task that waits
    for its socket and reads it, handing each read over a memory channel to a consumer
    task, as a trio-sse session does. Raw sockets, no HTTP or SSE parsing: the consumer
    only finds each event's timestamp in the bytes and records its delay, as the clients'
    consumers do (the probe's list of delays costs as much here as in their rows). With
    ``--pings`` there is no timestamp and "events" counts reads."""
    import socket
    from urllib.parse import urlsplit

    import trio
    from trio.lowlevel import wait_readable, wait_writable

    probe = Probe(k, stall)
    parts = urlsplit(url)
    request = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    address = (parts.hostname, parts.port)

    async def stream(opened: Callable[[], None]) -> None:
        with socket.socket() as sock:
            sock.setblocking(False)
            try:
                sock.connect(address)
            except BlockingIOError:
                await wait_writable(sock)
            sock.send(request)
            send, receive = trio.open_memory_channel[bytes](8)

            async def reader() -> None:
                while True:
                    await wait_readable(sock)
                    send.send_nowait(sock.recv(65536))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                opened()
                unfinished = b""  # the last line of the read before, if it had no LF
                while True:
                    data = await receive.receive()
                    if unfinished:
                        data = unfinished + data
                    # Each event's timestamp, recorded as every client's consumer does,
                    # so that the probe's own cost is in this row too. After a stall a
                    # read holds several events: each is counted, as the clients count.
                    start = data.find(b"data: ")
                    if start < 0 and probe.recording:
                        probe.events += 1  # a keep-alive comment (--pings): no delay
                    while start >= 0:
                        end = data.find(b"\n", start)
                        if end < 0:
                            break
                        probe.received(data[start + 6 : end].decode())
                        start = data.find(b"data: ", end)
                    # A read may end anywhere, inside "data: " too: keep its last line.
                    unfinished = data[data.rfind(b"\n") + 1 :]

    return trio.run(measure_trio_streams, probe, window, stream)


def child_aiohttp(url: str, k: int, window: float, stall: float = 0.0) -> dict[str, Any]:
    import aiohttp
    from aiohttp_sse_client2 import client as sse_client

    probe = Probe(k, stall)

    async def main() -> dict[str, Any]:
        all_open = asyncio.Event()
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None, sock_connect=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def stream() -> None:
                async with sse_client.EventSource(url, session=session) as events:
                    probe.open += 1
                    if probe.open == k:
                        all_open.set()
                    async for event in events:
                        probe.received(event.data)

            rss0 = rss_bytes()
            start = time.perf_counter()
            tasks = [asyncio.create_task(stream()) for _ in range(k)]
            await all_open.wait()
            open_time = time.perf_counter() - start
            rss, rss_after, cpu = await probe.measure(asyncio.sleep, window, rss0)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return probe.report(open_time, rss, rss_after, cpu, window)

    return asyncio.run(main())


def child(client: str, url: str, k: int, window: float, stall: float) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if client == "aiohttp-sse-client2":
        result = child_aiohttp(url, k, window, stall)
    elif client == TRIO_ALONE:
        result = child_trio_alone(url, k, window, stall)
    else:
        gc_mode = client if client in (PACED, FROZEN) else ""
        result = child_trio_sse(url, k, window, gc_mode, stall)
    print(json.dumps(result))


def measure(
    client: str, url: str, k: int, window: float, stall: float = 0.0
) -> dict[str, Any] | str:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root}
    command = [sys.executable, "-m", "benchmarks.bench_fanin", "--child", client, url]
    command += [str(k), str(window), str(stall)]
    try:
        done = subprocess.run(
            command, env=env, cwd=root, capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired:
        return "timed out"
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


Result = dict[str, Any] | str
"""One child's figures, or why it gave none."""


def round_orders(clients: list[str], rounds: int) -> list[list[str]]:
    """The order the clients run in, round by round: as given, then reversed, and so
    on. No client always runs first or always follows the same one, and a drift of the
    machine during the run (its neighbours, its clock) weighs on the clients alike."""
    return [list(clients) if r % 2 == 0 else clients[::-1] for r in range(rounds)]


def median_result(runs: list[Result]) -> Result:
    """Each figure's median over the rounds whose child gave figures (the first
    failure if none did). A count stays a count that some round gave (the lower
    median); a figure a round could not give (NaN: no delays) is left out, and is
    NaN only if no round gave it."""
    good = [run for run in runs if isinstance(run, dict)]
    if not good:
        return runs[0]
    summary: dict[str, Any] = {}
    for key in good[0]:
        values = [run[key] for run in good]
        if all(isinstance(value, int) for value in values):
            summary[key] = statistics.median_low(values)
        else:
            given = [value for value in values if not math.isnan(value)]
            summary[key] = statistics.median(given) if given else math.nan
    return summary


def run_rounds(
    ks: list[int], clients: list[str], rounds: int, measure_one: Callable[[int, str, str], Result]
) -> tuple[list[list[str]], dict[tuple[int, str], list[Result]]]:
    """Every client ``rounds`` times at each stream count, interleaved: the orders
    (round_orders) and each (count, client)'s results, one per round, in round order.
    ``measure_one(k, client, progress)`` runs one child. A count's rounds follow one
    another, so its ratios are paired in time."""
    orders = round_orders(clients, rounds)
    runs: dict[tuple[int, str], list[Result]] = {(k, c): [] for k in ks for c in clients}
    for k in ks:
        for r, order in enumerate(orders, 1):
            for client in order:
                of = f", round {r} of {rounds}" if rounds > 1 else ""
                runs[(k, client)].append(measure_one(k, client, of))
    return orders, runs


def median_ratios(runs: dict[tuple[int, str], list[Result]]) -> dict[tuple[int, str], float]:
    """Each client's CPU ratio to aiohttp-sse-client2's at each count: the median of
    the rounds' own ratios (paired_ratios), not the ratio of the median CPUs."""
    return {
        (k, client): statistics.median(paired)
        for k, client in runs
        if (paired := paired_ratios(runs, k, client))
    }


def paired_ratios(runs: dict[tuple[int, str], list[Result]], k: int, client: str) -> list[float]:
    """``client``'s CPU over aiohttp-sse-client2's at ``k`` streams, one ratio per round
    in which both gave figures: the two ran minutes apart, so a slow stretch of the
    machine weighs on both sides of each ratio."""
    mine_runs, peer_runs = runs.get((k, client)), runs.get((k, PEER))
    if mine_runs is None or peer_runs is None:
        return []
    ratios = []
    for mine, peer in zip(mine_runs, peer_runs, strict=True):  # one of each per round
        if isinstance(mine, dict) and isinstance(peer, dict) and peer["cpu_pct"]:
            ratios.append(mine["cpu_pct"] / peer["cpu_pct"])
    return ratios


def table(
    results: dict[tuple[int, str], Result],
    pings: bool = False,
    ratios: dict[tuple[int, str], float] | None = None,
) -> list[str]:
    """With ``pings`` the streams got keep-alive comments, which no client hands to its
    consumer: CPU is per ping sent, the events column must say 0, no delays exist.
    ``ratios`` replaces the CPU ratios worked out from ``results`` (with rounds: the
    median of each round's own ratio)."""
    out = [
        "| streams | client | time to open (s) | RSS / stream (KiB), after warm-up / window "
        "| CPU (% of a core) "
        f"| CPU / {'ping' if pings else 'event'} (µs) | events | p50 delay (ms) "
        "| p99 delay (ms) | max (ms) "
        "| collector passes in the window (ms) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (k, client), r in results.items():
        if isinstance(r, str):
            out.append(f"| {k:,} | {client} | {r} | | | | | | | | |")
            continue
        ratio = ""
        if client == PEER and r["cpu_pct"]:
            shown = [
                f"{ours}: {value:.2f}x"
                for ours in OURS
                if (value := cpu_ratio(results, ratios, k, ours)) is not None
            ]
            ratio = f" ({', '.join(shown)})" if shown else ""
        if pings:  # one ping per stream per second; the CPU share per ping
            per_message = f"{r['cpu_pct'] * 1e4 / k:.1f}"
            delivery = f"{r['events']:,.0f} | — | — | —"
        else:
            per_message = f"{r['cpu_us_per_event']:.0f}"
            delivery = (
                f"{r['events']:,.0f} of {r['expected']:,.0f} | {r['p50_ms']:.1f} "
                f"| {r['p99_ms']:.1f} | {r['max_ms']:.1f}"
            )
        full = f", {r['full_collections']} full" if r.get("full_collections") else ""
        out.append(
            f"| {k:,} | {client} | {r['open_s']:.2f} | {r['rss_per_stream_kib']:.1f} / "
            f"{r['rss_after_per_stream_kib']:.1f} "
            f"| {r['cpu_pct']:.1f}{ratio} | {per_message} | {delivery} "
            f"| {r['collections']} ({r['collecting_ms']:.0f}){full} |"
        )
    return out


def cpu_ratio(
    results: dict[tuple[int, str], Result],
    ratios: dict[tuple[int, str], float] | None,
    k: int,
    client: str,
) -> float | None:
    """``client``'s CPU over the peer's at ``k``: from ``ratios`` when given, else from
    ``results``; None when there is none."""
    if ratios is not None:
        return ratios.get((k, client))
    mine, peer = results.get((k, client)), results.get((k, PEER))
    if isinstance(mine, dict) and isinstance(peer, dict) and peer["cpu_pct"]:
        return float(mine["cpu_pct"] / peer["cpu_pct"])
    return None


def rounds_table(
    runs: dict[tuple[int, str], list[Result]], orders: list[list[str]], pings: bool = False
) -> list[str]:
    """Every round's figures: each client's CPU per event (per ping with ``pings``) and
    p99 delay, and the CPU ratios against aiohttp-sse-client2 within the round; then,
    per stream count, each ratio's median and range over the rounds. That range is the
    run's noise: one round alone could have given any value in it."""
    clients = orders[0]
    ks = list(dict.fromkeys(k for k, _ in runs))
    compared = [c for c in COMPARED if c in clients] if PEER in clients else []
    out = [
        f"| streams | round | first | {' | '.join(clients)} "
        + "".join(f"| {c} / {PEER} " for c in compared)
        + "|",
        "|---:|---:|---" + "|---:" * (len(clients) + len(compared)) + "|",
    ]
    for k in ks:
        for r, order in enumerate(orders):
            cells = [figures(runs[(k, client)][r], k, pings) for client in clients]
            for client in compared:
                ratio = paired_ratios({key: [runs[key][r]] for key in runs}, k, client)
                cells.append(f"{ratio[0]:.2f}x" if ratio else "—")
            out.append(f"| {k:,} | {r + 1} | {order[0]} | " + " | ".join(cells) + " |")
        if compared:
            summary = []
            for client in compared:
                ratios = paired_ratios(runs, k, client)
                summary.append(
                    f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}x–{max(ratios):.2f}x)"
                    if ratios
                    else "—"
                )
            blanks = " |" * len(clients)
            out.append(f"| {k:,} | median (range) | |{blanks} " + " | ".join(summary) + " |")
    return out


def figures(run: Result, k: int, pings: bool) -> str:
    """One child's cell in the rounds table: CPU per event and p99, or why it failed."""
    if isinstance(run, str):
        return run
    if pings:
        return f"{run['cpu_pct'] * 1e4 / k:.1f} µs / ping"
    return f"{run['cpu_us_per_event']:.0f} µs, p99 {run['p99_ms']:.1f} ms"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks fanin")
    parser.add_argument(
        "--quick", action="store_true", help="K = 300 and 1,000, one round of 5 s windows"
    )
    parser.add_argument("--repeat", type=int, default=1, help="ignored: see --rounds")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="run every client this many times, interleaved (the order alternates each "
        f"round); the tables then give medians, and each round's ratios ({ROUNDS}; 1 "
        "with --quick)",
    )
    parser.add_argument("--streams", type=int, action="append", default=[])
    parser.add_argument("--window", type=float, default=None, help="measuring seconds")
    parser.add_argument("--client", action="append", default=[], choices=CLIENTS)
    parser.add_argument(
        "--pings",
        action="store_true",
        help="idle streams: a keep-alive comment per stream per second instead of an event",
    )
    parser.add_argument(
        "--stall",
        type=float,
        default=0.0,
        help="block each client's loop this many seconds once, at the start of the window",
    )
    args, _ = parser.parse_known_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else ROUNDS
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    # Each count and client once: a repeat would add its results to the same rounds.
    ks = list(dict.fromkeys(args.streams)) or (
        [300, 1_000] if args.quick else [1_000, 3_000, 10_000]
    )
    window = args.window or (5.0 if args.quick else WINDOW)
    clients = list(dict.fromkeys(args.client)) or list(CLIENTS)
    proc, port = start_server()
    url = f"http://127.0.0.1:{port}/tick" + ("/ping" if args.pings else "")
    load = os.getloadavg()

    def measure_one(k: int, client: str, progress: str) -> Result:
        print(f"fan-in: {k:,} streams, {client}{progress} ...", file=sys.stderr)
        return measure(client, url, k, window, args.stall)

    try:
        orders, runs = run_rounds(ks, clients, args.rounds, measure_one)
    finally:
        proc.kill()
        proc.wait()
    end = os.getloadavg()
    print(f"\n## Fan-in over loopback (Python {sys.version.split()[0]})\n")
    print(
        ("One keep-alive comment (sse-starlette's ping) " if args.pings else "One event ")
        + f"per stream per second, {window:.0f} s measuring window after a "
        f"{WARMUP:.0f} s warm-up, each client in a fresh process"
        + (f", its loop blocked for {args.stall:g} s at the window's start" if args.stall else "")
        + ". Load average at start "
        f"{load[0]:.2f}, at end {end[0]:.2f}. The ratios are each trio-sse row's CPU / "
        "the peer's"
        + (
            f". Every figure is the median of {args.rounds} rounds, the clients interleaved "
            "(the order reversed each round); each ratio is the median of the rounds' own "
            "ratios.\n"
            if args.rounds > 1
            else ".\n"
        )
    )
    medians = {key: median_result(results) for key, results in runs.items()}
    ratios = median_ratios(runs) if args.rounds > 1 else None
    print("\n".join(table(medians, pings=args.pings, ratios=ratios)))
    if args.rounds > 1:
        print("\n### Each round\n")
        print("\n".join(rounds_table(runs, orders, pings=args.pings)))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]))
    else:
        sys.exit(main(sys.argv[1:]))
