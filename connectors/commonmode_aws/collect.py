"""The only module that calls AWS. Narrow `get_*` functions, one per operation family, paginating with
boto3's paginators; each returns plain data for the transform in `scan.py`.

Read-only by construction: the client factory refuses, before it is sent, any operation that is not on
READ_ONLY_OPERATIONS (and every operation that returns a secret value or key material is absent from it).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from commonmode.errors import UsageError

log = logging.getLogger(__name__)

#: Every operation the connector may call, by service. Nothing here returns a secret value, key
#: material or a token (no GetSecretValue, no GetParameter(s), no ExportCertificate); AssumeRole is used
#: only to enter the configured audit role in member accounts.
READ_ONLY_OPERATIONS: dict[str, frozenset[str]] = {
    "sts": frozenset({"GetCallerIdentity", "AssumeRole"}),
    "iam": frozenset({"GetAccountAuthorizationDetails", "GetPolicy", "GetPolicyVersion", "ListAccessKeys",
                      "GetAccessKeyLastUsed"}),
    "route53": frozenset({"ListHostedZones", "ListResourceRecordSets", "ListHealthChecks",
                          "ListTagsForResources"}),
    "secretsmanager": frozenset({"ListSecrets", "GetResourcePolicy"}),
    "ssm": frozenset({"DescribeParameters", "ListTagsForResource"}),
    "acm": frozenset({"ListCertificates", "DescribeCertificate"}),
    "acm-pca": frozenset({"ListCertificateAuthorities", "ListTags", "GetPolicy"}),
    "organizations": frozenset({"DescribeOrganization", "ListAccounts", "ListRoots", "ListParents",
                                "ListPoliciesForTarget", "DescribePolicy"}),
}

#: Operations that must never be called, whatever a future edit adds above (tests check both lists).
NEVER: frozenset[str] = frozenset({"GetSecretValue", "BatchGetSecretValue", "GetParameter", "GetParameters",
                                   "GetParametersByPath", "GetParameterHistory", "ExportCertificate",
                                   "CreateAccessKey", "IssueCertificate", "GetSessionToken", "GetFederationToken"})

#: Attempts per call (the first included) for throttling, 5xx and connection errors.
MAX_ATTEMPTS = 4

DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                          "AuthorizationError", "UnrecognizedClientException", "InvalidClientTokenId"})


class ReadOnlyViolation(RuntimeError):
    """The connector tried to call an operation that is not on its read-only allow-list."""


@dataclass
class Clients:
    """One client factory per account: endpoint override, retries with backoff, the read-only guard, and a
    count of every call made (reported in the connector's stats)."""

    session: Any
    endpoint_url: str | None
    region: str
    read_timeout: int = 30
    connect_timeout: int = 10
    attempts: int = MAX_ATTEMPTS
    calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cache: dict[tuple[str, str], Any] = field(default_factory=dict)

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._cache:
            # botocore's standard retry mode: exponential backoff with jitter on throttling, 5xx and connection
            # errors, `max_attempts` including the first (Boto3 docs, "Retries")
            cfg = Config(retries={"mode": "standard", "max_attempts": self.attempts},
                         connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
                         user_agent_extra="commonmode")
            c = self.session.client(service, region_name=key[1], endpoint_url=self.endpoint_url, config=cfg)
            c.meta.events.register("before-call", self._guard)
            self._cache[key] = c
        return self._cache[key]

    def _guard(self, model: Any, **_: Any) -> None:
        service = model.service_model.endpoint_prefix
        name = model.name
        service = {"email": "ses"}.get(service, service)
        allowed = READ_ONLY_OPERATIONS.get(service, frozenset())
        if name in NEVER or name not in allowed:
            raise ReadOnlyViolation(f"refused {service}:{name}: not a read-only operation commonmode may call")
        with self._lock:
            self.calls[f"{service}:{name}"] += 1


def session_for(profile: str | None, region: str, *, where: str = "aws") -> Any:
    """A boto3 session from a profile name or the standard environment (never a key from the config).

    An unknown profile is a config error naming the key, not the value: a profile key sometimes holds a
    pasted key by mistake, and botocore's message would repeat it into stderr and the run's gaps."""
    from botocore.exceptions import ProfileNotFound

    try:
        return boto3.session.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise UsageError(f"{where}.profile: the profile it names is not in the AWS config or credentials "
                         "files (the value is not shown)") from None


def assumed_session(clients: Clients, role_arn: str, region: str) -> Any:
    """A session in another account through the configured audit role."""
    creds = clients.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="commonmode-scan")["Credentials"]
    return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"], region_name=region)


def error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def describe_error(exc: Exception) -> str:
    """One line: the AWS error code and message."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        text = f"{err.get('Code') or ''}: {err.get('Message') or ''}".strip(": ")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return text or f"HTTP {status} with an error body botocore could not parse"
    if isinstance(exc, BotoCoreError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _pages(client: Any, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    yield from client.get_paginator(operation).paginate(**kwargs)


# --- STS / IAM ----------------------------------------------------------------------------------------


def get_account_id(clients: Clients) -> str:
    """The caller's account (sts:GetCallerIdentity): the first call, which says whether we can connect and
    whether the credential is accepted at all."""
    return str(clients.client("sts").get_caller_identity()["Account"])


def describe_first_failure(exc: Exception, endpoint: str) -> str:
    """One line for a connector whose first call failed: cannot connect, TLS, or credential refused."""
    from botocore.exceptions import (ConnectTimeoutError, EndpointConnectionError, NoCredentialsError,
                                     ReadTimeoutError, SSLError)

    if isinstance(exc, SSLError):
        return f"cannot connect to {endpoint}: TLS failure ({exc})"
    if isinstance(exc, (ConnectTimeoutError, EndpointConnectionError)):
        cause = "timed out" if isinstance(exc, ConnectTimeoutError) else "connection refused or unreachable"
        return f"cannot connect to {endpoint}: {cause}"
    if isinstance(exc, ReadTimeoutError):
        return f"no answer from {endpoint} within the timeout"
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found (profile, environment or instance role)"
    if error_code(exc) in DENIED_CODES or error_code(exc) in ("ExpiredToken", "SignatureDoesNotMatch"):
        return f"the credential was refused by sts:GetCallerIdentity: {describe_error(exc)}"
    return f"sts:GetCallerIdentity failed: {describe_error(exc)}"


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


def get_managed_policy_document(clients: Clients, arn: str) -> dict[str, Any]:
    """The default version's document of one managed policy (AWS managed ones are not in GAAD's filter)."""
    iam = clients.client("iam")
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]


def get_access_keys(clients: Clients, user_name: str) -> list[dict[str, Any]]:
    """A user's access keys with their last use (GAAD does not carry keys)."""
    iam = clients.client("iam")
    keys = [k for page in _pages(iam, "list_access_keys", UserName=user_name) for k in page["AccessKeyMetadata"]]
    for k in keys:
        k["LastUsed"] = iam.get_access_key_last_used(AccessKeyId=k["AccessKeyId"]).get("AccessKeyLastUsed", {})
    return keys


# --- Route 53 -----------------------------------------------------------------------------------------


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


def get_route53_tags(clients: Clients, resource_type: str, ids: list[str]) -> dict[str, dict[str, str]]:
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
    return [acm.describe_certificate(CertificateArn=a)["Certificate"] for a in arns]


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
