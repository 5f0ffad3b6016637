"""The store's tables: those written once per run, and the inventory tables kept as intervals (history).

Shared by `schema` (which creates and migrates them) and `history` (which writes the intervals).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RUN_FK = [("run_id", "runs", "id")]

#: Tables with one set of rows per run (written by every run), besides `runs`.
RUN_TABLES: dict[str, dict[str, Any]] = {
    # carried (since 6): {table: rows} of this connector's rows the run kept from before, since the connector
    # failed or was partial (history.py)
    "connector_runs": dict(
        columns={"run_id": int, "connector": str, "type": str, "provider": str, "status": str, "gaps": str,
                 "stats": str, "carried": str},
        pk=("run_id", "connector"),
    ),
}


@dataclass(frozen=True)
class History:
    """An inventory table kept as intervals (since 6): `<name>_history` holds each distinct row once, with
    `first_run` and `last_run` (NULL while it still holds), `hash` (of its columns) and `history_id`; the view
    `<name>` gives every run's rows with a `run_id` column, as the table of that name did up to schema 5, and
    `<name>_current` the rows that hold now."""

    name: str
    columns: dict[str, type]
    #: the natural key: a run holds at most one row per key (none: the whole row, and copies are kept)
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    #: columns the views compute from the stored row for the run asked about ({run}: that run's id)
    derived: tuple[tuple[str, str], ...] = ()
    #: a column whose rows a run compares as one (history.advance_grouped): an identity's grants, a
    #: connector's identities; a group whose rows are as the last run saw them costs one digest
    group: str = field(kw_only=True)
    #: the column that says whose a row is, for carrying: a row the run did not see stays open when this
    #: value is one the run carries (a connector that failed or was partial; for a service's recovery
    #: options and failover graph, a service that was carried); None: the run's rows are all there is
    carried_by: str | None = None

    @property
    def table(self) -> str:
        return f"{self.name}_history"


HISTORY: dict[str, History] = {h.name: h for h in (
    History("identities", {"id": str, "provider": str, "kind": str, "name": str, "owner": str, "connector": str,
                           "tags": str, "fault_domains": str}, key=("id",), indexes=(("id",),), group="connector",
            carried_by="connector"),
    History("credentials", {"id": str, "identity_id": str, "kind": str, "created": str, "expires": str,
                            "last_used": str, "usage_tracked": int, "stored_in": str, "connector": str,
                            "fault_domains": str, "long_lived": int},
            key=("id",), indexes=(("id",), ("identity_id",)), group="connector", carried_by="connector"),
    History("stores", {"id": str, "provider": str, "kind": str, "name": str, "owner": str, "connector": str,
                       "fault_domains": str}, key=("id",), indexes=(("id",),), group="connector",
            carried_by="connector"),
    History("resources", {"id": str, "kind": str, "provider": str, "name": str, "connector": str, "parents": str,
                          "names": str, "public": int, "control_plane": str, "expires": str, "owner": str,
                          "tags": str, "fault_domains": str}, key=("id",), indexes=(("id",),), group="connector",
            carried_by="connector"),
    # a grant's key is all of it; (resource_id) serves "who can do what to X" and "who can act as X"
    History("grants", {"identity_id": str, "capability": str, "resource_id": str, "conditional": int,
                       "connector": str, "via": str}, key=(), indexes=(("resource_id",), ("identity_id",)),
            group="identity_id", carried_by="connector"),
    History("services", {"name": str, "owner": str, "source": str, "primary_path": str, "backup_path": str,
                         "missing": str}, key=("name",), indexes=(("name",),), group="source", carried_by="source"),
    # depends_on: everything the option needs, entity ids then fault-domain labels (schema 1 and 2 had only
    # this); since 3 also split, as the correlator computed them (older rows: NULL), and the acting identities.
    History("recovery", {"service": str, "identity_id": str, "independent": int, "conditional": int,
                         "target": str, "chain": str, "depends_on": str, "shared_with_primary": str,
                         "depends_on_entities": str, "depends_on_fault_domains": str, "identities": str},
            key=("service", "identity_id"), indexes=(("service",),), group="service", carried_by="service"),
    # since 5: per service, what failing over needs (correlate.failover.FailoverGraph as JSON), which
    # `simulate` answers "what if X is down?" from
    History("failover", {"service": str, "graph": str}, key=("service",), indexes=(("service",),), group="service",
            carried_by="service"),
    # since 6 a history table too. A finding is stored `open` from the run it is first seen in, and the views
    # call it `new` in that run, so that its row does not change from its first run to its second; its row
    # changes when it is carried (the note says why) or resolved. (Rows migrated from schema 5 keep `new`.)
    History("findings", {"fingerprint": str, "rule": str, "severity": str, "status": str, "service": str,
                         "services": str, "subjects": str, "evidence": str, "remediation": str, "connectors": str,
                         "first_seen_run": int, "note": str}, key=("fingerprint",), indexes=(("fingerprint",),),
            group="rule", derived=(("status", "CASE WHEN h.status = 'open' AND h.first_seen_run = {run} THEN 'new' "
                                "ELSE h.status END"),)),
)}

INDEXES: dict[str, list[list[str]]] = {}


def view_sql(h: History) -> list[str]:
    """The two views of a history table: every run's rows (with run_id), and the rows that hold now."""
    def cols(run: str) -> str:
        derived = dict(h.derived)
        return ", ".join(f"{derived[c].format(run=run)} AS {c}" if c in derived else f"h.{c}" for c in h.columns)

    return [
        f"CREATE VIEW IF NOT EXISTS {h.name} AS SELECT runs.id AS run_id, {cols('runs.id')} FROM runs "  # noqa: S608 — fixed names
        f"JOIN {h.table} AS h ON h.first_run <= runs.id AND (h.last_run IS NULL OR h.last_run >= runs.id)",
        f"CREATE VIEW IF NOT EXISTS {h.name}_current AS SELECT {cols('(SELECT max(id) FROM runs)')}, "  # noqa: S608
        f"h.first_run FROM {h.table} AS h WHERE h.last_run IS NULL",
    ]


#: The inventory tables as schema 5 had them, one copy per run (a store older than 6 has these until
#: `migrate` turns them into history tables).
LEGACY_TABLES: dict[str, dict[str, Any]] = {
    h.name: dict(columns={"run_id": int, **h.columns}, pk=(("run_id", *h.key) if h.key else None))
    for h in HISTORY.values()
}
LEGACY_INDEXES: dict[str, list[list[str]]] = {
    "grants": [["run_id", "resource_id"], ["run_id", "identity_id"], ["run_id", "capability", "resource_id"]],
    "credentials": [["run_id", "identity_id"]],
    "findings": [["fingerprint"], ["run_id", "status"], ["run_id", "rule"]],
}


