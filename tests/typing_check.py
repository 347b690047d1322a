"""What mypy sees of typed events: checked by ``mypy --strict`` (``nox -s typecheck``),
never run. ``assert_type`` fails the check when an inferred type drifts; a
``type: ignore[...]`` that stops being needed fails it too (warn_unused_ignores)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import trio
from typing_extensions import assert_type

from trio_sse import (
    ConnectionFailure,
    ExponentialBackoff,
    Origin,
    ServerSentEvent,
    SSEClient,
    SSESession,
    TypedServerSentEvent,
    UnixSocketTransport,
    open_sse_session,
)


@dataclass
class Customer:
    name: str


@dataclass
class Product:
    sku: str


class Order(TypedDict):
    id: int


def deserialize(tp: Any, text: str) -> object:
    return text


async def typed_sessions(client: SSEClient, url: str) -> None:
    async with client.sse(url) as plain:
        assert_type(plain, SSESession[ServerSentEvent])
        async for ev in plain:
            assert_type(ev.data, str | None)
            assert_type(plain.deserialize(Customer, ev.data), Customer | None)
            assert_type(plain.deserialize(Order, ev.data), Order | None)
            assert_type(plain.deserialize(list[int], ev.data), list[int] | None)

    async with client.sse(url, model=Customer) as customers:
        assert_type(customers, SSESession[TypedServerSentEvent[Customer]])
        async for typed in customers:
            assert_type(typed.data, Customer | None)

    async with client.sse(url, model=list[Order], deserialize=deserialize) as orders:
        assert_type(orders, SSESession[TypedServerSentEvent[list[Order]]])

    # A mapping whose type names the union: exact.
    models: Mapping[str, type[Customer] | type[Product]] = {
        "customer": Customer,
        "product": Product,
    }
    async with client.sse(url, model=models) as mixed:
        assert_type(mixed, SSESession[TypedServerSentEvent[Customer | Product] | ServerSentEvent])
        async for item in mixed:
            if isinstance(item, TypedServerSentEvent):
                assert_type(item.data, Customer | Product | None)
            else:
                assert_type(item.data, str | None)

    # A dict literal: mypy joins its values instead of making a union, so Any, never Never.
    async with client.sse(url, model={"customer": Customer, "product": Product}) as loose:
        assert_type(loose, SSESession[TypedServerSentEvent[Any] | ServerSentEvent])

    # A type form that is not a class (a union): every event typed, data Any.
    async with client.sse(url, model=int | str) as union:
        assert_type(union, SSESession[TypedServerSentEvent[Any]])

    async with open_sse_session(url, model=Customer, read_timeout=5.0) as opened:
        assert_type(opened, SSESession[TypedServerSentEvent[Customer]])
    async with open_sse_session(url, model=models) as opened_mixed:
        assert_type(
            opened_mixed, SSESession[TypedServerSentEvent[Customer | Product] | ServerSentEvent]
        )

    # Per-call options are checked by name and type (CallOptions).
    client.sse(url, reconect_time=1.0)  # type: ignore[call-overload]
    client.sse(url, reconnection_time="1")  # type: ignore[call-overload]
    client.sse(url, on_deserialize_error="ignore")  # type: ignore[call-overload]
    open_sse_session(url, read_timeot=1.0)  # type: ignore[call-overload]
    # The one-argument deserialize of before 0.2 is refused: it takes (type, text) now.
    client.sse(url, deserialize=json.loads)  # type: ignore[arg-type]
    # read_timeout is a client option, not a per-call one.
    client.sse(url, read_timeout=1.0)  # type: ignore[call-overload]


async def background(client: SSEClient, url: str) -> None:
    async with trio.open_nursery() as nursery:
        session = await nursery.start(client.sse_session, url)
        await session.aclose()


async def deployment_options(url: str) -> None:
    """Headers functions, retry strategies, callbacks and connectors type-check as the
    docs show them."""

    async def token() -> dict[str, str]:
        return {"Authorization": "Bearer t"}

    def strategy(failure: ConnectionFailure, delay: float | None) -> float | None:
        return None if failure.unhealthy_for > 600 else delay

    async def connect(origin: Origin) -> trio.abc.Stream:
        return await trio.open_tcp_stream(origin.host, origin.port)

    client = SSEClient(
        headers=token,
        retry_strategy=strategy,
        on_open=lambda response: print(response.status_code),
        on_error=lambda failure, retry_in: print(failure.attempt, retry_in),
        transport=connect,
        backoff=ExponentialBackoff(maximum=10.0),
        accept_encoding=None,
    )
    async with client.sse(url, headers=token, retry_strategy=strategy) as session:
        assert_type(session, SSESession[ServerSentEvent])
    SSEClient(proxy="http://127.0.0.1:3128", trust_env=False)
    SSEClient(uds="/run/app.sock")
    SSEClient(transport=UnixSocketTransport("/run/app.sock"))
