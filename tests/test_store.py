"""The store: one transaction per run, schema with foreign keys and indexes, run lookup."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest
from estate import NOW, declared_services, reference_estate

from commonmode.connector import ConnectorResult
from commonmode.correlate import correlate
from commonmode.errors import UsageError
from commonmode.model import RunStatus
from commonmode.store import RunStore


def _result() -> ConnectorResult:
    return ConnectorResult(connector="fake", provider="fake", connector_type="fake", status=RunStatus.OK)


def _record(store: RunStore, correlation) -> None:
    store.record_run(started=datetime.now(timezone.utc), config="c.toml", results=[_result()],
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
    counts = {t: store.rows(f"SELECT count(*) FROM {t}")[0][0] for t in ("runs", "grants", "findings", "identities")}
    with pytest.raises(KeyboardInterrupt):
        _record(store, Interrupted(corr))
    after = {t: store.rows(f"SELECT count(*) FROM {t}")[0][0] for t in counts}
    assert after == counts and counts["grants"] > 0
    assert store.latest_run().id == 1
    _record(store, corr)  # the store is still usable and lifecycle continues from run 1
    assert {r["status"] for r in store.rows("SELECT status FROM findings WHERE run_id = 2")} == {"open"}


def test_schema_has_foreign_keys_and_indexes(tmp_path):
    store = RunStore.open(tmp_path / "cm.db", create=True)
    store.close()
    conn = sqlite3.connect(tmp_path / "cm.db")
    for table in ("identities", "grants", "findings", "services", "resources", "credentials", "connector_runs"):
        fks = conn.execute(f"PRAGMA foreign_key_list({table})").fetchall()
        assert [(f[2], f[3], f[4]) for f in fks] == [("runs", "run_id", "id")], table
    grant_indexes = {r[1] for r in conn.execute("PRAGMA index_list(grants)")}
    assert {"idx_grants_run_id_resource_id", "idx_grants_run_id_identity_id"} <= grant_indexes
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)


def test_foreign_keys_are_enforced(tmp_path):
    store = RunStore.open(tmp_path / "cm.db", create=True)
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("INSERT INTO findings (run_id, fingerprint, rule, severity, status) "
                           "VALUES (42, 'x', 'r', 'low', 'new')")


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
