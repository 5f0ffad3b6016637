"""Standards references for each rule, from the package's standards.toml (one data table)."""

from __future__ import annotations

import importlib.resources
import tomllib
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Reference:
    id: str
    framework: str
    title: str


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, Reference], dict[str, tuple[str, ...]]]:
    data = tomllib.loads(importlib.resources.files("commonmode").joinpath("standards.toml").read_text())
    refs = {r["id"]: Reference(r["id"], r["framework"], r["title"]) for r in data["reference"]}
    rules = {rule: tuple(ids) for rule, ids in data["rules"].items()}
    for rule, ids in rules.items():
        missing = [i for i in ids if i not in refs]
        if missing:
            raise ValueError(f"standards.toml: rules.{rule}: unknown references {missing}")
    return refs, rules


def references(rule: str) -> list[Reference]:
    """The references a rule's findings are reported against."""
    refs, rules = _table()
    return [refs[i] for i in rules.get(rule, ())]


def rules_with_references() -> dict[str, tuple[str, ...]]:
    return dict(_table()[1])
