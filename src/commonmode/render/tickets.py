"""Remediation tickets: one per group of findings that one owner can fix, deduplicated across runs.

A group is the findings of one rule about one subject (one shared identity, one Vault mount, one PKI role,
one zone...), whatever services they touch; `no-independent-recovery` groups by service. A ticket's key is
derived from the group, so the same problem gets the same key in every run: `new` tickets are the groups
with open findings now and none in the previous run; groups open in both are `open` (not re-filed unless
asked); groups open before and resolved now are `can be closed`.

Tickets are ordered by severity (critical first), then rule, then owner (then subject), with the `can be
closed` ones after the rest. A ticket's remediation is its findings' own (correlate.rules: the rule's
generic remediation, then the steps specific to the subject), and its evidence is every finding's whole
evidence chain, one step per line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import defaultdict
from typing import Any

from commonmode.correlate.rules import remediation_lines
from commonmode.model import Severity
from commonmode.render.formats import safe_cell
from commonmode.render.markdown import code, codes, inline, label, text
from commonmode.standards import references
from commonmode.store import RunInfo, RunStore, queries

PRIORITY = {"critical": "Highest", "high": "High", "medium": "Medium", "low": "Low"}


def group_key(f: dict[str, Any]) -> tuple[str, str]:
    if f["rule"] == "no-independent-recovery":
        return f["rule"], f["service"]
    return f["rule"], ",".join(f["subjects"])


def ticket_id(key: tuple[str, str]) -> str:
    return "CM-" + hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:10]


def _owners(store: RunStore, run: RunInfo) -> dict[str, str | None]:
    owners: dict[str, str | None] = {}
    for table in ("identities", "stores", "resources"):
        for r in store.rows(f"SELECT id, owner FROM {table} WHERE run_id = ?", [run.id]):  # noqa: S608 — fixed names
            owners[r["id"]] = r["owner"]
    for r in store.rows("SELECT name, owner FROM services WHERE run_id = ?", [run.id]):
        owners[f"service:{r['name']}"] = r["owner"]
    return owners


def tickets(store: RunStore, run: RunInfo, *, min_severity: str | None = None,
            include_open: bool = False) -> list[dict[str, Any]]:
    """Tickets for `run`: new ones, (optionally) still-open ones, and ones that can be closed."""
    floor = Severity(min_severity).rank if min_severity else 0
    previous = next((r for r in reversed(store.runs()) if r.id < run.id), None)
    now = [f for f in queries.findings(store, run) if f["status"] != "resolved"]
    before = [f for f in queries.findings(store, previous) if f["status"] != "resolved"] if previous else []
    owners = _owners(store, run)
    service_owner = {r["name"]: r["owner"]
                     for r in store.rows("SELECT name, owner FROM services WHERE run_id = ?", [run.id])}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for f in now:
        groups[group_key(f)].append(f)
    old: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for f in before:
        old[group_key(f)].append(f)
    out = []
    for key, fs in groups.items():
        severity = max((Severity(f["severity"]) for f in fs), key=lambda s: s.rank)
        if severity.rank < floor:
            continue
        state = "open" if key in old else "new"
        if state == "open" and not include_open:
            continue
        out.append(_ticket(key, fs, severity, state, owners, service_owner))
    closed = []
    for key, fs in old.items():
        if key not in groups:
            severity = max((Severity(f["severity"]) for f in fs), key=lambda s: s.rank)
            if severity.rank >= floor:
                t = _ticket(key, fs, severity, "can be closed", owners, service_owner)
                t["body"] = (f"All findings of this ticket are resolved in run {run.id}: it can be closed.\n\n"
                             + t["body"])
                closed.append(t)
    return sorted(out, key=order) + sorted(closed, key=order)


def order(t: dict[str, Any]) -> tuple[int, str, str, str]:
    """Tickets' order: severity (critical first), then rule, then owner, then subject."""
    return -Severity(t["severity"]).rank, t["rule"], t["owner"], t["subject"]


def _ticket(key: tuple[str, str], fs: list[dict[str, Any]], severity: Severity, state: str,
            owners: dict[str, str | None], service_owner: dict[str, str | None]) -> dict[str, Any]:
    rule, subject = key
    services = sorted({s for f in fs for s in f["services"]})
    owner = (None if rule == "no-independent-recovery"
             else next((owners.get(s) for s in subject.split(",") if owners.get(s)), None))
    owner_from = "the finding's subject"
    if not owner:
        owner = next((service_owner.get(s) for s in services if service_owner.get(s)), None)
        owner_from = "the service"
    if not owner:
        owner, owner_from = "unowned", "nobody: this is also an owner gap"
    what = subject if rule != "no-independent-recovery" else f"service {subject}"
    title = inline(f"[{severity.value}] {rule}: {what}" + (
        f" ({', '.join(services)})" if services and rule != "no-independent-recovery" else ""))
    # One group is one rule about one subject, so its findings share one remediation (the two kinds of
    # credential-expiry finding on one key each add their own step).
    lines = list(dict.fromkeys(line for f in fs for line in remediation_lines(f["remediation"])))
    ids = sorted({s for f in fs for s in f["subjects"]})
    refs = references(rule)
    evidence: list[str] = []
    for f in fs:
        where = f"service {code(f['service'])}" if f["service"] else f"services {codes(f['services'])}"
        evidence += ["", f"**Evidence** ({where}, finding {code(f['fingerprint'])}):", "",
                     *[f"{i}. {prose(line, ids)}" for i, line in enumerate(f["evidence"], 1)]]
    body = "\n".join([
        # a backslash at the end of a line is a hard line break (CommonMark "Hard line breaks")
        f"**Rule:** {rule} — severity {severity.value}\\",
        f"**Services:** {codes(services)}\\",
        f"**Owner:** {code(owner)} (from {owner_from})",
        *evidence,
        "", f"**Remediation:** {prose(lines[0], ids)}" if lines else "**Remediation:** see `commonmode rules`",
        *(["", *[f"{i}. {prose(s, ids)}" for i, s in enumerate(lines[1:], 1)]] if len(lines) > 1 else []),
        "", "**References:** " + ", ".join(f"{r.id} ({r.title})" for r in refs),
        "", "**Fingerprints:** " + ", ".join(f["fingerprint"] for f in fs),
    ])
    return {"id": ticket_id(key), "state": state, "title": title, "severity": severity.value, "rule": rule,
            "subject": subject, "services": services, "owner": owner, "remediation": "\n".join(lines),
            "steps": lines[1:], "body": body, "fingerprints": [f["fingerprint"] for f in fs],
            "references": [r.id for r in refs]}


def prose(line: str, ids: list[str]) -> str:
    """One line of evidence or remediation as Markdown: the given ids, where they stand whole, as code spans;
    the rest as escaped text (render.markdown), so nothing in an estate value is interpreted."""
    spans: list[tuple[int, int]] = []
    for i in sorted({i for i in ids if i}, key=len, reverse=True):
        start = line.find(i)
        while start >= 0:
            end = start + len(i)
            whole = (start == 0 or not _ID_CHAR.match(line[start - 1])) and (
                end == len(line) or not _ID_CHAR.match(line[end]) or (
                    line[end] == "." and (end + 1 == len(line) or line[end + 1].isspace())))
            if whole and not any(a < end and start < b for a, b in spans):
                spans.append((start, end))
            start = line.find(i, end)
    if not spans:
        return text(line)
    out: list[str] = []
    at = 0
    for start, end in sorted(spans):
        if start > at:
            out.append(_text_keep_spaces(line[at:start]))
        out.append(code(line[start:end]))
        at = end
    if at < len(line):
        out.append(_text_keep_spaces(line[at:]))
    return "".join(out)


#: Characters that continue an id: an id found inside a longer one is not that id.
_ID_CHAR = re.compile(r"[A-Za-z0-9_.:/@*-]")


def _text_keep_spaces(fragment: str) -> str:
    """text() of a fragment of a line, keeping the spaces at its ends (text() strips them)."""
    stripped = fragment.strip()
    if not stripped:
        return " " if fragment else ""
    lead = " " if fragment[0].isspace() else ""
    trail = " " if fragment[-1].isspace() else ""
    return f"{lead}{text(stripped)}{trail}"


def to_markdown(items: list[dict[str, Any]]) -> str:
    if not items:
        return "No new tickets: nothing changed since the previous run.\n"
    out = []
    for t in items:
        out += [f"## {t['id']} — {text(t['title'])}", "", f"State: **{t['state']}** · assignee: {code(t['owner'])}", "",
                t["body"], ""]
    return "\n".join(out).rstrip() + "\n"


def to_jira_csv(items: list[dict[str, Any]]) -> str:
    """Jira's CSV import: one row per issue; repeated `Labels` columns carry several labels."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Summary", "Issue Type", "Priority", "Description", "Labels", "Labels", "Labels", "External ID"])
    for t in items:
        summary = ("[can be closed] " if t["state"] == "can be closed" else "") + t["title"]
        w.writerow([safe_cell(v) for v in (summary, "Task", PRIORITY[t["severity"]], t["body"], "commonmode",
                                           t["rule"], label(f"owner-{t['owner']}"), t["id"])])
    return buf.getvalue()


def to_github_json(items: list[dict[str, Any]]) -> str:
    """Bodies for GitHub's "Create an issue" REST endpoint: title, body, labels (owners are teams, not users,
    so they go in a label)."""
    return json.dumps([{"title": t["title"], "body": f"<!-- commonmode:{t['id']} state:{t['state']} -->\n" + t["body"],
                        "labels": ["commonmode", t["rule"], f"severity:{t['severity']}", label(f"owner:{t['owner']}")]
                        + (["can-be-closed"] if t["state"] == "can be closed" else [])}
                       for t in items], indent=2) + "\n"
