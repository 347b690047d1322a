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
from typing import Protocol, runtime_checkable

__all__ = [
    "HEALTHY_STREAM_TIME",
    "MAX_RETRY_AFTER",
    "MIN_RECONNECTION_DELAY",
    "Backoff",
    "ExponentialBackoff",
    "ReconnectPolicy",
    "clamp_server_retry",
    "parse_retry_after",
]

# Retry-After and ``retry:`` values beyond this are clamped: a server asking for days is
# asking us to stop, but a typo must not put a session to sleep for ever.
MAX_RETRY_AFTER = 24 * 3600.0

# The least delay before a *repeated* attempt of an outage (Firefox keeps 0.5 s too): a
# server's ``retry: 0`` may make the first reconnect immediate, never a storm. A client
# configured with a smaller ``reconnection_time`` keeps its own, smaller floor.
MIN_RECONNECTION_DELAY = 0.5

# A stream open this long ends an outage even if it delivered no event (an idle stream
# with keep-alive comments is healthy); one that delivers an event ends it at once.
HEALTHY_STREAM_TIME = 30.0


@runtime_checkable
class Backoff(Protocol):
    """A delay schedule for the consecutive reconnections of an outage: ExponentialBackoff
    is one; any object with these two members plugs in (``SSEClient(backoff=...)``).

    ``delay(n, base, rng)`` is the wait before the ``n``-th consecutive reconnection
    (n = 1, 2, ...), given ``base``, the current reconnection time (``reconnection_time``
    or the server's ``retry:``), and the policy's random source (None: the random
    module's). The count ``n`` returns
    to 1 once a connection has stayed open ``reset_after`` seconds. The policy still
    applies its floor on repeats and any Retry-After on top.
    """

    @property
    def reset_after(self) -> float: ...

    def delay(self, n: int, base: float, rng: random.Random | None) -> float: ...


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

    def delay(self, n: int, base: float, rng: random.Random | None) -> float:
        """Full jitter: uniform in ``[0, min(maximum, base * multiplier ** (n - 1))]``,
        drawn from ``rng`` (None: the random module's shared generator)."""
        try:
            ceiling = base * self.multiplier ** min(n - 1, 64)  # capped long before this
        except OverflowError:
            ceiling = math.inf
        uniform = random.uniform if rng is None else rng.uniform
        return uniform(0.0, min(self.maximum, ceiling))


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
    or a connection attempt fails. It ends when a stream delivers an event (or stays
    open HEALTHY_STREAM_TIME): a stream that opens and ends empty is one more failed
    attempt, so a server answering 200 and closing at once cannot reconnect for ever.

    Every attempt after the first of an outage waits at least ``min_delay`` (default
    ``min(MIN_RECONNECTION_DELAY, reconnection_time)``), whatever ``retry:`` says.
    """

    __slots__ = (
        "_backoff",
        "_backoff_exponent",
        "_opened_at",
        "_random",
        "attempts",
        "max_attempts",
        "min_delay",
        "reconnection_time",
    )

    def __init__(
        self,
        *,
        reconnection_time: float,
        max_attempts: int | None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        min_delay: float | None = None,
    ) -> None:
        self.reconnection_time = min(reconnection_time, MAX_RETRY_AFTER)
        self.max_attempts = max_attempts
        if min_delay is None:
            min_delay = min(MIN_RECONNECTION_DELAY, self.reconnection_time)
        self.min_delay = min_delay
        self.attempts = 0
        self._backoff = backoff
        self._backoff_exponent = 0
        self._opened_at: float | None = None
        # No Random per policy: a session without backoff never draws, and the others
        # share the random module's generator unless they were given their own.
        own_rng = backoff.rng if isinstance(backoff, ExponentialBackoff) else None
        self._random = rng or own_rng

    @property
    def enabled(self) -> bool:
        return self.max_attempts is None or self.max_attempts > 0

    def set_server_retry(self, retry_ms: int | None) -> None:
        """The server's ``retry:`` replaces the reconnection time for the rest of the
        session, clamped to MAX_RETRY_AFTER (and raised to ``min_delay`` on repeats)."""
        if retry_ms is not None:
            self.reconnection_time = clamp_server_retry(retry_ms)

    def stream_opened(self, now: float) -> None:
        """A stream is open; the outage ends once it proves healthy (``event_delivered``)."""
        self._opened_at = now

    def event_delivered(self) -> None:
        """The open stream delivered an event: the outage, if any, is over."""
        self.attempts = 0

    def next_delay(self, now: float, retry_after: float | None = None) -> float | None:
        """Delay before the next attempt, or None when no attempt is left.

        Counts the attempt it schedules. ``retry_after`` (from a 429/503 response) is a
        floor: the server knows best when it will be ready again.
        """
        if self._opened_at is not None:
            open_for = now - self._opened_at
            if open_for >= HEALTHY_STREAM_TIME:
                self.attempts = 0
            if self._backoff is not None and open_for >= self._backoff.reset_after:
                self._backoff_exponent = 0
            self._opened_at = None
        if self.max_attempts is not None and self.attempts >= self.max_attempts:
            return None
        repeated = self.attempts > 0
        self.attempts += 1
        delay = self._base_delay()
        if repeated:
            delay = max(delay, self._floor())
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def _floor(self) -> float:
        if isinstance(self._backoff, ExponentialBackoff):
            return min(self.min_delay, self._backoff.maximum)
        return self.min_delay

    def _base_delay(self) -> float:
        base = self.reconnection_time
        backoff = self._backoff
        if backoff is None:
            return base
        exponent = self._backoff_exponent
        self._backoff_exponent = min(exponent + 1, 64)  # the ceiling is capped long before this
        # A base of 0 (``retry: 0``) would make every ceiling 0: grow from the floor instead.
        grow_from = max(base, self.min_delay) or MIN_RECONNECTION_DELAY
        return backoff.delay(exponent + 1, grow_from, self._random)


def clamp_server_retry(retry_ms: int) -> float:
    """Seconds for a ``retry:`` value (milliseconds), at most MAX_RETRY_AFTER."""
    if retry_ms >= MAX_RETRY_AFTER * 1000:  # compared as ints: 10**400 / 1000 overflows
        return MAX_RETRY_AFTER
    return retry_ms / 1000.0
