"""The event types a session hands to its consumer.

Events cross task boundaries over memory channels, so they are immutable; a busy
stream creates hundreds of thousands of them, so they must be cheap to build. A
frozen slotted dataclass costs about 700 ns to construct in CPython 3.11 (each field
goes through ``object.__setattr__``), more than parsing the event itself. These
classes are therefore immutable tuple-backed records (about 130 ns): read-only
attributes, no ``__dict__``, equal only to events of the same class, with the repr of
a dataclass. Treat them as records; indexing or unpacking them is not part of the API.
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

__all__ = ["ServerSentEvent", "TypedServerSentEvent"]

T = TypeVar("T")
R = TypeVar("R", bound="_EventRecord")
_FIELDS = ("data", "event", "id", "retry", "comments")


def _split_lines(text: str) -> list[str]:
    """Split on exactly the event-stream line endings (CRLF, LF, CR), never str.splitlines()."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _render(
    data: str | None, event: str | None, id: str | None, retry: int | None, comments: str | None
) -> str:
    """The wire format a server would send for these fields, blank line included."""
    out: list[str] = []
    if comments is not None:
        out.extend(f": {line}" if line else ":" for line in _split_lines(comments))
    if event is not None:
        out.append(f"event: {event}")
    if id is not None:
        out.append(f"id: {id}")
    if retry is not None:
        out.append(f"retry: {retry}")
    if data is not None:
        out.extend(f"data: {line}" if line else "data:" for line in _split_lines(data))
    out.append("\n")
    return "\n".join(out)


class _EventRecord(tuple[Any, ...]):
    """Shared behaviour of the two event classes: an immutable five-field record."""

    __slots__ = ()
    __match_args__ = ("data", "event", "id", "retry", "comments")

    if TYPE_CHECKING:
        event: str | None
        id: str | None
        retry: int | None
        comments: str | None
    else:
        event = property(itemgetter(1), doc="The event type; None means the default, 'message'.")
        id = property(itemgetter(2), doc="The stream's last event ID at dispatch, or None.")
        retry = property(itemgetter(3), doc="The block's valid retry: value in ms, or None.")
        comments = property(itemgetter(4), doc="The block's comment lines joined with LF.")

    # Equal only to a record of the same class, never to a plain tuple (either way round:
    # Python asks the subclass first, so returning False here also decides ``tuple == event``).
    def __eq__(self, other: object) -> bool:
        if type(other) is type(self):
            return tuple.__eq__(self, other)
        return False if isinstance(other, tuple) else NotImplemented

    def __ne__(self, other: object) -> bool:
        if type(other) is type(self):
            return tuple.__ne__(self, other)
        return True if isinstance(other, tuple) else NotImplemented

    __hash__ = tuple.__hash__

    # Records have no order: comparing two events is a bug, as it would be for a dataclass.
    def __lt__(self, other: object) -> bool:
        return NotImplemented

    __le__ = __gt__ = __ge__ = __lt__

    def replace(self: R, **changes: Any) -> R:
        """A copy with some fields changed, as ``dataclasses.replace`` would make."""
        unknown = set(changes).difference(_FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        fields = dict(zip(_FIELDS, self[:], strict=True))
        fields.update(changes)
        return type(self)(**fields)

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self[:])

    def __repr__(self) -> str:
        pairs = zip(_FIELDS, self[:], strict=True)
        fields = ", ".join(f"{name}={value!r}" for name, value in pairs)
        return f"{type(self).__name__}({fields})"


class ServerSentEvent(_EventRecord):
    """One dispatched event.

    ``data`` is the joined ``data:`` lines (None for a comment- or retry-only block),
    ``event`` the type (None means the default "message" type), ``id`` the stream's
    last event ID at dispatch, ``retry`` the block's valid ``retry:`` value in
    milliseconds and ``comments`` the block's comment lines joined with "\\n".
    ``str(event)`` is the wire format a server would send for it.
    """

    __slots__ = ()

    if TYPE_CHECKING:
        data: str | None
    else:
        data = property(itemgetter(0), doc="The data lines joined with LF, or None.")

    def __new__(
        cls,
        data: str | None = None,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comments: str | None = None,
    ) -> ServerSentEvent:
        return tuple.__new__(cls, (data, event, id, retry, comments))

    def __str__(self) -> str:
        return _render(self.data, self.event, self.id, self.retry, self.comments)


class TypedServerSentEvent(_EventRecord, Generic[T]):
    """A ServerSentEvent whose ``data`` was built by the session's ``deserialize`` into
    the type the call asked for (``model=``); None stays None."""

    __slots__ = ()

    if TYPE_CHECKING:
        data: T | None
    else:
        data = property(itemgetter(0), doc="The deserialized data, or None.")

    def __new__(
        cls,
        data: T | None = None,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comments: str | None = None,
    ) -> TypedServerSentEvent[T]:
        return tuple.__new__(cls, (data, event, id, retry, comments))

    def __str__(self) -> str:
        data = None if self.data is None else str(self.data)
        return _render(data, self.event, self.id, self.retry, self.comments)
