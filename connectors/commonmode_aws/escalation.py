"""Privilege escalation: IAM writes that let a principal take over another identity or rewrite its own
permissions, and iam:PassRole with a compute action. Each becomes an identity.assume edge, and what a
principal can make of itself is asked again as a stronger asker."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

import commonmode_aws.policy as P
from commonmode.kit import Decision, Tri
from commonmode.model import Capability
from commonmode_aws.decide import Asker, grant, may, named, strongest
from commonmode_aws.estate import Estate
from commonmode_aws.grants import capability_grants

_NOT_SELF_ADMIN = frozenset({"iam:UpdateAssumeRolePolicy", "iam:CreateAccessKey", "iam:CreateLoginProfile",
                             "iam:UpdateLoginProfile"})
_BOUNDARY_ACTIONS = frozenset({"iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary"})


@dataclass(frozen=True, kw_only=True)
class _Escalation:
    """What one principal can make of itself: the strongest answer for it, and why (for `via`)."""

    access: Decision
    why: str


def stronger(into: dict[str, _Escalation], arn: str, access: Decision, why: str) -> None:
    if arn not in into or access.result > into[arn].access.result:
        into[arn] = _Escalation(access=access, why=why)


def escalation_edges(estate: Estate) -> None:
    """IAM writes that let a principal act as (or rewrite) another identity become identity.assume edges;
    rewriting its own permissions makes it as powerful as its boundary and SCPs allow. Each edge, and each
    self-escalation, takes the strongest answer over every action that gives it."""
    principals, actions = estate.principals, estate.actions
    attached, group_members = estate.attached, estate.group_members
    esc_actions = [a for acts in actions.escalation.values() for a in acts]
    self_admin: dict[str, _Escalation] = {}
    boundary_off: dict[str, _Escalation] = {}
    joins: dict[str, list[tuple[str, tuple[P.Statement, ...], Decision]]] = defaultdict(list)  # user → groups
    for arn, p in principals.items():
        if not may(p.policies, esc_actions):
            continue
        for ttype, tarn in estate.iam_targets.get(p.account, ()):
            granted = [(a, acc) for a in actions.escalation.get(ttype, ()) if may(p.policies, (a,))
                       if (acc := P.evaluate(p, P.request(p, a, tarn))).granted]
            if ttype in ("role", "user"):
                victims = {tarn}
            elif ttype == "policy":
                victims = set(attached.get(tarn, ()))
            else:
                victims = set(group_members.get(tarn, ()))
            takeover = []
            for action, acc in granted:
                if action == "iam:AddUserToGroup":
                    # Joining a group gains its policies: the caller's own power grows; nobody else is taken over.
                    if p.kind == "user" and arn not in group_members.get(tarn, ()):
                        joins[arn].append((tarn, estate.group_policies.get(tarn, ()), acc))
                    continue
                takeover.append((action, acc))
                if arn in victims and action in _BOUNDARY_ACTIONS:
                    stronger(boundary_off, arn, acc, f"{action} on itself: can lift its own permissions boundary")
                elif arn in victims and action not in _NOT_SELF_ADMIN:
                    stronger(self_admin, arn, acc, f"{action} on {tarn}: can grant itself any permission "
                                                    f"(within its boundary and SCPs)")
            best = strongest(takeover, stop_at_yes=False)
            if best is None:
                continue
            for v in sorted(victims - {arn}):
                if v in principals:
                    grant(estate, Asker(principal=p), Capability.IDENTITY_ASSUME, v, best[0],
                          f"{named(best[1])} on {tarn} (privilege escalation: can take over or rewrite it)")
    passrole_edges(estate)
    askers = [Asker(principal=principals[a], policies=P.ADMIN_POLICY, prefix=(e.why,), ceiling=e.access.result)
              for a, e in sorted(self_admin.items())]
    for a, groups in sorted(joins.items()):
        if a in self_admin:
            continue
        # Joining groups gains their policies. Joining one only under an unsettled condition makes what it
        # adds conditional: the groups it surely joins are asked about on their own too.
        sure = [g for g in groups if g[2].result is Tri.YES]
        chosen = ([(sure, Tri.YES)] if sure else []) + (
            [(groups, min(acc.result for _, _, acc in groups))] if len(sure) < len(groups) else [])
        for some, ceiling in chosen:
            askers.append(Asker(
                principal=principals[a], policies=(*principals[a].policies, *(s for _, sts, _ in some for s in sts)),
                prefix=(f"iam:AddUserToGroup on {', '.join(g for g, _, _ in some)}: can join and gain its policies",),
                ceiling=ceiling))
    askers += [Asker(principal=dataclasses.replace(principals[a], boundary=None), prefix=(e.why,),
                      ceiling=e.access.result)
               for a, e in sorted(boundary_off.items()) if a not in self_admin]
    if askers:
        capability_grants(estate, askers)


def passrole_edges(estate: Estate) -> None:
    """iam:PassRole of a role to a service it trusts, with an action that starts compute there: the strongest
    answer over every service and compute action, capped by the trust (a conditional trust, a conditional
    pass or a conditional run make the edge conditional). What a principal can run on a service does not
    depend on the role: it is decided once per principal and service, not again for every role."""
    principals = estate.principals
    for arn, p in principals.items():
        if not may(p.policies, ("iam:PassRole",)):
            continue
        runs: dict[str, tuple[Decision, tuple[str, ...]] | None] = {}
        for role, statements in estate.trust.items():
            if principals[role].account != p.account or role == arn:
                continue
            best: tuple[Tri, str, tuple[str, ...], tuple[str, ...]] | None = None
            for service, compute in estate.actions.passrole.items():
                trusted = P.trusts_service(statements, service)
                if trusted is Tri.NO:
                    continue
                pass_acc = P.evaluate(p, P.request(p, "iam:PassRole", role,
                                                   context={"iam:passedtoservice": (service,)}))
                if not pass_acc.granted:
                    continue
                if service not in runs:
                    runs[service] = strongest((a, P.evaluate(p, P.request(p, a, "*"))) for a in compute
                                              if may(p.policies, (a,)))
                run = runs[service]
                if run is None:
                    continue
                result = min(trusted, pass_acc.result, run[0].result)
                if best is None or result > best[0]:
                    via = (*pass_acc.via, *run[0].via)
                    if trusted is Tri.MAYBE:
                        via = (*via, f"the role's trust of {service} rests on a condition the scanner cannot settle")
                    best = (result, service, run[1], via)
                if result is Tri.YES:
                    break
            if best is None:
                continue
            result, service, compute_actions, via = best
            if result is Tri.MAYBE and not any(v.startswith("conditional") for v in via):
                via = (*via, "conditional: rests on a condition the scanner cannot settle")
            grant(estate, Asker(principal=p), Capability.IDENTITY_ASSUME, role, Decision(result, via),
                  f"iam:PassRole to {service} with {named(compute_actions)} (privilege escalation: runs code "
                  "as the role)")
