"""The sandbox's GCP part: Acme Parcel's Google Cloud organization, seeded into a `GcpEstate` and served by the
local GCP stand-ins (`commonmode_sandbox.gcp`: IAM's gRPC and REST APIs on one TLS port, and one HTTPS server for
the token endpoint, iamcredentials, Resource Manager, Cloud DNS, Secret Manager and Certificate Manager, under one
test CA; threads of this process).

What it holds: a folder `prod` with the project `acme-rates-prod`, where the internal rates API runs behind a
regional internal load balancer, and its Cloud DNS record `rates.acme-rates.example.` with a `primaryBackup`
routing policy: the load balancer in us-east1, a geo backup in us-west1 ("DNS routing policies and health checks",
https://cloud.google.com/dns/docs/routing-policies-overview). Health-checked internal load balancer targets work
in private zones only (same page, "Health checks for internal load balancers"), so the zone is private to the
prod VPC. Who can change the record: `rates-dns` (roles/dns.admin on the zone; a user-managed key 400 days old,
kept in vault-east's `secret/` mount: vault.py), `rates-deploy` (Token Creator on `rates-dns`; no owner in its
description), and through `rates-deploy` any GitHub repository: the pool provider for GitHub's issuer has no
attribute condition, and the pool's every identity may act as `rates-deploy` (roles/iam.workloadIdentityUser).
And, as an operator would install it, the scanner's project with its service account (the key file the scan
authenticates with), holding the connector's published read-only role on the organization.

No emulator exists for these APIs, so nothing here is started before `start`, and nothing but the stand-ins ever
receives a request. The ids are the same on every run (`SEED`): the committed report sample depends on it.
"""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from commonmode.files import write_private
from commonmode_sandbox.servers import GcpServers, start_gcp

SEED = 16202611  # the organization's ids (project and folder numbers, unique ids, key ids) are the same every time
ORG_ID = "480215739164"
#: What the GCP connector imports (checked before anything starts, as import names: see estate.NEEDS).
NEEDS = ("google.auth", "google.cloud.iam_admin_v1", "grpc")
CA_FILE = "gcp-ca.pem"  # beside the config: the stand-ins' test CA, which the config's ca_bundle names
#: beside the config: the scanner's service-account key, which GOOGLE_APPLICATION_CREDENTIALS names
KEY_FILE = "gcp-scanner-key.json"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"  # Application Default Credentials: a key file's path
DOMAIN = "acme-parcel.example"
PROJECT = "acme-rates-prod"
SCANNER_PROJECT = "commonmode-admin"
ZONE = "acme-rates"  # the managed zone's name
ZONE_DNS_NAME = "acme-rates.example"
RECORD = f"rates.{ZONE_DNS_NAME}."
GITHUB = "https://token.actions.githubusercontent.com"
#: quotes: Acme's quoting API runs in the AWS prod account (us-east-1); its DNS is Cloud DNS, failing over to GCP
QUOTES_PROJECT = "acme-quotes-prod"
QUOTES_ZONE, QUOTES_DNS_NAME = "acme-quotes", "acme-quotes.example"
QUOTES_RECORD = f"api.{QUOTES_DNS_NAME}."
QUOTES_PRIMARY_IP = "192.0.2.70"  # the quoting API's address in the AWS prod account
AWS_OPERATOR_ROLE = "quotes-ops"  # the AWS role (prod account) the GCP pool lets act as quotes-failover


@dataclass
class GcpSeed:
    """The seeded organization and the ids a config and a test need."""

    estate: Any  # commonmode_sandbox.gcp.GcpEstate (imported only when the part is seeded)
    organization: str = ""
    folder: str = ""
    zone: str = ""  # the managed zone's full resource name
    record: str = ""  # the primaryBackup record set's full resource name (both paths of the service)
    service: str = ""  # the service the connector discovers: the record's name
    identities: dict[str, str] = field(default_factory=dict)  # "gcp:<account id>" → service account resource name
    keys: dict[str, str] = field(default_factory=dict)  # account id → its user-managed key's credential id
    workload_pool: str = ""
    quotes_zone: str = ""
    quotes_service: str = ""  # the second discovered service: quotes' record name
    quotes_record: str = ""
    quotes_primary_endpoint: str = ""  # the external endpoint's resource id (its AWS account is declared)


def _sa_id(email: str) -> str:
    project = email.split("@", 1)[1].split(".", 1)[0]
    return f"//iam.googleapis.com/projects/{project}/serviceAccounts/{email}"


def seed(aws_prod_account: str = "000000000000") -> GcpSeed:
    """Acme Parcel's organization: the prod folder and project, the private zone and its primaryBackup record,
    the service accounts and the GitHub pool that can change it, and the scanner as an operator installs it.
    Nothing is served yet."""
    from commonmode_sandbox.gcp import GcpEstate

    e = GcpEstate(org_id=ORG_ID, domain=DOMAIN, seed=SEED, page_size=50, scanner_project=SCANNER_PROJECT)
    s = GcpSeed(estate=e, organization=e.organization["name"])
    prod = e.folder("prod")["name"]
    s.folder = prod
    e.project(PROJECT, parent=prod, labels={"owner": "team-rates"})
    network = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/networks/prod"

    dns = e.service_account(PROJECT, "rates-dns", display_name="rates backup DNS",
                            description="flips rates.acme-rates.example to the backup (owner: team-rates)")
    deploy = e.service_account(PROJECT, "rates-deploy", display_name="rates deploy",
                               description="deploys rates from GitHub Actions")  # no owner: the owner-gap case
    for sa in (dns, deploy):
        s.identities[f"gcp:{sa['email'].split('@', 1)[0]}"] = _sa_id(sa["email"])
    # the on-call runbook's key, created long ago and never rotated (it is kept in vault-east: vault.py)
    key = e.service_account_key(dns["email"], age_days=400)
    s.keys["rates-dns"] = f"{_sa_id(dns['email'])}/keys/{key['name'].rsplit('/', 1)[-1]}"

    # Cloud DNS: "Access control" (https://cloud.google.com/dns/docs/access-control): roles/dns.admin on a
    # managed zone changes its records
    e.managed_zone(PROJECT, ZONE, f"{ZONE_DNS_NAME}.", visibility="private", networks=[network],
                   labels={"owner": "team-rates"})
    e.bind(f"projects/{PROJECT}/managedZones/{ZONE}", "roles/dns.admin", [f"serviceAccount:{dns['email']}"])
    e.record_set(PROJECT, ZONE, RECORD, "A", ttl=30, routing_policy=e.primary_backup(
        [e.internal_load_balancer("10.20.0.5", project=PROJECT, region="us-east1", network=network)],
        {"us-west1": ["10.30.0.5"]}, trickle=0.1))
    s.zone = f"//dns.googleapis.com/projects/{PROJECT}/managedZones/{ZONE}"
    s.record = f"{s.zone}/rrsets/{RECORD}/A"
    s.service = RECORD.rstrip(".")

    # the deploy pipeline may mint rates-dns's tokens: "Service account impersonation",
    # https://cloud.google.com/iam/docs/service-account-impersonation
    e.bind(dns["name"], "roles/iam.serviceAccountTokenCreator", [f"serviceAccount:{deploy['email']}"])
    # GitHub Actions through workload identity federation, with no attributeCondition: any repository's token
    # is admitted ("Configure workload identity federation with deployment pipelines",
    # https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines)
    pool = e.workload_identity_pool(PROJECT, "github", display_name="GitHub Actions")
    e.workload_identity_provider(pool, "github-actions", issuer=GITHUB, attribute_mapping={
        "google.subject": "assertion.sub", "attribute.repository": "assertion.repository",
        "attribute.repository_owner": "assertion.repository_owner"})
    s.workload_pool = pool["name"]
    e.bind(deploy["name"], "roles/iam.workloadIdentityUser",
           [f"principalSet://iam.googleapis.com/{pool['name']}/*"])
    _quotes(e, s, prod, aws_prod_account)
    _install_scanner(e, s.organization)
    return s


def _quotes(e: Any, s: GcpSeed, folder: str, aws_account: str) -> None:
    """quotes: a public zone whose primaryBackup record sends traffic to the quoting API in AWS (an external
    endpoint, health-checked) and fails over to a geo target in us-west1. Its failover is managed by
    `quotes-failover` (roles/dns.admin on the zone), which workload identity federation lets the AWS role
    `quotes-ops` of the primary's own AWS account act as: an AWS pool provider for that account ("Configure
    Workload Identity Federation with AWS or Azure", https://cloud.google.com/iam/docs/workload-identity-federation-with-other-clouds),
    and the binding names the role through the default mapping's attribute.aws_role. When that AWS account is
    down or compromised, so is the only way to fail over."""
    e.project(QUOTES_PROJECT, parent=folder, labels={"owner": "team-quotes"})
    sa = e.service_account(QUOTES_PROJECT, "quotes-failover", display_name="quotes failover",
                           description="moves api.acme-quotes.example to GCP (owner: team-quotes)")
    s.identities[f"gcp:{sa['email'].split('@', 1)[0]}"] = _sa_id(sa["email"])
    e.managed_zone(QUOTES_PROJECT, QUOTES_ZONE, f"{QUOTES_DNS_NAME}.", labels={"owner": "team-quotes"})
    e.bind(f"projects/{QUOTES_PROJECT}/managedZones/{QUOTES_ZONE}", "roles/dns.admin",
           [f"serviceAccount:{sa['email']}"])
    policy = e.primary_backup([], {"us-west1": ["198.51.100.70"]}, external_endpoints=[QUOTES_PRIMARY_IP])
    # health-checked external endpoints need a public zone and a health check ("DNS routing policies and health
    # checks": health checks for external endpoints)
    policy["healthCheck"] = f"projects/{QUOTES_PROJECT}/global/healthChecks/quotes-api"
    e.record_set(QUOTES_PROJECT, QUOTES_ZONE, QUOTES_RECORD, "A", ttl=30, routing_policy=policy)
    zone = f"//dns.googleapis.com/projects/{QUOTES_PROJECT}/managedZones/{QUOTES_ZONE}"
    s.quotes_zone = zone
    s.quotes_record = f"{zone}/rrsets/{QUOTES_RECORD}/A"
    s.quotes_service = QUOTES_RECORD.rstrip(".")
    s.quotes_primary_endpoint = f"{s.quotes_record}#primary/{QUOTES_PRIMARY_IP}"
    pool = e.workload_identity_pool(QUOTES_PROJECT, "aws-prod", display_name="AWS prod account")
    e.aws_workload_identity_provider(pool, "aws-prod", account_id=aws_account)
    e.bind(sa["name"], "roles/iam.workloadIdentityUser", [
        f"principalSet://iam.googleapis.com/{pool['name']}/attribute.aws_role/"
        f"arn:aws:sts::{aws_account}:assumed-role/{AWS_OPERATOR_ROLE}"])


def fault_domain_table(seeded: GcpSeed, aws_prod_account: str) -> str:
    """What no connector reads: the quotes record's external endpoint is an address of the AWS prod account in
    us-east-1 (an address's owner is not in Cloud DNS), declared as an operator would."""
    return (f'[[fault_domain]]\nsubject = "{seeded.quotes_primary_endpoint}"\n'
            f'labels = ["aws:account:{aws_prod_account}", "aws:region:us-east-1"]\n')


def _install_scanner(e: Any, organization: str) -> None:
    """The scanner's own project and service account (the key file the scan signs in with is its key), and what
    connectors/commonmode_gcp/scanner-roles.md asks an operator to give it: the published read-only custom role
    (scanner-role.json), created in the organization and granted there."""
    e.project(SCANNER_PROJECT, labels={"owner": "team-security"})
    e.service_account(SCANNER_PROJECT, e.scanner.email.split("@", 1)[0], display_name="commonmode scanner",
                      description="read-only scanner (owner: team-security)")
    role = json.loads(importlib.resources.files("commonmode_gcp").joinpath("scanner-role.json").read_text())
    created = e.custom_role(organization, "commonmodeScanner", role["includedPermissions"], title=role["title"],
                            stage=role["stage"])
    e.bind(organization, created["name"], [f"serviceAccount:{e.scanner.email}"])


def start(seeded: GcpSeed) -> GcpServers:
    """The stand-ins for the seeded organization (IAM on one port, every REST API on another), under one test CA.
    The caller stops them (`stop()`)."""
    return start_gcp(seeded.estate)


def write_files(servers: GcpServers, out: Path) -> tuple[Path, Path]:
    """CA_FILE and KEY_FILE in `out`: a copy of the stand-ins' test CA (public: a certificate, no key), for the
    config's ca_bundle, and the scanner's service-account key file (a secret: written private), its token_uri at
    the stand-in, for GOOGLE_APPLICATION_CREDENTIALS. Both are valid only while these stand-ins run."""
    ca = write_private(out / CA_FILE, Path(servers.ca_file).read_text())
    key = write_private(out / KEY_FILE, Path(servers.key_file).read_text())
    return ca, key


def env(out: Path) -> dict[str, str]:
    """Application Default Credentials: the scanner's key file beside the config."""
    return {CREDENTIALS_ENV: str(out / KEY_FILE)}


def addresses(servers: GcpServers) -> dict[str, str]:
    """Where each stand-in listens: IAM (gRPC and, over https://, its REST API: api_endpoints.iam), every other
    REST API and the token endpoint, and the gRPC server the IAM port hands HTTP/2 to."""
    return {"IAM": servers.iam_target, "REST APIs and token endpoint": servers.rest_url,
            "IAM gRPC (behind the IAM port)": servers.grpc_target}


def config_table(servers: GcpServers, seeded: GcpSeed) -> str:
    """The [[gcp]] table a user would write for this organization: the stand-ins' endpoints and the CA file beside
    the config (the credentials are ADC: GOOGLE_APPLICATION_CREDENTIALS names the scanner's key file)."""
    endpoints = ", ".join(f'{k} = "{v}"' for k, v in servers.api_endpoints.items())
    return (f'[[gcp]]\nname = "acme-gcp"\norganization = "{seeded.organization}"\n'
            f'api_endpoints = {{ {endpoints} }}\nca_bundle = "{CA_FILE}"\n')
