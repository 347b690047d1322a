"""Headers: an immutable, case-insensitive view of a response's header fields.

HTTP field names are case-insensitive and a field may repeat, so a plain dict would
either lose repeats or make lookups case-sensitive. This keeps the fields in wire order
(names lower-cased, like h11 gives them) and answers ``h[name]`` with the repeats joined
by ", ", which RFC 9110 section 5.3 says is equivalent for list-valued fields.

Every open stream keeps its response's headers, so they are kept small: the fields
only, looked up by a scan (a response has a handful), and names and short values
interned, since the same ones ("content-type", "text/event-stream", "no-cache") come
with every stream of a process.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeAlias

__all__ = ["Headers"]

_Text: TypeAlias = str | bytes | bytearray
HeadersInput: TypeAlias = Mapping[str, str] | Iterable[tuple[_Text, _Text]]


SHARED_VALUE_LENGTH = 64  # values up to this long are interned (longer ones rarely repeat)


def _text(value: _Text) -> str:
    """Field bytes are ISO-8859-1 on the wire (RFC 9110 5.5); decode them losslessly.
    A str subclass (an enum's member, say) becomes a plain str: only those intern."""
    if isinstance(value, str):
        return value if type(value) is str else str.__str__(value)
    return bytes(value).decode("latin-1")


def _shared(text: str) -> str:
    """One copy per process of a string that repeats across streams."""
    return sys.intern(text) if len(text) <= SHARED_VALUE_LENGTH else text


class Headers(Mapping[str, str]):
    """Immutable, case-insensitive response headers; repeated fields are kept in order."""

    __slots__ = ("_raw",)

    def __init__(self, fields: HeadersInput = ()) -> None:
        pairs = fields.items() if isinstance(fields, Mapping) else fields
        self._raw: tuple[tuple[str, str], ...] = tuple(
            (sys.intern(_text(name).lower()), _shared(_text(value))) for name, value in pairs
        )

    def _joined(self) -> dict[str, str]:
        """Every name once, in first-seen order, with its values joined by ", "."""
        joined: dict[str, str] = {}
        for name, value in self._raw:
            joined[name] = f"{joined[name]}, {value}" if name in joined else value
        return joined

    @property
    def raw(self) -> tuple[tuple[str, str], ...]:
        """Every field as (lower-cased name, value), in the order the server sent them."""
        return self._raw

    def get_list(self, name: str) -> list[str]:
        """Each value of a repeated field separately (Set-Cookie cannot be comma-joined)."""
        key = name.lower()
        return [value for field, value in self._raw if field == key]

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str):
            raise KeyError(name)
        values = self.get_list(name)
        if not values:
            raise KeyError(name)
        return values[0] if len(values) == 1 else ", ".join(values)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return any(field == key for field, _ in self._raw)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(field for field, _ in self._raw))

    def __len__(self) -> int:
        return len({field for field, _ in self._raw})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._joined() == other._joined()
        if isinstance(other, Mapping):
            return self._joined() == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    def __hash__(self) -> int:
        # Immutable, so hashable: SSEResponse is a frozen dataclass that may be hashed.
        return hash(frozenset(self._joined().items()))

    def __repr__(self) -> str:
        return f"Headers({list(self._raw)!r})"
