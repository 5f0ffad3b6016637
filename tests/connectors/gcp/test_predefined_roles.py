"""GCP's predefined roles by their real permission lists: all 2,461 of tests/data/gcp/predefined-roles.json.gz
(roles.get with the FULL view; see tests/data/gcp/README.md), bound on the project and evaluated by policy.py and
capabilities.toml through grants_on. The last tests recompute shared/DOMAIN.md §1.3's role table from the data."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path

import pytest
from tests.connectors.gcp.test_capabilities import SAMPLE
from tests.connectors.gcp.test_policy import HIERARCHY, PROJECT, SA

from commonmode.kit import Tri
from commonmode.model import Capability
from commonmode_gcp.capabilities import Estate, grants_on, load_capabilities
from commonmode_gcp.policy import Policy, Role

DATA = Path(__file__).parents[2] / "data" / "gcp" / "predefined-roles.json.gz"
TABLE = load_capabilities()
DNS_WRITE, DNS_ADMIN, FAILOVER = Capability.DNS_WRITE, Capability.DNS_ADMIN, Capability.FAILOVER_WRITE
SECRET_READ, SECRET_WRITE = Capability.SECRET_READ, Capability.SECRET_WRITE
CERT, ASSUME = Capability.CERT_ISSUE, Capability.IDENTITY_ASSUME


@cache
def predefined() -> dict[str, Role]:
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        return {r.name: r for r in map(Role.parse, json.load(f))}


def holder(role: str, kind: str) -> dict[Capability, Tri]:
    """What SA can do to the sample resource of `kind` holding the predefined `role` on the project."""
    est = Estate(policies_by_resource={PROJECT: Policy.parse({"version": 1, "bindings": [
        {"role": role, "members": [SA.member]}]})}, roles=predefined(), hierarchy=HIERARCHY)
    return {a.capability: a.decision.result for a in grants_on(SA, SAMPLE[kind], table=TABLE, estate=est)}


def everywhere(role: str) -> dict[Capability, Tri]:
    """The capabilities the role gives on any sample resource (the strongest answer per capability)."""
    out: dict[Capability, Tri] = {}
    for kind in SAMPLE:
        for cap, t in holder(role, kind).items():
            out[cap] = max(out.get(cap, Tri.NO), t)
    return out


def test_all_2461_predefined_roles_parse_with_distinct_names() -> None:
    roles = predefined()
    assert len(roles) == 2461
    assert all(name.startswith("roles/") and not r.custom for name, r in roles.items())
    assert len({p for r in roles.values() for p in r.permissions}) == 13790  # DOMAIN.md §1.3's count


@pytest.mark.parametrize("role", ["roles/dns.admin", "roles/editor", "roles/owner", "roles/iam.networkAdmin"])
def test_roles_that_can_change_records(role: str) -> None:
    assert holder(role, "dns-record-set").get(DNS_WRITE) is Tri.YES
    assert holder(role, "dns-managed-zone").get(DNS_WRITE) is Tri.YES


@pytest.mark.parametrize("role", ["roles/dns.reader", "roles/viewer", "roles/compute.loadBalancerAdmin"])
def test_roles_that_cannot_change_records(role: str) -> None:
    caps = holder(role, "dns-record-set")
    assert DNS_WRITE not in caps and DNS_ADMIN not in caps


def test_token_creator_gives_identity_assume_on_service_accounts() -> None:
    assert holder("roles/iam.serviceAccountTokenCreator", "service-account") == {ASSUME: Tri.YES}
    assert holder("roles/iam.serviceAccountTokenCreator", "dns-record-set") == {}


def test_editor_cannot_read_secrets_but_can_add_versions_and_owner_can_read() -> None:
    assert "secretmanager.versions.access" not in predefined()["roles/editor"].permissions
    assert holder("roles/editor", "secret") == {SECRET_WRITE: Tri.YES}
    assert holder("roles/owner", "secret")[SECRET_READ] is Tri.YES


def test_load_balancer_admin_changes_failover_targets_but_no_dns() -> None:
    for kind in ("health-check", "backend-service", "url-map", "forwarding-rule", "target-proxy"):
        assert holder("roles/compute.loadBalancerAdmin", kind) == {FAILOVER: Tri.YES}, kind


# DOMAIN.md §1.3's role table: for each role, every capability it gives (on any kind of resource, bound on the
# project) and what it does not give; recomputed from the dataset through the table and the evaluator.
DOMAIN_ROLES: dict[str, set[Capability]] = {
    "roles/dns.admin": {DNS_WRITE, DNS_ADMIN, FAILOVER},
    "roles/dns.editor": {DNS_WRITE, DNS_ADMIN, FAILOVER},
    "roles/iam.networkAdmin": {DNS_WRITE, DNS_ADMIN, FAILOVER},
    "roles/compute.loadBalancerAdmin": {FAILOVER},
    "roles/compute.networkAdmin": {FAILOVER},
    "roles/compute.admin": {FAILOVER},
    "roles/secretmanager.secretAccessor": {SECRET_READ},
    "roles/secretmanager.secretVersionAdder": {SECRET_WRITE},
    "roles/privateca.certificateRequester": {CERT},
    "roles/iam.serviceAccountTokenCreator": {ASSUME},
    "roles/iam.workloadIdentityUser": {ASSUME},
    "roles/iam.serviceAccountUser": {ASSUME},
    "roles/iam.serviceAccountKeyAdmin": {ASSUME},
    "roles/iam.securityAdmin": {ASSUME},
    "roles/resourcemanager.projectIamAdmin": {ASSUME},
    "roles/editor": {DNS_WRITE, DNS_ADMIN, FAILOVER, SECRET_WRITE, CERT, ASSUME},
    "roles/owner": set(Capability),
}
LOOK_ALIKES = ["roles/dns.reader", "roles/dns.viewer", "roles/dns.peer", "roles/viewer", "roles/browser",
               "roles/compute.viewer", "roles/secretmanager.viewer", "roles/certificatemanager.viewer",
               "roles/privateca.auditor", "roles/iam.securityReviewer", "roles/domains.admin", "roles/domains.editor"]


@pytest.mark.parametrize(("role", "expected"), DOMAIN_ROLES.items(), ids=list(DOMAIN_ROLES))
def test_domain_role_table_recomputed_from_the_data(role: str, expected: set[Capability]) -> None:
    assert set(everywhere(role)) == expected


@pytest.mark.parametrize("role", LOOK_ALIKES)
def test_domain_look_alikes_grant_nothing(role: str) -> None:
    assert everywhere(role) == {}


def test_domain_table_details_by_permission() -> None:
    r = predefined()
    perms = {n: r[n].permissions for n in r}
    # dns.admin / dns.editor: changes, record sets, zones; not managedZones.setIamPolicy (only securityAdmin, owner)
    for n in ("roles/dns.admin", "roles/dns.editor"):
        assert {"dns.changes.create", "dns.managedZones.update", "dns.managedZones.delete"} <= perms[n]
        assert "dns.managedZones.setIamPolicy" not in perms[n]
    assert {n for n in r if "dns.managedZones.setIamPolicy" in perms[n]} == {"roles/iam.securityAdmin", "roles/owner"}
    # the role giving actAs only is conditional (actAs deploys nothing by itself); Token Creator is not
    assert everywhere("roles/iam.serviceAccountUser") == {ASSUME: Tri.MAYBE}
    assert {"iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.signJwt", "iam.serviceAccounts.signBlob",
            "iam.serviceAccounts.implicitDelegation"} <= perms["roles/iam.serviceAccountTokenCreator"]
    # owner: no getAccessToken/signJwt, but it sets the project's policy: identity.assume is its escalation
    assert not {"iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.signJwt"} & perms["roles/owner"]
    assert holder("roles/owner", "service-account")[ASSUME] is Tri.YES
    # editor: key creation and actAs, no setIamPolicy on the project
    assert {"iam.serviceAccountKeys.create", "iam.serviceAccounts.actAs"} <= perms["roles/editor"]
    assert "resourcemanager.projects.setIamPolicy" not in perms["roles/editor"]
    assert "domains.registrations.configureDns" in perms["roles/domains.editor"]
    assert perms["roles/privateca.certificateRequester"] == {"privateca.certificates.create"}
    assert len([p for p in {q for s in perms.values() for q in s} if p.endswith(".setIamPolicy")]) == 309
