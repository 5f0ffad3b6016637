"""The calls: which Resource Manager, IAM, Cloud DNS, Secret Manager and Certificate Manager reads the connector
makes, each one `attempt` of the run's Collection (a failure is one gap naming the call and the project; the rest
is still read). Lists are followed through every page: REST by nextPageToken, gRPC by the client's own pager.

Read-only, metadata only: the hierarchy and its allow policies (requested at version 3, so conditions come back),
deny policies, service accounts, their user-managed keys' metadata (never key material) and their allow
policies, roles with their permissions, workload identity pools and providers, managed zones and record sets
(routing policies included) and zone allow policies, secrets' metadata and allow policies (never a version's
payload), Certificate Manager certificates, maps and DNS authorizations.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from google.protobuf import json_format  # type: ignore[import-untyped]

from commonmode.kit import Collection
from commonmode_gcp.client import Clients, Json
from commonmode_gcp.snapshot import ProjectData, Snapshot

T = TypeVar("T")
_WITHCOND = re.compile(r"(.+)_withcond_[0-9a-f]+")
#: Projects read at the same time (each one's calls in one thread).
PROJECT_WORKERS = 4


V = TypeVar("V")


def bind(value: V, fn: Callable[[V], T]) -> Callable[[], T]:
    """`fn(value)` as a call for `attempt` (the value bound now, not when a loop has moved on)."""
    return lambda: fn(value)


def rest_of(message: Any) -> Json:
    """A google-cloud-iam message (proto-plus or raw protobuf) in its REST JSON shape (camelCase)."""
    pb = getattr(type(message), "pb", None)
    raw = pb(message) if callable(pb) else message
    out: Json = json_format.MessageToDict(raw)
    return out


def dns_path(project: str) -> str:
    return f"/dns/v1/projects/{project}"


def project_policy_key(project: str) -> str:
    return f"projects/{project}"


def _deny_parent(container: str) -> str:
    """The IAM v2 parent of the deny policies attached to a container: the URL-encoded full resource name
    (`policies/cloudresourcemanager.googleapis.com%2Fprojects%2FP/denypolicies`)."""
    encoded = urllib.parse.quote(f"cloudresourcemanager.googleapis.com/{container}", safe="")
    return f"policies/{encoded}/denypolicies"


def first_call(c: Collection, clients: Clients, values: Mapping[str, Any]) -> list[Json]:
    """The connector's first call (it also proves the credentials): the configured organization or folders
    (Resource Manager get), or the projects: each configured one (get), else every one the credentials can
    find (projects:search). Raises on failure: the connector then fails with one line."""
    if values.get("organization"):
        return [clients.rest("GET", "cloudresourcemanager", f"/v3/{values['organization']}")]
    if values.get("folders"):
        return [clients.rest("GET", "cloudresourcemanager", f"/v3/{values['folders'][0]}")]
    if values.get("projects"):
        return [clients.rest("GET", "cloudresourcemanager", f"/v3/projects/{values['projects'][0]}")]
    return clients.pages("cloudresourcemanager", "/v3/projects:search", "projects")


def _walk(c: Collection, clients: Clients, snap: Snapshot, root: str, projects: dict[str, Json]) -> None:
    """Every folder and project below `root` (organizations/N or folders/N), breadth first."""
    todo = [root]
    while todo:
        parent = todo.pop(0)
        for f in c.attempt(f"folders under {parent}", partial(clients.pages, "cloudresourcemanager", "/v3/folders",
                                                                  "folders", params={"parent": parent}), list[Json]()):
            if f.get("state", "ACTIVE") != "ACTIVE":
                continue
            snap.parents[f["name"]] = str(f.get("parent") or parent)
            snap.folder_names[f["name"]] = str(f.get("displayName") or f["name"])
            todo.append(f["name"])
        listed = c.attempt(f"projects under {parent}", partial(clients.pages, "cloudresourcemanager", "/v3/projects",
                                                               "projects", params={"parent": parent}), list[Json]())
        for p in listed:
            if p.get("state", "ACTIVE") == "ACTIVE":
                projects[p["projectId"]] = p


def _above(c: Collection, clients: Clients, snap: Snapshot, start: str) -> None:
    """The folders (and the organization) above `start`: their allow policies apply below them too."""
    name = start
    while name.startswith("folders/") and name not in snap.parents:
        got = c.attempt(f"folder {name}", partial(clients.rest, "GET", "cloudresourcemanager", f"/v3/{name}"),
                        None)
        if got is None:
            return
        snap.parents[name] = str(got.get("parent") or "")
        snap.folder_names[name] = str(got.get("displayName") or name)
        name = snap.parents[name]
    if name.startswith("organizations/"):
        snap.organization = snap.organization or name


def read_hierarchy(c: Collection, clients: Clients, snap: Snapshot, values: Mapping[str, Any],
                   first: list[Json]) -> dict[str, Json]:
    """The projects to scan (project id -> Resource Manager Project), recording the folders and the
    organization above them in `snap` (parents, names)."""
    projects: dict[str, Json] = {}
    if values.get("organization"):
        snap.organization = str(values["organization"])
        _walk(c, clients, snap, snap.organization, projects)
    elif values.get("folders"):
        for i, folder in enumerate(values["folders"]):
            got = first[0] if i == 0 else c.attempt(f"folder {folder}", partial(
                clients.rest, "GET", "cloudresourcemanager", f"/v3/{folder}"), None)
            if got is None:
                continue
            snap.parents[folder] = str(got.get("parent") or "")
            snap.folder_names[folder] = str(got.get("displayName") or folder)
            _above(c, clients, snap, snap.parents[folder])
            _walk(c, clients, snap, folder, projects)
    elif values.get("projects"):
        for i, pid in enumerate(values["projects"]):
            got = first[0] if i == 0 else c.attempt(f"project {pid}", partial(
                clients.rest, "GET", "cloudresourcemanager", f"/v3/projects/{pid}"), None)
            if got is not None:
                projects[str(got.get("projectId") or pid)] = got
    else:
        projects = {p["projectId"]: p for p in first if p.get("state", "ACTIVE") == "ACTIVE"}
    for p in projects.values():
        parent = str(p.get("parent") or "")
        snap.parents[f"projects/{p['projectId']}"] = parent
        if parent:
            _above(c, clients, snap, parent)
    return projects


def _policy(c: Collection, snap: Snapshot, key: str, what: str, fn: Callable[[], Json]) -> None:
    got = c.attempt(f"allow policy of {what}", fn, None,
                    note="grants there and below are missing")
    if got is None:
        snap.unread_policies.add(key)
    else:
        snap.policies[key] = got


def _deny_policies(c: Collection, clients: Clients, snap: Snapshot, container: str, key: str) -> None:
    """The deny policies attached to `container` (ListPolicies returns them without rules: each one is read
    with GetPolicy). `key` is the container as the build names it (`projects/ID`)."""
    api = clients.policies()
    listed = c.attempt(f"deny policies on {container}", lambda: [
        rest_of(p) for p in clients.rpc(api.list_policies, request={"parent": _deny_parent(container)})], None,
        note="what they deny is not subtracted")
    for p in listed or []:
        got = c.attempt(f"deny policy {p.get('name')}", bind(p["name"], lambda n: rest_of(
            clients.rpc(api.get_policy, request={"name": n}))), None, note="what it denies is not subtracted")
        if got is not None:
            snap.deny_policies.append((key, got))


def read_containers(c: Collection, clients: Clients, snap: Snapshot, projects: Mapping[str, Json]) -> None:
    """Allow and deny policies of the organization and every folder (projects' are read with the project)."""
    containers = ([snap.organization] if snap.organization else []) + sorted(
        n for n in snap.parents if n.startswith("folders/"))
    for name in containers:
        _policy(c, snap, name, name, bind(name, lambda n: clients.get_iam_policy(
            "cloudresourcemanager", f"/v3/{n}")))
        _deny_policies(c, clients, snap, name, name)
    if snap.organization:
        org_roles = c.attempt(f"custom roles of {snap.organization}", lambda: _roles(clients, snap.organization),
                              None, note="bindings of them are not decided")
        for r in org_roles or []:
            snap.roles[r["name"]] = r


def _roles(clients: Clients, parent: str) -> list[Json]:
    from google.cloud import iam_admin_v1

    api = clients.iam()
    return [rest_of(r) for r in clients.rpc(api.list_roles, request=iam_admin_v1.ListRolesRequest(
        parent=parent, view=iam_admin_v1.RoleView.FULL, page_size=1000))]


def read_project(c: Collection, clients: Clients, snap: Snapshot, p: ProjectData) -> None:
    """One project's reads."""
    from google.cloud import iam_admin_v1

    s = c.within(gaps=f"project {p.id}: ", progress=f"project {p.id}: ")
    key = project_policy_key(p.id)
    _policy(s, snap, key, key, lambda: clients.get_iam_policy("cloudresourcemanager", f"/v3/projects/{p.id}"))
    _deny_policies(s, clients, snap, f"projects/{p.id}", key)

    api = clients.iam()
    listing = iam_admin_v1.ListServiceAccountsRequest(name=f"projects/{p.id}", page_size=100)
    p.service_accounts = s.attempt("service accounts", lambda: [
        rest_of(a) for a in clients.rpc(api.list_service_accounts, request=listing)], [])
    for sa in p.service_accounts:
        email = str(sa.get("email"))
        name = f"projects/{p.id}/serviceAccounts/{email}"
        p.keys[email] = s.attempt(f"keys of {email}", bind(name, lambda n: [
            _key_metadata(rest_of(k)) for k in clients.rpc(api.list_service_account_keys, request=(
                iam_admin_v1.ListServiceAccountKeysRequest(
                    name=n, key_types=[iam_admin_v1.ListServiceAccountKeysRequest.KeyType.USER_MANAGED]))).keys]),
            [])
        _policy(s, snap, f"//iam.googleapis.com/{name}", f"service account {email}",
                bind(name, lambda n: rest_of(clients.rpc(api.get_iam_policy, request=_iam_policy_request(n)))))
    custom = s.attempt("custom roles", lambda: _roles(clients, f"projects/{p.id}"), None,
                       note="bindings of them are not decided")
    for r in custom or []:
        snap.roles[r["name"]] = r
        p.custom_roles.append(r)

    p.pools = s.attempt("workload identity pools", lambda: clients.pages(
        "iam_rest", f"/v1/projects/{p.id}/locations/global/workloadIdentityPools", "workloadIdentityPools"), [])
    for pool in p.pools:
        pool_id = str(pool["name"]).rsplit("/", 1)[-1]
        p.providers[pool["name"]] = s.attempt(f"providers of {pool['name']}", bind(pool_id, lambda i: clients.pages(
            "iam_rest", f"/v1/projects/{p.id}/locations/global/workloadIdentityPools/{i}/providers",
            "workloadIdentityPoolProviders")), [])

    p.zones = s.attempt("Cloud DNS managed zones", lambda: clients.pages(
        "dns", f"{dns_path(p.id)}/managedZones", "managedZones", size="maxResults"), [])
    for z in p.zones:
        zone = str(z["name"])
        p.rrsets[zone] = s.attempt(f"record sets of {zone}", bind(zone, lambda n: clients.pages(
            "dns", f"{dns_path(p.id)}/managedZones/{n}/rrsets", "rrsets", size="maxResults")), [])
        _policy(s, snap, f"//dns.googleapis.com/projects/{p.id}/managedZones/{zone}", f"managed zone {zone}",
                bind(zone, lambda n: clients.get_iam_policy("dns", f"{dns_path(p.id)}/managedZones/{n}")))

    p.secrets = s.attempt("Secret Manager secrets", lambda: clients.pages(
        "secretmanager", f"/v1/projects/{p.id}/secrets", "secrets"), [])
    for secret in p.secrets:
        sid = str(secret["name"]).rsplit("/", 1)[-1]
        _policy(s, snap, f"//secretmanager.googleapis.com/projects/{p.id}/secrets/{sid}", f"secret {sid}",
                bind(sid, lambda i: clients.get_iam_policy("secretmanager", f"/v1/projects/{p.id}/secrets/{i}",
                                                     method="GET")))

    base = f"/v1/projects/{p.id}/locations/global"
    certificates = s.attempt("Certificate Manager certificates", lambda: clients.pages(
        "certificatemanager", f"{base}/certificates", "certificates"), None)
    if certificates is not None:  # not read (the API disabled, say): its maps and authorizations are not tried
        p.certificates = certificates
        p.certificate_maps = s.attempt("Certificate Manager certificate maps", lambda: clients.pages(
            "certificatemanager", f"{base}/certificateMaps", "certificateMaps"), [])
        p.dns_authorizations = s.attempt("Certificate Manager DNS authorizations", lambda: clients.pages(
            "certificatemanager", f"{base}/dnsAuthorizations", "dnsAuthorizations"), [])


def _iam_policy_request(resource: str) -> Any:
    from google.iam.v1 import iam_policy_pb2, options_pb2  # type: ignore[import-untyped]

    return iam_policy_pb2.GetIamPolicyRequest(resource=resource,
                                              options=options_pb2.GetPolicyOptions(requested_policy_version=3))


#: What a key's metadata may keep: never key material (ListServiceAccountKeys returns none, but a field that
#: might carry it is dropped whatever the server sends).
_KEY_FIELDS = ("name", "validAfterTime", "validBeforeTime", "keyAlgorithm", "keyOrigin", "keyType", "disabled")


def _key_metadata(key: Json) -> Json:
    return {k: key[k] for k in _KEY_FIELDS if k in key}


def read_roles(c: Collection, clients: Clients, snap: Snapshot) -> None:
    """Every predefined role a binding names (GetRole, which always returns includedPermissions), each once
    however many projects bind it; custom roles came with their project or organization."""
    api = clients.iam()
    wanted: set[str] = set()
    for policy in snap.policies.values():
        for b in policy.get("bindings") or []:
            role = str(b.get("role") or "")
            m = _WITHCOND.fullmatch(role)
            wanted.add(m.group(1) if m else role)
    for name in sorted(r for r in wanted if r.startswith("roles/") and r not in snap.roles):
        got = c.attempt(f"role {name}", bind(name, lambda n: rest_of(clients.rpc(api.get_role, request={"name": n}))),
                        None,
                        note="bindings of it are not decided")
        if got is not None:
            snap.roles[name] = got


def _members(clients: Clients, email: str) -> list[str]:
    """A group's members, nested groups' members included: Cloud Identity groups.lookup, then
    memberships.searchTransitiveMemberships (Cloud Identity Premium or Workspace Enterprise: elsewhere it answers
    an error, which is a gap)."""
    name = clients.rest("GET", "cloudidentity", "/v1/groups:lookup", params={"groupKey.id": email}).get("name")
    rows = clients.pages("cloudidentity", f"/v1/{name}/memberships:searchTransitiveMemberships", "memberships",
                         size_value=1000)
    # nested groups are listed too (member "groups/…"): their own members are already in the transitive list
    return sorted({str(k.get("id")).lower() for r in rows if not str(r.get("member", "")).startswith("groups/")
                   for k in r.get("preferredMemberKey") or [] if k.get("id")})


def read_groups(c: Collection, clients: Clients, snap: Snapshot) -> None:
    """The members of every group an allow policy binds or a deny rule names."""
    wanted: set[str] = set()
    for policy in snap.policies.values():
        for b in policy.get("bindings") or []:
            wanted |= {m.split(":", 1)[1].lower() for m in b.get("members") or [] if m.startswith("group:")}
    for _, deny in snap.deny_policies:
        for r in deny.get("rules") or []:
            rule = r.get("denyRule") or {}
            for p in [*(rule.get("deniedPrincipals") or []), *(rule.get("exceptionPrincipals") or [])]:
                if p.startswith("principalSet://goog/group/"):
                    wanted.add(p.rsplit("/", 1)[1].lower())
    for email in sorted(wanted):
        got = c.attempt(f"members of group:{email}", bind(email, lambda e: _members(clients, e)), None,
                        note="what its members get through it is missing")
        if got is None:
            snap.groups_unread.add(email)
        else:
            snap.groups[email] = got


def collect(c: Collection, clients: Clients, values: Mapping[str, Any], first: list[Json]) -> Snapshot:
    """Every read of one run, from what the first call returned."""
    snap = Snapshot()
    c.say("reading the resource hierarchy")
    projects = read_hierarchy(c, clients, snap, values, first)
    read_containers(c, clients, snap, projects)
    snap.projects = [ProjectData(id=pid, number=str(p.get("name", "")).rsplit("/", 1)[-1],
                                 parent=str(p.get("parent") or ""), labels=dict(p.get("labels") or {}),
                                 display_name=str(p.get("displayName") or pid)) for pid, p in sorted(projects.items())]
    with ThreadPoolExecutor(max_workers=min(PROJECT_WORKERS, max(len(snap.projects), 1))) as pool:
        for i, f in enumerate([pool.submit(read_project, c, clients, snap, p) for p in snap.projects]):
            f.result()
            c.say("projects read", i + 1, len(snap.projects))
    c.say("reading roles")
    read_roles(c, clients, snap)
    c.say("reading group members")
    read_groups(c, clients, snap)
    return snap
