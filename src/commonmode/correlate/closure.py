"""The dependency closure of one path.

Starting from a path's resources, the closure follows, as a worklist over the index (each node once):
- a resource's parents (a record's zone and health check, a secret's store, a certificate's issuer);
- the identities with any grant on a resource or store in the closure;
- whoever can act as those identities (`identity.assume`, including derived credential-reader edges);
- the credentials of those identities and the secret or store they are kept in;
- the certificate-issuing paths of the path's names: issuers whose allowed names cover them, and the
  public zones that can validate the path's certificates by DNS;
- every fault-domain label on anything above.
Each member keeps the first chain that reached it, in words and ids, for evidence.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from commonmode.correlate.index import Index
from commonmode.model import STEERING, Capability, ResourceKind

Chain = tuple[str, ...]  # ordered from the path outward


@dataclass(frozen=True)
class SteeringPath:
    """How one identity can change where a path sends traffic."""

    chain: Chain  # from the identity to the resource it changes
    identities: tuple[str, ...]  # the identity first, then each identity it acts as
    target: str  # the resource changed
    conditional: bool


@dataclass
class Closure:
    """Everything one path depends on."""

    side: str  # "primary" or "backup"
    path: tuple[str, ...]
    resources: dict[str, Chain] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    path_proper: set[str] = field(default_factory=set)  # path resources and their transitive parents
    identities: dict[str, Chain] = field(default_factory=dict)
    credentials: dict[str, Chain] = field(default_factory=dict)
    stores: dict[str, Chain] = field(default_factory=dict)
    cert_paths: dict[str, Chain] = field(default_factory=dict)
    dns: dict[str, Chain] = field(default_factory=dict)  # zone ids and control-plane labels
    fault_domains: dict[str, Chain] = field(default_factory=dict)
    steering: dict[str, SteeringPath] = field(default_factory=dict)

    def members(self) -> set[str]:
        """Ids of every entity in the closure."""
        return {*self.resources, *self.identities, *self.credentials, *self.stores}


def compute_closure(index: Index, side: str, path: tuple[str, ...]) -> Closure:
    """The dependency closure of `path`, in time linear in what it reaches."""
    c = Closure(side=side, path=path)
    queue: deque[tuple[str, str]] = deque()

    def add(kind: str, entity_id: str, chain: Chain) -> None:
        table = {"r": c.resources, "s": c.stores, "i": c.identities}[kind]
        if entity_id not in table:
            table[entity_id] = chain
            queue.append((kind, entity_id))

    def add_place(entity_id: str, chain: Chain) -> None:
        if entity_id in index.stores:
            add("s", entity_id, chain)
        elif entity_id in index.resources:
            add("r", entity_id, chain)

    # The path itself and what it structurally rests on.
    for rid in path:
        if rid not in index.resources and rid not in index.stores:
            c.missing.append(rid)
            continue
        add_place(rid, (f"{rid} is in the {side} path",))
    structural = deque(r for r in path if r in index.resources)
    c.path_proper.update(structural)
    while structural:
        res = index.resources[structural.popleft()]
        for parent in res.parents:
            if parent in index.resources and parent not in c.path_proper:
                c.path_proper.add(parent)
                structural.append(parent)

    for rid in path:
        res = index.resources.get(rid)
        if res is None or res.kind not in (ResourceKind.DNS_RECORD, ResourceKind.CERTIFICATE):
            continue
        for name in res.names:
            for issuer in index.issuers_for(name):
                chain = (*c.resources[rid], f"{issuer.id} can issue certificates for {name}")
                c.cert_paths.setdefault(issuer.id, chain)
                add("r", issuer.id, chain)
            if res.kind is ResourceKind.CERTIFICATE:
                for zone in index.zones_containing(name):
                    if zone.public:
                        chain = (*c.resources[rid], f"public zone {zone.id} can validate {name} by DNS")
                        c.cert_paths.setdefault(zone.id, chain)
                        add("r", zone.id, chain)
                        break

    while queue:
        kind, eid = queue.popleft()
        if kind == "r":
            res = index.resources[eid]
            chain = c.resources[eid]
            for parent in res.parents:
                step = f"{eid} depends on {parent}"
                if parent in index.resources and res.kind is ResourceKind.CERTIFICATE and (
                    index.resources[parent].kind is ResourceKind.CERT_ISSUER
                ):
                    c.cert_paths.setdefault(parent, (*chain, f"{eid} is issued by {parent}"))
                add_place(parent, (*chain, step))
            _grants_into_identities(index, eid, chain, add)
            if eid in c.path_proper and res.kind is ResourceKind.DNS_ZONE:
                c.dns.setdefault(eid, chain)
            if eid in c.path_proper and res.kind.is_dns:
                if res.control_plane:
                    c.dns.setdefault(res.control_plane, (*chain, f"{eid} is managed in {res.control_plane}"))
        elif kind == "s":
            _grants_into_identities(index, eid, c.stores[eid], add)
        else:
            chain = c.identities[eid]
            for g in index.assumers.get(eid, ()):
                add("i", g.identity_id, (*chain, f"{g.identity_id} can act as {eid} ({' → '.join(g.via)})"))
            for cred in index.credentials_of.get(eid, ()):
                cchain = (*chain, f"{eid} authenticates with credential {cred.id}")
                c.credentials.setdefault(cred.id, cchain)
                if cred.stored_in is not None:
                    add_place(cred.stored_in, (*cchain, f"{cred.id} is kept in {cred.stored_in}"))

    _fault_domains(index, c)
    _steering(index, c)
    return c


def _grants_into_identities(index: Index, target: str, chain: Chain, add) -> None:  # type: ignore[no-untyped-def]
    for g in index.grants_on.get(target, ()):
        cond = " (conditional)" if g.conditional else ""
        add("i", g.identity_id, (*chain, f"{g.identity_id} has {g.capability.value}{cond} on {target} ({' → '.join(g.via)})"))


def _fault_domains(index: Index, c: Closure) -> None:
    for table in (c.resources, c.stores, c.identities):
        for eid, chain in table.items():
            entity = index.entity(eid)
            for label in entity.fault_domains if entity is not None else ():
                c.fault_domains.setdefault(label, (*chain, f"{eid} is in {label}"))
    for cid, chain in c.credentials.items():
        for label in index.credentials[cid].fault_domains:
            c.fault_domains.setdefault(label, (*chain, f"{cid} is in {label}"))


def _steering(index: Index, c: Closure) -> None:
    """Identities that can change the path's DNS or failover state, directly or by acting as another."""
    queue: deque[str] = deque()
    for rid in sorted(c.path_proper):
        for g in index.grants_on.get(rid, ()):
            if g.capability in STEERING and g.identity_id not in c.steering:
                cond = " (conditional)" if g.conditional else ""
                c.steering[g.identity_id] = SteeringPath(
                    chain=(f"{g.identity_id} has {g.capability.value}{cond} on {rid} ({' → '.join(g.via)})",),
                    identities=(g.identity_id,),
                    target=rid,
                    conditional=g.conditional,
                )
                queue.append(g.identity_id)
    while queue:
        target = queue.popleft()
        via = c.steering[target]
        for g in index.assumers.get(target, ()):
            if g.identity_id in c.steering or g.capability is not Capability.IDENTITY_ASSUME:
                continue
            c.steering[g.identity_id] = SteeringPath(
                chain=(f"{g.identity_id} can act as {target} ({' → '.join(g.via)})", *via.chain),
                identities=(g.identity_id, *via.identities),
                target=via.target,
                conditional=via.conditional or g.conditional,
            )
            queue.append(g.identity_id)
