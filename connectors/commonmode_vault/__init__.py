"""The Vault / OpenBao connector: auth roles, entities, groups, long-lived tokens, ACL policies, KV metadata,
PKI roles and issuers, and the roles of the aws/azure/gcp/database secret engines. Read-only; never reads a
secret's value (see collect.ReadOnlyVault). Config and semantics: connectors/commonmode_vault/README.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from commonmode.connector import ConnectorResult, ConnectorSettings, Option, ProgressFn
from commonmode.errors import UsageError
from commonmode.model import RunStatus

log = logging.getLogger(__name__)

__all__ = ["VaultConnector"]

#: Auth method types whose machine logins are listed, and the sub-path their roles live under.
ROLE_PATHS = {"approle": "role", "kubernetes": "role", "jwt": "role", "oidc": "role", "aws": "role", "azure": "role",
              "gcp": "role", "cert": "certs", "userpass": "users"}
#: Secret engine types whose roles say which cloud identity or database account they mint credentials for.
ENGINE_ROLE_PATHS = {"aws": ("roles",), "azure": ("roles",), "gcp": ("roleset", "static-account", "impersonated-account"),
                     "database": ("roles", "static-roles")}


class VaultConnector:
    """`[[vault]]`: one Vault or OpenBao cluster (optionally one namespace)."""

    provider = "vault"
    options = {
        "url": Option(type="string", required=True, help="cluster address, e.g. https://vault.example.com:8200"),
        "token_env": Option(type="string", help="name of the env var holding the scanner's token", default="VAULT_TOKEN"),
        "namespace": Option(type="string", help="Vault Enterprise / OpenBao namespace"),
        "ca_cert": Option(type="string", help="CA bundle file for TLS (relative to the config)"),
        "owner_keys": Option(type="strings", help="metadata keys that name an owner, first match wins",
                             default=["owner", "team"]),
        "credential_keys": Option(type="strings", help="KV custom_metadata keys naming the identity whose credential "
                                                       "the secret holds", default=["identity", "nhi"]),
        "long_lived_days": Option(type="integer", help="tokens living longer than this are listed", default=30),
        "max_kv_paths": Option(type="integer", help="stop walking a KV mount after this many keys (a gap)",
                               default=200000),
        "max_workers": Option(type="integer", help="concurrent metadata requests", default=8),
    }

    def __init__(self, settings: ConnectorSettings) -> None:
        self.settings = settings
        o = settings.options
        env = o.get("token_env") or "VAULT_TOKEN"
        token = os.environ.get(env)
        if not token:
            raise UsageError(f"{settings.where or 'vault'}: the token env var {env} is not set")
        ca = o.get("ca_cert")
        self.verify: bool | str = str(settings.config_dir / ca) if ca else True
        self.url: str = o["url"]
        self.token = token

    def collect(self, progress: ProgressFn) -> ConnectorResult:
        from commonmode_vault.collect import ReadOnlyVault

        o = self.settings.options
        api = ReadOnlyVault(self.url, self.token, namespace=o.get("namespace"), verify=self.verify)
        try:
            return self._collect(api, progress)
        finally:
            api.close()

    def _collect(self, api: Any, progress: ProgressFn) -> ConnectorResult:
        from commonmode_vault.build import ClusterData, Options, build
        from commonmode_vault.collect import ReadOnlyViolation, VaultError

        o = self.settings.options
        gaps: list[str] = []
        data = ClusterData()

        def attempt(what: str, fn: Callable[[], Any], default: Any) -> Any:
            progress(what, 0, None)
            try:
                return fn()
            except ReadOnlyViolation:
                raise
            except VaultError as exc:
                gaps.append(f"{what}: {exc}")
                return default

        workers = int(o.get("max_workers") or 8)
        health = attempt("sys/health", lambda: api.get("sys/health"), None) or {}
        data.cluster_id = health.get("cluster_id") or self.settings.name
        data.cluster_name = health.get("cluster_name") or ""
        data.auth = attempt("sys/auth", lambda: api.get("sys/auth"), {}) or {}
        data.mounts = attempt("sys/mounts", lambda: api.get("sys/mounts"), {}) or {}
        data.auth = {k: v for k, v in data.auth.items() if isinstance(v, dict) and "type" in v}
        data.mounts = {k: v for k, v in data.mounts.items() if isinstance(v, dict) and "type" in v}
        for mount, info in data.mounts.items():
            if info["type"] in ("kv", "generic"):
                version = str((info.get("options") or {}).get("version") or "1")
                (api.kv2 if version == "2" else api.kv_values).append(mount)
        names = attempt("sys/policies/acl", lambda: api.list("sys/policies/acl"), [])
        for name in names:
            doc = attempt(f"sys/policies/acl/{name}", lambda n=name: api.get(f"sys/policies/acl/{n}"), None)
            if doc is not None:
                data.policies[name] = doc.get("policy", "")
        for mount, info in sorted(data.auth.items()):
            sub = ROLE_PATHS.get(info["type"])
            if sub is None:
                continue
            names = attempt(f"auth/{mount}{sub}", lambda m=mount, s=sub: api.list(f"auth/{m}{s}"), [])
            roles = attempt(f"auth/{mount}{sub}/* ({len(names)} roles)", lambda m=mount, s=sub, ns=names: api.get_many(
                [f"auth/{m}{s}/{n}" for n in ns], workers), None) or [None] * len(names)
            for name, role in zip(names, roles):
                if role is not None:
                    data.roles.append((mount, info["type"], sub, name, role))
            if info["type"] == "approle":
                def secret_ids(name: str, m: str = mount) -> list[tuple[str, str, Any]]:
                    out = []
                    for acc in api.list(f"auth/{m}role/{name}/secret-id"):
                        meta = api.lookup(f"auth/{m}role/{name}/secret-id-accessor/lookup", {"secret_id_accessor": acc})
                        if meta is not None:
                            out.append((m, name, meta))
                    return out

                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                    found = attempt(f"auth/{mount}role/*/secret-id", lambda ns=names: list(pool.map(secret_ids, ns)), [])
                data.secret_ids.extend(x for group in found for x in group)
        for eid in attempt("identity/entity/id", lambda: api.list("identity/entity/id"), []):
            e = attempt(f"identity/entity/id/{eid}", lambda i=eid: api.get(f"identity/entity/id/{i}"), None)
            if e is not None:
                data.entities.append(e)
        for gid in attempt("identity/group/id", lambda: api.list("identity/group/id"), []):
            g = attempt(f"identity/group/id/{gid}", lambda i=gid: api.get(f"identity/group/id/{i}"), None)
            if g is not None:
                data.groups.append(g)
        for acc in attempt("auth/token/accessors", lambda: api.list("auth/token/accessors"), []):
            t = attempt("auth/token/lookup-accessor", lambda a=acc: api.lookup("auth/token/lookup-accessor",
                                                                               {"accessor": a}), None)
            if t is not None:
                data.tokens.append(t)
        limit = int(o.get("max_kv_paths") or 200000)
        for mount, info in sorted(data.mounts.items()):
            kind = info["type"]
            if mount in api.kv2:
                names = _walk(api, f"{mount}metadata/", gaps, limit)
                keys: list[tuple[str, Any]] = []
                for start in range(0, len(names), 500):
                    chunk = names[start:start + 500]
                    progress(f"{mount} metadata", start, len(names))
                    metas = attempt(f"{mount}metadata/ ({len(chunk)} keys)", lambda m=mount, c=chunk: api.get_many(
                        [f"{m}metadata/{k}" for k in c], workers), None)
                    keys += list(zip(chunk, metas if metas is not None else [None] * len(chunk)))
                data.kv[mount] = (2, keys)
            elif mount in api.kv_values:
                data.kv[mount] = (1, [(k, None) for k in _walk(api, mount, gaps, limit)])
            elif kind == "pki":
                for name in attempt(f"{mount}roles", lambda m=mount: api.list(f"{m}roles"), []):
                    role = attempt(f"{mount}roles/{name}", lambda m=mount, n=name: api.get(f"{m}roles/{n}"), None)
                    if role is not None:
                        data.pki_roles.append((mount, name, role))
                for iid in attempt(f"{mount}issuers", lambda m=mount: api.list(f"{m}issuers"), []):
                    issuer = attempt(f"{mount}issuer/{iid}", lambda m=mount, i=iid: api.get(f"{m}issuer/{i}"), None)
                    if issuer is not None:
                        data.pki_issuers.append((mount, iid, issuer))
            elif kind in ENGINE_ROLE_PATHS:
                for sub in ENGINE_ROLE_PATHS[kind]:
                    list_path = f"{mount}{sub}s" if kind == "gcp" else f"{mount}{sub}"
                    for name in attempt(list_path, lambda p=list_path: api.list(p), []):
                        role = attempt(f"{mount}{sub}/{name}", lambda m=mount, s=sub, n=name: api.get(f"{m}{s}/{n}"), None)
                        if role is not None:
                            data.engine_roles.append((mount, kind, sub, name, role))
        progress("evaluating policies", 0, None)
        built = build(data, Options(
            connector=self.settings.name,
            owner_keys=tuple(o.get("owner_keys") or ("owner", "team")),
            credential_keys=tuple(o.get("credential_keys") or ("identity", "nhi")),
            long_lived_days=int(o.get("long_lived_days") or 30),
        ))
        gaps.extend(built.gaps)
        inventory = built.inventory()
        stats = {"api_calls": sum(api.calls.values()), **{f"calls.{k}": v for k, v in sorted(api.calls.items())},
                 "kv_paths": sum(len(v[1]) for v in data.kv.values()), "roles": len(data.roles)}
        return ConnectorResult(connector=self.settings.name, provider=self.provider,
                               status=RunStatus.PARTIAL if gaps else RunStatus.OK, inventory=inventory,
                               gaps=tuple(gaps), stats=stats)


def _walk(api: Any, base: str, gaps: list[str], limit: int) -> list[str]:
    from commonmode_vault.collect import VaultError

    out: list[str] = []
    try:
        for key in api.walk(base):
            if len(out) >= limit:
                gaps.append(f"{base}: stopped after {limit} keys (max_kv_paths)")
                break
            out.append(key)
    except VaultError as exc:
        gaps.append(f"LIST {base}: {exc}")
    return out
