"""Local stand-ins for Google Cloud, served from a `GcpEstate` (commonmode_sandbox.gcp_estate, re-exported here):

- `GcpRestStandIn`: one HTTPS server (the shared stand-in, commonmode_sandbox.standin) for the OAuth token endpoint
  (JWT-bearer grant signed with a service-account key), iamcredentials v1 generateAccessToken, Resource Manager v3,
  Cloud DNS v1, Secret Manager v1, Certificate Manager v1 and IAM v1's workload identity pools. Every API route
  needs an access token the estate issued; lists page with pageToken/nextPageToken (Cloud DNS: maxResults), an empty
  list is `{}`; errors have Google's JSON shape ("API design guide: Errors", https://cloud.google.com/apis/design/errors)
  and a disabled API answers 403 with an ErrorInfo of reason SERVICE_DISABLED.
- `GcpGrpcStandIn`: a gRPC server over TLS for `google.iam.admin.v1.IAM` and `google.iam.v2.Policies`, generic
  handlers over google-cloud-iam's own message classes (no codegen, shared/TESTING.md §4). A call needs the
  self-signed JWT google-auth makes with the scanner's key (verified with its public key) or an issued access token.

Read-only: every PUT/PATCH/DELETE, every POST but the token endpoint, generateAccessToken and `:getIamPolicy`, and
every gRPC method that is not a read is refused and recorded in `refused`. A secret version's payload is served by
`versions/N:access` (as Google would) but that call is one the scanner must never make: it is recorded in `refused`
too, so a test asserting nothing was refused catches it.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
import re
from collections.abc import Callable, Mapping
from concurrent import futures
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import unquote

from commonmode_sandbox.gcp_estate import SERVICE_TITLES, GcpEstate, IssuedToken, ScannerKey, now
from commonmode_sandbox.standin import ProviderStandIn, Reply, Request, StandIn, TestCertificate

__all__ = ["GcpEstate", "GcpGrpcStandIn", "GcpRestStandIn", "IssuedToken", "ScannerKey"]

JSON: TypeAlias = dict[str, Any]
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          405: "METHOD_NOT_ALLOWED", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: POST verbs that only read (the stand-in serves them; every other POST is a write)
READ_POSTS = (":getIamPolicy", ":generateAccessToken")
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


def google_error(status: int, message: str, *, reason: str | None = None, service: str | None = None,
                 consumer: str | None = None, legacy_reason: str | None = None) -> Reply:
    """Google's JSON error ("API design guide: Errors"), with an ErrorInfo detail when `reason` is given, and the
    v1 APIs' `errors` list (Cloud DNS: domain "global" and a reason such as "notFound") with `legacy_reason`."""
    error: JSON = {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}
    if legacy_reason:
        error["errors"] = [{"message": message, "domain": "global", "reason": legacy_reason}]
    if reason:
        metadata = {k: v for k, v in (("service", service), ("consumer", consumer)) if v}
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                             "domain": "googleapis.com", "metadata": metadata}]
    return status, {"error": error}


def service_disabled(service: str, project_number: str) -> tuple[int, str, JSON]:
    """(status, message, ErrorInfo metadata) of Google's answer when `service` is off in a project."""
    title = SERVICE_TITLES.get(service, service)
    message = (f"{title} has not been used in project {project_number} before or it is disabled. Enable it by "
               f"visiting https://console.developers.google.com/apis/api/{service}/overview?project={project_number}"
               " then retry. If you enabled this API recently, wait a few minutes for the action to propagate to"
               " our systems and retry.")
    return 403, message, {"service": service, "consumer": f"projects/{project_number}"}


def policy_view(policy: JSON | None, requested: int) -> JSON:
    """An allow policy as getIamPolicy returns it for `requested` (options.requestedPolicyVersion): conditions only
    at version 3; below it a conditional binding's role gets `_withcond_` and a hash and loses its condition
    ("Policy versions", https://cloud.google.com/iam/docs/policies#versions)."""
    if policy is None:
        return {"version": 1, "etag": "ACAB"}
    if requested >= 3:
        return {"version": policy["version"], "etag": policy["etag"],
                "bindings": [dict(b) for b in policy["bindings"]]}
    bindings = []
    for b in policy["bindings"]:
        if "condition" in b:
            digest = hashlib.sha1(repr(b["condition"]).encode()).hexdigest()[:20]  # noqa: S324  # not security
            bindings.append({"role": f"{b['role']}_withcond_{digest}", "members": list(b["members"])})
        else:
            bindings.append(dict(b))
    return {"version": 1, "etag": policy["etag"], "bindings": bindings}


def offset_of(token: str) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().removeprefix("o:"))
    except ValueError:
        return -1


def make_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def verify_jwt(estate: GcpEstate, assertion: str, audiences: list[str] | None) -> Mapping[str, Any] | None:
    """The claims of a JWT signed by the scanner's key (checked with its public key), or None."""
    from google.auth import exceptions, jwt

    try:
        claims: Mapping[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
            assertion, certs={estate.scanner.key_id: estate.scanner.public_key_pem},
                                               audience=audiences)
    except (exceptions.GoogleAuthError, ValueError):
        return None
    if claims.get("iss") != estate.scanner.email:
        return None
    return claims


Route: TypeAlias = tuple[str, "re.Pattern[str]", str, Callable[..., Reply]]


def _route(method: str, pattern: str, service: str) -> Callable[[Callable[..., Reply]], Callable[..., Reply]]:
    def mark(fn: Callable[..., Reply]) -> Callable[..., Reply]:
        fn.route = (method, re.compile(pattern + "$"), service)  # type: ignore[attr-defined]  # read in __init__
        return fn
    return mark


def _first(query: Mapping[str, list[str]], name: str) -> str:
    return (query.get(name) or [""])[0]


class GcpRestStandIn(ProviderStandIn):
    """The HTTPS stand-in for Google's REST APIs and token endpoint. `url` is every API's root URL and the token
    endpoint is `url + "/token"`; `requests` and `refused` are "METHOD path" logs, `failures` handler errors."""

    def __init__(self, estate: GcpEstate, *, certificate: TestCertificate | None = None) -> None:
        self.estate = estate
        self.routes: list[Route] = []
        for attr, member in vars(type(self)).items():  # in definition order: the first match wins
            spec = getattr(member, "route", None)
            if spec is not None:
                self.routes.append((spec[0], spec[1], spec[2], getattr(self, attr)))
        self._server = StandIn(tls=True, certificate=certificate, fallback=self._dispatch, refuse=self._refuse,
                               lookups=("token", *READ_POSTS))

    # --- plumbing --------------------------------------------------------------------------------------------

    @property
    def token_uri(self) -> str:
        return self._server.url + "/token"

    def _refuse(self, request: Request) -> Reply:
        return google_error(405, f"{request.method} is a write: the read-only stand-in refused it")

    def _dispatch(self, request: Request) -> Reply:
        path = "/" + unquote(request.path)
        fault = self.estate.take_fault(request.method, path)
        if fault is not None:
            return google_error(fault.status, fault.message or f"fault injected on {path}", reason=fault.reason)
        for method, pattern, service, fn in self.routes:
            m = pattern.match(path)
            if m is None or method != request.method:
                continue
            if service != "oauth2":
                refusal = self._authenticate(request)
                if refusal is not None:
                    return refusal
                groups = m.groupdict()
                project = self.estate.project_by(groups["p"]) if "p" in groups else None
                if "p" in groups and project is None and groups["p"] != "-":
                    return google_error(403, f"Permission denied on resource project {groups['p']} (or it may "
                                        "not exist).", reason="CONSUMER_INVALID")
                if project is not None and service in self.estate.disabled_services[project["projectId"]]:
                    status, message, meta = service_disabled(service, project["name"].split("/")[1])
                    return google_error(status, message, reason="SERVICE_DISABLED", **meta)
            return fn(request, **m.groupdict())
        return google_error(404, f"The requested URL {path} was not found on this server.")

    def _authenticate(self, request: Request) -> Reply | None:
        value = request.header("Authorization")
        token = value[7:].strip() if value[:7].lower() == "bearer " else ""
        issued = self.estate.tokens.get(token)
        if issued is None or issued.expires < now().timestamp():
            return google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access "
                                "token, login cookie or other valid authentication credential.",
                                reason="ACCESS_TOKEN_TYPE_UNSUPPORTED" if token else "CREDENTIALS_MISSING")
        return None

    def _page(self, request: Request, items: list[JSON], key: str, *, size_param: str = "pageSize",
              extra: JSON | None = None) -> Reply:
        offset = offset_of(_first(request.query, "pageToken"))
        if offset < 0:
            return google_error(400, "Invalid page token.")
        size = int(_first(request.query, size_param) or 0) or self.estate.page_size
        chunk = items[offset:offset + size]
        body: JSON = dict(extra or {})
        if chunk:
            body[key] = chunk
        if offset + size < len(items):
            body["nextPageToken"] = make_token(offset + size)
        return 200, body

    @staticmethod
    def _requested_version(request: Request) -> int:
        body = request.body if isinstance(request.body, dict) else {}
        version = (body.get("options") or {}).get("requestedPolicyVersion")
        if version is None:
            version = _first(request.query, "options.requestedPolicyVersion") or 0
        return int(version)

    def _pid(self, p: str) -> str:
        project = self.estate.project_by(p)
        assert project is not None
        return str(project["projectId"])

    # --- OAuth 2.0 token endpoint and iamcredentials ------------------------------------------------------------
    # "Using OAuth 2.0 for Server to Server Applications" (https://developers.google.com/identity/protocols/oauth2/service-account)

    @_route("POST", r"/token", "oauth2")
    def token(self, request: Request) -> Reply:
        form = request.body if isinstance(request.body, dict) else {}
        if form.get("grant_type") != JWT_BEARER:
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
        claims = verify_jwt(self.estate, str(form.get("assertion", "")), [GOOGLE_TOKEN_AUDIENCE, self.token_uri])
        if claims is None:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        scopes = str(claims.get("scope", "")).split()
        token, _ = self.estate.issue_token(str(claims["iss"]), scopes=scopes)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    # https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken
    @_route("POST", r"/v1/projects/-/serviceAccounts/(?P<email>[^/:]+):generateAccessToken",
            "iamcredentials.googleapis.com")
    def generate_access_token(self, request: Request, email: str) -> Reply:
        caller = self.estate.tokens[request.header("Authorization")[7:].strip()].email
        target = self.estate.service_accounts.get(email)
        resource = f"projects/-/serviceAccounts/{email}"
        if target is None:
            return google_error(404, f"Not found; Gaia id not found for email {email}")
        project = self.estate.projects.get(target["projectId"])
        if project is not None and "iamcredentials.googleapis.com" in self.estate.disabled_services[
                target["projectId"]]:
            status, message, meta = service_disabled("iamcredentials.googleapis.com", project["name"].split("/")[1])
            return google_error(status, message, reason="SERVICE_DISABLED", **meta)
        body = request.body if isinstance(request.body, dict) else {}
        # a delegation chain: each account needs implicitDelegation on the next delegate, the last one
        # getAccessToken on the target ("Create short-lived credentials for a service account", delegates)
        chain = [caller, *(str(d).rsplit("/", 1)[-1] for d in body.get("delegates") or [])]
        for here, following in itertools.pairwise(chain):
            delegate = self.estate.service_accounts.get(following)
            if delegate is None or "iam.serviceAccounts.implicitDelegation" not in self.estate.permissions_of(
                    f"serviceAccount:{here}", delegate["name"]):
                return google_error(403, "Permission 'iam.serviceAccounts.implicitDelegation' denied on resource "
                                    "(or it may not exist).", reason="IAM_PERMISSION_DENIED",
                                    service="iamcredentials.googleapis.com",
                                    consumer=f"projects/-/serviceAccounts/{following}")
        granted = self.estate.permissions_of(f"serviceAccount:{chain[-1]}", target["name"])
        if "iam.serviceAccounts.getAccessToken" not in granted or target["disabled"]:
            return google_error(403, "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it "
                                "may not exist).", reason="IAM_PERMISSION_DENIED",
                                service="iamcredentials.googleapis.com", consumer=resource)
        lifetime = int(str(body.get("lifetime", "3600s")).rstrip("s") or 3600)
        token, issued = self.estate.issue_token(email, lifetime=lifetime, scopes=body.get("scope", []))
        expire = datetime.datetime.fromtimestamp(issued.expires, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, {"accessToken": token, "expireTime": expire}

    # --- Resource Manager v3 (https://cloud.google.com/resource-manager/reference/rest) --------------------------

    @_route("GET", r"/v3/organizations:search", "cloudresourcemanager.googleapis.com")
    def organizations_search(self, request: Request) -> Reply:
        return self._page(request, [self.estate.organization], "organizations")

    @_route("GET", r"/v3/organizations/(?P<o>[^/:]+)", "cloudresourcemanager.googleapis.com")
    def organization(self, request: Request, o: str) -> Reply:
        if f"organizations/{o}" != self.estate.organization["name"]:
            return google_error(403, "The caller does not have permission")
        return 200, self.estate.organization

    @_route("GET", r"/v3/folders", "cloudresourcemanager.googleapis.com")
    def folders(self, request: Request) -> Reply:
        parent = _first(request.query, "parent")
        if not parent:
            return google_error(400, "Request contains an invalid argument.")
        return self._page(request, [f for f in self.estate.folders.values() if f["parent"] == parent], "folders")

    @_route("GET", r"/v3/folders:search", "cloudresourcemanager.googleapis.com")
    def folders_search(self, request: Request) -> Reply:
        return self._page(request, list(self.estate.folders.values()), "folders")

    @_route("GET", r"/v3/folders/(?P<f>[^/:]+)", "cloudresourcemanager.googleapis.com")
    def folder(self, request: Request, f: str) -> Reply:
        folder = self.estate.folders.get(f"folders/{f}")
        return (200, folder) if folder else google_error(403, "The caller does not have permission")

    @_route("GET", r"/v3/projects", "cloudresourcemanager.googleapis.com")
    def projects(self, request: Request) -> Reply:
        parent = _first(request.query, "parent")
        if not parent:
            return google_error(400, "Request contains an invalid argument.")
        return self._page(request, [p for p in self.estate.projects.values() if p["parent"] == parent], "projects")

    @_route("GET", r"/v3/projects:search", "cloudresourcemanager.googleapis.com")
    def projects_search(self, request: Request) -> Reply:
        # the query's simple `field:value` terms the scanner may use (parent, id); others are not filtered
        projects = list(self.estate.projects.values())
        for term in _first(request.query, "query").split():
            key, _, value = term.partition(":")
            if key == "parent":
                projects = [p for p in projects if p["parent"] == value]
            elif key == "id":
                projects = [p for p in projects if p["projectId"] == value]
        return self._page(request, projects, "projects")

    @_route("GET", r"/v3/projects/(?P<p>[^/:]+)", "cloudresourcemanager.googleapis.com")
    def project(self, request: Request, p: str) -> Reply:
        return 200, self.estate.project_by(p)

    @_route("POST", r"/v3/(?P<kind>organizations|folders|projects)/(?P<rid>[^/:]+):getIamPolicy",
            "cloudresourcemanager.googleapis.com")
    def hierarchy_policy(self, request: Request, kind: str, rid: str) -> Reply:
        if kind == "projects":
            project = self.estate.project_by(rid)
            if project is None:
                return google_error(403, f"The caller does not have permission on projects/{rid}")
            if "cloudresourcemanager.googleapis.com" in self.estate.disabled_services[project["projectId"]]:
                status, message, meta = service_disabled("cloudresourcemanager.googleapis.com",
                                                         project["name"].split("/")[1])
                return google_error(status, message, reason="SERVICE_DISABLED", **meta)
            name = f"projects/{project['projectId']}"
        else:
            name = f"{kind}/{rid}"
            if name != self.estate.organization["name"] and name not in self.estate.folders:
                return google_error(403, f"The caller does not have permission on {name}")
        return 200, policy_view(self.estate.policies.get(name), self._requested_version(request))

    # --- Cloud DNS v1 (https://cloud.google.com/dns/docs/reference/rest/v1) -----------------------------------

    @_route("GET", r"/dns/v1/projects/(?P<p>[^/]+)/managedZones", "dns.googleapis.com")
    def managed_zones(self, request: Request, p: str) -> Reply:
        zones = self.estate.zones.get(self._pid(p), [])
        dns_name = _first(request.query, "dnsName")
        if dns_name:
            zones = [z for z in zones if z["dnsName"] == dns_name]
        return self._page(request, zones, "managedZones", size_param="maxResults",
                          extra={"kind": "dns#managedZonesListResponse"})

    @_route("GET", r"/dns/v1/projects/(?P<p>[^/]+)/managedZones/(?P<z>[^/:]+)", "dns.googleapis.com")
    def managed_zone(self, request: Request, p: str, z: str) -> Reply:
        zone = next((x for x in self.estate.zones.get(self._pid(p), []) if z in (x["name"], x["id"])), None)
        return (200, zone) if zone else google_error(404, f"The 'parameters.managedZone' resource named '{z}' "
                                                     "does not exist.", legacy_reason="notFound")

    @_route("GET", r"/dns/v1/projects/(?P<p>[^/]+)/managedZones/(?P<z>[^/:]+)/rrsets", "dns.googleapis.com")
    def rrsets(self, request: Request, p: str, z: str) -> Reply:
        key = (self._pid(p), z)
        if key not in self.estate.rrsets:
            return google_error(404, f"The 'parameters.managedZone' resource named '{z}' does not exist.",
                                legacy_reason="notFound")
        items = self.estate.rrsets[key]
        name, rtype = _first(request.query, "name"), _first(request.query, "type")
        items = [r for r in items if (not name or r["name"] == name) and (not rtype or r["type"] == rtype)]
        return self._page(request, items, "rrsets", size_param="maxResults",
                          extra={"kind": "dns#resourceRecordSetsListResponse"})

    @_route("POST", r"/dns/v1/projects/(?P<p>[^/]+)/managedZones/(?P<z>[^/:]+):getIamPolicy", "dns.googleapis.com")
    def zone_policy(self, request: Request, p: str, z: str) -> Reply:
        name = f"projects/{self._pid(p)}/managedZones/{z}"
        return 200, policy_view(self.estate.policies.get(name), self._requested_version(request))

    # --- Secret Manager v1 (https://cloud.google.com/secret-manager/docs/reference/rest) -----------------------

    def _secret(self, p: str, s: str) -> JSON | None:
        return next((x for x in self.estate.secrets.get(self._pid(p), []) if x["name"].endswith(f"/secrets/{s}")),
                    None)

    @_route("GET", r"/v1/projects/(?P<p>[^/]+)/secrets", "secretmanager.googleapis.com")
    def secrets(self, request: Request, p: str) -> Reply:
        items = self.estate.secrets.get(self._pid(p), [])
        return self._page(request, items, "secrets", extra={"totalSize": len(items)} if items else None)

    @_route("GET", r"/v1/projects/(?P<p>[^/]+)/secrets/(?P<s>[^/:]+)", "secretmanager.googleapis.com")
    def secret(self, request: Request, p: str, s: str) -> Reply:
        secret = self._secret(p, s)
        return (200, secret) if secret else google_error(404, f"Secret [{s}] not found or has no versions.")

    # Secret Manager's getIamPolicy is a GET with options.requestedPolicyVersion in the query
    @_route("GET", r"/v1/projects/(?P<p>[^/]+)/secrets/(?P<s>[^/:]+):getIamPolicy", "secretmanager.googleapis.com")
    def secret_policy(self, request: Request, p: str, s: str) -> Reply:
        name = f"projects/{self._pid(p)}/secrets/{s}"
        return 200, policy_view(self.estate.policies.get(name), self._requested_version(request))

    @_route("GET", r"/v1/projects/(?P<p>[^/]+)/secrets/(?P<s>[^/:]+)/versions", "secretmanager.googleapis.com")
    def secret_versions(self, request: Request, p: str, s: str) -> Reply:
        secret = self._secret(p, s)
        if secret is None:
            return google_error(404, f"Secret [{s}] not found.")
        return self._page(request, [{"name": f"{secret['name']}/versions/1", "createTime": secret["createTime"],
                                     "state": "ENABLED", "etag": secret["etag"]}], "versions")

    @_route("GET", r"/v1/projects/(?P<p>[^/]+)/secrets/(?P<s>[^/:]+)/versions/(?P<v>[^/:]+):access",
            "secretmanager.googleapis.com")
    def access_version(self, request: Request, p: str, s: str, v: str) -> Reply:
        # a call the scanner must never make: served as Google would, and recorded as refused
        self._server.refused.append(f"GET {request.path}")
        secret = self._secret(p, s)
        if secret is None:
            return google_error(404, f"Secret [{s}] not found.")
        data = base64.b64encode(self.estate.secret_values[secret["name"]].encode()).decode()
        return 200, {"name": f"{secret['name']}/versions/1", "payload": {"data": data}}

    # --- Certificate Manager v1 (https://cloud.google.com/certificate-manager/docs/reference/certificate-manager/rest)

    def _located(self, items: list[JSON], location: str) -> list[JSON]:
        return [x for x in items if location == "-" or f"/locations/{location}/" in x["name"]]

    @_route("GET", r"/v1/projects/(?P<p>[^/]+)/locations/(?P<loc>[^/]+)/certificates",
            "certificatemanager.googleapis.com")
    def certificates(self, request: Request, p: str, loc: str) -> Reply:
        return self._page(request, self._located(self.estate.certificates.get(self._pid(p), []), loc),
                          "certificates")

    @_route("GET", r"/v1/projects/(?P<p>[^/]+)/locations/(?P<loc>[^/]+)/certificateMaps",
            "certificatemanager.googleapis.com")
    def certificate_maps(self, request: Request, p: str, loc: str) -> Reply:
        return self._page(request, self._located(self.estate.certificate_maps.get(self._pid(p), []), loc),
                          "certificateMaps")

    @_route("GET", r"/v1/projects/(?P<p>[^/]+)/locations/(?P<loc>[^/]+)/dnsAuthorizations",
            "certificatemanager.googleapis.com")
    def dns_authorizations(self, request: Request, p: str, loc: str) -> Reply:
        return self._page(request, self._located(self.estate.dns_authorizations.get(self._pid(p), []), loc),
                          "dnsAuthorizations")

    # --- Cloud Identity v1 groups (https://cloud.google.com/identity/docs/reference/rest/v1/groups) ------------

    @_route("GET", r"/v1/groups:lookup", "cloudidentity.googleapis.com")
    def group_lookup(self, request: Request) -> Reply:
        email = _first(request.query, "groupKey.id")
        group = self.estate.groups.get(email)
        if group is None:
            return google_error(403, "Error(4003): Permission denied for group resource "
                                f"'groups/{email}' (or it may not exist).")
        return 200, {"name": group["name"]}

    @_route("GET", r"/v1/groups/(?P<g>[^/:]+)/memberships:searchTransitiveMemberships",
            "cloudidentity.googleapis.com")
    def transitive_memberships(self, request: Request, g: str) -> Reply:
        email = next((e for e, x in self.estate.groups.items() if x["name"] == f"groups/{g}"), None)
        if email is None:
            return google_error(404, "Not found.")
        rows = []
        for member, how in self.estate.transitive_members(email):
            kind = "groups" if member in self.estate.groups else "users"
            rows.append({"member": f"{kind}/{hashlib.sha1(member.encode()).hexdigest()[:21]}",  # noqa: S324
                         "preferredMemberKey": [{"id": member}], "relationType": how,
                         "roles": [{"role": "MEMBER"}]})
        return self._page(request, rows, "memberships")

    # --- IAM v1 REST: workload identity (https://cloud.google.com/iam/docs/reference/rest) ----------------------

    @_route("GET", r"/v1/projects/(?P<p>[^/]+)/locations/global/workloadIdentityPools", "iam.googleapis.com")
    def pools(self, request: Request, p: str) -> Reply:
        return self._page(request, self.estate.pools.get(self._pid(p), []), "workloadIdentityPools")

    @_route("GET", r"/v1/projects/(?P<p>[^/]+)/locations/global/workloadIdentityPools/(?P<pool>[^/:]+)/providers",
            "iam.googleapis.com")
    def providers(self, request: Request, p: str, pool: str) -> Reply:
        number = self.estate.projects[self._pid(p)]["name"].split("/")[1]
        name = f"projects/{number}/locations/global/workloadIdentityPools/{pool}"
        if name not in self.estate.providers:
            return google_error(404, "Requested entity was not found.")
        return self._page(request, self.estate.providers[name], "workloadIdentityPoolProviders")


# --- gRPC: google.iam.admin.v1.IAM and google.iam.v2.Policies -----------------------------------------------------

_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class GcpGrpcStandIn:
    """The gRPC stand-in over TLS: `target` is "127.0.0.1:PORT"; `requests` and `refused` are "RPC /service/Method
    name" logs. Reads served: IAM ListServiceAccounts, GetServiceAccount, ListServiceAccountKeys, ListRoles,
    GetRole, GetIamPolicy (on a service account); Policies ListPolicies (without rules), GetPolicy."""

    def __init__(self, estate: GcpEstate, certificate: TestCertificate) -> None:
        self.estate = estate
        self.certificate = certificate
        self.requests: list[str] = []
        self.refused: list[str] = []
        self.failures: list[str] = []
        self.target = ""

    def start(self) -> GcpGrpcStandIn:
        import grpc  # type: ignore[import-untyped]
        from google.cloud import iam_admin_v1 as admin
        from google.cloud import iam_v2
        from google.iam.v1 import iam_policy_pb2, policy_pb2  # type: ignore[import-untyped]

        def unary(fn: Callable[..., Any], req: Any, resp: Any, name: str) -> Any:
            def serve(request: Any, context: Any) -> Any:
                return self._serve(name, fn, request, context)
            return grpc.unary_unary_rpc_method_handler(serve, request_deserializer=req.deserialize if hasattr(
                req, "deserialize") else req.FromString, response_serializer=resp.serialize if hasattr(
                resp, "serialize") else resp.SerializeToString)

        reads = {
            "/google.iam.admin.v1.IAM/ListServiceAccounts": (self._list_service_accounts,
                                                              admin.ListServiceAccountsRequest,
                                                              admin.ListServiceAccountsResponse),
            "/google.iam.admin.v1.IAM/GetServiceAccount": (self._get_service_account, admin.GetServiceAccountRequest,
                                                            admin.ServiceAccount),
            "/google.iam.admin.v1.IAM/ListServiceAccountKeys": (self._list_keys, admin.ListServiceAccountKeysRequest,
                                                                 admin.ListServiceAccountKeysResponse),
            "/google.iam.admin.v1.IAM/ListRoles": (self._list_roles, admin.ListRolesRequest, admin.ListRolesResponse),
            "/google.iam.admin.v1.IAM/GetRole": (self._get_role, admin.GetRoleRequest, admin.Role),
            "/google.iam.admin.v1.IAM/GetIamPolicy": (self._get_iam_policy, iam_policy_pb2.GetIamPolicyRequest,
                                                       policy_pb2.Policy),
            "/google.iam.v2.Policies/ListPolicies": (self._list_policies, iam_v2.ListPoliciesRequest,
                                                      iam_v2.ListPoliciesResponse),
            "/google.iam.v2.Policies/GetPolicy": (self._get_policy, iam_v2.GetPolicyRequest, iam_v2.Policy),
        }
        handlers = {name: unary(fn, req, resp, name) for name, (fn, req, resp) in reads.items()}
        stand_in = self

        def refuse(request: bytes, context: Any) -> Any:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "the read-only stand-in refused a write")

        class _Generic(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc ships no types
            def service(self, details: Any) -> Any:
                method = details.method
                if method in handlers:
                    return handlers[method]
                if method.startswith(("/google.iam.admin.v1.IAM/", "/google.iam.v2.Policies/")):
                    stand_in.requests.append(f"RPC {method}")
                    stand_in.refused.append(f"RPC {method}")
                    return grpc.unary_unary_rpc_method_handler(refuse, request_deserializer=lambda b: b,
                                                               response_serializer=lambda b: b)
                return None

        key = Path(self.certificate.key_file).read_bytes()
        cert = Path(self.certificate.cert_file).read_bytes()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers((_Generic(),))
        port = self._server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
        self._server.start()
        self.target = f"127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self._server.stop(0).wait()

    def __enter__(self) -> GcpGrpcStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- plumbing --------------------------------------------------------------------------------------------

    def _serve(self, method: str, fn: Callable[..., Any], request: Any, context: Any) -> Any:
        import grpc

        name = getattr(request, "name", "") or getattr(request, "parent", "") or getattr(request, "resource", "")
        self.requests.append(f"RPC {method} {name}".rstrip())
        fault = self.estate.take_fault("RPC", method)
        if fault is not None:
            self._abort(context, fault.status, fault.message or f"fault injected on {method}", reason=fault.reason)
        metadata = dict(context.invocation_metadata())
        value = str(metadata.get("authorization", ""))
        token = value[7:].strip() if value[:7].lower() == "bearer " else ""
        issued = self.estate.tokens.get(token)
        if (issued is None or issued.expires < now().timestamp()) and verify_jwt(self.estate, token, None) is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "Request had invalid authentication credentials.")
        try:
            return fn(request, context)
        except _Abort as stop:
            self._abort(context, stop.status, stop.message, reason=stop.reason, metadata=stop.metadata)
        except Exception as exc:  # a handler's bug: INTERNAL, and kept for the test to see
            if isinstance(exc, grpc.RpcError) or type(exc).__name__ == "_AbortError":  # context.abort's own
                raise
            self.failures.append(f"{method}: {type(exc).__name__}: {exc}")
            context.abort(grpc.StatusCode.INTERNAL, type(exc).__name__)
        raise AssertionError("unreachable")

    def _abort(self, context: Any, status: int, message: str, *, reason: str | None = None,
               metadata: Mapping[str, str] | None = None) -> None:
        import grpc
        from google.protobuf import any_pb2  # type: ignore[import-untyped]
        from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[import-untyped]
        from grpc_status import rpc_status  # type: ignore[import-untyped]

        code = getattr(code_pb2, _CODES.get(status, "UNKNOWN"))
        detail = status_pb2.Status(code=code, message=message)
        if reason:
            info = any_pb2.Any()
            info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="googleapis.com",
                                                  metadata=dict(metadata or {})))
            detail.details.append(info)
        context.abort_with_status(rpc_status.to_status(detail))
        del grpc

    def _project(self, name: str) -> str:
        """The project id of "projects/P/…" (id or number; "-" any), checking the IAM API is enabled there."""
        p = name.split("/")[1] if name.startswith("projects/") else "-"
        if p == "-":
            return "-"
        project = self.estate.project_by(p)
        if project is None:
            raise _Abort(404, f"Project {p} not found or permission denied.")
        if "iam.googleapis.com" in self.estate.disabled_services[project["projectId"]]:
            status, message, meta = service_disabled("iam.googleapis.com", project["name"].split("/")[1])
            raise _Abort(status, message, reason="SERVICE_DISABLED", metadata=meta)
        return str(project["projectId"])

    def _page(self, items: list[Any], request: Any) -> tuple[list[Any], str]:
        offset = offset_of(request.page_token)
        if offset < 0:
            raise _Abort(400, "Invalid page token.")
        size = request.page_size or self.estate.page_size
        more = offset + size < len(items)
        return items[offset:offset + size], make_token(offset + size) if more else ""

    def _account(self, name: str) -> JSON:
        self._project(name)
        email = name.rsplit("/", 1)[-1]
        sa = self.estate.service_accounts.get(email)
        if sa is None or not name.startswith("projects/"):
            raise _Abort(404, f"Unknown service account {email}")
        return sa

    # --- IAM admin v1 (https://cloud.google.com/iam/docs/reference/rpc/google.iam.admin.v1) ---------------------

    def _list_service_accounts(self, request: Any, context: Any) -> Any:
        from google.cloud import iam_admin_v1 as admin

        project = self._project(request.name)
        accounts = [a for a in self.estate.service_accounts.values() if project in ("-", a["projectId"])]
        chunk, token = self._page(accounts, request)
        return admin.ListServiceAccountsResponse(accounts=[_msg(admin.ServiceAccount, a) for a in chunk],
                                                 next_page_token=token)

    def _get_service_account(self, request: Any, context: Any) -> Any:
        from google.cloud import iam_admin_v1 as admin

        return _msg(admin.ServiceAccount, self._account(request.name))

    def _list_keys(self, request: Any, context: Any) -> Any:
        from google.cloud import iam_admin_v1 as admin

        sa = self._account(request.name)
        wanted = {admin.ListServiceAccountKeysRequest.KeyType(t).name for t in request.key_types}
        keys = [k for k in self.estate.keys[sa["email"]] if not wanted or k["keyType"] in wanted]
        return admin.ListServiceAccountKeysResponse(keys=[_msg(admin.ServiceAccountKey, k) for k in keys])

    def _role_view(self, role: JSON, full: bool) -> Any:
        from google.cloud import iam_admin_v1 as admin

        shown = role if full else {k: v for k, v in role.items() if k != "includedPermissions"}
        return _msg(admin.Role, shown)

    def _list_roles(self, request: Any, context: Any) -> Any:
        from google.cloud import iam_admin_v1 as admin

        parent = request.parent
        if not parent:
            roles = list(self.estate.roles.values())
        else:
            if parent.startswith("projects/"):
                parent = f"projects/{self._project(parent)}"
            elif parent != self.estate.organization["name"]:
                raise _Abort(403, f"Permission 'iam.roles.list' denied on resource {parent}")
            roles = [r for n, r in self.estate.custom_roles.items() if n.startswith(parent + "/roles/")
                     and (request.show_deleted or not r.get("deleted"))]
        chunk, token = self._page(roles, request)
        full = request.view == admin.RoleView.FULL
        return admin.ListRolesResponse(roles=[self._role_view(r, full) for r in chunk], next_page_token=token)

    def _get_role(self, request: Any, context: Any) -> Any:
        name = request.name
        if name.startswith("projects/"):
            name = f"projects/{self._project(name)}/" + name.split("/", 2)[2]
        role = self.estate.role(name)
        if role is None:
            raise _Abort(404, f"The role named {request.name} was not found.")
        return self._role_view(role, True)  # GetRole always returns includedPermissions

    def _get_iam_policy(self, request: Any, context: Any) -> Any:
        from google.iam.v1 import policy_pb2
        from google.protobuf import json_format

        sa = self._account(request.resource)
        view = policy_view(self.estate.policies.get(sa["name"]), request.options.requested_policy_version)
        view["etag"] = base64.b64encode(base64.b64decode(view["etag"])).decode()
        return json_format.ParseDict(view, policy_pb2.Policy())

    # --- IAM v2 deny policies (https://cloud.google.com/iam/docs/reference/rest/v2/policies) --------------------

    def _attachment(self, parent: str) -> str:
        m = re.fullmatch(r"policies/([^/]+)/denypolicies(?:/[^/]+)?", parent)
        if m is None:
            raise _Abort(400, f"Invalid policy parent {parent}")
        point = unquote(m.group(1)).removeprefix("cloudresourcemanager.googleapis.com/")
        if point.startswith("projects/"):
            point = f"projects/{self._project(point)}"
        return point

    def _list_policies(self, request: Any, context: Any) -> Any:
        from google.cloud import iam_v2

        policies = self.estate.deny_policies.get(self._attachment(request.parent), [])
        chunk, token = self._page(policies, request)
        return iam_v2.ListPoliciesResponse(policies=[_msg(iam_v2.Policy, {k: v for k, v in p.items()
                                                                           if k != "rules"}) for p in chunk],
                                           next_page_token=token)

    def _get_policy(self, request: Any, context: Any) -> Any:
        from google.cloud import iam_v2

        policies = self.estate.deny_policies.get(self._attachment(request.name), [])
        policy = next((p for p in policies if unquote(p["name"]) == unquote(request.name)), None)
        if policy is None:
            raise _Abort(404, f"Policy {request.name} not found.")
        return _msg(iam_v2.Policy, policy)


class _Abort(Exception):
    def __init__(self, status: int, message: str, *, reason: str | None = None,
                 metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.reason, self.metadata = status, message, reason, metadata


def _msg(cls: Any, data: JSON) -> Any:
    """A proto-plus message from the REST JSON (camelCase) the estate holds."""
    import json

    return cls.from_json(json.dumps(data), ignore_unknown_fields=True)



# --- one host for gRPC and REST, as Google's front ends serve both on iam.googleapis.com:443 ------------------------

class AlpnFront:
    """A TLS port that hands each connection to a backend by the protocol the client negotiated (ALPN): HTTP/2
    (gRPC) to `h2_backend`, anything else (HTTP/1.1: REST) to `http1_backend`, each reached over TLS under the
    same test CA. Google serves IAM's gRPC services and its REST API (workload identity pools) on one host; so
    does this, and `target` ("127.0.0.1:PORT") is both the gRPC target and, with https://, the REST root."""

    def __init__(self, certificate: TestCertificate, h2_backend: str, http1_backend: str) -> None:
        self.certificate = certificate
        self.backends = {"h2": h2_backend, "http/1.1": http1_backend}
        self.target = ""
        self.connections = 0

    def start(self) -> AlpnFront:
        import asyncio
        import contextlib
        import ssl
        import threading

        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(self.certificate.cert_file, self.certificate.key_file)
        server_ctx.set_alpn_protocols(["h2", "http/1.1"])
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                    await writer.wait_closed()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            ssl_object = writer.get_extra_info("ssl_object")
            proto = (ssl_object.selected_alpn_protocol() if ssl_object else None) or "http/1.1"
            host, _, port = self.backends["h2" if proto == "h2" else "http/1.1"].rpartition(":")
            client_ctx = ssl.create_default_context(cafile=self.certificate.ca_file)
            client_ctx.set_alpn_protocols([proto])
            try:
                up_reader, up_writer = await asyncio.open_connection(host, int(port), ssl=client_ctx,
                                                                     server_hostname=host)
            except OSError:
                writer.close()
                return
            with contextlib.suppress(asyncio.CancelledError):  # stop() cancels the connections still open
                await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        async def serve() -> None:
            self._server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
            self.target = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
            ready.set()
            async with self._server:
                await self._server.serve_forever()

        def run() -> None:
            loop = self._loop
            asyncio.set_event_loop(loop)
            try:
                with contextlib.suppress(asyncio.CancelledError):  # stop() cancels serve_forever
                    loop.run_until_complete(serve())
            finally:  # every connection's pipes end and close their transports before the loop closes
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="gcp-alpn-front", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the ALPN front did not start")
        return self

    def stop(self) -> None:
        import asyncio

        def close() -> None:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()

        self._loop.call_soon_threadsafe(close)
        self._thread.join(10)
