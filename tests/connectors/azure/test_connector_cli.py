"""Issue 15's "Done when", through the CLI: `commonmode scan` with the real management SDKs and a real
azure-identity ClientSecretCredential against the local Azure stand-in (token endpoint, ARM and Graph on three
HTTPS ports under a test CA), then `services`, `access`, `findings` and `inventory` on the stored run."""

from __future__ import annotations

import datetime
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

import pytest
from tests.connectors.azure.estate import Names, build
from tests.connectors.cli import Cli

from commonmode_sandbox.azure import AzureEstate
from commonmode_sandbox.servers import AzureServers, start_azure


@dataclass
class Scanned(Cli):
    names: Names = field(kw_only=True)
    servers: AzureServers = field(kw_only=True)
    folder: Path = field(kw_only=True)
    scan: subprocess.CompletedProcess[str] = field(kw_only=True)


def write_config(folder: Path, servers: AzureServers, estate: AzureEstate, extra: str = "", *,
                 ca: bool = True) -> Path:
    cred = estate.client_secret_for_scanner()
    shutil.copy(servers.ca_file, folder / "ca.pem")
    cfg = folder / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[azure]]\nname = "corp"\ntenant_id = "{cred.tenant_id}"\n'
                   f'credential = "client-secret"\nclient_id = "{cred.client_id}"\n'
                   f'client_secret_env = "SCANNER_SECRET"\nauthority = "{servers.authority_url}"\n'
                   f'arm_endpoint = "{servers.arm_url}"\ngraph_endpoint = "{servers.graph_url}"\n'
                   + ('ca_bundle = "ca.pem"\n' if ca else "") + extra)
    return cfg


def scan(cfg: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "commonmode.cli", "scan", "-c", str(cfg), "--no-progress",
                           "--format", "json", *args], capture_output=True, text=True, env=env, timeout=300)


def environment(estate: AzureEstate) -> dict[str, str]:
    # nothing from the machine's own CA settings: the config's ca_bundle must be what makes TLS work
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")}
    return {**env, "SCANNER_SECRET": estate.client_secret_for_scanner().secret}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scanned]:
    names = build()
    servers = start_azure(names.estate, separate=True)
    try:
        folder = tmp_path_factory.mktemp("azure")
        cfg = write_config(folder, servers, names.estate)
        env = environment(names.estate)
        proc = scan(cfg, env, "-v")
        yield Scanned(cfg, env, names=names, servers=servers, folder=folder, scan=proc)
    finally:
        servers.stop()


def by_name(rows: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r["identity_name"], set()).add(r["capability"])
    return out


def test_the_scan_succeeds_with_the_real_sdks_and_credential(scanned: Scanned) -> None:
    assert scanned.scan.returncode == 0, scanned.scan.stderr[-3000:]
    (connector,) = json.loads(scanned.scan.stdout)["connectors"]
    assert connector == {"name": "corp", "type": "azure", "status": "ok", "gaps": []}
    # the credential asked the token endpoint for exactly the two audiences, never anything else
    asked = set(scanned.names.estate.scopes_requested)
    assert asked == {f"{scanned.servers.arm_url}/.default", f"{scanned.servers.graph_url}/.default"}, asked


def test_a_traffic_manager_priority_profile_is_a_failover_pair(scanned: Scanned) -> None:
    n = scanned.names
    (svc,) = [s for s in scanned.json("services") if s["name"] == "shop-tm.trafficmanager.net"]
    assert svc["name"] == "shop-tm.trafficmanager.net" and svc["owner"] == "team-edge"
    assert svc["primary"][0] == n.primary and svc["backup"][0] == n.backup  # priority 1, then 2
    # the profile and both records that point at it (a CNAME to its name, an alias to its id) are in both paths
    for side in ("primary", "backup"):
        assert set(svc[side][1:]) == {n.profile, n.cname, n.alias}, svc[side]


def test_who_can_change_the_endpoints_directly_by_group_scope_and_escalation(scanned: Scanned) -> None:
    rows = scanned.json("access", scanned.names.profile)
    can = by_name(rows)
    writers = {who for who, caps in can.items() if "failover.write" in caps}
    # direct at the profile; the management group above the subscription; escalation through User Access
    # Administrator on the resource group; a managed identity; and the GitHub workflow federated into it
    assert {"tm-direct", "expiring-app", "net-mg", "uaa-bot", "deploy-mi"} <= writers, writers
    chains = {r["identity_name"]: " ".join(r["chain"]) for r in rows if r["capability"] == "failover.write"}
    assert "at /providers/Microsoft.Management/managementGroups/platform" in chains["net-mg"]
    assert "escalation (role-assignment)" in chains["uaa-bot"]
    workflow = [r for r in rows if r["identity"] == "github:repo:acme/deploy"]
    assert workflow and "federated credential deploy on managed identity deploy-mi" in workflow[0]["chain"][0]
    # no role here: the DNS-only identities, the Key Vault reader
    assert not writers & {"dns-rg", "group-member", "gh-dns", "kv-reader", "orphan-app"}


def test_directory_permissions_that_add_credentials_to_any_app_reach_every_app_s_power(scanned: Scanned) -> None:
    rows = scanned.json("access", scanned.names.profile)
    via = {r["identity_name"]: " ".join(r["chain"]) for r in rows if r["capability"] == "failover.write"}
    # through tm-direct's application (or any other app that can): add a credential to it, sign in as it
    assert "Microsoft Graph application permission Application.ReadWrite.All" in via["app-admin"]
    assert "Entra directory role Cloud Application Administrator (tenant-wide)" in via["cloud-admin"]
    assert "app-reader" not in via  # Application.Read.All reads


def test_membership_of_a_nested_group_counts(scanned: Scanned) -> None:
    can = by_name(scanned.json("access", scanned.names.cname))
    assert "dns.write" in can["nested-member"]  # its group is inside the group that holds the role
    # and the groups were read per group that holds an assignment, not per service principal
    asked = {r for r in scanned.servers.requests if r.endswith("/transitiveMembers")}  # (a page each)
    assert asked == {f"GET v1.0/groups/{scanned.names.group}/transitiveMembers"}
    assert not [r for r in scanned.servers.requests if r.endswith("/transitiveMemberOf")]


def test_a_user_with_a_role_is_a_user_not_a_service_principal(scanned: Scanned) -> None:
    (person,) = [i for i in scanned.json("inventory") if i["id"] == scanned.names.oncall]
    assert person["kind"] == "user"
    rows = [r for r in scanned.json("access", scanned.names.profile) if r["identity"] == scanned.names.oncall]
    assert {r["capability"] for r in rows} == {"failover.write"}


def test_a_deny_assignment_takes_traffic_manager_writes_from_a_contributor(scanned: Scanned) -> None:
    rows = scanned.json("access", scanned.names.profile)
    record = by_name(scanned.json("access", scanned.names.cname))
    # Contributor at the subscription still changes the DNS record (outside the deny's scope) ...
    assert "dns.write" in record["denied-bot"]
    # ... but not the profile itself, where the deny assignment on the edge resource group applies to it
    mine = [r for r in rows if r["identity_name"] == "denied-bot"]
    assert not [r for r in mine if r["direct"]], mine
    # What it can still do is real: Contributor may add a federated credential to the managed identity, which
    # has Traffic Manager Contributor and is not denied. Every way it has goes through that identity.
    assert mine and all(scanned.names.mi in r["chain"][-1].split(" ", 1)[0] for r in mine)
    assert all("federatedIdentityCredentials/write" in " ".join(r["chain"]) for r in mine)


def test_who_can_change_the_dns_record(scanned: Scanned) -> None:
    rows = scanned.json("access", scanned.names.cname)
    writers = {who for who, caps in by_name(rows).items() if "dns.write" in caps}
    # at the record itself, at the zone, through a group, at the resource group, at the management group
    assert {"orphan-app", "gh-dns", "group-member", "dns-rg", "net-mg", "denied-bot"} <= writers, writers
    group = next(r for r in rows if r["identity_name"] == "group-member" and r["capability"] == "dns.write")
    assert "to group" in " ".join(group["chain"])
    assert not writers & {"tm-direct", "kv-reader", "expiring-app"}


def findings(scanned: Scanned) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = scanned.json("findings")
    return out


def test_an_app_registration_nobody_owns_is_an_owner_gap(scanned: Scanned) -> None:
    n = scanned.names
    gaps = {s for f in findings(scanned) if f["rule"] == "owner-gap" for s in f["subjects"]}
    assert n.app["orphan-app"] in gaps and n.sp["orphan-app"] in gaps
    # owned ones are not (the service principal's owner comes from its application's)
    assert n.app["tm-direct"] not in gaps and n.sp["tm-direct"] not in gaps


def test_a_client_secret_expiring_within_30_days_is_flagged(scanned: Scanned) -> None:
    n = scanned.names
    (f,) = [f for f in findings(scanned) if f["rule"] == "credential-expiry"]
    assert f["subjects"] == [f"applications/{n.app['expiring-app']}/passwordCredentials/{n.expiring_key}"]
    assert "expires in" in f["evidence"][0] and f["severity"] == "medium"


def test_a_github_workflow_federated_into_a_service_principal_is_found(scanned: Scanned) -> None:
    n = scanned.names
    shared = [f for f in findings(scanned) if f["rule"] == "shared-identity"
              and f["subjects"] == ["github:repo:acme/dns"]]
    assert len(shared) == 1, [f["subjects"] for f in findings(scanned) if f["rule"] == "shared-identity"]
    evidence = " ".join(shared[0]["evidence"])
    assert "federated credential github-prod on application gh-dns" in evidence
    assert "subject repo:acme/dns:environment:prod" in evidence
    assert n.app["gh-dns"] in evidence


def test_the_scan_wrote_nothing_and_no_secret_leaves_the_estate(scanned: Scanned) -> None:
    assert scanned.servers.refused == []
    methods = {r.split(" ", 1)[0] for r in scanned.servers.requests}
    assert methods <= {"GET", "POST"}
    assert {r for r in scanned.servers.requests if r.startswith("POST")} == {
        f"POST {scanned.names.estate.tenant_id}/oauth2/v2.0/token"}
    assert not [r for r in scanned.servers.requests if "/kv/" in r]  # Key Vault's data plane: never
    report = scanned.cli("report", "--out", str(scanned.folder / "out"))
    outputs = [scanned.scan.stdout, scanned.scan.stderr, report.stdout,
               *(p.read_text() for p in (scanned.folder / "out").iterdir()),
               scanned.cli("findings", "--format", "json").stdout,
               scanned.cli("inventory", "--format", "json").stdout]
    dump = "\n".join(outputs) + "\n".join(sqlite3.connect(scanned.folder / "cm.db").iterdump())
    canaries = scanned.names.estate.canaries()
    assert len(canaries) >= 3
    for canary in canaries:
        assert canary not in dump
    assert '"hint"' not in dump  # Graph's hint (a secret's first characters) is never kept


def test_pages_were_followed(scanned: Scanned) -> None:
    # the estate serves 2 items a page: the identities the run saw are more than one page of each listing
    inventory = scanned.json("inventory")
    assert sum(1 for i in inventory if i["kind"] == "application") > 2
    assert sum(1 for i in inventory if i["kind"] == "service-principal") > 2


def test_a_front_door_origin_group_is_a_failover_pair_cdn_contributor_changes(scanned: Scanned) -> None:
    n = scanned.names
    (svc,) = [s for s in scanned.json("services") if s["name"] == "shop-fd/web"]
    assert svc["primary"] == [n.origins[0], n.origin_group] and svc["backup"] == [n.origins[1], n.origin_group]
    writers = {who for who, caps in by_name(scanned.json("access", n.origin_group)).items()
               if "failover.write" in caps}
    # Microsoft.Cdn is outside Network Contributor's Microsoft.Network/*: net-mg cannot
    assert "cdn-admin" in writers and "net-mg" not in writers and "tm-direct" not in writers


def test_private_zones_are_their_own_operation_namespace(scanned: Scanned) -> None:
    can = by_name(scanned.json("access", scanned.names.private_record))
    writers = {who for who, caps in can.items() if "dns.write" in caps}
    # Private DNS Zone Contributor and Network Contributor can; DNS Zone Contributor (public zones) cannot
    assert {"private-dns", "net-mg"} <= writers and not writers & {"dns-rg", "group-member", "gh-dns"}


def test_key_vault_data_access_follows_the_vault_s_model(scanned: Scanned) -> None:
    n = scanned.names
    rbac = by_name(scanned.json("access", n.vault_secret))
    # RBAC vault: Key Vault Secrets User reads; Contributor has no data actions, so it does not
    assert "secret.read" in rbac["kv-reader"] and "secret.read" not in rbac.get("denied-bot", set())
    legacy_rows = scanned.json("access", n.policy_secret)
    legacy = by_name(legacy_rows)
    # access-policy vault: the access policy's get reads; Contributor escalates (it can write access policies)
    assert "secret.read" in legacy["ap-reader"] and "secret.read" in legacy["denied-bot"]
    chain = next(" ".join(r["chain"]) for r in legacy_rows
                 if r["identity_name"] == "denied-bot" and r["capability"] == "secret.read")
    assert "escalation (vault-access-policy)" in chain
    assert "secret.read" not in legacy.get("kv-reader", set())  # an RBAC data role does nothing there


def test_a_role_s_condition_makes_its_escalation_conditional(scanned: Scanned) -> None:
    # Key Vault Data Access Administrator may write role assignments, but only of the roles its condition
    # lists: read at the role definitions' API version that keeps a permission block's condition
    rows = [r for r in scanned.json("access", scanned.names.vault_secret) if r["identity_name"] == "kv-delegate"]
    reads = [r for r in rows if r["capability"] == "secret.read"]
    assert reads and all(r["conditional"] for r in reads), rows
    assert "condition" in " ".join(reads[0]["chain"])


def test_a_key_vault_certificate_is_a_certificate_with_its_expiry(scanned: Scanned) -> None:
    n = scanned.names
    db = sqlite3.connect(scanned.folder / "cm.db")
    rows = db.execute("SELECT id, kind, parents, expires FROM resources WHERE name LIKE 'shop-kv/%' "
                      "ORDER BY id").fetchall()
    by_id = {r[0]: r[1:] for r in rows}
    # the secret that backs a certificate (content type PKCS#12) is the certificate, with its expiry in ~20 days
    kind, parents, expires = by_id[f"{n.vault}/certificates/shop-tls"]
    assert kind == "certificate" and json.loads(parents) == [n.vault]
    left = datetime.datetime.fromisoformat(expires) - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=19) < left <= datetime.timedelta(days=20)
    # a plain secret stays a secret, under its own ARM id
    assert by_id[n.vault_secret][0] == "secret"


#: Which Graph application permission (scanner-permissions.md) each Graph path the connector reads needs
#: (Microsoft Graph API reference, each endpoint's "Permissions" table: least privileged application permission).
GRAPH_NEEDS = [
    (r"servicePrincipals|applications|(applications|servicePrincipals)/[^/]+/(owners|federatedIdentityCredentials|"
     r"appRoleAssignments|appRoleAssignedTo)", "Application.Read.All"),
    (r"servicePrincipals/[^/]+/transitiveMemberOf|groups/[^/]+/transitiveMembers", "GroupMember.Read.All"),
    (r"roleManagement/directory/(roleAssignments|roleDefinitions)", "RoleManagement.Read.Directory"),
]


def arm_operation(path: str) -> str:
    """The read operation an ARM GET needs: the provider namespace and its resource type chain, then /read
    ("Azure resource provider operations": `{namespace}/{type}[/{child type}…]/read`); subscriptions are
    Microsoft.Resources'."""
    parts = [p for p in path.split("/") if p]
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return "Microsoft.Resources/subscriptions/read"
    i = len(lowered) - 1 - lowered[::-1].index("providers")
    namespace, rest = parts[i + 1], parts[i + 2:]
    return "/".join([namespace, *rest[0::2], "read"])


def test_the_published_role_and_graph_permissions_cover_every_call_the_scan_made(scanned: Scanned) -> None:
    import re

    from commonmode_azure.policy import action_matches

    folder = Path(__file__).parents[3] / "connectors" / "commonmode_azure"
    role = json.loads((folder / "scanner-role.json").read_text())["properties"]["permissions"][0]
    assert role["dataActions"] == [] and role["notActions"] == []  # read-only: no data actions at all
    published = (folder / "scanner-permissions.md").read_text()
    seen_arm = seen_graph = 0
    for request in scanned.servers.requests:
        method, path = request.split(" ", 1)
        if method != "GET":
            continue
        if path.startswith("v1.0/"):
            graph = path.removeprefix("v1.0/")
            needs = [perm for pattern, perm in GRAPH_NEEDS if re.fullmatch(pattern, graph)]
            assert needs, f"no published Graph permission for GET {graph}"
            assert all(f"`{perm}`" in published for perm in needs)
            seen_graph += 1
        elif path.startswith(("subscriptions", "providers")):
            op = arm_operation(path)
            assert any(action_matches(a, op) for a in role["actions"]), f"scanner-role.json lacks {op} ({path})"
            seen_arm += 1
    assert seen_arm > 20 and seen_graph > 20
