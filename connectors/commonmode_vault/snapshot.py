"""The typed raw snapshot of one cluster: what collect.py read, as Vault's API returned it, for the build
modules. No SDK here, so the build is tested on snapshots written by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClusterData:
    """What the connector read of one cluster, as the API returned it (collect.py fills it, build.py reads it)."""

    cluster_id: str = ""
    cluster_name: str = ""
    auth: dict[str, dict[str, Any]] = field(default_factory=dict)  # "approle/" → {type, accessor}
    mounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)
    issuers: dict[str, str] = field(default_factory=dict)  # jwt/oidc mount → the issuer its config trusts
    roles: list[tuple[str, str, str, str, dict[str, Any]]] = field(default_factory=list)  # mount, type, sub, name, data
    secret_ids: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # mount, role, accessor lookup
    # (mount, role) → role_id: an identifier that names the role's entity aliases, used only to match them.
    # Never put into an id, tag, gap or log line (repr=False keeps it out of reprs too).
    role_ids: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    entities: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    kv: dict[str, tuple[int, list[tuple[str, Any]]]] = field(default_factory=dict)  # mount → (version, [(key, meta)])
    pki_roles: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    pki_issuers: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    pki_defaults: dict[str, str] = field(default_factory=dict)  # mount → default issuer id (config/issuers)
    engine_roles: list[tuple[str, str, str, str, dict[str, Any]]] = field(default_factory=list)
