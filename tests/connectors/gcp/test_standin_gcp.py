"""The local GCP stand-ins (commonmode_sandbox.gcp) answer the real clients as Google does: google-cloud-iam's
gRPC IAMClient and PoliciesClient over TLS with a self-signed JWT from the scanner's key, google-auth's
AuthorizedSession (its token from the key file's token_uri) for Resource Manager, Cloud DNS, Secret Manager,
Certificate Manager and IAM's workload identity REST, and impersonated credentials through iamcredentials.
Seeded data comes back, pages are followed, conditions only at policy version 3, a disabled API is 403
SERVICE_DISABLED, and every write is refused and recorded."""

from __future__ import annotations

import base64
import datetime
import functools
from dataclasses import dataclass
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.auth import impersonated_credentials
from google.cloud import iam_admin_v1
from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport
from google.iam.v1 import iam_policy_pb2  # type: ignore[import-untyped]
from google.oauth2 import service_account

from commonmode_sandbox.gcp import GcpEstate
from commonmode_sandbox.gcp_estate import CLOUD_PLATFORM
from commonmode_sandbox.servers import GcpServers

from .conftest import GcpClients, channel_credentials, iam_client, policies_client, refresh_request, rest_session

KeyType = iam_admin_v1.ListServiceAccountKeysRequest.KeyType
CONDITION = {"title": "prod only", "expression": 'resource.name.startsWith("projects/prod")'}


@dataclass
class Seeded:
    org: str
    platform: dict[str, Any]
    dns_folder: dict[str, Any]
    prod: dict[str, Any]
    dev: dict[str, Any]
    sa: dict[str, str]
    old_key: dict[str, Any]
    zone: dict[str, Any]
    failover: dict[str, Any]
    secret: dict[str, Any]
    pool: dict[str, Any]


def seed(e: GcpEstate) -> Seeded:
    """org > platform > dns (prod), org > dev (DNS API disabled); three SAs in prod, bindings at every level."""
    org = e.organization["name"]
    platform = e.folder("platform")
    dns_folder = e.folder("dns", parent=platform["name"])
    prod = e.project("prod", parent=dns_folder["name"], labels={"owner": "netops"})
    dev = e.project("dev", disabled_services=["dns.googleapis.com", "iam.googleapis.com"])
    e.project("sandbox", parent=platform["name"])
    sa = {n: e.service_account("prod", n, description=f"{n} (owner: netops)")["email"]
          for n in ("dns-sync", "deployer", "ci")}
    e.service_account("prod", "retired", disabled=True)
    old_key = e.service_account_key(sa["dns-sync"], age_days=400)
    e.service_account_key(sa["dns-sync"], age_days=3, expires_in_days=87)
    e.service_account_key(sa["dns-sync"], age_days=900, key_type="SYSTEM_MANAGED")
    e.bind(org, "roles/viewer", [f"serviceAccount:{e.scanner.email}"])
    e.bind(platform["name"], "roles/dns.admin", [f"serviceAccount:{sa['deployer']}"])
    e.bind("projects/prod", "roles/editor", ["group:ops@example.com", "deleted:user:bob@example.com?uid=1"])
    e.bind("projects/prod", "roles/iam.serviceAccountUser", [f"serviceAccount:{sa['ci']}"], condition=CONDITION)
    e.bind(f"projects/prod/serviceAccounts/{sa['dns-sync']}", "roles/iam.serviceAccountTokenCreator",
           [f"serviceAccount:{e.scanner.email}", f"serviceAccount:{sa['ci']}"])
    e.bind(f"projects/prod/serviceAccounts/{sa['dns-sync']}", "roles/iam.serviceAccountUser",
           [f"serviceAccount:{sa['ci']}"], condition=CONDITION)
    e.custom_role("projects/prod", "dnsRecordWriter", ["dns.changes.create", "dns.resourceRecordSets.update"])
    e.custom_role("projects/prod", "oldRole", ["dns.managedZones.list"], deleted=True)
    e.custom_role(org, "orgAuditor", ["resourcemanager.projects.get"])
    e.deny_policy("projects/prod", "no-dns-delete", [{
        "deniedPrincipals": ["principalSet://goog/public:all"],
        "exceptionPrincipals": [f"principal://iam.googleapis.com/projects/-/serviceAccounts/{sa['deployer']}"],
        "deniedPermissions": ["dns.googleapis.com/managedZones.delete"]}])
    e.deny_policy("projects/prod", "no-keys", [{"deniedPrincipals": ["principalSet://goog/public:all"],
                                               "deniedPermissions": ["iam.googleapis.com/serviceAccountKeys.create"]}])
    e.deny_policy(org, "org-guard", [{"deniedPrincipals": ["principalSet://goog/public:all"],
                                      "deniedPermissions": ["iam.googleapis.com/roles.delete"]}])
    zone = e.managed_zone("prod", "example-com", "example.com.", labels={"owner": "netops"})
    e.managed_zone("prod", "internal", "corp.internal.", visibility="private",
                   networks=["https://www.googleapis.com/compute/v1/projects/prod/global/networks/default"])
    e.managed_zone("prod", "legacy", "legacy.example.")
    e.record_set("prod", "example-com", "example.com.", "SOA", ttl=21600,
                 rrdatas=["ns-cloud-a1.googledomains.com. cloud-dns-hostmaster.google.com. 1 21600 3600 259200 300"])
    lb = e.internal_load_balancer("10.0.0.5", project="prod", region="us-east1",
                                  network="https://www.googleapis.com/compute/v1/projects/prod/global/networks/default")
    failover = e.record_set("prod", "example-com", "api.example.com.", "A", ttl=30,
                            routing_policy=e.primary_backup([lb], {"us-west1": ["192.0.2.10"]}, trickle=0.1))
    e.record_set("prod", "example-com", "www.example.com.", "A", routing_policy=e.wrr([(0.8, ["192.0.2.1"]),
                                                                                     (0.2, ["192.0.2.2"])]))
    e.record_set("prod", "example-com", "eu.example.com.", "A",
                 routing_policy=e.geo_policy({"europe-west1": ["192.0.2.3"]}))
    e.bind("projects/prod/managedZones/example-com", "roles/dns.admin", [f"serviceAccount:{sa['ci']}"])
    secret = e.secret("prod", "dns-api-token", labels={"team": "netops"}, expire_in_days=30, rotation_days=90,
                      replication={"userManaged": {"replicas": [{"location": "us-east1"}]}})
    e.secret("prod", "db-password")
    e.secret("prod", "tls-key")
    e.bind("projects/prod/secrets/dns-api-token", "roles/secretmanager.secretAccessor",
           [f"serviceAccount:{sa['dns-sync']}"])
    e.certificate("prod", "api-cert", ["api.example.com"])
    e.certificate("prod", "eu-cert", ["eu.example.com"], location="europe-west1", managed=False)
    e.certificate_map("prod", "main")
    e.dns_authorization("prod", "api-auth", "api.example.com", "example.com.")
    pool = e.workload_identity_pool("prod", "github")
    e.workload_identity_provider(pool, "any-repo", issuer="https://token.actions.githubusercontent.com",
                                 attribute_mapping={"google.subject": "assertion.sub",
                                                    "attribute.repository": "assertion.repository"})
    e.workload_identity_provider(pool, "corp-dns", issuer="https://token.actions.githubusercontent.com",
                                 attribute_condition="assertion.repository == 'corp/dns'")
    return Seeded(org=org, platform=platform, dns_folder=dns_folder, prod=prod, dev=dev, sa=sa, old_key=old_key,
                  zone=zone, failover=failover, secret=secret, pool=pool)


def pages_of(servers: GcpServers, request: str) -> int:
    """How many times `request` ("METHOD path" as the stand-ins log it) was made."""
    return servers.requests.count(request)


# --- gRPC: IAM admin v1 ---------------------------------------------------------------------------------------

def test_iam_client_reads_service_accounts_keys_and_roles_over_tls(gcp: GcpClients) -> None:
    s = seed(gcp.estate)
    iam = iam_client(gcp.servers, gcp.credentials)
    accounts = {a.email: a for a in iam.list_service_accounts(name="projects/prod")}
    assert set(accounts) == {*s.sa.values(), "retired@prod.iam.gserviceaccount.com"}
    assert accounts["retired@prod.iam.gserviceaccount.com"].disabled
    assert accounts[s.sa["ci"]].description == "ci (owner: netops)"
    assert pages_of(gcp.servers, "RPC /google.iam.admin.v1.IAM/ListServiceAccounts projects/prod") == 2  # 4 of 2
    one = iam.get_service_account(name=f"projects/-/serviceAccounts/{s.sa['ci']}")
    assert one.unique_id == accounts[s.sa["ci"]].unique_id and len(one.unique_id) == 21

    keys = iam.list_service_account_keys(name=f"projects/prod/serviceAccounts/{s.sa['dns-sync']}",
                                         key_types=[KeyType.USER_MANAGED]).keys
    assert len(keys) == 2 and not any(k.private_key_data for k in keys)
    oldest = min(keys, key=lambda k: k.valid_after_time)
    assert oldest.name == s.old_key["name"]
    assert (datetime.datetime.now(datetime.UTC) - oldest.valid_after_time).days in (399, 400)
    assert oldest.valid_before_time.year == 9999
    assert len(iam.list_service_account_keys(name=f"projects/prod/serviceAccounts/{s.sa['dns-sync']}").keys) == 3

    predefined = {r.name: r for r in iam.list_roles(request={"view": iam_admin_v1.RoleView.FULL})}
    assert len(predefined) == 24
    assert "dns.resourceRecordSets.update" in predefined["roles/dns.admin"].included_permissions
    assert "secretmanager.versions.access" not in predefined["roles/editor"].included_permissions
    basic = list(iam.list_roles(request={"view": iam_admin_v1.RoleView.BASIC}))
    assert basic and not any(r.included_permissions for r in basic)
    custom = [r.name for r in iam.list_roles(request={"parent": "projects/prod", "view": iam_admin_v1.RoleView.FULL})]
    assert custom == ["projects/prod/roles/dnsRecordWriter"]
    with_deleted = iam.list_roles(request={"parent": "projects/prod", "show_deleted": True})
    assert len(list(with_deleted)) == 2
    org_role = iam.get_role(request={"name": f"{s.org}/roles/orgAuditor"})
    assert list(org_role.included_permissions) == ["resourcemanager.projects.get"]
    assert "iam.serviceAccounts.getAccessToken" in iam.get_role(
        request={"name": "roles/iam.serviceAccountTokenCreator"}).included_permissions
    with pytest.raises(api_exceptions.NotFound):
        iam.get_role(request={"name": "roles/no.such"})
    assert gcp.servers.refused == []


def test_a_client_built_transport_sends_a_self_signed_jwt_and_no_token_request(gcp: GcpClients) -> None:
    """The client builds the transport (client_options.api_endpoint; the transport class with the CA bound): it
    turns on self-signed JWTs itself, so the token endpoint is never called."""
    seed(gcp.estate)
    assert gcp.servers.api_endpoints["iam"] == gcp.servers.iam_target
    assert gcp.servers.api_endpoints["dns"] == gcp.servers.rest_url.removesuffix("/")
    iam = iam_admin_v1.IAMClient(credentials=gcp.credentials, client_options={"api_endpoint": gcp.servers.iam_target},
                                 transport=functools.partial(IAMGrpcTransport,
                                                             ssl_channel_credentials=channel_credentials(gcp.servers)))
    assert len(list(iam.list_service_accounts(name="projects/prod"))) == 4
    assert gcp.servers.rest.requests == [] and gcp.estate.tokens == {}


def test_service_account_policy_has_conditions_only_at_version_3(gcp: GcpClients) -> None:
    s = seed(gcp.estate)
    iam = iam_client(gcp.servers, gcp.credentials)
    resource = f"projects/prod/serviceAccounts/{s.sa['dns-sync']}"
    v3 = iam.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(
        resource=resource, options={"requested_policy_version": 3}))
    assert v3.version == 3
    conditional = [b for b in v3.bindings if b.condition.expression]
    assert [(b.role, b.condition.title) for b in conditional] == [("roles/iam.serviceAccountUser", "prod only")]
    v1 = iam.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(resource=resource))
    assert v1.version == 1 and not any(b.condition.expression for b in v1.bindings)
    assert any(b.role.startswith("roles/iam.serviceAccountUser_withcond_") for b in v1.bindings)
    token_creators = next(b for b in v1.bindings if b.role == "roles/iam.serviceAccountTokenCreator")
    assert f"serviceAccount:{s.sa['ci']}" in token_creators.members


def test_deny_policies_list_without_rules_and_get_with_them(gcp: GcpClients) -> None:
    s = seed(gcp.estate)
    policies = policies_client(gcp.servers, gcp.credentials)
    parent = "policies/cloudresourcemanager.googleapis.com%2Fprojects%2Fprod/denypolicies"
    listed = list(policies.list_policies(parent=parent))
    assert [p.name.rsplit("/", 1)[1] for p in listed] == ["no-dns-delete", "no-keys"]
    assert all(not p.rules for p in listed)
    full = policies.get_policy(name=listed[0].name)
    rule = full.rules[0].deny_rule
    assert list(rule.denied_permissions) == ["dns.googleapis.com/managedZones.delete"]
    assert list(rule.exception_principals) == [
        f"principal://iam.googleapis.com/projects/-/serviceAccounts/{s.sa['deployer']}"]
    by_number = parent.replace("prod", s.prod["name"].split("/")[1])  # the attachment point by project number
    assert len(list(policies.list_policies(parent=by_number))) == 2
    org_parent = f"policies/cloudresourcemanager.googleapis.com%2F{s.org.replace('/', '%2F')}/denypolicies"
    assert [p.display_name for p in policies.list_policies(parent=org_parent)] == ["org-guard"]


def test_grpc_refuses_a_jwt_not_signed_by_the_key_and_every_write(gcp: GcpClients) -> None:
    seed(gcp.estate)
    info = gcp.estate.scanner.key_file_info(gcp.servers.rest.token_uri) | {"private_key": _other_key()}
    forged = service_account.Credentials.from_service_account_info(info, scopes=[CLOUD_PLATFORM])
    with pytest.raises(api_exceptions.Unauthenticated):
        iam_client(gcp.servers, forged).list_service_accounts(name="projects/prod", retry=None, timeout=10)

    iam = iam_client(gcp.servers, gcp.credentials)
    with pytest.raises(api_exceptions.PermissionDenied):
        iam.create_service_account_key(name="projects/prod/serviceAccounts/ci@prod.iam.gserviceaccount.com")
    with pytest.raises(api_exceptions.PermissionDenied):
        iam.delete_role(request={"name": "projects/prod/roles/dnsRecordWriter"})
    assert gcp.servers.refused == ["RPC /google.iam.admin.v1.IAM/CreateServiceAccountKey",
                                   "RPC /google.iam.admin.v1.IAM/DeleteRole"]
    assert "projects/prod/roles/dnsRecordWriter" in gcp.estate.custom_roles


def test_grpc_needs_the_ca_and_a_disabled_iam_api_is_service_disabled(gcp: GcpClients) -> None:
    seed(gcp.estate)
    untrusting = iam_client(gcp.servers, gcp.credentials, ssl=grpc.ssl_channel_credentials())
    with pytest.raises(api_exceptions.ServiceUnavailable):
        untrusting.list_service_accounts(name="projects/prod", retry=None, timeout=10)
    iam = iam_client(gcp.servers, gcp.credentials)
    with pytest.raises(api_exceptions.PermissionDenied) as info:
        iam.list_service_accounts(name="projects/dev", retry=None, timeout=10)
    assert info.value.reason == "SERVICE_DISABLED"
    assert info.value.metadata["service"] == "iam.googleapis.com"
    gcp.estate.fail(r"\.IAM/ListRoles$", 503, method="RPC", times=1)
    with pytest.raises(api_exceptions.ServiceUnavailable):
        iam.list_roles(request={}, retry=None, timeout=10)
    assert len(list(iam.list_roles(request={}))) == 24


# --- REST: token endpoint, Resource Manager -------------------------------------------------------------------

def test_token_endpoint_verifies_the_key_and_apis_need_a_token(gcp: GcpClients) -> None:
    s = seed(gcp.estate)
    gcp.credentials.refresh(refresh_request(gcp.servers.ca_file))
    assert gcp.credentials.token in gcp.estate.tokens
    assert gcp.estate.tokens[gcp.credentials.token].email == gcp.estate.scanner.email
    forged = service_account.Credentials.from_service_account_info(
        {**gcp.estate.scanner.key_file_info(gcp.servers.rest.token_uri), "private_key": _other_key()},
        scopes=[CLOUD_PLATFORM])
    with pytest.raises(auth_exceptions.RefreshError, match="invalid_grant"):
        forged.refresh(refresh_request(gcp.servers.ca_file))
    anonymous = requests.get(f"{gcp.servers.rest_url}/v3/projects/{s.prod['projectId']}",
                             verify=gcp.servers.ca_file, timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["status"] == "UNAUTHENTICATED"


def _other_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def test_resource_manager_hierarchy_and_policies(gcp: GcpClients) -> None:
    s = seed(gcp.estate)
    orgs = gcp.get("/v3/organizations:search").json()
    assert [o["name"] for o in orgs["organizations"]] == [s.org]
    assert gcp.get(f"/v3/{s.org}").json()["displayName"] == "example.com"
    assert [f["displayName"] for f in gcp.get("/v3/folders", parent=s.org).json()["folders"]] == ["platform"]
    assert gcp.get("/v3/folders", parent=s.dns_folder["name"]).json() == {}  # an empty list is {}
    assert gcp.get(f"/v3/{s.dns_folder['name']}").json()["parent"] == s.platform["name"]
    first = gcp.get("/v3/projects:search", pageSize=2).json()
    second = gcp.get("/v3/projects:search", pageSize=2, pageToken=first["nextPageToken"]).json()
    assert [p["projectId"] for p in first["projects"] + second["projects"]] == ["prod", "dev", "sandbox"]
    assert "nextPageToken" not in second
    under_platform = gcp.get("/v3/projects:search", query=f"parent:{s.platform['name']}").json()["projects"]
    assert [p["projectId"] for p in under_platform] == ["sandbox"]
    by_number = gcp.get(f"/v3/{s.prod['name']}").json()
    assert by_number["projectId"] == "prod" and by_number["labels"] == {"owner": "netops"}

    v3 = gcp.post("/v3/projects/prod:getIamPolicy", {"options": {"requestedPolicyVersion": 3}}).json()
    assert v3["version"] == 3
    assert {b["role"]: b.get("condition") for b in v3["bindings"]} == {"roles/editor": None,
                                                                      "roles/iam.serviceAccountUser": CONDITION}
    v1 = gcp.post("/v3/projects/prod:getIamPolicy").json()
    assert v1["version"] == 1 and not any("condition" in b for b in v1["bindings"])
    assert any("_withcond_" in b["role"] for b in v1["bindings"])
    folder = gcp.post(f"/v3/{s.platform['name']}:getIamPolicy", {"options": {"requestedPolicyVersion": 3}}).json()
    assert folder["bindings"] == [{"role": "roles/dns.admin", "members": [f"serviceAccount:{s.sa['deployer']}"]}]
    assert gcp.post(f"/v3/{s.org}:getIamPolicy").json()["bindings"][0]["role"] == "roles/viewer"
    assert gcp.post("/v3/projects/sandbox:getIamPolicy").json() == {"version": 1, "etag": "ACAB"}
    assert gcp.servers.refused == []


def test_every_rest_write_is_refused_and_recorded(gcp: GcpClients) -> None:
    s = seed(gcp.estate)
    attempts = [gcp.session.post(gcp.servers.rest_url + "/v3/projects/prod:setIamPolicy", json={}, timeout=30),
                gcp.session.patch(gcp.servers.rest_url + "/v3/projects/prod", json={}, timeout=30),
                gcp.session.delete(gcp.servers.rest_url + "/dns/v1/projects/prod/managedZones/example-com",
                                   timeout=30),
                gcp.session.post(gcp.servers.rest_url + "/dns/v1/projects/prod/managedZones/example-com/changes",
                                 json={"additions": []}, timeout=30)]
    assert [a.status_code for a in attempts] == [405] * 4
    assert attempts[0].json()["error"]["status"] == "METHOD_NOT_ALLOWED"
    assert gcp.servers.refused == ["POST v3/projects/prod:setIamPolicy", "PATCH v3/projects/prod",
                                   "DELETE dns/v1/projects/prod/managedZones/example-com",
                                   "POST dns/v1/projects/prod/managedZones/example-com/changes"]
    assert gcp.estate.projects["prod"] is s.prod and len(gcp.estate.zones["prod"]) == 3


# --- REST: Cloud DNS ------------------------------------------------------------------------------------------

def test_cloud_dns_zones_record_sets_and_routing_policies(gcp: GcpClients) -> None:
    s = seed(gcp.estate)
    first = gcp.get("/dns/v1/projects/prod/managedZones").json()
    assert first["kind"] == "dns#managedZonesListResponse" and len(first["managedZones"]) == 2
    rest = gcp.get("/dns/v1/projects/prod/managedZones", pageToken=first["nextPageToken"]).json()
    zones = {z["name"]: z for z in first["managedZones"] + rest["managedZones"]}
    assert zones["internal"]["visibility"] == "private"
    assert zones["example-com"]["nameServers"][0].endswith(".googledomains.com.")
    assert datetime.datetime.strptime(zones["example-com"]["creationTime"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert gcp.get(f"/dns/v1/projects/{s.prod['name'].split('/')[1]}/managedZones/example-com").json()["id"] == \
        s.zone["id"]
    rrsets, token = [], None
    while True:
        page = gcp.get("/dns/v1/projects/prod/managedZones/example-com/rrsets", maxResults=3,
                       **({"pageToken": token} if token else {})).json()
        rrsets += page["rrsets"]
        token = page.get("nextPageToken")
        if not token:
            break
    assert len(rrsets) == 4
    api = next(r for r in rrsets if r["name"] == "api.example.com.")
    assert "rrdatas" not in api  # a routing policy record set has no rrdatas, as in Google's API
    pb = api["routingPolicy"]["primaryBackup"]
    assert pb["primaryTargets"]["internalLoadBalancers"][0]["ipAddress"] == "10.0.0.5"
    assert pb["backupGeoTargets"]["items"] == [{"kind": "dns#rRSetRoutingPolicyGeoPolicyGeoPolicyItem",
                                                "location": "us-west1", "rrdatas": ["192.0.2.10"]}]
    assert pb["trickleTraffic"] == 0.1
    assert api == s.failover
    www = gcp.get("/dns/v1/projects/prod/managedZones/example-com/rrsets", name="www.example.com.",
                  type="A").json()["rrsets"]
    assert [i["weight"] for i in www[0]["routingPolicy"]["wrr"]["items"]] == [0.8, 0.2]
    policy = gcp.post("/dns/v1/projects/prod/managedZones/example-com:getIamPolicy",
                      {"options": {"requestedPolicyVersion": 3}}).json()
    assert policy["bindings"] == [{"role": "roles/dns.admin", "members": [f"serviceAccount:{s.sa['ci']}"]}]
    missing = gcp.get("/dns/v1/projects/prod/managedZones/nope/rrsets")
    assert missing.status_code == 404 and missing.json()["error"]["errors"][0]["reason"] == "notFound"
    assert gcp.servers.refused == []


def test_a_disabled_dns_api_answers_403_service_disabled(gcp: GcpClients) -> None:
    s = seed(gcp.estate)
    answer = gcp.get("/dns/v1/projects/dev/managedZones")
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["status"] == "PERMISSION_DENIED" and "Cloud DNS API has not been used" in error["message"]
    info = error["details"][0]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" and info["reason"] == "SERVICE_DISABLED"
    assert info["metadata"] == {"service": "dns.googleapis.com", "consumer": s.dev["name"]}
    assert gcp.get("/dns/v1/projects/prod/managedZones").status_code == 200


# --- REST: Secret Manager, Certificate Manager, workload identity ------------------------------------------------

def test_secret_manager_serves_metadata_and_records_a_payload_access(gcp: GcpClients) -> None:
    s = seed(gcp.estate)
    payload = gcp.estate.secret_values[s.secret["name"]]
    first = gcp.get("/v1/projects/prod/secrets").json()
    second = gcp.get("/v1/projects/prod/secrets", pageToken=first["nextPageToken"]).json()
    listed = first["secrets"] + second["secrets"]
    assert [x["name"].rsplit("/", 1)[1] for x in listed] == ["dns-api-token", "db-password", "tls-key"]
    assert first["totalSize"] == 3
    one = gcp.get("/v1/projects/prod/secrets/dns-api-token").json()
    assert one["labels"] == {"team": "netops"} and one["rotation"]["rotationPeriod"] == "7776000s"
    assert one["replication"] == {"userManaged": {"replicas": [{"location": "us-east1"}]}} and "expireTime" in one
    policy = gcp.get("/v1/projects/prod/secrets/dns-api-token:getIamPolicy",
                     **{"options.requestedPolicyVersion": 3}).json()
    assert policy["bindings"][0]["role"] == "roles/secretmanager.secretAccessor"
    versions = gcp.get("/v1/projects/prod/secrets/dns-api-token/versions").json()
    assert versions["versions"][0]["state"] == "ENABLED"
    assert gcp.get("/v1/projects/sandbox/secrets").json() == {}
    served = [r.text for r in (gcp.get("/v1/projects/prod/secrets"),
                               gcp.get("/v1/projects/prod/secrets/dns-api-token"))]
    assert gcp.servers.refused == [] and not any(payload in text for text in served)
    accessed = gcp.get("/v1/projects/prod/secrets/dns-api-token/versions/latest:access").json()
    assert base64.b64decode(accessed["payload"]["data"]).decode() == payload
    assert gcp.servers.refused == ["GET v1/projects/prod/secrets/dns-api-token/versions/latest:access"]
    assert payload in gcp.estate.canaries()


def test_certificate_manager_and_workload_identity(gcp: GcpClients) -> None:
    seed(gcp.estate)
    everywhere = gcp.get("/v1/projects/prod/locations/-/certificates").json()["certificates"]
    assert [c["sanDnsnames"] for c in everywhere] == [["api.example.com"], ["eu.example.com"]]
    global_only = gcp.get("/v1/projects/prod/locations/global/certificates").json()["certificates"]
    assert [c["managed"]["state"] for c in global_only] == ["ACTIVE"]
    assert gcp.get("/v1/projects/prod/locations/global/certificateMaps").json()["certificateMaps"][0][
        "name"].endswith("/certificateMaps/main")
    auth = gcp.get("/v1/projects/prod/locations/global/dnsAuthorizations").json()["dnsAuthorizations"][0]
    assert auth["dnsResourceRecord"]["name"] == "_acme-challenge.example.com."
    assert gcp.get("/v1/projects/dev/locations/global/certificates").json() == {}
    pools = gcp.get("/v1/projects/prod/locations/global/workloadIdentityPools").json()["workloadIdentityPools"]
    pool_id = pools[0]["name"].rsplit("/", 1)[1]
    providers = gcp.get(f"/v1/projects/prod/locations/global/workloadIdentityPools/{pool_id}/providers").json()
    by_id = {p["name"].rsplit("/", 1)[1]: p for p in providers["workloadIdentityPoolProviders"]}
    assert "attributeCondition" not in by_id["any-repo"]
    assert by_id["corp-dns"]["attributeCondition"] == "assertion.repository == 'corp/dns'"
    assert by_id["any-repo"]["oidc"]["issuerUri"] == "https://token.actions.githubusercontent.com"
    disabled = gcp.get("/v1/projects/dev/locations/global/workloadIdentityPools")
    assert disabled.json()["error"]["details"][0]["metadata"]["service"] == "iam.googleapis.com"


# --- impersonation and TLS -------------------------------------------------------------------------------------

def test_impersonation_through_iamcredentials(gcp: GcpClients) -> None:
    s = seed(gcp.estate)
    target = s.sa["dns-sync"]
    endpoint = f"{gcp.servers.rest_url}/v1/projects/-/serviceAccounts/{target}:generateAccessToken"
    impersonated = impersonated_credentials.Credentials(source_credentials=gcp.credentials,
                                                        target_principal=target, target_scopes=[CLOUD_PLATFORM],
                                                        iam_endpoint_override=endpoint)
    session = rest_session(gcp.servers, impersonated)
    assert session.get(gcp.servers.rest_url + "/dns/v1/projects/prod/managedZones", timeout=30).status_code == 200
    assert gcp.estate.tokens[impersonated.token].email == target
    assert f"POST v1/projects/-/serviceAccounts/{target}:generateAccessToken" in gcp.servers.requests
    # the token also opens the gRPC API (an access token, not a self-signed JWT)
    iam = iam_client(gcp.servers, impersonated)
    assert len(list(iam.list_service_accounts(name="projects/prod"))) == 4

    deployer = s.sa["deployer"]  # the scanner holds no token creator role on it
    denied = impersonated_credentials.Credentials(
        source_credentials=gcp.credentials, target_principal=deployer, target_scopes=[CLOUD_PLATFORM],
        iam_endpoint_override=f"{gcp.servers.rest_url}/v1/projects/-/serviceAccounts/{deployer}:generateAccessToken")
    with pytest.raises(auth_exceptions.RefreshError, match="getAccessToken"):
        denied.refresh(refresh_request(gcp.servers.ca_file))
    # a delegation chain: the scanner (token creator on dns-sync) through dns-sync, token creator on deployer
    gcp.estate.bind(f"projects/prod/serviceAccounts/{deployer}", "roles/iam.serviceAccountTokenCreator",
                    [f"serviceAccount:{target}"])
    chained = impersonated_credentials.Credentials(
        source_credentials=gcp.credentials, target_principal=deployer, target_scopes=[CLOUD_PLATFORM],
        delegates=[f"projects/-/serviceAccounts/{target}"],
        iam_endpoint_override=f"{gcp.servers.rest_url}/v1/projects/-/serviceAccounts/{deployer}:generateAccessToken")
    chained.refresh(refresh_request(gcp.servers.ca_file))
    assert gcp.estate.tokens[chained.token].email == deployer
    broken = impersonated_credentials.Credentials(  # ci holds nothing on the delegate's chain from the scanner
        source_credentials=gcp.credentials, target_principal=deployer, target_scopes=[CLOUD_PLATFORM],
        delegates=[s.sa["ci"]],
        iam_endpoint_override=f"{gcp.servers.rest_url}/v1/projects/-/serviceAccounts/{deployer}:generateAccessToken")
    with pytest.raises(auth_exceptions.RefreshError, match="implicitDelegation"):
        broken.refresh(refresh_request(gcp.servers.ca_file))
    assert gcp.servers.refused == []


def test_rest_needs_the_test_ca(gcp: GcpClients) -> None:
    seed(gcp.estate)
    untrusting = rest_session(gcp.servers, gcp.credentials, ca_file=None)
    with pytest.raises((requests.exceptions.SSLError, auth_exceptions.TransportError)):
        untrusting.get(gcp.servers.rest_url + "/v3/projects/prod", timeout=30)
    assert gcp.get("/v3/projects/prod").status_code == 200


def test_no_metadata_route_serves_a_canary(gcp: GcpClients) -> None:
    s = seed(gcp.estate)
    pool_id = s.pool["name"].rsplit("/", 1)[1]
    paths = ["/v3/organizations:search", "/v3/projects:search", "/dns/v1/projects/prod/managedZones",
             "/dns/v1/projects/prod/managedZones/example-com/rrsets", "/v1/projects/prod/secrets",
             "/v1/projects/prod/secrets/dns-api-token", "/v1/projects/prod/secrets/dns-api-token/versions",
             "/v1/projects/prod/locations/-/certificates", "/v1/projects/prod/locations/global/dnsAuthorizations",
             f"/v1/projects/prod/locations/global/workloadIdentityPools/{pool_id}/providers"]
    bodies = [gcp.get(p).text for p in paths]
    bodies += [gcp.post("/v3/projects/prod:getIamPolicy", {"options": {"requestedPolicyVersion": 3}}).text]
    iam = iam_client(gcp.servers, gcp.credentials)
    bodies += [str(k) for k in iam.list_service_account_keys(
        name=f"projects/prod/serviceAccounts/{s.sa['dns-sync']}").keys]
    canaries = gcp.estate.canaries()
    assert len(canaries) >= 5 and all(len(c) >= 24 for c in canaries)  # 3 payloads, the key, a token
    assert [c for c in canaries if any(c in body for body in bodies)] == []
    assert gcp.servers.refused == []


def test_iam_serves_grpc_and_rest_on_one_port_as_google_does(gcp: GcpClients) -> None:
    """api_endpoints.iam is one host:port for IAM's gRPC services and its REST API (workload identity pools), as
    iam.googleapis.com:443 is: the front hands HTTP/2 to the gRPC stand-in and HTTP/1.1 to the REST one (ALPN)."""
    s = seed(gcp.estate)
    target = gcp.servers.iam_target
    assert target not in (gcp.servers.grpc_target, gcp.servers.rest_url.removeprefix("https://"))
    iam = iam_admin_v1.IAMClient(transport=IAMGrpcTransport(
        host=target, credentials=gcp.credentials, always_use_jwt_access=True,
        ssl_channel_credentials=channel_credentials(gcp.servers)))
    assert len(list(iam.list_service_accounts(name="projects/prod"))) == 4
    pools = gcp.session.get(f"https://{target}/v1/projects/prod/locations/global/workloadIdentityPools", timeout=30)
    assert pools.status_code == 200, pools.text
    assert [p["name"] for p in pools.json()["workloadIdentityPools"]] == [s.pool["name"]]
    assert gcp.servers.front.connections >= 2
