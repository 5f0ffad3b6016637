"""Remediation tickets: one per group of findings that one owner can fix, deduplicated across runs.

A group is the findings of one rule about one subject (one shared identity, one Vault mount, one PKI role,
one zone...), whatever services they touch; `no-independent-recovery` groups by service. A ticket's key is
derived from the group, so the same problem gets the same key in every run: `new` tickets are the groups
with open findings now and none in the previous run; groups open in both are `open` (not re-filed unless
asked); groups open before and resolved now are `can be closed`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from typing import Any

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
    service_owner = {r["name"]: r["owner"] for r in store.rows("SELECT name, owner FROM services WHERE run_id = ?", [run.id])}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for f in now:
        groups[group_key(f)].append(f)
    old: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for f in before:
        old[group_key(f)].append(f)
    out = []
    for key, fs in sorted(groups.items()):
        severity = max((Severity(f["severity"]) for f in fs), key=lambda s: s.rank)
        if severity.rank < floor:
            continue
        state = "open" if key in old else "new"
        if state == "open" and not include_open:
            continue
        out.append(_ticket(key, fs, severity, state, owners, service_owner))
    for key, fs in sorted(old.items()):
        if key not in groups:
            severity = max((Severity(f["severity"]) for f in fs), key=lambda s: s.rank)
            if severity.rank >= floor:
                t = _ticket(key, fs, severity, "can be closed", owners, service_owner)
                t["body"] = (f"All findings of this ticket are resolved in run {run.id}: it can be closed.\n\n" + t["body"])
                out.append(t)
    return out


def _ticket(key: tuple[str, str], fs: list[dict[str, Any]], severity: Severity, state: str,
            owners: dict[str, str | None], service_owner: dict[str, str | None]) -> dict[str, Any]:
    rule, subject = key
    services = sorted({s for f in fs for s in f["services"]})
    owner = next((owners.get(s) for s in subject.split(",") if owners.get(s)), None) if rule != "no-independent-recovery" \
        else None
    owner_from = "the finding's subject"
    if not owner:
        owner = next((service_owner.get(s) for s in services if service_owner.get(s)), None)
        owner_from = "the service"
    if not owner:
        owner, owner_from = "unowned", "nobody: this is also an owner gap"
    what = subject if rule != "no-independent-recovery" else f"service {subject}"
    title = inline(f"[{severity.value}] {rule}: {what}" + (
        f" ({', '.join(services)})" if services and rule != "no-independent-recovery" else ""))
    steps = remediation_steps(rule, subject, fs)
    refs = references(rule)
    body = "\n".join([
        f"**Rule:** {rule} — severity {severity.value}",
        f"**Services:** {codes(services)}",
        f"**Owner:** {code(owner)} (from {owner_from})",
        "", "**Evidence:**", *[f"- {text(line)}" for f in fs for line in f["evidence"][:6]],
        "", "**Remediation:**", *[f"{i}. {s}" for i, s in enumerate(steps, 1)],
        "", "**References:** " + ", ".join(f"{r.id} ({r.title})" for r in refs),
        "", "**Fingerprints:** " + ", ".join(f["fingerprint"] for f in fs),
    ])
    return {"id": ticket_id(key), "state": state, "title": title, "severity": severity.value, "rule": rule,
            "subject": subject, "services": services, "owner": owner, "steps": steps, "body": body,
            "fingerprints": [f["fingerprint"] for f in fs], "references": [r.id for r in refs]}


def _provider(subject: str) -> str:
    if subject.startswith("arn:aws:") or subject.startswith("route53:") or subject.startswith("aws:"):
        return "aws"
    if subject.startswith("vault://") or subject.startswith("vault:"):
        return "vault"
    if subject.startswith("//") or subject.startswith("gcp:"):
        return "gcp"
    if subject.startswith("/subscriptions/") or subject.startswith("azure:"):
        return "azure"
    return ""


def remediation_steps(rule: str, subject: str, fs: list[dict[str, Any]]) -> list[str]:
    """Concrete steps for the provider the subject lives in."""
    p = _provider(subject)
    if rule == "shared-identity":
        if p == "vault":
            kind = subject.split("/auth/", 1)[1].split("/", 1)[0] if "/auth/" in subject else "auth"
            return [f"Create a separate {kind} role for the backup path, with a policy limited to the backup path's "
                    "secrets (e.g. `path \"secret/data/dns/backup\" { capabilities = [\"read\"] }`).",
                    f"Remove the backup paths from the policies attached to {code(subject)}.",
                    "Keep the backup role's login credential out of the primary path's stores."]
        if p == "aws":
            return ["Create a separate IAM role in the backup account (or a separate account altogether), allowed "
                    "only `route53:ChangeResourceRecordSets` on the backup zone (use the "
                    "`route53:ChangeResourceRecordSetsNormalizedRecordNames` condition to pin the records).",
                    f"Remove the backup zone and health checks from {code(subject)}'s policies, or deny them there.",
                    "Give each role its own credential source (separate CI OIDC trust or separate vault)."]
        return ["Give the backup path its own identity, limited to the backup resources.",
                f"Remove {code(subject)}'s access to one of the two paths."]
    if rule == "shared-secret-store":
        if p == "vault":
            return [f"Move the backup path's credentials out of {code(subject)} into a mount of a separate Vault cluster "
                    "(one that does not run in the primary's region or account).",
                    "Give the backup automation a separate auth role that cannot read the primary's mount."]
        if p == "aws":
            return [f"Keep the backup path's credentials in a Secrets Manager of another account and region than "
                    f"{code(subject)}.", "Limit each secret's resource policy to the one path's automation role."]
        return ["Keep the backup path's credentials in a separate store that does not share the primary's fault domains."]
    if rule == "shared-certificate-path":
        if p == "vault":
            return [f"Create a separate PKI role for the backup hostnames (`allowed_domains` = the backup names only, "
                    f"`allow_subdomains` off), ideally on a separate issuer, instead of {code(subject)}.",
                    "Narrow the current role's allowed_domains to the primary path's names."]
        return ["Issue the backup path's certificates from a separate issuer or CA, and narrow each issuer to one "
                "path's names."]
    if rule == "shared-dns-control-plane":
        return [f"Host the backup path's records in a zone outside {code(subject)}: another provider account, or a second "
                "DNS provider (secondary DNS with its own credentials).",
                "Make sure the backup zone's delegation and DNSSEC keys are not managed by the primary's identities."]
    if rule == "shared-fault-domain":
        return [f"Move the backup path's dependency out of {code(subject)}, or record the accepted risk with its owner."]
    if rule == "no-independent-recovery":
        return ["Create a break-glass failover identity outside the primary path's fault domains (separate account "
                "and credential store), allowed only the backup path's DNS and failover changes.",
                "Store its credential where the primary's outage cannot reach it; test it in a game day."]
    if rule == "owner-gap":
        if p == "aws":
            return [f"Tag {code(subject)} with `owner = <team>`, or delete it if nobody claims it."]
        if p == "vault":
            return [f"Record `owner` in the entity metadata (or KV custom_metadata / secret-id metadata) of {code(subject)},"
                    " or remove it if nobody claims it."]
        return [f"Record an accountable owner for {code(subject)}, or remove it."]
    if rule == "credential-expiry":
        return [f"Rotate or renew {code(subject)} before it expires, and automate the rotation.",
                "If the key is unused, confirm the backup automation still works, then remove it."]
    return ["See the rule's remediation (`commonmode rules`)."]


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
