"""The three outputs people run commonmode for — report, tickets, review — on the reference estate."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from tests.estate import (
    DNS_BOT,
    KEY_PAY_B_OLD,
    NOW,
    R_API_P,
    S_PAY_B,
    U_GOOD_B,
    VAULT_MOUNT,
    declared_services,
    reference_estate,
    write_config,
)
from typer.testing import CliRunner

from commonmode.cli import app
from commonmode.model import Inventory

runner = CliRunner()


def cm(cfg: Path, *args: str):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, [*args, "-c", str(cfg)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def hostile(inv: Inventory) -> Inventory:
    """The estate with an identity whose name and owner are markup."""
    evil = dataclasses.replace(DNS_BOT, id="arn:aws:iam::111111111111:user/<script>alert(1)</script>",
                               name="<script>alert(1)</script>", owner="<img src=x onerror=alert(2)>")
    return dataclasses.replace(inv, identities=(*inv.identities, evil))


@pytest.fixture
def two_runs(tmp_path: Path) -> Path:
    """Run 1 on the reference estate; run 2 with the unused backup key removed (one finding fixed)."""
    cfg = write_config(tmp_path, hostile(reference_estate()), services=declared_services())
    cm(cfg, "scan", "--no-progress")
    inv = reference_estate()
    write_config(tmp_path, hostile(dataclasses.replace(
        inv, credentials=tuple(c for c in inv.credentials if c.id != KEY_PAY_B_OLD.id))), services=declared_services())
    cm(cfg, "scan", "--no-progress")
    return cfg


def test_review_verdicts(two_runs):
    entries = {e["service"]: e for e in json.loads(cm(two_runs, "review", "--format", "json").stdout)}
    assert entries["good"]["verdict"] == f"independent recovery possible via {U_GOOD_B.id}"
    assert entries["api"]["verdict"] == "no independent recovery"
    for e in entries.values():  # the verdict names every identity that can fail over independently, never "N more"
        assert all(i in e["verdict"] for i in e["independent_via"]) and " more" not in e["verdict"]
    option = next(o for o in entries["api"]["can_fail_over"] if o["identity"] == DNS_BOT.id)
    assert option["independent"] is False and option["owner"] is None
    assert "which the primary path also depends on" in option["why"]
    pay = {o["identity"]: o for o in entries["payments"]["can_fail_over"]}
    # the payments backup key lives in the Vault mount the primary's key lives in
    assert any(c["stored_in"] == "vault://vault-east/secret/data/dns/backup"
               for o in pay.values() for c in o["credentials"])
    md = cm(two_runs, "review", "good", "--format", "md").stdout
    assert md.startswith("# Recovery-permission review") and "## good" in md and "## api" not in md
    bad = runner.invoke(app, ["review", "nope", "-c", str(two_runs)])
    assert bad.exit_code == 2 and "no service 'nope'" in bad.output


# The sample's status service: its backup DNS at NS1, written down for the declared connector, the key kept in
# the Vault secret the payments backup uses. Its ids look like labels (`ns1:apikey:…`), and are entities.
NS1_KEY, NS1_ZONE = "ns1:apikey:status-failover", "ns1:zone/acme-status.example"
NS1_FILE = f"""
[[identity]]
id = "{NS1_KEY}"
kind = "api-key"
owner = "team-sre-dr"
fault_domains = ["dns-provider:ns1"]

[[resource]]
id = "{NS1_ZONE}"
kind = "dns-zone"
names = ["acme-status.example"]
control_plane = "ns1:account:acme"
fault_domains = ["dns-provider:ns1"]

[[resource]]
id = "{NS1_ZONE}/status.acme-status.example/A"
kind = "dns-record"
names = ["status.acme-status.example"]
parents = ["{NS1_ZONE}"]
fault_domains = ["dns-provider:ns1"]

[[grant]]
identity = "{NS1_KEY}"
capability = "dns.write"
resource = "{NS1_ZONE}"
via = ["NS1 API key with zone write access"]
"""
NS1_CONFIG = f"""
[[declared]]
name = "ns1"
provider = "ns1"
file = "ns1.toml"

[[service]]
name = "status"
owner = "team-sre"
primary = ["{R_API_P.id}"]
backup = ["{NS1_ZONE}/status.acme-status.example/A"]

[[credential]]
identity = "{NS1_KEY}"
stored_in = "{S_PAY_B.id}"
"""


def test_review_fault_domains_are_the_labels_the_correlator_found_never_entity_ids(tmp_path):
    (tmp_path / "ns1.toml").write_text(NS1_FILE)
    cfg = write_config(tmp_path, reference_estate(), services=declared_services(), extra=NS1_CONFIG)
    cm(cfg, "scan", "--no-progress")
    entries = json.loads(cm(cfg, "review", "--format", "json").stdout)
    ids = {i["id"] for i in json.loads(cm(cfg, "inventory", "--format", "json").stdout)}
    ids |= {f"{NS1_ZONE}/status.acme-status.example/A", NS1_ZONE, S_PAY_B.id, VAULT_MOUNT.id}
    options = [o for e in entries for o in e["can_fail_over"]]
    assert options and all(not set(o["fault_domains"]) & ids for o in options)
    status = next(e for e in entries if e["service"] == "status")
    key = next(o for o in status["can_fail_over"] if o["identity"] == NS1_KEY)
    # its own label, its zone's, and the Vault secret's that holds its key: labels only
    assert key["fault_domains"] == ["dns-provider:ns1", "vault:cluster:east-1"]
    assert [c["stored_in"] for c in key["credentials"]] == [S_PAY_B.id]
    md = cm(cfg, "review", "status", "--format", "markdown").stdout
    listed = next(line for line in md.splitlines() if line.startswith("- fault domains: "))
    assert NS1_KEY not in listed and NS1_ZONE not in listed and "dns-provider:ns1" in listed


CONNECTOR = """
from commonmode_fake import FakeConnector


class RemediationTestConnector(FakeConnector):
    provider = "aws"  # the estate it reads is AWS's (and Vault's): its steps are for the AWS entities
"""


def _scan_with_test_connector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, remediation: str):
    """A scan through a connector package of the test's own, shipping `remediation` as its remediation.toml."""
    import importlib.metadata

    from commonmode.config import load_config
    from commonmode.connector import ENTRY_POINT_GROUP, Registry, no_progress
    from commonmode.scan import scan
    from commonmode.store import RunStore

    name = f"commonmode_remtest_{tmp_path.name}"  # a package of its own: no other test's is imported already
    package = tmp_path / "pkgs" / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(CONNECTOR)
    (package / "remediation.toml").write_text(remediation)
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    ep = importlib.metadata.EntryPoint(name="remtest", value=f"{name}:RemediationTestConnector",
                                       group=ENTRY_POINT_GROUP)
    registry = Registry.from_entry_points([*importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), ep])
    cfg = write_config(tmp_path, reference_estate(), services=declared_services())
    cfg.write_text(cfg.read_text().replace("[[fake]]", "[[remtest]]"))
    config = load_config(cfg, registry)
    store = RunStore.open(config.store_path, create=True)
    try:
        return scan(config, registry, store, progress_for=lambda name: no_progress, now=NOW)
    finally:
        store.close()


def test_a_connector_s_remediation_file_gives_the_steps_of_its_provider_s_findings(tmp_path, monkeypatch):
    outcome = _scan_with_test_connector(tmp_path, monkeypatch, """
[steps]
shared-identity = ["Test connector's step for {name} ({kind}): {subject}."]
""")
    assert outcome.correlation is not None
    by_subject = {(f.rule, f.subjects[0]): f.remediation.split("\n")[1:] for f in outcome.correlation.findings}
    assert by_subject[("shared-identity", DNS_BOT.id)] == [
        f"Test connector's step for dns-bot (iam-user): {DNS_BOT.id}."]
    # the aws rules it does not give are the generic steps, not the built-in AWS connector's
    assert by_subject[("owner-gap", DNS_BOT.id)] == [f"Record an accountable owner for {DNS_BOT.id}, or remove it."]
    # Vault's entities: no configured connector is vault, so the built-in Vault connector's steps
    assert "separate Vault cluster" in by_subject[("shared-secret-store", VAULT_MOUNT.id)][0]


def test_a_malformed_remediation_file_stops_the_scan_naming_the_key(tmp_path, monkeypatch):
    from commonmode.errors import UsageError

    with pytest.raises(UsageError, match=r"^connector 'remtest': commonmode_remtest_\w+/remediation.toml: "
                                         r"steps.shared-identity\[0\]: unknown placeholders \['secret'\]"):
        _scan_with_test_connector(tmp_path, monkeypatch, '[steps]\nshared-identity = ["{secret}"]\n')
    assert sqlite3.connect(tmp_path / "commonmode.db").execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_tickets_are_grouped_routed_and_deduplicated(two_runs):
    first = json.loads(cm(two_runs, "tickets", "--run", "1", "--format", "json").stdout)
    assert all(t["state"] == "new" for t in first)
    by_rule: dict[str, list[dict]] = {}
    for t in first:
        by_rule.setdefault(t["rule"], []).append(t)
    # one ticket for the shared Vault mount, owned by the mount's owner, with Vault-specific steps
    store = [t for t in by_rule["shared-secret-store"] if t["subject"] == VAULT_MOUNT.id]
    assert len(store) == 1 and store[0]["owner"] == "team-security"
    assert "separate Vault cluster" in store[0]["steps"][0]
    # dns-bot has no owner: its ticket goes to the service owner
    bot = next(t for t in by_rule["shared-identity"] if t["subject"] == DNS_BOT.id)
    assert bot["owner"] == "team-sre" and "(from the service)" in bot["body"]
    assert "NHI9:2025" in bot["references"]
    # run 2 against run 1: the fixed key's ticket can be closed, nothing else is new
    second = json.loads(cm(two_runs, "tickets", "--format", "json").stdout)
    assert [(t["state"], t["subject"]) for t in second] == [("can be closed", KEY_PAY_B_OLD.id)]
    # --all lists the still-open ones too, with the same ids as in run 1
    everything = json.loads(cm(two_runs, "tickets", "--all", "--format", "json").stdout)
    assert {t["id"] for t in everything if t["state"] == "open"} == {t["id"] for t in first} - {
        t["id"] for t in first if t["subject"] == KEY_PAY_B_OLD.id}
    high = json.loads(cm(two_runs, "tickets", "--run", "1", "--min-severity", "high", "--format", "json").stdout)
    assert high and all(t["severity"] in ("critical", "high") for t in high)


def test_tickets_are_ordered_by_severity_then_rule_then_owner(two_runs):
    items = json.loads(cm(two_runs, "tickets", "--run", "1", "--format", "json").stdout)
    rank = {"critical": 4, "high": 3, "medium": 2, "low": 1}
    keys = [(-rank[t["severity"]], t["rule"], t["owner"], t["subject"]) for t in items]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert items[0]["severity"] == "critical" and items[-1]["severity"] == "low"
    # the same order in the Markdown file
    md = cm(two_runs, "tickets", "--run", "1").stdout
    assert re.findall(r"^## (CM-[0-9a-f]{10}) ", md, re.M) == [t["id"] for t in items]


def _seen(markdown: str) -> str:
    """What a reader sees of rendered Markdown: CommonMark to HTML, tags dropped, entities decoded."""
    from markdown_it import MarkdownIt

    rendered = re.sub(r"<[^>]+>", "", MarkdownIt("commonmark").render(markdown))
    return " ".join(html.unescape(rendered).replace("\u2060", "").split())


def test_one_remediation_in_findings_rules_report_and_tickets(two_runs, tmp_path):
    """One source: the finding's remediation starts with the rule's text (`commonmode rules`), the report
    shows it, and every line of it is in the ticket, as the reader sees the ticket."""
    listed = runner.invoke(app, ["rules", "--format", "json"], catch_exceptions=False)
    rules = {r["rule"]: r["remediation"] for r in json.loads(listed.stdout)}
    found = {f["fingerprint"]: f for f in json.loads(cm(two_runs, "findings", "--run", "1", "--format", "json").stdout)}
    assert found
    for f in found.values():
        assert f["remediation"].startswith(rules[f["rule"]] + "\n"), f["rule"]
    cm(two_runs, "report", "--run", "1", "--format", "json", "--out", str(tmp_path))
    report = next(tmp_path.glob("report*.json"))
    assert {f["fingerprint"]: f["remediation"] for f in json.loads(report.read_text())["findings"]} == {
        k: f["remediation"] for k, f in found.items()}
    tickets = json.loads(cm(two_runs, "tickets", "--run", "1", "--format", "json").stdout)
    assert {fp for t in tickets for fp in t["fingerprints"]} == set(found)
    for t in tickets:
        seen = _seen(t["body"])
        for fp in t["fingerprints"]:
            for line in found[fp]["remediation"].split("\n"):
                assert " ".join(line.split()) in seen, (t["id"], line)
            for step in found[fp]["evidence"]:
                assert " ".join(step.split()) in seen, (t["id"], step)  # the whole chain, not the first lines


def test_ticket_formats(two_runs, tmp_path):
    rows = list(csv.reader(io.StringIO(cm(two_runs, "tickets", "--run", "1", "--format", "jira-csv").stdout)))
    assert rows[0][:4] == ["Summary", "Issue Type", "Priority", "Description"]
    assert all(r[2] in ("Highest", "High", "Medium", "Low") for r in rows[1:])
    # formula injection: the hostile identity name cannot start a cell with = + - @
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)
    gh = json.loads(cm(two_runs, "tickets", "--run", "1", "--format", "github-json").stdout)
    assert set(gh[0]) == {"title", "body", "labels"} and "commonmode" in gh[0]["labels"]
    out = cm(two_runs, "tickets", "--run", "1", "--out", str(tmp_path / "t")).stdout
    assert "written to" in out and (tmp_path / "t" / "tickets.md").read_text().startswith("## CM-")


def test_report_html_is_self_contained_escaped_and_shows_changes(two_runs, tmp_path):
    cm(two_runs, "report", "--out", str(tmp_path / "r"))
    html = (tmp_path / "r" / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "onerror=alert(2)>" not in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    for name in ("api", "payments", "login", "split", "good"):
        assert f'data-service="{name}"' in html
    assert 'class="node shared' in html
    # run 2's section on changes shows the fixed finding as resolved
    changes = html.split('id="changes"', 1)[1].split("</section>", 1)[0]
    assert "resolved: <b>credential-expiry</b>" in changes and KEY_PAY_B_OLD.id in changes
    assert "NHI1:2025" in html.split('id="standards"', 1)[1]


def test_report_markdown_and_json(two_runs, tmp_path):
    cm(two_runs, "report", "--format", "md", "--out", str(tmp_path))
    md = (tmp_path / "report.md").read_text()
    assert "### good" in md and "The two paths share nothing the scanners could see." in md
    cm(two_runs, "report", "--format", "json", "--out", str(tmp_path))
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["schema_version"] == 1
    # login's paths share a PKI role, but failing over needs nothing the primary needs
    assert {s["name"] for s in data["services"] if s["independent"]} == {"good", "login"}
    assert data["summary"]["services"] == 5 and data["summary"]["independent"] == 2
    assert [f["subjects"] for f in data["changes"]["resolved_findings"]] == [[KEY_PAY_B_OLD.id]]
    api = next(s for s in data["services"] if s["name"] == "api")
    assert {x["subject"] for x in api["shared"]} >= {DNS_BOT.id}
    assert R_API_P.id in [r["id"] for r in api["primary"]["resources"]]
    documented = (Path(__file__).resolve().parent.parent / "docs" / "report.md").read_text()
    for key in data:
        assert f"`{key}`" in documented, key
    for key in api:
        assert f"`{key}`" in documented, key


@pytest.mark.browser
def test_report_renders_in_headless_chromium(two_runs, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    cm(two_runs, "report", "--out", str(tmp_path))
    page = (tmp_path / "report.html").as_uri()
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'p'}"]
    dom = subprocess.run([*base, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
    assert dom.count('class="service"') == 5
    assert dom.count('class="node shared') >= 3  # api's bot, payments' mount, login's PKI role...
    assert "&lt;script&gt;" in dom and "<script>alert(1)" not in dom
    shot = tmp_path / "report.png"
    subprocess.run([*base, "--window-size=1280,2400", f"--screenshot={shot}", page], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000
