"""ServerSentEvent and TypedServerSentEvent: immutable, small, comparable records whose
``str()`` is the exact wire format.

Immutability is what lets events cross task boundaries over memory channels; the wire
format is what users log and what test servers send, so it is checked byte for byte.
"""

from __future__ import annotations

import copy
import operator
import pickle
from typing import Any

import pytest

from trio_sse import ServerSentEvent, SSEParser, TypedServerSentEvent

EVENT_CLASSES: list[type[Any]] = [ServerSentEvent, TypedServerSentEvent]
FIELDS = ("data", "event", "id", "retry", "comments")


def sample(cls: type[Any]) -> Any:
    """An event of ``cls`` with every field set."""
    return cls(data="d", event="e", id="i", retry=5, comments="c")


# -- construction and defaults ----------------------------------------------------------------


@pytest.mark.parametrize("cls", EVENT_CLASSES)
def test_defaults_are_none(cls: type[Any]) -> None:
    """Every field defaults to None: a bare event is a blank block."""
    event = cls()
    for name in FIELDS:
        assert getattr(event, name) is None


@pytest.mark.parametrize("cls", EVENT_CLASSES)
def test_positional_order_is_data_event_id_retry_comments(cls: type[Any]) -> None:
    """The documented order ServerSentEvent(data, event, id, retry, comments)."""
    event = cls("d", "e", "i", 5, "c")
    assert (event.data, event.event, event.id, event.retry, event.comments) == (
        "d",
        "e",
        "i",
        5,
        "c",
    )


@pytest.mark.parametrize("cls", EVENT_CLASSES)
def test_keyword_construction(cls: type[Any]) -> None:
    """Each field can be given by name, the rest staying None."""
    assert cls(retry=3).retry == 3
    assert cls(retry=3).data is None
    assert cls(comments="x").comments == "x"


def test_typed_event_holds_any_data() -> None:
    """TypedServerSentEvent[T] carries the deserialized object as is."""
    payload = {"a": [1, 2]}
    event: TypedServerSentEvent[dict[str, list[int]]] = TypedServerSentEvent(payload, "e")
    assert event.data is payload
    assert TypedServerSentEvent[int](5).data == 5


# -- immutability and size --------------------------------------------------------------------


@pytest.mark.parametrize("cls", EVENT_CLASSES)
@pytest.mark.parametrize("name", FIELDS)
def test_fields_are_read_only(cls: type[Any], name: str) -> None:
    """Assigning a field fails (FrozenInstanceError is an AttributeError too)."""
    event = sample(cls)
    with pytest.raises(AttributeError):
        setattr(event, name, "changed")
    assert getattr(event, name) == getattr(sample(cls), name)


@pytest.mark.parametrize("cls", EVENT_CLASSES)
def test_fields_cannot_be_deleted(cls: type[Any]) -> None:
    """Deleting a field fails as well."""
    event = sample(cls)
    with pytest.raises(AttributeError):
        del event.data


@pytest.mark.parametrize("cls", EVENT_CLASSES)
def test_no_new_attributes_and_no_dict(cls: type[Any]) -> None:
    """Slotted: no per-instance __dict__, so no stray attributes and a small footprint."""
    event = sample(cls)
    assert not hasattr(event, "__dict__")
    with pytest.raises(AttributeError):
        event.extra = 1


# -- equality, hashing, repr ------------------------------------------------------------------


@pytest.mark.parametrize("cls", EVENT_CLASSES)
def test_equality_is_by_value(cls: type[Any]) -> None:
    """Equal fields, equal events; any differing field makes them unequal."""
    assert sample(cls) == sample(cls)
    assert (sample(cls) != sample(cls)) is False
    for name in FIELDS:
        fields = {n: getattr(sample(cls), n) for n in FIELDS}
        fields[name] = 6 if name == "retry" else "other"
        assert cls(**fields) != sample(cls)


@pytest.mark.parametrize("cls", EVENT_CLASSES)
def test_hash_agrees_with_equality(cls: type[Any]) -> None:
    """Immutable, so hashable: equal events hash alike and dedupe in a set."""
    assert hash(sample(cls)) == hash(sample(cls))
    assert len({sample(cls), sample(cls), cls("other")}) == 2


def test_plain_and_typed_events_are_never_equal() -> None:
    """Different classes with the same fields are different things."""
    assert ServerSentEvent("x") != TypedServerSentEvent("x")
    assert TypedServerSentEvent("x") != ServerSentEvent("x")


@pytest.mark.parametrize("cls", EVENT_CLASSES)
def test_events_do_not_equal_tuples_or_other_objects(cls: type[Any]) -> None:
    """An event is a record, not a tuple or a string."""
    event = cls("d")
    assert event != ("d", None, None, None, None)
    assert operator.ne(("d", None, None, None, None), event)  # the tuple asked first
    assert event != "d"
    assert event != None  # noqa: E711 - the == None path must not blow up


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            ServerSentEvent("d", "e", "i", 5, "c"),
            "ServerSentEvent(data='d', event='e', id='i', retry=5, comments='c')",
        ),
        (
            ServerSentEvent(),
            "ServerSentEvent(data=None, event=None, id=None, retry=None, comments=None)",
        ),
        (
            ServerSentEvent("a\nb"),
            "ServerSentEvent(data='a\\nb', event=None, id=None, retry=None, comments=None)",
        ),
        (
            TypedServerSentEvent({"k": 1}, "e"),
            "TypedServerSentEvent(data={'k': 1}, event='e', id=None, retry=None, comments=None)",
        ),
    ],
)
def test_repr_names_every_field(event: Any, expected: str) -> None:
    """The repr reads like the constructor call, as a dataclass's would."""
    assert repr(event) == expected


@pytest.mark.parametrize("cls", EVENT_CLASSES)
def test_copy_and_pickle_round_trip(cls: type[Any]) -> None:
    """Events survive copy and pickle (process pools, caches) unchanged."""
    event = sample(cls)
    assert copy.copy(event) == event
    assert copy.deepcopy(event) == event
    restored = pickle.loads(pickle.dumps(event))
    assert restored == event
    assert type(restored) is cls


# -- str(): the wire format -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        (ServerSentEvent("hello"), "data: hello\n\n"),
        (ServerSentEvent(""), "data:\n\n"),
        (ServerSentEvent("a\nb"), "data: a\ndata: b\n\n"),
        (ServerSentEvent("a\n"), "data: a\ndata:\n\n"),
        (ServerSentEvent("\n"), "data:\ndata:\n\n"),
        (ServerSentEvent("a\r\nb\rc"), "data: a\ndata: b\ndata: c\n\n"),
        (ServerSentEvent(" x"), "data:  x\n\n"),
        (ServerSentEvent("a\u2028b"), "data: a\u2028b\n\n"),
        (ServerSentEvent("x", event="update"), "event: update\ndata: x\n\n"),
        (ServerSentEvent("x", id="42"), "id: 42\ndata: x\n\n"),
        (ServerSentEvent("x", retry=0), "retry: 0\ndata: x\n\n"),
        (ServerSentEvent("x", retry=3000), "retry: 3000\ndata: x\n\n"),
        (ServerSentEvent("x", comments="note"), ": note\ndata: x\n\n"),
        (ServerSentEvent("x", comments="a\n\nb"), ": a\n:\n: b\ndata: x\n\n"),
        (ServerSentEvent(comments=""), ":\n\n"),
        (ServerSentEvent(comments="keep-alive"), ": keep-alive\n\n"),
        (ServerSentEvent(retry=5), "retry: 5\n\n"),
        (
            ServerSentEvent("d1\nd2", "e", "7", 10, "c1\nc2"),
            ": c1\n: c2\nevent: e\nid: 7\nretry: 10\ndata: d1\ndata: d2\n\n",
        ),
        (ServerSentEvent(), "\n"),
    ],
)
def test_str_is_the_wire_format(event: ServerSentEvent, wire: str) -> None:
    """Comments, event, id, retry, then data lines, and the blank line that dispatches."""
    assert str(event) == wire


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        (TypedServerSentEvent(42, "n"), "event: n\ndata: 42\n\n"),
        (TypedServerSentEvent(None, retry=1), "retry: 1\n\n"),
        (TypedServerSentEvent("a\nb"), "data: a\ndata: b\n\n"),
        (TypedServerSentEvent(0), "data: 0\n\n"),
    ],
)
def test_typed_str_renders_str_of_data(event: TypedServerSentEvent[Any], wire: str) -> None:
    """A typed event renders ``str(data)`` (None data: no data lines; falsy data still counts)."""
    assert str(event) == wire


@pytest.mark.parametrize(
    "event",
    [
        ServerSentEvent("hello"),
        ServerSentEvent("", "e", "1", 2, ""),
        ServerSentEvent("a\n\nb\n", comments="x\ny"),
        ServerSentEvent(" lead", " type", " id", None, " c"),
        ServerSentEvent(comments="only"),
        ServerSentEvent(retry=9, id="3"),
        ServerSentEvent("ünï😀", "é"),
    ],
)
def test_str_parses_back_to_the_same_event(event: ServerSentEvent) -> None:
    """The rendering is the wire format the parser reads back into an equal event."""
    parser = SSEParser(show_comment_events=True, show_retry_events=True)
    assert parser.feed(str(event).encode()) == [event]


def test_replace_makes_a_changed_copy() -> None:
    event = ServerSentEvent("a", event="e", id="1")
    changed = event.replace(data="b", retry=5)
    assert changed == ServerSentEvent("b", event="e", id="1", retry=5)
    assert event == ServerSentEvent("a", event="e", id="1")
    typed = TypedServerSentEvent({"x": 1}, id="2").replace(data=[1])
    assert typed == TypedServerSentEvent([1], id="2")
    with pytest.raises(TypeError, match="colour"):
        event.replace(colour="red")
