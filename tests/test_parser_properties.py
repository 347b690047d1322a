"""Property tests of SSEParser: chunking never matters, a naive reference model written
straight from the standard agrees with it, and ``str(event)`` parses back to the event.

The reference model below is deliberately slow and literal (decode everything, walk the
characters, keep the data buffer as a string) so that it is obviously right; the parser is
fast and clever, and any disagreement is a bug in the parser or in this file's reading of
the standard, both worth knowing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzz.fuzz_parser import cut_cyclically
from trio_sse import ServerSentEvent, SSEParser, SSEProtocolError

BOM = b"\xef\xbb\xbf"
RETRY_CAP = 2**63 - 1  # the parser's (documented) ceiling for absurd retry values
FLAG_COMBINATIONS = [(False, False), (True, False), (False, True), (True, True)]
PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# Tests run once per combination of the two filters: fewer examples each, as many in all.
PER_COMBINATION_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=100)

# -- the reference model ----------------------------------------------------------------------


@dataclass
class Reference:
    """What a body means, per WHATWG HTML 9.2.6 and the filters of docs/architecture.md."""

    events: list[ServerSentEvent]
    last_event_id: str | None
    retry: int | None
    # Events dispatched before the first breach of max_event_size; None if no breach.
    events_before_overflow: list[ServerSentEvent] | None = None
    # The last event ID committed before that breach: the block that breaches is never
    # dispatched, so its id is not committed.
    last_event_id_at_overflow: str | None = None
    # The retry in force before that breaching block began: its retry: lines are taken
    # back with it. And which limit broke first: "line" or "event" (data or comments).
    retry_at_overflow: int | None = None
    overflow_kind: str | None = None


@dataclass
class _Block:
    """The buffers of the block being read (everything since the last blank line)."""

    data: str = ""
    event_type: str = ""
    comments: list[str] = field(default_factory=list)
    retry: int | None = None


def _utf8_size(text: str) -> int:
    """Bytes of ``text`` on the wire (exact for bodies that are valid UTF-8)."""
    return len(text.encode("utf-8"))


def reference_parse(
    body: bytes,
    *,
    show_comment_events: bool = False,
    show_retry_events: bool = False,
    last_event_id: str | None = None,
    max_event_size: int | None = None,
    own_ids: bool = False,
) -> Reference:
    """Interpret a complete body the way the standard describes it, one character at a time.

    ``max_event_size`` is checked on the decoded text, so only pass it for bodies that are
    valid UTF-8 (then the text's UTF-8 size is the wire size).
    """
    # "decode the stream using UTF-8 decode" (replacement, one leading BOM removed).
    text = body.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]

    # Split into lines at CRLF, lone LF or lone CR; a final unterminated line is dropped.
    lines: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\r":
            lines.append("".join(current))
            current = []
            if i + 1 < len(text) and text[i + 1] == "\n":
                i += 1
        elif char == "\n":
            lines.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    unterminated = "".join(current)

    events: list[ServerSentEvent] = []
    overflow_at: int | None = None  # number of events dispatched before the first breach
    overflow_id: str | None = None  # the committed last event ID at that breach
    overflow_retry: int | None = None  # the retry in force when the breaching block began
    overflow_kind: str | None = None  # "line" or "event"
    id_buffer = last_event_id or ""
    committed_id = id_buffer
    retry: int | None = None
    retry_at_block_start = retry
    block = _Block()
    block_id: str | None = None  # the value of the current block's own id line

    def too_big(size: int) -> bool:
        return max_event_size is not None and size > max_event_size

    def breach(size: int, kind: str) -> None:
        nonlocal overflow_at, overflow_id, overflow_retry, overflow_kind
        if overflow_at is None and too_big(size):
            overflow_at = len(events)
            overflow_id = committed_id or None
            overflow_retry = retry_at_block_start
            overflow_kind = kind

    for line in lines:
        breach(_utf8_size(line), "line")
        if line == "":
            # "dispatch the event": the last event ID is committed even if nothing fires.
            committed_id = id_buffer
            retry_at_block_start = retry
            event_id = block_id if own_ids else id_buffer or None
            block_id = None
            comments = "\n".join(block.comments) if block.comments else None
            if block.data != "":
                data: str | None = block.data[:-1] if block.data.endswith("\n") else block.data
            elif (show_comment_events and block.comments) or (
                show_retry_events and block.retry is not None
            ):
                data = None  # Ktor's filters surface a data-less block
            else:
                block = _Block()
                continue
            events.append(
                ServerSentEvent(data, block.event_type or None, event_id, block.retry, comments)
            )
            block = _Block()
            continue
        if line.startswith(":"):
            comment = line[1:]
            block.comments.append(comment[1:] if comment.startswith(" ") else comment)
            breach(_utf8_size("\n".join(block.comments)), "event")
            continue
        if ":" in line:
            name, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            name, value = line, ""
        if name == "data":
            block.data += value + "\n"
            breach(_utf8_size(block.data) - 1, "event")
        elif name == "event":
            block.event_type = value
        elif name == "id":
            if "\0" not in value:
                id_buffer = block_id = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            digits = value.lstrip("0") or "0"
            ms = RETRY_CAP if len(digits) > 19 else min(int(digits), RETRY_CAP)
            retry = block.retry = ms
        # anything else, whitespace-only lines included, is ignored

    breach(_utf8_size(unterminated), "line")
    # End of body: the incomplete block is discarded, its id never committed.
    return Reference(
        events=events,
        last_event_id=committed_id or None,
        retry=retry,
        events_before_overflow=None if overflow_at is None else events[:overflow_at],
        last_event_id_at_overflow=overflow_id,
        retry_at_overflow=overflow_retry,
        overflow_kind=overflow_kind,
    )


# -- running the real parser ------------------------------------------------------------------


@dataclass
class Outcome:
    """Everything a way of feeding produced."""

    events: list[ServerSentEvent]
    last_event_id: str | None
    retry: int | None
    raised: bool = False
    # Which limit the error names: "line" or "event" (None when nothing was raised).
    breach: str | None = None


def feed(chunks: list[bytes], **options: Any) -> Outcome:
    """Feed the chunks and EOF; a SSEProtocolError ends the body (events so far kept)."""
    parser = SSEParser(**options)
    events: list[ServerSentEvent] = []
    try:
        for chunk in chunks:
            events.extend(parser.feed(chunk))
        events.extend(parser.feed_eof())
    except SSEProtocolError as exc:
        # The events of the call that raised come with its error.
        breach = "line" if "a line is longer" in str(exc) else "event"
        return Outcome(events + exc.events, parser.last_event_id, parser.retry, True, breach)
    return Outcome(events, parser.last_event_id, parser.retry)


def as_outcome(reference: Reference) -> Outcome:
    """The reference result in the parser's shape (for bodies within the limit)."""
    return Outcome(reference.events, reference.last_event_id, reference.retry)


def split(body: bytes, sizes: list[int]) -> list[bytes]:
    """The body in chunks of the given sizes, used cyclically; a size 0 is an empty chunk
    (between a CR and its LF, say)."""
    if not any(sizes):
        sizes = [*sizes, 1]
    return cut_cyclically(body, sizes)


def parser_options(small_limits: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, Any]]:
    """Every SSEParser option: the flags, a last event ID, and a limit that is either
    far off or drawn from ``small_limits`` (near the sizes a test's bodies have)."""
    return st.fixed_dictionaries(
        {
            "own_ids": st.booleans(),
            "show_comment_events": st.booleans(),
            "show_retry_events": st.booleans(),
            "max_event_size": st.one_of(st.just(2**20), small_limits),
            "last_event_id": st.sampled_from([None, "", "9"]),
        }
    )


def bytewise(body: bytes) -> list[bytes]:
    """One chunk per byte."""
    return [body[i : i + 1] for i in range(len(body))]


def bytewise_with_empty_chunks(body: bytes) -> list[bytes]:
    """One chunk per byte, each followed by an empty chunk: empty reads change nothing."""
    return [piece for i in range(len(body)) for piece in (body[i : i + 1], b"")]


# -- strategies -------------------------------------------------------------------------------

EOLS = st.sampled_from([b"\n", b"\r", b"\r\n"])
# Valid but interesting UTF-8: NUL, a BOM, NEL and LINE SEPARATOR (not line endings here).
ODD_VALID = [b"\x00", BOM, "\x85".encode(), "\u2028".encode(), b"\x0b", b"\x0c"]
INVALID = [b"\xff", b"\x80", b"\xe2\x82", b"\xc3", b"\xed\xa0\x80", b"\xf0\x9f", b"\xef\xbb"]
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
SPECIAL_PIECES = [b" ", b"  ", b":", b": ", b"\t", b"0", b"12", b"007", b"+5", b"-1", b"1_0"]
FIELD_NAMES = [
    *[b"data"] * 6,
    *[b"event", b"id", b"retry"] * 2,
    b"",  # with a colon: a comment
    b"Data",
    b"ID",
    b"foo",
    b" ",
    b"data ",
    b" data",
    BOM + b"data",
]


def values(*, invalid: bool) -> st.SearchStrategy[bytes]:
    """Field values: text with multibyte characters, tricky ASCII and odd bytes."""
    pieces = [TEXT.map(str.encode), st.sampled_from(SPECIAL_PIECES + ODD_VALID)]
    if invalid:
        pieces.append(st.sampled_from(INVALID))
    return st.lists(st.one_of(*pieces), max_size=4).map(b"".join)


def lines(*, invalid: bool) -> st.SearchStrategy[bytes]:
    """One line without its ending: fields of every kind, comments, blanks, whitespace."""
    name = st.sampled_from(FIELD_NAMES)
    separator = st.sampled_from([b":", b": ", b":  ", b""])
    return st.one_of(
        st.builds(lambda n, s, v: n + s + v, name, separator, values(invalid=invalid)),
        st.just(b""),
        st.just(b""),
        st.integers(0, 10**25).map(lambda n: b"retry: %d" % n),
        st.sampled_from([b" ", b"\t", b"  ", b"data", b"id", b"event", b":"]),
    )


@st.composite
def streams(draw: st.DrawFn, *, invalid: bool = True) -> bytes:
    """A body: an optional BOM (or two), lines with random endings, maybe an unfinished one."""
    out = [draw(st.sampled_from([b"", b"", b"", BOM, BOM + BOM]))]
    for line in draw(st.lists(lines(invalid=invalid), max_size=30)):
        out += [line, draw(EOLS)]
    if draw(st.booleans()):
        out.append(draw(lines(invalid=invalid)))
    return b"".join(out)


@st.composite
def token_streams(draw: st.DrawFn) -> list[bytes]:
    """Blocks as LLM token streams send them, mostly ``data: <value>\\n\\n``, with now and then
    something else (a CRLF, an id, a comment, two data lines, invalid UTF-8) mixed in: the
    shapes a parser's fast path for plain data events must get exactly right."""
    value = values(invalid=True)
    plain = st.builds(lambda v: b"data: " + v + b"\n\n", value)
    other = st.one_of(
        st.builds(lambda v: b"data: " + v + b"\r\n\r\n", value),
        st.builds(lambda v: b"id: " + v + b"\ndata: x\n\n", value),
        st.builds(lambda v: b": " + v + b"\n\n", value),
        st.builds(lambda v: b"data: " + v + b"\ndata: " + v + b"\n\n", value),
        st.builds(lambda v: b"data:" + v + b"\n\n", value),
        st.sampled_from([b"\n", b"data: x\n", b"data: x", b"\n\n", b"event: e\n", b"retry: 1\n"]),
    )
    return draw(st.lists(st.one_of(plain, plain, plain, other), max_size=20))


# A "token soup" of SSE syntax and raw bytes: denser in line endings and field names than
# st.binary, so arbitrary bytes still reach every branch.
TOKENS = [b"data", b"event", b"id", b"retry", b":", b" ", b"\r", b"\n", b"\r\n", b"\n\n"]
SOUP = st.lists(st.one_of(st.sampled_from(TOKENS + INVALID + ODD_VALID), st.binary(max_size=4)))
BODIES = st.one_of(
    st.binary(max_size=400), SOUP.map(b"".join), streams(), token_streams().map(b"".join)
)
LAST_EVENT_IDS = st.one_of(
    st.none(), st.text(st.characters(codec="utf-8", exclude_characters="\0\r\n"), max_size=5)
)
# Chunk sizes, used cyclically: small ones cut everywhere, zeros make empty chunks.
SIZES = st.lists(st.one_of(st.integers(0, 8), st.integers(0, 200)), min_size=1, max_size=8)


# -- properties -------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    body=BODIES,
    sizes=SIZES,
    show_comment_events=st.booleans(),
    show_retry_events=st.booleans(),
    last_event_id=LAST_EVENT_IDS,
)
@example(b"data: x\r\ndata: y\n\n", [8, 0], False, False, None)  # empty chunk inside CRLF
def test_chunking_never_matters(
    body: bytes,
    sizes: list[int],
    show_comment_events: bool,
    show_retry_events: bool,
    last_event_id: str | None,
) -> None:
    """Whole, byte by byte (with and without empty chunks in between) and cut anywhere:
    the same events and state."""
    options: dict[str, Any] = {
        "show_comment_events": show_comment_events,
        "show_retry_events": show_retry_events,
        "last_event_id": last_event_id,
    }
    whole = feed([body], **options)
    assert not whole.raised
    assert feed(bytewise(body), **options) == whole
    assert feed(bytewise_with_empty_chunks(body), **options) == whole
    assert feed(split(body, sizes), **options) == whole


@pytest.mark.parametrize(("show_comment_events", "show_retry_events"), FLAG_COMBINATIONS)
@PER_COMBINATION_SETTINGS
@given(body=st.binary(max_size=500), sizes=SIZES)
def test_matches_reference_on_arbitrary_bytes(
    show_comment_events: bool, show_retry_events: bool, body: bytes, sizes: list[int]
) -> None:
    """Any bytes at all mean what the reference model says."""
    options: dict[str, Any] = {
        "show_comment_events": show_comment_events,
        "show_retry_events": show_retry_events,
    }
    expected = as_outcome(reference_parse(body, **options))
    assert feed([body], **options) == expected
    assert feed(split(body, sizes), **options) == expected


@pytest.mark.parametrize(("show_comment_events", "show_retry_events"), FLAG_COMBINATIONS)
@PER_COMBINATION_SETTINGS
@given(body=st.one_of(streams(), SOUP.map(b"".join)), sizes=SIZES, last_event_id=LAST_EVENT_IDS)
@example(b": c\n\nretry: 5\n\nid: 1\n: d\n\n", [3], None)
@example(BOM + b"\xef\xbb\xbfdata: x\r\rdata\n\n", [1, 2, 0, 4], "seed")
@example(b"retry: 1000000000000000000\n\n", [100], None)  # 19 digits, below the cap
def test_matches_reference_on_structured_streams(
    show_comment_events: bool,
    show_retry_events: bool,
    body: bytes,
    sizes: list[int],
    last_event_id: str | None,
) -> None:
    """Realistic and adversarial event streams mean what the reference model says."""
    options: dict[str, Any] = {
        "show_comment_events": show_comment_events,
        "show_retry_events": show_retry_events,
        "last_event_id": last_event_id,
    }
    expected = as_outcome(reference_parse(body, **options))
    assert feed([body], **options) == expected
    assert feed(split(body, sizes), **options) == expected


@PROPERTY_SETTINGS
@given(
    body=streams(invalid=False),
    sizes=SIZES,
    max_event_size=st.integers(1, 40),
    show_comment_events=st.booleans(),
)
@example(b"data:01234\ndata:01234\n\n", [100], 10, False)  # 11 bytes of data in one chunk
@example(b":0123456789\n:0123456789\n\n", [12, 100], 20, True)  # comments over the limit
# The breaching block is not dispatched: its id is not committed, whatever the chunking.
@example(b"id: 1\n\ndata:0123456789\nid: 2\ndata:0123456789\n\n", [100], 20, False)
@example(b"id: 1\n\n:0123456789\nid: 2\n:0123456789\n\n", [100], 20, True)
# Nor is its retry kept: the retry before it stands, whatever the chunking.
@example(
    b"retry: 7\n\nretry: 5\nretry: 6\ndata:0123456789\ndata:0123456789\nretry: 9\n\n",
    [100],
    20,
    False,
)
# A breaching block without a retry line keeps the retry of the blocks before it.
@example(b"retry: 5\n\ndata: " + b"x" * 30 + b"\n", [100], 20, False)
# Data over the limit before a line over it, in one chunk: the data's breach is named.
@example(b"data:0123456789\ndata:0123456789\ndata:" + b"x" * 30 + b"\n", [100], 20, False)
def test_max_event_size_matches_reference(
    body: bytes, sizes: list[int], max_event_size: int, show_comment_events: bool
) -> None:
    """With a small limit: a protocol error exactly when some line, some block's data or
    some block's comments exceed it, whatever the chunking; never an event from after
    the breach; and otherwise the same result as without a limit."""
    options: dict[str, Any] = {
        "show_comment_events": show_comment_events,
        "max_event_size": max_event_size,
    }
    reference = reference_parse(
        body, show_comment_events=show_comment_events, max_event_size=max_event_size
    )
    for chunks in ([body], bytewise(body), split(body, sizes)):
        outcome = feed(chunks, **options)
        if reference.events_before_overflow is None:
            assert outcome == as_outcome(reference)
        else:
            assert outcome.raised, f"no SSEProtocolError for {len(chunks)} chunk(s)"
            assert outcome.events == reference.events_before_overflow
            assert outcome.last_event_id == reference.last_event_id_at_overflow
            assert outcome.retry == reference.retry_at_overflow
            assert outcome.breach == reference.overflow_kind


@pytest.mark.parametrize(("show_comment_events", "show_retry_events"), FLAG_COMBINATIONS)
@PER_COMBINATION_SETTINGS
@given(blocks=token_streams(), data=st.data())
def test_token_streams_in_any_grouping(
    show_comment_events: bool, show_retry_events: bool, blocks: list[bytes], data: st.DataObject
) -> None:
    """Blocks fed one per chunk, in random groups and whole: what the reference model says."""
    options: dict[str, Any] = {
        "show_comment_events": show_comment_events,
        "show_retry_events": show_retry_events,
    }
    body = b"".join(blocks)
    expected = as_outcome(reference_parse(body, **options))
    assert feed(blocks, **options) == expected
    assert feed([body], **options) == expected
    cuts = data.draw(st.sets(st.integers(0, len(blocks))), label="group boundaries")
    bounds = sorted({0, len(blocks), *cuts})
    groups = [b"".join(blocks[a:b]) for a, b in itertools.pairwise(bounds)]
    assert feed(groups, **options) == expected


@PROPERTY_SETTINGS
@given(
    blocks=st.one_of(token_streams(), BODIES.map(lambda body: [body])),
    sizes=SIZES,
    show_comment_events=st.booleans(),
    show_retry_events=st.booleans(),
    last_event_id=LAST_EVENT_IDS,
)
@example(
    [b"id: 1\ndata: a\n\n", b"id: 1\n", b"data: b\n\n", b"data: c\n\n"], [100], False, False, None
)
@example([b"id: 7\n\n", b"data: a\n\n", b"id\n: c\n\n"], [1], True, False, "5")
def test_own_ids_match_reference(
    blocks: list[bytes],
    sizes: list[int],
    show_comment_events: bool,
    show_retry_events: bool,
    last_event_id: str | None,
) -> None:
    """With own_ids, each event's id is its block's own id line, however the bytes are
    grouped (fast paths included; a repeated id is still the block's own); the committed
    last event ID is the same as without."""
    options: dict[str, Any] = {
        "show_comment_events": show_comment_events,
        "show_retry_events": show_retry_events,
        "last_event_id": last_event_id,
    }
    body = b"".join(blocks)
    expected = as_outcome(reference_parse(body, own_ids=True, **options))
    assert feed(blocks, own_ids=True, **options) == expected
    assert feed([body], own_ids=True, **options) == expected
    assert feed(split(body, sizes), own_ids=True, **options) == expected
    assert feed([body], **options).last_event_id == expected.last_event_id


@PROPERTY_SETTINGS
@given(body=st.one_of(streams(), SOUP.map(b"".join)), last_event_id=LAST_EVENT_IDS)
def test_str_round_trips(body: bytes, last_event_id: str | None) -> None:
    """Every event the parser produces renders (str) to a body that a fresh parser reads
    back into an equal event."""
    options = {"show_comment_events": True, "show_retry_events": True}
    for event in feed([body], last_event_id=last_event_id, **options).events:
        wire = str(event).encode()
        assert feed([wire], **options).events == [event], wire


@PROPERTY_SETTINGS
@given(body=BODIES, sizes=SIZES)
def test_events_are_well_formed(body: bytes, sizes: list[int]) -> None:
    """Whatever the input: text fields hold no line endings, ids no NUL, types are exact."""
    outcome = feed(split(body, sizes), show_comment_events=True, show_retry_events=True)
    for event in outcome.events:
        assert type(event) is ServerSentEvent
        assert event.data is not None or event.comments is not None or event.retry is not None
        for text in (event.data, event.comments):
            assert text is None or (type(text) is str and "\r" not in text)
        for text in (event.event, event.id):
            assert text is None or (type(text) is str and text and not set(text) & set("\r\n"))
        assert event.id is None or "\0" not in event.id
        assert event.retry is None or (type(event.retry) is int and event.retry >= 0)


# -- the reference model checks itself against the standard's examples ------------------------


def test_reference_model_on_the_standard_examples() -> None:
    """The model is only useful if it is right: the four examples of 9.2.6."""
    assert reference_parse(b"data: YHOO\ndata: +2\ndata: 10\n\n").events == [
        ServerSentEvent("YHOO\n+2\n10")
    ]
    stream = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
    stream += b"data:  third event\n\n"
    assert reference_parse(stream).events == [
        ServerSentEvent("first event", id="1"),
        ServerSentEvent("second event"),
        ServerSentEvent(" third event"),
    ]
    assert reference_parse(b"data\n\ndata\ndata\n\ndata:").events == [
        ServerSentEvent(""),
        ServerSentEvent("\n"),
    ]
    assert reference_parse(b"data:test\n\ndata: test\n\n").events == [ServerSentEvent("test")] * 2


def test_reference_model_limit_accounting() -> None:
    """The model's limit: lines, joined data and joined comments, in bytes, strictly above."""
    assert reference_parse(b"data:0123\n\n", max_event_size=9).events_before_overflow is None
    assert reference_parse(b"data:01234\n\n", max_event_size=9).events_before_overflow == []
    body = b"data:x\n\ndata:01234\ndata:01234\n\n"
    assert reference_parse(body, max_event_size=10).events_before_overflow == [ServerSentEvent("x")]
    assert reference_parse(body, max_event_size=11).events_before_overflow is None
    assert reference_parse(b"data", max_event_size=3).events_before_overflow == []
