"""Workload identity federation (connectors/commonmode_gcp/wif.py): which external workloads a pool provider
admits, from its issuer, attributeMapping and attributeCondition, each case positive and negative; and the
federated principal it produces, matched by policy.py against principalSet bindings. Pure: no server."""

from __future__ import annotations

from typing import Any

import pytest

from commonmode.kit import PolicyError, Tri
from commonmode.kit.ids import github_repository
from commonmode_gcp.policy import Identity, member_matches
from commonmode_gcp.wif import GITHUB_ANY, GITHUB_ISSUER, Provider, admits

NAME = "projects/123/locations/global/workloadIdentityPools/github/providers/actions"
MAPPING = {"google.subject": "assertion.sub", "attribute.repository": "assertion.repository",
           "attribute.owner": "assertion.repository_owner"}


def provider(condition: str | None = None, *, issuer: str = GITHUB_ISSUER, mapping: dict[str, str] | None = None,
             **extra: Any) -> Provider:
    return Provider.parse({"name": NAME, "state": "ACTIVE", "oidc": {"issuerUri": issuer},
                           "attributeMapping": MAPPING if mapping is None else mapping,
                           **({"attributeCondition": condition} if condition is not None else {}), **extra})


def admitted(p: Provider) -> dict[str, Tri]:
    return {a.workload: a.decision.result for a in admits(p)}


def test_no_condition_on_github_admits_any_repository_on_github() -> None:
    [a] = admits(provider())
    assert a.workload == GITHUB_ANY and a.decision.result is Tri.YES and "every repository" in a.decision.via[0]


def test_one_repository() -> None:
    assert admitted(provider("assertion.repository == 'acme/dns'")) == {github_repository("acme/dns"): Tri.YES}
    assert admitted(provider('"acme/dns" == assertion.repository')) == {github_repository("acme/dns"): Tri.YES}
    assert GITHUB_ANY not in admitted(provider("assertion.repository == 'acme/dns'"))
    assert github_repository("acme/web") not in admitted(provider("assertion.repository == 'acme/dns'"))


def test_any_repository_of_an_owner_is_a_pattern() -> None:
    assert admitted(provider("assertion.repository_owner == 'acme'")) == {"github:repo:acme/*": Tri.YES}
    assert admitted(provider("assertion.repository_owner == 'acme'")).keys().isdisjoint(
        {GITHUB_ANY, "github:repo:evil/*"})


def test_mapped_attributes_are_followed_and_unmapped_ones_are_not() -> None:
    assert admitted(provider("attribute.repository == 'acme/dns'")) == {github_repository("acme/dns"): Tri.YES}
    assert admitted(provider("attribute.owner == 'acme'")) == {"github:repo:acme/*": Tri.YES}
    # attribute.repository mapped from another claim is that claim (here the actor), not the repository
    odd = provider("attribute.repository == 'acme/dns'", mapping={"google.subject": "assertion.sub",
                                                                 "attribute.repository": "assertion.actor"})
    assert admitted(odd) == {GITHUB_ANY: Tri.YES}
    # and one computed from claims is not followed: whatever the issuer presents, conditionally
    computed = provider("attribute.repository == 'acme/dns'", mapping={
        "google.subject": "assertion.sub", "attribute.repository": "assertion.repository.lowerAscii()"})
    assert admitted(computed) == {GITHUB_ANY: Tri.MAYBE}


def test_in_lists_disjunctions_and_conjunctions() -> None:
    either = provider("assertion.repository in ['acme/dns', 'acme/web'] || assertion.repository_owner == 'beta'")
    assert admitted(either) == {github_repository("acme/dns"): Tri.YES, github_repository("acme/web"): Tri.YES,
                                "github:repo:beta/*": Tri.YES}
    both = provider("assertion.repository_owner == 'acme' && (assertion.repository == 'acme/dns' || "
                    "assertion.repository == 'other/x')")
    assert admitted(both) == {github_repository("acme/dns"): Tri.YES}  # other/x is not acme's
    assert admitted(provider("assertion.repository == 'acme/dns' && assertion.repository == 'acme/web'")) == {}


def test_subject_prefix_is_a_repository_and_a_full_subject_is_exact() -> None:
    [prefix] = admits(provider("assertion.sub.startsWith('repo:acme/dns:')"))
    assert prefix.workload == github_repository("acme/dns") and prefix.decision.result is Tri.YES
    assert prefix.broad and "admits any branch" in prefix.broad  # any ref, environment or pull request
    [full] = admits(provider("google.subject == 'repo:acme/dns:ref:refs/heads/main'"))
    assert full.workload == github_repository("acme/dns") and full.decision.result is Tri.YES and full.broad is None


def test_a_trust_is_as_broad_as_its_broadest_alternative_in_either_order() -> None:
    exact = "(assertion.repository == 'acme/dns' && assertion.ref == 'refs/heads/main')"
    broad = "assertion.sub.startsWith('repo:acme/dns:')"
    for cel in (f"{exact} || {broad}", f"{broad} || {exact}"):
        [a] = admits(provider(cel))
        assert a.workload == github_repository("acme/dns") and a.broad and "admits any branch" in a.broad, cel


def test_github_claim_triggers_and_exemptions() -> None:
    def broad(cel: str) -> str | None:
        [a] = admits(provider(cel))
        return a.broad
    assert broad("assertion.repository == 'acme/dns' && assertion.ref == 'refs/heads/main'") is None
    assert broad("assertion.repository == 'acme/dns' && assertion.job_workflow_ref == "
                 "'acme/ci/.github/workflows/d.yml@refs/heads/main'") is None
    assert "workflow" in str(broad("assertion.repository == 'acme/dns' && assertion.workflow == 'deploy'"))
    assert "head_ref" in str(broad("assertion.repository == 'acme/dns' && assertion.head_ref == 'main'"))
    assert "names only the repository" in str(broad("assertion.repository == 'acme/dns'"))
    [env] = admits(provider("assertion.repository == 'acme/dns' && assertion.environment == 'prod'"))
    assert env.environment == "acme/dns:prod" and "environment prod" in str(env.broad)


def test_unmodelled_clauses_make_the_admission_conditional_and_say_so() -> None:
    [a] = admits(provider("assertion.repository == 'acme/dns' && assertion.ref != 'refs/heads/dev'"))
    assert a.workload == github_repository("acme/dns") and a.decision.conditional
    assert a.decision.via[-1] == "and only when assertion.ref != 'refs/heads/dev'"
    for cel in ("assertion.repository.matches('acme/.*')", "assertion.repository != 'evil/x'", "not CEL (("):
        assert admitted(provider(cel)) == {GITHUB_ANY: Tri.MAYBE}, cel


def test_other_issuers_and_disabled_providers() -> None:
    gitlab = "https://gitlab.com"
    assert admitted(provider(issuer=gitlab)) == {f"oidc:{gitlab}:*": Tri.YES}
    assert admitted(provider("assertion.project_path == 'acme/dns'", issuer=gitlab)) == {f"oidc:{gitlab}:*": Tri.MAYBE}
    assert admits(provider(disabled=True)) == []
    assert admits(provider(state="DELETED")) == []
    assert provider().pool == "projects/123/locations/global/workloadIdentityPools/github"


def test_malformed_provider_is_an_error() -> None:
    with pytest.raises(PolicyError, match="attributeMapping"):
        Provider.parse({"name": NAME, "attributeMapping": {"google.subject": 1}})
    with pytest.raises(PolicyError):
        Provider.parse({"oidc": {}})


def test_the_federated_principal_matches_principal_sets_of_its_pool_and_attribute() -> None:
    pool = "iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/github"
    run = Identity(member=f"principal://{pool}/subject/repo:acme/dns:ref:refs/heads/main",
                   attributes={"repository": "acme/dns"})
    assert member_matches(f"principalSet://{pool}/attribute.repository/acme/dns", run) is Tri.YES
    assert member_matches(f"principalSet://{pool}/attribute.repository/acme/web", run) is Tri.NO
