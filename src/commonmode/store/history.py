"""Inventory history as intervals: each distinct row is stored once, with the runs in which it held.

A history table (`identities_history`, `grants_history`, … see `tables.HISTORY`) has, besides the inventory
columns, `first_run`, `last_run` (NULL while the row still holds) and `hash`, a 64-bit content hash of the
columns (BLAKE2b). A run advances every table from the rows it saw:

- a row whose hash is among the open rows holds on: nothing is written;
- a row with a new hash is inserted, open from this run (a changed row is a new hash under the same key);
- an open row the run did not see is closed (`last_run` = the previous run), unless its connector failed or
  was partial in this run and the run saw no other row under its key: then it is *carried* (left open) and
  counted, as the findings resting on that connector stay open.

"The inventory as of run N" is then the rows with `first_run <= N` and `last_run` NULL or `>= N`: the views
named as the tables were up to schema 5 (`grants`, with `run_id`) and `grants_current` (schema.view_sql).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from commonmode.store.tables import HISTORY, History, view_sql

#: Rows per executemany batch and per `IN (…)` lookup (SQLite allows 32,766 bound parameters).
BATCH = 20_000

Row = tuple[Any, ...]


def content_hash(row: Row) -> int:
    """A row's 64-bit content hash (signed, as SQLite stores integers): BLAKE2b of its values' repr, which
    tells None from 'None' and 1 from '1'."""
    return int.from_bytes(hashlib.blake2b(repr(row).encode(), digest_size=8).digest(), "little", signed=True)


@dataclass
class Change:
    """What one run did to one history table."""

    added: int = 0
    closed: int = 0
    #: connector: rows it had that the run kept open since the connector failed or was partial
    carried: Counter[str] = field(default_factory=Counter)


def _chunks(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class Intervals:
    """One history table's open rows (hash → history_id), advanced run by run."""

    def __init__(self, conn: sqlite3.Connection, spec: History) -> None:
        self.conn, self.spec = conn, spec
        cur = conn.cursor()
        cur.row_factory = None
        self.open: dict[int, int] = dict(cur.execute(
            f"SELECT hash, history_id FROM {spec.table} WHERE last_run IS NULL"))  # noqa: S608 — a fixed name
        self.next_id = (cur.execute(f"SELECT max(history_id) FROM {spec.table}").fetchone()[0] or 0) + 1  # noqa: S608
        names = list(spec.columns)
        self._key = [names.index(k) for k in spec.key]
        self._insert = (f"INSERT INTO {spec.table} (history_id, first_run, last_run, {', '.join(names)}, hash) "  # noqa: S608 — fixed names
                        f"VALUES ({', '.join('?' * (len(names) + 4))})")

    def advance(self, run_id: int, previous: int | None, rows: Iterable[Row], carry: frozenset[str]) -> Change:
        """Record that run `run_id` saw exactly `rows` (in `spec.columns` order); `previous` is the run
        before it (the `last_run` of what closes); `carry`: the connectors that failed or were partial."""
        change = Change()
        keys: dict[Row, Row] = {}
        if self._key:  # one row per key, the last one given (as INSERT OR REPLACE kept up to schema 5)
            for r in rows:
                keys[tuple(r[i] for i in self._key)] = r
            rows = keys.values()
        seen: set[int] = set()
        batch: list[Row] = []
        for r in rows:
            h = content_hash(r)
            copy = 1
            while h in seen:  # a second identical grant: each copy is its own row, as before
                copy += 1
                h = content_hash((*r, copy))
            seen.add(h)
            if h not in self.open:
                self.open[h] = self.next_id
                batch.append((self.next_id, run_id, None, *r, h))
                self.next_id += 1
                if len(batch) >= BATCH:
                    self.conn.executemany(self._insert, batch)
                    change.added += len(batch)
                    batch.clear()
        self.conn.executemany(self._insert, batch)
        change.added += len(batch)
        gone = [(h, hid) for h, hid in self.open.items() if h not in seen]
        if gone and carry and "connector" in self.spec.columns:
            gone = self._without_carried(gone, keys, carry, change)
        if gone:
            if previous is None:
                raise ValueError(f"{self.spec.table}: open rows but no run before run {run_id}")
            self.conn.executemany(f"UPDATE {self.spec.table} SET last_run = ? WHERE history_id = ?",  # noqa: S608
                                  ((previous, hid) for _, hid in gone))
            for h, _ in gone:
                del self.open[h]
            change.closed = len(gone)
        return change

    def _without_carried(self, gone: list[tuple[int, int]], keys: dict[Row, Row], carry: frozenset[str],
                         change: Change) -> list[tuple[int, int]]:
        """`gone` less the rows a failed or partial connector had, which stay open, unless the run saw another
        row under the same key (that connector saw the row change, so its old version ends)."""
        wanted = ", ".join(["history_id", "connector", *self.spec.key])
        kept: set[int] = set()
        ids = [hid for _, hid in gone]
        for part in _chunks(ids):
            sql = (f"SELECT {wanted} FROM {self.spec.table} "  # noqa: S608 — fixed names and ? marks only
                   f"WHERE history_id IN ({', '.join('?' * len(part))})")
            for hid, connector, *key in self.conn.execute(sql, part):
                if connector in carry and (not self._key or tuple(key) not in keys):
                    kept.add(hid)
                    change.carried[connector] += 1
        return [(h, hid) for h, hid in gone if hid not in kept]


def create_history(conn: sqlite3.Connection, h: History) -> None:
    """Create a history table, its indexes and its two views, where they do not exist yet."""
    db = sqlite_utils.Database(conn)
    if h.table not in db.table_names():
        db.table(h.table).create(
            {"history_id": int, "first_run": int, "last_run": int, **h.columns, "hash": int}, pk="history_id",
            not_null={"first_run", "hash"}, foreign_keys=[("first_run", "runs", "id"), ("last_run", "runs", "id")])
    for cols in h.indexes:
        db.table(h.table).create_index(list(cols), if_not_exists=True)
    for sql in view_sql(h):
        conn.execute(sql)


def carried_whole(conn: sqlite3.Connection) -> dict[str, Counter[str]]:
    """A run that stored no inventory (it failed before correlation) carries every open row:
    {table: {connector: rows}} (tables without a connector column count under '')."""
    out: dict[str, Counter[str]] = {}
    for h in HISTORY.values():
        who = "connector" if "connector" in h.columns else "''"
        out[h.name] = Counter(dict(conn.execute(
            f"SELECT {who}, count(*) FROM {h.table} WHERE last_run IS NULL GROUP BY 1")))  # noqa: S608 — fixed names
    return out


def collapse_legacy(conn: sqlite3.Connection) -> None:
    """Schema 6, in `migrate`'s transaction: each per-run copy table of schema 5 becomes its history table,
    by replaying the runs in order (nothing is carried: each old run holds exactly what it stored), and the
    old table is replaced by its view."""
    tables = {r[0]: r[1] for r in conn.execute("SELECT name, type FROM sqlite_master")}
    runs = [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY id")]
    for h in HISTORY.values():
        legacy = f"{h.name}_legacy"
        if tables.get(h.name) == "table":
            conn.execute(f"ALTER TABLE {h.name} RENAME TO {legacy}")
        create_history(conn, h)
        if tables.get(h.name) != "table":
            continue
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({legacy})")}
        cols = ", ".join(c if c in have else "NULL" for c in h.columns)
        writer = Intervals(conn, h)
        previous: int | None = None
        for run_id in runs:
            rows = conn.execute(f"SELECT {cols} FROM {legacy} WHERE run_id = ? ORDER BY rowid",  # noqa: S608
                                (run_id,))
            writer.advance(run_id, previous, (tuple(r) for r in rows), frozenset())
            previous = run_id
        conn.execute(f"DROP TABLE {legacy}")
    have = {r[1] for r in conn.execute("PRAGMA table_info(connector_runs)")}
    if "carried" not in have:
        conn.execute("ALTER TABLE connector_runs ADD COLUMN carried TEXT")


@dataclass(frozen=True)
class Pruned:
    """What `prune` removed."""

    runs: list[int]
    rows: dict[str, int]
    findings: int


def prune(conn: sqlite3.Connection, first_kept: int) -> Pruned:
    """Drop every run before `first_kept`, with its findings and connector statuses, and the history rows
    that ended before it; rows that held across it start at it. One transaction; VACUUM is the caller's."""
    runs = [r[0] for r in conn.execute("SELECT id FROM runs WHERE id < ? ORDER BY id", (first_kept,))]
    rows: dict[str, int] = {}
    conn.execute("BEGIN IMMEDIATE")
    try:
        for h in HISTORY.values():
            rows[h.name] = conn.execute(f"DELETE FROM {h.table} WHERE last_run < ?",  # noqa: S608 — fixed names
                                        (first_kept,)).rowcount
            conn.execute(f"UPDATE {h.table} SET first_run = ? WHERE first_run < ?",  # noqa: S608 — fixed names
                         (first_kept, first_kept))
        findings = conn.execute("DELETE FROM findings WHERE run_id < ?", (first_kept,)).rowcount
        conn.execute("DELETE FROM connector_runs WHERE run_id < ?", (first_kept,))
        conn.execute("DELETE FROM runs WHERE id < ?", (first_kept,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Pruned(runs=runs, rows=rows, findings=findings)
