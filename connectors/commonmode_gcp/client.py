"""The client factory: the only code that talks to Google. One credential (Application Default Credentials, with
optional service-account impersonation), one REST session (google-auth's AuthorizedSession) for Resource
Manager v3, Cloud DNS v1, Secret Manager, Certificate Manager and IAM's workload identity pools, and one gRPC
channel for the IAM admin and IAM v2 services (google-cloud-iam's clients speak gRPC only), all with the
config's endpoints, the CA bundle, the CallPolicy's timeouts and retries (google-api-core's Retry, exponential
backoff), and one read-only guard on every request.

The guard sits where each attempt leaves: the HTTP adapter of both requests sessions (the API session and the
one google-auth refreshes tokens with) and a gRPC client interceptor. It counts the call, stops sending past the
connector's deadline, and refuses what is not a read before it is sent: an API request must be a GET or one of
the read-only POST methods `:getIamPolicy` (AIP-136 custom methods); a token request must go to a token endpoint
or be the scanner's own impersonation (`:generateAccessToken` of `impersonate_service_account`); a gRPC call
must be one of the IAM reads the connector makes. Never sent whatever the code asks: a secret version's
`:access`, `serviceAccountKeys.create`, `signJwt`, `signBlob` (DOMAIN.md §6).

`ca_bundle` is given to both sessions, and put back on every request after requests merged the environment
(REQUESTS_CA_BUNDLE would override `Session.verify` otherwise), and to the gRPC channel's root certificates,
so it wins over the environment; without it REST trusts what requests trusts (REQUESTS_CA_BUNDLE, certifi) and
gRPC what grpc trusts (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, its bundled roots). Proxies from the environment
(HTTPS_PROXY) are kept for REST.

The connector's error hook (`GcpErrors`) is here too: a failed or refused call is a gap in Google's words; a
disabled API (403 SERVICE_DISABLED) is a gap naming the project and the service.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urlsplit

import google.auth
import grpc  # type: ignore[import-untyped]
import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exceptions
from google.auth import impersonated_credentials
from google.auth.transport.grpc import AuthMetadataPlugin
from google.auth.transport.requests import AuthorizedSession
from google.auth.transport.requests import Request as RefreshRequest
from google.oauth2 import service_account
from requests.adapters import HTTPAdapter

from commonmode import __version__
from commonmode.kit import CallCounter, CallPolicy, DeadlineReached, Errors, Failure, ReadOnlyViolation
from commonmode_gcp.options import DEFAULT_ENDPOINTS, IAM_REST_DEFAULT

T = TypeVar("T")
Json = dict[str, Any]

CLOUD_PLATFORM: Final = "https://www.googleapis.com/auth/cloud-platform"
_USER_AGENT: Final = f"commonmode/{__version__} (read-only scanner)"
#: The gRPC methods the connector calls: reads only (IAM admin v1, IAM v2).
GRPC_READS: Final = frozenset({
    "/google.iam.admin.v1.IAM/ListServiceAccounts", "/google.iam.admin.v1.IAM/ListServiceAccountKeys",
    "/google.iam.admin.v1.IAM/ListRoles", "/google.iam.admin.v1.IAM/GetRole",
    "/google.iam.admin.v1.IAM/GetIamPolicy", "/google.iam.v2.Policies/ListPolicies",
    "/google.iam.v2.Policies/GetPolicy"})
#: POST methods that only read (AIP-136 custom methods): every other POST is a write or mints something.
_READ_POSTS: Final = re.compile(r":getIamPolicy$")
#: Paths that return secret material or mint credentials, refused whatever the method (DOMAIN.md §6).
_NEVER: Final = re.compile(r"/versions/[^/]+:access$|:signJwt$|:signBlob$|:generateIdToken$|:generateAccessToken$")
_STATUS: Final = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
                  504: "DEADLINE_EXCEEDED"}
_TRANSIENT_HTTP: Final = frozenset({429, 500, 502, 503, 504})


def refused(what: str, reason: str) -> ReadOnlyViolation:
    return ReadOnlyViolation(f"{what}: refused by the read-only guard: {reason}")


def operation(method: str, url: str) -> str:
    """The operation a REST request counts as, ids and names left out: `GET dns projects/managedZones/rrsets`,
    `POST cloudresourcemanager projects:getIamPolicy`, `GET secretmanager projects/secrets`."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if segments[:2] == ["dns", "v1"]:
        service, segments = "dns", segments[2:]
    elif segments[:1] == ["v3"]:
        service, segments = "cloudresourcemanager", segments[1:]
    else:
        segments = segments[1:]
        service = "api"
    verb = ""
    if segments and ":" in segments[-1]:
        segments[-1], verb = segments[-1].split(":", 1)
    kinds = [s for i, s in enumerate(segments) if i % 2 == 0 and s != "locations"]
    if service == "api":
        service = next((svc for kind, svc in _SERVICE_OF_KIND.items() if kind in kinds), "api")
    return f"{method} {service} {'/'.join(kinds)}{':' + verb if verb else ''}"


#: The v1 REST APIs, told apart by the collection a path names (they share the `/v1/projects/…` shape).
_SERVICE_OF_KIND: Final = {"secrets": "secretmanager", "certificates": "certificatemanager",
                           "certificateMaps": "certificatemanager", "dnsAuthorizations": "certificatemanager",
                           "workloadIdentityPools": "iam", "groups": "cloudidentity"}


@dataclass
class Guard:
    """Counts every attempt, stops at the deadline, refuses what is not a read (see the module docstring)."""

    calls: CallCounter
    policy: CallPolicy
    #: the service accounts the scanner may get its own tokens as: `impersonate_service_account`, and the one
    #: its ADC credentials name (an external account's service_account_impersonation_url, gcloud's impersonated
    #: credentials)
    impersonate: frozenset[str] = frozenset()

    def _deadline(self) -> None:
        if self.policy.past_deadline():
            raise DeadlineReached(self.policy.deadline)

    def api(self, method: str, url: str) -> None:
        path = unquote(urlsplit(url).path)  # `…%3Aaccess` is `…:access` to the server
        what = f"{method} {path}"
        if _NEVER.search(path):
            raise refused(what, "it returns secret material or mints a credential")
        if method not in ("GET", "HEAD") and not (method == "POST" and _READ_POSTS.search(path)):
            raise refused(what, "a read-only scanner sends GET requests and getIamPolicy only")
        self._deadline()
        self.calls.add(operation(method, url))

    def token(self, method: str, url: str) -> None:
        parts = urlsplit(url)
        path = unquote(parts.path)
        what = f"{method} {path}"
        if _metadata(method, parts.hostname or "", path):
            # the scanner's own token from the metadata server (GCE, GKE, Cloud Run: "Metadata server"), or an
            # AWS-sourced external account's instance metadata (IMDSv2: a PUT for its session token)
            self._deadline()
            self.calls.add(f"{method} metadata")
            return
        own = any(path.endswith(f"/serviceAccounts/{sa}:generateAccessToken") for sa in self.impersonate)
        if method != "POST" or not (path.endswith("/token") or own):
            raise refused(what, "a token request goes to a token endpoint or the metadata server, or impersonates "
                                "the scanner's own service account only")
        self._deadline()
        self.calls.add("POST oauth2 token" if not own else "POST iamcredentials generateAccessToken")

    def rpc(self, method: str) -> None:
        if method not in GRPC_READS:
            raise refused(f"RPC {method}", "not one of the IAM reads the scanner makes")
        self._deadline()
        self.calls.add(f"RPC {method.rsplit('/', 2)[-2].rsplit('.', 1)[-1]}.{method.rsplit('/', 1)[-1]}")


def _metadata_hosts() -> frozenset[str]:
    """The metadata server's names (google-auth's defaults, or GCE_METADATA_HOST / GCE_METADATA_IP), and
    AWS's instance metadata address for AWS-sourced external accounts."""
    hosts = {"metadata.google.internal", "169.254.169.254", "metadata.google.internal.", "metadata"}
    for var in ("GCE_METADATA_HOST", "GCE_METADATA_IP"):
        if os.environ.get(var):
            hosts.add(os.environ[var].split(":", 1)[0])
    return frozenset(hosts)


def _metadata(method: str, host: str, path: str) -> bool:
    """A metadata read that gets the scanner's own token or identity: GETs under /computeMetadata/v1/ (and the
    root, google-auth's ping), AWS IMDS's session-token PUT and its GETs."""
    if host not in _metadata_hosts():
        return False
    if method == "GET":
        return path in ("", "/") or path.startswith(("/computeMetadata/v1/", "/latest/meta-data/",
                                                     "/latest/dynamic/"))
    return method == "PUT" and path == "/latest/api/token"


class _GuardedAdapter(HTTPAdapter):
    """requests' adapter with the guard before each send (one attempt: retries are api_core's, above it)."""

    def __init__(self, check: Callable[[str, str], None]) -> None:
        super().__init__(max_retries=0)
        self._check = check

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self._check(str(request.method).upper(), str(request.url))
        return super().send(request, *args, **kwargs)


class _CaWins:
    """requests lets REQUESTS_CA_BUNDLE (and CURL_CA_BUNDLE) override a session's `verify` when the request
    gives none (Session.merge_environment_settings), which is every request google-auth makes: with `ca_bundle`
    set, the session's CA is put back there. The environment's proxies and its CA (without ca_bundle) are kept."""

    ca: str | None = None

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        merged: dict[str, Any] = super().merge_environment_settings(  # type: ignore[misc]
            url, proxies, stream, verify, cert)
        if self.ca is not None:
            merged["verify"] = self.ca
        return merged


class _Session(_CaWins, requests.Session):
    """The session google-auth refreshes tokens with."""


class _ApiSession(_CaWins, AuthorizedSession):
    """The session of every REST API call."""


def _mount(session: _CaWins, check: Callable[[str, str], None], verify: bool | str) -> None:
    assert isinstance(session, requests.Session)
    session.ca = verify if isinstance(verify, str) else None
    session.verify = verify
    session.headers["User-Agent"] = _USER_AGENT
    adapter = _GuardedAdapter(check)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


class _GuardInterceptor(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]  # grpc ships no types
    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self._guard.rpc(details.method)
        return continuation(details, request)


def endpoints(values: Mapping[str, Any]) -> dict[str, str]:
    """Every endpoint, the config's where it gives one (REST roots without a trailing slash)."""
    given = dict(values.get("api_endpoints") or {})
    out = {k: str(given.get(k) or v).rstrip("/") for k, v in DEFAULT_ENDPOINTS.items()}
    # IAM's workload identity pools are REST, on the IAM host: Google's own, or the REST root given for `iam`
    out["iam_rest"] = out["iam"] if out["iam"].startswith("https://") else (
        IAM_REST_DEFAULT if "iam" not in given else f"https://{out['iam']}")
    return out


def _verify(values: Mapping[str, Any], config_dir: Path) -> bool | str:
    ca = values.get("ca_bundle")
    return str(config_dir / ca) if ca else True


def credentials_for(values: Mapping[str, Any], refresh: RefreshRequest, iamcredentials: str) -> Any:
    """Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS: a service-account key, an external
    account for workload identity federation, gcloud's user credentials; else gcloud's file; else the metadata
    server), impersonating `impersonate_service_account` when it is set (its token from iamcredentials
    generateAccessToken at `api_endpoints.iamcredentials`)."""
    source, _project = google.auth.default(scopes=[CLOUD_PLATFORM], request=refresh)
    target = values.get("impersonate_service_account")
    if not target:
        return source
    return impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
        source_credentials=source, target_principal=str(target), target_scopes=[CLOUD_PLATFORM], lifetime=3600,
        iam_endpoint_override=f"{iamcredentials}/v1/projects/-/serviceAccounts/{target}:generateAccessToken")


class GoogleHttpError(RuntimeError):
    """A REST call failed: its status, Google's status name, the ErrorInfo reason and metadata, the message."""

    def __init__(self, method: str, url: str, status: int, body: Any) -> None:
        err = body.get("error") if isinstance(body, dict) else None
        err = err if isinstance(err, dict) else {}
        info = next((d for d in err.get("details") or [] if isinstance(d, dict)
                     and str(d.get("@type", "")).endswith("google.rpc.ErrorInfo")), {})
        self.status = status
        self.code = str(err.get("status") or _STATUS.get(status, str(status)))
        self.reason = str(info.get("reason") or "")
        self.metadata: Mapping[str, str] = info.get("metadata") or {}
        self.message = first_sentence(str(err.get("message") or (body if isinstance(body, str) else "")))
        self.path = urlsplit(url).path
        super().__init__(f"{method} {self.path}: {status} {self.code}: {self.message}")


def first_sentence(text: str) -> str:
    """The first line of a provider's message, at most 300 characters."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= 300 else line[:297] + "..."


def _transient(exc: Exception) -> bool:
    if isinstance(exc, (DeadlineReached, ReadOnlyViolation)):
        return False
    if isinstance(exc, GoogleHttpError):
        return exc.status in _TRANSIENT_HTTP
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    return isinstance(exc, (api_exceptions.ServiceUnavailable, api_exceptions.DeadlineExceeded,
                            api_exceptions.InternalServerError, api_exceptions.TooManyRequests,
                            api_exceptions.BadGateway))


def retry(policy: CallPolicy) -> Retry:
    """google-api-core's Retry for one call: transient failures retried with exponential backoff, at most
    `policy.attempts` attempts in all (a fresh one per call: it counts them)."""
    tries = itertools.count(2)

    def predicate(exc: Exception) -> bool:
        return _transient(exc) and next(tries) <= policy.attempts

    return Retry(predicate=predicate, initial=policy.backoff, maximum=policy.max_backoff, multiplier=2.0,
                 timeout=None)


@dataclass
class Clients:
    """The credential, the REST session and the gRPC channel of one connector run."""

    values: Mapping[str, Any]
    policy: CallPolicy
    guard: Guard
    urls: dict[str, str]
    verify: bool | str
    credentials: Any = None
    session: AuthorizedSession | None = None
    channel: Any = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def make(cls, values: Mapping[str, Any], config_dir: Path, policy: CallPolicy, calls: CallCounter) -> Clients:
        verify = _verify(values, config_dir)
        urls = endpoints(values)
        target = str(values.get("impersonate_service_account") or "")
        guard = Guard(calls, policy, frozenset({target} - {""}))
        refresh_session = _Session()
        _mount(refresh_session, guard.token, verify)
        refresh = RefreshRequest(refresh_session)
        credentials = credentials_for(values, refresh, urls["iamcredentials"])
        # the account the ADC credentials themselves impersonate (an external account's
        # service_account_impersonation_url, gcloud's impersonated credentials): their own token request
        named = {getattr(c, "service_account_email", None)
                 for c in (credentials, getattr(credentials, "_source_credentials", None)) if c is not None}
        guard.impersonate = guard.impersonate | {str(n) for n in named if isinstance(n, str) and n}
        session = _ApiSession(credentials, auth_request=refresh)  # type: ignore[no-untyped-call]
        _mount(session, guard.api, verify)
        ca = Path(verify).read_bytes() if isinstance(verify, str) else None
        grpc_credentials = credentials
        if isinstance(credentials, service_account.Credentials):
            # self-signed JWTs on gRPC, as google-cloud-iam's own transports do (AIP-4111)
            grpc_credentials = credentials.with_always_use_jwt_access(True)  # type: ignore[no-untyped-call]
        plugin = AuthMetadataPlugin(grpc_credentials, refresh,  # type: ignore[no-untyped-call]
                                    default_host="iam.googleapis.com")
        channel_credentials = grpc.composite_channel_credentials(
            grpc.ssl_channel_credentials(root_certificates=ca), grpc.metadata_call_credentials(plugin))
        raw = grpc.secure_channel(urls["iam"], channel_credentials,
                                  options=[("grpc.max_receive_message_length", 64 * 1024 * 1024),
                                           ("grpc.primary_user_agent", _USER_AGENT)])
        channel = grpc.intercept_channel(raw, _GuardInterceptor(guard))
        out = cls(values=values, policy=policy, guard=guard, urls=urls, verify=verify, credentials=credentials,
                  session=session, channel=channel)
        out._closers += [session.close, refresh_session.close, raw.close]
        return out

    def close(self) -> None:
        for close in self._closers:
            close()

    # --- REST --------------------------------------------------------------------------------------------

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()` under the policy's retry."""
        wrapped: Callable[[], T] = retry(self.policy)(fn)
        return wrapped()

    def rest(self, method: str, api: str, path: str, *, params: Mapping[str, Any] | None = None,
             body: Any = None) -> Json:
        """One REST call to `api`'s root (`urls[api]`) + `path`, retried; Google's error as GoogleHttpError."""
        assert self.session is not None
        session = self.session
        url = self.urls[api] + path

        def once() -> Json:
            response = session.request(method, url, params=dict(params or {}),  # type: ignore[no-untyped-call]
                                       json=body, timeout=self.policy.timeouts)
            try:
                data: Any = response.json() if response.content else {}
            except ValueError:
                data = response.text[:300]
            if response.status_code >= 400:
                raise GoogleHttpError(method, url, response.status_code, data)
            return data if isinstance(data, dict) else {}

        return self.call(once)

    def pages(self, api: str, path: str, key: str, *, params: Mapping[str, Any] | None = None,
              size: str = "pageSize", size_value: int = 500) -> list[Json]:
        """Every item of a REST list: pages followed through nextPageToken (`{}` is an empty list)."""
        out: list[Json] = []
        query = {**dict(params or {}), size: size_value}
        while True:
            page = self.rest("GET", api, path, params=query)
            out += [x for x in page.get(key) or [] if isinstance(x, dict)]
            token = page.get("nextPageToken")
            if not token:
                return out
            query["pageToken"] = token

    def get_iam_policy(self, api: str, path: str, *, method: str = "POST") -> Json:
        """An allow policy at requested version 3, so conditions are returned ("Policy versions")."""
        if method == "GET":  # Secret Manager's getIamPolicy is a GET with the version in the query
            return self.rest("GET", api, f"{path}:getIamPolicy", params={"options.requestedPolicyVersion": 3})
        return self.rest("POST", api, f"{path}:getIamPolicy", body={"options": {"requestedPolicyVersion": 3}})

    # --- gRPC --------------------------------------------------------------------------------------------

    def iam(self) -> Any:
        from google.cloud import iam_admin_v1
        from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport

        return iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=self.channel))

    def policies(self) -> Any:
        from google.cloud import iam_v2
        from google.cloud.iam_v2.services.policies.transports import PoliciesGrpcTransport

        return iam_v2.PoliciesClient(transport=PoliciesGrpcTransport(channel=self.channel))

    def rpc(self, fn: Callable[..., T], **kwargs: Any) -> T:
        """A GAPIC call with the policy's retry and timeout."""
        return fn(**kwargs, retry=retry(self.policy), timeout=float(self.policy.read_timeout))


# --- errors --------------------------------------------------------------------------------------------------

def service_disabled(exc: Exception) -> str | None:
    """The service a 403 SERVICE_DISABLED names (REST or gRPC), else None."""
    if isinstance(exc, GoogleHttpError) and exc.reason == "SERVICE_DISABLED":
        return str(exc.metadata.get("service") or "the API")
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        for d in getattr(exc, "details", None) or []:
            if getattr(d, "reason", "") == "SERVICE_DISABLED":
                return str(dict(getattr(d, "metadata", {}) or {}).get("service") or "the API")
    return None


def describe_error(exc: Exception) -> str:
    """One line in Google's words: status, code and message; a disabled API said as such."""
    service = service_disabled(exc)
    if service is not None:
        return f"{service} is disabled in this project (403 SERVICE_DISABLED): nothing of it was read"
    if isinstance(exc, GoogleHttpError):
        return f"{exc.status} {exc.code}: {exc.message}"
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        code = getattr(exc.grpc_status_code, "name", None) or exc.code
        return f"{code}: {first_sentence(str(exc.message))}"
    if isinstance(exc, api_exceptions.RetryError):
        cause = exc.cause
        return describe_error(cause) if isinstance(cause, Exception) else first_sentence(str(exc))
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return connection_failure(exc)
    if isinstance(exc, auth_exceptions.GoogleAuthError):
        return f"the credentials were refused: {first_sentence(str(exc))}"
    return f"{type(exc).__name__}: {first_sentence(str(exc))}"


def connection_failure(exc: Exception) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text or "certificate verify failed" in text:
        return "TLS verification failed (set ca_bundle to the CA that signed the server's certificate)"
    if "timed out" in text.lower() or isinstance(exc, requests.Timeout):
        return "no answer within the timeout"
    return "connection refused or unreachable"


_UNREACHABLE: Final = re.compile(r"CERTIFICATE_VERIFY_FAILED|SSLError|certificate verify failed|Connection refused|"
                                 r"Failed to establish|timed out|Max retries exceeded|Name or service not known",
                                 re.IGNORECASE)


def describe_first_failure(exc: Exception, urls: Mapping[str, str]) -> str:
    """One line for a connector whose first call failed: cannot connect, TLS, no credentials, refused."""
    if isinstance(exc, auth_exceptions.DefaultCredentialsError):
        return ("no usable Application Default Credentials (set GOOGLE_APPLICATION_CREDENTIALS to a service account "
                "key or external account file, run `gcloud auth application-default login`, or run on Google "
                f"Cloud): {first_sentence(str(exc))}")
    if isinstance(exc, (auth_exceptions.RefreshError, auth_exceptions.TransportError)):
        text = str(exc)
        if _UNREACHABLE.search(text):
            return f"cannot reach the token endpoint: {connection_failure(exc)}"
        return f"the credentials were refused: {first_sentence(text)}"
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return f"cannot reach {urls['cloudresourcemanager']}: {connection_failure(exc)}"
    if isinstance(exc, ReadOnlyViolation):
        return str(exc)
    return f"listing projects failed: {describe_error(exc)}"


class GcpErrors(Errors):
    """The GCP connector's error hook: every failed call is a gap in Google's words (a refused request too);
    anything that is not a call's failure stops the connector."""

    def classify(self, what: str, exc: Exception) -> Failure:
        if isinstance(exc, (ReadOnlyViolation, DeadlineReached, GoogleHttpError, requests.RequestException,
                            api_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError)):
            return Failure.GAP
        return Failure.FATAL

    def describe(self, what: str, exc: Exception) -> str:
        if isinstance(exc, (ReadOnlyViolation, DeadlineReached)):
            return f"{what}: {exc}"
        return f"{what}: {describe_error(exc)}"
