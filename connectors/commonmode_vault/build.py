"""Raw Vault data (fetched by the connector through collect.ReadOnlyVault) → the typed inventory, with grants
decided by acl.py. No network here."""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from commonmode.connector import InventoryParts
from commonmode.model import Capability, Credential, Grant, Identity, Resource, ResourceKind, Store
from commonmode_vault.acl import ACL, PolicyError, Rule, Stanza, attached_policies, parse_policy


@dataclass
class ClusterData:
    cluster_id: str = ""
    cluster_name: str = ""
    auth: dict[str, dict[str, Any]] = field(default_factory=dict)  # "approle/" → {type, accessor}
    mounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)
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


@dataclass(frozen=True)
class Options:
    connector: str
    owner_keys: tuple[str, ...] = ("owner", "team")
    credential_keys: tuple[str, ...] = ("identity", "nhi")
    long_lived_days: int = 30
    now: datetime | None = None


#: Vault docs "Policies" (capabilities): `create` is allowed only where the item does not exist yet; an
#: existing KV secret is overwritten with `update` (checked on OpenBao: KV v1 and v2 refuse a create-only
#: overwrite). Routes without an existence check (PKI issue/sign, secret engines' creds, policy writes,
#: AppRole secret-id) take every POST as an update, so `create` alone does nothing there.
CREATE_ONLY = "create only: can write new keys, cannot overwrite this existing secret"


@dataclass(frozen=True)
class _Way:
    """Vault capabilities on a path that give a commonmode capability; a `note` makes the grant conditional
    and says why (what the capabilities cannot do on this path)."""

    capability: Capability
    vault_caps: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class _Target:
    """A path the engine decides capabilities on: the Vault API path, its engine and what a capability there
    means."""

    path: str  # API path, no leading slash
    resource_id: str
    engine: str  # kv1/kv2, else the mount's type (pki, aws, system, approle...): the evaluator's rules depend on it
    mount: str  # the mount the path is under ("secret/"): where its API starts
    ways: tuple[_Way, ...]
    assumes: tuple[str, ...] = ()  # cloud identities minted by reading this path (secret engines)
    explain: str = ""  # what the path does, added to the grant's via


def _allows(acl: ACL, path: str, caps: Sequence[str], engine: str, mount: str) -> tuple[bool, bool, tuple[str, ...]]:
    """The evaluator's answer for `caps` on `path`, served by an `engine` mount at `mount`."""
    return acl.allows(path, *caps, engine=engine, mount=mount)


def _owner(meta: Mapping[str, Any] | None, keys: Sequence[str]) -> str | None:
    for k in keys:
        if meta and meta.get(k):
            return str(meta[k])
    return None


def _ts(value: Any) -> datetime | None:
    if not value or value == "0001-01-01T00:00:00Z":
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    text = re.sub(r"(\.\d{6})\d+", r"\1", str(value)).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def gcp_service_account_id(email: str) -> str:
    """The GCP connector's id for a service account, from its email when the email names the project."""
    m = re.fullmatch(r"[^@]+@([a-z][a-z0-9-]+)\.iam\.gserviceaccount\.com", email)
    project = m.group(1) if m else "-"
    return f"//iam.googleapis.com/projects/{project}/serviceAccounts/{email}"


def build(data: ClusterData, opts: Options) -> InventoryParts:
    """The inventory of one cluster."""
    out = InventoryParts()
    c = opts.connector
    base = f"vault://{c}"
    cluster = [f"vault:cluster:{data.cluster_id}"] if data.cluster_id else []
    documents: dict[str, list[Stanza]] = {}
    for name, text in data.policies.items():
        try:
            documents[name] = parse_policy(text, name)
        except PolicyError as exc:
            out.gaps.append(f"{exc}: ignored, so the access it gives is missing")
    stores: dict[str, Store] = {}
    for mount, info in data.mounts.items():
        # PKI mounts are certificate paths (their issuers and roles), reported as such, not as secret stores.
        if info["type"] in ("kv", "generic", "aws", "azure", "gcp", "database"):
            sid = f"{base}/{mount.rstrip('/')}"
            stores[mount] = Store(id=sid, provider="vault", kind=f"vault-{info['type']}-mount", name=mount.rstrip("/"),
                                  connector=c, owner=_owner(_desc_meta(info.get("description")), opts.owner_keys),
                                  fault_domains=tuple(cluster))
    out.stores.extend(stores.values())
    lazy: dict[str, Resource] = {}  # resources reported only if some grant reaches them
    targets = _resources(data, opts, out, stores, base, cluster, lazy)

    # Identities: entities (and their groups), auth roles, long-lived tokens.
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
                                       connector=c, owner=_owner(meta, opts.owner_keys), tags=dict(meta),
                                       fault_domains=tuple(cluster)))
        for alias in e.get("aliases") or ():
            alias_owner[(alias.get("mount_accessor", ""), alias.get("name", ""))] = e
    principals: dict[str, tuple[list[str], str]] = {}  # identity id → (policies, what they come from)
    for e in data.entities:
        principals[f"{base}/identity/entity/id/{e['id']}"] = (entity_policies[e["id"]], "entity and group policies")
    secret_id_meta: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for mount, role, meta in data.secret_ids:
        secret_id_meta[(mount, role)].append(meta)
    for mount, atype, sub, name, role in data.roles:
        rid = f"{base}/auth/{mount}{sub}/{name}"
        pols = list(role.get("token_policies") or []) + list(role.get("policies") or [])
        if not role.get("token_no_default_policy"):
            pols.append("default")
        accessor = data.auth.get(mount, {}).get("accessor", "")
        aliases = _alias_names(atype, name, role, data.role_ids.get((mount, name)))
        entity = next((alias_owner[(accessor, n)] for n in aliases if (accessor, n) in alias_owner), None)
        owner = None
        origin = f"token policies of {mount}{sub}/{name}"
        if entity is not None:
            # A login through the role is that entity: its token carries the entity's and groups' policies
            # (Vault docs "Identity": identity policies), and the entity's owner is the role's.
            owner = _owner(entity.get("metadata"), opts.owner_keys)
            eid = f"{base}/identity/entity/id/{entity['id']}"
            ename = entity.get("name", entity["id"])
            pols += entity_policies.get(entity["id"], [])
            origin = f"token policies of {mount}{sub}/{name} and the policies of its entity {ename} and groups"
            out.grants.append(Grant(identity_id=rid, capability=Capability.IDENTITY_ASSUME, resource_id=eid, connector=c,
                                    via=(f"logins through {mount}{sub}/{name} are entity {ename} "
                                         f"(entity alias on {accessor})",)))
        for meta in secret_id_meta.get((mount, name), []):
            owner = owner or _owner(meta.get("metadata"), opts.owner_keys)
            acc = meta.get("secret_id_accessor", "")
            out.credentials.append(Credential(
                id=f"{rid}/secret-id-accessor/{acc}", identity_id=rid, kind="approle-secret-id", connector=c,
                created=_ts(meta.get("creation_time")), expires=_ts(meta.get("expiration_time")),
                last_used=_ts(meta.get("last_updated_time")), fault_domains=tuple(cluster)))
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
        for who, why in _bound_identities(atype, role):
            out.grants.append(Grant(identity_id=who, capability=Capability.IDENTITY_ASSUME, resource_id=rid, connector=c,
                                    via=(f"{atype} auth role {mount}{name} binds {why}",)))
            if who.startswith("github:"):
                out.identities.append(Identity(id=who, provider="github", kind="ci-workload", name=who.split(":", 2)[2],
                                               connector=c))
    now = opts.now or datetime.now(timezone.utc)
    for t in data.tokens:
        pols = list(t.get("policies") or [])
        expires = _ts(t.get("expire_time"))
        long_lived = expires is None or expires - now > timedelta(days=opts.long_lived_days)
        if not ("root" in pols or t.get("orphan") or long_lived):
            continue
        acc = t.get("accessor", "")
        tid = f"{base}/auth/token/accessors/{acc}"
        meta = t.get("meta") or {}
        out.identities.append(Identity(id=tid, provider="vault", kind="vault-token", name=t.get("display_name") or acc,
                                       connector=c, owner=_owner(meta, opts.owner_keys), tags=dict(meta or {}),
                                       fault_domains=tuple(cluster)))
        out.credentials.append(Credential(id=f"{tid}/token", identity_id=tid, kind="vault-token" + (
            " (root)" if "root" in pols else ""), connector=c, created=_ts(t.get("creation_time")), expires=expires,
            fault_domains=tuple(cluster)))
        if t.get("entity_id"):
            pols += entity_policies.get(t["entity_id"], [])
        principals[tid] = (pols, f"policies of token {t.get('display_name') or acc}")

    _grants(principals, documents, targets, data, base, opts, out)
    granted = {g.resource_id for g in out.grants}
    out.resources.extend(r for rid, r in lazy.items() if rid in granted)
    return out


def _desc_meta(description: Any) -> dict[str, str]:
    """`owner=team-x` style pairs in a mount's description."""
    return dict(re.findall(r"(\w+)=([\w.@-]+)", str(description or "")))


def _alias_names(atype: str, name: str, role: Mapping[str, Any], role_id: str | None = None) -> list[str]:
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


def _bound_identities(atype: str, role: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Cloud or CI identities a role admits: an identity.assume edge from each into the Vault role."""
    out: list[tuple[str, str]] = []
    def many(key: str) -> list[str]:
        v = role.get(key) or []
        return [str(x) for x in (v if isinstance(v, list) else [v]) if x and x != "*"]
    if atype == "aws":
        for key in ("bound_iam_principal_arn", "bound_iam_role_arn", "bound_iam_instance_profile_arn"):
            out += [(arn, f"{key} = {arn}") for arn in many(key)]
    elif atype == "azure":
        out += [(sp, f"bound_service_principal_ids = {sp}") for sp in many("bound_service_principal_ids")]
    elif atype == "gcp":
        out += [(gcp_service_account_id(e), f"bound_service_accounts = {e}") for e in many("bound_service_accounts")]
    elif atype in ("jwt", "oidc"):
        claims = role.get("bound_claims") or {}
        repos = claims.get("repository") or []
        for repo in repos if isinstance(repos, list) else [repos]:
            out.append((f"github:repository:{repo}", f"bound_claims.repository = {repo}"))
        sub = str(role.get("bound_subject") or "")
        m = re.match(r"repo:([^:]+/[^:]+):", sub)
        if m:
            out.append((f"github:repository:{m.group(1)}", f"bound_subject = {sub}"))
        oid = claims.get("oid")
        for o in oid if isinstance(oid, list) else [oid] if oid else []:
            out.append((str(o), f"bound_claims.oid = {o}"))
    return out


def _resources(data: ClusterData, opts: Options, out: InventoryParts, stores: Mapping[str, Store], base: str,
               cluster: list[str], lazy: dict[str, Resource]) -> list[_Target]:
    c = opts.connector
    targets: list[_Target] = []
    for mount, (version, keys) in sorted(data.kv.items()):
        store = stores[mount]
        for key, meta in keys:
            api = f"{mount}data/{key}" if version == 2 else f"{mount}{key}"
            custom = (meta or {}).get("custom_metadata") or {}
            rid = f"{base}/{api}"
            if version == 2:  # the KV logical form, as `vault kv get` names it
                out.aliases[f"{mount}{key}"] = rid
                out.aliases[f"{base}/{mount}{key}"] = rid
            out.resources.append(Resource(id=rid, kind=ResourceKind.SECRET, provider="vault", name=f"{mount}{key}",
                                          connector=c, parents=(store.id,), owner=_owner(custom, opts.owner_keys),
                                          tags=dict(custom), fault_domains=tuple(cluster)))
            overwrite = ("update", "patch") if version == 2 else ("update",)  # KV v1 has no patch
            targets.append(_Target(api, rid, f"kv{version}", mount, (
                _Way(Capability.SECRET_READ, ("read",)), _Way(Capability.SECRET_WRITE, overwrite),
                _Way(Capability.SECRET_WRITE, ("create",), CREATE_ONLY))))
            for k in opts.credential_keys:
                if custom.get(k):
                    out.credentials.append(Credential(
                        id=f"{custom[k]}@{rid}", identity_id=str(custom[k]), kind="stored-credential", connector=c,
                        stored_in=rid, created=_ts((meta or {}).get("created_time")), fault_domains=tuple(cluster)))
    targets += _pki(data, opts, out, base, cluster, lazy)
    for mount, kind, sub, name, role in data.engine_roles:
        minted: list[tuple[str, str]] = []
        # Vault API docs: aws creds/sts and gcp token/key are read with GET or POST (an update); azure and
        # database creds with GET only (OpenBao answers a POST on database/creds with 405).
        mint = ("read", "update") if kind in ("aws", "gcp") else ("read",)
        if kind == "aws":
            minted = [(a, f"role_arns {a}") for a in role.get("role_arns") or []]
            paths = [f"{mount}creds/{name}", f"{mount}sts/{name}"]
        elif kind == "azure":
            app = role.get("application_object_id")
            minted = [(app, f"application_object_id {app}")] if app else []
            paths = [f"{mount}creds/{name}"]
        elif kind == "gcp":
            email = role.get("service_account_email")
            minted = [(gcp_service_account_id(email), f"service_account_email {email}")] if email else []
            paths = [f"{mount}{sub}/{name}/token", f"{mount}{sub}/{name}/key"]
        else:
            paths = [f"{mount}{'static-creds' if sub == 'static-roles' else 'creds'}/{name}"]
        rid = f"{base}/{paths[0]}"
        out.resources.append(Resource(id=rid, kind=ResourceKind.SECRET, provider="vault", name=f"{mount}{sub}/{name}",
                                      connector=c, parents=(stores[mount].id,), fault_domains=tuple(cluster)))
        for p in paths:
            targets.append(_Target(p, rid, kind, mount, (_Way(Capability.SECRET_READ, mint),),
                                   assumes=tuple(f"{who}|{why}" for who, why in minted)))
    return targets


def _pki(data: ClusterData, opts: Options, out: InventoryParts, base: str, cluster: list[str],
         lazy: dict[str, Resource]) -> list[_Target]:
    """PKI mounts: each issuer (a CA) and each role (an issuing path, parented at the issuer it issues from),
    and the routes that issue from them, all updates (PKI API docs; checked on OpenBao):
    - `issue/<role>`, `sign/<role>`, `sign-verbatim/<role>` issue from the role's `issuer_ref` ("default" is
      the mount's configured default, `<mount>/config/issuers`, not the first issuer listed);
    - `issuer/<ref>/issue|sign/<role>` and `issuer/<ref>/sign-verbatim[/<role>]` from the issuer in the path
      (by id, name or `default`), whatever the role says: for an issuer other than the role's, that is a
      resource of its own, `<mount>issuer/<id>/issue/<role>`, with the role's names and that issuer as parent;
    - `sign-verbatim` signs a CSR as it is (any name), from the issuer the request names.
    Route resources go to `lazy`: reported only when someone can use them."""
    c = opts.connector
    targets: list[_Target] = []
    refs: dict[str, dict[str, str]] = defaultdict(dict)  # mount → issuer ref (id, name, "default") → id
    labels: dict[tuple[str, str], str] = {}
    for mount, iid, issuer in data.pki_issuers:
        name = str(issuer.get("issuer_name") or "")
        refs[mount][iid] = iid
        if name:
            refs[mount].setdefault(name, iid)
        labels[(mount, iid)] = name or iid
        out.resources.append(Resource(id=f"{base}/{mount}issuer/{iid}", kind=ResourceKind.CERT_ISSUER, provider="vault",
                                      name=name or iid, connector=c, expires=_not_after(issuer.get("certificate")),
                                      fault_domains=tuple(cluster)))
    for mount, default in data.pki_defaults.items():
        if default in refs[mount].values():
            refs[mount]["default"] = default
    issue = (_Way(Capability.CERT_ISSUE, ("update",)),)

    def route(mount: str, path: str, rid: str, explain: str = "") -> None:
        targets.append(_Target(f"{mount}{path}", rid, "pki", mount, issue, explain=explain))

    def signer(mount: str, iid: str) -> str:
        rid = f"{base}/{mount}issuer/{iid}/sign-verbatim"
        lazy.setdefault(rid, Resource(
            id=rid, kind=ResourceKind.CERT_ISSUER, provider="vault", name=f"{mount}issuer/{labels[(mount, iid)]}/sign-verbatim",
            connector=c, parents=(f"{base}/{mount}issuer/{iid}",), names=("*",), fault_domains=tuple(cluster)))
        return rid

    verbatim = "sign-verbatim signs the CSR as it is: any name"
    for mount, name, role in data.pki_roles:
        rid = f"{base}/{mount}issue/{name}"
        names = _pki_names(role)
        own = refs[mount].get(str(role.get("issuer_ref") or "default"))
        out.resources.append(Resource(id=rid, kind=ResourceKind.CERT_ISSUER, provider="vault", name=f"{mount}roles/{name}",
                                      connector=c, parents=(f"{base}/{mount}issuer/{own}",) if own else (), names=names,
                                      fault_domains=tuple(cluster)))
        route(mount, f"issue/{name}", rid)
        route(mount, f"sign/{name}", rid)
        if own:
            route(mount, f"sign-verbatim/{name}", signer(mount, own), verbatim)
        for ref, iid in sorted(refs[mount].items()):
            at = rid if iid == own else f"{base}/{mount}issuer/{iid}/issue/{name}"
            if at != rid:
                lazy.setdefault(at, Resource(
                    id=at, kind=ResourceKind.CERT_ISSUER, provider="vault", connector=c, names=names,
                    name=f"{mount}roles/{name} from issuer {labels[(mount, iid)]}", parents=(f"{base}/{mount}issuer/{iid}",),
                    fault_domains=tuple(cluster)))
            why = f"the issuer in the path ({labels[(mount, iid)]}) signs, whatever the role's issuer_ref"
            route(mount, f"issuer/{ref}/issue/{name}", at, why)
            route(mount, f"issuer/{ref}/sign/{name}", at, why)
            route(mount, f"issuer/{ref}/sign-verbatim/{name}", signer(mount, iid), verbatim)
    for mount, by_ref in refs.items():
        for ref, iid in sorted(by_ref.items()):
            route(mount, f"issuer/{ref}/sign-verbatim", signer(mount, iid), verbatim)
        for iid in sorted(set(by_ref.values())):  # the request's issuer_ref picks any issuer of the mount
            route(mount, "sign-verbatim", signer(mount, iid), f"{verbatim}, from the issuer the request names")
    return targets


def _pki_names(role: Mapping[str, Any]) -> tuple[str, ...]:
    if role.get("allow_any_name"):
        return ("*",)
    names: list[str] = []
    for d in role.get("allowed_domains") or []:
        d = str(d).lower()
        if role.get("allow_bare_domains") or role.get("allow_glob_domains") and "*" in d:
            names.append(d)
        if role.get("allow_subdomains"):
            names.append(f"*.{d}")
        if role.get("allow_glob_domains") and "*" in d and d not in names:
            names.append(d)
    return tuple(dict.fromkeys(names))


def _not_after(pem: Any) -> datetime | None:
    if not pem:
        return None
    try:
        from cryptography import x509

        return x509.load_pem_x509_certificate(str(pem).encode()).not_valid_after_utc
    except Exception:  # noqa: BLE001 — an unreadable certificate only loses its expiry
        return None


def _grants(principals: Mapping[str, tuple[list[str], str]], documents: Mapping[str, Any], targets: Sequence[_Target],
            data: ClusterData, base: str, opts: Options, out: InventoryParts) -> None:
    """Decide each principal's capabilities on each target path, once per distinct policy set, visiting only
    the paths some rule of the set can match (sorted paths + bisect for prefix rules)."""
    c = opts.connector
    by_path: dict[str, list[_Target]] = defaultdict(list)
    for t in targets:
        by_path[t.path].append(t)
    paths = sorted(by_path)
    holders: dict[str, list[str]] = defaultdict(list)  # policy name → identities holding it
    for who, (pols, _) in principals.items():
        for p in set(pols):
            holders[p].append(who)
    approles = [(m, n, f"{base}/auth/{m}{sub}/{n}") for m, atype, sub, n, _ in data.roles if atype == "approle"]
    cache: dict[frozenset[str], list[_Reach]] = {}
    memo: dict[str, list[str]] = {}
    for who, (pols, origin) in sorted(principals.items()):
        key = frozenset(pols)
        if key not in cache:
            cache[key] = _reaches(ACL.build(sorted(key), documents), by_path, paths, memo, holders, approles)
        best = _Strongest()
        for r in cache[key]:
            for rid in holders[r.resource_id] if r.holders else (r.resource_id,):
                if rid != who:
                    best.offer(r.capability, rid, r.conditional, (origin, *r.via, *r.why(rid)))
        for (cap, rid), (conditional, via) in best.items():
            out.grants.append(Grant(identity_id=who, capability=cap, resource_id=rid, connector=c, via=via,
                                    conditional=conditional))


@dataclass(frozen=True)
class _Reach:
    """One way a policy set reaches a capability on a resource: a target path, a policy rewrite (then
    `resource_id` is the policy name and the grant goes to each of its holders) or an AppRole login."""

    capability: Capability
    resource_id: str
    conditional: bool
    via: tuple[str, ...]
    last: str = ""  # the final step; `{h}` is replaced by the holder for policy rewrites
    holders: bool = False

    def why(self, rid: str) -> tuple[str, ...]:
        return (self.last.replace("{h}", rid),) if self.last else ()


class _Strongest:
    """The strongest answer per (capability, resource) over every path that reaches it: unconditional if
    any path is (keeping that path's explanation), conditional only if every path is."""

    def __init__(self) -> None:
        self._best: dict[tuple[Capability, str], tuple[bool, tuple[str, ...]]] = {}

    def offer(self, capability: Capability, resource_id: str, conditional: bool, via: tuple[str, ...]) -> None:
        old = self._best.get((capability, resource_id))
        if old is None or (old[0] and not conditional):
            self._best[(capability, resource_id)] = (conditional, via)

    def items(self) -> Iterable[tuple[tuple[Capability, str], tuple[bool, tuple[str, ...]]]]:
        return self._best.items()


def _reaches(acl: ACL, by_path: Mapping[str, Sequence[_Target]], paths: Sequence[str], memo: dict[str, list[str]],
             holders: Mapping[str, Sequence[str]], approles: Sequence[tuple[str, str, str]]) -> list[_Reach]:
    """Everything one policy set reaches, path by path (the strongest is chosen per identity afterwards)."""
    out: list[_Reach] = []
    for path in _candidate_paths(acl, paths, memo):
        for t in by_path[path]:
            for way in t.ways:
                ok, conditional, sources = _allows(acl, path, way.vault_caps, t.engine, t.mount)
                if not ok:
                    continue
                via = (*sources, f"allows {'/'.join(way.vault_caps)} on {path}",
                       *([t.explain] if t.explain else []), *([way.note] if way.note else []))
                conditional = conditional or bool(way.note)
                out.append(_Reach(capability=way.capability, resource_id=t.resource_id, conditional=conditional,
                                  via=via))
                for item in t.assumes:
                    cloud, why = item.split("|", 1)
                    out.append(_Reach(capability=Capability.IDENTITY_ASSUME, resource_id=cloud,
                                      conditional=conditional, via=via,
                                      last=f"{t.path} mints credentials for {why}"))
    # Escalation: rewriting a policy that others hold, or minting a login for an AppRole. Both are updates:
    # the server refuses `create` alone on them, even for a new policy. Policy names are lower case on the
    # server, whatever case a role attaches them in.
    for pname in holders:
        if pname.lower() in ("root", "default"):
            continue
        for path in (f"sys/policies/acl/{pname.lower()}", f"sys/policy/{pname.lower()}"):
            ok, conditional, sources = _allows(acl, path, ("update",), "system", "sys/")
            if ok:
                out.append(_Reach(capability=Capability.IDENTITY_ASSUME, resource_id=pname, conditional=conditional,
                                  via=(*sources, f"allows update on {path}"), holders=True,
                                  last=f"can rewrite policy {pname}, which {{h}} holds"))
    for mount, name, rid in approles:
        # AppRole API: a secret-id is generated (secret-id) or set by the caller (custom-secret-id)
        for path in (f"auth/{mount}role/{name}/secret-id", f"auth/{mount}role/{name}/custom-secret-id"):
            ok, conditional, sources = _allows(acl, path, ("update",), "approle", f"auth/{mount}")
            if ok:
                out.append(_Reach(capability=Capability.IDENTITY_ASSUME, resource_id=rid, conditional=conditional,
                                  via=(*sources, f"allows update on {path}"),
                                  last=f"can generate a secret-id for AppRole {mount}{name}"))
    return out


def _candidate_paths(acl: ACL, paths: Sequence[str], memo: dict[str, list[str]] | None = None) -> Iterable[str]:
    """The target paths some rule of `acl` can match. A rule can only match paths that start with its literal
    part (everything before its first `*`, `+` or template), so each rule looks at that slice of the sorted
    `paths` only; `memo` keeps each rule's matches for the next policy set holding the same rule."""
    if acl.root:
        return paths
    memo = {} if memo is None else memo
    found: set[str] = set()
    for rule in acl.rules.values():
        if rule.path not in memo:
            if rule.is_exact:
                i = bisect.bisect_left(paths, rule.path)
                memo[rule.path] = [rule.path] if i < len(paths) and paths[i] == rule.path else []
            else:
                literal = rule.path[:rule.first_wildcard]
                i = bisect.bisect_left(paths, literal)
                hits = []
                while i < len(paths) and paths[i].startswith(literal):
                    if rule.matches(paths[i]):
                        hits.append(paths[i])
                    i += 1
                memo[rule.path] = hits
        found.update(memo[rule.path])
    return sorted(found)


__all__ = ["ClusterData", "Options", "Rule", "build"]
