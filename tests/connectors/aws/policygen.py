"""Hypothesis strategies for the AWS differential test (test_differential.py): a random but valid estate
around one request, and a FULLY specified request context.

A case is plain JSON (dicts, lists, strings) so that a failing example prints as the policies and request
a person would write. Generation order matters: first the principal and the request's target, then the
value of every condition key the vocabulary knows (present with a value, or absent), and only then the
policies, which may mention any of those keys. So every key a policy mentions has a settled value, and both
engines must give a two-valued answer.

The vocabulary is small on purpose (two users, two roles, one zone, a few secrets) so that random policies
hit the request often; each pool mixes exact names, other case, wildcards in every ARN segment, and policy
variables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from hypothesis import strategies as st

A, B = "111111111111", "222222222222"
ORG, OTHER_ORG = "o-a1b2c3d4e5", "o-zz9zz9zz9z"
REGION = "us-east-1"

ZONE = "arn:aws:route53:::hostedzone/Z0ABC123"
HEALTH_CHECK = "arn:aws:route53:::healthcheck/hc-1111"
CRRS = "route53:ChangeResourceRecordSets"


def secret(account: str, name: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{account}:secret:{name}"


def parameter(account: str, name: str) -> str:
    return f"arn:aws:ssm:{REGION}:{account}:parameter/{name}"


def role_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


# --- who asks, and for what -------------------------------------------------------------------------

#: (kind, name): every caller lives in account A.
PRINCIPALS = (("user", "alice"), ("user", "bob"), ("role", "deployer"), ("role", "Ops"))


def principal_arn(kind: str, name: str, account: str = A) -> str:
    return f"arn:aws:iam::{account}:{kind}/{name}"


#: action -> the resources it is asked on, as (ARN, owning account). Route 53 ARNs carry no account: the
#: zone and health check belong to the caller's account.
TARGETS: dict[str, tuple[tuple[str, str], ...]] = {
    CRRS: ((ZONE, A),),
    "route53:UpdateHealthCheck": ((HEALTH_CHECK, A),),
    "route53:EnableHostedZoneDNSSEC": ((ZONE, A),),
    "secretsmanager:GetSecretValue": ((secret(A, "app/db-AbCdEf"), A), (secret(A, "alice/token-Xy12Ab"), A),
                                      (secret(B, "app/db-AbCdEf"), B)),
    "secretsmanager:PutSecretValue": ((secret(A, "app/db-AbCdEf"), A), (secret(B, "app/db-AbCdEf"), B)),
    "ssm:GetParameter": ((parameter(A, "app/db"), A), (parameter(A, "team/dns/key"), A)),
    "sts:AssumeRole": ((role_arn(A, "target"), A), (role_arn(B, "target"), B)),
}

#: Actions that have a resource policy here: Secrets Manager's secret policy, the role's trust policy.
RESOURCE_POLICY_ACTIONS = frozenset({"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
                                     "sts:AssumeRole"})

ACTION_PATTERNS = (
    CRRS, "Route53:changeResourceRecordSets", "route53:Change*", "route53:*", "route53:?hangeResourceRecordSets",
    "route53:UpdateHealthCheck", "route53:*HealthCheck", "route53:Enable*", "route53:Delete*",
    "secretsmanager:GetSecretValue", "secretsmanager:Get*", "SecretsManager:PutSecretValue", "secretsmanager:*Value",
    "secretsmanager:*", "ssm:GetParameter", "ssm:GetParameter?", "ssm:Get*", "sts:AssumeRole", "sts:Assume*",
    "STS:assumerole", "*", "iam:*", "s3:*",
)

#: Every pattern has the six segments of an ARN (AWS General Reference, "Amazon Resource Names (ARNs)"), and
#: none wildcards the service segment (IAM User Guide, "IAM JSON policy elements: Resource": "You can't use a
#: wildcard in the service segment that identifies the AWS product"). A `*` ending a segment still runs past
#: colons (same page): `arn:aws:secretsmanager:*:*:*` covers `...:secret:app/db-AbCdEf`. The simulator matches
#: a service wildcard anyway, and treats shorter patterns (`arn:aws:secretsmanager:*`) differently per policy
#: type (matched in an identity Allow, never in an RCP or a NotResource), which the IAM documentation does not
#: describe; neither shape is what a policy should say, so neither is generated. Policy variables stand only
#: after the fifth colon ("Variables and tags": "You can't use a variable to replace parts of the ARN before
#: the fifth colon, such as the service or account").
RESOURCE_PATTERNS = (
    "*",
    ZONE, "arn:aws:route53:::hostedzone/*", "arn:aws:route53:::hostedzone/Z0*", "arn:aws:route53:::hostedzone/z0abc123",
    "arn:aws:route53:::hostedzone/Z0ABC12?", "arn:aws:route53:::*", "arn:aws:route53:::hostedzone/ZOTHER",
    HEALTH_CHECK, "arn:aws:route53:::healthcheck/*",
    secret(A, "app/db-AbCdEf"), "arn:aws:secretsmanager:*:*:secret:app/*", secret(A, "*"), secret(B, "*"),
    secret(A, "${aws:username}/*"), secret("*", "app/db-??????"), secret(A, "${aws:PrincipalTag/team}/*"),
    "arn:aws:secretsmanager:*:*:*", secret(A, "App/*"),
    parameter(A, "app/db"), f"arn:aws:ssm:*:{A}:parameter/*", parameter(A, "team/${aws:PrincipalTag/team}/*"),
    parameter(A, "App/*"), parameter(A, "team/${aws:PrincipalTag/team, 'dns'}/*"),
    role_arn(A, "target"), role_arn("*", "target"), role_arn(B, "*"), role_arn(A, "${aws:PrincipalTag/team}"),
)

# --- condition keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """A condition key of the vocabulary: its type, what policies compare it with, what requests carry."""

    name: str  # as AWS documents it; the request uses it lower-cased
    kind: str  # string | arn | bool | numeric | date | ip
    multi: bool = False  # a multivalued key (IAM User Guide, "Multivalued context keys")
    policy_values: tuple[str, ...] = ()
    request_values: tuple[str, ...] = ()
    derived: bool = False  # its value follows from the principal, not drawn


_ME = principal_arn("user", "alice")
KEYS = (
    Key("aws:MultiFactorAuthPresent", "bool", policy_values=("true", "false"), request_values=("true", "false")),
    Key("aws:SecureTransport", "bool", policy_values=("true", "false"), request_values=("true", "false")),
    Key("aws:MultiFactorAuthAge", "numeric", policy_values=("0", "300", "3600"),
        request_values=("0", "299", "300", "3600", "86400")),
    Key("aws:CurrentTime", "date", policy_values=("2026-01-01T00:00:00Z", "2026-12-31T23:59:59Z", "1767225600"),
        request_values=("2025-06-01T12:00:00Z", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")),
    Key("aws:EpochTime", "epoch", policy_values=("1767225600", "1798761599", "2026-01-01T00:00:00Z"),
        request_values=("1748779200", "1767225600", "1798761600")),
    Key("aws:TokenIssueTime", "date", policy_values=("2026-01-01T00:00:00Z", "1767225600"),
        request_values=("2025-12-31T23:00:00Z", "2026-06-01T00:00:00Z")),
    Key("aws:ViaAWSService", "bool", policy_values=("true", "false"), request_values=("false", "true")),
    Key("aws:SourceIp", "ip", policy_values=("203.0.113.0/24", "10.0.0.0/8", "198.51.100.7/32", "198.51.100.7",
                                             "2001:db8::/32"),
        request_values=("203.0.113.9", "10.20.30.40", "198.51.100.7", "192.0.2.1", "2001:db8::7")),
    Key("aws:RequestedRegion", "string", policy_values=("us-east-1", "eu-west-1", "us-*", "US-EAST-1"),
        request_values=("us-east-1", "eu-west-1", "ap-south-1")),
    Key("aws:ResourceTag/env", "string", policy_values=("prod", "Prod", "stag*", "${aws:PrincipalTag/team}",
                                                        "${aws:PrincipalTag/team, 'dns'}"),
        request_values=("prod", "staging", "dns")),
    Key("aws:TagKeys", "string", multi=True, policy_values=("env", "owner", "team", "o*"),
        request_values=("env", "owner", "team", "Owner")),
    Key("route53:ChangeResourceRecordSetsNormalizedRecordNames", "string", multi=True,
        policy_values=("www.example.com", "*.example.com", "example.com", "api.example.com"),
        request_values=("www.example.com", "api.example.com", "example.com", "mail.example.org")),
    Key("route53:ChangeResourceRecordSetsRecordTypes", "string", multi=True,
        policy_values=("A", "AAAA", "NS", "TXT"), request_values=("A", "AAAA", "NS", "TXT", "CNAME")),
    Key("route53:ChangeResourceRecordSetsActions", "string", multi=True,
        policy_values=("CREATE", "UPSERT", "DELETE"), request_values=("CREATE", "UPSERT", "DELETE")),
    # Derived from the principal: the scanner knows them (name, tags, account, organization).
    Key("aws:username", "string", policy_values=("alice", "Alice", "a*", "bob", "${aws:PrincipalTag/team}"),
        derived=True),
    Key("aws:PrincipalTag/team", "string", policy_values=("dns", "DNS", "d*", "secrets", "${aws:username}"),
        derived=True),
    Key("aws:PrincipalArn", "arn", derived=True, policy_values=(
        _ME, f"arn:aws:iam::{A}:user/*", f"arn:aws:iam::{A}:role/*", "arn:aws:iam::*:user/alice",
        "arn:aws:iam::${aws:PrincipalAccount}:role/deployer", f"arn:aws:iam::{A}:*", f"arn:aws:iam::{B}:*",
        "arn:aws:iam::*", f"arn:aws:iam::{A}:user/${{aws:username}}")),
    Key("aws:PrincipalAccount", "string", policy_values=(A, B, "1111*"), derived=True),
    Key("aws:PrincipalOrgID", "string", policy_values=(ORG, OTHER_ORG, "o-*"), derived=True),
    Key("aws:PrincipalIsAWSService", "bool", policy_values=("true", "false"), derived=True),
    Key("aws:PrincipalType", "string", policy_values=("User", "AssumedRole", "user", "Account"), derived=True),
)
KEY_BY_NAME = {k.name.lower(): k for k in KEYS}
PRINCIPAL_KEYS = frozenset({"aws:username", "aws:principaltag/team"})

#: What the generator can leave out of the policies, so that a class of disagreement can be compared on its
#: own (test_differential.py): name -> what it is.
FEATURES = {
    "variables": "policy variables (${aws:username}, ${aws:PrincipalTag/team}, ${aws:PrincipalAccount}) in "
                 "Resource, NotResource and condition values",
    "foranyvalue-absent": "ForAnyValue conditions on a key the request does not carry",
    "principal-keys": "conditions on aws:username and aws:PrincipalTag/team, which follow from the principal",
    "star-principal": "Principal \"*\" (or {\"AWS\": \"*\"}) in an Allow of a resource or trust policy",
    "assume-role-boundary": "sts:AssumeRole by a role that has a permissions boundary",
    "notprincipal-boundary": "a Deny with NotPrincipal in the resource policy, asked by a principal with a "
                             "permissions boundary",
    "notprincipal-account": "a Deny with NotPrincipal naming the caller's account and a user who is not the "
                            "caller",
}
RECORD_KEYS = frozenset(k.name.lower() for k in KEYS if k.name.startswith("route53:"))

OPERATORS = {
    "string": ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
               "StringLike", "StringNotLike"),
    "arn": ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "StringLike", "StringEquals"),
    "bool": ("Bool",),
    "numeric": ("NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
                "NumericGreaterThan", "NumericGreaterThanEquals"),
    "date": ("DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
             "DateGreaterThanEquals"),
    "ip": ("IpAddress", "NotIpAddress"),
}
# IAM User Guide, "AWS global condition context keys", aws:EpochTime: "Date, Numeric".
OPERATORS["epoch"] = OPERATORS["numeric"] + OPERATORS["date"]

_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def variables(text: str, *, with_default: bool = True) -> set[str]:
    """The context keys `${...}` policy variables in `text` refer to (lower case); `with_default=False`
    leaves out those with a default value (`${aws:PrincipalTag/team, 'dns'}`), which always have one."""
    return {v.split(",")[0].strip().lower() for v in _VARIABLE.findall(text)
            if with_default or "," not in v}


# --- the world around one request ----------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """Principal, target and the value (or absence) of every vocabulary key, before any policy is drawn."""

    kind: str
    name: str
    tags: dict[str, str]
    org_id: str | None
    action: str
    resource: str
    resource_account: str
    context: dict[str, list[str]]  # lower-case key -> values (one value for single-valued keys)
    absent: frozenset[str]  # lower-case keys known to be absent
    leave_out: frozenset[str] = frozenset()  # FEATURES the policies must not use

    def has(self, text: str) -> bool:
        """Whether `text` (a policy value or resource) may be used: not if it holds a policy variable and
        "variables" is left out."""
        return not ("variables" in self.leave_out and variables(text))

    def usable(self, key: str) -> bool:
        """Whether a condition may test `key`."""
        return not ("principal-keys" in self.leave_out and key.lower() in PRINCIPAL_KEYS)


def _derived(kind: str, name: str, tags: dict[str, str], org_id: str | None) -> dict[str, list[str] | None]:
    # IAM User Guide, "AWS global condition context keys": aws:username is in the context of IAM users only;
    # aws:PrincipalTag/* holds the principal's tags; aws:PrincipalOrgID only when its account is in an
    # organization; an IAM user or role is never an AWS service principal.
    return {
        "aws:username": [name] if kind == "user" else None,
        "aws:principaltag/team": [tags["team"]] if "team" in tags else None,
        "aws:principalarn": [principal_arn(kind, name)],
        "aws:principalaccount": [A],
        "aws:principalorgid": [org_id] if org_id else None,
        "aws:principalisawsservice": ["false"],
        # "Variables and tags", principal key values: User for an IAM user, AssumedRole for a role session.
        "aws:principaltype": ["User" if kind == "user" else "AssumedRole"],
    }


def _present(draw: st.DrawFn, key: Key, kind: str, action: str, context: dict[str, list[str]]) -> bool:
    """Whether a request like this one carries `key` (IAM User Guide, "AWS global condition context keys",
    each key's Availability)."""
    low = key.name.lower()
    if low in RECORD_KEYS:
        # Route 53 Developer Guide, fine-grained access control: the record keys are in every
        # ChangeResourceRecordSets request (one value per change of the batch) and in no other.
        return action == CRRS
    if low in ("aws:securetransport", "aws:currenttime", "aws:epochtime", "aws:requestedregion",
               "aws:viaawsservice"):
        return True  # "This key is always included in the request context"
    if low in ("aws:multifactorauthpresent", "aws:tokenissuetime") and kind == "role":
        return True  # present whenever temporary credentials (a role session's) sign the request
    if low == "aws:multifactorauthage":
        return context.get("aws:multifactorauthpresent") == ["true"]  # present only after MFA sign-in
    return _int(draw, 0, 3) > 0


def _region(action: str, resource: str) -> str | None:
    """aws:RequestedRegion: Route 53 is a global service served from us-east-1; a secret or parameter is
    reached through its own Region's endpoint; STS has an endpoint in every Region (None: any)."""
    if action.startswith("route53:"):
        return "us-east-1"
    parts = resource.split(":")
    return parts[3] or None if action.split(":")[0] in ("secretsmanager", "ssm") else None


_TAGS = ({}, {"team": "dns"}, {"team": "secrets"}, {"team": "alice"}, {"team": "DNS"})


def draw_world(draw: st.DrawFn, leave_out: frozenset[str] = frozenset()) -> World:
    """A principal, a target, and a value or absence for every key of the vocabulary."""
    kind, name = PRINCIPALS[_int(draw, 0, len(PRINCIPALS) - 1)]
    tags = _TAGS[_int(draw, 0, len(_TAGS) - 1)]
    org_id = (ORG, None)[_int(draw, 0, 1)]
    action = _one(draw, tuple(sorted(TARGETS)))
    resource, resource_account = TARGETS[action][_int(draw, 0, len(TARGETS[action]) - 1)]
    context: dict[str, list[str]] = {}
    absent: set[str] = set()
    for key, value in _derived(kind, name, tags, org_id).items():
        if value is None:
            absent.add(key)
        else:
            context[key] = value
    for key in KEYS:
        low = key.name.lower()
        if key.derived:
            continue
        present = _present(draw, key, kind, action, context)
        if not present:
            absent.add(low)
        elif low == "aws:requestedregion":
            context[low] = [_region(action, resource) or _one(draw, key.request_values)]
        elif key.multi:
            context[low] = draw(_lists(key.request_values, 3))
        else:
            context[low] = [_one(draw, key.request_values)]
    return World(kind=kind, name=name, tags=tags, org_id=org_id, action=action, resource=resource,
                 resource_account=resource_account, context=context, absent=frozenset(absent),
                 leave_out=leave_out)


# --- policies ------------------------------------------------------------------------------------------
# Plain functions of `draw` over strategies built once (`_one`, `_some`, `_int`): building strategies per draw
# made generation cost ten times the comparison.


@cache
def _sampled(values: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(values)


@cache
def _lists(values: tuple[str, ...], max_size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), min_size=1, max_size=max_size, unique=True)


@cache
def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


def _one(draw: st.DrawFn, values: tuple[str, ...]) -> str:
    return draw(_sampled(values))


def _int(draw: st.DrawFn, lo: int, hi: int) -> int:
    return draw(_integers(lo, hi))


def _some(draw: st.DrawFn, values: tuple[str, ...], max_size: int = 3) -> str | list[str]:
    """One value (as a string, or a list of one) or several."""
    chosen = draw(_lists(values, max_size))
    return chosen[0] if len(chosen) == 1 and _int(draw, 0, 1) else chosen


def _glob(pattern: str, text: str, ignore_case: bool) -> bool:
    """Only to bias the draw towards statements that hit the request; never the oracle."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(body, text, re.S | (re.I if ignore_case else 0)) is not None


@cache
def _hitting(action: str, resource: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (tuple(a for a in ACTION_PATTERNS if _glob(a, action, True)),
            tuple(r for r in RESOURCE_PATTERNS if "${" not in r and _glob(r, resource, False)))


def _usable(world: World, values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v for v in values if world.has(v))


def _conditions(draw: st.DrawFn, world: World, most: int) -> dict[str, dict[str, str | list[str]]]:
    """A Condition element: up to `most` keys, each with an operator its type allows."""
    usable = tuple(k for k in KEYS if world.usable(k.name))
    out: dict[str, dict[str, str | list[str]]] = {}
    for _ in range(_int(draw, 0, most)):
        key = usable[_int(draw, 0, len(usable) - 1)]
        values = _usable(world, key.policy_values)
        if _int(draw, 0, 9) == 0:
            op, vals = "Null", _one(draw, ("true", "false"))
        else:
            op = _one(draw, OPERATORS[key.kind]) + _one(draw, ("", "", "IfExists"))
            # IAM User Guide, "Single-valued vs. multivalued context keys": multivalued keys require a set
            # operator; one may also be put on a single-valued key (discouraged, but evaluated the same way).
            if key.multi or (key.kind == "string" and _int(draw, 0, 4) == 0):
                sets = ("ForAnyValue:", "ForAllValues:")
                if "foranyvalue-absent" in world.leave_out and key.name.lower() in world.absent:
                    sets = ("ForAllValues:",)
                op = _one(draw, sets) + op
            if "Like" not in op:
                values = tuple(v for v in values if "*" not in v) or values  # wildcards mean something to *Like
            if "Numeric" in op:
                values = tuple(v for v in values if v.isdigit())  # aws:EpochTime's ISO dates are for Date*
            if op.split(":")[-1].startswith("Arn"):
                # The simulator splits an ARN operator's value at colons before it substitutes variables, so a
                # variable before the resource part (whose name has a colon) never matches; AWS substitutes
                # first ("Variables and tags": ARN operators take variables). Such values go to String* only.
                values = tuple(v for v in values if "${" not in v or v[:v.index("${")].count(":") >= 5) or values
            vals = _some(draw, values, 2)
        # "Key names are case-insensitive" (IAM User Guide, "Variables and tags"): now and then another case.
        name = (key.name, key.name, key.name, key.name.lower(), key.name.upper())[_int(draw, 0, 4)]
        out.setdefault(op, {})[name] = vals
    return out


def _not_principal(draw: st.DrawFn, world: World) -> dict:
    """A NotPrincipal element (IAM User Guide, "AWS JSON policy elements: NotPrincipal"): not in a role trust
    policy; name the account with the principal excepted, for "otherwise, the policy might deny access to the
    entire account" and AWS "might validate the account first" — only shapes whose meaning the page settles:
    a user and its account (that user is excepted, no other principal of the account: the page's Bob
    example), or another account (everyone here is denied). A role's session would have to be named too,
    which the scan cannot know: a role is only ever denied (neither it nor its session is named). Whatever is
    named, a caller with a permissions boundary is denied (key points)."""
    me = principal_arn(world.kind, world.name)
    other = principal_arn("user", "bob" if world.name != "bob" else "alice")
    shapes = [[f"arn:aws:iam::{B}:root"]]
    if "notprincipal-account" not in world.leave_out:
        shapes.append([other, f"arn:aws:iam::{A}:root"])
        if world.kind == "user":
            shapes += [[me, f"arn:aws:iam::{A}:root"], [f"arn:aws:iam::{A}:root", me]]
    return {"NotPrincipal": {"AWS": shapes[_int(draw, 0, len(shapes) - 1)]}}


def _focus(draw: st.DrawFn, world: World, trust: bool, not_principal: bool) -> list[dict]:
    """Resource or trust policy statements aimed at the request, without conditions, whose Principal is one of
    the ways of naming the caller that the rules tell apart ("AWS JSON policy elements: Principal"; "Policy
    evaluation for requests within a single account"): "*" (no identity Allow needed, no boundary caps it),
    the caller's ARN (a role's boundary caps it, a user's does not), its account (delegates to the identity
    policies), and, in a resource policy, a NotPrincipal Deny next to an Allow of the caller (so that the
    Deny decides). So that random estates often turn on them."""
    me = principal_arn(world.kind, world.name)
    options: list[tuple[str, dict]] = [("Allow", {"Principal": {"AWS": me}}),
                                       ("Allow", {"Principal": {"AWS": f"arn:aws:iam::{A}:root"}})]
    if "star-principal" not in world.leave_out:
        options += [("Allow", {"Principal": "*"}), ("Allow", {"Principal": {"AWS": "*"}})]
    if not trust and not_principal:
        options += [("Deny", _not_principal(draw, world))] * 2
    effect, principal = options[_int(draw, 0, len(options) - 1)]
    hit_actions, hit_resources = _hitting(world.action, world.resource)

    def aimed(effect: str, principal: dict) -> dict:
        out = {"Effect": effect, **principal, "Action": _some(draw, hit_actions)}
        if not trust:
            out["Resource"] = _some(draw, hit_resources, 2)
        return out

    first = aimed(effect, principal)
    if effect == "Allow":
        return [first]
    # the Allow grants the caller itself (its user ARN, or "*"), so that without the Deny it is allowed
    star = world.kind == "role" and "star-principal" not in world.leave_out
    return [first, aimed("Allow", {"Principal": "*"} if star else {"Principal": {"AWS": me}})]


def _principal(draw: st.DrawFn, world: World, effect: str, trust: bool, not_principal: bool) -> dict:
    """A resource or trust policy's Principal (or, on a Deny in a resource policy, sometimes NotPrincipal)."""
    me = principal_arn(world.kind, world.name)
    other = principal_arn("user", "bob" if world.name != "bob" else "alice")
    star = effect == "Deny" or "star-principal" not in world.leave_out
    if star and _int(draw, 0, 5) == 0:
        return {"Principal": "*"}
    if effect == "Deny" and not trust and not_principal and _int(draw, 0, 5) == 0:
        return _not_principal(draw, world)
    value = _some(draw, (me, f"arn:aws:iam::{A}:root", A, f"arn:aws:iam::{B}:root", other) + (("*",) if star else ()),
                  2)
    return {"Principal": {"AWS": value}}


def statement(draw: st.DrawFn, world: World, *, effects: tuple[str, ...] = ("Allow", "Allow", "Allow", "Deny"),
              principal: bool = False, resource: bool = True, not_action: bool = True,
              actions: tuple[str, ...] = ACTION_PATTERNS, conditions: int = 2, not_principal: bool = True) -> dict:
    """One statement: Action or NotAction, Resource or NotResource, Condition; Principal when asked. Half
    the time the Action and Resource are drawn from the patterns that hit the request."""
    out: dict = {"Effect": _one(draw, effects)}
    if principal:
        out.update(_principal(draw, world, out["Effect"], trust=not resource, not_principal=not_principal))
    hit_actions, hit_resources = _hitting(world.action, world.resource)
    hit_actions = tuple(a for a in hit_actions if a in actions)
    # One draw for the statement's shape (draws are what generation costs): aimed at the request half the
    # time, NotAction one time in six, NotResource one in eight; 0 is the plainest (aimed, Action, Resource).
    shape = _int(draw, 0, 95)
    aim = shape % 2 == 0
    key = "NotAction" if not_action and shape // 2 % 6 == 5 else "Action"
    out[key] = _some(draw, hit_actions if aim and hit_actions and key == "Action" else actions)
    if resource:
        key = "NotResource" if shape // 12 == 7 else "Resource"
        pool = hit_resources if aim and key == "Resource" else _usable(world, RESOURCE_PATTERNS)
        if key == "NotResource":  # (a variable with a default always has a value)
            # IAM User Guide, "Variables and tags", policy variables with no value: an entry holding one "will
            # not match any resource". Whether a NotResource entry that matches nothing then excludes nothing
            # (the statement covers every resource) or makes the statement not apply, the page does not say,
            # and the two engines differ: such entries are not generated.
            pool = tuple(r for r in pool if not variables(r, with_default=False) & world.absent)
        out[key] = _some(draw, pool, 2)
    cond = _conditions(draw, world, conditions)
    if cond:
        out["Condition"] = cond
    return out


def policy(draw: st.DrawFn, world: World, *, most: int = 3, **kw: object) -> dict:
    """A policy document of 1..most statements; one in twelve of the older language version 2008-10-17, where
    `${...}` is literal text, not a variable ("Variables and tags")."""
    version = "2008-10-17" if _int(draw, 0, 11) == 11 else "2012-10-17"
    return {"Version": version, "Statement": [statement(draw, world, **kw)  # type: ignore[arg-type]
                                              for _ in range(_int(draw, 1, most))]}


FULL_ACCESS = {"Effect": "Allow", "Action": "*", "Resource": "*"}
#: AWS Organizations User Guide, "Resource control policy examples": RCPFullAWSAccess is attached to the root,
#: every OU and every account once RCPs are enabled, and cannot be detached; only it may Allow ("RCP syntax").
RCP_FULL_ACCESS = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
#: "RCP syntax": an RCP statement's Action cannot be "*" alone, and NotAction is not supported.
RCP_ACTIONS = ("secretsmanager:*", "secretsmanager:GetSecretValue", "SecretsManager:Put*", "sts:AssumeRole",
               "sts:*", "route53:*", "ssm:*", "s3:*")


def _scp_level(draw: st.DrawFn, world: World) -> dict:
    # Mostly FullAWSAccess plus a guardrail or two; sometimes FullAWSAccess replaced by narrower Allows.
    full = _int(draw, 0, 4) > 0
    extra = [statement(draw, world, effects=("Allow", "Deny", "Deny"))
             for _ in range(_int(draw, 0 if full else 1, 1 if full else 2))]
    return {"Version": "2012-10-17", "Statement": [FULL_ACCESS, *extra] if full else extra}


def _rcp_level(draw: st.DrawFn, world: World) -> dict:
    denies = [statement(draw, world, effects=("Deny",), not_action=False, actions=RCP_ACTIONS)
              for _ in range(_int(draw, 0, 1))]
    for s in denies:
        s["Principal"] = "*"  # Organizations User Guide, "RCP syntax": the Principal must be "*"
    return {"Version": "2012-10-17", "Statement": denies}


@st.composite
def cases(draw: st.DrawFn, leave_out: frozenset[str] = frozenset()) -> dict:
    """A whole estate around one request, as plain JSON (the World aside), using every FEATURE except those
    in `leave_out`."""
    world = draw_world(draw, leave_out)
    case: dict = {"world": world}
    case["identity"] = [policy(draw, world)] + ([policy(draw, world, most=2)] if _int(draw, 0, 2) == 2 else [])
    # One case in three with a resource or trust policy opens it with a `_focus` statement, and has a permissions
    # boundary one time in two (otherwise one in four): how the Principal names the caller and whether it has
    # a boundary then decide the answer often enough to be compared.
    focus = world.action in RESOURCE_POLICY_ACTIONS and _int(draw, 0, 2) == 0
    boundary = not ("assume-role-boundary" in leave_out and world.action == "sts:AssumeRole" and world.kind == "role")
    case["boundary"] = policy(draw, world, most=2) if boundary and _int(draw, 0, 1 if focus else 3) == 0 else None
    # None: the management account (no SCP applies) / RCPs not enabled or the resource in the management account.
    # (Guardrails half as often in `focus` cases: their random Denies would decide most of those.)
    case["scps"] = ([_scp_level(draw, world) for _ in range(_int(draw, 1, 3))]
                    if _int(draw, 0, 3 if not focus else 1) else None)
    case["rcps"] = ([_rcp_level(draw, world) for _ in range(_int(draw, 1, 2))]
                    if _int(draw, 0, 2 if not focus else 1) else None)
    case["resource_policy"] = None
    if world.action in RESOURCE_POLICY_ACTIONS and (focus or world.action == "sts:AssumeRole" or _int(draw, 0, 1)):
        # A role always has a trust policy, and a trust policy has no Resource element (IAM User Guide,
        # "IAM JSON policy elements: Principal").
        trust = world.action == "sts:AssumeRole"
        not_principal = not (case["boundary"] and "notprincipal-boundary" in leave_out)
        case["resource_policy"] = policy(
            draw, world, most=1 if focus else 3, principal=True, resource=not trust, not_principal=not_principal,
            actions=("sts:AssumeRole", "sts:*", "*", "sts:TagSession") if trust else ACTION_PATTERNS)
        if focus:
            case["resource_policy"]["Statement"][:0] = _focus(draw, world, trust, not_principal)
    return case
