"""The sandbox estate: a fictional company, Acme Parcel, composed of each provider's part (aws.py, vault.py,
azure_part.py: each starts its emulator or stand-in, seeds it and writes its config table; a new connector adds
its own).

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
  owned by the DR team. Nothing the primary depends on is needed to fail over: independent recovery is possible.
- track: two providers, one secret store. Primary DNS in Route 53 (prod account), backup DNS in Azure DNS; the
  IAM user and the Azure service principal (`track-dns-dr`) are separate, and so are the AppRoles that read
  their credentials — but both credentials are kept in one Vault mount (vault-east `secret/`), which the
  primary also needs: a second DNS provider that fails with the primary's secret store.
- docs: declared without an owner.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from commonmode_sandbox import aws, azure_part, vault
from commonmode_sandbox.servers import AzureServers, Servers

#: What the demo needs installed (checked before anything starts, with azure_part.NEEDS): names that are both the
#: distribution's and the module's (tests/test_packaging.py finds each in the demo extra).
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


@dataclass
class Running:
    """The estate, seeded, in the emulators that hold it: where each listens, each cluster's scanner token, and
    the Azure stand-in (threads of this process, which `close()` stops; `Servers` stops the others)."""

    estate: SeededEstate
    aws: str
    vaults: dict[str, str]
    tokens: dict[str, str]
    azure: AzureServers
    azure_seed: azure_part.AzureSeed

    def env(self) -> dict[str, str]:
        """What a shell needs to scan the sandbox: the emulator's AWS keys, the Vault scanner tokens and the
        Azure scanner's client secret."""
        return {**aws.ENV, **vault.env(self.tokens), **azure_part.env(self.azure_seed)}

    def write_files(self, out: Path) -> None:
        """The files the config names beside it (the Azure stand-in's CA)."""
        azure_part.write_ca(self.azure, out)

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
            aws.config_table(self.aws),
            vault.config_tables(self.vaults),
            azure_part.config_table(self.azure, self.azure_seed),
            svc("payments", "pay", "team-payments"),
            svc("login", "login", "team-identity"),
            svc("status", "status", "team-sre"),
            svc("track", "track", "team-tracking"),
            svc("docs", "docs", None),
        ])

    def close(self) -> None:
        """Stop the Azure stand-in (idempotent)."""
        self.azure.stop()


def start(servers: Servers, say: Callable[[str], None]) -> Running:
    """Start every part's emulator (moto and OpenBao through `servers`, which stops them; the Azure stand-in is
    stopped by the returned `Running.close()`), seed Acme Parcel, and leave this process's environment as a
    user's scan of the sandbox needs it."""
    say("starting moto's AWS server, two OpenBao dev servers and the Azure stand-in on 127.0.0.1 …")
    aws_url = aws.start(servers)
    vaults = vault.start(servers)
    for key in aws.UNSET:
        os.environ.pop(key, None)
    os.environ.update(aws.ENV)
    say("seeding Acme Parcel: an organization with 3 AWS accounts, an Azure tenant, 2 Vault clusters, "
        "6 services …")
    a = aws.seed(aws_url)
    az = azure_part.seed()  # in memory: served once the stand-in starts below
    tokens = vault.seed(vaults, identities={**a.users, **az.identities})
    est = SeededEstate(accounts=a.accounts, zones={**a.zones, **az.zones}, users=a.users,
                       records={**a.records, **az.records},
                       service_principals={k.removeprefix("azure:"): v for k, v in az.identities.items()},
                       applications=az.applications, azure_subscription=az.subscription,
                       azure_tenant=az.estate.tenant_id)
    stand_in = azure_part.start(az)  # last: nothing that can fail comes after it
    running = Running(estate=est, aws=aws_url, vaults=vaults, tokens=tokens, azure=stand_in, azure_seed=az)
    os.environ.update(running.env())
    return running
