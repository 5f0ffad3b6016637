"""The sandbox's Azure part: Acme Parcel's Entra tenant and its DR subscription, seeded into an `AzureEstate` and
served by the local Azure stand-in (`commonmode_sandbox.azure`: the token endpoint, ARM and Microsoft Graph on
three HTTPS ports of 127.0.0.1 under one test CA, threads of this process).

What it holds: the Azure DNS zones with the backup records of `status` and `track`, and one automation service
principal per record (an app registration with a client secret, owned by its team, with DNS Zone Contributor on
that zone only); and, as an operator would install it, the scanner application with the connector's published
read-only role (connectors/commonmode_azure/scanner-role.json) and its read-only Graph permissions.

No emulator exists for these APIs, so nothing here is started before `start`, and nothing but the stand-in
ever receives a request. The ids are the same on every run (`SEED`): the committed report sample depends on it.
"""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from commonmode.files import write_private
from commonmode_sandbox.servers import AzureServers, start_azure

SEED = 20261124  # the tenant's ids (tenant, subscription, object ids, key ids) are the same every time
#: What the Azure connector imports (checked before anything starts, as import names: see estate.NEEDS).
NEEDS = ("azure.identity", "azure.mgmt.authorization", "azure.mgmt.dns", "azure.mgmt.resource.subscriptions")
#: The variable that holds the scanner application's client secret (named in the config, never written in it).
SECRET_ENV = "COMMONMODE_SANDBOX_AZURE_CLIENT_SECRET"
CA_FILE = "azure-ca.pem"  # beside the config: the stand-in's test CA, which the config's ca_bundle names
DOMAIN = "acme-parcel.example"


@dataclass
class AzureSeed:
    """The seeded tenant and the ids a config and a test need."""

    estate: Any  # commonmode_sandbox.azure.AzureEstate (imported only when the part is seeded)
    subscription: str = ""
    zones: dict[str, str] = field(default_factory=dict)  # zone name → ARM id
    records: dict[str, str] = field(default_factory=dict)  # "service/side" → record set ARM id
    identities: dict[str, str] = field(default_factory=dict)  # "azure:<app name>" → service principal object id
    applications: dict[str, str] = field(default_factory=dict)  # app name → application object id


def seed() -> AzureSeed:
    """Acme Parcel's tenant: the DR subscription, its two Azure DNS zones and their records, the automation
    service principal of each, and the scanner as an operator installs it. Nothing is served yet."""
    from commonmode_sandbox.azure import AzureEstate

    e = AzureEstate(seed=SEED, page_size=50, domain=DOMAIN)
    s = AzureSeed(estate=e)
    sub = e.subscription("acme-dr", tags={"owner": "team-sre-dr"})["subscriptionId"]
    s.subscription = sub
    rg = e.resource_group(sub, "dns-dr", location="westus2", tags={"owner": "team-sre-dr"})

    def automation(service: str, app_name: str, zone_name: str, ip: str, team: str) -> None:
        """A zone with the service's backup A record, and the app (and its service principal) that may change
        that zone only, owned by `team`."""
        zone = e.dns_zone(rg, zone_name, tags={"owner": team})
        s.zones[zone_name] = zone["id"]
        record = e.record_set(zone["id"], service, "A", ttl=60, records=[ip])
        s.records[f"{service}/backup"] = record["id"]
        app = e.application(app_name, notes=f"DNS automation for {service}.{zone_name}")
        owner = e.user(team, user_principal_name=f"{team}@{DOMAIN}")
        e.add_owner(app["id"], owner["id"])  # the connector's owner: the app registration's first user owner
        e.password_credential(app["id"], display_name="automation")  # valid for a year (key id and dates only)
        sp = e.service_principal_for(app["appId"])["id"]
        # DNS Zone Contributor at the zone's own scope: "Azure DNS: protect zones and records",
        # https://learn.microsoft.com/azure/dns/dns-protect-zones-recordsets
        e.role_assignment(zone["id"], sp, "DNS Zone Contributor", description=f"{app_name}: backup DNS automation")
        s.identities[f"azure:{app_name}"] = sp
        s.applications[app_name] = app["id"]

    # status: the DR team's own automation, whose secret is kept in vault-west (vault.py)
    automation("status", "status-dns-dr", "acme-status.example", "198.51.100.40", "team-sre-dr")
    # ... whose DR runbook also runs from GitHub: a federated credential pinned to the repository's `dr`
    # environment, which has required reviewers (the config lists it under correlate.protected_environments)
    e.app_federated_credential(s.applications["status-dns-dr"], "github-dr",
                               issuer="https://token.actions.githubusercontent.com",
                               subject="repo:acme/status:environment:dr",
                               description="status DR runbook (owner: team-sre-dr@acme-parcel.example)")
    # track: the tracking team's, whose secret is kept in vault-east's `secret/` beside the Route 53 user's key
    automation("track", "track-dns-dr", "acme-track.example", "198.51.100.60", "team-tracking")
    # ... and its deploy workflow signs in as that application too (the same repository deploys the primary
    # through AWS OIDC: aws.py), through a federated credential pinned to the prod environment
    e.app_federated_credential(s.applications["track-dns-dr"], "github-deploy",
                               issuer="https://token.actions.githubusercontent.com",
                               subject="repo:acme/tracking:environment:prod")
    _install_scanner(e, sub)
    return s


def _install_scanner(e: Any, subscription: str) -> None:
    """The scanner application gets what connectors/commonmode_azure/scanner-permissions.md asks an operator to
    give it: the published custom role (its assignable scope set to this tenant's root group), assigned on the
    subscription, and the read-only Graph application permissions the stand-in knows."""
    text = importlib.resources.files("commonmode_azure").joinpath("scanner-role.json").read_text()
    props = json.loads(text)["properties"]
    (perms,) = props["permissions"]
    role = e.custom_role(props["roleName"], description=props["description"],
                         assignable_scopes=[f"/providers/Microsoft.Management/managementGroups/{e.tenant_id}"],
                         actions=perms["actions"], not_actions=perms["notActions"])
    scanner = e.service_principal_for(e.client_secret_for_scanner().client_id)["id"]
    e.role_assignment(f"/subscriptions/{subscription}", scanner, role["name"], description="commonmode scanner")
    for permission in ("Application.Read.All", "RoleManagement.Read.Directory"):
        e.app_role_assignment(scanner, permission)
    owner = e.user("team-security", user_principal_name=f"team-security@{DOMAIN}")
    scanner_app = next(a for a in e.applications if a["appId"] == e.client_secret_for_scanner().client_id)
    e.add_owner(scanner_app["id"], owner["id"])


def start(seeded: AzureSeed) -> AzureServers:
    """The stand-in for the seeded tenant: token endpoint, ARM and Graph each on its own port (so ARM and Graph
    tokens have different audiences, as in Azure), under one test CA. The caller stops it (`stop()`)."""
    return start_azure(seeded.estate, separate=True)


def write_ca(servers: AzureServers, out: Path) -> Path:
    """CA_FILE in `out`: a copy of the stand-in's test CA (public: a certificate, no key), for the config's
    ca_bundle. It is valid only while this stand-in runs."""
    return write_private(out / CA_FILE, Path(servers.ca_file).read_text())


def env(seeded: AzureSeed) -> dict[str, str]:
    """The variable that holds the scanner's client secret (the stand-in's, valid only for the sandbox)."""
    return {SECRET_ENV: seeded.estate.client_secret_for_scanner().secret}


def addresses(servers: AzureServers) -> dict[str, str]:
    """Where each API of the stand-in listens."""
    return {"token endpoint": servers.authority_url, "ARM": servers.arm_url, "Graph": servers.graph_url}


def config_table(servers: AzureServers, seeded: AzureSeed) -> str:
    """The [[azure]] table a user would write for this tenant: the scanner's client id and its secret by variable
    name, the stand-in's three endpoints, and the CA file beside the config."""
    cred = seeded.estate.client_secret_for_scanner()
    return (f'[[azure]]\nname = "acme-azure"\ntenant_id = "{cred.tenant_id}"\ncredential = "client-secret"\n'
            f'client_id = "{cred.client_id}"\nclient_secret_env = "{SECRET_ENV}"\n'
            f'authority = "{servers.authority_url}"\narm_endpoint = "{servers.arm_url}"\n'
            f'graph_endpoint = "{servers.graph_url}"\nca_bundle = "{CA_FILE}"\n')
