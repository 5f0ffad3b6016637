"""Issue 16's "Done when", through the CLI: `commonmode scan` with google-auth's service-account credentials from
GOOGLE_APPLICATION_CREDENTIALS (a key file whose token_uri is the stand-in's), the real AuthorizedSession for the
REST APIs and google-cloud-iam's gRPC clients for IAM, against the local GCP stand-ins under a test CA; then
`services`, `access`, `findings` and `inventory` on the stored run."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import certifi
import pytest
from tests.connectors.cli import Cli
from tests.connectors.gcp.estate import DEV, PROJECT, Names, build

from commonmode_sandbox.servers import GcpServers, start_gcp


@dataclass
class Scanned(Cli):
    names: Names = field(kw_only=True)
    servers: GcpServers = field(kw_only=True)
    folder: Path = field(kw_only=True)
    scan: subprocess.CompletedProcess[str] = field(kw_only=True)


def write_config(folder: Path, servers: GcpServers, names: Names, extra: str = "", *, ca: bool = True,
                 scope: str | None = None) -> Path:
    shutil.copy(servers.ca_file, folder / "ca.pem")
    endpoints = ", ".join(f'{k} = "{v}"' for k, v in servers.api_endpoints.items())
    cfg = folder / "commonmode.toml"
    cfg.write_text('[store]\npath = "cm.db"\n\n[[gcp]]\nname = "corp"\n'
                   + (scope if scope is not None else f'organization = "{names.org}"') + "\n"
                   + f"api_endpoints = {{ {endpoints} }}\n" + ('ca_bundle = "ca.pem"\n' if ca else "") + extra)
    return cfg


def environment(servers: GcpServers, folder: Path) -> dict[str, str]:
    """ADC from a key file; REQUESTS_CA_BUNDLE set to a bundle that does not hold the test CA, so only the
    config's ca_bundle can make TLS work (it must win over the environment)."""
    key = folder / "key.json"
    shutil.copy(servers.key_file, key)
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "CURL_CA_BUNDLE")}
    return {**env, "GOOGLE_APPLICATION_CREDENTIALS": str(key), "REQUESTS_CA_BUNDLE": certifi.where()}


def scan(cfg: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "commonmode.cli", "scan", "-c", str(cfg), "--no-progress",
                           "--format", "json", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scanned]:
    names = build()
    servers = start_gcp(names.estate)
    try:
        folder = tmp_path_factory.mktemp("gcp")
        cfg = write_config(folder, servers, names)
        env = environment(servers, folder)
        proc = scan(cfg, env, "-v")
        yield Scanned(cfg, env, names=names, servers=servers, folder=folder, scan=proc)
        assert servers.failures == [], "the stand-in failed while answering"
    finally:
        servers.stop()


def rows_of(scanned: Scanned, resource: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = scanned.json("access", resource)
    return rows


def holders(rows: list[dict[str, Any]], capability: str) -> dict[str, dict[str, Any]]:
    """identity id -> its row for `capability` (direct or acting as another identity)."""
    return {r["identity"]: r for r in rows if r["capability"] == capability}


def test_the_scan_reads_everything_but_the_project_whose_dns_api_is_disabled(scanned: Scanned) -> None:
    assert scanned.scan.returncode == 3, scanned.scan.stderr[-3000:]  # partial: one gap
    (connector,) = json.loads(scanned.scan.stdout)["connectors"]
    assert connector["type"] == "gcp" and connector["status"] == "partial"
    # the disabled API is one gap naming the project and the service, not a failed connector
    assert connector["gaps"] == [f"project {DEV}: Cloud DNS managed zones: dns.googleapis.com is disabled in this "
                                 "project (403 SERVICE_DISABLED): nothing of it was read"]
    # and only that project's Cloud DNS was skipped: the others were read
    assert any(f"dns/v1/projects/{PROJECT}/managedZones" in r for r in scanned.servers.requests)
    assert any(f"v3/projects/{DEV}:getIamPolicy" in r for r in scanned.servers.requests)


def test_a_primary_backup_routing_policy_is_a_failover_pair_in_one_record_set(scanned: Scanned) -> None:
    n = scanned.names
    (svc,) = [s for s in scanned.json("services") if s["name"] == "api.example.com"]
    assert svc["owner"] == "netops"  # the zone's owner label
    assert svc["primary"][0] == n.record and svc["backup"][0] == n.record
    assert svc["primary"][1:] == [f"//compute.googleapis.com/projects/{PROJECT}/regions/us-east1/"
                                  "internalLoadBalancers/10.10.0.5:443"]
    assert svc["backup"][1:] == [f"{n.record}#backup/us-west1"]
    with sqlite3.connect(scanned.folder / "cm.db") as db:
        db.row_factory = sqlite3.Row
        resources = {r["id"]: r for r in db.execute("SELECT * FROM resources WHERE run_id = 1")}
    record = resources[n.record]
    assert record["name"] == "api.example.com A (primaryBackup)"
    assert json.loads(record["tags"])["routing"] == "primaryBackup"
    # the one record set holds both paths: the finding about whoever can change it says so
    shared = next(f for f in scanned.json("findings") if f["rule"] == "shared-identity"
                  and f["subjects"] == [n.sa["zone-writer"]])
    assert f"{n.record} is in both the primary and the backup path: one change to it changes both" in shared[
        "evidence"]
    assert "gcp:region:us-east1" in json.loads(resources[svc["primary"][1]]["fault_domains"])
    assert "gcp:region:us-west1" in json.loads(resources[svc["backup"][1]]["fault_domains"])
    # a plain record set is no service
    assert [s["name"] for s in scanned.json("services")] == ["api.example.com"]


def test_who_can_change_the_failover_record_directly_by_folder_by_zone_and_by_impersonation(scanned: Scanned) -> None:
    n = scanned.names
    rows = rows_of(scanned, n.record)
    writers = holders(rows, "dns.write")
    sa = n.sa
    assert {sa["project-writer"], sa["folder-writer"], sa["zone-writer"], sa["ci-deployer"], sa["impersonator"],
            "github:any"} <= set(writers), sorted(writers)
    # the direct ones hold failover.write too (a routing policy is a field of the record set)
    assert {sa["project-writer"], sa["folder-writer"], sa["zone-writer"]} <= set(holders(rows, "failover.write"))
    chain = {who: " ".join(r["chain"]) for who, r in writers.items()}
    assert f"roles/dns.admin on projects/{PROJECT}" in chain[sa["project-writer"]]
    assert f"roles/dns.admin on {n.platform}" in chain[sa["folder-writer"]]  # inherited from the folder
    assert f"roles/dns.admin on {n.zone}" in chain[sa["zone-writer"]]  # the zone's own allow policy
    assert all(writers[sa[k]]["direct"] for k in ("project-writer", "folder-writer", "zone-writer"))
    # impersonation: Token Creator on project-writer, whose dns.admin changes the record
    imp = writers[sa["impersonator"]]
    assert imp["direct"] is False and imp["chain"][0].startswith(f"{sa['impersonator']} can act as "
                                                                 f"{sa['project-writer']}"), imp
    assert "roles/iam.serviceAccountTokenCreator" in chain[sa["impersonator"]]
    assert "escalation (impersonation)" in chain[sa["impersonator"]]
    # through a group bound on the zone, and through the group nested in it (Cloud Identity's transitive members)
    for who in ("group-writer", "oncall-writer"):
        assert writers[sa[who]]["direct"] and "group:dns-ops@example.com" in chain[sa[who]], chain[sa[who]]
    # the load balancer admin cannot change the record, but can retarget the primary's forwarding rule
    lb = holders(rows_of(scanned, n.lb_target), "failover.write")
    assert sa["lb-admin"] in lb and "roles/compute.loadBalancerAdmin" in " ".join(lb[sa["lb-admin"]]["chain"])
    assert sa["reader"] not in lb
    # the ones that must not: a DNS reader, a load balancer admin (no DNS permissions)
    assert sa["reader"] not in writers and sa["lb-admin"] not in writers
    assert all(not r["conditional"] for who, r in writers.items() if who != sa["cond-writer"])


def test_a_deny_policy_takes_record_changes_from_one_member_of_a_binding(scanned: Scanned) -> None:
    n = scanned.names
    rows = rows_of(scanned, n.record)
    # project-writer and denied-writer share one roles/dns.admin binding; the deny policy names only the second
    for capability in ("dns.write", "failover.write"):
        got = holders(rows, capability)
        assert n.sa["project-writer"] in got and n.sa["denied-writer"] not in got, capability
    # what the deny policy does not name is left: dns.admin (managedZones.update/delete) through the same binding
    assert n.sa["denied-writer"] in holders(rows, "dns.admin")


def test_an_iam_condition_makes_the_grant_conditional(scanned: Scanned) -> None:
    n = scanned.names
    row = holders(rows_of(scanned, n.record), "dns.write")[n.sa["cond-writer"]]
    assert row["conditional"] is True
    assert "business hours" in " ".join(row["chain"]) and "request.time" in " ".join(row["chain"])


def test_a_workload_identity_provider_without_a_condition_lets_any_github_repository_change_the_record(
        scanned: Scanned) -> None:
    n = scanned.names
    row = holders(rows_of(scanned, n.record), "dns.write")["github:any"]
    assert row["chain"][0].startswith(f"github:any can act as {n.sa['ci-deployer']}") and row["conditional"] is False
    chain = " ".join(row["chain"])
    assert "github-any: GitHub's issuer with no attribute condition admits every repository on GitHub" in chain
    assert f"principalSet://iam.googleapis.com/{n.pool}/*" in chain and "roles/iam.workloadIdentityUser" in chain
    ident = next(i for i in scanned.json("inventory") if i["id"] == "github:any")
    assert ident["kind"] == "ci-workload" and ident["name"] == "any repository on GitHub"
    # a finding names it: it can change both paths (the one record set)
    findings = scanned.json("findings")
    shared = [f for f in findings if f["rule"] == "shared-identity" and f["subjects"] == ["github:any"]]
    assert shared and shared[0]["severity"] == "critical"
    # and the trust itself is too broad: the one record set holds both paths, so it can change both
    (broad,) = [f for f in findings if f["rule"] == "broad-federated-trust"]
    assert broad["subjects"] == ["github:any"] and broad["severity"] == "critical"
    assert "it has no condition naming the repository, so it admits any repository on GitHub" in broad["evidence"][0]


def test_a_key_older_than_90_days_and_an_unowned_service_account_are_flagged(scanned: Scanned) -> None:
    n = scanned.names
    findings = scanned.json("findings")
    old_key = f"{n.sa['zone-writer']}/keys/{n.old_key}"
    aged = [f for f in findings if f["rule"] == "credential-expiry"]
    assert [f["subjects"] for f in aged] == [[old_key]]  # not its 5-day-old key, not project-writer's 30-day one
    assert aged[0]["severity"] == "medium" and "created 400 days ago" in aged[0]["evidence"][0]
    unowned = {s for f in findings if f["rule"] == "owner-gap" for s in f["subjects"]}
    assert n.sa["zone-writer"] in unowned  # its description names no owner
    assert n.sa["project-writer"] not in unowned  # "(owner: netops)" in its description
    inventory = {i["id"]: i for i in scanned.json("inventory")}
    ident = inventory[n.sa["project-writer"]]
    assert ident["owner"] == "netops"
    assert "gcp:folder:" + n.dns_folder.split("/")[1] in ident["fault_domains"]
    # key metadata only: no key material in the inventory
    creds = inventory[n.sa["zone-writer"]]["credentials"]
    assert {c["kind"] for c in creds} == {"service-account-key"} and len(creds) == 2, creds


def test_nothing_written_no_secret_read_and_no_canary_anywhere(scanned: Scanned) -> None:
    servers = scanned.servers
    assert servers.refused == []
    assert not any(":access" in r or ":generateAccessToken" in r or ":signJwt" in r for r in servers.requests)
    # a predefined role is read once however many bindings name it (project, folder, zone: roles/dns.admin)
    asked = [r for r in servers.requests if r.startswith("RPC /google.iam.admin.v1.IAM/GetRole")]
    assert asked.count("RPC /google.iam.admin.v1.IAM/GetRole roles/dns.admin") == 1 and len(asked) == len(set(asked))
    # every allow policy was asked for at version 3 (conditions came back: the conditional grant above)
    assert any(r.startswith("POST v3/organizations/") and r.endswith(":getIamPolicy") for r in servers.requests)
    canaries = scanned.names.estate.canaries()
    assert canaries
    out = scanned.folder / "out"
    scanned.cli("report", "--out", str(out))
    texts = [scanned.scan.stdout, scanned.scan.stderr, json.dumps(scanned.json("inventory")),
             json.dumps(scanned.json("findings"))]
    texts += [p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()]
    with sqlite3.connect(scanned.folder / "cm.db") as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            texts.append(json.dumps(db.execute(f"SELECT * FROM {table}").fetchall(), default=str))  # noqa: S608
    for canary in canaries:
        assert not any(canary in t for t in texts), "a secret value leaked"


def test_impersonation_asks_iamcredentials_for_the_scanner_account_and_uses_its_token(tmp_path: Path) -> None:
    names = build()
    e = names.estate
    e.project("commonmode-admin")  # the scanner's own project, with the account it impersonates
    target = e.service_account("commonmode-admin", "scanner-target")["email"]
    e.bind(f"projects/commonmode-admin/serviceAccounts/{target}", "roles/iam.serviceAccountTokenCreator",
           [f"serviceAccount:{e.scanner.email}"])
    with start_gcp(e) as servers:
        cfg = write_config(tmp_path, servers, names, f'impersonate_service_account = "{target}"\n')
        proc = scan(cfg, environment(servers, tmp_path))
        assert proc.returncode == 3, proc.stderr[-2000:]
        asked = [r for r in servers.requests if "generateAccessToken" in r]
        assert asked and all(r == f"POST v1/projects/-/serviceAccounts/{target}:generateAccessToken" for r in asked)
        # the APIs were called with the impersonated account's token
        assert target in {t.email for t in e.tokens.values()}
        assert servers.refused == []
