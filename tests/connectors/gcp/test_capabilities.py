"""capabilities.toml evaluated by capabilities.py: every entry has a positive and a negative case (parametrized over
the file, so a new entry is tested the moment it is added), every permission it names is a real one (GCP's
predefined roles name it), and the table's own checks refuse malformed entries. Pure: no server."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path

import pytest
from tests.connectors.gcp.test_policy import FOLDER, HIERARCHY, ORG, OTHER_PROJECT, PROJECT, RECORD, SA, SECRET, ZONE

from commonmode.kit import Tri
from commonmode.model import Capability
from commonmode_gcp.capabilities import (
    KINDS,
    CapabilityTableError,
    Entry,
    Estate,
    Resource,
    entry_decision,
    grants_on,
    load_capabilities,
    parse_capabilities,
)
from commonmode_gcp.policy import DenyPolicy, Policy, Role

TABLE = load_capabilities()
DATA = Path(__file__).parents[2] / "data" / "gcp" / "predefined-roles.json.gz"
LB = "//compute.googleapis.com/projects/dns-prod/global"
CM = "//certificatemanager.googleapis.com/projects/dns-prod/locations/global"
#: One resource of every kind, in the project under test (PROJECT → FOLDER → ORG).
SAMPLE: dict[str, Resource] = {r.kind: r for r in (
    Resource(name=ORG, kind="organization"), Resource(name=FOLDER, kind="folder"),
    Resource(name=PROJECT, kind="project"), Resource(name=ZONE, kind="dns-managed-zone"),
    Resource(name=RECORD, kind="dns-record-set"), Resource(name=SECRET, kind="secret"),
    Resource(name="//iam.googleapis.com/projects/dns-prod/serviceAccounts/dns@dns-prod.iam.gserviceaccount.com",
             kind="service-account"),
    Resource(name="//privateca.googleapis.com/projects/dns-prod/locations/europe-west1/caPools/issuing",
             kind="ca-pool"),
    Resource(name=f"{CM}/certificates/www", kind="certificate"),
    Resource(name=f"{CM}/certificateMaps/main", kind="certificate-map"),
    Resource(name=f"{LB}/healthChecks/web", kind="health-check"),
    Resource(name=f"{LB}/backendServices/web", kind="backend-service"),
    Resource(name=f"{LB}/urlMaps/web", kind="url-map"),
    Resource(name=f"{LB}/forwardingRules/web", kind="forwarding-rule"),
    Resource(name=f"{LB}/targetHttpsProxies/web", kind="target-proxy"),
)}
#: Where an entry's permissions are held for its positive case, and a place that is not on its path.
HELD_AT = {"resource": PROJECT, "project": PROJECT, "folder": FOLDER, "organization": ORG}
NOT_ON_PATH = {"resource": OTHER_PROJECT, "project": ZONE, "folder": PROJECT, "organization": FOLDER}


def kind_for(entry: Entry) -> str:
    return "dns-record-set" if "*" in entry.resources else sorted(entry.resources)[0]


def estate(permissions: frozenset[str] | set[str], at: str, *, condition: str | None = None,
           denies: tuple[DenyPolicy, ...] = ()) -> Estate:
    """SA holds one custom role with `permissions`, bound on `at`."""
    role = Role(name="organizations/111/roles/probe", permissions=frozenset(permissions))
    b: dict[str, object] = {"role": role.name, "members": [SA.member]}
    if condition:
        b["condition"] = {"title": "t", "expression": condition}
    return Estate(policies_by_resource={at: Policy.parse({"version": 3, "bindings": [b]})}, roles={role.name: role},
                  deny_policies=denies, hierarchy=HIERARCHY)


CASES = [pytest.param(e, p, id=f"{i}:{e.capability.value}:{p}") for i, e in enumerate(TABLE.entries) for p in e.any_of]
ENTRIES = [pytest.param(e, id=f"{i}:{e.capability.value}:{e.any_of[0]}") for i, e in enumerate(TABLE.entries)]


@pytest.mark.parametrize(("entry", "permission"), CASES)
def test_every_entry_positive_all_of_and_one_of_any_of_give_its_capability(entry: Entry, permission: str) -> None:
    resource = SAMPLE[kind_for(entry)]
    est = estate({*entry.all_of, permission}, HELD_AT[entry.at])
    d = entry_decision(entry, SA, resource, est)
    assert d.result is (Tri.MAYBE if entry.note else Tri.YES)
    assert any(f"which allows {permission}" == step for step in d.via)
    got = {a.capability: a for a in grants_on(SA, resource, table=TABLE, estate=est)}
    assert entry.capability in got


@pytest.mark.parametrize("entry", ENTRIES)
def test_every_entry_negative_look_alikes_other_places_and_missing_all_of(entry: Entry) -> None:
    resource = SAMPLE[kind_for(entry)]
    everything = {*entry.all_of, *entry.any_of}
    # the same permissions held somewhere that is not on the resource's path
    assert entry_decision(entry, SA, resource, estate(everything, NOT_ON_PATH[entry.at])).result is Tri.NO
    # read-only look-alikes of the same resources (get, list, getIamPolicy) give nothing
    look_alikes = {p.rsplit(".", 1)[0] + v for p in everything for v in (".get", ".list", ".getIamPolicy")}
    assert entry_decision(entry, SA, resource, estate(look_alikes, HELD_AT[entry.at])).result is Tri.NO
    # all_of without any of any_of, and any_of without all_of
    if entry.all_of:
        assert entry_decision(entry, SA, resource, estate(set(entry.all_of), HELD_AT[entry.at])).result is Tri.NO
        assert entry_decision(entry, SA, resource, estate(set(entry.any_of), HELD_AT[entry.at])).result is Tri.NO


@cache
def real_permissions() -> frozenset[str]:
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        return frozenset(p for r in json.load(f) for p in r.get("includedPermissions", []))


def test_every_permission_the_table_names_is_a_real_gcp_permission() -> None:
    assert TABLE.permissions() - real_permissions() == frozenset()


def test_every_kind_and_every_capability_has_an_entry_and_a_source() -> None:
    named = {k for e in TABLE.entries for k in e.resources}
    assert KINDS - {"organization", "folder", "project"} <= named
    assert {e.capability for e in TABLE.entries} == set(Capability)
    assert all(e.source.startswith("https://cloud.google.com/") for e in TABLE.entries)


def test_dns_write_needs_changes_create_and_an_rrset_verb() -> None:
    rec = SAMPLE["dns-record-set"]
    caps = {a.capability for a in grants_on(SA, rec, table=TABLE, estate=estate(
        {"dns.changes.create", "dns.resourceRecordSets.update"}, ZONE))}
    assert {Capability.DNS_WRITE, Capability.FAILOVER_WRITE} <= caps
    for alone in ("dns.changes.create", "dns.resourceRecordSets.update"):
        assert not grants_on(SA, rec, table=TABLE, estate=estate({alone}, PROJECT))


def test_deny_on_changes_create_takes_dns_write_away() -> None:
    deny = DenyPolicy.parse({"name": "policies/cloudresourcemanager.googleapis.com%2Ffolders%2F222/denypolicies/d",
                             "rules": [{"denyRule": {"deniedPrincipals": ["principalSet://goog/public:all"],
                                                     "deniedPermissions": ["dns.googleapis.com/changes.create"]}}]})
    est = estate({"dns.changes.create", "dns.resourceRecordSets.update", "dns.managedZones.update"}, PROJECT,
                 denies=(deny,))
    caps = {a.capability for a in grants_on(SA, SAMPLE["dns-record-set"], table=TABLE, estate=est)}
    assert caps == {Capability.DNS_ADMIN}


def test_a_conditional_binding_gives_a_conditional_capability() -> None:
    est = estate({"secretmanager.versions.access"}, PROJECT, condition="request.time.getHours('UTC') < 18")
    [access] = grants_on(SA, SAMPLE["secret"], table=TABLE, estate=est)
    assert access.capability is Capability.SECRET_READ and access.decision.conditional


def test_direct_beats_escalation_and_escalation_says_what_it_lets_the_holder_do() -> None:
    sa = SAMPLE["service-account"]
    [only] = grants_on(SA, sa, table=TABLE, estate=estate({"iam.serviceAccountKeys.create"}, PROJECT))
    assert only.entry.escalation == "key-creation" and "create a key" in only.decision.via[-1]
    [act] = grants_on(SA, sa, table=TABLE, estate=estate({"iam.serviceAccounts.actAs"}, PROJECT))
    assert act.decision.conditional  # actAs alone deploys nothing
    [best] = grants_on(SA, sa, table=TABLE, estate=estate({"iam.serviceAccounts.actAs",
                                                         "iam.serviceAccounts.getAccessToken"}, PROJECT))
    assert best.decision.result is Tri.YES and best.entry.escalation == "impersonation"


def test_organization_set_iam_policy_reaches_every_resource_below_it() -> None:
    est = estate({"resourcemanager.organizations.setIamPolicy"}, ORG)
    for kind in ("dns-record-set", "secret", "project", "folder", "organization"):
        [a] = grants_on(SA, SAMPLE[kind], table=TABLE, estate=est)
        assert a.capability is Capability.IDENTITY_ASSUME and a.entry.escalation == "set-iam-policy"


GOOD = """[[capability]]
capability = "secret.read"
resources = ["secret"]
any_of = ["secretmanager.versions.access"]
source = "https://cloud.google.com/secret-manager/docs/access-control"
"""


@pytest.mark.parametrize(("change", "message"), [
    (("secret.read", "secret.reed"), "capability"),
    (('["secret"]', '["vault"]'), "resources"),
    (("secretmanager.versions.access", "secretmanager.versions.*"), "no wildcards"),
    (('source = "https://', 'source = "http://'), "source"),
    (("any_of", "anyof"), "unknown keys"),
    (('capability = "secret.read"', 'capability = "identity.assume"'), "escalation"),
])
def test_malformed_entries_are_refused_naming_the_key(change: tuple[str, str], message: str) -> None:
    assert parse_capabilities(GOOD).entries[0].capability is Capability.SECRET_READ
    with pytest.raises(CapabilityTableError, match=message) as e:
        parse_capabilities(GOOD.replace(*change))
    assert "capability[0]" in str(e.value)


def test_resource_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="kind"):
        Resource(name=ZONE, kind="zone")
