"""OCSF output (issue 13: 17): every finding of a real store is a valid OCSF Detection Finding.

Validated against the `DetectionFinding` model of py-ocsf-models (pinned in the test extra), the package
Prowler builds its own OCSF output with. Its models ignore unknown attributes, so each event is also
compared with the model's own serialization: an attribute the schema does not have, or a value of the
wrong type, makes the two differ.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.estate import DNS_BOT, KEY_PAY_B_OLD, R_API_B, R_API_P, reference_estate, write_config

import test_outputs
from commonmode.cli import app
from commonmode.correlate import RULES
from commonmode.render.ocsf import OCSF_VERSION, to_ocsf
from commonmode.store import RunStore
from test_outputs import cm, hostile, runner

two_runs = test_outputs.two_runs  # the fixture, shared with test_outputs (pytest finds it by this name)

ocsf_models = pytest.importorskip("py_ocsf_models", reason="py-ocsf-models is in the test extra")
from py_ocsf_models.events.findings.detection_finding import DetectionFinding  # noqa: E402 — after the importorskip


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def events(cfg: Path, run: str | None = None) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], Any]:
    """The OCSF events of a run, the run's findings by fingerprint, and the store's runs."""
    store = RunStore.open(cfg.parent / "commonmode.db")
    try:
        info = store.resolve_run(run)
        out = to_ocsf(store, info)
        runs = {r.id: r for r in store.runs()}
    finally:
        store.close()
    found = json.loads(cm(cfg, "findings", "--run", str(info.id), "--format", "json").stdout)
    return out, {f["fingerprint"]: f for f in found}, (info, runs)


def assert_valid(event: dict[str, Any]) -> None:
    model = DetectionFinding.model_validate(event)
    assert model.model_dump(mode="json", exclude_none=True) == event, event["finding_info"]["uid"]
    json.dumps(event)  # JSON as it is


def test_every_finding_of_a_realistic_store_is_a_valid_detection_finding(two_runs):
    out, found, _ = events(two_runs)
    assert len(out) == len(found) and {e["finding_info"]["uid"] for e in out} == set(found)
    assert {f["status"] for f in found.values()} == {"open", "resolved"}
    for e in out:
        assert_valid(e)
    assert OCSF_VERSION == ocsf_models.OCSF_VERSION  # the version validated against is the one claimed
    first, _ = events(two_runs, "1")[:2]
    assert {e["activity_id"] for e in first} == {1}  # run 1: every finding is new, a Create
    for e in first:
        assert_valid(e)


def test_lifecycle_times_severity_and_remediation_map_to_ocsf(two_runs):
    out, found, (run, runs) = events(two_runs)
    activity = {"new": 1, "open": 2, "resolved": 3}
    status = {"new": 1, "open": 1, "resolved": 4}
    severity = {"critical": 5, "high": 4, "medium": 3, "low": 2}
    for e in out:
        f = found[e["finding_info"]["uid"]]
        assert (e["class_uid"], e["category_uid"]) == (2004, 2)
        assert e["activity_id"] == activity[f["status"]] and e["type_uid"] == 200400 + e["activity_id"]
        assert e["status_id"] == status[f["status"]] and e["severity_id"] == severity[f["severity"]]
        assert e["time"] == _ms(run.finished)
        assert e["finding_info"]["first_seen_time"] == _ms(runs[f["first_seen_run"]].finished)
        assert e["remediation"]["desc"] == f["remediation"]
        assert e["remediation"]["desc"].startswith(RULES[f["rule"]].remediation)
        assert e["unmapped"]["evidence"] == f["evidence"] and e["unmapped"]["rule"] == f["rule"]
        assert e["metadata"]["product"]["name"] == "commonmode" and e["metadata"]["version"] == OCSF_VERSION
    # the key removed before run 2: closed, last seen in run 1
    gone = next(e for e in out if e["unmapped"]["subjects"] == [KEY_PAY_B_OLD.id])
    assert (gone["activity_id"], gone["status_id"], gone["status"]) == (3, 4, "Resolved")
    assert gone["finding_info"]["last_seen_time"] == _ms(runs[1].finished) < gone["time"]
    still = next(e for e in out if e["unmapped"]["subjects"] == [DNS_BOT.id] and
                 e["unmapped"]["rule"] == "shared-identity")
    assert (still["activity_id"], still["status_id"]) == (2, 1)
    assert still["finding_info"]["last_seen_time"] == _ms(run.finished)


def test_resources_are_both_paths_and_the_shared_node_with_account_and_partition(two_runs):
    out, _, _ = events(two_runs)
    bot = next(e for e in out if e["unmapped"]["subjects"] == [DNS_BOT.id] and
               e["unmapped"]["rule"] == "shared-identity")
    by_uid = {r["uid"]: r for r in bot["resources"]}
    assert next(iter(by_uid)) == DNS_BOT.id and by_uid[DNS_BOT.id]["data"]["role"] == "shared"
    assert by_uid[DNS_BOT.id]["type"] == "iam-user" and by_uid[DNS_BOT.id]["data"]["account"] == "111111111111"
    assert by_uid[DNS_BOT.id]["cloud_partition"] == "aws"
    assert by_uid[R_API_P.id]["data"]["role"] == "primary" and by_uid[R_API_B.id]["data"]["role"] == "backup"
    assert by_uid[R_API_P.id]["type"] == "dns-record" and by_uid[R_API_P.id]["data"]["account"] == "111111111111"
    assert bot["cloud"]["provider"] == "AWS" and bot["metadata"]["profiles"] == ["cloud"]
    # the resolved finding's key is gone from run 2's inventory: still described from the run that saw it
    gone = next(e for e in out if e["unmapped"]["subjects"] == [KEY_PAY_B_OLD.id])
    assert gone["resources"][0]["uid"] == KEY_PAY_B_OLD.id and gone["resources"][0]["type"] == "access-key"
    # no-independent-recovery: the backup path, then what its operators need that the primary also needs
    nir = next(e for e in out if e["unmapped"]["rule"] == "no-independent-recovery" and
               e["unmapped"]["services"] == ["api"])
    roles = {r["uid"]: r["data"]["role"] for r in nir["resources"]}
    assert roles[R_API_B.id] == "subject+backup" and roles[DNS_BOT.id] == "shared"
    assert roles["aws:account:111111111111"] == "shared" and roles[R_API_P.id] == "primary"
    label = next(r for r in nir["resources"] if r["uid"] == "aws:account:111111111111")
    assert label["type"] == "fault-domain" and label["data"]["account"] == "111111111111"


def test_a_finding_carried_over_a_failed_run_keeps_its_last_seen_time(two_runs, tmp_path):
    write_config(tmp_path, hostile(reference_estate()), connector_extra="fail = true")
    assert runner.invoke(app, ["scan", "--no-progress", "-c", str(two_runs)]).exit_code == 1
    out, found, (run, runs) = events(two_runs)
    assert run.id == 3 and out and all(f["note"] for f in found.values())
    for e in out:
        assert_valid(e)
        assert e["activity_id"] == 2 and e["finding_info"]["last_seen_time"] == _ms(runs[2].finished)
        assert e["status_detail"].startswith("open: not re-evaluated")


def test_given_findings_only(two_runs):
    store = RunStore.open(two_runs.parent / "commonmode.db")
    try:
        run = store.resolve_run(None)
        from commonmode.store import queries

        critical = queries.findings(store, run, severity="critical")
        out = to_ocsf(store, run, critical)
        assert [e["finding_info"]["uid"] for e in out] == [f["fingerprint"] for f in critical]
        assert to_ocsf(store, run, []) == []
    finally:
        store.close()
