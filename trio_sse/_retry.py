"""Sans-IO records of a session's connection failures, for the observers and deciders
outside the session: what failed, how many times in a row, and for how long the stream
has been unhealthy.

:class:`Outage` keeps that count with the same rule as the reconnect policy: an outage
starts at the first failure after a healthy stream and ends when a stream delivers an
event or stays open ``HEALTHY_STREAM_TIME``. Times are plain numbers (``trio.current_time()``
in the session), so every rule is tested without a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._exceptions import SSEError, SSEResponseError
from ._reconnect import HEALTHY_STREAM_TIME
from ._response import SSEResponse

__all__ = ["ConnectionFailure", "Outage", "RetryStrategy"]


@dataclass(frozen=True, slots=True)
class ConnectionFailure:
    """One failed connection attempt or lost stream.

    ``error`` is what the session would raise for it (a lost stream that ended cleanly
    is an SSEConnectionError saying so); ``response`` is the refusing response head, if
    the server answered; ``attempt`` counts the failures in a row of this outage, this
    one included (1 = the stream was healthy until now); ``unhealthy_for`` is the time
    in seconds since the stream was last healthy (or since the session started, if it
    never was); ``retry_after`` is the server's Retry-After in seconds, if it sent one;
    ``retryable`` says whether the built-in policy retries this kind of failure at all
    (network failures, lost streams, 408/429/5xx: yes; other statuses, certificates,
    malformed HTTP: no).
    """

    error: SSEError
    response: SSEResponse | None
    attempt: int
    unhealthy_for: float
    retry_after: float | None = None
    retryable: bool = True


RetryStrategy = Callable[[ConnectionFailure, "float | None"], "float | None"]
"""``retry_strategy(failure, delay) -> float | None``: the last word on every failure.

``delay`` is what the built-in policy proposes (reconnection_time or the server's
``retry:``, backoff, Retry-After, max_reconnection_attempts; None when it would stop).
Return None to stop (the session raises the failure), 0 to retry at once, or the
seconds to wait. Runs in the reader task: a plain function that returns at once.
"""


class Outage:
    """Counts failures in a row and remembers since when the stream is unhealthy."""

    __slots__ = ("_opened_at", "_since", "failures")

    def __init__(self, now: float) -> None:
        self.failures = 0
        self._since = now  # unhealthy from the start: no stream has proved itself yet
        self._opened_at: float | None = None

    def stream_opened(self, now: float) -> None:
        self._opened_at = now

    def healthy(self) -> None:
        """The open stream delivered an event: its loss will start a new outage."""
        self.failures = 0

    def failed(
        self,
        error: SSEError,
        now: float,
        retry_after: float | None = None,
        *,
        retryable: bool = True,
    ) -> ConnectionFailure:
        """Record a failure (or a lost stream) at ``now`` and describe it."""
        if self._opened_at is not None:
            if now - self._opened_at >= HEALTHY_STREAM_TIME:
                self.failures = 0
            if self.failures == 0:
                self._since = now  # healthy until this very loss
            self._opened_at = None
        self.failures += 1
        response = error.response if isinstance(error, SSEResponseError) else None
        unhealthy_for = now - self._since
        return ConnectionFailure(
            error, response, self.failures, unhealthy_for, retry_after, retryable
        )
