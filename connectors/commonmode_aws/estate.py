"""What the build modules share while they turn snapshots into an inventory: the options, the action
table, the parsed principals and trust policies, the IAM relations escalation reads, the resources grants
are decided on, and the inventory being built. One typed object instead of ten accumulators passed around."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import commonmode_aws.policy as P
from commonmode.connector import InventoryParts
from commonmode.kit import parse_or_gap
from commonmode.model import Resource
from commonmode_aws.actions import ActionTable
from commonmode_aws.options import OPTIONS
from commonmode_aws.policy import Principal


@dataclass(frozen=True)
class Options:
    """The connector options the build reads; the defaults are the connector's own (`OPTIONS`)."""

    connector: str
    owner_tags: tuple[str, ...] = tuple(OPTIONS["owner_tags"].default)
    credential_tag: str = OPTIONS["credential_tag"].default
    discover_weighted: bool = OPTIONS["discover_weighted"].default

    @classmethod
    def from_values(cls, connector: str, values: Mapping[str, Any]) -> Options:
        """From the connector's option values, defaults filled in (`kit.option_values`)."""
        return cls(connector=connector, owner_tags=tuple(values["owner_tags"]),
                   credential_tag=values["credential_tag"], discover_weighted=bool(values["discover_weighted"]))


#: The condition-key family of a resource's tags (aws:ResourceTag/<key>), lower-cased as the engine keys are.
RESOURCE_TAG = "aws:resourcetag/"


@dataclass
class Target:
    """A resource the engine decides capabilities on."""

    resource: Resource
    resource_type: str  # capabilities.toml resource type
    arn: str  # what policies name
    account: str
    policy: tuple[P.Statement, ...] = ()
    records: list[tuple[Resource, str, str]] = field(default_factory=list)  # zone: (record, name, type)
    note: str | None = None  # something every grant on it must say (e.g. an unevaluated KMS key)
    context: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rcp_levels: tuple[tuple[P.Statement, ...], ...] | None = None  # the resource account's RCPs
    batches: dict[Any, Any] = field(default_factory=dict)  # what batches.BatchSearch shares between askers of a zone
    # Condition-key families known to be absent beyond `context`: every aws:ResourceTag/* a resource does not
    # carry (its tags were read), or all of them where the service does not authorize on tags.
    absent_prefixes: tuple[str, ...] = ()


@dataclass
class Estate:
    """Every scanned account, parsed: what the grant, assume and escalation rules read, and what they build."""

    opts: Options
    actions: ActionTable
    out: InventoryParts = field(default_factory=InventoryParts)
    principals: dict[str, Principal] = field(default_factory=dict)  # ARN → user or role
    trust: dict[str, tuple[P.Statement, ...]] = field(default_factory=dict)  # role ARN → its trust policy
    attached: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # managed policy → holders
    group_members: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # group ARN → users
    group_policies: dict[str, tuple[P.Statement, ...]] = field(default_factory=dict)  # group ARN → statements
    # account → [(type, ARN)]
    iam_targets: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    targets: list[Target] = field(default_factory=list)
    rcps: dict[str, tuple[tuple[P.Statement, ...], ...]] = field(default_factory=dict)  # account → RCP levels
    #: account → its OIDC identity providers (ARN → Url, ClientIDList), or None where they were not readable
    oidc_providers: dict[str, dict[str, dict[str, Any]] | None] = field(default_factory=dict)

    def statements(self, document: Any, name: str) -> tuple[P.Statement, ...]:
        """A policy document's statements; one that is not policy grammar is a gap, and gives nothing."""
        return parse_or_gap(lambda: P.parse_policy(document, name), (), self.out.gaps, "so grants it gives are missing")
