"""The SQLite schema: every run, and everything a run saw, so history and diffs are queries.

Created with sqlite-utils (so the file opens in Datasette as is: foreign keys, indexes, plain JSON text
columns). Since schema 6 the inventory is kept as intervals (history.py): `<table>_history` holds each
distinct row once, and the view `<table>` gives each run's rows with the `run_id` column the table had.

`meta.schema_version` drives migrations: MIGRATIONS is an ordered list of steps, each run in one transaction
by `migrate` when `scan` opens an older store. Read commands never migrate: every query reads the names and
columns of schema 5 (tables there, views since 6), so a store written by an older release reads as it did.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlite_utils

from commonmode.errors import UsageError
from commonmode.store.history import collapse_legacy, create_history
from commonmode.store.tables import (
    HISTORY,
    INDEXES,
    LEGACY_INDEXES,
    LEGACY_TABLES,
    RUN_FK,
    RUN_TABLES,
)

SCHEMA_VERSION = 6
#: `PRAGMA application_id` of a commonmode store ("cmde"): marks the file as ours (SQLite file format,
#: "Application ID"); stores written before schema 2 are recognised by their `meta` and `runs` tables.
APPLICATION_ID = 0x636D6465

def create_schema(conn: sqlite3.Connection) -> None:
    """Create every table, view and index that does not exist yet (idempotent). A store older than schema 6
    gets its missing tables in its own layout, which `migrate` then brings up to date."""
    db = sqlite_utils.Database(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    if "meta" not in db.table_names():
        db.table("meta").create({"key": str, "value": str}, pk="key")
        db.table("meta").insert({"key": "schema_version", "value": str(SCHEMA_VERSION)})
    if "runs" not in db.table_names():
        db.table("runs").create(
            {"id": int, "started": str, "finished": str, "status": str, "config": str, "summary": str,
             "version": str},
            pk="id",
            not_null={"started", "status"},
        )
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    legacy = schema_version(conn) < 6
    tables: dict[str, dict[str, Any]] = {**RUN_TABLES, **(LEGACY_TABLES if legacy else {})}
    for name, spec in tables.items():
        if name not in db.table_names():
            kwargs: dict[str, Any] = {"foreign_keys": RUN_FK, "not_null": {"run_id"}}
            if spec["pk"]:
                kwargs["pk"] = spec["pk"]
            columns = dict(spec["columns"])
            if legacy and name == "connector_runs":
                columns.pop("carried")
            db.table(name).create(columns, **kwargs)
        for cols in (LEGACY_INDEXES if legacy else INDEXES).get(name, []):  # and indexes a newer version adds
            db.table(name).create_index(cols, if_not_exists=True)
    if not legacy:
        for h in HISTORY.values():
            create_history(conn, h)


def _add_run_version(conn: sqlite3.Connection) -> None:
    """2: each run records the commonmode release that wrote it; the file is marked as a commonmode store."""
    if "version" not in {r[1] for r in conn.execute("PRAGMA table_info(runs)")}:
        conn.execute("ALTER TABLE runs ADD COLUMN version TEXT")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


#: The recovery columns schema 3 adds (JSON lists): what an option needs, split into entity ids and
#: fault-domain labels, and the identities acting along its chain.
RECOVERY_SPLIT = ("depends_on_entities", "depends_on_fault_domains", "identities")


def _split_recovery_dependencies(conn: sqlite3.Connection) -> None:
    """3: a recovery option's dependencies as the correlator split them (entity ids; fault-domain labels), and
    the identities along its chain. Rows written before stay NULL there: readers split their `depends_on`."""
    have = {r[1] for r in conn.execute("PRAGMA table_info(recovery)")}
    for column in RECOVERY_SPLIT:
        if column not in have:
            conn.execute(f"ALTER TABLE recovery ADD COLUMN {column} TEXT")


def _add_long_lived_keys(conn: sqlite3.Connection) -> None:
    """4: whether a credential is a long-lived key, whose age alone is a finding (rows written before: NULL)."""
    if "long_lived" not in {r[1] for r in conn.execute("PRAGMA table_info(credentials)")}:
        conn.execute("ALTER TABLE credentials ADD COLUMN long_lived INTEGER")


def _add_failover_graphs(conn: sqlite3.Connection) -> None:
    """5: the `failover` table (create_schema creates it before migrate runs; runs stored before have no rows,
    and `simulate` says so)."""
    conn.execute("CREATE TABLE IF NOT EXISTS failover (run_id INTEGER NOT NULL REFERENCES runs(id), service TEXT, "
                 "graph TEXT, PRIMARY KEY (run_id, service))")


#: (the version a step brings the store to, the step). Append only; never edit a released step.
MIGRATIONS: list[tuple[int, Callable[[sqlite3.Connection], None]]] = [
    (2, _add_run_version),
    (3, _split_recovery_dependencies),
    (4, _add_long_lived_keys),
    (5, _add_failover_graphs),
    (6, collapse_legacy),
]


def schema_version(conn: sqlite3.Connection) -> int:
    """The store's `meta.schema_version` (0 when the file has no such row: not a commonmode store)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row is not None else 0
    except (sqlite3.DatabaseError, ValueError, TypeError):
        return 0


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Bring an older store up to SCHEMA_VERSION, one transaction per step; the versions it stepped to."""
    done: list[int] = []
    for version, step in MIGRATIONS:
        if schema_version(conn) >= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(conn)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        done.append(version)
    return done


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def foreign_tables(conn: sqlite3.Connection) -> set[str]:
    """The tables of a file that is not a commonmode store (empty for a commonmode store or an empty file)."""
    names = _tables(conn)
    if not names or ({"meta", "runs"} <= names and schema_version(conn) >= 1):
        return set()
    return names


def check_store(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that is not a commonmode store, or one newer than this release understands."""
    version = schema_version(conn) if {"meta", "runs"} <= _tables(conn) else 0
    if version < 1:
        raise UsageError(f"{path}: not a commonmode database (no commonmode schema in it); pass --db with a "
                         "commonmode store")
    if version > SCHEMA_VERSION:
        raise UsageError(f"{path}: database schema version {version} is newer than this commonmode understands "
                         f"({SCHEMA_VERSION}); upgrade commonmode")
