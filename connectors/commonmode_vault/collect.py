"""Narrow `get_*` functions, one per family of Vault API paths, and the collection loop (`collect`) that runs
them through the kit's Collection into one typed raw snapshot (snapshot.ClusterData) for build.py.

Every request goes through client.ReadOnlyVault and its route guard; a refused or failed one is one gap
naming its path (client.VaultErrors), never an empty answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from commonmode.kit import Collection, ReadOnlyViolation
from commonmode_vault.client import DEADLINE, ReadOnlyVault, VaultError, engine_of, refused
from commonmode_vault.snapshot import ClusterData

# The client and the guard's exceptions stay importable from here (tests/safety imports them so).
__all__ = ["AUTH_ROLE_PATHS", "ENGINE_ROLE_PATHS", "ReadOnlyVault", "ReadOnlyViolation", "VaultError", "collect",
           "engine_of", "first_calls", "refused"]

#: Auth method types whose machine logins are listed, and the sub-path their roles live under.
AUTH_ROLE_PATHS = {"approle": "role", "kubernetes": "role", "jwt": "role", "oidc": "role", "aws": "role",
                   "azure": "role", "gcp": "role", "cert": "certs", "userpass": "users"}
#: Secret engine types whose roles say which cloud identity or database account they mint credentials for.
ENGINE_ROLE_PATHS = {"aws": ("roles",), "azure": ("roles",),
                     "gcp": ("roleset", "static-account", "impersonated-account"),
                     "database": ("roles", "static-roles")}
#: Metadata paths read per batch of a KV walk (progress is shown after each).
_KV_BATCH = 500


# --- narrow calls ---------------------------------------------------------------------------------------


def first_calls(api: ReadOnlyVault) -> str | None:
    """Whether the cluster can be scanned at all: it answers (not sealed), and it accepts the token
    (sys/capabilities-self, or, where a policy leaves that out, the sys/auth read that the scanner policy
    grants). One line saying why not, after one retry, or None."""
    try:
        api.request("POST", "sys/capabilities-self", {"paths": ["sys/auth"]}, attempts=2)
        return None
    except VaultError as exc:
        if exc.status in ("cannot connect", "no answer", "503"):
            return f"{exc.status} {exc.detail}"
        if exc.status not in (401, 403):
            return None  # an older server without the endpoint: the listings will tell
    try:
        api.request("GET", "sys/auth", attempts=2)
    except VaultError as exc:
        if exc.status in (401, 403):
            return f"the token was refused ({exc.status} permission denied on sys/capabilities-self and sys/auth)"
    return None


def get_one(c: Collection, api: ReadOnlyVault, path: str) -> Any:
    """GET one path: its data, or None (and a gap naming it)."""
    return c.attempt(path, lambda: api.get(path), None)


def list_keys(c: Collection, api: ReadOnlyVault, path: str) -> list[str]:
    """LIST one path: its keys, or none (and a gap naming it)."""
    return c.attempt(path, lambda: api.list(path), None) or []


def get_each(c: Collection, api: ReadOnlyVault, paths: list[str]) -> list[Any]:
    """GET every path (concurrently): each its data, or None with one gap for that path; what the deadline
    left unread is one gap, not one per path."""
    if paths and c.past_deadline(f"GET {paths[0]} and {len(paths) - 1} more" if len(paths) > 1 else paths[0]):
        return [None] * len(paths)
    out, late = [], []
    for path, result in zip(paths, api.get_many(paths, _workers(c)) if paths else [], strict=True):
        if isinstance(result, VaultError) and result.status == DEADLINE:
            late.append(path)
            result = None
        elif isinstance(result, (ReadOnlyViolation, VaultError)):
            c.gap(str(result))
            result = None
        out.append(result)
    if late:
        c.deadline_gap(f"GET {late[0]}" + (f" and {len(late) - 1} more paths" if len(late) > 1 else ""))
    return out


def walk_keys(c: Collection, api: ReadOnlyVault, base: str, limit: int) -> list[str]:
    """The keys under `base`; a folder that cannot be listed is one gap, and the walk goes on (until the
    deadline: then what is left is one gap)."""
    out: list[str] = []
    for key in api.walk(base, c.gaps):
        if len(out) >= limit:
            c.gap(f"{base}: stopped after {limit} keys (max_kv_paths)")
            break
        if c.past_deadline(f"LIST {base} (after {len(out)} keys)"):
            break
        out.append(key)
    return out


def get_secret_id_metadata(api: ReadOnlyVault, mount: str, role: str) -> tuple[list[Any], list[str]]:
    """An AppRole's secret-id accessors' metadata (accessor lookups: never a secret-id), and the errors met."""
    metas, errors = [], []
    try:
        accessors = api.list(f"auth/{mount}role/{role}/secret-id")
    except (ReadOnlyViolation, VaultError) as exc:
        return [], [str(exc)]
    for acc in accessors:
        try:
            meta = api.lookup(f"auth/{mount}role/{role}/secret-id-accessor/lookup", {"secret_id_accessor": acc})
        except (ReadOnlyViolation, VaultError) as exc:
            errors.append(str(exc))
            continue
        if meta is not None:
            metas.append(meta)
    return metas, errors


def _workers(c: Collection) -> int:
    return int(c.settings.options.get("max_workers") or 8)


# --- the collection loop -----------------------------------------------------------------------------------


def collect(c: Collection, api: ReadOnlyVault, values: Mapping[str, Any]) -> ClusterData:
    """Everything the connector reads of one cluster, in one snapshot."""
    data = ClusterData()
    health = get_one(c, api, "sys/health") or {}
    data.cluster_id = health.get("cluster_id") or c.name
    data.cluster_name = health.get("cluster_name") or ""
    auth = get_one(c, api, "sys/auth") or {}
    mounts = get_one(c, api, "sys/mounts") or {}
    data.auth = {k: v for k, v in auth.items() if isinstance(v, dict) and "type" in v}
    data.mounts = {k: v for k, v in mounts.items() if isinstance(v, dict) and "type" in v}
    api.load_mounts(data.mounts, data.auth)  # the guard judges every later path by these mounts
    names = list_keys(c, api, "sys/policies/acl")
    for name, doc in zip(names, get_each(c, api, [f"sys/policies/acl/{n}" for n in names]), strict=True):
        if doc is not None:
            data.policies[name] = doc.get("policy", "")
    for mount, info in sorted(data.auth.items()):
        collect_auth_roles(c, api, data, mount, info["type"], read_role_ids=values["read_role_ids"] is not False)
    for kind, table in (("entity", data.entities), ("group", data.groups)):
        ids = list_keys(c, api, f"identity/{kind}/id")
        table.extend(x for x in get_each(c, api, [f"identity/{kind}/id/{i}" for i in ids]) if x is not None)
    for acc in list_keys(c, api, "auth/token/accessors"):
        t = c.attempt("auth/token/lookup-accessor", partial(api.lookup, "auth/token/lookup-accessor",
                                                                {"accessor": acc}), None)
        if t is not None:
            data.tokens.append(t)
    limit = int(values["max_kv_paths"])
    for mount, info in sorted(data.mounts.items()):
        engine = engine_of(info)
        if engine == "kv2":
            names = walk_keys(c, api, f"{mount}metadata/", limit)
            keys: list[tuple[str, Any]] = []
            for start in range(0, len(names), _KV_BATCH):
                chunk = names[start:start + _KV_BATCH]
                c.say(f"{mount} metadata", start, len(names))
                keys += list(zip(chunk, get_each(c, api, [f"{mount}metadata/{k}" for k in chunk]), strict=True))
            data.kv[mount] = (2, keys)
        elif engine == "kv1":
            data.kv[mount] = (1, [(k, None) for k in walk_keys(c, api, mount, limit)])
        elif engine == "pki":
            collect_pki(c, api, data, mount)
        elif engine in ENGINE_ROLE_PATHS:
            for sub in ENGINE_ROLE_PATHS[engine]:
                list_path = f"{mount}{sub}s" if engine == "gcp" else f"{mount}{sub}"
                names = list_keys(c, api, list_path)
                for name, role in zip(names, get_each(c, api, [f"{mount}{sub}/{n}" for n in names]), strict=True):
                    if role is not None:
                        data.engine_roles.append((mount, engine, sub, name, role))
    return data


def collect_auth_roles(c: Collection, api: ReadOnlyVault, data: ClusterData, mount: str, kind: str, *,
                       read_role_ids: bool) -> None:
    """An auth mount's roles; for AppRole also the role_ids (in memory only, to match entity aliases)
    and the secret-id accessors' metadata."""
    sub = AUTH_ROLE_PATHS.get(kind)
    if sub is None:
        return
    if kind in ("jwt", "oidc"):
        config = get_one(c, api, f"auth/{mount}config") or {}
        issuer = config.get("bound_issuer") or config.get("oidc_discovery_url") or ""
        if isinstance(issuer, str) and issuer:
            data.issuers[mount] = issuer.rstrip("/")
    names = list_keys(c, api, f"auth/{mount}{sub}")
    for name, role in zip(names, get_each(c, api, [f"auth/{mount}{sub}/{n}" for n in names]), strict=True):
        if role is not None:
            data.roles.append((mount, kind, sub, name, role))
    if kind != "approle":
        return
    if read_role_ids:
        # AppRole docs: the role_id identifies the role (the secret-id is the secret half of a login);
        # an AppRole login's entity alias is named by it. Kept in ClusterData.role_ids only.
        for name, rid in zip(names, get_each(c, api, [f"auth/{mount}role/{n}/role-id" for n in names]), strict=True):
            if rid and rid.get("role_id"):
                data.role_ids[(mount, name)] = str(rid["role_id"])
    c.say(f"auth/{mount}role/*/secret-id")
    with ThreadPoolExecutor(max_workers=max(1, _workers(c))) as pool:
        found = pool.map(lambda n: get_secret_id_metadata(api, mount, n), names)
        for name, (metas, errors) in zip(names, found, strict=True):
            data.secret_ids.extend((mount, name, meta) for meta in metas)
            for error in errors:
                c.gap(error)


def collect_pki(c: Collection, api: ReadOnlyVault, data: ClusterData, mount: str) -> None:
    """A PKI mount's roles, its issuers, and which issuer is its default (`<mount>/config/issuers`)."""
    names = list_keys(c, api, f"{mount}roles")
    for name, role in zip(names, get_each(c, api, [f"{mount}roles/{n}" for n in names]), strict=True):
        if role is not None:
            data.pki_roles.append((mount, name, role))
    ids = list_keys(c, api, f"{mount}issuers")
    for iid, issuer in zip(ids, get_each(c, api, [f"{mount}issuer/{i}" for i in ids]), strict=True):
        if issuer is not None:
            data.pki_issuers.append((mount, iid, issuer))
    if ids:  # which issuer a role's issuer_ref "default" means
        config = get_one(c, api, f"{mount}config/issuers") or {}
        if config.get("default"):
            data.pki_defaults[mount] = str(config["default"])
