"""Grants: which identity can do what to which resource. Allow policies across the hierarchy, conditions, deny
policies and escalation are decided by capabilities.grants_on with policy.py; this module gathers the inputs
once, finds who is bound above each resource, and turns members into identities:

- `serviceAccount:` members are the service accounts (read or not: one bound here from another project is
  still an identity); `user:` members, `allUsers` and `allAuthenticatedUsers` are identities of their own.
- `group:` members are the group's members, nested groups followed, where Cloud Identity let the run read them
  (collect.read_groups): each member gets what the group gets, and `via` names the group. A group whose members
  could not be read is a gap (recorded when the read failed; one per group for a snapshot that has none).
- `deleted:` members bind nobody ("deleted principals" in "Policies"): each is recorded, for review.
- Workload identity principals (`principal://…/subject/S`, `principalSet://…/attribute.A/V`, `…/*`) of a pool
  the run read become the external workloads its providers admit (wif.admits), narrowed by the binding:
  `github:repo:O/R`, `github:repo:O/*`, `github:any`, or `oidc:ISSUER:*`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from commonmode.connector import InventoryParts
from commonmode.kit import Decision, PolicyError, Tri, github, ids
from commonmode.kit.workloads import Admissions
from commonmode.model import Capability, Grant, Identity
from commonmode_gcp import capabilities as caps
from commonmode_gcp import policy as P
from commonmode_gcp.identities import Accounts
from commonmode_gcp.resources import Built, Target
from commonmode_gcp.snapshot import Snapshot
from commonmode_gcp.wif import Admitted, Provider, admits, merge, read_claims

_POOL = re.compile(r"(principal|principalSet)://iam\.googleapis\.com/(projects/[^/]+/locations/[^/]+/"
                   r"workloadIdentityPools/[^/]+)/(.+)")
_REPO_ATTRS = {"repository": "repository", "repository_owner": "owner"}


def estate_of(snap: Snapshot, gaps: list[str]) -> caps.Estate:
    """The run's allow policies, roles, deny policies and hierarchy, parsed (a document that does not parse is
    a gap naming it, and what it decides is missing)."""
    policies: dict[str, P.Policy] = {}
    for name, obj in snap.policies.items():
        try:
            policies[name] = P.Policy.parse(obj, f"allow policy of {name}")
        except PolicyError as exc:
            gaps.append(f"{exc}: ignored, so what it grants is missing")
    roles: dict[str, P.Role] = {}
    for name, obj in snap.roles.items():
        try:
            role = P.Role.parse(obj)
        except PolicyError as exc:
            gaps.append(f"role {name}: {exc}: bindings of it are not decided")
            continue
        if not obj.get("deleted"):
            roles[name] = role
    denies: list[P.DenyPolicy] = []
    for key, obj in snap.deny_policies:
        try:
            denies.append(replace(P.DenyPolicy.parse(obj), attached_to=key))
        except PolicyError as exc:
            gaps.append(f"deny policy {obj.get('name')}: {exc}: what it denies is not subtracted")
    return caps.Estate(policies_by_resource=policies, roles=roles, deny_policies=tuple(denies),
                       hierarchy=P.Hierarchy(dict(snap.parents)))


@dataclass(frozen=True)
class Subject:
    """Who a binding member stands for in the inventory: the identity id, the principal evaluated, and the
    external workload's own decision and steps (workload identity), if any."""

    identity_id: str
    principal: P.Identity
    admitted: Decision | None = None
    broad: str | None = None  # an external workload's: why its trust is too broad (kit.github.Reading)
    environment: str | None = None


@dataclass
class Pools:
    """Workload identity pools the run read: pool name (with the project number) -> its providers."""

    providers: dict[str, list[Provider]]

    @classmethod
    def of(cls, snap: Snapshot, gaps: list[str]) -> Pools:
        out: dict[str, list[Provider]] = {}
        for p in snap.projects:
            for pool in p.pools:
                if pool.get("disabled") or pool.get("state") == "DELETED":
                    out[str(pool["name"])] = []
                    continue
                parsed = []
                for obj in p.providers.get(str(pool["name"])) or []:
                    try:
                        parsed.append(Provider.parse(obj))
                    except PolicyError as exc:
                        gaps.append(f"workload identity provider {obj.get('name')}: {exc}: not analysed")
                out[str(pool["name"])] = parsed
        return cls(out)


def _narrow(a: Admitted, provider: Provider, what: str) -> list[Admitted]:
    """What of `a` (a workload the provider admits) a binding's principal `what` (after the pool: `*`,
    `attribute.A/V`, `subject/S`, `group/G`) still lets in; [] when nothing. On a GitHub provider the binding's
    claim joins the conjunction's and the kit reads them again; on an AWS provider `attribute.aws_role/ARN` (the
    default mapping's role session ARN) names that IAM role."""
    if what == "*":
        return [a]
    kind, _, value = what.partition("/")
    claim = None
    if kind == "subject":
        source = provider.attribute_mapping.get("google.subject", "")
        m = re.fullmatch(r"\s*assertion\.([A-Za-z_]+)\s*", source)
        claim = m.group(1) if m else None
    elif kind.startswith("attribute."):
        source = provider.attribute_mapping.get(kind, "")
        m = re.fullmatch(r"\s*assertion\.([A-Za-z_]+)\s*", source)
        claim = m.group(1) if m else None
    step = f"and the binding names {what}"
    if github.is_pattern(value):
        return []  # a principal's subject or attribute value is compared exactly: `*` or `?` in it is literal
    if provider.aws_account and (kind == "attribute.aws_role" or claim == "arn"):
        role = _aws_role(value, provider.aws_account)
        return [Admitted(role, Decision(a.decision.result, (*a.decision.via, step)))] if role else []
    if provider.github and claim:
        prior = a.claims.get(claim)
        if prior is not None and not any(github.matches(p, value) for p in prior):
            return []
        claims = {**a.claims, claim: frozenset({value})}
        return read_claims(claims, a.decision.result, (*a.decision.via, step))
    # a claim the scanner does not follow: the same workloads, only when it holds
    return [Admitted(a.workload, Decision(min(a.decision.result, Tri.MAYBE), (*a.decision.via, step)), a.broad,
                     a.environment, a.claims)]


def _aws_role(value: str, account: str) -> str | None:
    """The IAM role an `attribute.aws_role` or subject value names: the default mapping gives an assumed role as
    `arn:aws:sts::ACCOUNT:assumed-role/ROLE` (aws_role) and `…/assumed-role/ROLE/SESSION` (google.subject, the
    caller's ARN) ("Configure Workload Identity Federation with AWS"); an ARN of another account than the
    provider's admits nobody."""
    m = re.fullmatch(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)(?:/.*)?", value) or re.fullmatch(
        r"arn:(aws[a-z-]*):iam::(\d{12}):role/(?:.*/)?([^/]+)", value)
    if m is None or m.group(2) != account:
        return None
    # an assumed-role ARN names the role without its path: the id is the role's name in the account (a role
    # created under a path is reported by the AWS connector with it, and is not matched)
    return ids.iam_role_arn(account, m.group(3), partition=m.group(1))


def subjects(member: str, accounts: Accounts, pools: Pools,
             groups: Mapping[str, frozenset[str]] | None = None) -> list[Subject]:
    """Who a binding member stands for (see the module docstring); [] for groups (build_grants expands them),
    deleted and domain members. `groups`: each member email's groups (lower-case), as Cloud Identity listed them."""
    if P.is_deleted(member) or member.startswith(("group:", "domain:")):
        return []
    kind, _, value = member.partition(":")
    member_of = (groups or {}).get(value.lower(), frozenset())
    if kind == "serviceAccount" and not member.startswith("principal"):
        sid = accounts.by_email.get(value.lower()) or ids.gcp_service_account(value.lower())
        return [Subject(sid, P.Identity(member=member, groups=member_of))]
    if kind == "user" and not member.startswith("principal"):
        return [Subject(f"user:{value.lower()}", P.Identity(member=member, groups=member_of))]
    if member in (P.ALL_USERS, P.ALL_AUTHENTICATED_USERS):
        return [Subject(member, P.Identity(member=member))]
    m = _POOL.fullmatch(member)
    if m is None:
        return []
    pool, what = m.group(2), m.group(3)
    if pool not in pools.providers:
        # a pool the run did not read (another project): the principal itself, whatever it admits
        return [Subject(member, P.Identity(member=member),
                        Decision(Tri.MAYBE, (f"{member}: its pool was not read, so who it admits is not known",)))]
    found: dict[str, Admitted] = {}
    for provider in pools.providers[pool]:
        for a in admits(provider):
            for got in _narrow(a, provider, what):
                found[got.workload] = merge(found[got.workload], got) if got.workload in found else got
    return [Subject(a.workload, P.Identity(member=member), a.decision, a.broad, a.environment)
            for a in found.values()]


def _external(out: InventoryParts, admitted: Admissions, subject: Subject, target: str, connector: str,
              seen: set[str]) -> None:
    wid = subject.identity_id
    if wid.startswith(("github:", "gitlab:", "k8s:", "oidc:")):
        admitted.admit(wid, target, subject.broad, subject.environment)
        return
    if wid in seen:
        return
    seen.add(wid)
    account = ids.account_of(wid) if wid.startswith("arn:") else ""
    name = f"any principal of AWS account {account}" if wid.endswith(":root") and account else wid
    out.identities.append(Identity(id=wid, provider="aws" if account else "gcp", kind="federated-principal",
                                   name=name, connector=connector,
                                   fault_domains=(f"aws:account:{account}",) if account else ()))


def build_grants(snap: Snapshot, accounts: Accounts, built: Built, out: InventoryParts, connector: str) -> None:
    """Every grant of the run: for each resource, each member bound on it or above it, what grants_on decides
    (widening escalations expanded to the capabilities they lead to)."""
    table = caps.load_capabilities()
    estate = estate_of(snap, out.gaps)
    pools = Pools.of(snap, out.gaps)
    members_at: dict[str, set[str]] = defaultdict(set)
    for name, policy in estate.policies_by_resource.items():
        for b in policy.bindings:
            members_at[name].update(b.members)
    emitted = {i.id for i in out.identities}
    external: set[str] = set()
    admitted = Admissions(connector)
    gapped: set[str] = set()
    deleted_seen: set[str] = set()
    cache: dict[str, list[Subject]] = {}
    member_of: dict[str, set[str]] = defaultdict(set)
    for group, emails in snap.groups.items():
        for email in emails:
            member_of[email].add(group)
    groups = {email: frozenset(gs) for email, gs in member_of.items()}

    def subjects_of(member: str) -> list[Subject]:
        if member not in cache:
            if member.startswith("group:") and member.split(":", 1)[1].lower() in snap.groups:
                # each member of the group (its own groups known, so the group's bindings match it)
                cache[member] = [s for email in snap.groups[member.split(":", 1)[1].lower()]
                                 for s in subjects_of(("serviceAccount:" if email.endswith(".gserviceaccount.com")
                                                       else "user:") + email)]
            else:
                cache[member] = subjects(member, accounts, pools, groups)
        return cache[member]

    # A record set is decided by its zone: Cloud DNS takes allow policies on the project and the managed zone
    # only ("Access control", https://cloud.google.com/dns/docs/access-control), deny policies attach to
    # organizations, folders and projects ("Deny policies"), and conditions are not evaluated here. So what a
    # member gets on one record set of a zone it gets on each (records are most of the resources).
    # (a record set with an allow policy of its own, which Cloud DNS has not: each is decided alone)
    per_zone: dict[tuple[str, str], list[caps.Access]] | None = (
        None if any("/rrsets/" in name for name in estate.policies_by_resource) else {})
    for t in built.targets:
        try:
            above = estate.hierarchy.ancestors(t.name)
        except PolicyError as exc:
            out.gaps.append(f"{t.name}: {exc}: not decided")
            continue
        members = sorted(set().union(*(members_at.get(a, set()) for a in above)))
        resource = caps.Resource(name=t.name, kind=t.kind)
        for member in members:
            if member.startswith("domain:") and t.kind != "service-account" and member not in gapped:
                gapped.add(member)
                out.gaps.append(f"{member} holds roles on a path resource: every account of the domain gets "
                                "them, and its accounts are not listed, so who that is is missing")
            if member.startswith("group:") and t.kind != "service-account" and not (
                    member.split(":", 1)[1].lower() in snap.groups or member.split(":", 1)[1].lower()
                    in snap.groups_unread):
                _group_gap(out, member, gapped)
            if P.is_deleted(member) and member not in deleted_seen:
                deleted_seen.add(member)
                out.identities.append(Identity(id=member, provider="gcp", kind="deleted-principal", name=member,
                                               connector=connector, tags={"note": "a deleted principal still named "
                                                                          "in an allow policy: it binds nobody; "
                                                                          "remove the binding"}))
            for subject in subjects_of(member):
                _grant(out, subject, resource, t, table, estate, connector, emitted, (external, admitted),
                       per_zone)
    out.identities.extend(admitted.identities(emitted))


def _group_gap(out: InventoryParts, member: str, seen: set[str]) -> None:
    if member in seen:
        return
    seen.add(member)
    out.gaps.append(f"{member} holds roles on a path resource: its members were not read, so what they get "
                    "through it is missing")


def _accesses(subject: Subject, resource: caps.Resource, t: Target, table: caps.CapabilityTable,
              estate: caps.Estate) -> list[caps.Access]:
    """What grants_on decides, widening escalations expanded to what they lead to."""
    expanded: list[caps.Access] = []
    for a in caps.grants_on(subject.principal, resource, table=table, estate=estate):
        if a.capability is Capability.IDENTITY_ASSUME and t.kind != "service-account":
            expanded += caps.escalation_grants(subject.principal, resource, a, table=table, estate=estate)
        else:
            expanded.append(a)
    return expanded


def _grant(out: InventoryParts, subject: Subject, resource: caps.Resource, t: Target, table: caps.CapabilityTable,
           estate: caps.Estate, connector: str, emitted: set[str], externals: tuple[set[str], Admissions],
           per_zone: dict[tuple[str, str], list[caps.Access]] | None) -> None:
    if subject.identity_id == t.resource_id:
        return  # acting as itself is no edge
    key = (subject.principal.member, t.name.split("/rrsets/", 1)[0]) if (
        per_zone is not None and t.kind == "dns-record-set") else None
    try:
        expanded = per_zone.get(key) if per_zone is not None and key is not None else None
        if expanded is None:
            expanded = _accesses(subject, resource, t, table, estate)
            if per_zone is not None and key is not None:
                per_zone[key] = expanded
    except PolicyError as exc:
        out.gaps.append(f"{subject.identity_id} on {t.name}: {exc}: not decided, so grants there may be missing")
        return
    best: dict[Capability, caps.Access] = {}
    for a in expanded:
        if a.capability not in best or a.decision.result > best[a.capability].decision.result:
            best[a.capability] = a
    for a in best.values():
        via: Iterable[str] = a.decision.via
        conditional = a.decision.conditional
        if subject.admitted is not None:
            via = (*subject.admitted.via, *via)
            conditional = conditional or subject.admitted.result is Tri.MAYBE
            _external(out, externals[1], subject, t.resource_id, connector, externals[0])
        elif subject.identity_id not in emitted:
            emitted.add(subject.identity_id)
            out.identities.append(_member_identity(subject, connector))
        out.grants.append(Grant(identity_id=subject.identity_id, capability=a.capability, resource_id=t.resource_id,
                                connector=connector, via=tuple(via), conditional=conditional))


def _member_identity(subject: Subject, connector: str) -> Identity:
    """An identity bound here that the run did not list (a user, the public, a service account of a project
    not scanned)."""
    sid = subject.identity_id
    if sid.startswith("user:"):
        return Identity(id=sid, provider="gcp", kind="user", name=sid.removeprefix("user:"), connector=connector,
                        tags={"note": "a user account: the scanner reports it where it holds a path's capability"})
    if sid in (P.ALL_USERS, P.ALL_AUTHENTICATED_USERS):
        return Identity(id=sid, provider="gcp", kind="public", name=sid, connector=connector,
                        tags={"note": "anyone" if sid == P.ALL_USERS else "any Google account"})
    return Identity(id=sid, provider="gcp", kind="service-account", name=sid.rsplit("/", 1)[-1], connector=connector,
                    tags={"note": "bound here, but not in a scanned project: not listed"})

