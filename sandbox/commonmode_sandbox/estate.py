"""The sandbox estate: a fictional company, Acme Parcel, composed of each provider's part (aws.py, vault.py,
azure_part.py, gcp_part.py: each starts its emulator or stand-in, seeds it and writes its config table; a new
connector adds its own).

Its story, service by service (each finding is planted on purpose; tests/test_demo.py asserts them all):
- api.acme.example: Route 53 failover with both records in one hosted zone of the management account, and
  one unowned automation user (`dns-automation`) who can change both: shared identity, shared zone,
  nobody can fail over without the primary's dependencies; its key sits in vault-east.
- payments: primary DNS in the prod account, backup in the DR account, written by two users limited to
  their own records — but both users' keys are kept in one Vault mount (vault-east `secret/`), and one
  AppRole (`pay-dns-sync`, whose login expires in 10 days) reads both.
- login: separate accounts and keys, but both hostnames' certificates come from one PKI role.
- status: done right. Primary DNS in Route 53 (prod account), backup DNS in Azure DNS (a zone of the DR
  subscription); the Azure service principal that can change the backup record (`status-dns-dr`, DNS Zone
  Contributor on that zone only) has its client secret in vault-west, read by vault-west's own AppRole, both
  owned by the DR team; its DR workflow (`acme/status`) signs in through a federated credential pinned to the
  repository's protected `dr` environment (an exact trust). Nothing the primary depends on is needed to fail
  over: independent recovery is possible.
- track: two providers, one secret store. Primary DNS in Route 53 (prod account), backup DNS in Azure DNS; the
  IAM user and the Azure service principal (`track-dns-dr`) are separate, and so are the AppRoles that read
  their credentials — but both credentials are kept in one Vault mount (vault-east `secret/`), which the
  primary also needs: a second DNS provider that fails with the primary's secret store. And one GitHub
  repository, `acme/tracking`, deploys both paths: AWS OIDC into `track-deploy` (its main branch) for the
  primary, an Azure federated credential (its protected `prod` environment) for the backup; its preview role
  `track-preview` trusts GitHub with no `sub` condition, so any repository on GitHub can change the primary.
- rates.acme-rates.example: not declared; the GCP connector discovers it from a Cloud DNS `primaryBackup` routing
  policy (primary: an internal load balancer in us-east1; backup: a geo target in us-west1). Both paths are that
  one record set, so whoever can change it changes both: `rates-dns` (roles/dns.admin on the zone; its key is 400
  days old and kept in vault-east `secret/`, beside the AWS keys: one Vault mount, and the AWS region it runs in,
  under a GCP service), `rates-deploy` (Token Creator on `rates-dns`, no owner), and through `rates-deploy` any
  GitHub repository (`github:any`: a workload identity provider without an attribute condition).
- api.acme-quotes.example (quotes): not declared; discovered from a Cloud DNS `primaryBackup` record whose primary
  is the quoting API in the AWS prod account (an external endpoint; its account is the one fact declared, in a
  `[[fault_domain]]`) and whose backup is a geo target in us-west1. Its failover is managed by `quotes-failover`
  (roles/dns.admin on the zone), which workload identity federation lets the prod account's role `quotes-ops`
  act as (an AWS pool provider, the binding naming the role): the only way to fail over needs the primary's own
  AWS account.
- docs: declared without an owner.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from commonmode_sandbox import aws, azure_part, gcp_part, vault
from commonmode_sandbox.servers import AzureServers, GcpServers, Servers

#: What the demo needs installed (checked before anything starts, with azure_part.NEEDS and gcp_part.NEEDS): names
#: that are both the distribution's and the module's (tests/test_packaging.py finds each in the demo extra).
NEEDS = ("moto", "boto3", "hvac")


@dataclass
class SeededEstate:
    """Ids a config and a test need."""

    accounts: dict[str, str] = field(default_factory=dict)  # role → AWS account id
    zones: dict[str, str] = field(default_factory=dict)  # zone name → ARN or ARM id
    records: dict[str, str] = field(default_factory=dict)  # "service/side" → record id (any provider)
    users: dict[str, str] = field(default_factory=dict)  # IAM user name → ARN
    #: Azure app name → its service principal's object id (the identity commonmode reports)
    service_principals: dict[str, str] = field(default_factory=dict)
    applications: dict[str, str] = field(default_factory=dict)  # Azure app name → application object id
    azure_subscription: str = ""
    azure_tenant: str = ""
    #: GCP account id → its service account's resource name (the identity commonmode reports)
    service_accounts: dict[str, str] = field(default_factory=dict)
    gcp_keys: dict[str, str] = field(default_factory=dict)  # GCP account id → its user-managed key's credential id
    gcp_organization: str = ""  # organizations/NUMBER
    gcp_folder: str = ""  # folders/NUMBER: the prod folder
    gcp_services: dict[str, str] = field(default_factory=dict)  # discovered service name → its record set
    gcp_workload_pool: str = ""


@dataclass
class Running:
    """The estate, seeded, in the emulators that hold it: where each listens, each cluster's scanner token, and
    the Azure and GCP stand-ins (threads of this process, which `close()` stops; `Servers` stops the others);
    `out` is the folder of the config and of the files it names."""

    estate: SeededEstate
    aws: str
    vaults: dict[str, str]
    tokens: dict[str, str]
    azure: AzureServers
    azure_seed: azure_part.AzureSeed
    gcp: GcpServers
    gcp_seed: gcp_part.GcpSeed
    out: Path

    def env(self) -> dict[str, str]:
        """What a shell needs to scan the sandbox: the emulator's AWS keys, the Vault scanner tokens, the
        Azure scanner's client secret and the GCP scanner's key file."""
        return {**aws.ENV, **vault.env(self.tokens), **azure_part.env(self.azure_seed), **gcp_part.env(self.out)}

    def write_files(self) -> None:
        """The files the config names beside it: the Azure stand-in's CA, the GCP stand-ins' CA and the GCP
        scanner's key file."""
        azure_part.write_ca(self.azure, self.out)
        gcp_part.write_files(self.gcp, self.out)

    def config_text(self, *, db: str = "commonmode.db") -> str:
        """The commonmode.toml a user would write for this estate."""
        r = self.estate.records

        def svc(name: str, key: str, owner: str | None) -> str:
            own = f'owner = "{owner}"\n' if owner else ""
            return (f'[[service]]\nname = "{name}"\n{own}primary = ["{r[key + "/primary"]}"]\n'
                    f'backup = ["{r[key + "/backup"]}"]\n')

        return "\n".join([
            "# Sandbox config written by `commonmode demo`: every endpoint is a local emulator on 127.0.0.1.",
            f'[store]\npath = "{db}"\n',
            "# GitHub environments with protection rules (required reviewers): a federated trust pinned to one of",
            "# them is exact. The scanner cannot see GitHub's settings; the operator states them here.",
            '[correlate]\nprotected_environments = ["acme/status:dr", "acme/tracking:prod"]\n',
            aws.config_table(self.aws),
            vault.config_tables(self.vaults),
            azure_part.config_table(self.azure, self.azure_seed),
            gcp_part.config_table(self.gcp, self.gcp_seed),
            gcp_part.fault_domain_table(self.gcp_seed, self.estate.accounts["prod"]),
            svc("payments", "pay", "team-payments"),
            svc("login", "login", "team-identity"),
            svc("status", "status", "team-sre"),
            svc("track", "track", "team-tracking"),
            svc("docs", "docs", None),
        ])

    def close(self) -> None:
        """Stop the Azure and GCP stand-ins (idempotent)."""
        try:
            self.azure.stop()
        finally:
            self.gcp.stop()


def start(servers: Servers, say: Callable[[str], None], out: Path) -> Running:
    """Start every part's emulator (moto and OpenBao through `servers`, which stops them; the Azure and GCP
    stand-ins are stopped by the returned `Running.close()`), seed Acme Parcel, write the files the config names
    into `out`, and leave this process's environment as a user's scan of the sandbox needs it."""
    say("starting moto's AWS server, two OpenBao dev servers and the Azure and GCP stand-ins on 127.0.0.1 …")
    aws_url = aws.start(servers)
    vaults = vault.start(servers)
    for key in aws.UNSET:
        os.environ.pop(key, None)
    os.environ.update(aws.ENV)
    say("seeding Acme Parcel: an organization with 3 AWS accounts, an Azure tenant, a GCP organization, "
        "2 Vault clusters, 8 services …")
    a = aws.seed(aws_url)
    az = azure_part.seed()  # in memory: served once the stand-in starts below
    g = gcp_part.seed(a.accounts["prod"])  # likewise
    tokens = vault.seed(vaults, identities={**a.users, **az.identities, **g.identities})
    est = SeededEstate(accounts=a.accounts, zones={**a.zones, **az.zones, gcp_part.ZONE_DNS_NAME: g.zone,
                                                             gcp_part.QUOTES_DNS_NAME: g.quotes_zone},
                       users=a.users, records={**a.records, **az.records},
                       service_principals={k.removeprefix("azure:"): v for k, v in az.identities.items()},
                       applications=az.applications, azure_subscription=az.subscription,
                       azure_tenant=az.estate.tenant_id,
                       service_accounts={k.removeprefix("gcp:"): v for k, v in g.identities.items()},
                       gcp_keys=g.keys, gcp_organization=g.organization, gcp_folder=g.folder,
                       gcp_services={g.service: g.record, g.quotes_service: g.quotes_record},
                       gcp_workload_pool=g.workload_pool)
    # last: nothing that can fail comes after them but writing their files (which stops them if it fails)
    stand_in = azure_part.start(az)
    try:
        gcp_stand_ins = gcp_part.start(g)
    except BaseException:
        stand_in.stop()
        raise
    running = Running(estate=est, aws=aws_url, vaults=vaults, tokens=tokens, azure=stand_in, azure_seed=az,
                      gcp=gcp_stand_ins, gcp_seed=g, out=out)
    try:
        running.write_files()
    except BaseException:
        running.close()
        raise
    os.environ.update(running.env())
    return running
