"""Unit tests of SSEParser against WHATWG HTML 9.2.6 "Interpreting an event stream".

Every rule of docs/architecture.md's "The event-stream format" table has a test here. Like h11's
reader tests, each stream is parsed several ways (whole, byte by byte, split in two at
every position, and followed by a line that never ends) and all ways must agree, so a
test of a rule is also a test that chunk boundaries do not matter for it.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from trio_sse import ServerSentEvent, SSEParser, SSEProtocolError
from trio_sse import _parser as parser_module
from trio_sse._parser import DEFAULT_MAX_EVENT_SIZE

MiB = 2**20

# -- helpers ----------------------------------------------------------------------------------


def run(chunks: Iterable[bytes], **options: Any) -> tuple[list[ServerSentEvent], SSEParser]:
    """Feed the chunks then EOF; return every event and the parser for its final state."""
    parser = SSEParser(**options)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.feed_eof())
    return events, parser


def bytewise(stream: bytes) -> list[bytes]:
    """The stream as one-byte chunks: every possible chunk boundary at once."""
    return [stream[i : i + 1] for i in range(len(stream))]


def state(events: list[ServerSentEvent], parser: SSEParser) -> tuple[Any, ...]:
    """What a way of reading must agree on: the events and the stream state."""
    return events, parser.last_event_id, parser.retry


def parse(stream: bytes, **options: Any) -> tuple[list[ServerSentEvent], SSEParser]:
    """Parse the stream whole, byte by byte, split in two everywhere and with a trailing
    incomplete line, assert that all agree, and return the whole-stream result."""
    events, parser = run([stream], **options)
    expected = state(events, parser)
    assert state(*run(bytewise(stream), **options)) == expected, "byte by byte"
    if len(stream) <= 300:
        for cut in range(1, len(stream)):
            got = state(*run([stream[:cut], stream[cut:]], **options))
            assert got == expected, f"split at {cut}"
    # A line that never ends must not change anything that came before it.
    trailing = SSEParser(**options)
    assert trailing.feed(stream + b"data: never ends") == events, "with trailing data"
    assert (trailing.last_event_id, trailing.retry) == (parser.last_event_id, parser.retry)
    return events, parser


def events_of(stream: bytes, **options: Any) -> list[ServerSentEvent]:
    """Just the events of ``parse``."""
    return parse(stream, **options)[0]


def message(
    data: str | None,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comments: str | None = None,
) -> ServerSentEvent:
    """Build the expected event, positional data first."""
    return ServerSentEvent(data=data, event=event, id=id, retry=retry, comments=comments)


def feed_all(parser: SSEParser, chunks: Iterable[bytes]) -> list[ServerSentEvent]:
    """Feed chunks into an existing parser and collect the events."""
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events


# -- the four examples of the standard --------------------------------------------------------


def test_spec_example_stock_ticker() -> None:
    """Three data lines make one message whose data is the lines joined with LF."""
    stream = b"data: YHOO\ndata: +2\ndata: 10\n\n"
    assert events_of(stream) == [message("YHOO\n+2\n10")]


def test_spec_example_comment_ids_and_leading_space() -> None:
    """Comment block fires nothing; id sets and then resets the last event ID; only one
    space after the colon is removed."""
    stream = (
        b": test stream\n"
        b"\n"
        b"data: first event\n"
        b"id: 1\n"
        b"\n"
        b"data:second event\n"
        b"id\n"
        b"\n"
        b"data:  third event\n"
        b"\n"
    )
    events, parser = parse(stream)
    assert events == [
        message("first event", id="1"),
        message("second event", id=None),
        message(" third event", id=None),
    ]
    assert parser.last_event_id is None


def test_spec_example_comment_ids_last_event_id_between_blocks() -> None:
    """After the first event block the last event ID is "1" (what a reconnect sends)."""
    parser = SSEParser()
    assert parser.feed(b": test stream\n\ndata: first event\nid: 1\n\n") == [
        message("first event", id="1")
    ]
    assert parser.last_event_id == "1"
    assert parser.feed(b"data:second event\nid\n\n") == [message("second event")]
    assert parser.last_event_id is None


def test_spec_example_third_event_needs_blank_line() -> None:
    """The end of the stream alone does not dispatch the last block."""
    assert events_of(b"data: first\n\ndata:  third event") == [message("first")]
    assert events_of(b"data: first\n\ndata:  third event\n") == [message("first")]


def test_spec_example_empty_data_and_lone_newline() -> None:
    """ "data" alone appends an empty line: blocks give "" and "\\n"; the last is never
    dispatched because the stream ends without a blank line."""
    stream = b"data\n\ndata\ndata\n\ndata:"
    assert events_of(stream) == [message(""), message("\n")]


def test_spec_example_space_after_colon_is_optional() -> None:
    """ "data:test" and "data: test" are the same field."""
    assert events_of(b"data:test\n\ndata: test\n\n") == [message("test"), message("test")]


# -- byte order mark --------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


def test_leading_bom_is_stripped() -> None:
    """One BOM at the very start of the body is not part of the first line."""
    assert events_of(BOM + b"data: x\n\n") == [message("x")]


def test_second_bom_is_kept() -> None:
    """Only one BOM is stripped: a second one starts the field name, which is then unknown."""
    assert events_of(BOM + BOM + b"data: x\n\ndata: y\n\n") == [message("y")]


def test_bom_inside_a_value_is_data() -> None:
    """A BOM anywhere but the start of the body is an ordinary character."""
    assert events_of(BOM + b"data: " + BOM + b"x\n\n") == [message("\ufeffx")]


def test_bom_after_the_first_line_is_not_stripped() -> None:
    """The BOM rule is for the start of the body only, not the start of each line."""
    assert events_of(b"data: a\n" + BOM + b"data: b\n\n") == [message("a")]


@pytest.mark.parametrize("cut", [1, 2])
def test_bom_split_across_chunks(cut: int) -> None:
    """A BOM arriving in pieces is still recognised and stripped."""
    events, _ = run([BOM[:cut], BOM[cut:], b"data: x\n\n"])
    assert events == [message("x")]


def test_partial_bom_is_not_a_bom() -> None:
    """The first two bytes of a BOM followed by something else are invalid UTF-8, one U+FFFD."""
    assert events_of(b"data: a\n\n\xef\xbbdata: b\n\n") == [message("a")]
    assert events_of(b"\xef\xbbdata: b\n\n") == []
    assert events_of(b"\xef\xbb\ndata: b\n\n") == [message("b")]


def test_bom_only_body() -> None:
    """A body that is nothing but a BOM yields nothing and is not an error."""
    assert events_of(BOM) == []
    assert events_of(BOM[:2]) == []


# -- line endings -----------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_each_line_ending(eol: bytes) -> None:
    """LF, a lone CR and CRLF all end lines; data is always joined with LF."""
    stream = b"event: e" + eol + b"data: a" + eol + b"data: b" + eol + eol
    assert events_of(stream) == [message("a\nb", event="e")]


def test_mixed_line_endings() -> None:
    """Line endings may change from line to line."""
    stream = b"data: a\rdata: b\ndata: c\r\n\r\ndata: d\n\r\r\n"
    assert events_of(stream) == [message("a\nb\nc"), message("d")]


def test_lf_cr_is_two_line_endings() -> None:
    """ "\\n\\r" is an LF and then a lone CR: a blank line follows the data line."""
    assert events_of(b"data: a\n\rdata: b\n\n") == [message("a"), message("b")]


def test_cr_cr_lf_is_two_line_endings() -> None:
    """A CR then a CRLF: the second ending makes a blank line."""
    assert events_of(b"data: a\r\r\ndata: b\r\r\n") == [message("a"), message("b")]


def test_cr_at_end_of_chunk_dispatches_at_once() -> None:
    """A CR ends the line when it arrives; the parser does not wait for a possible LF."""
    parser = SSEParser()
    assert parser.feed(b"data: x\r\r") == [message("x")]


def test_lf_after_cr_in_next_chunk_is_swallowed() -> None:
    """The LF of a CRLF split across chunks is not a second (blank) line: the event type set
    before it survives, which it would not if a blank line had been seen."""
    parser = SSEParser()
    assert parser.feed(b"data: x\r\r") == [message("x")]
    assert parser.feed(b"\nevent: e\r") == []
    assert parser.feed(b"\n") == []  # swallowed, not a blank line
    assert parser.feed(b"data: y\r") == []
    assert parser.feed(b"\n") == []  # swallowed, not a blank line
    assert parser.feed(b"\r") == [message("y", event="e")]


def test_lf_after_cr_is_swallowed_even_after_an_empty_chunk() -> None:
    """An empty chunk between the CR and the LF of a CRLF changes nothing: the LF directly
    follows the CR in the body."""
    parser = SSEParser()
    events = feed_all(parser, [b"data: x\r", b"", b"\ndata: y\n\n"])
    assert events == [message("x\ny")]


def test_cr_at_end_of_chunk_then_other_byte() -> None:
    """After a chunk-final CR, a following non-LF byte starts the next line."""
    parser = SSEParser()
    assert feed_all(parser, [b"data: a\r", b"data: b\r", b"\r"]) == [message("a\nb")]


def test_other_unicode_line_breaks_are_data() -> None:
    """Only CR and LF end lines: str.splitlines() separators are ordinary characters."""
    separators = "\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e"
    stream = b"data: a" + separators.encode() + b"b\n\n"
    assert events_of(stream) == [message("a" + separators + "b")]


# -- blank lines ------------------------------------------------------------------------------


@pytest.mark.parametrize("line", [b" ", b"  ", b"\t", b" \t ", b"\x0c"])
def test_whitespace_only_line_is_not_blank(line: bytes) -> None:
    """A whitespace-only line is an unknown field: ignored, and it does not dispatch."""
    stream = b"data: a\n" + line + b"\ndata: b\n\n"
    assert events_of(stream) == [message("a\nb")]


def test_repeated_blank_lines_dispatch_nothing_extra() -> None:
    """Blank lines with no data in between dispatch nothing."""
    assert events_of(b"\n\n\r\n\r\rdata: x\n\n\n\n\r\n") == [message("x")]


def test_empty_body() -> None:
    """No bytes, no events, no state."""
    events, parser = parse(b"")
    assert events == []
    assert parser.last_event_id is None
    assert parser.retry is None


# -- fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [b"Data: x", b"DATA: x", b"dAta: x", b"data : x", b" data: x", b"data\t: x", b"datum: x"],
)
def test_field_names_are_exact_and_case_sensitive(line: bytes) -> None:
    """Only the exact name "data" is the data field; anything else is ignored."""
    assert events_of(line + b"\n\n") == []


def test_other_field_names_are_case_sensitive() -> None:
    """ "Event", "ID" and "Retry" are unknown fields, not event, id and retry."""
    events, parser = parse(b"Event: e\nID: 1\nRetry: 5\ndata: x\n\n")
    assert events == [message("x")]
    assert parser.last_event_id is None
    assert parser.retry is None


def test_unknown_fields_are_ignored() -> None:
    """Unknown fields change nothing."""
    assert events_of(b"foo: bar\ndata: x\nbaz\nx-id: 1\n\n") == [message("x")]


def test_line_without_colon_is_a_field_with_empty_value() -> None:
    """ "data" alone is the data field with an empty value: it appends an empty line."""
    assert events_of(b"data\n\n") == [message("")]
    assert events_of(b"data: a\ndata\n\n") == [message("a\n")]
    assert events_of(b"data\ndata: a\n\n") == [message("\na")]


def test_only_one_leading_space_is_removed() -> None:
    """One U+0020 after the colon is removed, no more, and no other whitespace."""
    assert events_of(b"data:  x\n\n") == [message(" x")]
    assert events_of(b"data:\tx\n\n") == [message("\tx")]
    assert events_of(b"data: x \n\n") == [message("x ")]
    assert events_of(b"data: \n\n") == [message("")]
    assert events_of(b"data:  \n\n") == [message(" ")]


def test_value_is_everything_after_the_first_colon() -> None:
    """Later colons belong to the value."""
    assert events_of(b"data: a:b: c\n\n") == [message("a:b: c")]
    assert events_of(b"data:: x\n\n") == [message(": x")]
    assert events_of(b"data::\n\n") == [message(":")]


def test_data_lines_join_with_lf_and_drop_only_the_last_lf() -> None:
    """The data buffer gets value + LF per line; only the final LF is removed."""
    assert events_of(b"data: a\r\ndata: b\r\n\r\n") == [message("a\nb")]
    assert events_of(b"data: a\ndata:\n\n") == [message("a\n")]
    assert events_of(b"data:\ndata:\ndata:\n\n") == [message("\n\n")]


def test_data_interleaved_with_other_fields() -> None:
    """Other fields between data lines do not split the event."""
    stream = b"data: a\nevent: e\n: c\nid: 7\nretry: 9\ndata: b\n\n"
    assert events_of(stream) == [message("a\nb", event="e", id="7", retry=9, comments="c")]


# -- event type -------------------------------------------------------------------------------


def test_event_type_resets_after_each_blank_line() -> None:
    """The event type applies to its own block only."""
    assert events_of(b"event: e\ndata: 1\n\ndata: 2\n\n") == [
        message("1", event="e"),
        message("2"),
    ]


def test_event_type_resets_even_when_nothing_is_dispatched() -> None:
    """A block without data still clears the type buffer at its blank line."""
    assert events_of(b"event: e\n\ndata: x\n\n") == [message("x")]
    assert events_of(b"event: e\n: note\n\ndata: x\n\n") == [message("x")]
    assert events_of(b"event: e\nretry: 5\n\ndata: x\n\n") == [message("x")]


def test_last_event_field_wins() -> None:
    """A later event line replaces the type."""
    assert events_of(b"event: a\nevent: b\ndata: x\n\n") == [message("x", event="b")]


def test_empty_event_type_means_default() -> None:
    """An empty type is the default "message" type, reported as None."""
    assert events_of(b"event:\ndata: x\n\n") == [message("x")]
    assert events_of(b"event\ndata: x\n\n") == [message("x")]
    assert events_of(b"event: a\nevent:\ndata: x\n\n") == [message("x")]


def test_explicit_message_type_is_kept() -> None:
    """A type the stream names is reported as named, even "message"."""
    assert events_of(b"event: message\ndata: x\n\n") == [message("x", event="message")]


def test_event_type_keeps_spaces_but_one() -> None:
    """The type follows the one-leading-space rule like every value."""
    assert events_of(b"event:  e \ndata: x\n\n") == [message("x", event=" e ")]


# -- id ---------------------------------------------------------------------------------------


def test_id_persists_across_events() -> None:
    """The last event ID stays until changed (web-platform-tests format-field-id-3)."""
    stream = b"id: 1\ndata: 1\n\ndata: 2\n\nid: 2\ndata:3\n\ndata:4\n\n"
    events, parser = parse(stream)
    assert [(e.data, e.id) for e in events] == [("1", "1"), ("2", "1"), ("3", "2"), ("4", "2")]
    assert parser.last_event_id == "2"


@pytest.mark.parametrize("reset", [b"id:", b"id", b"id: "])
def test_empty_id_resets(reset: bytes) -> None:
    """An empty id value resets the last event ID; it is then reported as None."""
    events, parser = parse(b"id: 1\ndata: 1\n\n" + reset + b"\ndata:2\n\ndata:3\n\n")
    assert [(e.data, e.id) for e in events] == [("1", "1"), ("2", None), ("3", None)]
    assert parser.last_event_id is None


def test_id_is_committed_at_blank_line_without_data() -> None:
    """A block with only an id dispatches nothing but still sets the last event ID."""
    events, parser = parse(b"id: 5\n\n")
    assert events == []
    assert parser.last_event_id == "5"
    assert events_of(b"id: 5\n\ndata: x\n\n") == [message("x", id="5")]


def test_id_is_committed_only_at_blank_line() -> None:
    """last_event_id is what a reconnect may send: only ids of finished blocks count."""
    parser = SSEParser()
    assert parser.feed(b"id: 5\n") == []
    assert parser.last_event_id is None
    assert parser.feed(b"data: x\n") == []
    assert parser.last_event_id is None
    assert parser.feed(b"\n") == [message("x", id="5")]
    assert parser.last_event_id == "5"


def test_id_later_in_block_applies_to_its_event() -> None:
    """The event carries the ID buffer at dispatch, so an id after the data counts."""
    assert events_of(b"data: x\nid: 3\n\n") == [message("x", id="3")]
    assert events_of(b"id: 1\ndata: x\nid: 2\n\n") == [message("x", id="2")]


def test_uncommitted_id_at_eof_is_not_committed() -> None:
    """An incomplete block's id is discarded with it at the end of the body."""
    parser = SSEParser()
    assert parser.feed(b"id: 1\n\nid: 2\ndata: x\n") == []
    assert parser.feed_eof() == []
    assert parser.last_event_id == "1"


def test_id_with_nul_is_ignored() -> None:
    """An id containing U+0000 is ignored as a whole; the previous id stays."""
    events, parser = parse(b"id: 1\n\nid: a\x00b\ndata: x\n\nid: \x00\n\n")
    assert events == [message("x", id="1")]
    assert parser.last_event_id == "1"


def test_id_with_other_control_characters_is_accepted() -> None:
    """Only NUL disqualifies an id."""
    assert events_of(b"id: a\x01\x7f b\ndata: x\n\n") == [message("x", id="a\x01\x7f b")]


def test_id_keeps_spaces_but_one() -> None:
    """The id follows the one-leading-space rule."""
    assert events_of(b"id:  7 \ndata: x\n\n") == [message("x", id=" 7 ")]


def test_last_event_id_seed() -> None:
    """The constructor's last_event_id is the starting ID: events carry it until changed."""
    events, parser = parse(b"data: x\n\n", last_event_id="42")
    assert events == [message("x", id="42")]
    assert parser.last_event_id == "42"
    assert SSEParser(last_event_id="42").last_event_id == "42"


def test_last_event_id_seed_can_be_reset_by_the_stream() -> None:
    """The stream may clear a seeded ID."""
    events, parser = parse(b"id\n\ndata: x\n\n", last_event_id="42")
    assert events == [message("x")]
    assert parser.last_event_id is None


def test_last_event_id_seed_survives_eof() -> None:
    """An uncommitted id does not replace the seed at EOF."""
    parser = SSEParser(last_event_id="42")
    assert parser.feed(b"id: 43\n") == []
    assert parser.feed_eof() == []
    assert parser.last_event_id == "42"


def test_empty_last_event_id_seed_is_none() -> None:
    """An empty seed is no ID at all."""
    assert SSEParser(last_event_id="").last_event_id is None
    assert events_of(b"data: x\n\n", last_event_id="") == [message("x")]


# -- retry ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(b"0", 0), (b"0050", 50), (b"1000", 1000)])
def test_retry_valid_values(value: bytes, expected: int) -> None:
    """Any run of ASCII digits is a valid retry, leading zeros included."""
    events, parser = parse(b"retry: " + value + b"\ndata: x\n\n")
    assert parser.retry == expected
    assert events == [message("x", retry=expected)]


@pytest.mark.parametrize(
    "line",
    [
        b"retry: +5",
        b"retry: -5",
        b"retry:  12",  # value " 12": one space is stripped, the second stays
        b"retry: 12 ",
        b"retry: \t12",
        b"retry: 1_000",
        b"retry: 1.5",
        b"retry: 1e3",
        b"retry: 0x10",
        "retry: ١٢".encode(),  # Arabic-Indic digits are not ASCII digits
        "retry: １２".encode(),  # fullwidth digits
        "retry: ²".encode(),  # str.isdigit() is True for it
        b"retry:",
        b"retry",
        b"retry: ",
        b"retry: 12ms",
        b"retry: 12\x00",
    ],
)
def test_retry_invalid_values_are_ignored(line: bytes) -> None:
    """Only ASCII digits: everything else leaves retry untouched."""
    events, parser = parse(line + b"\ndata: x\n\n")
    assert parser.retry is None
    assert events == [message("x")]
    events, parser = parse(b"retry: 7\n\n" + line + b"\ndata: x\n\n")
    assert parser.retry == 7
    assert events == [message("x")]


def test_retry_takes_effect_when_the_line_is_read() -> None:
    """retry is not part of the block: it applies at once, even if the block never ends."""
    parser = SSEParser()
    assert parser.feed(b"retry: 10\n") == []
    assert parser.retry == 10
    assert parser.feed_eof() == []
    assert parser.retry == 10


def test_latest_valid_retry_wins() -> None:
    """A later valid retry replaces an earlier one; the event shows its block's latest."""
    events, parser = parse(b"retry: 5\nretry: 7\ndata: x\n\nretry: 9\nretry: bad\n\n")
    assert events == [message("x", retry=7)]
    assert parser.retry == 9


def test_retry_belongs_to_its_block_on_events() -> None:
    """ServerSentEvent.retry is the block's retry, not the stream's."""
    events, parser = parse(b"retry: 5\ndata: x\n\ndata: y\n\n")
    assert events == [message("x", retry=5), message("y")]
    assert parser.retry == 5


def test_retry_beyond_64_bits() -> None:
    """A retry too large for any timer is still a valid retry (some huge int), not an error."""
    events, parser = parse(b"retry: 18446744073709551616\ndata: x\n\n")
    assert isinstance(parser.retry, int)
    assert parser.retry > 2**62
    assert events == [message("x", retry=parser.retry)]


@pytest.mark.parametrize("value", [10**18, 5 * 10**18, 2**63 - 2, 2**63 - 1])
def test_retry_up_to_the_cap_is_exact(value: int) -> None:
    """Capping absurd values must not change sane ones: every value up to the 2**63 - 1 ms
    ceiling is read exactly (a 19-digit value is not automatically absurd)."""
    _, parser = parse(b"retry: %d\n" % value)
    assert parser.retry == value


def test_retry_with_thousands_of_digits() -> None:
    """An absurdly long digit string neither raises (int's digit limit) nor hangs."""
    events, parser = parse(b"retry: " + b"9" * 5000 + b"\n\n")
    assert events == []
    assert isinstance(parser.retry, int)
    assert parser.retry > 2**62
    events, parser = parse(b"retry: " + b"0" * 5000 + b"7\n\n")
    assert parser.retry == 7


# -- comments and Ktor's filters --------------------------------------------------------------


def test_comment_only_block_is_hidden_by_default() -> None:
    """A block of comments is not an event unless show_comment_events is on."""
    assert events_of(b": hello\n\n") == []
    assert events_of(b": hello\n\n", show_retry_events=True) == []


def test_comment_only_block_surfaces_with_show_comment_events() -> None:
    """With show_comment_events, a comment block is an event with data None."""
    assert events_of(b": hello\n\n", show_comment_events=True) == [message(None, comments="hello")]


def test_data_events_always_carry_their_comments() -> None:
    """The filters decide about data-less blocks only; comments ride along on data events."""
    for show in (False, True):
        assert events_of(b": hi\ndata: x\n\n", show_comment_events=show) == [
            message("x", comments="hi")
        ]


def test_comments_join_with_lf_and_lose_one_space() -> None:
    """Comment lines are joined with LF; one space after the colon is removed."""
    stream = b": a\n:b\n:  c\n:\n: \ndata: x\n\n"
    assert events_of(stream) == [message("x", comments="a\nb\n c\n\n")]


def test_empty_comment_is_empty_string() -> None:
    """A lone colon is a comment with empty text, not no comment."""
    assert events_of(b":\n\n", show_comment_events=True) == [message(None, comments="")]


def test_comments_do_not_leak_into_the_next_block() -> None:
    """Comments belong to their block, dispatched or not."""
    assert events_of(b": one\n\ndata: x\n\n") == [message("x")]
    assert events_of(b": one\ndata: x\n\ndata: y\n\n", show_comment_events=True) == [
        message("x", comments="one"),
        message("y"),
    ]


def test_retry_only_block_is_hidden_by_default() -> None:
    """A retry-only block is not an event unless show_retry_events is on."""
    events, parser = parse(b"retry: 5\n\n")
    assert events == []
    assert parser.retry == 5
    assert events_of(b"retry: 5\n\n", show_comment_events=True) == []


def test_retry_only_block_surfaces_with_show_retry_events() -> None:
    """With show_retry_events, a retry block is an event with data None."""
    assert events_of(b"retry: 5\n\n", show_retry_events=True) == [message(None, retry=5)]


def test_invalid_retry_block_never_surfaces() -> None:
    """An ignored retry line does not make a retry event."""
    assert events_of(b"retry: x\n\n", show_retry_events=True) == []


def test_filtered_events_carry_the_id() -> None:
    """Surfaced comment and retry events report the last event ID like any event."""
    assert events_of(b"id: 3\n: c\n\n", show_comment_events=True) == [
        message(None, id="3", comments="c")
    ]
    assert events_of(b"id: 3\nretry: 1\n\n", show_retry_events=True) == [
        message(None, id="3", retry=1)
    ]


def test_comment_and_retry_block_with_one_filter_on() -> None:
    """A block with both comments and retry surfaces if either filter wants it, whole."""
    stream = b": c\nretry: 4\n\n"
    assert events_of(stream) == []
    expected = [message(None, retry=4, comments="c")]
    assert events_of(stream, show_comment_events=True) == expected
    assert events_of(stream, show_retry_events=True) == expected


def test_block_with_only_event_or_id_never_surfaces() -> None:
    """Neither filter concerns a block with just a type or an id."""
    for show in (False, True):
        assert events_of(b"event: e\n\nid: 1\n\n", show_comment_events=show) == []
        assert events_of(b"event: e\n\nid: 1\n\n", show_retry_events=show) == []


# -- UTF-8 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"\xff", b"a\x80b", b"\xe2\x82", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"],
)
def test_invalid_utf8_becomes_replacement_characters(raw: bytes) -> None:
    """Invalid UTF-8 is decoded with U+FFFD exactly as decoding the whole body would."""
    expected = raw.decode("utf-8", "replace")
    assert "\ufffd" in expected
    assert events_of(b"data: " + raw + b"\n\n") == [message(expected)]
    assert events_of(b"event: " + raw + b"\ndata: x\n\n") == [message("x", event=expected)]
    assert events_of(b"id: " + raw + b"\ndata: x\n\n") == [message("x", id=expected)]
    assert events_of(b": " + raw + b"\ndata: x\n\n") == [message("x", comments=expected)]


def test_truncated_utf8_before_line_end() -> None:
    """A multi-byte sequence cut by a line ending is one U+FFFD, and the ending still counts."""
    assert events_of(b"data: \xe2\x82\ndata: \xf0\x9f\r\n\n") == [message("\ufffd\n\ufffd")]


def test_multibyte_characters_split_across_chunks() -> None:
    """A character split between chunks is decoded whole."""
    text = "é€😀 ünïcödé"
    stream = b"data: " + text.encode() + b"\nevent: " + text.encode() + b"\n\n"
    assert events_of(stream) == [message(text, event=text)]
    raw = "😀".encode()
    for cut in range(1, 4):
        events, _ = run([b"data: " + raw[:cut], raw[cut:] + b"\n\n"])
        assert events == [message("😀")]


def test_nul_in_data_is_kept() -> None:
    """NUL only matters in ids; data carries it through."""
    assert events_of(b"data: a\x00b\n\n") == [message("a\x00b")]


# -- max_event_size ---------------------------------------------------------------------------


def feed_ways(stream: bytes) -> dict[str, list[bytes]]:
    """Whole, byte by byte and line by line: the limit must not depend on chunking."""
    lines = stream.splitlines(keepends=True)  # test input only has LF: safe here
    return {"whole": [stream], "bytewise": bytewise(stream), "lines": lines}


def assert_raises_protocol_error(chunks: list[bytes], **options: Any) -> None:
    """Feeding the chunks (and EOF) raises SSEProtocolError somewhere."""
    parser = SSEParser(**options)

    def consume() -> None:
        for chunk in chunks:
            parser.feed(chunk)
        parser.feed_eof()

    with pytest.raises(SSEProtocolError):
        consume()


@pytest.mark.parametrize("way", ["whole", "bytewise", "lines"])
def test_line_longer_than_limit_raises(way: str) -> None:
    """A line of limit + 1 bytes is an error, however it arrives."""
    stream = b"data: 01234\n\n"  # the line is 11 bytes
    assert_raises_protocol_error(feed_ways(stream)[way], max_event_size=10)


@pytest.mark.parametrize("way", ["whole", "bytewise", "lines"])
def test_line_at_limit_passes(way: str) -> None:
    """A line of exactly limit bytes is fine."""
    stream = b"data: 0123\n\n"  # the line is 10 bytes
    events, _ = run(feed_ways(stream)[way], max_event_size=10)
    assert events == [message("0123")]


@pytest.mark.parametrize("line", [b": " + b"c" * 20, b"x" * 21, b"event: " + b"e" * 20])
def test_any_long_line_raises(line: bytes) -> None:
    """Comments, unknown fields and event types are lines too."""
    assert_raises_protocol_error([line + b"\n"], max_event_size=20)
    assert_raises_protocol_error(bytewise(line + b"\n"), max_event_size=20)


def test_unterminated_long_line_raises_without_growing() -> None:
    """A line that never ends raises once it exceeds the limit, not at some later newline:
    memory stays bounded."""
    parser = SSEParser(max_event_size=100)
    for _ in range(100):
        assert parser.feed(b"x") == []
    with pytest.raises(SSEProtocolError):
        parser.feed(b"x")
    parser = SSEParser(max_event_size=100)
    with pytest.raises(SSEProtocolError):
        parser.feed(b"x" * 101)


def test_unterminated_long_line_in_tiny_chunks_raises() -> None:
    """Tiny chunks of a line that never ends: the error comes after limit + 1 bytes."""
    limit = 1000
    parser = SSEParser(max_event_size=limit)
    fed = 0
    with pytest.raises(SSEProtocolError):  # noqa: PT012 - counts what was fed before raising
        while fed <= 10 * limit:
            parser.feed(b"ab")
            fed += 2
    assert fed <= limit + 2


def test_line_limit_counts_bytes_not_characters() -> None:
    """The limit is in bytes of the wire encoding."""
    assert_raises_protocol_error([b"data:" + "é".encode() * 3 + b"\n"], max_event_size=10)
    events, _ = run([b"data:" + "é".encode() * 2 + b"\n\n"], max_event_size=10)
    assert events == [message("éé")]


# data totals: lines of 15 bytes ("data:" + 10), each fine alone, the joined data 21 bytes.
OVER_LIMIT_DATA = b"data:0123456789\ndata:0123456789\n\n"  # data is 21 bytes
AT_LIMIT_DATA = b"data:012345678\ndata:0123456789\n\n"  # data is 20 bytes


@pytest.mark.parametrize("way", ["whole", "bytewise", "lines"])
def test_data_larger_than_limit_raises(way: str) -> None:
    """An event whose data exceeds the limit is an error even if every line fits, however
    the body is chunked (a whole event in one chunk included)."""
    assert_raises_protocol_error(feed_ways(OVER_LIMIT_DATA)[way], max_event_size=20)


@pytest.mark.parametrize("way", ["whole", "bytewise", "lines"])
def test_data_at_limit_passes(way: str) -> None:
    """Data of exactly limit bytes is dispatched."""
    events, _ = run(feed_ways(AT_LIMIT_DATA)[way], max_event_size=20)
    assert events == [message("012345678\n0123456789")]


def test_data_limit_counts_bytes_of_joined_data() -> None:
    """Joined data in bytes: 11 characters but 21 bytes is over a 20-byte limit."""
    stream = b"data:" + "é".encode() * 5 + b"\ndata:" + "é".encode() * 5 + b"\n\n"
    for chunks in feed_ways(stream).values():
        assert_raises_protocol_error(chunks, max_event_size=20)


def test_data_over_limit_spanning_chunks_dispatched_in_one() -> None:
    """The block starts in one chunk and both ends and dispatches in the next."""
    parser = SSEParser(max_event_size=10)
    assert parser.feed(b"data:01234\n") == []
    with pytest.raises(SSEProtocolError):
        parser.feed(b"data:01234\n\n")


@pytest.mark.parametrize("way", ["whole", "bytewise", "lines"])
def test_comments_larger_than_limit_raise(way: str) -> None:
    """A block's comments are bounded like its data."""
    stream = b":0123456789\n:0123456789\n\n"
    assert_raises_protocol_error(feed_ways(stream)[way], max_event_size=20)
    assert_raises_protocol_error(
        feed_ways(stream)[way], max_event_size=20, show_comment_events=True
    )


def test_unfinished_block_larger_than_limit_raises() -> None:
    """Data that never reaches a blank line is still bounded."""
    parser = SSEParser(max_event_size=100)
    with pytest.raises(SSEProtocolError):  # noqa: PT012 - feeds until the limit is hit
        for _ in range(1000):
            parser.feed(b"data: 0123456789\n")


def test_many_small_events_are_not_one_big_event() -> None:
    """The limit is per event: a chunk holding many small events is fine."""
    stream = b"data: 01234\n\n" * 1000
    for chunks in feed_ways(stream).values():
        events, _ = run(chunks, max_event_size=16)
        assert len(events) == 1000


def test_parser_keeps_raising_after_failure() -> None:
    """After a protocol error the body is unusable: every later call raises."""
    parser = SSEParser(max_event_size=10)
    with pytest.raises(SSEProtocolError):
        parser.feed(b"x" * 11)
    with pytest.raises(SSEProtocolError):
        parser.feed(b"data: ok\n\n")
    with pytest.raises(SSEProtocolError):
        parser.feed(b"")
    with pytest.raises(SSEProtocolError):
        parser.feed_eof()


def test_default_max_event_size() -> None:
    """The default limit is 16 MiB (docs/architecture.md, Numbers)."""
    assert 16 * MiB == DEFAULT_MAX_EVENT_SIZE


# -- end of body and arguments ----------------------------------------------------------------


def test_feed_eof_discards_incomplete_block_and_line() -> None:
    """Neither an unterminated line nor a block without its blank line is dispatched."""
    for stream in (b"data: x", b"data: x\n", b"data: x\r", b"data: x\ndata: y"):
        parser = SSEParser()
        assert parser.feed(stream) == []
        assert parser.feed_eof() == []


def test_feed_after_feed_eof_raises() -> None:
    """One parser per response body."""
    parser = SSEParser()
    parser.feed(b"data: x\n\n")
    parser.feed_eof()
    with pytest.raises(RuntimeError):
        parser.feed(b"data: y\n\n")


def test_feed_accepts_bytes_like() -> None:
    """bytearray and memoryview chunks work like bytes."""
    parser = SSEParser()
    assert parser.feed(bytearray(b"data: a\n")) == []
    assert parser.feed(memoryview(b"data: b\n\n")) == [message("a\nb")]


@pytest.mark.parametrize("chunk", ["data: x\n\n", 5, None, 1.5])
def test_feed_rejects_non_bytes(chunk: Any) -> None:
    """A str or a number is a programming error, not a body: TypeError (5 must not become five
    NUL bytes)."""
    parser = SSEParser()
    with pytest.raises(TypeError):
        parser.feed(chunk)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_event_size": 0}, ValueError),
        ({"max_event_size": -1}, ValueError),
        ({"max_event_size": 1.5}, TypeError),
        ({"max_event_size": "10"}, TypeError),
        ({"max_event_size": None}, TypeError),
        ({"max_event_size": True}, TypeError),
        ({"last_event_id": 5}, TypeError),
        ({"last_event_id": b"5"}, TypeError),
        ({"last_event_id": "a\x00b"}, ValueError),
        ({"last_event_id": "a\nb"}, ValueError),
        ({"last_event_id": "a\rb"}, ValueError),
    ],
)
def test_constructor_validation(options: dict[str, Any], error: type[Exception]) -> None:
    """Bad arguments fail at construction with TypeError or ValueError."""
    with pytest.raises(error):
        SSEParser(**options)


def test_constructor_is_keyword_only() -> None:
    """Positional options would be unreadable (SSEParser(True, False, 10))."""
    with pytest.raises(TypeError):
        SSEParser(True)  # type: ignore[call-arg]  # deliberately positional


def test_smallest_limit_works() -> None:
    """max_event_size=1 allows blank lines and one-byte lines."""
    events, _ = run([b"x\n\n:\n\n"], max_event_size=1)
    assert events == []


# -- shape: linear work and bounded memory, asserted without timing ---------------------------


class LenBudget:
    """Count the ``len()`` calls made inside the parser module and fail as soon as they exceed
    a budget. ``len`` is how the parser measures what it buffers, so a parser that re-measures
    its whole buffer on every chunk (quadratic) blows a linear budget deterministically, and
    fails fast instead of running for minutes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.calls = 0

    def __call__(self, obj: Any) -> int:
        self.calls += 1
        if self.calls > self.budget:
            raise AssertionError(f"parser did more than {self.budget} len() calls: not linear")
        return len(obj)


@pytest.fixture
def len_budget(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], LenBudget]:
    """Install a LenBudget as the parser module's ``len`` (module globals shadow builtins)."""

    def install(budget: int) -> LenBudget:
        counter = LenBudget(budget)
        monkeypatch.setattr(parser_module, "len", counter, raising=False)
        return counter

    return install


def chunked(stream: bytes, size: int) -> Iterator[bytes]:
    """The stream in chunks of ``size`` bytes."""
    for i in range(0, len(stream), size):
        yield stream[i : i + size]


def test_huge_line_in_small_chunks_is_linear(len_budget: Callable[[int], LenBudget]) -> None:
    """A 1 MiB line in 10-byte chunks (about 100k feeds) does bounded work per chunk."""
    stream = b"data: " + b"x" * MiB + b"\n\n"
    feeds = len(stream) // 10 + 1
    len_budget(20 * feeds + 1000)
    events, _ = run(chunked(stream, 10))
    assert events == [message("x" * MiB)]


def test_many_lines_in_one_chunk_is_linear(len_budget: Callable[[int], LenBudget]) -> None:
    """100k data lines of one event in one chunk."""
    lines = 100_000
    len_budget(20 * lines + 1000)
    events, _ = run([b"data: ab\n" * lines + b"\n"])
    assert len(events) == 1
    assert events[0].data == "\n".join(["ab"] * lines)


def test_many_events_line_by_line_is_linear(len_budget: Callable[[int], LenBudget]) -> None:
    """100k events fed one line per chunk."""
    count = 50_000
    len_budget(20 * 2 * count + 1000)
    events, _ = run([b"data: x\n", b"\n"] * count)
    assert len(events) == count


def test_block_near_the_limit_then_trickle_is_linear(
    len_budget: Callable[[int], LenBudget],
) -> None:
    """A block whose data is just under max_event_size, followed by many small non-data lines
    one per chunk: checking the limit must not rescan the whole block on every chunk."""
    limit = 100_000
    lines = limit  # "data" alone: one byte (the LF) of data per line, limit - 1 bytes in all
    trickle = 2_000
    counter = len_budget(20 * (lines + trickle) + 1000)
    parser = SSEParser(max_event_size=limit)
    assert parser.feed(b"data\n" * lines) == []
    for _ in range(trickle):
        assert parser.feed(b"event: x\n") == []
    assert parser.feed(b"\n") == [message("\n" * (lines - 1), event="x")]
    assert counter.calls <= counter.budget


def test_one_mib_line_in_one_chunk_with_huge_limit() -> None:
    """A line far below the default limit is just data, whatever its size."""
    events, _ = run([b"data: " + b"y" * MiB + b"\r\n\r\n"])
    assert events == [message("y" * MiB)]


def peak_memory(chunks: Iterable[bytes], **options: Any) -> tuple[int, list[ServerSentEvent]]:
    """Peak bytes traced while the parser eats the chunks, above what existed before."""
    chunk_list = list(chunks)
    tracemalloc.start()
    try:
        parser = SSEParser(**options)
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        events: list[ServerSentEvent] = []
        for chunk in chunk_list:
            events.extend(parser.feed(chunk))
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    return peak, events


def test_memory_of_huge_line_in_small_chunks() -> None:
    """A 1 MiB line arriving in 10-byte chunks costs a small multiple of 1 MiB, not a
    per-chunk overhead that multiplies it (the limit must bound memory, not just bytes)."""
    stream = b"data: " + b"x" * MiB + b"\n\n"
    peak, events = peak_memory(chunked(stream, 10))
    assert events == [message("x" * MiB)]
    assert peak <= 5 * MiB, f"peak {peak / MiB:.1f} MiB for a 1 MiB event"


def test_memory_of_many_short_data_lines() -> None:
    """An event of many short data lines costs a small multiple of its data."""
    size = MiB // 4
    lines = size // 3  # "xy" + LF: 3 bytes of data per line
    peak, events = peak_memory([b"data:xy\n"] * lines + [b"\n"])
    assert len(events) == 1
    # A constant allowance: a parser may keep a block's first lines as small objects and
    # compact them only past some size (trio-sse does at 64 KiB of wire bytes).
    assert peak <= 3 * size + 512 * 1024, f"peak {peak / size:.1f} times the event's size"


def test_memory_of_long_line_one_chunk() -> None:
    """One chunk holding a 1 MiB event: the parser needs a few copies at most."""
    stream = b"data: " + b"z" * MiB + b"\n\n"
    peak, events = peak_memory([stream])
    assert len(events) == 1
    assert peak <= 5 * MiB, f"peak {peak / MiB:.1f} MiB for a 1 MiB event"


@pytest.mark.parametrize("cut", [0, 1, 5, 6, 7, 40_000, 65_535, 65_536, 65_537, 65_538])
def test_long_data_lines_split_anywhere_with_the_next_block_in_the_same_chunk(cut: int) -> None:
    # The end of a long line goes into the line buffer from a view of the chunk, and
    # the next block's first line, when the chunk holds no LF after the blank line,
    # too: check both against the stream fed whole.
    values = [(b"%08d" % i) * 8192 for i in range(3)]
    stream = b"".join(b"data: " + value + b"\n\n" for value in values) + b"event: e\ndata: z\n\n"
    whole = SSEParser().feed(stream)
    for size in (65_536, 70_000):
        pieces = [stream[:cut]] + [stream[i : i + size] for i in range(cut, len(stream), size)]
        parser = SSEParser()
        got = [event for piece in pieces for event in parser.feed(piece)]
        assert got == whole
    assert [event.data for event in whole] == [v.decode() for v in values] + ["z"]


def test_a_long_line_that_ends_over_the_limit_fails_after_the_events_before_it() -> None:
    parser = SSEParser(max_event_size=1000)
    assert parser.feed(b"data: a\n\ndata: " + b"x" * 900) == [ServerSentEvent("a")]
    with pytest.raises(SSEProtocolError) as info:
        parser.feed(b"y" * 200 + b"\n\ndata: b\n\n")
    assert info.value.events == []
