"""The Vault / OpenBao connector: auth roles, entities, groups, long-lived tokens, ACL policies, KV metadata,
PKI roles and issuers, and the roles of the aws/azure/gcp/database secret engines. Read-only; never reads a
secret's value (see collect.ReadOnlyVault). Config and semantics: connectors/commonmode_vault/README.md.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from typing import Any

from commonmode.connector import ConnectorResult, ConnectorSettings, Option, ProgressFn
from commonmode.errors import UsageError
from commonmode.logs import register_secret
from commonmode.model import RunStatus

log = logging.getLogger(__name__)

__all__ = ["VaultConnector"]

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")

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
        "url": Option(type="string", required=True, help="cluster address, e.g. https://vault.example.com:8200",
                      url=True),
        "token_env": Option(type="string", help="name of the env var holding the scanner's token", default="VAULT_TOKEN",
                            names_a_secret=True),
        "namespace": Option(type="string", help="Vault Enterprise / OpenBao namespace"),
        "ca_cert": Option(type="string", help="CA bundle file for TLS (relative to the config)"),
        "owner_keys": Option(type="strings", help="metadata keys that name an owner, first match wins",
                             default=["owner", "team"]),
        "credential_keys": Option(type="strings", help="KV custom_metadata keys naming the identity whose credential "
                                                       "the secret holds", default=["identity", "nhi"]),
        "long_lived_days": Option(type="integer", help="tokens living longer than this are listed", default=30,
                                  minimum=0, maximum=36500),
        "max_kv_paths": Option(type="integer", help="stop walking a KV mount after this many keys (a gap)",
                               default=200000, minimum=1, maximum=100_000_000),
        "max_workers": Option(type="integer", help="concurrent metadata requests", default=8, minimum=1, maximum=64),
        "read_role_ids": Option(type="boolean", help="read each AppRole's role_id (an identifier, not the secret-id) "
                                                     "to match the entity aliases named by it; kept in memory only, "
                                                     "never stored", default=True),
    }

    def __init__(self, settings: ConnectorSettings) -> None:
        self.settings = settings
        o = settings.options
        env = o.get("token_env") or "VAULT_TOKEN"
        token = os.environ.get(env)
        if not token:
            # token_env may hold a token pasted by mistake: name it only when it looks like a variable's name
            shown = f" {env}" if _ENV_NAME.fullmatch(env) else " (its value is not shown: it is not a variable name)"
            raise UsageError(f"{settings.where or 'vault'}.token_env: the environment variable it names{shown} "
                             "is not set")
        register_secret(token)  # never in a log line, --debug-sdk included
        ca = o.get("ca_cert")
        self.verify: bool | str = str(settings.config_dir / ca) if ca else True
        self.url: str = o["url"]
        self.token = token

    def collect(self, progress: ProgressFn) -> ConnectorResult:
        from commonmode_vault.collect import ReadOnlyVault

        o = self.settings.options
        api = ReadOnlyVault(self.url, self.token, namespace=o.get("namespace"), verify=self.verify,
                            timeout=self.settings.timeout, connect_timeout=self.settings.connect_timeout,
                            past_deadline=self.settings.past_deadline)
        try:
            return self._collect(api, progress)
        finally:
            api.close()

    def _collect(self, api: Any, progress: ProgressFn) -> ConnectorResult:
        from commonmode_vault.build import ClusterData, Options, build
        from commonmode_vault.collect import engine_of

        o = self.settings.options
        refused = self._first_calls(api)
        if refused:
            return ConnectorResult(connector=self.settings.name, provider=self.provider, status=RunStatus.FAILED,
                                   gaps=(f"vault {self.settings.name}: {refused}",))
        calls = _Calls(api, progress, workers=int(o.get("max_workers") or 8), settings=self.settings)
        data = ClusterData()
        health = calls.one("sys/health", lambda: api.get("sys/health")) or {}
        data.cluster_id = health.get("cluster_id") or self.settings.name
        data.cluster_name = health.get("cluster_name") or ""
        data.auth = calls.one("sys/auth", lambda: api.get("sys/auth")) or {}
        data.mounts = calls.one("sys/mounts", lambda: api.get("sys/mounts")) or {}
        data.auth = {k: v for k, v in data.auth.items() if isinstance(v, dict) and "type" in v}
        data.mounts = {k: v for k, v in data.mounts.items() if isinstance(v, dict) and "type" in v}
        api.load_mounts(data.mounts, data.auth)  # the guard judges every later path by these mounts
        names = calls.one("sys/policies/acl", lambda: api.list("sys/policies/acl")) or []
        for name, doc in zip(names, calls.each([f"sys/policies/acl/{n}" for n in names])):
            if doc is not None:
                data.policies[name] = doc.get("policy", "")
        read_role_ids = o.get("read_role_ids", True) is not False
        for mount, info in sorted(data.auth.items()):
            self._auth_roles(calls, data, mount, info["type"], read_role_ids)
        for kind, table in (("entity", data.entities), ("group", data.groups)):
            ids = calls.one(f"identity/{kind}/id", lambda k=kind: api.list(f"identity/{k}/id")) or []
            table.extend(x for x in calls.each([f"identity/{kind}/id/{i}" for i in ids]) if x is not None)
        for acc in calls.one("auth/token/accessors", lambda: api.list("auth/token/accessors")) or []:
            t = calls.one("auth/token/lookup-accessor", lambda a=acc: api.lookup("auth/token/lookup-accessor",
                                                                                 {"accessor": a}))
            if t is not None:
                data.tokens.append(t)
        limit = int(o.get("max_kv_paths") or 200000)
        for mount, info in sorted(data.mounts.items()):
            engine = engine_of(info)
            if engine == "kv2":
                names = _walk(calls, f"{mount}metadata/", limit)
                keys: list[tuple[str, Any]] = []
                for start in range(0, len(names), 500):
                    chunk = names[start:start + 500]
                    progress(f"{mount} metadata", start, len(names))
                    keys += list(zip(chunk, calls.each([f"{mount}metadata/{k}" for k in chunk])))
                data.kv[mount] = (2, keys)
            elif engine == "kv1":
                data.kv[mount] = (1, [(k, None) for k in _walk(calls, mount, limit)])
            elif engine == "pki":
                self._pki(calls, data, mount)
            elif engine in ENGINE_ROLE_PATHS:
                for sub in ENGINE_ROLE_PATHS[engine]:
                    list_path = f"{mount}{sub}s" if engine == "gcp" else f"{mount}{sub}"
                    names = calls.one(list_path, lambda p=list_path: api.list(p)) or []
                    for name, role in zip(names, calls.each([f"{mount}{sub}/{n}" for n in names])):
                        if role is not None:
                            data.engine_roles.append((mount, engine, sub, name, role))
        progress("evaluating policies", 0, None)
        built = build(data, Options(
            connector=self.settings.name,
            owner_keys=tuple(o.get("owner_keys") or ("owner", "team")),
            credential_keys=tuple(o.get("credential_keys") or ("identity", "nhi")),
            long_lived_days=int(o.get("long_lived_days") or 30),
        ))
        gaps = [*calls.gaps, *built.gaps]
        inventory = built.inventory()
        stats = {"api_calls": sum(api.calls.values()), **{f"calls.{k}": v for k, v in sorted(api.calls.items())},
                 "kv_paths": sum(len(v[1]) for v in data.kv.values()), "roles": len(data.roles)}
        return ConnectorResult(connector=self.settings.name, provider=self.provider,
                               status=RunStatus.PARTIAL if gaps else RunStatus.OK, inventory=inventory,
                               gaps=tuple(gaps), stats=stats)

    @staticmethod
    def _first_calls(api: Any) -> str | None:
        """Whether the cluster can be scanned at all: it answers (not sealed), and it accepts the token
        (sys/capabilities-self, or, where a policy leaves that out, the sys/auth read that the scanner policy
        grants). One line saying why not, after one retry, or None."""
        from commonmode_vault.collect import VaultError

        try:
            api.request("POST", "sys/capabilities-self", {"paths": ["sys/auth"]}, retries=1)
            return None
        except VaultError as exc:
            if exc.status in ("cannot connect", "no answer", "503"):
                return f"{exc.status} {exc.detail}"
            if exc.status not in (401, 403):
                return None  # an older server without the endpoint: the listings will tell
        try:
            api.request("GET", "sys/auth", retries=1)
        except VaultError as exc:
            if exc.status in (401, 403):
                return f"the token was refused ({exc.status} permission denied on sys/capabilities-self and sys/auth)"
        return None

    @staticmethod
    def _auth_roles(calls: _Calls, data: Any, mount: str, kind: str, read_role_ids: bool) -> None:
        """An auth mount's roles; for AppRole also the role_ids (in memory only, to match entity aliases)
        and the secret-id accessors' metadata."""
        sub = ROLE_PATHS.get(kind)
        if sub is None:
            return
        api = calls.api
        names = calls.one(f"auth/{mount}{sub}", lambda: api.list(f"auth/{mount}{sub}")) or []
        for name, role in zip(names, calls.each([f"auth/{mount}{sub}/{n}" for n in names])):
            if role is not None:
                data.roles.append((mount, kind, sub, name, role))
        if kind != "approle":
            return
        if read_role_ids:
            # AppRole docs: the role_id identifies the role (the secret-id is the secret half of a login);
            # an AppRole login's entity alias is named by it. Kept in ClusterData.role_ids only.
            for name, rid in zip(names, calls.each([f"auth/{mount}role/{n}/role-id" for n in names])):
                if rid and rid.get("role_id"):
                    data.role_ids[(mount, name)] = str(rid["role_id"])
        from concurrent.futures import ThreadPoolExecutor

        from commonmode_vault.collect import ReadOnlyViolation, VaultError

        def secret_ids(name: str) -> tuple[list[Any], list[str]]:
            metas, errors = [], []
            try:
                accessors = api.list(f"auth/{mount}role/{name}/secret-id")
            except (ReadOnlyViolation, VaultError) as exc:
                return [], [str(exc)]
            for acc in accessors:
                try:
                    meta = api.lookup(f"auth/{mount}role/{name}/secret-id-accessor/lookup", {"secret_id_accessor": acc})
                except (ReadOnlyViolation, VaultError) as exc:
                    errors.append(str(exc))
                    continue
                if meta is not None:
                    metas.append(meta)
            return metas, errors

        calls.progress(f"auth/{mount}role/*/secret-id", 0, None)
        with ThreadPoolExecutor(max_workers=max(1, calls.workers)) as pool:
            for name, (metas, errors) in zip(names, pool.map(secret_ids, names)):
                data.secret_ids.extend((mount, name, meta) for meta in metas)
                calls.gaps.extend(errors)

    @staticmethod
    def _pki(calls: _Calls, data: Any, mount: str) -> None:
        """A PKI mount's roles, its issuers, and which issuer is its default (`<mount>/config/issuers`)."""
        api = calls.api
        names = calls.one(f"{mount}roles", lambda: api.list(f"{mount}roles")) or []
        for name, role in zip(names, calls.each([f"{mount}roles/{n}" for n in names])):
            if role is not None:
                data.pki_roles.append((mount, name, role))
        ids = calls.one(f"{mount}issuers", lambda: api.list(f"{mount}issuers")) or []
        for iid, issuer in zip(ids, calls.each([f"{mount}issuer/{i}" for i in ids])):
            if issuer is not None:
                data.pki_issuers.append((mount, iid, issuer))
        if ids:  # which issuer a role's issuer_ref "default" means
            config = calls.one(f"{mount}config/issuers", lambda: api.get(f"{mount}config/issuers")) or {}
            if config.get("default"):
                data.pki_defaults[mount] = str(config["default"])


class _Calls:
    """Runs the connector's requests: a refused or failed one is one gap naming its path, never the end."""

    def __init__(self, api: Any, progress: ProgressFn, workers: int, settings: ConnectorSettings | None = None) -> None:
        self.api, self.progress, self.workers, self.settings = api, progress, workers, settings
        self.gaps: list[str] = []

    def past_deadline(self, what: str) -> bool:
        """True (and a gap for `what`) once the connector's deadline has passed: nothing more is read."""
        if self.settings is None or not self.settings.past_deadline():
            return False
        self.gaps.append(f"{what}: not read, the connector's deadline of {self.settings.deadline} s was reached")
        return True

    def one(self, what: str, fn: Callable[[], Any]) -> Any:
        """fn()'s answer, or None (and a gap) when the guard refused it, the server failed it or the
        deadline has passed."""
        from commonmode_vault.collect import ReadOnlyViolation, VaultError

        self.progress(what, 0, None)
        if self.past_deadline(what):
            return None
        try:
            return fn()
        except (ReadOnlyViolation, VaultError) as exc:
            self.gaps.append(str(exc))
            return None

    def each(self, paths: list[str]) -> list[Any]:
        """GET every path (concurrently): each its data, or None with one gap for that path."""
        from commonmode_vault.collect import DEADLINE, ReadOnlyViolation, VaultError

        if paths and self.past_deadline(f"GET {paths[0]} and {len(paths) - 1} more" if len(paths) > 1 else paths[0]):
            return [None] * len(paths)
        out, late = [], []
        for path, result in zip(paths, self.api.get_many(paths, self.workers) if paths else []):
            if isinstance(result, VaultError) and result.status == DEADLINE:
                late.append(path)
                result = None
            elif isinstance(result, (ReadOnlyViolation, VaultError)):
                self.gaps.append(str(result))
                result = None
            out.append(result)
        if late:  # one gap for what the deadline left unread, not one per path
            self.gaps.append(f"GET {late[0]}" + (f" and {len(late) - 1} more paths" if len(late) > 1 else "")
                             + f": not read, the connector's deadline of {self.settings.deadline if self.settings else '?'}"
                             " s was reached")
        return out


def _walk(calls: _Calls, base: str, limit: int) -> list[str]:
    """The keys under `base`; a folder that cannot be listed is one gap, and the walk goes on (until the
    deadline: then what is left is one gap)."""
    out: list[str] = []
    for key in calls.api.walk(base, calls.gaps):
        if len(out) >= limit:
            calls.gaps.append(f"{base}: stopped after {limit} keys (max_kv_paths)")
            break
        if calls.past_deadline(f"LIST {base} (after {len(out)} keys)"):
            break
        out.append(key)
    return out
