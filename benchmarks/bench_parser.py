"""Parser throughput: trio-sse's SSEParser against the parsers users would pick instead.

Every library gets the same list of byte chunks, built before any timing, and must turn it
into a list of event objects (``.data`` is checked). Each case runs ``--repeat`` times, the
runs of the libraries interleaved, and the best wall time (``--clock cpu``: process CPU
time) is kept; gc stays enabled. A
library whose output is wrong (event count, or data of the first or last event) is shown
as WRONG instead of a speed and is not counted as a peer. trio-sse's peak memory is
measured with tracemalloc in a separate, untimed pass that drops the events as they come.

Output is Markdown on stdout, ready for benchmarks/RESULTS.md; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import codecs
import gc
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import trio_sse
from trio_sse import SSEParser

from .workloads import WORKLOADS, Workload

Runner = Callable[[list[bytes]], list[Any]]


# -- the contestants ----------------------------------------------------------------------


def run_trio_sse(chunks: list[bytes]) -> list[Any]:
    """trio-sse: feed each chunk to one SSEParser and collect the events."""
    parser = SSEParser()
    feed = parser.feed
    events: list[Any] = []
    extend = events.extend
    for chunk in chunks:
        extend(feed(chunk))
    extend(parser.feed_eof())
    return events


def _httpx_sse_eventsource() -> Runner:
    """httpx-sse, public API: EventSource(response).iter_sse() on an in-memory httpx.Response."""
    import httpx
    import httpx_sse

    class ChunkStream(httpx.SyncByteStream):
        """A response body that yields the prepared chunks, as a transport would."""

        def __init__(self, chunks: list[bytes]) -> None:
            self._chunks = chunks

        def __iter__(self) -> Iterator[bytes]:
            return iter(self._chunks)

    headers = {"content-type": "text/event-stream"}

    def run(chunks: list[bytes]) -> list[Any]:
        response = httpx.Response(200, headers=headers, stream=ChunkStream(chunks))
        return list(httpx_sse.EventSource(response).iter_sse())

    return run


def _httpx_sse_decoders() -> Runner:
    """httpx-sse's own decoders, driven exactly as iter_sse drives them, without httpx.

    httpx's Response.iter_text() is an incremental UTF-8 decoder (errors="replace") that
    skips empty strings; httpx_sse._iter_sse_lines feeds its text to SSELineDecoder and
    iter_sse hands each line, rstrip("\\n"), to SSEDecoder.
    """
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder

    def iter_sse(chunks: Iterable[bytes]) -> Iterator[Any]:
        text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        line_decoder = SSELineDecoder()
        decoder = SSEDecoder()

        def lines() -> Iterator[str]:
            for chunk in chunks:
                text = text_decoder.decode(chunk)
                if text:
                    yield from line_decoder.decode(text)
            text = text_decoder.decode(b"", True)
            if text:
                yield from line_decoder.decode(text)
            yield from line_decoder.flush()

        for line in lines():
            sse = decoder.decode(line.rstrip("\n"))
            if sse is not None:
                yield sse

    def run(chunks: list[bytes]) -> list[Any]:
        return list(iter_sse(chunks))

    return run


def _sseclient_py() -> Runner:
    """sseclient-py: SSEClient iterates its event source, here the list of chunks."""
    import sseclient

    def run(chunks: list[bytes]) -> list[Any]:
        return list(sseclient.SSEClient(iter(chunks)).events())

    return run


def _launchdarkly() -> Runner:
    """launchdarkly-eventsource: the reader its SSEClient runs, on the chunks.

    SSEClient.events is ``_BufferedLineReader.lines_from(stream)`` into
    ``_SSEReader(...).events_and_comments()``, keeping the Event actions; that is what this
    runs, minus SSEClient's connection and retry machinery.
    """
    from ld_eventsource.actions import Event
    from ld_eventsource.reader import _BufferedLineReader, _SSEReader

    def run(chunks: list[bytes]) -> list[Any]:
        reader = _SSEReader(_BufferedLineReader.lines_from(chunks))
        return [item for item in reader.events_and_comments() if isinstance(item, Event)]

    return run


def _requests_sse() -> Runner:
    """requests-sse, public API, over a requests transport adapter that serves the chunks.

    requests-sse has no parser separate from its EventSource, which reads
    ``response.iter_lines()``; a mounted adapter returns a Response whose urllib3-like
    ``raw.stream()`` yields the prepared chunks, so no socket is involved. This favours it
    slightly: a real urllib3 response would be re-read in 512-byte pieces (iter_lines'
    default chunk_size). At the end of the body EventSource calls on_error and would sleep
    and reconnect; the on_error hook here raises to end the run instead.
    """
    import requests
    import requests.adapters
    from requests.structures import CaseInsensitiveDict
    from requests_sse import EventSource

    class EndOfStream(Exception):
        """Raised from on_error when the body is exhausted."""

    class Raw:
        """The part of urllib3.HTTPResponse that requests' iter_content uses."""

        def __init__(self, chunks: list[bytes]) -> None:
            self._chunks = chunks

        def stream(self, amt: int | None = None, decode_content: bool = True) -> Iterator[bytes]:
            return iter(self._chunks)

        def close(self) -> None:
            pass

    class Adapter(requests.adapters.BaseAdapter):
        """Answers every request with 200 text/event-stream and the chunks as the body."""

        def __init__(self, chunks: list[bytes]) -> None:
            super().__init__()
            self._chunks = chunks

        def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
            response = requests.Response()
            response.status_code = 200
            response.reason = "OK"
            response.headers = CaseInsensitiveDict({"Content-Type": "text/event-stream"})
            response.raw = Raw(self._chunks)
            response.url = request.url
            response.request = request
            return response

        def close(self) -> None:
            pass

    def end_of_stream() -> None:
        raise EndOfStream

    def run(chunks: list[bytes]) -> list[Any]:
        session = requests.Session()
        session.trust_env = False  # no proxy or netrc look-ups
        session.mount("http://", Adapter(chunks))
        events: list[Any] = []
        try:
            with EventSource(
                "http://bench.invalid/events", session=session, on_error=end_of_stream
            ) as source:
                events.extend(source)
        except EndOfStream:
            pass
        return events

    return run


@dataclass
class Library:
    """A contestant: a display name, the distribution it comes from, and its runner."""

    name: str
    dist: str
    make: Callable[[], Runner]
    runner: Runner | None = None
    unavailable: str | None = None

    def load(self) -> None:
        """Import the library; remember why not if it is not installed."""
        try:
            self.runner = self.make()
        except ImportError as exc:
            self.unavailable = f"not installed ({exc.name or exc})"


def libraries() -> list[Library]:
    """trio-sse first, then the peers."""
    libs = [
        Library("**trio-sse** SSEParser", "trio-sse", lambda: run_trio_sse),
        Library("httpx-sse EventSource (public API)", "httpx-sse", _httpx_sse_eventsource),
        Library("httpx-sse decoders (no httpx)", "httpx-sse", _httpx_sse_decoders),
        Library("sseclient-py SSEClient", "sseclient-py", _sseclient_py),
        Library("launchdarkly-eventsource reader", "launchdarkly-eventsource", _launchdarkly),
        Library("requests-sse EventSource", "requests-sse", _requests_sse),
    ]
    for lib in libs:
        lib.load()
    return libs


# -- measuring ----------------------------------------------------------------------------


@dataclass
class Outcome:
    """Best time of one library on one workload, or why it has none."""

    clock: str = "wall"  # which of the two times ranks the runs: "wall" or "cpu"
    wall_times: list[float] = field(default_factory=list)  # of the valid runs
    cpu_times: list[float] = field(default_factory=list)  # process CPU time, same runs
    problem: str | None = None  # "WRONG (...)" or "ERROR (...)"
    wrong_best: float | None = None  # best time of a WRONG run, for the notes only

    @property
    def times(self) -> list[float]:
        """The valid runs' times on the chosen clock."""
        return self.wall_times if self.clock == "wall" else self.cpu_times

    @property
    def best(self) -> float:
        """The best time of the valid runs."""
        return min(self.times, default=float("inf"))

    @property
    def spread(self) -> float:
        """How much slower the median run was than the best: a noise indicator."""
        return statistics.median(self.times) / self.best - 1 if self.times else 0.0

    @property
    def cpu_share(self) -> float:
        """CPU time / wall time of the best run; well under 100% means it was preempted."""
        if not self.times:
            return 0.0
        i = self.times.index(self.best)
        return self.cpu_times[i] / self.wall_times[i]


def check(events: list[Any], workload: Workload) -> str | None:
    """None if the output is right, else a short WRONG description."""
    if len(events) != workload.events:
        return f"WRONG ({len(events):,} events)"
    if events[0].data != workload.first_data:
        return "WRONG (data of the first event)"
    if events[-1].data != workload.last_data:
        return "WRONG (data of the last event)"
    return None


def measure(
    libs: list[Library], workload: Workload, repeat: int, clock: str = "wall"
) -> dict[str, Outcome]:
    """Run every available library ``repeat`` times (interleaved) and keep the times."""
    outcomes = {lib.name: Outcome(clock=clock) for lib in libs}
    gc.enable()
    for _ in range(repeat):
        for lib in libs:
            outcome = outcomes[lib.name]
            if lib.runner is None or (outcome.problem and outcome.problem.startswith("ERROR")):
                continue
            gc.collect()
            try:
                cpu_start = time.process_time()
                start = time.perf_counter()
                events = lib.runner(workload.chunks)
                elapsed = time.perf_counter() - start
                cpu = time.process_time() - cpu_start
            except Exception as exc:
                outcome.problem = f"ERROR ({type(exc).__name__}: {exc})"[:120]
                continue
            problem = check(events, workload)
            del events
            if problem:
                outcome.problem = problem
                ranked = elapsed if clock == "wall" else cpu
                outcome.wrong_best = min(outcome.wrong_best or ranked, ranked)
            else:
                outcome.wall_times.append(elapsed)
                outcome.cpu_times.append(cpu)
    return outcomes


def peak_memory(workload: Workload) -> int:
    """trio-sse's peak traced allocation while parsing, events dropped as they come."""
    gc.collect()
    tracemalloc.start()
    try:
        parser = SSEParser()
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        count = 0
        for chunk in workload.chunks:
            count += len(parser.feed(chunk))
        count += len(parser.feed_eof())
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    if count != workload.events:
        raise AssertionError(f"trio-sse produced {count} events, expected {workload.events}")
    return peak


# -- reporting ----------------------------------------------------------------------------


def _size(n: float) -> str:
    """A byte count for humans (KiB/MiB)."""
    if n >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    if n >= 2**10:
        return f"{n / 2**10:.1f} KiB"
    return f"{n:.0f} B"


def _cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    """Installed version of a distribution (trio-sse falls back to its __version__)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        if dist == "trio-sse":
            return trio_sse.__version__
        return "not installed"


def _source_state() -> str:
    """Which trio-sse code was measured: git commit, dirty flag, hash of the parser files."""
    root = Path(trio_sse.__file__).parent
    digests = []
    for name in ("_parser.py", "_events.py"):
        try:
            digest = hashlib.sha256((root / name).read_bytes()).hexdigest()[:12]
        except OSError:
            continue
        digests.append(f"{name} sha256 {digest}")
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%h"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        git = f"git {commit}" + (" + uncommitted changes in trio_sse/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        git = "not a git checkout"
    return f"{git}; " + ", ".join(digests)


def load_average() -> str:
    """The 1-minute load average (other work on the machine skews wall times)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def header(libs: list[Library], repeat: int, quick: bool, clock: str = "wall") -> str:
    """Machine, versions and method, as Markdown."""
    dists = dict.fromkeys(lib.dist for lib in libs)
    versions = ", ".join(f"{d} {_version(d)}" for d in dists)
    impl = platform.python_implementation()
    return "\n".join(
        [
            "## Parser throughput" + (" (--quick: sizes / 10)" if quick else ""),
            "",
            f"- Python: {impl} {platform.python_version()} ({platform.python_compiler()})",
            f"- Platform: {platform.platform()}",
            f"- CPU: {_cpu_model()} ({os.cpu_count()} logical CPUs); "
            f"load average at start: {load_average()}",
            f"- Libraries: {versions}, httpx {_version('httpx')}",
            f"- trio-sse source measured: {_source_state()}",
            f"- Method: best of {repeat} runs per case ("
            + ("wall time, time.perf_counter" if clock == "wall" else "CPU time, time.process_time")
            + "), libraries interleaved, gc enabled; "
            "chunks built before timing; each library turns the chunk list into a list of "
            "its event objects. MB = 10^6 bytes of stream. Noise columns: how much slower "
            "the median run was than the best, and the best run's CPU time / wall time "
            "(well under 100% = the process was preempted by other work).",
            "",
        ]
    )


def table(libs: list[Library], workload: Workload, outcomes: dict[str, Outcome]) -> str:
    """The Markdown table of one workload."""
    ours = outcomes[libs[0].name]
    valid_peers = [
        (outcomes[lib.name].best, lib.name)
        for lib in libs[1:]
        if outcomes[lib.name].problem is None and lib.runner is not None
    ]
    mb = workload.total_bytes / 1e6
    lines = [
        f"### {workload.key}: {workload.title}",
        "",
        f"{len(workload.chunks):,} chunks, {_size(workload.total_bytes)}, "
        f"largest event {_size(workload.largest_event)} on the wire.",
        "",
        "| library | events/s | MB/s | median run vs best | CPU / wall of best "
        "| trio-sse speed-up |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for lib in libs:
        outcome = outcomes[lib.name]
        if lib.unavailable:
            lines.append(f"| {lib.name} | {lib.unavailable} | | | | |")
            continue
        if outcome.problem:
            lines.append(f"| {lib.name} | {outcome.problem} | | | | |")
            continue
        speed = workload.events / outcome.best
        if lib is libs[0]:
            if valid_peers:
                best_peer, peer_name = min(valid_peers)
                ratio = f"**{best_peer / outcome.best:.2f}x** vs fastest peer ({peer_name})"
            else:
                ratio = "no valid peer"
        else:
            ratio = f"{outcome.best / ours.best:.2f}x" if ours.problem is None else "n/a"
        lines.append(
            f"| {lib.name} | {speed:,.0f} | {mb / outcome.best:,.1f} "
            f"| +{outcome.spread:.0%} | {outcome.cpu_share:.0%} | {ratio} |"
        )
    for lib in libs:
        outcome = outcomes[lib.name]
        if outcome.wrong_best is not None and ours.problem is None:
            lines.append("")
            lines.append(
                f"{lib.name} was {outcome.problem} and is not counted as a peer; its best "
                f"(wrong) run took {outcome.wrong_best * 1e3:.1f} ms, "
                f"trio-sse {ours.best * 1e3:.1f} ms "
                f"({outcome.wrong_best / ours.best:.2f}x)."
            )
    lines.append("")
    return "\n".join(lines)


@dataclass
class Summary:
    """One row of the closing summary table."""

    workload: Workload
    speedup: float | None
    peer: str
    peak: int


def summary(rows: list[Summary]) -> str:
    """Targets from the issue against what was measured."""
    lines = [
        "### Summary against the targets",
        "",
        "| workload | trio-sse vs fastest peer | target | met | trio-sse peak memory "
        "| largest event | largest chunk | peak / largest event |",
        "|---|---:|---:|:-:|---:|---:|---:|---:|",
    ]
    for row in rows:
        w = row.workload
        if row.speedup is None:
            vs, met = "n/a", "n/a"
        else:
            vs = f"{row.speedup:.2f}x ({row.peer})"
            met = "yes" if row.speedup >= w.target else "**no**"
        lines.append(
            f"| {w.key} | {vs} | {w.target:.1f}x | {met} | {_size(row.peak)} "
            f"| {_size(w.largest_event)} | {_size(w.largest_chunk)} "
            f"| {row.peak / w.largest_event:,.1f}x |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the parser benchmarks and print the Markdown report."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks parser")
    parser.add_argument("--quick", action="store_true", help="sizes / 10")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="rank runs by wall time (default) or by process CPU time, which is steadier "
        "on a machine shared with other work",
    )
    parser.add_argument(
        "--workload",
        action="append",
        choices=list(WORKLOADS),
        help="run only this workload (repeatable); default: all",
    )
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    libs = libraries()
    print(header(libs, args.repeat, args.quick, args.clock), flush=True)
    rows: list[Summary] = []
    status = 0
    for key in args.workload or list(WORKLOADS):
        print(f"[{key}] building workload", file=sys.stderr, flush=True)
        workload = WORKLOADS[key](scale)
        print(f"[{key}] timing", file=sys.stderr, flush=True)
        outcomes = measure(libs, workload, args.repeat, args.clock)
        print(f"[{key}] peak memory", file=sys.stderr, flush=True)
        peak = peak_memory(workload)
        print(table(libs, workload, outcomes), flush=True)
        ours = outcomes[libs[0].name]
        if ours.problem:
            status = 1
        peers = [
            (outcomes[lib.name].best, lib.name)
            for lib in libs[1:]
            if lib.runner is not None and outcomes[lib.name].problem is None
        ]
        if peers and ours.problem is None:
            best_peer, peer_name = min(peers)
            rows.append(Summary(workload, best_peer / ours.best, peer_name, peak))
        else:
            rows.append(Summary(workload, None, "", peak))
        del workload, outcomes
    print(summary(rows), flush=True)
    print(f"Load average at end: {load_average()}.\n", flush=True)
    return status
