"""trio-sse: a Trio-native Server-Sent Events client.

async with trio_sse.open_sse_session("http://127.0.0.1:8080/events") as events:
    async for ev in events:
        print(ev.event, ev.data, ev.id)
"""

from ._client import SSEClient, SSEConfig, open_sse_session
from ._deserialize import Deserializer, default_deserialize
from ._events import ServerSentEvent, TypedServerSentEvent
from ._exceptions import (
    SSEConnectionError,
    SSEDeserializationError,
    SSEError,
    SSEProtocolError,
    SSEProxyError,
    SSEResponseError,
    SSETimeoutError,
)
from ._headers import Headers
from ._parser import SSEParser
from ._proxy_transport import ProxyTransport
from ._reconnect import Backoff, ExponentialBackoff
from ._response import SSEResponse
from ._retry import ConnectionFailure, RetryStrategy
from ._session import SessionState, SessionStatistics, SSESession
from ._transport import (
    Connector,
    ConnectorTransport,
    Forwarding,
    ForwardingTransport,
    Origin,
    TCPTransport,
    Transport,
    UnixSocketTransport,
)
from ._version import __version__

__all__ = [
    "Backoff",
    "ConnectionFailure",
    "Connector",
    "ConnectorTransport",
    "Deserializer",
    "ExponentialBackoff",
    "Forwarding",
    "ForwardingTransport",
    "Headers",
    "Origin",
    "ProxyTransport",
    "RetryStrategy",
    "SSEClient",
    "SSEConfig",
    "SSEConnectionError",
    "SSEDeserializationError",
    "SSEError",
    "SSEParser",
    "SSEProtocolError",
    "SSEProxyError",
    "SSEResponse",
    "SSEResponseError",
    "SSESession",
    "SSETimeoutError",
    "ServerSentEvent",
    "SessionState",
    "SessionStatistics",
    "TCPTransport",
    "Transport",
    "TypedServerSentEvent",
    "UnixSocketTransport",
    "__version__",
    "default_deserialize",
    "open_sse_session",
]
