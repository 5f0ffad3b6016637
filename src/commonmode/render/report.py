"""The run report: HTML (one self-contained file: inline CSS and SVG, no network), Markdown and JSON.

Everything is read from the store. Every value from the scanned estate is escaped by Jinja2's autoescape
(identity names can hold markup) in HTML, and goes through `markdown.text`/`markdown.code` in Markdown.

What a reader sees of an entity is its kind and readable name from the store (`IAM user dns-automation`,
`Vault cluster vault-east`), with the full id on hover and in each picture's table of ids. Evidence lines are
shown as numbered chains, one step per line, from the finding's subject to the path, ids as code.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from commonmode import __version__
from commonmode.files import write_private
from commonmode.model import Severity
from commonmode.render import graph, markdown
from commonmode.render import review as rv
from commonmode.standards import references
from commonmode.store import RunInfo, RunStore, queries

if TYPE_CHECKING:
    from jinja2 import Environment

PAIRWISE = ("shared-identity", "shared-secret-store", "shared-certificate-path", "shared-dns-control-plane",
            "shared-fault-domain")
MAX_SIDE_IDENTITIES = 10
MAX_INVENTORY_ROWS = 5000
SCHEMA_VERSION = 1
#: The capabilities that put an identity on a path in the picture (changing it, or reading what it needs).
PATH_CAPABILITIES = ("dns.write", "dns.admin", "failover.write", "secret.read", "secret.write", "cert.issue")
#: Keys of report_data that only the HTML and Markdown templates use; the JSON file leaves them out.
RENDER_ONLY = ("picture", "chains", "labels")
#: format -> file extension ("markdown" is the CLI's name for md)
EXTENSIONS = {"html": "html", "md": "md", "markdown": "md", "json": "json"}


# --- what an entity is called ------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True, slots=True)
class Entity:
    """How the report names one id: a readable kind and name from the store, and what it is (a CSS class)."""

    id: str
    kind: str
    name: str
    css: str  # identity, credential, store, resource, label, service, unseen
    connector: str = ""
    domains: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """`IAM user dns-automation`: what the report shows in place of the id."""
        return f"{self.kind} {self.name}".strip()


_KIND_WORDS = {
    "iam-user": "IAM user", "iam-role": "IAM role", "vault-token": "Vault token", "vault-entity": "Vault entity",
    "ci-workload": "CI workload", "api-key": "API key", "approle-secret-id": "AppRole SecretID",
    "stored-credential": "stored credential", "secrets-manager": "Secrets Manager",
    "ssm-parameter-store": "SSM Parameter Store", "dns-zone": "DNS zone", "dns-record": "DNS record",
    "health-check": "health check", "routing-control": "routing control", "certificate": "certificate",
    "cert-issuer": "certificate issuer", "vault-mount": "Vault mount",
}
#: The first part of a fault-domain label (README, "Ids": `aws:account:…`, `vault:cluster:<id>`, …) and of a
#: DNS control plane (`route53:account:…`), in words.
_PREFIX_WORDS = {"aws": "AWS", "azure": "Azure", "gcp": "GCP", "vault": "Vault", "dns-provider": "DNS provider",
                 "ci": "CI", "route53": "Route 53", "ns1": "NS1", "idp": "identity provider"}
_MOUNT = re.compile(r"^vault-(\w+)-mount$")


def kind_words(kind: str, provider: str = "") -> str:
    """A stored kind in words: `iam-user` → `IAM user`, `vault-role (approle)` → `Vault role`."""
    if kind in _KIND_WORDS:
        return _KIND_WORDS[kind]
    if kind.startswith("vault-role"):
        return "Vault role"
    if kind.startswith("access-key"):
        return "access key"
    if m := _MOUNT.match(kind):
        t = m.group(1)
        return f"Vault {t.upper() if len(t) <= 3 else t} mount"
    if kind == "secret" and provider:
        return f"{_PREFIX_WORDS.get(provider, provider)} secret"
    return kind.replace("-", " ")


def _label_entity(label: str, connectors: set[str]) -> Entity:
    """A fault-domain or control-plane label: no entity stores it, so its documented shape says what it is."""
    parts = label.split(":")
    if len(parts) < 2:
        return Entity(id=label, kind="fault domain", name=label, css="label")
    words = [_PREFIX_WORDS.get(parts[0], parts[0].replace("-", " ")), *(p.replace("-", " ") for p in parts[1:-1])]
    name = parts[-1]
    # a Vault cluster's id is a UUID; the connector that scanned it is the name people know it by
    if parts[0] == "vault" and len(parts) == 3 and parts[1] == "cluster" and len(connectors) == 1:
        name = next(iter(connectors))
    return Entity(id=label, kind=" ".join(words), name=name, css="label")


def catalogue(store: RunStore, run: RunInfo) -> dict[str, Entity]:
    """Every id of the run with its kind and name as stored (identities, stores, resources, credentials), the
    fault-domain and control-plane labels they carry, and the services (`service:<name>` subjects)."""
    out: dict[str, Entity] = {}
    carriers: dict[str, set[str]] = defaultdict(set)  # label -> connectors of the same provider that carry it

    def note(row: Any) -> tuple[str, ...]:
        domains = tuple(json.loads(row["fault_domains"] or "[]"))
        for d in domains:
            if d.split(":", 1)[0] == row["provider"]:
                carriers[d].add(row["connector"])
            else:
                carriers.setdefault(d, set())
        return domains

    for table, css in (("identities", "identity"), ("stores", "store"), ("resources", "resource")):
        for r in store.rows(f"SELECT * FROM {table} WHERE run_id = ?", [run.id]):  # noqa: S608 — fixed names
            out[r["id"]] = Entity(id=r["id"], kind=kind_words(r["kind"], r["provider"]), name=r["name"] or r["id"],
                                  css=css, connector=r["connector"], domains=note(r))
            if table == "resources" and r["control_plane"]:
                carriers.setdefault(r["control_plane"], set())
    for c in store.rows("SELECT id, kind, identity_id, connector, fault_domains FROM credentials WHERE run_id = ?",
                        [run.id]):
        owner = out.get(c["identity_id"])
        domains = tuple(json.loads(c["fault_domains"] or "[]"))
        out[c["id"]] = Entity(id=c["id"], kind=kind_words(c["kind"]), name=owner.name if owner else c["identity_id"],
                              css="credential", connector=c["connector"], domains=domains)
        for d in domains:
            carriers.setdefault(d, set())
    for label, conns in carriers.items():
        out.setdefault(label, _label_entity(label, conns))
    for s in store.rows("SELECT name FROM services WHERE run_id = ?", [run.id]):
        out.setdefault(f"service:{s['name']}", Entity(id=f"service:{s['name']}", kind="service", name=s["name"],
                                                      css="service"))
    return _disambiguate(out)


def _disambiguate(cat: dict[str, Entity]) -> dict[str, Entity]:
    """Two ids with the same kind and name (`Vault KV mount secret` in two clusters) get what tells them apart:
    the connector, else their fault domains, else the end of the id."""
    groups: dict[str, list[Entity]] = defaultdict(list)
    for e in cat.values():
        groups[e.label].append(e)
    for members in groups.values():
        if len(members) < 2:
            continue
        for qualify in (lambda e: e.connector, lambda e: ", ".join(d.rsplit(":", 1)[-1] for d in e.domains),
                        lambda e: graph.fit(e.id.rsplit("/", 1)[-1], 24)):
            tags = [qualify(e) for e in members]
            if all(tags) and len(set(tags)) == len(tags):
                for e, tag in zip(members, tags, strict=True):
                    cat[e.id] = Entity(id=e.id, kind=e.kind, name=f"{e.name} ({tag})", css=e.css,
                                       connector=e.connector, domains=e.domains)
                break
    return cat


def entity(cat: dict[str, Entity], some_id: str) -> Entity:
    """The catalogue's entry for `some_id`, or an entry saying nobody saw it."""
    return cat.get(some_id) or Entity(id=some_id, kind="not seen", name=some_id, css="unseen")


# --- evidence as chains ------------------------------------------------------------------------------

#: an id the store does not know but that has an id's shape: `scheme:rest` (ARNs, vault://, labels, actions)
_ID_SHAPE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?://)?[^\s:][^\s]*$")
#: a label before the steps: `primary: …`, `backup: …`, `failover by <id>: …` (words, then at most one id)
_HEADING = re.compile(r"^([A-Za-z][A-Za-z ]{0,40}?(?: [^\s:]+:?[^\s]*)?): ")
_SIDES = {"primary": "primary path", "backup": "backup path"}
_STEP = " ← "
_VIA = " → "


def _tokens(text: str, known: dict[str, Entity]) -> list[dict[str, str]]:
    """Text split into plain runs and ids (`{"t": "code", "v": id, "label": ...}`)."""
    out: list[dict[str, str]] = []

    def add_text(v: str) -> None:
        if not v:
            return
        if out and out[-1]["t"] == "text":
            out[-1]["v"] += v
        else:
            out.append({"t": "text", "v": v})

    for word in re.split(r"(\s+)", text):
        core = word.lstrip("([")
        lead = word[:len(word) - len(core)]
        trail = ""
        while core and core[-1] in "),;:" and core not in known:
            core, trail = core[:-1], core[-1] + trail
        if core and core not in known and core.endswith(".") and core[:-1] in known:
            core, trail = core[:-1], "." + trail
        if core and (core in known or _ID_SHAPE.match(core)):
            add_text(lead)
            e = known.get(core)
            out.append({"t": "code", "v": core, "label": e.label if e else ""})
            add_text(trail)
        else:
            add_text(word)
    return out


def _tree(text: str) -> list[Any] | None:
    """`text` as nested lists by parentheses, or None when they do not balance (then it stays flat)."""
    stack: list[list[Any]] = [[]]
    buf = ""
    for ch in text:
        if ch == "(":
            stack[-1].append(buf)
            buf = ""
            stack.append([])
        elif ch == ")":
            if len(stack) == 1:
                return None
            stack[-1].append(buf)
            buf = ""
            group = stack.pop()
            stack[-1].append(group)
        else:
            buf += ch
    if len(stack) != 1:
        return None
    stack[0].append(buf)
    return stack[0]


def _split(children: list[Any], sep: str) -> list[list[Any]]:
    """Split a node's children at `sep` occurring in its own text (not inside parentheses)."""
    steps: list[list[Any]] = [[]]
    for c in children:
        if isinstance(c, str):
            pieces = c.split(sep)
            steps[-1].append(pieces[0])
            for p in pieces[1:]:
                steps.append([p])
        else:
            steps[-1].append(c)
    return steps


def _parts(children: list[Any], known: dict[str, Entity]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in children:
        if isinstance(c, str):
            out += _tokens(c, known)
            continue
        steps = _split(c, _STEP)
        if len(steps) > 1:  # a chain inside a step ("X can fail over (A ← B) but needs …")
            out.append({"t": "chain", "steps": [_parts(s, known) for s in steps]})
        else:
            via = any(isinstance(x, str) and _VIA in x for x in c)
            out.append({"t": "group", "via": via, "parts": _parts(c, known)})
    return _trim(out)


def _trim(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if parts and parts[0]["t"] == "text":
        parts[0] = {**parts[0], "v": parts[0]["v"].lstrip()}
    if parts and parts[-1]["t"] == "text":
        parts[-1] = {**parts[-1], "v": parts[-1]["v"].rstrip()}
    return [p for p in parts if not (p["t"] == "text" and not p["v"])]


def _step(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """A step: its inline parts, and the chains nested in it, which are listed under it (their place in the
    sentence says so)."""
    inline: list[dict[str, Any]] = []
    sub: list[list[dict[str, Any]]] = []
    for p in parts:
        if p["t"] == "chain":
            sub.append([_step(x) for x in p["steps"]])
            inline.append({"t": "text", "v": "(through the steps below)"})
        elif p["t"] == "group":
            g = _step(p["parts"])
            sub += g["sub"]
            inline.append({**p, "parts": g["parts"]})
        else:
            inline.append(p)
    return {"parts": inline, "sub": sub}


def chain(line: str, known: dict[str, Entity]) -> dict[str, Any]:
    """One evidence line as `{heading, heading_parts, steps}`. A line may hold a whole chain, its steps joined
    by " ← " from the finding's subject to the path ("… ← X is in the primary path"), or one step of it after a
    label ("primary: …"); the policies that give a grant are in parentheses joined by " → ", and a chain inside
    a step is in parentheses too. Each step is `{parts, sub}`: its text, ids (`code`) and parenthesised
    groups, and the chains nested in it (each a list of steps)."""
    heading = None
    if m := _HEADING.match(line):
        heading, line = _SIDES.get(m.group(1), m.group(1)), line[m.end():]
    tree = _tree(line)
    pieces = [[s] for s in line.split(_STEP)] if tree is None else _split(tree, _STEP)
    return {"heading": heading, "heading_parts": _tokens(heading, known) if heading else [],
            "steps": [_step(_parts(s, known)) for s in pieces]}


def chains(evidence: list[str], known: dict[str, Entity]) -> list[dict[str, Any]]:
    """A finding's evidence as chains: consecutive lines under the same label are the steps of one chain;
    a label over a single step that is not a path's chain is kept in its line ("services affected: …")."""
    out: list[dict[str, Any]] = []
    for line in evidence:
        c = chain(line, known)
        if out and c["heading"] and out[-1]["heading"] == c["heading"]:
            out[-1]["steps"] += c["steps"]
        else:
            out.append(c)
    for c in out:
        if c["heading"] and len(c["steps"]) == 1 and c["heading"] not in _SIDES.values():
            step = c["steps"][0]
            c["steps"] = [{**step, "parts": [*c["heading_parts"], {"t": "text", "v": ": "}, *step["parts"]]}]
            c["heading"], c["heading_parts"] = None, []
    return out


def chain_ids(c: dict[str, Any]) -> list[str]:
    """The ids a chain mentions, in order (nested chains after the step they are in)."""
    out: list[str] = []

    def walk(parts: list[dict[str, Any]]) -> None:
        for p in parts:
            if p["t"] == "code":
                out.append(p["v"])
            elif p["t"] == "group":
                walk(p["parts"])

    def steps(ss: list[dict[str, Any]]) -> None:
        for st in ss:
            walk(st["parts"])
            for sub in st["sub"]:
                steps(sub)

    steps(c["steps"])
    return out


def chain_markdown(c: dict[str, Any]) -> str:
    """A chain as Markdown: its heading, then a numbered list, one step per line, ids as code spans (a claim
    of one step without a heading is a single bullet)."""
    lines = [f"{_md_inline(c['heading_parts'])}:", ""] if c["heading"] else []
    bullet = "-" if len(c["steps"]) == 1 and not c["heading"] else "1."
    lines += _md_steps(c["steps"], "", bullet)
    return "\n".join(lines)


def _md_steps(steps: list[dict[str, Any]], indent: str, bullet: str = "1.") -> list[str]:
    out = []
    for st in steps:
        out.append(f"{indent}{bullet} {_md_inline(st['parts'])}")
        for sub in st["sub"]:
            out += _md_steps(sub, indent + " " * (len(bullet) + 1))
    return out


def _md_inline(parts: list[dict[str, Any]]) -> str:
    out = ""
    for p in parts:
        if p["t"] == "code":
            out += markdown.code(p["v"])
        elif p["t"] == "text":
            # markdown.text strips the ends of what it is given: the spaces around ids are put back
            v = p["v"]
            core = markdown.text(v)
            out += (" " if v[:1].isspace() and core else "") + core + (" " if v[-1:].isspace() and core else "")
            if not core and v:
                out += " "
        else:
            out += f"({_md_inline(p['parts'])})"
    return out


# --- the report's content ----------------------------------------------------------------------------

def finding_order(f: dict[str, Any]) -> tuple[Any, ...]:
    """Most severe first (critical, high, medium, low), then rule, then service, then subjects."""
    return (-Severity(f["severity"]).rank, f["rule"], f["service"] or ", ".join(f["services"]), f["subjects"])


def report_data(store: RunStore, run: RunInfo) -> dict[str, Any]:
    """The report's content: the JSON format, and what the HTML and Markdown templates render (the keys in
    RENDER_ONLY are for the templates only)."""
    previous = next((r for r in reversed(store.runs()) if r.id < run.id), None)
    findings = sorted(queries.findings(store, run), key=finding_order)
    active = [f for f in findings if f["status"] != "resolved"]
    cat = catalogue(store, run)
    reviews = {e["service"]: e for e in rv.review(store, run)}
    services = []
    for s in queries.services(store, run):
        mine = [f for f in active if s["name"] in f["services"]]
        shared = [{"rule": f["rule"], "subject": subj, "severity": f["severity"]}
                  for f in mine if f["rule"] in PAIRWISE for subj in f["subjects"]]
        sides, relations = {}, {}
        for side in ("primary", "backup"):
            sides[side], relations[side] = _side(store, run, s[side])
        services.append({
            "name": s["name"], "owner": s["owner"], "source": s["source"], "primary": sides["primary"],
            "backup": sides["backup"], "shared": shared, "verdict": reviews[s["name"]]["verdict"],
            "independent": bool(reviews[s["name"]]["independent_via"]), "missing": s["missing"],
            "findings": [f["fingerprint"] for f in mine],
            "picture": picture(cat, sides, relations, shared, [f for f in mine if f["rule"] in PAIRWISE]),
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
    changes = queries.diff(store, previous, run) if previous else None
    # what the templates show for ids: labels of every subject (findings, changes) and chains of evidence
    mentioned = {x for f in findings for x in f["subjects"]}
    if changes:
        mentioned |= {x for f in changes["resolved_findings"] + changes["new_findings"] for x in f["subjects"]}
    # a subject gone in this run (a resolved finding's) is named as the previous run knew it
    prev_cat = catalogue(store, previous) if previous and not mentioned <= cat.keys() else {}
    labels = {i: entity(cat, i).label if i in cat else entity(prev_cat, i).label for i in sorted(mentioned)}
    return {
        "what_if": what_if(store, run),
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
        "changes": changes,
        "services": services,
        "findings": [{**f, "references": [r.id for r in references(f["rule"])],
                      "chains": chains(f["evidence"], cat)} for f in active],
        "resolved": [f for f in findings if f["status"] == "resolved"],
        "standards": sorted(({**v, "rules": sorted(v["rules"])} for v in standards.values()),
                            key=lambda x: (x["framework"], x["id"])),
        "inventory": inventory[:MAX_INVENTORY_ROWS],
        "inventory_total": len(inventory),
        "labels": labels,
    }


def what_if(store: RunStore, run: RunInfo) -> dict[str, Any] | None:
    """The standard scenarios (`commonmode simulate` with no --down) as a matrix: `{scenarios: [{name, down}],
    services: [{name, verdicts: {scenario: verdict}}]}`; None for a run stored without failover graphs."""
    from commonmode import simulate as sm
    from commonmode.errors import UsageError

    try:
        sim = sm.load(store, run)
    except UsageError:
        return None
    results = sm.run_scenarios(sim, sm.standard_scenarios(store, run, sim))
    names = sorted(sim.graphs)
    return {"scenarios": [{"name": r.scenario.name, "down": list(r.down)} for r in results],
            "services": [{"name": n, "verdicts": {r.scenario.name: r.answers[i].verdict for r in results}}
                         for i, n in enumerate(names)]}


def _side(store: RunStore, run: RunInfo, path: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, list[str]]]]:
    """One path: its resources, who can modify them, and where those identities' credentials are kept; and,
    for the picture, which path resources each identity reaches and whose credentials each store keeps."""
    kinds = {r["id"]: (r["kind"], r["name"]) for r in store.rows(
        f"SELECT id, kind, name FROM resources WHERE run_id = ? AND id IN ({','.join('?' * len(path))})",  # noqa: S608 — only ? marks
        [run.id, *path])}
    who: dict[str, dict[str, Any]] = {}
    reaches: dict[str, list[str]] = defaultdict(list)
    for rid in path:
        if rid not in kinds:
            continue
        for row in queries.access(store, run, rid):
            if row["capability"] in PATH_CAPABILITIES:
                who.setdefault(row["identity"], {"id": row["identity"], "name": row["identity_name"],
                                                 "owner": row["owner"], "direct": row["direct"]})
                if rid not in reaches[row["identity"]]:
                    reaches[row["identity"]].append(rid)
    ids = sorted(who)
    keeps: dict[str, list[str]] = defaultdict(list)
    if ids:
        marks = ",".join("?" * len(ids))
        for c in store.rows(f"SELECT stored_in, identity_id FROM credentials WHERE run_id = ? "  # noqa: S608 — only ? marks
                            f"AND identity_id IN ({marks}) AND stored_in IS NOT NULL ORDER BY identity_id",
                            [run.id, *ids]):
            keeps[c["stored_in"]].append(c["identity_id"])
    public = {
        "resources": [{"id": r, "kind": kinds.get(r, ("unseen", r))[0], "name": kinds.get(r, ("", r))[1]}
                      for r in path],
        "identities": [who[i] for i in ids],
        "credential_stores": sorted(keeps),
    }
    return public, {"reaches": dict(reaches), "keeps": dict(keeps)}


def picture(cat: dict[str, Entity], sides: dict[str, dict[str, Any]],
            relations: dict[str, dict[str, dict[str, list[str]]]], shared: list[dict[str, Any]],
            pairwise: list[dict[str, Any]]) -> dict[str, graph.Picture]:
    """The service's picture, wide and narrow: each side's own resources, identities and credential stores;
    in the middle, everything both paths share (what the pairwise findings name, and any item in both sides'
    lists); one edge from each side to each shared item, from the side's item through which that side
    depends on it."""
    side_ids = {side: [r["id"] for r in sides[side]["resources"]] + [i["id"] for i in sides[side]["identities"]]
                + list(sides[side]["credential_stores"]) for side in ("primary", "backup")}
    rules: dict[str, list[str]] = defaultdict(list)
    for x in shared:
        if x["rule"] not in rules[x["subject"]]:
            rules[x["subject"]].append(x["rule"])
    both = [i for i in side_ids["primary"] if i in set(side_ids["backup"])]
    shared_ids = list(dict.fromkeys([*rules, *both]))
    shared_set = set(shared_ids)

    def item(i: str, css: str, group: int = 0) -> graph.Item:
        e = entity(cat, i)
        return graph.Item(id=i, css=css if e.css != "unseen" else "unseen", kind=e.kind, name=e.name, group=group,
                          rules=tuple(rules.get(i, ())) or (("in both paths",) if i in shared_set else ()))

    columns: dict[str, list[graph.Item]] = {}
    hidden: dict[str, dict[str, str]] = {}  # side -> identity id -> the "+ N more" box it is counted in
    for side in ("primary", "backup"):
        items = [item(r["id"], "resource", 0) for r in sides[side]["resources"] if r["id"] not in shared_set]
        idents = [i["id"] for i in sides[side]["identities"] if i["id"] not in shared_set]
        items += [item(i, "identity", 1) for i in idents[:MAX_SIDE_IDENTITIES]]
        more = idents[MAX_SIDE_IDENTITIES:]
        if more:
            box = f"more:{side}"
            items.append(graph.Item(id=box, css="more", kind="and", name=f"{len(more)} more identities", group=1))
            hidden[side] = dict.fromkeys(more, box)
        items += [item(s, "store", 2) for s in sides[side]["credential_stores"] if s not in shared_set]
        columns[side] = items
    middle = [item(i, entity(cat, i).css, 0) for i in shared_ids]
    links = []
    evidence: dict[tuple[str, str], list[str]] = defaultdict(list)  # (subject, side) -> ids along its chain
    for f in pairwise:
        for c in chains(f["evidence"], cat):
            on = next((k for k, v in _SIDES.items() if v == c["heading"]), None)
            for subj in f["subjects"] if on else ():
                evidence[(subj, str(on))] += chain_ids(c)
    for s in shared_ids:
        for side in ("primary", "backup"):
            in_column = {it.id for it in columns[side]}
            candidates = [hidden.get(side, {}).get(i, i) for i in evidence.get((s, side), []) if i != s]
            candidates += _related(s, relations[side], hidden.get(side, {}))
            candidates += [it.id for it in columns[side] if it.css == "resource"]
            via = next((c for c in candidates if c in in_column), None)
            if via is not None:
                links.append(graph.Link(side=side, via=via, shared=s))
    return {g.name: graph.layout(columns["primary"], middle, columns["backup"], links, g)
            for g in (graph.WIDE, graph.NARROW)}


def _related(item_id: str, rel: dict[str, dict[str, list[str]]], hidden: dict[str, str]) -> list[str]:
    """Side items an item in both sides' lists hangs on: an identity's path resources; a store's identities
    (and their resources)."""
    out = list(rel["reaches"].get(item_id, []))
    for holder in rel["keeps"].get(item_id, []):
        out += [hidden.get(holder, holder), *rel["reaches"].get(holder, [])]
    return out


# --- rendering -------------------------------------------------------------------------------------

def _env() -> Environment:
    from jinja2 import Environment, PackageLoader, select_autoescape

    from commonmode.render.simulate import short

    env = Environment(loader=PackageLoader("commonmode", "render/templates"),
                      autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True,
                                                   default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson_compact"] = lambda v: json.dumps(v, default=str)
    env.filters["mdtext"] = markdown.text
    env.filters["mdcode"] = markdown.code
    env.filters["mdchain"] = chain_markdown
    env.filters["verdict_short"] = short  # a What-if cell, as `commonmode simulate`'s matrix shows it
    return env


def render_html(data: dict[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    return str(_env().get_template("report.html.j2").render(r=data))


def render_markdown(data: dict[str, Any]) -> str:
    """The report as Markdown (wikis, pull requests)."""
    env = _env()
    env.autoescape = False  # Markdown: values are put in code spans or escaped by the template's filters
    return str(env.get_template("report.md.j2").render(r=data))


def render_json(data: dict[str, Any]) -> str:
    """The report's content as JSON (docs/report.md), without what only the templates use."""
    def clean(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k not in RENDER_ONLY}

    out = {**clean(data), "services": [clean(s) for s in data["services"]],
           "findings": [clean(f) for f in data["findings"]]}
    return json.dumps(out, indent=2, default=str) + "\n"


class ReportPath(type(Path())):  # type: ignore[misc]  # PosixPath or WindowsPath, whichever Path() is here
    """The report's main path, with both files written.

    It is `report.<ext>` when the run is the store's newest (so callers that take `write`'s result as "the
    report" keep working); for an older run it is the run's own file and `latest` is None."""

    run_report: Path | None = None  # report-run-<id>.<ext>
    latest: Path | None = None  # report.<ext>, when it was written


def write(store: RunStore, run: RunInfo, fmt: str, out: Path) -> ReportPath:
    """Render `run` in `fmt` into directory `out`: `report-run-<id>.<ext>`, and `report.<ext>` too when `run`
    is the store's newest run (a report of an older run never replaces the latest one; each run's named file
    is only ever rewritten by a report of that same run). Files are private (0600)."""
    ext = EXTENSIONS[fmt]
    text = {"html": render_html, "md": render_markdown, "json": render_json}[ext](report_data(store, run))
    named = write_private(out / f"report-run-{run.id}.{ext}", text)
    newest = store.runs()[-1].id == run.id
    latest = write_private(out / f"report.{ext}", text) if newest else None
    result = ReportPath(latest or named)
    result.run_report, result.latest = named, latest
    return result


__all__ = ["ReportPath", "catalogue", "chain", "entity", "finding_order", "kind_words", "picture", "render_html",
           "render_json", "render_markdown", "report_data", "write"]
