"""What the listing commands print: one format vocabulary, compact tables that fit 80 columns, whole values
in JSON and CSV, readable timestamps, `findings show`, and `access` on a container (issue 13: 6-10).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.estate import (
    CI_ROLE,
    DNS_BOT,
    R_API_B,
    R_API_P,
    S_PAY_B,
    S_PAY_P,
    VAULT_MOUNT,
    Z_API,
    declared_services,
    grant,
    reference_estate,
    user,
    write_config,
)
from typer.testing import CliRunner

from commonmode.cli import app
from commonmode.model import Capability
from commonmode.render.formats import Col, labelled, shorten_id, shorten_text, when, write_table

runner = CliRunner()
#: A user who can write one record of the api zone, and nothing else: `access ZONE` must list it.
RECORD_WRITER = user("arn:aws:iam::111111111111:user/record-writer", "111111111111")


def cm(*args: str, columns: int | None = None):
    env = {"COLUMNS": str(columns)} if columns else {}
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inv = reference_estate()
    inv = dataclasses.replace(inv, identities=(*inv.identities, RECORD_WRITER), grants=(
        *inv.grants, grant(RECORD_WRITER.id, Capability.DNS_WRITE, R_API_B.id, "inline policy one-record")))
    path = write_config(tmp_path_factory.mktemp("views"), inv, services=declared_services())
    for _ in range(2):
        assert runner.invoke(app, ["scan", "-c", str(path), "--no-progress"]).exit_code == 0
    return path


def as_json(cfg: Path, *args: str):
    result = cm(*args, "-c", str(cfg), "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


LISTINGS = {
    "findings": ["findings"], "inventory": ["inventory"], "access": ["access", Z_API.id], "services": ["services"],
    "runs": ["runs"], "review": ["review"], "connectors": ["connectors"], "rules": ["rules"], "diff": ["diff"],
}


# --- 6: one format vocabulary -------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
@pytest.mark.parametrize("listing", sorted(LISTINGS))
def test_every_listing_takes_table_json_and_csv(cfg, listing, fmt):
    args = LISTINGS[listing] + ([] if listing in ("connectors", "rules") else ["-c", str(cfg)])
    result = cm(*args, "--format", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "json":
        assert json.loads(result.stdout)
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(result.stdout)))
        assert len(rows) >= (1 if listing == "diff" else 2), rows  # two identical runs: a diff with no change
        assert all(len(r) == len(rows[0]) for r in rows), rows[:3]
    else:
        assert result.stdout.strip() and not result.stdout.lstrip().startswith(("[", "{"))


@pytest.mark.parametrize(("command", "extra"), [("review", []), ("tickets", []), ("report", ["--out", "OUT"])])
def test_markdown_is_one_name_and_md_its_alias(cfg, tmp_path, command, extra):
    extra = [str(tmp_path) if e == "OUT" else e for e in extra]
    outputs = []
    for name in ("markdown", "md", "MD"):
        result = cm(command, "-c", str(cfg), "--format", name, *extra)
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    if command == "report":
        assert (tmp_path / "report.md").exists()


def test_review_csv_has_a_row_per_service_and_identity(cfg):
    rows = list(csv.DictReader(io.StringIO(cm("review", "-c", str(cfg), "-f", "csv").stdout)))
    review = as_json(cfg, "review")
    assert len(rows) == sum(max(len(e["can_fail_over"]), 1) for e in review)
    good = [r for r in rows if r["service"] == "good"]
    assert good and good[0]["identity"] == "arn:aws:iam::888888888888:user/good-dr" and good[0]["independent"] == "true"


# --- 7: compact tables --------------------------------------------------------------------------------------

def table_lines(result) -> list[str]:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return result.stdout.rstrip("\n").split("\n")


def test_findings_table_is_one_line_per_finding_most_severe_first(cfg):
    rows = as_json(cfg, "findings")
    lines = table_lines(cm("findings", "-c", str(cfg)))
    assert lines[0] == "findings of run 2"
    assert lines[1].split() == ["SEVERITY", "RULE", "SERVICE", "SUBJECT", "STATUS", "ID"]
    body = lines[2:]
    assert len(body) == len(rows)
    ranks = {"critical": 4, "high": 3, "medium": 2, "low": 1}
    severities = [line.split()[0] for line in body]
    assert severities == sorted(severities, key=lambda s: -ranks[s])
    for line, f in zip(body, rows, strict=True):
        assert line.split()[-1] == f["fingerprint"][:8] and f["rule"] in line and f["status"] in line


def test_findings_long_keeps_the_whole_evidence(cfg):
    f = next(f for f in as_json(cfg, "findings") if f["rule"] == "shared-identity")
    short = cm("findings", "-c", str(cfg)).stdout
    long = cm("findings", "-c", str(cfg), "--long").stdout
    assert "dns-bot-r53" not in short  # evidence is for `show` and --long
    assert "dns-bot-r53" in long
    assert f["fingerprint"] in long


def ids_of(cfg: Path) -> set[str]:
    ids: set[str] = set()
    for i in as_json(cfg, "inventory"):
        ids |= {i["id"], *(m["resource"] for m in i["can_modify"]), *(c["id"] for c in i["credentials"]),
                *(c["stored_in"] for c in i["credentials"] if c["stored_in"]), *i["fault_domains"]}
    for s in as_json(cfg, "services"):
        ids |= {*s["primary"], *s["backup"]}
    for f in as_json(cfg, "findings"):
        ids |= set(f["subjects"])
    return ids


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("listing", sorted(LISTINGS))
def test_default_tables_fit_the_terminal_and_never_break_an_id(cfg, listing, columns):
    """Every line fits; every id-like word is a whole id or visibly shortened (`…`), never a wrapped piece."""
    args = LISTINGS[listing] + ([] if listing in ("connectors", "rules") else ["-c", str(cfg)])
    lines = table_lines(cm(*args, columns=columns))
    known = ids_of(cfg)
    for line in lines:
        assert len(line) <= columns, f"{listing}: {len(line)} > {columns}: {line!r}"
        for word in line.split():
            w = word.strip(",;()")
            if len(w) >= 6 and ("/" in w or ":" in w) and "…" not in w and w not in known:
                assert not any(w in k for k in known), f"{listing}: a piece of an id: {w!r} in {line!r}"


def test_findings_table_at_80_columns_in_a_real_terminal(cfg, plugin_env):
    """Through a pseudo-terminal, as a user sees it: one line per finding, each at most 80 characters."""
    import pty

    main, secondary = pty.openpty()
    env = {**plugin_env, "COLUMNS": "80"}
    proc = subprocess.Popen([sys.executable, "-m", "commonmode.cli", "findings", "-c", str(cfg)], stdout=secondary,
                            stderr=subprocess.PIPE, env=env)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    os.close(main)
    lines = b"".join(chunks).decode().replace("\r\n", "\n").rstrip("\n").split("\n")
    assert len(lines) == 2 + len(as_json(cfg, "findings"))
    assert max(len(line) for line in lines) <= 80


def test_findings_show_prints_one_finding_whole(cfg):
    f = next(f for f in as_json(cfg, "findings") if f["rule"] == "shared-identity" and f["service"] == "api")
    result = cm("findings", "show", f["fingerprint"][:10], "-c", str(cfg))
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith(f"CRITICAL  shared-identity  api  ({f['status']})")
    assert f["fingerprint"] in text and DNS_BOT.id in text
    flat = " ".join(text.split())
    for i, step in enumerate(f["evidence"], 1):
        assert f"{i}. {' '.join(step.split())}" in flat
    assert "Remediation" in text and " ".join(f["remediation"].split()) in flat
    assert json.loads(cm("findings", "show", f["fingerprint"], "-c", str(cfg), "-f", "json").stdout) == f


def test_findings_show_takes_the_group_options_too(cfg):
    f = as_json(cfg, "findings")[0]
    result = cm("findings", "-c", str(cfg), "--run", "1", "show", f["fingerprint"][:8])
    assert result.exit_code == 0, result.output
    assert f["fingerprint"] in result.stdout and "(this is run 1)" in result.stdout


def test_findings_show_with_an_ambiguous_prefix_lists_the_candidates(cfg):
    prints = [f["fingerprint"] for f in as_json(cfg, "findings")]
    first = max({p[0] for p in prints}, key=lambda c: sum(p.startswith(c) for p in prints))
    matching = [p for p in prints if p.startswith(first)]
    assert len(matching) > 1
    result = runner.invoke(app, ["findings", "show", first, "-c", str(cfg)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith(f"commonmode: error: {first}: {len(matching)} findings")
    assert all(p in line for p in matching[:10])


def test_findings_show_of_an_unknown_fingerprint_is_exit_2(cfg):
    result = runner.invoke(app, ["findings", "show", "zzzz", "-c", str(cfg)])
    assert result.exit_code == 2 and "no finding of run 2" in result.stderr


def test_findings_show_finds_a_finding_of_another_run(tmp_path):
    from estate import KEY_PAY_B_OLD

    inv = reference_estate()
    path = write_config(tmp_path, inv, services=declared_services())
    assert cm("scan", "-c", str(path), "--no-progress").exit_code == 0
    old = next(f for f in as_json(path, "findings") if f["subjects"] == [KEY_PAY_B_OLD.id])
    fixed = dataclasses.replace(inv, credentials=tuple(c for c in inv.credentials if c.id != KEY_PAY_B_OLD.id))
    write_config(tmp_path, fixed, services=declared_services())
    for _ in range(2):
        assert cm("scan", "-c", str(path), "--no-progress").exit_code == 0
    result = runner.invoke(app, ["findings", "show", old["fingerprint"][:12], "-c", str(path)])
    assert result.exit_code == 2 and "it is in run 1–2 (pass --run)" in result.stderr
    assert cm("findings", "show", old["fingerprint"][:12], "--run", "1", "-c", str(path)).exit_code == 0


def test_runs_table_counts_in_words_and_readable_times(cfg):
    text = cm("runs", "-c", str(cfg)).stdout
    from tests.estate import NOW, declared_services, reference_estate

    from commonmode.correlate import correlate

    planted = len(correlate(reference_estate(), declared_services=declared_services(), now=NOW).findings)
    assert "{" not in text and "identities" in text and f"{planted} open" in text
    assert re.search(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\b", text)
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", text)  # no microseconds


def test_json_keeps_iso_8601_with_timezone(cfg):
    for r in as_json(cfg, "runs"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", r["started"])
    creds = [c for i in as_json(cfg, "inventory") for c in i["credentials"] if c["expires"]]
    assert creds and all(c["expires"].endswith("+00:00") for c in creds)


def test_review_table_says_credentials_in_words(cfg):
    text = " ".join(cm("review", "-c", str(cfg), columns=120).stdout.split())
    assert " in - " not in text and "expires never" not in text
    assert "credential access-key AKIAPAYBACKUPOLD, no recorded store, no expiry" in text
    assert "credential access-key AKIAPAYBACKUP, kept in vault://vault-east/secret/data/dns/backup, expires " \
           "2026-12-04 12:00:00 UTC" in text
    assert "payments (owner: team-sre): no independent recovery" in text


def test_inventory_table_counts_and_filters(cfg):
    text = cm("inventory", "-c", str(cfg), columns=200).stdout
    bot = next(line for line in text.splitlines() if line.startswith(DNS_BOT.id))
    assert "cert.issue 1, dns.write 1" in bot
    pay = next(line for line in text.splitlines() if "user/pay-dns-backup" in line)
    assert "2, next expires 2026-12-04 12:00:00 UTC" in pay
    only = as_json(cfg, "inventory", "--kind", "vault-role")
    assert [i["id"] for i in only] == [CI_ROLE.id]
    writers = {i["id"] for i in as_json(cfg, "inventory", "--can", "secret.read")}
    assert writers == {CI_ROLE.id}


# --- 8: JSON and CSV whole; tables shorten the middle of an id ----------------------------------------------

def test_shorten_id_keeps_kind_and_name():
    arn = "arn:aws:iam::123456789012:role/dns-bot"
    assert shorten_id(arn, 31) == "arn:aws:iam::1234…:role/dns-bot"
    assert shorten_id(arn, len(arn)) == arn
    assert shorten_id("vault://vault-east/auth/approle/role/automation", 30) == "vault://vault…/role/automation"
    rec = "arn:aws:route53:::hostedzone/Z123/recordset/api.example.com./A/primary"
    assert shorten_id(rec, 40) == "…23/recordset/api.example.com./A/primary"  # the record's name whole
    for value in (arn, rec, "aws:account:123456789012", "AKIAEXAMPLEEXAMPLE", "//iam.googleapis.com/projects/p/x"):
        for width in range(2, len(value) + 3):
            short = shorten_id(value, width)
            assert len(short) <= width and (short == value or "…" in short)


def test_an_opaque_id_is_labelled_with_its_name_and_the_name_survives_shortening():
    guid = "8c7d7431-7331-4ab1-a9ea-3a7ba4ea3938"
    assert labelled(guid, "status-dns-dr") == f"status-dns-dr ({guid})"
    arn = "arn:aws:iam::123456789012:user/dns-automation"
    assert labelled(arn, "dns-automation") == arn  # the id says its name already
    assert labelled("vault://east/auth/approle/role/sync", "approle/sync") == "vault://east/auth/approle/role/sync"
    assert labelled(guid, None) == guid and labelled(guid, guid) == guid
    value = labelled(guid, "status-dns-dr")
    assert shorten_id(value, 30) == "status-dns-dr (8c7d7431…a3938)"
    assert shorten_id(value, 12) == "status-dns-…"
    for width in range(2, len(value) + 2):
        short = shorten_id(value, width)
        assert len(short) <= width and (short == value or "…" in short)


def test_shorten_text_cuts_at_a_word():
    assert shorten_text("one line per finding", 12) == "one line…"
    assert shorten_text("short", 12) == "short"


def test_a_table_shortens_ids_only_to_fit(monkeypatch):
    rows = [{"id": "arn:aws:iam::123456789012:role/dns-bot", "n": "1"}]
    cols = [Col("id", lambda r: r["id"], "id", min=10), Col("n", lambda r: r["n"])]
    out = io.StringIO()
    monkeypatch.setenv("COLUMNS", "34")
    write_table(rows, cols, out)
    assert out.getvalue().splitlines()[1] == "arn:aws:iam::1234…:role/dns-bot  1"
    monkeypatch.delenv("COLUMNS")
    out = io.StringIO()
    write_table(rows, cols, out)  # a pipe without COLUMNS: every value whole
    assert out.getvalue().splitlines()[1] == "arn:aws:iam::123456789012:role/dns-bot  1"


def test_a_wrapping_column_wraps_between_words_and_starts_each_item_on_a_line(monkeypatch):
    rows = [{"c": "fake", "gaps": ["403 on ListRoles in account 111111111111", "404 on GetZone"]}]
    cols = [Col("connector", lambda r: r["c"]), Col("gaps", lambda r: r["gaps"], "wrap", min=20)]
    monkeypatch.setenv("COLUMNS", "40")
    out = io.StringIO()
    write_table(rows, cols, out)
    assert [line.strip() for line in out.getvalue().splitlines()] == [
        "CONNECTOR  GAPS", "fake       403 on ListRoles in account", "111111111111", "404 on GetZone"]


def test_json_and_csv_are_never_shortened(cfg):
    review = as_json(cfg, "review")
    whys = [o["why"] for e in review for o in e["can_fail_over"]]
    assert whys and not any("…" in w for w in whys)
    for o in (o for e in review for o in e["can_fail_over"] if not o["independent"]):
        assert o["why"] == "needs " + ", ".join(o["shared_with_primary"]) + ", which the primary path also depends on"
    rows = as_json(cfg, "findings")
    table = list(csv.DictReader(io.StringIO(cm("findings", "-c", str(cfg), "-f", "csv", columns=80).stdout)))
    assert [r["fingerprint"] for r in table] == [f["fingerprint"] for f in rows]
    assert [r["evidence"] for r in table] == ["; ".join(f["evidence"]) for f in rows]


def test_timestamps_for_tables():
    assert when("2026-12-01T23:02:30.550406+00:00") == "2026-12-01 23:02:30 UTC"
    assert when("2026-12-02T01:02:30+02:00") == "2026-12-01 23:02:30 UTC"
    assert when("2026-12-04") == "2026-12-04"
    assert when(None) == ""


# --- 10: access on a container ------------------------------------------------------------------------------

def test_access_on_a_vault_mount_lists_grants_on_its_secrets(cfg):
    rows = as_json(cfg, "access", VAULT_MOUNT.id)
    assert {(r["identity"], r["capability"], r["on"]) for r in rows} >= {
        (CI_ROLE.id, "secret.read", S_PAY_P.id), (CI_ROLE.id, "secret.read", S_PAY_B.id)}
    one = next(r for r in rows if r["on"] == S_PAY_B.id and r["direct"])
    assert one["chain"][-1] == f"{S_PAY_B.id} is inside {VAULT_MOUNT.id}"
    table = cm("access", VAULT_MOUNT.id, "-c", str(cfg), columns=200).stdout
    assert S_PAY_B.id in table and S_PAY_P.id in table


def test_access_on_a_zone_lists_grants_on_its_records(cfg):
    rows = as_json(cfg, "access", Z_API.id)
    got = {(r["identity"], r["capability"], r["on"]) for r in rows if r["direct"]}
    assert (DNS_BOT.id, "dns.write", Z_API.id) in got
    assert (RECORD_WRITER.id, "dns.write", R_API_B.id) in got
    # a record is not a container: the primary record does not list what is granted on its sibling
    assert RECORD_WRITER.id not in {r["identity"] for r in as_json(cfg, "access", R_API_P.id)}
    assert RECORD_WRITER.id in {r["identity"] for r in as_json(cfg, "access", R_API_B.id)}
