"""Who asks and how a grant is recorded: the asker (a principal as it is, or as it could make itself), the
cheap pre-filter, the engine's answer on one target, the strongest of several answers, and the grant with
its `via`. Every grant rule builds on these."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import commonmode_aws.policy as P
from commonmode.kit import Decision, Tri
from commonmode.model import Capability, Grant
from commonmode_aws.estate import Estate, Target
from commonmode_aws.policy import Principal

CRRS = "route53:ChangeResourceRecordSets"
#: A grant's `via` lists at most this many actions by name (the strongest ones); the rest are counted.
NAMED_ACTIONS = 4


def mentions(st: P.Statement, action: str) -> bool:
    """Whether an Allow/Deny statement's Action (or NotAction) element covers `action`: an element with
    NotAction covers every action its list does NOT match (IAM User Guide, "IAM JSON policy elements:
    NotAction")."""
    return any(P.action_matches(pat, action) for pat in st.actions) != st.not_action


def may(statements: Iterable[P.Statement], actions: Iterable[str]) -> bool:
    """Cheap pre-filter: could an Allow among these identity-policy statements allow one of `actions`?
    Sound by construction: False only when no Allow covers any of them (each action checked on its own, so
    a NotAction listing some of them still allows the others). Resource policies are evaluated regardless."""
    wanted = tuple(actions)
    return any(st.effect == "Allow" and any(mentions(st, a) for a in wanted) for st in statements)


@dataclass(frozen=True, kw_only=True)
class Asker:
    """Who a grant is decided for: a principal as it is, or as it could make itself by escalating. Then
    `policies` replaces its identity policies, `prefix` says how it gets there, and `ceiling` caps every
    answer when the escalation itself rests on a condition the scanner cannot settle."""

    principal: Principal
    policies: Sequence[P.Statement] | None = None
    prefix: tuple[str, ...] = ()
    ceiling: Tri = Tri.YES

    def may(self, action: str) -> bool:
        """The pre-filter for one action, over the policies that decide for this asker."""
        return may(self.principal.policies if self.policies is None else self.policies, (action,))


def grant(estate: Estate, who: Asker, cap: Capability, what: str, access: Decision, *why: str,
          note: str | None = None) -> None:
    """Record one grant: `via` is how the asker got there, why, and the policies that decided it."""
    result = min(access.result, who.ceiling)
    via = (*who.prefix, *why, *access.via, *((note,) if note else ()))
    if result is Tri.MAYBE and not access.conditional:
        via = (*via, "conditional: the escalation it rests on depends on a condition the scanner cannot settle")
    estate.out.grants.append(Grant(identity_id=who.principal.arn, capability=cap, resource_id=what,
                                   via=via or ("policy allows it",), connector=estate.opts.connector,
                                   conditional=result is Tri.MAYBE or note is not None))


def decide(who: Asker, t: Target, action: str, context: Mapping[str, tuple[str, ...]] | None = None) -> Decision:
    """The engine's answer for `action` on the target, with its resource policy and RCPs."""
    p = who.principal
    req = P.request(p, action, t.arn, resource_account=t.account, context={**t.context, **(context or {})},
                    absent_prefixes=t.absent_prefixes)
    return P.evaluate(p, req, t.policy, identity_policies=who.policies, rcp_levels=t.rcp_levels)


def strongest(answers: Iterable[tuple[str, Decision]], *, stop_at_yes: bool = True
               ) -> tuple[Decision, tuple[str, ...]] | None:
    """The strongest answer over several actions (YES over MAYBE) and the actions that give it; None when
    none is granted. With `stop_at_yes`, the first YES ends the search (nothing is stronger)."""
    best: list[tuple[str, Decision]] = []
    for action, acc in answers:
        if not acc.granted or (best and acc.result < best[0][1].result):
            continue
        if best and acc.result > best[0][1].result:
            best = []
        best.append((action, acc))
        if stop_at_yes and acc.result is Tri.YES:
            break
    return (best[0][1], tuple(a for a, _ in best)) if best else None


def named(actions: Sequence[str]) -> str:
    """Actions for `via`: the first few by name, the rest counted."""
    shown = ", ".join(actions[:NAMED_ACTIONS])
    return shown + (f" and {len(actions) - NAMED_ACTIONS} more" if len(actions) > NAMED_ACTIONS else "")
