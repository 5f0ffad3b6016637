"""The sandbox's part for what no connector scans: the status page's backup DNS at NS1 (a second DNS
provider), written down in a file that the `declared` connector reads, as the team that runs it would."""

from __future__ import annotations

from pathlib import Path

from commonmode.files import write_private

DECLARED_FILE = "ns1.toml"  # beside the config
NS1_ZONE = "ns1:zone/acme-status.example"
NS1_RECORD = f"{NS1_ZONE}/status.acme-status.example/A"
NS1_KEY = "ns1:apikey:status-failover"


def write(out: Path) -> Path:
    """DECLARED_FILE in `out`, private like every file the demo writes."""
    return write_private(out / DECLARED_FILE, declared_text())


def config_table() -> str:
    """The [[declared]] table that reads DECLARED_FILE."""
    return f'[[declared]]\nname = "ns1"\nprovider = "ns1"\nfile = "{DECLARED_FILE}"\n'


def declared_text() -> str:
    """ns1.toml: the backup path of `status` at NS1, written down as its team would (no connector scans NS1)."""
    return f"""# What commonmode cannot scan: the status page's backup DNS at NS1 (secondary DNS provider).
# Reviewed by team-sre-dr; the key's scope is from NS1's console (API key settings).

[[identity]]
id = "{NS1_KEY}"
kind = "api-key"
name = "status-failover (NS1 API key)"
owner = "team-sre-dr"
fault_domains = ["dns-provider:ns1"]

[[resource]]
id = "{NS1_ZONE}"
kind = "dns-zone"
name = "acme-status.example (NS1)"
names = ["acme-status.example"]
control_plane = "ns1:account:acme"
fault_domains = ["dns-provider:ns1"]

[[resource]]
id = "{NS1_RECORD}"
kind = "dns-record"
name = "status.acme-status.example A (NS1)"
names = ["status.acme-status.example"]
parents = ["{NS1_ZONE}"]
control_plane = "ns1:account:acme"
fault_domains = ["dns-provider:ns1"]

[[grant]]
identity = "{NS1_KEY}"
capability = "dns.write"
resource = "{NS1_ZONE}"
via = ["NS1 API key with DNS zone write access limited to acme-status.example"]
"""
