"""``python -m fuzz [seconds]``: fuzz the parser, the body framing and the whole client
for a time budget (default 60 s: FRAMING_SHARE of it for the framing, CLIENT_SHARE for
the client against a hostile loopback server; ``--target`` picks one).

Hypothesis runs in batches of ``--batch`` examples until the budget is spent; each batch
draws fresh random data. On a failure hypothesis shrinks it, prints the falsifying
example and a ``@reproduce_failure`` blob, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from fuzz import fuzz_client, fuzz_framing, fuzz_parser

#: The parts of the budget given to the framing and client targets when all run.
FRAMING_SHARE = 0.25
CLIENT_SHARE = 0.25


def main(argv: list[str] | None = None) -> int:
    """Run batches until the deadline; print a one-line summary; 0 if nothing failed."""
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("seconds", nargs="?", type=float, default=60.0, help="time budget")
    parser.add_argument("--batch", type=int, default=500, help="examples per hypothesis run")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first batch")
    parser.add_argument("--target", choices=["all", "parser", "framing", "client"], default="all")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.batch <= 0:
        parser.error("seconds and --batch must be positive")
    shares = {
        "all": (1.0 - FRAMING_SHARE - CLIENT_SHARE, FRAMING_SHARE, CLIENT_SHARE),
        "parser": (1.0, 0.0, 0.0),
        "framing": (0.0, 1.0, 0.0),
        "client": (0.0, 0.0, 1.0),
    }[args.target]
    status = 0
    if shares[0]:
        status |= fuzz_the_parser(args.seconds * shares[0], args.batch, args.seed)
    if shares[1]:
        status |= fuzz_the_framing(args.seconds * shares[1], args.batch, args.seed)
    if shares[2]:
        status |= fuzz_the_client(args.seconds * shares[2], args.seed)
    return status


def run_target(
    name: str,
    stats: Any,
    make_test: Callable[[int, int | None], Callable[[], None]],
    seconds: float,
    batch: int,
    first_seed: int | None,
    summary: Callable[[], str],
) -> int:
    """Run ``make_test(batch, seed)()`` batches of one target until ``seconds`` are spent
    (the target stops a batch early at ``stats.deadline``); print one line; 0 if nothing
    failed. Each batch gets the next seed, so a seeded run is reproducible."""
    start = time.monotonic()
    stats.deadline = start + seconds
    batches = 0
    try:
        while time.monotonic() < stats.deadline:
            seed = None if first_seed is None else first_seed + batches
            make_test(batch, seed)()
            batches += 1
    except Exception:
        traceback.print_exc()
        elapsed = time.monotonic() - start
        print(f"{name}: FAILED after {stats.examples} examples in {elapsed:.1f} seconds")
        return 1
    elapsed = time.monotonic() - start
    print(f"{name}: {stats.examples} examples in {elapsed:.1f} seconds, 0 failures{summary()}")
    return 0


def fuzz_the_client(seconds: float, first_seed: int | None) -> int:
    """The whole-client target (fuzz/fuzz_client.py). Examples run against real sockets
    (up to a second or so each), so batches are small."""
    stats = fuzz_client.STATS

    def summary() -> str:
        outcomes = ", ".join(f"{n} {kind}" for kind, n in sorted(stats.outcomes.items()))
        return (
            f" ({outcomes}; {stats.connections} connections, {stats.events} events, "
            f"worst starvation {stats.worst_starvation * 1000:.1f} ms of CPU, "
            f"peak RSS {stats.peak_rss / 2**20:.0f} MiB)"
        )

    return run_target(
        "fuzz client", stats, fuzz_client.client_fuzz_test, seconds, 50, first_seed, summary
    )


def fuzz_the_framing(seconds: float, batch: int, first_seed: int | None) -> int:
    """The framing target (fuzz/fuzz_framing.py): our body decoder against h11."""
    stats = fuzz_framing.STATS

    def summary() -> str:
        outcomes = ", ".join(f"{n} {kind}" for kind, n in sorted((stats.outcomes or {}).items()))
        return f", same as h11 ({outcomes}; {stats.bytes_fed / 1024:.0f} KiB fed)"

    return run_target(
        "fuzz framing", stats, fuzz_framing.framing_fuzz_test, seconds, batch, first_seed, summary
    )


def fuzz_the_parser(seconds: float, batch: int, first_seed: int | None) -> int:
    """The parser target (fuzz/fuzz_parser.py)."""
    stats = fuzz_parser.STATS

    def summary() -> str:
        return (
            f" ({stats.feeds} feeds, {stats.bytes_fed / 2**20:.1f} MiB, {stats.events} events, "
            f"{stats.protocol_errors} protocol errors, peak feed {stats.peak_bytes / 1024:.0f} "
            f"KiB, at most {stats.worst_ratio:.0%} of the memory bound)"
        )

    return run_target(
        "fuzz", stats, fuzz_parser.parser_fuzz_test, seconds, batch, first_seed, summary
    )


if __name__ == "__main__":
    sys.exit(main())
