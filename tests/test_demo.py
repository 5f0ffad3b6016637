"""`commonmode demo` end to end: real emulators, real connectors, every planted finding and nothing else;
every process it started is stopped; the committed report sample is current."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commonmode.cli import app

pytest.importorskip("moto", reason="the demo extra is installed with the test extra")
runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from commonmode.sandbox.demo import run_demo

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
    from commonmode.sandbox.estate import NS1_KEY

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


def test_every_emulator_was_stopped(demo):
    pids = demo.started["pids"]
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for url in [demo.started["aws"], *demo.started["vault"].values()]:
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=2)


def test_demo_command_says_it_is_a_sandbox(tmp_path, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key, raising=False)
    result = runner.invoke(app, ["demo", "--out", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("commonmode demo: this is a SANDBOX")
    assert (tmp_path / "report.html").exists() and "scan: ok" in result.stdout


def test_committed_report_sample_is_current(tmp_path):
    from commonmode.sandbox.sample import FILES, generate

    saved = dict(os.environ)
    try:
        generate(tmp_path)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    for name in FILES:
        committed = ROOT / "reports" / "sample" / name
        assert committed.exists(), f"missing {committed}: run python -m commonmode.sandbox.sample"
        import moto

        assert (tmp_path / name).read_text() == committed.read_text(), (
            f"reports/sample/{name} is stale: run python -m commonmode.sandbox.sample (the sample depends on "
            f"the pinned moto's id sequence; this is moto {moto.__version__})")
