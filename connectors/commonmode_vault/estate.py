"""What the build modules share while they turn one cluster's snapshot into an inventory: the options, the
capability table, the inventory being built, the cluster's id base and fault domains, its stores, and the
resources reported only when a grant reaches them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from commonmode.connector import InventoryParts
from commonmode.model import Resource, Store
from commonmode_vault.capabilities import CapabilityTable, Way
from commonmode_vault.options import OPTIONS


@dataclass(frozen=True)
class Options:
    """The connector options the build reads; the defaults are the connector's own (`OPTIONS`)."""

    connector: str
    owner_keys: tuple[str, ...] = tuple(OPTIONS["owner_keys"].default)
    credential_keys: tuple[str, ...] = tuple(OPTIONS["credential_keys"].default)
    long_lived_days: int = OPTIONS["long_lived_days"].default
    now: datetime | None = None

    @classmethod
    def from_values(cls, connector: str, values: Mapping[str, Any]) -> Options:
        """From the connector's option values, defaults filled in (`kit.option_values`)."""
        return cls(connector=connector, owner_keys=tuple(values["owner_keys"]),
                   credential_keys=tuple(values["credential_keys"]), long_lived_days=int(values["long_lived_days"]))


@dataclass(frozen=True)
class Target:
    """A path the engine decides capabilities on: the Vault API path, its engine and what a capability there
    means (its ways, from capabilities.toml)."""

    path: str  # API path, no leading slash
    resource_id: str
    engine: str  # kv1/kv2, else the mount's type (pki, aws, system, approle...): the evaluator's rules depend on it
    mount: str  # the mount the path is under ("secret/"): where its API starts
    ways: tuple[Way, ...]
    assumes: tuple[str, ...] = ()  # cloud identities minted by reading this path (secret engines)
    explain: str = ""  # what the path does, added to the grant's via


@dataclass
class Estate:
    """One cluster while it is built."""

    opts: Options
    table: CapabilityTable
    base: str  # vault://<connector>
    cluster: list[str]  # fault domains of everything in it
    out: InventoryParts = field(default_factory=InventoryParts)
    stores: dict[str, Store] = field(default_factory=dict)  # mount → store
    lazy: dict[str, Resource] = field(default_factory=dict)  # reported only if some grant reaches them
