"""Raw AWS snapshots (from collect.py) → the typed inventory, with grants decided by policy.py.

No network here: everything is computed from what collect.py fetched, so it is tested without a backend.
The work is split by concept: identities.py (IAM users and roles), resources.py (what capabilities act on),
services.py (failover discovery), grants.py (capabilities and sts:AssumeRole), batches.py (Route 53 change
batches), escalation.py (IAM writes and iam:PassRole), ids.py; estate.py holds what they share.
"""

from __future__ import annotations

from collections.abc import Sequence

from commonmode.connector import InventoryParts
from commonmode_aws.actions import ActionTable, load_actions
from commonmode_aws.escalation import escalation_edges
from commonmode_aws.estate import Estate, Options
from commonmode_aws.federation import federated_edges
from commonmode_aws.grants import assume_edges, capability_grants
from commonmode_aws.identities import add_identities
from commonmode_aws.resources import add_resources
from commonmode_aws.snapshot import AccountData

__all__ = ["Options", "build"]


def build(accounts: Sequence[AccountData], opts: Options, actions: ActionTable | None = None) -> InventoryParts:
    """The inventory of every scanned account, with grants and assume edges across them."""
    estate = Estate(opts=opts, actions=actions or load_actions())
    for acct in accounts:
        add_identities(estate, acct)
        estate.targets.extend(add_resources(estate, acct))
        estate.oidc_providers[acct.account] = acct.oidc_providers
    estate.rcps = {acct.account: tuple(tuple(s for name, content in level
                                             for s in estate.statements(content, f"RCP {name}"))
                                       for level in acct.rcp_levels)
                   for acct in accounts if acct.rcp_levels is not None}
    for t in estate.targets:
        t.rcp_levels = estate.rcps.get(t.account)
    capability_grants(estate)
    assume_edges(estate)
    federated_edges(estate)
    escalation_edges(estate)
    return estate.out
