"""The seed model of the local Azure stand-in (commonmode_sandbox.azure): `AzureEstate`, a fictional tenant held as
the JSON that Azure Resource Manager and Microsoft Graph return, with builders that fill in realistic values (GUIDs,
ARM ids in ARM's casing, `type` strings), the secret values a real service would hold (canaries), the tokens the
stand-in's login issued, and the faults a test asks for. No network, no SDK: `commonmode_sandbox.azure` serves it.

Each builder's comment names the documentation page of the JSON it stores.
"""

from __future__ import annotations

import base64
import datetime
import json
import random
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeAlias

from commonmode_sandbox.standin import Faults

JSON: TypeAlias = dict[str, Any]

#: The "Everyone" principal of system deny assignments ("List Azure deny assignments": principal type
#: SystemDefined, https://learn.microsoft.com/azure/role-based-access-control/deny-assignments)
EVERYONE = "00000000-0000-0000-0000-000000000000"
#: Microsoft Graph's application id, the same in every tenant, and the tenant that owns it
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
MICROSOFT_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
#: Graph application permissions (app roles of the Microsoft Graph service principal), by value. Ids from the
#: "Microsoft Graph permissions reference" (https://learn.microsoft.com/graph/permissions-reference).
GRAPH_APP_ROLES = {
    "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
    "Application.ReadWrite.OwnedBy": "18a4783c-866b-4cc7-a460-3d5e5662c884",
    "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
    "RoleManagement.Read.Directory": "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
    "RoleManagement.ReadWrite.Directory": "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
    "AppRoleAssignment.ReadWrite.All": "06b708a9-e830-4db3-a914-8e69da51d44f",
}
#: Built-in Microsoft Entra roles (templateId = id in unifiedRoleDefinition), with an excerpt of their
#: allowedResourceActions ("Microsoft Entra built-in roles", https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
DIRECTORY_ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Global Administrator": ("62e90394-69f5-4237-9190-012177145e10", (
        "microsoft.directory/applications/credentials/update",
        "microsoft.directory/servicePrincipals/credentials/update",
        "microsoft.directory/applications/owners/update",
        "microsoft.directory/roleAssignments/allProperties/allTasks")),
    "Application Administrator": ("9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", (
        "microsoft.directory/applications/credentials/update", "microsoft.directory/applications/owners/update",
        "microsoft.directory/servicePrincipals/credentials/update",
        "microsoft.directory/servicePrincipals/owners/update")),
    "Cloud Application Administrator": ("158c047a-c907-4556-b7ef-446551a6b5f7", (
        "microsoft.directory/applications/credentials/update", "microsoft.directory/applications/owners/update",
        "microsoft.directory/servicePrincipals/credentials/update",
        "microsoft.directory/servicePrincipals/owners/update")),
    "Privileged Role Administrator": ("e8611ab8-c189-46e8-94e1-60213ab1f814", (
        "microsoft.directory/roleAssignments/allProperties/allTasks",
        "microsoft.directory/roleDefinitions/allProperties/allTasks")),
    "Directory Readers": ("88d8e3e3-8f55-4a1e-953a-9b9898b8876b", (
        "microsoft.directory/applications/standard/read", "microsoft.directory/servicePrincipals/standard/read")),
}
AZURE_DNS_NAME_SERVERS = ("ns1-01.azure-dns.com.", "ns2-01.azure-dns.net.", "ns3-01.azure-dns.org.",
                          "ns4-01.azure-dns.info.")
GRAPH_PREFIXES = ("v1.0/", "beta/")
MG_PREFIX = "/providers/Microsoft.Management/managementGroups/"


def iso(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def norm(resource_id: str) -> str:
    """An ARM id as ARM compares it: case-insensitive, no trailing slash ("/" stays "/")."""
    return resource_id.lower().rstrip("/") or "/"


def last_segment(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def subscription_of(resource_id: str) -> str | None:
    """The subscription id in an ARM id, or None (management groups, the tenant root)."""
    m = re.match(r"^/subscriptions/([^/]+)", resource_id, re.I)
    return m.group(1) if m else None


def builtin_roles() -> list[JSON]:
    """The built-in role definitions the stand-in serves (a selection of real ones, `az` CLI shape)."""
    text = resources.files("commonmode_sandbox").joinpath("data/azure-built-in-roles.json").read_text()
    roles: list[JSON] = json.loads(text)
    return roles


@dataclass(frozen=True)
class ScannerCredential:
    """What the scanner logs in with: the token endpoint accepts it (the secret is an application password)."""

    tenant_id: str
    client_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class IssuedToken:
    audience: str
    client_id: str
    expires: float


@dataclass
class Fault:
    """An answer forced on every request whose method is `method` and whose path (with a leading slash, no query)
    matches `pattern` (a regex, case-insensitive, `re.search`): `times` times (None: every time), then the real
    answer. `code` and `message` go into the API's error shape (sensible defaults per status)."""

    pattern: str
    status: int
    method: str = "GET"
    times: int | None = None
    code: str | None = None
    message: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.search(self.pattern, path, re.I) is not None


class AzureEstate:
    """A fictional Azure tenant: ARM resources and Microsoft Graph directory objects, held as the JSON the APIs
    return (live dicts: a test may edit what a builder returned, and the next request sees it). Builders fill in
    realistic values (GUIDs, ARM ids in ARM's casing, `type` strings) and return the stored object.

    `page_size` is how many items every list returns per page (ARM and Graph both page; Graph's `$top` overrides
    it for one request). `seed` makes every generated id and canary value the same on every run."""

    def __init__(self, *, tenant_id: str | None = None, seed: int | None = None, page_size: int = 2,
                 domain: str = "contoso.example", scanner_secret: str | None = None) -> None:
        self._rng = random.Random(seed)  # noqa: S311  # ids of a fictional estate, not a secret
        self.tenant_id = tenant_id or self.guid()
        self.page_size = page_size
        self.domain = domain
        # ARM
        self.management_groups: dict[str, JSON] = {}  # name (lower) -> {"name", "displayName", "parent"}
        self.subscriptions: dict[str, JSON] = {}  # subscription id (lower) -> ARM subscription JSON
        self.subscription_parent: dict[str, str] = {}  # subscription id (lower) -> management group name
        self.resource_groups: list[JSON] = []
        self.role_definitions: list[JSON] = []  # stored in the tenant form: id "/providers/.../{guid}"
        self.role_assignments: list[JSON] = []
        self.deny_assignments: list[JSON] = []
        self.resources: dict[str, list[JSON]] = {}  # ARM type (lower) -> resources, e.g. microsoft.network/dnszones
        self.children: dict[tuple[str, str], list[JSON]] = {}  # (parent id normalised, kind) -> child resources
        # Graph
        self.service_principals: list[JSON] = []
        self.applications: list[JSON] = []
        self.users: list[JSON] = []
        self.groups: list[JSON] = []
        self.owners: dict[str, list[str]] = {}  # object id -> owner object ids
        self.members: dict[str, list[str]] = {}  # group id -> member object ids
        self.app_federated_credentials: dict[str, list[JSON]] = {}  # application object id -> credentials
        self.app_role_assignments: list[JSON] = []
        self.directory_role_definitions: list[JSON] = []
        self.directory_role_assignments: list[JSON] = []
        # what a real service holds as secrets (canaries) and what the login gave out
        self.secret_values: dict[str, str] = {}  # data-plane secret id (lower) -> value
        self.password_secrets: dict[str, str] = {}  # password credential keyId -> secret text
        self.tokens: dict[str, IssuedToken] = {}
        self.scopes_requested: list[str] = []
        self.audiences: dict[str, str] = {}  # audience (a served URL) -> "arm" | "graph" | "keyvault"
        self.faults: Faults[Fault] = Faults()

        self.management_groups[self.tenant_id.lower()] = {"name": self.tenant_id, "displayName": "Tenant Root Group",
                                                          "parent": None}
        for role in builtin_roles():
            self.role_definitions.append(_role_definition(role, iso(now() - datetime.timedelta(days=900))))
        self.graph = self._service_principal(display_name="Microsoft Graph", app_id=GRAPH_APP_ID,
                                             owner_tenant=MICROSOFT_TENANT, sp_type="Application")
        self.graph["appRoles"] = [{"allowedMemberTypes": ["Application"], "description": value, "displayName": value,
                                   "id": role_id, "isEnabled": True, "origin": "Application", "value": value}
                                  for value, role_id in GRAPH_APP_ROLES.items()]
        for name, (template, actions) in DIRECTORY_ROLES.items():
            self.directory_role_definitions.append({
                "id": template, "templateId": template, "displayName": name, "description": name, "isBuiltIn": True,
                "isEnabled": True, "resourceScopes": ["/"], "version": "1", "inheritsPermissionsFrom": [],
                "rolePermissions": [{"allowedResourceActions": list(actions), "condition": None}]})
        scanner = self.application("commonmode-scanner", notes="the read-only scanner (commonmode)")
        secret = self.password_credential(scanner["id"], display_name="scanner", secret=scanner_secret)
        self.scanner = ScannerCredential(tenant_id=self.tenant_id, client_id=scanner["appId"],
                                         secret=self.password_secrets[secret["keyId"]])

    # --- ids ------------------------------------------------------------------------------------------------

    def guid(self) -> str:
        """A random (or, with a seed, reproducible) version-4 GUID."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def canary(self, label: str = "") -> str:
        """A secret value that must never leave the estate: tests assert no output or log contains it."""
        return f"canary-{label + '-' if label else ''}{self._rng.getrandbits(96):024x}"

    def client_secret_for_scanner(self) -> ScannerCredential:
        """The scanner application's tenant, client id and secret: what the token endpoint accepts."""
        return self.scanner

    def canaries(self) -> list[str]:
        """Every secret value: Key Vault secrets, application password texts (the scanner's among them) and the
        access tokens issued so far."""
        return [*self.secret_values.values(), *self.password_secrets.values(), *self.tokens]

    def fail(self, pattern: str, status: int, *, method: str = "GET", times: int | None = None,
             code: str | None = None, message: str | None = None,
             headers: Mapping[str, str] | None = None) -> Fault:
        """Make requests whose path matches `pattern` fail with `status` (`times` times, or always): e.g.
        `fail(r"/subscriptions/<id>/providers/Microsoft.Authorization/roleAssignments$", 403)`, or
        `fail(r"/v1.0/servicePrincipals$", 500, times=2)` for a retry."""
        fault = Fault(pattern=pattern, status=status, method=method, times=times, code=code, message=message,
                      headers=dict(headers or {}))
        return self.faults.add(fault)

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault that applies to this request, counted (thread-safe), or None."""
        return self.faults.take(method, path)

    # --- management groups, subscriptions, resource groups ----------------------------------------------------

    def management_group(self, name: str, *, display_name: str | None = None, parent: str | None = None) -> str:
        """A management group under `parent` (a group name; default the tenant root group); returns its ARM id."""
        parent_name = (parent or self.tenant_id)
        if parent_name.lower() not in self.management_groups:
            raise KeyError(f"no management group {parent_name}")
        self.management_groups[name.lower()] = {"name": name, "displayName": display_name or name,
                                                "parent": self.management_groups[parent_name.lower()]["name"]}
        return MG_PREFIX + name

    def subscription(self, display_name: str, *, subscription_id: str | None = None,
                     management_group: str | None = None, state: str = "Enabled",
                     tags: Mapping[str, str] | None = None) -> JSON:
        """A subscription under `management_group` (a name; default the root group)."""
        sid = subscription_id or self.guid()
        parent = management_group or self.tenant_id
        if parent.lower() not in self.management_groups:
            raise KeyError(f"no management group {parent}")
        # Subscriptions - Get (2022-12-01): https://learn.microsoft.com/rest/api/resources/subscriptions/get
        sub: JSON = {"id": f"/subscriptions/{sid}", "authorizationSource": "RoleBased", "managedByTenants": [],
                     "tags": dict(tags or {}), "subscriptionId": sid, "tenantId": self.tenant_id,
                     "displayName": display_name, "state": state,
                     "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                              "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"}}
        self.subscriptions[sid.lower()] = sub
        self.subscription_parent[sid.lower()] = self.management_groups[parent.lower()]["name"]
        return sub

    def resource_group(self, subscription_id: str, name: str, *, location: str = "westeurope",
                       tags: Mapping[str, str] | None = None) -> str:
        """A resource group; returns its ARM id."""
        if subscription_id.lower() not in self.subscriptions:
            raise KeyError(f"no subscription {subscription_id}")
        rg_id = f"/subscriptions/{subscription_id}/resourceGroups/{name}"
        # Resource Groups - List: https://learn.microsoft.com/rest/api/resources/resource-groups/list
        self.resource_groups.append({"id": rg_id, "name": name, "type": "Microsoft.Resources/resourceGroups",
                                     "location": location, "tags": dict(tags or {}),
                                     "properties": {"provisioningState": "Succeeded"}})
        return rg_id

    def _group(self, resource_group_id: str) -> tuple[str, str, str]:
        """(subscription id, resource group name, location) of a resource group id this estate holds."""
        rg = next((g for g in self.resource_groups if norm(g["id"]) == norm(resource_group_id)), None)
        if rg is None:
            raise KeyError(f"no resource group {resource_group_id}")
        sub = subscription_of(rg["id"])
        assert sub is not None
        return sub, rg["name"], rg["location"]

    def _add(self, resource: JSON) -> JSON:
        self.resources.setdefault(resource["type"].lower(), []).append(resource)
        return resource

    def _add_child(self, parent_id: str, kind: str, child: JSON) -> JSON:
        self.children.setdefault((norm(parent_id), kind), []).append(child)
        return child

    def find(self, resource_id: str) -> JSON | None:
        """The ARM resource (top-level or child) with this id, compared as ARM does (case-insensitively)."""
        wanted = norm(resource_id)
        for items in (*self.resources.values(), *self.children.values()):
            for item in items:
                if norm(item["id"]) == wanted:
                    return item
        return None

    # --- role definitions, role assignments, deny assignments ---------------------------------------------------

    def role(self, name_or_id: str) -> JSON:
        """A role definition by role name (built-in or custom), GUID or id."""
        wanted = name_or_id.lower()
        guid = last_segment(wanted)
        for role in self.role_definitions:
            if role["properties"]["roleName"].lower() == wanted or role["name"].lower() == guid:
                return role
        raise KeyError(f"no role definition {name_or_id}")

    def custom_role(self, name: str, *, assignable_scopes: Sequence[str], actions: Sequence[str] = (),
                    not_actions: Sequence[str] = (), data_actions: Sequence[str] = (),
                    not_data_actions: Sequence[str] = (), description: str = "",
                    role_id: str | None = None) -> JSON:
        """A custom role definition (roleType CustomRole), assignable at `assignable_scopes`."""
        role = {"name": role_id or self.guid(), "roleName": name, "roleType": "CustomRole", "description": description,
                "assignableScopes": list(assignable_scopes),
                "permissions": [{"actions": list(actions), "notActions": list(not_actions),
                                 "dataActions": list(data_actions), "notDataActions": list(not_data_actions),
                                 "condition": None, "conditionVersion": None}]}
        stored = _role_definition(role, iso(now() - datetime.timedelta(days=30)))
        self.role_definitions.append(stored)
        return stored

    def role_assignment(self, scope: str, principal_id: str, role: str, *, principal_type: str = "ServicePrincipal",
                        condition: str | None = None, condition_version: str | None = None,
                        description: str | None = None, name: str | None = None) -> JSON:
        """A role assignment of `role` (name, GUID or id) to `principal_id` at `scope` (any ARM scope, "/" for the
        tenant root). principal_type: ServicePrincipal, User, Group, ForeignGroup or Device."""
        definition = self.role(role)
        scope = scope.rstrip("/") or "/"
        sub = subscription_of(scope)
        guid = definition["name"]
        # a role assignment names its role definition in the subscription form below a subscription, and in the
        # tenant form at a management group or the root (Role Assignments - List For Scope, sample responses:
        # https://learn.microsoft.com/rest/api/authorization/role-assignments/list-for-scope)
        role_definition_id = ((f"/subscriptions/{sub}" if sub else "")
                              + f"/providers/Microsoft.Authorization/roleDefinitions/{guid}")
        rid = name or self.guid()
        created = iso(now() - datetime.timedelta(days=10))
        assignment: JSON = {
            "id": f"{'' if scope == '/' else scope}/providers/Microsoft.Authorization/roleAssignments/{rid}",
            "name": rid, "type": "Microsoft.Authorization/roleAssignments",
            "properties": {"roleDefinitionId": role_definition_id, "principalId": principal_id,
                           "principalType": principal_type, "scope": scope, "condition": condition,
                           "conditionVersion": condition_version if condition else None,
                           "description": description, "createdOn": created, "updatedOn": created,
                           "createdBy": None, "updatedBy": None, "delegatedManagedIdentityResourceId": None}}
        self.role_assignments.append(assignment)
        return assignment

    def deny_assignment(self, scope: str, *, name: str, actions: Sequence[str] = (), not_actions: Sequence[str] = (),
                        data_actions: Sequence[str] = (), not_data_actions: Sequence[str] = (),
                        principals: Sequence[tuple[str, str]] = ((EVERYONE, "SystemDefined"),),
                        exclude_principals: Sequence[tuple[str, str]] = (),
                        do_not_apply_to_child_scopes: bool = False, description: str = "",
                        is_system_protected: bool = True) -> JSON:
        """A deny assignment at `scope`; principals and exclude_principals are (object id, type) pairs, type being
        ServicePrincipal, User, Group or SystemDefined (Everyone is EVERYONE, "SystemDefined")."""
        scope = scope.rstrip("/") or "/"
        did = self.guid()
        # Deny Assignments - Get: https://learn.microsoft.com/rest/api/authorization/deny-assignments/get
        deny: JSON = {
            "id": f"{'' if scope == '/' else scope}/providers/Microsoft.Authorization/denyAssignments/{did}",
            "name": did, "type": "Microsoft.Authorization/denyAssignments",
            "properties": {"denyAssignmentName": name, "description": description,
                           "permissions": [{"actions": list(actions), "notActions": list(not_actions),
                                            "dataActions": list(data_actions),
                                            "notDataActions": list(not_data_actions),
                                            "condition": None, "conditionVersion": None}],
                           "scope": scope, "doNotApplyToChildScopes": do_not_apply_to_child_scopes,
                           "principals": [_principal(i, t) for i, t in principals],
                           "excludePrincipals": [_principal(i, t) for i, t in exclude_principals],
                           "isSystemProtected": is_system_protected, "condition": None, "conditionVersion": None,
                           "createdOn": iso(now()), "updatedOn": iso(now()), "createdBy": None,
                           "updatedBy": None}}
        self.deny_assignments.append(deny)
        return deny

    # --- managed identities -----------------------------------------------------------------------------------

    def user_assigned_identity(self, resource_group_id: str, name: str, *, location: str | None = None,
                               tags: Mapping[str, str] | None = None) -> JSON:
        """A user-assigned managed identity (ARM) and its service principal (Graph, servicePrincipalType
        ManagedIdentity, alternativeNames holding its ARM id)."""
        sub, rg, rg_location = self._group(resource_group_id)
        principal_id, client_id = self.guid(), self.guid()
        # ARM returns these ids with "resourcegroups" in lower case (User Assigned Identities - List By
        # Subscription, sample response: https://learn.microsoft.com/rest/api/managedidentity/user-assigned-identities/list-by-subscription)
        uai_id = (f"/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity"
                  f"/userAssignedIdentities/{name}")
        identity = self._add({"id": uai_id, "name": name, "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                              "location": location or rg_location, "tags": dict(tags or {}),
                              "properties": {"tenantId": self.tenant_id, "principalId": principal_id,
                                             "clientId": client_id, "isolationScope": "None"}})
        self._service_principal(display_name=name, app_id=client_id, object_id=principal_id, sp_type="ManagedIdentity",
                                alternative_names=["isExplicit=True", uai_id])
        return identity

    def federated_identity_credential(self, identity_id: str, name: str, *, issuer: str, subject: str,
                                      audiences: Sequence[str] = ("api://AzureADTokenExchange",)) -> JSON:
        """A federated identity credential on a user-assigned identity (ARM)."""
        if self.find(identity_id) is None:
            raise KeyError(f"no identity {identity_id}")
        # Federated Identity Credentials - List: https://learn.microsoft.com/rest/api/managedidentity/federated-identity-credentials/list
        return self._add_child(identity_id, "federatedIdentityCredentials", {
            "id": f"{identity_id}/federatedIdentityCredentials/{name}", "name": name,
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
            "properties": {"issuer": issuer, "subject": subject, "audiences": list(audiences)}})

    def system_assigned_identity(self, resource_id: str) -> JSON:
        """The service principal of a resource's system-assigned identity (alternativeNames: isExplicit=False and
        the resource's id); returns the Graph object."""
        return self._service_principal(display_name=last_segment(resource_id), app_id=self.guid(),
                                       sp_type="ManagedIdentity", alternative_names=["isExplicit=False", resource_id])

    # --- Graph: applications, service principals, users, groups ------------------------------------------------

    def _service_principal(self, *, display_name: str, app_id: str, sp_type: str, object_id: str | None = None,
                           owner_tenant: str | None = None, alternative_names: Sequence[str] = (),
                           tags: Sequence[str] = ()) -> JSON:
        # servicePrincipal resource type (v1.0): https://learn.microsoft.com/graph/api/resources/serviceprincipal
        names = [app_id] if sp_type != "ManagedIdentity" else [app_id, *alternative_names[1:]]
        sp: JSON = {"id": object_id or self.guid(), "appId": app_id, "displayName": display_name,
                    "appDisplayName": display_name if sp_type == "Application" else None,
                    "servicePrincipalType": sp_type, "accountEnabled": True,
                    "appOwnerOrganizationId": owner_tenant if sp_type == "Application" else None,
                    "alternativeNames": list(alternative_names), "servicePrincipalNames": names,
                    "tags": list(tags), "notes": None, "passwordCredentials": [], "keyCredentials": [],
                    "appRoles": [], "signInAudience": "AzureADMyOrg" if sp_type == "Application" else None,
                    "deletedDateTime": None}
        self.service_principals.append(sp)
        return sp

    def application(self, display_name: str, *, notes: str | None = None, tags: Sequence[str] = (),
                    sign_in_audience: str = "AzureADMyOrg", service_principal: bool = True) -> JSON:
        """An application registration and (unless service_principal=False) its service principal in this
        tenant; returns the application (its `id` is the object id, `appId` the client id)."""
        app_id = self.guid()
        # application resource type (v1.0): https://learn.microsoft.com/graph/api/resources/application
        app: JSON = {"id": self.guid(), "appId": app_id, "displayName": display_name,
                     "createdDateTime": iso(now() - datetime.timedelta(days=200)), "deletedDateTime": None,
                     "signInAudience": sign_in_audience, "publisherDomain": self.domain, "identifierUris": [],
                     "notes": notes, "tags": list(tags), "passwordCredentials": [], "keyCredentials": [],
                     "requiredResourceAccess": []}
        self.applications.append(app)
        if service_principal:
            self._service_principal(display_name=display_name, app_id=app_id, owner_tenant=self.tenant_id,
                                    sp_type="Application", tags=tags)
        return app

    def service_principal_for(self, app_id: str) -> JSON:
        """The service principal of an application (by appId) or of a managed identity (by its client id)."""
        found = next((sp for sp in self.service_principals if sp["appId"] == app_id), None)
        if found is None:
            raise KeyError(f"no service principal for appId {app_id}")
        return found

    def directory_object(self, object_id: str) -> tuple[str, JSON] | None:
        """(kind, object) for a Graph object id: kind is user, servicePrincipal, application or group."""
        for kind, items in (("servicePrincipal", self.service_principals), ("application", self.applications),
                            ("user", self.users), ("group", self.groups)):
            for item in items:
                if item["id"] == object_id:
                    return kind, item
        return None

    def password_credential(self, object_id: str, *, display_name: str, end: datetime.datetime | None = None,
                            start: datetime.datetime | None = None, secret: str | None = None) -> JSON:
        """A client secret on an application (or service principal), by object id; its text is a canary (never
        served; `hint` is its first three characters, as Graph returns). Default: valid from 30 days ago for a
        year. The token endpoint accepts it as that application's secret until `end`."""
        owner = self._credential_owner(object_id)
        text = secret or self.canary("password")
        # passwordCredential resource type: https://learn.microsoft.com/graph/api/resources/passwordcredential
        start = start or now() - datetime.timedelta(days=30)
        credential: JSON = {"customKeyIdentifier": None, "displayName": display_name, "keyId": self.guid(),
                            "hint": text[:3], "secretText": None, "startDateTime": iso(start),
                            "endDateTime": iso(end or start + datetime.timedelta(days=365))}
        owner["passwordCredentials"].append(credential)
        self.password_secrets[credential["keyId"]] = text
        return credential

    def key_credential(self, object_id: str, *, display_name: str, end: datetime.datetime | None = None,
                       start: datetime.datetime | None = None, usage: str = "Verify",
                       key_type: str = "AsymmetricX509Cert") -> JSON:
        """A certificate credential on an application (or service principal); `key` is not returned in lists."""
        owner = self._credential_owner(object_id)
        start = start or now() - datetime.timedelta(days=30)
        # keyCredential resource type: https://learn.microsoft.com/graph/api/resources/keycredential
        credential: JSON = {"customKeyIdentifier": format(self._rng.getrandbits(160), "040X"),
                            "displayName": display_name, "keyId": self.guid(), "key": None, "type": key_type,
                            "usage": usage, "startDateTime": iso(start),
                            "endDateTime": iso(end or start + datetime.timedelta(days=365))}
        owner["keyCredentials"].append(credential)
        return credential

    def _credential_owner(self, object_id: str) -> JSON:
        found = self.directory_object(object_id)
        if found is None or found[0] not in ("application", "servicePrincipal"):
            raise KeyError(f"no application or service principal {object_id}")
        return found[1]

    def user(self, display_name: str, *, user_principal_name: str | None = None) -> JSON:
        """A user (for owners and group members)."""
        upn = user_principal_name or f"{display_name.lower().replace(' ', '.')}@{self.domain}"
        # user resource type (default properties): https://learn.microsoft.com/graph/api/resources/user
        user: JSON = {"id": self.guid(), "displayName": display_name, "userPrincipalName": upn, "mail": upn,
                      "accountEnabled": True, "givenName": None, "surname": None, "jobTitle": None}
        self.users.append(user)
        return user

    def group(self, display_name: str, *, members: Iterable[str] = ()) -> JSON:
        """A security group; members are object ids (service principals, users, groups)."""
        # group resource type: https://learn.microsoft.com/graph/api/resources/group
        group: JSON = {"id": self.guid(), "displayName": display_name, "description": None, "securityEnabled": True,
                       "mailEnabled": False, "mailNickname": display_name.lower().replace(" ", "-"),
                       "groupTypes": [], "createdDateTime": iso(now() - datetime.timedelta(days=100))}
        self.groups.append(group)
        self.members[group["id"]] = list(members)
        return group

    def add_member(self, group_id: str, member_id: str) -> None:
        self.members.setdefault(group_id, []).append(member_id)

    def add_owner(self, object_id: str, owner_id: str) -> None:
        """Make `owner_id` (a user or service principal) an owner of an application or service principal."""
        self._credential_owner(object_id)
        if self.directory_object(owner_id) is None:
            raise KeyError(f"no directory object {owner_id}")
        self.owners.setdefault(object_id, []).append(owner_id)

    def app_federated_credential(self, application_object_id: str, name: str, *, issuer: str, subject: str,
                                 audiences: Sequence[str] = ("api://AzureADTokenExchange",),
                                 description: str | None = None) -> JSON:
        """A federated identity credential on an application (Graph v1.0 has issuer, subject, audiences, name and
        description; claimsMatchingExpression exists only in beta)."""
        found = self.directory_object(application_object_id)
        if found is None or found[0] != "application":
            raise KeyError(f"no application {application_object_id}")
        # federatedIdentityCredential resource type (v1.0):
        # https://learn.microsoft.com/graph/api/resources/federatedidentitycredential?view=graph-rest-1.0
        credential: JSON = {"id": self.guid(), "name": name, "issuer": issuer, "subject": subject,
                            "audiences": list(audiences), "description": description}
        self.app_federated_credentials.setdefault(application_object_id, []).append(credential)
        return credential

    def app_role_assignment(self, principal_id: str, permission: str) -> JSON:
        """Grant a Microsoft Graph application permission (e.g. "Application.ReadWrite.All") to a service
        principal: an appRoleAssignment whose resource is the Microsoft Graph service principal."""
        found = self.directory_object(principal_id)
        if found is None or found[0] != "servicePrincipal":
            raise KeyError(f"no service principal {principal_id}")
        # appRoleAssignment resource type: https://learn.microsoft.com/graph/api/resources/approleassignment
        assignment: JSON = {"id": base64.urlsafe_b64encode(uuid.UUID(principal_id).bytes + self._rng.randbytes(8))
                            .decode().rstrip("="),
                            "appRoleId": GRAPH_APP_ROLES[permission], "createdDateTime": iso(now()),
                            "deletedDateTime": None, "principalDisplayName": found[1]["displayName"],
                            "principalId": principal_id, "principalType": "ServicePrincipal",
                            "resourceDisplayName": "Microsoft Graph", "resourceId": self.graph["id"]}
        self.app_role_assignments.append(assignment)
        return assignment

    def directory_role_assignment(self, principal_id: str, role: str, *, directory_scope_id: str = "/") -> JSON:
        """Assign a built-in Microsoft Entra role (display name or template id) to a principal."""
        definition = next(d for d in self.directory_role_definitions if role in (d["displayName"], d["id"]))
        # unifiedRoleAssignment resource type: https://learn.microsoft.com/graph/api/resources/unifiedroleassignment
        assignment: JSON = {"id": self.guid(), "principalId": principal_id, "roleDefinitionId": definition["id"],
                            "directoryScopeId": directory_scope_id, "resourceScope": directory_scope_id,
                            "appScopeId": None}
        self.directory_role_assignments.append(assignment)
        return assignment

    # --- DNS, private DNS, Traffic Manager -----------------------------------------------------------------------

    def dns_zone(self, resource_group_id: str, name: str, *, tags: Mapping[str, str] | None = None) -> JSON:
        """A public DNS zone, with the SOA and NS record sets Azure creates with it."""
        sub, rg, _ = self._group(resource_group_id)
        # Zones - List (2018-05-01): https://learn.microsoft.com/rest/api/dns/zones/list
        zone = self._add({"id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/dnszones/{name}",
                          "name": name, "type": "Microsoft.Network/dnszones", "location": "global",
                          "tags": dict(tags or {}), "etag": self.guid(),
                          "properties": {"maxNumberOfRecordSets": 10000, "maxNumberOfRecordsPerRecordSet": None,
                                         "numberOfRecordSets": 0, "nameServers": list(AZURE_DNS_NAME_SERVERS),
                                         "zoneType": "Public"}})
        self.record_set(zone["id"], "@", "SOA", ttl=3600, records={
            "host": AZURE_DNS_NAME_SERVERS[0], "email": "azuredns-hostmaster.microsoft.com", "serialNumber": 1,
            "refreshTime": 3600, "retryTime": 300, "expireTime": 2419200, "minimumTTL": 300})
        self.record_set(zone["id"], "@", "NS", ttl=172800, records=list(AZURE_DNS_NAME_SERVERS))
        return zone

    def record_set(self, zone_id: str, name: str, record_type: str, *, ttl: int = 3600, records: Any = None,
                   target_resource: str | None = None, metadata: Mapping[str, str] | None = None) -> JSON:
        """A record set in a public zone. `records` by type: A/AAAA/NS/PTR a list of strings, CNAME a string, TXT
        a list of strings (one record each), MX a list of (preference, exchange), SRV of (priority, weight, port,
        target), CAA of (flags, tag, value), SOA a dict. `target_resource` (an ARM id, e.g. a Traffic Manager
        profile) makes an alias record set."""
        zone = self.find(zone_id)
        if zone is None:
            raise KeyError(f"no zone {zone_id}")
        record_type = record_type.upper()
        # Record Sets - List All By Dns Zone, RecordSet properties (TTL, ARecords, CNAMERecord, targetResource, ...):
        # https://learn.microsoft.com/rest/api/dns/record-sets/list-all-by-dns-zone
        properties: JSON = {"metadata": dict(metadata or {}), "TTL": ttl,
                            "fqdn": f"{zone['name']}." if name == "@" else f"{name}.{zone['name']}.",
                            "provisioningState": "Succeeded",
                            "targetResource": {"id": target_resource} if target_resource else {}}
        if records is not None:
            properties.update(_public_records(record_type, records))
        record = self._add_child(zone["id"], "recordsets", {
            "id": f"{zone['id']}/{record_type}/{name}", "name": name,
            "type": f"Microsoft.Network/dnszones/{record_type}", "etag": self.guid(), "properties": properties})
        zone["properties"]["numberOfRecordSets"] += 1
        return record

    def private_zone(self, resource_group_id: str, name: str, *, tags: Mapping[str, str] | None = None) -> JSON:
        """A private DNS zone, with its SOA record set."""
        sub, rg, _ = self._group(resource_group_id)
        # Private Zones - List: https://learn.microsoft.com/rest/api/dns/privatednszones/private-zones/list
        zone_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/privateDnsZones/{name}"
        zone = self._add({"id": zone_id, "name": name, "type": "Microsoft.Network/privateDnsZones",
                          "location": "global",
                          "tags": dict(tags or {}), "etag": self.guid(),
                          "properties": {"maxNumberOfRecordSets": 25000, "numberOfRecordSets": 0,
                                         "maxNumberOfVirtualNetworkLinks": 1000, "numberOfVirtualNetworkLinks": 0,
                                         "maxNumberOfVirtualNetworkLinksWithRegistration": 100,
                                         "numberOfVirtualNetworkLinksWithRegistration": 0,
                                         "provisioningState": "Succeeded", "internalId": self.guid()}})
        self.private_record_set(zone["id"], "@", "SOA", ttl=3600, records={
            "host": "azureprivatedns.net", "email": "azureprivatedns-host.microsoft.com", "serialNumber": 1,
            "refreshTime": 3600, "retryTime": 300, "expireTime": 2419200, "minimumTtl": 10})
        return zone

    def private_record_set(self, zone_id: str, name: str, record_type: str, *, ttl: int = 3600,
                           records: Any = None) -> JSON:
        """A record set in a private zone (private DNS spells its keys camelCase: ttl, aRecords, cnameRecord)."""
        zone = self.find(zone_id)
        if zone is None:
            raise KeyError(f"no private zone {zone_id}")
        record_type = record_type.upper()
        # Record Sets - List (private DNS): https://learn.microsoft.com/rest/api/dns/privatednszones/record-sets/list
        properties: JSON = {"metadata": {}, "ttl": ttl,
                            "fqdn": f"{zone['name']}." if name == "@" else f"{name}.{zone['name']}.",
                            "isAutoRegistered": False}
        if records is not None:
            properties.update(_private_records(record_type, records))
        record = self._add_child(zone["id"], "recordsets", {
            "id": f"{zone['id']}/{record_type}/{name}", "name": name,
            "type": f"Microsoft.Network/privateDnsZones/{record_type}", "etag": self.guid(), "properties": properties})
        zone["properties"]["numberOfRecordSets"] += 1
        return record

    def traffic_manager_profile(self, resource_group_id: str, name: str, *, routing_method: str = "Priority",
                                relative_name: str | None = None, ttl: int = 60, monitor_protocol: str = "HTTPS",
                                monitor_port: int = 443, monitor_path: str = "/health",
                                tags: Mapping[str, str] | None = None) -> JSON:
        """A Traffic Manager profile (its endpoints come from `traffic_manager_endpoint`)."""
        sub, rg, _ = self._group(resource_group_id)
        relative = relative_name or name
        # Profiles - List By Subscription: https://learn.microsoft.com/rest/api/trafficmanager/profiles/list-by-subscription
        return self._add({
            "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/trafficManagerProfiles/{name}",
            "name": name, "type": "Microsoft.Network/trafficManagerProfiles", "location": "global",
            "tags": dict(tags or {}),
            "properties": {"profileStatus": "Enabled", "trafficRoutingMethod": routing_method,
                           "dnsConfig": {"relativeName": relative, "fqdn": f"{relative}.trafficmanager.net",
                                         "ttl": ttl},
                           "monitorConfig": {"profileMonitorStatus": "Online", "protocol": monitor_protocol,
                                             "port": monitor_port, "path": monitor_path, "intervalInSeconds": 30,
                                             "timeoutInSeconds": 10, "toleratedNumberOfFailures": 3,
                                             "customHeaders": [], "expectedStatusCodeRanges": []},
                           "endpoints": [], "trafficViewEnrollmentStatus": "Disabled", "maxReturn": None}})

    def traffic_manager_endpoint(self, profile_id: str, name: str, *, kind: str = "externalEndpoints",
                                 target: str | None = None, target_resource_id: str | None = None,
                                 priority: int | None = None, weight: int | None = None,
                                 status: str = "Enabled", location: str | None = None,
                                 min_child_endpoints: int | None = None) -> JSON:
        """An endpoint of a profile: kind azureEndpoints, externalEndpoints or nestedEndpoints."""
        profile = self.find(profile_id)
        if profile is None:
            raise KeyError(f"no Traffic Manager profile {profile_id}")
        # Endpoint properties: https://learn.microsoft.com/rest/api/trafficmanager/endpoints/get
        endpoint: JSON = {"id": f"{profile['id']}/{kind}/{name}", "name": name,
                          "type": f"Microsoft.Network/trafficManagerProfiles/{kind}",
                          "properties": {"endpointStatus": status, "endpointMonitorStatus": "Online",
                                         "target": target, "targetResourceId": target_resource_id,
                                         "weight": weight if weight is not None else 1,
                                         "priority": priority, "endpointLocation": location,
                                         "minChildEndpoints": min_child_endpoints, "alwaysServe": "Disabled",
                                         "customHeaders": [], "geoMapping": None, "subnets": []}}
        profile["properties"]["endpoints"].append(endpoint)
        return endpoint

    # --- Key Vault --------------------------------------------------------------------------------------------

    def key_vault(self, resource_group_id: str, name: str, *, rbac: bool = True,
                  tags: Mapping[str, str] | None = None) -> JSON:
        """A Key Vault: `rbac` is enableRbacAuthorization (False: access policies decide, see
        `vault_access_policy`). Its vaultUri points at this stand-in's data-plane route (`/kv/{name}/`)."""
        sub, rg, location = self._group(resource_group_id)
        # Vaults - List By Subscription: https://learn.microsoft.com/rest/api/keyvault/keyvault/vaults/list-by-subscription
        return self._add({
            "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}",
            "name": name, "type": "Microsoft.KeyVault/vaults", "location": location, "tags": dict(tags or {}),
            "properties": {"tenantId": self.tenant_id, "sku": {"family": "A", "name": "standard"},
                           "accessPolicies": [], "vaultUri": None, "enabledForDeployment": False,
                           "enabledForDiskEncryption": False, "enabledForTemplateDeployment": False,
                           "enableSoftDelete": True, "softDeleteRetentionInDays": 90,
                           "enableRbacAuthorization": rbac, "enablePurgeProtection": None,
                           "provisioningState": "Succeeded", "publicNetworkAccess": "Enabled"}})

    def vault_access_policy(self, vault_id: str, object_id: str, *, secrets: Sequence[str] = (),
                            certificates: Sequence[str] = (), keys: Sequence[str] = (),
                            storage: Sequence[str] = (), application_id: str | None = None) -> JSON:
        """An access policy entry (permissions such as "get", "list", "set" per object kind) on a vault."""
        vault = self.find(vault_id)
        if vault is None:
            raise KeyError(f"no vault {vault_id}")
        # AccessPolicyEntry: https://learn.microsoft.com/rest/api/keyvault/keyvault/vaults/get
        entry: JSON = {"tenantId": self.tenant_id, "objectId": object_id, "applicationId": application_id,
                       "permissions": {"keys": list(keys), "secrets": list(secrets),
                                       "certificates": list(certificates), "storage": list(storage)}}
        vault["properties"]["accessPolicies"].append(entry)
        return entry

    def vault_secret(self, vault_id: str, name: str, *, value: str | None = None, content_type: str | None = None,
                     expires: datetime.datetime | None = None, not_before: datetime.datetime | None = None,
                     enabled: bool = True, tags: Mapping[str, str] | None = None,
                     certificate: bool = False) -> JSON:
        """A secret in a vault: the management plane serves its metadata (never the value); the value (a canary
        unless given) only the data-plane route. certificate=True makes it a certificate's secret (content type
        application/x-pkcs12, as Key Vault keeps a certificate's key)."""
        vault = self.find(vault_id)
        if vault is None:
            raise KeyError(f"no vault {vault_id}")
        created = now() - datetime.timedelta(days=60)
        attributes: JSON = {"enabled": enabled, "created": int(created.timestamp()),
                            "updated": int(created.timestamp())}
        if not_before is not None:
            attributes["nbf"] = int(not_before.timestamp())
        if expires is not None:
            attributes["exp"] = int(expires.timestamp())
        # Secrets - List (management plane; SecretProperties and SecretAttributes with Unix-time nbf/exp/created):
        # https://learn.microsoft.com/rest/api/keyvault/keyvault/secrets/list
        secret = self._add_child(vault["id"], "secrets", {
            "id": f"{vault['id']}/secrets/{name}", "name": name, "type": "Microsoft.KeyVault/vaults/secrets",
            "location": vault["location"], "tags": dict(tags or {}),
            "properties": {"contentType": "application/x-pkcs12" if certificate else content_type,
                           "attributes": attributes, "secretUri": None, "secretUriWithVersion": None}})
        self.secret_values[f"{vault['name']}/{name}".lower()] = value or self.canary("kv")
        return secret

    # --- Front Door Standard/Premium (Microsoft.Cdn) -------------------------------------------------------------

    def front_door(self, resource_group_id: str, name: str, *, sku: str = "Standard_AzureFrontDoor",
                   tags: Mapping[str, str] | None = None) -> JSON:
        """A Front Door Standard/Premium profile (Microsoft.Cdn/profiles, location Global)."""
        sub, rg, _ = self._group(resource_group_id)
        # Profiles - List: https://learn.microsoft.com/rest/api/frontdoor/azurefrontdoorstandardpremium/profiles/list
        return self._add({
            "id": f"/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Cdn/profiles/{name}",
            "name": name, "type": "Microsoft.Cdn/profiles", "location": "Global", "kind": "frontdoor",
            "tags": dict(tags or {}), "sku": {"name": sku},
            "properties": {"resourceState": "Active", "provisioningState": "Succeeded", "frontDoorId": self.guid(),
                           "originResponseTimeoutSeconds": 60, "extendedProperties": {}}})

    def origin_group(self, profile_id: str, name: str, *, probe_path: str = "/", probe_protocol: str = "Https",
                     probe_interval: int = 100) -> JSON:
        """An origin group of a Front Door profile."""
        profile = self.find(profile_id)
        if profile is None:
            raise KeyError(f"no Front Door profile {profile_id}")
        # AFD Origin Groups - List By Profile: https://learn.microsoft.com/rest/api/frontdoor/azurefrontdoorstandardpremium/afd-origin-groups/list-by-profile
        return self._add_child(profile["id"], "originGroups", {
            "id": f"{profile['id']}/origingroups/{name}", "name": name, "type": "Microsoft.Cdn/profiles/origingroups",
            "properties": {"profileName": profile["name"],
                           "loadBalancingSettings": {"sampleSize": 4, "successfulSamplesRequired": 3,
                                                     "additionalLatencyInMilliseconds": 50},
                           "healthProbeSettings": {"probePath": probe_path, "probeRequestType": "HEAD",
                                                   "probeProtocol": probe_protocol,
                                                   "probeIntervalInSeconds": probe_interval},
                           "trafficRestorationTimeToHealedOrNewEndpointsInMinutes": 10,
                           "sessionAffinityState": "Disabled", "provisioningState": "Succeeded",
                           "deploymentStatus": "NotStarted"}})

    def origin(self, origin_group_id: str, name: str, *, host_name: str, priority: int = 1, weight: int = 1000,
               enabled: bool = True, azure_origin: str | None = None) -> JSON:
        """An origin in an origin group (lower priority is preferred)."""
        group = self.find(origin_group_id)
        if group is None:
            raise KeyError(f"no origin group {origin_group_id}")
        # AFD Origins - List By Origin Group: https://learn.microsoft.com/rest/api/frontdoor/azurefrontdoorstandardpremium/afd-origins/list-by-origin-group
        return self._add_child(group["id"], "origins", {
            "id": f"{group['id']}/origins/{name}", "name": name, "type": "Microsoft.Cdn/profiles/origingroups/origins",
            "properties": {"originGroupName": group["name"], "hostName": host_name, "httpPort": 80, "httpsPort": 443,
                           "originHostHeader": host_name, "priority": priority, "weight": weight,
                           "enabledState": "Enabled" if enabled else "Disabled",
                           "azureOrigin": {"id": azure_origin} if azure_origin else None,
                           "enforceCertificateNameCheck": True, "provisioningState": "Succeeded",
                           "deploymentStatus": "NotStarted"}})

    # --- scopes -------------------------------------------------------------------------------------------------

    def chain(self, scope: str) -> list[str]:
        """The scope and every scope above it, normalised, nearest first: resource, its parents, resource group,
        subscription, its management groups up to the tenant root group, and "/" ("Understand scope for Azure
        RBAC": https://learn.microsoft.com/azure/role-based-access-control/scope-overview)."""
        s = norm(scope)
        if s == "/":
            return ["/"]
        out: list[str] = []
        group: str | None = None
        if s.startswith(MG_PREFIX.lower()):
            group = s[len(MG_PREFIX):].split("/")[0]
        else:
            segments = s.strip("/").split("/")
            lengths = [n for n in range(len(segments), 1, -1) if n in (2, 4) or (n >= 8 and n % 2 == 0)]
            out += ["/" + "/".join(segments[:n]) for n in lengths]
            group = self.subscription_parent.get(segments[1]) if len(segments) > 1 else None
        seen: set[str] = set()
        while group is not None and group.lower() in self.management_groups and group.lower() not in seen:
            seen.add(group.lower())
            out.append(norm(MG_PREFIX + group))
            group = self.management_groups[group.lower()]["parent"]
        return [*out, "/"]

    def scope_exists(self, scope: str) -> str | None:
        """None when the scope exists here, else the ARM error code that says why not."""
        s = norm(scope)
        if s == "/":
            return None
        if s.startswith(MG_PREFIX.lower()):
            return None if s[len(MG_PREFIX):].split("/")[0] in self.management_groups else "ManagementGroupNotFound"
        sub = subscription_of(s)
        if sub is None or sub.lower() not in self.subscriptions:
            return "SubscriptionNotFound"
        parts = s.strip("/").split("/")
        if len(parts) >= 4 and not any(norm(g["id"]) == "/" + "/".join(parts[:4]) for g in self.resource_groups):
            return "ResourceGroupNotFound"
        return None

    def group_ids_of(self, object_id: str) -> list[str]:
        """The groups an object belongs to, directly or through nested groups."""
        out: list[str] = []
        frontier = [object_id]
        while frontier:
            current = frontier.pop()
            for gid, members in self.members.items():
                if current in members and gid not in out:
                    out.append(gid)
                    frontier.append(gid)
        return out


def _principal(object_id: str, kind: str) -> JSON:
    # Principal (deny assignments): id, displayName, type, email
    name = "Everyone" if object_id == EVERYONE else None
    return {"id": object_id, "displayName": name, "type": kind, "email": None}


def _role_definition(role: Mapping[str, Any], created: str) -> JSON:
    """A role definition in ARM's shape (properties.type is the role type), from the `az` CLI shape."""
    # Role Definitions - Get By Id: https://learn.microsoft.com/rest/api/authorization/role-definitions/get-by-id
    permissions = [{k: v for k, v in p.items() if k not in ("condition", "conditionVersion") or v is not None}
                   for p in role["permissions"]]
    return {"id": f"/providers/Microsoft.Authorization/roleDefinitions/{role['name']}", "name": role["name"],
            "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {"roleName": role["roleName"], "type": role["roleType"],
                           "description": role.get("description", ""),
                           "assignableScopes": list(role["assignableScopes"]),
                           "permissions": permissions, "createdOn": created, "updatedOn": created,
                           "createdBy": None, "updatedBy": None}}


def _public_records(record_type: str, records: Any) -> JSON:
    """A public record set's record properties (their capitalisation is the API's)."""
    if record_type == "A":
        return {"ARecords": [{"ipv4Address": r} for r in records]}
    if record_type == "AAAA":
        return {"AAAARecords": [{"ipv6Address": r} for r in records]}
    if record_type == "CNAME":
        return {"CNAMERecord": {"cname": records}}
    if record_type == "NS":
        return {"NSRecords": [{"nsdname": r} for r in records]}
    if record_type == "PTR":
        return {"PTRRecords": [{"ptrdname": r} for r in records]}
    if record_type == "TXT":
        return {"TXTRecords": [{"value": [r]} for r in records]}
    if record_type == "MX":
        return {"MXRecords": [{"preference": p, "exchange": e} for p, e in records]}
    if record_type == "SRV":
        return {"SRVRecords": [{"priority": p, "weight": w, "port": n, "target": t} for p, w, n, t in records]}
    if record_type == "CAA":
        return {"caaRecords": [{"flags": f, "tag": t, "value": v} for f, t, v in records]}
    if record_type == "SOA":
        return {"SOARecord": dict(records)}
    raise ValueError(f"record type {record_type} is not modelled")


def _private_records(record_type: str, records: Any) -> JSON:
    """A private record set's record properties (camelCase in private DNS)."""
    if record_type == "A":
        return {"aRecords": [{"ipv4Address": r} for r in records]}
    if record_type == "AAAA":
        return {"aaaaRecords": [{"ipv6Address": r} for r in records]}
    if record_type == "CNAME":
        return {"cnameRecord": {"cname": records}}
    if record_type == "PTR":
        return {"ptrRecords": [{"ptrdname": r} for r in records]}
    if record_type == "TXT":
        return {"txtRecords": [{"value": [r]} for r in records]}
    if record_type == "MX":
        return {"mxRecords": [{"preference": p, "exchange": e} for p, e in records]}
    if record_type == "SRV":
        return {"srvRecords": [{"priority": p, "weight": w, "port": n, "target": t} for p, w, n, t in records]}
    if record_type == "SOA":
        return {"soaRecord": dict(records)}
    raise ValueError(f"record type {record_type} is not modelled in private DNS")
