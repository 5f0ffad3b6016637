"""A local stand-in for Azure: Azure Resource Manager (ARM), Microsoft Graph and the Microsoft Entra token endpoint,
served over HTTPS from an `AzureEstate` (the seed model) by the shared stand-in (`commonmode_sandbox.standin`).

No emulator exists for these APIs (shared/TESTING.md §3), so this serves the documented read endpoints the Azure
connector calls, with the documented JSON shapes, through the real SDK clients and a real azure-identity
credential: MSAL's OpenID discovery and client-credentials token endpoint; every ARM list with `api-version`
required and `nextLink` paging; Graph v1.0 with `@odata.nextLink` paging, `$select`, `$top` and the simple
`$filter`s the connector uses. Tokens are random opaque strings bound to the audience of the scope they were
asked for: ARM accepts only a token for its own URL, Graph only one for its own (so two stand-ins on two URLs
tell ARM and Graph tokens apart; one stand-in serving both accepts the one audience for both).

Read-only: every PUT, PATCH, DELETE and every POST but the token endpoint's (ARM actions such as `listKeys`,
Graph's `addPassword`) is refused with 405 and recorded. Secret values exist only where a real service keeps
them, and no route that the product may call returns one: a Key Vault secret's value only from the data-plane
route `GET /kv/{vault}/secrets/{name}` (the vault's `vaultUri` points there; the product must never call it), an
application password's `secretText` never (Graph returns it only from addPassword). `AzureEstate.canaries()`
lists them all, with the scanner's client secret and every access token issued, for tests to assert that no
output or log holds one.

The three APIs are three route tables (`LoginApi`, `ArmApi`, `GraphApi`, plus `KeyVaultDataApi`): one
`AzureStandIn` can serve any of them, and `commonmode_sandbox.servers.start_azure` starts one for all, or one
per API on separate ports under one test CA.

Each route's comment names the documentation page its shape comes from (learn.microsoft.com REST API
reference for ARM, the Microsoft Graph v1.0 reference, and the Microsoft identity platform protocol pages).
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import random
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeAlias
from urllib.parse import unquote

from commonmode_sandbox.standin import Reply, Request, StandIn, TestCertificate

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


def _iso(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> datetime.datetime:
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
        self._lock = threading.Lock()
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
        self.faults: list[Fault] = []

        self.management_groups[self.tenant_id.lower()] = {"name": self.tenant_id, "displayName": "Tenant Root Group",
                                                          "parent": None}
        for role in builtin_roles():
            self.role_definitions.append(_role_definition(role, _iso(_now() - datetime.timedelta(days=900))))
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
        self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault that applies to this request, counted (thread-safe), or None."""
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path) and (fault.times is None or fault.hits < fault.times):
                    fault.hits += 1
                    return fault
        return None

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
        stored = _role_definition(role, _iso(_now() - datetime.timedelta(days=30)))
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
        created = _iso(_now() - datetime.timedelta(days=10))
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
                           "createdOn": _iso(_now()), "updatedOn": _iso(_now()), "createdBy": None,
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
                     "createdDateTime": _iso(_now() - datetime.timedelta(days=200)), "deletedDateTime": None,
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
        start = start or _now() - datetime.timedelta(days=30)
        credential: JSON = {"customKeyIdentifier": None, "displayName": display_name, "keyId": self.guid(),
                            "hint": text[:3], "secretText": None, "startDateTime": _iso(start),
                            "endDateTime": _iso(end or start + datetime.timedelta(days=365))}
        owner["passwordCredentials"].append(credential)
        self.password_secrets[credential["keyId"]] = text
        return credential

    def key_credential(self, object_id: str, *, display_name: str, end: datetime.datetime | None = None,
                       start: datetime.datetime | None = None, usage: str = "Verify",
                       key_type: str = "AsymmetricX509Cert") -> JSON:
        """A certificate credential on an application (or service principal); `key` is not returned in lists."""
        owner = self._credential_owner(object_id)
        start = start or _now() - datetime.timedelta(days=30)
        # keyCredential resource type: https://learn.microsoft.com/graph/api/resources/keycredential
        credential: JSON = {"customKeyIdentifier": format(self._rng.getrandbits(160), "040X"),
                            "displayName": display_name, "keyId": self.guid(), "key": None, "type": key_type,
                            "usage": usage, "startDateTime": _iso(start),
                            "endDateTime": _iso(end or start + datetime.timedelta(days=365))}
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
                       "groupTypes": [], "createdDateTime": _iso(_now() - datetime.timedelta(days=100))}
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
                            "appRoleId": GRAPH_APP_ROLES[permission], "createdDateTime": _iso(_now()),
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
        created = _now() - datetime.timedelta(days=60)
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


# ================================================================================================================
# The servers: one route table per API
# ================================================================================================================

Route: TypeAlias = tuple[str, "re.Pattern[str]", Callable[..., Reply]]


def _route(method: str, pattern: str) -> Callable[[Callable[..., Reply]], Callable[..., Reply]]:
    def mark(fn: Callable[..., Reply]) -> Callable[..., Reply]:
        fn.route = (method, re.compile(pattern, re.I))  # type: ignore[attr-defined]  # read by _routes below
        return fn
    return mark


class _Api:
    """A route table: methods decorated with `_route(METHOD, regex)` over the decoded path (leading slash, no
    query); `handle` answers a request it has a route for, else None."""

    name = ""

    def __init__(self, estate: AzureEstate, base: Callable[[], str]) -> None:
        self.estate = estate
        self.base = base  # this server's URL, once it listens
        self.routes: list[Route] = []
        for attr in dir(type(self)):
            fn = getattr(self, attr)
            route = getattr(fn, "route", None)
            if route is not None:
                self.routes.append((route[0], route[1], fn))

    def owns(self, path: str) -> bool:
        """Whether a path belongs to this API (for write refusals and unknown routes)."""
        return False

    def handle(self, request: Request, path: str) -> Reply | None:
        for method, pattern, fn in self.routes:
            m = pattern.match(path)
            if m and method == request.method:
                return self.answer(request, path, functools.partial(fn, request, **m.groupdict()))
        return None

    def answer(self, request: Request, path: str, serve: Callable[[], Reply]) -> Reply:
        return serve()

    def not_found(self, path: str) -> Reply:
        return 404, {"error": {"code": "NotFound", "message": f"no route {path}"}}

    def refused(self, request: Request) -> Reply:
        return 405, {"error": {"code": "MethodNotAllowed",
                               "message": f"{request.method} is a write: the stand-in is read-only and refused it"}}


def _token_of(request: Request) -> str:
    value = request.header("Authorization")
    return value[7:].strip() if value[:7].lower() == "bearer " else ""


def _skiptoken(query: Mapping[str, list[str]]) -> tuple[int, dict[str, list[str]]]:
    """(offset, query) of a request: a $skiptoken the stand-in made carries the first request's query."""
    token = (query.get("$skiptoken") or query.get("$skipToken") or [""])[0]
    if not token:
        return 0, dict(query)
    state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    merged = {k: v for k, v in query.items() if k.lower() != "$skiptoken"}
    merged.update(state["q"])
    return int(state["o"]), merged


def _make_skiptoken(offset: int, query: Mapping[str, list[str]]) -> str:
    kept = {k: v for k, v in query.items() if k.lower() not in ("$skiptoken", "api-version")}
    raw = json.dumps({"o": offset, "q": kept}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    wanted = name.lower()
    return next((v[0] for k, v in query.items() if k.lower() == wanted and v), None)


# --- login: OpenID discovery and the token endpoint -------------------------------------------------------------

class LoginApi(_Api):
    """Microsoft Entra's v2.0 endpoints that MSAL calls for a custom authority with instance discovery off."""

    name = "login"

    def owns(self, path: str) -> bool:
        return "/oauth2/" in path or "/.well-known/" in path

    def answer(self, request: Request, path: str, serve: Callable[[], Reply]) -> Reply:
        fault = self.estate.take_fault(request.method, path)
        if fault is not None:
            code = fault.code or ("temporarily_unavailable" if fault.status >= 500 else "invalid_request")
            return fault.status, self._error(code, 0, fault.message or f"AADSTS50000: HTTP {fault.status}"), \
                fault.headers
        return serve()

    def _error(self, error: str, code: int, description: str) -> JSON:
        # Error response of the client credentials flow (error, error_description, error_codes, timestamp,
        # trace_id, correlation_id, error_uri): https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
        now = _iso(_now()).replace("T", " ").rstrip("Z")
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        return {"error": error,
                "error_description": f"{description}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\n"
                                     f"Timestamp: {now}Z",
                "error_codes": [code] if code else [], "timestamp": f"{now}Z", "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"{self.base()}/error?code={code}"}

    def _tenant_known(self, tenant: str) -> bool:
        return tenant.lower() in (self.estate.tenant_id.lower(), self.estate.domain.lower())

    @_route("GET", r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")
    def openid_configuration(self, request: Request, tenant: str) -> Reply:
        # OpenID configuration document: https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc
        if not self._tenant_known(tenant):
            return 400, self._error("invalid_tenant", 90002, f"AADSTS90002: Tenant '{tenant}' not found. Check to "
                                    "make sure you have the correct tenant ID and are signing into the correct cloud.")
        base, tid = self.base(), self.estate.tenant_id
        return 200, {
            "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tid}/v2.0", "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
            "http_logout_supported": True, "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
            "kerberos_endpoint": f"{base}/{tid}/kerberos", "tenant_region_scope": "EU",
            "cloud_instance_name": "stand-in", "cloud_graph_host_name": "graph.stand-in",
            "msgraph_host": "graph.stand-in", "rbac_url": base}

    @_route("POST", r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
    def token(self, request: Request, tenant: str) -> Reply:
        # Client credentials with a shared secret (grant_type, client_id, client_secret, scope = {resource}/.default):
        # https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow ; error codes:
        # https://learn.microsoft.com/entra/identity-platform/reference-error-codes
        form: Mapping[str, str] = request.body if isinstance(request.body, dict) else {}
        scope = form.get("scope", "")
        self.estate.scopes_requested.append(scope)
        if form.get("grant_type") != "client_credentials":
            return 400, self._error("unsupported_grant_type", 70003,
                                    "AADSTS70003: The app requested an unsupported grant type.")
        if not self._tenant_known(tenant):
            return 400, self._error("invalid_request", 90002, f"AADSTS90002: Tenant '{tenant}' not found.")
        client_id = form.get("client_id", "")
        app = next((a for a in self.estate.applications if a["appId"] == client_id), None)
        if app is None:
            return 400, self._error("unauthorized_client", 700016, f"AADSTS700016: Application with identifier "
                                    f"'{client_id}' was not found in the directory '{self.estate.tenant_id}'.")
        given = form.get("client_secret")
        if not given:
            return 400, self._error("invalid_client", 7000218, "AADSTS7000218: The request body must contain the "
                                    "following parameter: 'client_assertion' or 'client_secret'.")
        now = _iso(_now())
        matching = [c for c in app["passwordCredentials"]
                    if secrets.compare_digest(self.estate.password_secrets.get(c["keyId"], ""), given)]
        if not matching:
            return 401, self._error("invalid_client", 7000215, "AADSTS7000215: Invalid client secret provided. "
                                    "Ensure the secret being sent in the request is the client secret value, not "
                                    f"the client secret ID, for a secret added to app '{client_id}'.")
        if all(c["endDateTime"] <= now or c["startDateTime"] > now for c in matching):
            return 401, self._error("invalid_client", 7000222, "AADSTS7000222: The provided client secret keys for "
                                    f"app '{client_id}' are expired.")
        resources = [s for s in scope.split() if s not in ("openid", "profile", "offline_access")]
        if len(resources) != 1 or not resources[0].endswith("/.default"):
            return 400, self._error("invalid_scope", 1002012, f"AADSTS1002012: The provided value for scope {scope} "
                                    "is not valid. Client credential flows must have a scope value with /.default "
                                    "suffixed to the resource identifier (application ID URI).")
        audience = resources[0].removesuffix("/.default").rstrip("/")
        if audience not in self.estate.audiences:
            return 400, self._error("invalid_resource", 500011, f"AADSTS500011: The resource principal named "
                                    f"{audience} was not found in the tenant named {self.estate.tenant_id}.")
        token = secrets.token_urlsafe(48)
        self.estate.tokens[token] = IssuedToken(audience=audience, client_id=client_id,
                                                expires=_now().timestamp() + 3599)
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}


# --- ARM --------------------------------------------------------------------------------------------------------

def _arm_error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Reply:
    # ARM's error response: {"error": {"code", "message"}} ("Common error responses"/ErrorResponse of each
    # REST page, e.g. https://learn.microsoft.com/rest/api/authorization/role-assignments/list-for-scope)
    return status, {"error": {"code": code, "message": message}}, dict(headers or {})


_ARM_FAULTS = {400: "BadRequest", 403: "AuthorizationFailed", 404: "ResourceNotFound", 409: "Conflict",
               429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
               504: "GatewayTimeout"}


class ArmApi(_Api):
    """Azure Resource Manager: every route needs a token for this server's audience and an api-version."""

    name = "arm"

    def owns(self, path: str) -> bool:
        return path.lower().startswith(("/subscriptions", "/providers/"))

    def answer(self, request: Request, path: str, serve: Callable[[], Reply]) -> Reply:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        fault = self.estate.take_fault(request.method, path)
        if fault is not None:
            code = fault.code or _ARM_FAULTS.get(fault.status, "Error")
            message = fault.message or (
                f"The client '{self.estate.scanner.client_id}' with object id "
                f"'{self.estate.service_principal_for(self.estate.scanner.client_id)['id']}' does not have "
                f"authorization to perform action 'read' over scope '{path}' or the scope is invalid. If access was "
                "recently granted, please refresh your credentials."
                if fault.status == 403 else f"HTTP {fault.status} from the stand-in, as asked")
            headers = dict(fault.headers)
            if fault.status == 429:
                headers.setdefault("Retry-After", "1")
            return _arm_error(fault.status, code, message, headers)
        if not _first(request.query, "api-version"):
            return _arm_error(400, "MissingApiVersionParameter",
                              "The api-version query parameter (?api-version=) is required for all requests.")
        return serve()

    def _authenticate(self, request: Request) -> Reply | None:
        token = _token_of(request)
        challenge = {"WWW-Authenticate": f'Bearer authorization_uri="{self.base()}/{self.estate.tenant_id}", '
                                         'error="invalid_token", error_description="The authentication failed."'}
        if not token:
            return _arm_error(401, "AuthenticationFailed",
                              "Authentication failed. The 'Authorization' header is missing.", challenge)
        issued = self.estate.tokens.get(token)
        if issued is None:
            return _arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.", challenge)
        if issued.expires < _now().timestamp():
            return _arm_error(401, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than "
                              "current UTC time.", challenge)
        if issued.audience != self.base():
            return _arm_error(401, "InvalidAuthenticationTokenAudience",
                              f"The access token has been obtained for wrong audience or resource '{issued.audience}'. "
                              f"It should exactly match with one of the allowed audiences '{self.base()}'.", challenge)
        return None

    def not_found(self, path: str) -> Reply:
        return _arm_error(404, "InvalidResourceType" if "/providers/" in path else "NotFound",
                          f"The resource path '{path}' is not served by the stand-in.")

    def refused(self, request: Request) -> Reply:
        return _arm_error(405, "MethodNotAllowed",
                          f"{request.method} is a write (or an action): the stand-in is read-only and refused it.")

    # -- paging and helpers

    def page(self, request: Request, path: str, items: list[JSON], query: Mapping[str, list[str]],
             offset: int, next_key: str = "nextLink") -> Reply:
        """One page of `items` and, unless it is the last, an absolute nextLink back here."""
        size = max(1, self.estate.page_size)
        chunk = items[offset:offset + size]
        body: JSON = {"value": chunk}
        if offset + size < len(items):
            version = _first(request.query, "api-version") or ""
            body[next_key] = (f"{self.base()}{path}?api-version={version}"
                                f"&$skiptoken={_make_skiptoken(offset + size, query)}")
        return 200, body

    def listing(self, request: Request, path: str,
                items: Callable[[Mapping[str, list[str]]], list[JSON] | Reply], next_key: str = "nextLink") -> Reply:
        offset, query = _skiptoken(request.query)
        result = items(query)
        if isinstance(result, tuple):
            return result
        return self.page(request, path, result, query, offset, next_key)

    def _in_subscription(self, subscription: str, kind: str, resource_group: str | None = None) -> list[JSON]:
        prefix = f"/subscriptions/{subscription}/".lower()
        if resource_group is not None:
            prefix += f"resourcegroups/{resource_group}/".lower()
        return [r for r in self.estate.resources.get(kind.lower(), []) if r["id"].lower().startswith(prefix)]

    def _check_subscription(self, subscription: str, resource_group: str | None = None) -> Reply | None:
        if subscription.lower() not in self.estate.subscriptions:
            return _arm_error(404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.")
        if resource_group is not None and not any(
                norm(g["id"]) == norm(f"/subscriptions/{subscription}/resourceGroups/{resource_group}")
                for g in self.estate.resource_groups):
            return _arm_error(404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found.")
        return None

    def _children(self, request: Request, path: str, parent_path: str, kind: str, parent_type: str) -> Reply:
        parent = self.estate.find(parent_path)
        if parent is None:
            return _arm_error(404, "ResourceNotFound", f"The Resource '{parent_type}/{last_segment(parent_path)}' "
                              "under resource group was not found.")
        return self.listing(request, path, lambda q: list(self.estate.children.get((norm(parent["id"]), kind), [])))

    def _by_subscription(self, request: Request, path: str, subscription: str, kind: str,
                         resource_group: str | None = None) -> Reply:
        missing = self._check_subscription(subscription, resource_group)
        if missing is not None:
            return missing
        return self.listing(request, path, lambda q: self._in_subscription(subscription, kind, resource_group))

    # -- subscriptions and management groups

    @_route("GET", r"^/subscriptions$")
    def subscriptions(self, request: Request) -> Reply:
        # Subscriptions - List (2022-12-01): https://learn.microsoft.com/rest/api/resources/subscriptions/list
        return self.listing(request, "/subscriptions", lambda q: list(self.estate.subscriptions.values()))

    @_route("GET", r"^/subscriptions/(?P<subscription>[^/]+)$")
    def subscription(self, request: Request, subscription: str) -> Reply:
        # Subscriptions - Get: https://learn.microsoft.com/rest/api/resources/subscriptions/get
        missing = self._check_subscription(subscription)
        return missing or (200, self.estate.subscriptions[subscription.lower()])

    @_route("GET", r"^/subscriptions/(?P<subscription>[^/]+)/resourcegroups$")
    def resource_groups(self, request: Request, subscription: str) -> Reply:
        # Resource Groups - List: https://learn.microsoft.com/rest/api/resources/resource-groups/list
        missing = self._check_subscription(subscription)
        prefix = f"/subscriptions/{subscription}/".lower()
        return missing or self.listing(request, f"/subscriptions/{subscription}/resourcegroups", lambda q: [
            g for g in self.estate.resource_groups if g["id"].lower().startswith(prefix)])

    def _group_json(self, name: str, *, children: bool, recurse: bool) -> JSON:
        group = self.estate.management_groups[name.lower()]
        parent = group["parent"]
        details: JSON = {"version": 1, "updatedTime": _iso(_now() - datetime.timedelta(days=5)), "updatedBy": None,
                         "parent": None if parent is None else {
                             "id": MG_PREFIX + parent, "name": parent,
                             "displayName": self.estate.management_groups[parent.lower()]["displayName"]}}
        body: JSON = {"id": MG_PREFIX + group["name"], "type": "Microsoft.Management/managementGroups",
                      "name": group["name"], "properties": {"tenantId": self.estate.tenant_id,
                                                            "displayName": group["displayName"], "details": details,
                                                            "children": None}}
        if children:
            body["properties"]["children"] = self._children_of(group["name"], recurse)
        return body

    def _children_of(self, name: str, recurse: bool) -> list[JSON]:
        # ManagementGroupChildInfo: type "Microsoft.Management/managementGroups" or "/subscriptions"
        out: list[JSON] = []
        for child in self.estate.management_groups.values():
            if child["parent"] is not None and child["parent"].lower() == name.lower():
                out.append({"type": "Microsoft.Management/managementGroups", "id": MG_PREFIX + child["name"],
                            "name": child["name"], "displayName": child["displayName"],
                            "children": self._children_of(child["name"], recurse) if recurse else None})
        for sid, parent in self.estate.subscription_parent.items():
            if parent.lower() == name.lower():
                sub = self.estate.subscriptions[sid]
                out.append({"type": "/subscriptions", "id": sub["id"], "name": sub["subscriptionId"],
                            "displayName": sub["displayName"], "children": None})
        return out

    @_route("GET", r"^/providers/Microsoft\.Management/managementGroups$")
    def management_groups(self, request: Request) -> Reply:
        # Management Groups - List (ManagementGroupInfo; this list's next link is "@nextLink", as
        # ManagementGroupListResult names it): https://learn.microsoft.com/rest/api/managementgroups/management-groups/list
        def items(q: Mapping[str, list[str]]) -> list[JSON]:
            return [{"id": MG_PREFIX + g["name"], "type": "Microsoft.Management/managementGroups", "name": g["name"],
                     "properties": {"tenantId": self.estate.tenant_id, "displayName": g["displayName"]}}
                    for g in self.estate.management_groups.values()]
        return self.listing(request, "/providers/Microsoft.Management/managementGroups", items, "@nextLink")

    @_route("GET", r"^/providers/Microsoft\.Management/managementGroups/(?P<group>[^/]+)$")
    def management_group(self, request: Request, group: str) -> Reply:
        # Management Groups - Get ($expand=children, $recurse=true: the whole tree below):
        # https://learn.microsoft.com/rest/api/managementgroups/management-groups/get
        if group.lower() not in self.estate.management_groups:
            return _arm_error(404, "NotFound", f"'{group}' not found")
        expand = (_first(request.query, "$expand") or "").lower()
        recurse = (_first(request.query, "$recurse") or "").lower() == "true"
        if recurse and expand != "children":
            return _arm_error(400, "BadRequest", "$recurse=true needs $expand=children")
        return 200, self._group_json(group, children=expand == "children", recurse=recurse)

    # -- role assignments, role definitions, deny assignments

    def _scope_error(self, scope: str) -> Reply | None:
        problem = self.estate.scope_exists(scope or "/")
        if problem is None:
            return None
        return _arm_error(404, problem, f"The scope '{scope or '/'}' does not exist ({problem}).")

    def _assignments_at(self, stored: list[JSON], scope: str, clauses: list[tuple[str, str]]) -> list[JSON]:
        """Role or deny assignments that a list at `scope` returns: those at the scope, above it (up the management
        group chain to the root "/") and below it; atScope() keeps at and above; principalId eq keeps one
        principal's ("Role Assignments - List For Scope", $filter)."""
        chain = self.estate.chain(scope or "/")
        here = norm(scope or "/")
        out = []
        for item in stored:
            at = norm(item["properties"]["scope"])
            above_or_at = at in chain
            below = here in self.estate.chain(at)
            keep = above_or_at or below
            for clause, value in clauses:
                if clause == "atscope":
                    keep = keep and above_or_at
                elif clause == "principalid":
                    keep = keep and value in self._principals_of(item)
                elif clause == "assignedto":
                    groups = set(self.estate.group_ids_of(value)) | {value}
                    keep = keep and bool(groups & set(self._principals_of(item)))
                elif clause == "denyassignmentname":
                    keep = keep and item["properties"].get("denyAssignmentName") == value
            if keep:
                out.append(item)
        return out

    @staticmethod
    def _principals_of(item: JSON) -> list[str]:
        props = item["properties"]
        if "principalId" in props:
            return [props["principalId"]]
        return [p["id"] for p in props.get("principals", [])]

    @staticmethod
    def _clauses(query: Mapping[str, list[str]], allowed: Sequence[str]) -> list[tuple[str, str]] | Reply:
        text = _first(query, "$filter")
        if not text:
            return []
        out: list[tuple[str, str]] = []
        for part in re.split(r"\s+and\s+", text.strip(), flags=re.I):
            m = (re.fullmatch(r"(atScope)\(\)", part, re.I) or re.fullmatch(r"(assignedTo)\('([^']*)'\)", part, re.I)
                 or re.fullmatch(r"(\w+)\s+eq\s+'?([^']*?)'?", part, re.I))
            if m is None or m.group(1).lower() not in allowed:
                return _arm_error(400, "InvalidFilterInQueryString",
                                  f"The filter '{text}' is not supported by the stand-in.")
            out.append((m.group(1).lower(), m.group(2) if m.lastindex and m.lastindex > 1 else ""))
        return out

    @_route("GET", r"^(?P<scope>.*?)/providers/Microsoft\.Authorization/roleAssignments$")
    def role_assignments(self, request: Request, scope: str) -> Reply:
        # Role Assignments - List For Scope / List For Subscription (2022-04-01):
        # https://learn.microsoft.com/rest/api/authorization/role-assignments/list-for-scope
        missing = self._scope_error(scope)
        if missing is not None:
            return missing

        def items(q: Mapping[str, list[str]]) -> list[JSON] | Reply:
            clauses = self._clauses(q, ("atscope", "principalid", "assignedto"))
            if isinstance(clauses, tuple):
                return clauses
            return self._assignments_at(self.estate.role_assignments, scope, clauses)
        return self.listing(request, f"{scope}/providers/Microsoft.Authorization/roleAssignments", items)

    @_route("GET", r"^(?P<scope>.*?)/providers/Microsoft\.Authorization/roleAssignments/(?P<name>[^/]+)$")
    def role_assignment(self, request: Request, scope: str, name: str) -> Reply:
        # Role Assignments - Get: https://learn.microsoft.com/rest/api/authorization/role-assignments/get
        found = next((a for a in self.estate.role_assignments if a["name"].lower() == name.lower()
                      and norm(a["properties"]["scope"]) == norm(scope or "/")), None)
        if found is None:
            return _arm_error(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
        return 200, found

    def _role_at(self, role: JSON, scope: str) -> JSON:
        """A role definition as ARM returns it at a scope: subscription-prefixed id at or below a subscription."""
        sub = subscription_of(scope)
        served: JSON = json.loads(json.dumps(role))
        served["id"] = (f"/subscriptions/{sub}" if sub else "") + role["id"]
        return served

    @_route("GET", r"^(?P<scope>.*?)/providers/Microsoft\.Authorization/roleDefinitions$")
    def role_definitions(self, request: Request, scope: str) -> Reply:
        # Role Definitions - List (built-in roles and the custom roles assignable at the scope or above it;
        # $filter roleName eq / type eq): https://learn.microsoft.com/rest/api/authorization/role-definitions/list
        missing = self._scope_error(scope)
        if missing is not None:
            return missing
        chain = set(self.estate.chain(scope or "/"))

        def items(q: Mapping[str, list[str]]) -> list[JSON] | Reply:
            clauses = self._clauses(q, ("rolename", "type"))
            if isinstance(clauses, tuple):
                return clauses
            out = []
            for role in self.estate.role_definitions:
                props = role["properties"]
                if props["type"] != "BuiltInRole" and not chain & {norm(s) for s in props["assignableScopes"]}:
                    continue
                if all((props["roleName"] if c == "rolename" else props["type"]) == v for c, v in clauses):
                    out.append(self._role_at(role, scope))
            return out
        return self.listing(request, f"{scope}/providers/Microsoft.Authorization/roleDefinitions", items)

    @_route("GET", r"^(?P<scope>.*?)/providers/Microsoft\.Authorization/roleDefinitions/(?P<role>[^/]+)$")
    def role_definition(self, request: Request, scope: str, role: str) -> Reply:
        # Role Definitions - Get / Get By Id (any role id, tenant or subscription form):
        # https://learn.microsoft.com/rest/api/authorization/role-definitions/get-by-id
        try:
            found = self.estate.role(role)
        except KeyError:
            return _arm_error(404, "RoleDefinitionDoesNotExist", "The specified role definition with ID "
                              f"'{role}' does not exist.")
        return 200, self._role_at(found, scope)

    @_route("GET", r"^(?P<scope>.*?)/providers/Microsoft\.Authorization/denyAssignments$")
    def deny_assignments(self, request: Request, scope: str) -> Reply:
        # Deny Assignments - List / List For Scope: https://learn.microsoft.com/rest/api/authorization/deny-assignments/list-for-scope
        missing = self._scope_error(scope)
        if missing is not None:
            return missing

        def items(q: Mapping[str, list[str]]) -> list[JSON] | Reply:
            clauses = self._clauses(q, ("atscope", "principalid", "denyassignmentname"))
            if isinstance(clauses, tuple):
                return clauses
            return self._assignments_at(self.estate.deny_assignments, scope, clauses)
        return self.listing(request, f"{scope}/providers/Microsoft.Authorization/denyAssignments", items)

    @_route("GET", r"^(?P<scope>.*?)/providers/Microsoft\.Authorization/denyAssignments/(?P<name>[^/]+)$")
    def deny_assignment(self, request: Request, scope: str, name: str) -> Reply:
        # Deny Assignments - Get: https://learn.microsoft.com/rest/api/authorization/deny-assignments/get
        found = next((d for d in self.estate.deny_assignments if d["name"].lower() == name.lower()), None)
        if found is None:
            return _arm_error(404, "DenyAssignmentNotFound", f"The deny assignment '{name}' is not found.")
        return 200, found

    # -- managed identities

    @_route("GET", r"^/subscriptions/(?P<s>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+))?"
                   r"/providers/Microsoft\.ManagedIdentity/userAssignedIdentities$")
    def user_assigned_identities(self, request: Request, s: str, rg: str | None) -> Reply:
        # User Assigned Identities - List By Subscription / By Resource Group (2024-11-30):
        # https://learn.microsoft.com/rest/api/managedidentity/user-assigned-identities/list-by-subscription
        return self._by_subscription(request, self._path(request), s,
                                     "Microsoft.ManagedIdentity/userAssignedIdentities", rg)

    @_route("GET", r"^(?P<parent>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ManagedIdentity"
                   r"/userAssignedIdentities/[^/]+)/federatedIdentityCredentials$")
    def federated_identity_credentials(self, request: Request, parent: str) -> Reply:
        # Federated Identity Credentials - List: https://learn.microsoft.com/rest/api/managedidentity/federated-identity-credentials/list
        return self._children(request, self._path(request), parent, "federatedIdentityCredentials",
                              "Microsoft.ManagedIdentity/userAssignedIdentities")

    # -- DNS, private DNS, Traffic Manager

    @_route("GET", r"^/subscriptions/(?P<s>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+))?"
                   r"/providers/Microsoft\.Network/dnszones$")
    def dns_zones(self, request: Request, s: str, rg: str | None) -> Reply:
        # Zones - List / List By Resource Group (2018-05-01): https://learn.microsoft.com/rest/api/dns/zones/list
        return self._by_subscription(request, self._path(request), s, "Microsoft.Network/dnszones", rg)

    @_route("GET", r"^(?P<parent>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/dnszones/[^/]+)"
                   r"/(?:all|recordsets)$")
    def record_sets(self, request: Request, parent: str) -> Reply:
        # Record Sets - List All By Dns Zone (/all) and List By Dns Zone (/recordsets):
        # https://learn.microsoft.com/rest/api/dns/record-sets/list-all-by-dns-zone
        return self._children(request, self._path(request), parent, "recordsets", "Microsoft.Network/dnszones")

    @_route("GET", r"^/subscriptions/(?P<s>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+))?"
                   r"/providers/Microsoft\.Network/privateDnsZones$")
    def private_zones(self, request: Request, s: str, rg: str | None) -> Reply:
        # Private Zones - List: https://learn.microsoft.com/rest/api/dns/privatednszones/private-zones/list
        return self._by_subscription(request, self._path(request), s, "Microsoft.Network/privateDnsZones", rg)

    @_route("GET", r"^(?P<parent>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network"
                   r"/privateDnsZones/[^/]+)/(?:all|recordsets)$")
    def private_record_sets(self, request: Request, parent: str) -> Reply:
        # Record Sets - List (private DNS, GET .../privateDnsZones/{zone}/ALL):
        # https://learn.microsoft.com/rest/api/dns/privatednszones/record-sets/list
        return self._children(request, self._path(request), parent, "recordsets", "Microsoft.Network/privateDnsZones")

    @_route("GET", r"^/subscriptions/(?P<s>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+))?"
                   r"/providers/Microsoft\.Network/trafficmanagerprofiles$")
    def traffic_manager_profiles(self, request: Request, s: str, rg: str | None) -> Reply:
        # Profiles - List By Subscription (endpoints inside each profile):
        # https://learn.microsoft.com/rest/api/trafficmanager/profiles/list-by-subscription
        return self._by_subscription(request, self._path(request), s, "Microsoft.Network/trafficManagerProfiles", rg)

    # -- Key Vault (management plane)

    @_route("GET", r"^/subscriptions/(?P<s>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+))?"
                   r"/providers/Microsoft\.KeyVault/vaults$")
    def vaults(self, request: Request, s: str, rg: str | None) -> Reply:
        # Vaults - List By Subscription: https://learn.microsoft.com/rest/api/keyvault/keyvault/vaults/list-by-subscription
        reply = self._by_subscription(request, self._path(request), s, "Microsoft.KeyVault/vaults", rg)
        for vault in reply[1].get("value", []) if reply[0] == 200 else []:
            vault["properties"]["vaultUri"] = f"{self.base()}/kv/{vault['name']}/"
        return reply

    @_route("GET", r"^(?P<parent>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/[^/]+)"
                   r"/secrets$")
    def vault_secrets(self, request: Request, parent: str) -> Reply:
        # Secrets - List (management plane: metadata, never the value):
        # https://learn.microsoft.com/rest/api/keyvault/keyvault/secrets/list
        reply = self._children(request, self._path(request), parent, "secrets", "Microsoft.KeyVault/vaults")
        for secret in reply[1].get("value", []) if reply[0] == 200 else []:
            vault = parent.rstrip("/").rsplit("/", 1)[-1]
            secret["properties"]["secretUri"] = f"{self.base()}/kv/{vault}/secrets/{secret['name']}"
        return reply

    # -- Front Door Standard/Premium

    @_route("GET", r"^/subscriptions/(?P<s>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+))?/providers/Microsoft\.Cdn/profiles$")
    def cdn_profiles(self, request: Request, s: str, rg: str | None) -> Reply:
        # Profiles - List: https://learn.microsoft.com/rest/api/frontdoor/azurefrontdoorstandardpremium/profiles/list
        return self._by_subscription(request, self._path(request), s, "Microsoft.Cdn/profiles", rg)

    @_route("GET", r"^(?P<parent>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Cdn/profiles/[^/]+)"
                   r"/originGroups$")
    def origin_groups(self, request: Request, parent: str) -> Reply:
        # AFD Origin Groups - List By Profile: https://learn.microsoft.com/rest/api/frontdoor/azurefrontdoorstandardpremium/afd-origin-groups/list-by-profile
        return self._children(request, self._path(request), parent, "originGroups", "Microsoft.Cdn/profiles")

    @_route("GET", r"^(?P<parent>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Cdn/profiles/[^/]+"
                   r"/originGroups/[^/]+)/origins$")
    def origins(self, request: Request, parent: str) -> Reply:
        # AFD Origins - List By Origin Group: https://learn.microsoft.com/rest/api/frontdoor/azurefrontdoorstandardpremium/afd-origins/list-by-origin-group
        return self._children(request, self._path(request), parent, "origins", "Microsoft.Cdn/profiles/originGroups")

    @staticmethod
    def _path(request: Request) -> str:
        return "/" + unquote(request.path)


# --- Microsoft Graph ----------------------------------------------------------------------------------------------

_GRAPH_FAULTS = {400: "BadRequest", 403: "Authorization_RequestDenied", 404: "Request_ResourceNotFound",
                 429: "TooManyRequests", 500: "InternalServerError", 503: "serviceNotAvailable",
                 504: "UnknownError"}


def _graph_error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Reply:
    # Microsoft Graph error responses ({"error": {"code", "message", "innerError"}}):
    # https://learn.microsoft.com/graph/errors
    inner = {"date": _iso(_now()), "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())}
    return status, {"error": {"code": code, "message": message, "innerError": inner}}, dict(headers or {})


class GraphApi(_Api):
    """Microsoft Graph v1.0: the directory reads the connector makes, with paging, $select, $top and $filter."""

    name = "graph"

    def owns(self, path: str) -> bool:
        return path.lstrip("/").startswith(GRAPH_PREFIXES)

    def answer(self, request: Request, path: str, serve: Callable[[], Reply]) -> Reply:
        token = _token_of(request)
        issued = self.estate.tokens.get(token) if token else None
        if not token:
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        if issued is None:
            return _graph_error(401, "InvalidAuthenticationToken",
                                "CompactToken parsing failed with error code: 80049217")
        if issued.expires < _now().timestamp():
            return _graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
        if issued.audience != self.base():
            return _graph_error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
        fault = self.estate.take_fault(request.method, path)
        if fault is not None:
            code = fault.code or _GRAPH_FAULTS.get(fault.status, "UnknownError")
            message = fault.message or ("Insufficient privileges to complete the operation." if fault.status == 403
                                        else f"HTTP {fault.status} from the stand-in, as asked")
            headers = dict(fault.headers)
            if fault.status == 429:
                headers.setdefault("Retry-After", "1")
            return _graph_error(fault.status, code, message, headers)
        return serve()

    def not_found(self, path: str) -> Reply:
        segment = path.strip("/").split("/")[1] if path.count("/") > 1 else path
        return _graph_error(400, "BadRequest", f"Resource not found for the segment '{segment}'.")

    def refused(self, request: Request) -> Reply:
        return _graph_error(405, "Request_BadRequest",
                            f"{request.method} is a write: the stand-in is read-only and refused it.")

    def _missing(self, object_id: str) -> Reply:
        return _graph_error(404, "Request_ResourceNotFound", f"Resource '{object_id}' does not exist or one of its "
                            "queried reference-property objects are not present.")

    def collection(self, request: Request, context: str, items: list[JSON],
                   filterable: Sequence[str] = ()) -> Reply:
        """A page of a collection: $filter (`prop eq 'value'` joined by `and`, on `filterable` properties), $select
        (only the named properties, and @odata.type where the collection is of directory objects), $top (the page
        size) and an absolute @odata.nextLink. Paging: https://learn.microsoft.com/graph/paging ; query
        parameters: https://learn.microsoft.com/graph/query-parameters"""
        offset, query = _skiptoken(request.query)
        text = _first(query, "$filter")
        if text:
            for part in re.split(r"\s+and\s+", text.strip(), flags=re.I):
                m = re.fullmatch(r"(\w+)\s+eq\s+'([^']*)'", part.strip())
                if m is None or m.group(1) not in filterable:
                    return _graph_error(400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter "
                                        f"clause specified for property '{part}' of resource '{context}'.")
                items = [i for i in items if str(i.get(m.group(1))) == m.group(2)]
        top = _first(query, "$top")
        size = min(int(top), 999) if top else max(1, self.estate.page_size)
        chunk = items[offset:offset + size]
        select = _first(query, "$select")
        if select:
            wanted = {s.strip().lower() for s in select.split(",")}
            chunk = [{k: v for k, v in i.items() if k.lower() in wanted or k == "@odata.type"} for i in chunk]
        selected = f"({select})" if select else ""
        body: JSON = {"@odata.context": f"{self.base()}/v1.0/$metadata#{context}{selected}", "value": chunk}
        if offset + size < len(items):
            body["@odata.nextLink"] = (f"{self.base()}/{request.path}?$skiptoken="
                                       f"{_make_skiptoken(offset + size, query)}")
        return 200, body

    def entity(self, request: Request, context: str, item: JSON) -> Reply:
        select = _first(request.query, "$select")
        if select:
            wanted = {s.strip().lower() for s in select.split(",")}
            item = {k: v for k, v in item.items() if k.lower() in wanted}
        return 200, {"@odata.context": f"{self.base()}/v1.0/$metadata#{context}/$entity", **item}

    def _typed(self, object_id: str) -> JSON | None:
        found = self.estate.directory_object(object_id)
        if found is None:
            return None
        return {"@odata.type": f"#microsoft.graph.{found[0]}", **found[1]}

    @_route("GET", r"^/v1\.0/servicePrincipals$")
    def service_principals(self, request: Request) -> Reply:
        # List servicePrincipals: https://learn.microsoft.com/graph/api/serviceprincipal-list?view=graph-rest-1.0
        return self.collection(request, "servicePrincipals", list(self.estate.service_principals),
                               ("appId", "servicePrincipalType", "displayName", "id"))

    @_route("GET", r"^/v1\.0/servicePrincipals/(?P<oid>[^/]+)$")
    def service_principal(self, request: Request, oid: str) -> Reply:
        # Get servicePrincipal: https://learn.microsoft.com/graph/api/serviceprincipal-get?view=graph-rest-1.0
        found = next((s for s in self.estate.service_principals if s["id"] == oid), None)
        return self._missing(oid) if found is None else self.entity(request, "servicePrincipals", found)

    @_route("GET", r"^/v1\.0/applications$")
    def applications(self, request: Request) -> Reply:
        # List applications: https://learn.microsoft.com/graph/api/application-list?view=graph-rest-1.0
        return self.collection(request, "applications", list(self.estate.applications), ("appId", "displayName", "id"))

    @_route("GET", r"^/v1\.0/applications/(?P<oid>[^/]+)$")
    def application(self, request: Request, oid: str) -> Reply:
        # Get application: https://learn.microsoft.com/graph/api/application-get?view=graph-rest-1.0
        found = next((a for a in self.estate.applications if a["id"] == oid), None)
        return self._missing(oid) if found is None else self.entity(request, "applications", found)

    @_route("GET", r"^/v1\.0/(?P<kind>applications|servicePrincipals)/(?P<oid>[^/]+)/owners$")
    def owners(self, request: Request, kind: str, oid: str) -> Reply:
        # List owners of an application / a service principal (directoryObjects with @odata.type):
        # https://learn.microsoft.com/graph/api/application-list-owners?view=graph-rest-1.0 ,
        # https://learn.microsoft.com/graph/api/serviceprincipal-list-owners?view=graph-rest-1.0
        found = self.estate.directory_object(oid)
        if found is None or found[0].lower() != kind.lower().rstrip("s"):
            return self._missing(oid)
        owners = [o for o in (self._typed(i) for i in self.estate.owners.get(oid, [])) if o is not None]
        return self.collection(request, "directoryObjects", owners)

    @_route("GET", r"^/v1\.0/applications/(?P<oid>[^/]+)/federatedIdentityCredentials$")
    def federated_identity_credentials(self, request: Request, oid: str) -> Reply:
        # List federatedIdentityCredentials: https://learn.microsoft.com/graph/api/application-list-federatedidentitycredentials?view=graph-rest-1.0
        if not any(a["id"] == oid for a in self.estate.applications):
            return self._missing(oid)
        return self.collection(request, f"applications('{oid}')/federatedIdentityCredentials",
                               list(self.estate.app_federated_credentials.get(oid, [])), ("name", "subject", "issuer"))

    @_route("GET", r"^/v1\.0/servicePrincipals/(?P<oid>[^/]+)/(?P<relation>transitiveMemberOf|memberOf)$")
    def member_of(self, request: Request, oid: str, relation: str) -> Reply:
        # List servicePrincipal transitiveMemberOf / memberOf (groups, as directoryObjects):
        # https://learn.microsoft.com/graph/api/serviceprincipal-list-transitivememberof?view=graph-rest-1.0
        if not any(s["id"] == oid for s in self.estate.service_principals):
            return self._missing(oid)
        if relation.lower() == "memberof":
            ids = [g for g, members in self.estate.members.items() if oid in members]
        else:
            ids = self.estate.group_ids_of(oid)
        groups = [g for g in (self._typed(i) for i in ids) if g is not None]
        return self.collection(request, "directoryObjects", groups)

    @_route("GET", r"^/v1\.0/servicePrincipals/(?P<oid>[^/]+)/appRoleAssignments$")
    def app_role_assignments(self, request: Request, oid: str) -> Reply:
        # List appRoleAssignments granted to a service principal:
        # https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments?view=graph-rest-1.0
        if not any(s["id"] == oid for s in self.estate.service_principals):
            return self._missing(oid)
        return self.collection(request, f"servicePrincipals('{oid}')/appRoleAssignments",
                               [a for a in self.estate.app_role_assignments if a["principalId"] == oid],
                               ("resourceId", "appRoleId"))

    @_route("GET", r"^/v1\.0/groups$")
    def groups(self, request: Request) -> Reply:
        # List groups: https://learn.microsoft.com/graph/api/group-list?view=graph-rest-1.0
        return self.collection(request, "groups", list(self.estate.groups), ("displayName", "id"))

    @_route("GET", r"^/v1\.0/roleManagement/directory/roleAssignments$")
    def directory_role_assignments(self, request: Request) -> Reply:
        # List unifiedRoleAssignments (directory provider; $filter principalId eq / roleDefinitionId eq):
        # https://learn.microsoft.com/graph/api/rbacapplication-list-roleassignments?view=graph-rest-1.0
        return self.collection(request, "roleManagement/directory/roleAssignments",
                               list(self.estate.directory_role_assignments),
                               ("principalId", "roleDefinitionId", "directoryScopeId"))

    @_route("GET", r"^/v1\.0/roleManagement/directory/roleDefinitions$")
    def directory_role_definitions(self, request: Request) -> Reply:
        # List roleDefinitions (directory provider): https://learn.microsoft.com/graph/api/rbacapplication-list-roledefinitions?view=graph-rest-1.0
        return self.collection(request, "roleManagement/directory/roleDefinitions",
                               list(self.estate.directory_role_definitions), ("displayName", "templateId", "id"))


# --- Key Vault data plane: the canary the product must never touch ---------------------------------------------------

class KeyVaultDataApi(_Api):
    """`GET /kv/{vault}/secrets/{name}`: Key Vault's Get Secret, which returns the VALUE. A read-only scanner never
    calls it; it is here so that a product that did would be caught (the route is in `requests`, the value a
    canary). Get Secret: https://learn.microsoft.com/rest/api/keyvault/secrets/get-secret/get-secret"""

    name = "keyvault"

    def owns(self, path: str) -> bool:
        return path.lower().startswith("/kv/")

    def answer(self, request: Request, path: str, serve: Callable[[], Reply]) -> Reply:
        issued = self.estate.tokens.get(_token_of(request))
        if issued is None:
            return 401, {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP "
                                   "token."}}
        return serve()

    @_route("GET", r"^/kv/(?P<vault>[^/]+)/secrets/(?P<name>[^/]+)(?:/(?P<version>[^/]+))?$")
    def get_secret(self, request: Request, vault: str, name: str, version: str | None) -> Reply:
        value = self.estate.secret_values.get(f"{vault}/{name}".lower())
        if value is None:
            return 404, {"error": {"code": "SecretNotFound", "message": f"A secret with (name/id) {name} was not "
                                   f"found in this key vault."}}
        version = version or uuid.UUID(int=hash((vault, name)) & (2**128 - 1)).hex
        return 200, {"value": value, "id": f"{self.base()}/kv/{vault}/secrets/{name}/{version}",
                     "attributes": {"enabled": True, "created": int(_now().timestamp()),
                                    "updated": int(_now().timestamp()), "recoveryLevel": "Recoverable+Purgeable"},
                     "tags": {}}


APIS: dict[str, type[_Api]] = {"login": LoginApi, "arm": ArmApi, "graph": GraphApi, "keyvault": KeyVaultDataApi}


@dataclass(frozen=True)
class Call:
    """One request as the Azure stand-in saw it: which API, the method, the decoded path and the query."""

    api: str
    method: str
    path: str
    query: Mapping[str, list[str]]

    @property
    def api_version(self) -> str | None:
        return _first(self.query, "api-version")


class AzureStandIn:
    """An HTTPS stand-in serving some of the Azure APIs (`apis`: "login", "arm", "graph", "keyvault") from one
    estate. `url` is where it listens; `ca_file` the test CA to trust; `requests` and `refused` the shared
    stand-in's logs ("METHOD path"), `calls` the same with the API and query, `failures` handler errors."""

    def __init__(self, estate: AzureEstate, *, apis: Sequence[str] = ("login", "arm", "graph", "keyvault"),
                 certificate: TestCertificate | None = None) -> None:
        unknown = set(apis) - set(APIS)
        if unknown:
            raise ValueError(f"unknown Azure APIs {sorted(unknown)}: choose from {sorted(APIS)}")
        self.estate = estate
        self.apis = [APIS[name](estate, lambda: self.url) for name in apis]
        self.calls: list[Call] = []
        self._server = StandIn(tls=True, certificate=certificate, fallback=self._dispatch, refuse=self._refuse,
                               lookups=("oauth2/v2.0/token",) if "login" in apis else ())

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def ca_file(self) -> str:
        assert self._server.ca_file is not None
        return self._server.ca_file

    @property
    def requests(self) -> list[str]:
        return self._server.requests

    @property
    def refused(self) -> list[str]:
        return self._server.refused

    @property
    def failures(self) -> list[str]:
        return self._server.failures

    def start(self) -> AzureStandIn:
        self._server.start()
        for api in self.apis:
            if api.name in ("arm", "graph", "keyvault"):
                self.estate.audiences[self.url] = api.name
        return self

    def stop(self) -> None:
        self.estate.audiences.pop(self.url, None)
        self._server.stop()

    def __enter__(self) -> AzureStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _dispatch(self, request: Request) -> Reply:
        path = "/" + unquote(request.path)
        for api in self.apis:
            answer = api.handle(request, path)
            if answer is not None:
                self.calls.append(Call(api=api.name, method=request.method, path=path, query=request.query))
                return answer
        self.calls.append(Call(api="", method=request.method, path=path, query=request.query))
        owner = next((a for a in self.apis if a.owns(path)), None)
        if owner is None:
            owner = next((a for a in self.apis if isinstance(a, ArmApi)), self.apis[0])
        if request.method == "POST":  # a token endpoint path that no route matched: still a POST that writes
            self.refused.append(f"POST {request.path}")
            return owner.refused(request)
        return owner.answer(request, path, lambda: owner.not_found(path))

    def _refuse(self, request: Request) -> Reply:
        path = "/" + unquote(request.path)
        self.calls.append(Call(api="refused", method=request.method, path=path, query=request.query))
        owner = next((a for a in self.apis if a.owns(path)), self.apis[0])
        return owner.refused(request)


def all_calls(stand_ins: Iterable[AzureStandIn]) -> Iterator[Call]:
    for s in stand_ins:
        yield from s.calls
