"""The CLI end to end, in process, with the fake connector plugin: scan, lifecycle across runs, outputs."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest
from tests.estate import (
    DNS_BOT,
    KEY_PAY_B,
    KEY_PAY_B_OLD,
    R_API_B,
    R_API_P,
    Z_API,
    declared_services,
    reference_estate,
    write_config,
)
from typer.testing import CliRunner

from commonmode.cli import app
from commonmode.correlate import RULES
from commonmode.model import Inventory

runner = CliRunner()


def cm(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def scan(cfg: Path, *extra: str):
    return cm("scan", "-c", str(cfg), "--no-progress", *extra)


def findings_json(cfg: Path, *extra: str) -> list[dict]:
    result = cm("findings", "-c", str(cfg), "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def estate_cfg(tmp_path: Path) -> Path:
    return write_config(tmp_path, reference_estate(), services=declared_services())


def without(inv: Inventory, *ids: str) -> Inventory:
    """The estate with some credentials removed (a problem fixed)."""
    return dataclasses.replace(inv, credentials=tuple(c for c in inv.credentials if c.id not in ids))


def test_scan_stores_a_run_and_findings_list_every_rule(estate_cfg):
    result = scan(estate_cfg)
    assert result.exit_code == 0, result.output
    assert "run 1: ok" in result.stdout
    rows = findings_json(estate_cfg)
    assert {f["rule"] for f in rows} == set(RULES)
    assert all(f["status"] == "new" for f in rows)
    one = next(f for f in rows if f["rule"] == "shared-identity" and f["service"] == "api")
    assert set(one) >= {"rule", "severity", "service", "services", "subjects", "evidence", "remediation",
                        "fingerprint", "status", "first_seen_run"}
    assert one["subjects"] == [DNS_BOT.id] and one["severity"] == "critical"
    assert any("dns-bot-r53" in line for line in one["evidence"])


def test_second_run_with_one_problem_fixed_resolves_exactly_that_finding(tmp_path, estate_cfg):
    assert scan(estate_cfg).exit_code == 0
    before = {f["fingerprint"]: f for f in findings_json(estate_cfg)}
    write_config(tmp_path, without(reference_estate(), KEY_PAY_B_OLD.id), services=declared_services())
    assert scan(estate_cfg).exit_code == 0
    after = findings_json(estate_cfg)
    resolved = [f for f in after if f["status"] == "resolved"]
    assert [f["subjects"] for f in resolved] == [[KEY_PAY_B_OLD.id]]
    assert resolved[0]["rule"] == "credential-expiry"
    still = {f["fingerprint"] for f in after if f["status"] == "open"}
    assert still == set(before) - {resolved[0]["fingerprint"]}
    assert all(f["first_seen_run"] == 1 for f in after)
    # a third run: the resolved finding is gone, nothing new
    assert scan(estate_cfg).exit_code == 0
    third = findings_json(estate_cfg)
    assert {f["fingerprint"] for f in third} == still and {f["status"] for f in third} == {"open"}


def test_failed_connector_keeps_its_findings_open(tmp_path, estate_cfg):
    assert scan(estate_cfg).exit_code == 0
    before = {f["fingerprint"] for f in findings_json(estate_cfg)}
    # a second, healthy connector keeps the run partial rather than failed
    (tmp_path / "other.json").write_text("{}")
    write_config(tmp_path, reference_estate(), services=declared_services(), connector_extra="fail = true",
                 extra='\n[[fake]]\nname = "other"\nestate = "other.json"\n')
    result = scan(estate_cfg)
    assert result.exit_code == 3, result.output
    assert "ConnectionError: cannot reach the fake provider for fake" in result.stdout
    after = findings_json(estate_cfg)
    assert {f["fingerprint"] for f in after} == before
    assert {f["status"] for f in after} == {"open"}
    assert all("connector fake did not complete" in f["note"] for f in after if f["connectors"] == ["fake"])
    runs = json.loads(cm("runs", "-c", str(estate_cfg), "--format", "json").stdout)
    assert [r["status"] for r in runs] == ["ok", "partial"]


def test_all_connectors_failing_is_exit_1_and_keeps_findings(tmp_path, estate_cfg):
    assert scan(estate_cfg).exit_code == 0
    before = {f["fingerprint"] for f in findings_json(estate_cfg)}
    write_config(tmp_path, reference_estate(), services=declared_services(), connector_extra="fail = true")
    assert scan(estate_cfg).exit_code == 1
    after = findings_json(estate_cfg)
    assert {f["fingerprint"] for f in after} == before and {f["status"] for f in after} == {"open"}


def test_partial_connector_result_is_exit_3(tmp_path):
    cfg = write_config(tmp_path, reference_estate(), services=declared_services(),
                       connector_extra='gaps = ["403 on ListRoles in account 111111111111"]')
    result = scan(cfg, "--format", "json")
    assert result.exit_code == 3
    summary = json.loads(result.stdout)
    assert summary["status"] == "partial"
    assert summary["connectors"][0]["gaps"] == ["403 on ListRoles in account 111111111111"]


def test_fail_on_threshold_is_exit_4(estate_cfg):
    assert scan(estate_cfg, "--fail-on", "critical").exit_code == 4


def test_fail_on_not_reached_is_exit_0(tmp_path):
    inv = reference_estate()
    # only the clean "good" service declared
    cfg = write_config(tmp_path, dataclasses.replace(inv, services=()),
                       services=tuple(s for s in declared_services() if s.name == "good"))
    assert scan(cfg, "--fail-on", "low").exit_code == 0
    assert findings_json(cfg) == []


def test_bad_config_is_exit_2_with_one_line(tmp_path):
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text('[[fake]]\nname = "x"\nestate = 3\n')
    result = scan(cfg)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"commonmode: error: {cfg}: fake[0].estate: expected a string, got an integer 3"


def test_bad_options_are_exit_2(estate_cfg):
    assert scan(estate_cfg, "--fail-on", "severe").exit_code == 2
    assert scan(estate_cfg).exit_code == 0
    assert cm("findings", "-c", str(estate_cfg), "--rule", "nope").exit_code == 2
    assert cm("findings", "-c", str(estate_cfg), "--run", "99").exit_code == 2
    assert cm("findings", "-c", str(estate_cfg), "--format", "xml").exit_code == 2
    assert cm("access", "-c", str(estate_cfg), "no-such-id").exit_code == 2


def test_commands_without_a_database_say_so(tmp_path):
    result = cm("findings", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 2 and "run `commonmode scan` first" in result.stderr


def test_findings_filters(estate_cfg):
    scan(estate_cfg)
    assert {f["rule"] for f in findings_json(estate_cfg, "--service", "payments")} == {
        "shared-identity", "shared-secret-store", "shared-fault-domain", "no-independent-recovery", "credential-expiry"}
    assert {f["severity"] for f in findings_json(estate_cfg, "--severity", "high")} == {"critical", "high"}
    assert {f["rule"] for f in findings_json(estate_cfg, "--rule", "owner-gap")} == {"owner-gap"}
    assert findings_json(estate_cfg, "--status", "resolved") == []


def test_inventory_lists_what_each_identity_can_modify(estate_cfg):
    scan(estate_cfg)
    rows = json.loads(cm("inventory", "-c", str(estate_cfg), "--format", "json").stdout)
    bot = next(i for i in rows if i["id"] == DNS_BOT.id)
    assert bot["owner"] is None and bot["kind"] == "iam-user"
    mods = {(m["resource"], m["capability"]) for m in bot["can_modify"]}
    assert (Z_API.id, "dns.write") in mods
    assert (Z_API.id, "cert.issue") in mods  # derived: public zone, DNS validation
    m = next(m for m in bot["can_modify"] if m["capability"] == "dns.write")
    assert set(m) == {"resource", "resource_kind", "capability", "conditional", "via"}
    assert m["resource_kind"] == "dns-zone" and m["via"] == ["inline policy dns-bot-r53"]
    pay = next(i for i in rows if i["id"].endswith("user/pay-dns-backup"))
    assert {c["id"] for c in pay["credentials"]} == {KEY_PAY_B.id, KEY_PAY_B_OLD.id}


def test_access_follows_zone_and_assume_chains(estate_cfg):
    scan(estate_cfg)
    rows = json.loads(cm("access", "-c", str(estate_cfg), R_API_B.id, "--format", "json").stdout)
    assert {(r["identity"], r["capability"], r["on"]) for r in rows} == {
        (DNS_BOT.id, "dns.write", Z_API.id), (DNS_BOT.id, "cert.issue", Z_API.id)}
    assert any(f"{Z_API.id} contains or controls {R_API_B.id}" in step for step in rows[0]["chain"])
    # the vault CI role reads the backup user's key, so it can act as that user
    pay_zone = "arn:aws:route53:::hostedzone/ZPAYB"
    rows = json.loads(cm("access", "-c", str(estate_cfg), pay_zone, "--format", "json").stdout)
    indirect = [r for r in rows if not r["direct"]]
    assert {r["identity"] for r in indirect} == {"vault://vault-east/auth/approle/role/ci"}
    assert "secret.read on vault://vault-east/secret/data/dns/backup" in indirect[0]["chain"][0]


def test_services_show_discovered_and_declared(estate_cfg):
    scan(estate_cfg)
    rows = {s["name"]: s for s in json.loads(cm("services", "-c", str(estate_cfg), "--format", "json").stdout)}
    assert set(rows) == {"api", "payments", "login", "split", "good"}
    assert rows["api"]["source"] == "fake" and rows["payments"]["source"] == "declared"
    assert rows["api"]["primary"] == [R_API_P.id]
    assert rows["good"]["independent_recovery_via"] == ["arn:aws:iam::888888888888:user/good-dr"]
    assert rows["api"]["independent_recovery_via"] == []


def test_diff_shows_resolved_findings_and_power_changes(tmp_path, estate_cfg):
    scan(estate_cfg)
    inv = reference_estate()
    fixed = dataclasses.replace(inv, grants=tuple(g for g in inv.grants if g.identity_id != DNS_BOT.id))
    write_config(tmp_path, fixed, services=declared_services())
    scan(estate_cfg)
    d = json.loads(cm("diff", "-c", str(estate_cfg), "--format", "json").stdout)
    assert (d["from"], d["to"]) == (1, 2)
    assert d["lost_power"] == [{"identity": DNS_BOT.id, "capability": "dns.write", "resource": Z_API.id}]
    assert d["gained_power"] == []
    assert ("shared-identity", (DNS_BOT.id,)) in {(f["rule"], tuple(f["subjects"])) for f in d["resolved_findings"]}
    assert d["new_findings"] == []  # api still has no independent recovery: now nobody can steer it at all
    api = findings_json(estate_cfg, "--service", "api", "--rule", "no-independent-recovery")
    assert [f["status"] for f in api] == ["open"] and "no identity found" in api[0]["evidence"][0]
    table = cm("diff", "-c", str(estate_cfg)).stdout
    assert "lost power" in table and "resolved finding" in table


def test_csv_output_is_protected_against_formula_injection(tmp_path):
    inv = reference_estate()
    evil = dataclasses.replace(DNS_BOT, owner="=HYPERLINK(\"http://x\")")
    inv = dataclasses.replace(inv, identities=tuple(evil if i.id == DNS_BOT.id else i for i in inv.identities))
    cfg = write_config(tmp_path, inv, services=declared_services())
    scan(cfg)
    out = cm("inventory", "-c", str(cfg), "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert next(r for r in rows if r["id"] == DNS_BOT.id)["owner"] == "'=HYPERLINK(\"http://x\")"


def test_table_output_and_help(estate_cfg):
    scan(estate_cfg)
    out = cm("findings", "-c", str(estate_cfg)).stdout
    assert "shared-secret-store" in out and "critical" in out
    assert cm("--help").exit_code == 0
    assert "Exit codes" in cm("--help").stdout


def test_config_from_environment_variable(estate_cfg, monkeypatch):
    monkeypatch.setenv("COMMONMODE_CONFIG", str(estate_cfg))
    assert cm("scan", "--no-progress").exit_code == 0
    assert json.loads(cm("findings", "--format", "json").stdout)


@pytest.mark.parametrize(("args", "says"), [
    (["review", "-f", "xml"],
     "Invalid value for '--format' / '-f': 'xml' is not one of 'table', 'json', 'csv', 'markdown'"),
    (["findings", "--bogus"], "No such option: --bogus"),
    (["access"], "Missing argument 'resource_id'."),
    (["frobnicate"], "No such command 'frobnicate'."),
    (["tickets", "--min-severity", "severe", "--db", "none.db"],
     "--min-severity: expected one of critical, high, medium, low; got 'severe'"),
    (["findings", "--severity", "severe", "--db", "none.db"],
     "--severity: expected one of critical, high, medium, low; got 'severe'"),
])
def test_every_usage_error_is_one_line_and_exit_2(tmp_path, args, says):
    """README, "Exit codes": usage errors are one line on stderr starting `commonmode: error:`, exit 2 — click's
    own errors too (no box), each naming the flag the user typed."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "commonmode.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("commonmode: error: ") and says in lines[0], proc.stderr


def test_version():
    import subprocess
    import sys

    from commonmode import __version__

    proc = subprocess.run([sys.executable, "-m", "commonmode.cli", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"commonmode {__version__}"


def test_an_unknown_service_is_a_usage_error_with_the_known_names(estate_cfg):
    assert scan(estate_cfg).exit_code == 0
    result = runner.invoke(app, ["findings", "-c", str(estate_cfg), "--service", "apii"])
    assert result.exit_code == 2
    assert "--service: no service 'apii' in run 1; did you mean 'api'?" in result.output
    assert findings_json(estate_cfg, "--service", "api")  # a known one still lists
