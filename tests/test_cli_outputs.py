"""Names that do not exist, and the files and feeds the CLI writes (issue 13: 4, 17, 18, 19, 21)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from tests.estate import declared_services, reference_estate, write_config
from typer.testing import CliRunner

from commonmode.cli import TICKET_FILES, app

runner = CliRunner()


def cm(*args: str, **kw):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), **kw)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_config(tmp_path_factory.mktemp("outputs"), reference_estate(), services=declared_services())
    for _ in range(2):
        assert cm("scan", "-c", str(path), "--no-progress").exit_code == 0
    return path


def one_error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("commonmode: error: "), result.stderr
    return lines[0]


# --- 4: an unknown name is exit 2 with the closest known ones -----------------------------------------------

@pytest.mark.parametrize(("args", "says"), [
    (["findings", "--rule", "shared-identiy"], "--rule: no rule 'shared-identiy'; did you mean 'shared-identity'?"),
    (["findings", "--service", "paymnts"], "--service: no service 'paymnts' in run 2; did you mean 'payments'?"),
    (["findings", "--run", "9"], "--run: run 9: no such run"),
    (["findings", "--run", "soon"], "--run: run 'soon': expected a run id"),
    (["review", "logn"], "no service 'logn' in run 2; did you mean 'login'?"),
    (["access", "arn:aws:iam::111111111111:user/dns-bott"],
     "did you mean 'arn:aws:iam::111111111111:user/dns-bot'?"),
    (["diff", "--from", "7"], "--from: run 7: no such run"),
    (["diff", "--to", "8"], "--to: run 8: no such run"),
    (["report", "--run", "5", "--out", "OUT"], "--run: run 5: no such run"),
    (["tickets", "--run", "6"], "--run: run 6: no such run"),
    (["review", "--run", "6"], "--run: run 6: no such run"),
    (["inventory", "--run", "6"], "--run: run 6: no such run"),
    (["inventory", "--kind", "iam-usr"], "--kind: no identity kind 'iam-usr' in run 2; did you mean 'iam-user'?"),
    (["inventory", "--connector", "fak"], "--connector: no connector 'fak' in run 2; did you mean 'fake'?"),
    (["inventory", "--can", "dns.writ"], "--can: no capability 'dns.writ'; did you mean 'dns.write'"),
])
def test_an_unknown_name_is_exit_2_with_the_closest_known(cfg, tmp_path, args, says):
    args = [str(tmp_path) if a == "OUT" else a for a in args]
    line = one_error(cm(*args, "-c", str(cfg)))
    assert says in line, line
    if "no such run" in says:
        assert "stored runs: 1–2" in line


def test_a_diff_needs_two_runs(tmp_path):
    path = write_config(tmp_path, reference_estate(), services=declared_services())
    assert cm("scan", "-c", str(path), "--no-progress").exit_code == 0
    assert "--from: no run before run 1" in one_error(cm("diff", "-c", str(path)))


# --- 17: OCSF -----------------------------------------------------------------------------------------------

def test_findings_as_ocsf_is_one_detection_finding_per_finding(cfg):
    rows = json.loads(cm("findings", "-c", str(cfg), "-f", "json").stdout)
    result = cm("findings", "-c", str(cfg), "--format", "ocsf")
    assert result.exit_code == 0, result.output
    ocsf = json.loads(result.stdout)
    assert isinstance(ocsf, list) and len(ocsf) == len(rows)
    assert {o["class_uid"] for o in ocsf} == {2004}
    assert sorted(o["finding_info"]["uid"] for o in ocsf) == sorted(f["fingerprint"] for f in rows)
    only = json.loads(cm("findings", "-c", str(cfg), "-f", "ocsf", "--service", "api").stdout)
    api = [f["fingerprint"] for f in rows if "api" in f["services"]]
    assert sorted(o["finding_info"]["uid"] for o in only) == sorted(api)


def test_report_as_ocsf_writes_the_feed(cfg, tmp_path):
    result = cm("report", "-c", str(cfg), "-f", "ocsf", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    feed = json.loads((tmp_path / "report.ocsf.json").read_text())
    assert feed == json.loads((tmp_path / "report-run-2.ocsf.json").read_text())
    assert len(feed) == len(json.loads(cm("findings", "-c", str(cfg), "-f", "json").stdout))
    assert stat.S_IMODE((tmp_path / "report.ocsf.json").stat().st_mode) == 0o600
    older = tmp_path / "older"
    assert cm("report", "-c", str(cfg), "-f", "ocsf", "--run", "1", "--out", str(older)).exit_code == 0
    assert sorted(p.name for p in older.iterdir()) == ["report-run-1.ocsf.json"]  # the latest is the newest run's


# --- 18: tickets --out writes the file its help names -------------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(TICKET_FILES))
def test_tickets_out_writes_the_file_the_help_names(cfg, tmp_path, fmt):
    help_text = " ".join(cm("tickets", "--help").stdout.split())
    assert f"{TICKET_FILES[fmt]} ({fmt})" in help_text
    result = cm("tickets", "-c", str(cfg), "-f", fmt, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == [TICKET_FILES[fmt]]
    assert str(tmp_path / TICKET_FILES[fmt]) in result.stdout
    if fmt == "jira-csv":
        assert TICKET_FILES[fmt] == "tickets-jira.csv"  # the name reports/sample and the demo use


# --- 19: report writes next to the config -------------------------------------------------------------------

def test_report_goes_next_to_the_config_not_the_current_folder(cfg, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = cm("report", "-c", str(cfg), "-f", "json")
    assert result.exit_code == 0, result.output
    assert list(elsewhere.iterdir()) == []  # no ./reports/ where the user stands
    here = cfg.parent
    assert (here / "report.json").exists() and (here / "report-run-2.json").exists()
    assert result.stdout.splitlines() == [f"report written to {here / 'report-run-2.json'}",
                                          f"report written to {here / 'report.json'}"]


def test_report_with_only_a_database_goes_next_to_it(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = cfg.parent / "commonmode.db"
    result = cm("report", "--db", str(db), "-f", "markdown", "--run", "1")
    assert result.exit_code == 0, result.output
    assert (cfg.parent / "report-run-1.md").exists() and list(tmp_path.iterdir()) == []


# --- 21: init, and scan's override flags --------------------------------------------------------------------

def test_init_writes_a_private_starter_that_loads(tmp_path):
    starter = pytest.importorskip("commonmode.starter")
    from commonmode.config import load_config
    from commonmode.connector import Registry

    target = tmp_path / "etc" / "commonmode.toml"
    result = cm("init", "--aws", "--vault", "--out", str(target))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    text = target.read_text()
    assert text == starter.starter_config({"aws", "vault"}) and "#" in text
    data = tomllib.loads(text)
    assert "aws" in data and "vault" in data and "declared" not in data
    cfg = load_config(target, Registry.discover())
    assert {c.connector_type for c in cfg.connectors} == {"aws", "vault"}


def test_init_refuses_to_overwrite_unless_forced(tmp_path):
    pytest.importorskip("commonmode.starter")
    target = tmp_path / "commonmode.toml"
    target.write_text("# mine\n")
    line = one_error(cm("init", "--declared", "--out", str(tmp_path)))  # a folder: its commonmode.toml
    assert f"{target}: already exists; pass --force" in line
    assert target.read_text() == "# mine\n"
    assert cm("init", "--declared", "--out", str(tmp_path), "--force").exit_code == 0
    assert "declared" in tomllib.loads(target.read_text())
    assert cm("init", "--aws", "--out", f"{tmp_path}/new/").exit_code == 0  # a folder still to be made
    assert (tmp_path / "new" / "commonmode.toml").is_file()


def aws_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    return env


def test_scan_profile_sets_the_one_aws_table(tmp_path):
    """--profile reaches the one [[aws]] instance: the AWS connector refuses a profile the AWS config lacks, naming
    the key and never the value; the config file is unchanged."""
    cfg = tmp_path / "commonmode.toml"
    text = '[store]\npath = "cm.db"\n\n[[aws]]\nname = "prod"\nendpoint_url = "http://127.0.0.1:9"\n'
    cfg.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "commonmode.cli", "scan", "-c", str(cfg), "--profile",
                           "no-such-profile-x1", "--no-progress"], capture_output=True, text=True, timeout=120,
                          env=aws_env())
    assert proc.returncode == 2, proc.stderr
    assert "aws[0].profile: the profile it names is not in the AWS config" in proc.stderr
    assert "no-such-profile-x1" not in proc.stderr + proc.stdout
    assert cfg.read_text() == text


def test_scan_overrides_are_refused_without_exactly_one_aws_table(tmp_path):
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text('[[aws]]\nname = "a"\n\n[[aws]]\nname = "b"\n')
    line = one_error(cm("scan", "-c", str(cfg), "--region", "eu-west-1", env=aws_env()))
    assert "--region: sets `region` of the one [[aws]] table, but" in line and "has 2 (a, b)" in line
    assert "set `region` in the [[aws]] table it belongs to" in line
    only_declared = write_config(tmp_path, reference_estate())
    line = one_error(cm("scan", "-c", str(only_declared), "--profile", "audit"))
    assert "has 0; set `profile` in the [[aws]] table" in line
