"""The Azure inventory from a Snapshot: identities (identities.py), resources, stores and services
(resources.py), and the grants (grants.py) that Azure RBAC, Key Vault access policies and the directory give.
Pure: no calls, so a recorded or seeded snapshot builds the same inventory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from commonmode.connector import InventoryParts
from commonmode_azure.grants import build_grants
from commonmode_azure.identities import build_identities
from commonmode_azure.options import OPTIONS
from commonmode_azure.resources import build_resources
from commonmode_azure.snapshot import Snapshot


@dataclass(frozen=True)
class Options:
    """What the build takes from the config."""

    connector: str
    owner_tags: tuple[str, ...] = tuple(OPTIONS["owner_tags"].default)

    @classmethod
    def from_values(cls, name: str, values: Mapping[str, Any]) -> Options:
        return cls(connector=name, owner_tags=tuple(values.get("owner_tags") or ()))


def build(snap: Snapshot, opts: Options) -> InventoryParts:
    """The inventory of one run."""
    out = InventoryParts()
    if not snap.directory.read:
        out.gaps.append("Microsoft Graph was not read: service principals, applications, owners and federated "
                        "credentials are missing, and role assignments are shown by object id only")
    principals = build_identities(snap, out, opts.connector, opts.owner_tags)
    resources = build_resources(snap, out, opts.connector, opts.owner_tags)
    build_grants(snap, principals, resources, out, opts.connector)
    out.keep_first_identities()
    return out
