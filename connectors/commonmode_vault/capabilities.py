"""capabilities.toml: which Vault capabilities on which API path give which commonmode capability. Data,
validated on load (importlib.resources: never the working directory); build modules ask it by route."""

from __future__ import annotations

from dataclasses import dataclass

from commonmode.kit.tables import Table, TableError, read_table
from commonmode.model import Capability
from commonmode_vault.policy import CAPABILITIES

CAPABILITIES_FILE = "capabilities.toml"
_KEYS = frozenset({"engine", "path", "capability", "vault_capabilities", "note", "roles"})


#: capabilities.toml cannot be read or is malformed (the message names the file and the entry), or the
#: connector asked for a route it does not list.
CapabilityTableError = TableError


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
        return [r for r in self.routes
                if r.engine == engine and (role_kind is None or not r.roles or role_kind in r.roles)]


def load_capabilities() -> CapabilityTable:
    """Read capabilities.toml from the package."""
    return parse_capabilities(read_table("commonmode_vault", CAPABILITIES_FILE))


def parse_capabilities(text: str, where: str = CAPABILITIES_FILE) -> CapabilityTable:
    """The table in `text`: known commonmode and Vault capability names, non-empty lists, no unknown keys.
    Entries with the same engine and path are one route, their ways in the file's order."""
    t = Table.parse(text, where)
    if set(t.data) != {"route"}:
        raise t.fail("route", "expected one or more [[route]] tables and nothing else")
    grouped: dict[tuple[str, str, frozenset[str]], list[Way]] = {}
    for i, e in enumerate(t.tables("route")):
        key = f"route[{i}]"
        t.known_keys(e, key, _KEYS)
        for name in ("engine", "path"):
            if not isinstance(e.get(name), str) or (name == "engine" and not e[name]):
                raise t.fail(f"{key}.{name}", "expected a string")
        cap = t.capability(e.get("capability"), f"{key}.capability")
        caps = t.strings(e.get("vault_capabilities"), f"{key}.vault_capabilities")
        if not set(caps) <= CAPABILITIES:
            raise t.fail(f"{key}.vault_capabilities",
                         f"expected Vault capabilities ({', '.join(sorted(CAPABILITIES))})")
        note = e.get("note", "")
        if not isinstance(note, str):
            raise t.fail(f"{key}.note", "expected a string")
        roles = frozenset(t.strings(e["roles"], f"{key}.roles")) if "roles" in e else frozenset()
        grouped.setdefault((e["engine"], e["path"], roles), []).append(Way(cap, caps, note))
    return CapabilityTable(routes=tuple(Route(engine=engine, path=path, ways=tuple(ways), roles=roles)
                                        for (engine, path, roles), ways in grouped.items()))
