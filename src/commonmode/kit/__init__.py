"""The connector kit: what every connector shares, so that each one has the same shape (docs/connectors.md).

- `KitConnector`: the class a connector subclasses (settings, option values, a new Collection per run).
- `Collection`: one run: `attempt` (a failure becomes a recorded gap, classified by the connector's `Errors`
  hook: absent, gap or fatal), progress, call counting, the deadline, and `finish()` → ConnectorResult.
- `CallPolicy`: timeouts, retries with backoff and the deadline for a client; `CallCounter`; `SlidingWindow`:
  at most N requests in any window of T seconds (a polite rate per target and API).
- `Tri` and `Decision`: the three-valued answer of a permission engine, with its `via`.
- `ReadOnlyViolation`, `PolicyError`; `parse_or_gap`, `parse_timestamp`, `owner_from`, `option_values`.
- `ids`: native ids of every provider (ARNs, Azure and GCP ids, Vault paths), and the shared ids of external
  workloads (`github:repo:…`, `github:any`, `k8s:…`, `oidc:…`); `workloads`: such a workload as an Identity,
  the same whichever connector meets it (kind, name, `broad_trust`, the CI system as its fault domain).
- `tables`: a connector's data tables (capabilities.toml) read as package data and checked, errors naming the key.

The kit imports the core model and nothing of any connector; connectors import the kit.
"""

from __future__ import annotations

from commonmode.kit import ids, tables
from commonmode.kit.base import KitConnector
from commonmode.kit.client import CallCounter, CallPolicy
from commonmode.kit.collection import Collection, Errors, Failure
from commonmode.kit.decision import Decision, Tri
from commonmode.kit.errors import DeadlineReached, PolicyError, ReadOnlyViolation
from commonmode.kit.throttle import SlidingWindow
from commonmode.kit.values import option_values, owner_from, owner_in_description, parse_or_gap, parse_timestamp

__all__ = ["CallCounter", "CallPolicy", "Collection", "DeadlineReached", "Decision", "Errors", "Failure",
           "KitConnector", "PolicyError",
           "ReadOnlyViolation", "SlidingWindow", "Tri", "ids", "option_values", "owner_from", "owner_in_description",
           "parse_or_gap", "parse_timestamp",
           "tables"]
