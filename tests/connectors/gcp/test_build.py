"""The GCP build on snapshots written in code (no server): widening escalations (setIamPolicy, iam.roles.update)
lead to the capabilities they let the holder grant itself, and deny policies still take them away; workload
identity principals become the external workloads a provider admits, narrowed by the binding; group, deleted,
user and public members; owners from descriptions; keys' expiry. Each rule positive and negative."""

from __future__ import annotations

from typing import Any

import pytest

from commonmode.connector import InventoryParts
from commonmode.kit import Tri
from commonmode.kit.values import owner_in_description
from commonmode.model import Capability
from commonmode_gcp import capabilities as caps
from commonmode_gcp.build import Options, build
from commonmode_gcp.grants import Pools, _narrow, subjects
from commonmode_gcp.identities import Accounts
from commonmode_gcp.policy import Identity, Role
from commonmode_gcp.snapshot import ProjectData, Snapshot
from commonmode_gcp.wif import Provider, admits

P = "acme-dns-prod"
ORG = "organizations/42"
FOLDER = "folders/7"
ZONE = f"//dns.googleapis.com/projects/{P}/managedZones/example-com"
RECORD = f"{ZONE}/rrsets/api.example.com./A"
POOL = "projects/111/locations/global/workloadIdentityPools/github"
GITHUB = "https://token.actions.githubusercontent.com"


def sa(name: str) -> str:
    return f"{name}@{P}.iam.gserviceaccount.com"


def sa_id(name: str) -> str:
    return f"//iam.googleapis.com/projects/{P}/serviceAccounts/{sa(name)}"


ROLES: dict[str, dict[str, Any]] = {
    "roles/dns.admin": {"name": "roles/dns.admin", "includedPermissions": [
        "dns.changes.create", "dns.resourceRecordSets.create", "dns.resourceRecordSets.update",
        "dns.resourceRecordSets.delete", "dns.managedZones.update", "dns.managedZones.delete"]},
    "roles/resourcemanager.projectIamAdmin": {"name": "roles/resourcemanager.projectIamAdmin",
                                              "includedPermissions": ["resourcemanager.projects.setIamPolicy",
                                                                      "resourcemanager.projects.getIamPolicy"]},
    "roles/iam.workloadIdentityUser": {"name": "roles/iam.workloadIdentityUser",
                                       "includedPermissions": ["iam.serviceAccounts.getAccessToken"]},
    f"projects/{P}/roles/recordReader": {"name": f"projects/{P}/roles/recordReader",
                                         "includedPermissions": ["dns.resourceRecordSets.list"]},
    "roles/iam.roleAdmin": {"name": "roles/iam.roleAdmin", "includedPermissions": ["iam.roles.update"]},
}


def snapshot(bindings: dict[str, list[dict[str, Any]]], *, accounts: tuple[str, ...] = (),
             deny: list[dict[str, Any]] | None = None, providers: list[dict[str, Any]] | None = None) -> Snapshot:
    project = ProjectData(id=P, number="111", parent=FOLDER, labels={"owner": "netops"},
                          service_accounts=[{"email": sa(a), "description": f"{a} (owner: netops)"}
                                            for a in accounts],
                          zones=[{"name": "example-com", "dnsName": "example.com.", "visibility": "public"}],
                          rrsets={"example-com": [{"name": "api.example.com.", "type": "A", "ttl": 300,
                                                   "rrdatas": ["192.0.2.1"]}]})
    if providers is not None:
        project.pools = [{"name": POOL, "state": "ACTIVE"}]
        project.providers = {POOL: providers}
    snap = Snapshot(organization=ORG, parents={FOLDER: ORG, f"projects/{P}": FOLDER}, projects=[project],
                    policies={k: {"version": 3, "bindings": v} for k, v in bindings.items()},
                    roles=dict(ROLES))
    for i, rules in enumerate(deny or []):
        name = f"policies/cloudresourcemanager.googleapis.com%2Fprojects%2F{P}/denypolicies/d{i}"
        snap.deny_policies.append((f"projects/{P}", {"name": name, "rules": [{"denyRule": rules}]}))
    return snap


def grants(snap: Snapshot) -> tuple[InventoryParts, dict[tuple[str, str, str], Any]]:
    out = build(snap, Options(connector="corp", owner_labels=("owner", "team")))
    return out, {(g.identity_id, g.capability.value, g.resource_id): g for g in out.grants}


def test_set_iam_policy_on_the_project_leads_to_every_capability_on_its_records() -> None:
    _, got = grants(snapshot({f"projects/{P}": [
        {"role": "roles/resourcemanager.projectIamAdmin", "members": [f"serviceAccount:{sa('iam-admin')}"]}]},
        accounts=("iam-admin",)))
    for cap in ("dns.write", "dns.admin", "failover.write"):
        g = got[(sa_id("iam-admin"), cap, RECORD)]
        assert not g.conditional and "escalation (set-iam-policy): it can grant itself any role here" in g.via
    # identity.assume on a record means nothing: not emitted; none on the zone for failover.write (not a record)
    assert not [k for k in got if k[1] == "identity.assume"]
    assert (sa_id("iam-admin"), "failover.write", ZONE) not in got


def test_a_deny_policy_stops_what_an_escalation_would_grant() -> None:
    member = f"serviceAccount:{sa('iam-admin')}"
    deny = [{"deniedPrincipals": [f"principal://iam.googleapis.com/projects/-/serviceAccounts/{sa('iam-admin')}"],
             "deniedPermissions": ["dns.googleapis.com/changes.create"]}]
    _, got = grants(snapshot({f"projects/{P}": [{"role": "roles/resourcemanager.projectIamAdmin",
                                                 "members": [member]}]}, accounts=("iam-admin",), deny=deny))
    assert (sa_id("iam-admin"), "dns.write", RECORD) not in got  # needs changes.create: denied
    assert (sa_id("iam-admin"), "dns.admin", RECORD) in got  # managedZones.update is not denied
    # a conditional deny makes the escalated grant conditional, not gone
    deny[0]["denialCondition"] = {"expression": "resource.matchTag('env', 'prod')", "title": "prod"}
    _, got = grants(snapshot({f"projects/{P}": [{"role": "roles/resourcemanager.projectIamAdmin",
                                                 "members": [member]}]}, accounts=("iam-admin",), deny=deny))
    assert got[(sa_id("iam-admin"), "dns.write", RECORD)].conditional


def test_a_deny_on_resource_manager_s_set_iam_policy_stops_the_escalation() -> None:
    """Deny policies name Resource Manager's permissions under cloudresourcemanager.googleapis.com ("Permissions
    supported in deny policies"), its v1 permissions being resourcemanager.*."""
    member = f"serviceAccount:{sa('iam-admin')}"
    deny = [{"deniedPrincipals": [f"principal://iam.googleapis.com/projects/-/serviceAccounts/{sa('iam-admin')}"],
             "deniedPermissions": ["cloudresourcemanager.googleapis.com/projects.setIamPolicy"]}]
    _, got = grants(snapshot({f"projects/{P}": [{"role": "roles/resourcemanager.projectIamAdmin",
                                                 "members": [member]}]}, accounts=("iam-admin",), deny=deny))
    assert not [k for k in got if k[0] == sa_id("iam-admin")]


def test_role_update_leads_to_conditional_capabilities_only() -> None:
    _, got = grants(snapshot({f"projects/{P}": [
        {"role": "roles/iam.roleAdmin", "members": [f"serviceAccount:{sa('roles')}"]}]}, accounts=("roles",)))
    g = got[(sa_id("roles"), "dns.write", RECORD)]
    assert g.conditional and any("escalation (role-update)" in v for v in g.via)


def test_escalation_grants_is_nothing_for_other_kinds_of_escalation() -> None:
    table = caps.load_capabilities()
    estate = caps.Estate(policies_by_resource={}, roles={})
    impersonation = next(e for e in table.entries if e.escalation == "impersonation")
    access = caps.Access(capability=Capability.IDENTITY_ASSUME, entry=impersonation,
                         decision=caps.Decision(Tri.YES, ("x",)))
    record = caps.Resource(name=RECORD, kind="dns-record-set")
    assert caps.escalation_grants(Identity(member="user:a@example.com"), record, access, table=table,
                                  estate=estate) == []


# --- members ---------------------------------------------------------------------------------------------

def test_groups_are_a_gap_deleted_members_recorded_users_and_the_public_are_identities() -> None:
    out, got = grants(snapshot({ZONE: [
        {"role": "roles/dns.admin", "members": ["group:dns-ops@example.com", "deleted:serviceAccount:old@x.iam."
                                                "gserviceaccount.com?uid=1", "user:Alice@example.com",
                                                "allAuthenticatedUsers", "domain:example.com"]}]}))
    assert sorted(out.gaps) == [
        "domain:example.com holds roles on a path resource: every account of the domain gets them, and its "
        "accounts are not listed, so who that is is missing",
        "group:dns-ops@example.com holds roles on a path resource: its members were not read, so what they get "
        "through it is missing"]
    kinds = {i.id: i.kind for i in out.identities}
    assert kinds["user:alice@example.com"] == "user" and kinds["allAuthenticatedUsers"] == "public"
    assert kinds["deleted:serviceAccount:old@x.iam.gserviceaccount.com?uid=1"] == "deleted-principal"
    assert ("user:alice@example.com", "dns.write", RECORD) in got
    assert ("allAuthenticatedUsers", "dns.write", RECORD) in got
    assert not [k for k in got if k[0].startswith(("deleted:", "group:", "domain:"))]


def test_a_service_account_bound_from_a_project_not_scanned_is_still_an_identity() -> None:
    other = "deployer@other-project.iam.gserviceaccount.com"
    out, got = grants(snapshot({ZONE: [{"role": "roles/dns.admin", "members": [f"serviceAccount:{other}"]}]}))
    sid = f"//iam.googleapis.com/projects/other-project/serviceAccounts/{other}"
    assert (sid, "dns.write", RECORD) in got
    assert next(i for i in out.identities if i.id == sid).tags["note"].startswith("bound here, but not in a scanned")


# --- workload identity federation ------------------------------------------------------------------------

def provider(condition: str | None = None, *, issuer: str = GITHUB) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"{POOL}/providers/gh", "state": "ACTIVE", "oidc": {"issuerUri": issuer},
                            "attributeMapping": {"google.subject": "assertion.sub",
                                                 "attribute.repository": "assertion.repository",
                                                 "attribute.repository_owner": "assertion.repository_owner"}}
    if condition is not None:
        body["attributeCondition"] = condition
    return body


@pytest.mark.parametrize(("condition", "member", "expected"), [
    (None, f"principalSet://iam.googleapis.com/{POOL}/*", {"github:any": False}),
    (None, f"principalSet://iam.googleapis.com/{POOL}/attribute.repository/acme/dns",
     {"github:repo:acme/dns": False}),
    (None, f"principalSet://iam.googleapis.com/{POOL}/attribute.repository_owner/acme",
     {"github:repo:acme/*": False}),
    (None, f"principal://iam.googleapis.com/{POOL}/subject/repo:acme/dns:ref:refs/heads/main",
     {"github:repo:acme/dns": False}),  # the subject pins the repository and the ref: exact
    ("assertion.repository_owner == 'acme'", f"principalSet://iam.googleapis.com/{POOL}/*",
     {"github:repo:acme/*": False}),
    ("assertion.repository_owner == 'acme'", f"principalSet://iam.googleapis.com/{POOL}/attribute.repository/acme/dns",
     {"github:repo:acme/dns": False}),
    ("assertion.repository_owner == 'acme'", f"principalSet://iam.googleapis.com/{POOL}/attribute.repository/evil/x",
     {}),  # the binding names a repository the provider never admits
    ("assertion.repository == 'acme/dns'", f"principalSet://iam.googleapis.com/{POOL}/attribute.repository/acme/web",
     {}),
    ("assertion.repository == 'acme/dns'", f"principalSet://iam.googleapis.com/{POOL}/*",
     {"github:repo:acme/dns": False}),
])
def test_a_binding_narrows_what_a_provider_admits(condition: str | None, member: str,
                                                  expected: dict[str, bool]) -> None:
    pools = Pools({POOL: [Provider.parse(provider(condition))]})
    got = {s.identity_id: s.admitted.result is Tri.MAYBE for s in subjects(member, Accounts(), pools)
           if s.admitted is not None}
    assert got == expected


def test_an_unknown_claim_in_the_binding_keeps_the_workload_conditionally() -> None:
    p = Provider.parse({**provider(), "attributeMapping": {"google.subject": "assertion.sub",
                                                            "attribute.env": "assertion.environment"}})
    (a,) = admits(p)
    # attribute.env is assertion.environment: followed, but an environment names no repository
    (env,) = _narrow(a, p, "attribute.env/prod")
    assert env.workload == "github:any" and env.decision.result is Tri.YES and env.broad
    # an attribute computed from claims is not followed: the same workload, only when it holds
    q = Provider.parse({**provider(), "attributeMapping": {"google.subject": "assertion.sub",
                                                            "attribute.env": "assertion.environment + '-x'"}})
    (b,) = admits(q)
    (got,) = _narrow(b, q, "attribute.env/prod-x")
    assert got.workload == "github:any" and got.decision.result is Tri.MAYBE


def test_a_pool_the_run_did_not_read_is_the_principal_itself_conditionally() -> None:
    member = "principalSet://iam.googleapis.com/projects/999/locations/global/workloadIdentityPools/other/*"
    (s,) = subjects(member, Accounts(), Pools({}))
    assert s.identity_id == member and s.admitted is not None and s.admitted.result is Tri.MAYBE


def test_a_github_provider_without_condition_gives_github_any_the_service_account() -> None:
    out, got = grants(snapshot({f"//iam.googleapis.com/projects/{P}/serviceAccounts/{sa('ci')}": [
        {"role": "roles/iam.workloadIdentityUser", "members": [f"principalSet://iam.googleapis.com/{POOL}/*"]}]},
        accounts=("ci",), providers=[provider()]))
    g = got[("github:any", "identity.assume", sa_id("ci"))]
    assert not g.conditional and "admits every repository on GitHub" in g.via[0]
    assert next(i for i in out.identities if i.id == "github:any").kind == "ci-workload"
    # with a condition on the repository, only that repository
    _, got = grants(snapshot({f"//iam.googleapis.com/projects/{P}/serviceAccounts/{sa('ci')}": [
        {"role": "roles/iam.workloadIdentityUser", "members": [f"principalSet://iam.googleapis.com/{POOL}/*"]}]},
        accounts=("ci",), providers=[provider("assertion.repository == 'acme/dns'")]))
    assert [k[0] for k in got if k[2] == sa_id("ci")] == ["github:repo:acme/dns"]


# --- owners and keys -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("description", "owner"), [
    ("dns-sync (owner: netops)", "netops"), ("team=platform; rotates weekly", "platform"),
    ("Owner: SRE-Core.", "SRE-Core"), ("owned by netops", None), ("", None), ("coowner: x", None),
])
def test_a_service_account_s_owner_comes_from_its_description(description: str, owner: str | None) -> None:
    assert owner_in_description(description, ("owner", "team")) == owner


def test_keys_without_expiry_disabled_and_google_managed_keys() -> None:
    snap = snapshot({}, accounts=("k",))
    snap.projects[0].keys = {sa("k"): [
        {"name": f"projects/{P}/serviceAccounts/{sa('k')}/keys/a", "validAfterTime": "2025-01-01T00:00:00Z",
         "validBeforeTime": "9999-12-31T23:59:59Z", "keyType": "USER_MANAGED"},
        {"name": f"projects/{P}/serviceAccounts/{sa('k')}/keys/b", "validAfterTime": "2026-01-01T00:00:00Z",
         "validBeforeTime": "2026-04-01T00:00:00Z", "keyType": "USER_MANAGED"},
        {"name": f"projects/{P}/serviceAccounts/{sa('k')}/keys/c", "validAfterTime": "2025-01-01T00:00:00Z",
         "disabled": True, "keyType": "USER_MANAGED"},
        {"name": f"projects/{P}/serviceAccounts/{sa('k')}/keys/d", "validAfterTime": "2025-01-01T00:00:00Z",
         "keyType": "SYSTEM_MANAGED"}]}
    out, _ = grants(snap)
    keys = {c.id.rsplit("/", 1)[-1]: c for c in out.credentials}
    assert set(keys) == {"a", "b"} and all(c.long_lived for c in keys.values())
    assert keys["a"].expires is None and keys["b"].expires is not None and keys["b"].expires.month == 4


def test_role_definitions_are_taken_from_the_role_not_its_name() -> None:
    """A custom role is decided by its includedPermissions: recordReader (list only) changes nothing."""
    _, got = grants(snapshot({ZONE: [{"role": f"projects/{P}/roles/recordReader",
                                      "members": [f"serviceAccount:{sa('r')}"]}]}, accounts=("r",)))
    assert not [k for k in got if k[0] == sa_id("r")]
    assert Role.parse(ROLES["roles/dns.admin"]).permissions >= {"dns.changes.create"}
