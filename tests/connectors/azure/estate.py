"""The Azure estate issue 15's "Done when" is checked against: one Traffic Manager failover pair (priority 1 and
2) behind a CNAME and an alias record, and one identity for each way of being able to change it: a direct
resource-level assignment, a resource-group and a management-group assignment, a group membership, escalation
(User Access Administrator, and a managed identity's federated credential), a deny assignment that takes a
Contributor's power away, an app registration nobody owns, a client secret that expires in 10 days, and a
GitHub workflow federated into a service principal. Named identities are in `Names` for the assertions."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from commonmode_sandbox.azure import AzureEstate

GITHUB = "https://token.actions.githubusercontent.com"


@dataclass
class Names:
    """Object ids (service principals, applications) and ARM ids the tests assert on."""

    estate: AzureEstate
    subscription: str
    zone: str
    cname: str
    alias: str
    profile: str
    primary: str
    backup: str
    sp: dict[str, str]  # display name -> service principal object id
    app: dict[str, str]  # display name -> application object id
    vault: str
    vault_secret: str
    policy_vault: str  # an access-policy (not RBAC) vault
    policy_secret: str
    certificate: str  # a Key Vault certificate (its secret's ARM id)
    private_record: str
    origin_group: str
    origins: tuple[str, str]  # priority 1, priority 2
    mi: str  # the user-assigned managed identity's service principal object id
    oncall: str  # a user (a person) with a role on the profile
    group: str  # the group that holds DNS Zone Contributor on the zone
    expiring_key: str


def build(*, page_size: int = 2, seed: int = 15) -> Names:
    e = AzureEstate(seed=seed, page_size=page_size)
    now = datetime.datetime.now(datetime.UTC)
    e.management_group("platform")
    sub = e.subscription("prod", management_group="platform")["subscriptionId"]
    dns_rg = e.resource_group(sub, "dns")
    edge_rg = e.resource_group(sub, "edge")
    kv_rg = e.resource_group(sub, "secrets")
    owner = e.user("Dana Ops")
    oncall = e.user("Sam Oncall")

    profile = e.traffic_manager_profile(edge_rg, "shop-tm", relative_name="shop-tm", tags={"owner": "team-edge"})
    primary = e.traffic_manager_endpoint(profile["id"], "primary", target="primary.shop.example.net", priority=1)
    backup = e.traffic_manager_endpoint(profile["id"], "backup", target="backup.shop.example.org", priority=2)
    zone = e.dns_zone(dns_rg, "shop.example", tags={"owner": "team-dns"})
    cname = e.record_set(zone["id"], "www", "CNAME", records="shop-tm.trafficmanager.net")
    alias = e.record_set(zone["id"], "@", "A", target_resource=profile["id"])

    sp: dict[str, str] = {}
    app: dict[str, str] = {}

    def new_app(name: str, *, owned: bool = True) -> str:
        a = e.application(name)
        app[name] = a["id"]
        sp[name] = e.service_principal_for(a["appId"])["id"]
        if owned:
            e.add_owner(a["id"], owner["id"])
        return sp[name]

    # a person, not a workload: listed as a user (the scanner reads no users from Graph)
    e.role_assignment(profile["id"], oncall["id"], "Traffic Manager Contributor", principal_type="User")
    # direct, at the resource: the profile's own scope
    e.role_assignment(profile["id"], new_app("tm-direct"), "Traffic Manager Contributor")
    # at a resource group: the DNS zone's
    e.role_assignment(dns_rg, new_app("dns-rg"), "DNS Zone Contributor")
    # at a management group above the subscription: both the record and the profile
    e.role_assignment("/providers/Microsoft.Management/managementGroups/platform", new_app("net-mg"),
                      "Network Contributor")
    # through a group
    member = new_app("group-member")
    group = e.group("dns-operators", members=[member])
    e.role_assignment(zone["id"], group["id"], "DNS Zone Contributor", principal_type="Group")
    # escalation: may write role assignments on the edge resource group
    e.role_assignment(edge_rg, new_app("uaa-bot"), "User Access Administrator")
    # a deny assignment takes Traffic Manager writes away from a subscription Contributor
    denied = new_app("denied-bot")
    e.role_assignment(f"/subscriptions/{sub}", denied, "Contributor")
    e.deny_assignment(edge_rg, name="protect traffic manager", actions=["Microsoft.Network/trafficManagerProfiles/*"],
                      principals=[(denied, "ServicePrincipal")])
    # nobody owns this app registration, and it can change the DNS record
    e.role_assignment(cname["id"], new_app("orphan-app", owned=False), "DNS Zone Contributor")
    # a client secret that expires in 10 days, on an app that can change the failover endpoints
    e.role_assignment(profile["id"], new_app("expiring-app"), "Traffic Manager Contributor")
    key = e.password_credential(app["expiring-app"], display_name="ci", end=now + datetime.timedelta(days=10))
    # a GitHub workflow federated into a service principal that can change the DNS record
    e.role_assignment(zone["id"], new_app("gh-dns"), "DNS Zone Contributor")
    e.app_federated_credential(app["gh-dns"], "github-prod", issuer=GITHUB, subject="repo:acme/dns:environment:prod")
    # a user-assigned managed identity with Traffic Manager Contributor, federated with another repository
    mi = e.user_assigned_identity(edge_rg, "deploy-mi", tags={"owner": "team-edge"})
    mi_sp = e.service_principal_for(mi["properties"]["clientId"])["id"]
    e.role_assignment(edge_rg, mi_sp, "Traffic Manager Contributor")
    e.federated_identity_credential(mi["id"], "deploy", issuer=GITHUB, subject="repo:acme/deploy:ref:refs/heads/main")
    # directory-level escalation: a Graph application permission and an Entra role that add credentials to any app
    e.app_role_assignment(new_app("app-admin"), "Application.ReadWrite.All")
    e.app_role_assignment(new_app("app-reader"), "Application.Read.All")  # reads only: no escalation
    e.directory_role_assignment(new_app("cloud-admin"), "Cloud Application Administrator")
    # a nested group: a member of a group inside the group that holds DNS Zone Contributor on the zone
    nested = new_app("nested-member")
    e.add_member(group["id"], e.group("dns-operators-eu", members=[nested])["id"])
    # a Key Vault (RBAC) with a secret only one identity can read
    vault = e.key_vault(kv_rg, "shop-kv", rbac=True)
    secret = e.vault_secret(vault["id"], "dns-token", value=e.canary("kv"))
    e.role_assignment(secret["id"], new_app("kv-reader"), "Key Vault Secrets User")
    # may assign roles on the vault, but its role's condition limits which (Key Vault data roles only)
    e.role_assignment(vault["id"], new_app("kv-delegate"), "Key Vault Data Access Administrator")
    # and a certificate in it, which expires in 20 days
    cert = e.vault_secret(vault["id"], "shop-tls", certificate=True, expires=now + datetime.timedelta(days=20))
    # an access-policy vault: its access policies decide data access, and control-plane writers escalate
    policy_vault = e.key_vault(kv_rg, "legacy-kv", rbac=False)
    policy_secret = e.vault_secret(policy_vault["id"], "ns1-key", value=e.canary("legacy"))
    e.vault_access_policy(policy_vault["id"], new_app("ap-reader"), secrets=["get", "list"])
    # a private zone: DNS Zone Contributor (public zones) cannot change it, Private DNS Zone Contributor can
    private = e.private_zone(dns_rg, "internal.shop")
    private_record = e.private_record_set(private["id"], "db", "A", records=["10.0.0.5"])
    e.role_assignment(dns_rg, new_app("private-dns"), "Private DNS Zone Contributor")
    # Front Door: an origin group with a priority-1 and a priority-2 origin; CDN Profile Contributor changes it
    fd = e.front_door(edge_rg, "shop-fd", tags={"owner": "team-edge"})
    og = e.origin_group(fd["id"], "web")
    first = e.origin(og["id"], "east", host_name="east.shop.example.net", priority=1)
    second = e.origin(og["id"], "west", host_name="west.shop.example.org", priority=2)
    e.role_assignment(fd["id"], new_app("cdn-admin"), "CDN Profile Contributor")
    return Names(estate=e, subscription=sub, zone=zone["id"], cname=cname["id"], alias=alias["id"],
                 profile=profile["id"], primary=primary["id"], backup=backup["id"], sp=sp, app=app,
                 vault=vault["id"], vault_secret=secret["id"], mi=mi_sp, oncall=oncall["id"], group=group["id"],
                 expiring_key=key["keyId"],
                 policy_vault=policy_vault["id"], policy_secret=policy_secret["id"], certificate=cert["id"],
                 private_record=private_record["id"], origin_group=og["id"], origins=(first["id"], second["id"]))
