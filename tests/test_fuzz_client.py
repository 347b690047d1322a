"""The whole-client fuzz target (fuzz/fuzz_client.py), a few seeded examples so that
the suite covers it and it cannot rot; ``python -m fuzz`` runs it for real."""

from __future__ import annotations

import gzip
import math

import pytest

import fuzz.fuzz_client
from fuzz.fuzz_client import STATS, Example, Response, client_fuzz_test, run_example

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"


@pytest.fixture(autouse=True)
def no_cpu_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite asserts no timings: tests/test_limits.py checks the checkpoints
    deterministically; the fuzz run keeps the CPU-time starvation limit."""
    monkeypatch.setattr(fuzz.fuzz_client, "STARVATION_LIMIT", math.inf)


def test_client_fuzz_target_runs() -> None:
    before = STATS.examples
    client_fuzz_test(6, seed_value=1)()
    assert STATS.examples > before


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (Response(OK_HEAD + b"\r\ndata: a\n\n", (20, 40), None, "close"), "clean end"),
        (
            Response(OK_HEAD + b"Content-Length: 99\r\n\r\ndata: a\n\n", (), None, "close"),
            "SSEConnectionError",
        ),
        (
            Response(
                OK_HEAD
                + b"Content-Encoding: gzip\r\n\r\n"
                + gzip.compress(b"\n" * 2**20 + b"data: x\n\n"),
                (),
                None,
                "hang",
            ),
            "SSETimeoutError",
        ),
        (
            Response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", (), None, "reset"
            ),
            "SSEResponseError",
        ),
        (Response(b"\x00garbage\r\n\r\n", (), None, "hang"), "SSEProtocolError"),
    ],
)
def test_hand_picked_examples_keep_the_invariants(response: Response, outcome: str) -> None:
    """A clean end, a short body, a gzip bomb of blank lines then silence, a wrong
    Content-Type, a garbage head: each ends as expected with every invariant held."""
    example = Example((response,), 0.0, 0, False, None, False, False)
    assert run_example(example) == outcome
