"""A fault-injecting SSE server for reconnection and chaos tests, with a WebSocket
control channel.

In-process: ``async with open_harness(events=100) as harness: ...``; standalone:
``python -m tests.harness --port 8080`` (control channel on the next port), then
``async with connect_harness("ws://127.0.0.1:8081/control") as harness: ...``.
See server.py for the log and the faults, control.py for the protocol.
"""

from .control import (
    ChaosReport,
    Harness,
    HarnessError,
    RequestInfo,
    connect_harness,
    open_harness,
    run_chaos,
    run_harness,
    serve_control,
)
from .server import FAULT_KINDS, Fault, HarnessServer, generated_event

__all__ = [
    "FAULT_KINDS",
    "ChaosReport",
    "Fault",
    "Harness",
    "HarnessError",
    "HarnessServer",
    "RequestInfo",
    "connect_harness",
    "generated_event",
    "open_harness",
    "run_chaos",
    "run_harness",
    "serve_control",
]
