"""Raw Vault data (collect.py's snapshot) → the typed inventory, with grants decided by policy.py. No network.

Split by concept: resources.py (stores, KV secrets, secret-engine roles), pki.py (issuers, roles, issuing
routes), identities.py (entities, auth roles, tokens), grants.py (what each policy set reaches);
capabilities.toml says what a Vault capability on a path gives; estate.py holds what they share.
"""

from __future__ import annotations

from functools import partial

from commonmode.connector import InventoryParts
from commonmode.kit import ids, parse_or_gap
from commonmode_vault.capabilities import CapabilityTable, load_capabilities
from commonmode_vault.estate import Estate, Options
from commonmode_vault.grants import add_grants
from commonmode_vault.identities import add_identities
from commonmode_vault.policy import Rule, Stanza, parse_policy
from commonmode_vault.resources import add_resources, add_stores
from commonmode_vault.snapshot import ClusterData

__all__ = ["ClusterData", "Options", "Rule", "build"]


def build(data: ClusterData, opts: Options, table: CapabilityTable | None = None) -> InventoryParts:
    """The inventory of one cluster."""
    estate = Estate(opts=opts, table=table or load_capabilities(), base=ids.vault_id(opts.connector),
                    cluster=[f"vault:cluster:{data.cluster_id}"] if data.cluster_id else [])
    documents: dict[str, list[Stanza]] = {}
    for name, text in data.policies.items():
        doc = parse_or_gap(partial(parse_policy, text, name), None, estate.out.gaps,
                           "so the access it gives is missing")
        if doc is not None:
            documents[name] = doc
    add_stores(estate, data)
    targets = add_resources(estate, data)
    principals = add_identities(estate, data)
    add_grants(estate, principals, documents, targets, data)
    granted = {g.resource_id for g in estate.out.grants}
    estate.out.resources.extend(r for rid, r in estate.lazy.items() if rid in granted)
    return estate.out
