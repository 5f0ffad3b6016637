"""The client factory: one boto3 client per service and region with the endpoint override, timeouts and
retries of the connector's CallPolicy, the read-only guard, and a count of every call made; and the
connector's error hook (what a failed AWS call means for the run).

Read-only by construction: the guard refuses, before it is sent, any operation that is not on
READ_ONLY_OPERATIONS (and every operation that returns a secret value or key material is absent from it).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from commonmode.errors import UsageError
from commonmode.kit import CallCounter, CallPolicy, DeadlineReached, Errors, Failure, ReadOnlyViolation, SlidingWindow

if TYPE_CHECKING:  # the SDK's stubs (types-boto3, the test extra): one typed client per service used
    from types_boto3_acm import ACMClient
    from types_boto3_acm_pca import ACMPCAClient
    from types_boto3_iam import IAMClient
    from types_boto3_organizations import OrganizationsClient
    from types_boto3_route53 import Route53Client
    from types_boto3_secretsmanager import SecretsManagerClient
    from types_boto3_ssm import SSMClient
    from types_boto3_sts import STSClient

log = logging.getLogger(__name__)

__all__ = ["DENIED_CODES", "MAX_ATTEMPTS", "NEVER", "READ_ONLY_OPERATIONS", "AwsErrors", "Clients",
           "ReadOnlyViolation", "describe_error", "describe_first_failure", "error_code",
           "session_for"]

#: Every operation the connector may call, by service. Nothing here returns a secret value, key
#: material or a token (no GetSecretValue, no GetParameter(s), no ExportCertificate); AssumeRole is used
#: only to enter the configured audit role in member accounts. scanner-policy.json grants exactly these.
READ_ONLY_OPERATIONS: dict[str, frozenset[str]] = {
    "sts": frozenset({"GetCallerIdentity", "AssumeRole"}),
    "iam": frozenset({"GetAccountAuthorizationDetails", "GetPolicy", "GetPolicyVersion", "ListAccessKeys",
                      "GetAccessKeyLastUsed", "ListOpenIDConnectProviders", "GetOpenIDConnectProvider"}),
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

#: Route 53 requests per account in any one second, all operations together. Route 53's quota is five
#: requests per second per AWS account (Route 53 Developer Guide, "Quotas"; newer accounts get a token
#: bucket, "Throttling Amazon Route 53 API requests"), and that budget is shared with external-dns,
#: cert-manager and the failover automation itself: the scanner stays at it in every one-second window,
#: even where a bucket would allow a burst. `route53_requests_per_second` sets it lower (or higher).
ROUTE53_RATE = 5
#: The window that rate is kept in, with 50 ms to spare: requests leave one window apart, and the network
#: can bring two of them closer by the time they arrive (a fraction of a millisecond on loopback).
ROUTE53_WINDOW = 1.05

#: Error codes of a throttled request (Route 53 answers HTTP 400 with Code `Throttling` and Message
#: `Rate exceeded`, "Throttling Amazon Route 53 API requests"; the others are those botocore's standard retry
#: mode treats as throttling, "Retries" in the Boto3 docs).
THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
                              "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
                              "PriorRequestNotComplete", "SlowDown"})

DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                          "AuthorizationError", "UnrecognizedClientException", "InvalidClientTokenId"})


@dataclass
class Clients:
    """One client factory per account: endpoint override, the CallPolicy's timeouts and attempts, the
    read-only guard, and a count of every call made (reported in the connector's stats)."""

    session: Any
    endpoint_url: str | None
    region: str
    policy: CallPolicy = field(default_factory=lambda: CallPolicy(attempts=MAX_ATTEMPTS))
    calls: CallCounter = field(default_factory=CallCounter)
    #: the account these clients are in (its pace and its throttled calls are counted under it)
    account: str = ""
    route53_rate: int = ROUTE53_RATE
    #: the account's Route 53 pace (one window per account: the quota is per account)
    route53: SlidingWindow | None = None
    #: throttled responses and paced requests, by `throttled.<service>`, `throttled.<service>.<account>`,
    #: `paced.route53`, `paced_ms.route53` (the connector's stats report them)
    pace: CallCounter = field(default_factory=CallCounter)
    _cache: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.route53 is None:
            self.route53 = SlidingWindow(self.route53_rate, ROUTE53_WINDOW)

    def for_session(self, session: Any, account: str = "") -> Clients:
        """A factory for another account's session: same endpoint, region, policy and counters, and that
        account's own Route 53 pace."""
        return dataclasses.replace(self, session=session, account=account, route53=None, _cache={})

    def for_account(self, account: str) -> Clients:
        """The same factory and pace, its counts under `account` (once the home account is known)."""
        return dataclasses.replace(self, account=account)

    def with_attempts(self, attempts: int) -> Clients:
        """The same factory with fewer (or more) attempts per call, and its own clients; same counter."""
        return dataclasses.replace(self, policy=self.policy.with_attempts(attempts), _cache={})

    @overload
    def client(self, service: Literal["sts"], region: str | None = None) -> STSClient: ...
    @overload
    def client(self, service: Literal["iam"], region: str | None = None) -> IAMClient: ...
    @overload
    def client(self, service: Literal["route53"], region: str | None = None) -> Route53Client: ...
    @overload
    def client(self, service: Literal["secretsmanager"], region: str | None = None) -> SecretsManagerClient: ...
    @overload
    def client(self, service: Literal["ssm"], region: str | None = None) -> SSMClient: ...
    @overload
    def client(self, service: Literal["acm"], region: str | None = None) -> ACMClient: ...
    @overload
    def client(self, service: Literal["acm-pca"], region: str | None = None) -> ACMPCAClient: ...
    @overload
    def client(self, service: Literal["organizations"], region: str | None = None) -> OrganizationsClient: ...
    def client(self, service: str, region: str | None = None) -> Any:
        """The guarded client of `service` in `region` (default: the factory's), made once."""
        key = (service, region or self.region)
        if key not in self._cache:
            # botocore's standard retry mode: exponential backoff with jitter on throttling, 5xx and connection
            # errors, `max_attempts` including the first (Boto3 docs, "Retries")
            cfg = Config(retries={"mode": "standard", "max_attempts": self.policy.attempts},
                         connect_timeout=self.policy.connect_timeout, read_timeout=self.policy.read_timeout,
                         user_agent_extra="commonmode")
            c = self.session.client(service, region_name=key[1], endpoint_url=self.endpoint_url, config=cfg)
            c.meta.events.register("before-call", self._guard)
            c.meta.events.register("before-send", self._deadline)
            if service == "route53":  # per attempt, retries included: every request counts against the quota
                c.meta.events.register("before-send", self._route53_pace)
            c.meta.events.register("response-received", self._throttled)
            self._cache[key] = c
        return self._cache[key]

    def _route53_pace(self, **_: Any) -> None:
        assert self.route53 is not None
        waited = self.route53.acquire()
        if waited:
            self.pace.add("paced.route53")
            self.pace.add("paced_ms.route53", round(waited * 1000))

    def _throttled(self, parsed_response: Any = None, response_dict: Any = None, context: Any = None,
                   exception: Any = None, **kwargs: Any) -> None:
        """After each attempt: count the ones the provider throttled, per service and per account."""
        code = ((parsed_response or {}).get("Error") or {}).get("Code")
        status = (response_dict or {}).get("status_code")
        if code in THROTTLING_CODES or status == 429:
            service = (kwargs.get("event_name") or "response-received.?").split(".")[1]
            self.pace.add(f"throttled.{service}")
            self.pace.add(f"throttled.{service}.{self.account or 'home'}")

    def _deadline(self, **_: Any) -> None:
        """Before each HTTP attempt, retries included ('before-send' fires per attempt): past the connector's
        deadline nothing more is sent, so a call in flight then ends after its current attempt."""
        if self.policy.past_deadline():
            raise DeadlineReached(self.policy.deadline)

    def _guard(self, model: Any, **_: Any) -> None:
        service = model.service_model.endpoint_prefix
        name = model.name
        service = {"email": "ses"}.get(service, service)
        allowed = READ_ONLY_OPERATIONS.get(service, frozenset())
        if name in NEVER or name not in allowed:
            raise ReadOnlyViolation(f"refused {service}:{name}: not a read-only operation commonmode may call")
        self.calls.add(f"{service}:{name}")


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


def error_code(exc: Exception) -> str:
    """The AWS error code of a failed call (the exception's type name when AWS sent none)."""
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


def describe_first_failure(exc: Exception, endpoint: str) -> str:
    """One line for a connector whose first call failed: cannot connect, TLS, or credential refused."""
    from botocore.exceptions import (
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
        SSLError,
    )

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


#: Calls whose failure with one of these codes means "not there" rather than "not seen": these credentials
#: do not reach an organization, so SCPs and RCPs are not evaluated (and no gap is recorded).
_ABSENT_WHEN = {
    "organizations:DescribeOrganization": frozenset({"AWSOrganizationsNotInUseException", *DENIED_CODES}),
    "organizations:ListAccounts": DENIED_CODES,
}


class AwsErrors(Errors):
    """The AWS connector's error hook: a read-only violation stops the connector; an organization these
    credentials do not reach is absent; every other failure is a gap with AWS's code and message."""

    def classify(self, what: str, exc: Exception) -> Failure:
        if isinstance(exc, ReadOnlyViolation):
            return Failure.FATAL
        if what == "organizations:DescribeOrganization":
            log.info("organization not readable (%s): SCPs and RCPs are not evaluated", describe_error(exc))
        return Failure.ABSENT if error_code(exc) in _ABSENT_WHEN.get(what, ()) else Failure.GAP

    def describe(self, what: str, exc: Exception) -> str:
        if isinstance(exc, DeadlineReached):
            return f"{what}: {exc}"
        return f"{what}: {describe_error(exc)}"
