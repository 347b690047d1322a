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


def fuzz_the_client(seconds: float, first_seed: int | None) -> int:
    """The whole-client target (fuzz/fuzz_client.py) for ``seconds``; 0 if nothing failed.

    Examples run against real sockets (up to a second or so each), so batches are small."""
    stats = fuzz_client.STATS
    start = time.monotonic()
    stats.deadline = start + seconds
    batches = 0
    try:
        while time.monotonic() < stats.deadline:
            seed = None if first_seed is None else first_seed + batches
            fuzz_client.client_fuzz_test(50, seed)()
            batches += 1
    except Exception:
        traceback.print_exc()
        elapsed = time.monotonic() - start
        print(f"fuzz client: FAILED after {stats.examples} examples in {elapsed:.1f} seconds")
        return 1
    elapsed = time.monotonic() - start
    outcomes = ", ".join(f"{n} {kind}" for kind, n in sorted(stats.outcomes.items()))
    print(
        f"fuzz client: {stats.examples} examples in {elapsed:.1f} seconds, 0 failures "
        f"({outcomes}; {stats.connections} connections, {stats.events} events, "
        f"worst starvation {stats.worst_starvation * 1000:.1f} ms of CPU, "
        f"peak RSS {stats.peak_rss / 2**20:.0f} MiB)"
    )
    return 0


def fuzz_the_framing(seconds: float, batch: int, first_seed: int | None) -> int:
    """The framing target (fuzz/fuzz_framing.py) for ``seconds``; 0 if nothing failed."""
    stats = fuzz_framing.STATS
    start = time.monotonic()
    stats.deadline = start + seconds
    batches = 0
    try:
        while time.monotonic() < stats.deadline:
            seed = None if first_seed is None else first_seed + batches
            fuzz_framing.framing_fuzz_test(batch, seed)()
            batches += 1
    except Exception:
        traceback.print_exc()
        elapsed = time.monotonic() - start
        print(f"fuzz framing: FAILED after {stats.examples} examples in {elapsed:.1f} seconds")
        return 1
    elapsed = time.monotonic() - start
    outcomes = ", ".join(f"{n} {kind}" for kind, n in sorted((stats.outcomes or {}).items()))
    print(
        f"fuzz framing: {stats.examples} examples in {elapsed:.1f} seconds, 0 failures, "
        f"same as h11 ({outcomes}; {stats.bytes_fed / 1024:.0f} KiB fed)"
    )
    return 0


def fuzz_the_parser(seconds: float, batch: int, first_seed: int | None) -> int:
    """The parser target (fuzz/fuzz_parser.py) for ``seconds``; 0 if nothing failed."""
    stats = fuzz_parser.STATS
    start = time.monotonic()
    stats.deadline = start + seconds
    batches = 0
    try:
        while time.monotonic() < stats.deadline:
            seed = None if first_seed is None else first_seed + batches
            fuzz_parser.parser_fuzz_test(batch, seed)()
            batches += 1
    except Exception:
        traceback.print_exc()
        elapsed = time.monotonic() - start
        print(f"fuzz: FAILED after {stats.examples} examples in {elapsed:.1f} seconds")
        return 1
    elapsed = time.monotonic() - start
    print(
        f"fuzz: {stats.examples} examples in {elapsed:.1f} seconds, 0 failures "
        f"({stats.feeds} feeds, {stats.bytes_fed / 2**20:.1f} MiB, {stats.events} events, "
        f"{stats.protocol_errors} protocol errors, peak feed {stats.peak_bytes / 1024:.0f} KiB, "
        f"at most {stats.worst_ratio:.0%} of the memory bound)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
