"""What the Azure connector read: ARM and Graph objects exactly as the REST APIs return them (the management
SDKs' models serialized back to their REST shape), per subscription and for the tenant's directory. The build
reads only this, so a snapshot can be built from recorded or seeded JSON as well."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

#: Microsoft Graph's application id, the same in every tenant (its service principal holds Graph's app roles).
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


@dataclass
class SubscriptionData:
    """One subscription's ARM objects."""

    id: str
    name: str = ""
    tenant_id: str = ""
    role_assignments: list[Json] = field(default_factory=list)
    deny_assignments: list[Json] = field(default_factory=list)
    role_definitions: list[Json] = field(default_factory=list)
    identities: list[Json] = field(default_factory=list)  # user-assigned managed identities
    federated: dict[str, list[Json]] = field(default_factory=dict)  # identity ARM id -> federated credentials
    zones: list[Json] = field(default_factory=list)
    records: dict[str, list[Json]] = field(default_factory=dict)  # zone ARM id -> record sets
    private_zones: list[Json] = field(default_factory=list)
    private_records: dict[str, list[Json]] = field(default_factory=dict)
    profiles: list[Json] = field(default_factory=list)  # Traffic Manager profiles, endpoints inside
    vaults: list[Json] = field(default_factory=list)
    secrets: dict[str, list[Json]] = field(default_factory=dict)  # vault ARM id -> secret metadata
    frontdoors: list[Json] = field(default_factory=list)  # Microsoft.Cdn profiles (Front Door Standard/Premium)
    origin_groups: dict[str, list[Json]] = field(default_factory=dict)  # profile id -> origin groups
    origins: dict[str, list[Json]] = field(default_factory=dict)  # origin group id -> origins
    complete: bool = True  # False when a listing the grants rest on was not read (then no grant is trusted)


@dataclass
class Directory:
    """The tenant's Microsoft Graph objects the connector reads."""

    service_principals: list[Json] = field(default_factory=list)
    applications: list[Json] = field(default_factory=list)
    owners: dict[str, list[Json]] = field(default_factory=dict)  # application or service principal id -> owners
    federated: dict[str, list[Json]] = field(default_factory=dict)  # application id -> federated credentials
    member_of: dict[str, list[Json]] = field(default_factory=dict)  # service principal id -> its groups (only
    #                                                                  those that hold an assignment or a deny)
    app_roles: dict[str, list[Json]] = field(default_factory=dict)  # service principal id -> Graph app roles held
    directory_roles: list[Json] = field(default_factory=list)  # unifiedRoleAssignment
    directory_role_definitions: list[Json] = field(default_factory=list)
    read: bool = False  # whether the directory listings were read at all


@dataclass
class Snapshot:
    """Everything one connector run read."""

    tenant_id: str
    subscriptions: list[SubscriptionData] = field(default_factory=list)
    #: management group name -> its parent's name (the tenant root group's name is the tenant id)
    group_parents: dict[str, str] = field(default_factory=dict)
    #: subscription id -> the management group it sits in
    subscription_parents: dict[str, str] = field(default_factory=dict)
    directory: Directory = field(default_factory=Directory)
