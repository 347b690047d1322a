"""End to end over loopback: trio-sse against httpx + httpx-sse, both running on Trio.

The server (benchmarks/e2e_server.py) runs in its own process and sends pre-built,
chunked bytes in 256 KiB writes, so the clients are what is measured. Each client
opens a fresh connection per run and counts events until the stream ends; the best
of ``--repeat`` runs is reported.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import httpx_sse
import trio

import trio_sse

Client = Callable[[str], Awaitable[int]]


async def run_trio_sse(url: str) -> int:
    count = 0
    async with trio_sse.open_sse_session(url) as events:
        async for _ in events:
            count += 1
    return count


async def run_httpx_sse(url: str) -> int:
    count = 0
    async with (
        httpx.AsyncClient(timeout=None) as client,
        httpx_sse.aconnect_sse(client, "GET", url) as source,
    ):
        async for _ in source.aiter_sse():
            count += 1
    return count


CLIENTS: dict[str, Client] = {"trio-sse": run_trio_sse, "httpx-sse (httpx on trio)": run_httpx_sse}


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
        time.sleep(0.05)  # waiting on another process, outside Trio
    return proc, int(port_file.read_text())


async def measure(client: Client, url: str, expected: int, repeat: int) -> float | None:
    """Best events/s over ``repeat`` runs, or None if the client got a wrong count."""
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        count = await client(url)
        elapsed = time.perf_counter() - start
        if count != expected:
            print(f"  wrong event count: {count} != {expected}", file=sys.stderr)
            return None
        best = max(best, count / elapsed)
    return best


async def run(port: int, quick: bool, repeat: int) -> list[str]:
    suffix = "-quick" if quick else ""
    workloads = [
        ("small events (A1-like JSON deltas)", f"/small{suffix}", 10_000 if quick else 100_000),
        ("64 KiB events", f"/large{suffix}", 100 if quick else 1_000),
    ]
    lines = [
        "| workload | client | events/s | MB/s | trio-sse speed-up |",
        "|---|---|---:|---:|---:|",
    ]
    for title, path, expected in workloads:
        url = f"http://127.0.0.1:{port}{path}"
        size = 48 if "small" in path else 65544
        speeds: dict[str, float | None] = {}
        for name, client in CLIENTS.items():
            print(f"{title}: {name} ...", file=sys.stderr)
            speeds[name] = await measure(client, url, expected, repeat)
        ours = speeds["trio-sse"]
        for name, speed in speeds.items():
            if speed is None:
                lines.append(f"| {title} | {name} | WRONG | | |")
                continue
            ratio = "" if ours is None or name == "trio-sse" else f"{ours / speed:.2f}x"
            lines.append(
                f"| {title} | {name} | {speed:,.0f} | {speed * size / 1e6:,.1f} | {ratio} |"
            )
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks e2e")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args, _ = parser.parse_known_args(argv)
    proc, port = start_server()
    try:
        lines = trio.run(run, port, args.quick, args.repeat)
    finally:
        proc.kill()
        proc.wait()
    print(f"\n### End to end over loopback (Python {sys.version.split()[0]})\n")
    print("\n".join(lines))
    return 0
