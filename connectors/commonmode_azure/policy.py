"""Azure RBAC evaluation: pure code over role definitions, role assignments, deny assignments and Key Vault
access policies, as ARM returns them (Mapping objects); no SDK, no network.

Rules, each from Microsoft's documentation (learn.microsoft.com):

- Actions: `*` matches any run of characters, `/` included, and matching is case-insensitive. Contributor's
  NotActions `Microsoft.Authorization/*/Write` is documented to remove its ability to manage access, which is
  the operation `Microsoft.Authorization/roleAssignments/write`: lower case, two segments under the `*`
  ("Understand Azure role definitions", Role definition example:
  https://learn.microsoft.com/azure/role-based-access-control/role-definitions).
- An interior `/*/` also matches a single `/`: Managed Identity Operator's only assign permission is
  `Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action`, and Microsoft documents that role as
  providing `Microsoft.ManagedIdentity/userAssignedIdentities/assign/action` ("Use customer-managed storage
  accounts in Azure Monitor Logs", permissions table:
  https://learn.microsoft.com/azure/azure-monitor/logs/private-storage).
- A permission block allows `Actions - NotActions` (data plane: `DataActions - NotDataActions`); NotActions
  subtract within their own block only and are not a deny: another block or role assignment can still grant
  the action ("Understand Azure role definitions", NotActions and its note). Control-plane patterns never
  match data actions: the two planes are separate lists (same page, "Control and data actions").
- Assignments at a scope apply to it and every descendant; the principal's token carries its group
  memberships, *transitive ones included*: nested group membership is honoured ("What is Azure RBAC?",
  Groups and "How Azure RBAC determines if a user has access to a resource":
  https://learn.microsoft.com/azure/role-based-access-control/overview). So `principals` is the object id
  plus every group it is a direct or nested member of.
- A role's AssignableScopes say where it can be assigned, not what an existing assignment grants: "the level
  of access is determined by the custom role assignment (scope + role permissions + security principal) and
  not the AssignableScopes" ("Understand Azure role definitions", AssignableScopes).
- Deny assignments are evaluated first and block even what a role assignment grants; they apply to their
  principals (users, groups, service principals, managed identities; the zero GUID of type SystemDefined is
  every principal) except ExcludePrincipals (which may also be groups, so a member of an excluded group is
  excluded); DoNotApplyToChildScopes keeps one to its own scope ("Understand Azure deny assignments":
  https://learn.microsoft.com/azure/role-based-access-control/deny-assignments, and the overview's steps).
- Conditions (ABAC) on a role assignment or a permission block restrict access in ways the scanner does not
  evaluate: the answer is MAYBE (the grant is `conditional`); a deny under a condition makes an allow MAYBE.
- Key Vault access policies are a separate, data-plane-only authorization used when the vault's
  `enableRbacAuthorization` is false or absent ("If null or not specified, the vault is created with the
  default value of false"; when true, "the access policies specified in vault properties will be ignored":
  REST API reference, Vaults - Create Or Update, VaultProperties:
  https://learn.microsoft.com/rest/api/keyvault/keyvault/vaults/create-or-update). Each entry's tenantId must
  be the vault's tenant ("All identities in the array must use the same tenant ID as the key vault's tenant
  ID"); objectId is a user, service principal or security group; an entry with `applicationId` is a compound
  identity, "Application ID of the client making request on behalf of a principal": it gives the object only
  when that application calls on its behalf, so it is MAYBE for the object and nothing for the application
  alone (AccessPolicyEntry, same reference).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Final

from commonmode.kit import Decision, PolicyError, Tri

#: The principal id that stands for every principal in a deny assignment (type SystemDefined).
EVERYONE: Final = "00000000-0000-0000-0000-000000000000"
ROOT: Final = "/"
#: The access-policy permission that stands for every permission of its kind (Permissions enum of the REST API).
ALL_PERMISSIONS: Final = "all"
PERMISSION_KINDS: Final = frozenset({"secrets", "certificates", "keys", "storage"})
_CONDITION_SHOWN = 160  # characters of an ABAC condition quoted in `via`


# --- actions -------------------------------------------------------------------------------------------------

@lru_cache(maxsize=8192)
def _action_regex(pattern: str) -> re.Pattern[str]:
    def run(part: str) -> str:
        return ".*".join(re.escape(s) for s in part.split("*"))

    # "/*/" is "/" followed by any run ending in "/", or just "/" (zero segments).
    return re.compile("/(?:.*/)?".join(run(p) for p in pattern.lower().split("/*/")), re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    """Whether an Actions/DataActions pattern covers `action`: case-insensitive, `*` any run (`/` included), an
    interior `/*/` also zero segments."""
    return _action_regex(pattern).fullmatch(action.lower()) is not None


def _any_match(patterns: Iterable[str], action: str) -> str | None:
    return next((p for p in patterns if action_matches(p, action)), None)


# --- scopes --------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1 << 16)
def canonical(scope: str) -> str:
    """(Memoised: the evaluator asks it millions of times in a large estate, for a few thousand ids.)
    The one stored form of an ARM scope or resource id: ARM compares ids case-insensitively, so lower case,
    one leading `/`, no empty segments or trailing `/`; the root is "/"."""
    if not scope.strip():
        raise PolicyError(f"not an ARM scope: {scope!r}")
    segments = [s for s in scope.strip().lower().split("/") if s]
    return "/" + "/".join(segments)


def same_scope(a: str, b: str) -> bool:
    """Whether two ARM ids name the same scope (case-insensitively)."""
    return canonical(a) == canonical(b)


def subscription_scope(subscription_id: str) -> str:
    """The scope of a subscription, from its id (a GUID) or its scope."""
    return canonical(subscription_id if "/" in subscription_id else f"/subscriptions/{subscription_id}")


def management_group_scope(group_id: str) -> str:
    """The scope of a management group, from its name (the tenant root group's name is the tenant id) or id."""
    return canonical(group_id if "/" in group_id else f"/providers/Microsoft.Management/managementGroups/{group_id}")


def _is_management_group(segments: list[str]) -> bool:
    return len(segments) == 4 and segments[:3] == ["providers", "microsoft.management", "managementgroups"]


def _structural_parent(scope: str) -> str | None:
    """The enclosing scope that the id itself shows; None for a subscription or a management group, whose
    parents are in the tree (`Scopes.parents`), and for the root."""
    segments = scope.strip("/").split("/") if scope != ROOT else []
    if not segments or _is_management_group(segments) or (len(segments) == 2 and segments[0] == "subscriptions"):
        return None
    if len(segments) == 4 and segments[0] == "subscriptions" and segments[2] == "resourcegroups":
        return "/" + "/".join(segments[:2])
    if "providers" not in segments:
        raise PolicyError(f"not an ARM scope: {scope!r}")
    at = len(segments) - 1 - segments[::-1].index("providers")
    tail = segments[at + 1:]  # namespace, type, name, then (child type, child name) pairs
    if len(tail) < 3 or len(tail) % 2 == 0:
        raise PolicyError(f"not an ARM resource id: {scope!r}")
    if len(tail) > 3:
        return "/" + "/".join(segments[:-2])  # child resource → its parent resource
    return "/" + "/".join(segments[:at]) if at else ROOT  # resource → what it lives in (or extends)


@dataclass(frozen=True)
class Scopes:
    """The scope tree. `parents` gives each subscription's management group and each management group's parent
    (scopes or ids as ARM returns them; any casing); what is not listed sits directly under the root "/"."""

    parents: Mapping[str, str] = field(default_factory=dict)
    _tree: dict[str, str] = field(init=False, repr=False, compare=False)
    _memo: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tree", {canonical(k): canonical(v) for k, v in self.parents.items()})
        object.__setattr__(self, "_memo", {})

    @classmethod
    def build(cls, *, subscriptions: Mapping[str, str] = {},
              management_groups: Mapping[str, str] = {}) -> Scopes:
        """From bare ids: subscription id → its management group's name, group name → parent group's name."""
        tree = {subscription_scope(s): management_group_scope(g) for s, g in subscriptions.items()}
        tree |= {management_group_scope(g): management_group_scope(p) for g, p in management_groups.items()}
        return cls(tree)

    def parent(self, scope: str) -> str | None:
        """The scope directly enclosing `scope` (canonical); None for the root."""
        s = canonical(scope)
        if s == ROOT:
            return None
        up = _structural_parent(s)
        return up if up is not None else self._tree.get(s, ROOT)

    def ancestors(self, scope: str) -> tuple[str, ...]:
        """`scope` itself, then every enclosing scope up to the root "/", nearest first (canonical): child
        resource → parent resource → resource group → subscription → management groups → "/"."""
        s = canonical(scope)
        if s in self._memo:
            return self._memo[s]
        chain = [s]
        while (up := self.parent(chain[-1])) is not None:
            if up in chain:
                raise PolicyError(f"the scope tree has a cycle: {' → '.join([*chain, up])}")
            chain.append(up)
        self._memo[s] = tuple(chain)
        return self._memo[s]

    def contains(self, outer: str, inner: str) -> bool:
        """Whether `outer` is `inner` or encloses it."""
        return canonical(outer) in self.ancestors(inner)


# --- documents -----------------------------------------------------------------------------------------------

def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{what}: expected a list of strings, got {value!r}")
    return tuple(value)


def _text(value: Any, what: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise PolicyError(f"{what}: expected a string, got {value!r}")
    return value


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _last(arm_id: str) -> str:
    return arm_id.rstrip("/").rsplit("/", 1)[-1]


def _shorten(text: str) -> str:
    return text if len(text) <= _CONDITION_SHOWN else text[:_CONDITION_SHOWN] + "…"


@dataclass(frozen=True, kw_only=True)
class Permission:
    """One permission block of a role definition or deny assignment."""

    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()
    condition: str | None = None
    condition_version: str | None = None

    @classmethod
    def parse(cls, obj: Any, what: str) -> Permission:
        """A block in the REST/CLI shape: actions, notActions, dataActions, notDataActions, condition."""
        o = _mapping(obj, what)
        return cls(actions=_strings(o.get("actions"), f"{what}.actions"),
                   not_actions=_strings(o.get("notActions"), f"{what}.notActions"),
                   data_actions=_strings(o.get("dataActions"), f"{what}.dataActions"),
                   not_data_actions=_strings(o.get("notDataActions"), f"{what}.notDataActions"),
                   condition=_text(o.get("condition"), f"{what}.condition", required=False) or None,
                   condition_version=_text(o.get("conditionVersion"), f"{what}.conditionVersion",
                                           required=False) or None)

    def covers(self, action: str, *, data: bool) -> bool:
        """Whether the block's (data) actions minus its own not(data) actions include `action`."""
        allow, minus = (self.data_actions, self.not_data_actions) if data else (self.actions, self.not_actions)
        return _any_match(allow, action) is not None and _any_match(minus, action) is None


def _permissions(value: Any, what: str) -> tuple[Permission, ...]:
    if not isinstance(value, list):
        raise PolicyError(f"{what}: expected a list of permission blocks, got {value!r}")
    return tuple(Permission.parse(p, f"{what}[{i}]") for i, p in enumerate(value))


def role_key(role_definition_id: str) -> str:
    """The key a role definition is found by: its GUID (the id's last segment), lower case. A built-in role has
    the same GUID whatever scope prefixes its id (/providers/…, /subscriptions/{s}/providers/…)."""
    return _last(role_definition_id).lower()


@dataclass(frozen=True, kw_only=True)
class RoleDefinition:
    """A role definition: built-in or custom."""

    id: str
    name: str  # the GUID
    role_name: str
    role_type: str  # BuiltInRole / CustomRole
    permissions: tuple[Permission, ...]
    assignable_scopes: tuple[str, ...] = ()

    @classmethod
    def from_arm(cls, obj: Mapping[str, Any]) -> RoleDefinition:
        """From the REST shape: {id, name, type, properties: {roleName, type, permissions, assignableScopes}}."""
        o = _mapping(obj, "role definition")
        rid = _text(o.get("id"), "role definition.id")
        assert rid is not None
        p = _mapping(o.get("properties"), f"role definition {rid}: properties")
        return cls(id=rid, name=_text(o.get("name"), f"role definition {rid}: name") or _last(rid),
                   role_name=_text(p.get("roleName"), f"role definition {rid}: roleName") or "",
                   role_type=_text(p.get("type", p.get("roleType")), f"role definition {rid}: type") or "",
                   permissions=_permissions(p.get("permissions"), f"role definition {rid}: permissions"),
                   assignable_scopes=_strings(p.get("assignableScopes"), f"role definition {rid}: assignableScopes"))

    @classmethod
    def from_cli(cls, obj: Mapping[str, Any]) -> RoleDefinition:
        """From `az role definition list`: {roleName, name, id?, roleType, permissions, assignableScopes}; a
        missing id is the tenant-level one of a built-in role."""
        o = _mapping(obj, "role definition")
        name = _text(o.get("name"), "role definition.name")
        assert name is not None
        rid = _text(o.get("id"), f"role definition {name}: id", required=False) or \
            f"/providers/Microsoft.Authorization/roleDefinitions/{name}"
        return cls(id=rid, name=name, role_name=_text(o.get("roleName"), f"role definition {name}: roleName") or "",
                   role_type=_text(o.get("roleType"), f"role definition {name}: roleType") or "",
                   permissions=_permissions(o.get("permissions"), f"role definition {name}: permissions"),
                   assignable_scopes=_strings(o.get("assignableScopes"), f"role definition {name}: assignableScopes"))


def index_roles(roles: Iterable[RoleDefinition]) -> dict[str, RoleDefinition]:
    """Role definitions by `role_key`, as `evaluate` looks them up."""
    return {role_key(r.id): r for r in roles}


def _assignment_scope(rid: str) -> str:
    """The scope a role assignment's id sits at: what precedes /providers/Microsoft.Authorization/roleAssignments/."""
    marker = "/providers/microsoft.authorization/roleassignments/"
    at = rid.lower().rfind(marker)
    if at < 0:
        raise PolicyError(f"role assignment {rid}: no scope, and the id does not show one")
    return rid[:at] or ROOT


@dataclass(frozen=True, kw_only=True)
class RoleAssignment:
    """A role assignment: `principal_id` holds `role_definition_id` at `scope` and below."""

    id: str
    scope: str
    principal_id: str
    principal_type: str
    role_definition_id: str
    condition: str | None = None
    condition_version: str | None = None

    @classmethod
    def from_arm(cls, obj: Mapping[str, Any]) -> RoleAssignment:
        """From the REST shape: {id, name, type, properties: {scope, roleDefinitionId, principalId,
        principalType, condition, conditionVersion}}."""
        o = _mapping(obj, "role assignment")
        rid = _text(o.get("id"), "role assignment.id")
        assert rid is not None
        p = _mapping(o.get("properties"), f"role assignment {rid}: properties")
        what = f"role assignment {rid}"
        return cls(id=rid, scope=_text(p.get("scope"), f"{what}: scope", required=False) or _assignment_scope(rid),
                   principal_id=_text(p.get("principalId"), f"{what}: principalId") or "",
                   principal_type=_text(p.get("principalType"), f"{what}: principalType", required=False) or "",
                   role_definition_id=_text(p.get("roleDefinitionId"), f"{what}: roleDefinitionId") or "",
                   condition=_text(p.get("condition"), f"{what}: condition", required=False) or None,
                   condition_version=_text(p.get("conditionVersion"), f"{what}: conditionVersion",
                                           required=False) or None)

    @property
    def name(self) -> str:
        """The assignment's name (a GUID): the id's last segment."""
        return _last(self.id)

    @cached_property
    def at(self) -> str:
        """The scope, canonical."""
        return canonical(self.scope)


def _principal_ids(value: Any, what: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise PolicyError(f"{what}: expected a list of principals, got {value!r}")
    return frozenset((_text(_mapping(p, what).get("id"), f"{what}[{i}].id") or "").lower()
                     for i, p in enumerate(value))


@dataclass(frozen=True, kw_only=True)
class DenyAssignment:
    """A deny assignment: blocks its permissions for its principals (minus the excluded) at `scope` and, unless
    `do_not_apply_to_child_scopes`, below it. Principals are object ids, lower case; EVERYONE is all of them."""

    id: str
    name: str
    scope: str
    permissions: tuple[Permission, ...]
    principals: frozenset[str]
    exclude_principals: frozenset[str] = frozenset()
    do_not_apply_to_child_scopes: bool = False
    condition: str | None = None

    @classmethod
    def from_arm(cls, obj: Mapping[str, Any]) -> DenyAssignment:
        """From the REST shape: {id, name, properties: {denyAssignmentName, permissions, scope,
        doNotApplyToChildScopes, principals[{id, type}], excludePrincipals[{id, type}], condition}}."""
        o = _mapping(obj, "deny assignment")
        rid = _text(o.get("id"), "deny assignment.id")
        assert rid is not None
        what = f"deny assignment {rid}"
        p = _mapping(o.get("properties"), f"{what}: properties")
        child = p.get("doNotApplyToChildScopes", False)
        if not isinstance(child, bool):
            raise PolicyError(f"{what}: doNotApplyToChildScopes: expected true or false, got {child!r}")
        return cls(id=rid, name=_text(p.get("denyAssignmentName"), f"{what}: denyAssignmentName", required=False)
                   or _text(o.get("name"), f"{what}: name") or "",
                   scope=_text(p.get("scope"), f"{what}: scope") or "",
                   permissions=_permissions(p.get("permissions"), f"{what}: permissions"),
                   principals=_principal_ids(p.get("principals"), f"{what}: principals"),
                   exclude_principals=_principal_ids(p.get("excludePrincipals"), f"{what}: excludePrincipals"),
                   do_not_apply_to_child_scopes=child,
                   condition=_text(p.get("condition"), f"{what}: condition", required=False) or None)

    @cached_property
    def at(self) -> str:
        """The scope, canonical."""
        return canonical(self.scope)

    def applies_to(self, principals: Collection[str]) -> bool:
        """Whether it names one of `principals` (or everyone) and excludes none of them."""
        ids = {p.lower() for p in principals}
        return bool(EVERYONE in self.principals or ids & self.principals) and not ids & self.exclude_principals


# --- evaluation ----------------------------------------------------------------------------------------------

def role_allows(role: RoleDefinition, action: str, *, data: bool) -> Tri:
    """YES when a permission block without a condition covers `action` (its actions minus its own notActions;
    data: dataActions minus notDataActions); MAYBE when only blocks with a condition do; else NO."""
    best = Tri.NO
    for block in role.permissions:
        if block.covers(action, data=data):
            best = max(best, Tri.MAYBE if block.condition else Tri.YES)
            if best is Tri.YES:
                break
    return best


def _denial(deny: DenyAssignment, action: str, *, data: bool) -> Tri:
    hit = max((Tri.MAYBE if b.condition else Tri.YES for b in deny.permissions if b.covers(action, data=data)),
              default=Tri.NO)
    return min(hit, Tri.MAYBE) if deny.condition else hit


def _find_role(roles: Mapping[str, RoleDefinition], a: RoleAssignment) -> RoleDefinition:
    role = roles.get(role_key(a.role_definition_id)) or roles.get(a.role_definition_id)
    if role is None:
        raise PolicyError(f"role definition {a.role_definition_id} (of role assignment {a.name} at {a.scope}) "
                          "is not among the role definitions read")
    return role


def _assignment_via(a: RoleAssignment, role: RoleDefinition) -> str:
    to = f" to group {a.principal_id}" if a.principal_type.lower() == "group" else ""
    return f"role assignment {a.name}: {role.role_name} at {a.scope}{to}"


def applicable(principals: Collection[str], scope: str, assignments: Iterable[RoleAssignment],
               scopes: Scopes) -> Iterator[RoleAssignment]:
    """The assignments to one of `principals` at `scope` or an enclosing scope."""
    ids = {p.lower() for p in principals}
    above = set(scopes.ancestors(scope))
    return (a for a in assignments if a.principal_id.lower() in ids and a.at in above)


def denied(principals: Collection[str], action: str, scope: str, *, data: bool, denies: Iterable[DenyAssignment],
           scopes: Scopes) -> Decision:
    """Whether a deny assignment blocks `action` (a data action when `data`) at `scope` for one of `principals`:
    YES (blocked; `via` names the deny), MAYBE (under a condition the scanner does not evaluate) or NO."""
    chain = scopes.ancestors(scope)
    here, in_chain = chain[0], set(chain)
    maybe: list[str] = []
    for d in denies:
        if d.at not in in_chain or (d.do_not_apply_to_child_scopes and d.at != here) or not d.applies_to(principals):
            continue
        hit = _denial(d, action, data=data)
        if hit is Tri.YES:
            return Decision(Tri.YES, (f"deny assignment {d.name} at {d.scope}",))
        if hit is Tri.MAYBE:
            maybe.append(f"deny assignment {d.name} at {d.scope} applies under a condition the scanner does not "
                         "evaluate")
    return Decision(Tri.MAYBE, tuple(maybe)) if maybe else Decision(Tri.NO, ())


def evaluate(principals: Collection[str], action: str, scope: str, *, data: bool,
             assignments: Iterable[RoleAssignment], roles: Mapping[str, RoleDefinition],
             denies: Iterable[DenyAssignment], scopes: Scopes) -> Decision:
    """Whether one of `principals` (an object id and the ids of every group it is a member of, nested ones
    included) may perform `action` (a data action when `data`) at `scope`. `roles` is keyed by `role_key`
    (`index_roles`); an applicable assignment whose role is missing raises PolicyError naming it."""
    granted: Tri = Tri.NO
    via: tuple[str, ...] = ()
    for a in applicable(principals, scope, assignments, scopes):
        role = _find_role(roles, a)
        got = role_allows(role, action, data=data)
        if got is Tri.NO:
            continue
        steps = [_assignment_via(a, role)]
        if got is Tri.MAYBE:
            steps.append(f"its role allows {action} only under a condition the scanner does not evaluate")
        if a.condition:
            got = min(got, Tri.MAYBE)
            steps.append(f"the assignment has a condition the scanner does not evaluate: {_shorten(a.condition)}")
        if got > granted:
            granted, via = got, tuple(steps)
            if granted is Tri.YES:
                break
    block = denied(principals, action, scope, data=data, denies=denies, scopes=scopes)
    if block.result is Tri.YES:
        return Decision(Tri.NO, (*block.via, *via))
    if granted is Tri.NO:
        return Decision(Tri.NO, (f"no role assignment allows {action} at {scope}",))
    if block.result is Tri.MAYBE:
        return Decision(Tri.MAYBE, (*via, *block.via))
    return Decision(granted, via)


# --- Key Vault access policies -------------------------------------------------------------------------------

def uses_rbac(vault: Mapping[str, Any]) -> bool:
    """Whether a vault authorizes data actions with Azure RBAC (`enableRbacAuthorization` true); absent or
    false: its access policies. Takes the vault (ARM shape) or its `properties`."""
    props = _vault_properties(vault)
    flag = props.get("enableRbacAuthorization")
    if flag is not None and not isinstance(flag, bool):
        raise PolicyError(f"vault: enableRbacAuthorization: expected true or false, got {flag!r}")
    return flag is True


def _vault_properties(vault: Mapping[str, Any]) -> Mapping[str, Any]:
    v = _mapping(vault, "vault")
    return _mapping(v["properties"], "vault: properties") if "properties" in v else v


def access_policy_allows(vault_properties: Mapping[str, Any], principals: Collection[str], permission_kind: str,
                         permission: str) -> Decision:
    """Whether the vault's access policies give one of `principals` `permission` (e.g. "get") on
    `permission_kind` ("secrets", "certificates", "keys"). Takes the vault (ARM shape) or its `properties`.
    An RBAC-mode vault ignores its access policies: NO. An entry of another tenant gives nothing; one with an
    applicationId (compound identity) gives MAYBE."""
    if permission_kind not in PERMISSION_KINDS:
        raise ValueError(f"permission kind {permission_kind!r}: expected one of {sorted(PERMISSION_KINDS)}")
    props = _vault_properties(vault_properties)
    if uses_rbac(props):
        return Decision(Tri.NO, ("the vault uses Azure RBAC for data actions: its access policies are ignored",))
    tenant = (_text(props.get("tenantId"), "vault: tenantId") or "").lower()
    policies = props.get("accessPolicies") or []
    if not isinstance(policies, list):
        raise PolicyError(f"vault: accessPolicies: expected a list, got {policies!r}")
    ids = {p.lower() for p in principals}
    want = permission.lower()
    best: Decision | None = None
    for i, entry in enumerate(policies):
        what = f"vault: accessPolicies[{i}]"
        e = _mapping(entry, what)
        object_id = _text(e.get("objectId"), f"{what}.objectId") or ""
        if object_id.lower() not in ids or (_text(e.get("tenantId"), f"{what}.tenantId") or "").lower() != tenant:
            continue
        perms = _mapping(e.get("permissions") or {}, f"{what}.permissions")
        granted = {p.lower() for p in _strings(perms.get(permission_kind), f"{what}.permissions.{permission_kind}")}
        if want not in granted and ALL_PERMISSIONS not in granted:
            continue
        step = f"access policy for {object_id}: {permission_kind} {permission}"
        app = _text(e.get("applicationId"), f"{what}.applicationId", required=False)
        if not app:
            return Decision(Tri.YES, (step,))
        best = best or Decision(Tri.MAYBE, (step, f"compound identity: only when application {app} calls on its "
                                                  "behalf"))
    return best or Decision(Tri.NO, (f"no access policy gives {permission_kind} {permission}",))
