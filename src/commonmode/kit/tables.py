"""A connector's data tables (capabilities.toml and the like): package data read with importlib.resources,
never from the working directory; missing or malformed is an error naming the file and the entry's key."""

from __future__ import annotations

import importlib.resources
import tomllib
from dataclasses import dataclass
from typing import Any

from commonmode.model import Capability


class TableError(ValueError):
    """A data table cannot be read or is malformed; the message names the file and the entry's key."""


def read_table(package: str, filename: str) -> str:
    """The text of `filename` in `package` (package data)."""
    try:
        return importlib.resources.files(package).joinpath(filename).read_text()
    except OSError as exc:
        raise TableError(f"{filename}: cannot be read ({exc})") from exc


@dataclass(frozen=True)
class Table:
    """One table's parsed TOML, with the checks entries share; each error names `where` and the key."""

    where: str
    data: dict[str, Any]

    @classmethod
    def parse(cls, text: str, where: str) -> Table:
        try:
            return cls(where, tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise TableError(f"{where}: not valid TOML ({exc})") from exc

    def fail(self, key: str, expected: str) -> TableError:
        """The error for `key` (`capability[3].actions`): what was expected."""
        return TableError(f"{self.where}: {key}: {expected}")

    def tables(self, name: str) -> list[dict[str, Any]]:
        """The `[[name]]` tables: one or more."""
        items = self.data.get(name)
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise self.fail(name, f"expected one or more [[{name}]] tables")
        return items

    def known_keys(self, entry: dict[str, Any], key: str, allowed: frozenset[str]) -> None:
        """Refuse keys an entry may not have."""
        if set(entry) - allowed:
            raise self.fail(key, f"unknown keys {sorted(set(entry) - allowed)} (expected {sorted(allowed)})")

    def strings(self, value: Any, key: str) -> tuple[str, ...]:
        """A non-empty list of non-empty strings."""
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "expected a non-empty list of strings")
        return tuple(value)

    def capability(self, value: Any, key: str) -> Capability:
        """A commonmode capability by its name (`dns.write`)."""
        try:
            return Capability(value)
        except ValueError:
            raise self.fail(key, "expected one of " + ", ".join(c.value for c in Capability)) from None
