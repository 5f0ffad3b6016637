"""Vault identities: entities (with their groups' policies), auth roles (with the entity a login through
them is, and the cloud or CI identities they admit), AppRole secret-ids, and long-lived or root tokens; and
each one's policies, for the grant rules."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from commonmode.kit import github, ids, owner_from, parse_timestamp
from commonmode.kit.workloads import Admissions
from commonmode.model import Capability, Credential, Grant, Identity
from commonmode_vault.estate import Estate
from commonmode_vault.policy import attached_policies
from commonmode_vault.snapshot import ClusterData

#: identity id → (its policy names, what they come from)
Principals = dict[str, tuple[list[str], str]]


def add_identities(estate: Estate, data: ClusterData) -> Principals:
    """Every identity of the cluster, and each one's policies (for the grant rules)."""
    opts, out, c, base, cluster = estate.opts, estate.out, estate.opts.connector, estate.base, estate.cluster
    groups_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for g in data.groups:
        for member in g.get("member_entity_ids") or ():
            groups_of[member].append(g)
    entity_policies: dict[str, list[str]] = {}
    alias_owner: dict[tuple[str, str], dict[str, Any]] = {}  # (mount accessor, alias name) → entity
    for e in data.entities:
        eid = f"{base}/identity/entity/id/{e['id']}"
        pols = list(e.get("policies") or []) + [p for g in groups_of.get(e["id"], []) for p in g.get("policies") or []]
        entity_policies[e["id"]] = pols
        meta = e.get("metadata") or {}
        out.identities.append(Identity(id=eid, provider="vault", kind="vault-entity", name=e.get("name", e["id"]),
                                       connector=c, owner=owner_from(meta, opts.owner_keys), tags=dict(meta),
                                       fault_domains=tuple(cluster)))
        for alias in e.get("aliases") or ():
            alias_owner[(alias.get("mount_accessor", ""), alias.get("name", ""))] = e
    principals: dict[str, tuple[list[str], str]] = {}  # identity id → (policies, what they come from)
    for e in data.entities:
        principals[f"{base}/identity/entity/id/{e['id']}"] = (entity_policies[e["id"]], "entity and group policies")
    secret_id_meta: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for mount, role_name, meta in data.secret_ids:
        secret_id_meta[(mount, role_name)].append(meta)
    admitted = Admissions(c)
    for mount, atype, sub, name, role in data.roles:
        rid = f"{base}/auth/{mount}{sub}/{name}"
        pols = list(role.get("token_policies") or []) + list(role.get("policies") or [])
        if not role.get("token_no_default_policy"):
            pols.append("default")
        accessor = data.auth.get(mount, {}).get("accessor", "")
        aliases = alias_names(atype, name, role, data.role_ids.get((mount, name)))
        entity = next((alias_owner[(accessor, n)] for n in aliases if (accessor, n) in alias_owner), None)
        owner = None
        origin = f"token policies of {mount}{sub}/{name}"
        if entity is not None:
            # A login through the role is that entity: its token carries the entity's and groups' policies
            # (Vault docs "Identity": identity policies), and the entity's owner is the role's.
            owner = owner_from(entity.get("metadata"), opts.owner_keys)
            eid = f"{base}/identity/entity/id/{entity['id']}"
            ename = entity.get("name", entity["id"])
            pols += entity_policies.get(entity["id"], [])
            origin = f"token policies of {mount}{sub}/{name} and the policies of its entity {ename} and groups"
            out.grants.append(Grant(identity_id=rid, capability=Capability.IDENTITY_ASSUME, resource_id=eid,
                                    connector=c, via=(f"logins through {mount}{sub}/{name} are entity {ename} "
                                         f"(entity alias on {accessor})",)))
        for meta in secret_id_meta.get((mount, name), []):
            owner = owner or owner_from(meta.get("metadata"), opts.owner_keys)
            acc = meta.get("secret_id_accessor", "")
            out.credentials.append(Credential(
                id=f"{rid}/secret-id-accessor/{acc}", identity_id=rid, kind="approle-secret-id", connector=c,
                created=parse_timestamp(meta.get("creation_time")),
                expires=parse_timestamp(meta.get("expiration_time")),
                last_used=parse_timestamp(meta.get("last_updated_time")), fault_domains=tuple(cluster)))
        tags = {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in role.items()
                if k.startswith("bound_") and v}
        # "auth methods cannot create root tokens" (checked on OpenBao): every login through a role whose token
        # policies name root, in any spelling, fails, so it grants nothing; its tags say why.
        unusable = "root" in attached_policies([*(role.get("token_policies") or []), *(role.get("policies") or [])])
        if unusable:
            tags["login"] = "fails: its token policies include root, and auth methods cannot create root tokens"
        out.identities.append(Identity(id=rid, provider="vault", kind=f"vault-role ({atype})", name=f"{mount}{name}",
                                       connector=c, owner=owner, tags=tags, fault_domains=tuple(cluster)))
        if unusable:
            continue
        principals[rid] = (pols, origin)
        for b in bound_identities(atype, role, data.issuers.get(mount)):
            out.grants.append(Grant(identity_id=b.who, capability=Capability.IDENTITY_ASSUME, resource_id=rid,
                                    connector=c, via=(f"{atype} auth role {mount}{name} binds {b.why}",)))
            if b.who.startswith(("github:", "gitlab:", "k8s:", "oidc:")):
                admitted.admit(b.who, rid, b.broad, b.environment)
    out.identities.extend(admitted.identities({i.id for i in out.identities}))
    now = opts.now or datetime.now(UTC)
    for t in data.tokens:
        pols = list(t.get("policies") or [])
        expires = parse_timestamp(t.get("expire_time"))
        long_lived = expires is None or expires - now > timedelta(days=opts.long_lived_days)
        if not ("root" in pols or t.get("orphan") or long_lived):
            continue
        acc = t.get("accessor", "")
        tid = f"{base}/auth/token/accessors/{acc}"
        meta = t.get("meta") or {}
        out.identities.append(Identity(id=tid, provider="vault", kind="vault-token", name=t.get("display_name") or acc,
                                       connector=c, owner=owner_from(meta, opts.owner_keys), tags=dict(meta or {}),
                                       fault_domains=tuple(cluster)))
        out.credentials.append(Credential(id=f"{tid}/token", identity_id=tid, kind="vault-token" + (
            " (root)" if "root" in pols else ""), connector=c, created=parse_timestamp(t.get("creation_time")),
            expires=expires, fault_domains=tuple(cluster)))
        if t.get("entity_id"):
            pols += entity_policies.get(t["entity_id"], [])
        principals[tid] = (pols, f"policies of token {t.get('display_name') or acc}")
    return principals


def alias_names(atype: str, name: str, role: Mapping[str, Any], role_id: str | None = None) -> list[str]:
    """Entity alias names a login through this role gets, where the role says. An AppRole login's alias is
    named by the role's role_id (AppRole docs), known only when the connector read it (`read_role_ids`)."""
    if atype == "approle":
        return [role_id] if role_id else []
    if atype in ("userpass", "cert"):
        return [name]
    if atype == "kubernetes":
        ns = role.get("bound_service_account_namespaces") or []
        sas = role.get("bound_service_account_names") or []
        return [f"{n}/{s}" for n in ns for s in sas] + list(sas)
    if atype in ("jwt", "oidc") and role.get("bound_subject"):
        return [str(role["bound_subject"])]
    return []


#: Claims that only a GitHub Actions token carries among the bound_claims a role names (GitHub, "OpenID
#: Connect reference"): a role binding them is read as GitHub's when the mount's issuer is not known.
_GITHUB_CLAIMS = frozenset({"repository", "repository_owner", "job_workflow_ref", "workflow_ref", "repository_id"})


def bound_identities(atype: str, role: Mapping[str, Any], issuer: str | None = None) -> list[Bound]:
    """Cloud or CI identities a role admits: an identity.assume edge from each into the Vault role. For jwt/oidc
    roles (JWT/OIDC auth (API), "Create/Update role"): only `role_type = "jwt"` roles take a JWT login (an "oidc"
    role is the browser flow of a person); a token that carries `aud` logs in only where `bound_audiences` lists
    it (checked on OpenBao 2.7: "audience claim found in JWT but no audiences bound to the role"; every OIDC
    token carries one); `bound_subject` must equal the token's `sub`; `bound_claims` maps claims to a value or
    list (any one of them), compared literally, or as globs (`*` only: a `?` is literal, checked on OpenBao) with
    `bound_claims_type = "glob"`; `issuer` is the mount's (its config's bound_issuer or discovery URL). A GitHub
    role is read by the kit (commonmode.kit.github); another issuer's subject by kit.ids.workload_of_subject; a
    role with neither a subject nor claims admits any token of the issuer that carries an audience it accepts."""
    out: list[Bound] = []

    def many(key: str) -> list[str]:
        v = role.get(key) or []
        return [str(x) for x in (v if isinstance(v, list) else [v]) if x and x != "*"]
    if atype == "aws":
        for key in ("bound_iam_principal_arn", "bound_iam_role_arn", "bound_iam_instance_profile_arn"):
            out += [Bound(arn, f"{key} = {arn}") for arn in many(key)]
    elif atype == "azure":
        out += [Bound(ids.azure_object_id(sp), f"bound_service_principal_ids = {sp}")
                for sp in many("bound_service_principal_ids")]
    elif atype == "gcp":
        out += [Bound(ids.gcp_service_account(e), f"bound_service_accounts = {e}")
                for e in many("bound_service_accounts")]
    elif atype in ("jwt", "oidc"):
        out += _jwt_bound(role, issuer)
    return out


@dataclass(frozen=True)
class Bound:
    """One identity a role admits, why (the role's words), and, for an external workload, why the trust is too
    broad and the environment that alone narrows it (kit.github.Reading)."""

    who: str
    why: str
    broad: str | None = None
    environment: str | None = None


def _jwt_bound(role: Mapping[str, Any], issuer: str | None) -> list[Bound]:
    if role.get("role_type", "jwt") != "jwt" or not role.get("bound_audiences"):
        return []  # no JWT login at all, or none with the audience every OIDC token carries
    claims: dict[str, Any] = dict(role.get("bound_claims") or {})
    glob = role.get("bound_claims_type") == "glob"  # "string" (the default) compares literally
    conds: dict[str, list[str]] = {}
    words: list[str] = []
    for claim, value in claims.items():
        values = [str(v) for v in (value if isinstance(value, list) else [value])]
        # compared literally, a `*` or `?` matches no real claim (no repository, ref or environment name holds
        # one); under glob only `*` is a wildcard, so a `?` is literal there too: such values admit none
        conds[claim] = [v for v in values if "?" not in v and (glob or "*" not in v)]
        words.append(f"bound_claims.{claim} = {', '.join(values)}")
    subject = str(role.get("bound_subject") or "")
    if subject:
        conds["sub"] = [] if github.is_pattern(subject) else [subject]  # compared exactly
        words.append(f"bound_subject = {subject}")
    if glob and claims:
        words.append("(bound_claims_type glob)")
    why = "; ".join(words)
    out: list[Bound] = []
    oid = claims.get("oid")
    for o in oid if isinstance(oid, list) else [oid] if oid else []:
        out.append(Bound(ids.azure_object_id(str(o)), f"bound_claims.oid = {o}"))
    github_role = issuer == ids.GITHUB_ISSUER or (not issuer and (
        subject.startswith("repo:") or bool(_GITHUB_CLAIMS & set(claims))))
    if github_role:
        out += [Bound(r.workload, why or "no bound_subject or bound_claims", r.broad, r.environment)
                for r in github.read(conds)]
    elif issuer and not oid:
        if subject:
            out.append(Bound(ids.workload_of_subject(issuer, subject), why))
        elif not claims:
            out.append(Bound(ids.oidc_workload(issuer), "no bound_subject or bound_claims",
                             "it has no bound_subject or bound_claims: any token of the issuer with an accepted "
                             "audience logs in"))
        else:
            out.append(Bound(ids.oidc_workload(issuer, "*"), why, f"it admits every subject whose claims match {why}"))
    return out
