"""AWS policy evaluation: pure code over policy documents, no SDK, no network.

Implements the rules of the IAM User Guide ("Policy evaluation logic", "Cross-account policy evaluation
logic", "IAM JSON policy elements: Condition operators", "… Resource"), as summarised in
shared/DOMAIN.md §2.1, with three-valued answers: YES, NO, and MAYBE when the answer rests on a
condition key the scanner cannot bind. The caller turns MAYBE into a `conditional` grant.

- Default deny; an explicit Deny that surely applies wins over everything; a Deny resting on an
  unsettled condition does not remove access (the result says so).
- Action/NotAction: case-insensitive, `*` and `?` wildcards. Resource/NotResource: case-sensitive, same
  wildcards; the service segment of an ARN pattern cannot be a wildcard.
- Identity policies ∩ permission boundary ∩ every SCP level (union within a level); SCPs do not apply to
  the management account or to service-linked roles.
- RCPs (resource control policies) of the *resource's* account cap requests to the services they cover
  (RCP_SERVICES), every level must allow and an explicit Deny wins; they do not apply to resources in the
  management account or to requests by service-linked roles. Route 53 is not an RCP service.
- Same account: identity and resource policies are a union; a resource policy naming the user (or role
  session) is not capped by the boundary, one naming the role is. Cross-account: both sides must allow.
- Role trust policies: naming the principal's ARN is enough in the same account; naming the account
  (`arn:aws:iam::A:root` or `A`) or `*` also needs an identity-policy allow of sts:AssumeRole.
- Conditions: keys absent from the request make the condition false, except negated operators,
  `…IfExists`, `Null` and `ForAllValues` (vacuously true); ForAnyValue needs one match; blocks are ANDed,
  values within one key are ORed.
"""

from __future__ import annotations

import enum
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


class Tri(enum.IntEnum):
    """A three-valued answer, ordered so that `min` is AND and `max` is OR."""

    NO = 0
    MAYBE = 1
    YES = 2

    def __invert__(self) -> Tri:  # type: ignore[override]
        return Tri(2 - int(self))


@dataclass(frozen=True)
class Condition:
    operator: str  # as written, e.g. "ForAllValues:StringLike"
    key: str  # as written
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    """One statement of a policy, normalised to tuples. `principals` is None in identity policies."""

    source: str  # "policy dns-write statement AllowRecords" — what `via` names
    effect: str  # "Allow" | "Deny"
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    conditions: tuple[Condition, ...] = ()
    principals: Mapping[str, tuple[str, ...]] | None = None
    not_principal: bool = False


class PolicyError(ValueError):
    """A policy document that is not valid JSON policy grammar."""


def _tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def parse_policy(document: Any, name: str) -> tuple[Statement, ...]:
    """Statements of one policy document (a dict, or JSON text, URL-encoded as IAM returns it)."""
    if isinstance(document, str):
        text = urllib.parse.unquote(document) if document.lstrip().startswith("%7B") else document
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"policy {name}: not JSON ({exc.msg})") from exc
    if not isinstance(document, dict):
        raise PolicyError(f"policy {name}: expected a JSON object")
    raw = document.get("Statement", [])
    raw = [raw] if isinstance(raw, dict) else raw
    out = []
    for i, st in enumerate(raw):
        if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny"):
            raise PolicyError(f"policy {name}: statement {i}: expected Effect Allow or Deny")
        sid = st.get("Sid") or f"#{i}"
        conditions = []
        for op, block in (st.get("Condition") or {}).items():
            if not isinstance(block, dict):
                raise PolicyError(f"policy {name}: statement {sid}: condition {op} is not an object")
            for key, values in block.items():
                conditions.append(Condition(op, key, _tuple(values)))
        principals = None
        not_principal = "NotPrincipal" in st
        p = st.get("NotPrincipal" if not_principal else "Principal")
        if p is not None:
            principals = {"AWS": ("*",)} if p == "*" else {k: _tuple(v) for k, v in p.items()}
        out.append(Statement(
            source=f"{name} statement {sid}",
            effect=st["Effect"],
            actions=_tuple(st.get("NotAction", st.get("Action"))),
            not_action="NotAction" in st,
            resources=_tuple(st.get("NotResource", st.get("Resource", "*"))),
            not_resource="NotResource" in st,
            conditions=tuple(conditions),
            principals=principals,
            not_principal=not_principal,
        ))
    return tuple(out)


# --- matching ----------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.S | (re.I if ignore_case else 0))


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, `*` and `?` anywhere."""
    return _glob(pattern, True).fullmatch(action) is not None


def resource_matches(pattern: str, arn: str) -> Tri:
    """IAM resource matching: case-sensitive wildcards; the service segment must be literal.

    MAYBE when the pattern holds a policy variable (`${aws:username}`) the scanner does not substitute."""
    if pattern == "*":
        return Tri.YES
    if "${" in pattern:
        return Tri.MAYBE
    p_parts, a_parts = pattern.split(":", 3), arn.split(":", 3)
    if len(p_parts) > 2 and len(a_parts) > 2 and any(c in p_parts[2] for c in "*?"):
        return Tri.NO  # "the service segment cannot be wildcarded"
    return Tri.YES if _glob(pattern, False).fullmatch(arn) else Tri.NO


@dataclass(frozen=True)
class Request:
    """One request to decide: who does what to which resource, and what the scanner knows of its context.

    `context` holds the condition keys the scanner can bind (lower-case names); `absent` lists keys known
    not to be in the request. Any other key is unknown: a condition on it is MAYBE."""

    action: str
    resource: str
    principal: str  # ARN of the caller (user or role)
    account: str  # the caller's account
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()
    resource_account: str | None = None  # None: same account as the caller


# Route 53's record-level keys exist only on ChangeResourceRecordSets; on any other action they are absent.
ROUTE53_RECORD_KEYS = frozenset({
    "route53:changeresourcerecordsetsnormalizedrecordnames",
    "route53:changeresourcerecordsetsrecordtypes",
    "route53:changeresourcerecordsetsactions",
})

_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike",
            "NumericNotEquals", "DateNotEquals", "NotIpAddress"}


def _value_matches(base: str, have: str, want: str) -> Tri:
    if "${" in want:
        return Tri.MAYBE
    if base in ("StringEquals", "StringNotEquals"):
        return Tri.YES if have == want else Tri.NO
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return Tri.YES if have.lower() == want.lower() else Tri.NO
    if base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike", "ArnEquals", "ArnNotEquals"):
        return Tri.YES if _glob(want, False).fullmatch(have) else Tri.NO
    if base == "Bool":
        return Tri.YES if have.lower() == want.lower() else Tri.NO
    if base.startswith("Numeric"):
        try:
            h, w = float(have), float(want)
        except ValueError:
            return Tri.NO
        return Tri.YES if {
            "NumericEquals": h == w, "NumericNotEquals": h == w, "NumericLessThan": h < w,
            "NumericLessThanEquals": h <= w, "NumericGreaterThan": h > w, "NumericGreaterThanEquals": h >= w,
        }.get(base, False) else Tri.NO
    return Tri.MAYBE  # Date*, IpAddress, Binary: never bound by the scanner


def _condition(cond: Condition, req: Request) -> Tri:
    op = cond.operator
    set_op = ""
    if ":" in op:
        set_op, op = op.split(":", 1)
    if_exists = op.endswith("IfExists")
    base = op.removesuffix("IfExists")
    key = cond.key.lower()
    if key in req.context:
        present: tuple[str, ...] | None = req.context[key]
    elif key in req.absent:
        present = None
    else:
        return Tri.MAYBE
    if base == "Null":
        want_absent = any(v.lower() == "true" for v in cond.values)
        return Tri.YES if (present is None or not present) == want_absent else Tri.NO
    if present is None or not present:
        if if_exists or set_op == "ForAllValues" or base in _NEGATED:
            return Tri.YES
        return Tri.NO
    negated = base in _NEGATED

    def one(have: str) -> Tri:
        hit = max((_value_matches(base, have, w) for w in cond.values), default=Tri.NO)
        return ~hit if negated else hit

    results = [one(v) for v in present]
    if set_op == "ForAllValues":
        return min(results)
    return max(results)  # ForAnyValue, and single-valued keys


def statement_applies(st: Statement, req: Request, *, check_principal: bool = False) -> Tri:
    """Whether `st` applies to `req`: action ∧ resource ∧ (principal) ∧ every condition."""
    hit = any(action_matches(a, req.action) for a in st.actions)
    if hit == st.not_action:
        return Tri.NO
    res = max((resource_matches(r, req.resource) for r in st.resources), default=Tri.NO)
    res = ~res if st.not_resource else res
    if res is Tri.NO:
        return Tri.NO
    if check_principal:
        who = principal_matches(st, req.principal, req.account)
        if who is Tri.NO:
            return Tri.NO
        res = min(res, who)
    for cond in st.conditions:
        res = min(res, _condition(cond, req))
        if res is Tri.NO:
            return Tri.NO
    return res


def principal_matches(st: Statement, arn: str, account: str) -> Tri:
    """Whether a resource or trust policy statement's Principal covers the caller."""
    if st.principals is None:
        return Tri.NO
    named = principal_naming(st, arn, account) is not None
    return Tri.YES if named != st.not_principal else Tri.NO


_NAMING_RANK = {"arn": 3, "account": 2, "*": 1, "": 0}


def _best_naming(statements: Iterable[Statement], req: Request, p: Principal) -> str:
    """The most specific way an applying Allow statement names the caller ("" when none does)."""
    return max((principal_naming(s, p.arn, p.account) or "" for s in statements
                if s.effect == "Allow" and statement_applies(s, req, check_principal=True)),
               key=_NAMING_RANK.__getitem__, default="")


def principal_naming(st: Statement, arn: str, account: str) -> str | None:
    """How a statement names the caller: "arn" (its own ARN), "account" (the account root or id), "*"
    (anyone), or None. Naming a role's ARN also covers its sessions."""
    if st.principals is None:
        return None
    values = st.principals.get("AWS", ())
    if arn in values:
        return "arn"
    if f"arn:aws:iam::{account}:root" in values or account in values:
        return "account"
    if "*" in values:
        return "*"
    return None


@dataclass(frozen=True)
class Decision:
    """The answer of one policy set, with the statements that gave it."""

    allow: Tri
    deny: Tri
    allow_from: tuple[str, ...] = ()
    deny_from: tuple[str, ...] = ()


def decide(statements: Iterable[Statement], req: Request, *, check_principal: bool = False) -> Decision:
    """The strongest Allow and strongest Deny among `statements` for `req`."""
    allow, deny = Tri.NO, Tri.NO
    allow_from: list[str] = []
    deny_from: list[str] = []
    for st in statements:
        t = statement_applies(st, req, check_principal=check_principal)
        if t is Tri.NO:
            continue
        if st.effect == "Deny":
            if t > deny:
                deny, deny_from = t, []
            if t == deny:
                deny_from.append(st.source)
        else:
            if t > allow:
                allow, allow_from = t, []
            if t == allow:
                allow_from.append(st.source)
    return Decision(allow, deny, tuple(allow_from), tuple(deny_from))


# --- principals and whole evaluations ------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """An IAM user or role with everything that decides what it may do."""

    arn: str
    account: str
    kind: str  # "user" | "role"
    policies: tuple[Statement, ...]  # identity policies: inline, attached managed, and (users) groups'
    boundary: tuple[Statement, ...] | None = None
    scp_levels: tuple[tuple[Statement, ...], ...] | None = None  # None: no SCPs apply (management account)
    tags: Mapping[str, str] = field(default_factory=dict)
    org_id: str | None = None  # the organization its account belongs to (binds aws:PrincipalOrgID)
    service_linked: bool = False


#: Services whose resources RCPs cover (AWS Organizations User Guide, "Resource control policies": the launch
#: set). Later additions cover services this connector decides no capability on. Route 53 is not among them.
RCP_SERVICES = frozenset({"s3", "sts", "kms", "sqs", "secretsmanager"})


@dataclass(frozen=True)
class Access:
    """Whether a principal can make a request, and why."""

    result: Tri
    via: tuple[str, ...]

    @property
    def granted(self) -> bool:
        return self.result is not Tri.NO

    @property
    def conditional(self) -> bool:
        return self.result is Tri.MAYBE


def _org_levels(levels: Iterable[Sequence[Statement]], req: Request, kind: str, cap: Tri, why: list[str],
                maybe_denies: list[str], sure_deny: Tri) -> tuple[Tri, Tri]:
    """Organization policies (SCPs or RCPs), one statement list per level: every level must allow, a sure
    Deny wins, an unsettled Deny is noted. Returns the new (cap, sure deny); `why`/`maybe_denies` grow."""
    for level in levels:
        d = decide(level, req)  # an RCP's Principal can only be "*"; SCPs have none
        cap = min(cap, d.allow)
        if d.allow is Tri.NO:
            why.append(f"no {kind} at one level of the organization allows it")
        if d.deny is Tri.YES:
            sure_deny = Tri.YES
            why.extend(d.deny_from)
        elif d.deny is Tri.MAYBE:
            maybe_denies.extend(d.deny_from)
    return cap, sure_deny


def _guardrails(p: Principal, req: Request) -> tuple[Tri, list[str], list[str], Tri]:
    """SCP and boundary: (the cap they put on the request, why, unsettled denies, sure deny)."""
    why: list[str] = []
    maybe_denies: list[str] = []
    cap, sure_deny = _org_levels(p.scp_levels or (), req, "SCP", Tri.YES, why, maybe_denies, Tri.NO)
    if p.boundary is not None:
        d = decide(p.boundary, req)
        if d.deny is Tri.YES:
            sure_deny = Tri.YES
            why.extend(d.deny_from)
        elif d.deny is Tri.MAYBE:
            maybe_denies.extend(d.deny_from)
        why.append(f"permissions boundary allows it ({', '.join(d.allow_from)})" if d.allow else
                   "the permissions boundary does not allow it")
    return cap, why, maybe_denies, sure_deny


def _rcp_guardrail(p: Principal, req: Request, rcp_levels: tuple[tuple[Statement, ...], ...] | None,
                   cap: Tri, why: list[str], maybe_denies: list[str], sure_deny: Tri) -> tuple[Tri, Tri]:
    """Apply the resource account's RCPs to `req` (when they cover its service): (cap, sure deny)."""
    if rcp_levels is None or p.service_linked or req.action.split(":", 1)[0].lower() not in RCP_SERVICES:
        return cap, sure_deny
    return _org_levels(rcp_levels, req, "RCP", cap, why, maybe_denies, sure_deny)


def evaluate(p: Principal, req: Request, resource_policy: Sequence[Statement] | None = None,
             *, identity_policies: Sequence[Statement] | None = None,
             rcp_levels: tuple[tuple[Statement, ...], ...] | None = None) -> Access:
    """Can `p` make `req`? Identity policies ∩ boundary ∩ SCPs ∩ the resource account's RCPs, with the
    resource policy where there is one.

    `identity_policies` replaces the principal's own (used to ask "what if it wrote itself a policy")."""
    own = decide(p.policies if identity_policies is None else identity_policies, req)
    cap, why, maybe_denies, sure_deny = _guardrails(p, req)
    cap, sure_deny = _rcp_guardrail(p, req, rcp_levels, cap, why, maybe_denies, sure_deny)
    maybe_denies.extend(own.deny_from if own.deny is Tri.MAYBE else ())
    boundary_allow = decide(p.boundary, req).allow if p.boundary is not None else Tri.YES
    rp = decide(resource_policy or (), req, check_principal=True)
    if own.deny is Tri.YES or rp.deny is Tri.YES or sure_deny is Tri.YES:
        return Access(Tri.NO, ("explicit Deny: " + ", ".join((*own.deny_from, *rp.deny_from, *why)),))
    maybe_denies.extend(rp.deny_from if rp.deny is Tri.MAYBE else ())
    identity_side = min(own.allow, boundary_allow)
    same_account = req.resource_account in (None, p.account)
    if same_account:
        naming = _best_naming(resource_policy or (), req, p)
        if naming == "arn":
            # A resource policy naming a user is not capped by its boundary; naming a role still is.
            rp_side = rp.allow if p.kind == "user" else min(rp.allow, boundary_allow)
        else:
            rp_side = Tri.NO  # naming the account (or *) delegates to the identity policies
        result = min(cap, max(identity_side, rp_side))
    else:
        result = min(cap, identity_side, rp.allow)
    if result is Tri.NO:
        return Access(Tri.NO, tuple(why) or ("no policy allows it",))
    via: list[str] = []
    if identity_side and own.allow_from:
        via.extend(own.allow_from)
    if rp.allow and rp.allow_from:
        via.extend(f"resource policy {s}" for s in rp.allow_from)
    via.extend(w for w in why if w.startswith("permissions boundary"))
    if maybe_denies:
        via.append(f"a Deny with a condition the scanner cannot settle does not remove it ({', '.join(maybe_denies)})")
    if result is Tri.MAYBE:
        via.append("conditional: rests on a condition the scanner cannot settle")
    return Access(result, tuple(via))


def can_assume(p: Principal, role_arn: str, role_account: str, trust: Sequence[Statement],
               context: Mapping[str, tuple[str, ...]] | None = None,
               rcp_levels: tuple[tuple[Statement, ...], ...] | None = None) -> Access:
    """sts:AssumeRole by `p` on a role: the trust policy and, unless it names `p` itself in the same
    account, an identity-policy allow too; the role account's RCPs cap both. (One pass over the trust
    policy; the identity side is evaluated once, as a same-account request, since the trust policy plays
    the resource policy's part.)"""
    req = Request(action="sts:AssumeRole", resource=role_arn, principal=p.arn, account=p.account,
                  context=_principal_context(p, context), absent=ROUTE53_RECORD_KEYS)
    allow, deny, naming = Tri.NO, Tri.NO, ""
    allow_from: list[str] = []
    deny_from: list[str] = []
    for st in trust:
        t = statement_applies(st, req, check_principal=True)
        if t is Tri.NO:
            continue
        if st.effect == "Deny":
            deny = max(deny, t)
            deny_from.append(st.source)
            continue
        if t >= allow:
            allow_from = allow_from if t == allow else []
            allow = t
            allow_from.append(st.source)
        n = principal_naming(st, p.arn, p.account) or ""
        if _NAMING_RANK[n] > _NAMING_RANK[naming]:
            naming = n
    if deny is Tri.YES or allow is Tri.NO:
        return Access(Tri.NO, ("the trust policy does not allow it",))
    how = {"arn": "names it", "account": "names its account"}.get(naming, "allows any principal")
    trust_why = f"trust policy {how} ({', '.join(allow_from)})"
    if naming == "arn" and role_account == p.account:
        cap, _, rcp_maybe, sure_deny = _guardrails(p, req)
        cap, sure_deny = _rcp_guardrail(p, req, rcp_levels, cap, [], rcp_maybe, sure_deny)
        if sure_deny is Tri.YES or decide(p.policies, req).deny is Tri.YES:
            return Access(Tri.NO, ("explicit Deny of sts:AssumeRole",))
        result, via = min(cap, allow), (trust_why,)
        if rcp_maybe:
            via = (*via, f"a Deny with a condition the scanner cannot settle does not remove it ({', '.join(rcp_maybe)})")
    else:
        own = evaluate(p, req, rcp_levels=rcp_levels)
        if not own.granted:
            return Access(Tri.NO, ("no identity policy allows sts:AssumeRole on it, or a guardrail denies it",))
        result, via = min(allow, own.result), (trust_why, *own.via)
    if deny is Tri.MAYBE:
        via = (*via, f"a trust-policy Deny with an unsettled condition does not remove it ({', '.join(deny_from)})")
    if result is Tri.MAYBE and not any(v.startswith("conditional") for v in via):
        via = (*via, "conditional: rests on a condition the scanner cannot settle")
    return Access(result, via) if result else Access(Tri.NO, ("explicit Deny or guardrail",))


def trusts_service(trust: Sequence[Statement], service: str) -> Tri:
    """Whether a role's trust policy lets an AWS service assume it (for iam:PassRole escalation)."""
    allow = Tri.NO
    for st in trust:
        if st.principals is None or any(action_matches(a, "sts:AssumeRole") for a in st.actions) == st.not_action:
            continue
        if service in st.principals.get("Service", ()) or "*" in st.principals.get("AWS", ()):
            t = Tri.MAYBE if st.conditions else Tri.YES
            if st.effect == "Deny" and t is Tri.YES:
                return Tri.NO
            if st.effect == "Allow":
                allow = max(allow, t)
    return allow


def _principal_context(p: Principal, extra: Mapping[str, tuple[str, ...]] | None) -> dict[str, tuple[str, ...]]:
    # An IAM user or role is never an AWS service principal; aws:PrincipalOrgID is present when its account
    # belongs to an organization.
    ctx = {"aws:principalarn": (p.arn,), "aws:principalaccount": (p.account,), "aws:principalisawsservice": ("false",)}
    if p.org_id:
        ctx["aws:principalorgid"] = (p.org_id,)
    ctx.update(extra or {})
    return ctx


def request(p: Principal, action: str, resource: str, *, resource_account: str | None = None,
            context: Mapping[str, tuple[str, ...]] | None = None,
            absent: Iterable[str] = ()) -> Request:
    """A request by `p`, with what the scanner knows about the caller bound."""
    known_absent = set(absent)
    if action.lower() != "route53:changeresourcerecordsets":
        known_absent |= ROUTE53_RECORD_KEYS
    return Request(action=action, resource=resource, principal=p.arn, account=p.account,
                   context=_principal_context(p, context), absent=frozenset(known_absent),
                   resource_account=resource_account)


ADMIN_POLICY = parse_policy({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
                            "any policy it writes itself")


def normalize_record_name(name: str) -> str:
    """Route 53's normalisation for `route53:ChangeResourceRecordSetsNormalizedRecordNames`: lower-case, no
    trailing dot, characters outside a-z 0-9 - _ . as a backslash and three octal digits."""
    name = name.lower().rstrip(".")
    return "".join(c if c.isalnum() and c.isascii() or c in "-_." else f"\\{ord(c):03o}" for c in name)
