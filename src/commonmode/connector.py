"""The Connector protocol, its result, and the entry-point registry.

Built-in connectors are registered through the `commonmode.connectors` entry-point group of this very
distribution, exactly as a third-party one would be, and are imported only when a config names them
(their SDKs are heavy). A built-in wins a name clash; the shadowed plugin is never imported.
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from commonmode.errors import UsageError
from commonmode.model import Credential, Grant, Identity, Inventory, Resource, RunStatus, Service, Store

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "commonmode.connectors"
BUILTIN_DISTRIBUTION = "commonmode"


@dataclass(frozen=True, kw_only=True)
class Option:
    """One connector-specific config key: its type, whether it is required, and what it means."""

    type: str  # "string" | "integer" | "boolean" | "strings" (list of strings) | "table"
    help: str
    required: bool = False
    default: Any = None
    minimum: int | None = None  # integers: the accepted range, said in the error
    maximum: int | None = None
    url: bool = False  # strings: an http(s) URL with a host
    names_a_secret: bool = False  # the name of an env var or profile holding a credential: never echo the value

    def check(self, value: object) -> bool:
        """True when `value` (as parsed by tomllib) has this option's type (and range, and URL shape)."""
        if self.type == "string":
            return isinstance(value, str) and (not self.url or _is_url(value))
        if self.type == "integer":
            return (isinstance(value, int) and not isinstance(value, bool)
                    and (self.minimum is None or value >= self.minimum)
                    and (self.maximum is None or value <= self.maximum))
        if self.type == "boolean":
            return isinstance(value, bool)
        if self.type == "strings":
            return isinstance(value, list) and all(isinstance(v, str) for v in value)
        if self.type == "table":
            return isinstance(value, dict)
        raise ValueError(f"unknown option type {self.type!r}")

    @property
    def expected(self) -> str:
        """The type (and range) as said in an error message."""
        if self.type == "integer" and (self.minimum is not None or self.maximum is not None):
            if self.maximum is None:
                return f"an integer of at least {self.minimum}"
            if self.minimum is None:
                return f"an integer of at most {self.maximum}"
            return f"an integer from {self.minimum} to {self.maximum}"
        if self.url:
            return "an http:// or https:// URL with a host (e.g. https://vault.example.com:8200)"
        return {"strings": "a list of strings", "integer": "an integer", "table": "a table"}.get(
            self.type, f"a {self.type}"
        )


def _is_url(value: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 — raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in value)


@dataclass(frozen=True, kw_only=True)
class ConnectorSettings:
    """One `[[<connector>]]` table of the config, validated against the connector's options."""

    name: str
    connector_type: str
    options: Mapping[str, Any]
    fault_domains: tuple[str, ...] = ()
    config_dir: Path = field(default_factory=Path.cwd)
    where: str = ""  # "commonmode.toml: aws[1]" for messages
    timeout: int = 30  # seconds to wait for one answer (connecting: at most CONNECT_TIMEOUT)
    deadline: int = 900  # seconds the whole collection may take
    deadline_at: float | None = None  # time.monotonic() past which the connector stops; set by the scan

    @property
    def connect_timeout(self) -> int:
        """Seconds to wait for a connection: the timeout, at most CONNECT_TIMEOUT."""
        return min(self.timeout, CONNECT_TIMEOUT)

    def past_deadline(self) -> bool:
        """Whether the scan's deadline for this connector has passed (then it stops and records what it
        did not read)."""
        return self.deadline_at is not None and time.monotonic() >= self.deadline_at


#: Seconds to wait for a TCP (and TLS) connection, whatever the read timeout.
CONNECT_TIMEOUT = 10


#: progress(description, done, total) — total None when unknown.
ProgressFn = Callable[[str, int, "int | None"], None]


def no_progress(description: str, done: int, total: int | None) -> None:
    """A ProgressFn that shows nothing."""


@dataclass
class InventoryParts:
    """An inventory while a connector builds it: lists to append to, and the gaps met on the way."""

    identities: list[Identity] = field(default_factory=list)
    credentials: list[Credential] = field(default_factory=list)
    stores: list[Store] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)

    def keep_first_identities(self) -> None:
        """Keep the first identity of each id: a build may meet one twice (bound somewhere as a member, then
        listed), and the first is the one it described."""
        seen: set[str] = set()
        unique = []
        for identity in self.identities:
            if identity.id not in seen:
                seen.add(identity.id)
                unique.append(identity)
        self.identities = unique

    def inventory(self) -> Inventory:
        """The frozen Inventory of what was built (gaps go into the ConnectorResult)."""
        return Inventory(identities=tuple(self.identities), credentials=tuple(self.credentials),
                         stores=tuple(self.stores), resources=tuple(self.resources), grants=tuple(self.grants),
                         services=tuple(self.services), aliases=dict(self.aliases))


@dataclass(frozen=True, kw_only=True)
class ConnectorResult:
    """What one connector instance saw, and exactly what it could not see.

    status is `ok`, `partial` (some calls were refused; `gaps` says which) or `failed` (nothing usable).
    A gap is never turned into an empty list: it is recorded here and makes the run partial.
    """

    connector: str
    provider: str
    status: RunStatus
    connector_type: str = ""  # the entry-point name; filled in by the scan
    inventory: Inventory = field(default_factory=Inventory)
    gaps: tuple[str, ...] = ()
    stats: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status is not RunStatus.OK and not self.gaps:
            raise ValueError(f"connector {self.connector}: a {self.status.value} result must say what is missing")


@runtime_checkable
class Connector(Protocol):
    """What a connector class provides. See docs/connectors.md for writing one."""

    provider: ClassVar[str]
    options: ClassVar[Mapping[str, Option]]

    def __init__(self, settings: ConnectorSettings) -> None: ...

    def collect(self, progress: ProgressFn) -> ConnectorResult:
        """Enumerate the estate read-only and return the typed inventory."""
        ...


@dataclass(frozen=True)
class RegisteredConnector:
    """An entry point that has not been imported yet."""

    name: str
    distribution: str
    entry_point: importlib.metadata.EntryPoint

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION


class Registry:
    """Connector types by name, discovered from entry points, loaded on first use."""

    def __init__(self, entries: Mapping[str, RegisteredConnector], shadowed: Sequence[str] = ()) -> None:
        self._entries = dict(entries)
        self._loaded: dict[str, type[Connector]] = {}
        self.shadowed = tuple(shadowed)

    @classmethod
    def discover(cls) -> Registry:
        """Read the `commonmode.connectors` entry points without importing any of them."""
        return cls.from_entry_points(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))

    @classmethod
    def from_entry_points(cls, eps: Iterable[Any]) -> Registry:
        """Build the registry from entry points: a built-in wins a name clash, otherwise the first
        distribution (by name) does; the shadowed ones are listed, never imported."""
        entries: dict[str, RegisteredConnector] = {}
        shadowed: list[str] = []
        for ep in sorted(eps, key=lambda e: (e.name, e.dist.name if e.dist is not None else "")):
            dist = ep.dist.name if ep.dist is not None else "?"
            candidate = RegisteredConnector(ep.name, dist, ep)
            current = entries.get(ep.name)
            if current is None:
                entries[ep.name] = candidate
            elif candidate.builtin and not current.builtin:
                shadowed.append(f"{current.name} from {current.distribution}")
                entries[ep.name] = candidate
            elif current.distribution != candidate.distribution or current.entry_point.value != ep.value:
                shadowed.append(f"{candidate.name} from {candidate.distribution}")
        for what in shadowed:
            log.warning("connector %s is shadowed by another of the same name and is not loaded", what)
        return cls(entries, shadowed)

    def names(self) -> list[str]:
        """Registered connector type names, sorted."""
        return sorted(self._entries)

    def entry(self, name: str) -> RegisteredConnector | None:
        """The registration for `name`, without importing it."""
        return self._entries.get(name)

    def load(self, name: str) -> type[Connector]:
        """Import the connector class registered as `name`."""
        if name in self._loaded:
            return self._loaded[name]
        entry = self._entries.get(name)
        if entry is None:
            installed = ", ".join(self.names()) or "none"
            raise UsageError(f"no connector named {name!r} is installed (installed: {installed})")
        try:
            cls: type[Connector] = entry.entry_point.load()  # checked below: it has what a Connector has
        except ImportError as exc:
            raise UsageError(
                f"connector {name!r} cannot be imported ({exc}); install its extra: pip install 'commonmode[{name}]'"
            ) from exc
        for attr in ("provider", "options", "collect"):
            if not hasattr(cls, attr):
                raise UsageError(f"connector {name!r} ({entry.entry_point.value}) has no {attr!r}: not a Connector")
        self._loaded[name] = cls
        return cls
