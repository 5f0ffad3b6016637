"""A small estate the declared connector reads (a real connector, no server), and helpers that run the real
`commonmode` command in a subprocess, as cron or CI would."""

from __future__ import annotations

import http.client
import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# The real backends, shared with the connector tests: moto's server (`aws`), a fresh OpenBao dev server (`bao`)
# and one with a file audit device (`audited`).
from tests.connectors.conftest import aws, moto_server  # noqa: F401 — a fixture, found by its name
from tests.connectors.vault.conftest import bao  # noqa: F401 — a fixture, found by its name
from tests.connectors.vault.test_routes import audited  # noqa: F401 — a fixture, found by its name

ESTATE = """
[[identity]]
id = "r53:user:dns-bot"
kind = "api-key"
owner = "team-sre"
fault_domains = ["dns-provider:route53"]

[[resource]]
id = "r53:zone/acme/api.acme.example/A/primary"
kind = "dns-record"
names = ["api.acme.example"]
fault_domains = ["dns-provider:route53"]

[[resource]]
id = "r53:zone/acme/api.acme.example/A/backup"
kind = "dns-record"
names = ["api.acme.example"]
fault_domains = ["dns-provider:route53"]

[[grant]]
identity = "r53:user:dns-bot"
capability = "dns.write"
resource = "r53:zone/acme/api.acme.example/A/primary"
via = ["the key's scope: every record"]

[[grant]]
identity = "r53:user:dns-bot"
capability = "dns.write"
resource = "r53:zone/acme/api.acme.example/A/backup"
via = ["the key's scope: every record"]
"""

CONFIG = """
[store]
path = "{db}"

[[declared]]
name = "estate"
file = "estate.toml"

[[service]]
name = "api"
owner = "team-edge"
primary = ["r53:zone/acme/api.acme.example/A/primary"]
backup = ["r53:zone/acme/api.acme.example/A/backup"]
"""


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    """A config (store at cm.db beside it) whose scan finds a shared identity."""
    (tmp_path / "estate.toml").write_text(ESTATE)
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text(CONFIG.format(db="cm.db"))
    return cfg


def aws_env() -> dict[str, str]:
    """The environment of a scan with dummy AWS keys and no AWS config files (what the moto tests use)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    return env


def commonmode(*args: str, cwd: Path | None = None, umask: int | None = None,
               **kw: object) -> subprocess.CompletedProcess[str]:
    """Run the installed `commonmode` command (this interpreter's) and capture what it prints."""
    def preexec() -> None:
        if umask is not None:
            os.umask(umask)
    return subprocess.run([sys.executable, "-m", "commonmode.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, preexec_fn=preexec, **kw)  # type: ignore[call-overload]


#: What a misbehaving endpoint does with one request: None forwards it; "hang" reads it and never answers;
#: (status, body) answers that instead.
Behaviour = Callable[[str, str, int], "str | tuple[int, str] | None"]


@contextmanager
def proxy(upstream: str, behave: Behaviour) -> Iterator[str]:
    """An HTTP proxy on 127.0.0.1 in front of a real server (moto, OpenBao) that forwards each request or
    misbehaves as `behave(method, path, n)` says (`n` counts the requests, from 0). Yields its URL."""
    lock, count, release = threading.Lock(), [0], threading.Event()
    up = urlsplit(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                n = count[0]
                count[0] += 1
            what = behave(self.command, self.path, n)
            if what == "hang":
                release.wait(120)
                return
            if isinstance(what, tuple):
                status, text = what
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if text.startswith("<") else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
            conn.request(self.command, self.path, body, dict(self.headers.items()))
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_LIST = do_DELETE = _any

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        release.set()
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A TCP port on 127.0.0.1 that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()
