"""Sans-IO: the outage record behind ConnectionFailure (attempt, unhealthy_for)."""

from __future__ import annotations

from trio_sse import SSEConnectionError, SSEResponse, SSEResponseError
from trio_sse._headers import Headers
from trio_sse._reconnect import HEALTHY_STREAM_TIME
from trio_sse._retry import Outage

LOST = SSEConnectionError("lost")


def test_failures_in_a_row_and_since_when() -> None:
    outage = Outage(now=100.0)
    first = outage.failed(LOST, 101.0)
    assert (first.attempt, first.unhealthy_for) == (1, 1.0)  # never healthy: since the start
    second = outage.failed(LOST, 105.0, retry_after=7.0)
    assert (second.attempt, second.unhealthy_for, second.retry_after) == (2, 5.0, 7.0)


def test_an_event_ends_the_outage_and_the_loss_starts_a_new_one() -> None:
    outage = Outage(now=0.0)
    outage.failed(LOST, 1.0)
    outage.stream_opened(2.0)
    outage.healthy()
    lost = outage.failed(LOST, 50.0)
    assert (lost.attempt, lost.unhealthy_for) == (1, 0.0)
    again = outage.failed(LOST, 53.0)
    assert (again.attempt, again.unhealthy_for) == (2, 3.0)


def test_a_stream_open_long_enough_is_healthy_without_events() -> None:
    outage = Outage(now=0.0)
    outage.failed(LOST, 1.0)
    outage.stream_opened(2.0)
    assert outage.failed(LOST, 2.0 + HEALTHY_STREAM_TIME).attempt == 1
    outage.stream_opened(40.0)
    assert outage.failed(LOST, 41.0).attempt == 2  # opened and lost at once: still failing


def test_the_refusing_response_is_kept() -> None:
    response = SSEResponse(503, "Service Unavailable", "1.1", Headers(), "http://x/")
    failure = Outage(now=0.0).failed(SSEResponseError("busy", response), 0.0)
    assert failure.response is response
    assert Outage(now=0.0).failed(LOST, 0.0).response is None
