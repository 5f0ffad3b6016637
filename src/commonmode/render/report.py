"""The run report: HTML (one self-contained file: inline CSS and SVG, no network), Markdown and JSON.

Everything is read from the store. Every value from the scanned estate is escaped by Jinja2's autoescape
(identity names can hold markup)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from commonmode.files import write_private
from commonmode.render import markdown
from commonmode import __version__
from commonmode.model import Severity
from commonmode.render import review as rv
from commonmode.standards import references
from commonmode.store import RunInfo, RunStore, queries

PAIRWISE = ("shared-identity", "shared-secret-store", "shared-certificate-path", "shared-dns-control-plane",
            "shared-fault-domain")
MAX_SIDE_IDENTITIES = 10
MAX_INVENTORY_ROWS = 5000
SCHEMA_VERSION = 1


def report_data(store: RunStore, run: RunInfo) -> dict[str, Any]:
    """The report's content: the JSON format, and what the HTML and Markdown templates render."""
    previous = next((r for r in reversed(store.runs()) if r.id < run.id), None)
    findings = queries.findings(store, run)
    active = [f for f in findings if f["status"] != "resolved"]
    reviews = {e["service"]: e for e in rv.review(store, run)}
    services = []
    for s in queries.services(store, run):
        mine = [f for f in active if s["name"] in f["services"]]
        shared = [{"rule": f["rule"], "subject": subj, "severity": f["severity"]}
                  for f in mine if f["rule"] in PAIRWISE for subj in f["subjects"]]
        sides = {side: _side(store, run, s[side]) for side in ("primary", "backup")}
        services.append({
            "name": s["name"], "owner": s["owner"], "source": s["source"], "primary": sides["primary"],
            "backup": sides["backup"], "shared": shared, "verdict": reviews[s["name"]]["verdict"],
            "independent": bool(reviews[s["name"]]["independent_via"]), "missing": s["missing"],
            "findings": [f["fingerprint"] for f in mine],
            "picture": _layout(sides, shared),
        })
    by_sev = Counter(f["severity"] for f in active)
    standards: dict[str, dict[str, Any]] = {}
    for f in active:
        for ref in references(f["rule"]):
            entry = standards.setdefault(ref.id, {"id": ref.id, "framework": ref.framework, "title": ref.title,
                                                  "findings": 0, "rules": set()})
            entry["findings"] += 1
            entry["rules"].add(f["rule"])
    inventory = queries.inventory(store, run)
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": f"commonmode {__version__}",
        "run": {"id": run.id, "started": run.started, "finished": run.finished, "status": run.status.value,
                "connectors": dict(run.summary.get("connectors", {}))},
        "summary": {
            "services": len(services),
            "independent": sum(1 for s in services if s["independent"]),
            "findings_by_severity": {sev.value: by_sev.get(sev.value, 0) for sev in Severity},
            "owner_gaps": sum(1 for f in active if f["rule"] == "owner-gap"),
            "new": sum(1 for f in active if f["status"] == "new"),
            "resolved": sum(1 for f in findings if f["status"] == "resolved"),
        },
        "changes": queries.diff(store, previous, run) if previous else None,
        "services": services,
        "findings": [{**f, "references": [r.id for r in references(f["rule"])]} for f in active],
        "resolved": [f for f in findings if f["status"] == "resolved"],
        "standards": sorted(({**v, "rules": sorted(v["rules"])} for v in standards.values()),
                            key=lambda x: (x["framework"], x["id"])),
        "inventory": inventory[:MAX_INVENTORY_ROWS],
        "inventory_total": len(inventory),
    }


def _side(store: RunStore, run: RunInfo, path: list[str]) -> dict[str, Any]:
    """One path: its resources, who can modify them, and where those identities' credentials are kept."""
    kinds = {r["id"]: (r["kind"], r["name"]) for r in store.rows(
        f"SELECT id, kind, name FROM resources WHERE run_id = ? AND id IN ({','.join('?' * len(path))})",  # noqa: S608
        [run.id, *path])}
    who: dict[str, dict[str, Any]] = {}
    for rid in path:
        if rid not in kinds:
            continue
        for row in queries.access(store, run, rid):
            if row["capability"] in ("dns.write", "dns.admin", "failover.write", "secret.read", "secret.write",
                                     "cert.issue"):
                who.setdefault(row["identity"], {"id": row["identity"], "name": row["identity_name"],
                                                 "owner": row["owner"], "direct": row["direct"]})
    ids = sorted(who)
    stores: set[str] = set()
    if ids:
        marks = ",".join("?" * len(ids))
        for c in store.rows(f"SELECT stored_in FROM credentials WHERE run_id = ? AND identity_id IN ({marks}) "  # noqa: S608
                            "AND stored_in IS NOT NULL", [run.id, *ids]):
            stores.add(c["stored_in"])
    return {
        "resources": [{"id": r, "kind": kinds.get(r, ("unseen", r))[0], "name": kinds.get(r, ("", r))[1]} for r in path],
        "identities": [who[i] for i in ids],
        "credential_stores": sorted(stores),
    }


def _short(text: str, n: int = 44) -> str:
    return text if len(text) <= n else "…" + text[-(n - 1):]


def _layout(sides: dict[str, dict[str, Any]], shared: list[dict[str, Any]]) -> dict[str, Any]:
    """Boxes and lines for the service picture: primary on the left, backup on the right, what they share
    in the middle. Positions only; the template draws them (and escapes every label)."""
    col = {"primary": 10, "shared": 370, "backup": 730}
    width, row_h = 300, 30
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    shared_ids = {s["subject"] for s in shared}
    pos: dict[tuple[str, str], tuple[int, int]] = {}
    heights = []
    for side in ("primary", "backup"):
        y = 40
        items = [("resource", r["id"], f"{r['kind']}: {r['name']}") for r in sides[side]["resources"]]
        idents = sides[side]["identities"]
        items += [("identity", i["id"], i["name"] or i["id"]) for i in idents[:MAX_SIDE_IDENTITIES]]
        if len(idents) > MAX_SIDE_IDENTITIES:
            items.append(("more", "", f"+ {len(idents) - MAX_SIDE_IDENTITIES} more identities"))
        items += [("store", s, s) for s in sides[side]["credential_stores"]]
        for kind, nid, label in items:
            nodes.append({"x": col[side], "y": y, "w": width, "h": row_h - 6, "kind": kind, "id": nid,
                          "label": _short(label), "title": nid or label, "shared": nid in shared_ids, "side": side})
            pos[(side, nid)] = (col[side], y)
            y += row_h
        heights.append(y)
    y = 40
    seen: set[str] = set()
    for s in shared:
        if s["subject"] in seen:
            continue
        seen.add(s["subject"])
        rules = sorted({x["rule"] for x in shared if x["subject"] == s["subject"]})
        nodes.append({"x": col["shared"], "y": y, "w": 320 - 40, "h": row_h + 6, "kind": "shared", "id": s["subject"],
                      "label": _short(s["subject"], 36), "rules": ", ".join(rules), "title": s["subject"],
                      "shared": True, "side": "shared"})
        for side in ("primary", "backup"):
            target = pos.get((side, s["subject"])) or pos.get((side, sides[side]["resources"][0]["id"]))
            if target:
                x1 = col["shared"] if side == "primary" else col["shared"] + 280
                x2 = target[0] + width if side == "primary" else target[0]
                edges.append({"x1": x1, "y1": y + (row_h + 6) // 2, "x2": x2, "y2": target[1] + (row_h - 6) // 2})
        y += row_h + 16
    heights.append(y)
    return {"width": 1040, "height": max(heights) + 10, "nodes": nodes, "edges": edges}


def _env():  # type: ignore[no-untyped-def]
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("commonmode", "render/templates"),
                      autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True,
                                                   default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson_compact"] = lambda v: json.dumps(v, default=str)
    env.filters["mdtext"] = markdown.text
    env.filters["mdcode"] = markdown.code
    return env


def render_html(data: dict[str, Any]) -> str:
    return str(_env().get_template("report.html.j2").render(r=data))


def render_markdown(data: dict[str, Any]) -> str:
    env = _env()
    env.autoescape = False  # Markdown: values are put in code spans by the template
    return str(env.get_template("report.md.j2").render(r=data))


def render_json(data: dict[str, Any]) -> str:
    clean = {**data, "services": [{k: v for k, v in s.items() if k != "picture"} for s in data["services"]]}
    return json.dumps(clean, indent=2, default=str) + "\n"


def write(store: RunStore, run: RunInfo, fmt: str, out: Path) -> Path:
    """Render `run` in `fmt` into directory `out`; returns the file written."""
    data = report_data(store, run)
    target = out / {"html": "report.html", "md": "report.md", "json": "report.json"}[fmt]
    return write_private(target, {"html": render_html, "md": render_markdown, "json": render_json}[fmt](data))


__all__ = ["report_data", "render_html", "render_markdown", "render_json", "write"]
