"""Grants: which identity can do what to which resource. Azure RBAC (role assignments at every scope above the
resource, deny assignments, conditions), Key Vault access policies and escalation (writing role assignments,
role definitions, access policies or a managed identity's federated credentials) are decided by
capabilities.grants_on with policy.py; this module gathers the inputs once and loops identities × resources."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from commonmode.connector import InventoryParts
from commonmode.kit import PolicyError
from commonmode.model import Capability, Grant, Identity
from commonmode_azure import capabilities as caps
from commonmode_azure import policy as P
from commonmode_azure.identities import Principals
from commonmode_azure.resources import Built, Target
from commonmode_azure.snapshot import Json, Snapshot

T = TypeVar("T")

#: The table's resource kind and zone type for each of resources.py's target kinds.
_KINDS: dict[str, tuple[str, str | None]] = {
    "dns-zone": ("dns-zone", "public"), "dns-record": ("dns-record-set", "public"),
    "private-dns-zone": ("dns-zone", "private"), "private-dns-record": ("dns-record-set", "private"),
    "traffic-manager": ("traffic-manager-profile", None), "traffic-manager-endpoint": ("traffic-manager-profile", None),
    "front-door-origin-group": ("frontdoor-profile", None), "front-door-origin": ("frontdoor-profile", None),
    "key-vault-secret": ("key-vault", None), "key-vault-certificate": ("key-vault", None),
}


@dataclass
class Authz:
    """Everything RBAC needs, indexed once: role definitions by key, assignments by principal, deny
    assignments and the scope tree."""

    roles: dict[str, P.RoleDefinition]
    by_principal: dict[str, list[P.RoleAssignment]]
    denies: list[P.DenyAssignment]
    scopes: P.Scopes


def _parsed(kind: str, obj: Json, parse: Callable[[Json], T], gaps: list[str]) -> T | None:
    try:
        return parse(obj)
    except PolicyError as exc:
        gaps.append(f"{kind} {obj.get('id')}: {exc}: ignored, so what it decides is missing")
        return None


def authz(snap: Snapshot, gaps: list[str]) -> Authz:
    """Role definitions, role and deny assignments of every subscription (each once), and the scope tree."""
    roles: list[P.RoleDefinition] = []
    assignments: dict[str, P.RoleAssignment] = {}
    denies: dict[str, P.DenyAssignment] = {}
    above: dict[str, set[str]] = defaultdict(set)  # subscription scope -> management group scopes seen in it
    for sub in snap.subscriptions:
        roles += [r for obj in sub.role_definitions
                  if (r := _parsed("role definition", obj, P.RoleDefinition.from_arm, gaps)) is not None]
        seen: list[P.RoleAssignment | P.DenyAssignment] = []
        for obj in sub.role_assignments:
            if (a := _parsed("role assignment", obj, P.RoleAssignment.from_arm, gaps)) is not None:
                assignments[a.id.lower()] = a
                seen.append(a)
        for obj in sub.deny_assignments:
            if (d := _parsed("deny assignment", obj, P.DenyAssignment.from_arm, gaps)) is not None:
                denies[d.id.lower()] = d
                seen.append(d)
        above[P.subscription_scope(sub.id)] = {x.scope for x in seen if x.scope.lower().startswith(
            "/providers/microsoft.management/managementgroups/")}
    by_principal: dict[str, list[P.RoleAssignment]] = defaultdict(list)
    for a in assignments.values():
        by_principal[a.principal_id.lower()].append(a)
    parents = {P.management_group_scope(g): P.management_group_scope(p) for g, p in snap.group_parents.items()}
    parents |= {P.subscription_scope(s): P.management_group_scope(g) for s, g in snap.subscription_parents.items()}
    # Without the management group tree, the groups above a subscription are the group scopes its own listings
    # returned (an unfiltered listing returns what applies at, above and below it), chained in name order: all
    # of them enclose it, which is all RBAC needs.
    for key, groups in above.items():
        if key not in parents:
            for child, parent in itertools.pairwise([key, *sorted(groups)]):
                parents.setdefault(child, parent)
    return Authz(roles=P.index_roles(roles), by_principal=by_principal, denies=list(denies.values()),
                 scopes=P.Scopes(parents))


def _table_resource(t: Target) -> caps.Resource:
    kind, zone = _KINDS[t.kind]
    return caps.Resource(id=t.scope, kind=kind, zone_type=zone,
                         record_type=t.record_type if kind == "dns-record-set" else None,
                         vault=t.vault if kind == "key-vault" else None)


def build_grants(snap: Snapshot, principals: Principals, built: Built, out: InventoryParts, connector: str) -> None:
    """Every grant of the run: for each resource (and each user-assigned managed identity, as something one
    can act as), for each identity that holds a role assignment (directly or through a group) or is named in
    a Key Vault access policy, what grants_on decides."""
    table = caps.load_capabilities()
    az = authz(snap, out.gaps)
    emitted = {i.id for i in out.identities}
    members: dict[str, set[str]] = defaultdict(set)  # group id -> identities in it
    for pid, groups in principals.groups.items():
        for g in groups:
            members[g.lower()].add(pid)
    by_lower = {pid.lower(): pid for pid in principals.identities}
    who: set[str] = set()
    for pid in az.by_principal:
        if pid in members:
            who |= members[pid]
        elif by_lower.get(pid) is None or principals.identities[by_lower[pid]].kind != "application":
            who.add(by_lower.get(pid, pid))
    for t in built.targets:
        if t.vault is not None:
            who |= {by_lower.get(str(e.get("objectId")).lower(), str(e.get("objectId")))
                    for e in (t.vault.get("properties") or {}).get("accessPolicies") or [] if e.get("objectId")}
    groups_of = {pid: [pid, *sorted(principals.groups.get(pid, ()))] for pid in who}
    mine = {pid: [a for i in groups_of[pid] for a in az.by_principal.get(i.lower(), ())] for pid in who}

    # what each assignment says its principal is, for a principal Graph did not return as a service principal
    # (a user: the scanner does not list users; or an object since deleted)
    types = {a.principal_id.lower(): a.principal_type for assigned in az.by_principal.values() for a in assigned}

    def identity(pid: str) -> str:
        if pid not in principals.identities:
            kind = {"serviceprincipal": "service-principal", "user": "user"}.get(
                types.get(pid.lower(), "").lower(), types.get(pid.lower(), "").lower() or "service-principal")
            note = ("a user: Microsoft Graph's users are not read" if kind == "user" else
                    "not among Microsoft Graph's service principals (deleted, or Graph not read)")
            principals.identities[pid] = Identity(id=pid, provider="azure", kind=kind, name=pid,
                                                  connector=connector, tags={"note": note})
        if pid not in emitted:
            emitted.add(pid)
            out.identities.append(principals.identities[pid])
        return pid

    def grant(pid: str, resource: caps.Resource, target_id: str, prefix: Iterable[str] = (),
              only: Capability | None = None) -> None:
        try:
            accesses = caps.grants_on(resource, groups_of[pid], table=table, assignments=mine[pid], roles=az.roles,
                                      denies=az.denies, scopes=az.scopes)
        except PolicyError as exc:
            out.gaps.append(f"{pid} on {resource.id}: {exc}: not decided, so grants there may be missing")
            return
        for a in accesses:
            if only is not None and a.capability is not only:
                continue
            if pid == target_id:
                continue  # acting as itself is no edge
            out.grants.append(Grant(identity_id=identity(pid), capability=a.capability, resource_id=target_id,
                                    connector=connector, via=(*prefix, *a.decision.via),
                                    conditional=a.decision.conditional))

    # Only an identity with an assignment at one of a resource's scopes (the resource or above it) can be given
    # anything there by RBAC (deny assignments only take away), and only one named in its vault's access
    # policies by Key Vault's: each resource asks those, not every identity (an index: scope -> identities).
    by_scope: dict[str, set[str]] = defaultdict(set)
    for pid in who:
        for a in mine[pid]:
            by_scope[a.at].add(pid)

    def candidates(scope: str, vault: Json | None = None) -> list[str]:
        found = set().union(*(by_scope.get(s, set()) for s in az.scopes.ancestors(scope)))
        if vault is not None:
            found |= {by_lower.get(str(e.get("objectId")).lower(), str(e.get("objectId")))
                      for e in (vault.get("properties") or {}).get("accessPolicies") or [] if e.get("objectId")}
        return sorted(found & who)

    for t in built.targets:
        resource = _table_resource(t)
        for pid in candidates(t.scope, t.vault):
            grant(pid, resource, t.resource.id)
    # user-assigned managed identities: who can make a workload of theirs act as one (federated credential,
    # assigning it to compute) is an identity.assume edge into its service principal
    for sub in snap.subscriptions:
        for ident in sub.identities:
            target = principals.by_arm_id.get(ident["id"].lower())
            if target is None:
                continue
            resource = caps.Resource(id=ident["id"], kind="user-assigned-identity")
            for pid in candidates(ident["id"]):
                grant(pid, resource, target, (f"on managed identity {ident.get('name')}",),
                      only=Capability.IDENTITY_ASSUME)
