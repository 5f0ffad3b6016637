"""Certificate paths in the closure: an issuing path (a PKI role) brings in the CA it issues from, so two
roles on one CA make that CA a shared certificate path (issue 11, Vault item 9). Pure correlator tests; the
same is proven on OpenBao in tests/connectors/vault/test_pki.py."""

from __future__ import annotations

from tests.estate import DW, NOW, C, Resource, ResourceKind, grant, inventory, record, service, user, zone

from commonmode.correlate import correlate
from commonmode.correlate.closure import compute_closure
from commonmode.correlate.index import Index
from commonmode.model import Capability

ZA = zone("zone-a", "a.example", "111")
ZB = zone("zone-b", "b.example", "222")
RA = record("rec-a", "www.a.example", ZA)
RB = record("rec-b", "www.b.example", ZB)
BASE = [ZA, ZB, RA, RB]
SVC = service("web", [RA.id], [RB.id])


def ca(cid: str) -> Resource:
    return Resource(id=cid, kind=ResourceKind.CERT_ISSUER, provider="vault", name=cid, connector=C, owner="sec")


def role(rid: str, name: str, parent: str) -> Resource:
    return Resource(id=rid, kind=ResourceKind.CERT_ISSUER, provider="vault", name=rid, connector=C, owner="sec",
                    names=(name,), parents=(parent,))


def shared_cert_paths(inv, svc=SVC) -> list[tuple[str, ...]]:  # type: ignore[no-untyped-def]
    corr = correlate(inv, declared_services=[svc], now=NOW)
    return [f.subjects for f in corr.findings if f.rule == "shared-certificate-path"]


def test_two_roles_on_one_ca_share_the_ca():
    inv = inventory(*BASE, ca("ca-1"), role("role-a", "www.a.example", "ca-1"), role("role-b", "www.b.example", "ca-1"))
    assert shared_cert_paths(inv) == [("ca-1",)]
    corr = correlate(inv, declared_services=[SVC], now=NOW)
    evidence = " ".join(next(f for f in corr.findings if f.rule == "shared-certificate-path").evidence)
    assert "role-a is issued by ca-1" in evidence and "role-b is issued by ca-1" in evidence


def test_roles_on_two_cas_share_nothing():
    inv = inventory(*BASE, ca("ca-1"), ca("ca-2"), role("role-a", "www.a.example", "ca-1"),
                    role("role-b", "www.b.example", "ca-2"))
    assert shared_cert_paths(inv) == []


def test_roles_named_in_the_paths_are_certificate_paths_and_bring_their_ca():
    inv = inventory(*BASE, ca("ca-1"), role("role-a", "x.other", "ca-1"), role("role-b", "y.other", "ca-1"))
    svc = service("web", [RA.id, "role-a"], [RB.id, "role-b"])
    assert shared_cert_paths(inv, svc) == [("ca-1",)]
    c = compute_closure(Index(inv), "primary", (RA.id, "role-a"))
    assert set(c.cert_paths) == {"role-a", "ca-1"}


def test_a_non_issuer_parent_is_not_a_certificate_path():
    store_like = Resource(id="not-a-ca", kind=ResourceKind.SECRET, provider="vault", name="s", connector=C)
    inv = inventory(*BASE, store_like, role("role-a", "www.a.example", "not-a-ca"))
    c = compute_closure(Index(inv), "primary", (RA.id,))
    assert set(c.cert_paths) == {"role-a"}


def test_who_can_issue_from_the_ca_joins_the_closure_but_not_its_other_grants():
    issuer = user("issuer-bot", "111")
    other = user("dns-bot", "111")
    inv = inventory(*BASE, ca("ca-1"), role("role-a", "www.a.example", "ca-1"), issuer, other,
                    grant(issuer.id, Capability.CERT_ISSUE, "ca-1"), grant(other.id, DW, "ca-1"))
    c = compute_closure(Index(inv), "primary", (RA.id,))
    assert issuer.id in c.identities and other.id not in c.identities
