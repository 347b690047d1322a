"""Chaos: ids 1..N through hundreds of random faults; every id must arrive once, in order.

The harness (tests/harness) serves the log and resumes from Last-Event-ID, while each
connection is dropped (truncated body), reset (TCP RST) or cleanly closed at a random
byte offset -- mid-event and mid-UTF-8 character included -- or answered with
503 + Retry-After: 0. The consumer checks every event against the generated log.

CI size by default; a long run: ``TRIO_SSE_CHAOS_EVENTS=10000 TRIO_SSE_CHAOS_FAULTS=1000
pytest tests/test_chaos.py -s`` (TRIO_SSE_CHAOS_SEED picks the first seed), or
``python -m fuzz.chaos``. The figures are printed (``-s`` shows them) and are in the
failure message.
"""

from __future__ import annotations

import os

import pytest
import trio

from tests.harness import ChaosReport, open_harness, run_chaos

EVENTS = int(os.environ.get("TRIO_SSE_CHAOS_EVENTS", "2000"))
FAULTS = int(os.environ.get("TRIO_SSE_CHAOS_FAULTS", "200"))
SEED = int(os.environ.get("TRIO_SSE_CHAOS_SEED", "20240611"))
TIME_LIMIT = 60 + EVENTS / 200 + FAULTS / 20  # seconds of real time: a hang guard only


def check(report: ChaosReport) -> None:
    print(report.summary())
    assert report.ok, report.summary()
    assert report.received == report.events, report.summary()
    assert report.faults_injected == report.faults_planned, report.summary()


@pytest.mark.parametrize("seed", [SEED, SEED + 1], ids=lambda seed: f"seed={seed}")
async def test_every_id_exactly_once_in_order_through_random_faults(seed: int) -> None:
    async with open_harness() as harness:
        with trio.fail_after(TIME_LIMIT):
            report = await run_chaos(harness, events=EVENTS, faults=FAULTS, seed=seed)
    check(report)
    by_kind = report.faults_by_kind
    assert set(by_kind) == {"drop", "reset", "close", "status"}, report.summary()
    assert report.faults_mid_event > FAULTS // 2, report.summary()
    assert report.faults_mid_character > 0, report.summary()
    assert report.reconnects == report.faults_injected + 1  # the last one gets 204


@pytest.mark.parametrize("kind", ["drop", "reset", "close"])
async def test_one_kind_of_fault_at_a_time(kind: str) -> None:
    """Each kind alone, with small writes, so cuts also fall on chunk boundaries."""
    events, faults = max(EVENTS // 4, 10), max(FAULTS // 4, 10)
    async with open_harness() as harness:
        with trio.fail_after(TIME_LIMIT):
            report = await run_chaos(
                harness, events=events, faults=faults, seed=SEED, kinds=[kind], write_size=97
            )
    check(report)
    assert report.faults_by_kind == {kind: faults}


async def test_close_delimited_bodies() -> None:
    """With framing="close" a drop is a clean EOF: the incomplete event is discarded."""
    events, faults = max(EVENTS // 4, 10), max(FAULTS // 4, 10)
    async with open_harness() as harness:
        with trio.fail_after(TIME_LIMIT):
            report = await run_chaos(
                harness,
                events=events,
                faults=faults,
                seed=SEED,
                kinds=["drop", "reset"],
                framing="close",
            )
    check(report)
