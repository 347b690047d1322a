"""Each SSE client library, driven the way its documentation shows, reading ``n`` events.

Every runner takes the URL, the number of events to read and an optional ``record``
callback that gets each event's data (None in timed runs, so no library pays for it).
It stops after ``n`` events and closes its connection. Synchronous runners are called
as they are; async ones under their event loop (``trio.run`` / ``asyncio.run``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import trio

import trio_sse

Record = Callable[[str], None] | None
Runner = Callable[[str, int, Record], int]


async def _trio_sse(url: str, n: int, record: Record) -> int:
    count = 0
    async with trio_sse.open_sse_session(url) as events:
        async for event in events:
            if record is not None:
                assert event.data is not None  # None only for comment or retry events
                record(event.data)
            count += 1
            if count == n:
                break
    return count


async def _httpx_sse(url: str, n: int, record: Record) -> int:
    import httpx
    import httpx_sse

    count = 0
    async with (
        httpx.AsyncClient(timeout=None) as client,
        httpx_sse.aconnect_sse(client, "GET", url) as source,
    ):
        async for event in source.aiter_sse():
            if record is not None:
                record(event.data)
            count += 1
            if count == n:
                break
    return count


async def _aiohttp_sse_client2(url: str, n: int, record: Record) -> int:
    import aiohttp
    from aiohttp_sse_client2 import client as sse_client

    count = 0
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        sse_client.EventSource(url, session=session) as source,
    ):
        async for event in source:
            if record is not None:
                record(event.data)
            count += 1
            if count == n:
                break
    return count


def _launchdarkly(url: str, n: int, record: Record) -> int:
    from ld_eventsource import SSEClient

    count = 0
    client = SSEClient(url)
    try:
        for event in client.events:
            if record is not None:
                record(event.data)
            count += 1
            if count == n:
                break
    finally:
        client.close()
    return count


def _sseclient_py(url: str, n: int, record: Record) -> int:
    import sseclient
    import urllib3

    count = 0
    http = urllib3.PoolManager()
    response: Any = http.request("GET", url, preload_content=False)
    try:
        for event in sseclient.SSEClient(response).events():
            if record is not None:
                record(event.data)
            count += 1
            if count == n:
                break
    finally:
        response.release_conn()
        http.clear()
    return count


CLIENTS: dict[str, Runner] = {
    "trio-sse": lambda url, n, record: trio.run(_trio_sse, url, n, record),
    "httpx-sse (trio)": lambda url, n, record: trio.run(_httpx_sse, url, n, record),
    "httpx-sse (asyncio)": lambda url, n, record: asyncio.run(_httpx_sse(url, n, record)),
    "aiohttp-sse-client2": lambda url, n, record: asyncio.run(_aiohttp_sse_client2(url, n, record)),
    "launchdarkly-eventsource": _launchdarkly,
    "sseclient-py": _sseclient_py,
}
"""The clients in report order; trio-sse first."""
