"""kit.github.read: what a trust's conditions on a GitHub Actions token admit, for every connector. One case per
broad-federated-trust trigger and per exemption (GitHub, "OpenID Connect reference"; the immutable subject form),
and the combinations a connector hands over (a subject with other claims, contradicting conditions)."""

from __future__ import annotations

import pytest

from commonmode.kit import github

ANY, DNS, ACME = "github:any", "github:repo:acme/dns", "github:repo:acme/*"


def one(conds: dict[str, list[str]]) -> github.Reading:
    (r,) = github.read(conds)
    return r


@pytest.mark.parametrize(("conds", "workload", "why"), [
    # no repository condition, a wildcard owner: any repository on GitHub
    ({}, ANY, "no condition naming the repository"),
    ({"sub": ["*"]}, ANY, "no condition naming the repository"),
    ({"sub": ["repo:*"]}, ANY, "no condition naming the repository"),
    ({"sub": ["repo:*/dns:ref:refs/heads/main"]}, ANY, "leaves the owner open"),
    ({"job_workflow_ref": ["acme/ci/.github/workflows/d.yml@refs/heads/main"]}, ANY,
     "every repository that calls that reusable workflow"),
    # a wildcard repository, an owner only
    ({"sub": ["repo:acme/*"]}, ACME, "every repository matching acme/*"),
    ({"sub": ["repo:acme/dns-*:ref:refs/heads/main"]}, ACME, "every repository matching acme/*"),
    ({"repository_owner": ["acme"]}, ACME, "every repository matching acme/*"),
    # one repository, but only what a contributor chooses
    ({"sub": ["repo:acme/dns:*"]}, DNS, "admits any branch"),
    ({"repository": ["acme/dns"]}, DNS, "names only the repository"),
    ({"sub": ["repo:acme/dns:ref:refs/heads/*"]}, DNS, "ref pattern refs/heads/*"),
    ({"sub": ["repo:acme/dns:pull_request"]}, DNS, "any pull request"),
    ({"repository": ["acme/dns"], "workflow": ["deploy"]}, DNS, "workflow"),
    ({"repository": ["acme/dns"], "head_ref": ["main"]}, DNS, "head_ref"),
    ({"repository": ["acme/dns"], "base_ref": ["main"]}, DNS, "base_ref"),
    ({"repository": ["acme/dns"], "event_name": ["push"]}, DNS, "event_name"),
    ({"repository": ["acme/dns"], "job_workflow_ref": ["acme/ci/.github/workflows/d.yml@*"]}, DNS,
     "job_workflow_ref pattern"),
    ({"sub": ["repo:acme/dns:environment:prod"]}, DNS, "environment prod"),
])
def test_each_trigger(conds: dict[str, list[str]], workload: str, why: str) -> None:
    r = one(conds)
    assert r.workload == workload and r.broad is not None and why in r.broad, r


@pytest.mark.parametrize(("conds", "attribute"), [
    ({"sub": ["repo:acme/dns:ref:refs/heads/main"]}, "ref refs/heads/main"),
    ({"sub": ["repo:acme/dns:ref:refs/tags/v1"]}, "ref refs/tags/v1"),
    ({"repository": ["acme/dns"], "ref": ["refs/heads/main"]}, "ref refs/heads/main"),
    ({"repository": ["acme/dns"], "actor": ["release-bot"]}, "actor release-bot"),
    ({"repository": ["acme/dns"], "job_workflow_ref": ["acme/ci/.github/workflows/d.yml@refs/heads/main"]},
     "job_workflow_ref acme/ci/.github/workflows/d.yml@refs/heads/main"),
    ({"sub": ["repo:acme/dns:job_workflow_ref:acme/ci/.github/workflows/d.yml@refs/heads/main"]},
     "job_workflow_ref acme/ci/.github/workflows/d.yml@refs/heads/main"),
    # the immutable form names the same repository, exactly
    ({"sub": ["repo:acme@1001/dns@2002:ref:refs/heads/main"]}, "ref refs/heads/main"),
])
def test_each_exemption_is_exact(conds: dict[str, list[str]], attribute: str) -> None:
    r = one(conds)
    assert r.workload == DNS and r.broad is None and attribute in r.attributes, r


def test_an_environment_is_named_for_the_protected_list() -> None:
    r = one({"repository": ["acme/dns"], "environment": ["prod"]})
    assert r.environment == "acme/dns:prod" and r.broad and "protection rules" in r.broad
    assert one({"repository": ["acme/dns"], "environment": ["prod"], "ref": ["refs/heads/main"]}).broad is None


def test_alternatives_and_contradictions() -> None:
    both = github.read({"sub": ["repo:acme/dns:ref:refs/heads/main", "repo:acme/web:*"]})
    assert [(r.workload, r.broad is None) for r in both] == [(DNS, True), ("github:repo:acme/web", False)]
    # a trust is as broad as its broadest alternative: main, and any pull request, is broad
    assert "admits any branch" in str(one({"sub": ["repo:acme/dns:*", "repo:acme/dns:ref:refs/heads/main"]}).broad)
    main_or_pr = one({"sub": ["repo:acme/dns:ref:refs/heads/main", "repo:acme/dns:pull_request"]})
    assert "any pull request" in str(main_or_pr.broad) and main_or_pr.environment is None
    # an environment is exempt only when every broad alternative is that one environment
    assert one({"sub": ["repo:acme/dns:environment:prod", "repo:acme/dns:ref:refs/heads/main"]}).environment == \
        "acme/dns:prod"
    assert one({"sub": ["repo:acme/dns:environment:prod", "repo:acme/dns:pull_request"]}).environment is None
    # a subject whose ref another condition refuses, a repository the subject pattern excludes, an owner that
    # is not the subject's: nobody
    assert github.read({"sub": ["repo:acme/dns:ref:refs/heads/dev"], "ref": ["refs/heads/main"]}) == []
    assert github.read({"sub": ["repo:acme/*"], "repository": ["other/x"]}) == []
    assert github.read({"sub": ["repo:acme/*"], "repository_owner": ["other"]}) == []
    # the values a provider dropped (a literal `*` under an exact comparison): nothing accepted, nobody
    assert github.read({"sub": []}) == []
    # a repository pattern beside a subject that names one repository: that repository
    assert one({"sub": ["repo:acme/dns:ref:refs/heads/main"], "repository": ["acme/*"]}).workload == DNS
    # a repository pinned inside a subject pattern
    assert one({"sub": ["repo:acme/*"], "repository": ["acme/dns"], "ref": ["refs/heads/main"]}).workload == DNS


def test_conditions_that_must_all_hold_on_one_claim_intersect() -> None:
    # a ref pattern in the subject and an exact ref condition beside it: that one ref, exact
    assert one({"sub": ["repo:acme/dns:ref:refs/heads/*"], "ref": ["refs/heads/main"]}).broad is None
    # two operators on one claim (AWS StringEquals and StringLike on sub): both must hold
    assert one({"sub": [["repo:acme/dns:ref:refs/heads/main"], ["repo:acme/*"]]}).broad is None
    assert github.read({"sub": [["repo:acme/dns:ref:refs/heads/main"], ["repo:other/*"]]}) == []
    assert github.satisfying([["repo:acme/*"], ["repo:acme/dns:*"]]) is not None
    assert github.satisfying([["refs/heads/main"], ["refs/tags/*"]]) is None


def test_a_repository_named_by_its_numeric_id_is_one_repository() -> None:
    r = one({"repository_id": ["456"], "ref": ["refs/heads/main"]})
    assert r.workload == "github:repo:#456" and r.broad is None
    assert "names only the repository" in str(one({"repository_id": ["456"]}).broad)
    owner = one({"sub": ["repository_owner_id:123:*"]})
    assert owner.workload == "github:repo:#123/*" and "every repository matching #123/*" in str(owner.broad)
    # the immutable subject pins the repository, not the run: what follows it is read as for any subject
    assert "admits any branch" in str(one({"sub": ["repo:acme@1/dns@2:*"]}).broad)


def test_patterns_and_the_token_subject_an_engine_evaluates() -> None:
    assert github.matches("repo:acme/*", "repo:acme/dns:ref:refs/heads/main")
    assert not github.matches("repo:acme/dns", "repo:acme/dnsx") and github.matches("a?c", "abc")
    r = one({"sub": ["repo:acme/*"], "repository": ["acme/dns"], "ref": ["refs/heads/main"]})
    assert github.matches("repo:acme/*", r.subject) and r.subject.startswith("repo:acme/dns:")


def test_two_broad_trusts_into_one_target_keep_both_reasons_and_an_environment_only_if_it_narrows_both() -> None:
    from commonmode.kit.workloads import Admissions

    a = Admissions("c")
    a.admit(DNS, "T", "any pull request", None)
    a.admit(DNS, "T", "environment prod", "acme/dns:prod")
    (ident,) = a.identities()
    assert ident.tags["broad_trust:T"] == "any pull request; environment prod"
    assert "broad_trust_environment:T" not in ident.tags  # the pull-request trust is not narrowed by prod
    b = Admissions("c")
    b.admit(DNS, "T", "environment prod", "acme/dns:prod")
    b.admit(DNS, "U", "environment prod", "acme/dns:prod")
    (ident,) = b.identities()
    assert ident.tags["broad_trust_environment:T"] == ident.tags["broad_trust_environment:U"] == "acme/dns:prod"
