"""History benchmark: what a store costs run after run. Prints Markdown tables.

    python benchmarks/bench_history.py large                  # 100k identities / 1M grants: first run,
                                                              # unchanged re-run, 1% changed; queries
    python benchmarks/bench_history.py large --baseline 267584b   # ... and the same with that release's store
    python benchmarks/bench_history.py nightly                # 30 nightly runs of 10k identities, 1% churn

`large` times the store step (`RunStore.record_run`) of three runs of one estate: the first into an empty
store, the same estate again, and the estate with 1% of its grants changed (each one's `via` edited, so 1% of
the rows end and 1% begin), then `access`, `inventory` and `diff` on the store. With `--baseline REV` the same
measurement runs a second time with the commonmode of git revision REV (checked out into a temporary
worktree), so both columns come from one benchmark run on one machine. `nightly` records N runs of one estate
that changes by `--churn` of its grants and identities per run and prints the database size and store time
after each run. Each measurement runs in its own process (peak RSS is its own). No test depends on these
numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NOW = datetime(2026, 11, 24, tzinfo=UTC)


def churn(inv: Any, fraction: float, run: int) -> Any:
    """The estate with `fraction` of its grants and of its identities edited (a grant's policy statement, an
    identity's owner), chosen afresh for each run."""
    rng = random.Random(run)
    grants = list(inv.grants)
    for i in rng.sample(range(len(grants)), int(len(grants) * fraction)):
        g = grants[i]
        grants[i] = dataclasses.replace(g, via=(*g.via[:-1], f"{g.via[-1] if g.via else 'policy'} (edited run {run})"))
    identities = list(inv.identities)
    for i in rng.sample(range(len(identities)), int(len(identities) * fraction)):
        identities[i] = dataclasses.replace(identities[i], owner=f"team-{run}")
    return dataclasses.replace(inv, grants=tuple(grants), identities=tuple(identities))


def _size(db: Path, store: Any) -> int:
    """The database's bytes once the WAL is folded in (a scan's WAL is checkpointed as it grows)."""
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db.stat().st_size + sum(p.stat().st_size for p in db.parent.glob(db.name + "-*"))


def _record(store: Any, corr: Any, day: int) -> float:
    from commonmode.connector import ConnectorResult
    from commonmode.model import RunStatus

    started = NOW + timedelta(days=day)
    t = time.perf_counter()
    store.record_run(started=started, finished=started, config="bench", correlation=corr, status=RunStatus.OK,
                     results=[ConnectorResult(connector="synthetic", provider="synthetic", status=RunStatus.OK)])
    return time.perf_counter() - t


def _timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _filtered(queries: Any, store: Any, run: Any, **only: str) -> list[dict[str, Any]]:
    """`inventory` with a filter; a release whose query takes none filters the whole inventory, as its
    command did."""
    try:
        return queries.inventory(store, run, **only)  # type: ignore[no-any-return]
    except TypeError:
        rows = queries.inventory(store, run)
        if "identity" in only:
            return [i for i in rows if i["id"] == only["identity"]]
        return [i for i in rows if any(m["capability"] == only["can"] for m in [*i["can_modify"], *i["can_assume"]])]


def large(n: int) -> dict[str, Any]:
    """Three runs of an n-identity estate and the queries on the store; run in this process."""
    sys.path.insert(0, str(HERE))
    from synthetic import build

    from commonmode.correlate import correlate
    from commonmode.store import RunStore, queries

    inv, services = build(n)
    corr = correlate(inv, declared_services=services, now=NOW)
    out: dict[str, Any] = {"identities": len(inv.identities), "grants": len(corr.inventory.grants)}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        store = RunStore.open(db, create=True)
        out["first_s"] = _record(store, corr, 0)
        out["first_mb"] = _size(db, store) / 1e6
        out["unchanged_s"] = _record(store, corr, 1)
        out["unchanged_growth_mb"] = _size(db, store) / 1e6 - out["first_mb"]
        del corr  # one correlation at a time, as in a scan
        changed = correlate(churn(inv, 0.01, 1), declared_services=services, now=NOW)
        out["changed_s"] = _record(store, changed, 2)
        del changed
        out["changed_growth_mb"] = _size(db, store) / 1e6 - out["first_mb"] - out["unchanged_growth_mb"]
        out["store_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        store.close()
        store = RunStore.open(db)  # as a read command opens it
        runs = store.runs()
        zone = max(store.rows("SELECT resource_id, count(*) AS n FROM grants WHERE run_id = ? "
                              "GROUP BY resource_id ORDER BY n DESC LIMIT 1", [runs[-1].id]), key=lambda r: r["n"])
        out["access_s"], rows = _timed(lambda: queries.access(store, runs[-1], zone["resource_id"]))
        out["access_rows"] = len(rows)
        out["inventory_s"], rows = _timed(lambda: queries.inventory(store, runs[-1]))
        out["inventory_rows"] = len(rows)
        one = rows[len(rows) // 2]["id"]
        out["inventory_one_s"], _ = _timed(lambda: _filtered(queries, store, runs[-1], identity=one))
        out["inventory_can_s"], rows = _timed(lambda: _filtered(queries, store, runs[-1], can="identity.assume"))
        out["inventory_can_rows"] = len(rows)
        out["diff_s"], d = _timed(lambda: queries.diff(store, runs[0], runs[-1]))
        out["diff_changes"] = len(d["gained_power"]) + len(d["lost_power"])
        store.close()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def nightly(n: int, runs: int, fraction: float) -> list[dict[str, Any]]:
    """`runs` nightly runs of an n-identity estate changing by `fraction` each night."""
    sys.path.insert(0, str(HERE))
    from synthetic import build

    from commonmode.correlate import correlate
    from commonmode.store import RunStore

    inv, services = build(n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        store = RunStore.open(db, create=True)
        for k in range(runs):
            if k:
                inv = churn(inv, fraction, k)
            corr = correlate(inv, declared_services=services, now=NOW)
            spent = _record(store, corr, k)
            rows.append({"run": k + 1, "store_s": spent, "db_mb": _size(db, store) / 1e6})
        store.close()
    return rows


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return f"Machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def _child(args: list[str], src: Path | None = None) -> Any:
    env = dict(os.environ)
    if src is not None:  # that release's commonmode, ahead of the installed one
        env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [env.get("PYTHONPATH")])])
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _worktree(rev: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(HERE.parent), "worktree", "add", "--detach", str(into), rev], check=True,
                   capture_output=True)
    return into / "src"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["large", "nightly"])
    ap.add_argument("--identities", type=int, help="estate size (large: 100000; nightly: 10000)")
    ap.add_argument("--runs", type=int, default=30, help="nightly: how many runs")
    ap.add_argument("--churn", type=float, default=0.01, help="nightly: the share of grants and identities "
                    "edited per run")
    ap.add_argument("--baseline", metavar="REV", help="large: also measure the store of this git revision")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    n = args.identities or (100_000 if args.what == "large" else 10_000)
    if args.child:
        print(json.dumps(large(n) if args.what == "large" else nightly(n, args.runs, args.churn)))
        return
    child = [args.what, "--identities", str(n), "--runs", str(args.runs), "--churn", str(args.churn), "--child"]
    print(_machine() + "\n")
    if args.what == "nightly":
        rows = _child(child)
        print(f"{args.runs} nightly runs, {n:,} identities, {args.churn:.0%} of grants and identities edited "
              "per run\n")
        print("| run | store s | DB MB | growth MB |")
        print("|---:|---:|---:|---:|")
        for prev, r in zip([None, *rows], rows, strict=False):
            grow = r["db_mb"] - prev["db_mb"] if prev else r["db_mb"]
            print(f"| {r['run']} | {r['store_s']:.2f} | {r['db_mb']:.1f} | {grow:.2f} |")
        return
    results = {"this checkout": _child(child)}
    if args.baseline:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                results[args.baseline] = _child(child, _worktree(args.baseline, Path(tmp) / "wt"))
            finally:
                subprocess.run(["git", "-C", str(HERE.parent), "worktree", "remove", "--force",
                                str(Path(tmp) / "wt")], capture_output=True)
    any_r = next(iter(results.values()))
    print(f"{any_r['identities']:,} identities, {any_r['grants']:,} grants (incl. derived)\n")
    print(f"| measure | {' | '.join(results)} |")
    print(f"|---|{'---:|' * len(results)}")
    for key, label, fmt in [
        ("first_s", "first run: store s", "{:.2f}"), ("first_mb", "first run: DB MB", "{:.0f}"),
        ("unchanged_s", "unchanged re-run: store s", "{:.2f}"),
        ("unchanged_growth_mb", "unchanged re-run: growth MB", "{:.2f}"),
        ("changed_s", "1% of grants changed: store s", "{:.2f}"),
        ("changed_growth_mb", "1% of grants changed: growth MB", "{:.2f}"),
        ("access_s", "access (busiest resource) s", "{:.3f}"), ("inventory_s", "inventory (whole run) s", "{:.2f}"),
        ("inventory_one_s", "inventory --id (one identity) s", "{:.3f}"),
        ("inventory_can_s", "inventory --can identity.assume s", "{:.2f}"),
        ("diff_s", "diff first → last run s", "{:.2f}"),
        ("store_peak_rss_mb", "peak RSS through the three runs MB", "{:.0f}"),
        ("peak_rss_mb", "peak RSS with the queries MB", "{:.0f}"),
    ]:
        print(f"| {label} | {' | '.join(fmt.format(r[key]) for r in results.values())} |")


if __name__ == "__main__":
    main()
