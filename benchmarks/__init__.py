"""Benchmarks for trio-sse, run side by side with the peer libraries.

``python -m benchmarks [parser|e2e|all] [--quick] [--repeat N]`` (``nox -s bench -- ...``).
Each suite is a module ``benchmarks/bench_<suite>.py`` exposing ``main(argv) -> int``.
"""
