"""Every read query's answers for every run of a store, as JSON: what a migration must not change.

    python tests/data/store_answers.py tests/data/store-v5.db | gzip -n > tests/data/store-v5-answers.json.gz

tests/test_history.py computes the same from the migrated store and compares (the answers of
store-v5.db were written by the release that wrote the file, commit 267584b).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from commonmode.render.report import render_json, report_data
from commonmode.render.review import review
from commonmode.render.tickets import tickets
from commonmode.store import RunStore
from commonmode.store import queries as q


def answers(store: RunStore) -> dict[str, Any]:
    """{run id: its answers}, and the diff of every pair of runs."""
    runs = store.runs()
    out: dict[str, Any] = {"runs": {}, "diffs": {}}
    for run in runs:
        ids = sorted({r["id"] for t in ("resources", "stores", "identities")
                      for r in store.rows(f"SELECT id FROM {t} WHERE run_id = ?", [run.id])})  # noqa: S608 — fixed names
        report = json.loads(render_json(report_data(store, run)))
        report.pop("generated", None)
        out["runs"][str(run.id)] = {
            "inventory": q.inventory(store, run), "services": q.services(store, run),
            "findings": q.findings(store, run), "review": review(store, run), "tickets": tickets(store, run),
            "access": {i: q.access(store, run, i) for i in ids}, "report": report,
        }
    for a in runs:
        for b in runs:
            if a.id != b.id:
                out["diffs"][f"{a.id}-{b.id}"] = q.diff(store, a, b)
    return out


if __name__ == "__main__":
    print(json.dumps(answers(RunStore.open(Path(sys.argv[1]))), sort_keys=True, default=str))
