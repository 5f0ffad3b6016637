"""capabilities.toml: which GCP IAM permissions give which commonmode capability on which kind of resource, and
which are escalations of which kind. Data, validated on load (importlib.resources, never the working directory);
`grants_on` evaluates it for one identity and one resource with policy.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from commonmode.kit import Decision, Tri
from commonmode.kit.tables import Table, TableError, read_table
from commonmode.model import Capability
from commonmode_gcp.policy import DenyPolicy, Hierarchy, Identity, Policy, Role, denied, evaluate

CAPABILITIES_FILE: Final = "capabilities.toml"
#: capabilities.toml cannot be read or is malformed (the message names the file and the entry's key).
CapabilityTableError = TableError

#: The resource kinds the table speaks of.
KINDS: Final = frozenset({"organization", "folder", "project", "dns-managed-zone", "dns-record-set", "secret",
                          "service-account", "ca-pool", "certificate", "certificate-map", "health-check",
                          "backend-service", "url-map", "forwarding-rule", "target-proxy"})
#: Escalation kinds, and what each lets its holder do (the last step of `via`).
ESCALATION_KINDS: Final[Mapping[str, str]] = {
    "set-iam-policy": "it can grant itself any role here",
    "impersonation": "it can get tokens or signatures as this service account",
    "key-creation": "it can create a key for this service account and sign in as it",
    "act-as": "it can attach this service account to resources it deploys",
    "role-update": "it can widen the permissions of custom roles bound here",
}
At = Literal["resource", "project", "folder", "organization"]
_AT: Final[Mapping[str, str]] = {"project": "projects/", "folder": "folders/", "organization": "organizations/"}
_KEYS = frozenset({"capability", "resources", "all_of", "any_of", "at", "escalation", "source", "note"})


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One [[capability]] entry: holding all of `all_of` and one of `any_of` (checked `at`) gives `capability` on
    resources of the kinds in `resources` ("*": every kind)."""

    capability: Capability
    resources: frozenset[str]
    any_of: tuple[str, ...]
    all_of: tuple[str, ...] = ()
    at: At = "resource"
    escalation: str | None = None
    source: str
    note: str = ""

    def applies_to(self, kind: str) -> bool:
        """Whether the entry speaks of resources of `kind`."""
        return "*" in self.resources or kind in self.resources


@dataclass(frozen=True, kw_only=True)
class Resource:
    """What the table needs of one resource: its name (a full resource name, or `projects/P`, `folders/N`,
    `organizations/N`) and its kind (one of KINDS)."""

    name: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"resource {self.name}: kind {self.kind!r}: expected one of {sorted(KINDS)}")


@dataclass(frozen=True, kw_only=True)
class Access:
    """What an identity can do to a resource: `capability`, decided by `decision` (its `via` the chain), through
    `entry` (an escalation when `entry.escalation` is set)."""

    capability: Capability
    decision: Decision
    entry: Entry


@dataclass(frozen=True)
class CapabilityTable:
    """capabilities.toml, parsed and validated."""

    entries: tuple[Entry, ...]

    def for_kind(self, kind: str) -> list[Entry]:
        """The entries that apply to resources of `kind`, in the file's order."""
        return [e for e in self.entries if e.applies_to(kind)]

    def permissions(self) -> frozenset[str]:
        """Every permission the table names."""
        return frozenset(p for e in self.entries for p in (*e.all_of, *e.any_of))


@dataclass(frozen=True, kw_only=True)
class Estate:
    """The IAM documents an evaluation reads (policy.evaluate's keyword arguments)."""

    policies_by_resource: Mapping[str, Policy]
    roles: Mapping[str, Role]
    deny_policies: tuple[DenyPolicy, ...] = ()
    hierarchy: Hierarchy = field(default_factory=Hierarchy)


def _targets(entry: Entry, resource: Resource, hierarchy: Hierarchy) -> list[str]:
    if entry.at == "resource":
        return [resource.name]
    prefix = _AT[entry.at]
    found = [a for a in hierarchy.ancestors(resource.name) if a.startswith(prefix)]
    return found[:1] if entry.at == "project" else found


def _at_best(ident: Identity, permission: str, targets: list[str], estate: Estate) -> Decision:
    best = Decision(Tri.NO, ())
    for t in targets:
        d = evaluate(ident, permission, t, policies_by_resource=estate.policies_by_resource, roles=estate.roles,
                     deny_policies=estate.deny_policies, hierarchy=estate.hierarchy)
        if d.result > best.result:
            best = Decision(d.result, (*d.via, f"which allows {permission}"))
            if d.result is Tri.YES:
                break
    return best


def entry_decision(entry: Entry, ident: Identity, resource: Resource, estate: Estate) -> Decision:
    """Whether `ident` gets `entry.capability` on `resource` through this entry: every `all_of` and the best of
    `any_of`, each evaluated where the entry says (YES / MAYBE / NO, `via` the chain)."""
    targets = _targets(entry, resource, estate.hierarchy)
    via: list[str] = []
    result = Tri.YES
    for p in entry.all_of:
        d = _at_best(ident, p, targets, estate)
        if not d.granted:
            return Decision(Tri.NO, ())
        result, via = min(result, d.result), [*via, *d.via]
    best = Decision(Tri.NO, ())
    for p in entry.any_of:
        d = _at_best(ident, p, targets, estate)
        if d.result > best.result:
            best = d
            if d.result is Tri.YES:
                break
    if not best.granted:
        return Decision(Tri.NO, ())
    result, via = min(result, best.result), [*via, *best.via]
    if entry.escalation is not None:
        via.append(f"escalation ({entry.escalation}): {ESCALATION_KINDS[entry.escalation]}")
    if entry.note:
        result, via = min(result, Tri.MAYBE), [*via, entry.note]
    return Decision(result, tuple(dict.fromkeys(via)))


def _rank(a: Access) -> tuple[int, int]:
    return int(a.decision.result), int(a.entry.escalation is None)


def grants_on(ident: Identity, resource: Resource, *, table: CapabilityTable, estate: Estate) -> list[Access]:
    """What `ident` can do to `resource`: one Access per capability it holds, the strongest way (YES before MAYBE,
    direct before escalation), in the order of Capability."""
    best: dict[Capability, Access] = {}
    for entry in table.for_kind(resource.kind):
        d = entry_decision(entry, ident, resource, estate)
        if not d.granted:
            continue
        a = Access(capability=entry.capability, decision=d, entry=entry)
        if entry.capability not in best or _rank(a) > _rank(best[entry.capability]):
            best[entry.capability] = a
    return [best[c] for c in Capability if c in best]


def role_capabilities(role: Role, kind: str, *, table: CapabilityTable) -> dict[Capability, Tri]:
    """The capabilities a role gives on a resource of `kind` when bound there with no condition and no deny: the
    table applied to the role's permission list alone (what DOMAIN.md's role table shows); MAYBE where the only
    entry that gives it has a note."""
    have = role.permissions
    out: dict[Capability, Tri] = {}
    for e in table.for_kind(kind):
        if set(e.all_of) <= have and any(p in have for p in e.any_of):
            out[e.capability] = max(out.get(e.capability, Tri.NO), Tri.MAYBE if e.note else Tri.YES)
    return out


# --- the file ------------------------------------------------------------------------------------------------

def load_capabilities() -> CapabilityTable:
    """Read capabilities.toml from the package."""
    return parse_capabilities(read_table("commonmode_gcp", CAPABILITIES_FILE))


def _permissions(t: Table, value: Any, key: str) -> tuple[str, ...]:
    perms = t.strings(value, key)
    for p in perms:
        parts = p.split(".")
        if len(parts) != 3 or not all(parts) or "*" in p:
            raise t.fail(key, f"expected permissions (service.resource.verb, no wildcards), got {p!r}")
    return perms


def _parse_entry(t: Table, e: dict[str, Any], key: str) -> Entry:
    t.known_keys(e, key, _KEYS)
    cap = t.capability(e.get("capability"), f"{key}.capability")
    resources = t.strings(e.get("resources"), f"{key}.resources")
    if not set(resources) <= KINDS | {"*"}:
        raise t.fail(f"{key}.resources", f'expected "*" or kinds from {", ".join(sorted(KINDS))}')
    at = e.get("at", "resource")
    if at not in ("resource", *_AT):
        raise t.fail(f"{key}.at", 'expected "resource", "project", "folder" or "organization"')
    escalation = e.get("escalation")
    if escalation is not None and escalation not in ESCALATION_KINDS:
        raise t.fail(f"{key}.escalation", f"expected one of {', '.join(ESCALATION_KINDS)}")
    if (escalation is not None) != (cap is Capability.IDENTITY_ASSUME):
        raise t.fail(f"{key}.escalation", "identity.assume entries, and only they, say their escalation kind")
    source = e.get("source")
    if not isinstance(source, str) or not source.startswith("https://"):
        raise t.fail(f"{key}.source", "expected the documentation page (https://…) the entry comes from")
    note = e.get("note", "")
    if not isinstance(note, str):
        raise t.fail(f"{key}.note", "expected a string")
    all_of = _permissions(t, e["all_of"], f"{key}.all_of") if "all_of" in e else ()
    return Entry(capability=cap, resources=frozenset(resources), any_of=_permissions(t, e.get("any_of"),
                                                                                        f"{key}.any_of"),
                 all_of=all_of, at=at, escalation=escalation, source=source, note=note)


def parse_capabilities(text: str, where: str = CAPABILITIES_FILE) -> CapabilityTable:
    """The table in `text`: known capabilities, kinds, escalation kinds, concrete permissions, a source on every
    entry, no unknown keys (errors name the file and the entry's key)."""
    t = Table.parse(text, where)
    if set(t.data) != {"capability"}:
        raise t.fail(", ".join(sorted(set(t.data) - {"capability"})) or "capability",
                     "expected only [[capability]] tables")
    return CapabilityTable(tuple(_parse_entry(t, e, f"capability[{i}]") for i, e in enumerate(t.tables("capability"))))


def kinds_of(entries: Iterable[Entry]) -> frozenset[str]:
    """Every kind the entries name ("*" expanded to all KINDS)."""
    return frozenset(k for e in entries for k in (KINDS if "*" in e.resources else e.resources))


# --- escalations that widen the holder's own access --------------------------------------------------------------

#: Escalations after which the holder can give itself any role on the resource: setIamPolicy on it or above it,
#: widening a custom role bound to it. (Impersonation, key creation and actAs lead to another identity instead:
#: they are identity.assume edges into that service account.)
WIDENING: Final = frozenset({"set-iam-policy", "role-update"})


def _deny_allows(ident: Identity, entry: Entry, resource: Resource, estate: Estate) -> Decision:
    """Whether deny policies leave `entry` usable by `ident` on `resource` (allow policies aside): none of its
    all_of denied and one of its any_of not denied. YES, MAYBE (a conditional deny) or NO."""
    def deny(p: str) -> Decision:
        return denied(ident, p, resource.name, deny_policies=estate.deny_policies, hierarchy=estate.hierarchy)

    via: list[str] = []
    result = Tri.YES
    for p in entry.all_of:
        d = deny(p)
        result = min(result, ~d.result)
        via += list(d.via)
    free = [(~d.result, d.via) for d in map(deny, entry.any_of)]
    best = max((t for t, _ in free), default=Tri.NO)
    via += [v for t, vs in free if t < Tri.YES for v in vs]
    return Decision(min(result, best), tuple(via))


def escalation_grants(ident: Identity, resource: Resource, access: Access, *, table: CapabilityTable,
                      estate: Estate) -> list[Access]:
    """What a widening escalation (WIDENING) on `resource` leads to: every other capability the table gives on
    its kind, as sure as the escalation, and still subject to deny policies (IAM checks deny first, whatever
    roles the holder grants itself: "Deny policies"). Nothing for a service account (the escalation is the
    identity.assume edge itself) or any other escalation kind."""
    if access.entry.escalation not in WIDENING or resource.kind == "service-account":
        return []
    out: dict[Capability, Access] = {}
    for entry in table.for_kind(resource.kind):
        if entry.escalation is not None or entry.capability in out:
            continue
        free = _deny_allows(ident, entry, resource, estate)
        result = min(access.decision.result, free.result)
        if result is Tri.NO:
            continue
        out[entry.capability] = Access(capability=entry.capability, entry=access.entry,
                                       decision=Decision(result, (*access.decision.via, *free.via)))
    return [out[c] for c in Capability if c in out]
