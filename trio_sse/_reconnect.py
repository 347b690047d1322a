"""Sans-IO reconnection policy: whether to try again, and after how long.

The session reports what happened (a stream opened, a connection was lost or failed)
with the current time, and asks for the next delay; the policy never sleeps. That
keeps every timing rule testable with plain numbers.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import random
from dataclasses import dataclass, field

__all__ = ["ExponentialBackoff", "ReconnectPolicy", "parse_retry_after"]

# Retry-After values beyond this are clamped: a server asking for days is asking us to stop,
# but a typo must not put a session to sleep for ever.
MAX_RETRY_AFTER = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class ExponentialBackoff:
    """Exponential backoff with full jitter, for servers that struggle under reconnect storms.

    The n-th consecutive reconnection waits a random time in ``[0, min(maximum,
    base * multiplier ** (n - 1))]``, where ``base`` is the current reconnection time
    (``reconnection_time`` or the server's ``retry:``). The exponent returns to zero once
    a connection has stayed open for ``reset_after`` seconds, so one hiccup after an
    hour of streaming does not inherit an old outage's long delay.
    """

    multiplier: float = 2.0
    maximum: float = 30.0
    reset_after: float = 60.0
    rng: random.Random | None = field(default=None, compare=False, repr=False)
    """The source of jitter; pass ``random.Random(seed)`` for reproducible delays."""

    def __post_init__(self) -> None:
        if not self.multiplier >= 1.0:
            raise ValueError("ExponentialBackoff.multiplier must be >= 1")
        if not self.maximum >= 0.0:
            raise ValueError("ExponentialBackoff.maximum must be >= 0")
        if not self.reset_after >= 0.0:
            raise ValueError("ExponentialBackoff.reset_after must be >= 0")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date).

    ``now`` is the wall-clock time (``time.time()``) used for dates. Unparsable values
    give None: a malformed hint falls back to the normal delay rather than failing.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:  # asctime dates (and "-0000") carry no zone: HTTP dates are GMT
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = when.timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None  # the server's hint is malformed (or absurd): use the normal delay
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


class ReconnectPolicy:
    """Counts consecutive failed reconnection attempts and picks each delay.

    ``max_attempts`` is the number of reconnection attempts allowed per outage
    (0 = never reconnect, None = no limit). An outage starts when a stream is lost
    or a connection attempt fails and ends when a stream opens again.
    """

    __slots__ = (
        "_backoff",
        "_backoff_exponent",
        "_opened_at",
        "_random",
        "attempts",
        "max_attempts",
        "reconnection_time",
    )

    def __init__(
        self,
        *,
        reconnection_time: float,
        max_attempts: int | None,
        backoff: ExponentialBackoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.reconnection_time = reconnection_time
        self.max_attempts = max_attempts
        self.attempts = 0
        self._backoff = backoff
        self._backoff_exponent = 0
        self._opened_at: float | None = None
        self._random = rng or (backoff.rng if backoff is not None else None) or random.Random()

    @property
    def enabled(self) -> bool:
        return self.max_attempts is None or self.max_attempts > 0

    def set_server_retry(self, retry_ms: int | None) -> None:
        """The server's ``retry:`` replaces the reconnection time for the rest of the session."""
        if retry_ms is not None:
            self.reconnection_time = retry_ms / 1000.0

    def stream_opened(self, now: float) -> None:
        """A stream is open: the outage, if any, is over."""
        self.attempts = 0
        self._opened_at = now

    def next_delay(self, now: float, retry_after: float | None = None) -> float | None:
        """Delay before the next attempt, or None when no attempt is left.

        Counts the attempt it schedules. ``retry_after`` (from a 429/503 response) is a
        floor: the server knows best when it will be ready again.
        """
        if self._opened_at is not None:
            if self._backoff is not None and now - self._opened_at >= self._backoff.reset_after:
                self._backoff_exponent = 0
            self._opened_at = None
        if self.max_attempts is not None and self.attempts >= self.max_attempts:
            return None
        self.attempts += 1
        delay = self._base_delay()
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def _base_delay(self) -> float:
        base = self.reconnection_time
        backoff = self._backoff
        if backoff is None:
            return base
        exponent = self._backoff_exponent
        self._backoff_exponent = min(exponent + 1, 64)  # the ceiling is capped long before this
        try:
            ceiling = base * backoff.multiplier**exponent
        except OverflowError:
            ceiling = math.inf
        return self._random.uniform(0.0, min(backoff.maximum, ceiling))
