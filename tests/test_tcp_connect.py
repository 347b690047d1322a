"""connect_tcp: a name with one address is connected without trio's happy-eyeballs
nursery (no task per connection attempt); a name with several still gets it.

Names are resolved by a custom trio resolver (trio's own seam for this), so the tests
control how many addresses a name has; the connections are real, on loopback.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from typing import Literal, TypeAlias

import pytest
import trio

import trio_sse
from tests.proxy_server import open_proxy_server
from trio_sse import SSEClient
from trio_sse._transport import connect_tcp
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
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)
            for address in self.addresses
        ]

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


async def test_one_address_is_connected_without_a_task(server: SSETestServer) -> None:
    resolver = Resolver([(server.host, server.port)])
    trio.socket.set_custom_hostname_resolver(resolver)
    with SpawnCounter() as counter:
        stream = await connect_tcp("one.test", 1)
    async with stream:
        assert stream.socket.getpeername() == (server.host, server.port)
    assert counter.spawned == 0
    assert resolver.lookups == 1


async def test_several_addresses_get_happy_eyeballs(
    server: SSETestServer, refused_address: Address
) -> None:
    # The first address refuses: only trying the next one, as trio does, connects.
    trio.socket.set_custom_hostname_resolver(
        Resolver([refused_address, (server.host, server.port)])
    )
    async with await connect_tcp("two.test", 1) as stream:
        assert stream.socket.getpeername() == (server.host, server.port)


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
