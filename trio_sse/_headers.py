"""Headers: an immutable, case-insensitive view of a response's header fields.

HTTP field names are case-insensitive and a field may repeat, so a plain dict would
either lose repeats or make lookups case-sensitive. This keeps the fields in wire order
(names lower-cased, like h11 gives them) and answers ``h[name]`` with the repeats joined
by ", ", which RFC 9110 section 5.3 says is equivalent for list-valued fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeAlias

__all__ = ["Headers"]

_Text: TypeAlias = str | bytes | bytearray
HeadersInput: TypeAlias = Mapping[str, str] | Iterable[tuple[_Text, _Text]]


def _text(value: _Text) -> str:
    """Field bytes are ISO-8859-1 on the wire (RFC 9110 5.5); decode them losslessly."""
    if isinstance(value, str):
        return value
    return bytes(value).decode("latin-1")


class Headers(Mapping[str, str]):
    """Immutable, case-insensitive response headers; repeated fields are kept in order."""

    __slots__ = ("_joined", "_raw")

    def __init__(self, fields: HeadersInput = ()) -> None:
        pairs = fields.items() if isinstance(fields, Mapping) else fields
        self._raw: tuple[tuple[str, str], ...] = tuple(
            (_text(name).lower(), _text(value)) for name, value in pairs
        )
        joined: dict[str, list[str]] = {}
        for name, value in self._raw:
            joined.setdefault(name, []).append(value)
        self._joined = {name: ", ".join(values) for name, values in joined.items()}

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
        return self._joined[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._joined

    def __iter__(self) -> Iterator[str]:
        return iter(self._joined)

    def __len__(self) -> int:
        return len(self._joined)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._joined == other._joined
        if isinstance(other, Mapping):
            return self._joined == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    def __hash__(self) -> int:
        # Immutable, so hashable: SSEResponse is a frozen dataclass that may be hashed.
        return hash(frozenset(self._joined.items()))

    def __repr__(self) -> str:
        return f"Headers({list(self._raw)!r})"
