"""`commonmode simulate` end to end on the reference estate (the fake connector plugin): one scenario in each
format, several as a matrix (the standard ones and a --scenarios file), --down-provider, --service, and every
usage error with exit 2 and one line naming what was expected. The answers themselves are
tests/unit/test_failover.py's."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from tests.estate import KEY_PAY_B, U_PAY_B, VAULT_MOUNT, declared_services, reference_estate, write_config
from typer.testing import CliRunner

from commonmode.cli import app

runner = CliRunner()


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = write_config(tmp_path, reference_estate(), services=declared_services())
    result = runner.invoke(app, ["scan", "-c", str(path), "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return path


def sim(cfg: Path, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["simulate", "-c", str(cfg), *args], catch_exceptions=False)


def as_json(cfg: Path, *args: str):  # type: ignore[no-untyped-def]
    result = sim(cfg, *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_one_scenario_in_json_names_each_service_s_verdict_and_who_can_still_switch(cfg: Path) -> None:
    doc = as_json(cfg, "--down", VAULT_MOUNT.id)
    assert doc["scenario"] == VAULT_MOUNT.id and doc["down"] == [VAULT_MOUNT.id]
    services = {s["name"]: s for s in doc["services"]}
    with sqlite3.connect(cfg.parent / "commonmode.db") as db:
        assert set(services) == {r[0] for r in db.execute("SELECT name FROM services WHERE run_id = 1")}
    assert set(services["payments"]) == {"name", "verdict", "backup_up", "blocked_by", "can_switch"}
    # payments' backup operator keeps its key in that mount: nobody else can switch
    pay = services["payments"]
    assert pay["verdict"] == "backup up, nobody can switch" and pay["backup_up"] is True
    assert VAULT_MOUNT.id in pay["blocked_by"] and pay["can_switch"] == []
    # with only the primary's account down it can, through its key, and the chain says so
    before = {s["name"]: s for s in as_json(cfg, "--down", "aws:account:222222222222")["services"]}
    (only,) = [c for c in before["payments"]["can_switch"] if c["identity"] == U_PAY_B.id]
    assert only["chain"][0].startswith(f"{U_PAY_B.id} signs in with credential ") and KEY_PAY_B.id in only["chain"][0]


def test_one_scenario_as_a_table_and_as_markdown(cfg: Path) -> None:
    table = sim(cfg, "--down", VAULT_MOUNT.id)
    assert table.exit_code == 0 and f"down: {VAULT_MOUNT.id}" in table.stdout
    assert "payments" in table.stdout and "backup up, nobody can switch" in table.stdout
    md = sim(cfg, "--down", VAULT_MOUNT.id, "--format", "md")
    assert md.exit_code == 0 and md.stdout.startswith("# What if …: run 1")
    assert "| payments | **backup up, nobody can switch** |" in md.stdout
    rows = list(csv.DictReader(io.StringIO(sim(cfg, "--down", VAULT_MOUNT.id, "--format", "csv").stdout)))
    (pay,) = [r for r in rows if r["service"] == "payments"]
    assert pay == {"scenario": VAULT_MOUNT.id, "service": "payments", "verdict": "backup up, nobody can switch",
                   "backup_up": "true", "can_switch": "", "blocked_by": VAULT_MOUNT.id}


def test_a_provider_down_and_one_service(cfg: Path) -> None:
    doc = as_json(cfg, "--down-provider", "aws", "--service", "payments")
    assert [s["name"] for s in doc["services"]] == ["payments"]
    assert doc["services"][0]["verdict"] == "backup down"  # Route 53 holds its backup
    assert all(d.startswith(("aws:", "dns-provider:route53", "route53:")) for d in doc["down"]) and doc["down"]


def test_no_down_runs_the_standard_scenarios_as_a_matrix(cfg: Path) -> None:
    results = as_json(cfg)
    names = [r["scenario"] for r in results]
    # each provider's control plane, then each Vault cluster by the connector that scanned it (here: fake)
    assert names[:2] == ["AWS down", "Vault down"] and "fake down" in names
    table = sim(cfg)
    assert table.exit_code == 0 and "service × scenario" in table.stdout and "AWS DOWN" in table.stdout


def test_a_scenarios_file_is_a_matrix_in_markdown(cfg: Path, tmp_path: Path) -> None:
    path = tmp_path / "outages.toml"
    path.write_text('[[scenario]]\nname = "vault mount"\ndown = ["vault://vault-east/secret"]\n\n'
                    '[[scenario]]\nname = "all of AWS"\ndown_provider = ["aws"]\n', encoding="utf-8")
    md = sim(cfg, "--scenarios", str(path), "--format", "markdown")
    assert md.exit_code == 0, md.output
    assert "| service | vault mount | all of AWS |" in md.stdout
    assert "| payments | nobody can switch | backup down |" in md.stdout
    doc = as_json(cfg, "--scenarios", str(path))
    assert [r["scenario"] for r in doc] == ["vault mount", "all of AWS"]


@pytest.mark.parametrize(("args", "said"), [
    (["--down", "nothing-like-this"], "is neither a fault-domain label"),
    (["--down-provider", "oracle"], "--down-provider: unknown provider 'oracle'"),
    (["--service", "nope"], "--service 'nope': no such service in run 1"),
    (["--scenarios", "missing.toml"], "missing.toml: no such file"),
    (["--scenarios", "x.toml", "--down", "aws:region:us-east-1"], "--scenarios and --down"),
    (["--run", "7"], "--run: run 7: no such run"),
    # a label's form with nothing of the run in it: a typo, not an all-clear
    (["--down", "aws:regoin:us-east-1"], "no entity of run 1 is in fault domain 'aws:regoin:us-east-1'"),
])
def test_usage_errors_exit_2_with_one_line(cfg: Path, args: list[str], said: str) -> None:
    result = sim(cfg, *args)
    assert result.exit_code == 2, result.output
    assert said in result.output and len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.parametrize(("text", "said"), [
    ("[[scenario]]\ndown = ['a']\n", "scenario[0].name: expected a non-empty string"),
    ("[[scenario]]\nname = 'x'\n", "scenario[0]: expected down and/or down_provider"),
    ("[[scenario]]\nname = 'x'\ndown = 'aws:region:us-east-1'\n", "scenario[0].down: expected a list of strings"),
    ("[[scenario]]\nname = 'x'\ndown = ['a']\nwhen = 1\n", "scenario[0].when: unknown key"),
    ("[[scenario]]\nname = 'x'\ndown = ['a']\n[[scenario]]\nname = 'x'\ndown = ['b']\n", "is named twice"),
    ("[[scenario]]\nname = 'service'\ndown = ['a']\n", "scenario[0].name: 'service' names the matrix's service"),
    ("name = 'x'\n", "unknown key 'name'"),
    ("[[scenario\n", "not valid TOML"),
])
def test_a_bad_scenarios_file_names_the_key(cfg: Path, tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    result = sim(cfg, "--scenarios", str(path))
    assert result.exit_code == 2 and said in result.output and str(path) in result.output, result.output


def test_a_run_stored_before_simulate_says_to_scan_again(cfg: Path, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "commonmode.db") as db:
        db.execute("DELETE FROM failover_history")
    result = sim(cfg)
    assert result.exit_code == 2 and "stored without its failover graphs" in result.output
