"""Application Default Credentials from the metadata server, as on GCE, GKE or Cloud Run: no key file, no gcloud
configuration, and google-auth finds the metadata server (GCE_METADATA_HOST / GCE_METADATA_IP point it at a
local one that answers as Google's does: "Metadata server", the Metadata-Flavor header, the default service
account's token). The scan through the CLI then reads the GCP stand-ins with that token, and the read-only guard
lets those metadata reads through and nothing else."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.connectors.gcp.estate import build
from tests.connectors.gcp.test_connector_cli import environment, scan, write_config

from commonmode_sandbox.gcp_estate import CLOUD_PLATFORM, GcpEstate
from commonmode_sandbox.servers import start_gcp


class _Metadata(BaseHTTPRequestHandler):
    estate: GcpEstate
    asked: list[str]

    def log_message(self, format: str, *args: object) -> None:
        del format, args

    def do_GET(self) -> None:
        self.asked.append(f"GET {self.path}")
        path = self.path.split("?", 1)[0]
        email = self.estate.scanner.email
        body: object
        if self.headers.get("Metadata-Flavor") != "Google":
            self.send_response(403)
            self.end_headers()
            return
        if path in ("/", ""):
            body = ""
        elif path.endswith("/service-accounts/default/") or path.endswith("/service-accounts/default"):
            body = {"email": email, "scopes": [CLOUD_PLATFORM], "aliases": ["default"]}
        elif path.endswith("/service-accounts/default/token"):
            token, _ = self.estate.issue_token(email, scopes=[CLOUD_PLATFORM])
            body = {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        elif path.endswith("/project/project-id"):
            body = self.estate.scanner.project_id
        elif path.endswith("/universe/universe-domain"):
            body = "googleapis.com"
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = (json.dumps(body) if isinstance(body, dict) else str(body)).encode()
        self.send_response(200)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def metadata_server() -> Iterator[tuple[str, list[str], type[_Metadata]]]:
    handler = type("Handler", (_Metadata,), {"asked": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", handler.asked, handler
    finally:
        server.shutdown()
        server.server_close()


def test_the_metadata_server_s_credentials_scan_and_only_metadata_reads_pass_the_guard(
        tmp_path: Path, metadata_server: tuple[str, list[str], type[_Metadata]]) -> None:
    host, asked, handler = metadata_server
    names = build()
    handler.estate = names.estate
    with start_gcp(names.estate) as servers:
        cfg = write_config(tmp_path, servers, names)
        env = environment(servers, tmp_path)
        del env["GOOGLE_APPLICATION_CREDENTIALS"]
        (tmp_path / "gcloud").mkdir()
        env.update({"GCE_METADATA_HOST": host, "GCE_METADATA_IP": host, "CLOUDSDK_CONFIG": str(tmp_path / "gcloud")})
        proc = scan(cfg, env)
        assert proc.returncode == 3, proc.stderr[-2000:]  # partial: only the disabled DNS API's gap
        (connector,) = json.loads(proc.stdout)["connectors"]
        assert connector["status"] == "partial" and len(connector["gaps"]) == 1, connector
        assert servers.refused == []
        # the scanner's token came from the metadata server, and the APIs accepted it
        assert any(a.startswith("GET /computeMetadata/v1/instance/service-accounts/default/token") for a in asked)
        assert {t.email for t in names.estate.tokens.values()} == {names.estate.scanner.email}
        assert not any(r.startswith("POST token") for r in servers.requests)  # no key file, no JWT grant
