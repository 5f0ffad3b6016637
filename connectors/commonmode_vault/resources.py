"""Secret stores and secrets: KV mounts and their keys (metadata only), the aws/azure/gcp/database secret
engines' roles and the cloud identities reading them mints, and the paths grants are decided on."""

from __future__ import annotations

import re
from typing import Any

from commonmode.kit import ids, owner_from, parse_timestamp
from commonmode.model import Credential, Resource, ResourceKind, Store
from commonmode_vault.estate import Estate, Target
from commonmode_vault.pki import add_pki
from commonmode_vault.snapshot import ClusterData


def add_stores(estate: Estate, data: ClusterData) -> None:
    """The secret stores: KV mounts and the secret engines that mint credentials."""
    opts, c, base, cluster = estate.opts, estate.opts.connector, estate.base, estate.cluster
    for mount, info in data.mounts.items():
        # PKI mounts are certificate paths (their issuers and roles), reported as such, not as secret stores.
        if info["type"] in ("kv", "generic", "aws", "azure", "gcp", "database"):
            sid = f"{base}/{mount.rstrip('/')}"
            estate.stores[mount] = Store(id=sid, provider="vault", kind=f"vault-{info['type']}-mount",
                                         name=mount.rstrip("/"), connector=c,
                                         owner=owner_from(desc_meta(info.get("description")), opts.owner_keys),
                                         fault_domains=tuple(cluster))
    estate.out.stores.extend(estate.stores.values())


def desc_meta(description: Any) -> dict[str, str]:
    """`owner=team-x` style pairs in a mount's description."""
    return dict(re.findall(r"(\w+)=([\w.@-]+)", str(description or "")))


def add_resources(estate: Estate, data: ClusterData) -> list[Target]:
    """KV secrets (with the credentials their metadata names) and secret-engine roles, and the paths grants
    are decided on: theirs and PKI's."""
    opts, out, c, base = estate.opts, estate.out, estate.opts.connector, estate.base
    cluster, stores = estate.cluster, estate.stores
    targets: list[Target] = []
    for mount, (version, keys) in sorted(data.kv.items()):
        store = stores[mount]
        [route] = estate.table.for_engine(f"kv{version}")  # a KV secret is one API path: data/<key> on v2
        for key, meta in keys:
            api = route.at(mount, key=key)
            custom = (meta or {}).get("custom_metadata") or {}
            rid = f"{base}/{api}"
            if version == 2:  # the KV logical form, as `vault kv get` names it
                out.aliases[f"{mount}{key}"] = rid
                out.aliases[f"{base}/{mount}{key}"] = rid
            out.resources.append(Resource(id=rid, kind=ResourceKind.SECRET, provider="vault", name=f"{mount}{key}",
                                          connector=c, parents=(store.id,), owner=owner_from(custom, opts.owner_keys),
                                          tags=dict(custom), fault_domains=tuple(cluster)))
            targets.append(Target(api, rid, f"kv{version}", mount, route.ways))
            for k in opts.credential_keys:
                if custom.get(k):
                    out.credentials.append(Credential(
                        id=f"{custom[k]}@{rid}", identity_id=str(custom[k]), kind="stored-credential", connector=c,
                        stored_in=rid, created=parse_timestamp((meta or {}).get("created_time")),
                        fault_domains=tuple(cluster)))
    targets += add_pki(estate, data)
    for mount, kind, sub, name, role in data.engine_roles:
        minted: list[tuple[str, str]] = []
        if kind == "aws":
            minted = [(a, f"role_arns {a}") for a in role.get("role_arns") or []]
        elif kind == "azure":
            app = role.get("application_object_id")
            minted = [(ids.azure_object_id(app), f"application_object_id {app}")] if app else []
        elif kind == "gcp":
            email = role.get("service_account_email")
            minted = [(ids.gcp_service_account(email), f"service_account_email {email}")] if email else []
        routes = estate.table.for_engine(kind, role_kind=sub)  # where reading mints credentials
        paths = [route.at(mount, kind=sub, name=name) for route in routes]
        rid = f"{base}/{paths[0]}"
        out.resources.append(Resource(id=rid, kind=ResourceKind.SECRET, provider="vault", name=f"{mount}{sub}/{name}",
                                      connector=c, parents=(stores[mount].id,), fault_domains=tuple(cluster)))
        for p, route in zip(paths, routes, strict=True):
            targets.append(Target(p, rid, kind, mount, route.ways,
                                  assumes=tuple(f"{who}|{why}" for who, why in minted)))
    return targets
