"""Typed events over real loopback sockets: Ktor's ``deserialize(type, text)`` and
``session.deserialize(T, data)``, and typed events asked for by ``model``."""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

import msgspec
import pydantic
import pytest
import trio

from trio_sse import (
    ServerSentEvent,
    SSEClient,
    SSEDeserializationError,
    SSESession,
    TypedServerSentEvent,
    open_sse_session,
)
from trio_sse.testing import ScriptedResponse, SSETestServer


@dataclass(frozen=True)
class Customer:
    name: str


@dataclass(frozen=True)
class Product:
    sku: str
    price: float


MIXED = ScriptedResponse.events(
    ServerSentEvent(data='{"name": "Ada"}', event="customer", id="1"),
    ServerSentEvent(data='{"sku": "p1", "price": 2}', event="product", id="2"),
    ServerSentEvent(data="plain text", id="3"),
    ServerSentEvent(data="tick", event="heartbeat"),
)


async def collect(session: SSESession[Any]) -> list[Any]:
    return [ev async for ev in session]


class Recorder:
    """A deserializer that records its calls: (type, text) -> (type name, text)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str]] = []

    def __call__(self, tp: Any, text: str) -> Any:
        self.calls.append((tp, text))
        return (getattr(tp, "__name__", tp), text)


# -- Ktor's form: session.deserialize(T, ev.data) -------------------------------------------


async def test_session_deserialize_chooses_the_type_per_event(server: SSETestServer) -> None:
    """Events stay ServerSentEvent; ``session.deserialize(T, data)`` builds T with the
    default deserializer, chosen by the event's type; None stays None."""
    server.script(MIXED)
    async with open_sse_session(server.url) as session:
        models = {"customer": Customer, "product": Product}
        built: list[object] = []
        async for ev in session:
            assert type(ev) is ServerSentEvent
            model = models.get(ev.event or "")
            if model is not None:
                built.append(session.deserialize(model, ev.data))
        assert session.deserialize(Customer, None) is None
    assert built == [Customer("Ada"), Product("p1", 2.0)]


async def test_session_deserialize_calls_the_clients_or_the_calls_function(
    server: SSETestServer,
) -> None:
    """The client's ``deserialize(type, text)`` is what session.deserialize calls; a
    call's own replaces it. Nothing is deserialized unless asked for."""
    server.script(MIXED, MIXED)
    client_fn, call_fn = Recorder(), Recorder()
    client = SSEClient(deserialize=client_fn)
    async with client.sse(server.url) as session:
        events = await collect(session)
        assert client_fn.calls == []  # nothing eager
        # object: the Recorder returns its tuple where mypy expects a Customer or None.
        built: object = session.deserialize(Customer, events[0].data)
        assert built == ("Customer", '{"name": "Ada"}')
    assert client_fn.calls == [(Customer, '{"name": "Ada"}')]
    async with client.sse(server.url, deserialize=call_fn) as session:
        await collect(session)
        session.deserialize(Product, "x")
    assert call_fn.calls == [(Product, "x")]
    assert len(client_fn.calls) == 1


async def test_session_deserialize_failure_is_an_sse_error(server: SSETestServer) -> None:
    """A payload that does not fit raises SSEDeserializationError (cause kept) from the
    call, and the stream goes on."""
    server.script(
        ScriptedResponse.events(ServerSentEvent(data="{bad"), ServerSentEvent(data='{"name": "B"}'))
    )
    async with open_sse_session(server.url) as session:
        first = await session.__anext__()
        with pytest.raises(SSEDeserializationError, match="Customer") as info:
            session.deserialize(Customer, first.data)
        assert isinstance(info.value.__cause__, json.JSONDecodeError)
        assert info.value.event is None
        second = await session.__anext__()
        assert session.deserialize(Customer, second.data) == Customer("B")


# -- typed events by model ------------------------------------------------------------------


async def test_one_model_types_every_event(server: SSETestServer) -> None:
    """``model=T``: every event is a TypedServerSentEvent[T]; a data-less block (a shown
    retry) keeps data None without calling the deserializer; other fields are kept."""
    server.script(
        ScriptedResponse.events(
            ServerSentEvent(data='{"name": "A"}', event="x", id="1"),
            "retry: 10\n\n",
            ServerSentEvent(data='{"name": "B"}'),
        )
    )
    async with open_sse_session(server.url, model=Customer, show_retry_events=True) as s:
        events = await collect(s)
    assert events == [
        TypedServerSentEvent(Customer("A"), "x", "1"),
        TypedServerSentEvent(None, None, "1", 10),
        TypedServerSentEvent(Customer("B"), None, "1"),
    ]


async def test_mapping_types_only_the_named_event_types(server: SSETestServer) -> None:
    """``model={type: T}``: events of those types are typed; others are left as they
    are (the same ServerSentEvent, never deserialized); "message" is the default type."""
    server.script(MIXED)
    recorder = Recorder()
    models = {"customer": Customer, "message": str}
    async with open_sse_session(server.url, model=models, deserialize=recorder) as session:
        events = await collect(session)
    assert events == [
        TypedServerSentEvent(("Customer", '{"name": "Ada"}'), "customer", "1"),
        ServerSentEvent(data='{"sku": "p1", "price": 2}', event="product", id="2"),
        TypedServerSentEvent(("str", "plain text"), None, "3"),
        ServerSentEvent(data="tick", event="heartbeat", id="3"),
    ]
    assert [tp for tp, _ in recorder.calls] == [Customer, str]


async def test_mapping_with_the_default_deserializer(server: SSETestServer) -> None:
    server.script(MIXED)
    models = {"customer": Customer, "product": Product}
    async with open_sse_session(server.url, model=models) as session:
        data = [ev.data for ev in await collect(session)]
    assert data == [Customer("Ada"), Product("p1", 2.0), "plain text", "tick"]


BAD_SECOND = ScriptedResponse.events(
    ServerSentEvent(data='{"name": "A"}', id="1"),
    ServerSentEvent(data='{"nom": "B"}', id="2"),
    ServerSentEvent(data='{"name": "C"}', id="3"),
)


async def read_data(url: str, model: Any, got: list[Any]) -> None:
    """Append each typed event's data to ``got`` until the stream ends or fails."""
    async with open_sse_session(url, model=model) as session:
        async for ev in session:
            got.append(ev.data)


async def test_a_payload_that_does_not_fit_ends_the_stream_after_the_good_ones(
    server: SSETestServer,
) -> None:
    """The events before the bad one are delivered; then SSEDeserializationError carrying
    the raw event, with the deserializer's error as the cause."""
    server.script(BAD_SECOND)
    got: list[Any] = []
    with pytest.raises(SSEDeserializationError, match="needs 'name'") as info:
        await read_data(server.url, Customer, got)
    assert got == [Customer("A")]
    assert info.value.event == ServerSentEvent(data='{"nom": "B"}', id="2")
    assert isinstance(info.value.__cause__, ValueError)


@dataclass(frozen=True)
class Order:
    quantity: int

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise TypeError("quantity must be positive")


async def test_a_constructor_type_error_is_an_event_that_does_not_fit(
    server: SSETestServer,
) -> None:
    """A dataclass constructor's TypeError ends the stream as any other payload that does
    not fit (a ValueError cause, naming where); in a union model the next member is
    tried instead."""
    bad = ScriptedResponse.events(
        ServerSentEvent(data='{"quantity": 2}'), ServerSentEvent(data='{"quantity": 0}')
    )
    server.script(bad, bad)
    got: list[Any] = []
    with pytest.raises(SSEDeserializationError, match="Order: quantity must be") as info:
        await read_data(server.url, Order, got)
    assert got == [Order(2)]
    assert isinstance(info.value.__cause__, ValueError)
    async with open_sse_session(server.url, model=Order | dict[str, int]) as session:
        assert [ev.data for ev in await collect(session)] == [Order(2), {"quantity": 0}]


async def test_skip_logs_and_drops_events_that_do_not_fit(
    server: SSETestServer, caplog: pytest.LogCaptureFixture
) -> None:
    """``on_deserialize_error="skip"`` (client or call): the bad event is logged and
    dropped, the stream goes on."""
    server.script(BAD_SECOND, BAD_SECOND)
    caplog.set_level(logging.WARNING, logger="trio_sse")
    async with open_sse_session(server.url, model=Customer, on_deserialize_error="skip") as s:
        data = [ev.data for ev in await collect(s)]
    assert data == [Customer("A"), Customer("C")]
    (record,) = caplog.records
    assert "'2'" in record.getMessage()
    assert "needs 'name'" in record.getMessage()
    # The call's setting overrides the client's.
    client = SSEClient(on_deserialize_error="skip")
    with pytest.raises(SSEDeserializationError):
        async with client.sse(server.url, model=Customer, on_deserialize_error="raise") as s:
            await collect(s)


async def test_typed_events_through_incoming(server: SSETestServer) -> None:
    """The background form and ``incoming`` carry the typed events too."""
    server.script(ScriptedResponse.events(ServerSentEvent(data='{"name": "A"}'), end="hang"))
    async with trio.open_nursery() as nursery:
        start = functools.partial(SSEClient().sse_session, server.url, model=Customer)
        session = await nursery.start(start)
        ev = await session.incoming.receive()
        await session.aclose()
    assert ev == TypedServerSentEvent(Customer("A"))


# -- arguments ------------------------------------------------------------------------------


class Unbuildable:
    """A plain class: the default deserializer cannot build it, a custom one may."""


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model": 42}, TypeError, "model must be a type"),
        ({"model": "customer"}, TypeError, "model must be a type"),
        ({"model": {}}, ValueError, "empty"),
        ({"model": {1: Customer}}, TypeError, "keys must be event types"),
        ({"model": {"a": None}}, TypeError, "model must be a type"),
        ({"model": Unbuildable}, TypeError, "cannot build"),
        ({"model": {"a": Unbuildable}}, TypeError, "cannot build"),
        ({"deserialize": json.loads, "model": Customer}, TypeError, None),
        ({"deserialize": "json"}, TypeError, "deserialize must be"),
        ({"on_deserialize_error": "ignore"}, ValueError, "'raise' or 'skip'"),
    ],
)
async def test_bad_typing_arguments_fail_at_the_call(
    server: SSETestServer, kwargs: dict[str, Any], error: type[Exception], message: str | None
) -> None:
    """Refused at the call, before connecting (a one-argument deserialize is refused
    when it is first used, as the call cannot tell its arity reliably)."""
    if message is None:
        server.script(ScriptedResponse.events(ServerSentEvent(data="{}")))
        with pytest.raises(SSEDeserializationError) as info:
            async with open_sse_session(server.url, **kwargs) as session:
                await collect(session)
        assert isinstance(info.value.__cause__, error)
        return
    with pytest.raises(error, match=message):
        SSEClient().sse(server.url, **kwargs)
    with pytest.raises(error, match=message):
        open_sse_session(server.url, **kwargs)
    assert server.statistics().connections_total == 0


async def test_a_custom_deserializer_may_build_any_type(server: SSETestServer) -> None:
    """The type check of ``model`` is the default deserializer's; a custom one decides."""
    server.script(ScriptedResponse.events(ServerSentEvent(data="x")))
    async with open_sse_session(server.url, model=Unbuildable, deserialize=Recorder()) as s:
        (ev,) = await collect(s)
    assert ev.data == ("Unbuildable", "x")


class PydanticCustomer(pydantic.BaseModel):
    name: str


class MsgspecProduct(msgspec.Struct):
    sku: str
    price: float


async def test_pydantic_and_msgspec_models_over_the_wire(server: SSETestServer) -> None:
    """The default deserializer hands pydantic models and msgspec Structs to their own
    libraries, per event type, for real."""
    server.script(MIXED)
    models = {"customer": PydanticCustomer, "product": MsgspecProduct}
    async with open_sse_session(server.url, model=models) as session:
        data = [ev.data for ev in await collect(session)]
    assert data == [PydanticCustomer(name="Ada"), MsgspecProduct("p1", 2.0), "plain text", "tick"]


def test_the_good_events_of_a_batch_come_before_the_error() -> None:
    """EventTyper (sans-IO): of one network read's events, those before the bad one are
    returned typed with the error; with skip, the bad one is dropped and the rest kept.
    None data stays None without calling the deserializer."""
    from trio_sse._deserialize import EventTyper, default_deserialize

    batch = [
        ServerSentEvent(data='{"name": "A"}', id="1"),
        ServerSentEvent(comments="ping"),
        ServerSentEvent(data="{bad", id="2"),
        ServerSentEvent(data='{"name": "C"}', id="3"),
    ]
    typed, error = EventTyper(Customer, default_deserialize, skip=False).type_events(batch)
    assert typed == [
        TypedServerSentEvent(Customer("A"), id="1"),
        TypedServerSentEvent(None, comments="ping"),
    ]
    assert error is not None
    assert error.event == batch[2]
    typed, error = EventTyper(Customer, default_deserialize, skip=True).type_events(batch)
    assert [ev.data for ev in typed] == [Customer("A"), None, Customer("C")]
    assert error is None


async def test_the_good_events_of_one_read_are_delivered_before_the_error(
    server: SSETestServer,
) -> None:
    """Good and bad events in one chunk on the wire: the good ones reach the consumer."""
    server.script(ScriptedResponse.events('data: {"name": "A"}\n\ndata: {"nom": 1}\n\n'))
    got: list[Any] = []

    async def consume() -> None:
        async with open_sse_session(server.url, model=Customer) as session:
            async for ev in session:
                got.append(ev.data)

    with pytest.raises(SSEDeserializationError):
        await consume()
    assert got == [Customer("A")]
