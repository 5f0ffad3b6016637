"""Findings as OCSF Detection Findings (class_uid 2004, category Findings), one event per finding.

Schema: OCSF 1.5.0, "Detection Finding" (https://schema.ocsf.io/1.5.0/classes/detection_finding) and the
objects it uses (finding_info, resource_details, remediation, metadata, product, cloud). The tests validate
every event against the `DetectionFinding` model of py-ocsf-models, the package Prowler builds its own OCSF
output with, which implements this schema version.

How commonmode's data maps:
- `finding_info.uid` is the finding's fingerprint (stable across runs); `first_seen_time` is when the run
  that first found it ended, `last_seen_time` when the last run that actually found it ended (a finding
  carried over because its connector failed was not seen in that run). OCSF times are milliseconds since
  the epoch (`timestamp_t`).
- The lifecycle is the activity: `new` is Create (1), `open` is Update (2), `resolved` is Close (3).
- `status_id` is New (1) for a finding that is still there (new or open: commonmode has no review workflow,
  so nothing is "In Progress"), Resolved (4) once it is gone; `status_detail` says commonmode's own word.
- `severity_id`: critical 5, high 4, medium 3, low 2 (OCSF's Critical/High/Medium/Low).
- `resources[]`: what the finding is about first (the shared node of a `shared-*` finding; the backup path
  of a `no-independent-recovery` finding, followed by what its operators need that the primary also
  depends on; the unowned or expiring thing of a span finding), then every resource of each service's
  primary and backup paths; `data.role` says which (`shared`, `subject`, `primary`, `backup`, joined by `+`
  when one id is several). `uid` is the native id,
  `type` commonmode's kind (`dns-record`, `vault-mount`, `iam-user`, `fault-domain`...). Where the id or the
  fault-domain labels say so: `cloud_partition` and `region` (the "cloud" profile, listed in
  `metadata.profiles` with the event's `cloud` object) and the account in `data.account`. OCSF puts an
  account under `owner.account`, which needs a user object commonmode does not have (owners are teams).
- `remediation.desc` is the finding's remediation (the rule's generic text, then the specific steps, one a
  line); `remediation.references` the standards the rule is reported against.
- `unmapped` carries what OCSF has no place for: the evidence chain (one step per entry, in order), the
  rule, services, subjects, connectors, runs and the note.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from commonmode import __version__
from commonmode.standards import references
from commonmode.store import RunInfo, RunStore, queries

#: The OCSF schema version these events follow (metadata.version).
OCSF_VERSION = "1.5.0"
CLASS_UID = 2004  # Detection Finding
CATEGORY_UID = 2  # Findings
PRODUCT = {"name": "commonmode", "vendor_name": "commonmode", "version": __version__}

#: OCSF severity_id and its caption, per commonmode severity.
SEVERITY = {"critical": (5, "Critical"), "high": (4, "High"), "medium": (3, "Medium"), "low": (2, "Low")}
#: OCSF activity_id (Detection Finding: 1 Create, 2 Update, 3 Close) per lifecycle status.
ACTIVITY = {"new": (1, "Create"), "open": (2, "Update"), "resolved": (3, "Close")}
#: OCSF status_id (1 New, 4 Resolved) per lifecycle status.
STATUS = {"new": (1, "New"), "open": (1, "New"), "resolved": (4, "Resolved")}
#: Cloud providers whose resources carry the cloud profile's attributes (OCSF cloud.provider captions).
CLOUDS = {"aws": "AWS", "azure": "Azure", "gcp": "GCP"}
#: Fault-domain label kinds that name an account-like container, per provider.
_ACCOUNT_LABELS = {"aws:account": "aws", "route53:account": "aws", "azure:subscription": "azure",
                   "gcp:project": "gcp"}
_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]*(:[^\s:/]+)+$")


def _ms(iso: str | None) -> int | None:
    """An ISO 8601 time from the store as OCSF timestamp_t (milliseconds since the epoch, UTC)."""
    if not iso:
        return None
    t = datetime.fromisoformat(iso)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1000)


def _run_time(run: RunInfo) -> int:
    when = _ms(run.finished) or _ms(run.started)
    assert when is not None
    return when


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _entities(store: RunStore, run: RunInfo, ids: set[str]) -> dict[str, dict[str, Any]]:
    """What the store knows about each id, as seen in the latest run up to `run` that saw it (a resolved
    finding's subject may be gone from this run)."""
    found: dict[str, dict[str, Any]] = {}
    wanted = sorted(ids)
    queries_by_table = {
        "resources": "kind, provider, name, owner, connector, fault_domains",
        "stores": "kind, provider, name, owner, connector, fault_domains",
        "identities": "kind, provider, name, owner, connector, fault_domains",
        "credentials": "kind, NULL AS provider, id AS name, NULL AS owner, connector, fault_domains",
    }
    for table, columns in queries_by_table.items():
        for part in _chunks([i for i in wanted if i not in found]):
            marks = ",".join("?" * len(part))
            rows = store.rows(f"SELECT id, run_id, {columns} FROM {table} WHERE run_id <= ? "  # noqa: S608 — fixed names
                              f"AND id IN ({marks}) ORDER BY run_id", [run.id, *part])
            for r in rows:  # later runs overwrite earlier ones
                found[r["id"]] = {"kind": r["kind"], "provider": r["provider"], "name": r["name"],
                                  "owner": r["owner"], "connector": r["connector"],
                                  "fault_domains": json.loads(r["fault_domains"] or "[]")}
    return found


def _paths(store: RunStore, run: RunInfo) -> dict[str, tuple[list[str], list[str]]]:
    """Each service's primary and backup path ids, from the latest run up to `run` that had the service."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for r in store.rows("SELECT name, primary_path, backup_path FROM services WHERE run_id <= ? ORDER BY run_id",
                        [run.id]):
        out[r["name"]] = (json.loads(r["primary_path"]), json.loads(r["backup_path"]))
    return out


def _shared_with_primary(store: RunStore, runs: Iterable[int]) -> dict[tuple[int, str], list[str]]:
    """Per (run, service): what the backup's operators need that the primary also depends on (the shared
    nodes of a no-independent-recovery finding)."""
    out: dict[tuple[int, str], list[str]] = {}
    for run_id in sorted(set(runs)):
        for r in store.rows("SELECT service, shared_with_primary FROM recovery WHERE run_id = ? ORDER BY identity_id",
                            [run_id]):
            out.setdefault((run_id, r["service"]), []).extend(json.loads(r["shared_with_primary"]))
    return {k: list(dict.fromkeys(v)) for k, v in out.items()}


def _last_seen(store: RunStore, run: RunInfo) -> dict[str, int]:
    """Per fingerprint: the id of the latest run up to `run` that found it (not carried over with a note)."""
    return {r["fingerprint"]: r["last"] for r in store.rows(
        "SELECT fingerprint, max(run_id) AS last FROM findings WHERE run_id <= ? AND status != 'resolved' "
        "AND note IS NULL GROUP BY fingerprint", [run.id])}


def _where(uid: str, entity: dict[str, Any] | None) -> dict[str, str]:
    """Provider, partition, region and account of an id, from an ARN's fields or the fault-domain labels."""
    labels = list(entity["fault_domains"]) if entity else []
    provider = entity["provider"] if entity and entity["provider"] else ""
    out: dict[str, str] = {}
    if uid.startswith("arn:"):
        # ARN format: arn:partition:service:region:account-id:resource (AWS General Reference, "Amazon
        # Resource Names (ARNs)"); Route 53 ARNs leave region and account empty.
        parts = uid.split(":", 5)
        if len(parts) == 6:
            provider = provider or "aws"
            out["cloud_partition"] = parts[1]
            if parts[3]:
                out["region"] = parts[3]
            if parts[4]:
                out["account"] = parts[4]
    if _LABEL.match(uid):
        labels.append(uid)
    for label in labels:
        kind, _, value = label.rpartition(":")
        if kind in _ACCOUNT_LABELS:
            out.setdefault("account", value)
            provider = provider or _ACCOUNT_LABELS[kind]
        elif kind.endswith(":region") and kind.split(":", 1)[0] in CLOUDS:
            out.setdefault("region", value)
    if provider:
        out["provider"] = provider
    return out


def _resource(uid: str, role: str, entity: dict[str, Any] | None, rule: str) -> dict[str, Any]:
    where = _where(uid, entity)
    if entity is not None:
        kind, name = entity["kind"], entity["name"]
    elif uid.startswith("service:"):
        kind, name = "service", uid.split(":", 1)[1]
    elif _LABEL.match(uid):
        kind, name = ("dns-control-plane" if rule == "shared-dns-control-plane" else "fault-domain"), uid
    else:
        kind, name = "unknown", uid
    data: dict[str, Any] = {"role": role}
    for key in ("provider", "account"):
        if key in where:
            data[key] = where[key]
    if entity is not None:
        data.update({k: entity[k] for k in ("owner", "connector") if entity[k]})
    out: dict[str, Any] = {"uid": uid, "type": kind, "name": name or uid, "data": data}
    if entity is not None and entity["fault_domains"]:
        out["labels"] = list(entity["fault_domains"])
    if where.get("provider") in CLOUDS:
        out.update({k: where[k] for k in ("cloud_partition", "region") if k in where})
    return out


def _resources(f: dict[str, Any], paths: dict[str, tuple[list[str], list[str]]], shared: list[str],
               entities: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    roles: dict[str, list[str]] = {}
    pairwise = f["rule"].startswith("shared-")
    for s in f["subjects"]:
        roles.setdefault(s, []).append("shared" if pairwise else "subject")
    for s in shared:
        roles.setdefault(s, []).append("shared")
    for name in f["services"]:
        primary, backup = paths.get(name, ([], []))
        for rid in primary:
            roles.setdefault(rid, []).append("primary")
        for rid in backup:
            roles.setdefault(rid, []).append("backup")
    return [_resource(uid, "+".join(dict.fromkeys(r)), entities.get(uid), f["rule"]) for uid, r in roles.items()]


def _title(f: dict[str, Any]) -> str:
    services = f" ({', '.join(f['services'])})" if f["services"] else ""
    return f"{f['rule']}: {', '.join(f['subjects'])}{services}"


def _desc(f: dict[str, Any], summary: str) -> str:
    what = f"{summary[:1].upper()}{summary[1:]}: {', '.join(f['subjects'])}"
    scope = f"service {f['service']}" if f["service"] else f"services {', '.join(f['services'])}"
    return f"{what} ({scope})."


def _status_detail(f: dict[str, Any], run: RunInfo) -> str:
    if f["note"]:
        return f"{f['status']}: {f['note']}"
    if f["status"] == "new":
        return f"new: first found in run {run.id}"
    if f["status"] == "open":
        return f"open: found since run {f['first_seen_run']}, still found in run {run.id}"
    return f"resolved: no longer found in run {run.id}"


def to_ocsf(store: RunStore, run: RunInfo, findings: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One OCSF Detection Finding (a JSON-ready dict) per finding of `run`: every finding of the run, or the
    given `findings` (rows of `queries.findings` for this run, e.g. filtered by the CLI)."""
    from commonmode.correlate.rules import RULES

    rows = queries.findings(store, run) if findings is None else findings
    if not rows:
        return []
    runs = {r.id: r for r in store.runs() if r.id <= run.id}
    paths = _paths(store, run)
    ids = {s for f in rows for s in f["subjects"]}
    ids.update(rid for f in rows for name in f["services"] for side in paths.get(name, ([], [])) for rid in side)
    last_seen = _last_seen(store, run)
    recovery = _shared_with_primary(store, (last_seen.get(f["fingerprint"], f["first_seen_run"]) for f in rows
                                            if f["rule"] == "no-independent-recovery"))
    ids.update(d for deps in recovery.values() for d in deps)
    entities = _entities(store, run, ids)
    now = _run_time(run)
    out = []
    for f in rows:
        rule = RULES.get(f["rule"])
        summary = rule.summary if rule is not None else f["rule"]
        activity_id, activity = ACTIVITY[f["status"]]
        status_id, status = STATUS[f["status"]]
        severity_id, severity = SEVERITY[f["severity"]]
        first = runs.get(f["first_seen_run"], run)
        seen_in = last_seen.get(f["fingerprint"], f["first_seen_run"])
        last = runs.get(seen_in, first)
        shared = recovery.get((seen_in, f["service"]), []) if f["rule"] == "no-independent-recovery" else []
        resources = _resources(f, paths, shared, entities)
        clouds = [r for r in resources if r["data"].get("provider") in CLOUDS]
        event: dict[str, Any] = {
            "class_uid": CLASS_UID, "class_name": "Detection Finding",
            "category_uid": CATEGORY_UID, "category_name": "Findings",
            "activity_id": activity_id, "activity_name": activity,
            "type_uid": CLASS_UID * 100 + activity_id, "type_name": f"Detection Finding: {activity}",
            "time": now,
            "severity_id": severity_id, "severity": severity,
            "status_id": status_id, "status": status, "status_detail": _status_detail(f, run),
            "metadata": {
                "version": OCSF_VERSION,
                "product": dict(PRODUCT),
                "uid": f"{f['fingerprint']}:{run.id}",
                "event_code": f["rule"],
                **({"profiles": ["cloud"]} if clouds else {}),
            },
            "finding_info": {
                "uid": f["fingerprint"],
                "title": _title(f),
                "desc": _desc(f, summary),
                "types": [f["rule"]],
                "analytic": {"uid": f["rule"], "name": f["rule"], "type_id": 1, "type": "Rule", "desc": summary},
                "created_time": _run_time(first),
                "first_seen_time": _run_time(first),
                "last_seen_time": _run_time(last),
                **({"data_sources": list(f["connectors"])} if f["connectors"] else {}),
            },
            "resources": resources,
            "remediation": {
                "desc": f["remediation"],
                **({"references": [f"{r.framework} {r.id}: {r.title}" for r in refs]}
                   if (refs := references(f["rule"])) else {}),
            },
            "unmapped": {
                "rule": f["rule"], "services": list(f["services"]), "subjects": list(f["subjects"]),
                "evidence": list(f["evidence"]), "connectors": list(f["connectors"]),
                "first_seen_run": f["first_seen_run"], "run": f["run"], "note": f["note"],
            },
        }
        if clouds:
            first_cloud = clouds[0]
            cloud: dict[str, Any] = {"provider": CLOUDS[first_cloud["data"]["provider"]]}
            if "region" in first_cloud:
                cloud["region"] = first_cloud["region"]
            event["cloud"] = cloud
        out.append(event)
    return out


__all__ = ["OCSF_VERSION", "to_ocsf"]
