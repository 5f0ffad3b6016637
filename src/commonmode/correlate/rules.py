"""One function per rule, and the RULES registry that names them.

Pairwise rules look at the intersection of a service's primary and backup closures. Span rules
(owner-gap, credential-expiry) report each subject once, listing every service it touches.

Every finding carries, complete (outputs shorten for display, the store never does):
- `evidence`: one step per entry, each path's chain in order from the identity (or the labelled entity) to
  the path resource, prefixed with the side it is on (`primary: `, `backup: `);
- `remediation`: the rule's generic remediation (what `commonmode rules` prints) as its first line, then
  one line per step specific to this finding's subject: the steps its provider's connector ships for the rule
  (`remediation.toml`, correlate.remediation; chosen by the subject entity's own `provider` field), else the
  rule's generic steps. Plain text, ids as they are: each renderer quotes them its own way.
Each rule's severity follows the one sentence in its `severity_rule` (docs/severity.md says the same).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from commonmode.correlate.closure import Closure, SteeringPath
from commonmode.correlate.index import Index
from commonmode.correlate.remediation import SUBJECT_FIELDS, ProviderSteps, fill, placeholders
from commonmode.model import STEERING, Finding, Identity, ResourceKind, Service, Severity, has_owner

NOT_DATA = frozenset({"correlator", "config"})


@dataclass(frozen=True)
class RecoveryOption:
    """One identity that can fail a service over, and whether it works with the primary's fault domains down."""

    service: str
    identity_id: str
    independent: bool
    conditional: bool
    chain: tuple[str, ...]
    identities: tuple[str, ...]  # the identity first, then each identity it acts as along the chain
    target: str
    depends_on_entities: tuple[str, ...]  # ids it needs: identities, their credentials' stores, the target...
    depends_on_fault_domains: tuple[str, ...]  # the fault-domain labels of all of those
    shared_with_primary: tuple[str, ...]  # what of both the primary's closure also has (ids, then labels)

    @property
    def depends_on(self) -> tuple[str, ...]:
        """Everything it needs: the entity ids, then the fault-domain labels."""
        return (*self.depends_on_entities, *self.depends_on_fault_domains)


@dataclass
class Context:
    """What every rule reads."""

    index: Index
    services: tuple[Service, ...]
    closures: dict[str, tuple[Closure, Closure]]
    now: datetime
    expiry_days: int
    unused_key_days: int
    recovery: dict[str, list[RecoveryOption]]
    #: provider → the remediation steps its connector ships (correlate.remediation); none: the generic steps
    remediation: Mapping[str, ProviderSteps] = field(default_factory=dict)
    max_key_age_days: int = 90
    #: GitHub environments with protection rules (`owner/repo:env` patterns, config correlate.protected_environments)
    protected_environments: tuple[str, ...] = ()
    by_name: dict[str, Service] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {s.name: s for s in self.services}


@dataclass(frozen=True)
class Rule:
    """A rule's name, what it means, and how to fix what it finds."""

    name: str
    summary: str
    remediation: str  # generic: the first line of every finding's remediation
    severity_rule: str  # how the rule decides a finding's severity, in one sentence
    check: Callable[[Context], Iterable[Finding]]
    #: the steps after `remediation` when the subject's provider ships none for the rule (correlate.remediation
    #: placeholders: {subject}, {subjects}); None: the rule writes each finding's steps itself, from the finding
    steps: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for step in self.steps or ():
            if placeholders(step) - SUBJECT_FIELDS:
                raise ValueError(f"rule {self.name}: generic step {step!r} may name only {sorted(SUBJECT_FIELDS)}")


def fingerprint(rule: str, scope: str, subjects: Iterable[str], qualifier: str = "") -> str:
    """Stable id of a finding: from the rule, its scope (service) and the sorted ids of what it is about."""
    text = "\x1f".join([rule, scope, qualifier, *sorted(subjects)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _connectors(ctx: Context, ids: Iterable[str], services: Iterable[str] = ()) -> tuple[str, ...]:
    found = {ctx.index.connector_of(i) for i in ids}
    for name in services:
        svc = ctx.by_name.get(name)
        if svc is not None:
            found.update(ctx.index.connector_of(r) for r in (*svc.primary, *svc.backup))
            if svc.source not in NOT_DATA and svc.source != "declared":
                found.add(svc.source)
    return tuple(sorted(c for c in found if c is not None and c not in NOT_DATA))


def _rests_on(ctx: Context, *chains: tuple[Closure, str, str]) -> set[str]:
    """The connectors whose data a finding's evidence chains rest on: the connector of every entity along each
    chain (closure table, member) and of every grant it follows. A finding is resolved only when all of them
    completed, so an outage of one of them (a Vault cluster whose label is shared) never resolves it."""
    found: set[str] = set()
    for closure, table, member in chains:
        key: tuple[str, str] | None = (table, member)
        while key is not None:
            link = getattr(closure, key[0]).get(key[1])
            if link is None:
                break
            found.add(ctx.index.connector_of(key[1]) or "")
            if link[1] in ("grant", "assume"):
                found.add(link[2].connector)
            key = link[0]
    return found - {""}


def _steps(closure: Closure, table: str, member: str) -> list[str]:
    """Why `member` is in `closure`, one step per entry, from the member (the identity) to the path,
    each prefixed with the closure's side."""
    return [f"{closure.side}: {step}" for step in reversed(closure.chain(table, member))]


def _both(p: Closure, b: Closure, table: str, member: str) -> list[str]:
    return [*_steps(p, table, member), *_steps(b, table, member)]


def remediation_text(rule: str, steps: Iterable[str] = ()) -> str:
    """A finding's remediation: the rule's generic remediation, then one specific step a line."""
    return "\n".join([RULES[rule].remediation, *steps])


def remediation_lines(remediation: str) -> list[str]:
    """The lines of a finding's remediation: the rule's generic text first, then the specific steps."""
    return [line for line in remediation.split("\n") if line.strip()]


def _finding(ctx: Context, rule: str, severity: Severity, services: Iterable[str], subjects: Iterable[str],
             evidence: Iterable[str], *, qualifier: str = "", scope: str | None = None,
             steps: Iterable[str] | None = None, rests_on: Iterable[str] = ()) -> Finding:
    services = tuple(sorted(set(services)))
    subjects = tuple(sorted(set(subjects)))
    return Finding(
        rule=rule,
        severity=severity,
        services=services,
        subjects=subjects,
        evidence=tuple(evidence),
        remediation=remediation_text(rule, _remediation_steps(ctx, rule, subjects) if steps is None else steps),
        fingerprint=fingerprint(rule, scope if scope is not None else ",".join(services), subjects, qualifier),
        connectors=tuple(sorted(set(_connectors(ctx, subjects, services)) | (set(rests_on) - NOT_DATA))),
    )


# --- pairwise rules --------------------------------------------------------------------------


def _steerers(index: Index, rid: str) -> set[str]:
    """Who can change `rid`'s DNS or failover state: a grant on it, or acting (transitively) as one who has."""
    found = {g.identity_id for g in index.grants_on.get(rid, ()) if g.capability in STEERING}
    todo = list(found)
    while todo:
        for g in index.assumers.get(todo.pop(), ()):
            if g.identity_id not in found:
                found.add(g.identity_id)
                todo.append(g.identity_id)
    return found


def shared_identity(ctx: Context) -> Iterator[Finding]:
    """One identity can modify (or act on) both paths."""
    for svc in ctx.services:
        p, b = ctx.closures[svc.name]
        # a resource that is itself in both paths (a failover record set that holds both targets, a traffic
        # manager profile): whoever can change it, or act as one who can, changes both with one change
        in_both = {rid: _steerers(ctx.index, rid) for rid in sorted(set(svc.primary) & set(svc.backup))}
        for iid in sorted(p.identities.keys() & b.identities.keys()):
            steers_both = iid in p.steering and iid in b.steering
            evidence = _both(p, b, "identities", iid)
            evidence += [f"{rid} is in both the primary and the backup path: one change to it changes both"
                         for rid, who in in_both.items() if iid in who]
            yield _finding(
                ctx, "shared-identity", Severity.CRITICAL if steers_both else Severity.HIGH, [svc.name], [iid],
                evidence, rests_on=_rests_on(ctx, (p, "identities", iid), (b, "identities", iid)),
            )


def shared_secret_store(ctx: Context) -> Iterator[Finding]:
    """Secrets or credentials both paths depend on live in the same store."""
    for svc in ctx.services:
        p, b = ctx.closures[svc.name]
        for sid in sorted(p.stores.keys() & b.stores.keys()):
            yield _finding(
                ctx, "shared-secret-store", Severity.HIGH, [svc.name], [sid], _both(p, b, "stores", sid),
                rests_on=_rests_on(ctx, (p, "stores", sid), (b, "stores", sid)),
            )


def shared_certificate_path(ctx: Context) -> Iterator[Finding]:
    """Both paths' certificates come from the same issuing path or CA."""
    for svc in ctx.services:
        p, b = ctx.closures[svc.name]
        shared = p.cert_paths.keys() & b.cert_paths.keys()
        for cid in sorted(shared):
            # A CA that both paths reach only through one shared issuing path (a PKI role) is said by that
            # path's own finding; two issuing paths on one CA are the CA's finding.
            via_p, via_b = p.cert_paths[cid], b.cert_paths[cid]
            if via_p[1] == via_b[1] == "issued" and via_p[2] == via_b[2] and via_p[2] in shared:
                continue
            yield _finding(
                ctx, "shared-certificate-path", Severity.HIGH, [svc.name], [cid], _both(p, b, "cert_paths", cid),
                rests_on=_rests_on(ctx, (p, "cert_paths", cid), (b, "cert_paths", cid)),
            )


def shared_dns_control_plane(ctx: Context) -> Iterator[Finding]:
    """Both paths' DNS is controlled in the same zone, or the same provider account."""
    for svc in ctx.services:
        p, b = ctx.closures[svc.name]
        shared = p.dns.keys() & b.dns.keys()
        zones = {k for k in shared if k in ctx.index.resources}
        covered = {ctx.index.resources[z].control_plane for z in zones}
        for key in sorted(shared):
            if key not in zones and key in covered:
                continue  # the shared zone finding already says it
            what = "zone" if key in zones else "control plane"
            yield _finding(
                ctx, "shared-dns-control-plane", Severity.HIGH if key in zones else Severity.MEDIUM, [svc.name], [key],
                [f"both paths' DNS is in {what} {key}", *_both(p, b, "dns", key)],
                rests_on=_rests_on(ctx, (p, "dns", key), (b, "dns", key)),
            )


#: Fault-domain label kinds (the label without its value: `aws:account`, `vault:cluster`) that are one
#: administrative or failure boundary: one lockout, compromise or outage of it takes out all it contains.
_HIGH_DOMAIN_KINDS = ("account", "subscription", "tenant", "project", "organization", "cluster", "mount")


def _high_domain(label: str) -> bool:
    return label.rsplit(":", 1)[0].endswith(_HIGH_DOMAIN_KINDS)


def shared_fault_domain(ctx: Context) -> Iterator[Finding]:
    """Any other fault-domain label common to both closures: account, region, cluster, identity provider."""
    for svc in ctx.services:
        p, b = ctx.closures[svc.name]
        dns_labels = p.dns.keys() & b.dns.keys()
        for label in sorted((p.fault_domains.keys() & b.fault_domains.keys()) - dns_labels):
            labelled = b.fault_domains[label][2]  # what the backup path needs that carries the label
            yield _finding(
                ctx, "shared-fault-domain", Severity.HIGH if _high_domain(label) else Severity.MEDIUM, [svc.name],
                [label], [f"both paths depend on {label}", *_both(p, b, "fault_domains", label)],
                rests_on=_rests_on(ctx, (p, "fault_domains", label), (b, "fault_domains", label)),
                steps=[f"Move {labelled}, which the backup path needs, out of {label} (or give the backup path "
                       f"its own, outside {label}); if that cannot be done, record the accepted risk with the "
                       "service's owner."],
            )


def _hard_dependency(ctx: Context, dep: str) -> bool:
    """An entity (identity, credential, store, resource) or an account-like/cluster fault domain: what one
    lockout or compromise takes away, as opposed to a region or a provider's outage."""
    return dep in ctx.index.identities or dep in ctx.index.resources or dep in ctx.index.stores or (
        dep in ctx.index.credentials) or _high_domain(dep)


def no_independent_recovery(ctx: Context) -> Iterator[Finding]:
    """Nobody can fail over to the backup without depending on the primary path's closure."""
    for svc in ctx.services:
        options = ctx.recovery[svc.name]
        _, b = ctx.closures[svc.name]
        if any(o.independent for o in options) or b.missing:
            # "nobody can" is only said of a backup path whose every resource was seen: resources a failed
            # connector did not report would otherwise read as "nobody can steer them".
            continue
        if not options:
            evidence = [f"no identity found that can change DNS or failover state of the backup path "
                        f"({', '.join(b.path)})"]
        else:
            evidence = []
            for o in options:
                evidence += [f"failover by {o.identity_id}: {step}" for step in o.chain]
                evidence.append(f"failover by {o.identity_id}: needs {', '.join(o.shared_with_primary)}, "
                                "which the primary path also depends on")
            # the CI system as a fault domain: every way to fail over runs as its workflows
            ci = set.intersection(*({d for d in o.shared_with_primary if d.startswith("ci:")} for o in options))
            for d in sorted(ci):
                evidence.append(f"every identity able to fail over is a workflow of {d} or acts through one: "
                                f"while {d} is down nobody can fail over, and the primary path depends on it too")
        # Critical unless some operator's only ties to the primary are wide fault domains (a region, the
        # DNS provider): then failing over works except in an outage of that domain.
        soft = any(not any(_hard_dependency(ctx, d) for d in o.shared_with_primary) for o in options)
        # it rests on every steering chain it judged, and on whatever in the primary each one needs
        rests = _rests_on(ctx, *((b, "steering", o.identity_id) for o in options if o.identity_id in b.steering))
        rests |= {ctx.index.connector_of(d) or "" for o in options for d in o.depends_on_entities}
        yield _finding(ctx, "no-independent-recovery", Severity.HIGH if soft else Severity.CRITICAL, [svc.name],
                       b.path, evidence, scope=svc.name, rests_on=rests - {""})


# --- span rules ------------------------------------------------------------------------------


def owner_gap(ctx: Context) -> Iterator[Finding]:
    """Identities with a grant on a path, stores in a closure, and services, with no accountable owner."""
    touched: dict[str, set[str]] = defaultdict(set)
    steering: set[str] = set()
    first: dict[str, tuple[Closure, str]] = {}  # where to render the chain from, only if it is a gap
    for svc in ctx.services:
        for c in ctx.closures[svc.name]:
            for table in ("identities", "stores"):
                for eid in getattr(c, table):
                    touched[eid].add(svc.name)
                    first.setdefault(eid, (c, table))
            steering.update(c.steering)
    for eid in sorted(touched):
        entity = ctx.index.identities.get(eid) or ctx.index.stores.get(eid)
        if entity is None or has_owner(entity.owner):
            continue
        what = "identity" if eid in ctx.index.identities else "store"
        severity = Severity.HIGH if eid in steering else Severity.MEDIUM
        stated = f" (recorded owner: {entity.owner!r})" if entity.owner is not None else ""
        closure, table = first[eid]
        yield _finding(
            ctx, "owner-gap", severity, touched[eid], [eid],
            [f"{what} {eid} has no accountable owner{stated}", *_steps(closure, table, eid),
             f"services affected: {', '.join(sorted(touched[eid]))}"],
            scope="", rests_on=_rests_on(ctx, (closure, table, eid)),
        )
    for svc in ctx.services:
        if not has_owner(svc.owner):
            yield _finding(
                ctx, "owner-gap", Severity.MEDIUM, [svc.name], [f"service:{svc.name}"],
                [f"service {svc.name} ({svc.source}) has no owner: nobody is accountable for its failover"],
                scope="",
                steps=[f"Declare the service {svc.name} in commonmode.toml with owner = \"<team>\", or tag the "
                       "resources it is discovered from with the owning team."],
            )


#: The tag a connector sets on an external workload whose trust admits more than one workload (a pattern of
#: repositories, any subject of an issuer): its value says why, in the provider's words. An exact workload (one
#: repository) admitted by a trust that lets in too many of its runs (any branch, any pull request, only a
#: workflow's name) carries `broad_trust:TARGET` instead, for that trust into TARGET only; and
#: `broad_trust_environment:TARGET` (`owner/repo:env`) when an environment alone narrows it, which the config's
#: correlate.protected_environments exempts (kit.workloads.Admissions writes them). The rule reads nothing else
#: of the provider.
BROAD_TRUST_TAG = "broad_trust"
BROAD_TRUST_ENVIRONMENT_TAG = "broad_trust_environment"


def _glob(pattern: str, value: str) -> bool:
    return re.fullmatch("".join(".*" if ch == "*" else re.escape(ch) for ch in pattern), value) is not None


def _broad_trusts(ctx: Context, identity: Identity) -> dict[str, str]:
    """Why each trust admitting `identity` is too broad: {"": why} for a pattern workload (every trust), else
    {TARGET: why} for each trust into TARGET, less those an environment the config lists as protected narrows."""
    whole = identity.tags.get(BROAD_TRUST_TAG)
    if whole:
        return {"": whole}
    out: dict[str, str] = {}
    for key, why in identity.tags.items():
        head, sep, target = key.partition(":")
        if head != BROAD_TRUST_TAG or not sep or not why:
            continue
        env = identity.tags.get(f"{BROAD_TRUST_ENVIRONMENT_TAG}:{target}")
        if env and any(_glob(p, env) for p in ctx.protected_environments):
            continue
        out[target] = why
    return out


def broad_federated_trust(ctx: Context) -> Iterator[Finding]:
    """External workloads admitted by a trust written too broadly, that can reach what a path depends on:
    DNS or failover state (itself or acting as an identity that can), or a path's secrets. A trust into one
    identity counts where that identity is in the path's closure (a pattern workload: wherever it is)."""
    touched: dict[str, set[str]] = defaultdict(set)
    steering_both: set[str] = set()
    steering: set[str] = set()
    first: dict[str, tuple[Closure, str, str]] = {}
    whys: dict[str, dict[str, str]] = {}
    for svc in ctx.services:
        p, b = ctx.closures[svc.name]
        steers: dict[str, set[str]] = defaultdict(set)
        for c in (p, b):
            for iid in c.identities:
                identity = ctx.index.identities.get(iid)
                if identity is None:
                    continue
                trusts = whys.setdefault(iid, _broad_trusts(ctx, identity))
                if not trusts:
                    continue
                # the broad trusts that reach this path: the workload itself (a pattern), or the identities
                # its broad trusts lead into, where those are in the closure
                into = [t for t in trusts if t == "" or t in c.identities]
                if not into:
                    continue
                touched[iid].add(svc.name)
                first.setdefault(iid, (c, "identities", iid) if into[0] == "" else (c, "identities", into[0]))
                if any((iid if t == "" else t) in c.steering for t in into):
                    steering.add(iid)
                    steers[iid].add(c.side)
        steering_both |= {i for i, sides in steers.items() if len(sides) == 2}
    for iid in sorted(touched):
        identity = ctx.index.identities[iid]
        severity = (Severity.CRITICAL if iid in steering_both else Severity.HIGH if iid in steering
                    else Severity.MEDIUM)
        closure, table, member = first[iid]
        reach = ("can change both paths' DNS or failover state" if iid in steering_both else
                 "can change a path's DNS or failover state" if iid in steering else
                 "reaches a path's credentials or secrets")
        trusts = whys[iid]
        why = trusts[""] if "" in trusts else "; ".join(f"its trust into {t}: {w}" for t, w in sorted(trusts.items()))
        steps = _steps(closure, table, member)
        if member != iid:
            steps = [f"{closure.side}: {iid} can act as {member} through that trust", *steps]
        yield _finding(
            ctx, "broad-federated-trust", severity, touched[iid], [iid],
            [f"{iid} ({identity.name}) is admitted by a trust written too broadly: {why}; it {reach}", *steps,
             f"services affected: {', '.join(sorted(touched[iid]))}"],
            scope="", rests_on=_rests_on(ctx, (closure, table, member)),
        )


def credential_expiry(ctx: Context) -> Iterator[Finding]:
    """Credentials and certificates a backup path depends on that expire soon, and keys left unused."""
    horizon = ctx.now + timedelta(days=ctx.expiry_days)
    stale = ctx.now - timedelta(days=ctx.unused_key_days)
    too_old = ctx.now - timedelta(days=ctx.max_key_age_days)
    expiring: dict[str, tuple[datetime, set[str], list[str], set[str]]] = {}
    unused: dict[str, tuple[datetime, set[str], list[str], set[str]]] = {}
    aged: dict[str, tuple[datetime, set[str], list[str], set[str]]] = {}
    for svc in ctx.services:
        _, b = ctx.closures[svc.name]
        for cid in b.credentials:
            cred = ctx.index.credentials[cid]
            if cred.expires is not None and cred.expires <= horizon:
                if cid not in expiring:
                    expiring[cid] = (cred.expires, set(), _steps(b, "credentials", cid),
                                     _rests_on(ctx, (b, "credentials", cid)))
                expiring[cid][1].add(svc.name)
            seen = cred.last_used or cred.created
            if cred.usage_tracked and seen is not None and seen <= stale:
                if cid not in unused:
                    unused[cid] = (seen, set(), _steps(b, "credentials", cid), _rests_on(ctx, (b, "credentials", cid)))
                unused[cid][1].add(svc.name)
            elif cred.long_lived and cred.created is not None and cred.created <= too_old:
                if cid not in aged:
                    aged[cid] = (cred.created, set(), _steps(b, "credentials", cid),
                                 _rests_on(ctx, (b, "credentials", cid)))
                aged[cid][1].add(svc.name)
        for rid in b.resources:
            res = ctx.index.resources[rid]
            if res.kind in (ResourceKind.CERTIFICATE, ResourceKind.CERT_ISSUER) and res.expires is not None and (
                res.expires <= horizon
            ):
                if rid not in expiring:
                    expiring[rid] = (res.expires, set(), _steps(b, "resources", rid),
                                     _rests_on(ctx, (b, "resources", rid)))
                expiring[rid][1].add(svc.name)
    for sid, (when, services, chain, rests) in sorted(expiring.items()):
        days = (when - ctx.now).total_seconds() / 86400
        severity = Severity.CRITICAL if days < 0 else Severity.HIGH if days <= 7 else Severity.MEDIUM
        state = f"expired {-days:.0f} days ago" if days < 0 else f"expires in {days:.0f} days"
        yield _finding(
            ctx, "credential-expiry", severity, services, [sid],
            [f"{sid} {state} ({when.date().isoformat()}); the backup path needs it:", *chain],
            qualifier="expiry", scope="", rests_on=rests,
            steps=[f"Renew or rotate {sid} before {when.date().isoformat()}"
                   f"{' (it has already expired)' if days < 0 else ''}, then automate its renewal."],
        )
    for cid, (when, services, chain, rests) in sorted(unused.items()):
        days = (ctx.now - when).days
        yield _finding(
            ctx, "credential-expiry", Severity.LOW, services, [cid],
            [f"{cid} has not been used for {days} days (since {when.date().isoformat()}); the backup path "
             "needs it:", *chain],
            qualifier="unused", scope="", rests_on=rests,
            steps=[f"Confirm the backup automation still works with {cid} (a key nobody uses may be broken, or "
                   "abandoned); rotate it, or remove it and the identity it belongs to."],
        )
    for cid, (when, services, chain, rests) in sorted(aged.items()):
        days = (ctx.now - when).days
        yield _finding(
            ctx, "credential-expiry", Severity.MEDIUM, services, [cid],
            [f"{cid} was created {days} days ago ({when.date().isoformat()}) and is still active: older than "
             f"{ctx.max_key_age_days} days (correlate.max_key_age_days); the backup path needs it:", *chain],
            qualifier="age", scope="", rests_on=rests,
            steps=[f"Rotate {cid}: create a new key, move the backup automation to it, then delete the old one; "
                   "better, replace the key with short-lived credentials (workload identity federation, "
                   "an assumed role)."],
        )


# --- remediation steps specific to a finding's subject -----------------------------------------


def _remediation_steps(ctx: Context, rule: str, subjects: tuple[str, ...]) -> list[str]:
    """Concrete steps (after the rule's generic remediation): those the subject's provider ships for the rule
    (picked by the subject entity's own `provider` field), else the rule's generic steps."""
    entity = ctx.index.entity(subjects[0]) if subjects else None
    data = ctx.remediation.get(entity.provider) if entity is not None else None
    if data is not None and rule in data.steps:
        return fill(data.steps[rule], subjects, entity, data.values)
    return fill(RULES[rule].steps or (), subjects)


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("shared-identity", "one identity can modify both the primary and the backup path",
             "Give the backup path its own identity, in a different account or auth backend, with permissions "
             "limited to the backup resources; remove the shared identity's access to one of the paths.",
             "critical when the identity can change DNS or failover state of both paths (itself or by acting as "
             "another identity); high when one of the paths reaches it only otherwise (a secret it reads, a "
             "certificate it can issue).",
             shared_identity,
             steps=("Remove {subject}'s access to one of the two paths.",)),
        Rule("shared-secret-store", "credentials or secrets both paths depend on live in the same store",
             "Keep the backup path's credentials in a separate store (another Vault cluster or mount, another "
             "account's secret manager) that does not depend on the primary's fault domains.",
             "always high: one outage, lockout or compromise of the store takes both paths' credentials.",
             shared_secret_store,
             steps=("Move the backup path's credentials out of {subject}.",)),
        Rule("shared-certificate-path", "both paths' certificates come from the same issuing path or CA",
             "Issue the backup path's certificates from a separate issuer (another PKI role or CA), and narrow "
             "each issuer's allowed names to one path.",
             "always high: whoever controls the issuing path can obtain certificates for both paths' names.",
             shared_certificate_path,
             steps=("Stop issuing the backup path's certificates from {subject}.",)),
        Rule("shared-dns-control-plane", "both paths' DNS is controlled in the same provider account or zone",
             "Host the backup path's DNS in a separate zone and provider account (or a second DNS provider), "
             "so one account lockout or compromise cannot change both answers.",
             "high when both paths' records are in one zone; medium when they are in different zones of one "
             "provider account.",
             shared_dns_control_plane,
             steps=("Move the backup path's records out of {subject}, into a zone whose provider account (or "
                    "DNS provider) the primary path does not use.",
                    "Make sure the backup zone's delegation and DNSSEC keys are not managed by the primary's "
                    "identities.")),
        Rule("shared-fault-domain", "another fault domain (account, region, cluster, identity provider) is "
             "common to both paths",
             "Move the backup path's dependency out of the shared fault domain, or document the accepted risk.",
             "high when the shared label is an account-like boundary or a cluster (its kind ends in account, "
             "subscription, tenant, project, organization, cluster or mount); medium for any other label "
             "(a region, the DNS provider, an identity provider, a CI system).",
             shared_fault_domain),
        Rule("no-independent-recovery", "no identity can fail over to the backup without depending on "
             "something the primary path depends on",
             "Create a break-glass identity for failover outside the primary's fault domains (separate account, "
             "separate credential store), limited to the backup path's DNS and failover controls, and test it.",
             "critical when nobody can fail over, or everyone who can needs an identity, credential, store or "
             "resource of the primary's closure or one of its account-like or cluster fault domains; high when "
             "someone can fail over needing only wider fault domains of the primary (a region, the DNS "
             "provider).",
             no_independent_recovery,
             steps=("Allow the break-glass identity to change only the backup path ({subjects}).",
                    "Store its credential where the primary's outage cannot reach it, and test a failover with it "
                    "in a game day.")),
        Rule("owner-gap", "an identity, store or service that a path depends on has no accountable owner",
             "Record an accountable owner (a team: a tag such as owner or team, Vault entity metadata, Entra "
             "owners), or remove what nobody claims.",
             "high for an unowned identity that can change a path's DNS or failover state (itself or by acting "
             "as another identity); medium for any other unowned identity, and for an unowned store or service.",
             owner_gap,
             steps=("Record an accountable owner for {subject}, or remove it.",)),
        Rule("broad-federated-trust", "a federated trust admits more workloads than one (a repository pattern, any "
             "subject of an issuer, a condition anyone can satisfy) and they can reach what a path depends on",
             "Narrow the trust to the one workload that needs it: an exact subject (repository, and its protected "
             "branch or environment) or an exact attribute condition, and nothing any contributor can choose.",
             "critical when the workloads it admits can change both paths' DNS or failover state, high when "
             "one path's, medium when they reach a path's credentials or secrets only.",
             broad_federated_trust,
             steps=("Narrow the trust that admits {subject} to one exact subject, or remove it.",)),
        Rule("credential-expiry", "a credential or certificate the backup path depends on expires soon, or a key "
             "has gone unused or unrotated",
             "Renew or rotate the credential before it expires and automate its rotation; remove keys nobody "
             "uses.",
             "critical when it has expired, high when it expires within 7 days, medium when it expires later "
             "within the expiry window (correlate.expiry_days); medium for a long-lived key (a static key meant "
             "to be rotated) older than correlate.max_key_age_days; low for a key unused for "
             "correlate.unused_key_days.",
             credential_expiry),
    )
}


def recovery_options(ctx: Context, service: Service) -> list[RecoveryOption]:
    """For each identity that can steer the backup path: does it work with the primary's dependencies down?"""
    p, b = ctx.closures[service.name]
    primary_members = p.members()
    options = []
    for iid in sorted(b.steering):
        sp: SteeringPath = b.steering_path(iid)
        entities, labels = _dependencies(ctx.index, sp)
        shared = (*(e for e in entities if e in primary_members), *(d for d in labels if d in p.fault_domains))
        options.append(RecoveryOption(
            service=service.name, identity_id=iid, independent=not shared, conditional=sp.conditional,
            chain=sp.chain, identities=sp.identities, target=sp.target, depends_on_entities=entities,
            depends_on_fault_domains=labels, shared_with_primary=shared,
        ))
    return options


def _dependencies(index: Index, sp: SteeringPath) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What acting along `sp` needs: the entities (the identities, their credentials' stores, the changed
    resource and its parents), and the fault-domain labels of all of them."""
    ids: list[str] = []
    for iid in sp.identities:
        ids.append(iid)
        for cred in index.credentials_of.get(iid, ()):
            if cred.stored_in is not None:
                ids.append(cred.stored_in)
                holder = index.resources.get(cred.stored_in)
                ids.extend(holder.parents if holder is not None else ())
    stack = [sp.target]
    while stack:
        rid = stack.pop()
        if rid in ids:
            continue
        ids.append(rid)
        res = index.resources.get(rid)
        stack.extend(res.parents if res is not None else ())
    labels: list[str] = []
    for eid in ids:
        entity = index.entity(eid)
        labels.extend(entity.fault_domains if entity is not None else ())
    for iid in sp.identities:
        for cred in index.credentials_of.get(iid, ()):
            labels.extend(cred.fault_domains)
    return tuple(dict.fromkeys(ids)), tuple(dict.fromkeys(labels))


def data_rules() -> tuple[str, ...]:
    """The rules whose specific steps a provider's remediation.toml may give (the others write their own)."""
    return tuple(r.name for r in RULES.values() if r.steps is not None)
