"""Test setup shared by every layer.

- tests/plugins holds the fake connector, registered through a .dist-info entry point like any plugin.
- A socket guard refuses connections to anything but loopback: the suite must never need the network.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

HERE = Path(__file__).parent  # the repository root and tests/plugins are on sys.path through pytest's
# `pythonpath` setting in pyproject.toml

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check(address: object) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise ConnectionRefusedError(f"tests may only connect to loopback, not {host!r}")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _loopback_only():
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture
def plugin_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for a `commonmode` subprocess that can see the fake connector plugin."""
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE / "plugins"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env
