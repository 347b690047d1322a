"""Developer tasks: ``nox -s tests lint typecheck``, ``nox -s fuzz -- 600``, ``nox -s bench``."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "typecheck"]
# A Python missing here fails the run under CI (the CI variable set: nox's default) and is
# skipped with a warning elsewhere, so ``nox -s tests`` works with one Python installed.

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
"""Every Python pyproject.toml claims (requires-python and the classifiers)."""


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite: unit, property, loopback, TLS and interop tests, on every Python
    in PYTHONS found (``nox -s tests-3.12`` for one)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, the ASYNC rules included, and the formatter's check."""
    session.install(".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package and the CLI, the tests (tests/typing_check.py: what
    users' type checkers see of the API), the benchmarks and the fuzzers; with the test
    and bench extras, so mypy reads the libraries they import."""
    session.install("-e", ".[test,bench,typecheck]")
    session.run("mypy", "--strict", "trio_sse", "_trio_sse_cli.py", "tests", "benchmarks", "fuzz")


@nox.session
def fuzz(session: nox.Session) -> None:
    """Fuzz the parser and the body framing for a time budget in seconds:
    ``nox -s fuzz -- 600`` (default 60)."""
    session.install("-e", ".[test]")
    budget = session.posargs[0] if session.posargs else "60"
    session.run("python", "-m", "fuzz", budget, *session.posargs[1:])


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark suite (parser, e2e, fanin) beside the peer libraries;
    ``-- e2e --quick`` for one suite, smaller."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *(session.posargs or ["all"]))
