"""Read-side queries: plain dicts with the documented JSON field names (README, "JSON output")."""

from __future__ import annotations

import difflib
import json
from collections import defaultdict, deque
from collections.abc import Iterable
from typing import Any

from commonmode.errors import UsageError
from commonmode.model import STEERING, Capability, Severity
from commonmode.store import RunInfo, RunStore

_STEERING = tuple(c.value for c in STEERING)
#: Total orders on grants, so that answers never depend on the order rows are stored in (a history table
#: keeps a row from the run it first held in, not in each run's order). `access` keeps one row per identity
#: that acts as a holder, from the holder's first grant: the capabilities in the order model.Capability
#: lists them (dns.write first; cert.issue, which the correlator derives, after what it derives from), then
#: the chain; `inventory` lists by resource and capability.
_TIES = ("CASE capability " + " ".join(f"WHEN '{c.value}' THEN {n}" for n, c in enumerate(Capability))
         + " END, conditional, via, connector")
_INVENTORY_ORDER = "identity_id, resource_id, capability, conditional, via, connector"


def did_you_mean(name: str, known: Iterable[str], *, what: str = "known", show_known: bool = True) -> str:
    """`did you mean 'api'? known: api, login, payments` for a usage error: the closest names first (difflib),
    then (unless not `show_known`) every known name, or the first 20 of them and how many more."""
    names = sorted(set(known))
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if not close:  # a name typed in another case, or a part of it (`dns-bot` for an ARN ending in it)
        low = name.lower()
        close = [n for n in names if n.lower() == low or n.lower().endswith(("/" + low, ":" + low))][:3]
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    if not show_known:
        return hint.rstrip() or "no id like it"
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return f"{hint}{what}: {shown or 'none'}"


def _finding(row: Any) -> dict[str, Any]:
    return {
        "fingerprint": row["fingerprint"],
        "rule": row["rule"],
        "severity": row["severity"],
        "status": row["status"],
        "service": row["service"],
        "services": json.loads(row["services"]),
        "subjects": json.loads(row["subjects"]),
        "evidence": json.loads(row["evidence"]),
        "remediation": row["remediation"],
        "connectors": json.loads(row["connectors"]),
        "first_seen_run": row["first_seen_run"],
        "run": row["run_id"],
        "note": row["note"],
    }


def findings(store: RunStore, run: RunInfo, *, service: str | None = None, rule: str | None = None,
             severity: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Findings of `run`, filtered. `severity` means "at least this severe"."""
    sql = "SELECT * FROM findings WHERE run_id = ?"
    params: list[Any] = [run.id]
    if rule:
        sql += " AND rule = ?"
        params.append(rule)
    if status:
        sql += " AND status = ?"
        params.append(status)
    rows = [_finding(r) for r in store.rows(sql, params)]
    if service:
        rows = [f for f in rows if service in f["services"]]
    if severity:
        floor = Severity(severity).rank
        rows = [f for f in rows if Severity(f["severity"]).rank >= floor]
    return sorted(rows, key=lambda f: (-Severity(f["severity"]).rank, f["rule"], f["services"], f["subjects"]))


def inventory(store: RunStore, run: RunInfo, *, kind: str | None = None, connector: str | None = None,
              can: str | None = None, identity: str | None = None) -> list[dict[str, Any]]:
    """Identities with what they can modify, whom they can act as, and their credentials; only those of a
    kind, seen by a connector, with a capability on something, or one identity, when asked (in SQL, so that
    a narrow question on a large estate reads only what it shows)."""
    where: list[str] = ["run_id = ?"]
    params: list[Any] = [run.id]
    for column, value in (("kind", kind), ("connector", connector), ("id", identity)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if can is not None:
        where.append("id IN (SELECT identity_id FROM grants WHERE run_id = ? AND capability = ?)")
        params += [run.id, can]
    people = store.rows(f"SELECT * FROM identities WHERE {' AND '.join(where)} ORDER BY id", params)  # noqa: S608 — fixed clauses, values bound
    whole = len(where) == 1
    ids = [i["id"] for i in people]
    grants = (store.rows(f"SELECT * FROM grants WHERE run_id = ? ORDER BY {_INVENTORY_ORDER}",  # noqa: S608 — a fixed clause
                         [run.id]) if whole else
              sorted(_for_ids(store, run, "grants", "identity_id", ids),
                     key=lambda g: tuple(g[c] for c in _INVENTORY_ORDER.split(", "))))
    targets = None if whole else sorted({g["resource_id"] for g in grants})
    kinds = {r["id"]: r["kind"] for r in (
        store.rows("SELECT id, kind FROM resources WHERE run_id = ?", [run.id]) if targets is None
        else _for_ids(store, run, "resources", "id", targets, "id, kind"))}
    kinds.update({r["id"]: "store" for r in (
        store.rows("SELECT id FROM stores WHERE run_id = ?", [run.id]) if targets is None
        else _for_ids(store, run, "stores", "id", targets, "id"))})
    vias: dict[str, list[str]] = {}  # the few distinct chains, decoded once
    can_modify: dict[str, list[dict[str, Any]]] = defaultdict(list)
    can_assume: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for g in grants:
        via = vias.get(g["via"])
        if via is None:
            via = vias[g["via"]] = json.loads(g["via"])
        item = {"capability": g["capability"], "conditional": bool(g["conditional"]), "via": list(via)}
        if g["capability"] == "identity.assume":
            can_assume[g["identity_id"]].append({"identity": g["resource_id"], **item})
        else:
            can_modify[g["identity_id"]].append(
                {"resource": g["resource_id"], "resource_kind": kinds.get(g["resource_id"]), **item})
    creds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in (store.rows("SELECT * FROM credentials WHERE run_id = ? ORDER BY id", [run.id]) if whole
              else sorted(_for_ids(store, run, "credentials", "identity_id", ids), key=lambda c: c["id"])):
        creds[c["identity_id"]].append(
            {k: c[k] for k in ("id", "kind", "created", "expires", "last_used", "stored_in")})
    out = []
    for i in people:
        out.append({
            "id": i["id"], "provider": i["provider"], "kind": i["kind"], "name": i["name"], "owner": i["owner"],
            "connector": i["connector"], "tags": json.loads(i["tags"]), "fault_domains": json.loads(i["fault_domains"]),
            "can_modify": can_modify.get(i["id"], []), "can_assume": can_assume.get(i["id"], []),
            "credentials": creds.get(i["id"], []),
        })
    return out


def _for_ids(store: RunStore, run: RunInfo, table: str, column: str, ids: list[str],
             columns: str = "*") -> list[Any]:
    """The rows of `run` in `table` whose `column` is one of `ids`, by the column's index, 500 at a time."""
    out: list[Any] = []
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        out += store.rows(f"SELECT {columns} FROM {table} WHERE run_id = ? AND {column} IN "  # noqa: S608 — fixed names, ? marks
                          f"({','.join('?' * len(part))})", [run.id, *part])
    return out


def inventory_values(store: RunStore, run: RunInfo, column: str) -> list[str]:
    """The distinct identity kinds or connectors of a run (for a did-you-mean)."""
    assert column in ("kind", "connector")
    return [r[0] for r in store.rows(f"SELECT DISTINCT {column} FROM identities WHERE run_id = ? ORDER BY 1",  # noqa: S608 — a fixed name
                                     [run.id])]


#: Resource kinds that hold other resources: a zone its records, an issuer the roles and certificates under it.
#: Every store (a Vault mount, a Secrets Manager account) holds its secrets.
CONTAINER_KINDS = ("dns-zone", "cert-issuer")


def access(store: RunStore, run: RunInfo, resource_id: str) -> list[dict[str, Any]]:
    """Who can do what to one resource: grants on it, on what contains it, on everything inside it (a zone's
    records, a mount's secrets), and who can act as those holders. Each row's `on` is the resource its grant
    is on; containment comes from the resources' recorded `parents`, never from the shape of an id."""
    res = store.rows("SELECT * FROM resources WHERE run_id = ? AND id = ?", [run.id, resource_id])
    is_store = store.rows("SELECT id FROM stores WHERE run_id = ? AND id = ?", [run.id, resource_id])
    known = res or is_store or store.rows("SELECT id FROM identities WHERE run_id = ? AND id = ?",
                                          [run.id, resource_id])
    if not known:
        raise UsageError(f"{resource_id}: no resource, store or identity with this id in run {run.id}; "
                         + did_you_mean(resource_id, _ids_like(store, run, resource_id), show_known=False)
                         + " (ids are listed by `commonmode inventory` and `commonmode services`)")
    # the resource and its ancestors (a record's zone: dns.write on the zone changes the record)
    targets: dict[str, list[str]] = {resource_id: []}
    queue = deque([resource_id])
    while queue:
        rid = queue.popleft()
        for row in store.rows("SELECT parents FROM resources WHERE run_id = ? AND id = ?", [run.id, rid]):
            for parent in json.loads(row["parents"]):
                if parent not in targets:
                    targets[parent] = [*targets[rid], f"{parent} contains or controls {rid}"]
                    queue.append(parent)
    # everything inside it, when it is a container (a zone's records, a mount's secrets)
    if is_store or (res and res[0]["kind"] in CONTAINER_KINDS):
        queue = deque([resource_id])
        while queue:
            parent = queue.popleft()
            for row in store.rows("SELECT r.id, r.kind FROM resources r, json_each(r.parents) p "
                                  "WHERE r.run_id = ? AND p.value = ? ORDER BY r.id", [run.id, parent]):
                if row["id"] not in targets:
                    targets[row["id"]] = [f"{row['id']} is inside {parent}", *targets[parent]]
                    if row["kind"] in CONTAINER_KINDS:
                        queue.append(row["id"])
    names = {r["id"]: (r["name"], r["owner"]) for r in store.rows(
        "SELECT id, name, owner FROM identities WHERE run_id = ?", [run.id])}
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    frontier: deque[tuple[str, str, bool, list[str], str]] = deque()
    for target, context in targets.items():
        for g in store.rows(f"SELECT * FROM grants WHERE run_id = ? AND resource_id = ? "  # noqa: S608 — a fixed clause
                            f"ORDER BY identity_id, {_TIES}", [run.id, target]):
            if g["capability"] == "identity.assume" and target != resource_id:
                continue
            chain = [f"{g['identity_id']} has {g['capability']} on {target} ({' → '.join(json.loads(g['via']))})",
                     *context[::-1]]
            key = (g["identity_id"], g["capability"], target)
            if key in seen:
                continue
            seen.add(key)
            out.append(_access_row(g["identity_id"], g["capability"], bool(g["conditional"]), target, chain, True,
                                   names))
            frontier.append((g["identity_id"], g["capability"], bool(g["conditional"]), chain, target))
    reached = {row["identity"] for row in out}
    while frontier:
        holder, cap, cond, chain, target = frontier.popleft()
        for g in store.rows("SELECT * FROM grants WHERE run_id = ? AND resource_id = ? AND capability = "  # noqa: S608 — a fixed clause
                            f"'identity.assume' ORDER BY identity_id, {_TIES}", [run.id, holder]):
            who = g["identity_id"]
            if who in reached:
                continue
            reached.add(who)
            step = f"{who} can act as {holder} ({' → '.join(json.loads(g['via']))})"
            new_chain = [step, *chain]
            out.append(_access_row(who, cap, cond or bool(g["conditional"]), target, new_chain, False, names))
            frontier.append((who, cap, cond or bool(g["conditional"]), new_chain, target))
    return out


def identity_ids(store: RunStore, run: RunInfo) -> list[str]:
    """Every identity id of a run (for a did-you-mean)."""
    return [r[0] for r in store.rows("SELECT id FROM identities WHERE run_id = ?", [run.id])]


def _ids_like(store: RunStore, run: RunInfo, wanted: str) -> list[str]:
    """Ids of `run` to suggest for a mistyped one: those of its kind (the same first 8 characters) when there
    are many, so that a suggestion stays quick in a large estate."""
    ids = [r[0] for table in ("resources", "stores", "identities")
           for r in store.rows(f"SELECT id FROM {table} WHERE run_id = ?", [run.id])]  # noqa: S608 — fixed names
    if len(ids) > 5000:
        same = [i for i in ids if i[:8] == wanted[:8]]
        ids = same[:20000] if same else ids[:5000]
    return ids


def _access_row(identity: str, cap: str, cond: bool, on: str, chain: list[str], direct: bool,
                names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    name, owner = names.get(identity, (None, None))
    return {"identity": identity, "identity_name": name, "owner": owner, "capability": cap, "conditional": cond,
            "on": on, "direct": direct, "chain": chain}


def services(store: RunStore, run: RunInfo) -> list[dict[str, Any]]:
    """Failover pairs of a run, found and declared, with their path resources and recovery verdict."""
    verdict: dict[str, list[str]] = defaultdict(list)
    for r in store.rows("SELECT service, identity_id FROM recovery WHERE run_id = ? AND independent = 1 "
                        "ORDER BY identity_id", [run.id]):
        verdict[r["service"]].append(r["identity_id"])
    return [{
        "name": s["name"], "owner": s["owner"], "source": s["source"],
        "primary": json.loads(s["primary_path"]), "backup": json.loads(s["backup_path"]),
        "missing": json.loads(s["missing"]),
        "independent_recovery_via": verdict.get(s["name"], []),
    } for s in store.rows("SELECT * FROM services WHERE run_id = ? ORDER BY name", [run.id])]


def diff(store: RunStore, old: RunInfo, new: RunInfo) -> dict[str, Any]:
    """New and resolved findings between two runs, and identities that gained or lost DNS/failover power.

    Power is compared only for connectors that completed (`ok`) in both runs: a connector that failed or was
    partial in either run saw less, and its identities neither lost power in the run it failed nor gained it
    back in the next one. Those connectors are listed in `not_compared`."""
    def active(run: RunInfo) -> dict[str, dict[str, Any]]:
        return {f["fingerprint"]: f for f in map(_finding, store.rows(
            "SELECT * FROM findings WHERE run_id = ? AND status != 'resolved'", [run.id]))}

    status = {(r["run_id"], r["connector"]): r["status"] for r in store.rows(
        "SELECT run_id, connector, status FROM connector_runs WHERE run_id IN (?, ?)", [old.id, new.id])}
    names = sorted({c for _, c in status})
    not_compared = [{"connector": c, "from": status.get((old.id, c), "absent"), "to": status.get((new.id, c), "absent")}
                    for c in names if status.get((old.id, c)) != "ok" or status.get((new.id, c)) != "ok"]
    # A connector absent from both runs' lists (e.g. the config's own declarations) is not a connector run.
    skip = [c["connector"] for c in not_compared]
    a, b = active(old), active(new)
    power = _power_by_intervals if store.intervals else _power_by_copies
    return {
        "from": old.id, "to": new.id,
        "new_findings": [b[k] for k in sorted(b.keys() - a.keys())],
        "resolved_findings": [a[k] for k in sorted(a.keys() - b.keys())],
        "gained_power": power(store, new, old, skip),
        "lost_power": power(store, old, new, skip),
        "not_compared": not_compared,
    }


def _power_by_intervals(store: RunStore, x: RunInfo, y: RunInfo, skip: list[str]) -> list[dict[str, str]]:
    """(identity, capability, resource) steering grants held in run x and not in run y, skipping connectors
    not compared. Only rows whose interval holds x but not y can qualify, so this reads what changed between
    the runs (and, for each, whether another row gives the same power in y), never a copy of either run."""
    marks = ",".join("?" * len(_STEERING))
    keep, keep_o = ("", "") if not skip else (f" AND g.connector NOT IN ({','.join('?' * len(skip))})",
                                               f" AND o.connector NOT IN ({','.join('?' * len(skip))})")
    sql = ("SELECT DISTINCT g.identity_id, g.capability, g.resource_id FROM grants_history g "  # noqa: S608 - only "?" placeholders are formatted in; every value is a bound parameter
           f"WHERE g.capability IN ({marks}){keep} "
           "AND g.first_run <= ? AND (g.last_run IS NULL OR g.last_run >= ?) "
           "AND NOT (g.first_run <= ? AND (g.last_run IS NULL OR g.last_run >= ?)) "
           "AND NOT EXISTS (SELECT 1 FROM grants_history o WHERE o.resource_id = g.resource_id "
           f"AND o.identity_id = g.identity_id AND o.capability = g.capability{keep_o} "
           "AND o.first_run <= ? AND (o.last_run IS NULL OR o.last_run >= ?)) ORDER BY 1, 3, 2")
    params = [*_STEERING, *skip, x.id, x.id, y.id, y.id, *skip, y.id, y.id]
    return [{"identity": r[0], "capability": r[1], "resource": r[2]} for r in store.rows(sql, params)]


def _power_by_copies(store: RunStore, x: RunInfo, y: RunInfo, skip: list[str]) -> list[dict[str, str]]:
    """The same for a store older than schema 6 (read as it is: read commands never migrate), which holds a
    copy of each run's grants."""
    marks = ",".join("?" * len(_STEERING))
    keep = f" AND connector NOT IN ({','.join('?' * len(skip))})" if skip else ""
    sql = (f"SELECT DISTINCT identity_id, capability, resource_id FROM grants WHERE run_id = ? "  # noqa: S608 - only "?" placeholders are formatted in; every value is a bound parameter
           f"AND capability IN ({marks}){keep} EXCEPT SELECT DISTINCT identity_id, capability, resource_id "
           f"FROM grants WHERE run_id = ? AND capability IN ({marks}){keep} ORDER BY 1, 3, 2")
    return [{"identity": r[0], "capability": r[1], "resource": r[2]}
            for r in store.rows(sql, [x.id, *_STEERING, *skip, y.id, *_STEERING, *skip])]
