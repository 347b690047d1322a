"""Headers (case-insensitive, repeats kept) and SSEResponse.content_type."""

from __future__ import annotations

import enum

import pytest

from tests.http_helpers import response
from trio_sse._headers import SHARED_VALUE_LENGTH, Headers


def test_headers_case_insensitive_and_joined() -> None:
    h = Headers([(b"Content-Type", b"text/plain"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
    assert h["content-type"] == h["CONTENT-TYPE"] == "text/plain"
    assert h["Set-Cookie"] == "a=1, b=2"
    assert h.get_list("SET-COOKIE") == ["a=1", "b=2"]
    assert h.get_list("missing") == []
    assert h.raw == (("content-type", "text/plain"), ("set-cookie", "a=1"), ("set-cookie", "b=2"))
    assert list(h) == ["content-type", "set-cookie"]
    assert len(h) == 2
    assert "Content-Type" in h
    assert 1 not in h  # type: ignore[comparison-overlap]  # a non-str key is just absent
    assert h.get("nope") is None
    with pytest.raises(KeyError):
        h["nope"]


def test_headers_decode_latin1() -> None:
    assert Headers([(b"x", b"caf\xe9")])["X"] == "café"


def test_headers_equality_repr_hash() -> None:
    h = Headers({"Content-Type": "text/event-stream", "X-A": "1"})
    assert h == {"content-type": "text/event-stream", "x-a": "1"}
    assert h == {"CONTENT-TYPE": "text/event-stream", "X-a": "1"}
    assert h == Headers([("x-a", "1"), ("content-type", "text/event-stream")])
    assert h != {"content-type": "text/html", "x-a": "1"}
    assert h != [("x-a", "1")]
    assert hash(h) == hash(Headers([("X-A", "1"), ("content-type", "text/event-stream")]))
    assert repr(h) == "Headers([('content-type', 'text/event-stream'), ('x-a', '1')])"
    assert not hasattr(h, "__setitem__")


def test_streams_share_names_and_short_values() -> None:
    # Built from separate bytes, as two responses are: the strings are the same objects,
    # so ten thousand open streams keep one "content-type" and one "text/event-stream".
    long_value = "x" * (SHARED_VALUE_LENGTH + 1)
    first, second = (
        Headers([(b"Content-Type", b"text/event-stream"), (b"x-long", long_value.encode())])
        for _ in range(2)
    )
    (name_1, value_1), (_, long_1) = first.raw
    (name_2, value_2), (_, long_2) = second.raw
    assert name_1 is name_2
    assert value_1 is value_2
    assert long_1 == long_2  # long values are rarely shared: not worth interning


def test_str_subclasses_are_taken_as_plain_text() -> None:
    class MediaType(str, enum.Enum):
        SSE = "text/event-stream"

    class Shouting(str):
        def __str__(self) -> str:
            return self.upper()

    h = Headers({MediaType.SSE: MediaType.SSE, "x-a": Shouting("quiet")})
    assert h["text/event-stream"] == "text/event-stream"
    assert h["x-a"] == "quiet"
    assert all(type(part) is str for field in h.raw for part in field)


def test_repeated_fields_join_in_order_among_others() -> None:
    h = Headers([("a", "1"), ("b", "2"), ("A", "3"), ("c", "4"), ("a", "5")])
    assert h["a"] == "1, 3, 5"
    assert list(h) == ["a", "b", "c"]
    assert len(h) == 3
    assert h == {"a": "1, 3, 5", "b": "2", "c": "4"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text/event-stream", "text/event-stream"),
        ("TEXT/Event-Stream; charset=utf-8", "text/event-stream"),
        ("  text/event-stream ;x=1", "text/event-stream"),
        ("", None),
        (None, None),
    ],
)
def test_content_type(value: str | None, expected: str | None) -> None:
    headers = Headers([] if value is None else [("Content-Type", value)])
    assert response(200, headers).content_type == expected
