"""Grants: each principal's capabilities on each target path, decided by policy.py once per distinct policy
set; escalation by rewriting a policy others hold or minting an AppRole login; the strongest answer per
(capability, resource)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from commonmode.model import Capability, Grant
from commonmode_vault.estate import Estate, Target
from commonmode_vault.identities import Principals
from commonmode_vault.policy import ACL
from commonmode_vault.snapshot import ClusterData


def add_grants(estate: Estate, principals: Principals, documents: Mapping[str, Any], targets: Sequence[Target],
               data: ClusterData) -> None:
    """Decide each principal's capabilities on each target path, once per distinct policy set, visiting only
    the paths some rule of the set can match (sorted paths + bisect for prefix rules)."""
    c, base = estate.opts.connector, estate.base
    by_path: dict[str, list[Target]] = defaultdict(list)
    for t in targets:
        by_path[t.path].append(t)
    paths = sorted(by_path)
    holders: dict[str, list[str]] = defaultdict(list)  # policy name → identities holding it
    for who, (pols, _) in principals.items():
        for p in set(pols):
            holders[p].append(who)
    approles = [(m, n, f"{base}/auth/{m}{sub}/{n}") for m, atype, sub, n, _ in data.roles if atype == "approle"]
    cache: dict[frozenset[str], list[Reach]] = {}
    memo: dict[str, list[str]] = {}
    for who, (pols, origin) in sorted(principals.items()):
        key = frozenset(pols)
        if key not in cache:
            cache[key] = reaches(estate, ACL.build(sorted(key), documents), by_path, paths, memo, holders, approles)
        best = Strongest()
        for r in cache[key]:
            for rid in holders[r.resource_id] if r.holders else (r.resource_id,):
                if rid != who:
                    best.offer(r.capability, rid, r.conditional, (origin, *r.via, *r.why(rid)))
        for (cap, rid), (conditional, via) in best.items():
            estate.out.grants.append(Grant(identity_id=who, capability=cap, resource_id=rid, connector=c, via=via,
                                    conditional=conditional))


@dataclass(frozen=True)
class Reach:
    """One way a policy set reaches a capability on a resource: a target path, a policy rewrite (then
    `resource_id` is the policy name and the grant goes to each of its holders) or an AppRole login."""

    capability: Capability
    resource_id: str
    conditional: bool
    via: tuple[str, ...]
    last: str = ""  # the final step; `{h}` is replaced by the holder for policy rewrites
    holders: bool = False

    def why(self, rid: str) -> tuple[str, ...]:
        return (self.last.replace("{h}", rid),) if self.last else ()


class Strongest:
    """The strongest answer per (capability, resource) over every path that reaches it: unconditional if
    any path is (keeping that path's explanation), conditional only if every path is."""

    def __init__(self) -> None:
        self._best: dict[tuple[Capability, str], tuple[bool, tuple[str, ...]]] = {}

    def offer(self, capability: Capability, resource_id: str, conditional: bool, via: tuple[str, ...]) -> None:
        old = self._best.get((capability, resource_id))
        if old is None or (old[0] and not conditional):
            self._best[(capability, resource_id)] = (conditional, via)

    def items(self) -> Iterable[tuple[tuple[Capability, str], tuple[bool, tuple[str, ...]]]]:
        return self._best.items()


def reaches(estate: Estate, acl: ACL, by_path: Mapping[str, Sequence[Target]], paths: Sequence[str],
            memo: dict[str, list[str]], holders: Mapping[str, Sequence[str]],
            approles: Sequence[tuple[str, str, str]]) -> list[Reach]:
    """Everything one policy set reaches, path by path (the strongest is chosen per identity afterwards)."""
    out: list[Reach] = []
    for path in candidate_paths(acl, paths, memo):
        for t in by_path[path]:
            for way in t.ways:
                answer = acl.allows(path, *way.vault_caps, engine=t.engine, mount=t.mount)
                if not answer.granted:
                    continue
                via = (*answer.via, f"allows {'/'.join(way.vault_caps)} on {path}",
                       *([t.explain] if t.explain else []), *([way.note] if way.note else []))
                conditional = answer.conditional or bool(way.note)
                out.append(Reach(capability=way.capability, resource_id=t.resource_id, conditional=conditional,
                                  via=via))
                for item in t.assumes:
                    cloud, why = item.split("|", 1)
                    out.append(Reach(capability=Capability.IDENTITY_ASSUME, resource_id=cloud,
                                      conditional=conditional, via=via,
                                      last=f"{t.path} mints credentials for {why}"))
    # Escalation: rewriting a policy that others hold, or minting a login for an AppRole. Both are updates:
    # the server refuses `create` alone on them, even for a new policy. Policy names are lower case on the
    # server, whatever case a role attaches them in.
    for pname in holders:
        if pname.lower() in ("root", "default"):
            continue
        for route in estate.table.for_engine("system"):
            path = route.at("sys/", policy=pname.lower())
            for way in route.ways:
                answer = acl.allows(path, *way.vault_caps, engine="system", mount="sys/")
                if answer.granted:
                    out.append(Reach(capability=way.capability, resource_id=pname, conditional=answer.conditional,
                                     via=(*answer.via, f"allows {'/'.join(way.vault_caps)} on {path}"), holders=True,
                                     last=f"can rewrite policy {pname}, which {{h}} holds"))
    for mount, name, rid in approles:
        # AppRole API: a secret-id is generated (secret-id) or set by the caller (custom-secret-id)
        for route in estate.table.for_engine("approle"):
            path = route.at(f"auth/{mount}", name=name)
            for way in route.ways:
                answer = acl.allows(path, *way.vault_caps, engine="approle", mount=f"auth/{mount}")
                if answer.granted:
                    out.append(Reach(capability=way.capability, resource_id=rid, conditional=answer.conditional,
                                     via=(*answer.via, f"allows {'/'.join(way.vault_caps)} on {path}"),
                                     last=f"can generate a secret-id for AppRole {mount}{name}"))
    return out


def candidate_paths(acl: ACL, paths: Sequence[str], memo: dict[str, list[str]] | None = None) -> Iterable[str]:
    """The target paths some rule of `acl` can match. A rule can only match paths that start with its literal
    part (everything before its first `*`, `+` or template), so each rule looks at that slice of the sorted
    `paths` only; `memo` keeps each rule's matches for the next policy set holding the same rule."""
    if acl.root:
        return paths
    memo = {} if memo is None else memo
    found: set[str] = set()
    for rule in acl.rules.values():
        if rule.path not in memo:
            if rule.is_exact:
                i = bisect.bisect_left(paths, rule.path)
                memo[rule.path] = [rule.path] if i < len(paths) and paths[i] == rule.path else []
            else:
                literal = rule.path[:rule.first_wildcard]
                i = bisect.bisect_left(paths, literal)
                hits = []
                while i < len(paths) and paths[i].startswith(literal):
                    if rule.matches(paths[i]):
                        hits.append(paths[i])
                    i += 1
                memo[rule.path] = hits
        found.update(memo[rule.path])
    return sorted(found)
