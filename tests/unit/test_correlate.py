"""The correlator on inventories built in code: every rule with a positive and a negative case."""

from __future__ import annotations

import dataclasses
import random
import re
from datetime import timedelta
from pathlib import Path

import pytest
from tests.estate import (
    DW,
    NOW,
    SR,
    C,
    Credential,
    Identity,
    Resource,
    ResourceKind,
    Store,
    declared_services,
    grant,
    inventory,
    record,
    reference_estate,
    service,
    user,
    zone,
)

from commonmode.correlate import RULES, correlate, merge_services
from commonmode.correlate.rules import remediation_lines
from commonmode.model import Capability, Inventory


def found(inv: Inventory, services=(), **kw) -> set[tuple[str, str, tuple[str, ...]]]:
    corr = correlate(inv, declared_services=services, now=NOW, **kw)
    return {(f.rule, ",".join(f.services), f.subjects) for f in corr.findings}


def rules_for(inv, services=(), **kw) -> set[str]:
    return {r for r, _, _ in found(inv, services, **kw)}


# A minimal two-path estate: primary record in zone A (account 1), backup record in zone B (account 2).
ZA = zone("zone-a", "a.example", "111")
ZB = zone("zone-b", "b.example", "222")
RA = record("rec-a", "www.a.example", ZA)
RB = record("rec-b", "www.b.example", ZB)
UA = user("user-a", "111")
UB = user("user-b", "222")
SVC = service("web", [RA.id], [RB.id])
BASE = [ZA, ZB, RA, RB, UA, UB, grant(UA.id, DW, ZA.id), grant(UB.id, DW, ZB.id)]


def test_independent_paths_raise_nothing():
    assert found(inventory(*BASE), [SVC]) == set()


def test_reference_estate_raises_exactly_the_planted_findings():
    got = found(reference_estate(), declared_services())
    api_b = "arn:aws:route53:::hostedzone/ZAPI/recordset/api.example.com./A/secondary"
    pay_b = "arn:aws:route53:::hostedzone/ZPAYB/recordset/pay-dr.example.net./A"
    split_b = "arn:aws:route53:::hostedzone/ZSPLIT2/recordset/www.split-b.example./A"
    assert got == {
        ("shared-identity", "api", ("arn:aws:iam::111111111111:user/dns-bot",)),
        ("shared-dns-control-plane", "api", ("arn:aws:route53:::hostedzone/ZAPI",)),
        ("shared-fault-domain", "api", ("aws:account:111111111111",)),
        ("shared-fault-domain", "api", ("dns-provider:route53",)),
        ("no-independent-recovery", "api", (api_b,)),
        ("owner-gap", "api", ("arn:aws:iam::111111111111:user/dns-bot",)),
        ("shared-identity", "payments", ("vault://vault-east/auth/approle/role/ci",)),
        ("shared-secret-store", "payments", ("vault://vault-east/secret",)),
        ("shared-fault-domain", "payments", ("vault:cluster:east-1",)),
        ("no-independent-recovery", "payments", (pay_b,)),
        ("credential-expiry", "payments", ("AKIAPAYBACKUP",)),
        ("credential-expiry", "payments", ("AKIAPAYBACKUPOLD",)),
        ("shared-certificate-path", "login", ("vault://vault-east/pki/issue/web",)),
        ("broad-federated-trust", "login", ("github:repo:acme/*",)),
        ("shared-fault-domain", "login", ("vault:cluster:east-1",)),
        ("shared-dns-control-plane", "split", ("route53:account:666666666666",)),
        ("shared-fault-domain", "split", ("aws:account:666666666666",)),
        ("no-independent-recovery", "split", (split_b,)),
        ("owner-gap", "split", ("service:split",)),
    }


# --- shared-identity -------------------------------------------------------------------------

def test_shared_identity_when_one_identity_writes_both_zones():
    inv = inventory(*BASE, grant(UA.id, DW, ZB.id))
    assert ("shared-identity", "web", (UA.id,)) in found(inv, [SVC])


def test_shared_identity_follows_assume_chains():
    role = dataclasses.replace(UA, id="role-dns", kind="iam-role", owner="team")
    ci = dataclasses.replace(UB, id="ci-user", owner="team")
    inv = inventory(ZA, ZB, RA, RB, role, ci, grant(role.id, DW, ZA.id), grant(role.id, DW, ZB.id),
                    grant(ci.id, Capability.IDENTITY_ASSUME, role.id, "trust policy of role-dns names ci-user"))
    corr = correlate(inv, declared_services=[SVC], now=NOW)
    shared = {f.subjects[0]: f for f in corr.findings if f.rule == "shared-identity"}
    assert set(shared) == {"role-dns", "ci-user"}
    assert "trust policy of role-dns names ci-user" in " ".join(shared["ci-user"].evidence)


def test_different_zones_same_account_is_dns_control_plane_not_identity():
    zb_same_account = zone("zone-b", "b.example", "111")
    rb = record("rec-b", "www.b.example", zb_same_account)
    inv = inventory(ZA, zb_same_account, RA, rb, UA, UB, grant(UA.id, DW, ZA.id), grant(UB.id, DW, zb_same_account.id))
    got = found(inv, [SVC])
    assert ("shared-dns-control-plane", "web", ("route53:account:111",)) in got
    assert not any(rule == "shared-identity" for rule, _, _ in got)


def test_same_zone_reports_the_zone_not_also_its_account():
    rb = record("rec-b", "www2.a.example", ZA)
    got = found(inventory(ZA, RA, rb, UA, grant(UA.id, DW, ZA.id)), [service("web", [RA.id], [rb.id])])
    dns = {s for r, _, s in got if r == "shared-dns-control-plane"}
    assert dns == {("zone-a",)}


# --- shared-secret-store -----------------------------------------------------------------------

def _vault(mount_ids: tuple[str, str]):
    stores = [Store(id=m, provider="vault", kind="vault-mount", name=m, connector=C, owner="sec")
              for m in set(mount_ids)]
    secrets = [Resource(id=f"{m}/data/dns/{side}", kind=ResourceKind.SECRET, provider="vault", name=side,
                        connector=C, parents=(m,)) for m, side in zip(mount_ids, ("primary", "backup"), strict=True)]
    creds = [Credential(id=f"key-{u.id}", identity_id=u.id, kind="access-key", connector=C, stored_in=s.id)
             for u, s in zip((UA, UB), secrets, strict=True)]
    return [*stores, *secrets, *creds]


def test_shared_secret_store_when_both_credentials_sit_in_one_mount():
    got = found(inventory(*BASE, *_vault(("vault://v/secret", "vault://v/secret"))), [SVC])
    assert ("shared-secret-store", "web", ("vault://v/secret",)) in got


def test_no_shared_secret_store_with_separate_mounts():
    got = found(inventory(*BASE, *_vault(("vault://v/secret-a", "vault://v/secret-b"))), [SVC])
    assert not any(r == "shared-secret-store" for r, _, _ in got)


def test_reading_a_stored_credential_is_acting_as_its_identity():
    reader = Identity(id="vault-role", provider="vault", kind="vault-role", name="r", connector=C, owner="t")
    items = _vault(("vault://v/a", "vault://v/b"))
    secret_a = next(i for i in items if isinstance(i, Resource) and i.name == "primary")
    secret_b = next(i for i in items if isinstance(i, Resource) and i.name == "backup")
    inv = inventory(*BASE, *items, reader, grant(reader.id, SR, secret_a.id), grant(reader.id, SR, secret_b.id))
    corr = correlate(inv, declared_services=[SVC], now=NOW)
    derived = [g for g in corr.inventory.grants
               if g.connector == "correlator" and g.capability is Capability.IDENTITY_ASSUME]
    assert {(g.identity_id, g.resource_id) for g in derived} == {(reader.id, UA.id), (reader.id, UB.id)}
    assert ("shared-identity", "web", (reader.id,)) in {(f.rule, f.services[0], f.subjects) for f in corr.findings}


# --- shared-certificate-path -------------------------------------------------------------------

def _issuer(names):
    return Resource(id="pki-role", kind=ResourceKind.CERT_ISSUER, provider="vault", name="pki", connector=C,
                    names=tuple(names), owner="sec")


def test_issuer_covering_both_hostnames_is_a_shared_certificate_path():
    got = found(inventory(*BASE, _issuer(["*.a.example", "www.b.example"])), [SVC])
    assert ("shared-certificate-path", "web", ("pki-role",)) in got


def test_issuer_covering_one_hostname_is_not_shared():
    # "*.a.example" covers www.a.example only; "b.example" exact does not cover www.b.example
    got = found(inventory(*BASE, _issuer(["*.a.example", "b.example"])), [SVC])
    assert not any(r == "shared-certificate-path" for r, _, _ in got)


def test_certificates_from_one_ca_share_a_path():
    ca = _issuer([])
    certs = [Resource(id=f"cert-{n}", kind=ResourceKind.CERTIFICATE, provider="aws", name=n, connector=C,
                      names=(n,), parents=(ca.id,)) for n in ("www.a.example", "www.b.example")]
    svc = service("web", [RA.id, certs[0].id], [RB.id, certs[1].id])
    assert ("shared-certificate-path", "web", ("pki-role",)) in found(inventory(*BASE, ca, *certs), [svc])


def test_dns_write_on_public_zone_derives_cert_issue_and_private_does_not():
    private = zone("zone-p", "p.internal", "111", public=False)
    inv = inventory(*BASE, private, grant(UA.id, DW, private.id))
    corr = correlate(inv, declared_services=[SVC], now=NOW)
    derived = {(g.identity_id, g.resource_id) for g in corr.inventory.grants if g.capability is Capability.CERT_ISSUE}
    assert derived == {(UA.id, ZA.id), (UB.id, ZB.id)}
    via = next(g.via for g in corr.inventory.grants if g.capability is Capability.CERT_ISSUE)
    assert "DNS validation" in via[-1]


def test_certificates_validated_in_one_public_zone_share_a_path():
    shared_zone = zone("zone-c", "example.test", "333")
    certs = [Resource(id=f"cert-{n}", kind=ResourceKind.CERTIFICATE, provider="aws", name=n, connector=C,
                      names=(n,)) for n in ("a.example.test", "b.example.test")]
    svc = service("web", [RA.id, certs[0].id], [RB.id, certs[1].id])
    got = found(inventory(*BASE, shared_zone, *certs), [svc])
    assert ("shared-certificate-path", "web", ("zone-c",)) in got


# --- shared-fault-domain -----------------------------------------------------------------------

def test_shared_region_label_is_a_shared_fault_domain():
    ua = dataclasses.replace(UA, fault_domains=(*UA.fault_domains, "aws:region:us-east-1"))
    ub = dataclasses.replace(UB, fault_domains=(*UB.fault_domains, "aws:region:us-east-1"))
    inv = inventory(ZA, ZB, RA, RB, ua, ub, grant(UA.id, DW, ZA.id), grant(UB.id, DW, ZB.id))
    got = found(inv, [SVC])
    assert ("shared-fault-domain", "web", ("aws:region:us-east-1",)) in got
    assert ("no-independent-recovery", "web", (RB.id,)) in got  # the backup's only operator needs that region


def test_distinct_regions_are_not_shared():
    ua = dataclasses.replace(UA, fault_domains=(*UA.fault_domains, "aws:region:us-east-1"))
    ub = dataclasses.replace(UB, fault_domains=(*UB.fault_domains, "aws:region:eu-west-1"))
    inv = inventory(ZA, ZB, RA, RB, ua, ub, grant(UA.id, DW, ZA.id), grant(UB.id, DW, ZB.id))
    assert not any(r == "shared-fault-domain" for r, _, _ in found(inv, [SVC]))


# --- no-independent-recovery -------------------------------------------------------------------

def test_nobody_can_steer_the_backup():
    inv = inventory(ZA, ZB, RA, RB, UA, grant(UA.id, DW, ZA.id))
    corr = correlate(inv, declared_services=[SVC], now=NOW)
    f = next(f for f in corr.findings if f.rule == "no-independent-recovery")
    assert "no identity found" in f.evidence[0]


def test_one_independent_operator_is_enough():
    # user-a can steer both (so it is dependent), user-b only the backup and from another account.
    inv = inventory(*BASE, grant(UA.id, DW, ZB.id))
    corr = correlate(inv, declared_services=[SVC], now=NOW)
    assert not any(f.rule == "no-independent-recovery" for f in corr.findings)
    verdict = {o.identity_id: o.independent for o in corr.recovery}
    assert verdict == {UA.id: False, UB.id: True}


def test_operator_whose_key_lives_with_the_primary_is_not_independent():
    items = _vault(("vault://v/secret", "vault://v/secret"))
    got = found(inventory(*BASE, *items), [SVC])
    assert ("no-independent-recovery", "web", (RB.id,)) in got


# --- owner-gap ---------------------------------------------------------------------------------

def test_owner_gap_for_placeholder_owner_and_not_for_real_owner():
    ub = dataclasses.replace(UB, owner="TBD")
    inv = inventory(ZA, ZB, RA, RB, UA, ub, grant(UA.id, DW, ZA.id), grant(UB.id, DW, ZB.id))
    got = found(inv, [SVC])
    assert ("owner-gap", "web", (UB.id,)) in got
    assert ("owner-gap", "web", (UA.id,)) not in got


def test_owner_gap_lists_every_service_once():
    ua = dataclasses.replace(UA, owner=None)
    svc2 = service("web2", [RA.id], [RB.id])
    corr = correlate(inventory(*BASE[:4], ua, UB, *BASE[6:]), declared_services=[SVC, svc2], now=NOW)
    gaps = [f for f in corr.findings if f.rule == "owner-gap"]
    assert len(gaps) == 1 and gaps[0].services == ("web", "web2") and gaps[0].service is None


def test_unowned_store_is_an_owner_gap():
    items = [dataclasses.replace(i, owner=None) if isinstance(i, Store) else i
             for i in _vault(("vault://v/a", "vault://v/b"))]
    got = found(inventory(*BASE, *items), [SVC])
    assert {s for r, _, s in got if r == "owner-gap"} == {("vault://v/a",), ("vault://v/b",)}


# --- credential-expiry -------------------------------------------------------------------------

def _key(who, **kw):
    return Credential(id=f"key-{who}", identity_id=who, kind="access-key", connector=C, **kw)


def test_backup_credential_expiring_within_the_window():
    inv = inventory(*BASE, _key(UB.id, expires=NOW + timedelta(days=10)))
    assert ("credential-expiry", "web", (f"key-{UB.id}",)) in found(inv, [SVC])
    assert not any(r == "credential-expiry" for r, _, _ in found(inv, [SVC], expiry_days=5))


def test_credential_expiring_later_or_on_primary_only_is_not_flagged():
    inv = inventory(*BASE, _key(UB.id, expires=NOW + timedelta(days=40)), dataclasses.replace(
        _key(UA.id, expires=NOW + timedelta(days=2))))
    assert not any(r == "credential-expiry" for r, _, _ in found(inv, [SVC]))


def test_expired_backup_certificate_is_critical():
    cert = Resource(id="cert-b", kind=ResourceKind.CERTIFICATE, provider="aws", name="c", connector=C,
                    names=("www.b.example",), expires=NOW - timedelta(days=1))
    corr = correlate(inventory(*BASE, cert), declared_services=[service("web", [RA.id], [RB.id, cert.id])], now=NOW)
    f = next(f for f in corr.findings if f.rule == "credential-expiry")
    assert f.severity.value == "critical" and "expired" in f.evidence[0]


def test_unused_key_only_when_usage_is_tracked():
    old = dict(created=NOW - timedelta(days=300), last_used=NOW - timedelta(days=120))
    assert ("credential-expiry", "web", (f"key-{UB.id}",)) in found(
        inventory(*BASE, _key(UB.id, usage_tracked=True, **old)), [SVC])
    assert found(inventory(*BASE, _key(UB.id, usage_tracked=False, **old)), [SVC]) == set()
    recent = dict(created=NOW - timedelta(days=300), last_used=NOW - timedelta(days=3))
    assert found(inventory(*BASE, _key(UB.id, usage_tracked=True, **recent)), [SVC]) == set()



def test_a_resource_in_both_paths_is_said_in_the_shared_identity_finding_of_who_can_change_it() -> None:
    """One record set that holds both paths (a failover routing policy): whoever changes it, or acts as one who
    can, changes both; an identity shared through two separate resources gets no such line."""
    both = record("rec-both", "api.a.example", ZA)
    imp = user("impersonator", "111")
    svc = service("api", [both.id, RA.id], [both.id, RB.id])
    inv = inventory(ZA, ZB, RA, RB, both, UA, imp, grant(UA.id, DW, both.id),
                    grant(imp.id, Capability.IDENTITY_ASSUME, UA.id))
    by = {f.subjects: f for f in correlate(inv, declared_services=[svc], now=NOW).findings
          if f.rule == "shared-identity"}
    line = "rec-both is in both the primary and the backup path: one change to it changes both"
    assert line in by[(UA.id,)].evidence and line in by[(imp.id,)].evidence
    # the same identity steering both paths through two different records: no such line
    two = inventory(ZA, ZB, RA, RB, UA, grant(UA.id, DW, RA.id), grant(UA.id, DW, RB.id))
    (f,) = [f for f in correlate(two, declared_services=[SVC], now=NOW).findings if f.rule == "shared-identity"]
    assert not any("in both the primary and the backup path" in e for e in f.evidence)


def test_broad_federated_trust_fires_for_a_tagged_workload_that_reaches_a_path_and_says_why() -> None:
    corr = correlate(inventory(*BASE, _BROAD, grant(_BROAD.id, _ASSUME, UB.id, "provider gh: no condition")),
                     declared_services=[SVC], now=NOW)
    (f,) = [f for f in corr.findings if f.rule == "broad-federated-trust"]
    assert f.subjects == (_BROAD.id,) and f.services == ("web",)
    assert f.evidence[0] == ("github:any (any repository on GitHub) is admitted by a trust written too broadly: it "
                             "admits any repository on GitHub; it can change a path's DNS or failover state")
    assert any("provider gh: no condition" in e for e in f.evidence)
    assert "Narrow the trust that admits github:any" in f.remediation


@pytest.mark.parametrize("case", ["exact workload", "reaches nothing of a path", "tag empty"])
def test_broad_federated_trust_exemptions(case: str) -> None:
    outside = user("elsewhere", "999")
    who, target = {"exact workload": (_EXACT, UB.id), "reaches nothing of a path": (_BROAD, outside.id),
                   "tag empty": (dataclasses.replace(_BROAD, tags={"broad_trust": ""}), UB.id)}[case]
    inv = inventory(*BASE, outside, who, grant(who.id, _ASSUME, target))
    assert "broad-federated-trust" not in rules_for(inv, [SVC])


def test_a_broad_trust_of_an_exact_workload_counts_only_where_that_trust_leads() -> None:
    """One repository, two trusts: one written too broadly (any branch) into an identity outside every path,
    one exact into the backup's operator: no finding. The broad one into the operator: a finding naming it."""
    outside = user("elsewhere", "999")
    tags = {f"broad_trust:{outside.id}": "its subject admits any branch"}
    harmless = inventory(*BASE, outside, dataclasses.replace(_EXACT, tags=tags),
                         grant(_EXACT.id, _ASSUME, outside.id), grant(_EXACT.id, _ASSUME, UB.id))
    assert "broad-federated-trust" not in rules_for(harmless, [SVC])
    tags = {f"broad_trust:{UB.id}": "its subject admits any branch"}
    harmful = inventory(*BASE, outside, dataclasses.replace(_EXACT, tags=tags), grant(_EXACT.id, _ASSUME, UB.id))
    (f,) = [f for f in correlate(harmful, declared_services=[SVC], now=NOW).findings
            if f.rule == "broad-federated-trust"]
    assert f.severity.value == "high" and f.subjects == (_EXACT.id,)
    assert f"its trust into {UB.id}: its subject admits any branch" in f.evidence[0]
    assert any(f"{_EXACT.id} can act as {UB.id} through that trust" in e for e in f.evidence)


def test_an_environment_listed_as_protected_exempts_the_trust_it_alone_narrows() -> None:
    tags = {f"broad_trust:{UB.id}": "its only condition beyond the repository is the environment prod",
            f"broad_trust_environment:{UB.id}": "acme/dns:prod"}
    inv = inventory(*BASE, dataclasses.replace(_EXACT, tags=tags), grant(_EXACT.id, _ASSUME, UB.id))
    assert "broad-federated-trust" in rules_for(inv, [SVC])
    for protected, fires in ((["acme/dns:prod"], False), (["acme/*:prod"], False), (["acme/dns:staging"], True),
                             (["other/dns:prod"], True)):
        corr = correlate(inv, declared_services=[SVC], now=NOW, protected_environments=protected)
        assert any(f.rule == "broad-federated-trust" for f in corr.findings) is fires, protected


def test_no_independent_recovery_names_the_ci_system_every_failover_runs_on() -> None:
    """Both paths are operated only by GitHub workflows (their fault domain ci:github-actions): the CI system is a
    dependency the primary shares, said in so many words; with one operator outside CI, no finding."""
    ci = ("ci:github-actions",)
    wa = dataclasses.replace(_EXACT, id="github:repo:acme/a", fault_domains=ci)
    wb = dataclasses.replace(_EXACT, id="github:repo:acme/b", fault_domains=ci)
    inv = inventory(ZA, ZB, RA, RB, wa, wb, grant(wa.id, DW, ZA.id), grant(wb.id, DW, ZB.id))
    (f,) = [f for f in correlate(inv, declared_services=[SVC], now=NOW).findings if f.rule == "no-independent-recovery"]
    assert any("every identity able to fail over is a workflow of ci:github-actions" in e for e in f.evidence)
    assert "no-independent-recovery" not in rules_for(inventory(*inv.identities, *inv.resources, *inv.grants, UB,
                                                                grant(UB.id, DW, ZB.id)), [SVC])


def test_one_external_workload_two_connectors_meet_is_one_identity_with_both_tags() -> None:
    """An id two connectors share (a repository trusted by two clouds) is reconciled on merge: the first as it
    is, with the others' tags and fault domains; every other entity passes through."""
    aws = dataclasses.replace(_EXACT, connector="aws", tags={"broad_trust": "any branch"},
                              fault_domains=("ci:github-actions",))
    azure = dataclasses.replace(_EXACT, connector="azure", tags={"note": "federated credential"})
    merged = Inventory.merge([inventory(aws, UA), inventory(azure, UB)])
    (one,) = [i for i in merged.identities if i.id == _EXACT.id]
    assert one.connector == "aws" and dict(one.tags) == {"broad_trust": "any branch", "note": "federated credential"}
    assert one.fault_domains == ("ci:github-actions",) and {i.id for i in merged.identities} == {
        _EXACT.id, UA.id, UB.id}
    both = Inventory.merge([inventory(dataclasses.replace(_EXACT, tags={"broad_trust": "a"})),
                            inventory(dataclasses.replace(_EXACT, tags={"broad_trust": "b"}))])
    assert both.identities[0].tags["broad_trust"] == "a; b"


def test_a_long_lived_key_older_than_the_rotation_age_is_flagged_once() -> None:
    flagged = ("credential-expiry", "web", (f"key-{UB.id}",))
    aged = dict(created=NOW - timedelta(days=100))
    corr = correlate(inventory(*BASE, _key(UB.id, long_lived=True, **aged)), declared_services=[SVC], now=NOW)
    (f,) = [f for f in corr.findings if f.rule == "credential-expiry"]
    assert f.severity.value == "medium" and "created 100 days ago" in f.evidence[0] and "max_key_age_days" in (
        f.evidence[0])
    # not a long-lived key; younger than the limit; the limit raised; on the primary path only
    assert found(inventory(*BASE, _key(UB.id, **aged)), [SVC]) == set()
    assert found(inventory(*BASE, _key(UB.id, long_lived=True, created=NOW - timedelta(days=80))), [SVC]) == set()
    assert flagged not in found(inventory(*BASE, _key(UB.id, long_lived=True, **aged)), [SVC], max_key_age_days=120)
    assert found(inventory(*BASE, _key(UA.id, long_lived=True, **aged)), [SVC]) == set()
    # a key already reported as unused is not reported again for its age: one finding
    unused = correlate(inventory(*BASE, _key(UB.id, long_lived=True, usage_tracked=True, last_used=NOW - timedelta(
        days=120), **aged)), declared_services=[SVC], now=NOW)
    assert [f.fingerprint for f in unused.findings if f.rule == "credential-expiry"] != [f.fingerprint]
    assert len([f for f in unused.findings if f.rule == "credential-expiry"]) == 1


# --- fingerprints and services -----------------------------------------------------------------

def test_fingerprints_are_stable_across_runs_and_input_order():
    inv = reference_estate()
    first = correlate(inv, declared_services=declared_services(), now=NOW)
    shuffled = list(inv.grants)
    random.Random(7).shuffle(shuffled)
    again = correlate(dataclasses.replace(inv, grants=tuple(shuffled)), declared_services=declared_services(),
                      now=NOW + timedelta(hours=5))
    assert [f.fingerprint for f in first.findings] == [f.fingerprint for f in again.findings]
    assert len({f.fingerprint for f in first.findings}) == len(first.findings)


def test_declared_service_wins_over_discovered_one():
    discovered = service("web", ["x"], ["y"], source="aws")
    declared = service("web", [RA.id], [RB.id], owner="team-web")
    merged = merge_services([discovered], [declared])
    assert merged == (declared,)


def test_missing_path_resources_are_reported_on_the_correlation():
    svc = service("web", [RA.id, "gone"], [RB.id])
    corr = correlate(inventory(*BASE), declared_services=[svc], now=NOW)
    assert corr.missing("web") == ["gone"]


def test_unseen_backup_path_is_not_called_unrecoverable():
    # the backup record was not reported (its connector failed, or the id is wrong): no "nobody can" verdict
    svc = service("web", [RA.id], ["rec-never-seen"])
    corr = correlate(inventory(*BASE), declared_services=[svc], now=NOW)
    assert not any(f.rule == "no-independent-recovery" for f in corr.findings)
    assert corr.missing("web") == ["rec-never-seen"]


# --- severity: one sentence per rule, and a case for every severity it names -------------------

def _secret(rid: str, owner: str | None = "sec") -> Resource:
    return Resource(id=rid, kind=ResourceKind.SECRET, provider="vault", name=rid, connector=C, owner=owner)


def _regional(u: Identity, region: str) -> Identity:
    return dataclasses.replace(u, fault_domains=(*u.fault_domains, f"aws:region:{region}"))


def _cert(cid: str, days: float) -> Resource:
    return Resource(id=cid, kind=ResourceKind.CERTIFICATE, provider="aws", name=cid, connector=C,
                    names=("www.b.example",), expires=NOW + timedelta(days=days))


def _with_cert(days: float):  # type: ignore[no-untyped-def]
    cert = _cert("cert-b", days)
    return inventory(*BASE, cert), [service("web", [RA.id], [RB.id, cert.id])]


_ZB_SAME = zone("zone-b", "b.example", "111")
_RB_SAME = record("rec-b", "www.b.example", _ZB_SAME)
_RB_IN_A = record("rec-b", "www2.a.example", ZA)
_SA, _SB = _secret("secret-a"), _secret("secret-b")
_READER = Identity(id="reader", provider="vault", kind="vault-role", name="reader", connector=C, owner="t")
#: An external workload whose trust is too broad (the connector's tag says why), and one exact workload.
_BROAD = Identity(id="github:any", provider="github", kind="ci-workload", name="any repository on GitHub",
                  connector=C, owner="t", tags={"broad_trust": "it admits any repository on GitHub"})
_EXACT = Identity(id="github:repo:acme/dns", provider="github", kind="ci-workload", name="acme/dns", connector=C,
                  owner="t")
_ASSUME = Capability.IDENTITY_ASSUME

#: (rule, subject, expected severity, inventory, services): at least one case per severity each rule's
#: severity_rule names, each built so that only that branch applies.
SEVERITY_CASES = [
    ("shared-identity", UA.id, "critical", inventory(*BASE, grant(UA.id, DW, ZB.id)), [SVC]),
    ("shared-identity", _READER.id, "high",
     inventory(*BASE, _SA, _SB, _READER, grant(_READER.id, SR, _SA.id), grant(_READER.id, SR, _SB.id)),
     [service("web", [RA.id, _SA.id], [RB.id, _SB.id])]),
    ("shared-secret-store", "vault://v/secret", "high", inventory(*BASE, *_vault(("vault://v/secret",) * 2)), [SVC]),
    ("shared-certificate-path", "pki-role", "high", inventory(*BASE, _issuer(["*.a.example", "www.b.example"])), [SVC]),
    ("shared-dns-control-plane", ZA.id, "high", inventory(ZA, RA, _RB_IN_A, UA, grant(UA.id, DW, ZA.id)),
     [service("web", [RA.id], [_RB_IN_A.id])]),
    ("shared-dns-control-plane", "route53:account:111", "medium",
     inventory(ZA, _ZB_SAME, RA, _RB_SAME, UA, UB, grant(UA.id, DW, ZA.id), grant(UB.id, DW, _ZB_SAME.id)), [SVC]),
    ("shared-fault-domain", "aws:account:111", "high",
     inventory(ZA, _ZB_SAME, RA, _RB_SAME, UA, UB, grant(UA.id, DW, ZA.id), grant(UB.id, DW, _ZB_SAME.id)), [SVC]),
    ("shared-fault-domain", "aws:region:us-east-1", "medium",
     inventory(ZA, ZB, RA, RB, _regional(UA, "us-east-1"), _regional(UB, "us-east-1"),
               grant(UA.id, DW, ZA.id), grant(UB.id, DW, ZB.id)), [SVC]),
    # nobody can steer the backup
    ("no-independent-recovery", RB.id, "critical", inventory(ZA, ZB, RA, RB, UA, grant(UA.id, DW, ZA.id)), [SVC]),
    # the backup's only operator keeps its key in the store the primary's key is in
    ("no-independent-recovery", RB.id, "critical", inventory(*BASE, *_vault(("vault://v/secret",) * 2)), [SVC]),
    # the backup's only operator lives in the primary's account
    ("no-independent-recovery", _RB_SAME.id, "critical",
     inventory(ZA, _ZB_SAME, RA, _RB_SAME, UA, UB, grant(UA.id, DW, ZA.id), grant(UB.id, DW, _ZB_SAME.id)), [SVC]),
    # the backup's only operator needs only the primary's region: it works unless the region is down
    ("no-independent-recovery", RB.id, "high",
     inventory(ZA, ZB, RA, RB, _regional(UA, "us-east-1"), _regional(UB, "us-east-1"),
               grant(UA.id, DW, ZA.id), grant(UB.id, DW, ZB.id)), [SVC]),
    ("owner-gap", UB.id, "high", inventory(*BASE[:5], dataclasses.replace(UB, owner=None), *BASE[6:]), [SVC]),
    ("owner-gap", _READER.id, "medium",
     inventory(*BASE, _SA, _SB, dataclasses.replace(_READER, owner="tbd"), grant(_READER.id, SR, _SA.id)),
     [service("web", [RA.id, _SA.id], [RB.id])]),
    ("owner-gap", "vault://v/a", "medium",
     inventory(*BASE, *[dataclasses.replace(i, owner=None) if isinstance(i, Store) else i
                        for i in _vault(("vault://v/a", "vault://v/b"))]), [SVC]),
    ("owner-gap", "service:web", "medium", inventory(*BASE), [service("web", [RA.id], [RB.id], owner=None)]),
    ("broad-federated-trust", _BROAD.id, "critical",
     inventory(*BASE, grant(UA.id, DW, ZB.id), _BROAD, grant(_BROAD.id, _ASSUME, UA.id)), [SVC]),
    ("broad-federated-trust", _BROAD.id, "high", inventory(*BASE, _BROAD, grant(_BROAD.id, _ASSUME, UB.id)), [SVC]),
    ("broad-federated-trust", _BROAD.id, "medium",
     inventory(*BASE, _SA, _READER, grant(_READER.id, SR, _SA.id), _BROAD, grant(_BROAD.id, _ASSUME, _READER.id)),
     [service("web", [RA.id, _SA.id], [RB.id])]),
    ("credential-expiry", "cert-b", "critical", *_with_cert(-1)),
    ("credential-expiry", "cert-b", "high", *_with_cert(5)),
    ("credential-expiry", "cert-b", "medium", *_with_cert(20)),
    ("credential-expiry", f"key-{UB.id}", "low",
     inventory(*BASE, _key(UB.id, usage_tracked=True, created=NOW - timedelta(days=300),
                           last_used=NOW - timedelta(days=120))), [SVC]),
]


@pytest.mark.parametrize(("rule", "subject", "severity", "inv", "services"), SEVERITY_CASES,
                         ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(SEVERITY_CASES)])
def test_severity_follows_the_rule_s_sentence(rule, subject, severity, inv, services):
    corr = correlate(inv, declared_services=services, now=NOW)
    got = [f.severity.value for f in corr.findings if f.rule == rule and subject in f.subjects]
    assert got == [severity], [(f.rule, f.subjects, f.severity.value) for f in corr.findings]


def test_every_severity_a_rule_names_has_a_case_and_docs_say_the_same_sentence():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "severity.md").read_text()
    words = ("critical", "high", "medium", "low")
    for rule in RULES.values():
        sentence = rule.severity_rule
        named = {w for w in words if re.search(rf"\b{w}\b", sentence)}
        cased = {c[2] for c in SEVERITY_CASES if c[0] == rule.name}
        assert named and named == cased, (rule.name, named, cased)
        section = docs.split(f"### {rule.name}\n", 1)[1].split("\n### ", 1)[0]
        assert sentence in section, f"docs/severity.md, {rule.name}: expected the rule's sentence: {sentence}"


# --- evidence: complete, one step per entry, from the identity to the path --------------------

def test_evidence_is_one_step_per_entry_from_identity_to_path():
    role = dataclasses.replace(UA, id="role-dns", kind="iam-role", owner="team")
    ci = dataclasses.replace(UB, id="ci-user", owner="team")
    inv = inventory(ZA, ZB, RA, RB, role, ci, grant(role.id, DW, ZA.id), grant(role.id, DW, ZB.id),
                    grant(ci.id, Capability.IDENTITY_ASSUME, role.id, "trust policy of role-dns names ci-user"))
    corr = correlate(inv, declared_services=[SVC], now=NOW)
    f = next(f for f in corr.findings if f.rule == "shared-identity" and f.subjects == ("ci-user",))
    assert f.evidence == (
        "primary: ci-user can act as role-dns (trust policy of role-dns names ci-user)",
        "primary: role-dns has dns.write on zone-a (policy of role-dns)",
        "primary: rec-a depends on zone-a",
        "primary: rec-a is in the primary path",
        "backup: ci-user can act as role-dns (trust policy of role-dns names ci-user)",
        "backup: role-dns has dns.write on zone-b (policy of role-dns)",
        "backup: rec-b depends on zone-b",
        "backup: rec-b is in the backup path",
    )


def test_recovery_evidence_is_never_truncated():
    # 25 operators can steer both paths; each needs 7 things the primary also depends on (itself, its key's
    # secret and mount, 4 labels): every operator and every dependency is said (it used to stop at 20 and 5)
    mount = "vault://v/secret"
    labels = ("aws:account:111", "ci:a", "ci:b", "ci:c")
    items: list = [ZA, ZB, RA, RB, Store(id=mount, provider="vault", kind="vault-mount", name="m", connector=C,
                                         owner="s")]
    for i in range(25):
        op = dataclasses.replace(UA, id=f"op-{i:02d}", owner="team", fault_domains=labels)
        holder = Resource(id=f"{mount}/data/{op.id}", kind=ResourceKind.SECRET, provider="vault", name=op.id,
                          connector=C, parents=(mount,))
        items += [op, holder, grant(op.id, DW, ZA.id), grant(op.id, DW, ZB.id),
                  Credential(id=f"key-{op.id}", identity_id=op.id, kind="access-key", connector=C,
                             stored_in=holder.id)]
    corr = correlate(inventory(*items), declared_services=[SVC], now=NOW)
    f = next(f for f in corr.findings if f.rule == "no-independent-recovery")
    text = "\n".join(f.evidence)
    assert "…" not in text and "more identities" not in text
    assert len(corr.recovery) == 25
    for option in corr.recovery:
        needs = next(e for e in f.evidence if e.startswith(f"failover by {option.identity_id}: needs "))
        assert len(option.shared_with_primary) == 7
        assert all(d in needs for d in option.shared_with_primary)


# --- remediation: the rule's text first, then the finding's own steps --------------------------

def builtin_steps():
    """The remediation steps the built-in connectors ship, as a scan hands them to the correlator."""
    from commonmode.connector import Registry
    from commonmode.scan import builtin_remediation_steps

    return builtin_remediation_steps(Registry.discover())


def test_every_finding_remediation_starts_with_its_rule_s_and_adds_specific_steps():
    corr = correlate(reference_estate(), declared_services=declared_services(), now=NOW, remediation=builtin_steps())
    for f in corr.findings:
        lines = remediation_lines(f.remediation)
        assert lines[0] == RULES[f.rule].remediation, f.rule
        assert len(lines) > 1, f"{f.rule} {f.subjects}: no specific step"
    store = next(f for f in corr.findings if f.rule == "shared-secret-store")
    assert "separate Vault cluster" in store.remediation and store.subjects[0] in store.remediation
    bot = next(f for f in corr.findings if f.rule == "shared-identity" and "dns-bot" in f.subjects[0])
    assert "IAM role" in bot.remediation  # the AWS steps, not the Vault ones
