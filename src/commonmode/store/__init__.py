"""The run store (SQLite via sqlite-utils). Every output reads from here.

A run is written in one transaction: an interrupted scan leaves the previous data intact.
Finding lifecycle across runs: `new` the first run a fingerprint appears, `open` while it stays,
`resolved` in the run where it disappears — but only when every connector its evidence rests on
succeeded in that run; otherwise it is carried over as `open` with a note saying why.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import compress
from operator import attrgetter
from pathlib import Path
from typing import Any

from commonmode import __version__
from commonmode.connector import ConnectorResult
from commonmode.errors import UsageError
from commonmode.files import create_private
from commonmode.model import FindingStatus, RunStatus
from commonmode.store.history import Change, Grouped, advance_grouped, advance_rows, carried_whole, pieces
from commonmode.store.lock import ScanLock
from commonmode.store.schema import check_store, create_schema, foreign_tables, migrate
from commonmode.store.tables import HISTORY

#: The first bytes of every SQLite 3 file (SQLite docs, "Database File Format", the header string).
SQLITE_MAGIC = b"SQLite format 3\x00"
#: Seconds a reader or writer waits for another connection's lock before giving up.
BUSY_TIMEOUT = 60.0

__all__ = ["RunInfo", "RunStore", "ScanLock"]


@dataclass(frozen=True)
class RunInfo:
    """One row of `runs`."""

    id: int
    started: str
    finished: str | None
    status: RunStatus
    summary: Mapping[str, Any]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class _JsonCache:
    """json.dumps with memory: the same via tuple or label tuple is shared by many rows."""

    def __init__(self) -> None:
        self._cache: dict[Any, str] = {}

    @property
    def known(self) -> dict[Any, str]:
        """What it has encoded so far (a value → its JSON), to look up without a call."""
        return self._cache

    def __call__(self, value: Any) -> str:
        try:
            hit = self._cache.get(value)
        except TypeError:
            return json.dumps(value, sort_keys=True)
        if hit is None:
            hit = self._cache[value] = _strings(value) if type(value) is tuple else json.dumps(
                value if not isinstance(value, frozenset) else sorted(value))
        return hit


_ascii = json.encoder.encode_basestring_ascii  # json.dumps's own encoder of a string (ensure_ascii)


def _strings(value: tuple[Any, ...]) -> str:
    """json.dumps of a tuple, in C for a tuple of strings (the encoder json.dumps uses for each, its ', '
    between them), which ids, labels and chains are: the same text, without the encoder's Python frames."""
    try:
        return "[" + ", ".join(map(_ascii, value)) + "]"
    except TypeError:  # not all strings
        return json.dumps(value)


def _tags(tags: Mapping[str, str]) -> str:
    """Tags as JSON with sorted keys; most identities and resources have none."""
    return json.dumps(dict(tags), sort_keys=True) if tags else "{}"


#: A grant's fields in the grants table's order, read in C (`_value_`: the capability's string, the Enum
#: member's own attribute behind `.value`).
_GRANT_FIELDS = attrgetter("identity_id", "capability._value_", "resource_id", "conditional", "connector", "via")
_GRANT_HOLDER = attrgetter("identity_id")


def inventory_rows(corr: Any, j: _JsonCache) -> Iterator[tuple[str, Iterator[tuple[Any, ...]] | Grouped]]:
    """(history table, its rows in `tables.HISTORY` column order) for what a correlation holds; the grants,
    a million in a large estate, by identity (history.advance_grouped)."""
    inv = corr.inventory
    yield "identities", ((i.id, i.provider, i.kind, i.name, i.owner, i.connector, _tags(i.tags), j(i.fault_domains))
                         for i in inv.identities)
    yield "credentials", ((x.id, x.identity_id, x.kind, _iso(x.created), _iso(x.expires), _iso(x.last_used),
                           int(x.usage_tracked), x.stored_in, x.connector, j(x.fault_domains), int(x.long_lived))
                          for x in inv.credentials)
    yield "stores", ((s.id, s.provider, s.kind, s.name, s.owner, s.connector, j(s.fault_domains))
                     for s in inv.stores)
    yield "resources", ((r.id, r.kind.value, r.provider, r.name, r.connector, j(r.parents), j(r.names),
                         None if r.public is None else int(r.public), r.control_plane, _iso(r.expires), r.owner,
                         _tags(r.tags), j(r.fault_domains)) for r in inv.resources)
    via = j.known  # the few distinct via chains: a dict lookup, not a call, per grant (a million in a large estate)

    def grants_of(identities: set[str]) -> Iterator[tuple[Any, ...]]:  # those grants picked out in C
        picked = compress(inv.grants, map(identities.__contains__, map(_GRANT_HOLDER, inv.grants)))
        return ((who, cap, what, 1 if cond else 0, conn, via[why] if why in via else j(why))
                for who, cap, what, cond, conn, why in map(_GRANT_FIELDS, picked))

    yield "grants", Grouped(pieces(map(_GRANT_FIELDS, inv.grants)), grants_of)
    yield "services", ((s.name, s.owner, s.source, j(tuple(s.primary)), j(tuple(s.backup)),
                        j(tuple(corr.missing(s.name)))) for s in corr.services)
    yield "recovery", ((o.service, o.identity_id, int(o.independent), int(o.conditional), o.target,
                        j(tuple(o.chain)), j(tuple(o.depends_on)), j(tuple(o.shared_with_primary)),
                        j(tuple(o.depends_on_entities)), j(tuple(o.depends_on_fault_domains)), j(tuple(o.identities)))
                       for o in corr.recovery)
    yield "failover", ((g.service, json.dumps(g.to_json(), separators=(",", ":")))
                       for g in getattr(corr, "failover", ()))


class RunStore:
    """Runs and everything they saw, in one SQLite file."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path, *, create: bool = False, hint: str = "") -> RunStore:
        """Open the store at `path`: read-only (nothing is created or migrated), or with `create` for a scan.

        `create` makes a new store in a new or empty file, migrates an older commonmode store, and refuses
        any other file (someone else's SQLite database is never touched). `hint` ends the message for a
        missing file ("or pass --db" when the path came from a config)."""
        return cls._for_writing(path) if create else cls._for_reading(path, hint)

    @classmethod
    def _for_reading(cls, path: Path, hint: str) -> RunStore:
        if not path.is_file():
            raise UsageError(f"{path}: no commonmode database here; run `commonmode scan` first{hint}")
        # mode=ro: a read never writes; immutable=1 where the folder cannot be written (a read-only mount),
        # since SQLite could not create the WAL index there (SQLite docs, "WAL mode: read-only databases").
        uri = path.resolve().as_uri() + "?mode=ro" + ("" if os.access(path.parent, os.W_OK) else "&immutable=1")
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT)
            conn.row_factory = sqlite3.Row
            check_store(conn, path)
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"{path}: not a commonmode database ({exc})") from None
        return cls(conn, path)

    @classmethod
    def _for_writing(cls, path: Path) -> RunStore:
        if path.exists() and not path.is_file():
            raise UsageError(f"{path}: not a file; pass --db with a database file")
        if not create_private(path) and path.stat().st_size:
            with path.open("rb") as fh:
                if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                    raise UsageError(f"{path}: not an SQLite database; commonmode creates a store only in a new or "
                                     "empty file (pass --db with another path)")
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT)
            conn.row_factory = sqlite3.Row
            foreign = foreign_tables(conn)
            if foreign:
                held = ", ".join(sorted(foreign)[:5])
                raise UsageError(f"{path}: not a commonmode database (it holds tables {held}); "
                                 "commonmode creates a store only in a new or empty file (pass --db with another path)")
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                check_store(conn, path)  # an existing store: refuse one newer than this release before touching it
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            create_schema(conn)
            migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"{path}: not a commonmode database ({exc})") from None
        return cls(conn, path)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    # --- writing ---------------------------------------------------------------------------

    def record_run(self, *, started: datetime, config: str, results: Sequence[ConnectorResult],
                   correlation: Any | None, status: RunStatus, finished: datetime | None = None) -> RunInfo:
        """Store a whole run in one transaction: advance the inventory history by what the run saw (history.py)
        and settle the finding lifecycle against the previous run."""
        finished = finished or datetime.now(UTC)
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            previous = self.latest_run()
            cur = c.execute(
                "INSERT INTO runs (started, finished, status, config, summary, version) VALUES (?, ?, ?, ?, ?, ?)",
                (started.isoformat(), finished.isoformat(), status.value, config, "{}", __version__),
            )
            assert cur.lastrowid is not None  # an INSERT into a rowid table sets it
            run_id = cur.lastrowid
            counts: dict[str, Any] = {}
            if correlation is not None:
                j = _JsonCache()
                carry = frozenset(r.connector for r in results if r.status is not RunStatus.OK)
                changes = self._advance_inventory(run_id, previous.id if previous else None, correlation, j, carry)
                carried = {name: ch.carried for name, ch in changes.items()}
                counts = self._insert_findings(run_id, previous, correlation, results, j)
                counts.update(
                    identities=len(correlation.inventory.identities),
                    grants=len(correlation.inventory.grants),
                    services=len(correlation.services),
                    history={name: {"added": ch.added, "closed": ch.closed} for name, ch in changes.items()},
                )
            else:
                carried = carried_whole(c)
                counts = self._carry_over_all(run_id, previous, "not re-evaluated: the run failed before correlation")
            by_connector: dict[str, dict[str, int]] = {}
            for name, who in carried.items():
                for connector, n in who.items():
                    by_connector.setdefault(connector, {})[name] = n
            c.executemany(
                "INSERT INTO connector_runs (run_id, connector, type, provider, status, gaps, stats, carried) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, r.connector, r.connector_type, r.provider, r.status.value,
                  json.dumps(list(r.gaps)), json.dumps(dict(r.stats), sort_keys=True),
                  json.dumps(by_connector.get(r.connector, {}), sort_keys=True)) for r in results],
            )
            counts["connectors"] = {r.connector: r.status.value for r in results}
            if any(by_connector.values()):
                counts["carried"] = {k: v for k, v in sorted(by_connector.items()) if v}
            c.execute("UPDATE runs SET summary = ? WHERE id = ?", (json.dumps(counts, sort_keys=True), run_id))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        info = self.run(run_id)
        assert info is not None
        return info

    def _advance_inventory(self, run_id: int, before: int | None, corr: Any, j: _JsonCache,
                           carry: frozenset[str]) -> dict[str, Change]:
        """Each inventory table advanced by what the correlation holds. A table's rows of a connector in
        `carry` that the run did not see are carried; so are the services such a connector discovered, with
        their recovery options and failover graphs (counted as that connector's)."""
        changes: dict[str, Change] = {}
        services: dict[str, str] = {}  # a carried service → the connector that discovered it
        for name, rows in inventory_rows(corr, j):
            spec = HISTORY[name]
            keep = frozenset(services) if spec.carried_by == "service" else carry
            if isinstance(rows, Grouped):
                change = advance_grouped(self.conn, spec, run_id, before, rows.pieces, rows.rows_of, keep)
            else:
                change = advance_rows(self.conn, spec, run_id, before, list(rows), keep)
            if name == "services":
                services = {key[0]: who for key, who in change.carried_keys.items()}
            elif spec.carried_by == "service":
                change.carried = Counter(services[s] for s, n in change.carried.items() for _ in range(n))
            changes[name] = change
        return changes

    def _active_findings(self, run: RunInfo | None) -> dict[str, sqlite3.Row]:
        if run is None:
            return {}
        rows = self.conn.execute("SELECT * FROM findings WHERE run_id = ? AND status != 'resolved'", (run.id,))
        return {r["fingerprint"]: r for r in rows}

    def _insert_findings(self, run_id: int, previous: RunInfo | None, corr: Any,
                         results: Sequence[ConnectorResult], j: _JsonCache) -> dict[str, Any]:
        before = self._active_findings(previous)
        healthy = {r.connector for r in results if r.status is RunStatus.OK}
        rows: list[tuple[Any, ...]] = []
        tally = {"new": 0, "open": 0, "resolved": 0, "carried": 0}
        for f in corr.findings:
            old = before.pop(f.fingerprint, None)
            status = FindingStatus.OPEN if old is not None else FindingStatus.NEW
            tally[status.value] += 1
            # stored `open` also in its first run: the views say `new` there (tables.HISTORY["findings"])
            rows.append((f.fingerprint, f.rule, f.severity.value, FindingStatus.OPEN.value, f.service,
                         j(tuple(f.services)), j(tuple(f.subjects)), j(tuple(f.evidence)), f.remediation,
                         j(tuple(f.connectors)),
                         old["first_seen_run"] if old is not None else run_id, None))
        for fp, old in before.items():
            unsure = [c for c in json.loads(old["connectors"]) if c not in healthy]
            if unsure:
                status, note = FindingStatus.OPEN, (
                    f"not re-evaluated: connector {', '.join(unsure)} did not complete in this run")
                tally["carried"] += 1
            else:
                status, note = FindingStatus.RESOLVED, f"no longer found in run {run_id}"
                tally["resolved"] += 1
            rows.append((fp, old["rule"], old["severity"], status.value, old["service"], old["services"],
                         old["subjects"], old["evidence"], old["remediation"], old["connectors"],
                         old["first_seen_run"], note))
        self._advance_findings(run_id, previous, rows)
        return {"findings": tally}

    def _advance_findings(self, run_id: int, previous: RunInfo | None, rows: list[tuple[Any, ...]]) -> None:
        """The run's findings (every one it lists: new, open, carried and just resolved) into their history."""
        advance_rows(self.conn, HISTORY["findings"], run_id, previous.id if previous else None, rows, frozenset())

    def _carry_over_all(self, run_id: int, previous: RunInfo | None, note: str) -> dict[str, Any]:
        before = self._active_findings(previous)
        self._advance_findings(run_id, previous, [
            (o["fingerprint"], o["rule"], o["severity"], FindingStatus.OPEN.value, o["service"], o["services"],
             o["subjects"], o["evidence"], o["remediation"], o["connectors"], o["first_seen_run"], note)
            for o in before.values()])
        return {"findings": {"new": 0, "open": 0, "resolved": 0, "carried": len(before)}}

    # --- reading ---------------------------------------------------------------------------

    def _info(self, row: sqlite3.Row | None) -> RunInfo | None:
        if row is None:
            return None
        return RunInfo(id=row["id"], started=row["started"], finished=row["finished"],
                       status=RunStatus(row["status"]), summary=json.loads(row["summary"] or "{}"))

    def latest_run(self) -> RunInfo | None:
        """The most recent run, or None for an empty database."""
        return self._info(self.conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone())

    def run(self, run_id: int) -> RunInfo | None:
        """The run with this id."""
        return self._info(self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone())

    def runs(self) -> list[RunInfo]:
        """Every run, oldest first."""
        return [i for r in self.conn.execute("SELECT * FROM runs ORDER BY id") if (i := self._info(r))]

    def resolve_run(self, spec: str | int | None) -> RunInfo:
        """A run from a user's words: None or "latest", "previous", or a run id."""
        if spec in (None, "latest"):
            run = self.latest_run()
            if run is None:
                raise UsageError(f"{self.path}: no runs stored yet; run `commonmode scan` first")
            return run
        if spec == "previous":
            rows = self.conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 2").fetchall()
            if len(rows) < 2:
                raise UsageError(f"{self.path}: there is no previous run (only {len(rows)} stored)")
            info = self._info(rows[1])
            assert info is not None
            return info
        try:
            run_id = int(spec)
        except ValueError:
            raise UsageError(f"run {spec!r}: expected a run id (a number), 'latest' or 'previous'") from None
        run = self.run(run_id)
        if run is None:
            raise UsageError(f"run {run_id}: no such run in {self.path} (see `commonmode runs`)")
        return run

    def holds(self, name: str) -> bool:
        """Whether the store has a table or view of this name (a store of an older schema may not)."""
        return bool(self.rows("SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", [name]))

    @property
    def intervals(self) -> bool:
        """Whether the inventory is kept as intervals (schema 6 and later), not one copy per run."""
        return self.holds("grants_history")

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query."""
        return self.conn.execute(sql, tuple(params)).fetchall()
