"""The local GCP stand-ins (commonmode_sandbox.gcp) and the real clients that reach them: google-cloud-iam's gRPC
IAMClient and PoliciesClient over TLS with the stand-in's CA, and google-auth's AuthorizedSession for every REST
API. Credentials come from the scanner's service-account key file, whose token_uri points at the stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
import requests
from google.auth.transport.requests import AuthorizedSession, Request
from google.cloud import iam_admin_v1, iam_v2
from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport
from google.cloud.iam_v2.services.policies.transports import PoliciesGrpcTransport
from google.oauth2 import service_account

from commonmode_sandbox.gcp import GcpEstate
from commonmode_sandbox.gcp_estate import CLOUD_PLATFORM
from commonmode_sandbox.servers import GcpServers, start_gcp


@pytest.fixture
def gcp_estate() -> GcpEstate:
    """An empty organization (the scanner's key, the 24 predefined roles), reproducible ids."""
    return GcpEstate(seed=16)


@pytest.fixture
def gcp_servers(gcp_estate: GcpEstate) -> Iterator[GcpServers]:
    """The gRPC and HTTPS stand-ins for `gcp_estate` (seed it before the first request)."""
    servers = start_gcp(gcp_estate)
    try:
        yield servers
        assert servers.failures == [], "the stand-in failed while answering"
    finally:
        servers.stop()


def key_credentials(servers: GcpServers) -> service_account.Credentials:
    """The scanner's credentials, from its key file (google-auth's documented way)."""
    return service_account.Credentials.from_service_account_file(servers.key_file, scopes=[CLOUD_PLATFORM])


def refresh_request(ca_file: str | None) -> Request:
    """The request google-auth refreshes tokens with: trust_env off, so REQUESTS_CA_BUNDLE cannot override verify."""
    session = requests.Session()
    session.trust_env = False
    if ca_file is not None:
        session.verify = ca_file
    return Request(session)


def rest_session(servers: GcpServers, credentials: Any, *, ca_file: str | None = "") -> AuthorizedSession:
    """An AuthorizedSession trusting the stand-in's CA (ca_file="" → servers.ca_file; None → default trust)."""
    ca = servers.ca_file if ca_file == "" else ca_file
    session = AuthorizedSession(credentials, auth_request=refresh_request(ca))
    session.trust_env = False
    session.verify = ca if ca is not None else True
    return session


def channel_credentials(servers: GcpServers) -> Any:
    return grpc.ssl_channel_credentials(Path(servers.ca_file).read_bytes())


def iam_client(servers: GcpServers, credentials: Any, ssl: Any = None) -> iam_admin_v1.IAMClient:
    """IAMClient over gRPC with TLS under the test CA; the key's credentials send self-signed JWTs."""
    transport = IAMGrpcTransport(host=servers.grpc_target, credentials=credentials, always_use_jwt_access=True,
                                 ssl_channel_credentials=ssl or channel_credentials(servers))
    return iam_admin_v1.IAMClient(transport=transport)


def policies_client(servers: GcpServers, credentials: Any) -> iam_v2.PoliciesClient:
    transport = PoliciesGrpcTransport(host=servers.grpc_target, credentials=credentials, always_use_jwt_access=True,
                                      ssl_channel_credentials=channel_credentials(servers))
    return iam_v2.PoliciesClient(transport=transport)


@dataclass
class GcpClients:
    estate: GcpEstate
    servers: GcpServers
    credentials: service_account.Credentials
    session: AuthorizedSession

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.servers.rest_url + path, params=params, timeout=30)

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self.session.post(self.servers.rest_url + path, json=body if body is not None else {}, timeout=30)


@pytest.fixture
def gcp(gcp_estate: GcpEstate, gcp_servers: GcpServers) -> GcpClients:
    credentials = key_credentials(gcp_servers)
    return GcpClients(estate=gcp_estate, servers=gcp_servers, credentials=credentials,
                      session=rest_session(gcp_servers, credentials))
