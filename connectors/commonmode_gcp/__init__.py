"""The GCP connector: service accounts and their keys, IAM allow policies across the resource hierarchy (with
conditions) and deny policies, impersonation and workload identity federation, Cloud DNS (routing policies
included), Secret Manager and Certificate Manager. Read-only; never reads a secret's value or key material
(client.Guard). Config and semantics: connectors/commonmode_gcp/README.md.

The shape every connector follows (docs/connectors.md): this module holds the Connector class (its options in
options.py); client.py the credentials, the REST session, the gRPC channel, the read-only guard and the error
hook; collect.py the calls; snapshot.py what they return; build.py and the modules it names the inventory;
policy.py the IAM evaluation, wif.py workload identity federation; capabilities.toml which permissions give
which commonmode capability.

No Google package is imported here: `commonmode --help` and scans of other providers never load one.
"""

from __future__ import annotations

import re
from pathlib import Path

from commonmode.connector import ConnectorResult, ConnectorSettings, ProgressFn
from commonmode.errors import UsageError
from commonmode.kit import KitConnector
from commonmode_gcp.options import DEFAULT_ENDPOINTS, OPTIONS

__all__ = ["OPTIONS", "GcpConnector"]

_ORGANIZATION = re.compile(r"organizations/[0-9]+")
_FOLDER = re.compile(r"folders/[0-9]+")
#: "Creating and managing projects": 6 to 30 lowercase letters, digits or hyphens, starting with a letter
_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_EMAIL = re.compile(r"[a-z0-9][a-z0-9._-]*@[a-z0-9.-]+\.[a-z]+")
_TARGET = re.compile(r"[A-Za-z0-9.-]+(:[0-9]+)?")


class GcpConnector(KitConnector):
    """`[[gcp]]`: an organization, some folders, or some projects."""

    provider = "gcp"
    options = OPTIONS

    def __init__(self, settings: ConnectorSettings) -> None:
        super().__init__(settings)
        where = settings.where or "gcp"
        v = self.values
        scopes = [k for k in ("organization", "folders", "projects") if v.get(k)]
        if len(scopes) > 1:
            raise UsageError(f"{where}: give one of organization, folders or projects (got {' and '.join(scopes)})")
        if v.get("organization") and not _ORGANIZATION.fullmatch(str(v["organization"])):
            raise UsageError(f"{where}.organization: expected organizations/NUMBER, got {v['organization']!r}")
        for f in v.get("folders") or []:
            if not _FOLDER.fullmatch(f):
                raise UsageError(f"{where}.folders: expected folders/NUMBER, got {f!r}")
        for p in v.get("projects") or []:
            if not _PROJECT.fullmatch(p):
                raise UsageError(f"{where}.projects: expected project ids (6–30 lowercase letters, digits or "
                                 f"hyphens), got {p!r}")
        target = v.get("impersonate_service_account")
        if target and not _EMAIL.fullmatch(str(target)):
            raise UsageError(f"{where}.impersonate_service_account: expected a service account email, got {target!r}")
        endpoints = v.get("api_endpoints") or {}
        for key, value in endpoints.items():
            if key not in DEFAULT_ENDPOINTS:
                raise UsageError(f"{where}.api_endpoints.{key}: unknown API; expected some of "
                                 f"{', '.join(DEFAULT_ENDPOINTS)}")
            if not isinstance(value, str) or not value:
                raise UsageError(f"{where}.api_endpoints.{key}: expected a string")
            if key == "iam" and not _TARGET.fullmatch(value):
                raise UsageError(f"{where}.api_endpoints.iam: expected the gRPC target host:port, got {value!r}")
            if key != "iam" and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", value):
                raise UsageError(f"{where}.api_endpoints.{key}: expected a root URL (https://host[:port]), "
                                 f"got {value!r}")
        if v.get("ca_bundle"):
            path = settings.config_dir / str(v["ca_bundle"])
            if not Path(path).is_file():
                raise UsageError(f"{where}.ca_bundle: {path} does not exist or is not a file")

    def collect(self, progress: ProgressFn) -> ConnectorResult:
        from google.auth import exceptions as auth_exceptions

        from commonmode_gcp.build import Options, build
        from commonmode_gcp.client import Clients, GcpErrors, describe_first_failure, endpoints
        from commonmode_gcp.collect import collect, first_call

        c = self.collection(progress, GcpErrors())
        assert c.policy is not None
        try:
            clients = Clients.make(self.values, self.settings.config_dir, c.policy, c.calls)
        except auth_exceptions.GoogleAuthError as exc:  # no ADC, or a credentials file google-auth refuses
            return c.failed(describe_first_failure(exc, endpoints(self.values)))
        try:
            c.say("reading the resource hierarchy")
            try:
                first = first_call(c, clients, self.values)
            except Exception as exc:  # noqa: BLE001 — the connector fails, with one line that says why
                return c.failed(describe_first_failure(exc, clients.urls))
            snapshot = collect(c, clients, self.values, first)
        finally:
            clients.close()
        c.say("evaluating allow and deny policies")
        built = build(snapshot, Options.from_values(c.name, self.values))
        bindings = sum(len(p.get("bindings") or []) for p in snapshot.policies.values())
        return c.finish(built, {**c.call_stats(), "projects": len(snapshot.projects), "bindings": bindings})
