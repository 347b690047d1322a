"""The fan-in benchmark's rounds: how the clients are interleaved, and how the rounds'
figures are summed up. The children themselves (peer libraries, thousands of sockets)
are not run here (the last test replaces them): these are the parts that order the
children and turn their figures into the tables."""

from __future__ import annotations

import math
from typing import Any

import pytest

from benchmarks.bench_fanin import (
    PEER,
    TRIO_ALONE,
    Result,
    median_ratios,
    median_result,
    paired_ratios,
    round_orders,
    rounds_table,
    run_rounds,
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
    clients = ["trio-sse", PEER, TRIO_ALONE]
    orders = round_orders(clients, 3)
    runs: dict[tuple[int, str], list[Result]] = {
        (1000, "trio-sse"): [figures(11.0), figures(15.0, 91.0), figures(12.0)],
        (1000, PEER): [figures(10.0), figures(10.0), figures(10.0)],
        (1000, TRIO_ALONE): [figures(9.0), "timed out", figures(8.0)],
    }
    lines = rounds_table(runs, orders)
    assert lines[0] == (
        f"| streams | round | first | trio-sse | {PEER} | {TRIO_ALONE} "
        f"| trio-sse / {PEER} | {TRIO_ALONE} / {PEER} |"
    )
    assert lines[2] == (
        "| 1,000 | 1 | trio-sse | 110 µs, p99 1.0 ms | 100 µs, p99 1.0 ms "
        "| 90 µs, p99 1.0 ms | 1.10x | 0.90x |"
    )
    assert lines[3] == (
        f"| 1,000 | 2 | {TRIO_ALONE} | 150 µs, p99 91.0 ms | 100 µs, p99 1.0 ms "
        "| timed out | 1.50x | — |"
    )
    # The median (1.20x), not the mean (1.27x), of 1.10x, 1.50x and 1.20x.
    assert (
        lines[-1]
        == "| 1,000 | median (range) | | | | | 1.20x (1.10x–1.50x) | 0.85x (0.80x–0.90x) |"
    )
    # Every row has the header's cells, the separator included.
    assert {line.count("|") for line in lines} == {lines[0].count("|")}


def test_the_rounds_table_gives_cpu_per_ping_with_pings() -> None:
    runs: dict[tuple[int, str], list[Result]] = {(1000, "trio-sse"): [figures(2.0)]}
    lines = rounds_table(runs, [["trio-sse"]], pings=True)
    assert lines[2] == "| 1,000 | 1 | trio-sse | 20.0 µs / ping |"


def test_counts_stay_counts_and_missing_figures_stay_out_of_medians() -> None:
    first, second = figures(10.0), figures(20.0)
    first.update(collections=3, full_collections=1, p99_ms=math.nan)
    second.update(collections=4, full_collections=2, p99_ms=2.0)
    summary = median_result([first, second])
    assert isinstance(summary, dict)
    assert (summary["collections"], summary["full_collections"]) == (3, 1)  # not 3.5 and 1.5
    assert summary["cpu_pct"] == 15.0
    third = figures(30.0, 1.0)
    for runs in ([first, second, third], [second, first, third]):
        summary = median_result(list(runs))
        assert isinstance(summary, dict)
        assert summary["p99_ms"] == 1.5  # whichever round gave no delays
    nothing = figures(10.0, math.nan)
    summary = median_result([nothing, nothing])
    assert isinstance(summary, dict)
    assert math.isnan(summary["p99_ms"])


def test_rounds_run_every_client_interleaved_and_ratios_are_paired() -> None:
    calls: list[tuple[int, str, str]] = []
    cpu = iter([11.0, 10.0, 20.0, 24.0, 15.0, 10.0] + [5.0] * 6)  # in the order they run

    def measure_one(k: int, client: str, progress: str) -> Result:
        calls.append((k, client, progress))
        return figures(next(cpu))

    orders, runs = run_rounds([1000, 3000], ["trio-sse", PEER], 3, measure_one)
    assert orders == [["trio-sse", PEER], [PEER, "trio-sse"], ["trio-sse", PEER]]
    assert calls[:6] == [
        (1000, "trio-sse", ", round 1 of 3"),
        (1000, PEER, ", round 1 of 3"),
        (1000, PEER, ", round 2 of 3"),
        (1000, "trio-sse", ", round 2 of 3"),
        (1000, "trio-sse", ", round 3 of 3"),
        (1000, PEER, ", round 3 of 3"),
    ]
    assert [k for k, _, _ in calls] == [1000] * 6 + [3000] * 6
    # Paired within each round: 11/10, 24/20, 15/10; their median, not the ratio of
    # the medians (15 / 10).
    assert paired_ratios(runs, 1000, "trio-sse") == [1.1, 1.2, 1.5]
    assert median_ratios(runs)[(1000, "trio-sse")] == 1.2
    _, once = run_rounds([1000], [PEER], 1, lambda k, client, progress: progress)
    assert once == {(1000, PEER): [""]}  # one round: no round in the progress line


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


class _NoServer:
    def kill(self) -> None:
        pass

    def wait(self) -> None:
        pass


def test_the_command_interleaves_and_reports_the_median_paired_ratio(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole command, its children replaced: a repeated --client or --streams runs
    once a round, and the summary's ratio is the median of the rounds' ratios."""
    import benchmarks.bench_fanin as fanin

    cpu = iter([11.0, 10.0, 20.0, 24.0, 15.0, 10.0])
    ran: list[str] = []

    def measure(client: str, url: str, k: int, window: float, stall: float) -> Result:
        ran.append(client)
        return figures(next(cpu))

    monkeypatch.setattr(fanin, "start_server", lambda: (_NoServer(), 1))
    monkeypatch.setattr(fanin, "measure", measure)
    argv = ["--streams", "1000", "--rounds", "3", "--client", "trio-sse", "--client", PEER]
    assert fanin.main([*argv, "--client", "trio-sse", "--streams", "1000"]) == 0
    assert ran == ["trio-sse", PEER, PEER, "trio-sse", "trio-sse", PEER]
    out = capsys.readouterr().out
    assert f"| 1,000 | {PEER} |" in out
    assert "(trio-sse: 1.20x)" in out  # not 1.50x, the ratio of the median CPUs
    assert "median of 3 rounds" in out
    assert "| 1,000 | median (range) | | | | 1.20x (1.10x–1.50x) |" in out


def test_the_command_interleaves_by_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --rounds the command measures as issue 7 does, the clients interleaved
    over three rounds of 30 s windows (one round of 5 s with --quick): one pair of runs
    is no measure on a shared machine."""
    import benchmarks.bench_fanin as fanin

    ran: list[tuple[str, float]] = []

    def measure(client: str, url: str, k: int, window: float, stall: float) -> Result:
        ran.append((client, window))
        return figures(10.0)

    monkeypatch.setattr(fanin, "start_server", lambda: (_NoServer(), 1))
    monkeypatch.setattr(fanin, "measure", measure)
    assert fanin.main(["--streams", "1000", "--client", "trio-sse", "--client", PEER]) == 0
    order = ["trio-sse", PEER, PEER, "trio-sse", "trio-sse", PEER]
    assert ran == [(client, 30.0) for client in order]
    assert "median of 3 rounds" in capsys.readouterr().out
    ran.clear()
    assert fanin.main(["--quick", "--streams", "300", "--client", PEER]) == 0
    assert ran == [(PEER, 5.0)]
