"""The seed model of the local GCP stand-ins (commonmode_sandbox.gcp): `GcpEstate`, a fictional organization held
as the JSON that Google's REST APIs return (camelCase; the gRPC stand-in turns it into google-cloud-iam's proto-plus
messages), with builders that fill in realistic values, the secret values a real service would hold (canaries),
the scanner's service-account key, the access tokens issued, and the faults a test asks for. No network, no SDK.

Each builder's comment names the REST reference page of the JSON it stores.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import json
import random
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeAlias

from commonmode_sandbox.standin import Faults

JSON: TypeAlias = dict[str, Any]

#: The APIs (service names) the stand-ins serve; a project has all of them enabled unless a builder says otherwise
SERVICES = ("cloudresourcemanager.googleapis.com", "iam.googleapis.com", "iamcredentials.googleapis.com",
            "dns.googleapis.com", "secretmanager.googleapis.com", "certificatemanager.googleapis.com",
            "cloudidentity.googleapis.com")
#: Titles Google uses in its SERVICE_DISABLED message
SERVICE_TITLES = {"cloudresourcemanager.googleapis.com": "Cloud Resource Manager API",
                  "iam.googleapis.com": "Identity and Access Management (IAM) API",
                  "iamcredentials.googleapis.com": "IAM Service Account Credentials API",
                  "dns.googleapis.com": "Cloud DNS API", "secretmanager.googleapis.com": "Secret Manager API",
                  "certificatemanager.googleapis.com": "Certificate Manager API",
                  "cloudidentity.googleapis.com": "Cloud Identity API"}
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
CLOUD_DNS_NAME_SERVERS = ("ns-cloud-a1.googledomains.com.", "ns-cloud-a2.googledomains.com.",
                          "ns-cloud-a3.googledomains.com.", "ns-cloud-a4.googledomains.com.")


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def rfc3339(when: datetime.datetime) -> str:
    """Google's timestamp form, with fractional seconds (google-cloud-dns parses creationTime strictly so)."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def predefined_roles() -> list[JSON]:
    """The 24 predefined roles the stand-in serves, as roles.get with view FULL returns them (iam-dataset)."""
    raw = resources.files("commonmode_sandbox").joinpath("data/gcp-predefined-roles.json.gz").read_bytes()
    roles: list[JSON] = json.loads(gzip.decompress(raw))
    return roles


@dataclass(frozen=True)
class IssuedToken:
    """An access token the token endpoint or generateAccessToken gave out, and for whom."""

    email: str
    expires: float
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScannerKey:
    """The scanner's service account and its key (the private key is a secret: never print it)."""

    email: str
    key_id: str
    private_key_pem: str = field(repr=False)
    public_key_pem: str = field(repr=False)
    project_id: str = ""

    def key_file_info(self, token_uri: str) -> JSON:
        """The JSON key file Google issues ("Create and delete service account keys"), its token_uri pointing at
        the stand-in (google-auth honours it)."""
        return {"type": "service_account", "project_id": self.project_id, "private_key_id": self.key_id,
                "private_key": self.private_key_pem, "client_email": self.email,
                "client_id": str(int(self.key_id[:16], 16)), "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": token_uri, "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
                "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{self.email}",
                "universe_domain": "googleapis.com"}


@dataclass
class Fault:
    """An answer forced on every request whose method is `method` and whose path (leading slash, no query; for gRPC
    "/google.iam.admin.v1.IAM/ListRoles") matches `pattern` (regex, `re.search`): `times` times (None: always).
    `status` is the HTTP status (gRPC maps it to the matching code); `reason` goes into an ErrorInfo detail."""

    pattern: str
    status: int
    method: str = "GET"
    times: int | None = None
    message: str | None = None
    reason: str | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.search(self.pattern, path) is not None


class GcpEstate:
    """A fictional Google Cloud organization, held as the REST JSON of each API (live dicts: a test may edit what a
    builder returned, and the next request sees it). `page_size` is the default page size of every list (a
    request's pageSize/maxResults overrides it); `seed` makes ids and canaries reproducible."""

    def __init__(self, *, org_id: str = "123456789012", domain: str = "example.com", seed: int | None = None,
                 page_size: int = 2, scanner_project: str = "commonmode-admin") -> None:
        self._rng = random.Random(seed)  # noqa: S311  # ids of a fictional estate, not a secret
        self._lock = threading.Lock()
        self.page_size = page_size
        created = rfc3339(now() - datetime.timedelta(days=1200))
        # organizations.get: https://cloud.google.com/resource-manager/reference/rest/v3/organizations#Organization
        self.organization: JSON = {"name": f"organizations/{org_id}", "displayName": domain,
                                   "directoryCustomerId": "C0" + self._hex(7), "state": "ACTIVE",
                                   "createTime": created, "updateTime": created, "etag": self._etag()}
        self.folders: dict[str, JSON] = {}  # "folders/N" -> Folder
        self.projects: dict[str, JSON] = {}  # project id -> Project
        self.disabled_services: dict[str, set[str]] = {}  # project id -> services disabled
        self.policies: dict[str, JSON] = {}  # resource name -> IAM Policy (v1); see `bind`
        self.deny_policies: dict[str, list[JSON]] = {}  # attachment point ("projects/P") -> v2 Policies
        self.custom_roles: dict[str, JSON] = {}  # "projects/P/roles/R" | "organizations/O/roles/R" -> Role
        self.roles: dict[str, JSON] = {r["name"]: r for r in predefined_roles()}
        self.service_accounts: dict[str, JSON] = {}  # email -> ServiceAccount
        self.keys: dict[str, list[JSON]] = {}  # email -> ServiceAccountKey
        self.pools: dict[str, list[JSON]] = {}  # project id -> WorkloadIdentityPool
        self.providers: dict[str, list[JSON]] = {}  # pool name -> WorkloadIdentityPoolProvider
        self.zones: dict[str, list[JSON]] = {}  # project id -> ManagedZone
        self.rrsets: dict[tuple[str, str], list[JSON]] = {}  # (project id, zone name) -> ResourceRecordSet
        self.secrets: dict[str, list[JSON]] = {}  # project id -> Secret
        self.secret_values: dict[str, str] = {}  # secret name -> payload (a canary)
        self.certificates: dict[str, list[JSON]] = {}  # project id -> Certificate
        self.certificate_maps: dict[str, list[JSON]] = {}
        self.dns_authorizations: dict[str, list[JSON]] = {}
        self.groups: dict[str, JSON] = {}  # group email -> Cloud Identity Group, with "members" (see `group`)
        self.tokens: dict[str, IssuedToken] = {}
        self.faults: Faults[Fault] = Faults()
        self.scanner = self._make_scanner_key(f"commonmode-scanner@{scanner_project}.iam.gserviceaccount.com",
                                              scanner_project)

    # --- ids, canaries, faults ------------------------------------------------------------------------------

    def _hex(self, n: int) -> str:
        return f"{self._rng.getrandbits(4 * n):0{n}x}"

    def _digits(self, n: int) -> str:
        return str(self._rng.randrange(10 ** (n - 1), 10 ** n))

    def _etag(self) -> str:
        return base64.b64encode(self._rng.getrandbits(64).to_bytes(8, "big")).decode()

    def canary(self, label: str = "") -> str:
        """A secret value that must never leave the estate: tests assert no output or log contains it."""
        return f"canary-{label + '-' if label else ''}{self._hex(24)}"

    def canaries(self) -> list[str]:
        """Every secret value: secret payloads, the scanner's private key and the access tokens issued so far."""
        body = "".join(self.scanner.private_key_pem.splitlines()[1:-1])
        return [*self.secret_values.values(), body[40:120], *self.tokens]

    def fail(self, pattern: str, status: int, *, method: str = "GET", times: int | None = None,
             message: str | None = None, reason: str | None = None) -> Fault:
        r"""Make requests whose path matches `pattern` fail with `status` (`times` times, or always): e.g.
        `fail(r"/v3/projects/p1:getIamPolicy$", 403, method="POST")`, or for gRPC (method "RPC", path
        "/google.iam.admin.v1.IAM/ListRoles") `fail(r"\.IAM/ListRoles$", 503, method="RPC")`."""
        fault = Fault(pattern=pattern, status=status, method=method, times=times, message=message, reason=reason)
        return self.faults.add(fault)

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault that applies to this request, counted (thread-safe), or None."""
        return self.faults.take(method, path)

    def issue_token(self, email: str, lifetime: int = 3600, scopes: Sequence[str] = ()) -> tuple[str, IssuedToken]:
        """A new opaque access token for `email` (kept, so the APIs accept it and canaries() lists it)."""
        token = "ya29.c." + self.canary("token")
        issued = IssuedToken(email=email, expires=now().timestamp() + lifetime, scopes=tuple(scopes))
        with self._lock:
            self.tokens[token] = issued
        return token, issued

    def _make_scanner_key(self, email: str, project_id: str) -> ScannerKey:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        return ScannerKey(email=email, key_id=self._hex(40), private_key_pem=private, public_key_pem=public,
                          project_id=project_id)

    # --- hierarchy ------------------------------------------------------------------------------------------

    def _parent(self, parent: str | None) -> str:
        parent = parent or self.organization["name"]
        if parent != self.organization["name"] and parent not in self.folders:
            raise KeyError(f"no parent {parent}")
        return parent

    def folder(self, display_name: str, *, parent: str | None = None) -> JSON:
        """A folder under `parent` ("folders/N"; default the organization).
        https://cloud.google.com/resource-manager/reference/rest/v3/folders#Folder"""
        created = rfc3339(now() - datetime.timedelta(days=800))
        f: JSON = {"name": f"folders/{self._digits(12)}", "parent": self._parent(parent), "displayName": display_name,
                   "state": "ACTIVE", "createTime": created, "updateTime": created, "etag": self._etag()}
        self.folders[f["name"]] = f
        return f

    def project(self, project_id: str, *, parent: str | None = None, display_name: str | None = None,
                labels: Mapping[str, str] | None = None, disabled_services: Iterable[str] = ()) -> JSON:
        """A project under `parent` (default the organization), every served API enabled but `disabled_services`
        (e.g. "dns.googleapis.com": its calls then answer 403 SERVICE_DISABLED).
        https://cloud.google.com/resource-manager/reference/rest/v3/projects#Project"""
        created = rfc3339(now() - datetime.timedelta(days=700))
        p: JSON = {"name": f"projects/{self._digits(12)}", "parent": self._parent(parent), "projectId": project_id,
                   "state": "ACTIVE", "displayName": display_name or project_id, "createTime": created,
                   "updateTime": created, "etag": self._etag(), "labels": dict(labels or {})}
        self.projects[project_id] = p
        self.disabled_services[project_id] = set(disabled_services)
        return p

    def disable_service(self, project_id: str, service: str) -> None:
        self.disabled_services[project_id].add(service)

    def project_by(self, id_or_number: str) -> JSON | None:
        """A project by its id or its number."""
        if id_or_number in self.projects:
            return self.projects[id_or_number]
        return next((p for p in self.projects.values() if p["name"] == f"projects/{id_or_number}"), None)

    def ancestors(self, resource: str) -> list[str]:
        """The resource names above `resource` ("projects/P", "folders/N"), nearest first, the organization last."""
        if resource.startswith("projects/"):
            p = self.project_by(resource.split("/")[1])
            parent = p["parent"] if p else None
        else:
            parent = self.folders[resource]["parent"] if resource in self.folders else None
        chain: list[str] = []
        while parent:
            chain.append(parent)
            parent = self.folders[parent]["parent"] if parent in self.folders else None
        return chain

    # --- Cloud Identity groups --------------------------------------------------------------------------------

    def group(self, email: str, members: Sequence[str]) -> JSON:
        """A Google group and its members (emails: users, service accounts, or other groups of this estate, whose
        members are then the group's indirect members).
        https://cloud.google.com/identity/docs/reference/rest/v1/groups#Group"""
        g: JSON = {"name": f"groups/{self._hex(15)}", "groupKey": {"id": email}, "displayName": email.split("@")[0],
                   "labels": {"cloudidentity.googleapis.com/groups.discussion_forum": ""},
                   "parent": f"customers/{self.organization['directoryCustomerId']}", "members": list(members)}
        self.groups[email] = g
        return g

    def transitive_members(self, email: str) -> list[tuple[str, str]]:
        """(member email, "DIRECT" | "INDIRECT" | "DIRECT_AND_INDIRECT") of a group, nested groups followed."""
        direct = set(self.groups[email]["members"])
        out: dict[str, set[str]] = {}
        todo, seen = [(m, "DIRECT") for m in direct], {email}
        while todo:
            member, how = todo.pop(0)
            out.setdefault(member, set()).add(how)
            if member in self.groups and member not in seen:
                seen.add(member)
                todo += [(m, "INDIRECT") for m in self.groups[member]["members"]]
        return [(m, "DIRECT_AND_INDIRECT" if len(h) == 2 else h.pop()) for m, h in out.items()]

    # --- IAM allow and deny policies, roles ---------------------------------------------------------------------

    def bind(self, resource: str, role: str, members: Sequence[str], *,
             condition: Mapping[str, str] | None = None) -> JSON:
        """A binding in the allow policy of `resource`: "organizations/O", "folders/N", "projects/P" (the project
        id), "projects/P/managedZones/Z", "projects/P/secrets/S" or "projects/P/serviceAccounts/EMAIL";
        `condition` = {"expression", "title", "description"} (a CEL condition: the policy becomes version 3).
        https://cloud.google.com/iam/docs/reference/rest/v1/Policy"""
        policy = self.policies.setdefault(resource, {"version": 1, "etag": self._etag(), "bindings": []})
        binding: JSON = {"role": role, "members": list(members)}
        if condition is not None:
            binding["condition"] = dict(condition)
            policy["version"] = 3
        policy["bindings"].append(binding)
        return binding

    def deny_policy(self, attachment_point: str, policy_id: str, rules: Sequence[Mapping[str, Any]], *,
                    display_name: str = "") -> JSON:
        """An IAM v2 deny policy on "organizations/O", "folders/N" or "projects/P" (id): each rule a DenyRule
        ({"deniedPrincipals", "exceptionPrincipals", "deniedPermissions" (v2 form "dns.googleapis.com/…"),
        "exceptionPermissions", "denialCondition"}). https://cloud.google.com/iam/docs/reference/rest/v2/policies"""
        encoded = ("cloudresourcemanager.googleapis.com/" + attachment_point).replace("/", "%2F")
        stamp = rfc3339(now() - datetime.timedelta(days=30))
        policy: JSON = {"name": f"policies/{encoded}/denypolicies/{policy_id}", "uid": self._hex(32),
                        "kind": "DenyPolicy", "displayName": display_name or policy_id, "etag": self._etag(),
                        "createTime": stamp, "updateTime": stamp,
                        "rules": [{"description": r.get("description", ""),
                                   "denyRule": {k: v for k, v in r.items() if k != "description"}} for r in rules]}
        self.deny_policies.setdefault(attachment_point, []).append(policy)
        return policy

    def custom_role(self, parent: str, role_id: str, permissions: Sequence[str], *, title: str = "",
                    stage: str = "GA", deleted: bool = False) -> JSON:
        """A custom role under "projects/P" or "organizations/O". https://cloud.google.com/iam/docs/reference/rest/v1/organizations.roles"""
        role: JSON = {"name": f"{parent}/roles/{role_id}", "title": title or role_id, "description": title,
                      "includedPermissions": list(permissions), "stage": stage, "etag": self._etag()}
        if deleted:
            role["deleted"] = True
        self.custom_roles[role["name"]] = role
        return role

    def role(self, name: str) -> JSON | None:
        return self.roles.get(name) or self.custom_roles.get(name)

    def permissions_of(self, member: str, resource: str) -> set[str]:
        """The permissions `member` holds on `resource` from unconditional bindings on it and its ancestors (the
        stand-in's own check for generateAccessToken; deny policies are not applied)."""
        chain = [resource]
        if "/serviceAccounts/" in resource:
            chain.append("projects/" + resource.split("/")[1])
        if chain[-1].startswith("projects/"):
            chain += self.ancestors(chain[-1])
        granted: set[str] = set()
        for name in chain:
            for b in self.policies.get(name, {}).get("bindings", []):
                if member in b["members"] and "condition" not in b:
                    granted.update((self.role(b["role"]) or {}).get("includedPermissions", []))
        return granted

    # --- service accounts and keys, workload identity -----------------------------------------------------------

    def service_account(self, project_id: str, account_id: str, *, display_name: str = "", description: str = "",
                        disabled: bool = False) -> JSON:
        """https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts#ServiceAccount"""
        email = f"{account_id}@{project_id}.iam.gserviceaccount.com"
        unique = self._digits(21)
        sa: JSON = {"name": f"projects/{project_id}/serviceAccounts/{email}", "projectId": project_id,
                    "uniqueId": unique, "email": email, "displayName": display_name or account_id,
                    "etag": self._etag(), "description": description, "oauth2ClientId": unique, "disabled": disabled}
        self.service_accounts[email] = sa
        self.keys.setdefault(email, [])
        return sa

    def service_account_key(self, email: str, *, age_days: float = 10, expires_in_days: float | None = None,
                            disabled: bool = False, key_type: str = "USER_MANAGED") -> JSON:
        """A key's metadata (never key material). Without expiry validBeforeTime is 9999-12-31, as Google shows.
        https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys#ServiceAccountKey"""
        sa = self.service_accounts[email]
        created = now() - datetime.timedelta(days=age_days)
        before = ("9999-12-31T23:59:59Z" if expires_in_days is None
                  else rfc3339(now() + datetime.timedelta(days=expires_in_days)))
        key: JSON = {"name": f"{sa['name']}/keys/{self._hex(40)}", "validAfterTime": rfc3339(created),
                     "validBeforeTime": before, "keyAlgorithm": "KEY_ALG_RSA_2048",
                     "keyOrigin": "GOOGLE_PROVIDED", "keyType": key_type, "disabled": disabled}
        self.keys[email].append(key)
        return key

    def workload_identity_pool(self, project_id: str, pool_id: str, *, display_name: str = "",
                               disabled: bool = False) -> JSON:
        """https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools"""
        number = self.projects[project_id]["name"].split("/")[1]
        pool: JSON = {"name": f"projects/{number}/locations/global/workloadIdentityPools/{pool_id}",
                      "displayName": display_name or pool_id, "description": "", "state": "ACTIVE",
                      "disabled": disabled}
        self.pools.setdefault(project_id, []).append(pool)
        self.providers[pool["name"]] = []
        return pool

    def workload_identity_provider(self, pool: JSON, provider_id: str, *, issuer: str,
                                   attribute_mapping: Mapping[str, str] | None = None,
                                   attribute_condition: str | None = None,
                                   allowed_audiences: Sequence[str] = ()) -> JSON:
        """An OIDC provider of `pool`.
        https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers"""
        provider: JSON = {"name": f"{pool['name']}/providers/{provider_id}", "displayName": provider_id,
                          "description": "", "state": "ACTIVE", "disabled": False,
                          "attributeMapping": dict(attribute_mapping or {"google.subject": "assertion.sub"}),
                          "oidc": {"issuerUri": issuer, "allowedAudiences": list(allowed_audiences)}}
        if attribute_condition is not None:
            provider["attributeCondition"] = attribute_condition
        self.providers[pool["name"]].append(provider)
        return provider

    def aws_workload_identity_provider(self, pool: JSON, provider_id: str, *, account_id: str,
                                       attribute_condition: str | None = None) -> JSON:
        """An AWS provider of `pool`, with the default attribute mapping Google documents for AWS
        ("Configure Workload Identity Federation with AWS or Azure": google.subject = assertion.arn,
        attribute.aws_role = the role session's ARN, assumed-role/ROLE).
        https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers#aws"""
        role = ("assertion.arn.contains('assumed-role') ? assertion.arn.extract('{account_arn}assumed-role/') + "
                "'assumed-role/' + assertion.arn.extract('assumed-role/{role_name}/') : assertion.arn")
        provider: JSON = {"name": f"{pool['name']}/providers/{provider_id}", "displayName": provider_id,
                          "description": "", "state": "ACTIVE", "disabled": False,
                          "attributeMapping": {"google.subject": "assertion.arn", "attribute.aws_role": role},
                          "aws": {"accountId": account_id}}
        if attribute_condition is not None:
            provider["attributeCondition"] = attribute_condition
        self.providers[pool["name"]].append(provider)
        return provider

    # --- Cloud DNS --------------------------------------------------------------------------------------------

    def managed_zone(self, project_id: str, name: str, dns_name: str, *, visibility: str = "public",
                     labels: Mapping[str, str] | None = None, networks: Sequence[str] = (),
                     dnssec: str = "off") -> JSON:
        """https://cloud.google.com/dns/docs/reference/rest/v1/managedZones#ManagedZone"""
        zone: JSON = {"kind": "dns#managedZone", "name": name, "dnsName": dns_name, "description": "",
                      "id": self._digits(19), "nameServers": list(CLOUD_DNS_NAME_SERVERS),
                      "creationTime": rfc3339(now() - datetime.timedelta(days=400)), "visibility": visibility,
                      "labels": dict(labels or {}), "dnssecConfig": {"kind": "dns#managedZoneDnsSecConfig",
                                                                     "state": dnssec}}
        if visibility == "private":
            zone["privateVisibilityConfig"] = {"kind": "dns#managedZonePrivateVisibilityConfig", "networks": [
                {"kind": "dns#managedZonePrivateVisibilityConfigNetwork", "networkUrl": n} for n in networks]}
        self.zones.setdefault(project_id, []).append(zone)
        self.rrsets[(project_id, name)] = []
        return zone

    def record_set(self, project_id: str, zone: str, name: str, rtype: str, *, ttl: int = 300,
                   rrdatas: Sequence[str] | None = None, routing_policy: Mapping[str, Any] | None = None) -> JSON:
        """A record set; give `rrdatas` or a `routing_policy` (see `primary_backup`, `geo`, `wrr`).
        https://cloud.google.com/dns/docs/reference/rest/v1/resourceRecordSets#ResourceRecordSet"""
        rrset: JSON = {"kind": "dns#resourceRecordSet", "name": name, "type": rtype, "ttl": ttl}
        if rrdatas is not None:
            rrset["rrdatas"] = list(rrdatas)
        if routing_policy is not None:
            rrset["routingPolicy"] = {"kind": "dns#rRSetRoutingPolicy", **routing_policy}
        self.rrsets[(project_id, zone)].append(rrset)
        return rrset

    @staticmethod
    def internal_load_balancer(ip: str, *, project: str, region: str, network: str, port: str = "443",
                               lb_type: str = "regionalL7ilb") -> JSON:
        """A health-checked target (RRSetRoutingPolicyLoadBalancerTarget)."""
        return {"kind": "dns#rRSetRoutingPolicyLoadBalancerTarget", "loadBalancerType": lb_type, "ipAddress": ip,
                "port": port, "ipProtocol": "tcp", "networkUrl": network, "project": project, "region": region}

    @staticmethod
    def geo(items: Mapping[str, Sequence[str]], *, enable_fencing: bool = False) -> JSON:
        """A GeoPolicy: location -> rrdatas (RRSetRoutingPolicyGeoPolicy)."""
        return {"kind": "dns#rRSetRoutingPolicyGeoPolicy", "enableFencing": enable_fencing, "items": [
            {"kind": "dns#rRSetRoutingPolicyGeoPolicyGeoPolicyItem", "location": loc, "rrdatas": list(datas)}
            for loc, datas in items.items()]}

    @staticmethod
    def wrr(items: Sequence[tuple[float, Sequence[str]]]) -> JSON:
        """A routingPolicy.wrr: [(weight, rrdatas)] (RRSetRoutingPolicyWrrPolicy)."""
        return {"wrr": {"kind": "dns#rRSetRoutingPolicyWrrPolicy", "items": [
            {"kind": "dns#rRSetRoutingPolicyWrrPolicyWrrPolicyItem", "weight": w, "rrdatas": list(datas)}
            for w, datas in items]}}

    @classmethod
    def primary_backup(cls, primary: Sequence[JSON], backup: Mapping[str, Sequence[str]], *,
                       trickle: float = 0.0, external_endpoints: Sequence[str] = ()) -> JSON:
        """A routingPolicy.primaryBackup: primary internal load balancers (and external endpoints), backup a geo
        policy (RRSetRoutingPolicyPrimaryBackupPolicy)."""
        targets: JSON = {"kind": "dns#rRSetRoutingPolicyHealthCheckTargets", "internalLoadBalancers": list(primary)}
        if external_endpoints:
            targets["externalEndpoints"] = list(external_endpoints)
        return {"primaryBackup": {"kind": "dns#rRSetRoutingPolicyPrimaryBackupPolicy", "primaryTargets": targets,
                                  "backupGeoTargets": cls.geo(backup), "trickleTraffic": trickle}}

    @classmethod
    def geo_policy(cls, items: Mapping[str, Sequence[str]]) -> JSON:
        return {"geo": cls.geo(items)}

    # --- Secret Manager and Certificate Manager -----------------------------------------------------------------

    def secret(self, project_id: str, secret_id: str, *, labels: Mapping[str, str] | None = None,
               replication: Mapping[str, Any] | None = None, expire_in_days: float | None = None,
               rotation_days: float | None = None) -> JSON:
        """A secret and one version whose payload is a canary (only versions/N:access returns it).
        https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets#Secret"""
        number = self.projects[project_id]["name"].split("/")[1]
        s: JSON = {"name": f"projects/{number}/secrets/{secret_id}", "replication": dict(replication or
                                                                                        {"automatic": {}}),
                   "createTime": rfc3339(now() - datetime.timedelta(days=200)), "labels": dict(labels or {}),
                   "etag": f'"{self._hex(14)}"'}
        if expire_in_days is not None:
            s["expireTime"] = rfc3339(now() + datetime.timedelta(days=expire_in_days))
        if rotation_days is not None:
            s["rotation"] = {"nextRotationTime": rfc3339(now() + datetime.timedelta(days=rotation_days)),
                             "rotationPeriod": f"{int(rotation_days * 86400)}s"}
        self.secrets.setdefault(project_id, []).append(s)
        self.secret_values[s["name"]] = self.canary("secret")
        return s

    def certificate(self, project_id: str, name: str, domains: Sequence[str], *, location: str = "global",
                    expires_in_days: float = 60, managed: bool = True,
                    labels: Mapping[str, str] | None = None) -> JSON:
        """https://cloud.google.com/certificate-manager/docs/reference/certificate-manager/rest/v1/projects.locations.certificates"""
        c: JSON = {"name": f"projects/{project_id}/locations/{location}/certificates/{name}",
                   "createTime": rfc3339(now() - datetime.timedelta(days=30)),
                   "updateTime": rfc3339(now() - datetime.timedelta(days=30)), "labels": dict(labels or {}),
                   "sanDnsnames": list(domains),
                   "expireTime": rfc3339(now() + datetime.timedelta(days=expires_in_days)),
                   "scope": "DEFAULT"}
        if managed:
            c["managed"] = {"domains": list(domains), "state": "ACTIVE", "dnsAuthorizations": []}
        else:
            c["selfManaged"] = {}
        self.certificates.setdefault(project_id, []).append(c)
        return c

    def certificate_map(self, project_id: str, name: str, *, location: str = "global") -> JSON:
        """https://cloud.google.com/certificate-manager/docs/reference/certificate-manager/rest/v1/projects.locations.certificateMaps"""
        m: JSON = {"name": f"projects/{project_id}/locations/{location}/certificateMaps/{name}",
                   "createTime": rfc3339(now()), "updateTime": rfc3339(now()), "labels": {}}
        self.certificate_maps.setdefault(project_id, []).append(m)
        return m

    def dns_authorization(self, project_id: str, name: str, domain: str, zone_dns_name: str, *,
                          location: str = "global") -> JSON:
        """https://cloud.google.com/certificate-manager/docs/reference/certificate-manager/rest/v1/projects.locations.dnsAuthorizations"""
        a: JSON = {"name": f"projects/{project_id}/locations/{location}/dnsAuthorizations/{name}",
                   "createTime": rfc3339(now()), "updateTime": rfc3339(now()), "labels": {}, "domain": domain,
                   "dnsResourceRecord": {"name": f"_acme-challenge.{zone_dns_name}", "type": "CNAME",
                                         "data": f"{self._hex(12)}.1.authorize.certificatemanager.goog."},
                   "type": "FIXED_RECORD"}
        self.dns_authorizations.setdefault(project_id, []).append(a)
        return a
