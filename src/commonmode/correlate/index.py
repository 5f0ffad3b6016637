"""Lookup tables over an inventory, built once per correlation in linear time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from commonmode.model import Capability, Credential, Grant, Identity, Inventory, Resource, ResourceKind, Store


class Index:
    """Entities by id, grants by resource and by identity, assume edges by target."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.identities: dict[str, Identity] = {i.id: i for i in inventory.identities}
        self.resources: dict[str, Resource] = {r.id: r for r in inventory.resources}
        self.stores: dict[str, Store] = {s.id: s for s in inventory.stores}
        self.grants_on: dict[str, list[Grant]] = defaultdict(list)
        self.grants_of: dict[str, list[Grant]] = defaultdict(list)
        self.assumers: dict[str, list[Grant]] = defaultdict(list)  # target identity -> grants that reach it
        for g in inventory.grants:
            self._add_grant(g)
        self.credentials: dict[str, Credential] = {c.id: c for c in inventory.credentials}
        self.credentials_of: dict[str, list[Credential]] = defaultdict(list)
        for c in inventory.credentials:
            self.credentials_of[c.identity_id].append(c)
        self.zones_by_apex: dict[str, list[Resource]] = defaultdict(list)
        self.exact_issuers: dict[str, list[Resource]] = defaultdict(list)
        self.suffix_issuers: dict[str, list[Resource]] = defaultdict(list)
        for r in inventory.resources:
            if r.kind is ResourceKind.DNS_ZONE:
                for apex in r.names:
                    self.zones_by_apex[apex].append(r)
            elif r.kind is ResourceKind.CERT_ISSUER:
                for pattern in r.names:
                    if pattern.startswith("*."):
                        self.suffix_issuers[pattern[2:]].append(r)
                    else:
                        self.exact_issuers[pattern].append(r)

    def _add_grant(self, g: Grant) -> None:
        self.grants_on[g.resource_id].append(g)
        self.grants_of[g.identity_id].append(g)
        if g.capability is Capability.IDENTITY_ASSUME:
            self.assumers[g.resource_id].append(g)

    def add_grants(self, grants: Iterable[Grant]) -> None:
        """Index grants derived after construction."""
        for g in grants:
            self._add_grant(g)

    def entity(self, entity_id: str) -> Identity | Resource | Store | None:
        """Whatever has this id."""
        return self.identities.get(entity_id) or self.resources.get(entity_id) or self.stores.get(entity_id)

    def connector_of(self, entity_id: str) -> str | None:
        """The connector that reported an entity, or None when nobody did."""
        e = self.entity(entity_id)
        return e.connector if e is not None else None

    def zones_containing(self, name: str) -> list[Resource]:
        """Zones whose apex is `name` or one of its parent domains (closest first)."""
        out: list[Resource] = []
        labels = name.split(".")
        for i in range(len(labels)):
            out.extend(self.zones_by_apex.get(".".join(labels[i:]), ()))
        return out

    def issuers_for(self, name: str) -> list[Resource]:
        """Issuing paths whose allowed names cover `name`: exact, or `*.suffix` for any name below suffix."""
        out = list(self.exact_issuers.get(name, ()))
        labels = name.split(".")
        for i in range(1, len(labels)):
            out.extend(self.suffix_issuers.get(".".join(labels[i:]), ()))
        return out
