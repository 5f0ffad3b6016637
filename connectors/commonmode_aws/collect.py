"""The only module that calls AWS. Narrow `get_*` functions, one per operation family, paginating with
boto3's paginators, each returning plain data; and the collection loop (`collect`) that runs them through
the kit's Collection into one typed raw snapshot per account (snapshot.AccountData) for build.py.

Every call goes through client.Clients and its read-only guard (the allow-list is client.READ_ONLY_OPERATIONS).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import boto3
from botocore.exceptions import ClientError

from commonmode.kit import Collection
from commonmode.kit.ids import iam_role_arn
from commonmode_aws.client import NEVER, READ_ONLY_OPERATIONS, Clients, ReadOnlyViolation, describe_error
from commonmode_aws.snapshot import AccountData

log = logging.getLogger(__name__)

# The allow-list and the guarded client factory stay importable from here (tests/safety imports them so).
__all__ = ["NEVER", "READ_ONLY_OPERATIONS", "Clients", "Organization", "ReadOnlyViolation", "collect",
           "collect_account", "read_org_policies", "read_organization"]


def _pages(client: Any, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    # Pages as the plain dicts boto3 returns: the snapshot keeps AWS's own records (the stubs' TypedDicts
    # type each operation's page, which the build modules read by key).
    yield from client.get_paginator(operation).paginate(**kwargs)


# --- STS / IAM ----------------------------------------------------------------------------------------


def assumed_session(clients: Clients, role_arn: str, region: str) -> Any:
    """A session in another account through the configured audit role."""
    creds = clients.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="commonmode-scan")["Credentials"]
    return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"], region_name=region)


def get_account_id(clients: Clients) -> str:
    """The caller's account (sts:GetCallerIdentity): the first call, which says whether we can connect and
    whether the credential is accepted at all."""
    return str(clients.client("sts").get_caller_identity()["Account"])


def get_authorization_details(clients: Clients, on_page: Callable[[int], None] | None = None) -> dict[str, list[Any]]:
    """Users, roles, groups and customer managed policies with their documents, in pages."""
    out: dict[str, list[Any]] = {"UserDetailList": [], "RoleDetailList": [], "GroupDetailList": [], "Policies": []}
    iam = clients.client("iam")
    for i, page in enumerate(_pages(iam, "get_account_authorization_details",
                                    Filter=["User", "Role", "Group", "LocalManagedPolicy"])):
        for key in out:
            out[key].extend(page.get(key, []))
        if on_page:
            on_page(i + 1)
    return out


def get_managed_policy_document(clients: Clients, arn: str) -> dict[str, Any] | str:
    """The default version's document of one managed policy (AWS managed ones are not in GAAD's filter)."""
    iam = clients.client("iam")
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    # botocore decodes IAM's URL-encoded JSON into a dict and leaves text that is not JSON as it is (its
    # after-call handler json_decode_policies); policy.parse_policy reads both
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return document if isinstance(document, str) else dict(document)


def get_access_keys(clients: Clients, user_name: str) -> list[dict[str, Any]]:
    """A user's access keys with their last use (GAAD does not carry keys)."""
    iam = clients.client("iam")
    keys = [k for page in _pages(iam, "list_access_keys", UserName=user_name) for k in page["AccessKeyMetadata"]]
    for k in keys:
        k["LastUsed"] = iam.get_access_key_last_used(AccessKeyId=k["AccessKeyId"]).get("AccessKeyLastUsed", {})
    return keys


# --- Route 53 -----------------------------------------------------------------------------------------


def get_oidc_providers(clients: Clients) -> dict[str, dict[str, Any]]:
    """The account's IAM OIDC identity providers, ARN → GetOpenIDConnectProvider (Url, ClientIDList: the
    audiences STS accepts from the issuer; ThumbprintList and tags are certificate and tag metadata)."""
    iam = clients.client("iam")
    arns = [p["Arn"] for p in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", [])]
    out: dict[str, dict[str, Any]] = {}
    for arn in arns:
        got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        out[arn] = {"Url": got.get("Url", ""), "ClientIDList": list(got.get("ClientIDList") or [])}
    return out


def get_hosted_zones(clients: Clients) -> list[dict[str, Any]]:
    r53 = clients.client("route53")
    return [z for page in _pages(r53, "list_hosted_zones") for z in page["HostedZones"]]


def get_record_sets(clients: Clients, zone_id: str) -> list[dict[str, Any]]:
    r53 = clients.client("route53")
    return [r for page in _pages(r53, "list_resource_record_sets", HostedZoneId=zone_id)
            for r in page["ResourceRecordSets"]]


def get_health_checks(clients: Clients) -> list[dict[str, Any]]:
    r53 = clients.client("route53")
    return [h for page in _pages(r53, "list_health_checks") for h in page["HealthChecks"]]


def get_route53_tags(clients: Clients, resource_type: Literal["healthcheck", "hostedzone"],
                     ids: list[str]) -> dict[str, dict[str, str]]:
    """Tags of hosted zones or health checks, ten ids per call (the API's limit)."""
    r53 = clients.client("route53")
    out: dict[str, dict[str, str]] = {}
    for i in range(0, len(ids), 10):
        resp = r53.list_tags_for_resources(ResourceType=resource_type, ResourceIds=ids[i:i + 10])
        for item in resp.get("ResourceTagSets", []):
            out[item["ResourceId"]] = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
    return out


# --- Secrets Manager / ACM ----------------------------------------------------------------------------


def get_secrets(clients: Clients, region: str) -> list[dict[str, Any]]:
    """Secret metadata (name, tags, rotation, KMS key) and resource policy. Never the value."""
    sm = clients.client("secretsmanager", region)
    secrets = [s for page in _pages(sm, "list_secrets") for s in page["SecretList"]]
    for s in secrets:
        s["ResourcePolicy"] = sm.get_resource_policy(SecretId=s["ARN"]).get("ResourcePolicy")
    return secrets


def get_secure_parameters(clients: Clients, region: str) -> list[dict[str, Any]]:
    """SSM SecureString parameters: name, KMS key, dates, tags. DescribeParameters never returns a value."""
    ssm = clients.client("ssm", region)
    params = [p for page in _pages(ssm, "describe_parameters",
                                   ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}])
              for p in page["Parameters"]]
    for p in params:
        p["Tags"] = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=p["Name"]).get("TagList", [])
    return params


def get_certificates(clients: Clients, region: str) -> list[dict[str, Any]]:
    acm = clients.client("acm", region)
    arns = [c["CertificateArn"] for page in _pages(acm, "list_certificates") for c in page["CertificateSummaryList"]]
    return [dict(acm.describe_certificate(CertificateArn=a)["Certificate"]) for a in arns]


def get_certificate_authorities(clients: Clients, region: str) -> list[dict[str, Any]]:
    """ACM PCA certificate authorities: subject, type, status, expiry, tags and resource policy (RAM sharing).
    Never a certificate or key: IssueCertificate and GetCertificate are not called."""
    pca = clients.client("acm-pca", region)
    cas = [c for page in _pages(pca, "list_certificate_authorities") for c in page["CertificateAuthorities"]]
    for ca in cas:
        ca["Tags"] = [t for page in _pages(pca, "list_tags", CertificateAuthorityArn=ca["Arn"]) for t in page["Tags"]]
        try:
            ca["Policy"] = pca.get_policy(ResourceArn=ca["Arn"]).get("Policy")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            ca["Policy"] = None  # no resource policy: only the CA's own account can be allowed
    return cas


# --- Organizations ------------------------------------------------------------------------------------


def get_organization(clients: Clients) -> dict[str, Any]:
    return dict(clients.client("organizations").describe_organization()["Organization"])


def get_accounts(clients: Clients) -> list[dict[str, Any]]:
    org = clients.client("organizations")
    return [a for page in _pages(org, "list_accounts") for a in page["Accounts"]]


def get_enabled_policy_types(clients: Clients) -> set[str]:
    """The authorization policy types enabled in the organization's root (SERVICE_CONTROL_POLICY,
    RESOURCE_CONTROL_POLICY): a type that is not enabled does not apply, whatever is attached."""
    org = clients.client("organizations")
    return {t["Type"] for page in _pages(org, "list_roots") for r in page["Roots"]
            for t in r.get("PolicyTypes", []) if t.get("Status") == "ENABLED"}


def get_org_path(clients: Clients, account_id: str) -> list[str]:
    """The targets whose policies apply to an account, nearest first: the account, each OU, the root."""
    org = clients.client("organizations")
    path = [account_id]
    while True:
        parents = org.list_parents(ChildId=path[-1])["Parents"]
        if not parents:
            return path
        path.append(parents[0]["Id"])
        if parents[0]["Type"] == "ROOT":
            return path


def get_policy_levels(clients: Clients, path: list[str],
                      policy_type: str = "SERVICE_CONTROL_POLICY") -> list[list[tuple[str, str]]]:
    """The SCPs (or RCPs) attached at each target of `path` (see get_org_path), one list per level:
    [(name, content)]."""
    org = clients.client("organizations")

    def attached(target: str) -> list[tuple[str, str]]:
        policies = [p for page in _pages(org, "list_policies_for_target", TargetId=target, Filter=policy_type)
                    for p in page["Policies"]]
        return [(p["Name"], org.describe_policy(PolicyId=p["Id"])["Policy"]["Content"]) for p in policies]

    return [attached(target) for target in path]


# --- the collection loop ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Organization:
    """The organization as the scan sees it: where to read policies, and which policy types are enabled."""

    clients: Clients
    management: str
    org_id: str | None
    enabled: frozenset[str]


def collect(c: Collection, base: Clients, home: str, *, regions: Sequence[str], assume_role: str | None,
            accounts: Sequence[str] | None, max_workers: int) -> list[AccountData]:
    """Every account these credentials reach: the home account, and through `assume_role` each of `accounts`
    (default: the organization's), `max_workers` at a time; SCPs and RCPs where the organization is readable."""
    org_accounts, org = read_organization(c, base)
    targets: list[tuple[str, Clients]] = [(home, base.for_account(home))]
    if assume_role:
        for acct in list(accounts or org_accounts):
            if acct == home:
                continue
            try:
                sess = assumed_session(base, iam_role_arn(acct, assume_role), base.region)
                targets.append((acct, base.for_session(sess, acct)))
            except Exception as exc:  # noqa: BLE001 — recorded as a gap; the other accounts go on
                c.gap(f"account {acct}: cannot assume {assume_role}: {describe_error(exc)}")

    def one(item: tuple[str, Clients]) -> AccountData:
        acct, clients = item
        data = collect_account(c.within(gaps=f"account {acct}: ", progress=f"{acct}: "), acct, clients, regions)
        if org is not None:
            data.org_id = org.org_id
            if acct != org.management:  # neither SCPs nor RCPs apply to the management account
                read_org_policies(c, org, acct, data)
        return data

    with ThreadPoolExecutor(max_workers=min(max(1, max_workers), len(targets))) as pool:
        return list(pool.map(one, targets))


def read_organization(c: Collection, base: Clients) -> tuple[list[str], Organization | None]:
    """Member accounts, and where and which SCPs/RCPs to read, when these credentials reach the organization
    (not reaching it is no gap: client.AwsErrors calls it absent)."""
    org = c.attempt("organizations:DescribeOrganization", lambda: get_organization(base), None, deadline=False)
    if org is None:
        return [], None
    accounts = c.attempt("organizations:ListAccounts", lambda: [a["Id"] for a in get_accounts(base)
                                                                 if a.get("Status", "ACTIVE") == "ACTIVE"],
                         None, deadline=False)
    if accounts is None:
        return [], None
    enabled = c.attempt("organizations:ListRoots", lambda: get_enabled_policy_types(base), set[str](),
                        deadline=False, note="SCPs and RCPs evaluated as absent")
    return accounts, Organization(clients=base, management=org["MasterAccountId"], org_id=org.get("Id"),
                                  enabled=frozenset(enabled))


def read_org_policies(c: Collection, org: Organization, acct: str, data: AccountData) -> None:
    """The SCP and RCP levels of a member account, for the policy types enabled in the root; the account's
    place in the organization is walked once for both."""
    kinds = [(kind, attr) for kind, attr in (("SERVICE_CONTROL_POLICY", "scp_levels"),
                                             ("RESOURCE_CONTROL_POLICY", "rcp_levels")) if kind in org.enabled]
    if not kinds:
        return

    def unreadable(attr: str, exc: Exception) -> str:
        return f"account {acct}: {attr[:3].upper()}s unreadable ({describe_error(exc)}); evaluated without them"

    try:
        path = get_org_path(org.clients, acct)
    except Exception as exc:  # noqa: BLE001 — recorded as a gap for each policy type
        for _, attr in kinds:
            c.gap(unreadable(attr, exc))
        return
    for kind, attr in kinds:
        try:
            setattr(data, attr, get_policy_levels(org.clients, path, kind))
        except Exception as exc:  # noqa: BLE001 — recorded as a gap; the other policy type is still read
            c.gap(unreadable(attr, exc))


def collect_account(c: Collection, acct: str, clients: Clients, regions: Sequence[str]) -> AccountData:
    """One account's snapshot. Each call is one `attempt`: a refused one is a gap in `c`'s account scope."""
    data = AccountData(account=acct)
    data.gaad = c.attempt("iam:GetAccountAuthorizationDetails", lambda: get_authorization_details(clients), {})
    local = {p["Arn"] for p in data.gaad.get("Policies", [])}
    wanted = sorted({m["PolicyArn"] for kind in ("UserDetailList", "RoleDetailList", "GroupDetailList")
                     for e in data.gaad.get(kind, []) for m in e.get("AttachedManagedPolicies", [])}
                    | {e["PermissionsBoundary"]["PermissionsBoundaryArn"]
                       for kind in ("UserDetailList", "RoleDetailList")
                       for e in data.gaad.get(kind, []) if e.get("PermissionsBoundary")})
    for arn in wanted:
        if arn not in local:
            doc = c.attempt(f"iam:GetPolicyVersion {arn}", partial(get_managed_policy_document, clients, arn), None)
            if doc is not None:
                data.managed_documents[arn] = doc
    for u in data.gaad.get("UserDetailList", []):
        data.access_keys[u["UserName"]] = c.attempt(f"iam:ListAccessKeys {u['UserName']}",
                                                    partial(get_access_keys, clients, u["UserName"]), [])
    data.oidc_providers = c.attempt("iam:ListOpenIDConnectProviders", lambda: get_oidc_providers(clients), None)
    data.zones = c.attempt("route53:ListHostedZones", lambda: get_hosted_zones(clients), [])
    zone_ids = [z["Id"].rsplit("/", 1)[-1] for z in data.zones]
    if zone_ids:
        data.zone_tags = c.attempt("route53:ListTagsForResources hostedzone",
                                   lambda: get_route53_tags(clients, "hostedzone", zone_ids), {})
    for zid in zone_ids:
        data.records[zid] = c.attempt(f"route53:ListResourceRecordSets {zid}",
                                      partial(get_record_sets, clients, zid), [])
    data.health_checks = c.attempt("route53:ListHealthChecks", lambda: get_health_checks(clients), [])
    if data.health_checks:
        data.health_check_tags = c.attempt(
            "route53:ListTagsForResources healthcheck",
            lambda: get_route53_tags(clients, "healthcheck", [h["Id"] for h in data.health_checks]), {})
    for region in regions:
        data.secrets[region] = c.attempt(f"secretsmanager:ListSecrets {region}",
                                         partial(get_secrets, clients, region), [])
        data.parameters[region] = c.attempt(f"ssm:DescribeParameters {region}",
                                            partial(get_secure_parameters, clients, region), [])
        data.authorities[region] = c.attempt(f"acm-pca:ListCertificateAuthorities {region}",
                                             partial(get_certificate_authorities, clients, region), [])
        data.certificates[region] = c.attempt(f"acm:ListCertificates {region}",
                                              partial(get_certificates, clients, region), [])
    return data
