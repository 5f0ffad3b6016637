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
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from commonmode.cli import app

if TYPE_CHECKING:
    from commonmode_sandbox.demo import DemoResult

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
                                                         ("docs", "docs"), ("track", "track"))}
    backup[api] = e.records["api/backup"]
    rates = "rates.acme-rates.example"
    record = e.gcp_services[rates]
    quotes = "api.acme-quotes.example"
    quotes_record = e.gcp_services[quotes]
    prod = e.accounts["prod"]
    gcp_sa = e.service_accounts
    gcp_org = f"gcp:organization:{e.gcp_organization.removeprefix('organizations/')}"
    gcp_folder = f"gcp:folder:{e.gcp_folder.removeprefix('folders/')}"
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
        # track: backup DNS in Azure, but the Azure service principal's secret sits in the mount (and cluster,
        # and region) that holds the Route 53 user's key: nobody can fail over without them
        ("shared-secret-store", "track", f"{east}/secret"),
        ("shared-fault-domain", "track", "vault:cluster:<vault-east>"),
        ("shared-fault-domain", "track", "aws:region:us-east-1"),
        # one GitHub repository deploys both paths: AWS OIDC into track-deploy (primary, its main branch), an
        # Azure federated credential into track-dns-dr (backup, its protected prod environment)
        ("shared-identity", "track", "github:repo:acme/tracking"),
        ("owner-gap", "track", "github:repo:acme/tracking"),
        ("shared-fault-domain", "track", "ci:github-actions"),
        # docs: no owner
        ("owner-gap", "docs", "service:docs"),
        # rates (GCP, discovered): one primaryBackup record set is both paths, so whoever can change it changes
        # both: directly, by impersonation, and any GitHub repository through a provider without a condition
        ("shared-identity", rates, gcp_sa["rates-dns"]),
        ("shared-identity", rates, gcp_sa["rates-deploy"]),
        ("shared-identity", rates, "github:any"),
        ("shared-dns-control-plane", rates, e.zones["acme-rates.example"]),
        # the key of rates-dns sits in vault-east's secret/ mount: a Vault cluster in AWS us-east-1 under GCP DNS
        ("shared-secret-store", rates, f"{east}/secret"),
        ("shared-fault-domain", rates, "vault:cluster:<vault-east>"),
        ("shared-fault-domain", rates, "aws:region:us-east-1"),
        ("shared-fault-domain", rates, "gcp:project:acme-rates-prod"),
        ("shared-fault-domain", rates, gcp_folder),
        ("shared-fault-domain", rates, gcp_org),
        ("shared-fault-domain", rates, "dns-provider:cloud-dns"),
        ("no-independent-recovery", rates, f"{record},{record}#backup/us-west1"),
        ("owner-gap", rates, gcp_sa["rates-deploy"]),  # no `owner:` in its description
        # the pool's GitHub provider has no attribute condition, and track's preview role in AWS trusts GitHub with
        # no sub condition: any repository on GitHub can change both records (one finding, two services)
        ("owner-gap", f"{rates},track", "github:any"),
        ("broad-federated-trust", f"{rates},track", "github:any"),
        # ... and a workflow runs on GitHub Actions: the CI system is a fault domain both paths now share
        ("shared-fault-domain", rates, "ci:github-actions"),
        ("credential-expiry", rates, e.gcp_keys["rates-dns"]),  # a user-managed key 400 days old
        # quotes (GCP, discovered): the record set is both paths, and its failover account is one the primary's
        # AWS account can act as (workload identity federation from the role quotes-ops): the AWS account the
        # primary runs in is needed to fail over
        ("shared-identity", quotes, gcp_sa["quotes-failover"]),
        ("shared-identity", quotes, f"arn:aws:iam::{prod}:role/quotes-ops"),
        ("shared-dns-control-plane", quotes, e.zones["acme-quotes.example"]),
        ("shared-fault-domain", quotes, f"aws:account:{prod}"),
        ("shared-fault-domain", quotes, "gcp:project:acme-quotes-prod"),
        ("shared-fault-domain", quotes, gcp_folder),
        ("shared-fault-domain", quotes, gcp_org),
        ("shared-fault-domain", quotes, "dns-provider:cloud-dns"),
        ("no-independent-recovery", quotes, f"{quotes_record},{quotes_record}#backup/us-west1"),
        # both paths in Route 53 (every service but status and track), so nobody can fail over without it
        *{("shared-fault-domain", s, "dns-provider:route53") for s in backup if s not in ("status", "track")},
        *{("no-independent-recovery", s, backup[s]) for s in backup if s != "status"},
        # status is done right: nothing at all
    }
    assert got == expected, (sorted(got - expected), sorted(expected - got))


def review(result) -> list[dict]:  # type: ignore[no-untyped-def]
    r = runner.invoke(app, ["review", "--db", str(result.database), "--format", "json"], catch_exceptions=False)
    return json.loads(r.stdout)


def test_status_can_be_failed_over_without_anything_the_primary_needs(demo):
    e = demo.estate
    verdicts = {entry["service"]: entry["independent_via"] for entry in review(demo)}
    # the Azure service principal that changes the backup record, its app registration (whose credentials sign
    # in as it), vault-west's AppRole that reads its secret, and the DR workflow federated into the application
    # through its protected environment; nobody else, and no other service
    assert verdicts == {"api.acme.example A": [], "payments": [], "login": [], "docs": [], "track": [],
                        "rates.acme-rates.example": [], "api.acme-quotes.example": [],
                        "status": sorted([e.service_principals["status-dns-dr"], e.applications["status-dns-dr"],
                                          "vault://vault-west/auth/approle/role/status-dr-sync",
                                          "github:repo:acme/status"])}


def test_status_fails_over_through_the_azure_service_principal_whose_secret_is_in_vault_west(demo):
    e = demo.estate
    (status,) = [entry for entry in review(demo) if entry["service"] == "status"]
    assert status["backup"] == [e.records["status/backup"]]
    assert "/providers/Microsoft.Network/dnszones/acme-status.example/A/status" in status["backup"][0]
    sp = {o["identity"]: o for o in status["can_fail_over"]}[e.service_principals["status-dns-dr"]]
    assert sp["independent"] and sp["shared_with_primary"] == [] and sp["name"] == "status-dns-dr"
    assert sp["owner"] == "team-sre-dr@acme-parcel.example"  # the app registration's Graph owner
    assert sp["changes"] == e.zones["acme-status.example"]  # DNS Zone Contributor on that zone, nothing wider
    assert "DNS Zone Contributor" in sp["chain"][0]
    assert [c["stored_in"] for c in sp["credentials"]] == ["vault://vault-west/secret/data/dns/status-dr"]
    assert "dns-provider:azure-dns" in sp["fault_domains"] and not any(
        d.startswith(("aws:account:", "dns-provider:route53")) for d in sp["fault_domains"])


def test_track_keeps_both_providers_automation_credentials_in_one_vault_mount(demo):
    e = demo.estate
    (found,) = [f for f in findings(demo) if f["rule"] == "shared-secret-store" and f["service"] == "track"]
    assert found["subjects"] == ["vault://vault-east/secret"]
    assert set(found["connectors"]) == {"acme-aws", "acme-azure", "vault-east"}  # found by the real connectors
    evidence = "\n".join(found["evidence"])
    user, sp = e.users["track-dns"], e.service_principals["track-dns-dr"]
    # the Route 53 user on the primary side, the Azure service principal on the backup side, each with its
    # credential in vault-east's secret/ mount
    assert f"primary: {user}@vault://vault-east/secret/data/dns/track-primary is kept in" in evidence
    assert f"backup: {sp}@vault://vault-east/secret/data/dns/track-dr is kept in" in evidence
    assert f"backup: {sp} has dns.write on {e.zones['acme-track.example']}/A/track" in evidence
    assert e.records["track/backup"] == f"{e.zones['acme-track.example']}/A/track"
    (verdict,) = [entry for entry in review(demo) if entry["service"] == "track"]
    assert verdict["independent_via"] == [] and verdict["can_fail_over"]
    assert all("vault://vault-east/secret" in o["shared_with_primary"] for o in verdict["can_fail_over"])


def test_rates_is_discovered_from_a_gcp_primary_backup_record_that_any_github_repository_can_change(
        demo: DemoResult) -> None:
    e = demo.estate
    rates = "rates.acme-rates.example"
    record = e.gcp_services[rates]
    r = runner.invoke(app, ["services", "--db", str(demo.database), "--format", "json"], catch_exceptions=False)
    (service,) = [s for s in json.loads(r.stdout) if s["name"] == rates]
    # not declared in the config: the GCP connector found it, from the primaryBackup routing policy, and both
    # paths hold that one record set (primary: the internal load balancer in us-east1; backup: the geo target)
    assert service["source"] == "acme-gcp" and service["owner"] == "team-rates"
    assert service["primary"] == [record, "//compute.googleapis.com/projects/acme-rates-prod/regions/us-east1/"
                                          "internalLoadBalancers/10.20.0.5:443"]
    assert service["backup"] == [record, f"{record}#backup/us-west1"]
    (verdict,) = [entry for entry in review(demo) if entry["service"] == rates]
    who = {o["identity"]: o for o in verdict["can_fail_over"]}
    dns, deploy = e.service_accounts["rates-dns"], e.service_accounts["rates-deploy"]
    assert set(who) == {dns, deploy, "github:any"} and verdict["independent_via"] == []
    assert "roles/dns.admin" in who[dns]["chain"][0] and who[dns]["owner"] == "team-rates"
    # impersonation: rates-deploy mints rates-dns's tokens, then changes the record as rates-dns
    assert who[deploy]["owner"] is None
    assert [step.split(" ", 1)[0] for step in who[deploy]["chain"]] == [deploy, dns]
    assert "roles/iam.serviceAccountTokenCreator" in who[deploy]["chain"][0]
    # any GitHub repository: the pool's provider has no attribute condition, and the pool's every identity may act
    # as rates-deploy
    assert [step.split(" ", 1)[0] for step in who["github:any"]["chain"]] == ["github:any", deploy, dns]
    assert "no attribute condition" in who["github:any"]["chain"][0]
    assert f"principalSet://iam.googleapis.com/{e.gcp_workload_pool}/*" in who["github:any"]["chain"][0]
    # the key rates-dns signs in with is kept in vault-east, beside the AWS users' keys
    stored = {c["id"]: c for c in who[dns]["credentials"]}
    assert stored[e.gcp_keys["rates-dns"]]["kind"] == "service-account-key"
    assert f"{dns}@vault://vault-east/secret/data/dns/rates-gcp" in stored
    (found,) = [f for f in findings(demo) if f["rule"] == "shared-secret-store" and f["service"] == rates]
    assert set(found["connectors"]) == {"acme-gcp", "vault-east"}  # across providers, by the real connectors
    r = runner.invoke(app, ["runs", "--db", str(demo.database), "--format", "json"], catch_exceptions=False)
    (run,) = json.loads(r.stdout)
    assert run["summary"]["connectors"] == {"acme-aws": "ok", "acme-azure": "ok", "acme-gcp": "ok",
                                            "vault-east": "ok", "vault-west": "ok"}


def test_the_gcp_scan_signed_in_with_the_key_file_beside_the_config(demo: DemoResult) -> None:
    key = demo.config.parent / "gcp-scanner-key.json"
    assert demo.env["GOOGLE_APPLICATION_CREDENTIALS"] == str(key)
    assert key.stat().st_mode & 0o077 == 0  # a private key: the owner's only
    info = json.loads(key.read_text())
    assert info["type"] == "service_account" and info["token_uri"].startswith("https://127.0.0.1:")
    config = demo.config.read_text()
    assert 'ca_bundle = "gcp-ca.pem"' in config and (demo.config.parent / "gcp-ca.pem").exists()
    assert "private_key" not in config and "GOOGLE_APPLICATION_CREDENTIALS" not in config


def test_the_scan_was_complete_and_outputs_were_written(demo):
    assert demo.run_status == "ok" and demo.gaps == []
    html = demo.outputs["report"].read_text()
    assert 'data-service="payments"' in html and 'class="node shared' in html
    assert demo.outputs["review"].read_text().startswith("# Recovery-permission review")
    assert "## CM-" in demo.outputs["tickets"].read_text()
    assert "sandbox-placeholder" not in html and b"sandbox-placeholder" not in demo.database.read_bytes()


def test_the_stand_ins_saw_no_write_and_no_output_holds_an_azure_or_gcp_secret(demo):
    assert demo.refused == [] and demo.standin_failures == []
    # Azure: the scanner's client secret, the automation apps' secrets, and the access tokens issued during the
    # scan; GCP: a piece of the scanner's private key and the access tokens its token endpoint issued
    assert len(demo.canaries) >= 6 and demo.env["COMMONMODE_SANDBOX_AZURE_CLIENT_SECRET"] in demo.canaries
    private_key = json.loads(Path(demo.env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())["private_key"]
    assert any(c in private_key.replace("\n", "") for c in demo.canaries)
    assert any(c.startswith("ya29.") for c in demo.canaries)  # the GCP scan's own tokens
    written = [p.read_bytes() for p in demo.outputs.values()] + [demo.database.read_bytes(),
                                                                   demo.config.read_bytes()]
    for canary in demo.canaries:
        assert not any(canary.encode() in blob for blob in written), canary[:12]


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
    assert set(demo.started["azure"]) == {"token endpoint", "ARM", "Graph"}
    for url in demo.started["azure"].values():
        assert_refused(url)
    assert len(set(demo.started["gcp"].values())) == 3  # the IAM port, the REST port, the gRPC server behind IAM
    for address in demo.started["gcp"].values():
        assert_refused(address if "://" in address else f"https://{address}")


def assert_refused(url: str) -> None:
    """Nothing listens at `url` any more (a TCP connect is refused: an HTTPS answer under a CA this test does not
    trust would also be an OSError, so urlopen cannot tell)."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()


def https_status(url: str, ca_file: Path) -> int:
    """The HTTP status of a GET over TLS verified against `ca_file` (an error status is still an answer)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


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
        # the Azure stand-in's three APIs, in this process, answering over TLS under the CA file beside the config
        azure = re.findall(r"azure (token endpoint|ARM|Graph) \(commonmode's stand-in\): (https://127\.0\.0\.1:\d+), "
                           r"in this process \(pid (\d+)\)", text)
        assert {a[0] for a in azure} == {"token endpoint", "ARM", "Graph"} and len({a[1] for a in azure}) == 3, text
        assert all(int(a[2]) == proc.pid for a in azure), text
        ca_file = out / "azure-ca.pem"
        assert f"azure's test CA (the config's ca_bundle): {ca_file}" in text
        tenant = re.search(r'^tenant_id = "([0-9a-f-]+)"$', (out / "commonmode.toml").read_text(), re.MULTILINE)
        assert tenant, "no tenant_id in the config"
        (login,) = [a[1] for a in azure if a[0] == "token endpoint"]
        assert https_status(f"{login}/{tenant.group(1)}/v2.0/.well-known/openid-configuration", ca_file) == 200
        assert all(https_status(a[1] + "/", ca_file) < 500 for a in azure)
        # the GCP stand-ins: the IAM port (gRPC and REST), the REST APIs' root and the gRPC server behind the IAM
        # port, in this process, answering over TLS under the CA file beside the config
        gcp = dict(re.findall(r"gcp (IAM|REST APIs and token endpoint|IAM gRPC \(behind the IAM port\)) "
                              r"\(commonmode's stand-in\): ((?:https://)?127\.0\.0\.1:\d+), in this process "
                              rf"\(pid {proc.pid}\)", text))
        assert set(gcp) == {"IAM", "REST APIs and token endpoint", "IAM gRPC (behind the IAM port)"}, text
        gcp_ca = out / "gcp-ca.pem"
        key_file = out / "gcp-scanner-key.json"
        assert f"gcp's test CA (the config's ca_bundle): {gcp_ca}" in text
        assert f"gcp's scanner key (GOOGLE_APPLICATION_CREDENTIALS): {key_file}" in text
        assert f"export GOOGLE_APPLICATION_CREDENTIALS={key_file}" in text and key_file.exists()
        # the token endpoint answers (a bad grant is still an answer), and so does IAM's REST API on the IAM port
        rest = gcp["REST APIs and token endpoint"]
        assert json.loads(key_file.read_text())["token_uri"] == f"{rest}/token"
        assert https_status(f"{rest}/token", gcp_ca) < 500
        assert https_status(f"https://{gcp['IAM']}/v1/projects/acme-rates-prod/locations/global/"
                            "workloadIdentityPools", gcp_ca) == 401  # no token: refused, but served
        context = ssl.create_default_context(cafile=str(gcp_ca))
        host, port = gcp["IAM gRPC (behind the IAM port)"].split(":")
        with socket.create_connection((host, int(port)), timeout=5) as raw, context.wrap_socket(raw,
                                                                                               server_hostname=host):
            pass  # a TLS handshake under the same CA
        # the outputs, the config and how to use them, all said before the wait
        for name in ("report.html", "review.md", "tickets.md", "tickets-jira.csv", "tickets-github.json",
                     "commonmode.toml"):
            assert str(out / name) in text and (out / name).exists(), name
        assert "export AWS_ACCESS_KEY_ID=testing" in text and "export COMMONMODE_SANDBOX_VAULT_EAST_TOKEN=" in text
        assert "export COMMONMODE_SANDBOX_AZURE_CLIENT_SECRET=" in text
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
    for _, url, _ in azure:
        assert_refused(url)
    for address in gcp.values():
        assert_refused(address if "://" in address else f"https://{address}")


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
