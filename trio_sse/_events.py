"""The event types a session hands to its consumer.

Frozen and slotted: events cross task boundaries over memory channels, so they must
be immutable, and a busy stream creates hundreds of thousands of them, so they must
be small and cheap to build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["ServerSentEvent", "TypedServerSentEvent"]

T = TypeVar("T")


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
    out.append("")
    out.append("")
    return "\n".join(out)


def _split_lines(text: str) -> list[str]:
    """Split on exactly the event-stream line endings (CRLF, LF, CR), never str.splitlines()."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event.

    ``data`` is the joined ``data:`` lines (None for a comment- or retry-only block),
    ``event`` the type (None means the default "message" type), ``id`` the stream's
    last event ID at dispatch, ``retry`` the block's valid ``retry:`` value in
    milliseconds and ``comments`` the block's comment lines joined with "\\n".
    """

    data: str | None = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    comments: str | None = None

    def __str__(self) -> str:
        return _render(self.data, self.event, self.id, self.retry, self.comments)


@dataclass(frozen=True, slots=True)
class TypedServerSentEvent(Generic[T]):
    """A ServerSentEvent whose ``data`` went through the session's ``deserialize``."""

    data: T | None = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    comments: str | None = None

    def __str__(self) -> str:
        data = None if self.data is None else str(self.data)
        return _render(data, self.event, self.id, self.retry, self.comments)
