"""capabilities.toml: which Azure operations give which commonmode capability on which kind of resource, and
which operations are escalations of which kind. Data, validated on load (importlib.resources, never the
working directory); `grants_on` evaluates it for one resource and one identity with policy.py, so the build only
loops over identities × resources."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from commonmode.kit import Decision, Tri
from commonmode.kit.tables import Table, TableError, read_table
from commonmode.model import Capability
from commonmode_azure.policy import (
    PERMISSION_KINDS,
    ROOT,
    DenyAssignment,
    RoleAssignment,
    RoleDefinition,
    Scopes,
    access_policy_allows,
    applicable,
    denied,
    evaluate,
    uses_rbac,
)

CAPABILITIES_FILE: Final = "capabilities.toml"
#: capabilities.toml cannot be read or is malformed (the message names the file and the entry's key).
CapabilityTableError = TableError

ZONE_TYPES: Final = ("public", "private")
VAULT_MODELS: Final = ("rbac", "access-policy")
DNS_KINDS: Final = frozenset({"dns-zone", "dns-record-set"})
#: The resource kinds the table speaks of.
KINDS: Final = frozenset({*DNS_KINDS, "traffic-manager-profile", "frontdoor-profile", "key-vault",
                          "user-assigned-identity"})
#: Escalation kinds, and what each lets its holder do (the last step of `via`).
ESCALATION_KINDS: Final[Mapping[str, str]] = {
    "role-assignment": "it can assign itself any role here",
    "role-definition": "it can widen the permissions of custom roles assigned here",
    "elevate-access": "it can make itself User Access Administrator at the tenant root",
    "federated-credential": "it can make an external OIDC identity it controls trusted to act as this identity",
    "assign-identity": "it can attach this identity to compute it runs code on",
    "vault-access-policy": "it can give itself access in the vault's access policies",
}
Plane = Literal["control", "data", "access-policy"]

_CAPABILITY_KEYS = frozenset({"capability", "resource", "zone_types", "record_types", "vault_models", "operations",
                              "data_operations", "access_policy", "note"})
_ESCALATION_KEYS = frozenset({"kind", "resource", "at", "operations", "grants", "vault_models", "note"})
_RECORD_TYPE = "{record_type}"


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One [[capability]] entry: a way to get `capability` on resources of kind `resource`."""

    capability: Capability
    resource: str
    plane: Plane
    operations: tuple[str, ...]  # actions (control/data), or access-policy permissions of `permission_kind`
    permission_kind: str = ""  # access-policy entries: "secrets", "certificates", "keys"
    zone_types: frozenset[str] = frozenset()
    record_types: tuple[str, ...] = ()
    vault_models: frozenset[str] = frozenset()
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Escalation:
    """One [[escalation]] entry: operations of one `kind` that lead to `grants` on resources of `resource`
    ("*": every kind); `grants` ("*",) means every capability the resource's kind can give."""

    kind: str
    resource: str
    operations: tuple[str, ...]
    grants: tuple[str, ...]
    at_root: bool = False
    vault_models: frozenset[str] = frozenset()
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Resource:
    """What the table needs to know of one resource. `id`: the ARM id to evaluate at (a zone, a record set, a
    vault or one of its secrets …). `vault`: for key-vault, the vault's ARM object or its properties (its
    authorization model and access policies)."""

    id: str
    kind: str
    zone_type: str | None = None  # DNS kinds: "public" / "private"
    record_type: str | None = None  # dns-record-set: "A", "CNAME", …
    vault: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"resource {self.id}: kind {self.kind!r}: expected one of {sorted(KINDS)}")
        if (self.kind in DNS_KINDS) != (self.zone_type is not None) or \
                (self.zone_type is not None and self.zone_type not in ZONE_TYPES):
            raise ValueError(f"resource {self.id}: a zone type ({', '.join(ZONE_TYPES)}) on DNS kinds and only there")
        if (self.kind == "dns-record-set") != (self.record_type is not None):
            raise ValueError(f"resource {self.id}: a record type on dns-record-set and only there")
        if (self.kind == "key-vault") != (self.vault is not None):
            raise ValueError(f"resource {self.id}: the vault's properties on key-vault and only there")

    @property
    def vault_model(self) -> str | None:
        """"rbac" or "access-policy" for a key vault, else None."""
        return None if self.vault is None else ("rbac" if uses_rbac(self.vault) else "access-policy")


@dataclass(frozen=True, kw_only=True)
class Check:
    """One question to ask for a resource: does the identity hold `operation` (`plane`: a control-plane
    action, a data action, or an access-policy permission of `permission_kind`)? If so it has `capabilities`
    (one, or several through an escalation of kind `escalation`), conditionally when there is a `note`."""

    capabilities: tuple[Capability, ...]
    plane: Plane
    operation: str
    permission_kind: str = ""
    escalation: str | None = None
    at_root: bool = False
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Access:
    """What an identity can do to a resource: `capability`, decided by `decision` (its `via` the chain), directly
    or through an escalation of kind `escalation`."""

    capability: Capability
    decision: Decision
    operation: str
    escalation: str | None = None


@dataclass(frozen=True)
class CapabilityTable:
    """capabilities.toml, parsed and validated."""

    entries: tuple[Entry, ...]
    escalations: tuple[Escalation, ...]
    _memo: dict[tuple[str | None, ...], list[Check]] = field(default_factory=dict, repr=False, compare=False)

    def _entries_for(self, r: Resource, *, any_model: bool = False) -> list[tuple[Entry, tuple[str, ...]]]:
        """The entries that apply to `r`, each with its operations for it (record types filled in)."""
        out = []
        for e in self.entries:
            if r.zone_type is not None and r.zone_type not in e.zone_types:
                continue
            if not any_model and e.vault_models and r.vault_model not in e.vault_models:
                continue
            if e.resource == r.kind and e.resource != "dns-record-set":
                out.append((e, e.operations))
            elif e.resource == "dns-record-set" and r.kind in DNS_KINDS:
                # a record set: its own type; a zone: every record type, at the zone's scope
                types = e.record_types if r.kind == "dns-zone" else \
                    tuple(t for t in e.record_types if t.upper() == (r.record_type or "").upper())
                ops = tuple(dict.fromkeys(op.replace(_RECORD_TYPE, t) for t in types for op in e.operations))
                if ops:
                    out.append((e, ops))
        return out

    def _escalations_for(self, r: Resource, *, any_model: bool = False) -> list[Escalation]:
        return [x for x in self.escalations if x.resource in ("*", r.kind)
                and (any_model or not x.vault_models or r.vault_model in x.vault_models)]

    def capabilities_of(self, r: Resource) -> tuple[Capability, ...]:
        """Every capability the resource's kind (zone and record type) can give, whatever its vault model: what
        an escalation with grants "*" leads to."""
        caps = {e.capability for e, _ in self._entries_for(r, any_model=True)}
        caps |= {Capability(g) for x in self._escalations_for(r, any_model=True) for g in x.grants if g != "*"}
        return tuple(c for c in Capability if c in caps)

    def checks(self, r: Resource) -> list[Check]:
        """Every check that applies to `r`, direct ones first, in the file's order (the same list for every
        resource of the same kind, zone type, record type and vault model)."""
        key = (r.kind, r.zone_type, (r.record_type or "").upper(), r.vault_model)
        if key not in self._memo:
            self._memo[key] = self._checks(r)
        return self._memo[key]

    def _checks(self, r: Resource) -> list[Check]:
        out = [Check(capabilities=(e.capability,), plane=e.plane, operation=op, permission_kind=e.permission_kind,
                     note=e.note)
               for e, ops in self._entries_for(r) for op in ops]
        for x in self._escalations_for(r):
            caps = self.capabilities_of(r) if "*" in x.grants else tuple(Capability(g) for g in x.grants)
            out += [Check(capabilities=caps, plane="control", operation=op, escalation=x.kind, at_root=x.at_root,
                          note=x.note) for op in x.operations]
        return out


def _rank(a: Access) -> tuple[int, int]:
    return int(a.decision.result), int(a.escalation is None)


def grants_on(resource: Resource, principals: Collection[str], *, table: CapabilityTable,
              assignments: Iterable[RoleAssignment], roles: Mapping[str, RoleDefinition],
              denies: Iterable[DenyAssignment], scopes: Scopes) -> list[Access]:
    """What one identity (`principals`: its object id and every group it is a member of, nested ones included)
    can do to `resource`: one Access per capability it holds, the strongest way (YES before MAYBE, direct
    before escalation), in the order of Capability. Role definitions by `policy.role_key` (`index_roles`).

    An escalation that makes the identity itself more powerful here (a role it assigns itself, an access
    policy it writes) still meets the deny assignments that block it: it gives a capability only if one of
    that capability's operations is not denied to it (an access policy never is: deny assignments are RBAC's)."""
    mine = list(applicable(principals, resource.id, assignments, scopes))
    above = set(scopes.ancestors(resource.id))
    near = [d for d in denies if d.at in above]
    checks = table.checks(resource)
    direct: dict[Capability, list[Check]] = {}
    for c in checks:
        if c.escalation is None:
            direct.setdefault(c.capabilities[0], []).append(c)
    blocks: dict[Capability, Decision] = {}
    best: dict[Capability, Access] = {}
    for check in checks:
        decision = _decide(check, resource, principals, mine, roles, near, scopes)
        if not decision.granted:
            continue
        for cap in check.capabilities:
            got = decision
            if check.escalation is not None:
                if cap not in blocks:
                    blocks[cap] = _blocked(direct.get(cap, []), resource, principals, near, scopes)
                block = blocks[cap]
                if block.result is Tri.YES:
                    continue
                if block.result is Tri.MAYBE:
                    got = Decision(Tri.MAYBE, (*decision.via, *block.via))
            access = Access(capability=cap, decision=got, operation=check.operation, escalation=check.escalation)
            if cap not in best or _rank(access) > _rank(best[cap]):
                best[cap] = access
    return [best[c] for c in Capability if c in best]


def _blocked(checks: list[Check], resource: Resource, principals: Collection[str], denies: list[DenyAssignment],
             scopes: Scopes) -> Decision:
    """Whether deny assignments block every direct way to a capability: YES, MAYBE, or NO (some way is open)."""
    found: list[Decision] = []
    for c in checks:
        if c.plane == "access-policy":
            return Decision(Tri.NO, ())
        d = denied(principals, c.operation, ROOT if c.at_root else resource.id, data=c.plane == "data",
                   denies=denies, scopes=scopes)
        if d.result is Tri.NO:
            return d
        found.append(d)
    if not found:
        return Decision(Tri.NO, ())
    if all(d.result is Tri.YES for d in found):
        return found[0]
    return Decision(Tri.MAYBE, tuple(dict.fromkeys(s for d in found for s in d.via)))


def _decide(check: Check, resource: Resource, principals: Collection[str], assignments: list[RoleAssignment],
            roles: Mapping[str, RoleDefinition], denies: list[DenyAssignment], scopes: Scopes) -> Decision:
    if check.plane == "access-policy":
        # Access policies are Key Vault's own data-plane authorization; deny assignments are Azure RBAC's.
        assert resource.vault is not None
        d = access_policy_allows(resource.vault, principals, check.permission_kind, check.operation)
    else:
        d = evaluate(principals, check.operation, ROOT if check.at_root else resource.id,
                     data=check.plane == "data", assignments=assignments, roles=roles, denies=denies, scopes=scopes)
        if d.granted:
            d = Decision(d.result, (*d.via, f"which allows {check.operation}"))
    if not d.granted:
        return d
    via = d.via
    if check.escalation is not None:
        via = (*via, f"escalation ({check.escalation}): {ESCALATION_KINDS[check.escalation]}")
    if check.note:
        return Decision(min(d.result, Tri.MAYBE), (*via, check.note))
    return Decision(d.result, via)


# --- the file ------------------------------------------------------------------------------------------------

def load_capabilities() -> CapabilityTable:
    """Read capabilities.toml from the package."""
    return parse_capabilities(read_table("commonmode_azure", CAPABILITIES_FILE))


def _operation_list(t: Table, value: Any, key: str) -> tuple[str, ...]:
    ops = t.strings(value, key)
    for op in ops:
        if "*" in op or "/" not in op or op.startswith("/"):
            raise t.fail(key, f"expected operations (Provider/type/…/verb, no wildcards), got {op!r}")
    return ops


def _choice(t: Table, value: Any, key: str, allowed: tuple[str, ...]) -> frozenset[str]:
    got = t.strings(value, key)
    if not set(got) <= set(allowed) or len(set(got)) != len(got):
        raise t.fail(key, f"expected distinct values from {', '.join(allowed)}, got {list(got)}")
    return frozenset(got)


def _note(t: Table, e: Mapping[str, Any], key: str) -> str:
    note = e.get("note", "")
    if not isinstance(note, str):
        raise t.fail(f"{key}.note", "expected a string")
    return note


def _parse_entry(t: Table, e: dict[str, Any], key: str) -> Entry:
    t.known_keys(e, key, _CAPABILITY_KEYS)
    cap = t.capability(e.get("capability"), f"{key}.capability")
    resource = e.get("resource")
    if resource not in KINDS:
        raise t.fail(f"{key}.resource", f"expected one of {', '.join(sorted(KINDS))}")
    zones = frozenset[str]()
    if resource in DNS_KINDS:
        if "zone_types" not in e:
            raise t.fail(f"{key}.zone_types", "missing: say which zones it acts on (public, private)")
        zones = _choice(t, e["zone_types"], f"{key}.zone_types", ZONE_TYPES)
    elif "zone_types" in e:
        raise t.fail(f"{key}.zone_types", "only DNS entries have one")
    types: tuple[str, ...] = ()
    if resource == "dns-record-set":
        types = t.strings(e.get("record_types"), f"{key}.record_types")
    elif "record_types" in e:
        raise t.fail(f"{key}.record_types", "only dns-record-set entries have one")
    models = frozenset[str]()
    if resource == "key-vault":
        if "vault_models" not in e:
            raise t.fail(f"{key}.vault_models", "missing: say which vaults it applies to (rbac, access-policy)")
        models = _choice(t, e["vault_models"], f"{key}.vault_models", VAULT_MODELS)
    elif "vault_models" in e:
        raise t.fail(f"{key}.vault_models", "only key-vault entries have one")
    ways = [k for k in ("operations", "data_operations", "access_policy") if k in e]
    if len(ways) != 1:
        raise t.fail(key, "expected exactly one of operations, data_operations, access_policy")
    kind = ""
    plane: Plane
    if ways == ["access_policy"]:
        if models != {"access-policy"}:
            raise t.fail(f"{key}.access_policy", 'only on vault_models = ["access-policy"]')
        ap = e["access_policy"]
        if not isinstance(ap, dict) or set(ap) != {"kind", "permissions"} or ap["kind"] not in PERMISSION_KINDS:
            raise t.fail(f"{key}.access_policy",
                         f"expected {{ kind = one of {', '.join(sorted(PERMISSION_KINDS))}, permissions = [...] }}")
        kind, plane, ops = ap["kind"], "access-policy", t.strings(ap["permissions"], f"{key}.access_policy.permissions")
    else:
        plane = "control" if ways == ["operations"] else "data"
        ops = _operation_list(t, e[ways[0]], f"{key}.{ways[0]}")
    if any(_RECORD_TYPE in op for op in ops) and not types:
        raise t.fail(f"{key}.{ways[0]}", f"{_RECORD_TYPE} needs record_types")
    return Entry(capability=cap, resource=resource, plane=plane, operations=ops, permission_kind=kind,
                 zone_types=zones, record_types=types, vault_models=models, note=_note(t, e, key))


def _parse_escalation(t: Table, e: dict[str, Any], key: str) -> Escalation:
    t.known_keys(e, key, _ESCALATION_KEYS)
    kind = e.get("kind")
    if not isinstance(kind, str) or kind not in ESCALATION_KINDS:
        raise t.fail(f"{key}.kind", f"expected one of {', '.join(ESCALATION_KINDS)}")
    resource = e.get("resource")
    if resource != "*" and resource not in KINDS:
        raise t.fail(f"{key}.resource", f"expected \"*\" or one of {', '.join(sorted(KINDS))}")
    at = e.get("at", "resource")
    if at not in ("resource", "root"):
        raise t.fail(f"{key}.at", 'expected "resource" or "root"')
    grants = t.strings(e.get("grants"), f"{key}.grants")
    if grants != ("*",):
        for i, g in enumerate(grants):
            t.capability(g, f"{key}.grants[{i}]")
    models = frozenset[str]()
    if "vault_models" in e:
        if resource != "key-vault":
            raise t.fail(f"{key}.vault_models", "only key-vault entries have one")
        models = _choice(t, e["vault_models"], f"{key}.vault_models", VAULT_MODELS)
    return Escalation(kind=kind, resource=resource, operations=_operation_list(t, e.get("operations"),
                                                                               f"{key}.operations"),
                      grants=grants, at_root=at == "root", vault_models=models, note=_note(t, e, key))


def parse_capabilities(text: str, where: str = CAPABILITIES_FILE) -> CapabilityTable:
    """The table in `text`: known capabilities, kinds, zone types, vault models, escalation kinds; concrete
    operation strings; no unknown keys (errors name the file and the entry's key)."""
    t = Table.parse(text, where)
    if not set(t.data) <= {"capability", "escalation"}:
        raise t.fail(", ".join(sorted(set(t.data) - {"capability", "escalation"})),
                     "expected only [[capability]] and [[escalation]] tables")
    entries = tuple(_parse_entry(t, e, f"capability[{i}]") for i, e in enumerate(t.tables("capability")))
    escalations = tuple(_parse_escalation(t, e, f"escalation[{i}]") for i, e in enumerate(t.tables("escalation")))
    return CapabilityTable(entries=entries, escalations=escalations)
