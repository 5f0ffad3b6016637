"""The published read-only roles (connectors/commonmode_gcp/scanner-role.json and scanner-roles.md) against Google's
permission names and against the calls the connector really makes: `commonmode scan` through the CLI, with the
real clients, against the local GCP stand-ins seeded by tests.connectors.gcp.estate, once per kind of scope
(organization, folders, projects, none) and once impersonating the scanner's own service account. Every request
the stand-ins logged is mapped to the permission Google's documentation says it needs, and the role must hold
exactly those: none missing, none unused."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from tests.connectors.gcp.estate import DEV, PROJECT, Names, build

from commonmode_gcp.client import GRPC_READS
from commonmode_sandbox.servers import GcpServers, start_gcp

FOLDER = Path(__file__).parents[3] / "connectors" / "commonmode_gcp"
ROLE_FILE = FOLDER / "scanner-role.json"
DOC = FOLDER / "scanner-roles.md"
DATA = Path(__file__).parents[2] / "data" / "gcp" / "predefined-roles.json.gz"

#: The Role fields `gcloud iam roles create --file` and roles.create take ("Resource: Role"); name, etag and
#: deleted are output only.
ROLE_FIELDS = {"title", "description", "stage", "includedPermissions"}

#: Permissions that read a secret's value or key material, or mint a credential (DOMAIN.md §6): never in the role.
FORBIDDEN = frozenset({
    "secretmanager.versions.access",  # a secret version's payload
    "iam.serviceAccountKeys.create",  # a new key, private key included
    "iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.getOpenIdToken",  # tokens for the account
    "iam.serviceAccounts.signBlob", "iam.serviceAccounts.signJwt",  # signatures with its Google-held key
    "iam.serviceAccounts.implicitDelegation", "iam.serviceAccounts.actAs",  # acting as the account
})
#: The verbs a read-only role may hold.
READ_VERBS = frozenset({"get", "list", "getIamPolicy"})

#: The permission each REST request needs, "METHOD path" as the stand-ins log it (no leading slash, no query),
#: from each method's "IAM Permissions" in Google's REST references: Resource Manager v3 (projects.list,
#: projects.search: "the projects the caller has resourcemanager.projects.get on", folders.list, …), Cloud DNS
#: "Roles and permissions" and "Set and manage IAM policies on managed zones", Secret Manager "Access control",
#: Certificate Manager "Roles and permissions", and "Manage workload identity pools and providers" (whose
#: permissions carry the `iam.googleapis.com/` prefix).
REST_NEEDS: list[tuple[str, str]] = [
    (r"GET v3/organizations/[0-9]+", "resourcemanager.organizations.get"),
    (r"POST v3/organizations/[0-9]+:getIamPolicy", "resourcemanager.organizations.getIamPolicy"),
    (r"GET v3/folders", "resourcemanager.folders.list"),
    (r"GET v3/folders/[0-9]+", "resourcemanager.folders.get"),
    (r"POST v3/folders/[0-9]+:getIamPolicy", "resourcemanager.folders.getIamPolicy"),
    (r"GET v3/projects", "resourcemanager.projects.list"),
    (r"GET v3/projects:search", "resourcemanager.projects.get"),
    (r"GET v3/projects/[^/:]+", "resourcemanager.projects.get"),
    (r"POST v3/projects/[^/:]+:getIamPolicy", "resourcemanager.projects.getIamPolicy"),
    (r"GET dns/v1/projects/[^/]+/managedZones", "dns.managedZones.list"),
    (r"GET dns/v1/projects/[^/]+/managedZones/[^/:]+/rrsets", "dns.resourceRecordSets.list"),
    (r"POST dns/v1/projects/[^/]+/managedZones/[^/:]+:getIamPolicy", "dns.managedZones.getIamPolicy"),
    (r"GET v1/projects/[^/]+/secrets", "secretmanager.secrets.list"),
    (r"GET v1/projects/[^/]+/secrets/[^/:]+:getIamPolicy", "secretmanager.secrets.getIamPolicy"),
    (r"GET v1/projects/[^/]+/locations/[^/]+/certificates", "certificatemanager.certs.list"),
    (r"GET v1/projects/[^/]+/locations/[^/]+/certificateMaps", "certificatemanager.certmaps.list"),
    (r"GET v1/projects/[^/]+/locations/[^/]+/dnsAuthorizations", "certificatemanager.dnsauthorizations.list"),
    (r"GET v1/projects/[^/]+/locations/global/workloadIdentityPools", "iam.googleapis.com/workloadIdentityPools.list"),
    (r"GET v1/projects/[^/]+/locations/global/workloadIdentityPools/[^/]+/providers",
     "iam.googleapis.com/workloadIdentityPoolProviders.list"),
]
#: The permission each IAM gRPC method needs (the IAM v1 REST reference of the same method; deny policies:
#: "Deny access to resources", required permissions).
GRPC_NEEDS: dict[str, str] = {
    "/google.iam.admin.v1.IAM/ListServiceAccounts": "iam.serviceAccounts.list",
    "/google.iam.admin.v1.IAM/ListServiceAccountKeys": "iam.serviceAccountKeys.list",
    "/google.iam.admin.v1.IAM/GetIamPolicy": "iam.serviceAccounts.getIamPolicy",
    "/google.iam.admin.v1.IAM/ListRoles": "iam.roles.list",
    "/google.iam.admin.v1.IAM/GetRole": "iam.roles.get",
    "/google.iam.v2.Policies/ListPolicies": "iam.denypolicies.list",
    "/google.iam.v2.Policies/GetPolicy": "iam.denypolicies.get",
}
#: Requests that need nothing from the role, and why.
OUTSIDE_THE_ROLE: list[tuple[str, str]] = [
    # "Using OAuth 2.0 for Server to Server Applications": a signed JWT exchanged for a token, no IAM permission
    (r"POST token", "the OAuth token endpoint"),
    # iam.serviceAccounts.getAccessToken on the scanner's own account, from Token Creator granted there
    # (scanner-roles.md, Impersonation); test_impersonation_mints_only_the_scanner_s_own_token checks the target
    (r"POST v1/projects/-/serviceAccounts/[^/:]+:generateAccessToken", "the impersonation"),
    # who is in a group: Cloud Identity's Groups API, which a Workspace or Cloud Identity admin role (Groups Reader)
    # governs, not IAM (scanner-roles.md, Group members)
    (r"GET v1/groups:lookup", "Cloud Identity"),
    (r"GET v1/groups/[^/:]+/memberships:searchTransitiveMemberships", "Cloud Identity"),
]
#: Permissions of the role that no scan here makes a call for, and why (each must really be unexercised).
NOT_EXERCISED: dict[str, str] = {}

#: The predefined roles scanner-roles.md names as the alternative: the three that cover the role, and the service
#: viewers it says add nothing the scanner reads beyond those three.
COVERING = ("roles/browser", "roles/iam.securityReviewer", "roles/iam.denyReviewer")
REDUNDANT = ("roles/dns.reader", "roles/secretmanager.viewer", "roles/certificatemanager.viewer",
             "roles/iam.workloadIdentityPoolViewer")
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
#: The scanner's own service account, impersonated by the key's principal (in the key's project, not scanned).
SCANNER_ACCOUNT = "scanner"


@cache
def predefined() -> dict[str, frozenset[str]]:
    """Google's 2,461 predefined roles (tests/data/gcp/README.md): name -> included permissions."""
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        return {r["name"]: frozenset(r.get("includedPermissions") or []) for r in json.load(f)}


@cache
def known_permissions() -> frozenset[str]:
    return frozenset().union(*predefined().values())


def role() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ROLE_FILE.read_text())
    return data


def role_permissions() -> set[str]:
    return set(role()["includedPermissions"])


def section(title: str) -> str:
    """The text of the scanner-roles.md section whose heading starts with `title`, up to the next one."""
    parts = re.split(r"^## ", DOC.read_text(), flags=re.MULTILINE)
    found = [p for p in parts if p.startswith(title)]
    assert len(found) == 1, f"scanner-roles.md has no single section {title!r}"
    return found[0]


def needs(request: str) -> str | None:
    """The permission a logged request needs; None for one that needs nothing from the role."""
    if request.startswith("RPC "):
        method = request.split(" ")[1]
        assert method in GRPC_NEEDS, f"no permission known for {request}"
        return GRPC_NEEDS[method]
    if any(re.fullmatch(p, request) for p, _why in OUTSIDE_THE_ROLE):
        return None
    found = {perm for p, perm in REST_NEEDS if re.fullmatch(p, request)}
    assert len(found) == 1, f"{request}: {'no' if not found else 'more than one'} permission known"
    return found.pop()


# --- the file itself ---------------------------------------------------------------------------------------------

def test_the_role_file_has_the_rest_role_shape_and_only_real_permissions() -> None:
    r = role()
    assert set(r) == ROLE_FIELDS
    assert r["stage"] == "GA"
    assert isinstance(r["title"], str) and 0 < len(r["title"].encode()) <= 100  # "typically limited to 100 bytes"
    assert isinstance(r["description"], str) and r["description"]
    perms = r["includedPermissions"]
    assert isinstance(perms, list) and all(isinstance(p, str) for p in perms)
    assert len(perms) == len(set(perms)), "a permission is listed twice"
    unknown = sorted(set(perms) - known_permissions())
    assert unknown == [], f"not a permission of any predefined role: {unknown}"


def test_the_role_only_reads_and_never_a_secret_value_key_material_or_a_token() -> None:
    assert known_permissions() >= FORBIDDEN  # spelt as Google does, or this test would prove nothing
    assert role_permissions() & FORBIDDEN == set()
    assert {p for p in role_permissions() if p.rsplit(".", 1)[-1] not in READ_VERBS} == set()


def test_the_document_lists_exactly_the_permissions_of_the_role() -> None:
    table = re.findall(r"^\| `([^`]+)` \|", section("The custom role"), flags=re.MULTILINE)
    assert sorted(table) == sorted(role_permissions())


def test_the_predefined_alternative_covers_the_role_and_holds_nothing_forbidden() -> None:
    roles = predefined()
    named = re.findall(r"^\| `(roles/[^`]+)`", section("Or: predefined roles"), flags=re.MULTILINE)
    assert sorted(named) == sorted(COVERING + REDUNDANT)
    assert role_permissions() <= frozenset().union(*(roles[r] for r in COVERING))
    for name in COVERING + REDUNDANT:
        assert roles[name] & FORBIDDEN == set(), name
    for name in REDUNDANT:  # "add nothing the scanner reads beyond those three"
        assert roles[name] & role_permissions() <= frozenset().union(*(roles[r] for r in COVERING)), name
    # what the table says each covering role is there for
    assert "iam.denypolicies.get" in roles["roles/iam.denyReviewer"] - roles["roles/iam.securityReviewer"]
    assert "resourcemanager.organizations.get" in roles["roles/browser"] - roles["roles/iam.securityReviewer"]
    assert "dns.managedZones.getIamPolicy" not in roles["roles/dns.reader"]


def test_every_grpc_read_the_guard_lets_through_has_a_permission() -> None:
    assert set(GRPC_NEEDS) == set(GRPC_READS)


# --- the scans ---------------------------------------------------------------------------------------------------

@dataclass
class Scans:
    names: Names
    servers: GcpServers
    impersonated: str
    results: dict[str, dict[str, Any]]


def write_config(folder: Path, servers: GcpServers, name: str, scope: str) -> Path:
    endpoints = ", ".join(f'{k} = "{v}"' for k, v in servers.api_endpoints.items())
    cfg = folder / f"{name}.toml"
    cfg.write_text(f'[store]\npath = "{name}.db"\n\n[[gcp]]\nname = "corp"\n{scope}'
                   f'ca_bundle = "ca.pem"\napi_endpoints = {{ {endpoints} }}\n')
    return cfg


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scans]:
    names = build()
    e = names.estate
    # scanner-roles.md's impersonation setup: the key's principal holds Token Creator on the scanner's own account
    target = e.service_account(e.scanner.project_id, SCANNER_ACCOUNT, description="commonmode (owner: secops)")
    e.bind(target["name"], TOKEN_CREATOR, [f"serviceAccount:{e.scanner.email}"])
    servers = start_gcp(e)
    try:
        folder = tmp_path_factory.mktemp("gcp-roles")
        shutil.copy(servers.ca_file, folder / "ca.pem")
        shutil.copy(servers.key_file, folder / "key.json")
        # nothing from the machine's own CA settings: ca_bundle must be what makes TLS work
        env = {k: v for k, v in os.environ.items()
               if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")}
        env["GOOGLE_APPLICATION_CREDENTIALS"] = str(folder / "key.json")
        scopes = {
            "organization": f'organization = "{names.org}"\n',
            "folders": f'folders = ["{names.dns_folder}"]\n',
            "projects": f'projects = ["{PROJECT}", "{DEV}"]\n',
            "found": "",  # every project the credentials can find: projects.search
            "impersonated": f'organization = "{names.org}"\nimpersonate_service_account = "{target["email"]}"\n',
        }
        results: dict[str, dict[str, Any]] = {}
        for name, scope in scopes.items():
            cfg = write_config(folder, servers, name, scope)
            proc = subprocess.run([sys.executable, "-m", "commonmode.cli", "scan", "-c", str(cfg), "--no-progress",
                                   "--format", "json"], capture_output=True, text=True, env=env, timeout=300)
            assert proc.returncode in (0, 3), f"{name}: exit {proc.returncode}: {proc.stderr}"
            results[name] = json.loads(proc.stdout)
        yield Scans(names, servers, str(target["email"]), results)
    finally:
        servers.stop()


def test_every_scan_read_everything_but_the_disabled_dns_api(scans: Scans) -> None:
    for name, out in scans.results.items():
        [corp] = out["connectors"]
        assert corp["status"] in ("ok", "partial"), (name, corp)
        # the only gap: acme-dev's Cloud DNS API is disabled (a gap, not a failure); nothing refused or denied
        assert all("SERVICE_DISABLED" in g and g.startswith(f"project {DEV}:") for g in corp["gaps"]), (name, corp)
    assert scans.servers.refused == []
    assert scans.servers.failures == []


def test_every_call_of_the_scans_needs_a_permission_the_role_grants_and_the_role_grants_no_other(
        scans: Scans) -> None:
    requests = scans.servers.requests
    needed = {perm for r in requests if (perm := needs(r)) is not None}
    granted = role_permissions()
    assert sorted(needed - granted) == [], "scanner-role.json lacks what these calls need"
    assert sorted(granted - needed - set(NOT_EXERCISED)) == [], "scanner-role.json grants what no call needs"
    assert set(NOT_EXERCISED) & needed == set(), "NOT_EXERCISED names a permission a scan did use"
    assert sum(r.startswith("RPC ") for r in requests) > 40 and sum(not r.startswith("RPC ") for r in requests) > 40


def test_impersonation_mints_only_the_scanner_s_own_token(scans: Scans) -> None:
    minted = [r for r in scans.servers.requests if r.endswith(":generateAccessToken")]
    assert minted, "the impersonated scan made no generateAccessToken"
    assert set(minted) == {f"POST v1/projects/-/serviceAccounts/{scans.impersonated}:generateAccessToken"}
    # generateAccessToken needs iam.serviceAccounts.getAccessToken on the account: Token Creator has it, the scanner
    # role does not (the stand-in checks it, so the impersonated scan above ran on the documented binding alone)
    assert "iam.serviceAccounts.getAccessToken" in predefined()[TOKEN_CREATOR]
    assert f"`{TOKEN_CREATOR}`" in section("Impersonation")
