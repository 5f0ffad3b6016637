"""capabilities.toml: which Vault capabilities on which API path give which commonmode capability. Data,
validated on load (importlib.resources: never the working directory); build modules ask it by route."""

from __future__ import annotations

import importlib.resources
import tomllib
from dataclasses import dataclass
from typing import Any

from commonmode.model import Capability
from commonmode_vault.policy import CAPABILITIES

CAPABILITIES_FILE = "capabilities.toml"
_KEYS = frozenset({"engine", "path", "capability", "vault_capabilities", "note", "roles"})


class CapabilityTableError(ValueError):
    """capabilities.toml cannot be read or is malformed (the message names the file and the entry), or the
    connector asked for a route it does not list."""


@dataclass(frozen=True)
class Way:
    """Vault capabilities on a path that give a commonmode capability; a `note` makes the grant conditional
    and says why (what the capabilities cannot do on this path)."""

    capability: Capability
    vault_caps: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Route:
    """One API path pattern of an engine and every way it gives a capability, in the file's order."""

    engine: str
    path: str  # after the mount, with {placeholders}
    ways: tuple[Way, ...]
    roles: frozenset[str] = frozenset()  # secret-engine role kinds it serves (empty: all)

    def at(self, mount: str, **values: str) -> str:
        """The API path for these values (`mount` included, no leading slash)."""
        return mount + self.path.format(**values)


@dataclass(frozen=True)
class CapabilityTable:
    """capabilities.toml, parsed and validated."""

    routes: tuple[Route, ...]

    def ways(self, engine: str, path: str) -> tuple[Way, ...]:
        """The ways of the route `path` (its pattern, as written in the file) of `engine`."""
        for r in self.routes:
            if r.engine == engine and r.path == path:
                return r.ways
        raise CapabilityTableError(f"{CAPABILITIES_FILE}: no route {path!r} for engine {engine!r}")

    def for_engine(self, engine: str, role_kind: str | None = None) -> list[Route]:
        """The routes of `engine` (serving `role_kind`, for secret-engine roles), in the file's order."""
        return [r for r in self.routes if r.engine == engine and (role_kind is None or not r.roles or role_kind in r.roles)]


def load_capabilities() -> CapabilityTable:
    """Read capabilities.toml from the package."""
    try:
        text = importlib.resources.files("commonmode_vault").joinpath(CAPABILITIES_FILE).read_text()
    except OSError as exc:
        raise CapabilityTableError(f"{CAPABILITIES_FILE}: cannot be read ({exc})") from exc
    return parse_capabilities(text)


def parse_capabilities(text: str, where: str = CAPABILITIES_FILE) -> CapabilityTable:
    """The table in `text`: known commonmode and Vault capability names, non-empty lists, no unknown keys.
    Entries with the same engine and path are one route, their ways in the file's order."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CapabilityTableError(f"{where}: not valid TOML ({exc})") from exc

    def fail(key: str, expected: str) -> CapabilityTableError:
        return CapabilityTableError(f"{where}: {key}: {expected}")

    entries = data.get("route")
    if set(data) != {"route"} or not isinstance(entries, list) or not entries or \
            not all(isinstance(e, dict) for e in entries):
        raise fail("route", "expected one or more [[route]] tables and nothing else")
    grouped: dict[tuple[str, str, frozenset[str]], list[Way]] = {}
    for i, e in enumerate(entries):
        key = f"route[{i}]"
        if set(e) - _KEYS:
            raise fail(key, f"unknown keys {sorted(set(e) - _KEYS)} (expected {sorted(_KEYS)})")
        for field in ("engine", "path"):
            if not isinstance(e.get(field), str) or (field == "engine" and not e[field]):
                raise fail(f"{key}.{field}", "expected a string")
        try:
            cap = Capability(e.get("capability"))
        except ValueError:
            raise fail(f"{key}.capability", "expected one of " + ", ".join(c.value for c in Capability)) from None
        caps = _strings(e.get("vault_capabilities"), fail, f"{key}.vault_capabilities")
        if not set(caps) <= CAPABILITIES:
            raise fail(f"{key}.vault_capabilities", f"expected Vault capabilities ({', '.join(sorted(CAPABILITIES))})")
        note = e.get("note", "")
        if not isinstance(note, str):
            raise fail(f"{key}.note", "expected a string")
        roles = frozenset(_strings(e["roles"], fail, f"{key}.roles")) if "roles" in e else frozenset()
        grouped.setdefault((e["engine"], e["path"], roles), []).append(Way(cap, caps, note))
    return CapabilityTable(routes=tuple(Route(engine=engine, path=path, ways=tuple(ways), roles=roles)
                                        for (engine, path, roles), ways in grouped.items()))


def _strings(value: Any, fail: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise fail(key, "expected a non-empty list of strings")
    return tuple(value)
