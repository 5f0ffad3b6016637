"""The GCP inventory from a Snapshot: service accounts and keys (identities.py), resources, stores and services
(resources.py), and the grants (grants.py) that allow policies, deny policies, escalation and workload identity
federation give. Pure: no calls, so a recorded or seeded snapshot builds the same inventory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from commonmode.connector import InventoryParts
from commonmode_gcp.grants import build_grants
from commonmode_gcp.identities import build_identities
from commonmode_gcp.options import OPTIONS
from commonmode_gcp.resources import build_resources
from commonmode_gcp.snapshot import Snapshot


@dataclass(frozen=True)
class Options:
    """What the build takes from the config."""

    connector: str
    owner_labels: tuple[str, ...] = tuple(OPTIONS["owner_labels"].default)

    @classmethod
    def from_values(cls, name: str, values: Mapping[str, Any]) -> Options:
        return cls(connector=name, owner_labels=tuple(values.get("owner_labels") or ()))


def build(snap: Snapshot, opts: Options) -> InventoryParts:
    """The inventory of one run."""
    out = InventoryParts()
    accounts = build_identities(snap, out, opts.connector, opts.owner_labels)
    built = build_resources(snap, out, opts.connector, opts.owner_labels)
    build_grants(snap, accounts, built, out, opts.connector)
    out.keep_first_identities()
    return out
