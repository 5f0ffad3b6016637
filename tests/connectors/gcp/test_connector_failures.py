"""The GCP connector when things go wrong: a config error is one line and exit 2; a connector that cannot start
fails with one line (no credentials, TLS, a refused key); a call that fails is one gap naming it in Google's
words, retried first when Google says it is transient; and the read-only guard refuses what is not a read before
it is sent. Against the local stand-ins with the real clients (tests/connectors/gcp/estate.py's organization)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import certifi
import pytest
from tests.connectors.gcp.estate import PROJECT, build
from tests.connectors.gcp.test_connector_cli import environment, scan, write_config

from commonmode.kit import CallCounter, CallPolicy, DeadlineReached, ReadOnlyViolation
from commonmode_gcp.client import Guard
from commonmode_sandbox.gcp_estate import GcpEstate
from commonmode_sandbox.servers import start_gcp


def connector_of(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    (connector,) = json.loads(proc.stdout)["connectors"]
    assert isinstance(connector, dict)
    return connector


# --- config errors: exit 2, one line naming the key ----------------------------------------------------------------

@pytest.mark.parametrize(("table", "message"), [
    ('organization = "organizations/1"\nprojects = ["acme-dns-prod"]',
     "give one of organization, folders or projects (got organization and projects)"),
    ('organization = "123456"', 'organization: expected organizations/NUMBER, got \'123456\''),
    ('folders = ["platform"]', "folders: expected folders/NUMBER, got 'platform'"),
    ('projects = ["Prod"]', "projects: expected project ids"),
    ('projects = ["acme-dns-prod"]\napi_endpoints = { dnss = "https://127.0.0.1:1" }',
     "api_endpoints.dnss: unknown API; expected some of iam, iamcredentials"),
    ('projects = ["acme-dns-prod"]\napi_endpoints = { dns = "127.0.0.1:1" }',
     "api_endpoints.dns: expected a root URL"),
    ('projects = ["acme-dns-prod"]\napi_endpoints = { iam = "https://iam.example:443/v1" }',
     "api_endpoints.iam: expected the gRPC target host:port"),
    ('projects = ["acme-dns-prod"]\nca_bundle = "missing.pem"', "ca_bundle:"),
    ('projects = ["acme-dns-prod"]\nimpersonate_service_account = "scanner"',
     "impersonate_service_account: expected a service account email"),
])
def test_a_config_error_is_one_line_and_exit_2(tmp_path: Path, table: str, message: str) -> None:
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[gcp]]\nname = "corp"\n{table}\n')
    proc = subprocess.run([sys.executable, "-m", "commonmode.cli", "scan", "-c", str(cfg), "--no-progress"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "gcp" in lines[0], proc.stderr


# --- a connector that cannot start fails with one line ------------------------------------------------------------

@pytest.fixture(scope="module")
def served() -> object:
    names = build()
    with start_gcp(names.estate) as servers:
        yield names, servers


def test_no_credentials_fail_the_connector_with_what_to_do(tmp_path: Path, served: object) -> None:
    names, servers = served  # type: ignore[misc]
    cfg = write_config(tmp_path, servers, names)
    env = {**environment(servers, tmp_path), "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "nope.json")}
    proc = scan(cfg, env)
    assert proc.returncode == 1, proc.stderr
    c = connector_of(proc)
    assert c["status"] == "failed"
    (gap,) = c["gaps"]  # type: ignore[misc]
    assert gap.startswith("gcp corp: no usable Application Default Credentials (set GOOGLE_APPLICATION_CREDENTIALS")
    assert "nope.json" in gap


def test_without_ca_bundle_the_first_call_fails_on_tls_and_says_what_to_set(tmp_path: Path, served: object) -> None:
    names, servers = served  # type: ignore[misc]
    cfg = write_config(tmp_path, servers, names, ca=False)
    proc = scan(cfg, environment(servers, tmp_path))  # REQUESTS_CA_BUNDLE: a bundle without the test CA
    c = connector_of(proc)
    assert c["status"] == "failed" and c["gaps"] == [
        "gcp corp: cannot reach the token endpoint: TLS verification failed (set ca_bundle to the CA that signed "
        "the server's certificate)"], c


def test_a_key_the_token_endpoint_refuses_fails_the_connector(tmp_path: Path, served: object) -> None:
    names, servers = served  # type: ignore[misc]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    cfg = write_config(tmp_path, servers, names)
    env = environment(servers, tmp_path)
    info = json.loads(Path(servers.key_file).read_text())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode()
    Path(env["GOOGLE_APPLICATION_CREDENTIALS"]).write_text(json.dumps(info))
    c = connector_of(scan(cfg, env))
    assert c["status"] == "failed"
    (gap,) = c["gaps"]  # type: ignore[misc]
    assert gap.startswith("gcp corp: the credentials were refused: ") and "invalid_grant" in gap, gap
    assert info["private_key"].splitlines()[1] not in gap


# --- a failed call is one gap; a transient one is retried -------------------------------------------------------

def _scan_with(tmp_path: Path, prepare: object) -> tuple[dict[str, object], GcpEstate, list[str]]:
    names = build()
    prepare(names.estate)  # type: ignore[operator]
    with start_gcp(names.estate) as servers:
        proc = scan(write_config(tmp_path, servers, names), environment(servers, tmp_path))
        return connector_of(proc), names.estate, list(servers.requests)


def test_a_transient_failure_is_retried_and_leaves_no_gap(tmp_path: Path) -> None:
    faults = []
    c, _, requests = _scan_with(tmp_path, lambda e: faults.append(
        e.fail(rf"/dns/v1/projects/{PROJECT}/managedZones$", 503, times=2)))
    assert faults[0].hits == 2
    assert requests.count(f"GET dns/v1/projects/{PROJECT}/managedZones") == 3  # two 503s, then the answer
    assert not [g for g in c["gaps"] if PROJECT in g], c["gaps"]  # type: ignore[attr-defined]


def test_a_persistent_failure_is_one_gap_in_google_s_words(tmp_path: Path) -> None:
    c, _, requests = _scan_with(tmp_path, lambda e: (
        e.fail(rf"/dns/v1/projects/{PROJECT}/managedZones$", 503, message="The service is currently unavailable."),
        e.fail(rf"/v3/projects/{PROJECT}:getIamPolicy$", 403, method="POST",
               message=f"The caller does not have permission on projects/{PROJECT}"),
        e.fail(r"\.IAM/ListServiceAccounts$", 403, method="RPC", message="Permission 'iam.serviceAccounts.list' "
               f"denied on resource projects/{PROJECT}")))
    gaps = set(c["gaps"])  # type: ignore[arg-type]
    assert f"project {PROJECT}: Cloud DNS managed zones: 503 UNAVAILABLE: The service is currently unavailable." in gaps
    assert (f"project {PROJECT}: allow policy of projects/{PROJECT}: 403 PERMISSION_DENIED: The caller does not have "
            f"permission on projects/{PROJECT}; grants there and below are missing") in gaps
    assert (f"project {PROJECT}: service accounts: PERMISSION_DENIED: Permission 'iam.serviceAccounts.list' denied on "
            f"resource projects/{PROJECT}") in gaps
    assert c["status"] == "partial"
    assert requests.count(f"GET dns/v1/projects/{PROJECT}/managedZones") == 4  # the attempts of the policy


def test_a_group_whose_members_cannot_be_read_is_a_gap_and_gives_its_members_nothing(tmp_path: Path) -> None:
    c, _, _ = _scan_with(tmp_path, lambda e: e.fail(r"/v1/groups:lookup$", 403, message="Error(4003): Permission "
                                                    "denied for group resource"))
    assert sorted(c["gaps"]) == [  # type: ignore[call-overload]  # one line for the group, one for the DNS API
        "members of group:dns-ops@example.com: 403 PERMISSION_DENIED: Error(4003): Permission denied for group "
        "resource; what its members get through it is missing",
        "project acme-dev: Cloud DNS managed zones: dns.googleapis.com is disabled in this project (403 "
        "SERVICE_DISABLED): nothing of it was read"]
    with sqlite3.connect(tmp_path / "cm.db") as db:
        holders = {r[0] for r in db.execute("SELECT identity_id FROM grants WHERE capability = 'dns.write'")}
    assert not [h for h in holders if "group-writer" in h or "oncall-writer" in h], holders
    assert any("zone-writer" in h for h in holders)  # the rest was read and decided


# --- the guard: before anything is sent ---------------------------------------------------------------------

def _guard(*, past: bool = False, impersonate: str | None = None) -> Guard:
    return Guard(CallCounter(), CallPolicy(past_deadline=lambda: past), frozenset({impersonate} - {None}))


@pytest.mark.parametrize(("method", "url"), [
    ("PUT", "https://dns.googleapis.com/dns/v1/projects/p/managedZones/z"),
    ("DELETE", "https://secretmanager.googleapis.com/v1/projects/p/secrets/s"),
    ("POST", "https://dns.googleapis.com/dns/v1/projects/p/managedZones/z/changes"),
    ("POST", "https://cloudresourcemanager.googleapis.com/v3/projects/p:setIamPolicy"),
    ("GET", "https://secretmanager.googleapis.com/v1/projects/p/secrets/s/versions/latest:access"),
    ("GET", "https://secretmanager.googleapis.com/v1/projects/p/secrets/s/versions/latest%3Aaccess"),
    ("POST", "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/x@p.iam.gserviceaccount.com:signJwt"),
    ("POST", "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/x@p.iam.gserviceaccount.com"
             ":generateAccessToken"),
])
def test_the_api_guard_refuses_writes_secret_reads_and_credential_minting(method: str, url: str) -> None:
    guard = _guard()
    with pytest.raises(ReadOnlyViolation, match="refused by the read-only guard"):
        guard.api(method, url)
    assert sum(guard.calls.values()) == 0  # refused before it counts: nothing was sent


def test_the_api_guard_lets_reads_and_get_iam_policy_through_and_counts_them() -> None:
    guard = _guard()
    guard.api("GET", "https://dns.googleapis.com/dns/v1/projects/p/managedZones/z/rrsets?maxResults=500")
    guard.api("POST", "https://cloudresourcemanager.googleapis.com/v3/folders/1:getIamPolicy")
    guard.api("GET", "https://secretmanager.googleapis.com/v1/projects/p/secrets/s:getIamPolicy")
    assert dict(guard.calls) == {"GET dns projects/managedZones/rrsets": 1,
                                 "POST cloudresourcemanager folders:getIamPolicy": 1,
                                 "GET secretmanager projects/secrets:getIamPolicy": 1}


def test_the_token_guard_allows_token_endpoints_and_only_the_scanner_s_own_impersonation() -> None:
    own = "scanner@admin-project.iam.gserviceaccount.com"
    guard = _guard(impersonate=own)
    guard.token("POST", "https://oauth2.googleapis.com/token")
    guard.token("POST", "https://sts.googleapis.com/v1/token")
    guard.token("POST", f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{own}:generateAccessToken")
    with pytest.raises(ReadOnlyViolation):
        guard.token("POST", "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                            "dns@p.iam.gserviceaccount.com:generateAccessToken")
    with pytest.raises(ReadOnlyViolation):
        _guard().token("POST", f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{own}"
                               ":generateAccessToken")
    with pytest.raises(ReadOnlyViolation):
        guard.token("GET", "https://dns.googleapis.com/dns/v1/projects/p/managedZones")


def test_the_token_guard_lets_the_metadata_server_give_the_scanner_its_own_token_and_nothing_else() -> None:
    """On Google Cloud the ADC are the metadata server's ("Metadata server": GET
    /computeMetadata/v1/instance/service-accounts/default/token, and google-auth's ping of the root); an
    AWS-sourced external account reads AWS's instance metadata (IMDSv2: PUT /latest/api/token first)."""
    guard = _guard()
    guard.token("GET", "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token")
    guard.token("GET", "http://169.254.169.254/")
    guard.token("PUT", "http://169.254.169.254/latest/api/token")
    guard.token("GET", "http://169.254.169.254/latest/meta-data/iam/security-credentials/role")
    assert dict(guard.calls) == {"GET metadata": 3, "PUT metadata": 1}
    for method, url in (("POST", "http://metadata.google.internal/computeMetadata/v1/instance/attributes/x"),
                        ("GET", "http://metadata.google.internal/other"),
                        ("GET", "https://evil.example/computeMetadata/v1/instance/service-accounts/default/token")):
        with pytest.raises(ReadOnlyViolation):
            guard.token(method, url)


def test_the_rpc_guard_allows_the_iam_reads_only() -> None:
    guard = _guard()
    guard.rpc("/google.iam.admin.v1.IAM/ListServiceAccountKeys")
    for method in ("/google.iam.admin.v1.IAM/CreateServiceAccountKey", "/google.iam.admin.v1.IAM/SignJwt",
                   "/google.iam.admin.v1.IAM/SetIamPolicy", "/google.iam.v2.Policies/CreatePolicy"):
        with pytest.raises(ReadOnlyViolation):
            guard.rpc(method)
    assert dict(guard.calls) == {"RPC IAM.ListServiceAccountKeys": 1}


def test_past_the_deadline_the_guard_sends_nothing() -> None:
    guard = _guard(past=True)
    with pytest.raises(DeadlineReached):
        guard.api("GET", "https://dns.googleapis.com/dns/v1/projects/p/managedZones")
    with pytest.raises(DeadlineReached):
        guard.rpc("/google.iam.admin.v1.IAM/ListRoles")
    assert sum(guard.calls.values()) == 0


def test_ca_bundle_wins_over_requests_ca_bundle(tmp_path: Path, served: object) -> None:
    """The main scan runs with REQUESTS_CA_BUNDLE set to certifi's bundle (no test CA in it): here the converse,
    the environment naming the test CA and the config naming a CA that did not sign the server, fails."""
    names, servers = served  # type: ignore[misc]
    cfg = write_config(tmp_path, servers, names)
    shutil.copy(certifi.where(), tmp_path / "ca.pem")  # the config's ca_bundle: not the stand-ins' CA
    env = {**environment(servers, tmp_path), "REQUESTS_CA_BUNDLE": servers.ca_file}
    c = connector_of(scan(cfg, env))
    assert c["status"] == "failed" and "TLS verification failed" in str(c["gaps"]), c
