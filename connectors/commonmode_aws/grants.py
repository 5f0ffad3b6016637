"""Capability grants: every capability of every principal (or escalated asker) on every target, the strongest
answer over the actions that give it; sts:AssumeRole edges between principals; one grant per edge."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import commonmode_aws.policy as P
from commonmode.kit import Decision, ids
from commonmode.model import Capability, Grant
from commonmode_aws.actions import CapabilityEntry
from commonmode_aws.batches import dns_write
from commonmode_aws.decide import CRRS, Asker, decide, grant, may, named, strongest
from commonmode_aws.estate import Estate, Target


def zone_type(t: Target) -> str | None:
    """"public" or "private" for a hosted zone, None for any other target."""
    return None if t.resource_type != "hostedzone" else "public" if t.resource.public else "private"


def capability_grants(estate: Estate, askers: Iterable[Asker] | None = None) -> None:
    """Decide every capability of every asker (by default every principal as it is) on every target."""
    every_action = {a for e in estate.actions.capabilities for a in e.actions}
    for who in (askers if askers is not None else (Asker(principal=p) for p in estate.principals.values())):
        candidates = frozenset(a for a in every_action if who.may(a))  # once per asker, not per target
        for t in estate.targets:
            target_grants(estate, who, t, candidates)


def target_grants(estate: Estate, who: Asker, t: Target, may: frozenset[str]) -> None:
    """Each capability on one target: the strongest answer over every action of every entry that gives it
    there (an action that cannot act on this kind of zone is not one of them)."""
    actions = estate.actions
    zone = zone_type(t)
    entries = [e for e in actions.for_resource(t.resource_type) if zone is None or zone in e.zone_types]
    registrar: list[CapabilityEntry] = []
    if zone is not None and t.account == who.principal.account:
        # Registrar actions act on the caller's own account's domains only.
        registrar = [e for e in actions.for_resource("*") if zone in e.zone_types]
    registrar_actions = {a for e in registrar for a in e.actions}
    for cap in dict.fromkeys(e.capability for e in (*entries, *registrar)):
        group = [e for e in (*entries, *registrar) if e.capability is cap]
        if cap is Capability.DNS_WRITE and zone is not None:
            if any(CRRS in e.actions for e in group) and (t.policy or CRRS in may):
                dns_write(estate, who, t)
            continue
        # The pre-filter may only skip an action whose answer is surely NO: none of the asker's identity
        # policies allows it, and the target has no resource policy that could.
        answers = ((a, registrar_decision(who, a) if a in registrar_actions else decide(who, t, a))
                   for e in group for a in e.actions if a in may or (t.policy and a not in registrar_actions))
        best = strongest(answers)
        if best is None:
            continue
        access, names = best
        reg = [a for a in names if a in registrar_actions]
        why = [f"{named([a for a in names if a not in reg])} allowed"] if len(reg) < len(names) else []
        if reg:
            why.append(f"{named(reg)} allowed (registrar: changes the domain's delegation)")
        grant(estate, who, cap, t.resource.id, access, *why,
              note=t.note if cap is Capability.SECRET_READ else None)


def registrar_decision(who: Asker, action: str) -> Decision:
    """A registrar action: no resource type, so Resource must match "*" (Service Authorization Reference)."""
    return P.evaluate(who.principal, P.request(who.principal, action, "*"), (), identity_policies=who.policies)


def assume_edges(estate: Estate) -> None:
    """sts:AssumeRole edges: candidates are the principals a trust policy names, and, where it names an
    account or * (or allows with NotPrincipal), the principals whose own policies could allow sts:AssumeRole."""
    principals, rcps = estate.principals, estate.rcps
    can_call = {arn for arn, p in principals.items() if may(p.policies, ("sts:AssumeRole",))}
    by_account: dict[str, list[str]] = defaultdict(list)
    for arn, p in principals.items():
        by_account[p.account].append(arn)
    for role, statements in estate.trust.items():
        role_account = ids.account_of(role)
        candidates: set[str] = set()
        for st in statements:
            if st.effect != "Allow" or st.principals is None:
                continue
            if st.not_principal:  # everyone but those it lists: can_assume decides who
                candidates |= can_call | {v for v in principals if v not in st.principals.get("AWS", ())}
                continue
            for v in st.principals.get("AWS", ()):
                if v == "*":
                    # "*" needs no identity Allow in the role's own account (IAM User Guide, "AWS JSON policy
                    # elements: Principal", All principals): every principal there is a candidate
                    candidates |= can_call | set(by_account.get(role_account, ()))
                elif v in principals:
                    candidates.add(v)
                else:
                    acct = ids.account_of(v)  # an account's ARN, or the bare account id
                    candidates |= {x for x in by_account.get(acct, ()) if x in can_call}
        for who in sorted(candidates - {role}):
            acc = P.can_assume(principals[who], role, role_account, statements,
                               rcp_levels=rcps.get(role_account))
            if acc.granted:
                grant(estate, Asker(principal=principals[who]), Capability.IDENTITY_ASSUME, role, acc,
                      "sts:AssumeRole")


def dedupe(grants: list[Grant]) -> list[Grant]:
    """One grant per (identity, capability, resource): an unconditional one beats a conditional one."""
    best: dict[tuple[str, str, str], Grant] = {}
    for g in grants:
        key = (g.identity_id, g.capability.value, g.resource_id)
        if key not in best or (best[key].conditional and not g.conditional):
            best[key] = g
    return list(best.values())
