"""Regenerate reports/sample/: every output of one demo run, with the values that differ between runs
(OpenBao's random ids, timestamps, the fingerprints and ticket ids derived from them) replaced by stable
placeholders, so the committed sample changes only when the outputs do. The Azure and GCP parts' ids (seeded:
the same every run) are kept as they are, so the sample's Azure and GCP evidence reads as a user's would: Azure's
GUIDs look like OpenBao's and are named by `seeded_ids`; GCP's (project, folder and organization numbers, key ids)
match no volatile pattern.

    python scripts/sample.py [DIR]        # DIR defaults to this repository's reports/sample

A maintainer's script, not part of the package (it is not in the wheel); needs the demo extra.
tests/test_demo.py runs it into a temporary folder and compares with the committed sample.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

FILES = ("report.html", "report.md", "report.json", "review.md", "tickets.md", "tickets-jira.csv",
         "tickets-github.json")

_VOLATILE = [
    # OpenBao's ids, also where a label shortened them ("…52b0a1e-d377-…")
    (re.compile(r"(?<![0-9a-f])[0-9a-f]{1,8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "uuid"),
    (re.compile(r"(?<=accessors/)[A-Za-z0-9.]{20,}"), "accessor"),
    (re.compile(r"\bCM-[0-9a-f]{10}\b"), "ticket"),
    (re.compile(r"(?<![0-9a-f])[0-9a-f]{24}(?![0-9a-f])"), "fingerprint"),
]
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z)?")
_DATE = re.compile(r"\b20\d{2}-\d{2}-\d{2}\b")


class Normalizer:
    """Stable placeholders for volatile values, numbered in order of first appearance across files; the
    values in `keep` (ids that are the same every run) stay."""

    def __init__(self, keep: frozenset[str] = frozenset()) -> None:
        self.seen: dict[str, str] = {}
        self.keep = keep

    def _sub(self, kind: str) -> Callable[[re.Match[str]], str]:
        def repl(m: re.Match[str]) -> str:
            value = m.group(0)
            if value in self.keep:
                return value
            if value not in self.seen:
                n = sum(1 for v in self.seen.values() if v.startswith(f"[{kind}-"))
                self.seen[value] = f"[{kind}-{n + 1}]"
            return self.seen[value]
        return repl

    def __call__(self, text: str) -> str:
        for pattern, kind in _VOLATILE:
            text = pattern.sub(self._sub(kind), text)
        text = _TIME.sub("[time]", text)
        return _DATE.sub("[date]", text)


def seeded_ids() -> frozenset[str]:
    """Every GUID of the demo's Azure tenant: it is seeded (azure_part.SEED), so they are the same every run."""
    from commonmode_sandbox import azure_part

    estate = azure_part.seed().estate
    text = repr({k: v for k, v in vars(estate).items() if isinstance(v, dict | list | str)})
    return frozenset(_VOLATILE[0][0].findall(text))


def generate(target: Path, say: Callable[[str], None] = lambda s: None) -> list[Path]:
    """Run the demo in a temporary directory and write the normalized outputs into `target`."""
    from commonmode.render import tickets as tk
    from commonmode.store import RunStore
    from commonmode_sandbox.demo import run_demo

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        result = run_demo(out, say)
        store = RunStore.open(result.database)
        try:
            run = store.resolve_run(None)
            items = tk.tickets(store, run)
            from commonmode.render import report as rp

            rp.write(store, run, "json", out)
        finally:
            store.close()
        (out / "tickets-jira.csv").write_text(tk.to_jira_csv(items))
        (out / "tickets-github.json").write_text(tk.to_github_json(items))
        normalize = Normalizer(seeded_ids())
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for name in FILES:
            text = normalize((out / name).read_text())
            (target / name).write_text(text)
            written.append(target / name)
    return written


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "reports" / "sample"
    for path in generate(target, lambda s: print(s, file=sys.stderr)):
        print(path)


if __name__ == "__main__":
    main()
