"""IAM identities: users and roles of each account, with the policies that decide what each may do (inline,
managed, groups', permissions boundary, SCP levels), their trust policies and their access keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import commonmode_aws.policy as P
from commonmode.kit import owner_from, parse_timestamp
from commonmode.model import Credential, Identity
from commonmode_aws.estate import Estate
from commonmode_aws.policy import Principal
from commonmode_aws.snapshot import AccountData, tags_of


def add_identities(estate: Estate, acct: AccountData) -> None:
    """The account's IAM users (with their access keys) and roles: identities for the inventory, principals
    with every policy that decides for them, trust policies, and the IAM relations escalation reads."""
    opts, out = estate.opts, estate.out
    principals, trust, attached = estate.principals, estate.trust, estate.attached
    group_members, group_policies, iam_targets = estate.group_members, estate.group_policies, estate.iam_targets
    a = acct.account
    docs: dict[str, tuple[P.Statement, ...]] = {}
    for pol in acct.gaad.get("Policies", []):
        default = next((v for v in pol.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), None)
        if default is not None:
            # moto leaves PolicyName out of GAAD's Policies; the ARN's last segment is the same name.
            name = pol.get("PolicyName") or pol["Arn"].rsplit("/", 1)[-1]
            docs[pol["Arn"]] = estate.statements(default["Document"], f"policy {name}")
        iam_targets[a].append(("policy", pol["Arn"]))
    for arn, doc in acct.managed_documents.items():
        docs[arn] = estate.statements(doc, f"policy {arn.rsplit('/', 1)[-1]}")

    def managed(items: Iterable[Mapping[str, str]], holder: str) -> list[P.Statement]:
        sts: list[P.Statement] = []
        for m in items:
            attached[m["PolicyArn"]].add(holder)
            sts.extend(docs.get(m["PolicyArn"], ()))
        return sts

    groups: dict[str, tuple[str, list[P.Statement]]] = {}
    for g in acct.gaad.get("GroupDetailList", []):
        sts = [s for ip in g.get("GroupPolicyList", [])
               for s in estate.statements(ip["PolicyDocument"],
                                          f"group {g['GroupName']} inline policy {ip['PolicyName']}")]
        sts += managed(g.get("AttachedManagedPolicies", []), g["Arn"])
        groups[g["GroupName"]] = (g["Arn"], sts)
        group_policies[g["Arn"]] = tuple(sts)
        iam_targets[a].append(("group", g["Arn"]))
    scps = None
    if acct.scp_levels is not None:
        scps = tuple(tuple(s for name, content in level for s in estate.statements(content, f"SCP {name}"))
                     for level in acct.scp_levels)
    for u in acct.gaad.get("UserDetailList", []):
        arn, tags = u["Arn"], tags_of(u.get("Tags"))
        sts = [s for ip in u.get("UserPolicyList", [])
               for s in estate.statements(ip["PolicyDocument"],
                                          f"user {u['UserName']} inline policy {ip['PolicyName']}")]
        sts += managed(u.get("AttachedManagedPolicies", []), arn)
        for gname in u.get("GroupList", []):
            garn, gsts = groups.get(gname, ("", []))
            sts += gsts
            if garn:
                group_members[garn].add(arn)
                for holder_set in attached.values():
                    if garn in holder_set:
                        holder_set.add(arn)
        boundary = boundary_of(u, docs)
        principals[arn] = Principal(arn=arn, account=a, kind="user", policies=tuple(sts), boundary=boundary,
                                    scp_levels=scps, tags=tags, org_id=acct.org_id, unique_id=u.get("UserId"))
        out.identities.append(Identity(id=arn, provider="aws", kind="iam-user", name=u["UserName"],
                                       connector=opts.connector, owner=owner_from(tags, opts.owner_tags), tags=tags,
                                       fault_domains=(f"aws:account:{a}",)))
        iam_targets[a].append(("user", arn))
        for k in acct.access_keys.get(u["UserName"], []):
            last = k.get("LastUsed", {}).get("LastUsedDate")
            out.credentials.append(Credential(
                id=k["AccessKeyId"], identity_id=arn, kind=f"access-key ({k.get('Status', 'Active').lower()})",
                connector=opts.connector, created=parse_timestamp(k.get("CreateDate")), last_used=parse_timestamp(last),
                usage_tracked=True, fault_domains=(f"aws:account:{a}",),
                long_lived=k.get("Status", "Active") == "Active"))
    for r in acct.gaad.get("RoleDetailList", []):
        arn, tags = r["Arn"], tags_of(r.get("Tags"))
        sts = [s for ip in r.get("RolePolicyList", [])
               for s in estate.statements(ip["PolicyDocument"],
                                          f"role {r['RoleName']} inline policy {ip['PolicyName']}")]
        sts += managed(r.get("AttachedManagedPolicies", []), arn)
        service_linked = r.get("Path", "/").startswith("/aws-service-role/")
        trust[arn] = estate.statements(r.get("AssumeRolePolicyDocument") or {}, f"role {r['RoleName']} trust policy")
        # A role whose trust lets its assumer pass session tags has principal tags the scan cannot know (IAM
        # User Guide, "Passing session tags in AWS STS": session tags override the role's own).
        principals[arn] = Principal(arn=arn, account=a, kind="role", policies=tuple(sts), boundary=boundary_of(r, docs),
                                    scp_levels=None if service_linked else scps, tags=tags, org_id=acct.org_id,
                                    service_linked=service_linked, unique_id=r.get("RoleId"),
                                    session_tags=P.allows_tag_session(trust[arn]))
        out.identities.append(Identity(id=arn, provider="aws", kind="iam-role", name=r["RoleName"],
                                       connector=opts.connector, owner=owner_from(tags, opts.owner_tags), tags=tags,
                                       fault_domains=(f"aws:account:{a}",)))
        iam_targets[a].append(("role", arn))


def boundary_of(entity: Mapping[str, Any],
                docs: Mapping[str, tuple[P.Statement, ...]]) -> tuple[P.Statement, ...] | None:
    """A user's or role's permissions boundary (None: it has none; empty: its document is unreadable)."""
    pb = entity.get("PermissionsBoundary")
    if not pb:
        return None
    return docs.get(pb["PermissionsBoundaryArn"], ())
