"""trio-sse: a Trio-native Server-Sent Events client."""

from ._events import ServerSentEvent, TypedServerSentEvent
from ._exceptions import (
    SSEConnectionError,
    SSEDeserializationError,
    SSEError,
    SSEProtocolError,
    SSEResponseError,
    SSETimeoutError,
)
from ._parser import SSEParser
from ._version import __version__

__all__ = [
    "SSEConnectionError",
    "SSEDeserializationError",
    "SSEError",
    "SSEParser",
    "SSEProtocolError",
    "SSEResponseError",
    "SSETimeoutError",
    "ServerSentEvent",
    "TypedServerSentEvent",
    "__version__",
]
