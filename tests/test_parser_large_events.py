"""Events larger than a read, as 64 KiB events arrive when they are read 64 KiB at a time.

Such a read holds the end of one event's long ``data:`` line, the blank line and the
start of the next event's; ``SSEParser._long_data_ends`` (LF line ends) and
``_long_crlf_data_ends`` (CRLF, as sse-starlette writes) dispatch it without the line
loop. Every case here is checked against the same parser with that path turned off,
chunk by chunk: the same events, the same errors (with the events before them), the same
last event ID and retry, and the same state for whatever comes next.
"""

from __future__ import annotations

import contextlib
import copy
import random
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.test_parser_properties import parser_options, split
from trio_sse import SSEParser, SSEProtocolError

KIB64 = 64 * 1024

LONG_VALUES = st.builds(
    lambda head, size: head + b"y" * size,
    st.sampled_from([b"", b"x", b"\xc3\xa9", b"\xff", b"a\x00b", b": ", b"data: ", b"\xc3"]),
    st.integers(0, 3000),
)
OTHER_LINES = st.sampled_from(
    [
        *(b"data: a", b"data:b", b"data", b"event: t", b"event", b"id: 9", b"id: 7", b"id"),
        *(b"id: \x00", b": note", b"retry: 5", b"retry: x", b"other: 1", b""),
    ]
)
EOLS = st.sampled_from([b"\n", b"\n", b"\n", b"\r\n", b"\r"])


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Mostly long plain data events, with other lines and line ends between them."""
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.integers(0, 3)):
            parts.append(
                b"data: "
                + draw(LONG_VALUES)
                + draw(st.sampled_from([b"\n\n"] * 6 + [b"\n", b"\r\n\r\n"]))
            )
        else:
            parts.append(draw(OTHER_LINES) + draw(EOLS))
    return b"".join(parts)


OPTIONS = parser_options(st.integers(1, 3100))


class Spy:
    """Counts what the path answered (``_long_data_ends`` for LF line ends,
    ``_long_crlf_data_ends`` for CRLF); with ``off``, it refuses every time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, off: bool = False) -> None:
        self.taken = self.refused = 0
        lf_path = SSEParser._long_data_ends
        crlf_path = SSEParser._long_crlf_data_ends

        def count(taken: bool) -> bool:
            if taken:
                self.taken += 1
            else:
                self.refused += 1
            return taken

        def spied_lf(parser: SSEParser, data: bytes, lf: int, events: list[Any]) -> bool:
            with self.taking():
                return count(not off and lf_path(parser, data, lf, events))

        def spied_crlf(parser: SSEParser, data: bytes, events: list[Any]) -> bool:
            with self.taking():
                return count(not off and crlf_path(parser, data, events))

        monkeypatch.setattr(SSEParser, "_long_data_ends", spied_lf)
        monkeypatch.setattr(SSEParser, "_long_crlf_data_ends", spied_crlf)

    @contextlib.contextmanager
    def taking(self) -> Iterator[None]:
        """An error raised by the path comes after its event: the path was taken."""
        try:
            yield
        except SSEProtocolError:
            self.taken += 1
            raise


def state(parser: SSEParser) -> dict[str, object]:
    """Everything the parser keeps (copied: the tail is changed in place). The block's
    size bound is in it too: when it passes a threshold, the block's lines are
    compacted, and what then goes on must not depend on which path ran."""
    return {name: copy.deepcopy(getattr(parser, name)) for name in SSEParser.__slots__}


def trace(chunks: list[bytes], options: dict[str, Any]) -> list[object]:
    parser = SSEParser(**options)
    steps: list[object] = []
    for chunk in [*chunks, None]:
        try:
            events = parser.feed(chunk) if chunk is not None else parser.feed_eof()
            steps.append(("events", events))
        except SSEProtocolError as exc:
            steps.append(("error", str(exc), exc.events))
        steps.append((parser.last_event_id, parser.retry, state(parser)))
    return steps


def check(chunks: list[bytes], options: dict[str, Any]) -> tuple[int, int]:
    """The path's answers (taken, refused) and the proof that it changed nothing."""
    with pytest.MonkeyPatch.context() as patch:
        spy = Spy(patch)
        fast = trace(chunks, options)
    with pytest.MonkeyPatch.context() as patch:
        Spy(patch, off=True)
        general = trace(chunks, options)
    assert fast == general
    return spy.taken, spy.refused


@settings(max_examples=400, deadline=None)
@given(body=bodies(), sizes=st.lists(st.integers(1, 4000), min_size=1, max_size=5), options=OPTIONS)
@example(
    body=b"data: " + b"y" * 3000 + b"\n\ndata: " + b"y" * 3000 + b"\n\n", sizes=[2000], options={}
)
def test_large_events_in_any_reads_match_the_line_loop(
    body: bytes, sizes: list[int], options: dict[str, Any]
) -> None:
    check(split(body, sizes), options)


def test_random_reads_of_random_events_take_the_path_often() -> None:
    """The property test's shape, seeded: the path runs, and changes nothing, in most
    bodies of large events cut into reads of a few KiB."""
    rng = random.Random(7)
    bodies_taken = 0
    for _ in range(200):
        body = b"".join(
            b"data: "
            + rng.choice([b"", b"\xc3\xa9", b"\xff"])
            + b"y" * rng.randint(0, 9000)
            + rng.choice([b"\n\n", b"\r\n\r\n"])
            if rng.random() < 0.8
            else rng.choice([b"id: 1\n", b"event: t\n", b": c\n", b"data: a\n", b"\n"])
            for _ in range(rng.randint(1, 8))
        )
        taken, _ = check(split(body, [rng.randint(1000, 5000)]), {"own_ids": rng.random() < 0.5})
        bodies_taken += taken > 0
    assert bodies_taken > 100


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_64_kib_events_read_64_kib_at_a_time_take_the_path(eol: bytes) -> None:
    events = [b"data: %05d" % i + b"y" * (KIB64 - 5) + eol + eol for i in range(20)]
    body = b"".join(events)
    chunks = split(body, [KIB64])
    taken, refused = check(chunks, {})
    # Every read but the first ends an event, the last one also at the body's end.
    assert (taken, refused) == (len(chunks) - 1, 0)
    parser = SSEParser()
    got = [event for chunk in chunks for event in parser.feed(chunk)]
    datas = [event.data or "" for event in got]
    assert [data[:5] for data in datas] == [f"{i:05d}" for i in range(20)]
    assert {len(data) for data in datas} == {KIB64}


X = b"y" * 3000
HALF = 1500
A = b"data: " + X[:HALF]  # a read that ends inside a long data line
B = X[HALF:]  # the rest of that line, in the next read


@pytest.mark.parametrize(
    ("chunks", "options"),
    [
        pytest.param([A, B + b"\ndata: b"], {}, id="no blank line after it"),
        pytest.param([b"event: " + X[:HALF], B + b"\n\n"], {}, id="not a data line"),
        pytest.param([A, B + b"\n\n"], {"max_event_size": len(X) + 5}, id="line over the limit"),
        pytest.param([b"data: a\n" + A, B + b"\n\n"], {}, id="an earlier data line"),
        pytest.param([b": c\n" + A, B + b"\n\n"], {"show_comment_events": True}, id="a comment"),
        pytest.param([b"retry: 5\n" + A, B + b"\n\n"], {"show_retry_events": True}, id="a retry"),
        # CRLF line ends (sse-starlette): where the CRs are.
        pytest.param([A, B + b"\r\ndata: b"], {}, id="CRLF, no blank line after it"),
        pytest.param([A, B + b"\nx\r\n\r\n"], {}, id="CRLF, an LF line end before"),
        pytest.param([A, B + b"\n\ndata: b\r"], {}, id="LF, then a CR in the rest"),
    ],
)
def test_what_the_path_leaves_to_the_line_loop(
    chunks: list[bytes], options: dict[str, Any]
) -> None:
    """Each case fails exactly one of the path's conditions, in its second read."""
    assert check(chunks, options) == (0, 1)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
@pytest.mark.parametrize(
    ("rest", "options"),
    [
        pytest.param(b"data: b\n\nid: 7\n: c\ndata: n", {}, id="whole blocks, then a line"),
        pytest.param(b"data: b\n\ndata: n", {"max_event_size": 4000}, id="plain blocks"),
        pytest.param(b"data: a\n", {"max_event_size": 3100}, id="a complete data line"),
        pytest.param(b"data: " + X + b"y", {"max_event_size": len(X) + 6}, id="over the limit"),
        pytest.param(b"x" * 3200 + b"\n", {"max_event_size": 3100}, id="a long line"),
        pytest.param(b"\n\n\n", {"show_comment_events": True}, id="blank lines"),
    ],
)
def test_the_rest_is_read_as_the_line_loop_reads_it(
    rest: bytes, options: dict[str, Any], eol: bytes
) -> None:
    """Whatever follows the blank line in the read: more blocks, lines, errors. With
    CRLF ends the line loop reads the read whole, with LF it splits it after the blank
    line, and the bound each leaves differs: the states are compared too."""
    rest = rest.replace(b"\n", eol)
    taken, _ = check([A, B + eol + eol + rest, b"xt" + eol + eol], options)
    assert taken >= 1


def test_a_crlf_read_that_ends_in_a_cr() -> None:
    # The CR may be a CRLF's whose LF comes in the next read: the line loop keeps it
    # pending, and so does the path, which reads the rest with the line loop.
    assert check([A, B + b"\r\n\r\ndata: b\r", b"\n\r\n"], {}) == (1, 0)


def test_a_lone_cr_after_the_long_line() -> None:
    # After the CRLF blank line, a line that ends with a lone CR and more bytes: the
    # line loop reads past that CR (no LF pairs with it), and so must the path, which
    # otherwise keeps only the whole lines and views the rest into the tail.
    body = B + b"\r\n\r\nevent: a\rdata: yy"
    assert check([A, body, b"\n\n"], {}) == (2, 0)  # the last read ends "data: yy" too
    parser = SSEParser()
    parser.feed(A)
    parser.feed(body)
    [event] = parser.feed(b"\n\n")  # the first LF ends "data: yy", not the CR's pair
    assert (event.event, event.data) == ("a", "yy")


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
@pytest.mark.parametrize("rest", [b"", b"data: ne", b"id: 3", b":"])
def test_the_rest_starts_the_next_line(rest: bytes, eol: bytes) -> None:
    body = b"data: " + X + eol + eol + rest
    taken, _ = check([body[:HALF], body[HALF:], b"xt" + eol + eol], {"show_comment_events": True})
    assert taken == (2 if rest == b"data: ne" else 1)  # "data: next" ends a read too


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
@pytest.mark.parametrize(
    ("lines", "options", "name", "event_id"),
    [
        pytest.param([b"event: t"], {}, "t", None, id="a type"),
        pytest.param([b"event: message"], {}, "message", None, id="the default type"),
        pytest.param([b"id: 5"], {}, None, "5", id="an id"),
        pytest.param([b"id: 5", b"event: t"], {"own_ids": True}, "t", "5", id="both, own ids"),
        pytest.param([b"id: 9"], {"own_ids": True, "last_event_id": "9"}, None, "9", id="own id"),
        pytest.param([b"id"], {"last_event_id": "9"}, None, None, id="an id that clears it"),
        pytest.param([b"id: a\x00b"], {"last_event_id": "9"}, None, "9", id="an id with NUL"),
    ],
)
def test_event_and_id_lines_before_the_long_line(
    lines: list[bytes],
    options: dict[str, Any],
    name: str | None,
    event_id: str | None,
    eol: bytes,
) -> None:
    """sse-starlette writes ``id`` and ``event`` lines before the data: the path takes
    such blocks, commits the id and gives the event its type, as the blank line does."""
    head = b"".join(line + eol for line in lines)
    chunks = [head + A, B + eol + eol + b"data: ne", b"xt" + eol + eol]
    assert check(chunks, options) == (2, 0)
    parser = SSEParser(**options)
    parser.feed(chunks[0])
    [event] = parser.feed(chunks[1])
    assert (event.event, event.id) == (name, event_id)
    assert parser.last_event_id == (event_id if event_id != "" else None)
    [after] = parser.feed(chunks[2])
    # The next block has no id line: the last id again, or none with own_ids.
    assert after.id == (None if options.get("own_ids") else event_id)


def test_the_data_is_decoded_as_the_line_loop_does() -> None:
    # Invalid UTF-8 is replaced, a character cut between reads is whole again.
    body = b"data: \xff" + X + b"\xc3\xa9\n\n"
    cut = body.index(b"\xc3") + 1
    assert check([body[:cut], body[cut:]], {}) == (1, 0)
    parser = SSEParser()
    parser.feed(body[:cut])
    [event] = parser.feed(body[cut:])
    assert event.data == "\ufffd" + X.decode() + "\xe9"


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"", id="data only"),
        pytest.param(b"event: tick\nid: %05d\n", id="event and id, LF"),
        pytest.param(b"event: tick\r\nid: %05d\r\n", id="event and id, CRLF"),
    ],
)
def test_a_64_kib_event_at_a_time_needs_two_copies_of_it(head: bytes) -> None:
    """Reading 64 KiB events 64 KiB at a time, the parser holds at most the line being
    finished and its text (the start of the next line is copied after the line goes):
    about two copies of an ASCII event on top of the read (text of wider characters
    takes more: 4 bytes per character for emoji). The next event's ``event`` and ``id``
    lines are sliced off the read alone, not with the start of its data line."""
    eol = b"\r\n" if b"\r" in head else b"\n"
    events = [
        (head.replace(b"%05d", b"%05d" % i) if head else b"")
        + b"data: %05d" % i
        + b"y" * (KIB64 - 5)
        + eol * 2
        for i in range(8)
    ]
    reads = split(b"".join(events), [KIB64])
    parser = SSEParser()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        count = 0
        for read in reads:
            count += len(parser.feed(read))  # each event dropped at once, as a consumer does
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert count == 8
    assert peak <= 2.5 * KIB64, f"peak {peak / KIB64:.2f} times a 64 KiB event"


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_the_bound_left_by_a_long_line_before_the_data(eol: bytes) -> None:
    """A block whose earlier lines come close to the size at which the line loop
    compacts a block: after the blank line, the next block's data line must not be
    compacted (or checked) earlier than the line loop would."""
    event_line = b"event: " + b"e" * (65500 - 8 - len(A) - len(eol) + 1)
    first = event_line + eol + A
    assert len(first) == 65500  # under SPILL_SIZE: counted, not yet measured
    chunks = [first, B + eol + eol + b"data: a" + eol + b"z" * 100, eol + eol]
    assert check(chunks, {}) == (1, 1)  # the last read ends a line of z: the line loop
