"""End to end over loopback: trio-sse beside every Python SSE client users would pick.

The server (benchmarks/e2e_server.py) runs in its own process and writes pre-built
responses in 256 KiB pieces, so the clients are what is measured. Every workload
(small events, LLM-token-like JSON, 64 KiB events) is served in three framings
(close-delimited, one HTTP chunk per event, 64 KiB chunks). Before any timing each
client reads each case once and its events are checked (count and digest); a client
that gets them wrong is reported WRONG and not timed. Then the clients run in turn,
``--repeat`` rounds, interleaved, so a load change on the machine hits them all alike.
Reported: events/s (best wall time) and the client's CPU per event (best run; user +
system time of this process from ``resource.getrusage``), with the ratio of each
peer's CPU per event to trio-sse's. A latency run follows (server write to consumer
receipt, one event every 2 ms, p50/p99), and a chart of CPU per event is written: by a
full run (every client and workload, not ``--quick``) to ``benchmarks/cpu_per_event.png``,
the README's chart; by any other run to the temporary directory, so that a partial run
cannot replace it.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.e2e_clients import CLIENTS
from benchmarks.e2e_workloads import (
    FRAMINGS,
    WORKLOADS,
    Framing,
    digest,
    expected_digest,
    wire_size,
)

CHART = Path(__file__).resolve().parent / "cpu_per_event.png"


def start_server() -> tuple[subprocess.Popen[bytes], int]:
    """The server process and its port (it writes the port to a file when listening)."""
    port_file = Path(tempfile.mkdtemp()) / "port"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.e2e_server", str(port_file)], cwd=root, env=env
    )
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the benchmark server did not start")
        time.sleep(0.05)  # waiting on another process
    return proc, int(port_file.read_text())


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Case:
    workload: str
    framing: Framing
    count: int
    wrong: dict[str, str] = field(default_factory=dict)
    walls: dict[str, list[float]] = field(default_factory=dict)
    cpus: dict[str, list[float]] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"{WORKLOADS[self.workload][0]}, {FRAMINGS[self.framing]}"

    def cpu_us(self, client: str) -> float | None:
        cpus = self.cpus.get(client)
        return min(cpus) / self.count * 1e6 if cpus else None

    def rate(self, client: str) -> float | None:
        walls = self.walls.get(client)
        return self.count / min(walls) if walls else None


def check(case: Case, base: str, clients: list[str]) -> None:
    """Read the case once per client and compare count and digest with the answer."""
    want = expected_digest(case.workload, case.count)
    url = f"{base}/bulk/{case.workload}/{case.framing}/{case.count}"
    for name in clients:
        datas: list[str] = []
        try:
            count = CLIENTS[name](url, case.count, datas.append)
        except Exception as exc:
            case.wrong[name] = f"failed: {type(exc).__name__}: {exc}"[:120]
            continue
        got = digest(datas)
        if count != case.count or len(datas) != case.count or got != want:
            case.wrong[name] = f"WRONG ({len(datas):,} events, digest {got})"


def time_round(case: Case, base: str, clients: list[str]) -> None:
    url = f"{base}/bulk/{case.workload}/{case.framing}/{case.count}"
    for name in clients:
        if name in case.wrong:
            continue
        gc.collect()
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        count = CLIENTS[name](url, case.count, None)
        wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
        if count != case.count:
            case.wrong[name] = f"WRONG ({count:,} events in a timed run)"
            continue
        case.walls.setdefault(name, []).append(wall)
        case.cpus.setdefault(name, []).append(cpu)


def bulk_tables(cases: list[Case], clients: list[str]) -> list[str]:
    out = [
        "### CPU per event (µs, best run; lower is better) and each peer's / trio-sse's",
        "",
        "| workload, framing | " + " | ".join(clients) + " |",
        "|---|" + "---:|" * len(clients),
    ]
    for case in cases:
        ours = case.cpu_us("trio-sse")
        cells = []
        for name in clients:
            cpu = case.cpu_us(name)
            if cpu is None:
                cells.append(case.wrong.get(name, "n/a").split(" (")[0])
            elif name == "trio-sse" or ours is None:
                cells.append(f"**{cpu:.2f}**" if name == "trio-sse" else f"{cpu:.2f}")
            else:
                cells.append(f"{cpu:.2f} ({cpu / ours:.1f}x)")
        out.append(f"| {case.title} | " + " | ".join(cells) + " |")
    out += [
        "",
        "### Events per second (best run; higher is better)",
        "",
        "| workload, framing | " + " | ".join(clients) + " |",
        "|---|" + "---:|" * len(clients),
    ]
    for case in cases:
        cells = []
        for name in clients:
            rate = case.rate(name)
            cells.append(f"{rate:,.0f}" if rate else case.wrong.get(name, "n/a").split(" (")[0])
        out.append(f"| {case.title} | " + " | ".join(cells) + " |")
    notes = [
        f"- {name} on {case.title}: {why}" for case in cases for name, why in case.wrong.items()
    ]
    if notes:
        out += ["", "Not timed (wrong or failed on the check run):", "", *notes]
    return out


def write_chart(cases: list[Case], clients: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(12.0, 1.1 * len(cases)), 5.5))
    width = 0.8 / len(clients)
    for k, name in enumerate(clients):
        xs, ys = [], []
        for i, case in enumerate(cases):
            cpu = case.cpu_us(name)
            if cpu is not None:
                xs.append(i + (k - (len(clients) - 1) / 2) * width)
                ys.append(cpu)
        ax.bar(xs, ys, width, label=name)
    ax.set_yscale("log")
    ax.set_ylabel("client CPU per event (µs, log scale; lower is better)")
    ax.set_xticks(range(len(cases)))
    # Wrapped to the width of a group of bars: long titles would run into each other.
    labels = [
        textwrap.fill(WORKLOADS[c.workload][0], 16) + "\n" + textwrap.fill(FRAMINGS[c.framing], 16)
        for c in cases
    ]
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_title("SSE clients over loopback: CPU per event by workload and framing")
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def latency_table(base: str, clients: list[str], count: int) -> list[str]:
    """Server write to consumer receipt, one event every 2 ms, one chunk each."""
    out = [
        f"### Latency: server write to consumer receipt ({count:,} events, one every 2 ms)",
        "",
        "| client | p50 (µs) | p99 (µs) | max (µs) |",
        "|---|---:|---:|---:|",
    ]
    url = f"{base}/latency/{count}/2"
    for name in clients:
        delays: list[float] = []

        def record(data: str, delays: list[float] = delays) -> None:
            delays.append((time.monotonic_ns() - int(data)) / 1000)

        print(f"latency: {name} ...", file=sys.stderr)
        try:
            CLIENTS[name](url, count, record)
        except Exception as exc:
            out.append(f"| {name} | failed: {type(exc).__name__} | | |")
            continue
        delays.sort()
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        p50 = statistics.median(delays)
        out.append(f"| {name} | {p50:,.0f} | {p99:,.0f} | {delays[-1]:,.0f} |")
    return out


def run(quick: bool, repeat: int, only: list[str], workloads: list[str]) -> list[str]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    clients = [name for name in CLIENTS if not only or name in only]
    proc, port = start_server()
    base = f"http://127.0.0.1:{port}"
    scale = 20 if quick else 1
    cases = [Case(w, framing, WORKLOADS[w][1] // scale) for w in workloads for framing in FRAMINGS]
    load = os.getloadavg()
    try:
        for case in cases:
            print(f"check: {case.title} ...", file=sys.stderr)
            check(case, base, clients)
        for r in range(repeat):
            for case in cases:
                print(f"round {r + 1}/{repeat}: {case.title} ...", file=sys.stderr)
                time_round(case, base, clients)
        lines = bulk_tables(cases, clients)
        lines += ["", *latency_table(base, clients, 500 if quick else 2_500)]
    finally:
        proc.kill()
        proc.wait()
    if "trio-sse" in clients:
        full = not quick and clients == list(CLIENTS) and workloads == list(WORKLOADS)
        chart = CHART if full else Path(tempfile.gettempdir()) / CHART.name
        write_chart(cases, clients, chart)
        where = chart.relative_to(CHART.parent.parent) if full else f"{chart} (a partial run)"
        lines += ["", f"Chart written to {where}."]
    end_load = os.getloadavg()
    return [
        f"Load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, "
        f"at end {end_load[0]:.2f} / {end_load[1]:.2f} / {end_load[2]:.2f}; "
        f"{repeat} rounds, clients interleaved; MB/s = events/s x "
        + ", ".join(f"{wire_size(w):,} B ({w})" for w in workloads)
        + ".",
        "",
        *lines,
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks e2e")
    parser.add_argument("--quick", action="store_true", help="1/20 of the events")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--client", action="append", default=[], choices=list(CLIENTS))
    parser.add_argument("--workload", action="append", default=[], choices=list(WORKLOADS))
    args, _ = parser.parse_known_args(argv)
    lines = run(args.quick, args.repeat, args.client, args.workload or list(WORKLOADS))
    print(f"\n## End to end over loopback (Python {sys.version.split()[0]})\n")
    print("\n".join(lines))
    return 0
