"""The connector kit (src/commonmode/kit): pure, no backend. Each helper the connectors share, one behaviour
per test; the connectors' own tests prove them again against real backends."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from commonmode.connector import ConnectorSettings, InventoryParts, Option, no_progress
from commonmode.kit import (
    CallCounter,
    CallPolicy,
    Collection,
    Decision,
    Errors,
    Failure,
    PolicyError,
    ReadOnlyViolation,
    Tri,
    ids,
    option_values,
    owner_from,
    parse_or_gap,
    parse_timestamp,
)
from commonmode.model import Identity, RunStatus


def settings(**kw: object) -> ConnectorSettings:
    return ConnectorSettings(name="x", connector_type="t", options={}, **kw)  # type: ignore[arg-type]


class Hook(Errors):
    def classify(self, what: str, exc: Exception) -> Failure:
        if isinstance(exc, KeyError):
            return Failure.ABSENT
        return super().classify(what, exc)


def test_attempt_turns_failures_into_gaps_absent_into_nothing_and_fatal_into_an_exception() -> None:
    shown: list[str] = []
    c = Collection(settings(), "t", lambda what, done, total: shown.append(what), Hook())
    assert c.attempt("a", lambda: 1, 0) == 1
    assert c.attempt("b", lambda: {}["k"], "absent") == "absent"
    assert c.attempt("c", lambda: 1 / 0, -1, note="counted as none") == -1
    with pytest.raises(ReadOnlyViolation):
        c.attempt("d", lambda: (_ for _ in ()).throw(ReadOnlyViolation("refused d")), None)
    assert c.gaps == ["c: ZeroDivisionError: division by zero; counted as none"]
    assert shown == ["a", "b", "c", "d"]


def test_a_view_prefixes_gaps_and_progress_and_shares_the_run() -> None:
    shown: list[str] = []
    c = Collection(settings(), "t", lambda what, done, total: shown.append(what))
    acct = c.within(gaps="account 1: ", progress="1: ")
    acct.attempt("iam:X", lambda: 1 / 0, None)
    acct.calls.add("iam:X")
    assert c.gaps == ["account 1: iam:X: ZeroDivisionError: division by zero"] and shown == ["1: iam:X"]
    assert c.call_stats() == {"api_calls": 1, "calls.iam:X": 1}


def test_past_the_deadline_nothing_is_called_and_what_is_left_is_a_gap() -> None:
    c = Collection(settings(deadline=5, deadline_at=time.monotonic() - 1), "t", no_progress)
    called: list[int] = []
    assert c.attempt("late", lambda: called.append(1), "unread") == "unread"
    assert called == [] and c.gaps == ["late: not read, the connector's deadline of 5 s was reached"]
    assert c.attempt("org", lambda: "read anyway", None, deadline=False) == "read anyway"


def test_finish_is_partial_exactly_when_there_are_gaps_and_failed_names_the_instance() -> None:
    c = Collection(settings(), "t", no_progress)
    parts = InventoryParts(identities=[Identity(id="i", provider="t", kind="k", name="i", connector="x")])
    assert c.finish(parts).status is RunStatus.OK
    parts.gaps.append("policy p: ignored")
    done = c.finish(parts, {"n": 1})
    assert done.status is RunStatus.PARTIAL and done.gaps == ("policy p: ignored",) and done.stats == {"n": 1}
    assert done.inventory.identities[0].id == "i"
    failed = c.failed("cannot connect")
    assert failed.status is RunStatus.FAILED and failed.gaps == ("t x: cannot connect",)


def test_call_policy_from_settings_and_backoff() -> None:
    p = CallPolicy.from_settings(settings(timeout=3, deadline=60), attempts=2)
    assert (p.read_timeout, p.connect_timeout, p.attempts, p.deadline, p.timeouts) == (3, 3, 2, 60, (3, 3))
    assert CallPolicy.from_settings(settings(timeout=30)).timeouts == (10, 30)  # connecting: at most 10 s
    assert [CallPolicy().delay(i) for i in range(7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert p.with_attempts(5).attempts == 5 and not p.past_deadline()
    counter = CallCounter()
    counter.add("GET")
    counter.add("GET")
    assert counter == {"GET": 2}


def test_decision_is_three_valued() -> None:
    assert ((~Tri.YES, ~Tri.MAYBE, min(Tri.YES, Tri.MAYBE), max(Tri.NO, Tri.MAYBE))
            == (Tri.NO, Tri.MAYBE, Tri.MAYBE, Tri.MAYBE))
    yes, maybe, no = Decision(Tri.YES, ("p",)), Decision(Tri.MAYBE, ("p",)), Decision(Tri.NO, ())
    assert ((yes.granted, yes.conditional, maybe.granted, maybe.conditional, no.granted)
            == (True, False, True, True, False))


@pytest.mark.parametrize("value,expected", [
    (None, None), ("", None), ("0001-01-01T00:00:00Z", None), ("not a date", None),
    ("2026-01-02T03:04:05.123456789Z", datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
    ("2026-01-02T03:04:05+00:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    (1767323045, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    (datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)),
])
def test_parse_timestamp(value: object, expected: datetime | None) -> None:
    assert parse_timestamp(value) == expected


def test_owner_option_values_and_parse_or_gap() -> None:
    assert owner_from({"team": "t", "owner": ""}, ("owner", "team")) == "t"
    assert owner_from(None, ("owner",)) is None and owner_from({"owner": 7}, ("owner",)) == "7"
    opts = {"a": Option(type="string", help="", default="d"), "b": Option(type="integer", help="")}
    assert option_values(ConnectorSettings(name="x", connector_type="t", options={"b": 1}), opts) == {"a": "d", "b": 1}
    gaps: list[str] = []

    def bad() -> int:
        raise PolicyError("policy p: not JSON")

    assert parse_or_gap(bad, 0, gaps, "so it gives nothing") == 0
    assert parse_or_gap(lambda: 5, 0, gaps, "x") == 5
    assert gaps == ["policy p: not JSON: ignored, so it gives nothing"]
    with pytest.raises(ZeroDivisionError):  # only PolicyError is a gap
        parse_or_gap(lambda: 1 // 0, 0, gaps, "x")


def test_ids_build_and_parse_every_providers_native_ids() -> None:
    role = ids.iam_role_arn("111122223333", "ci")
    assert role == "arn:aws:iam::111122223333:role/ci" and ids.account_of(role) == "111122223333"
    assert ids.arn("route53", "hostedzone/Z1") == "arn:aws:route53:::hostedzone/Z1"
    assert (ids.parse_arn("arn:aws:ssm:eu-west-1:1:parameter/a:b")
            == ids.Arn("aws", "ssm", "eu-west-1", "1", "parameter/a:b"))
    assert ids.parse_arn("nope") is None and ids.account_of("111122223333") == "111122223333"
    rid = ids.azure_resource_id("s1", "rg", "Microsoft.Network", "dnszones", "example.com")
    assert rid == "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/dnszones/example.com"
    assert (ids.parse_azure_resource_id(rid)
            == ids.AzureResourceId("s1", "rg", "Microsoft.Network", "dnszones", "example.com"))
    assert ids.parse_azure_resource_id("/subscriptions/s1") == ids.AzureResourceId("s1")
    assert ids.is_azure_object_id("11111111-2222-3333-4444-555555555555") and not ids.is_azure_object_id("x")
    assert ids.gcp_service_account("a@p-1.iam.gserviceaccount.com") == \
        "//iam.googleapis.com/projects/p-1/serviceAccounts/a@p-1.iam.gserviceaccount.com"
    assert ids.gcp_service_account("123-compute@developer.gserviceaccount.com").startswith(
        "//iam.googleapis.com/projects/-/")
    assert (ids.parse_gcp_resource_name("//dns.googleapis.com/projects/p/managedZones/z")
            == ("dns", "projects/p/managedZones/z"))
    assert ids.vault_id("ops", "secret/data/x") == "vault://ops/secret/data/x" and ids.vault_id("ops") == "vault://ops"
    assert ids.parse_vault_id("vault://ops/secret/data/x") == ("ops", "secret/data/x")
    assert ids.github_repository("acme/dns") == "github:repo:acme/dns"
    assert ids.parse_github_id(ids.github_workflow("acme/dns", ".github/workflows/d.yml")) == \
        ("workflow", "acme/dns/.github/workflows/d.yml")
    assert ids.github_repository_of_subject("repo:acme/dns:ref:refs/heads/main") == "acme/dns"
    assert ids.github_repository_of_subject("project:acme") is None


@pytest.mark.parametrize(("issuer", "subject", "workload", "name"), [
    ("https://token.actions.githubusercontent.com/", "repo:acme/dns:environment:prod", "github:repo:acme/dns",
     "acme/dns"),
    ("https://token.actions.githubusercontent.com", "not-a-repo-subject",
     "oidc:https://token.actions.githubusercontent.com:not-a-repo-subject", "https://token.actions.githubusercontent.com:not-a-repo-subject"),
    ("https://gitlab.com", "project_path:acme/infra:ref_type:branch:ref:main", "gitlab:project:acme/infra",
     "acme/infra"),
    ("https://oidc.eks.us-east-1.amazonaws.com/id/ABC", "system:serviceaccount:dns:external-dns",
     "k8s:https://oidc.eks.us-east-1.amazonaws.com/id/ABC:dns/external-dns",
     "dns/external-dns on https://oidc.eks.us-east-1.amazonaws.com/id/ABC"),
    ("https://app.terraform.io", "organization:acme:project:dns:workspace:prod:run_phase:apply",
     "oidc:https://app.terraform.io:organization:acme:project:dns:workspace:prod:run_phase:apply",
     "https://app.terraform.io:organization:acme:project:dns:workspace:prod:run_phase:apply"),
])
def test_every_provider_names_an_external_workload_the_same_way(issuer: str, subject: str, workload: str,
                                                                name: str) -> None:
    assert ids.workload_of_subject(issuer, subject) == workload
    assert ids.workload_name(workload) == name


@pytest.mark.parametrize(("workload", "broad"), [
    ("github:any", "it admits any repository on GitHub (no repository condition)"),
    ("github:repo:acme/*", "it admits every repository matching acme/*"),
    ("github:repo:acme/dns", None),
    ("oidc:https://issuer.example:*", "it admits every subject matching https://issuer.example:*"),
    ("oidc:https://issuer.example:build-42", None),
    ("k8s:https://oidc.eks.example/id/A:dns/external-dns", None),
    ("gitlab:project:acme/infra", None),
])
def test_which_workload_ids_stand_for_a_trust_that_admits_more_than_one(workload: str, broad: str | None) -> None:
    assert ids.broad_trust(workload) == broad


def test_workload_patterns_and_their_names() -> None:
    assert ids.workload_name(ids.GITHUB_ANY) == "any repository on GitHub"
    assert ids.github_repository("acme/*") == "github:repo:acme/*"
    assert ids.workload_name("github:repo:acme/*") == "every repository of acme"
    assert ids.repository_of("github:repo:acme/dns") == "acme/dns" and ids.repository_of("github:any") is None
    assert ids.oidc_workload("https://issuer.example/") == "oidc:https://issuer.example:*"
    assert ids.workload_name("oidc:https://issuer.example:*") == "any subject of https://issuer.example"


def test_an_external_workload_is_the_same_identity_whichever_connector_meets_it() -> None:
    from commonmode.kit.workloads import fault_domains, workload_identity

    gh = workload_identity("github:repo:acme/dns", "aws-prod")
    assert (gh.provider, gh.kind, gh.name, dict(gh.tags)) == ("github", "ci-workload", "acme/dns", {})
    assert gh.fault_domains == ("ci:github-actions",)  # a failover only a workflow can do needs GitHub up
    broad = workload_identity("github:any", "gcp-corp")
    assert broad.tags["broad_trust"] == "it admits any repository on GitHub (no repository condition)"
    assert workload_identity("github:repo:acme/web", "c", "any branch").tags["broad_trust"] == "any branch"
    k8s = workload_identity("k8s:https://oidc.eks.example/id/A:dns/external-dns", "c")
    assert k8s.kind == "oidc-workload" and k8s.fault_domains == ("k8s:cluster:https://oidc.eks.example/id/A",)
    assert fault_domains("gitlab:project:acme/infra") == ("ci:gitlab",)
    assert fault_domains("oidc:https://app.terraform.io:org:acme") == ()
