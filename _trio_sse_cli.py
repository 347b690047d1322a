"""The ``trio-sse`` console script's entry point, outside the package on purpose.

Importing anything in ``trio_sse`` first runs the package's ``__init__``, which imports
trio and the whole client (~0.2 s): a Ctrl-C in that time would print a traceback before
``trio_sse.__main__.main`` could catch it. This module imports nothing heavy, so it can.
``python -m trio_sse`` has no such module before the package: that window stays there.
"""

from __future__ import annotations

EXIT_INTERRUPTED = 130  # trio_sse.__main__.EXIT_INTERRUPTED, not importable cheaply here


def main() -> int:
    """``trio-sse``: the command line, with Ctrl-C while it loads an exit 130 too."""
    try:
        from trio_sse.__main__ import main as run
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return run()
