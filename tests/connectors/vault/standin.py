"""A STAND-IN for the parts of Vault's API that OpenBao does not ship: the aws, azure and gcp auth methods
and secret engines (they are plugins OpenBao's catalog lacks). It serves only the documented read endpoints
the connector uses, with the documented response shapes (Vault API docs: auth/aws "Read role", auth/azure
"Read role", auth/gcp "Read role", secret/aws "Read role", secret/gcp "Read roleset", secret/azure "Read
role"), from a fixed estate. Everything OpenBao does have is tested against OpenBao itself.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT = "123456789012"
ESTATE: dict[str, Any] = {
    "sys/health": {"cluster_id": "standin-cluster", "cluster_name": "standin", "initialized": True, "sealed": False},
    "sys/auth": {"data": {
        "token/": {"type": "token", "accessor": "auth_token_1"},
        "aws/": {"type": "aws", "accessor": "auth_aws_1"},
        "azure/": {"type": "azure", "accessor": "auth_azure_1"},
        "gcp/": {"type": "gcp", "accessor": "auth_gcp_1"},
    }},
    "sys/mounts": {"data": {
        "aws/": {"type": "aws", "options": None},
        "gcp/": {"type": "gcp", "options": None},
        "azure/": {"type": "azure", "options": None},
    }},
    "LIST sys/policies/acl": {"data": {"keys": ["ci-dns", "default"]}},
    "sys/policies/acl/ci-dns": {"data": {"name": "ci-dns", "policy": 'path "aws/creds/dns-writer" { capabilities = ["read"] }'}},
    "sys/policies/acl/default": {"data": {"name": "default", "policy": 'path "auth/token/lookup-self" { capabilities = ["read"] }'}},
    "LIST auth/aws/role": {"data": {"keys": ["dns-failover"]}},
    "auth/aws/role/dns-failover": {"data": {
        "auth_type": "iam", "bound_iam_principal_arn": [f"arn:aws:iam::{ACCOUNT}:role/ci-runner"],
        "token_policies": ["ci-dns"], "token_no_default_policy": False}},
    "LIST auth/azure/role": {"data": {"keys": ["dr-app"]}},
    "auth/azure/role/dr-app": {"data": {
        "bound_service_principal_ids": ["11111111-2222-3333-4444-555555555555"], "token_policies": ["ci-dns"]}},
    "LIST auth/gcp/role": {"data": {"keys": ["dns-sa"]}},
    "auth/gcp/role/dns-sa": {"data": {
        "type": "iam", "bound_service_accounts": ["dns-sync@dr-project.iam.gserviceaccount.com"],
        "token_policies": ["default"]}},
    "LIST aws/roles": {"data": {"keys": ["dns-writer"]}},
    "aws/roles/dns-writer": {"data": {
        "credential_type": "assumed_role", "role_arns": [f"arn:aws:iam::{ACCOUNT}:role/r53-writer"],
        "policy_arns": [], "policy_document": ""}},
    "LIST gcp/rolesets": {"data": {"keys": ["dns-admin"]}},
    "gcp/roleset/dns-admin": {"data": {
        "secret_type": "access_token", "service_account_email": "vault-dns-admin@dr-project.iam.gserviceaccount.com",
        "bindings": {}}},
    "LIST azure/roles": {"data": {"keys": ["dns-contrib"]}},
    "azure/roles/dns-contrib": {"data": {"application_object_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
                                         "azure_roles": []}},
}


class _Handler(BaseHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, method: str) -> None:
        path = self.path.split("?", 1)[0].removeprefix("/v1/").rstrip("/")
        if method == "GET" and "list=true" in self.path:
            method = "LIST"
        self.requests.append(f"{method} {path}")
        key = f"LIST {path}" if method == "LIST" else path
        body = ESTATE.get(key)
        if body is None:
            self.send_response(404)
            payload = json.dumps({"errors": []}).encode()
        else:
            self.send_response(200)
            payload = json.dumps(body).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802
        self._answer("GET")

    def do_LIST(self) -> None:  # noqa: N802
        self._answer("LIST")

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")


class StandIn:
    """Start/stop the stand-in on 127.0.0.1 (a free port)."""

    def __enter__(self) -> StandIn:
        _Handler.requests = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def requests(self) -> list[str]:
        return _Handler.requests

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
