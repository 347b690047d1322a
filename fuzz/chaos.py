"""The chaos scenario at scale: ``python -m fuzz.chaos --events 10000 --faults 500``.

A fault-injecting harness (tests/harness) serves ids 1..EVENTS and resumes from
Last-Event-ID, while the connection is dropped, reset or cleanly closed at random byte
offsets (mid-event and mid-UTF-8 character included) and some requests get 503 with
Retry-After: 0. A reconnecting trio_sse consumer must see every id exactly once, in
order, with its data intact. Prints the figures; the exit status is 1 if anything was
lost, duplicated, reordered or corrupted.

``--control ws://HOST:PORT/control`` runs against a standalone harness
(``python -m tests.harness``) instead of an in-process one.
"""

from __future__ import annotations

import argparse
import random
import sys

import trio

from tests.harness.control import (
    CHAOS_KINDS,
    ChaosReport,
    Harness,
    connect_harness,
    open_harness,
    run_chaos,
)
from tests.harness.server import FAULT_KINDS


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fuzz.chaos", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--faults", type=int, default=500)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one (printed)")
    parser.add_argument("--runs", type=int, default=1, help="runs, with seeds SEED, SEED+1, ...")
    parser.add_argument(
        "--kinds",
        default=",".join(CHAOS_KINDS),
        help=f"comma-separated fault kinds out of {', '.join(FAULT_KINDS)}",
    )
    parser.add_argument("--max-offset", type=int, default=None, help="default: log size / faults")
    parser.add_argument("--write-size", type=int, default=4096)
    parser.add_argument("--control", default=None, help="a standalone harness's control URL")
    args = parser.parse_args(argv)
    args.kinds = [kind for kind in args.kinds.split(",") if kind]
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**32)
    return args


async def run(args: argparse.Namespace) -> list[ChaosReport]:
    async def scenario(harness: Harness) -> list[ChaosReport]:
        reports = []
        for seed in range(args.seed, args.seed + args.runs):
            print(f"chaos: seed {seed}, {args.events} events, {args.faults} faults", flush=True)
            report = await run_chaos(
                harness,
                events=args.events,
                faults=args.faults,
                seed=seed,
                kinds=args.kinds,
                max_offset=args.max_offset,
                write_size=args.write_size,
            )
            print(format_report(report), flush=True)
            reports.append(report)
        return reports

    if args.control is not None:
        async with connect_harness(args.control) as harness:
            return await scenario(harness)
    async with open_harness() as harness:
        return await scenario(harness)


def format_report(report: ChaosReport) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(report.faults_by_kind.items()))
    rows = [
        ("seed", report.seed),
        ("events", report.events),
        ("faults injected", f"{report.faults_injected} of {report.faults_planned} ({kinds})"),
        ("  mid-event", report.faults_mid_event),
        ("  mid-UTF-8 character", report.faults_mid_character),
        ("requests", report.requests),
        ("reconnects", report.reconnects),
        ("received", report.received),
        ("lost", report.lost),
        ("duplicated", report.duplicated),
        ("out of order", report.out_of_order),
        ("corrupted", report.corrupted),
        ("elapsed", f"{report.elapsed:.2f} s"),
        ("result", "OK" if report.ok else "FAILED"),
    ]
    return "\n".join(f"  {name:<22} {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reports = trio.run(run, args)
    return 0 if all(report.ok for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
