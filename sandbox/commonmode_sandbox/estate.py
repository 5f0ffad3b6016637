"""The sandbox estate: a fictional company, Acme Parcel, composed of each provider's part (aws.py, vault.py,
declared.py: each starts its emulator, seeds it and writes its config table; a new connector adds its own).

Its story, service by service (each finding is planted on purpose; tests/test_demo.py asserts them all):
- api.acme.example: Route 53 failover with both records in one hosted zone of the management account, and
  one unowned automation user (`dns-automation`) who can change both: shared identity, shared zone,
  nobody can fail over without the primary's dependencies; its key sits in vault-east.
- payments: primary DNS in the prod account, backup in the DR account, written by two users limited to
  their own records — but both users' keys are kept in one Vault mount (vault-east `secret/`), and one
  AppRole (`pay-dns-sync`, whose login expires in 10 days) reads both.
- login: separate accounts and keys, but both hostnames' certificates come from one PKI role.
- status: done right. Primary DNS in Route 53 (prod account), backup at a second DNS provider (NS1, which
  commonmode has no connector for, so it is written down in ns1.toml and read by the `declared` connector);
  the NS1 key is kept in vault-west and read by vault-west's own AppRole, owned by the DR team. Nothing the
  primary depends on is needed to fail over: independent recovery is possible.
- docs: declared without an owner.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from commonmode_sandbox import aws, declared, vault
from commonmode_sandbox.servers import Servers

#: What the demo needs installed (checked before anything starts).
NEEDS = ("moto", "boto3", "hvac")


@dataclass
class SeededEstate:
    """Ids a config and a test need."""

    accounts: dict[str, str] = field(default_factory=dict)  # role → AWS account id
    zones: dict[str, str] = field(default_factory=dict)  # zone name → ARN
    records: dict[str, str] = field(default_factory=dict)  # "service/side" → record id (any provider)
    users: dict[str, str] = field(default_factory=dict)  # IAM user name → ARN


@dataclass
class Running:
    """The estate, seeded, in the emulators that hold it: where each listens and each cluster's scanner token."""

    estate: SeededEstate
    aws: str
    vaults: dict[str, str]
    tokens: dict[str, str]

    def env(self) -> dict[str, str]:
        """What a shell needs to scan the sandbox: the emulator's AWS keys and the scanner tokens."""
        return {**aws.ENV, **vault.env(self.tokens)}

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
            declared.config_table(),
            svc("payments", "pay", "team-payments"),
            svc("login", "login", "team-identity"),
            svc("status", "status", "team-sre"),
            svc("docs", "docs", None),
        ])


def start(servers: Servers, say: Callable[[str], None]) -> Running:
    """Start every part's emulator (through `servers`, which stops them), seed Acme Parcel, and leave this
    process's environment as a user's scan of the sandbox needs it."""
    say("starting moto's AWS server and two OpenBao dev servers on 127.0.0.1 …")
    aws_url = aws.start(servers)
    vaults = vault.start(servers)
    for key in aws.UNSET:
        os.environ.pop(key, None)
    os.environ.update(aws.ENV)
    say("seeding Acme Parcel: an organization with 3 AWS accounts, 2 Vault clusters, 5 services …")
    a = aws.seed(aws_url)
    tokens = vault.seed(vaults, identities={**a.users, "ns1:status-failover": declared.NS1_KEY})
    est = SeededEstate(accounts=a.accounts, zones=a.zones, users=a.users,
                       records={**a.records, "status/backup": declared.NS1_RECORD})
    running = Running(estate=est, aws=aws_url, vaults=vaults, tokens=tokens)
    os.environ.update(running.env())
    return running
