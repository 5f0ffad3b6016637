"""Core scale benchmark: correlate + store on synthetic estates. Prints a Markdown table.

    python benchmarks/bench_core.py                 # 1k, 10k, 100k identities (10 grants each)
    python benchmarks/bench_core.py --sizes 1000 5000

Each size runs in its own process so peak RSS is that size's alone. No test depends on these numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sizes import each_size

HERE = Path(__file__).resolve().parent


def one(n: int) -> dict:
    """Measure one size in this process."""
    sys.path.insert(0, str(HERE))
    from synthetic import build

    from commonmode.connector import ConnectorResult
    from commonmode.correlate import correlate
    from commonmode.model import RunStatus
    from commonmode.store import RunStore

    t0 = time.perf_counter()
    inv, services = build(n)
    t1 = time.perf_counter()
    corr = correlate(inv, declared_services=services, now=datetime(2026, 11, 24, tzinfo=UTC))
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore.open(Path(tmp) / "bench.db", create=True)
        store.record_run(started=datetime.now(UTC), config="bench", correlation=corr, status=RunStatus.OK,
                         results=[ConnectorResult(connector="synthetic", provider="synthetic", status=RunStatus.OK)])
        t3 = time.perf_counter()
        size = (Path(tmp) / "bench.db").stat().st_size + sum(
            p.stat().st_size for p in Path(tmp).glob("bench.db-*"))
        store.close()
    return {
        "identities": len(inv.identities), "grants": len(corr.inventory.grants), "services": len(services),
        "findings": len(corr.findings), "generate_s": t1 - t0, "correlate_s": t2 - t1, "store_s": t3 - t2,
        "total_s": t3 - t1, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "db_mb": size / 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    rows = []
    for r in each_size(__file__, args.sizes):
        rows.append(r)
        print(f"measured {r['identities']} identities", file=sys.stderr)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    print(f"Machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}\n")
    print("| identities | grants (incl. derived) | services | findings | correlate s | store s | "
          "correlate+store s | peak RSS MB | DB MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['identities']:,} | {r['grants']:,} | {r['services']:,} | {r['findings']:,} | "
              f"{r['correlate_s']:.2f} | {r['store_s']:.2f} | {r['total_s']:.2f} | {r['peak_rss_mb']:.0f} | "
              f"{r['db_mb']:.0f} |")
    if len(rows) >= 2:
        xs = [math.log(r["identities"]) for r in rows]
        ys = [math.log(r["total_s"]) for r in rows]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
        print(f"\nFitted growth exponent of correlate+store time vs identities: {slope:.2f} (1.0 = linear)")


if __name__ == "__main__":
    main()
