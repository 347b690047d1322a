"""The sans-IO reconnection policy and Retry-After parsing, with plain numbers."""

from __future__ import annotations

import email.utils
import random
from typing import TypedDict

import pytest

from trio_sse._reconnect import (
    HEALTHY_STREAM_TIME,
    MAX_RETRY_AFTER,
    MIN_RECONNECTION_DELAY,
    ExponentialBackoff,
    ReconnectPolicy,
    parse_retry_after,
)

NOW = 1_700_000_000.0


def test_disabled_policy_gives_no_attempt() -> None:
    policy = ReconnectPolicy(reconnection_time=3.0, max_attempts=0)
    assert not policy.enabled
    assert policy.next_delay(0.0) is None
    assert policy.attempts == 0


def test_fixed_delay_and_attempt_count_per_outage() -> None:
    policy = ReconnectPolicy(reconnection_time=2.0, max_attempts=3)
    assert [policy.next_delay(t) for t in (0, 1, 2, 3)] == [2.0, 2.0, 2.0, None]
    assert policy.attempts == 3


def test_a_delivered_event_resets_the_count() -> None:
    policy = ReconnectPolicy(reconnection_time=1.0, max_attempts=2)
    assert policy.next_delay(0.0) == 1.0
    assert policy.next_delay(1.0) == 1.0
    policy.stream_opened(2.0)
    assert policy.attempts == 2  # opening is not enough: the stream must deliver
    policy.event_delivered()
    assert policy.attempts == 0
    assert policy.next_delay(3.0) == 1.0
    assert policy.next_delay(4.0) == 1.0
    assert policy.next_delay(5.0) is None


def test_streams_that_end_without_an_event_use_up_the_attempts() -> None:
    """200 + ``retry: 0`` + a clean end, again and again: bounded by max_attempts."""
    policy = ReconnectPolicy(reconnection_time=3.0, max_attempts=2)
    now = 0.0
    delays = []
    for _ in range(5):
        policy.stream_opened(now)
        policy.set_server_retry(0)
        delay = policy.next_delay(now)
        if delay is None:
            break
        delays.append(delay)
        now += delay
    assert delays == [0.0, MIN_RECONNECTION_DELAY]  # then no attempt is left


@pytest.mark.parametrize(("open_for", "left"), [(HEALTHY_STREAM_TIME, True), (29.0, False)])
def test_a_long_quiet_stream_ends_the_outage(open_for: float, left: bool) -> None:
    """Keep-alive comments only, then an end: healthy if it stayed open long enough."""
    policy = ReconnectPolicy(reconnection_time=1.0, max_attempts=1)
    assert policy.next_delay(0.0) == 1.0
    policy.stream_opened(1.0)
    assert (policy.next_delay(1.0 + open_for) is not None) is left


def test_retry_zero_cannot_make_repeated_attempts_immediate() -> None:
    policy = ReconnectPolicy(reconnection_time=3.0, max_attempts=None)
    policy.set_server_retry(0)
    delays = [policy.next_delay(float(i)) for i in range(5)]
    # The first reconnect of an outage honours retry: 0; the repeats keep the floor.
    assert delays == [0.0] + [MIN_RECONNECTION_DELAY] * 4
    policy.event_delivered()
    assert policy.next_delay(10.0) == 0.0  # a new outage may start at once again


def test_a_configured_delay_below_the_floor_is_kept() -> None:
    """The floor guards against the server, not against the caller's own choice."""
    policy = ReconnectPolicy(reconnection_time=0.1, max_attempts=None)
    policy.set_server_retry(0)
    assert [policy.next_delay(float(i)) for i in range(3)] == [0.0, 0.1, 0.1]
    explicit = ReconnectPolicy(reconnection_time=0.0, max_attempts=None)
    assert [explicit.next_delay(float(i)) for i in range(3)] == [0.0, 0.0, 0.0]


def test_backoff_grows_from_the_floor_when_retry_is_zero() -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    class Bottom(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return a

    backoff = ExponentialBackoff(multiplier=2.0, maximum=100.0)
    policy = ReconnectPolicy(reconnection_time=3.0, max_attempts=None, backoff=backoff, rng=Top())
    policy.set_server_retry(0)
    assert [policy.next_delay(float(i)) for i in range(5)] == [0.5, 1.0, 2.0, 4.0, 8.0]
    low = ReconnectPolicy(reconnection_time=3.0, max_attempts=None, backoff=backoff, rng=Bottom())
    low.set_server_retry(0)
    # Full jitter may draw 0, but never twice in a row: repeats keep the floor.
    assert [low.next_delay(float(i)) for i in range(3)] == [0.0, 0.5, 0.5]
    # The floor is min(0.5 s, reconnection_time): a shorter reconnection_time is it.
    short = ReconnectPolicy(reconnection_time=0.2, max_attempts=None, backoff=backoff, rng=Top())
    short.set_server_retry(0)
    delays = [short.next_delay(float(i)) for i in range(5)]
    assert delays == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2])


def test_a_backoff_maximum_under_the_floor_wins() -> None:
    """``ExponentialBackoff.maximum`` bounds every delay, the storm floor included: a
    user who asks for at most 0.1 s gets it (README, Limits)."""

    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    backoff = ExponentialBackoff(maximum=0.1)
    policy = ReconnectPolicy(reconnection_time=1.0, max_attempts=None, backoff=backoff, rng=Top())
    assert [policy.next_delay(float(i)) for i in range(4)] == [0.1, 0.1, 0.1, 0.1]


@pytest.mark.parametrize(
    ("retry_ms", "seconds"),
    [
        (0, 0.0),
        (1500, 1.5),
        (int(MAX_RETRY_AFTER * 1000), MAX_RETRY_AFTER),
        (2**63 - 1, MAX_RETRY_AFTER),
        (10**400, MAX_RETRY_AFTER),
    ],
)
def test_server_retry_is_clamped_like_retry_after(retry_ms: int, seconds: float) -> None:
    policy = ReconnectPolicy(reconnection_time=3.0, max_attempts=5)
    policy.set_server_retry(retry_ms)
    assert policy.reconnection_time == seconds
    assert policy.next_delay(0.0) == seconds


def test_unlimited_attempts() -> None:
    policy = ReconnectPolicy(reconnection_time=0.5, max_attempts=None)
    assert policy.enabled
    assert all(policy.next_delay(float(i)) == 0.5 for i in range(1000))
    assert policy.attempts == 1000


def test_server_retry_replaces_reconnection_time() -> None:
    policy = ReconnectPolicy(reconnection_time=3.0, max_attempts=5)
    policy.set_server_retry(None)
    assert policy.next_delay(0.0) == 3.0
    policy.set_server_retry(250)
    assert policy.reconnection_time == 0.25
    policy.event_delivered()  # a new outage: the floor of repeated attempts does not apply
    assert policy.next_delay(1.0) == 0.25


def test_retry_after_is_a_floor() -> None:
    policy = ReconnectPolicy(reconnection_time=3.0, max_attempts=5)
    assert policy.next_delay(0.0, retry_after=10.0) == 10.0
    assert policy.next_delay(0.0, retry_after=1.0) == 3.0


def test_backoff_full_jitter_within_exponential_ceiling() -> None:
    backoff = ExponentialBackoff(multiplier=2.0, maximum=10.0, reset_after=60.0)
    rng = random.Random(7)
    policy = ReconnectPolicy(reconnection_time=1.0, max_attempts=None, backoff=backoff, rng=rng)
    ceilings = [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    delays = [policy.next_delay(float(i)) for i in range(len(ceilings))]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert delay is not None
        assert 0.0 <= delay <= ceiling
    # Full jitter draws from the whole range: with a fixed seed some delay is well below it.
    assert any(d is not None and d < c / 2 for d, c in zip(delays, ceilings, strict=True))


def test_backoff_exponent_resets_only_after_a_healthy_connection() -> None:
    backoff = ExponentialBackoff(multiplier=2.0, maximum=1000.0, reset_after=60.0)

    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    policy = ReconnectPolicy(reconnection_time=1.0, max_attempts=None, backoff=backoff, rng=Top())
    assert policy.next_delay(0.0) == 1.0
    assert policy.next_delay(1.0) == 2.0
    policy.stream_opened(3.0)
    assert policy.next_delay(10.0) == 4.0  # up for 7 s only: a flapping server keeps backing off
    policy.stream_opened(20.0)
    assert policy.next_delay(80.0) == 1.0  # up for 60 s: a fresh outage starts from the base


def test_backoff_survives_huge_exponents() -> None:
    backoff = ExponentialBackoff(multiplier=1e300, maximum=5.0)
    policy = ReconnectPolicy(reconnection_time=1.0, max_attempts=None, backoff=backoff)
    for i in range(100):
        delay = policy.next_delay(float(i))
        assert delay is not None
        assert 0.0 <= delay <= 5.0


class BackoffFields(TypedDict, total=False):
    multiplier: float
    maximum: float
    reset_after: float


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"multiplier": 0.5}, "multiplier"),
        ({"maximum": -1.0}, "maximum"),
        ({"reset_after": float("nan")}, "reset_after"),
    ],
)
def test_backoff_validation(kwargs: BackoffFields, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExponentialBackoff(**kwargs)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("0", 0.0),
        ("120", 120.0),
        (" 5 ", 5.0),
        ("99999999999", MAX_RETRY_AFTER),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        ("١٢", None),
    ],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_http_date() -> None:
    future = email.utils.formatdate(NOW + 30, usegmt=True)
    past = email.utils.formatdate(NOW - 30, usegmt=True)
    assert parse_retry_after(future, NOW) == pytest.approx(30.0)
    assert parse_retry_after(past, NOW) == 0.0
    far = email.utils.formatdate(NOW + 10 * 24 * 3600, usegmt=True)
    assert parse_retry_after(far, NOW) == MAX_RETRY_AFTER


def test_backoff_rng_makes_delays_reproducible() -> None:
    def delays(seed: int) -> list[float | None]:
        backoff = ExponentialBackoff(maximum=100.0, rng=random.Random(seed))
        policy = ReconnectPolicy(reconnection_time=1.0, max_attempts=None, backoff=backoff)
        return [policy.next_delay(float(i)) for i in range(8)]

    assert delays(3) == delays(3)
    assert delays(3) != delays(4)


@pytest.mark.parametrize(
    "value",
    [
        "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",  # OverflowError inside the stdlib
        "Mon, 99 Foo 2024 99:99:99 GMT",
    ],
)
def test_parse_retry_after_absurd_dates_fall_back(value: str) -> None:
    """A hostile or broken Retry-After never raises: the normal delay applies."""
    assert parse_retry_after(value, NOW) is None


def test_a_policy_owns_no_random_generator_unless_given_one() -> None:
    """Thousands of sessions must not each carry a Random (2.5 KB); jitter without a
    given rng draws from the random module's shared generator."""
    plain = ReconnectPolicy(reconnection_time=1.0, max_attempts=0)
    assert plain._random is None
    backoff = ExponentialBackoff(maximum=100.0)
    policy = ReconnectPolicy(reconnection_time=1.0, max_attempts=None, backoff=backoff)
    assert policy._random is None
    random.seed(5)
    first = [policy.next_delay(float(i)) for i in range(4)]
    again = ReconnectPolicy(reconnection_time=1.0, max_attempts=None, backoff=backoff)
    random.seed(5)
    assert [again.next_delay(float(i)) for i in range(4)] == first
