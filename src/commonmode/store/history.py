"""Inventory history as intervals: each distinct row is stored once, with the runs in which it held.

A history table (`identities_history`, `grants_history`, … see `tables.HISTORY`) has, besides the inventory
columns, `first_run`, `last_run` (NULL while the row still holds) and `hash`, a 64-bit content hash of the
columns (BLAKE2b of their `marshal` encoding, see content_hash). A run advances every table from the rows it saw:

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
import marshal
import sqlite3
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress, groupby
from operator import itemgetter
from typing import Any

import sqlite_utils

from commonmode.store.tables import HISTORY, History, view_sql

#: Rows per executemany batch and per `IN (…)` lookup (SQLite allows 32,766 bound parameters).
BATCH = 20_000

Row = tuple[Any, ...]
#: Whose rows the correlator's own tables are, in the counts of what a run carried.
DERIVED = "(derived)"
#: The connector name of the grants the correlator derives (correlate.derive.CORRELATOR; the store does not
#: import the correlator).
CORRELATOR = "correlator"


def content_hash(row: Row) -> bytes:
    """A row's 8-byte content hash: BLAKE2b of the values' `marshal` format 0 encoding, which is C-fast, tells
    None from 'None' and 1 from '1', and (having no references or interning flags, unlike formats 1 and up)
    is the same for equal values however they were made. A Python release that changed format 0 would make
    every row look changed once: each is then closed and stored again, and no answer changes."""
    return _blake2b(_marshal(row, 0), digest_size=8).digest()


_blake2b, _marshal = hashlib.blake2b, marshal.dumps


@dataclass
class Change:
    """What one run did to one history table."""

    added: int = 0
    closed: int = 0
    #: connector: rows it had that the run kept open since the connector failed or was partial
    carried: Counter[str] = field(default_factory=Counter)
    #: the key of each carried row (a keyed table's), with whose it was (its `carried_by` value)
    carried_keys: dict[Row, str] = field(default_factory=dict)


def _chunks(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class Intervals:
    """One history table's open rows (hash → history_id), advanced run by run; with `groups`, only the open
    rows of those groups (values of `spec.group`), for `advance_grouped`."""

    def __init__(self, conn: sqlite3.Connection, spec: History, groups: Collection[str] | None = None) -> None:
        self.conn, self.spec = conn, spec
        cur = conn.cursor()
        cur.row_factory = None
        sql = f"SELECT hash, history_id FROM {spec.table} WHERE last_run IS NULL"  # noqa: S608 — a fixed name
        if groups is None:
            self.open: dict[bytes, int] = dict(cur.execute(sql))
        elif len(groups) <= BATCH:  # by the group's index
            self.open = {}
            for part in _chunks(list(groups), 500):
                self.open.update(cur.execute(f"{sql} AND {spec.group} IN ({', '.join('?' * len(part))})", part))
        else:  # most of the table: one scan
            self.open = {h: hid for h, hid, g in cur.execute(sql.replace(" FROM", f", {spec.group} FROM", 1))
                         if g in groups}
        #: the groups some of whose rows were carried (their open rows are not what the run saw)
        self.carried_groups: set[str] = set()
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
        seen: set[bytes] = set()
        batch: list[Row] = []
        opened, b2, dumps = self.open, _blake2b, _marshal  # content_hash, inlined: a call per row is a cost here
        if self._key:  # one row per key, the last one given (as INSERT OR REPLACE kept up to schema 5)
            for r in rows:
                keys[tuple(r[i] for i in self._key)] = r
            hashed: Iterable[tuple[bytes, Row]] = ((b2(dumps(r, 0), digest_size=8).digest(), r)
                                                   for r in keys.values())
        else:
            hashed = self._copies(rows, seen)
        for h, r in hashed:
            seen.add(h)
            if h not in opened:
                opened[h] = self.next_id
                batch.append((self.next_id, run_id, None, *r, h))
                self.next_id += 1
                if len(batch) >= BATCH:
                    self.conn.executemany(self._insert, batch)
                    change.added += len(batch)
                    batch.clear()
        self.conn.executemany(self._insert, batch)
        change.added += len(batch)
        gone = [(h, hid) for h, hid in self.open.items() if h not in seen]
        if gone and carry and self.spec.carried_by:
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

    @staticmethod
    def _copies(rows: Iterable[Row], seen: set[bytes]) -> Iterator[tuple[bytes, Row]]:
        """(hash, row) for a table without a key (grants): the second copy of an identical row gets the hash of
        (row, 2), and so on, so each copy is its own row as before."""
        b2, dumps = _blake2b, _marshal
        for r in rows:
            h = b2(dumps(r, 0), digest_size=8).digest()
            copy = 1
            while h in seen:
                copy += 1
                h = content_hash((*r, copy))
            yield h, r

    def _without_carried(self, gone: list[tuple[bytes, int]], keys: dict[Row, Row], carry: frozenset[str],
                         change: Change) -> list[tuple[bytes, int]]:
        """`gone` less the rows a failed or partial connector had (their `carried_by` column is in `carry`),
        which stay open, unless the run saw another row under the same key (that connector saw the row change,
        so its old version ends)."""
        assert self.spec.carried_by is not None
        wanted = ", ".join(["history_id", self.spec.carried_by, self.spec.group, *self.spec.key])
        kept: set[int] = set()
        ids = [hid for _, hid in gone]
        for part in _chunks(ids):
            sql = (f"SELECT {wanted} FROM {self.spec.table} "  # noqa: S608 — fixed names and ? marks only
                   f"WHERE history_id IN ({', '.join('?' * len(part))})")
            for hid, connector, group, *key in self.conn.execute(sql, part):
                if connector in carry and (not self._key or tuple(key) not in keys):
                    kept.add(hid)
                    change.carried[connector] += 1
                    if self._key:
                        change.carried_keys[tuple(key)] = connector
                    self.carried_groups.add(group)
        return [(h, hid) for h, hid in gone if hid not in kept]


def create_history(conn: sqlite3.Connection, h: History) -> None:
    """Create a history table, its indexes and its two views, where they do not exist yet."""
    db = sqlite_utils.Database(conn)
    if h.table not in db.table_names():
        db.table(h.table).create(
            {"history_id": int, "first_run": int, "last_run": int, **h.columns, "hash": bytes}, pk="history_id",
            not_null={"first_run", "hash"}, foreign_keys=[("first_run", "runs", "id"), ("last_run", "runs", "id")])
    for cols in h.indexes:
        db.table(h.table).create_index(list(cols), if_not_exists=True)
    for sql in view_sql(h):
        conn.execute(sql)
    # advance_grouped's digests: not history, a note of each group's open rows
    conn.execute("CREATE TABLE IF NOT EXISTS history_digests (tbl TEXT NOT NULL, grp TEXT NOT NULL, digest BLOB "
                 "NOT NULL, PRIMARY KEY (tbl, grp))")
    # An open row deleted, closed or changed by anything marks its group, so that the next run compares
    # it row by row (commonmode's own closing then writes the group's digest again); a row whose content
    # was changed by hand also loses its hash (a text, unlike any hash), so that it ends and what the
    # next run sees is stored again. (A row inserted by hand is not noticed.)
    mark = (f"UPDATE history_digests SET digest = x'' WHERE tbl = '{h.name}{WHOLE}' "  # noqa: S608 — fixed names
            f"OR (tbl = '{h.name}' AND grp IN (OLD.{h.group}, NEW.{h.group}))")
    reset = f"UPDATE {h.table} SET hash = 'edited ' || NEW.history_id WHERE history_id = NEW.history_id"  # noqa: S608
    conn.execute(f"CREATE TRIGGER IF NOT EXISTS {h.table}_open_deleted AFTER DELETE ON {h.table} "
                 f"WHEN OLD.last_run IS NULL BEGIN {mark.replace(', NEW.' + h.group, '')}; END")
    conn.execute(f"CREATE TRIGGER IF NOT EXISTS {h.table}_open_closed AFTER UPDATE OF last_run ON {h.table} "
                 f"WHEN OLD.last_run IS NULL BEGIN {mark}; END")
    conn.execute(f"CREATE TRIGGER IF NOT EXISTS {h.table}_open_changed AFTER UPDATE OF "
                 f"{', '.join(h.columns)} ON {h.table} WHEN OLD.last_run IS NULL BEGIN {mark}; {reset}; END")


@dataclass(frozen=True)
class Grouped:
    """A grouped table's rows as `advance_grouped` takes them."""

    #: (group, bytes) in a fixed order (`pieces`)
    pieces: Iterable[tuple[str, bytes]]
    #: the rows (in `spec.columns` order) of the groups asked for
    rows_of: Callable[[set[str]], Iterable[Row]]


def pieces(raw: Iterable[Row], at: int = 0) -> Iterator[tuple[str, bytes]]:
    """(group, encoding) for each run of consecutive tuples with the same group (`raw[at]`): one marshal call
    per run, so that an unchanged group costs little more than reading it. The tuples may hold any values
    marshal format 0 takes (a bool, a tuple), since the encoding is only ever compared with itself."""
    dumps = _marshal
    for group, run in groupby(raw, key=itemgetter(at)):
        yield group, dumps(tuple(run), 0)


def advance_grouped(conn: sqlite3.Connection, spec: History, run_id: int, previous: int | None,
                    pieces: Iterable[tuple[str, bytes]], rows_of: Callable[[set[str]], Iterable[Row]],
                    carry: frozenset[str]) -> Change:
    """`Intervals.advance` for a table with a `group` column (grants: an identity's), without reading every
    row of an unchanged group. `pieces` are (group, bytes) that together encode what the run saw of each
    group, in a fixed order; their BLAKE2b digest per group is compared with the digest stored for the group
    (`history_digests`) when its open rows were last exactly what a run saw. Only the groups whose digest
    differs, that are new, or that vanished are compared row by row: `rows_of(those groups)` gives their
    rows.

    The invariant: every group with open rows has a digest row; it is the digest of what the last run saw
    of it when its open rows are exactly that, and DIRTY otherwise (some rows were carried; the rows were
    migrated), so that the next run compares it row by row. A group without open rows has none."""
    blobs: dict[str, bytes] = {}
    for group, blob in pieces:  # a group in several runs (rare) is their concatenation, in order
        blobs[group] = blobs[group] + blob if group in blobs else blob
    b2 = _blake2b
    now = {g: b2(blob, digest_size=16).digest() for g, blob in blobs.items()}
    del blobs
    # the whole table's digest first (every group and its digest): an unchanged table reads one row
    everything = b2(_marshal(list(now.items()), 0), digest_size=16).digest()
    whole = (f"{spec.name}{WHOLE}", "")
    if conn.execute("SELECT 1 FROM history_digests WHERE tbl = ? AND grp = ? AND digest = ?",
                    (*whole, everything)).fetchone():
        return Change()
    stored = dict(conn.execute("SELECT grp, digest FROM history_digests WHERE tbl = ?", (spec.name,)))
    changed = {g for g, d in now.items() if stored.get(g) != d} | (stored.keys() - now.keys())
    change, carried = Change(), False
    if changed:
        writer = Intervals(conn, spec, changed)
        change = writer.advance(run_id, previous, rows_of(changed), carry)
        conn.executemany("DELETE FROM history_digests WHERE tbl = ? AND grp = ?",
                         ((spec.name, g) for g in changed if g in stored))
        conn.executemany("INSERT INTO history_digests (tbl, grp, digest) VALUES (?, ?, ?)",
                         ((spec.name, g, DIRTY if g in writer.carried_groups else now[g]) for g in changed
                          if g in now or g in writer.carried_groups))
        carried = bool(writer.carried_groups)
    # every group's digest is now what this run saw, unless some rows were carried
    conn.execute("INSERT OR REPLACE INTO history_digests (tbl, grp, digest) VALUES (?, ?, ?)",
                 (*whole, DIRTY if carried else everything))
    return change


#: The digest of a group whose open rows are not what a run saw (advance_grouped): never equal to a digest.
DIRTY = b""
#: The `tbl` suffix of a table's whole digest (advance_grouped), under the group ''.
WHOLE = ":all"


def mark_dirty(conn: sqlite3.Connection, spec: History) -> None:
    """Give every group of `spec` with open rows the DIRTY digest (after rows were written row by row, as
    the migration does), so that the next run compares those groups row by row."""
    conn.execute("DELETE FROM history_digests WHERE tbl IN (?, ?)", (spec.name, f"{spec.name}{WHOLE}"))
    conn.execute(f"INSERT INTO history_digests (tbl, grp, digest) SELECT DISTINCT ?, {spec.group}, ? "  # noqa: S608 — fixed names
                 f"FROM {spec.table} WHERE last_run IS NULL", (spec.name, DIRTY))


def advance_rows(conn: sqlite3.Connection, spec: History, run_id: int, previous: int | None, rows: Sequence[Row],
                 carry: frozenset[str]) -> Change:
    """Advance one table by the rows a run saw, by groups (advance_grouped). A keyed table's rows are first
    made one per key (the last given), so that a key is in one group only."""
    if spec.key:
        at_key = [list(spec.columns).index(k) for k in spec.key]
        by_key = {tuple(r[i] for i in at_key): r for r in rows}
        if len(by_key) < len(rows):
            rows = list(by_key.values())
        del by_key
    at = list(spec.columns).index(spec.group)
    return advance_grouped(conn, spec, run_id, previous, pieces(rows, at),
                           lambda changed: compress(rows, map(changed.__contains__, map(itemgetter(at), rows))), carry)


def carried_whole(conn: sqlite3.Connection) -> dict[str, Counter[str]]:
    """A run that stored no inventory (it failed before correlation) carries every open row:
    {table: {connector: rows}}; what the correlator derived (services, recovery, failover, derived grants)
    counts under DERIVED. Findings are not counted here: their lifecycle carries them (store.RunStore)."""
    out: dict[str, Counter[str]] = {}
    for h in HISTORY.values():
        if h.name == "findings":
            continue
        who = (f"CASE connector WHEN '{CORRELATOR}' THEN '{DERIVED}' ELSE connector END"
               if "connector" in h.columns else f"'{DERIVED}'")
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
        mark_dirty(conn, h)
    have = {r[1] for r in conn.execute("PRAGMA table_info(connector_runs)")}
    if "carried" not in have:
        conn.execute("ALTER TABLE connector_runs ADD COLUMN carried TEXT")


@dataclass(frozen=True)
class Pruned:
    """What `prune` removed (or, with dry_run, would remove)."""

    runs: list[int]
    #: table: history rows that ended before the first kept run
    rows: dict[str, int]


def prunable(conn: sqlite3.Connection, first_kept: int) -> Pruned:
    """What `prune(conn, first_kept)` would remove, read only."""
    runs = [r[0] for r in conn.execute("SELECT id FROM runs WHERE id < ? ORDER BY id", (first_kept,))]
    rows = {h.name: conn.execute(f"SELECT count(*) FROM {h.table} WHERE last_run < ?",  # noqa: S608 — fixed names
                                 (first_kept,)).fetchone()[0] for h in HISTORY.values()}
    return Pruned(runs=runs, rows=rows)


def prune(conn: sqlite3.Connection, first_kept: int) -> Pruned:
    """Drop every run before `first_kept`, with its connector statuses and the history rows that ended before
    it; rows that held across it start at it. One transaction; VACUUM is the caller's."""
    runs = [r[0] for r in conn.execute("SELECT id FROM runs WHERE id < ? ORDER BY id", (first_kept,))]
    rows: dict[str, int] = {}
    conn.execute("BEGIN IMMEDIATE")
    try:
        for h in HISTORY.values():
            rows[h.name] = conn.execute(f"DELETE FROM {h.table} WHERE last_run < ?",  # noqa: S608 — fixed names
                                        (first_kept,)).rowcount
            conn.execute(f"UPDATE {h.table} SET first_run = ? WHERE first_run < ?",  # noqa: S608 — fixed names
                         (first_kept, first_kept))
        conn.execute("DELETE FROM connector_runs WHERE run_id < ?", (first_kept,))
        conn.execute("DELETE FROM runs WHERE id < ?", (first_kept,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Pruned(runs=runs, rows=rows)
