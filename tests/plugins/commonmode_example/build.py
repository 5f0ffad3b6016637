"""The snapshot → the typed inventory, with grants decided by policy.py. No network."""

from __future__ import annotations

from commonmode.connector import InventoryParts
from commonmode.kit import owner_from, parse_or_gap, parse_timestamp
from commonmode.model import Capability, Credential, Grant, Identity, Resource, ResourceKind
from commonmode_example.collect import Snapshot
from commonmode_example.policy import can_write, parse_scope


def build(s: Snapshot, *, connector: str, owner_keys: tuple[str, ...]) -> InventoryParts:
    out = InventoryParts()
    domain = f"dns-provider:example:{s.account}"
    zones = [Resource(id=f"example:{s.account}:zone/{z['name']}", kind=ResourceKind.DNS_ZONE, provider="example",
                      name=z["name"], connector=connector, names=(z["name"],),
                      control_plane=f"example:account:{s.account}",
                      fault_domains=(domain,)) for z in s.zones]
    out.resources.extend(zones)
    for t in s.tokens:
        tid = f"example:{s.account}:token/{t['id']}"
        labels = t.get("labels") or {}
        out.identities.append(Identity(id=tid, provider="example", kind="api-token", name=t.get("name") or t["id"],
                                       connector=connector, owner=owner_from(labels, owner_keys), tags=dict(labels),
                                       fault_domains=(domain,)))
        out.credentials.append(Credential(id=f"{tid}/secret", identity_id=tid, kind="api-token", connector=connector,
                                          created=parse_timestamp(t.get("created")),
                                          expires=parse_timestamp(t.get("expires")), fault_domains=(domain,)))
        scopes = []
        for written in t.get("scopes") or ():
            parsed = parse_or_gap(lambda w=written: parse_scope(w), None, out.gaps, "so what it allows is missing")
            if parsed is not None:
                scopes.append((*parsed, written))
        for zone in zones:
            decision = can_write(scopes, zone.name)
            if decision.granted:
                out.grants.append(Grant(identity_id=tid, capability=Capability.DNS_WRITE, resource_id=zone.id,
                                        via=decision.via, connector=connector, conditional=decision.conditional))
    return out
