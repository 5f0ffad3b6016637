"""The recovery-permission review: for each service, who can fail it over, how, with what credentials,
depending on which fault domains, and whether that still works when the primary's fault domains are down.

Everything comes from the stored recovery options as the correlator computed them: the identities acting
along each chain, the entity ids and the fault-domain labels each option needs. Rows written before schema 3
have only the mixed `depends_on` list; they are split by the run's own data (a label is what some entity of
the run carries, an acting identity is an identity of the run), never by the shape of an id.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from commonmode.render.formats import labelled, when
from commonmode.render.markdown import code, codes, text
from commonmode.store import RunInfo, RunStore


def review(store: RunStore, run: RunInfo, service: str | None = None) -> list[dict[str, Any]]:
    """One entry per service (or just `service`), each with its recovery options and a verdict."""
    services = store.rows("SELECT * FROM services WHERE run_id = ? ORDER BY name", [run.id])
    if service is not None:
        known = [s["name"] for s in services]
        services = [s for s in services if s["name"] == service]
        if not services:
            from commonmode.errors import UsageError
            from commonmode.store.queries import did_you_mean

            raise UsageError(f"no service {service!r} in run {run.id}; {did_you_mean(service, known, what='services')}")
    identities = {r["id"]: r for r in store.rows("SELECT * FROM identities WHERE run_id = ?", [run.id])}
    run_labels = _labels_of_run(store, run)
    creds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in store.rows("SELECT * FROM credentials WHERE run_id = ? ORDER BY id", [run.id]):
        creds[c["identity_id"]].append({"id": c["id"], "kind": c["kind"], "stored_in": c["stored_in"],
                                        "expires": c["expires"], "last_used": c["last_used"]})
    options: dict[str, list[Any]] = defaultdict(list)
    for r in store.rows("SELECT * FROM recovery WHERE run_id = ? ORDER BY service, independent DESC, identity_id",
                        [run.id]):
        options[r["service"]].append(r)
    out = []
    for s in services:
        rows = []
        for r in options.get(s["name"], []):
            ident = identities.get(r["identity_id"])
            _, domains, acting = _needs(r, run_labels, identities)
            shared = json.loads(r["shared_with_primary"])
            chain = json.loads(r["chain"])
            rows.append({
                "identity": r["identity_id"],
                "name": ident["name"] if ident else None,
                "owner": ident["owner"] if ident else None,
                "independent": bool(r["independent"]),
                "why": ("depends on nothing the primary path depends on" if r["independent"] else
                        "needs " + ", ".join(shared) + ", which the primary path also depends on"),
                "conditional": bool(r["conditional"]),
                "changes": r["target"],
                "chain": chain,
                "credentials": [c for i in acting for c in creds.get(i, [])],
                "fault_domains": domains,
                "shared_with_primary": shared,
            })
        independent = [o["identity"] for o in rows if o["independent"]]
        missing = json.loads(s["missing"])
        if missing:
            verdict = f"unknown: {len(missing)} path resource(s) were not seen by any connector"
        elif independent:
            verdict = "independent recovery possible via " + ", ".join(  # whole: tables shorten
                labelled(o["identity"], o["name"]) for o in rows if o["independent"])
        else:
            verdict = "no independent recovery"
        out.append({"service": s["name"], "owner": s["owner"], "source": s["source"],
                    "primary": json.loads(s["primary_path"]), "backup": json.loads(s["backup_path"]),
                    "missing": missing, "verdict": verdict, "independent_via": independent, "can_fail_over": rows})
    return out


def _json_column(row: Any, column: str) -> list[str] | None:
    """A JSON list column of `row`, or None where the store or the row predates it (schema < 3: no column;
    a row written before the migration: NULL)."""
    if column not in row.keys() or row[column] is None:  # noqa: SIM118 — `in` a sqlite3.Row tests its values
        return None
    return list(json.loads(row[column]))


def _needs(row: Any, run_labels: Callable[[], set[str]],
           identities: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """A recovery option's entity ids, fault-domain labels and acting identities (the identity first)."""
    entities = _json_column(row, "depends_on_entities")
    domains = _json_column(row, "depends_on_fault_domains")
    acting = _json_column(row, "identities")
    if entities is None or domains is None:
        # depends_on holds the entity ids, then their labels; a label is what an entity of the run carries
        depends = json.loads(row["depends_on"])
        labels = run_labels()
        entities = [d for d in depends if d not in labels]
        domains = [d for d in depends if d in labels]
    if acting is None:
        # the acting identities are the identities among what it needs, in order, after the identity itself
        acting = [row["identity_id"], *(d for d in entities if d in identities)]
    return entities, domains, list(dict.fromkeys(acting))


def _labels_of_run(store: RunStore, run: RunInfo) -> Callable[[], set[str]]:
    """Every fault-domain label an entity of `run` carries, read once on first use (only older rows need it)."""
    cache: list[set[str]] = []

    def labels() -> set[str]:
        if not cache:
            found: set[str] = set()
            for table in ("identities", "credentials", "stores", "resources"):
                for r in store.rows(f"SELECT fault_domains FROM {table} WHERE run_id = ?", [run.id]):  # noqa: S608 — fixed names
                    found.update(json.loads(r["fault_domains"] or "[]"))
            cache.append(found)
        return cache[0]

    return labels


def to_markdown(entries: list[dict[str, Any]], run: RunInfo) -> str:
    """The review as a Markdown document (for a game-day wiki page). Estate values are inert (render.markdown)."""
    lines = [f"# Recovery-permission review (run {run.id}, {when(run.started)})", "",
             "Who can fail each service over to its backup path, and does that still work when the primary "
             "path's fault domains are down?", ""]
    for e in entries:
        lines += [f"## {text(e['service'])}", "", f"**Verdict: {text(e['verdict'])}.**", "",
                  f"- owner: {code(e['owner']) if e['owner'] else 'none (owner gap)'}",
                  f"- primary: {codes(e['primary'])}",
                  f"- backup: {codes(e['backup'])}", ""]
        if not e["can_fail_over"]:
            lines += ["Nobody found who can change the backup path's DNS or failover state.", ""]
        for o in e["can_fail_over"]:
            lines += [f"### {'✅' if o['independent'] else '❌'} {code(o['identity'])}", "",
                      f"- independent of the primary: **{'yes' if o['independent'] else 'no'}** — {text(o['why'])}",
                      f"- owner: {code(o['owner']) if o['owner'] else 'none (owner gap)'}",
                      f"- changes: {code(o['changes'])}{' (conditional grant)' if o['conditional'] else ''}",
                      "- how: " + " → ".join(text(step) for step in o["chain"])]
            for c in o["credentials"]:
                lines.append(f"- credential {code(c['id'])} ({text(c['kind'])}), kept in "
                             f"{code(c['stored_in']) if c['stored_in'] else 'no recorded store'}"
                             f", expires {text(c['expires'] or 'never')}")
            if o["fault_domains"]:
                lines.append("- fault domains: " + codes(o["fault_domains"]))
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def credential_words(c: dict[str, Any]) -> str:
    """One credential in words: `access-key AKIA…, kept in vault://…, expires 2026-12-04 12:00:00 UTC`."""
    kept = f"kept in {c['stored_in']}" if c["stored_in"] else "no recorded store"
    expires = f"expires {when(c['expires'])}" if c["expires"] else "no expiry"
    return f"{c['kind']} {c['id']}, {kept}, {expires}"


def rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The review flattened, one row per (service, identity that can fail it over), for tables and CSV; a
    service nobody can fail over is one row with no identity."""
    out: list[dict[str, Any]] = []
    for e in entries:
        base = {"service": e["service"], "service_owner": e["owner"], "verdict": e["verdict"]}
        if not e["can_fail_over"]:
            out.append({**base, "identity": None, "independent": None, "why": "nobody can change the backup "
                        "path's DNS or failover state", "owner": None, "changes": None, "conditional": None,
                        "credentials": [], "shared_with_primary": [], "chain": []})
        for o in e["can_fail_over"]:
            out.append({**base, **{k: o[k] for k in ("identity", "independent", "why", "owner", "changes",
                                                    "conditional", "shared_with_primary", "chain")},
                        "credentials": [credential_words(c) for c in o["credentials"]]})
    return out
