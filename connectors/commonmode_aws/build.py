"""Raw AWS data (from collect.py) → the typed inventory, with grants decided by policy.py.

No network here: everything is computed from what collect.py fetched, so it is tested without a backend.
"""

from __future__ import annotations

import dataclasses

import importlib.resources
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from commonmode.connector import InventoryParts
from commonmode.model import Capability, Credential, Grant, Identity, Resource, ResourceKind, Service, Store
from commonmode_aws import policy as P
from commonmode_aws.policy import Principal, Tri

#: Where the actions → capability table lives (package data; a missing or broken file is an error).
CAPABILITIES_FILE = "capabilities.toml"


@dataclass(frozen=True)
class CapabilityEntry:
    capability: Capability
    resource: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class ActionTable:
    capabilities: tuple[CapabilityEntry, ...]
    escalation: Mapping[str, tuple[str, ...]]  # target type → actions
    passrole: Mapping[str, tuple[str, ...]]  # service principal → compute actions

    def for_resource(self, resource_type: str) -> list[CapabilityEntry]:
        return [e for e in self.capabilities if e.resource == resource_type]


def load_actions() -> ActionTable:
    """Read capabilities.toml from the package."""
    text = importlib.resources.files("commonmode_aws").joinpath(CAPABILITIES_FILE).read_text()
    data = tomllib.loads(text)
    return ActionTable(
        capabilities=tuple(CapabilityEntry(Capability(e["capability"]), e["resource"], tuple(e["actions"]))
                           for e in data["capability"]),
        escalation={e["target"]: tuple(e["actions"]) for e in data["escalation"]},
        passrole={e["service"]: tuple(e["actions"]) for e in data["passrole"]},
    )


@dataclass
class AccountData:
    """What collect.py fetched for one account."""

    account: str
    gaad: dict[str, list[Any]] = field(default_factory=dict)
    managed_documents: dict[str, Any] = field(default_factory=dict)  # AWS managed policy ARN → document
    access_keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # user name → keys
    zones: list[dict[str, Any]] = field(default_factory=list)
    zone_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # zone id → records
    health_checks: list[dict[str, Any]] = field(default_factory=list)
    health_check_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region → secrets
    certificates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region → certificates
    parameters: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region → SecureString parameters
    authorities: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region → ACM PCA CAs
    scp_levels: list[list[tuple[str, str]]] | None = None  # None: SCPs do not apply or could not be read
    rcp_levels: list[list[tuple[str, str]]] | None = None  # None: RCPs do not apply or could not be read
    org_id: str | None = None  # the organization the account belongs to, when readable


@dataclass(frozen=True)
class Options:
    connector: str
    owner_tags: tuple[str, ...] = ("owner", "Owner", "team", "Team", "owner-team")
    credential_tag: str = "commonmode:credential-of"
    discover_weighted: bool = False


def parameter_arn(region: str, account: str, name: str) -> str:
    """An SSM parameter's (or path's) ARN: the name without its leading slash after `parameter/`."""
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def parameter_paths(name: str) -> list[str]:
    """The paths GetParametersByPath can return `name` from: every ancestor of a hierarchical name, from
    its parent up to `/` (recursively beyond the parent). A name without a leading slash has none."""
    if not name.startswith("/"):
        return []
    parts = name.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[:i]) for i in range(len(parts), 0, -1)] + ["/"]


def zone_arn(zone_id: str) -> str:
    return f"arn:aws:route53:::hostedzone/{zone_id.rsplit('/', 1)[-1]}"


def record_id(zone_id: str, rr: Mapping[str, Any]) -> str:
    """`<zone ARN>/recordset/<name>/<type>[/<set identifier>]`, name lower-case with the trailing dot."""
    name = _record_name(rr["Name"])
    rid = f"{zone_arn(zone_id)}/recordset/{name}/{rr['Type']}"
    return f"{rid}/{rr['SetIdentifier']}" if rr.get("SetIdentifier") else rid


def _record_name(name: str) -> str:
    # Route 53 returns some characters octal-escaped (\052 for *); ids keep its spelling, lower-cased.
    name = name.lower()
    return name if name.endswith(".") else name + "."


def health_check_arn(hc_id: str) -> str:
    return f"arn:aws:route53:::healthcheck/{hc_id}"


def _owner(tags: Mapping[str, str], keys: Sequence[str]) -> str | None:
    for k in keys:
        if tags.get(k):
            return tags[k]
    return None


def _tags(items: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or ()}


@dataclass
class _Target:
    """A resource the engine decides capabilities on."""

    resource: Resource
    resource_type: str  # capabilities.toml resource type
    arn: str  # what policies name
    account: str
    policy: tuple[P.Statement, ...] = ()
    records: list[tuple[Resource, str, str]] = field(default_factory=list)  # zone: (record, name, type)
    note: str | None = None  # something every grant on it must say (e.g. an unevaluated KMS key)
    context: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rcp_levels: tuple[tuple[P.Statement, ...], ...] | None = None  # the resource account's RCPs


def build(accounts: Sequence[AccountData], opts: Options, actions: ActionTable | None = None) -> InventoryParts:
    """The inventory of every scanned account, with grants and assume edges across them."""
    actions = actions or load_actions()
    out = InventoryParts()
    principals: dict[str, Principal] = {}
    trust: dict[str, tuple[P.Statement, ...]] = {}
    attached: dict[str, set[str]] = defaultdict(set)  # managed policy ARN → identity ARNs it applies to
    group_members: dict[str, set[str]] = defaultdict(set)  # group ARN → user ARNs
    group_policies: dict[str, tuple[P.Statement, ...]] = {}
    own_groups: dict[str, set[str]] = defaultdict(set)  # user ARN → group ARNs
    targets: list[_Target] = []
    iam_targets: dict[str, list[tuple[str, str]]] = defaultdict(list)  # account → [(type, arn)]
    for acct in accounts:
        _identities(acct, opts, out, principals, trust, attached, group_members, own_groups, iam_targets,
                    group_policies)
        targets.extend(_resources(acct, opts, out))
    rcps = {acct.account: tuple(tuple(s for name, content in level for s in _statements(content, f"RCP {name}", out))
                                for level in acct.rcp_levels)
            for acct in accounts if acct.rcp_levels is not None}
    for t in targets:
        t.rcp_levels = rcps.get(t.account)
    _capability_grants(principals, targets, actions, opts, out)
    _assume_edges(principals, trust, actions, opts, out, rcps)
    _escalation_edges(principals, trust, actions, opts, out, attached, group_members, group_policies, iam_targets,
                      targets)
    return out


# --- identities ---------------------------------------------------------------------------------------


def _statements(doc: Any, name: str, out: InventoryParts) -> tuple[P.Statement, ...]:
    try:
        return P.parse_policy(doc, name)
    except P.PolicyError as exc:
        out.gaps.append(f"{exc}: ignored, so grants it gives are missing")
        return ()


def _identities(acct: AccountData, opts: Options, out: InventoryParts, principals: dict[str, Principal],
                trust: dict[str, tuple[P.Statement, ...]], attached: dict[str, set[str]],
                group_members: dict[str, set[str]], own_groups: dict[str, set[str]],
                iam_targets: dict[str, list[tuple[str, str]]],
                group_policies: dict[str, tuple[P.Statement, ...]]) -> None:
    a = acct.account
    docs: dict[str, tuple[P.Statement, ...]] = {}
    for pol in acct.gaad.get("Policies", []):
        default = next((v for v in pol.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), None)
        if default is not None:
            # moto leaves PolicyName out of GAAD's Policies; the ARN's last segment is the same name.
            name = pol.get("PolicyName") or pol["Arn"].rsplit("/", 1)[-1]
            docs[pol["Arn"]] = _statements(default["Document"], f"policy {name}", out)
        iam_targets[a].append(("policy", pol["Arn"]))
    for arn, doc in acct.managed_documents.items():
        docs[arn] = _statements(doc, f"policy {arn.rsplit('/', 1)[-1]}", out)

    def managed(items: Iterable[Mapping[str, str]], holder: str) -> list[P.Statement]:
        sts: list[P.Statement] = []
        for m in items:
            attached[m["PolicyArn"]].add(holder)
            sts.extend(docs.get(m["PolicyArn"], ()))
        return sts

    groups: dict[str, tuple[str, list[P.Statement]]] = {}
    for g in acct.gaad.get("GroupDetailList", []):
        sts = [s for ip in g.get("GroupPolicyList", [])
               for s in _statements(ip["PolicyDocument"], f"group {g['GroupName']} inline policy {ip['PolicyName']}", out)]
        sts += managed(g.get("AttachedManagedPolicies", []), g["Arn"])
        groups[g["GroupName"]] = (g["Arn"], sts)
        group_policies[g["Arn"]] = tuple(sts)
        iam_targets[a].append(("group", g["Arn"]))
    scps = None
    if acct.scp_levels is not None:
        scps = tuple(tuple(s for name, content in level for s in _statements(content, f"SCP {name}", out))
                     for level in acct.scp_levels)
    for u in acct.gaad.get("UserDetailList", []):
        arn, tags = u["Arn"], _tags(u.get("Tags"))
        sts = [s for ip in u.get("UserPolicyList", [])
               for s in _statements(ip["PolicyDocument"], f"user {u['UserName']} inline policy {ip['PolicyName']}", out)]
        sts += managed(u.get("AttachedManagedPolicies", []), arn)
        for gname in u.get("GroupList", []):
            garn, gsts = groups.get(gname, ("", []))
            sts += gsts
            if garn:
                group_members[garn].add(arn)
                own_groups[arn].add(garn)
                for holder_set in attached.values():
                    if garn in holder_set:
                        holder_set.add(arn)
        boundary = _boundary(u, docs)
        principals[arn] = Principal(arn=arn, account=a, kind="user", policies=tuple(sts), boundary=boundary,
                                    scp_levels=scps, tags=tags, org_id=acct.org_id)
        out.identities.append(Identity(id=arn, provider="aws", kind="iam-user", name=u["UserName"],
                                       connector=opts.connector, owner=_owner(tags, opts.owner_tags), tags=tags,
                                       fault_domains=(f"aws:account:{a}",)))
        iam_targets[a].append(("user", arn))
        for k in acct.access_keys.get(u["UserName"], []):
            last = k.get("LastUsed", {}).get("LastUsedDate")
            out.credentials.append(Credential(
                id=k["AccessKeyId"], identity_id=arn, kind=f"access-key ({k.get('Status', 'Active').lower()})",
                connector=opts.connector, created=_dt(k.get("CreateDate")), last_used=_dt(last),
                usage_tracked=True, fault_domains=(f"aws:account:{a}",)))
    for r in acct.gaad.get("RoleDetailList", []):
        arn, tags = r["Arn"], _tags(r.get("Tags"))
        sts = [s for ip in r.get("RolePolicyList", [])
               for s in _statements(ip["PolicyDocument"], f"role {r['RoleName']} inline policy {ip['PolicyName']}", out)]
        sts += managed(r.get("AttachedManagedPolicies", []), arn)
        service_linked = r.get("Path", "/").startswith("/aws-service-role/")
        principals[arn] = Principal(arn=arn, account=a, kind="role", policies=tuple(sts), boundary=_boundary(r, docs),
                                    scp_levels=None if service_linked else scps, tags=tags, org_id=acct.org_id,
                                    service_linked=service_linked)
        trust[arn] = _statements(r.get("AssumeRolePolicyDocument") or {}, f"role {r['RoleName']} trust policy", out)
        out.identities.append(Identity(id=arn, provider="aws", kind="iam-role", name=r["RoleName"],
                                       connector=opts.connector, owner=_owner(tags, opts.owner_tags), tags=tags,
                                       fault_domains=(f"aws:account:{a}",)))
        iam_targets[a].append(("role", arn))


def _boundary(entity: Mapping[str, Any], docs: Mapping[str, tuple[P.Statement, ...]]) -> tuple[P.Statement, ...] | None:
    pb = entity.get("PermissionsBoundary")
    if not pb:
        return None
    return docs.get(pb["PermissionsBoundaryArn"], ())


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


# --- resources ----------------------------------------------------------------------------------------


def _resources(acct: AccountData, opts: Options, out: InventoryParts) -> list[_Target]:
    a, c = acct.account, opts.connector
    acct_fd = f"aws:account:{a}"
    targets: list[_Target] = []
    hc_by_id = {h["Id"]: h for h in acct.health_checks}
    for h in acct.health_checks:
        cfg = h.get("HealthCheckConfig", {})
        parents: tuple[str, ...] = ()
        if cfg.get("Type") == "RECOVERY_CONTROL" and cfg.get("RoutingControlArn"):
            rc = cfg["RoutingControlArn"]
            rc_res = Resource(id=rc, kind=ResourceKind.ROUTING_CONTROL, provider="aws", name=rc.rsplit("/", 1)[-1],
                              connector=c, fault_domains=(acct_fd,))
            out.resources.append(rc_res)
            targets.append(_Target(rc_res, "routingcontrol", rc, a))
            parents = (rc,)
        tags = acct.health_check_tags.get(h["Id"], {})
        # Health checks are changed through Route 53's control plane too (UpdateHealthCheck).
        res = Resource(id=health_check_arn(h["Id"]), kind=ResourceKind.HEALTH_CHECK, provider="aws",
                       name=tags.get("Name", h["Id"]), connector=c, parents=parents, owner=_owner(tags, opts.owner_tags),
                       tags=tags, fault_domains=(acct_fd, "dns-provider:route53"))
        out.resources.append(res)
        targets.append(_Target(res, "healthcheck", res.id, a))
    for z in acct.zones:
        zid = z["Id"].rsplit("/", 1)[-1]
        tags = acct.zone_tags.get(zid, {})
        public = not z.get("Config", {}).get("PrivateZone", False)
        apex = z["Name"].rstrip(".").lower()
        zres = Resource(id=zone_arn(zid), kind=ResourceKind.DNS_ZONE, provider="aws", name=apex, connector=c,
                        names=(apex,), public=public, control_plane=f"route53:account:{a}",
                        owner=_owner(tags, opts.owner_tags), tags=tags,
                        fault_domains=(acct_fd, "dns-provider:route53"))
        out.resources.append(zres)
        zt = _Target(zres, "hostedzone", zres.id, a, context={f"aws:resourcetag/{k.lower()}": (v,) for k, v in tags.items()})
        targets.append(zt)
        by_name: dict[tuple[str, str], list[tuple[dict[str, Any], Resource]]] = defaultdict(list)
        for rr in acct.records.get(zid, []):
            parents = [zres.id]
            if rr.get("HealthCheckId") and rr["HealthCheckId"] in hc_by_id:
                parents.append(health_check_arn(rr["HealthCheckId"]))
            name = _record_name(rr["Name"])
            res = Resource(id=record_id(zid, rr), kind=ResourceKind.DNS_RECORD, provider="aws",
                           name=f"{name} {rr['Type']}" + (f" {rr['SetIdentifier']}" if rr.get("SetIdentifier") else ""),
                           connector=c, parents=tuple(parents), names=(name.rstrip("."),), public=public,
                           control_plane=zres.control_plane, fault_domains=zres.fault_domains)
            out.resources.append(res)
            zt.records.append((res, P.normalize_record_name(name), rr["Type"].upper()))
            by_name[(name, rr["Type"])].append((rr, res))
        out.services.extend(_services(by_name, zres, opts))
    for region, secrets in acct.secrets.items():
        store = Store(id=f"aws:secretsmanager:{a}:{region}", provider="aws", kind="secrets-manager",
                      name=f"Secrets Manager {a} {region}", connector=c, fault_domains=(acct_fd, f"aws:region:{region}"))
        if secrets:
            out.stores.append(store)
        for s in secrets:
            tags = _tags(s.get("Tags"))
            res = Resource(id=s["ARN"], kind=ResourceKind.SECRET, provider="aws", name=s["Name"], connector=c,
                           parents=(store.id,), owner=_owner(tags, opts.owner_tags), tags=tags,
                           fault_domains=store.fault_domains)
            out.resources.append(res)
            kms = s.get("KmsKeyId")
            note = (f"reading it also needs kms:Decrypt on {kms} (key policy not evaluated)"
                    if kms and not kms.endswith("alias/aws/secretsmanager") else None)
            rp = _statements(s["ResourcePolicy"], f"secret {s['Name']} resource policy", out) if s.get("ResourcePolicy") else ()
            targets.append(_Target(res, "secret", s["ARN"], a, policy=rp, note=note,
                                   context={f"aws:resourcetag/{k.lower()}": (v,) for k, v in tags.items()}))
            holder = tags.get(opts.credential_tag)
            if holder:
                out.credentials.append(Credential(
                    id=f"{holder}@{s['ARN']}", identity_id=holder, kind="stored-credential", connector=c,
                    stored_in=s["ARN"], fault_domains=store.fault_domains))
    for region, params in acct.parameters.items():
        store = Store(id=f"aws:ssm:{a}:{region}", provider="aws", kind="ssm-parameter-store",
                      name=f"SSM Parameter Store {a} {region}", connector=c,
                      fault_domains=(acct_fd, f"aws:region:{region}"))
        if params:
            out.stores.append(store)
        for prm in params:
            tags = _tags(prm.get("Tags"))
            name = prm["Name"]
            arn = prm.get("ARN") or parameter_arn(region, a, name)
            res = Resource(id=arn, kind=ResourceKind.SECRET, provider="aws", name=name, connector=c,
                           parents=(store.id,), owner=_owner(tags, opts.owner_tags), tags=tags,
                           fault_domains=store.fault_domains)
            out.resources.append(res)
            kms = prm.get("KeyId") or "alias/aws/ssm"
            note = (None if kms.endswith("alias/aws/ssm") else
                    f"reading it also needs kms:Decrypt on {kms} (key policy not evaluated)")
            ctx = {f"aws:resourcetag/{k.lower()}": (v,) for k, v in tags.items()}
            targets.append(_Target(res, "parameter", arn, a, note=note, context=ctx))
            for path in parameter_paths(name):  # GetParametersByPath is authorised on the path asked for
                targets.append(_Target(res, "parameter-path", parameter_arn(region, a, path), a, note=note,
                                       context=ctx))
            holder = tags.get(opts.credential_tag)
            if holder:
                out.credentials.append(Credential(
                    id=f"{holder}@{arn}", identity_id=holder, kind="stored-credential", connector=c,
                    stored_in=arn, fault_domains=store.fault_domains))
    for region, cas in acct.authorities.items():
        for ca in cas:
            tags = _tags(ca.get("Tags"))
            subject = (ca.get("CertificateAuthorityConfiguration") or {}).get("Subject") or {}
            res = Resource(id=ca["Arn"], kind=ResourceKind.CERT_ISSUER, provider="aws",
                           name=subject.get("CommonName") or ca["Arn"].rsplit("/", 1)[-1], connector=c,
                           expires=_dt(ca.get("NotAfter")), owner=_owner(tags, opts.owner_tags), tags=tags,
                           fault_domains=(acct_fd, f"aws:region:{region}"))
            out.resources.append(res)
            rp = _statements(ca["Policy"], f"CA {res.name} resource policy", out) if ca.get("Policy") else ()
            targets.append(_Target(res, "certificate-authority", ca["Arn"], a, policy=rp,
                                   context={f"aws:resourcetag/{k.lower()}": (v,) for k, v in tags.items()}))
    for region, certs in acct.certificates.items():
        for cert in certs:
            names = tuple(dict.fromkeys([cert.get("DomainName", ""), *cert.get("SubjectAlternativeNames", [])]))
            parents = (cert["CertificateAuthorityArn"],) if cert.get("CertificateAuthorityArn") else ()
            res = Resource(id=cert["CertificateArn"], kind=ResourceKind.CERTIFICATE, provider="aws",
                           name=cert.get("DomainName", cert["CertificateArn"]), connector=c, parents=parents,
                           names=tuple(n.lower() for n in names if n), expires=_dt(cert.get("NotAfter")),
                           fault_domains=(acct_fd, f"aws:region:{region}"))
            out.resources.append(res)
            targets.append(_Target(res, "certificate", res.id, a))
    return targets


def _services(by_name: Mapping[tuple[str, str], list[tuple[dict[str, Any], Resource]]], zone: Resource,
              opts: Options) -> list[Service]:
    """Failover routing pairs (PRIMARY + SECONDARY under one name and type) become services; weighted pairs
    too when the config asks (the heaviest is the primary)."""
    services = []
    for (name, rtype), members in sorted(by_name.items()):
        primary = [r for rr, r in members if rr.get("Failover") == "PRIMARY"]
        backup = [r for rr, r in members if rr.get("Failover") == "SECONDARY"]
        if primary and backup:
            services.append(Service(name=f"{name.rstrip('.')} {rtype}", primary=tuple(r.id for r in primary),
                                    backup=tuple(r.id for r in backup), source=opts.connector, owner=zone.owner))
            continue
        weighted = sorted(((rr.get("Weight"), r) for rr, r in members if rr.get("Weight") is not None),
                          key=lambda x: (-x[0], x[1].id))
        if opts.discover_weighted and len(weighted) >= 2:
            services.append(Service(name=f"{name.rstrip('.')} {rtype}", primary=(weighted[0][1].id,),
                                    backup=tuple(r.id for _, r in weighted[1:]), source=opts.connector,
                                    owner=zone.owner))
    return services


# --- grants -------------------------------------------------------------------------------------------


def _may(p: Principal, actions: Sequence[str]) -> bool:
    """Cheap pre-filter: does any Allow statement (identity policies, or resource policies checked later)
    mention an action like these? Resource policies are evaluated regardless."""
    return any(st.effect == "Allow" and (any(P.action_matches(pat, a) for pat in st.actions for a in actions)
                                         != st.not_action)
               for st in p.policies)


def _grant(out: InventoryParts, opts: Options, who: str, cap: Capability, what: str, access: P.Access,
           *prefix: str, note: str | None = None) -> None:
    via = (*prefix, *access.via, *((note,) if note else ()))
    out.grants.append(Grant(identity_id=who, capability=cap, resource_id=what, via=via or ("policy allows it",),
                            connector=opts.connector, conditional=access.conditional or note is not None))


def _decide(p: Principal, t: _Target, action: str, policies: Sequence[P.Statement] | None,
            context: Mapping[str, tuple[str, ...]] | None = None) -> P.Access:
    req = P.request(p, action, t.arn if t.resource_type != "*" else "*", resource_account=t.account,
                    context={**t.context, **(context or {})})
    return P.evaluate(p, req, t.policy, identity_policies=policies, rcp_levels=t.rcp_levels)


def _capability_grants(principals: Mapping[str, Principal], targets: Sequence[_Target], actions: ActionTable,
                       opts: Options, out: InventoryParts, *, only: Iterable[str] | None = None,
                       policies_for: Mapping[str, Sequence[P.Statement]] | None = None,
                       prefix_for: Mapping[str, str] | None = None, boundary_off: frozenset[str] = frozenset()) -> None:
    """Decide every capability of every principal on every target resource."""
    registrar = [e for e in actions.capabilities if e.resource == "*"]
    for arn in (only if only is not None else principals):
        p = principals[arn]
        if arn in boundary_off:
            p = dataclasses.replace(p, boundary=None)
        pols = (policies_for or {}).get(arn)
        prefix = ((prefix_for or {})[arn],) if prefix_for and arn in prefix_for else ()
        relevant = [e for e in actions.capabilities if pols is not None or _may(p, e.actions)]
        for t in targets:
            seen: set[Capability] = set()
            entries = [e for e in relevant if e.resource == t.resource_type]
            for e in (entries if not t.policy else actions.for_resource(t.resource_type)):
                if e.capability in seen:
                    continue
                if e.capability is Capability.DNS_WRITE:
                    _dns_write(p, t, e, pols, opts, out, prefix)
                    seen.add(e.capability)
                    continue
                for action in e.actions:
                    acc = _decide(p, t, action, pols)
                    if acc.granted:
                        _grant(out, opts, arn, e.capability, t.resource.id, acc, *prefix, f"{action} allowed",
                               note=t.note if e.capability is Capability.SECRET_READ else None)
                        seen.add(e.capability)
                        break
            # Registrar actions act on the caller's own account's domains only.
            if (t.resource_type == "hostedzone" and t.resource.public and Capability.DNS_ADMIN not in seen
                    and t.account == p.account):
                for e in registrar:
                    if e.capability is not Capability.DNS_ADMIN or not (pols is not None or _may(p, e.actions)):
                        continue
                    for action in e.actions:
                        acc = P.evaluate(p, P.request(p, action, "*"), (), identity_policies=pols)
                        if acc.granted:
                            _grant(out, opts, arn, e.capability, t.resource.id, acc, *prefix,
                                   f"{action} allowed (registrar: changes the domain's delegation)")
                            break
                    else:
                        continue
                    break


def _dns_write(p: Principal, t: _Target, e: CapabilityEntry, pols: Sequence[P.Statement] | None, opts: Options,
               out: InventoryParts, prefix: tuple[str, ...]) -> None:
    """ChangeResourceRecordSets on a zone: unconditional → on the zone; resting on the record-level keys →
    on exactly the records it covers (each record checked for UPSERT and DELETE)."""
    action = e.actions[0]
    zone_level = _decide(p, t, action, pols)
    if zone_level.result is Tri.YES or (zone_level.result is Tri.MAYBE and not _mentions_record_keys(p, pols)):
        _grant(out, opts, p.arn, e.capability, t.resource.id, zone_level, *prefix, f"{action} allowed on the zone")
        return
    if zone_level.result is Tri.NO:
        return
    for res, name, rtype in t.records:
        for change in ("UPSERT", "DELETE"):
            acc = _decide(p, t, action, pols, {
                "route53:changeresourcerecordsetsnormalizedrecordnames": (name,),
                "route53:changeresourcerecordsetsrecordtypes": (rtype,),
                "route53:changeresourcerecordsetsactions": (change,),
            })
            if acc.granted:
                _grant(out, opts, p.arn, e.capability, res.id, acc, *prefix,
                       f"{action} ({change}) allowed for {name} {rtype}")
                break


def _mentions_record_keys(p: Principal, pols: Sequence[P.Statement] | None) -> bool:
    """Whether any policy deciding for `p` conditions on Route 53's record-level keys (only then does the
    answer differ between the records of one zone)."""
    sts = [*(p.policies if pols is None else pols), *(p.boundary or ()), *(s for lvl in p.scp_levels or () for s in lvl)]
    return any(c.key.lower() in P.ROUTE53_RECORD_KEYS for st in sts for c in st.conditions)


def _assume_edges(principals: Mapping[str, Principal], trust: Mapping[str, tuple[P.Statement, ...]],
                  actions: ActionTable, opts: Options, out: InventoryParts,
                  rcps: Mapping[str, tuple[tuple[P.Statement, ...], ...]] | None = None) -> None:
    """sts:AssumeRole edges: candidates are the principals a trust policy names, and, where it names an
    account or *, the principals whose own policies could allow sts:AssumeRole."""
    can_call = {arn for arn, p in principals.items() if _may(p, ("sts:AssumeRole",))}
    by_account: dict[str, list[str]] = defaultdict(list)
    for arn, p in principals.items():
        by_account[p.account].append(arn)
    for role, statements in trust.items():
        role_account = role.split(":")[4]
        candidates: set[str] = set()
        for st in statements:
            if st.effect != "Allow" or st.principals is None:
                continue
            for v in st.principals.get("AWS", ()):
                if v == "*":
                    candidates |= can_call
                elif v in principals:
                    candidates.add(v)
                else:
                    acct = v.split(":")[4] if v.startswith("arn:") else v
                    candidates |= {x for x in by_account.get(acct, ()) if x in can_call}
        for who in sorted(candidates - {role}):
            acc = P.can_assume(principals[who], role, role_account, statements,
                               rcp_levels=(rcps or {}).get(role_account))
            if acc.granted:
                _grant(out, opts, who, Capability.IDENTITY_ASSUME, role, acc, "sts:AssumeRole")


def _escalation_edges(principals: Mapping[str, Principal], trust: Mapping[str, tuple[P.Statement, ...]],
                      actions: ActionTable, opts: Options, out: InventoryParts, attached: Mapping[str, set[str]],
                      group_members: Mapping[str, set[str]], group_policies: Mapping[str, tuple[P.Statement, ...]],
                      iam_targets: Mapping[str, list[tuple[str, str]]], targets: Sequence[_Target]) -> None:
    """IAM writes that let a principal act as (or rewrite) another identity become identity.assume edges;
    rewriting its own permissions makes it as powerful as its boundary and SCPs allow."""
    esc_actions = [a for acts in actions.escalation.values() for a in acts]
    self_admin: dict[str, str] = {}
    boundary_off: dict[str, str] = {}
    joins: dict[str, list[tuple[str, tuple[P.Statement, ...]]]] = defaultdict(list)  # user → groups it can join
    for arn, p in principals.items():
        if not _may(p, esc_actions):
            continue
        for ttype, tarn in iam_targets.get(p.account, ()):
            for action in actions.escalation.get(ttype, ()):
                acc = P.evaluate(p, P.request(p, action, tarn))
                if not acc.granted:
                    continue
                if action == "iam:AddUserToGroup":
                    # Joining a group gains its policies: the caller's own power grows; nobody else is taken over.
                    if p.kind == "user" and arn not in group_members.get(tarn, ()):
                        joins[arn].append((tarn, group_policies.get(tarn, ())))
                    continue
                if ttype in ("role", "user"):
                    victims = {tarn}
                elif ttype == "policy":
                    victims = set(attached.get(tarn, ()))
                else:
                    victims = set(group_members.get(tarn, ()))
                if arn in victims:
                    if action in ("iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary"):
                        boundary_off.setdefault(arn, f"{action} on itself: can lift its own permissions boundary")
                    elif action != "iam:UpdateAssumeRolePolicy" and not action.startswith(("iam:CreateAccessKey",
                                                                                             "iam:CreateLogin",
                                                                                             "iam:UpdateLogin")):
                        self_admin.setdefault(arn, f"{action} on {tarn}: can grant itself any permission "
                                                   f"(within its boundary and SCPs)")
                    victims.discard(arn)
                for v in sorted(victims):
                    if v in principals:
                        _grant(out, opts, arn, Capability.IDENTITY_ASSUME, v, acc,
                               f"{action} on {tarn} (privilege escalation: can take over or rewrite it)")
    for arn, p in principals.items():
        if p.kind != "role" and not _may(p, ("iam:PassRole",)):
            continue
        if not _may(p, ("iam:PassRole",)):
            continue
        for role, statements in trust.items():
            if principals[role].account != p.account or role == arn:
                continue
            for service, compute in actions.passrole.items():
                if P.trusts_service(statements, service) is Tri.NO:
                    continue
                pass_acc = P.evaluate(p, P.request(p, "iam:PassRole", role,
                                                   context={"iam:passedtoservice": (service,)}))
                if not pass_acc.granted:
                    continue
                run = next(((a, acc) for a in compute
                            if (acc := P.evaluate(p, P.request(p, a, "*"))).granted), None)
                if run is None:
                    continue
                both = P.Access(min(pass_acc.result, run[1].result), (*pass_acc.via, *run[1].via))
                _grant(out, opts, arn, Capability.IDENTITY_ASSUME, role, both,
                       f"iam:PassRole to {service} with {run[0]} (privilege escalation: runs code as the role)")
                break
    if self_admin:
        _capability_grants(principals, targets, actions, opts, out, only=sorted(self_admin),
                           policies_for={a: P.ADMIN_POLICY for a in self_admin}, prefix_for=self_admin)
    join = {a: g for a, g in joins.items() if a not in self_admin}
    if join:
        _capability_grants(
            principals, targets, actions, opts, out, only=sorted(join),
            policies_for={a: (*principals[a].policies, *(s for _, sts in g for s in sts)) for a, g in join.items()},
            prefix_for={a: f"iam:AddUserToGroup on {', '.join(t for t, _ in g)}: can join and gain its policies"
                        for a, g in join.items()})
    lift = {a: why for a, why in boundary_off.items() if a not in self_admin}
    if lift:
        _capability_grants(principals, targets, actions, opts, out, only=sorted(lift), prefix_for=lift,
                           boundary_off=frozenset(lift))
