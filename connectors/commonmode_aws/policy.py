"""AWS policy evaluation: pure code over policy documents, no SDK, no network.

Implements the rules of the IAM User Guide ("Policy evaluation logic", "Cross-account policy evaluation
logic", "IAM JSON policy elements: Condition operators", "… Resource", "IAM policy elements: Variables and
tags", "Creating a condition with multiple keys or values"; from
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html). Answers
are three-valued: YES, NO, and MAYBE when access depends on a value the scanner cannot know. The caller turns
MAYBE into a `conditional` grant.

- Default deny; an explicit Deny in any applicable policy (identity, boundary, SCP, RCP, resource or trust
  policy) wins.
- Action/NotAction: case-insensitive, `*` and `?` wildcards. Resource/NotResource: case-sensitive, same
  wildcards; the service segment of an ARN pattern cannot be a wildcard.
- Identity policies ∩ permission boundary ∩ every SCP level (union within a level); SCPs do not apply to
  the management account or to service-linked roles.
- RCPs (resource control policies) of the *resource's* account cap requests to the services they cover
  (RCP_SERVICES), every level must allow and an explicit Deny wins; they do not apply to resources in the
  management account or to requests by service-linked roles. Route 53 is not an RCP service.
- Same account: identity and resource policies are a union. A resource policy naming the user, or `*`
  (which names the user or the role session itself), grants with no identity Allow and is not capped by the
  boundary; one naming the role's ARN is capped by the role's boundary; one naming the account delegates to
  the identity policies ("Policy evaluation for requests within a single account"; "AWS JSON policy elements:
  Principal", All principals and IAM role principals). SCPs, RCPs and every explicit Deny still apply.
  Cross-account: both sides must allow.
- Role trust policies, a resource-based policy with the same rules: naming the user's ARN or `*` is enough
  in the same account, naming the role's ARN too where the caller's boundary allows sts:AssumeRole; naming
  the account (`arn:aws:iam::A:root` or `A`), or any principal of another account, also needs an
  identity-policy Allow of sts:AssumeRole.
- NotPrincipal (on a Deny: "AWS JSON policy elements: NotPrincipal"): it always denies a principal with a
  permissions boundary, whatever it names; otherwise it leaves out only the principals it names (naming an
  account leaves out that account, not its users and roles). A user is left out when its ARN and its account
  are named (its ARN alone: MAYBE, "might deny access to the entire account"); a role session when the
  session is named, which the scanner cannot know: naming the role or one of its sessions is MAYBE.
- Documents outside the policy grammar ("Grammar of the IAM JSON policy language": Statement, Version,
  Action/Resource/Principal strings, Condition objects, one of each element and its Not form) raise
  PolicyError and nothing else.
- What the scanner knows of a request (`request`): aws:PrincipalArn, aws:PrincipalAccount,
  aws:PrincipalType, aws:PrincipalIsAWSService (false), aws:PrincipalOrgID when the organization is known;
  for an IAM user aws:username (and aws:userid when its unique id is given); aws:PrincipalTag/* of a user,
  and of a role whose sessions cannot carry session tags (every other tag key is absent); a role has no
  aws:username. Route 53's record keys are absent from every action but ChangeResourceRecordSets. The
  caller binds more (resource tags, record keys). Every other key is *unsettled*.
- Conditions: blocks and keys are ANDed, the values of one key ORed (NOR for negated operators). A key
  absent from the request makes a condition false, except negated operators and `…IfExists` (true). `Null`
  tests presence (an empty set counts as absent). `ForAllValues` is true on an absent or empty key,
  `ForAnyValue` false whatever its operator, negated and `…IfExists` ones included. A single-valued operator
  on a key holding several values has no documented meaning: MAYBE. ArnLike/ArnEquals match the six ARN
  components separately; Date (ISO 8601 or epoch), IpAddress (CIDR), Numeric and Bool compare values.
- Policy variables (only in policies of Version 2012-10-17) in Resource/NotResource and in String/Arn
  condition values are substituted from the request; `${*}`, `${?}`, `${$}` are literal characters;
  `${key, 'default'}` uses the default when the key has no value; a variable with no value makes that
  element (or value) match nothing; a variable on an unsettled key leaves it MAYBE.
- Unsettled keys: when one pass leaves the answer MAYBE, the whole decision is evaluated again in every
  combination of representative values of the unsettled keys that the applicable statements mention (see
  `_domain`). Allowed in every combination → YES; in none → NO (two complementary Denies, or an identity
  policy and a guardrail that want opposite values); otherwise MAYBE, with the unsettled Denies named in
  `via`. `can_assume` does this over the trust policy and the caller's policies together. Past MAX_WORLDS
  combinations, or for a key compared in incompatible ways, the one-pass MAYBE stands (it is sound).
"""

from __future__ import annotations

import contextlib
import enum
import ipaddress
import itertools
import json
import math
import re
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final, NamedTuple

from commonmode.kit import Decision, PolicyError, Tri


def _tri(flag: bool) -> Tri:
    return Tri.YES if flag else Tri.NO


class _Unknown(enum.Enum):
    """A context key the scanner cannot settle."""

    UNKNOWN = 0


_UNKNOWN: Final = _Unknown.UNKNOWN
#: A key's state in a request: its values, None when it is absent, or _UNKNOWN.
KeyState = tuple[str, ...] | None | _Unknown


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
    # IAM User Guide, "Variables and tags": `${…}` is a policy variable only in policies of Version
    # 2012-10-17; without it, it is literal text.
    variables: bool = True


#: "IAM JSON policy element reference", Version: the two versions of the policy language.
_VERSIONS = ("2012-10-17", "2008-10-17")


def _strings(value: Any, what: str) -> tuple[str, ...]:
    """An element that is a string or an array of strings ("Grammar of the IAM JSON policy language":
    action, resource and principal id strings); anything else is not policy grammar."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PolicyError(f"{what}: expected a string or a list of strings")


def _parse_value(value: Any, what: str) -> str:
    # Grammar: a condition value is a string, a number or a Boolean; JSON spells Booleans true/false.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise PolicyError(f"{what}: expected a string, number or Boolean condition value")


def _parse_values(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(_parse_value(v, what) for v in value)
    return (_parse_value(value, what),)


def _one_of(st: Mapping[str, Any], positive: str, negative: str, where: str) -> str | None:
    """Which of an element and its Not form a statement has: not both (grammar: `<action_block>` is one
    of the two, so is `<resource_block>` and `<principal_block>`)."""
    if positive in st and negative in st:
        raise PolicyError(f"{where}: both {positive} and {negative}")
    return negative if negative in st else positive if positive in st else None


def _parse_principals(value: Any, what: str) -> Mapping[str, tuple[str, ...]]:
    # Grammar: `"*"` or an object of principal types (AWS, Service, Federated, CanonicalUser) to id strings.
    if value == "*":
        return {"AWS": ("*",)}
    if not isinstance(value, dict):
        raise PolicyError(f"{what}: expected \"*\" or an object of principal types")
    if not all(isinstance(k, str) for k in value):
        raise PolicyError(f"{what}: principal types are strings")
    return {k: _strings(v, f"{what} {k}") for k, v in value.items()}


def _parse_conditions(value: Any, where: str) -> tuple[Condition, ...]:
    # Grammar: an object of condition operators, each an object of keys to a value or an array of them.
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: Condition is not an object")
    out: list[Condition] = []
    for op, block in value.items():
        if not isinstance(block, dict) or not isinstance(op, str) or not all(isinstance(k, str) for k in block):
            raise PolicyError(f"{where}: condition {op!r} is not an object of condition keys")
        out.extend(Condition(op, key, _parse_values(values, f"{where}: condition {op} {key}"))
                   for key, values in block.items())
    return tuple(out)


def _parse_statement(st: Any, i: int, name: str, variables: bool) -> Statement:
    if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny"):
        raise PolicyError(f"policy {name}: statement {i}: expected Effect Allow or Deny")
    sid = st.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyError(f"policy {name}: statement {i}: Sid is not a string")
    where = f"policy {name}: statement {sid or f'#{i}'}"
    action = _one_of(st, "Action", "NotAction", where)
    if action is None:
        raise PolicyError(f"{where}: no Action or NotAction")
    resource = _one_of(st, "Resource", "NotResource", where)
    principal = _one_of(st, "Principal", "NotPrincipal", where)
    return Statement(
        source=f"{name} statement {sid or f'#{i}'}",
        effect=st["Effect"],
        actions=_strings(st[action], f"{where}: {action}"),
        not_action=action == "NotAction",
        # A trust policy has no Resource element: its statements cover the role itself.
        resources=_strings(st[resource], f"{where}: {resource}") if resource else ("*",),
        not_resource=resource == "NotResource",
        conditions=_parse_conditions(st["Condition"], where) if "Condition" in st else (),
        principals=_parse_principals(st[principal], f"{where}: {principal}") if principal else None,
        not_principal=principal == "NotPrincipal",
        variables=variables,
    )


def parse_policy(document: Any, name: str) -> tuple[Statement, ...]:
    """Statements of one policy document (a dict, or JSON text, URL-encoded as IAM returns it).

    Anything that is not the policy grammar ("Grammar of the IAM JSON policy language") raises PolicyError,
    and nothing else: the connector records it as a gap for that policy."""
    if isinstance(document, str):
        text = urllib.parse.unquote(document) if document.lstrip().startswith("%7B") else document
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"policy {name}: not JSON ({exc.msg})") from exc
        except RecursionError as exc:
            raise PolicyError(f"policy {name}: not JSON (nested too deeply)") from exc
    if not isinstance(document, dict):
        raise PolicyError(f"policy {name}: expected a JSON object")
    version = document.get("Version", "2008-10-17")  # "IAM JSON policy elements: Version": the default
    if version not in _VERSIONS:
        raise PolicyError(f"policy {name}: Version must be one of {', '.join(_VERSIONS)}")
    raw = document.get("Statement", [])
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list):
        raise PolicyError(f"policy {name}: Statement is not an object or a list of them")
    variables = version == "2012-10-17"
    return tuple(_parse_statement(st, i, name, variables) for i, st in enumerate(raw))


# --- matching ----------------------------------------------------------------------------------

#: Stand-ins for the `${*}` and `${?}` escapes: a literal `*` or `?` that is not a wildcard (IAM User Guide,
#: "Variables and tags", special characters).
_LITERAL_STAR, _LITERAL_QMARK = "\ue000", "\ue001"


def _literal(text: str) -> str:
    return text.replace(_LITERAL_STAR, "*").replace(_LITERAL_QMARK, "?")


@lru_cache(maxsize=65536)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(_literal(c)) for c in pattern)
    return re.compile(body, re.S | (re.I if ignore_case else 0))


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, `*` and `?` anywhere."""
    return _glob(pattern, True).fullmatch(action) is not None


def resource_matches(pattern: str, arn: str, req: Request | None = None, *, variables: bool = True) -> Tri:
    """IAM resource matching: case-sensitive wildcards; the service segment must be literal.

    Policy variables are substituted from `req`: one without a value makes the element match nothing (IAM
    User Guide, "Policy variables with no value"); one the scanner cannot settle (any, without `req`) gives
    MAYBE. `variables=False`: the policy predates variables, `${…}` is literal text."""
    if pattern == "*":
        return Tri.YES
    if variables and "${" in pattern:
        value = _resolve(pattern, req)
        if value is None:
            return Tri.NO
        if value is _UNKNOWN:
            return Tri.MAYBE
        pattern = value
    regex = _resource_glob(pattern)
    return Tri.YES if regex is not None and regex.fullmatch(arn) else Tri.NO


@lru_cache(maxsize=65536)
def _resource_glob(pattern: str) -> re.Pattern[str] | None:
    parts = pattern.split(":", 3)
    if len(parts) > 2 and any(c in parts[2] for c in "*?"):
        return None  # "the service segment cannot be wildcarded": the pattern matches nothing
    return _glob(pattern, False)


@dataclass(frozen=True)
class Request:
    """One request to decide: who does what to which resource, and what the scanner knows of its context.

    `context` holds the condition keys the scanner can bind (lower-case names); `absent` lists keys known
    not to be in the request, and `absent_prefixes` families of them (every `aws:principaltag/…` the context
    lacks). Any other key is unknown: a condition on it is MAYBE. `assumed` holds the values the world
    reasoning tries for unknown keys: conditions see them, policy variables do not (a value chosen to
    decide one comparison says nothing about another). `bounded`: the caller has a permissions boundary,
    which decides what a NotPrincipal Deny does to it (`principal_matches`)."""

    action: str
    resource: str
    principal: str  # ARN of the caller (user or role)
    account: str  # the caller's account
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()
    resource_account: str | None = None  # None: same account as the caller
    absent_prefixes: tuple[str, ...] = ()
    assumed: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)
    bounded: bool = False


def _settled(key: str, req: Request) -> KeyState:
    """What the scanner knows of `key` (lower case) in `req`, without the assumed values."""
    if key in req.context:
        return req.context[key]
    if key in req.absent or (req.absent_prefixes and key.startswith(req.absent_prefixes)):
        return None
    return _UNKNOWN


def _lookup(key: str, req: Request) -> KeyState:
    """The state of `key` (lower case) as a condition sees it."""
    state = _settled(key, req)
    if state is _UNKNOWN and key in req.assumed:
        return req.assumed[key]
    return state


# Route 53's record-level keys exist only on ChangeResourceRecordSets; on any other action they are absent.
ROUTE53_RECORD_KEYS = frozenset({
    "route53:changeresourcerecordsetsnormalizedrecordnames",
    "route53:changeresourcerecordsetsrecordtypes",
    "route53:changeresourcerecordsetsactions",
})

# --- policy variables ------------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"\s*([^,\s']+)\s*(?:,\s*'([^']*)'\s*)?")
_ESCAPES = {"*": _LITERAL_STAR, "?": _LITERAL_QMARK, "$": "$"}


@lru_cache(maxsize=16384)
def _template(text: str) -> tuple[str | tuple[str, str | None], ...]:
    """`text` as literal pieces and (key, default) variables; a variable that does not parse has key ""."""
    parts: list[str | tuple[str, str | None]] = []
    pos = 0
    for m in _VARIABLE.finditer(text):
        parts.append(text[pos:m.start()])
        inner = m.group(1)
        if inner in _ESCAPES:
            parts.append(_ESCAPES[inner])
        else:
            body = _VARIABLE_BODY.fullmatch(inner)
            parts.append((body.group(1).lower(), body.group(2)) if body else ("", None))
        pos = m.end()
    parts.append(text[pos:])
    return tuple(p for p in parts if p != "")


def _resolve(text: str, req: Request | None) -> str | _Unknown | None:
    """`text` with its policy variables substituted: None when one has no value and no default (IAM User
    Guide, "Policy variables with no value" and "Specifying default values"), _UNKNOWN when one rests on a
    key the scanner cannot settle."""
    out = []
    for part in _template(text):
        if isinstance(part, str):
            out.append(part)
            continue
        key, default = part
        value = _settled(key, req) if key and req is not None else _UNKNOWN
        if value is _UNKNOWN:
            return _UNKNOWN
        if not value:  # absent, or an empty set
            if default is None:
                return None
            out.append(default)
        elif len(value) > 1:
            return _UNKNOWN  # "You can't use a multivalued condition key as a variable"
        else:
            out.append(value[0])
    return "".join(out)


# --- condition operators -------------------------------------------------------------------------------

_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike",
            "NumericNotEquals", "DateNotEquals", "NotIpAddress"}

#: Operator → family (IAM User Guide, "IAM JSON policy elements: Condition operators").
_FAMILY = {op: family for family, ops in (
    ("string", ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
                "StringLike", "StringNotLike")),
    ("arn", ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike")),
    ("numeric", ("NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
                 "NumericGreaterThan", "NumericGreaterThanEquals")),
    ("date", ("DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
              "DateGreaterThanEquals")),
    ("bool", ("Bool",)), ("ip", ("IpAddress", "NotIpAddress")), ("binary", ("BinaryEquals",)), ("null", ("Null",)),
) for op in ops}


@lru_cache(maxsize=1024)
def _operator(op: str) -> tuple[str, str, bool]:
    """(set operator or "", base operator, IfExists) of an operator as written."""
    set_op = ""
    if ":" in op:
        set_op, op = op.split(":", 1)
    return set_op, op.removesuffix("IfExists"), op.endswith("IfExists")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


_YEAR_MONTH = re.compile(r"(\d{4})(?:-(\d{2}))?")


@lru_cache(maxsize=4096)
def _epoch(text: str) -> float | None:
    """A date condition value or request value as epoch seconds: "W3C implementations of the ISO 8601 date
    formats or epoch (UNIX) time" (IAM User Guide, Date condition operators)."""
    text = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?(e[+-]?\d+)?", text, re.I):
        return float(text)
    ym = _YEAR_MONTH.fullmatch(text)
    if ym:
        text = f"{ym.group(1)}-{ym.group(2) or '01'}-01"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@lru_cache(maxsize=4096)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _in_network(have: str, want: str) -> bool:
    net, addr = _network(want), _address(have)
    return net is not None and addr is not None and addr in net


def _ordered(base: str, have: float | None, want: float | None) -> bool:
    if have is None or want is None:
        return False
    test = base.removeprefix("Numeric").removeprefix("Date")
    return {"Equals": have == want, "NotEquals": have == want, "LessThan": have < want,
            "LessThanEquals": have <= want, "GreaterThan": have > want, "GreaterThanEquals": have >= want}[test]


def _arn_matches(pattern: str, arn: str) -> bool:
    # IAM User Guide, ARN condition operators: "Each of the six colon-delimited components of the ARN is
    # checked separately", so a wildcard does not run past a colon (except in the resource part).
    p, a = pattern.split(":", 5), arn.split(":", 5)
    return len(p) == len(a) and all(_glob(x, False).fullmatch(y) for x, y in zip(p, a, strict=True))


def _value_matches(base: str, have: str, want: str) -> Tri:
    """Whether one request value matches one policy value under a (non-negated spelling of the) operator."""
    family = _FAMILY.get(base)
    if family == "string":
        if base in ("StringEquals", "StringNotEquals"):
            return _tri(have == _literal(want))
        if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
            return _tri(have.lower() == _literal(want).lower())
        return _tri(_glob(want, False).fullmatch(have) is not None)
    if family == "arn":
        return _tri(_arn_matches(want, have))
    if family == "bool":
        return _tri(have.lower() == want.lower())
    if family == "numeric":
        return _tri(_ordered(base, _number(have), _number(want)))
    if family == "date":
        return _tri(_ordered(base, _epoch(have), _epoch(want)))
    if family == "ip":
        return _tri(_in_network(have, want))
    return Tri.MAYBE  # BinaryEquals (the scanner binds no binary key) and operators IAM does not define


def _condition_values(cond: Condition, base: str, req: Request, variables: bool) -> tuple[str | Tri, ...]:
    """The policy values of `cond`, variables substituted: a value with no value for its variable becomes
    NO (it matches nothing), one resting on an unsettled key MAYBE. Variables are only substituted in
    string and ARN comparisons (IAM User Guide, "Where you can use policy variables")."""
    if not variables or _FAMILY.get(base) not in ("string", "arn") or not any("${" in v for v in cond.values):
        return cond.values
    out: list[str | Tri] = []
    for v in cond.values:
        value = _resolve(v, req)
        out.append(Tri.NO if value is None else Tri.MAYBE if isinstance(value, _Unknown) else value)
    return tuple(out)


def _condition(cond: Condition, req: Request, variables: bool = True) -> Tri:
    set_op, base, if_exists = _operator(cond.operator)
    if set_op not in ("", "ForAnyValue", "ForAllValues"):
        return Tri.MAYBE
    present = _lookup(cond.key.lower(), req)
    if isinstance(present, _Unknown):  # _UNKNOWN, its only member
        return Tri.MAYBE
    empty = not present
    if base == "Null":
        # "Condition operator to check existence of condition keys": true = absent (an empty set counts, as
        # "Multivalued context key examples" shows for Null false); values are ORed; a set operator adds nothing.
        return _tri(any(v.lower() == ("true" if empty else "false") for v in cond.values))
    if not present:  # empty
        # "Creating a condition with multiple keys or values": ForAnyValue is false "for no matching key or a
        # null dataset" and ForAllValues true — whatever the operator, negated or …IfExists (re:Post
        # "ForAnyValue:StringEqualsIfExists behaving unexpectedly" shows the IfExists form false too).
        # Otherwise: "Condition operators": an absent key fails, but negated operators and …IfExists pass.
        if set_op:
            return _tri(set_op == "ForAllValues")
        return _tri(if_exists or base in _NEGATED)
    if not set_op and len(present) > 1:
        return Tri.MAYBE  # "Multivalued context keys require a condition set operator"; no rule without one
    wants = _condition_values(cond, base, req, variables)
    negated = base in _NEGATED

    def one(have: str) -> Tri:
        hit = max((_value_matches(base, have, w) if isinstance(w, str) else w for w in wants), default=Tri.NO)
        return ~hit if negated else hit

    results = [one(v) for v in present]
    return min(results) if set_op == "ForAllValues" else max(results)


def statement_applies(st: Statement, req: Request, *, check_principal: bool = False) -> Tri:
    """Whether `st` applies to `req`: action ∧ resource ∧ (principal) ∧ every condition."""
    hit = any(action_matches(a, req.action) for a in st.actions)
    if hit == st.not_action:
        return Tri.NO
    res = Tri.NO
    for r in st.resources:
        res = max(res, resource_matches(r, req.resource, req, variables=st.variables))
        if res is Tri.YES:
            break
    res = ~res if st.not_resource else res
    if res is Tri.NO:
        return Tri.NO
    if check_principal:
        who = principal_matches(st, req.principal, req.account, bounded=req.bounded)
        if who is Tri.NO:
            return Tri.NO
        res = min(res, who)
    for cond in st.conditions:
        res = min(res, _condition(cond, req, st.variables))
        if res is Tri.NO:
            return Tri.NO
    return res


def principal_matches(st: Statement, arn: str, account: str, *, bounded: bool = False) -> Tri:
    """Whether a resource or trust policy statement's Principal (or NotPrincipal) covers the caller.
    `bounded`: the caller has a permissions boundary."""
    if st.principals is None:
        return Tri.NO
    if not st.not_principal:
        return _tri(principal_naming(st, arn, account) is not None)
    if bounded and st.effect == "Deny":
        # IAM User Guide, "AWS JSON policy elements: NotPrincipal", key points: a NotPrincipal Deny "will always
        # deny any IAM principal that has a permissions boundary policy attached, regardless of the values
        # specified in the NotPrincipal element".
        return Tri.YES
    return ~_excepted(st, arn, account)


def _excepted(st: Statement, arn: str, account: str) -> Tri:
    """Whether a NotPrincipal element names the caller itself, which it then leaves out (IAM User Guide, "AWS
    JSON policy elements: NotPrincipal"). It leaves out only the principals it names: naming an account leaves
    out that account (its root user), not its users and roles ("all principals except the user named Bob" are
    denied when Bob and his account are named). The caller's account must be named too, or AWS "might deny
    access to the entire account containing the principal" (key points; undecided: MAYBE). A role acts
    through a session, which is the principal: the page's role example names the session, the role and the
    account, and a session must be named by its own ARN ("you cannot use a wildcard (*) to mean all
    sessions"); the scanner does not know session names, so naming the role or one of its sessions is MAYBE,
    and naming neither leaves the session denied."""
    values = st.principals.get("AWS", ()) if st.principals is not None else ()
    if "*" in values:
        return Tri.YES
    if arn.split(":", 5)[-1].startswith("role/"):
        sessions = f"arn:aws:sts::{account}:assumed-role/{arn.rsplit('/', 1)[-1]}/"
        return Tri.MAYBE if arn in values or any(v.startswith(sessions) for v in values) else Tri.NO
    if arn not in values:
        return Tri.NO
    return Tri.YES if f"arn:aws:iam::{account}:root" in values or account in values else Tri.MAYBE


_NAMING_RANK = {"arn": 3, "account": 2, "*": 1, "": 0}


def principal_naming(st: Statement, arn: str, account: str) -> str | None:
    """How a statement's Principal names the caller: "arn" (its own ARN), "account" (the account root or
    id), "*" (anyone), or None (NotPrincipal names whom it leaves out: None). Naming a role's ARN also covers
    its sessions ("AWS JSON policy elements: Principal", IAM role principals)."""
    if st.principals is None or st.not_principal:
        return None
    values = st.principals.get("AWS", ())
    if arn in values:
        return "arn"
    if f"arn:aws:iam::{account}:root" in values or account in values:
        return "account"
    if "*" in values:
        return "*"
    return None


def _granted_to(st: Statement, p: Principal) -> str | None:
    """How a same-account resource or trust policy Allow grants to `p`, by what its Principal names (IAM User
    Guide, "Policy evaluation for requests within a single account" and "AWS JSON policy elements: Principal"):

    - "direct": granted to the caller itself, so that it needs no identity-policy Allow and no permissions
      boundary caps it (only an explicit Deny, SCPs and RCPs still apply). Naming an IAM user's ARN ("not
      limited by an implicit deny in an identity-based policy or permissions boundary"), or "*": All
      principals, "for IAM users and role principals within your account, no other permissions are
      required", and IAM role principals, "permissions boundaries or session policies do not limit
      permissions granted ... with a wildcard(*) in the Principal element, unless the identity-based policies
      contain an explicit deny". A role acts through its session, which "*" covers like its own ARN.
    - "capped": naming the role's ARN: "limited by any policy types that limit permissions for the role. This
      includes session policies and permissions boundaries" (IAM role principals).
    - None: naming the account delegates to the identity policies (AWS account principals); or not named."""
    if st.principals is None or st.not_principal:
        return None
    values = st.principals.get("AWS", ())
    if "*" in values or (p.arn in values and p.kind == "user"):
        return "direct"
    return "capped" if p.arn in values else None


@dataclass(frozen=True)
class AllowDeny:
    """The strongest Allow and the strongest Deny of one policy set, with the statements that gave them."""

    allow: Tri
    deny: Tri
    allow_from: tuple[str, ...] = ()
    deny_from: tuple[str, ...] = ()


def decide(statements: Iterable[Statement], req: Request, *, check_principal: bool = False) -> AllowDeny:
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
    return AllowDeny(allow, deny, tuple(allow_from), tuple(deny_from))


def _strongest(*denies: tuple[Tri, Sequence[str]]) -> tuple[Tri, tuple[str, ...]]:
    """The strongest of several (Deny, statements) pairs, with the statements at that strength."""
    top = max((d for d, _ in denies), default=Tri.NO)
    return top, tuple(s for d, names in denies if d == top and top is not Tri.NO for s in names)


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
    unique_id: str | None = None  # UserId / RoleId: binds a user's aws:userid
    # A role whose trust policy lets callers pass session tags (`allows_tag_session`): its sessions'
    # aws:PrincipalTag/* may differ from its own tags ("Passing session tags in AWS STS": session tags
    # override the role's), so they are unsettled.
    session_tags: bool = False


#: Services whose resources RCPs cover (AWS Organizations User Guide, "Resource control policies": the launch
#: set). Later additions cover services this connector decides no capability on. Route 53 is not among them.
RCP_SERVICES = frozenset({"s3", "sts", "kms", "sqs", "secretsmanager"})


class _Guard(NamedTuple):
    """What SCPs, RCPs and the boundary say about one request (a tuple: built on every evaluation)."""

    cap: Tri  # every SCP and RCP level allows
    deny: Tri  # the strongest Deny among them
    denied_by: tuple[str, ...]
    boundary_allow: Tri
    why: tuple[str, ...]


def _rcps_apply(p: Principal, req: Request, rcp_levels: tuple[tuple[Statement, ...], ...] | None) -> bool:
    return (rcp_levels is not None and not p.service_linked
            and req.action.split(":", 1)[0].lower() in RCP_SERVICES)


def _guardrails(p: Principal, req: Request, rcp_levels: tuple[tuple[Statement, ...], ...] | None) -> _Guard:
    """SCP levels, the resource account's RCP levels (when they cover the service) and the boundary. Every
    organization level must allow (a union within a level); an RCP's Principal can only be "*"."""
    why: list[str] = []
    cap = Tri.YES
    denies: list[tuple[Tri, Sequence[str]]] = []
    rcps = rcp_levels if rcp_levels is not None and _rcps_apply(p, req, rcp_levels) else ()
    for kind, levels in (("SCP", p.scp_levels or ()), ("RCP", rcps or ())):
        for level in levels:
            d = decide(level, req)
            cap = min(cap, d.allow)
            if d.allow is Tri.NO:
                why.append(f"no {kind} at one level of the organization allows it")
            if d.deny:
                denies.append((d.deny, d.deny_from))
    boundary_allow = Tri.YES
    if p.boundary is not None:
        d = decide(p.boundary, req)
        boundary_allow = d.allow
        if d.deny:
            denies.append((d.deny, d.deny_from))
        why.append(f"permissions boundary allows it ({', '.join(d.allow_from)})" if d.allow else
                   "the permissions boundary does not allow it")
    deny, denied_by = _strongest(*denies) if denies else (Tri.NO, ())
    return _Guard(cap, deny, denied_by, boundary_allow, tuple(why))


class _Outcome(NamedTuple):
    """One pass of a decision over one request: the answer, why, and the Denies it could not settle."""

    result: Tri
    via: tuple[str, ...]
    unsettled: tuple[str, ...] = ()

    def access(self) -> Decision:
        return Decision(self.result, self.via)


_CONDITIONAL = "conditional: rests on a condition the scanner cannot settle"


def _unsettled_note(denies: Sequence[str], what: str = "a Deny") -> str:
    return f"{what} resting on a condition the scanner cannot settle may remove it ({', '.join(denies)})"


#: `via` when a same-account resource or trust policy grants the caller itself (`_granted_to`).
_DIRECT = ("granted to the caller itself (its user ARN, or \"*\", in its own account): no identity-policy Allow "
           "needed, no permissions boundary caps it")


def _granted(statements: Sequence[Statement], p: Principal, req: Request) -> tuple[Tri, Tri]:
    """The strongest same-account Allow among `statements` granted to `p` directly, and to its role ARN."""
    direct, capped = Tri.NO, Tri.NO
    for st in statements:
        how = _granted_to(st, p) if st.effect == "Allow" else None
        if how is None:
            continue
        t = statement_applies(st, req, check_principal=True)
        if how == "direct":
            direct = max(direct, t)
        else:
            capped = max(capped, t)
    return direct, capped


def _evaluate_once(p: Principal, req: Request, resource_policy: Sequence[Statement] | None,
                   identity_policies: Sequence[Statement] | None,
                   rcp_levels: tuple[tuple[Statement, ...], ...] | None) -> _Outcome:
    """One pass of `evaluate`, three-valued: exact when every key is settled, sound otherwise."""
    own = decide(p.policies if identity_policies is None else identity_policies, req)
    g = _guardrails(p, req, rcp_levels)
    rp_statements = resource_policy or ()
    rp = decide(rp_statements, req, check_principal=True)
    deny, denied_by = (_strongest((own.deny, own.deny_from), (rp.deny, rp.deny_from), (g.deny, g.denied_by))
                       if own.deny or rp.deny or g.deny else (Tri.NO, ()))
    if deny is Tri.YES:
        return _Outcome(Tri.NO, (f"explicit Deny: {', '.join(denied_by)}",))
    identity_side = min(own.allow, g.boundary_allow)
    direct = Tri.NO
    if req.resource_account in (None, p.account):
        # Same account, a union ("Policy evaluation for requests within a single account"): what the resource
        # policy grants the caller directly (its user ARN, or "*") needs no identity Allow and no boundary caps
        # it; what it grants the role's ARN the boundary caps; naming the account adds nothing to the identity
        # policies (`_granted_to`).
        direct, capped = _granted(rp_statements, p, req)
        result = min(g.cap, max(identity_side, direct, min(capped, g.boundary_allow)))
    else:
        result = min(g.cap, identity_side, rp.allow)
    result = min(result, ~deny)
    if result is Tri.NO:
        return _Outcome(Tri.NO, tuple(w for w in g.why if not w.startswith("permissions boundary allows"))
                        or ("no policy allows it",))
    via: list[str] = []
    if identity_side and own.allow_from:
        via.extend(own.allow_from)
    if rp.allow and rp.allow_from:
        via.extend(f"resource policy {s}" for s in rp.allow_from)
    if direct > identity_side:
        via.append(_DIRECT)
    via.extend(w for w in g.why if w.startswith("permissions boundary"))
    unsettled = denied_by if deny is Tri.MAYBE else ()
    if unsettled:
        via.append(_unsettled_note(unsettled))
    if result is Tri.MAYBE:
        via.append(_CONDITIONAL)
    return _Outcome(result, tuple(via), unsettled)


def _sources(p: Principal, req: Request, resource_policy: Sequence[Statement] | None,
             identity_policies: Sequence[Statement] | None,
             rcp_levels: tuple[tuple[Statement, ...], ...] | None) -> list[tuple[Sequence[Statement], bool]]:
    """Every statement list `evaluate` consults, with whether its Principal element is checked."""
    out: list[tuple[Sequence[Statement], bool]] = [
        (p.policies if identity_policies is None else identity_policies, False), (p.boundary or (), False),
        *((lvl, False) for lvl in p.scp_levels or ()), (resource_policy or (), True)]
    if _rcps_apply(p, req, rcp_levels):
        out.extend((lvl, False) for lvl in rcp_levels or ())
    return out


def evaluate(p: Principal, req: Request, resource_policy: Sequence[Statement] | None = None,
             *, identity_policies: Sequence[Statement] | None = None,
             rcp_levels: tuple[tuple[Statement, ...], ...] | None = None) -> Decision:
    """Can `p` make `req`? Identity policies ∩ boundary ∩ SCPs ∩ the resource account's RCPs, with the
    resource policy where there is one; over every case of the keys the scanner cannot settle.

    `identity_policies` replaces the principal's own (used to ask "what if it wrote itself a policy")."""
    if req.bounded != (p.boundary is not None):
        req = replace(req, bounded=p.boundary is not None)  # a Request built by hand, not by `request`
    first = _evaluate_once(p, req, resource_policy, identity_policies, rcp_levels)
    if first.result is not Tri.MAYBE:
        return Decision(first.result, first.via)

    def once(r: Request) -> _Outcome:
        return _evaluate_once(p, r, resource_policy, identity_policies, rcp_levels)

    return _in_every_case(p, req, first, once, _sources(p, req, resource_policy, identity_policies, rcp_levels))


def _assume_once(p: Principal, role_arn: str, role_account: str, trust: Sequence[Statement], req: Request,
                 rcp_levels: tuple[tuple[Statement, ...], ...] | None) -> _Outcome:
    """One pass of `can_assume`. Two ways in: the trust policy grants the caller itself in the role's account
    (its ARN, or "*"; then the guardrails must allow, nothing deny, and a role named by its ARN its boundary
    allow: `_granted_to`), or the caller's own policies allow sts:AssumeRole too."""
    allow, deny = Tri.NO, Tri.NO
    allow_from: list[str] = []
    deny_from: list[str] = []
    naming = ""
    for st in trust:
        t = statement_applies(st, req, check_principal=True)
        if t is Tri.NO:
            continue
        if st.effect == "Deny":
            if t > deny:
                deny, deny_from = t, []
            if t == deny:
                deny_from.append(st.source)
            continue
        if t > allow:
            allow, allow_from = t, []
        if t == allow:
            allow_from.append(st.source)
        n = principal_naming(st, p.arn, p.account) or ""
        naming = n if _NAMING_RANK[n] > _NAMING_RANK[naming] else naming
    if deny is Tri.YES or allow is Tri.NO:
        return _Outcome(Tri.NO, ("the trust policy does not allow it",))
    how = {"arn": "names it", "account": "names its account"}.get(naming, "allows any principal")
    via = [f"trust policy {how} ({', '.join(allow_from)})"]
    unsettled = list(deny_from) if deny is Tri.MAYBE else []
    direct = Tri.NO
    direct_denies: tuple[str, ...] = ()
    direct_why: list[str] = []
    granted, capped = _granted(trust, p, req) if role_account == p.account else (Tri.NO, Tri.NO)
    if granted or capped:
        # A trust policy is a resource-based policy: the same-account rules of `_granted_to` hold ("AWS JSON
        # policy elements: Principal"; AWS Security Blog, "How to use trust policies with IAM roles").
        g = _guardrails(p, req, rcp_levels)
        own = decide(p.policies, req)
        d, direct_denies = _strongest((g.deny, g.denied_by), (own.deny, own.deny_from))
        trusted = max(granted, min(capped, g.boundary_allow))
        direct = Tri.NO if d is Tri.YES else min(g.cap, trusted, ~d)
        direct_denies = direct_denies if d is Tri.MAYBE else ()
        direct_why = [_DIRECT] if granted >= trusted and p.boundary is not None else \
            [w for w in g.why if w.startswith("permissions boundary")]
    ident = None if direct is Tri.YES else _evaluate_once(p, req, None, None, rcp_levels)
    through_identity = min(allow, ident.result) if ident is not None else Tri.NO
    result: Tri
    if direct is not Tri.NO and direct >= through_identity:
        result = direct
        unsettled.extend(direct_denies)
        via.extend(direct_why)
        if direct_denies:
            via.append(_unsettled_note(direct_denies))
    elif ident is not None and through_identity is not Tri.NO:
        result = through_identity
        unsettled.extend(ident.unsettled)
        via.extend(ident.via)
    elif granted or capped:
        return _Outcome(Tri.NO, ("explicit Deny of sts:AssumeRole, or a guardrail (or, for a role the trust "
                                 "policy names, its permissions boundary) does not allow it",))
    else:
        return _Outcome(Tri.NO, ("no identity policy allows sts:AssumeRole on it, or a guardrail denies it",))
    result = min(result, ~deny)
    if deny is Tri.MAYBE:
        via.append(_unsettled_note(deny_from, "a trust-policy Deny"))
    if result is Tri.MAYBE and not any(v.startswith("conditional") for v in via):
        via.append(_CONDITIONAL)
    return _Outcome(result, tuple(via), tuple(unsettled))


def can_assume(p: Principal, role_arn: str, role_account: str, trust: Sequence[Statement],
               context: Mapping[str, tuple[str, ...]] | None = None,
               rcp_levels: tuple[tuple[Statement, ...], ...] | None = None, *,
               absent: Iterable[str] = ()) -> Decision:
    """sts:AssumeRole by `p` on a role: the trust policy and, unless it names `p` itself in the same
    account, an identity-policy allow too; the role account's RCPs cap both. The identity side is evaluated
    as a same-account request, since the trust policy plays the resource policy's part. Unsettled keys are
    reasoned over for the trust policy and the caller's policies together."""
    req = request(p, "sts:AssumeRole", role_arn, context=context, absent=absent)

    def once(r: Request) -> _Outcome:
        return _assume_once(p, role_arn, role_account, trust, r, rcp_levels)

    first = once(req)
    if first.result is not Tri.MAYBE:
        return first.access()
    return _in_every_case(p, req, first, once, [(trust, True), *_sources(p, req, None, None, rcp_levels)])


# --- reasoning over the values of unsettled keys --------------------------------------------------------

#: Most combinations of unsettled key values one decision is evaluated in; past it the one-pass MAYBE stands.
MAX_WORLDS: Final = 256
#: Keys every request carries (IAM User Guide, "AWS global condition context keys", each key's Availability).
_ALWAYS_PRESENT = frozenset({"aws:currenttime", "aws:epochtime", "aws:securetransport", "aws:requestedregion",
                             "aws:useragent", "aws:viaawsservice", "aws:userid", "aws:principalarn",
                             "aws:principalaccount", "aws:principaltype", "aws:principalisawsservice"})
#: A role acts only with temporary credentials, whose requests carry these ("aws:MultiFactorAuthPresent",
#: "aws:TokenIssueTime": present "only when the principal uses temporary credentials").
_ROLE_PRESENT = frozenset({"aws:multifactorauthpresent", "aws:tokenissuetime"})
#: The type of the global keys the engine reasons over (same page, "Data type").
_KEY_KINDS = {"aws:multifactorauthpresent": "bool", "aws:securetransport": "bool", "aws:viaawsservice": "bool",
              "aws:principalisawsservice": "bool", "aws:sourceip": "ip", "aws:vpcsourceip": "ip",
              "aws:ec2instancesourceprivateipv4": "ip", "aws:currenttime": "date", "aws:tokenissuetime": "date",
              "aws:epochtime": "epoch", "aws:multifactorauthage": "numeric"}
#: Operator families each key type can be compared with (aws:EpochTime takes date and numeric operators).
_COMPARABLE = {"bool": {"bool", "string"}, "epoch": {"numeric", "date"}, "string": {"string", "arn"},
               "numeric": {"numeric"}, "date": {"date"}, "ip": {"ip"}}
#: Multivalued global keys ("Value type – Multivalued"), and Route 53's record keys.
_MULTIVALUED = frozenset({"aws:calledvia", "aws:principalorgpaths", "aws:principalservicenameslist",
                          "aws:resourceorgpaths", "aws:tagkeys", *ROUTE53_RECORD_KEYS})

#: (set operator, base operator, policy values) of one condition on a key.
_Comparison = tuple[str, str, tuple[str, ...]]


def _in_every_case(p: Principal, req: Request, first: _Outcome, once: Callable[[Request], _Outcome],
                   sources: Sequence[tuple[Sequence[Statement], bool]]) -> Decision:
    """Re-decide a MAYBE in every combination of representative values of the unsettled keys the
    applicable statements mention: YES if allowed in all, NO if in none, MAYBE otherwise."""
    found = _unsettled_comparisons(req, sources)
    domains = {key: d for key, (_, comparisons) in found.items()
               if (d := _domain(key, tuple(comparisons), _presence(key, p, req))) is not None}
    if not domains:
        return first.access()
    names = ", ".join(sorted(found[k][0] for k in domains))
    combinations = math.prod(len(d) for d in domains.values())
    if combinations > MAX_WORLDS:
        return Decision(Tri.MAYBE, (*first.via, f"{combinations} combinations of {names}: too many to check"))
    seen: dict[Tri, list[_Outcome]] = {Tri.YES: [], Tri.NO: [], Tri.MAYBE: []}
    for values in itertools.product(*domains.values()):
        outcome = once(replace(req, assumed={**req.assumed, **dict(zip(domains, values, strict=True))}))
        seen[outcome.result].append(outcome)
        if seen[Tri.YES] and (seen[Tri.NO] or seen[Tri.MAYBE]):
            break  # the answer is MAYBE whatever the rest say
    allowed = _union(o.via for o in seen[Tri.YES])
    if not seen[Tri.NO] and not seen[Tri.MAYBE]:
        return Decision(Tri.YES, (*allowed, f"allowed whatever the value of {names} (each case checked)"))
    if not seen[Tri.YES] and not seen[Tri.MAYBE]:
        return Decision(Tri.NO, (f"no access whatever the value of {names} (each case checked)",
                               *_union(o.via for o in seen[Tri.NO])))
    via = [v for v in (allowed or first.via) if not v.startswith(("conditional", "a Deny", "a trust-policy"))]
    via.extend(v for v in first.via if v.startswith(("a Deny", "a trust-policy")))
    via.append(f"conditional: depends on {names}")
    return Decision(Tri.MAYBE, tuple(via))


def _union(vias: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for via in vias for v in via))


def _unsettled_comparisons(req: Request, sources: Sequence[tuple[Sequence[Statement], bool]]
                           ) -> dict[str, tuple[str, list[_Comparison]]]:
    """key → (its name as written, the comparisons on it) for every unsettled key a statement that may
    apply conditions on (a statement that cannot apply whatever the key's value is left out)."""
    found: dict[str, tuple[str, list[_Comparison]]] = {}
    for statements, check_principal in sources:
        for st in statements:
            unknown = [c for c in st.conditions if _lookup(c.key.lower(), req) is _UNKNOWN]
            if not unknown or statement_applies(st, req, check_principal=check_principal) is not Tri.MAYBE:
                continue
            for cond in unknown:
                key = cond.key.lower()
                set_op, base, _ = _operator(cond.operator)
                values = tuple(v for v in _condition_values(cond, base, req, st.variables) if isinstance(v, str))
                found.setdefault(key, (cond.key, []))[1].append((set_op, base, values))
    return found


def _presence(key: str, p: Principal, req: Request) -> str:
    """"always" (the key is in every such request), "nonempty" (present with one value or more), "maybe"."""
    if key in _ALWAYS_PRESENT or (p.kind == "role" and key in _ROLE_PRESENT):
        return "always"
    if key in ROUTE53_RECORD_KEYS and req.action.lower() == "route53:changeresourcerecordsets":
        return "nonempty"  # Route 53 Developer Guide: every change of the batch contributes its values
    return "maybe"


@lru_cache(maxsize=4096)
def _domain(key: str, comparisons: tuple[_Comparison, ...], presence: str
            ) -> tuple[tuple[str, ...] | None, ...] | None:
    """Representative values of `key`: for every way its value can answer the comparisons on it (each
    literal, a string per cell of the patterns, an address inside and outside each CIDR, each bound and
    either side of it, true and false), one value; for a multivalued key every set of them; and absence
    (None) unless the key is always present. None when no finite set is known to cover every case."""
    elements = _elements(key, comparisons)
    if elements is None:
        return None
    if key in _MULTIVALUED or any(set_op for set_op, _, _ in comparisons):
        if 2 ** len(elements) > MAX_WORLDS:
            return None
        values: list[tuple[str, ...] | None] = [
            c for r in range(len(elements) + 1) for c in itertools.combinations(elements, r)]
        if presence != "always":
            values = values[1:]  # the empty set: a condition sees it as absent (None below), or it cannot be
    else:
        values = [(e,) for e in elements]
    if presence == "maybe":
        values.append(None)
    return tuple(values)


def _elements(key: str, comparisons: tuple[_Comparison, ...]) -> tuple[str, ...] | None:
    """One value per combination of answers the key's comparisons can give (None: not known how)."""
    families = {_FAMILY.get(base, "other") for _, base, _ in comparisons} - {"null"}
    kind = _KEY_KINDS.get(key)
    if kind is None:
        kind = "string" if families <= {"string", "arn"} else next(iter(families)) if len(families) == 1 else None
    if kind is None or not families <= _COMPARABLE.get(kind, set()):
        return None
    tests = tuple((base, v) for _, base, values in comparisons if base != "Null" for v in values)
    if kind == "bool":
        candidates: Sequence[str] | None = ("true", "false")
    elif kind in ("numeric", "date", "epoch"):
        candidates = _ordered_candidates(tests)
    elif kind == "ip":
        candidates = _ip_candidates(tests)
    else:
        candidates = _string_candidates(tests)
    if candidates is None:
        return None
    cells: dict[tuple[Tri, ...], str] = {}
    for c in candidates:
        cells.setdefault(tuple(_value_matches(base, c, v) for base, v in tests), c)
    return tuple(cells.values())


def _ordered_candidates(tests: tuple[tuple[str, str], ...]) -> list[str]:
    """Each bound, a value between neighbouring bounds, and one below and above them all (epoch seconds for
    dates, which the date operators accept)."""
    bounds = sorted({x for base, v in tests
                     if (x := (_number(v) if base.startswith("Numeric") else _epoch(v))) is not None})
    if not bounds:
        return ["0"]
    points = [bounds[0] - 1, *bounds, *((a + b) / 2 for a, b in itertools.pairwise(bounds)), bounds[-1] + 1]
    return [repr(float(x)) for x in points]


def _ip_candidates(tests: tuple[tuple[str, str], ...]) -> list[str]:
    """Both ends of every network and the addresses just outside them, and both ends of each address space.
    CIDR blocks nest or are disjoint, so any set of blocks an address can be in (and no other) holds one of
    these: the first address after a covered stretch, or an end of the innermost block."""
    points: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [
        ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("255.255.255.255"),  # noqa: S104 — a value, not a bind
        ipaddress.ip_address("::"), ipaddress.ip_address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    for _, v in tests:
        net = _network(v)
        if net is None:
            continue
        for addr, step in ((net.network_address, 0), (net.broadcast_address, 0),
                           (net.network_address, -1), (net.broadcast_address, 1)):
            with contextlib.suppress(ipaddress.AddressValueError, ValueError):  # past the end of the address space
                points.append(addr + step)
    return [str(a) for a in points]


# A string comparison as a tiny automaton: tokens are ("lit", c), ("ci", lower c), ("any", crosses ":")
# and ("star", crosses ":"); a state is the set of token positions reached.
_Token = tuple[str, Any]
_MAX_STRING_STATES: Final = 4096


@lru_cache(maxsize=4096)
def _tokens(base: str, value: str) -> tuple[_Token, ...]:
    if base in ("StringEquals", "StringNotEquals"):
        return tuple(("lit", c) for c in _literal(value))
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return tuple(("ci", c.lower()) for c in _literal(value))
    arn = _FAMILY.get(base) == "arn"
    parts = value.split(":", 5) if arn else [value]
    out: list[_Token] = []
    for i, part in enumerate(parts):
        if i:
            out.append(("lit", ":"))
        crosses = not arn or i == 5  # ARN components: a wildcard stays within its component (as _arn_matches)
        out.extend(("star", crosses) if c == "*" else ("any", crosses) if c == "?" else ("lit", _literal(c))
                   for c in part)
    return tuple(out)


def _closure(tokens: tuple[_Token, ...], positions: Iterable[int]) -> frozenset[int]:
    out, todo = set(), list(positions)
    while todo:
        i = todo.pop()
        if i in out:
            continue
        out.add(i)
        if i < len(tokens) and tokens[i][0] == "star":
            todo.append(i + 1)
    return frozenset(out)


def _step(tokens: tuple[_Token, ...], state: frozenset[int], c: str) -> frozenset[int]:
    nxt = []
    for i in state:
        if i == len(tokens):
            continue
        kind, arg = tokens[i]
        if (kind == "lit" and c == arg) or (kind == "ci" and c.lower() == arg) or (kind == "any" and (arg or c != ":")):
            nxt.append(i + 1)
        elif kind == "star" and (arg or c != ":"):
            nxt.append(i)
    return _closure(tokens, nxt)


@lru_cache(maxsize=4096)
def _string_candidates(tests: tuple[tuple[str, str], ...]) -> tuple[str, ...] | None:
    """A string for every combination of answers the string and ARN comparisons can give: a breadth-first
    walk of their product automaton over the characters they mention plus one they do not (every other
    character behaves like it). None when the product is too large."""
    machines = [_tokens(base, v) for base, v in tests if _FAMILY.get(base) in ("string", "arn")]
    chars = {":"}
    for tokens in machines:
        for kind, arg in tokens:
            if kind in ("lit", "ci"):
                chars |= {c for c in (arg, arg.lower(), arg.upper()) if len(c) == 1}
    fresh = next(c for c in itertools.chain("~#%!^&|`", map(chr, itertools.count(0xE100))) if c not in chars)
    alphabet = [*sorted(chars), fresh]
    start = tuple(_closure(t, (0,)) for t in machines)
    reached = {start: ""}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        for c in alphabet:
            nxt = tuple(_step(t, s, c) for t, s in zip(machines, state, strict=True))
            if nxt not in reached:
                if len(reached) >= _MAX_STRING_STATES:
                    return None
                reached[nxt] = reached[state] + c
                queue.append(nxt)
    return tuple(reached.values())


# --- the request context the scanner knows, and helpers for the connector ------------------------------


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


def allows_tag_session(trust: Sequence[Statement]) -> bool:
    """Whether a role's trust policy may let a caller pass session tags: any Allow of sts:TagSession,
    whatever its conditions (IAM User Guide, "Passing session tags in AWS STS": without it, AssumeRole with
    tags fails). Then the role's sessions' aws:PrincipalTag/* are not settled by the role's tags."""
    return any(st.effect == "Allow" and any(action_matches(a, "sts:TagSession") for a in st.actions) != st.not_action
               for st in trust)


class _Facts(NamedTuple):
    """What follows from a principal for every request it makes (IAM User Guide, "AWS global condition
    context keys" and "Variables and tags", principal key values)."""

    principal: Principal  # held, so that its id (the cache key) cannot be reused while cached
    context: Mapping[str, tuple[str, ...]]
    absent: frozenset[str]  # on ChangeResourceRecordSets
    absent_elsewhere: frozenset[str]  # on any other action: Route 53's record keys too
    prefixes: tuple[str, ...]


#: id(principal) → its facts: `request` is called for every principal × target × action.
_FACTS: dict[int, _Facts] = {}


def _principal_facts(p: Principal) -> _Facts:
    hit = _FACTS.get(id(p))
    if hit is None or hit.principal is not p:
        if len(_FACTS) > 65536:
            _FACTS.clear()
        ctx, absent, prefixes = _derive_facts(p)
        hit = _FACTS[id(p)] = _Facts(p, ctx, frozenset(absent), frozenset(absent | ROUTE53_RECORD_KEYS), prefixes)
    return hit


def _derive_facts(p: Principal) -> tuple[dict[str, tuple[str, ...]], set[str], tuple[str, ...]]:
    ctx: dict[str, tuple[str, ...]] = {
        "aws:principalarn": (p.arn,), "aws:principalaccount": (p.account,), "aws:principalisawsservice": ("false",),
        "aws:principaltype": ("User" if p.kind == "user" else "AssumedRole",)}
    if p.org_id:
        ctx["aws:principalorgid"] = (p.org_id,)
    # An IAM user or role is never an AWS service principal; aws:username exists for IAM users only.
    absent = {"aws:principalservicename", "aws:principalservicenameslist"}
    if p.kind == "user":
        ctx["aws:username"] = (p.arn.rsplit("/", 1)[-1],)
        if p.unique_id:
            ctx["aws:userid"] = (p.unique_id,)
    else:
        absent.add("aws:username")  # a role session's aws:userid is "role-id:session-name": unsettled
    prefixes: tuple[str, ...] = ()
    if p.kind == "user" or not p.session_tags:
        ctx.update({f"aws:principaltag/{k.lower()}": (v,) for k, v in p.tags.items()})
        prefixes = ("aws:principaltag/",)
    return ctx, absent, prefixes


def _principal_context(p: Principal, extra: Mapping[str, tuple[str, ...]] | None) -> dict[str, tuple[str, ...]]:
    return {**_principal_facts(p).context, **(extra or {})}


#: Global services with a single endpoint in US East (N. Virginia): their requests carry aws:RequestedRegion
#: us-east-1 (IAM User Guide, "AWS global condition context keys", aws:RequestedRegion: "Some global services,
#: such as IAM, have a single endpoint … IAM calls are always made to the us-east-1 Region"). Route 53's
#: control plane and Route 53 Domains are such services.
_US_EAST_1_ONLY = frozenset({"iam", "route53", "route53domains"})


def _requested_region(action: str, resource: str) -> str | None:
    """The Region a request is sent to, when it follows from the action and resource: us-east-1 for the
    global services above; otherwise the Region in a regional resource's ARN (a secret, parameter or
    certificate is reached only through its own Region's endpoint). None: any Region (STS, ARC clusters)."""
    if action.split(":", 1)[0].lower() in _US_EAST_1_ONLY:
        return "us-east-1"
    parts = resource.split(":", 4)
    if len(parts) > 3 and parts[0] == "arn" and parts[3] and not any(c in parts[3] for c in "*?$"):
        return parts[3]
    return None


def request(p: Principal, action: str, resource: str, *, resource_account: str | None = None,
            context: Mapping[str, tuple[str, ...]] | None = None,
            absent: Iterable[str] = (), absent_prefixes: Iterable[str] = ()) -> Request:
    """A request by `p`, with what the scanner knows about the caller bound."""
    facts = _principal_facts(p)
    ctx = dict(facts.context)
    region = _requested_region(action, resource)
    if region:
        ctx["aws:requestedregion"] = (region,)
    if context:
        ctx.update(context)
    known = facts.absent if action.lower() == "route53:changeresourcerecordsets" else facts.absent_elsewhere
    if absent:
        known = known | frozenset(absent)
    prefixes = (*facts.prefixes, *absent_prefixes) if absent_prefixes else facts.prefixes
    return Request(action=action, resource=resource, principal=p.arn, account=p.account, context=ctx,
                   absent=known, resource_account=resource_account, absent_prefixes=prefixes,
                   bounded=p.boundary is not None)


ADMIN_POLICY = parse_policy({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
                            "any policy it writes itself")


def normalize_record_name(name: str) -> str:
    """Route 53's normalisation for `route53:ChangeResourceRecordSetsNormalizedRecordNames`: lower-case, no
    trailing dot, characters outside a-z 0-9 - _ . as a backslash and three octal digits."""
    name = name.lower().rstrip(".")
    return "".join(c if (c.isalnum() and c.isascii()) or c in "-_." else f"\\{ord(c):03o}" for c in name)
