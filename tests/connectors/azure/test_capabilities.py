"""capabilities.toml as data: every entry, [[capability]] and [[escalation]], has a positive and a negative case
decided by the real evaluation (`grants_on` over ARM-shaped role definitions, assignments, deny assignments and
vaults); the file is validated on load; and what grants_on chooses between ways (direct before escalation,
deny assignments against escalations). Pure: no server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from tests.connectors.azure.test_policy import (
    RG,
    SCOPES,
    SP,
    assignment,
    deny,
    policy_entry,
    role,
    vault,
)

from commonmode.kit import Tri
from commonmode.model import Capability
from commonmode_azure.capabilities import (
    DNS_KINDS,
    KINDS,
    Access,
    CapabilityTableError,
    Entry,
    Escalation,
    Resource,
    grants_on,
    load_capabilities,
    parse_capabilities,
)
from commonmode_azure.policy import RoleAssignment, RoleDefinition, index_roles

TABLE = load_capabilities()
ZONE = {"public": f"{RG}/providers/Microsoft.Network/dnszones/example.com",
        "private": f"{RG}/providers/Microsoft.Network/privateDnsZones/internal.example"}
VAULT_ID = f"{RG}/providers/Microsoft.KeyVault/vaults/kv1"
#: Look-alikes that must never give a capability: every read, control and data, and secret metadata.
READER = role("Reads everything", {"actions": ["*/read"],
                                   "dataActions": ["*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"]})


def zone(kind: str) -> Resource:
    return Resource(id=ZONE[kind], kind="dns-zone", zone_type=kind)


def record_set(kind: str, rtype: str) -> Resource:
    name = "@" if rtype in ("NS", "SOA") else "www"
    return Resource(id=f"{ZONE[kind]}/{rtype}/{name}", kind="dns-record-set", zone_type=kind, record_type=rtype)


def key_vault(model: str, *entries: dict[str, Any]) -> Resource:
    v = vault(*entries, rbac=model == "rbac")
    v["id"] = VAULT_ID
    return Resource(id=VAULT_ID, kind="key-vault", vault=v)


PLAIN = {"traffic-manager-profile": f"{RG}/providers/Microsoft.Network/trafficManagerProfiles/app",
         "frontdoor-profile": f"{RG}/providers/Microsoft.Cdn/profiles/fd",
         "user-assigned-identity": f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/deployer"}


def one_of_each_kind() -> list[Resource]:
    """A resource of every kind (and zone type, vault model) the table speaks of."""
    out = [zone("public"), zone("private"), record_set("public", "A"), record_set("private", "A"),
           key_vault("rbac"), key_vault("access-policy")]
    out += [Resource(id=i, kind=k) for k, i in PLAIN.items()]
    assert {r.kind for r in out} == KINDS
    return out


def access(resource: Resource, *assignments: RoleAssignment, roles: tuple[RoleDefinition, ...] = (),
           denies: tuple[Any, ...] = ()) -> dict[Capability, Access]:
    got = grants_on(resource, (SP,), table=TABLE, assignments=list(assignments), roles=index_roles(roles),
                    denies=list(denies), scopes=SCOPES)
    return {a.capability: a for a in got}


def holding(operation: str, *, data: bool) -> RoleDefinition:
    """A custom role with exactly one operation."""
    return role(f"Only {operation}", {"dataActions" if data else "actions": [operation]})


# --- [[capability]] entries: every operation, positive and negative ------------------------------------------

@dataclass(frozen=True)
class Case:
    index: int  # the entry's position in the file
    entry: Entry
    resource: Resource
    operation: str
    other: Resource | None  # a resource of the same kind the entry does not cover (other zone type or vault model)


def _resources(e: Entry, zone_type: str | None = None, model: str | None = None) -> list[tuple[Resource, str]]:
    """The resources an entry acts on, each with one of its operations expanded for it."""
    if e.resource == "dns-record-set":
        assert zone_type
        return [(record_set(zone_type, t), op.replace("{record_type}", t)) for t in e.record_types
                for op in e.operations]
    if e.resource == "dns-zone":
        assert zone_type
        return [(zone(zone_type), op) for op in e.operations]
    if e.resource == "key-vault":
        assert model
        if e.plane == "access-policy":
            return [(key_vault(model, policy_entry(**{e.permission_kind: (p,)})), p) for p in e.operations]
        return [(key_vault(model), op) for op in e.operations]
    return [(Resource(id=PLAIN[e.resource], kind=e.resource), op) for op in e.operations]


def capability_cases() -> list[Case]:
    out = []
    for i, e in enumerate(TABLE.entries):
        variants: list[tuple[str | None, str | None]] = [(None, None)]
        if e.resource in DNS_KINDS:
            variants = [(z, None) for z in sorted(e.zone_types)]
        elif e.resource == "key-vault":
            variants = [(None, m) for m in sorted(e.vault_models)]
        for z, m in variants:
            for resource, op in _resources(e, z, m):
                other = None
                if z and len(e.zone_types) == 1:
                    other_zone = "private" if z == "public" else "public"
                    other = zone(other_zone) if resource.kind == "dns-zone" else \
                        record_set(other_zone, resource.record_type or "A")
                elif m and len(e.vault_models) == 1:
                    other_model = "access-policy" if m == "rbac" else "rbac"
                    other = key_vault(other_model, *(resource.vault or {}).get("properties", {}).get(
                        "accessPolicies", []))
                out.append(Case(i, e, resource, op, other))
    return out


CASES = capability_cases()


def test_every_capability_entry_has_cases() -> None:
    assert {c.index for c in CASES} == set(range(len(TABLE.entries)))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.index}:{c.entry.capability.value}:{c.resource.kind}:"
                                             f"{c.resource.zone_type or c.resource.vault_model or ''}:{c.operation}"
                                             for c in CASES])
def test_each_operation_gives_its_capability_and_a_look_alike_does_not(case: Case) -> None:
    e, r = case.entry, case.resource
    if e.plane == "access-policy":
        yes = access(r)  # the vault's access policy holds the permission
    else:
        granter = holding(case.operation, data=e.plane == "data")
        yes = access(r, assignment(granter, r.id), roles=(granter,))
    assert e.capability in yes, sorted(yes)
    got = yes[e.capability]
    assert got.escalation is None and got.decision.result is (Tri.MAYBE if e.note else Tri.YES)
    assert got.decision.via, "a grant explains itself"
    # negative: everything read-only, control and data planes, and secret metadata
    reader_res = r if e.plane != "access-policy" else key_vault(
        "access-policy", policy_entry(**{e.permission_kind: ("list",)}))
    assert e.capability not in access(reader_res, assignment(READER, RG), roles=(READER,))
    # negative: the same operation on a resource of the kind it does not cover (zone type, vault model)
    if case.other is not None:
        if e.plane == "access-policy":
            assert e.capability not in access(case.other)
        else:
            granter = holding(case.operation, data=e.plane == "data")
            assert e.capability not in access(case.other, assignment(granter, case.other.id), roles=(granter,))


# --- [[escalation]] entries ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class EscalationCase:
    index: int
    entry: Escalation
    resource: Resource
    operation: str


def escalation_cases() -> list[EscalationCase]:
    out = []
    for i, x in enumerate(TABLE.escalations):
        for r in one_of_each_kind():
            if x.resource not in ("*", r.kind) or (x.vault_models and r.vault_model not in x.vault_models):
                continue
            out += [EscalationCase(i, x, r, op) for op in x.operations]
    return out


ESCALATIONS = escalation_cases()


def test_every_escalation_entry_has_cases() -> None:
    assert {c.index for c in ESCALATIONS} == set(range(len(TABLE.escalations)))


@pytest.mark.parametrize("case", ESCALATIONS, ids=[f"{c.index}:{c.entry.kind}:{c.resource.kind}:"
                                                   f"{c.resource.zone_type or c.resource.vault_model or ''}:"
                                                   f"{c.operation}" for c in ESCALATIONS])
def test_each_escalation_leads_to_what_it_grants_and_a_reader_gets_nothing(case: EscalationCase) -> None:
    x, r = case.entry, case.resource
    granter = holding(case.operation, data=False)
    at = "/" if x.at_root else r.id
    got = access(r, assignment(granter, at), roles=(granter,))
    expected = TABLE.capabilities_of(r) if x.grants == ("*",) else tuple(Capability(g) for g in x.grants)
    assert expected and set(got) == set(expected), (sorted(got), expected)
    for a in got.values():
        assert a.escalation == x.kind and a.operation == case.operation
        assert a.decision.result is (Tri.MAYBE if x.note else Tri.YES)
        assert f"escalation ({x.kind})" in " ".join(a.decision.via)
    assert access(r, assignment(READER, "/"), roles=(READER,)) == {}
    if x.at_root:
        # a tenant-level operation is authorized at the root only: holding it on the subscription is nothing
        assert access(r, assignment(granter, SCOPES.ancestors(r.id)[-2]), roles=(granter,)) == {}


def test_a_vault_access_policy_escalation_needs_an_access_policy_vault() -> None:
    writer = holding("Microsoft.KeyVault/vaults/accessPolicies/write", data=False)
    assert access(key_vault("access-policy"), assignment(writer, VAULT_ID), roles=(writer,))
    assert access(key_vault("rbac"), assignment(writer, VAULT_ID), roles=(writer,)) == {}


# --- how grants_on chooses -----------------------------------------------------------------------------------

EVERYTHING = role("Everything", {"actions": ["*"]})


def test_a_direct_grant_is_preferred_over_an_escalation() -> None:
    got = access(zone("public"), assignment(EVERYTHING, RG), roles=(EVERYTHING,))
    assert got[Capability.DNS_WRITE].escalation is None and got[Capability.DNS_ADMIN].escalation is None
    # Owner-like on an access-policy vault: secret.write directly (control-plane secrets/write), secret.read only
    # by escalation
    kv = access(key_vault("access-policy"), assignment(EVERYTHING, RG), roles=(EVERYTHING,))
    assert kv[Capability.SECRET_WRITE].escalation is None
    assert kv[Capability.SECRET_READ].escalation in ("vault-access-policy", "role-assignment")


def test_an_unconditional_escalation_beats_a_conditional_direct_grant() -> None:
    cond = role("Conditional writer", {"actions": ["Microsoft.Network/dnszones/A/write"], "condition": "x",
                                       "conditionVersion": "2.0"})
    assigner = holding("Microsoft.Authorization/roleAssignments/write", data=False)
    got = access(zone("public"), assignment(cond, RG, name="a1"), assignment(assigner, RG, name="a2"),
                 roles=(cond, assigner))
    assert got[Capability.DNS_WRITE].decision.result is Tri.YES
    assert got[Capability.DNS_WRITE].escalation == "role-assignment"
    only = access(zone("public"), assignment(cond, RG), roles=(cond,))
    assert only[Capability.DNS_WRITE].decision.result is Tri.MAYBE


def test_a_deny_on_the_capability_also_stops_the_escalation_to_it() -> None:
    dns_deny = deny(ZONE["public"], actions=("Microsoft.Network/dnszones/*",))
    got = access(zone("public"), assignment(EVERYTHING, RG), roles=(EVERYTHING,), denies=(dns_deny,))
    # every DNS operation is denied: assigning itself another role does not get past a deny assignment
    assert Capability.DNS_WRITE not in got and Capability.DNS_ADMIN not in got
    # a deny on some record types leaves the others, directly
    a_deny = deny(ZONE["public"], actions=("Microsoft.Network/dnszones/A/*",))
    got = access(zone("public"), assignment(EVERYTHING, RG), roles=(EVERYTHING,), denies=(a_deny,))
    assert got[Capability.DNS_WRITE].escalation is None
    assert "dnszones/A/" not in got[Capability.DNS_WRITE].operation
    # the escalation alone, with every direct way denied: nothing; with one left open: the escalation
    assigner = holding("Microsoft.Authorization/roleAssignments/write", data=False)
    assert Capability.DNS_WRITE not in access(zone("public"), assignment(assigner, RG), roles=(assigner,),
                                              denies=(dns_deny,))
    assert access(zone("public"), assignment(assigner, RG), roles=(assigner,),
                  denies=(a_deny,))[Capability.DNS_WRITE].escalation == "role-assignment"
    # a conditional deny on every direct way makes the escalation conditional
    maybe = deny(ZONE["public"], actions=("Microsoft.Network/dnszones/*",), condition="@Resource[x] StringEquals 'y'")
    got = access(zone("public"), assignment(assigner, RG), roles=(assigner,), denies=(maybe,))
    assert got[Capability.DNS_WRITE].decision.result is Tri.MAYBE
    # a deny on the escalation operation itself stops it
    ra_deny = deny(RG, actions=("Microsoft.Authorization/*",))
    assert access(zone("public"), assignment(assigner, RG), roles=(assigner,), denies=(ra_deny,)) == {}


def test_an_access_policy_is_not_blocked_by_a_deny_assignment() -> None:
    data_deny = deny(VAULT_ID, data_actions=("*",))
    kv = key_vault("access-policy", policy_entry(secrets=("get",)))
    assert Capability.SECRET_READ in access(kv, denies=(data_deny,))


# --- the file is validated -----------------------------------------------------------------------------------

GOOD = '''
[[capability]]
capability = "failover.write"
resource = "traffic-manager-profile"
operations = ["Microsoft.Network/trafficManagerProfiles/write"]

[[escalation]]
kind = "role-assignment"
resource = "*"
operations = ["Microsoft.Authorization/roleAssignments/write"]
grants = ["*"]
'''


def test_a_minimal_table_parses() -> None:
    t = parse_capabilities(GOOD)
    assert [e.capability for e in t.entries] == [Capability.FAILOVER_WRITE] and len(t.escalations) == 1


@pytest.mark.parametrize("edit,key", [
    (lambda s: s.replace('capability = "failover.write"', 'capability = "dns.steer"'), "capability[0].capability"),
    (lambda s: s.replace('resource = "traffic-manager-profile"', 'resource = "vm"'), "capability[0].resource"),
    (lambda s: s.replace('resource = "traffic-manager-profile"', 'resource = "dns-zone"'), "capability[0].zone_types"),
    (lambda s: s.replace('resource = "traffic-manager-profile"', 'resource = "key-vault"'),
     "capability[0].vault_models"),
    (lambda s: s.replace('resource = "traffic-manager-profile"',
                         'resource = "traffic-manager-profile"\nzone_types = ["public"]'), "capability[0].zone_types"),
    (lambda s: s.replace('resource = "traffic-manager-profile"',
                         'resource = "traffic-manager-profile"\nrecord_types = ["A"]'), "capability[0].record_types"),
    (lambda s: s.replace('resource = "traffic-manager-profile"',
                         'resource = "traffic-manager-profile"\nvault_models = ["rbac"]'),
     "capability[0].vault_models"),
    (lambda s: s.replace('trafficManagerProfiles/write"]', 'trafficManagerProfiles/*"]'), "capability[0].operations"),
    (lambda s: s.replace('trafficManagerProfiles/write"]', '{record_type}/write"]'), "capability[0].operations"),
    (lambda s: s.replace('operations = ["Microsoft.Network',
                         'data_operations = ["x/y"]\noperations = ["Microsoft.Network'), "capability[0]"),
    (lambda s: s.replace('resource = "traffic-manager-profile"', 'resource = "traffic-manager-profile"\nwhy = "x"'),
     "capability[0]"),
    (lambda s: s.replace('kind = "role-assignment"', 'kind = "sudo"'), "escalation[0].kind"),
    (lambda s: s.replace('grants = ["*"]', 'grants = ["root"]'), "escalation[0].grants[0]"),
    (lambda s: s.replace('resource = "*"', 'resource = "*"\nat = "tenant"'), "escalation[0].at"),
    (lambda s: s.replace('resource = "*"', 'resource = "*"\nvault_models = ["rbac"]'), "escalation[0].vault_models"),
    (lambda s: s + '\n[[route]]\npath = "x"\n', "route"),
    (lambda s: s.split("[[escalation]]")[0], "escalation"),
])
def test_a_malformed_table_is_refused_naming_the_key(edit: Any, key: str) -> None:
    with pytest.raises(CapabilityTableError) as err:
        parse_capabilities(edit(GOOD), "capabilities.toml")
    assert str(err.value).startswith(f"capabilities.toml: {key}"), str(err.value)


def test_an_access_policy_entry_must_be_for_access_policy_vaults_only() -> None:
    text = '''
[[capability]]
capability = "secret.read"
resource = "key-vault"
vault_models = ["rbac"]
access_policy = { kind = "secrets", permissions = ["get"] }
''' + "[[escalation]]" + GOOD.split("[[escalation]]", 1)[1]
    with pytest.raises(CapabilityTableError, match=r"capability\[0\]\.access_policy"):
        parse_capabilities(text)
    assert parse_capabilities(text.replace('["rbac"]', '["access-policy"]')).entries[0].plane == "access-policy"


def test_a_resource_must_say_what_its_kind_needs() -> None:
    with pytest.raises(ValueError, match="zone type"):
        Resource(id=ZONE["public"], kind="dns-zone")
    with pytest.raises(ValueError, match="record type"):
        Resource(id=ZONE["public"], kind="dns-record-set", zone_type="public")
    with pytest.raises(ValueError, match="vault"):
        Resource(id=VAULT_ID, kind="key-vault")
    with pytest.raises(ValueError, match="kind"):
        Resource(id=VAULT_ID, kind="vault")


def test_a_zone_is_asked_every_record_type_at_its_own_scope() -> None:
    # an assignment on the zone that allows only TXT writes is dns.write on the zone …
    txt = holding("Microsoft.Network/dnszones/TXT/write", data=False)
    assert Capability.DNS_WRITE in access(zone("public"), assignment(txt, ZONE["public"]), roles=(txt,))
    # … but one on a single record set is not dns.write on the zone, only on that record set
    one = f"{ZONE['public']}/TXT/_acme-challenge"
    assert access(zone("public"), assignment(txt, one), roles=(txt,)) == {}
    assert Capability.DNS_WRITE in access(record_set("public", "TXT"), assignment(txt, ZONE["public"]), roles=(txt,))
    assert Capability.DNS_WRITE not in access(record_set("public", "A"), assignment(txt, ZONE["public"]), roles=(txt,))


def test_the_shipped_table_covers_the_issue_15_list() -> None:
    ops = {op.lower() for e in TABLE.entries for op in e.operations} | \
        {op.lower() for x in TABLE.escalations for op in x.operations}
    for op in ("Microsoft.Network/dnszones/{record_type}/write",
               "Microsoft.Network/privateDnsZones/{record_type}/write",
               "Microsoft.Network/dnszones/dnssecConfigs/default/write",
               "Microsoft.Network/trafficManagerProfiles/write", "Microsoft.Cdn/profiles/originGroups/origins/write",
               "Microsoft.KeyVault/vaults/secrets/getSecret/action",
               "Microsoft.KeyVault/vaults/secrets/setSecret/action",
               "Microsoft.KeyVault/vaults/certificates/create/action", "Microsoft.Authorization/roleAssignments/write",
               "Microsoft.Authorization/roleDefinitions/write", "Microsoft.Authorization/elevateAccess/action",
               "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
               "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
               "Microsoft.KeyVault/vaults/write", "Microsoft.KeyVault/vaults/accessPolicies/write", "get", "set"):
        assert op.lower() in ops, op
    assert {x.kind for x in TABLE.escalations} == {"role-assignment", "role-definition", "elevate-access",
                                                   "federated-credential", "assign-identity", "vault-access-policy"}
