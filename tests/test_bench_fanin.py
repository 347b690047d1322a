"""The fan-in benchmark's rounds: how the clients are interleaved, and how the rounds'
figures are summed up. The children themselves (peer libraries, thousands of sockets)
are not run here; these are the pure parts that turn their figures into the tables."""

from __future__ import annotations

from typing import Any

from benchmarks.bench_fanin import (
    PEER,
    Result,
    median_result,
    paired_ratios,
    round_orders,
    rounds_table,
    table,
)


def figures(cpu_pct: float, p99_ms: float = 1.0) -> dict[str, Any]:
    """A child's report, as Probe.report gives it."""
    return {
        "k": 1000,
        "open_s": 1.0,
        "rss_per_stream_kib": 14.0,
        "rss_after_per_stream_kib": 15.0,
        "cpu_pct": cpu_pct,
        "cpu_us_per_event": cpu_pct * 10,
        "events": 30_000,
        "expected": 30_000,
        "p50_ms": 0.5,
        "p99_ms": p99_ms,
        "max_ms": 9.0,
        "collections": 0,
        "full_collections": 0,
        "collecting_ms": 0.0,
    }


def test_rounds_alternate_the_order_of_the_clients() -> None:
    clients = ["trio-sse", PEER, "Trio alone"]
    assert round_orders(clients, 4) == [clients, clients[::-1], clients, clients[::-1]]
    assert round_orders(clients, 1) == [clients]
    assert clients == ["trio-sse", PEER, "Trio alone"]  # the caller's list is left alone


def test_each_figure_is_its_median_over_the_rounds_that_gave_figures() -> None:
    runs: list[Result] = [figures(10.0, 3.0), "timed out", figures(30.0, 90.0), figures(12.0, 4.0)]
    summary = median_result(runs)
    assert isinstance(summary, dict)
    assert summary["cpu_pct"] == 12.0  # not the mean (17.3), not the first round's
    assert summary["p99_ms"] == 4.0
    assert median_result(["timed out", "failed: x"]) == "timed out"


def test_ratios_are_paired_within_each_round() -> None:
    """A slow stretch that doubles both clients' CPU in round 2 leaves its ratio alone."""
    runs: dict[tuple[int, str], list[Result]] = {
        (1000, "trio-sse"): [figures(12.0), figures(24.0), "timed out", figures(11.0)],
        (1000, PEER): [figures(10.0), figures(20.0), figures(10.0), "failed: y"],
    }
    assert paired_ratios(runs, 1000, "trio-sse") == [1.2, 1.2]
    assert paired_ratios(runs, 3000, "trio-sse") == []


def test_the_rounds_table_gives_each_round_and_the_median_ratio() -> None:
    clients = ["trio-sse", PEER]
    orders = round_orders(clients, 3)
    runs: dict[tuple[int, str], list[Result]] = {
        (1000, "trio-sse"): [figures(11.0), figures(15.0, 91.0), figures(13.0)],
        (1000, PEER): [figures(10.0), figures(10.0), figures(10.0)],
    }
    lines = rounds_table(runs, orders)
    assert lines[0] == (f"| streams | round | first | trio-sse | {PEER} | trio-sse / {PEER} |")
    assert lines[2] == "| 1,000 | 1 | trio-sse | 110 µs, p99 1.0 ms | 100 µs, p99 1.0 ms | 1.10x |"
    assert lines[3] == f"| 1,000 | 2 | {PEER} | 150 µs, p99 91.0 ms | 100 µs, p99 1.0 ms | 1.50x |"
    assert lines[-1] == "| 1,000 | median (range) | | | | 1.30x (1.10x–1.50x) |"


def test_the_summary_table_shows_the_ratio_it_is_given() -> None:
    """With rounds, the peer's row shows the median of the paired ratios, not the ratio
    of the medians."""
    results: dict[tuple[int, str], Result] = {
        (1000, "trio-sse"): figures(13.0),
        (1000, PEER): figures(10.0),
    }
    (peer_row,) = [line for line in table(results) if f"| {PEER} |" in line]
    assert "(trio-sse: 1.30x)" in peer_row
    (peer_row,) = [
        line for line in table(results, ratios={(1000, "trio-sse"): 1.25}) if f"| {PEER} |" in line
    ]
    assert "(trio-sse: 1.25x)" in peer_row
