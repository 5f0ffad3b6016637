"""The dependency closure of one path.

Starting from a path's resources, the closure follows, as a worklist over the index (each node once):
- a resource's parents (a record's zone and health check, a secret's store, a certificate's issuer);
- the identities with any grant on those (the path proper) or a `cert.issue` grant on its issuing paths;
- whoever can act as those identities (`identity.assume`, including derived credential-reader edges);
- the credentials of those identities and the secret or store they are kept in. Grants on a credential's
  holder are not followed as such: its readers already arrive as identities that can act as the owner;
- the certificate-issuing paths of the path's names: issuers whose allowed names cover them, and the
  public zones that can validate the path's certificates by DNS; an issuing path in the path itself; and
  the CA each of those issues from (a cert-issuer's cert-issuer parents: a PKI role's issuer), so two roles
  on one CA share that CA;
- every fault-domain label on anything above.

Each member keeps one link to the member that brought it in (a parent pointer and the step's words), so
memory is linear in the members however deep the chains are; `chain()` renders the words for evidence.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from commonmode.correlate.index import Index
from commonmode.model import STEERING, Capability, Grant, ResourceKind

Chain = tuple[str, ...]  # ordered from the path outward
Key = tuple[str, str]  # (table, id)
# A link: (parent key or None, step template, *arguments). Rendered lazily by _render.
Link = tuple[Any, ...]

RESOURCES, IDENTITIES, CREDENTIALS, STORES = "resources", "identities", "credentials", "stores"
CERT_PATHS, DNS, FAULT_DOMAINS, STEERING_T = "cert_paths", "dns", "fault_domains", "steering"


def _via(g: Grant) -> str:
    return " → ".join(g.via)


def _render(link: Link) -> str:
    _, step, *a = link
    if step == "path":
        return f"{a[0]} is in the {a[1]} path"
    if step == "parent":
        return f"{a[0]} depends on {a[1]}"
    if step == "issued":
        return f"{a[0]} is issued by {a[1]}"
    if step == "issuer":
        return f"{a[0]} can issue certificates for {a[1]}"
    if step == "dnsval":
        return f"public zone {a[0]} can validate {a[1]} by DNS"
    if step == "grant":
        g: Grant = a[0]
        cond = " (conditional)" if g.conditional else ""
        return f"{g.identity_id} has {g.capability.value}{cond} on {g.resource_id} ({_via(g)})"
    if step == "assume":
        return f"{a[0].identity_id} can act as {a[0].resource_id} ({_via(a[0])})"
    if step == "cred":
        return f"{a[0]} authenticates with credential {a[1]}"
    if step == "kept":
        return f"{a[0]} is kept in {a[1]}"
    if step == "label":
        return f"{a[0]} is in {a[1]}"
    if step == "plane":
        return f"{a[0]} is managed in {a[1]}"
    raise AssertionError(step)


@dataclass(frozen=True)
class SteeringPath:
    """How one identity can change where a path sends traffic."""

    chain: Chain  # from the identity to the resource it changes
    identities: tuple[str, ...]  # the identity first, then each identity it acts as
    target: str  # the resource changed
    conditional: bool


@dataclass
class Closure:
    """Everything one path depends on. Each table maps a member id to the link that brought it in."""

    side: str  # "primary" or "backup"
    path: tuple[str, ...]
    resources: dict[str, Link] = field(default_factory=dict)
    identities: dict[str, Link] = field(default_factory=dict)
    credentials: dict[str, Link] = field(default_factory=dict)
    stores: dict[str, Link] = field(default_factory=dict)
    cert_paths: dict[str, Link] = field(default_factory=dict)
    dns: dict[str, Link] = field(default_factory=dict)  # zone ids and control-plane labels
    fault_domains: dict[str, Link] = field(default_factory=dict)
    steering: dict[str, Link] = field(default_factory=dict)  # identities that can change DNS/failover state
    missing: list[str] = field(default_factory=list)
    path_proper: set[str] = field(default_factory=set)  # path resources/stores and their transitive parents

    def members(self) -> set[str]:
        """Ids of every entity in the closure."""
        return {*self.resources, *self.identities, *self.credentials, *self.stores}

    def chain(self, table: str, member: str) -> Chain:
        """The words that explain why `member` of `table` is in the closure, from the path outward."""
        steps: list[str] = []
        link: Link | None = getattr(self, table)[member]
        while link is not None:
            steps.append(_render(link))
            parent = link[0]
            link = getattr(self, parent[0])[parent[1]] if parent is not None else None
        return tuple(reversed(steps))

    def steering_path(self, identity: str) -> SteeringPath:
        """How `identity` reaches a DNS/failover capability on this path, identity first."""
        ids: list[str] = []
        steps: list[str] = []
        conditional = False
        link: Link | None = self.steering[identity]
        target = ""
        while link is not None:
            step, arg = link[1], link[2]
            steps.append(_render(link))
            ids.append(arg.identity_id)
            conditional = conditional or arg.conditional
            if step == "grant":
                target = arg.resource_id
            link = self.steering[link[0][1]] if link[0] is not None else None
        return SteeringPath(chain=tuple(steps), identities=tuple(ids), target=target, conditional=conditional)


def compute_closure(index: Index, side: str, path: tuple[str, ...]) -> Closure:
    """The dependency closure of `path`, in time linear in what it reaches."""
    c = Closure(side=side, path=path)
    queue: deque[Key] = deque()

    def add(table: str, entity_id: str, link: Link) -> None:
        members = getattr(c, table)
        if entity_id not in members:
            members[entity_id] = link
            queue.append((table, entity_id))

    def add_place(entity_id: str, link: Link) -> None:
        if entity_id in index.stores:
            add(STORES, entity_id, link)
        elif entity_id in index.resources:
            add(RESOURCES, entity_id, link)

    # The path itself and what it structurally rests on.
    for rid in path:
        if rid not in index.resources and rid not in index.stores:
            c.missing.append(rid)
            continue
        add_place(rid, (None, "path", rid, side))
    c.path_proper.update(r for r in path if r in index.stores)
    structural = deque(r for r in path if r in index.resources)
    c.path_proper.update(structural)
    while structural:
        res = index.resources[structural.popleft()]
        for parent in res.parents:
            if parent not in c.path_proper and (parent in index.resources or parent in index.stores):
                c.path_proper.add(parent)
                if parent in index.resources:
                    structural.append(parent)

    # Certificate-issuing paths of the path's own names, and issuing paths the path names itself.
    for rid in path:
        named = index.resources.get(rid)
        if named is not None and named.kind is ResourceKind.CERT_ISSUER:
            c.cert_paths.setdefault(rid, c.resources[rid])
        if named is None or named.kind not in (ResourceKind.DNS_RECORD, ResourceKind.CERTIFICATE):
            continue
        for name in named.names:
            for issuer in index.issuers_for(name):
                link = ((RESOURCES, rid), "issuer", issuer.id, name)
                c.cert_paths.setdefault(issuer.id, link)
                add(RESOURCES, issuer.id, link)
            if named.kind is ResourceKind.CERTIFICATE:
                for zone in index.zones_containing(name):
                    if zone.public:
                        link = ((RESOURCES, rid), "dnsval", zone.id, name)
                        c.cert_paths.setdefault(zone.id, link)
                        add(RESOURCES, zone.id, link)
                        break

    while queue:
        table, eid = queue.popleft()
        here = (table, eid)
        if table == RESOURCES:
            res = index.resources[eid]
            issuing = res.kind is ResourceKind.CERTIFICATE or (
                res.kind is ResourceKind.CERT_ISSUER and eid in c.cert_paths)
            for parent in res.parents:
                if issuing and parent in index.resources and index.resources[parent].kind is ResourceKind.CERT_ISSUER:
                    c.cert_paths.setdefault(parent, (here, "issued", eid, parent))
                add_place(parent, (here, "parent", eid, parent))
            if eid in c.path_proper:
                _grants_into_identities(index, eid, here, add)
                if res.kind is ResourceKind.DNS_ZONE:
                    c.dns.setdefault(eid, c.resources[eid])
                if res.kind.is_dns and res.control_plane:
                    c.dns.setdefault(res.control_plane, (here, "plane", eid, res.control_plane))
            elif eid in c.cert_paths:
                _grants_into_identities(index, eid, here, add, only=Capability.CERT_ISSUE)
        elif table == STORES:
            if eid in c.path_proper:
                _grants_into_identities(index, eid, here, add)
        else:
            for g in index.assumers.get(eid, ()):
                add(IDENTITIES, g.identity_id, (here, "assume", g))
            for cred in index.credentials_of.get(eid, ()):
                c.credentials.setdefault(cred.id, (here, "cred", eid, cred.id))
                if cred.stored_in is not None:
                    add_place(cred.stored_in, ((CREDENTIALS, cred.id), "kept", cred.id, cred.stored_in))

    _fault_domains(index, c)
    _steering(index, c)
    return c


def _grants_into_identities(index: Index, target: str, here: Key, add: Callable[[str, str, Any], None],
                            only: Capability | None = None) -> None:
    for g in index.grants_on.get(target, ()):
        if only is None or g.capability is only:
            add(IDENTITIES, g.identity_id, (here, "grant", g))


def _fault_domains(index: Index, c: Closure) -> None:
    for table, members in ((RESOURCES, c.resources), (STORES, c.stores), (IDENTITIES, c.identities)):
        for eid in members:
            entity = index.entity(eid)
            for label in entity.fault_domains if entity is not None else ():
                c.fault_domains.setdefault(label, ((table, eid), "label", eid, label))
    for cid in c.credentials:
        for label in index.credentials[cid].fault_domains:
            c.fault_domains.setdefault(label, ((CREDENTIALS, cid), "label", cid, label))


def _steering(index: Index, c: Closure) -> None:
    """Identities that can change the path's DNS or failover state, directly or by acting as another.

    Links point from an identity toward the grant it ends in (the reverse of the other tables)."""
    queue: deque[str] = deque()
    for rid in sorted(c.path_proper):
        for g in index.grants_on.get(rid, ()):
            if g.capability in STEERING and g.identity_id not in c.steering:
                c.steering[g.identity_id] = (None, "grant", g)
                queue.append(g.identity_id)
    while queue:
        target = queue.popleft()
        for g in index.assumers.get(target, ()):
            if g.identity_id not in c.steering:
                c.steering[g.identity_id] = ((STEERING_T, target), "assume", g)
                queue.append(g.identity_id)
