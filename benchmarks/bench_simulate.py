"""`commonmode simulate` speed: scenarios answered from a stored run. Prints a Markdown table.

    python benchmarks/bench_simulate.py                    # the demo, and 10k and 100k synthetic identities
    python benchmarks/bench_simulate.py --sizes 10000 --scenarios 50

For a synthetic size: the estate (benchmarks/synthetic.py) is correlated and stored once (not timed here:
bench_core.py measures that), then timed: loading the run's failover graphs and answering each scenario with
nothing down (`load`), and `--scenarios` scenarios of one to three downed atoms each, drawn from what the
services' failover depends on (accounts, Vault clusters, stores, identities, credentials), with how many
services each touched (only those are evaluated again); a fifth of the scenarios down one fault-domain label (an
account, a Vault cluster: many services at once). For the demo: the sandbox is scanned once
(`commonmode demo`), then `commonmode simulate` runs as a user runs it, in a new process, for the standard
scenarios (load, scenarios and output: the whole command). Each size runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sizes import each_size

HERE = Path(__file__).resolve().parent


def one(n: int, scenarios: int) -> dict:
    """Measure one synthetic size in this process."""
    sys.path.insert(0, str(HERE))
    from synthetic import build

    from commonmode import simulate as sm
    from commonmode.connector import ConnectorResult
    from commonmode.correlate import correlate
    from commonmode.model import RunStatus
    from commonmode.store import RunStore

    inv, services = build(n)
    corr = correlate(inv, declared_services=services, now=datetime(2026, 11, 24, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore.open(Path(tmp) / "bench.db", create=True)
        run = store.record_run(started=datetime.now(UTC), config="bench", correlation=corr, status=RunStatus.OK,
                               results=[ConnectorResult(connector="synthetic", provider="synthetic",
                                                        status=RunStatus.OK)])
        del corr, inv
        t0 = time.perf_counter()
        sim = sm.load(store, run)
        t1 = time.perf_counter()
        rng = random.Random(7)
        atoms = sorted(sim.by_atom)
        labels = [a for a in atoms if a.startswith(sm.LABEL_PREFIXES)]
        # a fifth are wide (a fault-domain label: an account, a Vault cluster, a DNS control plane: many services
        # at once), the rest one to three atoms of any kind (identities, credentials, stores, resources, labels)
        wide = [sm.Scenario(name=f"w{i}", down=(rng.choice(labels),)) for i in range(scenarios // 5)]
        wanted = wide + [sm.Scenario(name=f"s{i}", down=tuple(rng.sample(atoms, rng.randint(1, 3))))
                         for i in range(scenarios - len(wide))]
        touched = [len(set().union(*(sim.by_atom[a] for a in sc.down))) for sc in wanted]
        t2 = time.perf_counter()
        results = sm.run_scenarios(sim, wanted)
        t3 = time.perf_counter()
        store.close()
    return {"size": f"{n:,} identities", "services": len(sim.graphs), "atoms": len(atoms),
            "scenarios": len(results), "load_s": t1 - t0, "scenarios_s": t3 - t2,
            "per_scenario_ms": 1000 * (t3 - t2) / max(1, len(results)),
            "touched_mean": sum(touched) / max(1, len(touched)), "total_s": (t1 - t0) + (t3 - t2),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def demo() -> dict:
    """The sandbox once, then `commonmode simulate` (standard scenarios) as a user runs it, timed whole."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "commonmode.cli", "demo", "--out", tmp, "-q"], check=True,
                       capture_output=True, text=True, timeout=600)
        db = str(Path(tmp) / "commonmode.db")
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "commonmode.cli", "simulate", "--db", db, "--format", "json"],
                             check=True, capture_output=True, text=True, timeout=120)
        t1 = time.perf_counter()
        results = json.loads(out.stdout)
    return {"size": "demo (`commonmode simulate`, whole command)", "services": len(results[0]["services"]),
            "atoms": None, "scenarios": len(results), "load_s": None, "scenarios_s": None,
            "per_scenario_ms": None, "touched_mean": None, "total_s": t1 - t0, "peak_rss_mb": None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10000, 100000])
    ap.add_argument("--scenarios", type=int, default=50)
    ap.add_argument("--no-demo", action="store_true")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.scenarios)))
        return
    rows = [] if args.no_demo else [demo()]
    for r in each_size(__file__, args.sizes, "--scenarios", str(args.scenarios)):
        rows.append(r)
        print(f"measured {r['size']}", file=sys.stderr)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    print(f"Machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}\n")
    print("| estate | services | atoms | scenarios | load s | scenarios s | ms per scenario | services touched "
          "per scenario | load + scenarios s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def f(v: object, spec: str) -> str:
        return "—" if v is None else format(v, spec)
    for r in rows:
        print(f"| {r['size']} | {r['services']:,} | {f(r['atoms'], ',')} | {r['scenarios']} | "
              f"{f(r['load_s'], '.2f')} | {f(r['scenarios_s'], '.2f')} | {f(r['per_scenario_ms'], '.1f')} | "
              f"{f(r['touched_mean'], '.1f')} | {r['total_s']:.2f} | {f(r['peak_rss_mb'], '.0f')} |")


if __name__ == "__main__":
    main()
