"""Fuzzing for trio-sse: ``python -m fuzz <seconds>`` (or ``nox -s fuzz -- <seconds>``).

The targets are hypothesis-driven, so a failure is shrunk to a small falsifying example
and printed with a blob that reproduces it. They live outside ``tests/`` because they run
for a time budget rather than a fixed number of examples.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

__all__ = ["fuzz_settings"]


def fuzz_settings(max_examples: int, *, targeted: bool = True) -> settings:
    """The hypothesis settings every fuzz target runs under: a batch of
    ``max_examples``, no deadline or example database (each batch draws fresh data),
    one bug reported with its reproduce blob. ``targeted=False`` skips the target
    phase, for targets whose examples are too slow to spend it on."""
    phases = [Phase.explicit, Phase.generate, Phase.target, Phase.shrink]
    if not targeted:
        phases.remove(Phase.target)
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        print_blob=True,
        report_multiple_bugs=False,
        phases=phases,
        suppress_health_check=list(HealthCheck),
    )
