"""The client factory: the only code that talks to Azure. One azure-identity credential, the management SDKs'
clients and one Microsoft Graph client (azure-core's PipelineClient: msgraph-sdk is ~390 MB), all with the
config's endpoints, the CA bundle, the CallPolicy's timeouts and retries (the SDKs' own retry policy, with
backoff), and one read-only guard on every request.

The guard is azure-core's `raw_request_hook` (CustomHookPolicy), which every request of a management client or
of the Graph client passes through: it counts the call, stops sending past the connector's deadline, and
refuses anything but a GET before it leaves (a write, an ARM POST action such as listKeys, Graph's
addPassword), and the few GETs that return secret material (Key Vault's data plane). The token request is
the credential's own, to the authority only.

The connector's error hook (`AzureErrors`) is here too: a failed or refused call is a gap naming the call
and Azure's error code and message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.paging import ItemPaged
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import (
    BearerTokenCredentialPolicy,
    ContentDecodePolicy,
    CustomHookPolicy,
    HeadersPolicy,
    RetryPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest

from commonmode import __version__
from commonmode.errors import UsageError
from commonmode.kit import CallCounter, CallPolicy, DeadlineReached, Errors, Failure, ReadOnlyViolation

#: Authorities of the public and sovereign clouds: azure-identity's instance discovery knows them; for any
#: other host (a private authority, a test server) it is turned off, or the first token request fails
#: (azure-identity docs, "disable_instance_discovery").
PUBLIC_AUTHORITIES = frozenset({"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
                                "login.partner.microsoftonline.cn"})

#: GETs that return secret material, refused whatever the method: Key Vault's data plane (`getSecret`,
#: a certificate's private key as its secret, key material). The connector reads Key Vault through ARM only
#: (Microsoft.KeyVault/vaults/secrets, whose "value" is never returned: Key Vault REST API, "Secrets - List").
_SECRET_GETS = re.compile(r"\.vault(core)?\.(azure\.net|usgovcloudapi\.net|azure\.cn)$", re.IGNORECASE)

_USER_AGENT = f"commonmode/{__version__} (read-only scanner)"


def refused(method: str, url: str, reason: str) -> ReadOnlyViolation:
    """The guard's refusal of one request, naming it and why."""
    return ReadOnlyViolation(f"{method} {urlsplit(url).path}: refused by the read-only guard: {reason}")


def operation(method: str, url: str) -> str:
    """The operation a request counts as: `GET Microsoft.Network/dnszones`, `GET graph servicePrincipals`."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    if parts[:1] in (["v1.0"], ["beta"]):
        return f"{method} graph " + "/".join("{id}" if re.fullmatch(r"[0-9a-fA-F-]{36}", p) else p
                                               for p in parts[1:])
    lowered = [p.lower() for p in parts]
    if "providers" in lowered:
        i = len(lowered) - 1 - lowered[::-1].index("providers")
        namespace, *rest = parts[i + 1:] or ["?"]
        return f"{method} {namespace}/" + "/".join(rest[0::2])
    return f"{method} " + "/".join(parts[0::2])


@dataclass
class Guard:
    """The raw_request_hook of every client: count, check the deadline, refuse what is not read-only."""

    calls: CallCounter
    policy: CallPolicy

    def __call__(self, request: PipelineRequest[Any]) -> None:
        http = request.http_request
        method, url = http.method.upper(), http.url
        if method not in ("GET", "HEAD"):
            raise refused(method, url, "a read-only scanner sends GET requests only")
        if _SECRET_GETS.search(urlsplit(url).hostname or ""):
            raise refused(method, url, "Key Vault's data plane returns secret values and key material")
        if self.policy.past_deadline():
            raise DeadlineReached(self.policy.deadline)
        self.calls.add(operation(method, url))


def _verify(values: Mapping[str, Any], config_dir: Path) -> bool | str:
    """`ca_bundle` (relative to the config) or True: given to the credential and to every client, so it wins
    over REQUESTS_CA_BUNDLE and SSL_CERT_FILE (requests takes an explicit `verify` over the environment's)."""
    ca = values.get("ca_bundle")
    return str(config_dir / ca) if ca else True


def _transport_kwargs(policy: CallPolicy, verify: bool | str) -> dict[str, Any]:
    """What every azure-core client is built with: the CA bundle, the timeouts and the SDK's retry policy
    (exponential backoff: azure-core RetryPolicy, retry_total = further attempts after the first)."""
    return {"connection_verify": verify, "connection_timeout": policy.connect_timeout,
            "read_timeout": policy.read_timeout, "retry_total": max(policy.attempts - 1, 0),
            "retry_backoff_factor": policy.backoff, "retry_backoff_max": policy.max_backoff,
            "user_agent": _USER_AGENT}


def credential_for(values: Mapping[str, Any], config_dir: Path, secret: str | None, policy: CallPolicy) -> Any:
    """The azure-identity credential `credential` names, with the authority and CA bundle of the config."""
    import azure.identity as identity

    kind = values["credential"]
    authority = str(values["authority"]).rstrip("/")
    host = urlsplit(authority).hostname or ""
    common: dict[str, Any] = {"authority": authority, "connection_verify": _verify(values, config_dir),
                              "disable_instance_discovery": host.lower() not in PUBLIC_AUTHORITIES,
                              "connection_timeout": policy.connect_timeout, "read_timeout": policy.read_timeout,
                              "retry_total": max(policy.attempts - 1, 0)}
    tenant, client_id = str(values["tenant_id"]), values.get("client_id")
    if kind == "client-secret":
        return identity.ClientSecretCredential(tenant, str(client_id), str(secret), **common)
    if kind == "client-certificate":
        return identity.CertificateCredential(tenant, str(client_id),
                                              certificate_path=str(config_dir / values["client_certificate_path"]),
                                              **common)
    if kind == "workload-identity":
        return identity.WorkloadIdentityCredential(tenant_id=tenant, client_id=client_id, **common)
    if kind == "managed-identity":
        return identity.ManagedIdentityCredential(client_id=client_id,
                                                  connection_verify=common["connection_verify"])
    if kind == "azure-cli":
        return identity.AzureCliCredential(tenant_id=tenant, process_timeout=policy.read_timeout)
    return identity.DefaultAzureCredential(
        authority=authority, connection_verify=common["connection_verify"],
        disable_instance_discovery=common["disable_instance_discovery"],
        managed_identity_client_id=client_id, workload_identity_client_id=client_id,
        exclude_interactive_browser_credential=True)


class Graph:
    """Microsoft Graph through azure-core: the few directory endpoints the connector reads, each list
    followed through its `@odata.nextLink` pages (azure-core's ItemPaged)."""

    def __init__(self, credential: TokenCredential, endpoint: str, guard: Guard, policy: CallPolicy,
                 verify: bool | str) -> None:
        self.base = endpoint.rstrip("/")
        kw = _transport_kwargs(policy, verify)
        self._client: PipelineClient[HttpRequest, Any] = PipelineClient(
            base_url=self.base,
            policies=[HeadersPolicy({"Accept": "application/json"}), UserAgentPolicy(_USER_AGENT),
                      RetryPolicy(retry_total=kw["retry_total"], retry_backoff_factor=kw["retry_backoff_factor"],
                                  retry_backoff_max=kw["retry_backoff_max"]),
                      BearerTokenCredentialPolicy(credential, f"{self.base}/.default"),
                      CustomHookPolicy(raw_request_hook=guard), ContentDecodePolicy()],
            transport=RequestsTransport(connection_verify=verify, connection_timeout=kw["connection_timeout"],
                                        read_timeout=kw["read_timeout"]))

    def _get(self, url: str) -> dict[str, Any]:
        response = self._client.send_request(HttpRequest("GET", url))
        if response.status_code >= 400:
            raise GraphError(response.status_code, url, _graph_error(response))
        body: dict[str, Any] = response.json()
        return body

    def list(self, path: str, **query: str) -> Iterator[dict[str, Any]]:
        """Every item of a Graph collection (`servicePrincipals`, `applications/{id}/owners`), all pages."""
        first = f"{self.base}/v1.0/{path}" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")

        def get_next(link: str | None) -> dict[str, Any]:
            return self._get(link or first)

        def extract(page: dict[str, Any]) -> tuple[str | None, Iterator[dict[str, Any]]]:
            return page.get("@odata.nextLink"), iter(page.get("value") or [])

        return iter(ItemPaged(get_next, extract))

    def close(self) -> None:
        self._client.close()


class GraphError(RuntimeError):
    """A Graph request failed: its status, path and Graph's error code and message."""

    def __init__(self, status: int, url: str, detail: str) -> None:
        super().__init__(f"GET {urlsplit(url).path}: {status} {detail}")
        self.status = status


def _graph_error(response: Any) -> str:
    try:
        err = response.json().get("error") or {}
        return f"{err.get('code', '')}: {first_sentence(str(err.get('message', '')))}".strip(": ")
    except (ValueError, AttributeError):
        return first_sentence(response.text()[:200])


def first_sentence(text: str) -> str:
    """The first line of a provider's message, at most 300 characters (Azure's run to many lines, with
    trace ids and timestamps)."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= 300 else line[:297] + "..."


@dataclass
class Clients:
    """Every client of one connector run: built once, per subscription where the SDK wants one."""

    credential: Any
    values: Mapping[str, Any]
    policy: CallPolicy
    guard: Guard
    verify: bool | str

    @classmethod
    def make(cls, values: Mapping[str, Any], config_dir: Path, secret: str | None, policy: CallPolicy,
             calls: CallCounter) -> Clients:
        verify = _verify(values, config_dir)
        return cls(credential_for(values, config_dir, secret, policy), values, policy, Guard(calls, policy), verify)

    @property
    def arm(self) -> str:
        return str(self.values["arm_endpoint"]).rstrip("/")

    def _kw(self) -> dict[str, Any]:
        return {"base_url": self.arm, "credential_scopes": [f"{self.arm}/.default"], "raw_request_hook": self.guard,
                **_transport_kwargs(self.policy, self.verify)}

    def mgmt(self, factory: Callable[..., Any], subscription: str | None = None, **extra: Any) -> Any:
        """A management client (`DnsManagementClient`, ...) for `subscription`, or a tenant-level one."""
        if subscription is None:
            return factory(self.credential, **self._kw(), **extra)
        return factory(self.credential, subscription, **self._kw(), **extra)

    def graph(self) -> Graph:
        return Graph(self.credential, str(self.values["graph_endpoint"]), self.guard, self.policy, self.verify)


def error_code(exc: Exception) -> str:
    """Azure's error code of a failed call (`AuthorizationFailed`), or the exception's type name."""
    if isinstance(exc, HttpResponseError):
        code = getattr(getattr(exc, "error", None), "code", None)
        return str(code or exc.reason or type(exc).__name__)
    return type(exc).__name__


def describe_error(exc: Exception) -> str:
    """One line: Azure's status, code and the first line of its message."""
    if isinstance(exc, HttpResponseError):
        err = getattr(exc, "error", None)
        message = first_sentence(str(getattr(err, "message", None) or exc.message or ""))
        return f"{exc.status_code or ''} {error_code(exc)}: {message}".strip()
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return connection_failure(exc)
    return f"{type(exc).__name__}: {first_sentence(str(exc))}"


#: What azure-identity says when the token request never got an answer (it raises ClientAuthenticationError
#: for those too, with the transport's message inside).
_UNREACHABLE = re.compile(r"CERTIFICATE_VERIFY_FAILED|SSLError|Connection refused|Failed to establish|timed out|"
                          r"Max retries exceeded|Name or service not known", re.IGNORECASE)


def connection_failure(exc: Exception) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text:
        return "TLS verification failed (set ca_bundle to the CA that signed the server's certificate)"
    if "timed out" in text.lower() or "timeout" in text.lower():
        return "no answer within the timeout"
    return "connection refused or unreachable"


def describe_first_failure(exc: Exception, values: Mapping[str, Any]) -> str:
    """One line for a connector whose first call failed: cannot connect, TLS, or credential refused."""
    if isinstance(exc, ClientAuthenticationError):
        text = str(exc.message or exc)
        if _UNREACHABLE.search(text):  # the token request itself did not reach the authority
            return f"cannot reach {values['authority']}: {connection_failure(exc)}"
        # azure-identity's message names the credential and the authority's AADSTS code; never a secret
        return f"the credential was refused: {first_sentence(text)}"
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return f"cannot reach {values['arm_endpoint']}: {connection_failure(exc)}"
    if isinstance(exc, ReadOnlyViolation):
        return str(exc)
    return f"listing subscriptions failed: {describe_error(exc)}"


class AzureErrors(Errors):
    """The Azure connector's error hook: every failed call is a gap in Azure's own words (a refused request
    too: one call not made is one gap, never the end of the connector); anything that is not a call's
    failure stops the connector."""

    def classify(self, what: str, exc: Exception) -> Failure:
        if isinstance(exc, (ReadOnlyViolation, DeadlineReached, HttpResponseError, ServiceRequestError,
                            ServiceResponseError, ClientAuthenticationError, GraphError)):
            return Failure.GAP
        return Failure.FATAL

    def describe(self, what: str, exc: Exception) -> str:
        if isinstance(exc, (ReadOnlyViolation, DeadlineReached)):
            return f"{what}: {exc}"
        if isinstance(exc, ClientAuthenticationError):
            return f"{what}: the credential was refused: {first_sentence(str(exc.message or exc))}"
        if isinstance(exc, GraphError):
            return f"{what}: {exc}"
        return f"{what}: {describe_error(exc)}"


def require_file(where: str, key: str, path: Path) -> None:
    """A file a key names must exist: a config error naming the key and the path."""
    if not path.is_file():
        raise UsageError(f"{where}.{key}: {path} does not exist or is not a file")
