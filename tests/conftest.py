"""Shared fixtures: a scripted loopback server, a TLS CA, and no proxy from the environment."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
import trustme

from trio_sse import _proxy
from trio_sse.testing import SSETestServer, open_sse_test_server

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client reads proxy variables when made (trust_env): a proxy set on the
    machine running the tests must not reroute their loopback connections. Tests of
    trust_env set the variables they mean explicitly."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(autouse=True)
def fresh_proxy_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """An ignored proxy variable is warned about once per process: each test starts
    with none warned about yet, so its warnings do not depend on the tests before it."""
    monkeypatch.setattr(_proxy, "_warned_env", {})


@pytest.fixture
async def server() -> AsyncIterator[SSETestServer]:
    """A plain-HTTP scripted server on 127.0.0.1, closed (hanging connections too) after."""
    async with open_sse_test_server() as srv:
        yield srv


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A throwaway CA; generating keys is slow, so one per test run."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_ssl_context(tls_ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 and localhost, signed by tls_ca."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def client_ssl_context(tls_ca: trustme.CA) -> ssl.SSLContext:
    """A verifying client context (the system CAs) that also trusts tls_ca."""
    context = ssl.create_default_context()
    tls_ca.configure_trust(context)
    return context
