"""The Azure connector when things go wrong, through the CLI against the local stand-in: a refused credential,
an untrusted certificate, a listing that is refused or fails for a while, a subscription that is not there, and
config mistakes. Each is one clear line; a failed or partial run never resolves a finding; nothing leaks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.connectors.azure.estate import Names, build
from tests.connectors.azure.test_connector_cli import environment, scan, write_config

from commonmode_sandbox.servers import AzureServers, start_azure


@pytest.fixture
def azure() -> Iterator[tuple[Names, AzureServers]]:
    names = build(seed=16)
    servers = start_azure(names.estate, separate=True)
    try:
        yield names, servers
    finally:
        servers.stop()


def result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def test_a_refused_client_secret_fails_the_connector_in_one_line(azure, tmp_path: Path) -> None:
    names, servers = azure
    cfg = write_config(tmp_path, servers, names.estate)
    env = {**environment(names.estate), "SCANNER_SECRET": "not-the-secret-at-all"}
    proc = scan(cfg, env)
    assert proc.returncode == 1, proc.stderr
    (connector,) = result(proc)["connectors"]
    assert connector["status"] == "failed"
    (gap,) = connector["gaps"]
    assert gap.startswith("azure corp: the credential was refused: ") and "AADSTS7000215" in gap, gap
    assert "not-the-secret-at-all" not in proc.stdout + proc.stderr


def test_a_server_certificate_the_config_does_not_trust_fails_with_the_fix(azure, tmp_path: Path) -> None:
    names, servers = azure
    cfg = write_config(tmp_path, servers, names.estate, ca=False)
    proc = scan(cfg, environment(names.estate))
    assert proc.returncode == 1
    (connector,) = result(proc)["connectors"]
    assert connector["status"] == "failed"
    assert connector["gaps"] == [f"azure corp: cannot reach {servers.authority_url}: TLS verification failed (set "
                                 "ca_bundle to the CA that signed the server's certificate)"]


def test_a_refused_listing_is_one_gap_the_run_is_partial_and_nothing_is_resolved(azure, tmp_path: Path) -> None:
    names, servers = azure
    cfg = write_config(tmp_path, servers, names.estate)
    env = environment(names.estate)
    first = scan(cfg, env)
    assert first.returncode == 0, first.stderr
    assert result(first)["findings"]["new"] > 0
    names.estate.fail(rf"/subscriptions/{names.subscription}/providers/Microsoft\.Authorization/roleAssignments$",
                      403, code="AuthorizationFailed", message="The client does not have authorization to perform "
                      "action 'Microsoft.Authorization/roleAssignments/read'.")
    second = scan(cfg, env)
    assert second.returncode == 3, second.stderr
    summary = result(second)
    (connector,) = summary["connectors"]
    assert connector["status"] == "partial"
    assert connector["gaps"] == [
        f"subscription {names.subscription}: Microsoft.Authorization/roleAssignments: 403 AuthorizationFailed: "
        "The client does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/read'."]
    # the grants that listing would have given are unseen, not gone: no finding resolved by the outage
    assert summary["findings"]["resolved"] == 0


def test_a_failing_graph_listing_is_retried_with_backoff(azure, tmp_path: Path) -> None:
    names, servers = azure
    fault = names.estate.fail(r"/v1\.0/servicePrincipals$", 503, times=2)
    proc = scan(write_config(tmp_path, servers, names.estate), environment(names.estate), "-v")
    assert proc.returncode == 0, proc.stderr
    assert result(proc)["connectors"][0]["status"] == "ok"
    assert fault.hits == 2  # two 503s, then the answer: azure-core's RetryPolicy tried again
    # and every service principal was still read (the paging after the retries went on)
    config = tmp_path / "commonmode.toml"
    inventory = json.loads(subprocess.run([sys.executable, "-m", "commonmode.cli", "inventory", "-c", str(config),
                                           "--format", "json"], capture_output=True, text=True, check=True).stdout)
    assert names.sp["kv-reader"] in {i["id"] for i in inventory}


def test_graph_refused_is_partial_and_says_what_is_missing(azure, tmp_path: Path) -> None:
    names, servers = azure
    names.estate.fail(r"/v1\.0/(servicePrincipals|applications)$", 403, code="Authorization_RequestDenied",
                      message="Insufficient privileges to complete the operation.")
    proc = scan(write_config(tmp_path, servers, names.estate), environment(names.estate))
    assert proc.returncode == 3
    gaps = result(proc)["connectors"][0]["gaps"]
    assert "graph servicePrincipals: GET /v1.0/servicePrincipals: 403 Authorization_RequestDenied: Insufficient " \
           "privileges to complete the operation." in gaps
    assert any(g.startswith("Microsoft Graph was not read") for g in gaps)


def test_a_configured_subscription_the_credential_cannot_see_is_a_gap(azure, tmp_path: Path) -> None:
    names, servers = azure
    missing = "11111111-2222-3333-4444-555555555555"
    cfg = write_config(tmp_path, servers, names.estate, f'subscriptions = ["{names.subscription}", "{missing}"]\n')
    proc = scan(cfg, environment(names.estate))
    assert proc.returncode == 3
    gaps = result(proc)["connectors"][0]["gaps"]
    assert gaps == [f"subscription {missing}: not visible to the credential (not in its subscription list), not read"]


@pytest.mark.parametrize(("extra", "env_secret", "message"), [
    ("", None, "azure[0].client_secret_env: the environment variable it names SCANNER_SECRET is not set"),
    ('credential = "password"\n', "x", "azure[0].credential: expected one of default, client-secret, "
     "client-certificate, managed-identity, workload-identity, azure-cli"),
    ('ca_bundle = "missing.pem"\n', "x", "azure[0].ca_bundle: "),
    ('tenant_id = "not a tenant"\n', "x", "azure[0].tenant_id: expected the tenant's id (a GUID) or its domain name"),
])
def test_config_mistakes_are_one_line_and_exit_2(tmp_path: Path, extra: str, env_secret: str | None,
                                                 message: str) -> None:
    lines = ['name = "corp"', 'tenant_id = "00000000-0000-0000-0000-000000000000"', 'credential = "client-secret"',
             'client_id = "11111111-1111-1111-1111-111111111111"', 'client_secret_env = "SCANNER_SECRET"']
    for override in extra.splitlines():
        key = override.split("=", 1)[0].strip()
        lines = [line for line in lines if not line.startswith(key + " ")] + [override]
    (tmp_path / "commonmode.toml").write_text('[store]\npath = "cm.db"\n\n[[azure]]\n' + "\n".join(lines) + "\n")
    env = dict(environment_without_secret().items())
    if env_secret is not None:
        env["SCANNER_SECRET"] = env_secret
    proc = subprocess.run([sys.executable, "-m", "commonmode.cli", "scan", "-c", str(tmp_path / "commonmode.toml")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("commonmode: error: ") and message in line, line


def environment_without_secret() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "SCANNER_SECRET"}


def test_help_and_other_providers_import_no_azure_package(tmp_path: Path) -> None:
    (tmp_path / "estate.toml").write_text('[[identity]]\nid = "bot:1"\nkind = "api-key"\nowner = "team"\n')
    (tmp_path / "commonmode.toml").write_text('[store]\npath = "cm.db"\n\n[[declared]]\nname = "estate"\n'
                                              'file = "estate.toml"\n')
    code = ("import sys\nfrom commonmode.cli import main\nfor argv in (['--help'], ['connectors'], ['scan', '-c', "
            f"{str(tmp_path / 'commonmode.toml')!r}, '--no-progress', '-q']):\n"
            "    sys.argv = ['commonmode', *argv]\n"
            "    try:\n        main()\n    except SystemExit:\n        pass\n"
            "print('AZURE', sorted(m for m in sys.modules if m == 'azure' or m.startswith(('azure.', 'msal'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "AZURE []" in proc.stdout, (proc.stdout[-2000:], proc.stderr[-2000:])


def test_every_credential_kind_builds_the_azure_identity_credential_of_that_name(tmp_path: Path, monkeypatch) -> None:
    """Each `credential` names the azure-identity credential of that name, built without a network call."""
    from commonmode.kit import CallPolicy
    from commonmode_azure.client import credential_for
    from commonmode_azure.options import OPTIONS

    token = tmp_path / "token"
    token.write_text("a-projected-token")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token))
    values = {k: o.default for k, o in OPTIONS.items()} | {
        "tenant_id": "00000000-0000-0000-0000-000000000000", "client_id": "11111111-1111-1111-1111-111111111111"}
    expected = {"default": "DefaultAzureCredential", "client-secret": "ClientSecretCredential",
                "managed-identity": "ManagedIdentityCredential", "workload-identity": "WorkloadIdentityCredential",
                "azure-cli": "AzureCliCredential"}
    for kind, name in expected.items():
        assert type(credential_for({**values, "credential": kind}, tmp_path, "s", CallPolicy())).__name__ == name


def test_workload_identity_without_its_token_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "commonmode.toml").write_text(
        '[store]\npath = "cm.db"\n\n[[azure]]\nname = "corp"\ntenant_id = "00000000-0000-0000-0000-000000000000"\n'
        'credential = "workload-identity"\nclient_id = "11111111-1111-1111-1111-111111111111"\n')
    env = {k: v for k, v in environment_without_secret().items() if k != "AZURE_FEDERATED_TOKEN_FILE"}
    proc = subprocess.run([sys.executable, "-m", "commonmode.cli", "scan", "-c", str(tmp_path / "commonmode.toml")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith('azure[0].credential: "workload-identity" needs AZURE_FEDERATED_TOKEN_FILE '
                                        "in the environment (set by the workload identity webhook or the CI system)")
