"""connect_tcp: a name is resolved once. With one address it is connected without a
happy-eyeballs nursery (no task per connection attempt); with several, the addresses
are raced, each after the one before had ATTEMPT_DELAY to connect or failed.

Names are resolved by a custom trio resolver (trio's own seam for this), so the tests
control how many addresses a name has; the connections are real, on loopback.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator, Sequence
from typing import Any, Literal, TypeAlias

import pytest
import trio

import trio_sse
import trio_sse._transport
from tests.proxy_server import open_proxy_server
from trio_sse import SSEClient
from trio_sse._transport import ATTEMPT_DELAY, _interleaved, connect_tcp
from trio_sse.testing import ScriptedResponse, SSETestServer

Address = tuple[str, int]
# What trio.abc.HostnameResolver.getaddrinfo returns, spelled as trio spells it.
AddressInfo: TypeAlias = (
    tuple[Literal[socket.AddressFamily.AF_INET], socket.SocketKind, int, str, tuple[str, int]]
    | tuple[
        Literal[socket.AddressFamily.AF_INET6],
        socket.SocketKind,
        int,
        str,
        tuple[str, int, int, int] | tuple[int, bytes],
    ]
)


class Resolver(trio.abc.HostnameResolver):
    """Resolves every name to the addresses given, whatever port was asked for."""

    def __init__(self, addresses: Sequence[Address]) -> None:
        self.addresses = addresses
        self.lookups = 0

    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[AddressInfo]:
        self.lookups += 1
        await trio.lowlevel.checkpoint()
        return [self._info(address) for address in self.addresses]

    @staticmethod
    def _info(address: Address) -> AddressInfo:
        if ":" in address[0]:  # IPv6
            v6 = (address[0], address[1], 0, 0)
            return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", v6)
        return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int
    ) -> tuple[str, str]:
        raise NotImplementedError  # pragma: no cover


class SpawnCounter(trio.abc.Instrument):
    """Counts the tasks spawned below the current task (so not the server's)."""

    def __init__(self) -> None:
        self.ancestor = trio.lowlevel.current_task()
        self.spawned = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        nursery = task.parent_nursery
        while nursery is not None:
            if nursery.parent_task is self.ancestor:
                self.spawned += 1
                return
            nursery = nursery.parent_task.parent_nursery

    def __enter__(self) -> SpawnCounter:
        trio.lowlevel.add_instrument(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        trio.lowlevel.remove_instrument(self)


@pytest.fixture
def refused_address() -> Iterator[Address]:
    """A loopback port that refuses connections (bound, never listening)."""
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        yield placeholder.getsockname()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def client_sockets(monkeypatch: pytest.MonkeyPatch) -> list[trio.socket.SocketType]:
    """Every socket connect_tcp makes for an attempt (not the in-process server's)."""
    created: list[trio.socket.SocketType] = []
    make = trio.socket.socket
    attempt = trio_sse._transport._connect.__code__

    def recorded(*args: int) -> trio.socket.SocketType:
        sock = make(*args)
        if sys._getframe(1).f_code is attempt:
            created.append(sock)
        return sock

    monkeypatch.setattr(trio.socket, "socket", recorded)
    return created


class MalformedSecond(Resolver):
    """The addresses given, then one that connect() rejects with ValueError."""

    async def getaddrinfo(self, *args: Any, **kwargs: Any) -> list[AddressInfo]:
        infos = await super().getaddrinfo(*args, **kwargs)
        malformed = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1",))
        return [*infos, malformed]  # type: ignore[list-item]


def closed(sockets: list[trio.socket.SocketType]) -> list[bool]:
    return [sock.fileno() < 0 for sock in sockets]


@pytest.fixture
def hanging_address() -> Iterator[Address]:
    """A loopback port whose connections never complete: a listener with a backlog of
    0 that already holds one connection it never accepts drops every new SYN."""
    with socket.socket() as listener, socket.socket() as first:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        first.connect(listener.getsockname())
        yield listener.getsockname()


async def test_one_address_is_connected_without_a_task(server: SSETestServer) -> None:
    resolver = Resolver([(server.host, server.port)])
    trio.socket.set_custom_hostname_resolver(resolver)
    with SpawnCounter() as counter:
        stream = await connect_tcp("one.test", 1)
    async with stream:
        assert stream.socket.getpeername() == (server.host, server.port)
    assert counter.spawned == 0
    assert resolver.lookups == 1


@pytest.mark.parametrize(
    ("first", "delay"),
    [
        pytest.param("refused_address", 0, id="refused: the next one at once"),
        pytest.param("hanging_address", ATTEMPT_DELAY, id="hanging: the next one beside it"),
    ],
)
async def test_several_addresses_get_happy_eyeballs(
    server: SSETestServer,
    autojump_clock: trio.testing.MockClock,
    client_sockets: list[trio.socket.SocketType],
    request: pytest.FixtureRequest,
    first: str,
    delay: float,
) -> None:
    # The first address fails: the next one is tried at once. It hangs: the next one
    # starts after the delay, connects, and the hanging attempt is cancelled and closed.
    resolver = Resolver([request.getfixturevalue(first), (server.host, server.port)])
    trio.socket.set_custom_hostname_resolver(resolver)
    start = trio.current_time()
    async with await connect_tcp("two.test", 1) as stream:
        assert stream.socket.getpeername() == (server.host, server.port)
        assert trio.current_time() - start == delay
        assert closed(client_sockets) == [True, False]
    assert resolver.lookups == 1  # trio.open_tcp_stream would have resolved it again


async def test_when_every_address_fails_each_failure_is_named(
    refused_address: Address, client_sockets: list[trio.socket.SocketType]
) -> None:
    resolver = Resolver([refused_address, refused_address])
    trio.socket.set_custom_hostname_resolver(resolver)
    with pytest.raises(OSError, match=r"all attempts to connect to none\.test:1 failed") as info:
        await connect_tcp("none.test", 1)
    assert str(info.value).count(f"{refused_address}: Connection refused") == 2
    assert resolver.lookups == 1
    assert closed(client_sockets) == [True] * 2


async def test_a_cancelled_race_leaves_no_socket_open(
    hanging_address: Address,
    autojump_clock: trio.testing.MockClock,
    client_sockets: list[trio.socket.SocketType],
) -> None:
    trio.socket.set_custom_hostname_resolver(Resolver([hanging_address] * 3))
    raised: list[type[BaseException]] = []
    with trio.move_on_after(10) as scope:
        try:
            await connect_tcp("hangs.test", 1)
        except BaseException as exc:
            raised.append(type(exc))
            raise
    assert scope.cancelled_caught
    assert raised == [trio.Cancelled]  # not the race nursery's group of them
    assert closed(client_sockets) == [True] * 3


async def test_a_connection_made_as_the_caller_gives_up_is_closed(
    server: SSETestServer,
    hanging_address: Address,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
    client_sockets: list[trio.socket.SocketType],
) -> None:
    # The caller's deadline passes in the same pass of the scheduler that connects the
    # second address: the race ends cancelled, and the new connection must not leak.
    connect = trio_sse._transport._connect

    async def connect_then_give_up(target: Any) -> trio.socket.SocketType:
        sock = await connect(target)
        caller.cancel()
        return sock

    monkeypatch.setattr(trio_sse._transport, "_connect", connect_then_give_up)
    trio.socket.set_custom_hostname_resolver(
        Resolver([hanging_address, (server.host, server.port)])
    )
    with trio.CancelScope() as caller:
        await connect_tcp("late.test", 1)
    assert caller.cancelled_caught
    assert closed(client_sockets) == [True] * 2


async def test_two_attempts_that_both_connect_keep_one(
    server: SSETestServer,
    mock_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
    client_sockets: list[trio.socket.SocketType],
) -> None:
    # Two attempts connect in the same pass of the scheduler (here: each waits for the
    # other, shielded from the race's cancellation): one is returned, the other closed.
    # The clock never moves, so the second attempt must start without a delay.
    monkeypatch.setattr(trio_sse._transport, "ATTEMPT_DELAY", 0)
    connect = trio_sse._transport._connect
    both = trio.Semaphore(0)

    async def connect_together(target: Any) -> trio.socket.SocketType:
        sock = await connect(target)
        with trio.CancelScope(shield=True):
            both.release()
            for _ in range(1000):
                if both.value >= 2:
                    return sock
                await trio.lowlevel.checkpoint()
        raise AssertionError("the other attempt did not connect")

    monkeypatch.setattr(trio_sse._transport, "_connect", connect_together)
    trio.socket.set_custom_hostname_resolver(Resolver([(server.host, server.port)] * 2))
    async with await connect_tcp("twice.test", 1) as stream:
        assert len(client_sockets) == 2
        open_ones = [sock.fileno() for sock in client_sockets if sock.fileno() >= 0]
        assert open_ones == [stream.socket.fileno()]


async def test_an_attempt_that_raises_something_else_ends_the_race_with_it(
    hanging_address: Address,
    autojump_clock: trio.testing.MockClock,
    client_sockets: list[trio.socket.SocketType],
) -> None:
    # Not an OSError (a malformed address here): no other attempt can help, so the
    # race ends with it, as itself rather than in the race nursery's group, and every
    # socket is closed.
    trio.socket.set_custom_hostname_resolver(MalformedSecond([hanging_address]))
    with pytest.raises(ValueError, match="address should be"):
        await connect_tcp("bad.test", 1)
    assert closed(client_sockets) == [True, True]


async def test_no_address_at_all_is_an_os_error() -> None:
    trio.socket.set_custom_hostname_resolver(Resolver([]))
    with pytest.raises(OSError, match=r"no results found for hostname lookup: none\.test:1"):
        await connect_tcp("none.test", 1)


async def test_a_failure_that_does_not_name_its_address_is_named(
    refused_address: Address, client_sockets: list[trio.socket.SocketType]
) -> None:
    # A link-local IPv6 address without a scope fails in connect() itself, with an
    # error that names no address.
    trio.socket.set_custom_hostname_resolver(Resolver([("fe80::1", 80), refused_address]))
    with pytest.raises(OSError, match="all attempts to connect") as info:
        await connect_tcp("two.test", 1)
    message = str(info.value)
    assert "('fe80::1', 80, 0, 0): " in message
    assert message.count(str(refused_address)) == 1
    assert isinstance(info.value.__cause__, OSError)  # the first address's error


async def test_the_other_family_is_tried_after_one_address(
    refused_address: Address, client_sockets: list[trio.socket.SocketType]
) -> None:
    v6_refused = ("::1", refused_address[1])  # nothing listens there either, most likely
    trio.socket.set_custom_hostname_resolver(
        Resolver([refused_address, refused_address, v6_refused])
    )
    with pytest.raises(OSError, match="all attempts"):
        await connect_tcp("both.test", 1)
    assert [sock.family for sock in client_sockets] == [
        socket.AF_INET,
        socket.AF_INET6,
        socket.AF_INET,
    ]


def test_the_other_family_is_tried_second() -> None:
    v4 = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"10.0.0.{n}", 1)) for n in range(3)]
    v6 = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (f"fd00::{n}", 1, 0, 0)) for n in range(2)]
    assert _interleaved([*v6, *v4]) == [v6[0], v4[0], v6[1], *v4[1:]]
    assert _interleaved([v4[0], *v6, *v4[1:]]) == [v4[0], *v6, *v4[1:]]
    assert _interleaved(v4) == v4


async def test_a_refused_connection_leaves_no_socket_open(refused_address: Address) -> None:
    host, port = refused_address
    before = open_fds()
    with pytest.raises(ConnectionRefusedError):
        await connect_tcp(host, port)
    assert open_fds() == before


async def test_the_client_connects_through_it(server: SSETestServer) -> None:
    server.script(ScriptedResponse(body=["data: hello\n\n"]))
    trio.socket.set_custom_hostname_resolver(Resolver([(server.host, server.port)]))
    url = f"http://events.test:{server.port}/"
    with SpawnCounter() as counter:
        async with trio_sse.open_sse_session(url) as events:
            assert [event.data async for event in events] == ["hello"]
    assert counter.spawned == 1  # the session's reader, and no connection attempt
    assert [r.header("host") for r in server.requests] == [f"events.test:{server.port}"]


async def test_a_proxy_is_reached_without_a_connection_task(server: SSETestServer) -> None:
    server.script(ScriptedResponse(body=["data: relayed\n\n"]))
    spawned: list[int] = []

    async def read_through(proxy_url: str) -> None:
        with SpawnCounter() as counter:  # tasks below this one: not the proxy's
            async with SSEClient(proxy=proxy_url).sse(server.url) as events:
                assert [event.data async for event in events] == ["relayed"]
        spawned.append(counter.spawned)

    async with open_proxy_server() as proxy, trio.open_nursery() as nursery:
        nursery.start_soon(read_through, proxy.url)
    assert spawned == [1]  # the session's reader, and no connection attempt
    assert len(proxy.requests) == 1
