"""Fixtures for the Azure tests: the local Azure stand-in (commonmode_sandbox.azure, started through the sandbox's
server starter) and the real clients a connector would build against it: a ClientSecretCredential with a custom
authority and the stand-in's CA, management clients on its ARM URL, and Graph through azure-core's
PipelineClient. Nothing is patched: the SDKs speak HTTPS to 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from commonmode_sandbox.azure import AzureEstate
from commonmode_sandbox.servers import AzureServers, start_azure


@dataclass
class AzureClients:
    """The stand-in and the real clients for it. `arm(Client, *args)` builds a management client the way the
    connector does (base_url, credential_scopes, connection_verify); `graph_get(url)` is one Graph GET through a
    PipelineClient with a BearerTokenCredentialPolicy (quick retries, so fault tests stay fast)."""

    estate: AzureEstate
    server: AzureServers
    credential: Any

    def arm(self, client_class: Any, *args: Any, scope: str | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("retry_total", 0)
        return client_class(self.credential, *args, base_url=self.server.arm_url,
                            credential_scopes=[scope or f"{self.server.arm_url}/.default"],
                            connection_verify=self.server.ca_file, **kwargs)

    def graph(self, *, scope: str | None = None, retries: int = 0) -> Any:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy

        policies = [RetryPolicy(retry_total=retries, retry_backoff_factor=0.01, retry_backoff_max=0.05),
                    BearerTokenCredentialPolicy(self.credential, scope or f"{self.server.graph_url}/.default")]
        return PipelineClient(base_url=self.server.graph_url, policies=policies,
                              connection_verify=self.server.ca_file)

    def graph_get(self, url: str, **kwargs: Any) -> Any:
        from azure.core.rest import HttpRequest

        client = self.graph(**kwargs)
        full = url if url.startswith("https://") else f"{self.server.graph_url}{url}"
        return client.send_request(HttpRequest("GET", full))

    def graph_all(self, url: str) -> list[Any]:
        """Every item of a Graph collection, following @odata.nextLink."""
        items: list[Any] = []
        next_url: str | None = url
        while next_url:
            response = self.graph_get(next_url)
            assert response.status_code == 200, response.text()
            body = response.json()
            items += body["value"]
            next_url = body.get("@odata.nextLink")
        return items


def credential_for(estate: AzureEstate, server: AzureServers, *, secret: str | None = None,
                   client_id: str | None = None) -> Any:
    """azure-identity's ClientSecretCredential for the estate's scanner app, on the stand-in's authority."""
    from azure.identity import ClientSecretCredential

    scanner = estate.client_secret_for_scanner()
    return ClientSecretCredential(scanner.tenant_id, client_id or scanner.client_id, secret or scanner.secret,
                                  authority=server.authority_url, disable_instance_discovery=True,
                                  connection_verify=server.ca_file)


@pytest.fixture
def azure_estate() -> AzureEstate:
    """An empty estate (the tenant root group, the built-in roles, Microsoft Graph's and the scanner's
    service principals), reproducible ids."""
    return AzureEstate(seed=15)


def _serve(estate: AzureEstate, *, separate: bool) -> Iterator[AzureServers]:
    server = start_azure(estate, separate=separate)
    try:
        yield server
        assert server.failures == [], "the stand-in failed while answering"
    finally:
        server.stop()


@pytest.fixture
def azure_server(azure_estate: AzureEstate) -> Iterator[AzureServers]:
    """One stand-in serving the token endpoint, ARM and Graph for `azure_estate` (seed it before first use)."""
    yield from _serve(azure_estate, separate=False)


@pytest.fixture
def azure_servers(azure_estate: AzureEstate) -> Iterator[AzureServers]:
    """Three stand-ins (token endpoint, ARM, Graph) on three ports under one CA: ARM and Graph audiences differ."""
    yield from _serve(azure_estate, separate=True)


@pytest.fixture
def azure(azure_estate: AzureEstate, azure_server: AzureServers) -> AzureClients:
    return AzureClients(estate=azure_estate, server=azure_server, credential=credential_for(azure_estate, azure_server))


@pytest.fixture
def azure_split(azure_estate: AzureEstate, azure_servers: AzureServers) -> AzureClients:
    return AzureClients(estate=azure_estate, server=azure_servers,
                        credential=credential_for(azure_estate, azure_servers))
