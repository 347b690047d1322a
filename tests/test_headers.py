"""Headers (case-insensitive, repeats kept) and SSEResponse.content_type."""

from __future__ import annotations

import pytest

from tests.http_helpers import response
from trio_sse._headers import Headers


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
    assert 1 not in h  # type: ignore[comparison-overlap]
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
