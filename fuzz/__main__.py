"""``python -m fuzz [seconds]``: fuzz the parser for a time budget (default 60 s).

Hypothesis runs in batches of ``--batch`` examples until the budget is spent; each batch
draws fresh random data. On a failure hypothesis shrinks it, prints the falsifying
example and a ``@reproduce_failure`` blob, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from fuzz import fuzz_parser


def main(argv: list[str] | None = None) -> int:
    """Run batches until the deadline; print a one-line summary; 0 if nothing failed."""
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("seconds", nargs="?", type=float, default=60.0, help="time budget")
    parser.add_argument("--batch", type=int, default=500, help="examples per hypothesis run")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first batch")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.batch <= 0:
        parser.error("seconds and --batch must be positive")

    stats = fuzz_parser.STATS
    start = time.monotonic()
    stats.deadline = start + args.seconds
    batches = 0
    try:
        while time.monotonic() < stats.deadline:
            seed = None if args.seed is None else args.seed + batches
            fuzz_parser.parser_fuzz_test(args.batch, seed)()
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
