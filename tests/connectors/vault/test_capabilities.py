"""capabilities.toml as data (issue 14): every entry has a positive and a negative case, decided by the real
build on a hand-written snapshot; the file is validated on load; and scanner-policy.hcl grants every route
the read-only guard lets the connector send. Pure: no server."""

from __future__ import annotations

import importlib.resources
from typing import Any

import pytest

from commonmode.model import Capability
from commonmode_vault.build import Options, build
from commonmode_vault.capabilities import CapabilityTableError, Route, Way, load_capabilities, parse_capabilities
from commonmode_vault.client import AUTH_ROUTES, BUILTIN_ROUTES, SECRET_ROUTES
from commonmode_vault.policy import ACL, parse_policy
from commonmode_vault.snapshot import ClusterData

TABLE = load_capabilities()
V = "vault://t"
ME = f"{V}/auth/approle/role/me"
VICTIM = f"{V}/auth/approle/role/victim"
#: Every capability a policy can grant but deny.
ALL_CAPS = ("create", "read", "update", "patch", "delete", "list", "sudo")
ISSUER = "1f0e9c2a-0000-4000-8000-000000000001"


def estate(route: Route) -> tuple[ClusterData, dict[str, str], str]:
    """A cluster with one object `route` acts on: (snapshot, placeholder values, the resource the grant
    must name)."""
    data = ClusterData(cluster_id="c", auth={"approle/": {"type": "approle", "accessor": "a1"}})
    data.roles = [("approle/", "approle", "role", "me", {"token_policies": ["p"], "token_no_default_policy": True}),
                  ("approle/", "approle", "role", "victim", {"token_policies": ["q"], "token_no_default_policy": True})]
    e = route.engine
    if e in ("kv1", "kv2"):
        mount = "kv/" if e == "kv1" else "secret/"
        data.mounts = {mount: {"type": "kv", "options": {"version": e[-1]}}}
        data.kv = {mount: (int(e[-1]), [("x", {} if e == "kv2" else None)])}
        return data, {"key": "x"}, f"{V}/{route.at(mount, key='x')}"
    if e in ("aws", "azure", "gcp", "database"):
        sub = sorted(route.roles)[0] if route.roles else {"gcp": "roleset"}.get(e, "roles")
        data.mounts = {f"{e}/": {"type": e}}
        data.engine_roles = [(f"{e}/", e, sub, "n", {})]
        first = TABLE.for_engine(e, role_kind=sub)[0]
        return data, {"kind": sub, "name": "n"}, f"{V}/{first.at(f'{e}/', kind=sub, name='n')}"
    if e == "pki":
        data.mounts = {"pki/": {"type": "pki"}}
        data.pki_issuers = [("pki/", ISSUER, {"issuer_name": "root"})]
        data.pki_defaults = {"pki/": ISSUER}
        data.pki_roles = [("pki/", "web", {"allowed_domains": ["example.com"], "allow_subdomains": True})]
        verbatim = "sign-verbatim" in route.path
        return data, {"role": "web", "ref": ISSUER}, (f"{V}/pki/issuer/{ISSUER}/sign-verbatim" if verbatim
                                                      else f"{V}/pki/issue/web")
    if e == "system":
        return data, {"policy": "q"}, VICTIM  # rewriting q takes over whoever holds it
    if e == "approle":
        return data, {"name": "victim"}, VICTIM
    raise AssertionError(f"no estate for engine {e!r}: add one")


def mount_of(route: Route) -> str:
    return {"kv1": "kv/", "kv2": "secret/", "system": "sys/", "approle": "auth/approle/"}.get(
        route.engine, f"{route.engine}/")


def grants(route: Route, caps: tuple[str, ...]) -> dict[tuple[Capability, str], Any]:
    """The grants of principal `me` whose policy gives exactly `caps` on the route's path."""
    data, values, _ = estate(route)
    path = route.at(mount_of(route), **values)
    data.policies = {"p": f'path "{path}" {{ capabilities = {list(caps)!r} }}'.replace("'", '"'),
                     "q": 'path "unrelated/x" { capabilities = ["read"] }'}
    return {(g.capability, g.resource_id): g for g in build(data, Options(connector="t"), TABLE).grants
            if g.identity_id == ME}


ENTRIES = [(r, w, c) for r in TABLE.routes for w in r.ways for c in w.vault_caps]


@pytest.mark.parametrize("route,way,cap", ENTRIES,
                         ids=[f"{r.engine}:{r.path}:{w.capability.value}:{c}" for r, w, c in ENTRIES])
def test_each_entry_gives_its_capability(route: Route, way: Way, cap: str) -> None:
    _, values, resource = estate(route)
    got = grants(route, (cap,)).get((way.capability, resource))
    assert got is not None, (route, way, cap)
    assert got.conditional == bool(way.note), got.via
    assert f"allows {'/'.join(way.vault_caps)} on {route.at(mount_of(route), **values)}" in got.via, got.via


@pytest.mark.parametrize("route,way", [(r, w) for r in TABLE.routes for w in r.ways],
                         ids=[f"{r.engine}:{r.path}:{w.capability.value}" for r in TABLE.routes for w in r.ways])
def test_no_other_vault_capability_gives_it(route: Route, way: Way) -> None:
    """Every capability but those of the ways that give this one on the route gives it nothing."""
    giving = {c for w in route.ways if w.capability is way.capability for c in w.vault_caps}
    others = tuple(c for c in ALL_CAPS if c not in giving)
    _, _, resource = estate(route)
    assert (way.capability, resource) not in grants(route, others)


def test_the_table_is_package_data_and_malformed_entries_are_refused() -> None:
    assert importlib.resources.files("commonmode_vault").joinpath("capabilities.toml").is_file()
    good = '[[route]]\nengine = "kv2"\npath = "data/{key}"\ncapability = "secret.read"\nvault_capabilities = ["read"]\n'
    assert parse_capabilities(good).ways("kv2", "data/{key}") == (Way(Capability.SECRET_READ, ("read",)),)
    for bad, message in ((good.replace("secret.read", "secret.peek"), "capability"),
                         (good.replace('["read"]', '["fly"]'), "vault_capabilities"),
                         (good.replace('["read"]', "[]"), "non-empty"),
                         (good + "extra = 1\n", "unknown keys"),
                         ("[other]\n", "route"),
                         ("not toml [", "TOML")):
        with pytest.raises(CapabilityTableError, match=message):
            parse_capabilities(bad)
    with pytest.raises(CapabilityTableError, match="no route"):
        TABLE.ways("kv2", "subkeys/{key}")


SCANNER_POLICY = importlib.resources.files("commonmode_vault").joinpath("scanner-policy.hcl").read_text()
#: The Vault capability each method the guard sends needs (Vault docs "Policies": GET read, LIST list, POST
#: update). sys/health is unauthenticated (API docs "/sys/health"): no policy grants or needs it.
NEEDS = {"GET": "read", "LIST": "list", "POST": "update"}
UNAUTHENTICATED = {("system", "GET", "health")}


def _sample(pattern: str) -> str:
    return pattern.replace("{name}", "n").replace("{path}", "a/b")


ROUTES = ([("secret", engine, m, p) for engine, routes in SECRET_ROUTES.items() for m, p in routes]
          + [("auth", engine, m, p) for engine, routes in AUTH_ROUTES.items() for m, p in routes]
          + [("builtin", engine, m, p) for engine, routes in BUILTIN_ROUTES.items() for m, p in routes])


@pytest.mark.parametrize("where,engine,method,pattern", ROUTES, ids=[f"{w}:{e}:{m} {p}" for w, e, m, p in ROUTES])
def test_the_scanner_policy_grants_every_route_the_guard_allows(where: str, engine: str, method: str,
                                                                pattern: str) -> None:
    if (engine, method, pattern) in UNAUTHENTICATED:
        return
    builtin = {"system": "sys/", "identity": "identity/"}.get(engine, "")
    mount = {"secret": "m/", "auth": "auth/a/", "builtin": builtin}[where]
    if where == "auth" and engine == "token":
        mount = "auth/token/"
    path = mount + _sample(pattern)
    if method == "LIST":
        path = path.rstrip("/") + "/"
    acl = ACL.build(["scanner"], {"scanner": parse_policy(SCANNER_POLICY, "scanner")})
    assert NEEDS[method] in acl.capabilities(path), (path, sorted(acl.capabilities(path)))
