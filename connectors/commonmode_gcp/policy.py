"""GCP IAM evaluation: pure code over the REST/JSON shapes of roles, allow policies (getIamPolicy) and IAM v2
deny policies; no SDK, no network.

Rules, each from Google's documentation:

- Allow policies inherit down the resource hierarchy (organization → folders → project → resource): the
  effective allow policy of a resource is the union of its own and its ancestors' ("Resource hierarchy",
  https://cloud.google.com/resource-manager/docs/cloud-platform-resource-hierarchy#inheritance). Cloud DNS
  accepts bindings on the project and on each managed zone ("Access control", Cloud DNS:
  https://cloud.google.com/dns/docs/access-control).
- A binding with a `condition` applies only when its CEL expression is true; the scanner does not evaluate
  CEL, so such a grant is MAYBE (`conditional`). Conditions are only returned at policy version 3
  ("Policy versions", https://cloud.google.com/iam/docs/policies#versions). A policy read at version 1 shows a
  conditional binding's role as `ROLE_withcond_HASH` and hides the condition ("Troubleshoot withcond in role
  names": https://cloud.google.com/iam/docs/troubleshooting-withcond): the base role, conditionally.
- Deny policies attach to an organization, folder or project and apply to it and its descendants; IAM checks
  deny before allow, so a denied permission fails whatever roles grant it ("Deny policies",
  https://cloud.google.com/iam/docs/deny-overview). A rule applies to its deniedPrincipals except its
  exceptionPrincipals, for its deniedPermissions except its exceptionPermissions; a rule with a
  denialCondition (tag functions only) applies only when it is true: MAYBE here.
- Deny rules name permissions in the v2 form `SERVICE_FQDN/RESOURCE.VERB`; "SERVICE_FQDN is typically the value
  of SERVICE_ID from the v1 API, followed by .googleapis.com" (`dns.changes.create` →
  `dns.googleapis.com/changes.create`), and the table lists wildcard forms `SERVICE_FQDN/*.*` and
  `SERVICE_FQDN/RESOURCE.*` ("Permissions supported in deny policies",
  https://cloud.google.com/iam/docs/deny-permissions-support). The page documents exceptions to the FQDN rule
  service by service; `V2_SERVICE_EXCEPTIONS` holds the ones we know and is otherwise the typical rule.
- Principals: allow policies use v1 member strings (`serviceAccount:`, `user:`, `group:`, `domain:`,
  `allUsers`, `allAuthenticatedUsers`, `principal://…`/`principalSet://…` for workload identity federation,
  `deleted:…?uid=…` for deleted ones); deny policies use v2 identifiers (`principal://goog/subject/EMAIL`,
  `principalSet://goog/group/EMAIL`, `principal://iam.googleapis.com/projects/-/serviceAccounts/EMAIL`,
  `principalSet://goog/public:all`, the same federation identifiers) ("Principal identifiers",
  https://cloud.google.com/iam/docs/principal-identifiers). A deleted member never matches a live principal.
- Not evaluated here: Principal Access Boundary policies (IAM v3, attached to principal sets; they make a
  principal ineligible for resources outside the boundary whatever it is granted: "Principal access boundary
  policies", https://cloud.google.com/iam/docs/principal-access-boundary-policies). Where one exists, an answer
  here can be YES where Google would refuse: the scanner over-reports, it never hides a grant.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from commonmode.kit import Decision, PolicyError, Tri

ALL_USERS: Final = "allUsers"
ALL_AUTHENTICATED_USERS: Final = "allAuthenticatedUsers"
PUBLIC_ALL: Final = "principalSet://goog/public:all"
#: v1 service ids whose deny-policy FQDN is not `{service}.googleapis.com` (see the module docstring).
V2_SERVICE_EXCEPTIONS: Final[Mapping[str, str]] = {
    # Resource Manager's v1 permissions are `resourcemanager.*`, its service `cloudresourcemanager.googleapis.com`
    # ("Permissions supported in deny policies": cloudresourcemanager.googleapis.com/projects.delete, …)
    "resourcemanager": "cloudresourcemanager.googleapis.com",
}
CONTAINER_PREFIXES: Final = ("organizations/", "folders/", "projects/")
_CONDITION_SHOWN = 160
_WITHCOND: Final = re.compile(r"(.+)_withcond_[0-9a-f]+")


# --- the resource hierarchy ----------------------------------------------------------------------------------

def _is_container(name: str) -> bool:
    return name.startswith(CONTAINER_PREFIXES) and name.count("/") == 1


def _structural_parent(name: str) -> str | None:
    """The parent a full resource name shows: a record set → its managed zone, a zone / secret / service account
    → `projects/P`; None for an organization, folder or project (their parents are in the Hierarchy)."""
    if _is_container(name):
        return None
    m = re.fullmatch(r"//[a-z0-9-]+\.googleapis\.com/(.+)", name)
    if not m:
        raise PolicyError(f"not a GCP resource name: {name!r}")
    segments = m.group(1).split("/")
    if len(segments) < 2 or segments[0] != "projects":
        raise PolicyError(f"not a resource in a project: {name!r}")
    if "rrsets" in segments:  # …/managedZones/Z/rrsets/NAME./TYPE: the record set's parent is its zone
        cut = segments.index("rrsets")
    else:
        cut = len(segments) - 2
        # …/locations/L/kind/ID, Compute's …/regions/R/…, …/zones/Z/… and …/global/…: a place, not a resource
        while cut > 2:
            if segments[cut - 2] in ("locations", "regions", "zones"):
                cut -= 2
            elif segments[cut - 1] == "global":
                cut -= 1
            else:
                break
    if cut <= 2:
        return f"projects/{segments[1]}"
    return name[: len(name) - len("/".join(segments[cut:])) - 1]


@dataclass(frozen=True)
class Hierarchy:
    """The resource hierarchy: `parents` gives each project's (`projects/ID`) and folder's parent (`folders/N`
    or `organizations/N`). A project or folder that is not listed has no known parent (a scan limited to
    projects sees no folder)."""

    parents: Mapping[str, str] = field(default_factory=dict)
    #: ancestors already walked (a build asks for the same resources' chains millions of times)
    _memo: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False, hash=False)

    def parent(self, name: str) -> str | None:
        """The resource directly above `name`, or None at the top."""
        up = _structural_parent(name)
        return up if up is not None else self.parents.get(name)

    def ancestors(self, name: str) -> tuple[str, ...]:
        """`name` itself, then every resource above it, nearest first, up to the organization."""
        known = self._memo.get(name)
        if known is not None:
            return known
        chain = [name]
        while (up := self.parent(chain[-1])) is not None:
            if up in chain:
                raise PolicyError(f"the resource hierarchy has a cycle: {' → '.join([*chain, up])}")
            chain.append(up)
        self._memo[name] = tuple(chain)
        return self._memo[name]


def ancestors(resource: str, hierarchy: Hierarchy | None = None) -> tuple[str, ...]:
    """`resource`, then the resources above it, nearest first (see `Hierarchy.ancestors`)."""
    return (hierarchy or Hierarchy()).ancestors(resource)


# --- documents -----------------------------------------------------------------------------------------------

def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{what}: expected a list of strings, got {value!r}")
    return tuple(value)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{what}: expected a string, got {value!r}")
    return value


def _shorten(text: str) -> str:
    return text if len(text) <= _CONDITION_SHOWN else text[:_CONDITION_SHOWN] + "…"


@dataclass(frozen=True, kw_only=True)
class Role:
    """A predefined or custom role (`roles/…`, `projects/P/roles/…`, `organizations/N/roles/…`) and its
    includedPermissions (roles.get with the FULL view)."""

    name: str
    permissions: frozenset[str]
    title: str = ""

    @classmethod
    def parse(cls, obj: Any) -> Role:
        """From the REST Role shape: name, title, includedPermissions (absent: none)."""
        o = _mapping(obj, "role")
        name = _text(o.get("name"), "role.name")
        return cls(name=name, title=str(o.get("title", "")),
                   permissions=frozenset(_strings(o.get("includedPermissions"), f"{name}.includedPermissions")))

    @property
    def custom(self) -> bool:
        """A custom role (project or organization level), not a predefined one."""
        return not self.name.startswith("roles/")


@dataclass(frozen=True, kw_only=True)
class Condition:
    """An IAM condition (google.type.Expr): the CEL `expression` and its title."""

    expression: str
    title: str = ""

    @classmethod
    def parse(cls, obj: Any, what: str) -> Condition:
        o = _mapping(obj, what)
        return cls(expression=_text(o.get("expression"), f"{what}.expression"), title=str(o.get("title", "")))

    def describe(self) -> str:
        title = f"{self.title!r}: " if self.title else ""
        return f"condition {title}{_shorten(self.expression)}"


@dataclass(frozen=True, kw_only=True)
class Binding:
    """One binding of an allow policy: `role` for `members`, under an optional `condition`."""

    role: str
    members: tuple[str, ...]
    condition: Condition | None = None

    @classmethod
    def parse(cls, obj: Any, what: str) -> Binding:
        o = _mapping(obj, what)
        cond = o.get("condition")
        return cls(role=_text(o.get("role"), f"{what}.role"), members=_strings(o.get("members"), f"{what}.members"),
                   condition=None if cond is None else Condition.parse(cond, f"{what}.condition"))


@dataclass(frozen=True, kw_only=True)
class Policy:
    """An allow policy as getIamPolicy returns it (version, bindings, etag); `{}` is an empty policy."""

    version: int = 1
    bindings: tuple[Binding, ...] = ()
    etag: str = ""

    @classmethod
    def parse(cls, obj: Any, what: str = "policy") -> Policy:
        o = _mapping(obj, what)
        version = o.get("version", 1)
        if not isinstance(version, int) or version not in (1, 2, 3):
            raise PolicyError(f"{what}.version: expected 1, 2 or 3, got {version!r}")
        raw = o.get("bindings", [])
        if not isinstance(raw, list):
            raise PolicyError(f"{what}.bindings: expected a list")
        return cls(version=version, etag=str(o.get("etag", "")),
                   bindings=tuple(Binding.parse(b, f"{what}.bindings[{i}]") for i, b in enumerate(raw)))


@dataclass(frozen=True, kw_only=True)
class DenyRule:
    """One deny rule (IAM v2): principals and permissions (v2 form) with their exceptions."""

    denied_principals: tuple[str, ...]
    exception_principals: tuple[str, ...] = ()
    denied_permissions: tuple[str, ...]
    exception_permissions: tuple[str, ...] = ()
    denial_condition: Condition | None = None

    @classmethod
    def parse(cls, obj: Any, what: str) -> DenyRule:
        o = _mapping(obj, what)
        cond = o.get("denialCondition")
        return cls(denied_principals=_strings(o.get("deniedPrincipals"), f"{what}.deniedPrincipals"),
                   exception_principals=_strings(o.get("exceptionPrincipals"), f"{what}.exceptionPrincipals"),
                   denied_permissions=_strings(o.get("deniedPermissions"), f"{what}.deniedPermissions"),
                   exception_permissions=_strings(o.get("exceptionPermissions"), f"{what}.exceptionPermissions"),
                   denial_condition=None if cond is None else Condition.parse(cond, f"{what}.denialCondition"))


def attachment_point(policy_name: str) -> str:
    """The resource a deny policy is attached to, from its name
    `policies/cloudresourcemanager.googleapis.com%2Fprojects%2FP/denypolicies/ID` → `projects/P`."""
    m = re.fullmatch(r"policies/([^/]+)/denypolicies/[^/]+", policy_name)
    if not m:
        raise PolicyError(f"not a deny policy name: {policy_name!r}")
    point = urllib.parse.unquote(m.group(1))
    point = re.sub(r"^cloudresourcemanager\.googleapis\.com/", "", point)
    if not _is_container(point):
        raise PolicyError(f"{policy_name}: attached to {point!r}, expected an organization, folder or project")
    return point


@dataclass(frozen=True, kw_only=True)
class DenyPolicy:
    """A deny policy (IAM v2): its name, where it is attached (`projects/P`, `folders/N`, `organizations/N`)
    and its rules (the REST shape: rules[].denyRule)."""

    name: str
    attached_to: str
    rules: tuple[DenyRule, ...]

    @classmethod
    def parse(cls, obj: Any) -> DenyPolicy:
        o = _mapping(obj, "deny policy")
        name = _text(o.get("name"), "denyPolicy.name")
        raw = o.get("rules", [])
        if not isinstance(raw, list):
            raise PolicyError(f"{name}.rules: expected a list")
        rules = tuple(DenyRule.parse(_mapping(r, f"{name}.rules[{i}]").get("denyRule"), f"{name}.rules[{i}].denyRule")
                      for i, r in enumerate(raw))
        return cls(name=name, attached_to=attachment_point(name), rules=rules)


# --- permissions ---------------------------------------------------------------------------------------------

def v2_permission(permission: str) -> str:
    """The deny-policy (v2) form of a v1 permission: `dns.changes.create` → `dns.googleapis.com/changes.create`."""
    service, _, rest = permission.partition(".")
    if not service or "." not in rest:
        raise PolicyError(f"not a permission (service.resource.verb): {permission!r}")
    return f"{V2_SERVICE_EXCEPTIONS.get(service, f'{service}.googleapis.com')}/{rest}"


def v2_permission_matches(pattern: str, permission: str) -> bool:
    """Whether a deniedPermissions/exceptionPermissions entry covers a v1 `permission`: the same v2 name, or a
    wildcard `SERVICE_FQDN/*.*`, `SERVICE_FQDN/RESOURCE.*` (or `*.VERB`)."""
    want = v2_permission(permission)
    p_service, _, p_rest = pattern.partition("/")
    w_service, _, w_rest = want.partition("/")
    if p_service != w_service:
        return False
    p_res, _, p_verb = p_rest.rpartition(".")
    w_res, _, w_verb = w_rest.rpartition(".")
    return p_res in ("*", w_res) and p_verb in ("*", w_verb)


# --- principals ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Identity:
    """Who asks: `member` in the v1 form (`serviceAccount:EMAIL`, `user:EMAIL`, or a workload identity
    `principal://…/subject/S`), the `groups` (emails) it is a member of, nested ones included, as the caller
    knows them, and for a federated principal its mapped `attributes` (`{"repository": "acme/dns"}`)."""

    member: str
    groups: frozenset[str] = frozenset()
    attributes: Mapping[str, str] = field(default_factory=dict)
    #: False when group membership could not be read (no Cloud Identity access): a group it is not known to be
    #: in is then MAYBE, not NO.
    groups_known: bool = True

    def in_group(self, group: str) -> Tri:
        """Whether it is a member of `group` (an email), as far as the caller knows."""
        if group.lower() in {g.lower() for g in self.groups} or (self.kind == "group" and self.email == group.lower()):
            return Tri.YES
        return Tri.NO if self.groups_known else Tri.MAYBE

    @functools.cached_property
    def kind(self) -> str:
        return self.member.split(":", 1)[0] if not self.member.startswith(("principal:", "principalSet:")) \
            else "principal"

    @functools.cached_property
    def email(self) -> str:
        return self.member.split(":", 1)[1].lower() if self.kind in ("serviceAccount", "user", "group") else ""

    @property
    def pool(self) -> str:
        """The workload identity pool (`//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P`)
        of a federated principal, else ""."""
        m = re.fullmatch(r"principal://(iam\.googleapis\.com/projects/[^/]+/locations/[^/]+/workloadIdentityPools/"
                         r"[^/]+)/subject/.+", self.member)
        return f"//{m.group(1)}" if m else ""


def is_deleted(member: str) -> bool:
    """A `deleted:…` member: a principal deleted since the binding was made (it binds nobody)."""
    return member.startswith("deleted:")


def deleted_members(policy: Policy) -> list[tuple[str, str]]:
    """(role, member) of every binding member that is deleted: an owner gap to report."""
    return [(b.role, m) for b in policy.bindings for m in b.members if is_deleted(m)]


def _pool_set(principal: str, ident: Identity) -> Tri:
    """A workload identity `principalSet://…/workloadIdentityPools/P/{*|attribute.NAME/VALUE|group/G}`."""
    m = re.fullmatch(r"principalSet://(iam\.googleapis\.com/projects/[^/]+/locations/[^/]+/workloadIdentityPools/"
                     r"[^/]+)/(.+)", principal)
    if not m or not ident.pool or f"//{m.group(1)}" != ident.pool:
        return Tri.NO
    what = m.group(2)
    if what == "*":
        return Tri.YES
    if what.startswith("attribute."):
        name, _, value = what[len("attribute."):].partition("/")
        return Tri.YES if ident.attributes.get(name) == value else Tri.NO
    if what.startswith("group/"):
        return Tri.YES if ident.attributes.get("group") == what[len("group/"):] else Tri.NO
    return Tri.NO


def member_matches(principal: str, ident: Identity) -> Tri:
    """Whether an allow-policy member (v1) or deny-rule principal (v2) stands for `ident`: YES, NO, or MAYBE when
    it names a set the scanner cannot resolve (a Cloud Identity customer, all service accounts of a project)."""
    p = principal.strip()
    if is_deleted(p):
        return Tri.NO
    if p == ident.member and p.startswith(("principal://", "principalSet://")):
        return Tri.YES  # the set itself asking: what is bound to that very identifier (workload identity)
    if p in (ALL_USERS, PUBLIC_ALL, ALL_AUTHENTICATED_USERS):
        return Tri.YES  # every caller the scanner evaluates is authenticated
    kind, _, value = p.partition(":")
    value_l = value.lower()
    if kind in ("serviceAccount", "user") and not p.startswith("principal"):
        return Tri.YES if ident.kind == kind and ident.email == value_l else Tri.NO
    if kind == "group" and not p.startswith("principal"):
        return ident.in_group(value_l)
    if kind == "domain":
        return Tri.YES if ident.kind == "user" and ident.email.endswith("@" + value_l) else Tri.NO
    if p.startswith("principal://goog/subject/"):
        return Tri.YES if ident.kind == "user" and ident.email == p.rsplit("/", 1)[1].lower() else Tri.NO
    if p.startswith("principalSet://goog/group/"):
        return ident.in_group(p.rsplit("/", 1)[1])
    if m := re.fullmatch(r"principal://iam\.googleapis\.com/projects/[^/]+/serviceAccounts/(.+)", p):
        return Tri.YES if ident.kind == "serviceAccount" and ident.email == m.group(1).lower() else Tri.NO
    if p.startswith("principalSet://goog/cloudIdentityCustomerId/"):
        return Tri.MAYBE if ident.kind in ("user", "group") else Tri.NO
    if re.fullmatch(r"principalSet://cloudresourcemanager\.googleapis\.com/[a-z]+/[^/]+/type/ServiceAccount", p):
        return Tri.MAYBE if ident.kind == "serviceAccount" else Tri.NO
    if p.startswith("principal://"):
        return Tri.YES if p == ident.member else Tri.NO
    if p.startswith("principalSet://"):
        return _pool_set(p, ident)
    return Tri.NO


def _best(principals: Iterable[str], ident: Identity) -> tuple[Tri, str]:
    best, which = Tri.NO, ""
    for p in principals:
        t = member_matches(p, ident)
        if t > best:
            best, which = t, p
            if t is Tri.YES:
                break
    return best, which


# --- evaluation ----------------------------------------------------------------------------------------------

def denied(ident: Identity, permission: str, resource: str, *, deny_policies: Iterable[DenyPolicy],
           hierarchy: Hierarchy) -> Decision:
    """Whether a deny rule attached at `resource` or above denies `permission` to `ident`: YES, MAYBE (under a
    denialCondition, or a principal set the scanner cannot resolve) or NO."""
    above = set(hierarchy.ancestors(resource))
    best = Decision(Tri.NO, ())
    for dp in deny_policies:
        if dp.attached_to not in above:
            continue
        for i, rule in enumerate(dp.rules):
            perm = next((p for p in rule.denied_permissions if v2_permission_matches(p, permission)), None)
            if perm is None or any(v2_permission_matches(p, permission) for p in rule.exception_permissions):
                continue
            who, principal = _best(rule.denied_principals, ident)
            if who is Tri.NO:
                continue
            excepted, _ = _best(rule.exception_principals, ident)
            result = min(who, ~excepted)
            if rule.denial_condition is not None:
                result = min(result, Tri.MAYBE)
            if result > best.result:
                via = f"denied by {dp.name} on {dp.attached_to} (rule {i}: {principal} / {perm})"
                if rule.denial_condition is not None:
                    via += f" when {rule.denial_condition.describe()}"
                best = Decision(result, (via,))
                if result is Tri.YES:
                    return best
    return best


def allowed(ident: Identity, permission: str, resource: str, *, policies_by_resource: Mapping[str, Policy],
            roles: Mapping[str, Role], hierarchy: Hierarchy) -> Decision:
    """Whether a binding on `resource` or an ancestor grants `ident` a role that includes `permission`, ignoring
    deny policies. A role not in `roles` (its permissions could not be read) is MAYBE."""
    best = Decision(Tri.NO, ())
    for at in hierarchy.ancestors(resource):
        policy = policies_by_resource.get(at)
        if policy is None:
            continue
        for i, b in enumerate(policy.bindings):
            who, member = _best(b.members, ident)
            if who is Tri.NO:
                continue
            hidden = _WITHCOND.fullmatch(b.role)
            role = roles.get(hidden.group(1) if hidden else b.role)
            has = Tri.MAYBE if role is None else (Tri.YES if permission in role.permissions else Tri.NO)
            result = min(who, has, Tri.MAYBE if b.condition is not None or hidden else Tri.YES)
            if result <= best.result:
                continue
            via = f"{b.role} on {at} (binding {i}: {member})"
            if role is None:
                via += f"; the permissions of {b.role} are not known"
            if b.condition is not None:
                via += f" when {b.condition.describe()}"
            if hidden:
                via += " under a condition the version-1 policy does not show"
            if who is Tri.MAYBE:
                via += f"; whether {member} includes {ident.member} is not known"
            best = Decision(result, (via,))
            if result is Tri.YES:
                return best
    return best


def evaluate(ident: Identity, permission: str, resource: str, *, policies_by_resource: Mapping[str, Policy],
             roles: Mapping[str, Role], deny_policies: Iterable[DenyPolicy], hierarchy: Hierarchy) -> Decision:
    """Whether `ident` has `permission` on `resource`: some binding on it or an ancestor grants a role that
    includes it, and no deny rule denies it (deny first). YES, MAYBE (a condition or a principal set the scanner
    cannot settle) or NO, with `via` naming the binding (and the deny rule that makes it MAYBE)."""
    deny = denied(ident, permission, resource, deny_policies=deny_policies, hierarchy=hierarchy)
    if deny.result is Tri.YES:
        return Decision(Tri.NO, deny.via)
    allow = allowed(ident, permission, resource, policies_by_resource=policies_by_resource, roles=roles,
                    hierarchy=hierarchy)
    if not allow.granted:
        return allow
    return Decision(min(allow.result, ~deny.result), (*allow.via, *deny.via))
