"""The SQLite schema: every run, and everything a run saw, so history and diffs are queries.

Created with sqlite-utils (so the file opens in Datasette as is: foreign keys, indexes, plain JSON text
columns). `meta.schema_version` drives migrations.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

SCHEMA_VERSION = 1

_RUN_FK = [("run_id", "runs", "id")]

TABLES: dict[str, dict] = {
    "connector_runs": dict(
        columns={"run_id": int, "connector": str, "type": str, "provider": str, "status": str, "gaps": str,
                 "stats": str},
        pk=("run_id", "connector"),
    ),
    "identities": dict(
        columns={"run_id": int, "id": str, "provider": str, "kind": str, "name": str, "owner": str,
                 "connector": str, "tags": str, "fault_domains": str},
        pk=("run_id", "id"),
    ),
    "credentials": dict(
        columns={"run_id": int, "id": str, "identity_id": str, "kind": str, "created": str, "expires": str,
                 "last_used": str, "usage_tracked": int, "stored_in": str, "connector": str, "fault_domains": str},
        pk=("run_id", "id"),
    ),
    "stores": dict(
        columns={"run_id": int, "id": str, "provider": str, "kind": str, "name": str, "owner": str,
                 "connector": str, "fault_domains": str},
        pk=("run_id", "id"),
    ),
    "resources": dict(
        columns={"run_id": int, "id": str, "kind": str, "provider": str, "name": str, "connector": str,
                 "parents": str, "names": str, "public": int, "control_plane": str, "expires": str, "owner": str,
                 "tags": str, "fault_domains": str},
        pk=("run_id", "id"),
    ),
    "grants": dict(
        columns={"run_id": int, "identity_id": str, "capability": str, "resource_id": str, "conditional": int,
                 "connector": str, "via": str},
        pk=None,
    ),
    "services": dict(
        columns={"run_id": int, "name": str, "owner": str, "source": str, "primary_path": str,
                 "backup_path": str, "missing": str},
        pk=("run_id", "name"),
    ),
    "findings": dict(
        columns={"run_id": int, "fingerprint": str, "rule": str, "severity": str, "status": str, "service": str,
                 "services": str, "subjects": str, "evidence": str, "remediation": str, "connectors": str,
                 "first_seen_run": int, "note": str},
        pk=("run_id", "fingerprint"),
    ),
    "recovery": dict(
        columns={"run_id": int, "service": str, "identity_id": str, "independent": int, "conditional": int,
                 "target": str, "chain": str, "depends_on": str, "shared_with_primary": str},
        pk=("run_id", "service", "identity_id"),
    ),
}

INDEXES: dict[str, list[list[str]]] = {
    # (run_id, capability, resource_id) serves "who can act as X" (access's assume walk) and, by its prefix,
    # the diff's capability filter; (run_id, capability) alone made SQLite scan every assume edge per lookup.
    "grants": [["run_id", "resource_id"], ["run_id", "identity_id"], ["run_id", "capability", "resource_id"]],
    "credentials": [["run_id", "identity_id"]],
    "findings": [["fingerprint"], ["run_id", "status"], ["run_id", "rule"]],
}


def create_schema(conn: sqlite3.Connection) -> None:
    """Create every table and index that does not exist yet (idempotent)."""
    db = sqlite_utils.Database(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    if "meta" not in db.table_names():
        db["meta"].create({"key": str, "value": str}, pk="key")
        db["meta"].insert({"key": "schema_version", "value": str(SCHEMA_VERSION)})
    if "runs" not in db.table_names():
        db["runs"].create(
            {"id": int, "started": str, "finished": str, "status": str, "config": str, "summary": str},
            pk="id",
            not_null={"started", "status"},
        )
    for name, spec in TABLES.items():
        if name not in db.table_names():
            kwargs = {"foreign_keys": _RUN_FK, "not_null": {"run_id"}}
            if spec["pk"]:
                kwargs["pk"] = spec["pk"]
            db[name].create(spec["columns"], **kwargs)
        for cols in INDEXES.get(name, []):  # also adds indexes a newer version defines to an older database
            db[name].create_index(cols, if_not_exists=True)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    if int(version) > SCHEMA_VERSION:
        from commonmode.errors import UsageError

        raise UsageError(f"database schema version {version} is newer than this commonmode understands "
                         f"({SCHEMA_VERSION}); upgrade commonmode")
