"""Raw AWS data (from collect.py) → the typed inventory, with grants decided by policy.py.

No network here: everything is computed from what collect.py fetched, so it is tested without a backend.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
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
#: The kinds of hosted zone an action can act on (`zone_types` in capabilities.toml).
ZONE_TYPES = ("public", "private")
#: Entries on these resource types are decided on hosted zones, so they must say which zone types they act on.
_ZONE_RESOURCES = frozenset({"hostedzone", "*"})
_ENTRY_KEYS = frozenset({"capability", "resource", "actions", "zone_types"})


class CapabilityTableError(ValueError):
    """capabilities.toml cannot be read or is malformed; the message names the file and the entry's key."""


@dataclass(frozen=True, kw_only=True)
class CapabilityEntry:
    """Actions that give `capability` on resources of type `resource`; on hosted zones, only on zones of
    `zone_types` (an action acting on private zones only gives nothing on a public one)."""

    capability: Capability
    resource: str
    actions: tuple[str, ...]
    zone_types: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class ActionTable:
    """capabilities.toml, parsed and validated."""

    capabilities: tuple[CapabilityEntry, ...]
    escalation: Mapping[str, tuple[str, ...]]  # target type → actions
    passrole: Mapping[str, tuple[str, ...]]  # service principal → compute actions

    def for_resource(self, resource_type: str) -> list[CapabilityEntry]:
        """The entries decided on resources of this type."""
        return [e for e in self.capabilities if e.resource == resource_type]


def load_actions() -> ActionTable:
    """Read capabilities.toml from the package (importlib.resources, never the working directory)."""
    try:
        text = importlib.resources.files("commonmode_aws").joinpath(CAPABILITIES_FILE).read_text()
    except OSError as exc:
        raise CapabilityTableError(f"{CAPABILITIES_FILE}: cannot be read ({exc})") from exc
    return parse_actions(text)


def parse_actions(text: str, where: str = CAPABILITIES_FILE) -> ActionTable:
    """The action table in `text`, validated: known capability names, non-empty action lists, and
    `zone_types` (a list from "public", "private") on exactly the entries decided on hosted zones."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CapabilityTableError(f"{where}: not valid TOML ({exc})") from exc

    def fail(key: str, expected: str) -> CapabilityTableError:
        return CapabilityTableError(f"{where}: {key}: {expected}")

    def strings(value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise fail(key, "expected a non-empty list of strings")
        return tuple(value)

    def tables(name: str) -> list[dict[str, Any]]:
        items = data.get(name)
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise fail(name, f"expected one or more [[{name}]] tables")
        return items

    entries = []
    for i, e in enumerate(tables("capability")):
        key = f"capability[{i}]"
        if set(e) - _ENTRY_KEYS:
            raise fail(key, f"unknown keys {sorted(set(e) - _ENTRY_KEYS)} (expected {sorted(_ENTRY_KEYS)})")
        try:
            cap = Capability(e.get("capability"))
        except ValueError:
            raise fail(f"{key}.capability", "expected one of " + ", ".join(c.value for c in Capability)) from None
        resource = e.get("resource")
        if not isinstance(resource, str) or not resource:
            raise fail(f"{key}.resource", "expected a resource type (a string)")
        zones: tuple[str, ...] = ()
        if resource in _ZONE_RESOURCES:
            if "zone_types" not in e:
                raise fail(f"{key}.zone_types",
                           'missing: say which hosted zones its actions act on ("public", "private")')
            zones = strings(e["zone_types"], f"{key}.zone_types")
            if not set(zones) <= set(ZONE_TYPES) or len(set(zones)) != len(zones):
                raise fail(f"{key}.zone_types",
                           f'expected distinct values from "public", "private", got {list(zones)}')
        elif "zone_types" in e:
            raise fail(f"{key}.zone_types",
                       'only entries decided on hosted zones (resource "hostedzone" or "*") have one')
        entries.append(CapabilityEntry(capability=cap, resource=resource,
                                       actions=strings(e.get("actions"), f"{key}.actions"), zone_types=frozenset(zones)))
    escalation = {}
    for i, e in enumerate(tables("escalation")):
        if not isinstance(e.get("target"), str):
            raise fail(f"escalation[{i}].target", "expected an IAM resource type (a string)")
        escalation[e["target"]] = strings(e.get("actions"), f"escalation[{i}].actions")
    passrole = {}
    for i, e in enumerate(tables("passrole")):
        if not isinstance(e.get("service"), str):
            raise fail(f"passrole[{i}].service", "expected a service principal (a string)")
        passrole[e["service"]] = strings(e.get("actions"), f"passrole[{i}].actions")
    return ActionTable(capabilities=tuple(entries), escalation=escalation, passrole=passrole)


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


def _unescape(name: str) -> str:
    """A name as Route 53 lists it (`\\052.example.com.`) back to its characters (`*.example.com.`), so that
    normalising it for the record-level keys escapes each character once."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), name)


def health_check_arn(hc_id: str) -> str:
    return f"arn:aws:route53:::healthcheck/{hc_id}"


def _owner(tags: Mapping[str, str], keys: Sequence[str]) -> str | None:
    for k in keys:
        if tags.get(k):
            return tags[k]
    return None


RESOURCE_TAG = "aws:resourcetag/"


def _tag_context(tags: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """aws:ResourceTag/<key> for each tag read (keys compared case-insensitively; every other tag key is then
    known to be absent: pass RESOURCE_TAG in absent_prefixes)."""
    return {f"{RESOURCE_TAG}{k.lower()}": (v,) for k, v in tags.items()}


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
    batches: dict[Any, Any] = field(default_factory=dict)  # what _BatchSearch shares between askers of a zone
    # Condition-key families known to be absent beyond `context`: every aws:ResourceTag/* a resource does not
    # carry (its tags were read), or all of them where the service does not authorize on tags.
    absent_prefixes: tuple[str, ...] = ()


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
                                    scp_levels=scps, tags=tags, org_id=acct.org_id, unique_id=u.get("UserId"))
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
        trust[arn] = _statements(r.get("AssumeRolePolicyDocument") or {}, f"role {r['RoleName']} trust policy", out)
        # A role whose trust lets its assumer pass session tags has principal tags the scan cannot know (IAM
        # User Guide, "Passing session tags in AWS STS": session tags override the role's own).
        principals[arn] = Principal(arn=arn, account=a, kind="role", policies=tuple(sts), boundary=_boundary(r, docs),
                                    scp_levels=None if service_linked else scps, tags=tags, org_id=acct.org_id,
                                    service_linked=service_linked, unique_id=r.get("RoleId"),
                                    session_tags=P.allows_tag_session(trust[arn]))
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
        targets.append(_Target(res, "healthcheck", res.id, a, absent_prefixes=(RESOURCE_TAG,)))
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
        # Route 53 does not authorize on tags: its hosted-zone requests carry no aws:ResourceTag key (Service
        # Authorization Reference, Route 53: the hostedzone resource type has no tag condition keys).
        zt = _Target(zres, "hostedzone", zres.id, a, absent_prefixes=(RESOURCE_TAG,))
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
            zt.records.append((res, P.normalize_record_name(_unescape(name)), rr["Type"].upper()))
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
            targets.append(_Target(res, "secret", s["ARN"], a, policy=rp, note=note, context=_tag_context(tags),
                                   absent_prefixes=(RESOURCE_TAG,)))
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
            ctx = _tag_context(tags)
            targets.append(_Target(res, "parameter", arn, a, note=note, context=ctx, absent_prefixes=(RESOURCE_TAG,)))
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
            targets.append(_Target(res, "certificate-authority", ca["Arn"], a, policy=rp, context=_tag_context(tags),
                                   absent_prefixes=(RESOURCE_TAG,)))
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

CRRS = "route53:ChangeResourceRecordSets"
#: A grant's `via` lists at most this many actions by name (the strongest ones); the rest are counted.
_NAMED_ACTIONS = 4


def _mentions(st: P.Statement, action: str) -> bool:
    """Whether an Allow/Deny statement's Action (or NotAction) element covers `action`: an element with
    NotAction covers every action its list does NOT match (IAM User Guide, "IAM JSON policy elements:
    NotAction")."""
    return any(P.action_matches(pat, action) for pat in st.actions) != st.not_action


def _may(statements: Iterable[P.Statement], actions: Iterable[str]) -> bool:
    """Cheap pre-filter: could an Allow among these identity-policy statements allow one of `actions`?
    Sound by construction: False only when no Allow covers any of them (each action checked on its own, so
    a NotAction listing some of them still allows the others). Resource policies are evaluated regardless."""
    wanted = tuple(actions)
    return any(st.effect == "Allow" and any(_mentions(st, a) for a in wanted) for st in statements)


@dataclass(frozen=True, kw_only=True)
class _Asker:
    """Who a grant is decided for: a principal as it is, or as it could make itself by escalating. Then
    `policies` replaces its identity policies, `prefix` says how it gets there, and `ceiling` caps every
    answer when the escalation itself rests on a condition the scanner cannot settle."""

    principal: Principal
    policies: Sequence[P.Statement] | None = None
    prefix: tuple[str, ...] = ()
    ceiling: Tri = Tri.YES

    def may(self, action: str) -> bool:
        """The pre-filter for one action, over the policies that decide for this asker."""
        return _may(self.principal.policies if self.policies is None else self.policies, (action,))


def _grant(out: InventoryParts, opts: Options, who: _Asker, cap: Capability, what: str, access: P.Access,
           *why: str, note: str | None = None) -> None:
    """Record one grant: `via` is how the asker got there, why, and the policies that decided it."""
    result = min(access.result, who.ceiling)
    via = (*who.prefix, *why, *access.via, *((note,) if note else ()))
    if result is Tri.MAYBE and not access.conditional:
        via = (*via, "conditional: the escalation it rests on depends on a condition the scanner cannot settle")
    out.grants.append(Grant(identity_id=who.principal.arn, capability=cap, resource_id=what,
                            via=via or ("policy allows it",), connector=opts.connector,
                            conditional=result is Tri.MAYBE or note is not None))


def _decide(who: _Asker, t: _Target, action: str, context: Mapping[str, tuple[str, ...]] | None = None) -> P.Access:
    """The engine's answer for `action` on the target, with its resource policy and RCPs."""
    p = who.principal
    req = P.request(p, action, t.arn, resource_account=t.account, context={**t.context, **(context or {})},
                    absent_prefixes=t.absent_prefixes)
    return P.evaluate(p, req, t.policy, identity_policies=who.policies, rcp_levels=t.rcp_levels)


def _strongest(answers: Iterable[tuple[str, P.Access]], *, stop_at_yes: bool = True
               ) -> tuple[P.Access, tuple[str, ...]] | None:
    """The strongest answer over several actions (YES over MAYBE) and the actions that give it; None when
    none is granted. With `stop_at_yes`, the first YES ends the search (nothing is stronger)."""
    best: list[tuple[str, P.Access]] = []
    for action, acc in answers:
        if not acc.granted or (best and acc.result < best[0][1].result):
            continue
        if best and acc.result > best[0][1].result:
            best = []
        best.append((action, acc))
        if stop_at_yes and acc.result is Tri.YES:
            break
    return (best[0][1], tuple(a for a, _ in best)) if best else None


def _named(actions: Sequence[str]) -> str:
    """Actions for `via`: the first few by name, the rest counted."""
    shown = ", ".join(actions[:_NAMED_ACTIONS])
    return shown + (f" and {len(actions) - _NAMED_ACTIONS} more" if len(actions) > _NAMED_ACTIONS else "")


def _zone_type(t: _Target) -> str | None:
    return None if t.resource_type != "hostedzone" else "public" if t.resource.public else "private"


def _capability_grants(principals: Mapping[str, Principal], targets: Sequence[_Target], actions: ActionTable,
                       opts: Options, out: InventoryParts, askers: Iterable[_Asker] | None = None) -> None:
    """Decide every capability of every asker (by default every principal as it is) on every target."""
    every_action = {a for e in actions.capabilities for a in e.actions}
    for who in (askers if askers is not None else (_Asker(principal=p) for p in principals.values())):
        may = frozenset(a for a in every_action if who.may(a))  # once per asker, not per target
        for t in targets:
            _target_grants(who, t, actions, opts, out, may)


def _target_grants(who: _Asker, t: _Target, actions: ActionTable, opts: Options, out: InventoryParts,
                   may: frozenset[str]) -> None:
    """Each capability on one target: the strongest answer over every action of every entry that gives it
    there (an action that cannot act on this kind of zone is not one of them)."""
    zone = _zone_type(t)
    entries = [e for e in actions.for_resource(t.resource_type) if zone is None or zone in e.zone_types]
    registrar: list[CapabilityEntry] = []
    if zone is not None and t.account == who.principal.account:
        # Registrar actions act on the caller's own account's domains only.
        registrar = [e for e in actions.for_resource("*") if zone in e.zone_types]
    registrar_actions = {a for e in registrar for a in e.actions}
    for cap in dict.fromkeys(e.capability for e in (*entries, *registrar)):
        group = [e for e in (*entries, *registrar) if e.capability is cap]
        if cap is Capability.DNS_WRITE and zone is not None:
            if any(CRRS in e.actions for e in group) and (t.policy or CRRS in may):
                _dns_write(who, t, opts, out)
            continue
        # The pre-filter may only skip an action whose answer is surely NO: none of the asker's identity
        # policies allows it, and the target has no resource policy that could.
        answers = ((a, _registrar(who, a) if a in registrar_actions else _decide(who, t, a))
                   for e in group for a in e.actions if a in may or (t.policy and a not in registrar_actions))
        best = _strongest(answers)
        if best is None:
            continue
        access, names = best
        reg = [a for a in names if a in registrar_actions]
        why = [f"{_named([a for a in names if a not in reg])} allowed"] if len(reg) < len(names) else []
        if reg:
            why.append(f"{_named(reg)} allowed (registrar: changes the domain's delegation)")
        _grant(out, opts, who, cap, t.resource.id, access, *why,
               note=t.note if cap is Capability.SECRET_READ else None)


def _registrar(who: _Asker, action: str) -> P.Access:
    """A registrar action: no resource type, so Resource must match "*" (Service Authorization Reference)."""
    return P.evaluate(who.principal, P.request(who.principal, action, "*"), (), identity_policies=who.policies)


# --- Route 53 change batches ------------------------------------------------------------------------------
#
# Route 53 authorises a ChangeResourceRecordSets request once for its whole change batch, and the record-level
# keys carry the names, the types and the actions of ALL its changes, as three independent sets (Route 53
# Developer Guide, "Using IAM policy conditions for fine-grained access control"). ForAnyValue needs one
# matching value, ForAllValues needs all of them to match (IAM User Guide, "Multivalued context keys"). So an
# identity can change record R iff SOME valid batch holding a change to R is allowed and not denied: a
# ForAnyValue Allow is met by adding one change it admits, and a ForAllValues Deny is escaped by adding one
# change it does not cover. _BatchSearch looks for such a batch among a bounded set of witness changes: the
# zone's existing records (UPSERT is always valid; DELETE, or DELETE and CREATE together, except for the apex
# SOA and NS, which always exist) and new records at names the policies' own patterns admit (CREATE).

_NAMES, _TYPES, _ACTIONS = (f"route53:changeresourcerecordsets{k}" for k in ("normalizedrecordnames", "recordtypes",
                                                                          "actions"))
assert {_NAMES, _TYPES, _ACTIONS} == P.ROUTE53_RECORD_KEYS
#: A fresh label for a record the zone does not have yet: the probe that asks "can it create records?".
_NEW_LABEL = "new-record"
#: Record types probed for "any new record" (with every type a record-type condition names).
_PROBE_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "TXT")
#: Record types a witness may create at a new name (with every type a record-type condition names).
_WITNESS_TYPES = ("A", "TXT")
#: Bounds of the search: witness classes tried two at a time on top of the harmless ones, and new names
#: derived from each name pattern.
_MAX_RISKY, _NAMES_PER_PATTERN = 12, 2


@dataclass(frozen=True, kw_only=True)
class _Change:
    """One change of a batch as the record-level keys see it: a record set (normalized name, type) and the
    actions it takes (DELETE and CREATE together replace a record set). `record` is the resource id of an
    existing record set (None for the apex SOA and NS when the listing did not show them); `new` marks a
    record set the zone does not have yet."""

    name: str
    rtype: str
    actions: tuple[str, ...]
    record: str | None = None
    new: bool = False

    def values(self, key: str) -> tuple[str, ...]:
        return (self.name,) if key == _NAMES else (self.rtype,) if key == _TYPES else self.actions

    def conflicts(self, other: _Change) -> bool:
        """Two changes one batch cannot hold: two to one record set, or two new record sets at one name when
        either is a CNAME (a CNAME shares its name with no other record; _creatable keeps new records off
        the names and types that exist)."""
        if self.new != other.new:
            return False
        if not self.new:
            return (self.record or (self.name, self.rtype)) == (other.record or (other.name, other.rtype))
        return self.name == other.name and (self.rtype == other.rtype or "CNAME" in (self.rtype, other.rtype))

    def __str__(self) -> str:
        return f"{self.name} {self.rtype}" + (" (a new record)" if self.new else "")


@dataclass(frozen=True, kw_only=True)
class _Answer:
    """The strongest answer for changing one record set, the change that does it and the changes added to
    its batch for that (empty: allowed on its own)."""

    access: P.Access
    own: _Change
    added: tuple[_Change, ...] = ()


@dataclass(frozen=True, kw_only=True)
class _KeyedCondition:
    """A record-key condition of a statement that may decide the request, and how a batch's values meet it."""

    statement: P.Statement
    condition: P.Condition
    every: bool  # ForAllValues: every value must match; otherwise one matching value is enough

    @property
    def allow(self) -> bool:
        return self.statement.effect == "Allow"


def _record_keyed(who: _Asker, t: _Target) -> list[P.Statement]:
    """The statements that may decide ChangeResourceRecordSets on this zone for this asker and condition on
    the record-level keys (identity policies, boundary, SCP levels, RCPs, resource policy). Only when there is
    one can the answer differ between the records of one zone. A statement whose action, resource or other
    conditions surely do not apply is left out: it can make no record differ."""
    p = who.principal
    sts = [*(p.policies if who.policies is None else who.policies), *(p.boundary or ()),
           *(s for lvl in p.scp_levels or () for s in lvl), *(s for lvl in t.rcp_levels or () for s in lvl), *t.policy]
    req = P.request(p, CRRS, t.arn, resource_account=t.account, context=t.context, absent_prefixes=t.absent_prefixes)
    out = []
    for st in sts:
        keyed = [c for c in st.conditions if c.key.lower() in P.ROUTE53_RECORD_KEYS]
        rest = tuple(c for c in st.conditions if c not in keyed)
        if keyed and P.statement_applies(dataclasses.replace(st, conditions=rest), req) is not Tri.NO:
            out.append(st)
    return out


def _dns_write(who: _Asker, t: _Target, opts: Options, out: InventoryParts) -> None:
    """ChangeResourceRecordSets on a zone. Unless a policy deciding it conditions on the record-level keys,
    the zone-level answer holds for every record: one grant on the zone. Otherwise every record set is decided
    with batch semantics (_BatchSearch); the zone itself is granted only when every existing record set and
    every probed new one is, with one strength, and otherwise each record set it can change is."""
    zone_level = _decide(who, t, CRRS)
    if not zone_level.granted:
        return  # NO with the record keys unbound is NO for every batch
    keyed = _record_keyed(who, t)
    if not keyed:
        _grant(out, opts, who, Capability.DNS_WRITE, t.resource.id, zone_level, f"{CRRS} allowed on the zone")
        return
    search = _BatchSearch(who, t, keyed)
    records = [(res, search.best(search.existing(name, rtype, res.id))) for res, name, rtype in t.records]
    unlisted = [search.best(search.existing(n, r, None)) for n, r, rec in search.records if rec is None]
    every = [a for _, a in records] + unlisted + [search.best(options) for options in search.probes]
    if all(a is not None for a in every) and len({a.access.result for a in every if a is not None}) == 1:
        example = next((a for a in every if a is not None and a.added), None)
        shown = example or every[0]
        assert shown is not None
        _grant(out, opts, who, Capability.DNS_WRITE, t.resource.id, shown.access,
               f"{CRRS} allowed on the zone: on every record of it, existing and new (decided record by record: a "
               "policy conditions on the record-level keys)", *((search.explain(example),) if example else ()))
        return
    for res, a in records:
        if a is not None:
            _grant(out, opts, who, Capability.DNS_WRITE, res.id, a.access, search.explain(a))
    if t.resource.public:
        _dns_validation(who, t, search, opts, out)


def _dns_validation(who: _Asker, t: _Target, search: _BatchSearch, opts: Options, out: InventoryParts) -> None:
    """Without the whole zone, writing `_acme-challenge.<apex>` TXT (or the CNAME that delegates it) still
    passes ACME DNS-01 validation for the apex and its wildcard (RFC 8555, section 8.4): cert.issue on the
    zone, as the correlator derives it from a grant on the whole zone."""
    name = f"_acme-challenge.{search.apex}"
    listed = [(n, r, rec) for n, r, rec in search.records if n == name and r in ("TXT", "CNAME")]
    options = search.existing(*listed[0]) if listed else search.new(name, "TXT")
    answer = search.best(options)
    if answer is not None:
        _grant(out, opts, who, Capability.CERT_ISSUE, t.resource.id, answer.access,
               f"writing {name} {answer.own.rtype} passes ACME DNS-01 validation for {search.apex} and "
               f"*.{search.apex}", search.explain(answer))


class _BatchSearch:
    """For one asker and one zone: the strongest answer for changing a record set over the batches that hold
    a change to it plus witness changes, and the fewest witnesses that give it.

    Witnesses are grouped by their signature (what each record-key condition says of their values), which is
    all a batch's answer depends on. A witness is harmless when adding it can only help: it fails no
    ForAllValues condition of an Allow and meets no ForAnyValue condition of a Deny (adding values can only
    make ForAnyValue truer and ForAllValues falser). All helpful harmless witnesses are added at once; the
    risky helpful ones are tried one and two at a time on top, so the search stays bounded."""

    def __init__(self, who: _Asker, t: _Target, keyed: Sequence[P.Statement]) -> None:
        self.who, self.t = who, t
        self.apex = P.normalize_record_name(t.resource.names[0] if t.resource.names else t.resource.name)
        self.conditions = [
            _KeyedCondition(statement=st, condition=c, every=c.operator.lower().startswith("forallvalues:"))
            for st in keyed for c in st.conditions
            if c.key.lower() in P.ROUTE53_RECORD_KEYS and c.operator.split(":")[-1].removesuffix("IfExists") != "Null"]
        self.records = [(name, rtype, res.id) for res, name, rtype in t.records]
        present = {(n, r) for n, r, _ in self.records}
        # The apex SOA and NS always exist, whether or not the listing showed them.
        self.records += [(self.apex, r, None) for r in ("SOA", "NS") if (self.apex, r) not in present]
        # What the record-key conditions say of each change is the same for every asker with these
        # conditions (unless a policy variable makes it depend on the asker): shared on the zone's target.
        conditions = tuple((k.statement.effect, k.condition, k.every) for k in self.conditions)
        variable = any("${" in v for k in self.conditions for v in k.condition.values)
        shared = t.batches.setdefault((conditions, who.principal.arn if variable else None), {})
        self._options: dict[tuple[str, str, str | None], tuple[_Change, ...]] = t.batches.setdefault("options", {})
        self._tri: dict[tuple[int, tuple[str, ...]], Tri] = shared.setdefault("tri", {})
        self._signatures: dict[int, tuple[Tri, ...]] = shared.setdefault("signatures", {})
        self._held: list[_Change] = shared.setdefault("held", [])  # keeps the changes _signatures is keyed by
        self._eval: dict[tuple[tuple[str, ...], ...], P.Access] = {}
        self._memo: dict[tuple[Any, ...], tuple[int, tuple[_Change, ...], P.Access] | None] = {}
        if "classes" not in shared:
            shared["classes"], shared["probes"] = self._classes(), self._probes()
        self.classes: list[tuple[bool, list[_Change]]] = shared["classes"]
        self.probes: list[tuple[_Change, ...]] = shared["probes"]

    # the changes ----------------------------------------------------------------------------------------

    def existing(self, name: str, rtype: str, record: str | None) -> tuple[_Change, ...]:
        """The ways a batch can change an existing record set: update it, delete it, or delete and create it
        again; the apex SOA and NS can only be updated (Route 53 API Reference, "Change": CREATE, DELETE,
        UPSERT; Developer Guide, "NS and SOA records that Amazon Route 53 creates for a public hosted zone")."""
        if (name, rtype, record) not in self._options:
            ways = [("UPSERT",)] if name == self.apex and rtype in ("SOA", "NS") else [
                ("UPSERT",), ("DELETE",), ("CREATE", "DELETE")]
            self._options[(name, rtype, record)] = tuple(
                _Change(name=name, rtype=rtype, actions=a, record=record) for a in ways)
        return self._options[(name, rtype, record)]

    def new(self, name: str, rtype: str) -> tuple[_Change, ...]:
        """Creating a record set the zone does not have: CREATE, or UPSERT (which creates it)."""
        return tuple(_Change(name=name, rtype=rtype, actions=(a,), new=True) for a in ("CREATE", "UPSERT"))

    def _creatable(self, name: str, rtype: str) -> bool:
        # No SOA but the apex one; DS needs a delegation at its name; a CNAME shares its name with nothing
        # (and never sits at the apex).
        here = {r for n, r, _ in self.records if n == name}
        if rtype in ("SOA", "DS") or rtype in here or "CNAME" in here:
            return False
        return not (rtype == "CNAME" and (here or name == self.apex))

    def _condition_values(self, key: str) -> list[str]:
        return [v for k in self.conditions if k.condition.key.lower() == key for v in k.condition.values]

    def _new_names(self, fresh: str) -> list[str]:
        """New names inside the zone: a fresh one, and those the name patterns of the policies admit."""
        names = [f"{fresh}.{self.apex}"]
        for pattern in self._condition_values(_NAMES):
            names += _names_matching(pattern.lower(), self.apex)[:_NAMES_PER_PATTERN]
        return list(dict.fromkeys(names))

    def _types(self, base: Sequence[str]) -> list[str]:
        named = [v.upper() for v in self._condition_values(_TYPES) if v.replace("*", "").replace("?", "") == v]
        return list(dict.fromkeys([*base, *named]))

    def _probes(self) -> list[tuple[_Change, ...]]:
        """New record sets whose creation stands for "it can create any record" (one tuple of ways each)."""
        return [self.new(n, r) for n in self._new_names(_NEW_LABEL) for r in self._types(_PROBE_TYPES)
                if self._creatable(n, r)]

    def _witnesses(self) -> list[_Change]:
        changes = [c for n, r, rec in self.records for c in self.existing(n, r, rec)]
        # A fresh name of their own, so that a witness never shares its name with a probed CNAME.
        changes += [c for n in self._new_names(f"other-{_NEW_LABEL}") for r in self._types(_WITNESS_TYPES)
                    if self._creatable(n, r)
                    for c in self.new(n, r)]
        return changes

    # what the conditions say ----------------------------------------------------------------------------

    def _meets(self, i: int, change: _Change) -> Tri:
        """Condition `i` evaluated on one change's values alone (cached: most records look alike)."""
        k = self.conditions[i]
        key = k.condition.key.lower()
        values = change.values(key)
        memo = (i, values)
        if memo not in self._tri:
            st = P.Statement(source="record-key condition", effect="Allow", actions=("*",), not_action=False,
                             resources=("*",), not_resource=False, conditions=(k.condition,))
            req = P.request(self.who.principal, CRRS, self.t.arn, resource_account=self.t.account,
                            context={**self.t.context, key: values}, absent_prefixes=self.t.absent_prefixes)
            self._tri[memo] = P.statement_applies(st, req)
        return self._tri[memo]

    def _signature(self, change: _Change) -> tuple[Tri, ...]:
        found = self._signatures.get(id(change))
        if found is None:
            found = self._signatures[id(change)] = tuple(self._meets(i, change) for i in range(len(self.conditions)))
            self._held.append(change)
        return found

    def _effects(self, change: _Change) -> tuple[list[_KeyedCondition], bool]:
        """(the conditions adding this change may help, whether it may hurt any)."""
        helps, hurts = [], False
        for k, tri in zip(self.conditions, self._signature(change), strict=True):
            if k.every:  # ForAllValues: one value outside it fails it
                if tri is not Tri.YES:
                    if k.allow:
                        hurts = True
                    else:
                        helps.append(k)
            elif tri is not Tri.NO:  # ForAnyValue (or a plain operator, which also matches on one value)
                if k.allow:
                    helps.append(k)
                else:
                    hurts = True
        return helps, hurts

    def _classes(self) -> list[tuple[bool, list[_Change]]]:
        """Helpful witnesses grouped by signature, each group as (risky, its changes in order)."""
        groups: dict[tuple[Tri, ...], tuple[bool, list[_Change]]] = {}
        for change in self._witnesses():
            helps, hurts = self._effects(change)
            if helps:
                groups.setdefault(self._signature(change), (hurts, []))[1].append(change)
        return list(groups.values())

    # the search ------------------------------------------------------------------------------------------

    def _access(self, batch: Sequence[_Change]) -> P.Access:
        ctx = {key: tuple(sorted({v for c in batch for v in c.values(key)})) for key in (_NAMES, _TYPES, _ACTIONS)}
        memo = tuple(ctx.values())
        if memo not in self._eval:
            self._eval[memo] = _decide(self.who, self.t, CRRS, ctx)
        return self._eval[memo]

    def _pick(self, members: Sequence[_Change], taken: Sequence[_Change]) -> _Change | None:
        return next((m for m in members if not any(m.conflicts(o) for o in taken)), None)

    def _batches(self, own: _Change) -> Iterable[tuple[_Change, ...]]:
        harmless: list[_Change] = []
        for risky, members in self.classes:
            if not risky and (m := self._pick(members, [own, *harmless])) is not None:
                harmless.append(m)
        risky_classes = [members for risky, members in self.classes if risky][:_MAX_RISKY]
        if harmless:
            yield tuple(harmless)
        for i, first in enumerate(risky_classes):
            for second in [None, *risky_classes[i + 1:]]:
                batch = [*harmless]
                for members in (first, second):
                    if members is not None:
                        if (m := self._pick(members, [own, *batch])) is None:
                            break
                        batch.append(m)
                else:
                    yield tuple(batch)

    def best(self, options: Sequence[_Change]) -> _Answer | None:
        """The strongest answer over the ways `options` of changing one record set, with the fewest added
        changes that give it; None when no batch is allowed."""
        memo = tuple(self._signature(o) for o in options)
        if memo in self._memo:
            found = self._memo[memo]
            if found is None:
                return None
            i, added, access = found
            if not any(a.conflicts(options[i]) for a in added):  # another record's witness may be this one
                return _Answer(access=access, own=options[i], added=added)
        answer = self._search(options)
        self._memo[memo] = None if answer is None else (options.index(answer.own), answer.added, answer.access)
        return answer

    def _search(self, options: Sequence[_Change]) -> _Answer | None:
        best: _Answer | None = None
        for own in options:
            acc = self._access((own,))
            if best is None or acc.result > best.access.result:
                best = _Answer(access=acc, own=own)
        assert best is not None
        for own in options:
            if best.access.result is Tri.YES:
                break
            for added in self._batches(own):
                acc = self._access((own, *added))
                if acc.result > best.access.result:
                    best = _Answer(access=acc, own=own, added=added)
                    if acc.result is Tri.YES:
                        break
        if not best.access.granted:
            return None
        return self._fewest(best)

    def _fewest(self, answer: _Answer) -> _Answer:
        """Drop every added change the answer does not need."""
        added = list(answer.added)
        for change in reversed(answer.added):
            rest = [c for c in added if c is not change]
            if self._access((answer.own, *rest)).result >= answer.access.result:
                added = rest
        return dataclasses.replace(answer, added=tuple(added), access=self._access((answer.own, *added)))

    def explain(self, a: _Answer) -> str:
        """What `via` says for one record set: the change, and, when it needs other changes in its batch,
        which ones and which scoping they defeat, in words a policy author can act on."""
        what = f"{CRRS} ({' and '.join(a.own.actions)}) allowed for {a.own.name} {a.own.rtype}"
        if not a.added:
            return what
        helped = [k for change in a.added for k in self._effects(change)[0]]
        reasons = []
        allows = sorted({k.statement.source for k in helped if k.allow})
        denies = sorted({k.statement.source for k in helped if not k.allow})
        if allows:
            scoping = ("ForAnyValue scoping" if all(k.condition.operator.lower().startswith("foranyvalue:")
                                                   for k in helped if k.allow)
                       else "scoping on a multivalued key without ForAllValues")
            reasons.append(f"{scoping} does not hold; scope with ForAllValues ({', '.join(allows)})")
        if denies:
            reasons.append("a Deny written with ForAllValues covers only batches made of the changes it names; "
                           f"write the Deny with ForAnyValue ({', '.join(denies)})")
        changes = ", ".join(str(c) for c in a.added)
        return (f"{what} by adding {'a change' if len(a.added) == 1 else 'changes'} to {changes} in the same batch: "
                + "; ".join(reasons))


def _names_matching(pattern: str, apex: str) -> list[str]:
    """Names inside the zone `apex` that a name pattern admits (StringLike wildcards: `*` any run, `?` one
    character, case-sensitive): the pattern itself when it has no wildcard, else its first `*` filled so that
    the name falls in the zone (later ones empty) and each `?` as `x`."""
    def inside(name: str) -> bool:
        return (name == apex or name.endswith("." + apex)) and all(name.split("."))

    if "*" not in pattern and "?" not in pattern:
        return [pattern] if inside(pattern) else []
    rx = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.S)
    head, star, tail = pattern.partition("*")
    names = [(head + fill + tail.replace("*", "") if star else pattern).replace("?", "x")
             for fill in ("x", apex, "x." + apex, "")]
    return list(dict.fromkeys(n for n in names if inside(n) and rx.fullmatch(n)))


def _assume_edges(principals: Mapping[str, Principal], trust: Mapping[str, tuple[P.Statement, ...]],
                  actions: ActionTable, opts: Options, out: InventoryParts,
                  rcps: Mapping[str, tuple[tuple[P.Statement, ...], ...]] | None = None) -> None:
    """sts:AssumeRole edges: candidates are the principals a trust policy names, and, where it names an
    account or * (or allows with NotPrincipal), the principals whose own policies could allow sts:AssumeRole."""
    can_call = {arn for arn, p in principals.items() if _may(p.policies, ("sts:AssumeRole",))}
    by_account: dict[str, list[str]] = defaultdict(list)
    for arn, p in principals.items():
        by_account[p.account].append(arn)
    for role, statements in trust.items():
        role_account = role.split(":")[4]
        candidates: set[str] = set()
        for st in statements:
            if st.effect != "Allow" or st.principals is None:
                continue
            if st.not_principal:  # everyone but those it lists: can_assume decides who
                candidates |= can_call | {v for v in principals if v not in st.principals.get("AWS", ())}
                continue
            for v in st.principals.get("AWS", ()):
                if v == "*":
                    # "*" needs no identity Allow in the role's own account (IAM User Guide, "AWS JSON policy
                    # elements: Principal", All principals): every principal there is a candidate
                    candidates |= can_call | set(by_account.get(role_account, ()))
                elif v in principals:
                    candidates.add(v)
                else:
                    acct = v.split(":")[4] if v.startswith("arn:") else v
                    candidates |= {x for x in by_account.get(acct, ()) if x in can_call}
        for who in sorted(candidates - {role}):
            acc = P.can_assume(principals[who], role, role_account, statements,
                               rcp_levels=(rcps or {}).get(role_account))
            if acc.granted:
                _grant(out, opts, _Asker(principal=principals[who]), Capability.IDENTITY_ASSUME, role, acc,
                       "sts:AssumeRole")


#: Escalation actions on itself that do not rewrite its own permissions (a trust policy, its own keys).
_NOT_SELF_ADMIN = frozenset({"iam:UpdateAssumeRolePolicy", "iam:CreateAccessKey", "iam:CreateLoginProfile",
                             "iam:UpdateLoginProfile"})
_BOUNDARY_ACTIONS = frozenset({"iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary"})


@dataclass(frozen=True, kw_only=True)
class _Escalation:
    """What one principal can make of itself: the strongest answer for it, and why (for `via`)."""

    access: P.Access
    why: str


def _stronger(into: dict[str, _Escalation], arn: str, access: P.Access, why: str) -> None:
    if arn not in into or access.result > into[arn].access.result:
        into[arn] = _Escalation(access=access, why=why)


def _escalation_edges(principals: Mapping[str, Principal], trust: Mapping[str, tuple[P.Statement, ...]],
                      actions: ActionTable, opts: Options, out: InventoryParts, attached: Mapping[str, set[str]],
                      group_members: Mapping[str, set[str]], group_policies: Mapping[str, tuple[P.Statement, ...]],
                      iam_targets: Mapping[str, list[tuple[str, str]]], targets: Sequence[_Target]) -> None:
    """IAM writes that let a principal act as (or rewrite) another identity become identity.assume edges;
    rewriting its own permissions makes it as powerful as its boundary and SCPs allow. Each edge, and each
    self-escalation, takes the strongest answer over every action that gives it."""
    esc_actions = [a for acts in actions.escalation.values() for a in acts]
    self_admin: dict[str, _Escalation] = {}
    boundary_off: dict[str, _Escalation] = {}
    joins: dict[str, list[tuple[str, tuple[P.Statement, ...], P.Access]]] = defaultdict(list)  # user → groups
    for arn, p in principals.items():
        if not _may(p.policies, esc_actions):
            continue
        for ttype, tarn in iam_targets.get(p.account, ()):
            granted = [(a, acc) for a in actions.escalation.get(ttype, ()) if _may(p.policies, (a,))
                       if (acc := P.evaluate(p, P.request(p, a, tarn))).granted]
            if ttype in ("role", "user"):
                victims = {tarn}
            elif ttype == "policy":
                victims = set(attached.get(tarn, ()))
            else:
                victims = set(group_members.get(tarn, ()))
            takeover = []
            for action, acc in granted:
                if action == "iam:AddUserToGroup":
                    # Joining a group gains its policies: the caller's own power grows; nobody else is taken over.
                    if p.kind == "user" and arn not in group_members.get(tarn, ()):
                        joins[arn].append((tarn, group_policies.get(tarn, ()), acc))
                    continue
                takeover.append((action, acc))
                if arn in victims and action in _BOUNDARY_ACTIONS:
                    _stronger(boundary_off, arn, acc, f"{action} on itself: can lift its own permissions boundary")
                elif arn in victims and action not in _NOT_SELF_ADMIN:
                    _stronger(self_admin, arn, acc, f"{action} on {tarn}: can grant itself any permission "
                                                    f"(within its boundary and SCPs)")
            best = _strongest(takeover, stop_at_yes=False)
            if best is None:
                continue
            for v in sorted(victims - {arn}):
                if v in principals:
                    _grant(out, opts, _Asker(principal=p), Capability.IDENTITY_ASSUME, v, best[0],
                           f"{_named(best[1])} on {tarn} (privilege escalation: can take over or rewrite it)")
    _passrole_edges(principals, trust, actions, opts, out)
    askers = [_Asker(principal=principals[a], policies=P.ADMIN_POLICY, prefix=(e.why,), ceiling=e.access.result)
              for a, e in sorted(self_admin.items())]
    for a, groups in sorted(joins.items()):
        if a in self_admin:
            continue
        # Joining groups gains their policies. Joining one only under an unsettled condition makes what it
        # adds conditional: the groups it surely joins are asked about on their own too.
        sure = [g for g in groups if g[2].result is Tri.YES]
        chosen = ([(sure, Tri.YES)] if sure else []) + (
            [(groups, min(acc.result for _, _, acc in groups))] if len(sure) < len(groups) else [])
        for some, ceiling in chosen:
            askers.append(_Asker(
                principal=principals[a], policies=(*principals[a].policies, *(s for _, sts, _ in some for s in sts)),
                prefix=(f"iam:AddUserToGroup on {', '.join(g for g, _, _ in some)}: can join and gain its policies",),
                ceiling=ceiling))
    askers += [_Asker(principal=dataclasses.replace(principals[a], boundary=None), prefix=(e.why,),
                      ceiling=e.access.result)
               for a, e in sorted(boundary_off.items()) if a not in self_admin]
    if askers:
        _capability_grants(principals, targets, actions, opts, out, askers)


def _passrole_edges(principals: Mapping[str, Principal], trust: Mapping[str, tuple[P.Statement, ...]],
                    actions: ActionTable, opts: Options, out: InventoryParts) -> None:
    """iam:PassRole of a role to a service it trusts, with an action that starts compute there: the strongest
    answer over every service and compute action, capped by the trust (a conditional trust, a conditional
    pass or a conditional run make the edge conditional)."""
    for arn, p in principals.items():
        if not _may(p.policies, ("iam:PassRole",)):
            continue
        for role, statements in trust.items():
            if principals[role].account != p.account or role == arn:
                continue
            best: tuple[Tri, str, tuple[str, ...], tuple[str, ...]] | None = None
            for service, compute in actions.passrole.items():
                trusted = P.trusts_service(statements, service)
                if trusted is Tri.NO:
                    continue
                pass_acc = P.evaluate(p, P.request(p, "iam:PassRole", role,
                                                   context={"iam:passedtoservice": (service,)}))
                if not pass_acc.granted:
                    continue
                run = _strongest((a, P.evaluate(p, P.request(p, a, "*"))) for a in compute if _may(p.policies, (a,)))
                if run is None:
                    continue
                result = min(trusted, pass_acc.result, run[0].result)
                if best is None or result > best[0]:
                    via = (*pass_acc.via, *run[0].via)
                    if trusted is Tri.MAYBE:
                        via = (*via, f"the role's trust of {service} rests on a condition the scanner cannot settle")
                    best = (result, service, run[1], via)
                if result is Tri.YES:
                    break
            if best is None:
                continue
            result, service, compute_actions, via = best
            if result is Tri.MAYBE and not any(v.startswith("conditional") for v in via):
                via = (*via, "conditional: rests on a condition the scanner cannot settle")
            _grant(out, opts, _Asker(principal=p), Capability.IDENTITY_ASSUME, role, P.Access(result, via),
                   f"iam:PassRole to {service} with {_named(compute_actions)} (privilege escalation: runs code "
                   "as the role)")
