"""Second reading of _proxy.py, _proxy_transport.py and _transport.py: each test fails
if the one line keeping a rule is changed (the mutation it catches is in its docstring)."""

from __future__ import annotations

import pytest

from trio_sse._proxy import Proxy


@pytest.mark.parametrize("url", ["http://proxy.example:0", "http://user:secret@proxy.example:0"])
def test_a_proxy_on_port_0_is_refused_not_taken_as_80(url: str) -> None:
    """Regression: ``port or 80`` made ``http://proxy:0`` silently mean port 80."""
    with pytest.raises(ValueError, match="port 0") as caught:
        Proxy.parse(url)
    assert "secret" not in str(caught.value)


def test_a_proxy_without_a_port_is_on_80() -> None:
    assert Proxy.parse("http://proxy.example").port == 80
    assert Proxy.parse("proxy.example:3128").port == 3128
