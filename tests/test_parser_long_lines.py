"""Long lines outside plain data events: the parser walks them with find, not splitlines.

A chunk of WALK_SIZE bytes or more is split by ``_split_lines``, which must give exactly
what ``bytes.splitlines`` gives (CR, LF and CRLF, blank lines, an unterminated rest), and
whose searches must stay linear in the chunk whatever its mix of line endings. The
streams here are the shapes that reach it: CRLF endings (sse-starlette's default), ``id``
and ``event`` lines before a long data line, several long data lines in one event; they
are checked against the standard's reference model in test_parser_properties.
"""

from __future__ import annotations

from typing import ClassVar

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.test_parser_properties import as_outcome, feed, reference_parse, split
from trio_sse import SSEParser, _parser
from trio_sse._parser import WALK_AVERAGE, WALK_SIZE, _end_of_blocks, _split_lines

# -- the splitter -----------------------------------------------------------------------------

LENGTHS = st.one_of(st.integers(0, 3), st.integers(0, 2 * WALK_AVERAGE), st.integers(0, 9000))
ENDINGS = st.sampled_from([b"\n", b"\r", b"\r\n", b"\n\n", b"\r\r", b"\r\n\r\n", b"\n\r"])
LINES = st.builds(lambda n, end: b"x" * n + end, LENGTHS, ENDINGS)
CHUNKS = st.builds(
    lambda lines, rest: b"".join(lines) + b"y" * rest,
    st.lists(LINES, max_size=24),
    st.one_of(st.just(0), LENGTHS),
)


def splitlines_reference(data: bytes) -> tuple[list[bytes], int]:
    """What _split_lines promises, from splitlines itself."""
    lines = data.splitlines()
    if data and data[-1] not in b"\r\n":
        rest = lines.pop()
        return lines, len(data) - len(rest)
    return lines, len(data)


@settings(max_examples=400)
@given(data=CHUNKS)
def test_split_lines_is_splitlines(data: bytes) -> None:
    assert _split_lines(data) == splitlines_reference(data)


class CountingBytes(bytes):
    """bytes that record their find calls and add up how many bytes their find and
    rfind calls cross (up to what they find, or their whole window)."""

    crossed = 0
    finds: ClassVar[list[tuple[bytes, int, int]]] = []

    def find(self, sub: bytes, start: int = 0, end: int = 2**62) -> int:  # type: ignore[override]
        CountingBytes.finds.append((sub, start, end))
        found = super().find(sub, start, end)
        window = range(len(self))[start:end]
        CountingBytes.crossed += found - window.start + 1 if found >= 0 else len(window)
        return found

    def rfind(self, sub: bytes, start: int = 0, end: int = 2**62) -> int:  # type: ignore[override]
        found = super().rfind(sub, start, end)
        window = range(len(self))[start:end]
        CountingBytes.crossed += window.stop - found if found >= 0 else len(window)
        return found


def split_counted(data: bytes) -> tuple[list[bytes], int]:
    CountingBytes.crossed = 0
    CountingBytes.finds = []
    return _split_lines(CountingBytes(data))


def test_a_long_rest_is_never_split() -> None:
    # Short lines, then the start of a 60 KB line: splitlines runs over the lines only.
    data = b"id: 1\r\nevent: e\r\ndata: " + b"L" * 60_000

    class Splitting(CountingBytes):
        def splitlines(self, keepends: bool = False) -> list[bytes]:
            raise AssertionError("the whole chunk was split")

    assert _split_lines(Splitting(data)) == splitlines_reference(data)


def test_searches_stay_linear_with_cr_only_endings() -> None:
    # Each line's LF search would cross the whole rest of the chunk if the walk did not
    # remember that there is no LF left: 64 lines of 1 KiB, quadratic, ~2 MiB crossed.
    data = (b"x" * 1024 + b"\r") * 64
    assert split_counted(data) == splitlines_reference(data)
    assert CountingBytes.crossed <= 4 * len(data)


def test_searches_stay_linear_with_lf_endings() -> None:
    data = (b"x" * 1024 + b"\n") * 64
    assert split_counted(data) == splitlines_reference(data)
    assert CountingBytes.crossed <= 4 * len(data)


def test_a_chunk_of_short_lines_is_left_to_splitlines() -> None:
    # Many small events: one splitlines, once two LFs are found in the first bytes.
    data = b"id: 1\r\n" * 1000
    assert split_counted(data) == splitlines_reference(data)
    assert CountingBytes.finds == [(b"\n", 0, WALK_AVERAGE), (b"\n", 7, WALK_AVERAGE)]


def test_a_chunk_of_short_cr_lines_is_left_to_splitlines() -> None:
    data = b"id: 1\r" * 1000
    assert split_counted(data) == splitlines_reference(data)
    assert len(CountingBytes.finds) == 3  # no LF, then two CRs


def test_a_long_line_after_one_short_one_is_walked() -> None:
    # A chunk that starts with the LF ending the previous chunk's line, then a long data
    # line (an event of several long data lines): one short line is not a run of them.
    data = b"\n" + b"data: " + b"L" * 30_000 + b"\n\n"
    assert split_counted(data) == splitlines_reference(data)
    assert len(CountingBytes.finds) == 2 + 2 * 3  # the check, then an LF and a CR a line


def test_a_walk_gives_up_once_its_lines_average_short() -> None:
    # A long line, then many short ones: the walk stops once the average falls under
    # WALK_AVERAGE (here after about 17 lines) instead of walking all 1,001 lines.
    data = b"x" * 8192 + b"\r\n" + b"id: 1\r\n" * 1000
    assert split_counted(data) == splitlines_reference(data)
    assert 2 * 4 < len(CountingBytes.finds) < 2 * 20


def test_long_lines_are_walked_to_the_end() -> None:
    # Four 8 KiB lines average far above WALK_AVERAGE, so the fifth, short, line is
    # walked too: one LF and one CR search per line (after the two of the first line's
    # check), no splitlines.
    data = (b"x" * 8192 + b"\r\n") * 4 + b"id: 1\n" + b"y" * 100
    assert split_counted(data) == splitlines_reference(data)
    assert len(CountingBytes.finds) == 2 + 2 * 5


def test_only_chunks_of_walk_size_or_more_are_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Below WALK_SIZE one splitlines is cheaper than the walk's calls.
    walked = []

    def spy(data: bytes) -> tuple[list[bytes], int]:
        walked.append(len(data))
        return _split_lines(data)

    monkeypatch.setattr(_parser, "_split_lines", spy)
    parser = SSEParser()
    for size in (WALK_SIZE - 1, WALK_SIZE):
        value = b"v" * (size - len(b"id: 1\r\ndata: \r\n\r\n"))
        [event] = parser.feed(b"id: 1\r\ndata: " + value + b"\r\n\r\n")
        assert event.data == value.decode()
    assert walked == [WALK_SIZE]


# -- the parser on the shapes that take the walk ----------------------------------------------

LONG = st.integers(WALK_SIZE // 2, 3 * WALK_SIZE).map(lambda n: b"L" * n)
SHORT = st.sampled_from([b"", b"x", b"\xc3\xa9", b"\xff", b"data: ", b"7"])
VALUE = st.one_of(LONG, SHORT)
EOL = st.sampled_from([b"\n", b"\r", b"\r\n"])


@st.composite
def long_line_streams(draw: st.DrawFn) -> bytes:
    """Blocks of ``id``, ``event``, comment and data lines, some of them long, with any
    line endings, as servers other than token streams send them."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        eol = draw(EOL)
        fields = draw(
            st.lists(st.sampled_from([b"data: ", b"data:", b"id: ", b"event: ", b": "]), max_size=4)
        )
        out += [name + draw(VALUE) + eol for name in fields]
        out.append(b"data: " + draw(LONG) + eol + eol)
    return b"".join(out)


SIZES = st.lists(
    st.one_of(st.integers(1, 64), st.integers(WALK_SIZE, 4 * WALK_SIZE)), min_size=1, max_size=6
)


@settings(max_examples=60, deadline=None)
@given(body=long_line_streams(), sizes=SIZES, whole=st.booleans())
def test_long_lines_match_the_reference(body: bytes, sizes: list[int], whole: bool) -> None:
    chunks = [body] if whole else split(body, sizes)
    assert feed(chunks) == as_outcome(reference_parse(body))


def test_sse_starlette_shape_with_64_kib_data() -> None:
    """id, event and a 64 KiB data line with CRLF, in 64 KiB reads: the benchmark's shape."""
    events = [
        b"id: %d\r\nevent: chunk\r\ndata: %s\r\n\r\n" % (i, b"%08d" % i * 8192) for i in range(5)
    ]
    body = b"".join(events)
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    outcome = feed(chunks)
    assert outcome == as_outcome(reference_parse(body))
    assert [(e.id, e.event, (e.data or "")[:8]) for e in outcome.events] == [
        (str(i), "chunk", f"{i:08d}") for i in range(5)
    ]


# -- the last blank line before the next block ------------------------------------------------


@settings(max_examples=400)
@given(data=CHUNKS.map(lambda chunk: chunk + b"\n"), pick=st.integers(0, 2**20))
@example(data=b"a\n\n" + b"x\n" * 8, pick=-1)  # the blank line just past the walk's reach
@example(data=b"a\n\n" + b"x\n" * 9, pick=-1)
def test_end_of_blocks_is_the_last_blank_line(data: bytes, pick: int) -> None:
    lfs = [i for i, byte in enumerate(data) if byte == 10]
    last_lf = lfs[pick % len(lfs)]
    pair = data.rfind(b"\n\n", 0, last_lf + 1)
    assert _end_of_blocks(data, last_lf) == (pair + 2 if pair >= 0 else -1)


def test_end_of_blocks_walks_back_over_a_long_line_by_lf() -> None:
    # A two-byte rfind crosses a long line ~80 times slower than memrchr.
    data = b"data: x\n\ndata: " + b"L" * 60_000 + b"\nid: 1\n"
    searched = []

    class Recording(bytes):
        def rfind(self, sub: bytes, start: int = 0, end: int = 2**62) -> int:  # type: ignore[override]
            searched.append(sub)
            return super().rfind(sub, start, end)

    assert _end_of_blocks(Recording(data), len(data) - 1) == len(b"data: x\n\n")
    assert searched == [b"\n"] * 2
