"""The typed raw snapshot of one account: what collect.py fetched, as the APIs returned it, for the build
modules to read. No SDK here, so the build is tested on snapshots written by hand."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class AccountData:
    """What collect.py fetched for one account."""

    account: str
    gaad: dict[str, list[Any]] = field(default_factory=dict)
    managed_documents: dict[str, Any] = field(default_factory=dict)  # AWS managed policy ARN → document
    access_keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # user name → keys
    zones: list[dict[str, Any]] = field(default_factory=list)
    zone_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # zone id → records
    health_checks: list[dict[str, Any]] = field(default_factory=list)
    health_check_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region → secrets
    certificates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region → certificates
    parameters: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region → SecureString parameters
    authorities: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region → ACM PCA CAs
    scp_levels: list[list[tuple[str, str]]] | None = None  # None: SCPs do not apply or could not be read
    rcp_levels: list[list[tuple[str, str]]] | None = None  # None: RCPs do not apply or could not be read
    #: the account's OIDC identity providers (ARN → Url, ClientIDList); None: not readable (every provider a
    #: trust names is then taken to exist, with the audiences its conditions name)
    oidc_providers: dict[str, dict[str, Any]] | None = None
    org_id: str | None = None  # the organization the account belongs to, when readable



def tags_of(items: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """Tags as the AWS APIs list them (`[{"Key": k, "Value": v}]`) as a mapping."""
    return {t["Key"]: t["Value"] for t in items or ()}
