"""A local stand-in for Azure: Azure Resource Manager (ARM), Microsoft Graph and the Microsoft Entra token endpoint,
served over HTTPS from an `AzureEstate` (the seed model, commonmode_sandbox.azure_estate, re-exported here) by the
shared stand-in (`commonmode_sandbox.standin`).

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
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Self, TypeAlias
from urllib.parse import unquote

from commonmode_sandbox.azure_estate import (
    DIRECTORY_ROLES,
    EVERYONE,
    GRAPH_APP_ID,
    GRAPH_APP_ROLES,
    GRAPH_PREFIXES,
    JSON,
    MG_PREFIX,
    AzureEstate,
    Fault,
    IssuedToken,
    ScannerCredential,
    iso,
    last_segment,
    norm,
    now,
    subscription_of,
)
from commonmode_sandbox.standin import ProviderStandIn, Reply, Request, StandIn, TestCertificate

__all__ = ["APIS", "DIRECTORY_ROLES", "EVERYONE", "GRAPH_APP_ID", "GRAPH_APP_ROLES", "MG_PREFIX", "ArmApi",
           "AzureEstate", "AzureStandIn", "Call", "Fault", "GraphApi", "IssuedToken", "KeyVaultDataApi", "LoginApi",
           "ScannerCredential", "norm"]

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
        stamp = iso(now()).replace("T", " ").rstrip("Z")
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        return {"error": error,
                "error_description": f"{description}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\n"
                                     f"Timestamp: {stamp}Z",
                "error_codes": [code] if code else [], "timestamp": f"{stamp}Z", "trace_id": trace,
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
        at = iso(now())
        matching = [c for c in app["passwordCredentials"]
                    if secrets.compare_digest(self.estate.password_secrets.get(c["keyId"], ""), given)]
        if not matching:
            return 401, self._error("invalid_client", 7000215, "AADSTS7000215: Invalid client secret provided. "
                                    "Ensure the secret being sent in the request is the client secret value, not "
                                    f"the client secret ID, for a secret added to app '{client_id}'.")
        if all(c["endDateTime"] <= at or c["startDateTime"] > at for c in matching):
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
                                                expires=now().timestamp() + 3599)
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
        if issued.expires < now().timestamp():
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
        details: JSON = {"version": 1, "updatedTime": iso(now() - datetime.timedelta(days=5)), "updatedBy": None,
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
    inner = {"date": iso(now()), "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())}
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
        if issued.expires < now().timestamp():
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

    @_route("GET", r"^/v1\.0/servicePrincipals/(?P<oid>[^/]+)/appRoleAssignedTo$")
    def app_role_assigned_to(self, request: Request, oid: str) -> Reply:
        # List appRoleAssignments granted for a resource service principal (who holds its app roles):
        # https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignedto?view=graph-rest-1.0
        if not any(s["id"] == oid for s in self.estate.service_principals):
            return self._missing(oid)
        return self.collection(request, f"servicePrincipals('{oid}')/appRoleAssignedTo",
                               [a for a in self.estate.app_role_assignments if a["resourceId"] == oid],
                               ("principalId", "appRoleId"))

    @_route("GET", r"^/v1\.0/groups/(?P<gid>[^/]+)/transitiveMembers$")
    def transitive_members(self, request: Request, gid: str) -> Reply:
        # List group transitive members (users, groups, service principals, as directoryObjects):
        # https://learn.microsoft.com/graph/api/group-list-transitivemembers?view=graph-rest-1.0
        if not any(g["id"] == gid for g in self.estate.groups):
            return self._missing(gid)
        found: list[str] = []
        frontier = [gid]
        while frontier:
            for member in self.estate.members.get(frontier.pop(), []):
                if member not in found:
                    found.append(member)
                    frontier.append(member)
        members = [m for m in (self._typed(i) for i in found) if m is not None]
        return self.collection(request, "directoryObjects", members)

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
                     "attributes": {"enabled": True, "created": int(now().timestamp()),
                                    "updated": int(now().timestamp()), "recoveryLevel": "Recoverable+Purgeable"},
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


class AzureStandIn(ProviderStandIn):
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

    def start(self) -> Self:
        super().start()
        for api in self.apis:
            if api.name in ("arm", "graph", "keyvault"):
                self.estate.audiences[self.url] = api.name
        return self

    def stop(self) -> None:
        self.estate.audiences.pop(self.url, None)
        super().stop()

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
