"""The store: one transaction per run, schema with foreign keys and indexes, run lookup."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.estate import NOW, declared_services, reference_estate

from commonmode.connector import ConnectorResult
from commonmode.correlate import correlate
from commonmode.errors import UsageError
from commonmode.model import RunStatus
from commonmode.render.review import review
from commonmode.store import RunStore
from commonmode.store.schema import RECOVERY_SPLIT, SCHEMA_VERSION
from commonmode.store.tables import HISTORY

V1_STORE = Path(__file__).resolve().parent / "data" / "store-v1.db"


def _result() -> ConnectorResult:
    return ConnectorResult(connector="fake", provider="fake", connector_type="fake", status=RunStatus.OK)


def _record(store: RunStore, correlation) -> None:
    store.record_run(started=datetime.now(UTC), config="c.toml", results=[_result()],
                     correlation=correlation, status=RunStatus.OK)


class Interrupted:
    """A correlation whose findings are interrupted half-way through writing (Ctrl-C)."""

    def __init__(self, real) -> None:
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    @property
    def findings(self):
        yield self._real.findings[0]
        raise KeyboardInterrupt


def test_an_interrupted_run_leaves_the_previous_one_intact(tmp_path):
    corr = correlate(reference_estate(), declared_services=declared_services(), now=NOW)
    store = RunStore.open(tmp_path / "cm.db", create=True)
    _record(store, corr)
    tables = ("runs", "grants", "findings", "identities")
    counts = {t: store.rows(f"SELECT count(*) FROM {t}")[0][0] for t in tables}  # noqa: S608 — t: a constant name
    with pytest.raises(KeyboardInterrupt):
        _record(store, Interrupted(corr))
    after = {t: store.rows(f"SELECT count(*) FROM {t}")[0][0] for t in counts}  # noqa: S608 — t: a constant name
    assert after == counts and counts["grants"] > 0
    assert store.latest_run().id == 1
    _record(store, corr)  # the store is still usable and lifecycle continues from run 1
    assert {r["status"] for r in store.rows("SELECT status FROM findings WHERE run_id = 2")} == {"open"}


def test_schema_has_foreign_keys_and_indexes(tmp_path):
    store = RunStore.open(tmp_path / "cm.db", create=True)
    store.close()
    conn = sqlite3.connect(tmp_path / "cm.db")
    for table in ("connector_runs",):
        fks = conn.execute(f"PRAGMA foreign_key_list({table})").fetchall()
        assert [(f[2], f[3], f[4]) for f in fks] == [("runs", "run_id", "id")], table
    for name in HISTORY:  # each history table's interval ends are runs; the old names are views
        fks = conn.execute(f"PRAGMA foreign_key_list({name}_history)").fetchall()
        assert sorted((f[2], f[3], f[4]) for f in fks) == [("runs", "first_run", "id"), ("runs", "last_run", "id")]
        kinds = dict(conn.execute("SELECT name, type FROM sqlite_master WHERE name IN (?, ?)",
                                  (name, f"{name}_current")).fetchall())
        assert kinds == {name: "view", f"{name}_current": "view"}, name
    grant_indexes = {r[1] for r in conn.execute("PRAGMA index_list(grants_history)")}
    assert {"idx_grants_history_resource_id", "idx_grants_history_identity_id"} <= grant_indexes
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)


def test_foreign_keys_are_enforced(tmp_path):
    store = RunStore.open(tmp_path / "cm.db", create=True)
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("INSERT INTO findings_history (first_run, fingerprint, rule, severity, status, hash) "
                           "VALUES (42, 'x', 'r', 'low', 'new', 0)")


def test_run_lookup(tmp_path):
    store = RunStore.open(tmp_path / "cm.db", create=True)
    with pytest.raises(UsageError, match="no runs stored yet"):
        store.resolve_run(None)
    corr = correlate(reference_estate(), declared_services=declared_services(), now=NOW)
    _record(store, corr)
    with pytest.raises(UsageError, match="no previous run"):
        store.resolve_run("previous")
    _record(store, corr)
    assert store.resolve_run("latest").id == 2 and store.resolve_run("previous").id == 1
    assert store.resolve_run("1").id == 1
    with pytest.raises(UsageError, match="expected a run id"):
        store.resolve_run("yesterday")


def test_not_a_database(tmp_path):
    bad = tmp_path / "x.db"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(UsageError, match="not a commonmode database"):
        RunStore.open(bad)


# --- recovery options: entity ids and fault-domain labels, stored as the correlator split them ---------------

def _entity_ids(store: RunStore, run_id: int) -> set[str]:
    return {r["id"] for t in ("identities", "credentials", "stores", "resources")
            for r in store.rows(f"SELECT id FROM {t} WHERE run_id = ?", [run_id])}  # noqa: S608 — t: a constant name


def _labels(store: RunStore, run_id: int) -> set[str]:
    return {label for t in ("identities", "credentials", "stores", "resources")
            for r in store.rows(f"SELECT fault_domains FROM {t} WHERE run_id = ?",  # noqa: S608 — t: constant
                                [run_id])
            for label in json.loads(r["fault_domains"])}


def test_a_run_stores_each_recovery_option_s_entities_labels_and_acting_identities(tmp_path):
    corr = correlate(reference_estate(), declared_services=declared_services(), now=NOW)
    store = RunStore.open(tmp_path / "cm.db", create=True)
    _record(store, corr)
    rows = {(r["service"], r["identity_id"]): r for r in store.rows("SELECT * FROM recovery WHERE run_id = 1")}
    assert rows and len(rows) == len(corr.recovery)
    for o in corr.recovery:
        r = rows[(o.service, o.identity_id)]
        assert json.loads(r["depends_on_entities"]) == list(o.depends_on_entities)
        assert json.loads(r["depends_on_fault_domains"]) == list(o.depends_on_fault_domains)
        assert json.loads(r["identities"]) == list(o.identities) and o.identities[0] == o.identity_id
        assert json.loads(r["depends_on"]) == [*o.depends_on_entities, *o.depends_on_fault_domains]
    # the review renders what is stored: emptied, the mixed column no longer feeds it
    store.conn.execute("UPDATE recovery_history SET depends_on = '[]'")
    pay = next(e for e in review(store, store.latest_run()) if e["service"] == "payments")
    backup = next(o for o in pay["can_fail_over"] if o["identity"].endswith("pay-dns-backup"))
    assert backup["fault_domains"] == ["aws:account:333333333333", "vault:cluster:east-1"]
    assert [c["id"] for c in backup["credentials"]] == ["AKIAPAYBACKUP", "AKIAPAYBACKUPOLD"]


def _review_of_every_run(store: RunStore) -> list[list[dict]]:
    return [review(store, run) for run in store.runs()]


def test_a_version_1_store_s_recovery_options_are_split_by_the_run_s_data(tmp_path):
    db = tmp_path / "cm.db"
    shutil.copy(V1_STORE, db)
    old = RunStore.open(db)
    assert not set(RECOVERY_SPLIT) & {r[1] for r in old.conn.execute("PRAGMA table_info(recovery)")}
    before = _review_of_every_run(old)
    options = [(run.id, o) for run, entries in zip(old.runs(), before, strict=True)
               for e in entries for o in e["can_fail_over"]]
    assert options
    for run_id, o in options:
        labels, ids = _labels(old, run_id), _entity_ids(old, run_id)
        assert o["fault_domains"] and set(o["fault_domains"]) <= labels and not set(o["fault_domains"]) & ids
    pay = next(o for run_id, o in options if run_id == 1 and o["identity"].endswith("pay-dns-backup"))
    assert pay["fault_domains"] == ["aws:account:333333333333", "vault:cluster:east-1"]
    assert [c["id"] for c in pay["credentials"]] == ["AKIAPAYBACKUP", "AKIAPAYBACKUPOLD"]
    old.close()
    # migrated (scan opens it to write), the old rows read the same, and a new run fills the new columns
    store = RunStore.open(db, create=True)
    assert {r[1] for r in store.conn.execute("PRAGMA table_info(recovery)")} >= set(RECOVERY_SPLIT)
    assert store.rows("SELECT count(*) FROM recovery WHERE depends_on_entities IS NOT NULL")[0][0] == 0
    assert _review_of_every_run(store) == before
    _record(store, correlate(reference_estate(), declared_services=declared_services(), now=NOW))
    new = store.rows("SELECT * FROM recovery WHERE run_id = 3")
    assert new and all(r[c] is not None for r in new for c in RECOVERY_SPLIT)
    # schema 4: whether a credential is a long-lived key; old rows NULL, the new run's filled
    assert store.rows("SELECT count(*) FROM credentials WHERE run_id < 3 AND long_lived IS NOT NULL")[0][0] == 0
    keys = store.rows("SELECT long_lived FROM credentials WHERE run_id = 3")
    assert keys and all(r["long_lived"] in (0, 1) for r in keys)
    assert _review_of_every_run(store)[:2] == before
