"""Who can fail a service over, as a graph the store keeps, so that "what if X is down?" is answered from a
stored run without correlating again (`commonmode simulate`, issue 18).

For each service the correlator computes, from the backup path's closure, everything switching traffic to the
backup needs, as atoms (entity ids and fault-domain labels) that must be up:

- `backup`: the backup path's resources, their parents (zone, health check, …) transitively, and every label on
  them: the backup resolves and serves only if none is down.
- `nodes`: each identity that can change the backup's DNS or failover state (directly or by acting as another):
  the identity and its labels (its provider, account, tenant, cluster, CI system) must be up; to start from it,
  its credentials must be usable, as clauses that must all hold, each one of alternatives: one of the
  credentials the provider reports (an access key, a client secret) not revoked, and, where some copy of the
  identity's secret is known to be kept somewhere (a Vault secret, a Key Vault), one such copy whose place is
  up (the two records are the same secret seen from two sides: the provider's key and the store's copy).
  An identity with no recorded credential and no recorded way into it is started by whoever is it (a role in
  use, a workload running as it, a person), as the correlator's recovery options are; one that someone the run
  saw can act as starts only through them (a role assumed by a CI workload is down with the CI system).
- `edges`: X can act as Y; an edge the correlator derived from reading Y's credential in a store needs that
  credential and that place up too.
- `targets`: X can change R (a steering capability on a backup path resource or its parent), which needs R up.

`evaluate` answers one scenario (a set of downed atoms) in time linear in the service's graph: who can still
steer (a backward search from the live targets over live edges), and of those who can still start. `Simulator`
indexes every atom to the services whose graph holds it, so a scenario re-evaluates only the services it
touches; the rest keep their answer with nothing down.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from commonmode.correlate.closure import Closure
from commonmode.correlate.derive import credential_read
from commonmode.correlate.index import Index
from commonmode.model import STEERING

#: Verdicts, as `simulate` prints them.
FAILS_OVER = "fails over"
NOBODY_CAN_SWITCH = "backup up, nobody can switch"
BACKUP_DOWN = "backup down"


@dataclass(frozen=True)
class FailoverGraph:
    """One service's failover needs (see the module docstring); JSON-able through `to_json`/`from_json`."""

    service: str
    backup: tuple[str, ...]
    #: identity → (needs, start: clauses of alternatives of atoms, or None when it starts without a credential)
    nodes: Mapping[str, tuple[tuple[str, ...], tuple[tuple[tuple[str, ...], ...], ...] | None]]
    edges: tuple[tuple[str, str, tuple[str, ...]], ...]  # (X, Y, extra needs): X can act as Y
    targets: tuple[tuple[str, str, str, tuple[str, ...]], ...]  # (X, capability, R, needs)
    workloads: frozenset[str] = frozenset()  # the nodes that are external workloads (WORKLOAD_KINDS)

    def to_json(self) -> dict[str, Any]:
        return {"backup": list(self.backup), "workloads": sorted(self.workloads),
                "nodes": {k: [list(n), None if s is None else [[list(a) for a in clause] for clause in s]]
                          for k, (n, s) in self.nodes.items()},
                "edges": [[x, y, list(a)] for x, y, a in self.edges],
                "targets": [[x, c, r, list(a)] for x, c, r, a in self.targets]}

    @classmethod
    def from_json(cls, service: str, doc: Mapping[str, Any]) -> FailoverGraph:
        return cls(service=service, backup=tuple(doc["backup"]),
                   nodes={k: (tuple(n), None if s is None else tuple(tuple(tuple(a) for a in clause) for clause in s))
                          for k, (n, s) in doc["nodes"].items()},
                   edges=tuple((x, y, tuple(a)) for x, y, a in doc["edges"]),
                   targets=tuple((x, c, r, tuple(a)) for x, c, r, a in doc["targets"]),
                   workloads=frozenset(doc.get("workloads", ())))

    def atoms(self) -> set[str]:
        """Every atom the graph holds: what a scenario must down to change its answer."""
        out = set(self.backup)
        for needs, start in self.nodes.values():
            out.update(needs)
            for clause in start or ():
                for alternative in clause:
                    out.update(alternative)
        for *_, extra in self.edges:
            out.update(extra)
        for *_, needs in self.targets:
            out.update(needs)
        return out


# --- building (at correlation time) --------------------------------------------------------------------------

def _entity_atoms(index: Index, eid: str, memo: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """`eid`, its labels, and those of its parents, transitively (a resource's zone, a secret's store)."""
    if eid in memo:
        return memo[eid]
    memo[eid] = (eid,)  # a cycle of parents ends here
    out = [eid]
    entity = index.entity(eid)
    if entity is not None:
        out.extend(entity.fault_domains)
    resource = index.resources.get(eid)
    for parent in resource.parents if resource is not None else ():
        out.extend(_entity_atoms(index, parent, memo))
    memo[eid] = tuple(dict.fromkeys(out))
    return memo[eid]


def build_graph(index: Index, service: str, backup: Closure) -> FailoverGraph:
    """The failover graph of one service, from its backup closure (its steering identities and path)."""
    memo: dict[str, tuple[str, ...]] = {}

    def atoms_of(eid: str) -> tuple[str, ...]:
        return _entity_atoms(index, eid, memo)
    backup_atoms = tuple(dict.fromkeys(a for rid in backup.path for a in atoms_of(rid)))
    steering = set(backup.steering)
    nodes: dict[str, tuple[tuple[str, ...], tuple[tuple[tuple[str, ...], ...], ...] | None]] = {}
    for iid in sorted(steering):
        identity = index.identities.get(iid)
        needs = (iid, *(identity.fault_domains if identity is not None else ()))
        creds = sorted(index.credentials_of.get(iid, ()), key=lambda c: c.id)
        reported = tuple(tuple(dict.fromkeys((c.id, *c.fault_domains))) for c in creds if c.stored_in is None)
        kept = tuple(tuple(dict.fromkeys((c.id, *c.fault_domains, *atoms_of(c.stored_in))))
                     for c in creds if c.stored_in is not None)
        start = tuple(clause for clause in (reported, kept) if clause) or None
        nodes[iid] = (tuple(dict.fromkeys(needs)), start)
    edges: list[tuple[str, str, tuple[str, ...]]] = []
    seen_edges: set[tuple[str, str, tuple[str, ...]]] = set()
    for target in sorted(steering):
        for g in index.assumers.get(target, ()):
            if g.identity_id not in steering or g.identity_id == target:
                continue
            extra: tuple[str, ...] = ()
            read = credential_read(g)
            if read is not None:
                place, cred_id = read
                cred = next((c for c in index.credentials_of.get(target, ()) if c.id == cred_id), None)
                # the place read may be a whole mount: the secret the credential is kept in must be up as well
                kept_in = atoms_of(cred.stored_in) if cred is not None and cred.stored_in else ()
                extra = tuple(dict.fromkeys((cred_id, *(cred.fault_domains if cred else ()), *atoms_of(place),
                                             *kept_in)))
            edge = (g.identity_id, target, extra)
            if edge not in seen_edges:
                seen_edges.add(edge)
                edges.append(edge)
    targets: list[tuple[str, str, str, tuple[str, ...]]] = []
    seen_targets: set[tuple[str, str, str]] = set()
    for rid in sorted(backup.path_proper):
        for g in index.grants_on.get(rid, ()):
            if g.capability in STEERING and g.identity_id in steering and (
                    g.identity_id, g.capability.value, rid) not in seen_targets:
                seen_targets.add((g.identity_id, g.capability.value, rid))
                targets.append((g.identity_id, g.capability.value, rid, atoms_of(rid)))
    workloads = frozenset(i for i in steering
                          if (who := index.identities.get(i)) is not None and who.kind in WORKLOAD_KINDS)
    return FailoverGraph(service=service, backup=backup_atoms, nodes=nodes, edges=tuple(edges),
                         targets=tuple(targets), workloads=workloads)


def build_graphs(index: Index, closures: Mapping[str, tuple[Closure, Closure]]) -> tuple[FailoverGraph, ...]:
    return tuple(build_graph(index, name, closures[name][1]) for name in sorted(closures))


# --- evaluating (from the store) -----------------------------------------------------------------------------

#: How a switcher starts: with one of its credentials; as an external workload its CI system or cluster runs; or
#: with no recorded credential (a role, service account or principal a workload or person runs as, unseen).
CREDENTIAL, WORKLOAD, UNRECORDED = "credential", "workload", "no recorded credential"
#: The kinds connectors give external workloads (kit.workloads): started by their CI system or cluster.
WORKLOAD_KINDS = frozenset({"ci-workload", "oidc-workload"})


@dataclass(frozen=True)
class Switcher:
    """An identity that can still switch traffic to the backup, and how: its chain, identity first, and how it
    starts (CREDENTIAL, WORKLOAD, UNRECORDED)."""

    identity: str
    chain: tuple[str, ...]
    starts: str = CREDENTIAL


@dataclass(frozen=True)
class Answer:
    """One service under one scenario."""

    service: str
    verdict: str
    backup_up: bool
    blocked_by: tuple[str, ...]  # the downed atoms the graph holds (what took the backup or its switchers away)
    can_switch: tuple[Switcher, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"name": self.service, "verdict": self.verdict, "backup_up": self.backup_up,
                "blocked_by": list(self.blocked_by),
                "can_switch": [{"identity": s.identity, "starts": s.starts, "chain": list(s.chain)}
                               for s in self.can_switch]}


def _live(atoms: Iterable[str], down: frozenset[str]) -> bool:
    return not any(a in down for a in atoms)


def evaluate(graph: FailoverGraph, down: frozenset[str]) -> Answer:
    """Whether the backup is up and who can still switch to it, with `down` unavailable."""
    blocked = tuple(sorted(down & graph.atoms()))
    if not _live(graph.backup, down):
        return Answer(graph.service, BACKUP_DOWN, False, tuple(a for a in blocked if a in set(graph.backup)))
    up = {i for i, (needs, _) in graph.nodes.items() if _live(needs, down)}
    step: dict[str, tuple[str, str | None]] = {}  # identity → (the words of its next step, the next identity)
    queue: deque[str] = deque()
    for x, capability, resource, needs in graph.targets:
        if x in up and x not in step and _live(needs, down):
            step[x] = (f"{x} has {capability} on {resource}", None)
            queue.append(x)
    acting: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for x, y, extra in graph.edges:
        acting[y].append((x, extra))
    while queue:
        y = queue.popleft()
        for x, extra in acting.get(y, ()):
            if x in up and x not in step and _live(extra, down):
                step[x] = (f"{x} can act as {y}", y)
                queue.append(x)
    switchers = []
    for x in sorted(step):
        start = graph.nodes[x][1]
        if start is not None and not all(any(_live(a, down) for a in clause) for clause in start):
            continue  # every credential it could start with is revoked, or kept somewhere down
        if start is None and x not in graph.workloads and acting.get(x):
            continue  # the run saw who gets into it: it starts through them (each of them is tried), not on its own
        if start is None and x in graph.workloads:
            starts, how = WORKLOAD, f"{x} runs as a workload of its CI system or cluster (a federated token)"
        elif start is None:
            starts, how = UNRECORDED, f"{x} has no recorded credential (a workload or person running as it)"
        else:
            starts = CREDENTIAL
            usable = list(dict.fromkeys(next(a for a in clause if _live(a, down))[0] for clause in start))
            how = f"{x} signs in with credential {' and '.join(usable)}"
        chain: list[str] = [how]
        at: str | None = x
        while at is not None:
            words, at = step[at]
            chain.append(words)
        switchers.append(Switcher(x, tuple(chain), starts))
    verdict = FAILS_OVER if switchers else NOBODY_CAN_SWITCH
    return Answer(graph.service, verdict, True, blocked, tuple(switchers))


class Simulator:
    """Scenarios over a run's failover graphs: each answered from the services its downed atoms touch."""

    def __init__(self, graphs: Sequence[FailoverGraph]) -> None:
        self.graphs = {g.service: g for g in graphs}
        self.by_atom: dict[str, set[str]] = defaultdict(set)
        for g in graphs:
            for atom in g.atoms():
                self.by_atom[atom].add(g.service)
        self.baseline = {name: evaluate(g, frozenset()) for name, g in self.graphs.items()}

    def known(self, atom: str) -> bool:
        """Some service's failover depends on `atom`."""
        return atom in self.by_atom

    def run(self, down: Iterable[str], services: Iterable[str] | None = None) -> list[Answer]:
        """Every service's answer (or those named) with `down` unavailable."""
        downed = frozenset(down)
        touched = set().union(*(self.by_atom.get(a, set()) for a in downed)) if downed else set()
        names = sorted(self.graphs) if services is None else list(services)
        return [evaluate(self.graphs[n], downed) if n in touched else self.baseline[n] for n in names]
