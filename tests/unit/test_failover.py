"""`simulate`'s answers (correlate.failover) on inventories built in code: each verdict with a positive and a
negative case; a chain cut through a credential kept in a downed store, a login provider down (a label on the
identity), an identity or a credential revoked by id; an alternative that survives; and the graph's JSON round
trip, which is what the store keeps."""

from __future__ import annotations

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
    grant,
    inventory,
    record,
    service,
    user,
    zone,
)

from commonmode.correlate import correlate
from commonmode.correlate.failover import BACKUP_DOWN, FAILS_OVER, NOBODY_CAN_SWITCH, FailoverGraph, Simulator
from commonmode.model import Capability

ZA, ZB = zone("zone-a", "a.example", "111"), zone("zone-b", "b.example", "222", labels=("dns-provider:azure-dns",))
RA, RB = record("rec-a", "www.a.example", ZA), record("rec-b", "www.b.example", ZB)
UA, UB = user("user-a", "111"), user("user-b", "222")
SVC = service("web", [RA.id], [RB.id])
BASE = [ZA, ZB, RA, RB, UA, UB, grant(UA.id, DW, ZA.id), grant(UB.id, DW, ZB.id)]
MOUNT = Store(id="vault://v/secret", provider="vault", kind="vault-mount", name="secret", connector=C, owner="sec",
              fault_domains=("vault:cluster:v",))
SECRET = Resource(id="vault://v/secret/data/dns/b", kind=ResourceKind.SECRET, provider="vault", name="b",
                  connector=C, parents=(MOUNT.id,))


def simulator(*items: object, services=(SVC,)) -> Simulator:  # type: ignore[no-untyped-def]
    corr = correlate(inventory(*items), declared_services=services, now=NOW)
    # what the store keeps and simulate reads back: the graphs as JSON
    return Simulator([FailoverGraph.from_json(g.service, g.to_json()) for g in corr.failover])


def answer(sim: Simulator, *down: str):  # type: ignore[no-untyped-def]
    (a,) = sim.run(down)
    return a


def test_nothing_down_the_backup_operator_fails_over() -> None:
    a = answer(simulator(*BASE))
    assert a.verdict == FAILS_OVER and a.backup_up and [s.identity for s in a.can_switch] == [UB.id]
    assert a.can_switch[0].chain[-1] == f"{UB.id} has dns.write on {ZB.id}"


def test_backup_down_when_its_zone_its_account_or_its_dns_provider_is_down() -> None:
    sim = simulator(*BASE)
    for down in (ZB.id, RB.id, "aws:account:222", "dns-provider:azure-dns"):
        a = answer(sim, down)
        assert a.verdict == BACKUP_DOWN and not a.backup_up and a.blocked_by == (down,), down
    # the primary's account down leaves the backup up, and its operator
    assert answer(sim, "aws:account:111").verdict == FAILS_OVER


def test_an_identity_revoked_by_id_or_its_login_provider_down_cannot_switch() -> None:
    azure_sp = Identity(id="sp-b", provider="azure", kind="service-principal", name="sp-b", connector=C,
                        owner="t", fault_domains=("azure:tenant:T",))
    sim = simulator(*BASE[:5], azure_sp, grant(azure_sp.id, DW, ZB.id))
    assert answer(sim).verdict == FAILS_OVER
    a = answer(sim, "azure:tenant:T")  # Entra is down: the service principal cannot sign in
    assert a.verdict == NOBODY_CAN_SWITCH and a.backup_up and a.blocked_by == ("azure:tenant:T",)
    assert answer(sim, azure_sp.id).verdict == NOBODY_CAN_SWITCH  # revoked by id
    assert answer(sim, "azure:tenant:other").verdict == FAILS_OVER


def test_a_credential_kept_in_a_downed_store_cuts_the_chain_and_an_alternative_survives() -> None:
    kept = Credential(id="key-b@vault", identity_id=UB.id, kind="stored-credential", connector=C,
                      stored_in=SECRET.id)
    sim = simulator(*BASE, MOUNT, SECRET, kept)
    assert answer(sim).verdict == FAILS_OVER
    for down in (MOUNT.id, "vault:cluster:v", SECRET.id, kept.id):
        a = answer(sim, down)
        assert a.verdict == NOBODY_CAN_SWITCH and down in a.blocked_by, down
    # a second operator whose key is kept elsewhere still switches
    other = user("user-c", "222")
    sim = simulator(*BASE, MOUNT, SECRET, kept, other, grant(other.id, DW, ZB.id),
                    Credential(id="key-c", identity_id=other.id, kind="access-key", connector=C))
    a = answer(sim, "vault:cluster:v")
    assert a.verdict == FAILS_OVER and [s.identity for s in a.can_switch] == [other.id]
    assert a.can_switch[0].chain[0] == f"{other.id} signs in with credential key-c"


def test_the_provider_s_key_and_its_stored_copy_are_one_secret() -> None:
    """An access key the provider reports (no store) and its copy in Vault: revoking the key, or losing the
    store, stops the identity; an identity whose only key is reported without a store needs only that key."""
    key = Credential(id="key-b", identity_id=UB.id, kind="access-key", connector=C)
    copy = Credential(id="key-b@vault", identity_id=UB.id, kind="stored-credential", connector=C,
                      stored_in=SECRET.id)
    sim = simulator(*BASE, MOUNT, SECRET, key, copy)
    assert answer(sim).verdict == FAILS_OVER
    assert answer(sim, key.id).verdict == NOBODY_CAN_SWITCH
    assert answer(sim, MOUNT.id).verdict == NOBODY_CAN_SWITCH
    alone = simulator(*BASE, key)
    assert answer(alone, MOUNT.id).verdict == FAILS_OVER and answer(alone, key.id).verdict == NOBODY_CAN_SWITCH


def test_acting_as_another_identity_needs_both_and_a_reader_needs_the_place_it_reads() -> None:
    role = Identity(id="role-b", provider="aws", kind="iam-role", name="role-b", connector=C, owner="t",
                    fault_domains=("aws:account:222",))
    ci = Identity(id="github:repo:acme/dns", provider="github", kind="ci-workload", name="acme/dns", connector=C,
                  owner="t", fault_domains=("ci:github-actions",))
    sim = simulator(*BASE[:5], role, ci, grant(role.id, DW, ZB.id),
                    grant(ci.id, Capability.IDENTITY_ASSUME, role.id, "OIDC trust"))
    switchers = {s.identity: s.chain for s in answer(sim).can_switch}
    assert switchers[ci.id][1:] == (f"{ci.id} can act as {role.id}", f"{role.id} has dns.write on {ZB.id}")
    # the role is reached only through the CI workload: it does not start on its own, so the CI system down
    # leaves nobody; with no recorded way in, the same role is started by whoever runs as it
    assert [s.identity for s in answer(sim).can_switch] == [ci.id]
    a = answer(sim, "ci:github-actions")
    assert a.verdict == NOBODY_CAN_SWITCH and a.backup_up and a.blocked_by == ("ci:github-actions",)
    alone = answer(simulator(*BASE[:5], role, grant(role.id, DW, ZB.id)), "ci:github-actions")
    assert alone.verdict == FAILS_OVER and alone.can_switch[0].starts == "no recorded credential"
    # a Vault role that reads user-b's key can act as user-b: only while the place it reads is up
    reader = Identity(id="vault-reader", provider="vault", kind="vault-role", name="r", connector=C, owner="t",
                      fault_domains=("vault:cluster:w",))
    kept = Credential(id="key-b@vault", identity_id=UB.id, kind="stored-credential", connector=C,
                      stored_in=SECRET.id)
    sim = simulator(*BASE, MOUNT, SECRET, kept, reader, grant(reader.id, SR, SECRET.id))
    assert {s.identity for s in answer(sim).can_switch} == {UB.id, reader.id}
    assert answer(sim, MOUNT.id).verdict == NOBODY_CAN_SWITCH
    assert {s.identity for s in answer(sim, UB.id).can_switch} == set()  # revoking user-b stops its reader too
    # a reader granted the whole mount reads the key only while the secret it is kept in is up
    sim = simulator(*BASE, MOUNT, SECRET, kept, reader, grant(reader.id, SR, MOUNT.id))
    assert {s.identity for s in answer(sim).can_switch} == {UB.id, reader.id}
    assert answer(sim, SECRET.id).verdict == NOBODY_CAN_SWITCH


def test_a_scenario_reevaluates_only_the_services_it_touches() -> None:
    other = service("other", [RA.id], [RA.id])
    sim = simulator(*BASE, services=(SVC, other))
    assert sim.known("aws:account:222") and not sim.known("nothing:here")
    assert sim.by_atom["dns-provider:azure-dns"] == {"web"}
    untouched = sim.run(["dns-provider:azure-dns"], ["other"])[0]
    assert untouched is sim.baseline["other"]  # not re-evaluated: nothing it needs is down
