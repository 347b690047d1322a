"""Run an interop server as a subprocess that prints its loopback port when it listens."""

from __future__ import annotations

import selectors
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["QUICK", "ROOT", "SAFETY", "serve_subprocess"]

ROOT = Path(__file__).resolve().parent.parent
STARTUP = 20  # seconds: how long a server may take to report its port
SAFETY = 10  # seconds: a hang guard per interop test, never part of what a test measures
QUICK = 0.05  # seconds: a reconnection delay that keeps the tests fast on a real clock


@contextmanager
def serve_subprocess(argv: Sequence[str], name: str) -> Iterator[str]:
    """Start ``argv`` in the checkout's root, wait for the port it prints on its first
    line of stdout, yield ``http://127.0.0.1:<port>``; terminate it (then kill) after."""
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=STARTUP):
                pytest.fail(f"{name} did not report its port within {STARTUP}s")
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            pytest.fail(f"{name} failed to start (exit code {proc.poll()}, said {line!r})")
        yield f"http://127.0.0.1:{int(line)}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
