"""Command line: ``python -m benchmarks [parser|e2e|fanin|all] [--quick] [--repeat N]``.

Each suite lives in ``benchmarks/bench_<suite>.py`` and exposes ``main(argv: list[str]) -> int``.
It is called with ``--repeat N`` (and ``--quick`` when given) followed by any options this
command does not know (e.g. ``--workload A1`` for the parser suite), so every suite must
accept ``--quick`` and ``--repeat``. ``all`` runs every suite in turn. A suite whose module
is not there is reported as missing (exit status 2), never silently skipped.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import cast

SUITES = ("parser", "e2e", "fanin")


class SuiteMissingError(Exception):
    """The module ``benchmarks.bench_<suite>`` does not exist (yet)."""


def load_suite(name: str) -> Callable[[list[str]], int]:
    """Import ``benchmarks.bench_<name>`` and return its ``main``."""
    module_name = f"{__package__ or 'benchmarks'}.bench_{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the suite module itself being absent means "missing"; a dependency the
        # suite imports that is absent is a real error and must surface as such.
        if exc.name != module_name:
            raise
        raise SuiteMissingError(
            f"the {name!r} benchmark suite is not available: {module_name} does not exist "
            f"(expected benchmarks/bench_{name}.py exposing main(argv))"
        ) from None
    main = getattr(module, "main", None)
    if not callable(main):
        raise SuiteMissingError(f"{module_name} has no main(argv) function")
    return cast(Callable[[list[str]], int], main)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen suite(s); return the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="trio-sse benchmarks, side by side with the peer libraries. "
        "Prints Markdown on stdout (progress goes to stderr).",
        epilog="Other options go to the suite, e.g. `parser --workload A1 --workload C`.",
    )
    parser.add_argument(
        "suite",
        nargs="?",
        default="parser",
        choices=[*SUITES, "all"],
        help="which benchmarks to run (default: parser)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller workloads, a smoke run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case, best kept (5)")
    # The suite is picked out before argparse sees the line, so that values of options
    # meant for the suite (``--workload C``) are never taken for the suite's name.
    tokens = list(sys.argv[1:] if argv is None else argv)
    suite = "parser"
    if tokens and not tokens[0].startswith("-"):
        suite = tokens.pop(0)
    else:
        for i, token in enumerate(tokens):
            if token in (*SUITES, "all"):
                suite = tokens.pop(i)
                break
    args, rest = parser.parse_known_args([suite, *tokens])
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    forwarded = [*(["--quick"] if args.quick else []), "--repeat", str(args.repeat), *rest]

    names = list(SUITES) if args.suite == "all" else [args.suite]
    status = 0
    for name in names:
        try:
            suite_main = load_suite(name)
        except SuiteMissingError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = status or 2
            continue
        status = suite_main(forwarded) or status
    return status


if __name__ == "__main__":
    sys.exit(main())
