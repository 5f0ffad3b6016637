"""`commonmode demo` end to end: real emulators, real connectors, every planted finding and nothing else;
every process it started is stopped; the committed report sample is current."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import queue
import re
import runpy
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commonmode.cli import app

pytest.importorskip("moto", reason="the demo extra is installed with the test extra")
runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
#: The maintainer's script that regenerates reports/sample (not part of the package).
SAMPLE_SCRIPT = ROOT / "scripts" / "sample.py"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from commonmode_sandbox.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    saved = dict(os.environ)
    try:
        result = run_demo(out, lambda s: None)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return result


def findings(result) -> list[dict]:  # type: ignore[no-untyped-def]
    r = runner.invoke(app, ["findings", "--db", str(result.database), "--format", "json"], catch_exceptions=False)
    return json.loads(r.stdout)


def test_every_planted_finding_and_nothing_else(demo):
    e = demo.estate
    api = "api.acme.example A"
    east = "vault://vault-east"
    got = set()
    for f in findings(demo):
        subject = ",".join(f["subjects"])
        if subject.startswith("vault:cluster:"):
            subject = "vault:cluster:<vault-east>"  # OpenBao's random cluster id
        if f["rule"] == "credential-expiry":
            subject = subject.split("/secret-id-accessor/")[0]
        got.add((f["rule"], f["service"] or ",".join(f["services"]), subject))
    backup = {s: e.records[f"{k}/backup"] for s, k in (("payments", "pay"), ("login", "login"), ("status", "status"),
                                                         ("docs", "docs"))}
    backup[api] = e.records["api/backup"]
    expected = {
        # api: one zone, one unowned automation user (and the AppRole that reads its key in vault-east)
        ("shared-identity", api, e.users["dns-automation"]),
        ("shared-identity", api, f"{east}/auth/approle/role/automation"),
        ("shared-dns-control-plane", api, e.zones["acme.example"]),
        ("shared-secret-store", api, f"{east}/secret"),
        ("shared-fault-domain", api, "aws:account:123456789012"),
        ("shared-fault-domain", api, "vault:cluster:<vault-east>"),
        ("shared-fault-domain", api, "aws:region:us-east-1"),
        ("owner-gap", api, e.users["dns-automation"]),
        ("owner-gap", api, f"{east}/auth/approle/role/automation"),
        # payments: both DNS users' keys in one Vault mount, one AppRole reads both; its login expires soon
        ("shared-identity", "payments", f"{east}/auth/approle/role/pay-dns-sync"),
        ("shared-secret-store", "payments", f"{east}/secret"),
        ("shared-fault-domain", "payments", "vault:cluster:<vault-east>"),
        ("shared-fault-domain", "payments", "aws:region:us-east-1"),
        ("credential-expiry", "payments", f"{east}/auth/approle/role/pay-dns-sync"),
        # login: one PKI role issues for both hostnames
        ("shared-certificate-path", "login", f"{east}/pki/issue/login"),
        ("shared-fault-domain", "login", "vault:cluster:<vault-east>"),
        ("shared-fault-domain", "login", "aws:region:us-east-1"),
        # docs: no owner
        ("owner-gap", "docs", "service:docs"),
        # every service but status: both paths are in Route 53, so nobody can fail over without Route 53
        *{("shared-fault-domain", s, "dns-provider:route53") for s in backup if s != "status"},
        *{("no-independent-recovery", s, backup[s]) for s in backup if s != "status"},
        # status is done right: nothing at all
    }
    assert got == expected, (sorted(got - expected), sorted(expected - got))


def test_status_can_be_failed_over_without_anything_the_primary_needs(demo):
    from commonmode_sandbox.declared import NS1_KEY

    r = runner.invoke(app, ["review", "--db", str(demo.database), "--format", "json"], catch_exceptions=False)
    verdicts = {e["service"]: e["independent_via"] for e in json.loads(r.stdout)}
    # the NS1 key itself, and vault-west's AppRole that reads it; nobody else, and no other service
    assert verdicts == {"api.acme.example A": [], "payments": [], "login": [], "docs": [],
                        "status": sorted([NS1_KEY, "vault://vault-west/auth/approle/role/status-dr-sync"])}


def test_the_scan_was_complete_and_outputs_were_written(demo):
    assert demo.run_status == "ok" and demo.gaps == []
    html = demo.outputs["report"].read_text()
    assert 'data-service="payments"' in html and 'class="node shared' in html
    assert demo.outputs["review"].read_text().startswith("# Recovery-permission review")
    assert "## CM-" in demo.outputs["tickets"].read_text()
    assert "sandbox-placeholder" not in html and b"sandbox-placeholder" not in demo.database.read_bytes()


def test_the_demo_writes_every_ticket_format_under_the_sample_s_names(demo):
    files = runpy.run_path(str(SAMPLE_SCRIPT))["FILES"]

    jira, github = demo.outputs["tickets (jira csv)"], demo.outputs["tickets (github json)"]
    assert jira.parent == github.parent == demo.config.parent
    assert {jira.name, github.name} <= set(files)  # the names reports/sample uses
    rows = list(csv.reader(io.StringIO(jira.read_text())))
    issues = json.loads(github.read_text())
    markdown = demo.outputs["tickets"].read_text().count("\n## CM-") + 1
    assert rows[0][:4] == ["Summary", "Issue Type", "Priority", "Description"]
    assert len(rows) - 1 == len(issues) == markdown > 0
    assert all("commonmode" in i["labels"] for i in issues)


def test_every_emulator_was_stopped(demo):
    pids = demo.started["pids"]
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for url in [demo.started["aws"], *demo.started["vault"].values()]:
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=2)


def test_demo_without_the_demo_extra_is_one_usage_error_before_anything_starts(tmp_path, monkeypatch):
    from commonmode_sandbox import estate

    monkeypatch.setattr(estate, "NEEDS", ("moto", "commonmode_no_such_sdk"))
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[-1] == (
        "commonmode: error: the sandbox needs commonmode_no_such_sdk: pip install -e '.[demo]'")
    assert not out.exists()  # nothing written, so nothing was started either


def test_demo_command_says_it_is_a_sandbox(tmp_path, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key, raising=False)
    result = runner.invoke(app, ["demo", "--out", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # the first thing said (a note, on stderr since -q silences notes) is that this is a sandbox
    assert result.output.splitlines()[0].startswith("commonmode demo: this is a SANDBOX")
    assert (tmp_path / "report.html").exists() and "scan: ok" in result.stdout


def _lines(stream, into: queue.Queue, name: str) -> None:  # type: ignore[no-untyped-def]
    for line in iter(stream.readline, ""):
        into.put((name, line.rstrip("\n")))
    into.put((name, None))


def test_demo_keep_says_everything_before_it_waits_and_ctrl_c_stops_every_emulator(tmp_path):
    from commonmode_sandbox.demo import WAITING

    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    proc = subprocess.Popen([sys.executable, "-c", "from commonmode.cli import main; main()", "demo", "--keep", "-q",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
        threading.Thread(target=_lines, args=(stream, lines, name), daemon=True).start()
    said: list[str] = []
    pids: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 300
        while not any(line.startswith(WAITING) for line in said):
            assert time.monotonic() < deadline and proc.poll() is None, "\n".join(said)
            try:
                _, line = lines.get(timeout=5)
            except queue.Empty:
                continue
            if line is not None:
                said.append(line)
        text = "\n".join(said)
        # addresses and process ids, and they are live while it waits
        aws = re.search(r"aws \(moto server\): (http://127\.0\.0\.1:\d+), in this process \(pid (\d+)\)", text)
        assert aws and int(aws.group(2)) == proc.pid, text
        vaults = re.findall(r"(vault-\w+) \(OpenBao dev server\): (http://127\.0\.0\.1:\d+), pid (\d+)", text)
        assert {v[0] for v in vaults} == {"vault-east", "vault-west"}, text
        pids = {name: int(pid) for name, _, pid in vaults}
        for _, url, pid in vaults:
            os.kill(int(pid), 0)  # running
            assert urllib.request.urlopen(url + "/v1/sys/health", timeout=5).status == 200
        urllib.request.urlopen(aws.group(1), timeout=5)
        # the outputs, the config and how to use them, all said before the wait
        for name in ("report.html", "review.md", "tickets.md", "tickets-jira.csv", "tickets-github.json",
                     "commonmode.toml"):
            assert str(out / name) in text and (out / name).exists(), name
        assert "export AWS_ACCESS_KEY_ID=testing" in text and "export COMMONMODE_SANDBOX_VAULT_EAST_TOKEN=" in text
        assert f"commonmode scan -c {out / 'commonmode.toml'}" in text
        assert re.search(r"^scan: (ok|partial); \d+ findings$", text, re.MULTILINE), text  # the run's outcome
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0
        after = []  # what it said once stopped: nothing of the above again (-q: nothing at all on stdout)
        while True:
            name, line = lines.get(timeout=10)
            if line is None and name == "stdout":
                break
            if line is not None and name == "stdout":
                after.append(line)
        assert not any(line.startswith("scan:") or "report.html" in line for line in after), after
    finally:
        if proc.poll() is None:  # the test failed while it waited: stop it, and what it started, by PID
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                for pid in pids.values():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for url in (aws.group(1), *(v[1] for v in vaults)):
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=2)


def test_committed_report_sample_is_current(tmp_path):
    # the maintainer's command itself, into a temporary folder: it writes every file it names and nothing else
    made = subprocess.run([sys.executable, str(SAMPLE_SCRIPT), str(tmp_path)], capture_output=True, text=True,
                          timeout=600, check=False)
    assert made.returncode == 0, made.stderr
    files = runpy.run_path(str(SAMPLE_SCRIPT))["FILES"]
    assert made.stdout.split() == [str(tmp_path / name) for name in files]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)
    for name in files:
        committed = ROOT / "reports" / "sample" / name
        assert committed.exists(), f"missing {committed}: run python scripts/sample.py"
        import moto

        assert (tmp_path / name).read_text() == committed.read_text(), (
            f"reports/sample/{name} is stale: run python scripts/sample.py (the sample depends on "
            f"the pinned moto's id sequence; this is moto {moto.__version__})")
