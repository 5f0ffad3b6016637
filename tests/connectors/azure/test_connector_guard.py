"""The Azure connector's read-only guard (client.Guard, the raw_request_hook every client's requests pass
through) and its error hook, on real azure-core request objects: what it refuses, what it counts, and how a
deadline stops it. End-to-end, the CLI tests check that no write ever reached the stand-in."""

from __future__ import annotations

import pytest
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.transport import HttpRequest

from commonmode.kit import CallCounter, CallPolicy, Failure, ReadOnlyViolation
from commonmode_azure.client import AzureErrors, DeadlineReached, Guard, operation

ARM = "https://management.azure.com"
SUB = f"{ARM}/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/dnszones/shop.example"


def request(method: str, url: str) -> PipelineRequest[HttpRequest]:
    return PipelineRequest(HttpRequest(method, url), PipelineContext(None))


@pytest.mark.parametrize(("method", "url", "reason"), [
    ("PUT", f"{SUB}/A/www?api-version=2018-05-01", "GET requests only"),
    ("DELETE", f"{SUB}?api-version=2018-05-01", "GET requests only"),
    ("PATCH", f"{SUB}?api-version=2018-05-01", "GET requests only"),
    ("POST", f"{ARM}/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s/listKeys",
     "GET requests only"),
    ("POST", "https://graph.microsoft.com/v1.0/applications/1/addPassword", "GET requests only"),
    ("GET", "https://shop-kv.vault.azure.net/secrets/dns-token?api-version=7.4", "Key Vault's data plane"),
    ("GET", "https://shop-kv.vault.usgovcloudapi.net/keys/k", "Key Vault's data plane"),
])
def test_the_guard_refuses_writes_actions_and_key_vault_s_data_plane(method: str, url: str, reason: str) -> None:
    calls = CallCounter()
    with pytest.raises(ReadOnlyViolation, match=reason):
        Guard(calls, CallPolicy())(request(method, url))
    assert sum(calls.values()) == 0  # a refused request is not sent, so not counted


def test_the_guard_lets_reads_through_and_counts_them_by_operation() -> None:
    calls = CallCounter()
    guard = Guard(calls, CallPolicy())
    guard(request("GET", f"{SUB}/all?api-version=2018-05-01"))
    guard(request("GET", f"{SUB}/all?api-version=2018-05-01&$skiptoken=2"))
    guard(request("GET", "https://graph.microsoft.com/v1.0/applications/0f1e8eea-3a1f-42fe-970c-950939a08333/owners"))
    assert dict(calls) == {"GET Microsoft.Network/dnszones/all": 2, "GET graph applications/{id}/owners": 1}


def test_past_the_deadline_nothing_more_is_sent_and_it_is_one_gap() -> None:
    guard = Guard(CallCounter(), CallPolicy(deadline=6, past_deadline=lambda: True))
    with pytest.raises(DeadlineReached) as caught:
        guard(request("GET", f"{SUB}?api-version=2018-05-01"))
    errors = AzureErrors()
    assert errors.classify("record sets", caught.value) is Failure.GAP
    assert errors.describe("record sets", caught.value).endswith("not read, the connector's deadline of 6 s was "
                                                                 "reached")


def test_a_refusal_is_a_gap_not_the_end_of_the_connector() -> None:
    # issue 11's lesson: one call not made is one gap for that call
    exc = ReadOnlyViolation("POST /x: refused by the read-only guard: a read-only scanner sends GET requests only")
    assert AzureErrors().classify("x", exc) is Failure.GAP
    assert AzureErrors().classify("x", KeyError("bug")) is Failure.FATAL  # a bug is not hidden as a gap


def test_operations_are_named_after_the_provider_type_and_the_graph_path() -> None:
    assert operation("GET", f"{ARM}/subscriptions/s/providers/Microsoft.Authorization/roleAssignments") == \
        "GET Microsoft.Authorization/roleAssignments"
    assert operation("GET", f"{ARM}/subscriptions?api-version=2022-12-01") == "GET subscriptions"
    assert operation("GET", "https://graph.microsoft.com/v1.0/servicePrincipals") == "GET graph servicePrincipals"
