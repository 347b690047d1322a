"""The exception hierarchy: everything this library raises on purpose is an SSEError.

Lower-level failures (h11, ssl, OSError, trio) are translated at the I/O boundary and
kept as ``__cause__``; users never need to catch a dependency's exception type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._events import ServerSentEvent
    from ._response import SSEResponse

__all__ = [
    "SSEConnectionError",
    "SSEDeserializationError",
    "SSEError",
    "SSEProtocolError",
    "SSEProxyError",
    "SSEResponseError",
    "SSETimeoutError",
]


class SSEError(Exception):
    """Base class of every error trio-sse raises."""


class SSEResponseError(SSEError):
    """The server answered, but not with an event stream we may read (status or Content-Type).

    ``response`` is the response head; ``body`` holds up to the first 64 KiB of its body,
    which usually says why.
    """

    def __init__(self, message: str, response: SSEResponse, body: bytes = b"") -> None:
        super().__init__(message)
        self.response = response
        self.body = body

    @property
    def status_code(self) -> int:
        return self.response.status_code


class SSEProtocolError(SSEError):
    """The bytes on the wire break HTTP/1.1 or the limits set for the event stream.

    Raised by ``SSEParser.feed``, ``events`` holds the events that the same chunk
    completed before the offending bytes, so a caller can still deliver them.
    """

    def __init__(self, message: str, *, events: list[ServerSentEvent] | None = None) -> None:
        super().__init__(message)
        self.events: list[ServerSentEvent] = [] if events is None else events


class SSEConnectionError(SSEError):
    """The connection failed or was lost and no reconnection attempt is left.

    ``attempts`` counts the consecutive failed attempts of the last outage; the
    last underlying failure is the ``__cause__``.
    """

    def __init__(self, message: str, *, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


class SSEProxyError(SSEConnectionError):
    """The proxy, not the origin, failed: unreachable, refused (``status_code``, e.g. 407
    for missing or wrong credentials, 5xx for a tunnel it could not open) or broke the
    exchange.

    A 407 or another refusal (501 included) is raised at once; an unreachable proxy or a
    500, 502, 503 or 504 is retried like any connection failure and, once attempts are
    used up, is the ``__cause__`` of the SSEConnectionError raised.
    """

    def __init__(self, message: str, *, status_code: int | None = None, attempts: int = 0) -> None:
        super().__init__(message, attempts=attempts)
        self.status_code = status_code


class SSETimeoutError(SSEConnectionError):
    """Connecting took longer than ``connect_timeout``, or the stream was silent for
    longer than ``read_timeout``."""


class SSEDeserializationError(SSEError):
    """An event's data does not fit the type asked for; ``event`` is that event as it
    came (a ServerSentEvent), or None when raised by ``SSESession.deserialize``, which
    sees only the text. The deserializer's own error is the ``__cause__``."""

    def __init__(self, message: str, event: ServerSentEvent | None) -> None:
        super().__init__(message)
        self.event = event
