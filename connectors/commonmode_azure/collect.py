"""The calls: which ARM and Graph listings the connector reads, through the management SDKs' paging, each one
`attempt` of the run's Collection (a failure is one gap naming the listing; the rest is still read).

Read-only, metadata only: role assignments and definitions, deny assignments, managed identities and their
federated credentials, DNS zones and record sets, Traffic Manager profiles, Key Vaults and the metadata of
their secrets (ARM's Microsoft.KeyVault/vaults/secrets never returns a value), Front Door origin groups; and
from Graph the service principals, applications (credential key ids and dates, never a secret), owners,
federated identity credentials, group memberships and app role and directory role assignments.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from commonmode.kit import Collection
from commonmode_azure.client import Clients
from commonmode_azure.snapshot import GRAPH_APP_ID, Directory, Json, Snapshot, SubscriptionData

log = logging.getLogger(__name__)

#: Microsoft's own tenant: first-party service principals (Microsoft Graph, Azure portal ...) live in every
#: tenant and are owned there (Graph: servicePrincipal.appOwnerOrganizationId); their owners, credentials
#: and app roles are Microsoft's, not read.
MICROSOFT_TENANTS = frozenset({"f8cdef31-a31e-4b4a-93e4-5f571e91255a", "72f988bf-86f1-41af-91ab-2d7cd011db47"})

_SP_FIELDS = ("id,appId,displayName,servicePrincipalType,alternativeNames,tags,notes,appOwnerOrganizationId,"
              "accountEnabled,passwordCredentials,keyCredentials")
#: The Authorization API version role definitions are read at (see collect_subscription).
ROLE_DEFINITIONS_API = "2022-05-01-preview"
_APP_FIELDS = "id,appId,displayName,tags,notes,passwordCredentials,keyCredentials,createdDateTime"


def rest(model: Any) -> Json:
    """An SDK model as the REST API returned it. The management SDKs have two kinds of model: msrest's (their
    `serialize(keep_readonly=True)` gives the REST shape back) and the newer generated ones, which are mappings
    over the REST JSON itself (`as_dict()`, read-only properties included unless excluded)."""
    if hasattr(model, "serialize"):
        body: Json = model.serialize(keep_readonly=True)
        return body
    as_dict: Json = model.as_dict()
    return as_dict


def listing(items: Iterable[Any]) -> list[Json]:
    """Every page of an SDK listing, each item in its REST shape."""
    return [rest(m) for m in items]


def pages(fn: Callable[..., Iterable[Any]], *args: Any, **kwargs: Any) -> Callable[[], list[Json]]:
    """A call for `attempt`: every page of `fn(*args)` (an SDK listing), each item in its REST shape."""
    return lambda: listing(fn(*args, **kwargs))


def one(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Json]:
    """A call for `attempt`: `fn(*args)` (an SDK get) in its REST shape."""
    return lambda: rest(fn(*args, **kwargs))


def graph_list(g: Any, path: str, **query: str) -> Callable[[], list[Json]]:
    """A call for `attempt`: every item of a Graph collection."""
    return lambda: list(g.list(path, **query))


def resource_group(arm_id: str) -> str:
    """The resource group named in an ARM id (`/subscriptions/s/resourceGroups/RG/...`)."""
    parts = arm_id.split("/")
    lowered = [p.lower() for p in parts]
    return parts[lowered.index("resourcegroups") + 1] if "resourcegroups" in lowered else ""


def list_subscriptions(clients: Clients) -> list[Json]:
    """The connector's first call: every subscription the credential can see (it also proves the token)."""
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    return listing(clients.mgmt(SubscriptionClient).subscriptions.list())


def read_hierarchy(c: Collection, clients: Clients, snap: Snapshot, groups: Sequence[str]) -> set[str]:
    """The management group tree under each configured group (or the tenant root group, when none is
    configured and the credential may read it): parents of groups and subscriptions. Returns the subscriptions
    found under the configured groups."""
    from azure.mgmt.managementgroups import ManagementGroupsMgmtClient

    api = clients.mgmt(ManagementGroupsMgmtClient)
    found: set[str] = set()

    def walk(node: Any, parent: str | None, under_configured: bool) -> None:
        kind = (node.get("type") or "").lower()
        name = node.get("name") or ""
        if kind.endswith("/subscriptions") or kind == "/subscriptions":
            if parent:
                snap.subscription_parents[name] = parent
            if under_configured:
                found.add(name)
            return
        if parent and name:
            snap.group_parents.setdefault(name, parent)
        for child in (node.get("properties") or node).get("children") or []:
            walk(child, name, under_configured)

    for group in groups:
        tree = c.attempt(f"management group {group}",
                         one(api.management_groups.get, group, expand="children", recurse=True), None)
        if tree is None:
            continue
        props = tree.get("properties") or {}
        parent = ((props.get("details") or {}).get("parent") or {}).get("name")
        if parent:
            snap.group_parents[group] = parent
        walk(tree, parent, True)
    if not groups:
        # Optional: without the tree, the management groups above a subscription are still known exactly from
        # its listings (an unfiltered list returns what applies at, above and below it), only not their order.
        try:
            walk(rest(api.management_groups.get(snap.tenant_id, expand="children", recurse=True)), None, False)
        except Exception as exc:  # noqa: BLE001 — optional, see above; said in the log, not a gap
            log.info("management group tree not readable (%s): groups are taken from the assignments' scopes",
                     type(exc).__name__)
    return found


def collect_subscription(c: Collection, clients: Clients, sub: SubscriptionData) -> None:
    """One subscription's listings."""
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.cdn import CdnManagementClient
    from azure.mgmt.dns import DnsManagementClient
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.msi import ManagedServiceIdentityClient
    from azure.mgmt.privatedns import PrivateDnsManagementClient
    from azure.mgmt.trafficmanager import TrafficManagerManagementClient

    s = c.within(gaps=f"subscription {sub.id}: ", progress=f"subscription {sub.id}: ")
    scope = f"/subscriptions/{sub.id}"
    auth = clients.mgmt(AuthorizationManagementClient, sub.id)

    def read(what: str, fn: Callable[[], list[Json]], essential: bool = False) -> list[Json]:
        out = s.attempt(what, fn, None)
        if out is None:
            if essential:
                sub.complete = False
            return []
        return out

    def under(parents: list[Json], what: str, fn: Callable[..., Iterable[Any]]) -> dict[str, list[Json]]:
        """`fn(resource group, name)` of each parent (the record sets of each zone ...), by the parent's id."""
        return {p["id"]: read(f"{what} of {p['id']}", pages(fn, resource_group(p["id"]), p["name"])) for p in parents}

    sub.role_assignments = read("Microsoft.Authorization/roleAssignments",
                                pages(auth.role_assignments.list_for_subscription), True)
    sub.deny_assignments = read("Microsoft.Authorization/denyAssignments",
                                pages(auth.deny_assignments.list), True)
    # Role definitions at 2022-05-01-preview: the 2022-04-01 models drop a permission block's `condition`
    # (Key Vault Data Access Administrator's limit on which roles it may assign), which decides escalation.
    defs = clients.mgmt(AuthorizationManagementClient, sub.id, api_version=ROLE_DEFINITIONS_API)
    sub.role_definitions = read("Microsoft.Authorization/roleDefinitions",
                                pages(defs.role_definitions.list, scope), True)
    known = {d["id"].lower() for d in sub.role_definitions} | {d["name"].lower() for d in sub.role_definitions}
    for rid in sorted({a["properties"]["roleDefinitionId"] for a in sub.role_assignments
                       if a.get("properties", {}).get("roleDefinitionId")}):
        if rid.lower() in known or rid.rsplit("/", 1)[-1].lower() in known:
            continue
        # a role the scope listing does not return (a custom role assignable elsewhere): fetched by its id
        got = s.attempt(f"role definition {rid}", one(defs.role_definitions.get_by_id, rid), None)
        if got is None:
            sub.complete = False
        else:
            sub.role_definitions.append(got)
            known |= {got["id"].lower(), got["name"].lower()}

    msi = clients.mgmt(ManagedServiceIdentityClient, sub.id)
    sub.identities = read("Microsoft.ManagedIdentity/userAssignedIdentities",
                          pages(msi.user_assigned_identities.list_by_subscription))
    sub.federated = under(sub.identities, "federated identity credentials", msi.federated_identity_credentials.list)

    dns = clients.mgmt(DnsManagementClient, sub.id)
    sub.zones = read("Microsoft.Network/dnszones", pages(dns.zones.list))
    sub.records = under(sub.zones, "record sets", dns.record_sets.list_all_by_dns_zone)
    private = clients.mgmt(PrivateDnsManagementClient, sub.id)
    sub.private_zones = read("Microsoft.Network/privateDnsZones", pages(private.private_zones.list))
    sub.private_records = under(sub.private_zones, "record sets", private.record_sets.list)

    tm = clients.mgmt(TrafficManagerManagementClient, sub.id)
    sub.profiles = read("Microsoft.Network/trafficManagerProfiles", pages(tm.profiles.list_by_subscription))

    kv = clients.mgmt(KeyVaultManagementClient, sub.id)
    sub.vaults = read("Microsoft.KeyVault/vaults", pages(kv.vaults.list_by_subscription))
    sub.secrets = under(sub.vaults, "secret metadata", kv.secrets.list)

    cdn = clients.mgmt(CdnManagementClient, sub.id)
    sub.frontdoors = [p for p in read("Microsoft.Cdn/profiles", pages(cdn.profiles.list))
                      if "azurefrontdoor" in str((p.get("sku") or {}).get("name", "")).lower()]
    sub.origin_groups = under(sub.frontdoors, "origin groups", cdn.afd_origin_groups.list_by_profile)
    for profile in sub.frontdoors:
        for group in sub.origin_groups[profile["id"]]:
            sub.origins[group["id"]] = read(f"origins of {group['id']}", pages(
                cdn.afd_origins.list_by_origin_group, resource_group(profile["id"]), profile["name"], group["name"]))


#: Graph's per-object relationship calls run this many at a time (one client per thread).
GRAPH_WORKERS = 8


def collect_directory(c: Collection, clients: Clients, tenant: str, subs: Sequence[SubscriptionData]) -> Directory:
    """The tenant's Graph objects: service principals, applications, and for the tenant's own objects their
    owners, federated credentials, groups and app roles; directory role assignments. The per-object calls run
    GRAPH_WORKERS at a time: in a tenant of thousands of applications they are most of the calls."""
    d = Directory()
    g = clients.graph()
    local = threading.local()
    opened: list[Any] = [g]
    lock = threading.Lock()

    def client() -> Any:
        if not hasattr(local, "graph"):
            local.graph = clients.graph()
            with lock:
                opened.append(local.graph)
        return local.graph

    def fetch(into: dict[str, list[Json]], key: str, what: str, path: str) -> None:
        into[key] = c.attempt(what, lambda: list(client().list(path)), [])

    try:
        sps = c.attempt("graph servicePrincipals", lambda: list(g.list("servicePrincipals", **{"$select": _SP_FIELDS})),
                        None)
        apps = c.attempt("graph applications", lambda: list(g.list("applications", **{"$select": _APP_FIELDS})), None)
        d.read = sps is not None and apps is not None
        d.service_principals, d.applications = sps or [], apps or []
        own = [sp for sp in d.service_principals if sp.get("appOwnerOrganizationId") not in MICROSOFT_TENANTS]
        # memberships matter only for the groups a role assignment or a deny assignment names (as principal or
        # exclusion): each one's transitive members, nested groups included (Graph "List group transitive members")
        groups = sorted({str((a.get("properties") or {}).get("principalId")) for s in subs for a in s.role_assignments
                         if (a.get("properties") or {}).get("principalType") == "Group"} | {
            str(p.get("id")) for s in subs for deny in s.deny_assignments
            for key in ("principals", "excludePrincipals") for p in (deny.get("properties") or {}).get(key) or []
            if p.get("type") == "Group"})
        members: dict[str, list[Json]] = {}
        graph_sp = next((sp["id"] for sp in d.service_principals if sp.get("appId") == GRAPH_APP_ID), None)
        assigned_to: dict[str, list[Json]] = {}
        jobs: list[tuple[dict[str, list[Json]], str, str, str]] = [
            (members, gid, f"graph members of group {gid}", f"groups/{gid}/transitiveMembers") for gid in groups]
        if graph_sp is not None:
            # who holds Microsoft Graph's application permissions: one listing on Graph's own service principal
            # ("List appRoleAssignedTo") instead of one per service principal
            jobs.append((assigned_to, graph_sp, "graph holders of Microsoft Graph's application permissions",
                         f"servicePrincipals/{graph_sp}/appRoleAssignedTo"))
        for app in d.applications:
            aid = app["id"]
            jobs += [(d.owners, aid, f"graph owners of application {aid}", f"applications/{aid}/owners"),
                     (d.federated, aid, f"graph federated credentials of application {aid}",
                      f"applications/{aid}/federatedIdentityCredentials")]
        for sp in own:
            sid = sp["id"]
            jobs.append((d.owners, sid, f"graph owners of service principal {sid}", f"servicePrincipals/{sid}/owners"))
            if graph_sp is None:
                jobs.append((d.app_roles, sid, f"graph app role assignments of service principal {sid}",
                             f"servicePrincipals/{sid}/appRoleAssignments"))
        with ThreadPoolExecutor(max_workers=GRAPH_WORKERS) as pool:
            for f in [pool.submit(fetch, *job) for job in jobs]:
                f.result()
        for a in assigned_to.get(graph_sp or "", []):
            d.app_roles.setdefault(str(a.get("principalId")), []).append(a)
        for gid, found in members.items():
            for m in found:
                if str(m.get("@odata.type", "")).endswith(".servicePrincipal"):
                    d.member_of.setdefault(str(m["id"]), []).append({"@odata.type": "#microsoft.graph.group",
                                                                     "id": gid})
        d.directory_roles = c.attempt("graph directory role assignments",
                                      lambda: list(g.list("roleManagement/directory/roleAssignments")), [])
        d.directory_role_definitions = c.attempt(
            "graph directory role definitions",
            lambda: list(g.list("roleManagement/directory/roleDefinitions",
                                **{"$select": "id,displayName,templateId"})),
            [])
    finally:
        for each in opened:
            each.close()
    return d


def collect(c: Collection, clients: Clients, values: Mapping[str, Any], visible: list[Json]) -> Snapshot:
    """Every listing of one run, from the subscriptions the first call returned (`visible`)."""
    snap = Snapshot(tenant_id=str(values["tenant_id"]))
    groups = list(values.get("management_groups") or [])
    c.say("reading management groups")
    under = read_hierarchy(c, clients, snap, groups)
    by_id = {s["subscriptionId"]: s for s in visible if s.get("subscriptionId")}
    wanted = list(values.get("subscriptions") or [])
    chosen = sorted(set(wanted) | under) if wanted or groups else sorted(by_id)
    for sid in chosen:
        if sid not in by_id:
            c.gap(f"subscription {sid}: not visible to the credential (not in its subscription list), not read")
    subs = [SubscriptionData(id=sid, name=str(by_id[sid].get("displayName") or sid),
                             tenant_id=str(by_id[sid].get("tenantId") or snap.tenant_id))
            for sid in chosen if sid in by_id]
    with ThreadPoolExecutor(max_workers=min(4, max(len(subs), 1))) as pool:
        for f in [pool.submit(collect_subscription, c, clients, sub) for sub in subs]:
            f.result()
    snap.subscriptions = subs
    c.say("reading the directory (Microsoft Graph)")
    snap.directory = collect_directory(c, clients, snap.tenant_id, subs)
    return snap
