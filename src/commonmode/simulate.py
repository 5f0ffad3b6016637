"""`commonmode simulate`: take a provider, region, account, cluster, CI system or credential down, and see which
services still fail over and who can still do it, from a stored run (no provider is called).

A scenario is a set of downed atoms: fault-domain labels (`dns-provider:route53`, `aws:region:us-east-1`,
`vault:cluster:…`, `ci:github-actions`, `azure:tenant:…`) and entity ids (an identity, credential, store or
resource: that one thing is unavailable or revoked), plus whole providers (`--down-provider aws`: every label of
its control plane the run holds). The run's failover graphs (correlate.failover, stored with the run) answer it:
each service's verdict, whether its backup is up, who can still switch traffic to it and through which chain.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from commonmode.correlate.failover import Answer, FailoverGraph, Simulator
from commonmode.errors import UsageError
from commonmode.store import RunInfo, RunStore
from commonmode.store.queries import did_you_mean

#: What `--down-provider P` takes down: the labels of P's control plane (its own prefix, and its DNS service).
PROVIDER_LABELS: dict[str, tuple[str, ...]] = {
    "aws": ("aws:", "dns-provider:route53", "route53:"),
    "azure": ("azure:", "dns-provider:azure-dns"),
    "gcp": ("gcp:", "dns-provider:cloud-dns"),
    "vault": ("vault:",),
    "github": ("ci:github-actions",),
    "gitlab": ("ci:gitlab",),
    "kubernetes": ("k8s:cluster:",),
}
#: How a fault-domain label starts (anything else given to --down must be an entity id of the run).
LABEL_PREFIXES = ("aws:", "azure:", "gcp:", "vault:", "dns-provider:", "route53:", "ci:", "k8s:")


@dataclass(frozen=True)
class Scenario:
    """A named set of things down at once."""

    name: str
    down: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    """One scenario's answers, with what it took down (the providers expanded to their labels)."""

    scenario: Scenario
    down: tuple[str, ...]
    answers: tuple[Answer, ...]

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "down": list(self.down),
                "services": [a.to_json() for a in self.answers]}


def load(store: RunStore, run: RunInfo) -> Simulator:
    """The run's failover graphs, ready for scenarios; a run stored before they were is a usage error."""
    stored = store.holds("failover")
    rows = store.rows("SELECT service, graph FROM failover WHERE run_id = ? ORDER BY service",
                      (run.id,)) if stored else []
    if not rows and store.rows("SELECT 1 FROM services WHERE run_id = ? LIMIT 1", (run.id,)):
        raise UsageError(f"run {run.id} was stored without its failover graphs (by a commonmode release before "
                         "simulate); run `commonmode scan` again and simulate the new run")
    return Simulator([FailoverGraph.from_json(r["service"], json.loads(r["graph"])) for r in rows])


def _is_entity(store: RunStore, run: RunInfo, value: str) -> bool:
    """`value` is the id of something the run stored (identity, credential, store, resource)."""
    return bool(store.rows("SELECT 1 FROM identities WHERE run_id = ?1 AND id = ?2 UNION ALL "
                           "SELECT 1 FROM credentials WHERE run_id = ?1 AND id = ?2 UNION ALL "
                           "SELECT 1 FROM stores WHERE run_id = ?1 AND id = ?2 UNION ALL "
                           "SELECT 1 FROM resources WHERE run_id = ?1 AND id = ?2 LIMIT 1", (run.id, value)))


def _label_held(store: RunStore, run: RunInfo, label: str) -> bool:
    """Some identity, credential, store or resource of the run is in fault domain `label`."""
    return bool(store.rows("SELECT 1 FROM identities WHERE run_id = ?1 AND fault_domains LIKE ?2 UNION ALL "
                           "SELECT 1 FROM credentials WHERE run_id = ?1 AND fault_domains LIKE ?2 UNION ALL "
                           "SELECT 1 FROM stores WHERE run_id = ?1 AND fault_domains LIKE ?2 UNION ALL "
                           "SELECT 1 FROM resources WHERE run_id = ?1 AND fault_domains LIKE ?2 LIMIT 1",
                           (run.id, f"%{json.dumps(label)}%")))


def expand(sim: Simulator, scenario: Scenario) -> tuple[str, ...]:
    """The atoms a scenario downs: its own, and every label of each provider's control plane the run holds."""
    out = list(dict.fromkeys(scenario.down))
    for provider in scenario.providers:
        prefixes = PROVIDER_LABELS[provider]
        # by the services that depend on each, then by the atom: a cluster's id is a random UUID, and an order by
        # it alone would differ between two scans of the same estate
        out += sorted((a for a in sim.by_atom if a.startswith(prefixes) and a not in out),
                      key=lambda a: (sorted(sim.by_atom[a]), a))
    return tuple(out)


def check(store: RunStore, run: RunInfo, sim: Simulator, scenarios: Sequence[Scenario], where: str) -> list[str]:
    """Every --down value is a label or an id the run holds, every provider a known one (else a usage error
    naming it); notes for values nothing depends on."""
    notes: list[str] = []
    for sc in scenarios:
        for p in sc.providers:
            if p not in PROVIDER_LABELS:
                said = "--down-provider" if where == "--down" else where  # the option the user typed
                raise UsageError(f"{said}: unknown provider {p!r}: {did_you_mean(p, PROVIDER_LABELS, what='known')}")
        missing = [d for d in sc.down if not sim.known(d) and not d.startswith(LABEL_PREFIXES)
                   and not _is_entity(store, run, d)]
        if missing:
            d = missing[0]
            raise UsageError(f"{where}: {d!r} is neither a fault-domain label (aws:…, azure:…, gcp:…, vault:…, "
                             f"dns-provider:…, ci:…, k8s:…) nor an id of run {run.id}: "
                             + did_you_mean(d, sim.by_atom, what="what failover depends on", show_known=False))
        typos = [d for d in sc.down if not sim.known(d) and d.startswith(LABEL_PREFIXES)
                 and not _label_held(store, run, d)]
        if typos:  # a label's form, but nothing of the run carries it: most likely mistyped (aws:regoin:…)
            raise UsageError(f"{where}: no entity of run {run.id} is in fault domain {typos[0]!r}: "
                             + did_you_mean(typos[0], sim.by_atom, what="what failover depends on", show_known=False))
        notes += [f"{sc.name}: no service's failover depends on {d}" for d in sc.down if not sim.known(d)]
    return notes


def run_scenarios(sim: Simulator, scenarios: Sequence[Scenario], services: Sequence[str] | None = None) -> list[Result]:
    return [Result(sc, down := expand(sim, sc), tuple(sim.run(down, services))) for sc in scenarios]


def read_scenarios(path: Path) -> list[Scenario]:
    """A TOML file of `[[scenario]]` tables: `name` (required), `down` (labels or ids), `down_provider`
    (provider names); each table needs at least one of the two."""
    where = str(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file (--scenarios expects a TOML file of [[scenario]] tables)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not valid TOML: {exc}") from None
    tables = doc.get("scenario")
    extra = sorted(set(doc) - {"scenario"})
    if extra:
        raise UsageError(f"{where}: unknown key {extra[0]!r}: expected only [[scenario]] tables")
    if not isinstance(tables, list) or not tables:
        raise UsageError(f"{where}: expected [[scenario]] tables, each with a name and down and/or down_provider")
    out, names = [], set()
    for i, t in enumerate(tables):
        at = f"{where}: scenario[{i}]"
        if not isinstance(t, dict):
            raise UsageError(f"{at}: expected a table")
        unknown = sorted(set(t) - {"name", "down", "down_provider"})
        if unknown:
            raise UsageError(f"{at}.{unknown[0]}: unknown key: expected name, down, down_provider")
        name = t.get("name")
        if not isinstance(name, str) or not name.strip():
            raise UsageError(f"{at}.name: expected a non-empty string")
        if name in names:
            raise UsageError(f"{at}.name: {name!r} is named twice")
        if name == "service":  # the matrix's first column: a scenario of that name would overwrite it
            raise UsageError(f"{at}.name: 'service' names the matrix's service column: choose another name")
        names.add(name)
        lists = {}
        for key in ("down", "down_provider"):
            value = t.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise UsageError(f"{at}.{key}: expected a list of strings")
            lists[key] = tuple(value)
        if not lists["down"] and not lists["down_provider"]:
            raise UsageError(f"{at}: expected down and/or down_provider (what is down in {name!r})")
        out.append(Scenario(name=name, down=lists["down"], providers=lists["down_provider"]))
    return out


def standard_scenarios(store: RunStore, run: RunInfo, sim: Simulator) -> list[Scenario]:
    """The scenarios the report shows: each provider's control plane the run holds, each region that holds a
    primary path resource, each Vault cluster, each CI system."""
    atoms = set(sim.by_atom)
    out: list[Scenario] = []
    for provider, shown in (("aws", "AWS"), ("azure", "Azure"), ("gcp", "GCP"), ("vault", "Vault")):
        if any(a.startswith(PROVIDER_LABELS[provider]) for a in atoms):
            out.append(Scenario(name=f"{shown} down", providers=(provider,)))
    regions: set[str] = set()
    for s in store.rows("SELECT primary_path FROM services WHERE run_id = ?", (run.id,)):
        for rid in json.loads(s["primary_path"]):
            for r in store.rows("SELECT fault_domains FROM resources WHERE run_id = ? AND id = ?", (run.id, rid)):
                regions.update(d for d in json.loads(r["fault_domains"] or "[]") if ":region:" in d)
    words = {"aws": "AWS", "azure": "Azure", "gcp": "GCP"}
    out += [Scenario(name=f"{words.get(r.split(':', 1)[0], r.split(':', 1)[0])} {r.split(':', 2)[2]} down", down=(r,))
            for r in sorted(regions)]
    ci = {"ci:github-actions": "GitHub Actions", "ci:gitlab": "GitLab CI"}
    out += [Scenario(name=ci.get(a, a) + " down", down=(a,)) for a in sorted(atoms) if a.startswith("ci:")]
    clusters: list[Scenario] = []
    for a in atoms:
        if a.startswith("vault:cluster:"):
            # a cluster's id is a UUID: the Vault connector that scanned it is the name people know
            found = store.rows("SELECT DISTINCT connector FROM stores WHERE run_id = ? AND fault_domains LIKE ? "
                               "ORDER BY connector",
                               (run.id, f'%"{a}"%'))
            name = found[0]["connector"] if len(found) == 1 else a
            clusters.append(Scenario(name=f"{name} down", down=(a,)))
    # by the name shown, not the id: a cluster's UUID changes whenever it is re-created
    out += sorted(clusters, key=lambda c: (c.name, c.down))
    return out
