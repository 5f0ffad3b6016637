"""The declared connector through the real CLI: a path through an unscanned DNS provider is followed, and
every mistake in the file is one line naming the file and the key, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commonmode.cli import app

runner = CliRunner()

PRIMARY = "r53:zone/acme/status.acme.example/A"
BACKUP = "ns1:zone/acme-status.example/status.acme-status.example/A"
KEY = "ns1:apikey:status-failover"

ESTATE = f"""
[[identity]]
id = "r53:user:status-dns"
kind = "api-key"
owner = "team-sre"
fault_domains = ["dns-provider:route53"]

[[identity]]
id = "{KEY}"
kind = "api-key"
name = "status-failover"
owner = "team-sre-dr"
fault_domains = ["dns-provider:ns1"]

[[resource]]
id = "{PRIMARY}"
kind = "dns-record"
names = ["status.acme.example"]
fault_domains = ["dns-provider:route53", "aws:region:us-east-1"]

[[resource]]
id = "{BACKUP}"
kind = "dns-record"
names = ["status.acme-status.example"]
parents = ["ns1:zone/acme-status.example"]
fault_domains = ["dns-provider:ns1"]

[[resource]]
id = "kv:east/status-primary"
kind = "secret"
fault_domains = ["aws:region:us-east-1"]

[[resource]]
id = "kv:west/status-dr"
kind = "secret"
fault_domains = ["aws:region:us-west-2"]

[[grant]]
identity = "r53:user:status-dns"
capability = "dns.write"
resource = "{PRIMARY}"
via = ["IAM policy status-dns"]

[[grant]]
identity = "{KEY}"
capability = "dns.write"
resource = "{BACKUP}"
via = ["NS1 API key limited to zone acme-status.example"]
"""


def setup(tmp_path: Path, *, key_kept_in: str, estate: str = ESTATE) -> Path:
    (tmp_path / "ns1.toml").write_text(estate)
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text(f"""
[store]
path = "cm.db"
[[declared]]
name = "ns1"
provider = "ns1"
file = "ns1.toml"
[[service]]
name = "status"
owner = "team-sre"
primary = ["{PRIMARY}"]
backup = ["{BACKUP}"]
[[credential]]
identity = "r53:user:status-dns"
stored_in = "kv:east/status-primary"
[[credential]]
identity = "{KEY}"
stored_in = "{key_kept_in}"
""")
    return cfg


def cm(cfg: Path, *args: str):
    return runner.invoke(app, [args[0], "-c", str(cfg), *args[1:]], catch_exceptions=False)


def test_a_backup_at_another_dns_provider_with_its_key_kept_elsewhere_is_independent(tmp_path):
    cfg = setup(tmp_path, key_kept_in="kv:west/status-dr")
    assert cm(cfg, "scan", "--no-progress").exit_code == 0
    [entry] = json.loads(cm(cfg, "review", "status", "--format", "json").stdout)
    assert entry["independent_via"] == [KEY]
    [option] = entry["can_fail_over"]
    assert option["identity"] == KEY and option["independent"] and option["owner"] == "team-sre-dr"
    findings = json.loads(cm(cfg, "findings", "--format", "json").stdout)
    assert findings == []
    access = json.loads(cm(cfg, "access", BACKUP, "--format", "json").stdout)
    assert [(r["identity"], r["capability"]) for r in access] == [(KEY, "dns.write")]
    assert "declared in ns1.toml" in " ".join(access[0]["chain"])


def test_the_same_key_kept_in_the_primarys_region_is_not(tmp_path):
    cfg = setup(tmp_path, key_kept_in="kv:east/status-primary")
    assert cm(cfg, "scan", "--no-progress").exit_code == 0
    [entry] = json.loads(cm(cfg, "review", "status", "--format", "json").stdout)
    assert entry["independent_via"] == []
    findings = {(f["rule"], tuple(f["subjects"])) for f in json.loads(cm(cfg, "findings", "--format", "json").stdout)}
    assert findings == {("no-independent-recovery", (BACKUP,)), ("shared-fault-domain", ("aws:region:us-east-1",))}


BAD = [
    ("[[grant]]\nidentity = 'a'\ncapability = 'dns.change'\nresource = 'b'\nvia = ['x']\n",
     "grant[0].capability: expected one of dns.write"),
    ("[[resource]]\nid = 'a'\nkind = 'dns-recrod'\n", "resource[0].kind: expected one of dns-zone"),
    ("[[identity]]\nid = 'a'\nkind = 'api-key'\nowner = 5\n", "identity[0].owner: expected a string, got an integer 5"),
    ("[[identity]]\nid = 'a'\nkind = 'k'\ncolour = 'red'\n", "identity[0].colour: unknown key"),
    ("[[identity]]\nkind = 'k'\n", "identity[0].id: missing"),
    ("[[identity]]\nid = 'a'\nkind = 'k'\n[[identity]]\nid = 'a'\nkind = 'k'\n",
     "identity[1].id: expected a unique id"),
    ("[[grant]]\nidentity = 'a'\ncapability = 'dns.write'\nresource = 'b'\nvia = []\n",
     "grant[0].via: expected a non-empty"),
    ("[[grant]]\nidentity = 'a'\ncapability = 'dns.write'\nresource = 'b'\nvia = [' ']\n",
     "grant[0].via: expected non-empty"),
    ("[[resource]]\nid = 'a'\nkind = 'certificate'\nexpires = 'soon'\n",
     "resource[0].expires: expected an ISO 8601 date"),
    ("[[records]]\nid = 'a'\n", "records: unknown section"),
    ("identity = 'a'\n", "identity: expected an array of tables"),
    ("[[identity]\n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_mistake_in_the_file_is_one_line_naming_file_and_key_exit_2(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    cfg = setup(tmp_path, key_kept_in="kv:west/status-dr", estate=text)
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("commonmode: error: ns1.toml: ") and message in lines[0], lines


def test_a_missing_file_is_a_usage_error_naming_the_key(tmp_path):
    cfg = setup(tmp_path, key_kept_in="kv:west/status-dr")
    (tmp_path / "ns1.toml").unlink()
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress"])
    assert result.exit_code == 2
    assert "declared[0].file:" in result.output and "ns1.toml does not exist" in result.output
