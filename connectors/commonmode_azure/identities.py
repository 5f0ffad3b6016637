"""Entra identities: service principals, applications (app registrations) and managed identities, their
credentials (key ids and dates only), their owners, and the edges that let one identity act as another:
an application's credentials sign in as its service principal; an owner can add credentials (Graph
"application: addPassword", "servicePrincipal: addPassword": owners may call them); a federated identity
credential lets an external workload (a GitHub workflow, a Kubernetes service account, another cloud) sign in
(Microsoft identity platform, "Workload identity federation"); Graph application permissions and Entra
directory roles that manage every application's credentials."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from commonmode.connector import InventoryParts
from commonmode.kit import github, ids
from commonmode.kit.values import owner_from, owner_in_description, parse_timestamp
from commonmode.kit.workloads import Admissions
from commonmode.model import Capability, Credential, Grant, Identity
from commonmode_azure.snapshot import GRAPH_APP_ID, Directory, Json, Snapshot

#: Graph application permissions (app roles of Microsoft Graph) that let the holder add credentials to other
#: applications, or grant itself a permission or role that does (Microsoft Graph permissions reference).
GRAPH_ESCALATION = {
    "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9": "Application.ReadWrite.All",
    "06b708a9-e830-4db3-a914-8e69da51d44f": "AppRoleAssignment.ReadWrite.All",
    "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8": "RoleManagement.ReadWrite.Directory",
}
#: Application.ReadWrite.OwnedBy: the applications it owns only (those are owner edges already).
GRAPH_OWNED_BY = "18a4783c-866b-4cc7-a460-3d5e5662c884"
#: Entra built-in directory roles (by template id) that can add credentials to any application and service
#: principal, or assign themselves a role that can (Microsoft Entra built-in roles reference).
DIRECTORY_ESCALATION = {
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
}


@dataclass
class Principals:
    """What the grants need from the directory: each principal's groups, and which ids are identities."""

    groups: dict[str, set[str]] = field(default_factory=dict)  # principal id -> its groups (transitive)
    identities: dict[str, Identity] = field(default_factory=dict)
    #: user-assigned managed identity ARM id (lower-cased) -> its service principal's object id
    by_arm_id: dict[str, str] = field(default_factory=dict)


def _owner_name(owners: Sequence[Json]) -> str | None:
    """The accountable owner among Graph owners: the first user (an owner that is itself a service principal
    is a non-human identity, not accountable: DOMAIN.md §4.2)."""
    for o in owners:
        if str(o.get("@odata.type", "")).endswith(".user"):
            return str(o.get("userPrincipalName") or o.get("mail") or o.get("displayName") or o.get("id"))
    return None


def _credentials(obj: Json, identity_id: str, where: str, connector: str) -> list[Credential]:
    """Password and key credentials of an application or service principal: key ids and dates, never the
    secret (Graph returns it only from addPassword, which is never called; `hint` is never kept)."""
    out = []
    for key, kind in (("passwordCredentials", "client-secret"), ("keyCredentials", "client-certificate")):
        for cred in obj.get(key) or []:
            out.append(Credential(id=f"{where}/{key}/{cred.get('keyId')}", identity_id=identity_id, kind=kind,
                                  connector=connector, created=parse_timestamp(cred.get("startDateTime")),
                                  expires=parse_timestamp(cred.get("endDateTime"))))
    return out


#: A flexible federated identity credential's expression ("Flexible federated identity credentials",
#: https://learn.microsoft.com/entra/workload-id/workload-identities-flexible-federated-identity-credentials):
#: clauses `claims['<claim>'] <operator> '<comparand>'` (operators `matches`, a wildcard pattern, and `eq`),
#: joined by ` and `; GitHub's claims there are `sub` and `job_workflow_ref`.
_CLAUSE = re.compile(r"\s*claims\['([A-Za-z_]+)'\]\s+(matches|eq)\s+'([^']*)'\s*")


def _expression_claims(expression: str) -> dict[str, list[list[str]]] | None:
    """claim → the value sets its clauses accept, all of which must hold (`and`): a pattern under `matches`; an
    `eq` comparand with a wildcard is literal and matches no real token (an empty set); None for an expression
    the scanner does not read."""
    out: dict[str, list[list[str]]] = {}
    for clause in re.split(r"\s+and\s+", expression.strip()):
        m = _CLAUSE.fullmatch(clause)
        if m is None:
            return None
        claim, op, value = m.groups()
        out.setdefault(claim, []).append([value] if op == "matches" or not github.is_pattern(value) else [])
    return out


def federation_edges(admitted: Admissions, out: InventoryParts, target: str, target_name: str,
                     creds: Iterable[Json], where: str, connector: str, owner_keys: Sequence[str] = ("owner",)) -> None:
    """An identity.assume edge from each workload a federated identity credential admits into `target`: a token
    of the credential's issuer whose subject equals `subject`, or whose claims satisfy the flexible expression;
    GitHub's read by the kit (commonmode.kit.github: the repository, and whether the trust is too broad),
    another issuer's subject by kit.ids.workload_of_subject (a Kubernetes service account, a GitLab project,
    else `oidc:ISSUER:SUBJECT`). A credential's description naming an owner (`owner: team`, `owner_keys`) is
    the workload's owner."""
    for fic in creds:
        props = fic.get("properties") or fic  # ARM nests them; Graph does not
        issuer = str(props.get("issuer") or "")
        subject = str(props.get("subject") or "")
        raw = props.get("claimsMatchingExpression")
        expression = str((raw.get("value") if isinstance(raw, dict) else raw) or "")
        if not issuer:
            continue
        owner = owner_in_description(str(props.get("description") or ""), owner_keys)
        if subject:  # compared exactly: a wildcard in it is a literal character
            claims: dict[str, list[list[str]]] | None = {"sub": [[subject] if not github.is_pattern(subject) else []]}
        else:
            claims = _expression_claims(expression) if expression else None
        condition = (f"subject {subject}" if subject else f"claims matching {expression}" if expression else
                     "no subject returned (a flexible credential: Graph v1.0 and ARM's stable API do not return "
                     "claimsMatchingExpression)")
        via = f"federated credential {fic.get('name', '?')} on {where} {target_name}: issuer {issuer}, {condition}"
        if claims is None:
            # what it matches is not known: any subject of the issuer may, conditionally (not a broad trust: a gap
            # of the scan, said as one)
            who = ids.oidc_workload(issuer) if issuer.rstrip("/") != ids.GITHUB_ISSUER else ids.GITHUB_ANY
            admitted.admit(who, target, owner=owner)
            out.grants.append(Grant(identity_id=who, capability=Capability.IDENTITY_ASSUME, resource_id=target,
                                    connector=connector, via=(via,), conditional=True))
            out.gaps.append(f"federated credential {fic.get('name', '?')} on {where} {target_name}: "
                            + (f"its claims expression {expression} is not read by the scanner" if expression else
                               "Graph returned no subject and no claimsMatchingExpression (a flexible credential, "
                               "whose expression Graph v1.0 omits)")
                            + ": who it admits is taken as any subject of its issuer, conditionally")
            continue
        if issuer.rstrip("/") == ids.GITHUB_ISSUER:
            readings = [(r.workload, r.broad, r.environment) for r in github.read(claims)]
        else:
            readings = [(ids.workload_of_subject(issuer, s),
                         f"its subject pattern {s} admits every subject matching it" if github.is_pattern(s)
                         else None, None) for s in github.common(claims.get("sub", []))]
        for who, broad, environment in readings:
            admitted.admit(who, target, broad, environment, owner)
            out.grants.append(Grant(identity_id=who, capability=Capability.IDENTITY_ASSUME, resource_id=target,
                                    connector=connector, via=(via,)))


def build_identities(snap: Snapshot, out: InventoryParts, connector: str, owner_tags: Sequence[str]) -> Principals:
    """Identities, credentials and the identity.assume edges between them."""
    d: Directory = snap.directory
    known = Principals()
    tenant_fd = f"azure:tenant:{snap.tenant_id}"
    admitted = Admissions(connector)
    uami: dict[str, tuple[Json, str]] = {}  # lower-cased ARM id -> (identity resource, subscription)
    for sub in snap.subscriptions:
        for ident in sub.identities:
            uami[ident["id"].lower()] = (ident, sub.id)

    # the tenant's own service principals (their owners were read) and every managed identity; Microsoft's
    # first-party ones join the inventory only when they are given a grant (grants.py)
    own = {sp["id"] for sp in d.service_principals if d.owners.get(sp["id"]) is not None or
           sp.get("servicePrincipalType") == "ManagedIdentity" or sp["id"] in d.app_roles}
    app_by_appid = {a.get("appId"): a for a in d.applications}
    for sp in d.service_principals:
        sid = ids.azure_object_id(sp["id"])
        managed = sp.get("servicePrincipalType") == "ManagedIdentity"
        tags: dict[str, str] = {"appId": str(sp.get("appId") or ""),
                                "servicePrincipalType": str(sp.get("servicePrincipalType") or "")}
        fds = [tenant_fd]
        app = app_by_appid.get(sp.get("appId"))
        # a service principal's accountable owner: its own Graph owners, else its application's (the app
        # registration is where a tenant records who owns an app: Graph "application: owners")
        owner = _owner_name(d.owners.get(sp["id"]) or []) or (
            _owner_name(d.owners.get(app["id"]) or []) if app is not None else None)
        arm_ids = [n for n in sp.get("alternativeNames") or [] if str(n).lower().startswith("/subscriptions/")]
        if managed and arm_ids:
            arm = arm_ids[0]
            tags["armId"] = arm
            known.by_arm_id[arm.lower()] = sid
            if arm.lower() in uami:
                resource, sub_id = uami[arm.lower()]
                tags["assignment"] = "user-assigned"
                owner = owner_from(resource.get("tags") or {}, owner_tags) or owner
                fds += [f"azure:subscription:{sub_id}", f"azure:region:{resource.get('location', '')}".rstrip(":")]
            else:
                # a system-assigned identity lives and dies with its host resource (its ARM id)
                tags["assignment"] = "system-assigned"
                fds.append(f"azure:subscription:{arm.split('/')[2]}")
        identity = Identity(id=sid, provider="azure", kind="managed-identity" if managed else "service-principal",
                            name=str(sp.get("displayName") or sid), connector=connector, owner=owner, tags=tags,
                            fault_domains=tuple(fds))
        known.identities[sid] = identity
        if sp["id"] in own:
            out.identities.append(identity)
            out.credentials += _credentials(sp, sid, f"servicePrincipals/{sid}", connector)
        known.groups[sid] = {str(g["id"]) for g in d.member_of.get(sp["id"]) or []
                             if str(g.get("@odata.type", "#microsoft.graph.group")).endswith(".group")}
        if app is not None:
            out.grants.append(Grant(identity_id=ids.azure_object_id(app["id"]),
                                    capability=Capability.IDENTITY_ASSUME, resource_id=sid, connector=connector,
                                    via=(f"application {app.get('displayName')} (app id {app.get('appId')}): its "
                                         "credentials and federated credentials sign in as this service principal",)))

    for app in d.applications:
        aid = ids.azure_object_id(app["id"])
        owners = d.owners.get(app["id"]) or []
        out.identities.append(Identity(id=aid, provider="azure", kind="application",
                                       name=str(app.get("displayName") or aid), connector=connector,
                                       owner=_owner_name(owners), tags={"appId": str(app.get("appId") or "")},
                                       fault_domains=(tenant_fd,)))
        out.credentials += _credentials(app, aid, f"applications/{aid}", connector)
        federation_edges(admitted, out, aid, str(app.get("displayName") or aid), d.federated.get(app["id"]) or [],
                         "application", connector, owner_tags)
    for obj_id, owners in d.owners.items():
        what = "application" if any(a["id"] == obj_id for a in d.applications) else "service principal"
        for o in owners:
            if str(o.get("@odata.type", "")).endswith(".servicePrincipal"):
                out.grants.append(Grant(identity_id=ids.azure_object_id(o["id"]),
                                        capability=Capability.IDENTITY_ASSUME,
                                        resource_id=ids.azure_object_id(obj_id), connector=connector,
                                        via=(f"owner of {what} {obj_id}: owners can add credentials to it "
                                             "(Graph addPassword/addKey)",)))

    for arm_lower, (resource, _sub) in sorted(uami.items()):
        target = known.by_arm_id.get(arm_lower)
        if target is None:  # the identity's service principal was not read (Graph not readable)
            continue
        federation_edges(admitted, out, target, str(resource.get("name")), _federated_of(snap, resource["id"]),
                         "managed identity", connector, owner_tags)
    out.identities.extend(admitted.identities({i.id for i in out.identities}))
    _directory_escalation(d, out, connector)
    return known


def _federated_of(snap: Snapshot, arm_id: str) -> list[Json]:
    for sub in snap.subscriptions:
        if arm_id in sub.federated:
            return sub.federated[arm_id]
    return []


def _directory_escalation(d: Directory, out: InventoryParts, connector: str) -> None:
    """Graph application permissions and directory roles that manage every application's credentials become
    identity.assume edges into every application of the tenant."""
    graph_sp = next((sp["id"] for sp in d.service_principals if sp.get("appId") == GRAPH_APP_ID), None)
    powers: dict[str, str] = {}
    for sid, assignments in d.app_roles.items():
        for a in assignments:
            name = GRAPH_ESCALATION.get(str(a.get("appRoleId")))
            if name and (graph_sp is None or a.get("resourceId") == graph_sp):
                powers.setdefault(sid, f"Microsoft Graph application permission {name}")
    templates: Mapping[str, Any] = {str(r.get("id")): r.get("templateId") or r.get("id")
                                    for r in d.directory_role_definitions}
    sp_ids = {sp["id"] for sp in d.service_principals}
    for ra in d.directory_roles:
        template = templates.get(str(ra.get("roleDefinitionId")), ra.get("roleDefinitionId"))
        name = DIRECTORY_ESCALATION.get(str(template))
        if name and ra.get("principalId") in sp_ids and (ra.get("directoryScopeId") or "/") == "/":
            powers.setdefault(str(ra["principalId"]), f"Entra directory role {name} (tenant-wide)")
    for sid, why in sorted(powers.items()):
        for app in d.applications:
            out.grants.append(Grant(identity_id=ids.azure_object_id(sid), capability=Capability.IDENTITY_ASSUME,
                                    resource_id=ids.azure_object_id(app["id"]), connector=connector,
                                    via=(f"{why}: can add credentials to any application",)))
