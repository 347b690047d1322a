"""Fuzzing for trio-sse: ``python -m fuzz <seconds>`` (or ``nox -s fuzz -- <seconds>``).

The targets are hypothesis-driven, so a failure is shrunk to a small falsifying example
and printed with a blob that reproduces it. They live outside ``tests/`` because they run
for a time budget rather than a fixed number of examples.
"""
