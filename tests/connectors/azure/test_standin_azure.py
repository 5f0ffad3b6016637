"""The local Azure stand-in (commonmode_sandbox.azure) answers the real SDKs as Azure does: a real
ClientSecretCredential gets tokens from its OpenID discovery and token endpoints, the management clients and an
azure-core PipelineClient for Graph read back exactly what was seeded, following every page, and what Azure
refuses it refuses (a bad secret, a token for the other API, a missing api-version, any write)."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from commonmode_sandbox.azure import EVERYONE, GRAPH_APP_ROLES, MG_PREFIX, AzureEstate

from .conftest import AzureClients, credential_for

T = 30  # seconds: every raw request has a timeout
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@dataclass
class Seeded:
    sub1: str
    sub2: str
    sub3: str
    rg: str
    zone: dict[str, Any]
    uai: dict[str, Any]
    app: dict[str, Any]
    sp: dict[str, Any]
    vault: dict[str, Any]
    vault_ap: dict[str, Any]
    profile: dict[str, Any]
    assignments: dict[str, dict[str, Any]]


def seed(estate: AzureEstate) -> Seeded:
    """Root group > platform > sub1 (rg "net": zone, identity, vault, Traffic Manager, Front Door); root > sub2,
    sub3. A role assignment at each level, a deny assignment, an app with two credentials, owners, groups."""
    platform = estate.management_group("platform", display_name="Platform")
    estate.management_group("platform-dns", parent="platform")
    sub1 = estate.subscription("prod", management_group="platform-dns")["subscriptionId"]
    sub2 = estate.subscription("dev")["subscriptionId"]
    sub3 = estate.subscription("sandbox", management_group="platform")["subscriptionId"]
    rg = estate.resource_group(sub1, "net", tags={"owner": "netops"})
    zone = estate.dns_zone(rg, "example.com", tags={"owner": "netops"})
    uai = estate.user_assigned_identity(rg, "dns-sync", tags={"team": "platform"})
    estate.federated_identity_credential(uai["id"], "github-main", issuer="https://token.actions.githubusercontent.com",
                                         subject="repo:corp/dns:ref:refs/heads/main")
    app = estate.application("dns-automation")
    sp = estate.service_principal_for(app["appId"])
    mi_sp = estate.service_principal_for(uai["properties"]["clientId"])
    assignments = {
        "root": estate.role_assignment("/", sp["id"], "Reader"),
        "tenant-group": estate.role_assignment(MG_PREFIX + estate.tenant_id, sp["id"], "Reader"),
        "platform": estate.role_assignment(platform, mi_sp["id"], "DNS Zone Contributor"),
        "sub1": estate.role_assignment(f"/subscriptions/{sub1}", sp["id"], "Contributor"),
        "rg": estate.role_assignment(rg, mi_sp["id"], "Traffic Manager Contributor"),
        "zone": estate.role_assignment(zone["id"], sp["id"], "DNS Zone Contributor",
                                       condition="@Resource[x] StringEquals 'y'", condition_version="2.0"),
        "sub2": estate.role_assignment(f"/subscriptions/{sub2}", sp["id"], "Owner"),
    }
    vault = estate.key_vault(rg, "kv-rbac")
    estate.vault_secret(vault["id"], "dns-token", expires=NOW + datetime.timedelta(days=20), tags={"owner": "netops"})
    estate.vault_secret(vault["id"], "tls", certificate=True)
    vault_ap = estate.key_vault(rg, "kv-legacy", rbac=False)
    estate.vault_access_policy(vault_ap["id"], sp["id"], secrets=["get", "list"], certificates=["get"])
    profile = estate.traffic_manager_profile(rg, "app-tm")
    estate.traffic_manager_endpoint(profile["id"], "primary", target="primary.example.net", priority=1)
    estate.traffic_manager_endpoint(profile["id"], "backup", kind="azureEndpoints", priority=2,
                                    target_resource_id=f"/subscriptions/{sub1}/resourceGroups/net/providers/"
                                                       "Microsoft.Network/publicIPAddresses/backup-ip")
    return Seeded(sub1=sub1, sub2=sub2, sub3=sub3, rg=rg, zone=zone, uai=uai, app=app, sp=sp, vault=vault,
                  vault_ap=vault_ap, profile=profile, assignments=assignments)


def _token(azure: AzureClients, audience_url: str) -> str:
    return str(azure.credential.get_token(f"{audience_url}/.default").token)


# --- login --------------------------------------------------------------------------------------------------------

def test_a_client_secret_credential_logs_in_and_each_token_is_bound_to_its_scope(azure: AzureClients) -> None:
    url = azure.server.arm_url
    token = azure.credential.get_token(f"{url}/.default")
    assert token.token and token.expires_on > NOW.timestamp() + 3000
    assert azure.estate.tokens[token.token].audience == url  # bound to the audience it was asked for
    assert azure.estate.scopes_requested == [f"{url}/.default"]
    assert token.token in azure.estate.canaries()  # an access token is a secret the product must not log
    assert azure.server.requests[:2] == [f"GET {azure.estate.tenant_id}/v2.0/.well-known/openid-configuration",
                                         f"POST {azure.estate.tenant_id}/oauth2/v2.0/token"]
    assert azure.server.refused == []  # the token endpoint's POST is the one POST that is not a write


def test_a_bad_secret_an_unknown_client_an_expired_secret_and_a_foreign_scope_are_refused(azure: AzureClients) -> None:
    estate, server = azure.estate, azure.server
    url = server.arm_url
    with pytest.raises(ClientAuthenticationError) as bad:
        credential_for(estate, server, secret="not-the-secret").get_token(f"{url}/.default")
    assert "AADSTS7000215" in str(bad.value) and estate.scanner.secret not in str(bad.value)
    with pytest.raises(ClientAuthenticationError) as unknown:
        credential_for(estate, server, client_id=estate.guid()).get_token(f"{url}/.default")
    assert "AADSTS700016" in str(unknown.value)
    old = estate.application("old-app")
    estate.password_credential(old["id"], display_name="old", secret="old-app-secret",
                               end=NOW - datetime.timedelta(days=1))
    with pytest.raises(ClientAuthenticationError) as expired:
        credential_for(estate, server, client_id=old["appId"], secret="old-app-secret").get_token(f"{url}/.default")
    assert "AADSTS7000222" in str(expired.value)
    with pytest.raises(ClientAuthenticationError) as foreign:
        azure.credential.get_token("https://management.azure.com/.default")
    assert "AADSTS500011" in str(foreign.value)
    raw = requests.post(f"{server.authority_url}/{estate.tenant_id}/oauth2/v2.0/token", verify=server.ca_file,
                        data={"grant_type": "client_credentials", "client_id": estate.scanner.client_id,
                              "client_secret": "wrong", "scope": f"{url}/.default"}, timeout=T)
    assert raw.status_code == 401 and raw.json()["error"] == "invalid_client"
    assert raw.json()["error_codes"] == [7000215]


def test_arm_refuses_a_graph_token_and_graph_an_arm_token(azure_split: AzureClients) -> None:
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    azure, server = azure_split, azure_split.server
    assert len({server.authority_url, server.arm_url, server.graph_url}) == 3
    azure.estate.subscription("prod")
    right = azure.arm(SubscriptionClient)
    assert [s.display_name for s in right.subscriptions.list()] == ["prod"]
    wrong = azure.arm(SubscriptionClient, scope=f"{server.graph_url}/.default")  # a token for Graph sent to ARM
    with pytest.raises(ClientAuthenticationError) as arm_error:
        list(wrong.subscriptions.list())
    assert arm_error.value.status_code == 401 and "InvalidAuthenticationTokenAudience" in str(arm_error.value)
    assert azure.graph_get("/v1.0/servicePrincipals").status_code == 200
    refused = azure.graph_get("/v1.0/servicePrincipals", scope=f"{server.arm_url}/.default")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "Invalid audience" in refused.json()["error"]["message"]
    no_token = requests.get(f"{server.arm_url}/subscriptions?api-version=2022-12-01", verify=server.ca_file, timeout=T)
    assert no_token.status_code == 401 and no_token.json()["error"]["code"] == "AuthenticationFailed"


def test_tls_is_trusted_only_through_the_stand_ins_ca(azure: AzureClients, monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.identity import ClientSecretCredential
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    scanner, url = azure.estate.scanner, azure.server.arm_url
    untrusting = ClientSecretCredential(scanner.tenant_id, scanner.client_id, scanner.secret,
                                        authority=azure.server.authority_url, disable_instance_discovery=True,
                                        retry_total=0)
    with pytest.raises(ClientAuthenticationError) as login:
        untrusting.get_token(f"{url}/.default")
    assert "CERTIFICATE_VERIFY_FAILED" in str(login.value)
    client = SubscriptionClient(azure.credential, base_url=url, credential_scopes=[f"{url}/.default"], retry_total=0)
    with pytest.raises(ServiceRequestError) as arm:
        list(client.subscriptions.list())
    assert "CERTIFICATE_VERIFY_FAILED" in str(arm.value)
    assert [s.subscription_id for s in azure.arm(SubscriptionClient).subscriptions.list()] == []  # with the CA: fine


# --- ARM ------------------------------------------------------------------------------------------------------------

def test_every_arm_route_needs_an_api_version(azure: AzureClients) -> None:
    s = seed(azure.estate)
    url, token = azure.server.arm_url, _token(azure, azure.server.arm_url)
    paths = ["/subscriptions", f"/subscriptions/{s.sub1}/providers/Microsoft.Authorization/roleAssignments",
             f"{s.zone['id']}/all", "/subscriptions/nope/providers/Microsoft.Unknown/things"]
    for path in paths:
        answer = requests.get(url + path, headers={"Authorization": f"Bearer {token}"}, verify=azure.server.ca_file,
                              timeout=T)
        assert answer.status_code == 400, path
        assert answer.json()["error"]["code"] == "MissingApiVersionParameter"
    unknown = requests.get(f"{url}/subscriptions/nope/providers/Microsoft.Unknown/things?api-version=1",
                           headers={"Authorization": f"Bearer {token}"}, verify=azure.server.ca_file, timeout=T)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "InvalidResourceType"


def test_subscriptions_and_the_management_group_tree(azure: AzureClients) -> None:
    from azure.mgmt.managementgroups import ManagementGroupsMgmtClient
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    s = seed(azure.estate)
    subs = azure.arm(SubscriptionClient)
    assert sorted(x.display_name for x in subs.subscriptions.list()) == ["dev", "prod", "sandbox"]  # 2 pages
    assert subs.subscriptions.get(s.sub1).tenant_id == azure.estate.tenant_id
    groups = azure.arm(ManagementGroupsMgmtClient)
    assert sorted(g.name for g in groups.management_groups.list()) == sorted(
        [azure.estate.tenant_id, "platform", "platform-dns"])
    root = groups.management_groups.get(azure.estate.tenant_id, expand="children", recurse=True)
    assert root.properties.display_name == "Tenant Root Group" and root.properties.details.parent is None

    def tree(children: Any) -> list[Any]:
        return sorted((c.type, c.name, tree(c.children or [])) for c in children)
    assert tree(root.properties.children) == [
        ("/subscriptions", s.sub2, []),
        ("Microsoft.Management/managementGroups", "platform", [
            ("/subscriptions", s.sub3, []),
            ("Microsoft.Management/managementGroups", "platform-dns", [("/subscriptions", s.sub1, [])])])]
    one_level = groups.management_groups.get("platform", expand="children")
    assert [c.children for c in one_level.properties.children] == [None, None]
    assert one_level.properties.details.parent.name == azure.estate.tenant_id
    calls = azure.server.stand_ins[0].calls
    assert {c.api_version for c in calls if "managementGroups" in c.path} == {"2023-04-01"}  # what the SDK sends
    assert {c.api_version for c in calls if c.path.startswith("/subscriptions")} == {"2022-12-01"}


def test_role_assignments_at_a_scope_are_those_at_above_and_below_it(azure: AzureClients) -> None:
    from azure.mgmt.authorization import AuthorizationManagementClient

    s = seed(azure.estate)
    by_id = {a["id"]: key for key, a in s.assignments.items()}
    auth = azure.arm(AuthorizationManagementClient, s.sub1)

    def keys(listing: Any) -> list[str]:
        return sorted(by_id[a.id] for a in listing)
    platform = MG_PREFIX + "platform"
    assert keys(auth.role_assignments.list_for_scope(platform)) == sorted(
        ["root", "tenant-group", "platform", "sub1", "rg", "zone"])  # not sub2's: another branch
    assert keys(auth.role_assignments.list_for_scope(platform, filter="atScope()")) == sorted(
        ["root", "tenant-group", "platform"])
    assert keys(auth.role_assignments.list_for_subscription()) == sorted(
        ["root", "tenant-group", "platform", "sub1", "rg", "zone"])
    assert keys(auth.role_assignments.list_for_scope(s.zone["id"], filter="atScope()")) == sorted(
        ["root", "tenant-group", "platform", "sub1", "rg", "zone"])
    mi = azure.estate.service_principal_for(s.uai["properties"]["clientId"])["id"]
    azure.estate.page_size = 1
    before = len(azure.server.requests)
    only_mi = auth.role_assignments.list_for_subscription(filter=f"principalId eq '{mi}'")
    assert keys(only_mi) == ["platform", "rg"]  # the filter survives the next link: 2 pages of 1
    assert len(azure.server.requests) - before == 2
    azure.estate.page_size = 2
    zone = next(a for a in auth.role_assignments.list_for_scope(s.zone["id"], filter="atScope()")
                if by_id[a.id] == "zone")
    assert (zone.condition, zone.condition_version, zone.principal_type) == (
        "@Resource[x] StringEquals 'y'", "2.0", "ServicePrincipal")
    assert zone.role_definition_id == (f"/subscriptions/{s.sub1}/providers/Microsoft.Authorization/roleDefinitions/"
                                       + azure.estate.role("DNS Zone Contributor")["name"])
    at_group = next(a for a in auth.role_assignments.list_for_scope(platform, filter="atScope()")
                    if by_id[a.id] == "platform")
    assert at_group.role_definition_id.startswith("/providers/Microsoft.Authorization/roleDefinitions/")
    versions = {c.api_version for c in azure.server.stand_ins[0].calls if "roleAssignments" in c.path}
    assert versions == {"2022-04-01"}  # what azure-mgmt-authorization 4.0.0 sends


def test_role_definitions_built_in_and_custom_by_scope_and_by_id(azure: AzureClients) -> None:
    from azure.mgmt.authorization import AuthorizationManagementClient

    s = seed(azure.estate)
    mine = azure.estate.custom_role("DNS record writer", assignable_scopes=[MG_PREFIX + "platform"],
                                    actions=["Microsoft.Network/dnszones/A/write"])
    theirs = azure.estate.custom_role("Dev only", assignable_scopes=[f"/subscriptions/{s.sub2}"], actions=["*/read"])
    auth = azure.arm(AuthorizationManagementClient, s.sub1)
    listed = list(auth.role_definitions.list(f"/subscriptions/{s.sub1}"))
    names = {d.role_name for d in listed}
    assert "DNS record writer" in names and "Dev only" not in names and "Owner" in names
    assert len(listed) == 23 + 1  # the 23 built-ins served, and the custom role assignable above sub1
    assert all(d.id.startswith(f"/subscriptions/{s.sub1}/providers/Microsoft.Authorization/roleDefinitions/")
               for d in listed)
    reader = auth.role_definitions.get_by_id(f"/providers/Microsoft.Authorization/roleDefinitions/"
                                             f"{azure.estate.role('Reader')['name']}")
    assert reader.role_name == "Reader" and reader.role_type == "BuiltInRole"
    assert reader.permissions[0].actions == ["*/read"]
    custom = auth.role_definitions.get_by_id(f"/subscriptions/{s.sub2}/providers/Microsoft.Authorization/"
                                             f"roleDefinitions/{theirs['name']}")
    assert custom.role_type == "CustomRole" and custom.assignable_scopes == [f"/subscriptions/{s.sub2}"]
    assert [d.role_name for d in auth.role_definitions.list(MG_PREFIX + "platform",
                                                            filter="roleName eq 'DNS record writer'")] == [
        "DNS record writer"]
    assert mine["properties"]["permissions"][0]["actions"] == ["Microsoft.Network/dnszones/A/write"]
    with pytest.raises(HttpResponseError) as missing:
        auth.role_definitions.get_by_id(f"/providers/Microsoft.Authorization/roleDefinitions/{azure.estate.guid()}")
    assert missing.value.status_code == 404


def test_deny_assignments_with_everyone_exclusions_and_child_scopes(azure: AzureClients) -> None:
    from azure.mgmt.authorization import AuthorizationManagementClient

    s = seed(azure.estate)
    azure.estate.deny_assignment(s.rg, name="stack-deny", actions=["*/write"], not_actions=["*/read"],
                                 exclude_principals=[(s.sp["id"], "ServicePrincipal")],
                                 do_not_apply_to_child_scopes=True)
    azure.estate.deny_assignment(f"/subscriptions/{s.sub2}", name="other", actions=["*"])
    auth = azure.arm(AuthorizationManagementClient, s.sub1)
    listed = list(auth.deny_assignments.list())
    assert [d.deny_assignment_name for d in listed] == ["stack-deny"]
    deny = listed[0]
    assert deny.do_not_apply_to_child_scopes is True and deny.scope == s.rg
    assert [(p.id, p.type) for p in deny.principals] == [(EVERYONE, "SystemDefined")]
    assert [(p.id, p.type) for p in deny.exclude_principals] == [(s.sp["id"], "ServicePrincipal")]
    assert deny.permissions[0].actions == ["*/write"] and deny.permissions[0].not_actions == ["*/read"]
    assert [d.deny_assignment_name for d in auth.deny_assignments.list_for_scope(s.zone["id"])] == ["stack-deny"]
    assert list(auth.deny_assignments.list_for_scope(f"/subscriptions/{s.sub1}", filter="atScope()")) == []


def test_identities_dns_traffic_manager_vaults_and_front_door(azure: AzureClients) -> None:
    from azure.mgmt.cdn import CdnManagementClient
    from azure.mgmt.dns import DnsManagementClient
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.msi import ManagedServiceIdentityClient
    from azure.mgmt.privatedns import PrivateDnsManagementClient
    from azure.mgmt.trafficmanager import TrafficManagerManagementClient

    estate = azure.estate
    s = seed(estate)
    estate.record_set(s.zone["id"], "www", "CNAME", ttl=60, records="app-tm.trafficmanager.net")
    estate.record_set(s.zone["id"], "@", "A", ttl=60, target_resource=s.profile["id"])  # an alias record set
    estate.record_set(s.zone["id"], "mail", "MX", records=[(10, "mx.example.net")])
    private = estate.private_zone(s.rg, "corp.internal")
    estate.private_record_set(private["id"], "db", "A", records=["10.0.0.4"])
    fd = estate.front_door(s.rg, "fd")
    group = estate.origin_group(fd["id"], "app")
    estate.origin(group["id"], "primary", host_name="primary.example.net", priority=1)
    estate.origin(group["id"], "backup", host_name="backup.example.net", priority=2)
    estate.origin_group(fd["id"], "empty")

    msi = azure.arm(ManagedServiceIdentityClient, s.sub1)
    [uai] = list(msi.user_assigned_identities.list_by_subscription())
    assert (uai.id, uai.principal_id, uai.client_id, uai.tags) == (
        s.uai["id"], s.uai["properties"]["principalId"], s.uai["properties"]["clientId"], {"team": "platform"})
    assert "/resourcegroups/net/" in uai.id  # ARM's casing for identities
    [fic] = list(msi.federated_identity_credentials.list("net", "dns-sync"))
    assert (fic.issuer, fic.subject, fic.audiences) == ("https://token.actions.githubusercontent.com",
                                                        "repo:corp/dns:ref:refs/heads/main", ["api://AzureADTokenExchange"])

    dns = azure.arm(DnsManagementClient, s.sub1)
    [zone] = list(dns.zones.list())
    assert zone.name_servers[0].endswith("azure-dns.com.") and zone.tags == {"owner": "netops"}
    listed = dns.record_sets.list_all_by_dns_zone("net", "example.com")
    records = {(r.type.rsplit("/", 1)[-1], r.name): r for r in listed}
    assert set(records) == {("SOA", "@"), ("NS", "@"), ("CNAME", "www"), ("A", "@"), ("MX", "mail")}
    assert records[("CNAME", "www")].cname_record.cname == "app-tm.trafficmanager.net"
    assert records[("CNAME", "www")].ttl == 60 and records[("CNAME", "www")].fqdn == "www.example.com."
    assert records[("A", "@")].target_resource.id == s.profile["id"] and records[("A", "@")].a_records is None
    assert records[("NS", "@")].ns_records[0].nsdname == "ns1-01.azure-dns.com."
    assert records[("MX", "mail")].mx_records[0].exchange == "mx.example.net"
    pdns = azure.arm(PrivateDnsManagementClient, s.sub1)
    assert [z.name for z in pdns.private_zones.list()] == ["corp.internal"]
    private_records = {r.name: r for r in pdns.record_sets.list("net", "corp.internal")}
    assert private_records["db"].a_records[0].ipv4_address == "10.0.0.4" and private_records["db"].ttl == 3600

    tm = azure.arm(TrafficManagerManagementClient, s.sub1)
    [profile] = list(tm.profiles.list_by_subscription())
    assert (profile.traffic_routing_method, profile.dns_config.fqdn) == ("Priority", "app-tm.trafficmanager.net")
    assert profile.monitor_config.protocol == "HTTPS"
    assert [(e.name, e.type.rsplit("/", 1)[-1], e.priority, e.endpoint_status) for e in profile.endpoints] == [
        ("primary", "externalEndpoints", 1, "Enabled"), ("backup", "azureEndpoints", 2, "Enabled")]
    assert profile.endpoints[1].target_resource_id.endswith("/publicIPAddresses/backup-ip")

    kv = azure.arm(KeyVaultManagementClient, s.sub1)
    vaults = {v.name: v for v in kv.vaults.list_by_subscription()}
    assert vaults["kv-rbac"].properties.enable_rbac_authorization is True
    legacy = vaults["kv-legacy"].properties
    assert legacy.enable_rbac_authorization is False and legacy.access_policies[0].object_id == s.sp["id"]
    assert legacy.access_policies[0].permissions.secrets == ["get", "list"]
    secrets = {x.name: x.properties for x in kv.secrets.list("net", "kv-rbac")}
    assert secrets["tls"].content_type == "application/x-pkcs12"
    assert secrets["dns-token"].attributes.expires.date() == (NOW + datetime.timedelta(days=20)).date()
    assert all(p.value is None for p in secrets.values())  # metadata only: never a value

    cdn = azure.arm(CdnManagementClient, s.sub1)
    assert [p.name for p in cdn.profiles.list()] == ["fd"]
    assert sorted(g.name for g in cdn.afd_origin_groups.list_by_profile("net", "fd")) == ["app", "empty"]
    origins = [(o.name, o.host_name, o.priority) for o in cdn.afd_origins.list_by_origin_group("net", "fd", "app")]
    assert origins == [("primary", "primary.example.net", 1), ("backup", "backup.example.net", 2)]
    assert list(cdn.afd_origins.list_by_origin_group("net", "fd", "empty")) == []
    assert azure.server.refused == []


# --- Graph ----------------------------------------------------------------------------------------------------------

def test_graph_directory_objects_credentials_owners_and_memberships(azure: AzureClients) -> None:
    estate = azure.estate
    s = seed(estate)
    secret = estate.password_credential(s.app["id"], display_name="ci", end=NOW + datetime.timedelta(days=10))
    cert = estate.key_credential(s.app["id"], display_name="cert")
    alice = estate.user("Alice Admin")
    estate.add_owner(s.app["id"], alice["id"])
    estate.add_owner(s.app["id"], s.sp["id"])
    estate.add_owner(s.sp["id"], alice["id"])
    estate.app_federated_credential(s.app["id"], "gh-prod", issuer="https://token.actions.githubusercontent.com",
                                    subject="repo:corp/dns:environment:prod")
    inner = estate.group("dns-writers", members=[s.sp["id"]])
    outer = estate.group("platform", members=[inner["id"]])
    estate.app_role_assignment(s.sp["id"], "Application.ReadWrite.All")
    estate.directory_role_assignment(s.sp["id"], "Cloud Application Administrator")
    orphan = estate.application("orphan")

    sps = azure.graph_all("/v1.0/servicePrincipals")
    assert {sp["displayName"] for sp in sps} == {"Microsoft Graph", "commonmode-scanner", "dns-automation",
                                                 "dns-sync", "orphan"}
    mi = next(sp for sp in sps if sp["servicePrincipalType"] == "ManagedIdentity")
    assert mi["alternativeNames"] == ["isExplicit=True", s.uai["id"]] and mi["id"] == s.uai["properties"]["principalId"]
    apps = {a["displayName"]: a for a in azure.graph_all("/v1.0/applications")}
    assert set(apps) == {"commonmode-scanner", "dns-automation", "orphan"}
    [password] = apps["dns-automation"]["passwordCredentials"]
    assert password == secret and password["secretText"] is None
    assert password["hint"] == estate.password_secrets[password["keyId"]][:3]
    assert apps["dns-automation"]["keyCredentials"] == [cert] and cert["key"] is None
    owners = azure.graph_all(f"/v1.0/applications/{s.app['id']}/owners")
    assert [(o["@odata.type"], o["id"]) for o in owners] == [("#microsoft.graph.user", alice["id"]),
                                                             ("#microsoft.graph.servicePrincipal", s.sp["id"])]
    assert azure.graph_all(f"/v1.0/applications/{orphan['id']}/owners") == []
    assert [o["id"] for o in azure.graph_all(f"/v1.0/servicePrincipals/{s.sp['id']}/owners")] == [alice["id"]]
    [fic] = azure.graph_all(f"/v1.0/applications/{s.app['id']}/federatedIdentityCredentials")
    assert set(fic) == {"id", "name", "issuer", "subject", "audiences", "description"}  # v1.0's properties
    assert fic["subject"] == "repo:corp/dns:environment:prod"
    groups = azure.graph_all(f"/v1.0/servicePrincipals/{s.sp['id']}/transitiveMemberOf")
    assert sorted((g["@odata.type"], g["displayName"]) for g in groups) == [
        ("#microsoft.graph.group", "dns-writers"), ("#microsoft.graph.group", "platform")]
    assert outer["id"] in {g["id"] for g in groups}
    [grant] = azure.graph_all(f"/v1.0/servicePrincipals/{s.sp['id']}/appRoleAssignments")
    assert grant["appRoleId"] == GRAPH_APP_ROLES["Application.ReadWrite.All"]
    assert grant["resourceId"] == estate.graph["id"]
    mine = azure.graph_all(f"/v1.0/roleManagement/directory/roleAssignments?$filter=principalId eq '{s.sp['id']}'")
    assert [a["roleDefinitionId"] for a in mine] == ["158c047a-c907-4556-b7ef-446551a6b5f7"]
    definitions = azure.graph_all("/v1.0/roleManagement/directory/roleDefinitions")
    assert "Application Administrator" in {d["displayName"] for d in definitions}
    missing = azure.graph_get(f"/v1.0/servicePrincipals/{estate.guid()}/owners")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound"
    assert azure.server.refused == []


def test_graph_pages_honour_top_select_and_filter(azure: AzureClients) -> None:
    for n in range(5):
        azure.estate.application(f"app-{n}")
    first = azure.graph_get("/v1.0/applications?$select=displayName,appId&$top=3").json()
    assert len(first["value"]) == 3 and first["@odata.context"].endswith("#applications(displayName,appId)")
    assert all(set(a) == {"displayName", "appId"} for a in first["value"])  # only what was selected
    second = azure.graph_get(first["@odata.nextLink"]).json()  # the next page keeps $select and $top
    assert len(second["value"]) == 3 and all(set(a) == {"displayName", "appId"} for a in second["value"])
    assert "@odata.nextLink" not in second  # 6 applications: the scanner's and five
    assert len(azure.graph_all("/v1.0/applications")) == 6  # page size 2: three pages
    assert len([r for r in azure.server.requests if r == "GET v1.0/applications"]) == 2 + 3
    managed = azure.graph_get("/v1.0/servicePrincipals?$filter=servicePrincipalType eq 'ManagedIdentity'").json()
    assert managed["value"] == []
    bad = azure.graph_get("/v1.0/applications?$filter=startswith(displayName,'a')")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "Request_UnsupportedQuery"


# --- writes, faults, canaries ---------------------------------------------------------------------------------------

def test_writes_and_actions_are_refused_and_recorded(azure: AzureClients) -> None:
    from azure.core.rest import HttpRequest
    from azure.mgmt.dns import DnsManagementClient
    from azure.mgmt.dns.models import RecordSet, Zone

    s = seed(azure.estate)
    dns = azure.arm(DnsManagementClient, s.sub1)
    with pytest.raises(HttpResponseError) as put:
        dns.zones.create_or_update("net", "evil.example", Zone(location="global"))
    assert put.value.status_code == 405
    with pytest.raises(HttpResponseError):
        dns.record_sets.create_or_update("net", "example.com", "www", "A", RecordSet(ttl=1))
    token = _token(azure, azure.server.arm_url)
    action = requests.post(f"{azure.server.arm_url}{s.vault['id']}/listKeys?api-version=2023-01-01",
                           headers={"Authorization": f"Bearer {token}"}, verify=azure.server.ca_file, timeout=T)
    assert action.status_code == 405
    add_password = azure.graph().send_request(HttpRequest("POST", f"{azure.server.graph_url}/v1.0/applications/"
                                                          f"{s.app['id']}/addPassword", json={}))
    assert add_password.status_code == 405
    assert azure.server.refused == [
        f"PUT subscriptions/{s.sub1}/resourceGroups/net/providers/Microsoft.Network/dnsZones/evil.example",
        f"PUT subscriptions/{s.sub1}/resourceGroups/net/providers/Microsoft.Network/dnsZones/example.com/A/www",
        f"POST {s.vault['id'].lstrip('/')}/listKeys", f"POST v1.0/applications/{s.app['id']}/addPassword"]
    assert len(azure.estate.role_assignments) == len(s.assignments)  # and nothing changed


def test_faults_make_a_route_fail_on_purpose_and_retries_get_through(azure: AzureClients) -> None:
    from azure.mgmt.authorization import AuthorizationManagementClient

    s = seed(azure.estate)
    azure.estate.fail(rf"/subscriptions/{s.sub2}/providers/Microsoft\.Authorization/roleAssignments$", 403)
    flaky = azure.estate.fail(r"/v1\.0/servicePrincipals$", 500, times=2)
    with pytest.raises(HttpResponseError) as denied:
        list(azure.arm(AuthorizationManagementClient, s.sub2).role_assignments.list_for_subscription())
    assert denied.value.status_code == 403 and denied.value.error.code == "AuthorizationFailed"
    assert list(azure.arm(AuthorizationManagementClient, s.sub1).role_assignments.list_for_subscription())
    assert azure.graph_get("/v1.0/servicePrincipals").status_code == 500  # no retries: the fault shows
    answer = azure.graph_get("/v1.0/servicePrincipals", retries=3)
    assert answer.status_code == 200 and flaky.hits == 2
    assert len([r for r in azure.server.requests if r == "GET v1.0/servicePrincipals"]) == 3
    login = azure.estate.fail(r"/oauth2/v2\.0/token$", 503, method="POST", times=1)
    fresh = credential_for(azure.estate, azure.server)  # its own token cache: it must ask the token endpoint
    assert fresh.get_token(f"{azure.server.arm_url}/.default").token and login.hits == 1  # retried past the 503


def test_secret_values_exist_only_behind_the_data_plane_route(azure: AzureClients) -> None:
    s = seed(azure.estate)
    estate, url, ca = azure.estate, azure.server.arm_url, azure.server.ca_file
    app_secret = estate.password_credential(s.app["id"], display_name="ci")
    canaries = estate.canaries()
    kv_value = estate.secret_values["kv-rbac/dns-token"]
    assert kv_value in canaries and estate.password_secrets[app_secret["keyId"]] in canaries
    assert estate.scanner.secret in canaries
    token = _token(azure, url)
    headers = {"Authorization": f"Bearer {token}"}
    served = ""
    for path in [f"/subscriptions/{s.sub1}/providers/Microsoft.KeyVault/vaults",
                 f"{s.vault['id']}/secrets", f"{s.vault_ap['id']}/secrets"]:
        served += requests.get(f"{url}{path}?api-version=2026-05-15", headers=headers, verify=ca, timeout=T).text
    graph = json.dumps(azure.graph_all("/v1.0/applications") + azure.graph_all("/v1.0/servicePrincipals"))
    assert "dns-token" in served and s.app["displayName"] in graph
    assert not [c for c in canaries if c in served or c in graph]  # no route a scanner may call serves one
    vault_uri = json.loads(served[:served.index("}]}") + 3])["value"][0]["properties"]["vaultUri"]
    value = requests.get(f"{vault_uri}secrets/dns-token?api-version=7.4", headers=headers, verify=ca, timeout=T)
    assert value.status_code == 200 and value.json()["value"] == kv_value  # the canary's one door, logged:
    assert "GET kv/kv-rbac/secrets/dns-token" in azure.server.requests
