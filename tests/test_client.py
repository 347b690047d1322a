"""SSEClient over real loopback sockets: the ways to call it, the request it sends, the
options it merges, the arguments it refuses, and how it judges responses."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import inspect
import itertools
import json
import socket
import zlib
from typing import Any

import pytest
import trio
import trio.testing

import trio_sse
from trio_sse import (
    Origin,
    ServerSentEvent,
    SSEClient,
    SSEConfig,
    SSEConnectionError,
    SSEProtocolError,
    SSEResponseError,
    SSESession,
    open_sse_session,
)
from trio_sse._client import CallOptions, ClientOptions
from trio_sse._judge import MAX_REDIRECTS
from trio_sse.testing import (
    RecordedRequest,
    ScriptedResponse,
    SSETestServer,
    open_sse_test_server,
    sse_stream,
)

ONE = ScriptedResponse.events(ServerSentEvent(data="ok"))

HANG = 600  # virtual seconds: under the autojump clock, turns a hang into a failure


async def collect(session: SSESession[Any]) -> list[Any]:
    return [ev async for ev in session]


async def only_request(server: SSETestServer) -> RecordedRequest:
    (request,) = server.requests
    return request


def redirect(status: int, location: str) -> ScriptedResponse:
    return ScriptedResponse(
        status=status, headers=[("Location", location)], body=b"", framing="content-length"
    )


# -- the forms of sse() --------------------------------------------------------------------


async def test_full_url(server: SSETestServer) -> None:
    """A URL string names path and query; the Host header carries the port."""
    server.script(ONE)
    async with SSEClient().sse(server.url_for("/a/b?x=1&y=two")) as session:
        assert [ev.data for ev in await collect(session)] == ["ok"]
    request = await only_request(server)
    assert request.method == "GET"
    assert request.target == "/a/b?x=1&y=two"
    assert request.header("host") == f"127.0.0.1:{server.port}"


async def test_host_port_path_components(server: SSETestServer) -> None:
    """host=/port=/path= (with a query) build the same request as a URL."""
    server.script(ONE)
    client = SSEClient()
    async with client.sse(host="127.0.0.1", port=server.port, path="/events?since=5") as session:
        assert [ev.data for ev in await collect(session)] == ["ok"]
        assert session.response.url == server.url_for("/events?since=5")
    assert (await only_request(server)).target == "/events?since=5"


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


async def test_an_ipv6_literal_keeps_its_brackets_in_host_and_url(server: SSETestServer) -> None:
    """On any machine, IPv6 or not: the transport is asked for the bare address, and the
    Host header and the response's URL keep the brackets."""
    asked: list[Origin] = []

    async def connect(origin: Origin) -> trio.abc.Stream:
        asked.append(origin)
        return await trio.open_tcp_stream("127.0.0.1", server.port)

    server.script(ONE)
    url = f"http://[::1]:{server.port}/events"
    async with SSEClient(transport=connect).sse(url) as session:
        assert [ev.data for ev in await collect(session)] == ["ok"]
        assert session.response.url == url
    assert (await only_request(server)).header("host") == f"[::1]:{server.port}"
    assert [(origin.host, origin.port) for origin in asked] == [("::1", server.port)]


async def test_ipv6_literal_url() -> None:
    """A bracketed IPv6 literal connects end to end where the machine has IPv6 loopback;
    where it has none, the attempt is an SSEConnectionError, not a crash or a hang."""
    if not _has_ipv6_loopback():
        with pytest.raises(SSEConnectionError):
            async with open_sse_session("http://[::1]:9/", connect_timeout=5):
                pytest.fail("connected over IPv6 without IPv6 loopback")  # pragma: no cover
        return
    async with open_sse_test_server(host="::1") as server:
        server.script(ONE)
        assert server.url.startswith("http://[::1]:")
        async with SSEClient().sse(server.url) as session:
            assert [ev.data for ev in await collect(session)] == ["ok"]
            assert session.response.url == server.url
        assert (await only_request(server)).header("host") == f"[::1]:{server.port}"


async def test_default_request_headers(server: SSETestServer) -> None:
    """Accept, Cache-Control and User-Agent are sent; Last-Event-ID is not, at first."""
    server.script(ONE)
    async with open_sse_session(server.url) as session:
        await collect(session)
    request = await only_request(server)
    assert request.header("accept") == "text/event-stream"
    assert request.header("cache-control") == "no-cache"
    assert request.header("user-agent") == f"trio-sse/{trio_sse.__version__}"
    assert request.header("last-event-id") is None
    assert request.body == b""


async def test_last_event_id_argument_is_sent(server: SSETestServer) -> None:
    """last_event_id= resumes a stream from a known id on the first request."""
    server.script(ONE)
    async with open_sse_session(server.url, last_event_id="41") as session:
        assert session.last_event_id == "41"
        await collect(session)
    assert (await only_request(server)).header("last-event-id") == "41"


async def test_custom_headers(server: SSETestServer) -> None:
    """User headers go out as given, next to the defaults; repeats are kept."""
    server.script(ONE)
    headers = [
        ("X-Tenant", "acme"),
        ("X-Tag", "a"),
        ("X-Tag", "b"),
        ("Accept", "text/event-stream, */*"),
    ]
    async with open_sse_session(server.url, headers=headers) as session:
        await collect(session)
    request = await only_request(server)
    assert request.header("x-tenant") == "acme"
    assert request.header_values("x-tag") == ["a", "b"]
    assert request.header_values("accept") == ["text/event-stream, */*"]


async def test_post_json(server: SSETestServer) -> None:
    """json= sends a POST body with Content-Type application/json (LLM-style APIs)."""
    server.script(ONE)
    payload = {"prompt": "héllo", "stream": True, "n": [1, 2]}
    async with open_sse_session(server.url_for("/v1/chat"), method="POST", json=payload) as s:
        await collect(s)
    request = await only_request(server)
    assert request.method == "POST"
    assert request.header("content-type") == "application/json"
    assert json.loads(request.body) == payload
    assert request.header("content-length") == str(len(request.body))


@pytest.mark.parametrize(
    ("content", "expected"), [(b"\x00raw\xff", b"\x00raw\xff"), ("tëxt", "tëxt".encode())]
)
async def test_post_content(server: SSETestServer, content: bytes | str, expected: bytes) -> None:
    """content= sends bytes as they are and str as UTF-8."""
    server.script(ONE)
    headers = {"Content-Type": "application/octet-stream"}
    async with open_sse_session(server.url, method="POST", content=content, headers=headers) as s:
        await collect(s)
    request = await only_request(server)
    assert request.body == expected
    assert request.header("content-type") == "application/octet-stream"


async def test_one_client_many_concurrent_sessions(server: SSETestServer) -> None:
    """A client is shared settings, not a connection: sessions run side by side."""

    def handler(request: RecordedRequest) -> ScriptedResponse:
        name = request.target.lstrip("/")
        return ScriptedResponse.events(*(ServerSentEvent(data=f"{name}-{i}") for i in range(3)))

    server.handler = handler
    client = SSEClient(headers={"X-Shared": "yes"})
    results: dict[str, list[str | None]] = {}

    async def run(name: str) -> None:
        async with client.sse(server.url_for(name)) as session:
            results[name] = [ev.data async for ev in session]

    async with trio.open_nursery() as nursery:
        for name in ("a", "b", "c"):
            nursery.start_soon(run, name)
    assert results == {n: [f"{n}-{i}" for i in range(3)] for n in ("a", "b", "c")}
    assert {r.header("x-shared") for r in server.requests} == {"yes"}


# -- per-call options override the client's ---------------------------------------------


async def test_call_reconnection_options_override_the_client(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """The client says no reconnects and a 60 s delay; the call says 2 attempts and
    0.5 s: the stream is re-opened after 0.5 s with Last-Event-ID."""
    with trio.fail_after(HANG):
        times: list[float] = []
        responses = [
            ScriptedResponse.events(ServerSentEvent(data="a", id="7")),
            ScriptedResponse.events(ServerSentEvent(data="b", id="8")),
            ScriptedResponse(status=204, headers=[], framing="content-length"),
        ]

        def handler(request: RecordedRequest) -> ScriptedResponse:
            times.append(trio.current_time())
            return responses.pop(0)

        server.handler = handler
        client = SSEClient(reconnection_time=60.0, max_reconnection_attempts=0)
        async with client.sse(server.url, reconnection_time=0.5, max_reconnection_attempts=2) as s:
            assert s.reconnection_time == 0.5
            assert [ev.data for ev in await collect(s)] == ["a", "b"]
            assert s.statistics().reconnects == 2
        assert [b - a for a, b in itertools.pairwise(times)] == pytest.approx([0.5, 0.5])
        assert [r.header("last-event-id") for r in server.requests] == [None, "7", "8"]


async def test_call_can_turn_reconnection_off(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """max_reconnection_attempts=0 on the call beats the client's 3: one request only."""
    with trio.fail_after(HANG):
        server.script(ScriptedResponse.events(ServerSentEvent(data="a"), end="truncate"), ONE)
        client = SSEClient(max_reconnection_attempts=3, reconnection_time=1.0)
        with pytest.raises(SSEConnectionError):
            async with client.sse(server.url, max_reconnection_attempts=0) as session:
                await collect(session)
        assert len(server.requests) == 1


COMMENT_AND_RETRY = ScriptedResponse.events(
    ServerSentEvent(comments="hello"), "retry: 250\n\n", ServerSentEvent(data="d")
)


@pytest.mark.parametrize(
    ("client_flags", "call_flags", "expected"),
    [
        ({}, {}, [ServerSentEvent(data="d")]),
        (
            {},
            {"show_comment_events": True},
            [ServerSentEvent(comments="hello"), ServerSentEvent(data="d")],
        ),
        (
            {},
            {"show_retry_events": True},
            [ServerSentEvent(retry=250), ServerSentEvent(data="d")],
        ),
        (
            {"show_comment_events": True, "show_retry_events": True},
            {"show_comment_events": False},
            [ServerSentEvent(retry=250), ServerSentEvent(data="d")],
        ),
        (
            {"show_comment_events": True, "show_retry_events": True},
            {"show_retry_events": False},
            [ServerSentEvent(comments="hello"), ServerSentEvent(data="d")],
        ),
    ],
)
async def test_call_show_flags_override_the_client(
    server: SSETestServer,
    client_flags: ClientOptions,
    call_flags: CallOptions,
    expected: list[ServerSentEvent],
) -> None:
    """show_comment_events / show_retry_events per call win over the client's."""
    server.script(COMMENT_AND_RETRY)
    async with SSEClient(**client_flags).sse(server.url, **call_flags) as session:
        assert await collect(session) == expected


async def test_call_headers_replace_client_headers_case_insensitively(
    server: SSETestServer,
) -> None:
    """A call header replaces the client's header of the same name, whatever its case;
    the client's other headers stay."""
    server.script(ONE)
    client = SSEClient(headers={"Authorization": "Bearer client", "X-Client": "1"})
    async with client.sse(server.url, headers={"AUTHORIZATION": "Bearer call"}) as session:
        await collect(session)
    request = await only_request(server)
    assert request.header_values("authorization") == ["Bearer call"]
    assert request.header("x-client") == "1"


# -- bad arguments fail at the call, before connecting ----------------------------------


BAD_CALLS: list[tuple[str, type[Exception], dict[str, Any]]] = [
    ("ftp://127.0.0.1/x", ValueError, {}),
    ("", ValueError, {"headers": {"X-A": "b\r\nInjected: yes"}}),
    ("", ValueError, {"headers": {"X-A": "b\nc"}}),
    ("", ValueError, {"headers": {"Bad Name": "x"}}),
    ("", ValueError, {"content": b"x", "json": {"a": 1}}),
    ("", ValueError, {"last_event_id": "a\nb"}),
    ("", ValueError, {"last_event_id": "a\0b"}),
    ("", TypeError, {"last_event_id": 5}),
    ("", ValueError, {"reconnection_time": -1}),
    ("", ValueError, {"max_reconnection_attempts": -1}),
    ("", TypeError, {"max_reconnection_attempts": 1.5}),
    ("", TypeError, {"deserialize": "json"}),
    ("", ValueError, {"method": "GE T"}),
    ("", TypeError, {"content": 123}),
]


@pytest.mark.parametrize(("url", "error", "kwargs"), BAD_CALLS)
async def test_bad_call_arguments(
    server: SSETestServer, url: str, error: type[Exception], kwargs: dict[str, Any]
) -> None:
    """sse() raises at the call itself, not on entering, and nothing connects."""
    with pytest.raises(error):
        SSEClient().sse(url or server.url, **kwargs)
    with pytest.raises(error):
        open_sse_session(url or server.url, **kwargs)
    async with trio.open_nursery() as nursery:
        with pytest.raises(error):
            await nursery.start(
                functools.partial(SSEClient().sse_session, url or server.url, **kwargs)
            )
    assert server.statistics().connections_total == 0


async def test_unknown_keyword_names_the_public_function(server: SSETestServer) -> None:
    """A typo is a TypeError at the call that names the function the user called, as
    Python's own message would, never a private helper; nothing connects."""
    client = SSEClient()
    with pytest.raises(TypeError, match=r"^SSEClient\.sse\(\) got .* 'reconect_time'$"):
        client.sse(server.url, reconect_time=1)  # type: ignore[call-overload]  # the typo under test
    with pytest.raises(TypeError, match=r"^open_sse_session\(\) got .* 'read_timeot'$"):
        open_sse_session(server.url, read_timeot=1)  # type: ignore[call-overload]  # the typo under test
    # A client-only option is not a per-call one.
    with pytest.raises(TypeError, match=r"^SSEClient\.sse\(\) got .* 'read_timeout'$"):
        client.sse(server.url, read_timeout=1)  # type: ignore[call-overload]  # client-only, on purpose
    bad = functools.partial(client.sse_session, server.url, jsn={})  # type: ignore[call-arg]  # the typo under test
    async with trio.open_nursery() as nursery:
        with pytest.raises(TypeError, match=r"^SSEClient\.sse_session\(\) got .* 'jsn'$"):
            await nursery.start(bad)
    assert server.statistics().connections_total == 0


def test_option_definitions_agree() -> None:
    """ClientOptions lists exactly SSEClient's keywords and SSEConfig's fields, and every
    per-call override of a client setting is one SSEConfig has: adding an option in one
    place and forgetting another fails here."""
    init = inspect.signature(SSEClient.__init__).parameters
    client_keywords = {name for name, p in init.items() if p.kind is p.KEYWORD_ONLY}
    assert set(ClientOptions.__optional_keys__) == client_keywords
    assert client_keywords == {f.name for f in dataclasses.fields(SSEConfig)}
    shared = set(CallOptions.__optional_keys__) & client_keywords
    assert shared == {
        "reconnection_time",
        "max_reconnection_attempts",
        "show_comment_events",
        "show_retry_events",
        "headers",
        "on_open",
        "on_error",
        "follow_redirects",
        "allow_insecure_redirects",
        "retry_strategy",
        "deserialize",
        "on_deserialize_error",
    }
    for name in shared:  # the same type on both sides (OpenOptions merges them)
        assert ClientOptions.__annotations__[name] == CallOptions.__annotations__[name]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"read_timeout": -1}, ValueError),
        ({"connect_timeout": -0.5}, ValueError),
        ({"read_timeout": 0}, ValueError),
        ({"connect_timeout": float("nan")}, ValueError),
        ({"read_timeout": "5"}, TypeError),
        ({"reconnection_time": -3}, ValueError),
        ({"headers": {"X-A": "a\rb"}}, ValueError),
        ({"max_event_size": 0}, ValueError),
        ({"ssl_context": "yes"}, TypeError),
    ],
)
async def test_bad_client_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    """SSEClient validates its settings at construction (open_sse_session too)."""
    with pytest.raises(error):
        SSEClient(**kwargs)
    with pytest.raises(error):
        open_sse_session("http://127.0.0.1:1/", **kwargs)


# -- status and Content-Type -----------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["text/event-stream", "Text/Event-Stream; charset=utf-8", "text/event-stream;charset=UTF-8"],
)
async def test_event_stream_media_type_is_case_insensitive(
    server: SSETestServer, content_type: str
) -> None:
    """The media type is matched case-insensitively, parameters ignored."""
    server.script(
        ScriptedResponse.events(
            ServerSentEvent(data="ok"), headers=[("Content-Type", content_type)]
        )
    )
    async with open_sse_session(server.url) as session:
        assert [ev.data for ev in await collect(session)] == ["ok"]


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (200, "application/json", b'{"error": "not a stream"}'),
        (200, None, b"data: x\n\n"),
        (404, "text/plain", b"no such stream"),
        (401, "text/plain", b"who are you?"),
        (500, "text/html", b"<h1>oops</h1>"),
        (503, "text/plain", b"busy"),
    ],
)
async def test_refused_responses_raise_with_status_and_body(
    server: SSETestServer, status: int, content_type: str | None, body: bytes
) -> None:
    """A wrong status or Content-Type is SSEResponseError carrying the head and body."""
    headers = [] if content_type is None else [("Content-Type", content_type)]
    server.script(
        ScriptedResponse(status=status, headers=headers, body=body, framing="content-length")
    )
    with pytest.raises(SSEResponseError) as info:
        async with open_sse_session(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert info.value.response.status_code == status
    assert info.value.status_code == status
    assert info.value.body == body
    assert len(server.requests) == 1


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_complete_refusal_is_reported_at_once(
    server: SSETestServer, autojump_clock: trio.testing.MockClock, framing: str
) -> None:
    """A server that keeps the connection alive after a complete error body (as real
    servers do) gets its SSEResponseError at once, body included, rather than after
    the grace period the session gives a slow error body."""
    if framing == "chunked":  # written by hand: the scripted "hang" never ends a chunked body
        headers = [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")]
        body: tuple[bytes, ...] = (b"8\r\nno such \r\n", b"6\r\nstream\r\n0\r\n\r\n")
        response = ScriptedResponse(
            status=404, headers=headers, body=body, framing="close", end="hang"
        )
    else:
        response = ScriptedResponse(
            status=404,
            headers=[("Content-Type", "text/plain")],
            body=(b"no such ", b"stream"),
            framing="content-length",
            end="hang",
        )
    server.script(response)
    with trio.fail_after(HANG), pytest.raises(SSEResponseError) as info:
        async with open_sse_session(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert info.value.body == b"no such stream"
    assert trio.current_time() == 0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
async def test_client_errors_are_never_retried(
    server: SSETestServer, autojump_clock: trio.testing.MockClock, status: int
) -> None:
    """A server that says no is not hammered, even with reconnection on."""
    with trio.fail_after(HANG):
        server.default = ScriptedResponse(status=status, body=b"no", framing="content-length")
        with pytest.raises(SSEResponseError):
            async with open_sse_session(server.url, max_reconnection_attempts=5):
                pytest.fail("the session must not open")  # pragma: no cover
        assert len(server.requests) == 1


async def test_204_ends_cleanly_and_is_not_retried(
    server: SSETestServer, autojump_clock: trio.testing.MockClock
) -> None:
    """204 means stop: no events, no error, no second request despite reconnection."""
    with trio.fail_after(HANG):
        server.default = ScriptedResponse(status=204, headers=[], framing="content-length")
        async with open_sse_session(
            server.url, max_reconnection_attempts=3, reconnection_time=0.1
        ) as session:
            assert session.response.status_code == 204
            assert await collect(session) == []
            assert session.error is None
        assert len(server.requests) == 1
        assert session.statistics().streams_opened == 0


# -- redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_followed(server: SSETestServer, status: int) -> None:
    """A GET is redirected with its headers; response.url is where the stream is."""
    server.script(redirect(status, "/moved?x=1"), ONE)
    client = SSEClient(headers={"Authorization": "Bearer t"})
    async with client.sse(server.url_for("/start")) as session:
        assert [ev.data for ev in await collect(session)] == ["ok"]
        assert session.response.url == server.url_for("/moved?x=1")
    first, second = server.requests
    assert (first.target, second.target) == ("/start", "/moved?x=1")
    assert second.method == "GET"
    assert second.header("authorization") == "Bearer t"  # same origin: kept
    assert session.statistics().connection_attempts == 2


@pytest.mark.parametrize(
    ("status", "method"), [(301, "GET"), (302, "GET"), (303, "GET"), (307, "POST"), (308, "POST")]
)
async def test_redirected_post(server: SSETestServer, status: int, method: str) -> None:
    """303 (and, as browsers do, 301/302) turn a POST into a body-less GET;
    307/308 repeat the POST with its body."""
    server.script(redirect(status, "/next"), ONE)
    async with open_sse_session(server.url, method="POST", json={"q": 1}) as session:
        await collect(session)
    _, second = server.requests
    assert second.method == method
    if method == "GET":
        assert second.body == b""
        assert second.header("content-type") is None
    else:
        assert json.loads(second.body) == {"q": 1}
        assert second.header("content-type") == "application/json"


async def test_cross_origin_redirect_drops_credentials(server: SSETestServer) -> None:
    """Another port is another origin: Authorization and Cookie are not sent there."""
    async with open_sse_test_server() as other:
        other.script(ONE)
        server.script(redirect(307, other.url_for("/elsewhere")))
        headers = {"Authorization": "Bearer secret", "Cookie": "s=1", "X-Trace": "abc"}
        async with open_sse_session(server.url, headers=headers) as session:
            assert [ev.data for ev in await collect(session)] == ["ok"]
            assert session.response.url == other.url_for("/elsewhere")
        (there,) = other.requests
    (here,) = server.requests
    assert here.header("authorization") == "Bearer secret"
    assert there.header("authorization") is None
    assert there.header("cookie") is None
    assert there.header("x-trace") == "abc"
    assert there.header("host") == f"127.0.0.1:{other.port}"


async def test_redirect_loop_is_an_error(server: SSETestServer) -> None:
    """Redirects are bounded: a loop ends in SSEResponseError, not forever."""
    server.default = redirect(302, "/loop")
    with pytest.raises(SSEResponseError) as info:
        async with open_sse_session(server.url):
            pytest.fail("the session must not open")  # pragma: no cover
    assert info.value.response.status_code == 302
    assert len(server.requests) == MAX_REDIRECTS + 1


async def test_redirect_without_location_is_an_error(server: SSETestServer) -> None:
    server.script(ScriptedResponse(status=302, headers=[], framing="content-length"))
    with pytest.raises(SSEResponseError, match="Location"):
        async with open_sse_session(server.url):
            pytest.fail("the session must not open")  # pragma: no cover


# -- content coding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("coding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
async def test_compressed_body_is_decoded(
    server: SSETestServer, coding: str, compress: Any
) -> None:
    """A compressed body, split across writes mid-stream, decodes to the events."""
    wire = sse_stream(*(ServerSentEvent(data=f"event {i}", id=str(i)) for i in range(50)))
    packed = compress(wire)
    pieces = tuple(packed[i : i + 37] for i in range(0, len(packed), 37))
    server.script(
        ScriptedResponse(
            headers=[("Content-Type", "text/event-stream"), ("Content-Encoding", coding)],
            body=pieces,
        )
    )
    async with open_sse_session(server.url) as session:
        events = await collect(session)
    assert [ev.data for ev in events] == [f"event {i}" for i in range(50)]
    assert session.last_event_id == "49"


async def test_data_after_the_gzip_stream_is_an_error_not_a_clean_end(
    server: SSETestServer,
) -> None:
    """Bytes after a complete gzip member that are not another member end the stream
    with SSEProtocolError, after the events before them."""
    wire = sse_stream(*(ServerSentEvent(data=f"event {i}") for i in range(3)))
    server.script(
        ScriptedResponse(
            headers=[("Content-Type", "text/event-stream"), ("Content-Encoding", "gzip")],
            body=(gzip.compress(wire) + b"trailing garbage",),
        )
    )
    events: list[str | None] = []

    async def read_all() -> None:
        async with open_sse_session(server.url) as session:
            async for event in session:
                events.append(event.data)

    with pytest.raises(SSEProtocolError, match="not gzip"):
        await read_all()
    assert events == ["event 0", "event 1", "event 2"]


async def test_sessions_carry_no_per_instance_generic_alias(server: SSETestServer) -> None:
    # ``SSESession[Any](...)`` would store ``__orig_class__`` on every session: a dict
    # entry per stream that nothing reads.
    server.script(ONE)
    async with SSEClient().sse(server.url) as session:
        assert not hasattr(session, "__orig_class__")
        await collect(session)
