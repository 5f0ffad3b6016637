"""`commonmode simulate` output: one scenario as one line per service, several as a service × scenario matrix;
JSON as documented in README ("simulate"), Markdown for a review meeting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from commonmode.correlate.failover import BACKUP_DOWN, CREDENTIAL, FAILS_OVER, UNRECORDED, WORKLOAD, Answer
from commonmode.render.markdown import code, text
from commonmode.simulate import Result

#: A verdict in a matrix cell.
SHORT = {FAILS_OVER: "fails over", BACKUP_DOWN: "backup down"}


def short(verdict: str) -> str:
    return SHORT.get(verdict, "nobody can switch")


def detail(a: Answer) -> str:
    """The first identity that can still switch (and how many more), or what blocks it."""
    if a.can_switch:
        # the surest first: one that signs in with a credential, then a workload, then one with none recorded
        order = {CREDENTIAL: 0, WORKLOAD: 1, UNRECORDED: 2}
        first = min(a.can_switch, key=lambda s: order.get(s.starts, 3))
        more = f" (+{len(a.can_switch) - 1} more)" if len(a.can_switch) > 1 else ""
        note = "" if first.starts == CREDENTIAL else f" ({first.starts})"
        return f"via {first.identity}{note}{more}"
    return ("blocked by " + ", ".join(a.blocked_by)) if a.blocked_by else "nobody could before either"


def rows(results: Sequence[Result]) -> list[dict[str, Any]]:
    """One row per scenario and service (table and CSV)."""
    return [{"scenario": r.scenario.name, "service": a.service, "verdict": a.verdict, "backup_up": a.backup_up,
             "detail": detail(a), "can_switch": [s.identity for s in a.can_switch],
             "blocked_by": list(a.blocked_by)} for r in results for a in r.answers]


def matrix(results: Sequence[Result]) -> list[dict[str, Any]]:
    """One row per service, one cell per scenario (its short verdict)."""
    services = [a.service for a in results[0].answers] if results else []
    return [{"service": name, **{r.scenario.name: short(r.answers[i].verdict) for r in results}}
            for i, name in enumerate(services)]


def to_markdown(results: Sequence[Result], run_id: int) -> str:
    """For a review meeting: the matrix (several scenarios), then each scenario's services with who can still
    switch traffic to the backup, or what took it or them away."""
    out = [f"# What if …: run {run_id}", ""]
    if len(results) > 1:
        out += ["| service | " + " | ".join(text(r.scenario.name) for r in results) + " |",
                "|---|" + "---|" * len(results)]
        out += ["| " + " | ".join([text(row["service"]), *(row[r.scenario.name] for r in results)]) + " |"
                for row in matrix(results)]
        out.append("")
    for r in results:
        out += [f"## {text(r.scenario.name)}", "", "Down: " + (", ".join(code(d) for d in r.down) or "nothing"), ""]
        out += ["| service | verdict | who can still switch, or what blocks it |", "|---|---|---|"]
        for a in r.answers:
            who = ", ".join(code(s.identity) for s in a.can_switch) if a.can_switch else (
                "blocked by " + ", ".join(code(b) for b in a.blocked_by) if a.blocked_by else "nobody, before either")
            out.append(f"| {text(a.service)} | **{a.verdict}** | {who} |")
        out.append("")
    return "\n".join(out)
