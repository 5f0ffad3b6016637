"""Web identity federation into IAM roles (issue 17), end to end: roles whose trust policies name an OIDC provider
are created in moto's server through boto3, `commonmode scan` reads them, and `commonmode inventory` shows which
external workload (the kit's shared ids) can assume which role: positive and negative cases for every condition
form the engine decides (StringEquals and StringLike on `sub`, none at all, a contradiction, a Deny, a claim the
scan does not bind, another issuer), GitHub's claim keys STS sets (repository, ref, environment, workflow,
job_workflow_ref) and one it does not, the immutable subject form, and the account's OIDC providers (a trust
naming one the account lacks, an audience that is not one of the provider's client ids)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .seed import ACCOUNT
from .test_connector import as_json, write_config
from .test_evaluation_moto import Estate

GITHUB = "token.actions.githubusercontent.com"
GITLAB = "gitlab.com"  # a trust names its provider, which the account never created
EKS = "oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789"


def federated(host: str, conditions: dict[str, Any] | None = None, *, effect: str = "Allow",
              sid: str = "Federated") -> dict[str, Any]:
    st: dict[str, Any] = {"Sid": sid, "Effect": effect,
                          "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"},
                          "Action": "sts:AssumeRoleWithWebIdentity"}
    if conditions:
        st["Condition"] = conditions
    return st


def trust(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


AUD = {f"{GITHUB}:aud": "sts.amazonaws.com"}


@pytest.fixture
def workloads(aws: str, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """role name -> {workload id: its grant} for every role seeded below; and the workload identities."""
    from commonmode.cli import app

    from .test_connector import runner

    e = Estate(aws)
    roles = {
        "gh-exact": trust(federated(GITHUB, {"StringEquals": {**AUD, f"{GITHUB}:sub":
                                                               "repo:acme/dns:ref:refs/heads/main"}})),
        "gh-two": trust(federated(GITHUB, {"StringEquals": AUD, "ForAnyValue:StringLike": {
            f"{GITHUB}:sub": ["repo:acme/dns:environment:prod", "repo:acme/web:environment:prod"]}})),
        "gh-any-branch": trust(federated(GITHUB, {"StringEquals": AUD, "StringLike": {f"{GITHUB}:sub":
                                                                                     "repo:acme/web:*"}})),
        "gh-org": trust(federated(GITHUB, {"StringLike": {f"{GITHUB}:sub": "repo:acme/*"}})),
        "gh-no-sub": trust(federated(GITHUB, {"StringEquals": AUD})),
        "gh-contradiction": trust(federated(GITHUB, {
            "StringEquals": {f"{GITHUB}:sub": "repo:acme/dns:ref:refs/heads/main"},
            "StringNotLike": {f"{GITHUB}:sub": "repo:acme/dns:*"}})),
        "gh-denied": trust(federated(GITHUB, {"StringLike": {f"{GITHUB}:sub": "repo:acme/*"}}),
                           federated(GITHUB, {"StringLike": {f"{GITHUB}:sub": "repo:acme/*"}}, effect="Deny",
                                     sid="NoAcme")),
        "gh-workflow": trust(federated(GITHUB, {"StringEquals": {
            f"{GITHUB}:sub": "repo:acme/dns:ref:refs/heads/main",
            f"{GITHUB}:job_workflow_ref": "acme/dns/.github/workflows/deploy.yml@refs/heads/main"}})),
        "gh-source-ip": trust(federated(GITHUB, {"StringEquals": {f"{GITHUB}:sub": "repo:acme/dns:ref:refs/heads/main"},
                                                 "IpAddress": {"aws:SourceIp": "192.0.2.0/24"}})),
        "gh-repository-ref": trust(federated(GITHUB, {"StringEquals": {
            f"{GITHUB}:repository": "acme/dns", f"{GITHUB}:ref": "refs/heads/main"}})),
        "gh-repository-workflow": trust(federated(GITHUB, {"StringEquals": {
            f"{GITHUB}:repository": "acme/dns", f"{GITHUB}:workflow": "deploy"}})),
        "gh-environment": trust(federated(GITHUB, {"StringEquals": {
            f"{GITHUB}:sub": "repo:acme/dns:environment:production"}})),
        "gh-pull-request": trust(federated(GITHUB, {"StringEquals": {f"{GITHUB}:sub": "repo:acme/dns:pull_request"}})),
        "gh-head-ref": trust(federated(GITHUB, {"StringEquals": {
            f"{GITHUB}:repository": "acme/dns", f"{GITHUB}:head_ref": "main"}})),
        "gh-immutable": trust(federated(GITHUB, {"StringEquals": {
            f"{GITHUB}:sub": "repo:acme@1001/dns@2002:ref:refs/heads/main"}})),
        "gh-two-operators": trust(federated(GITHUB, {
            "StringEquals": {f"{GITHUB}:sub": "repo:acme/dns:ref:refs/heads/main"},
            "StringLike": {f"{GITHUB}:sub": "repo:acme/*"}})),
        "gh-literal-star": trust(federated(GITHUB, {"StringEquals": {f"{GITHUB}:sub": "repo:acme/*"}})),
        "gh-wrong-audience": trust(federated(GITHUB, {"StringEquals": {
            f"{GITHUB}:aud": "api://elsewhere", f"{GITHUB}:sub": "repo:acme/dns:ref:refs/heads/main"}})),
        "gitlab-no-provider": trust(federated(GITLAB, {"StringEquals": {f"{GITLAB}:sub":
                                                                        "project_path:acme/dns:ref_type:branch:ref:main"}})),
        "eks-external-dns": trust(federated(EKS, {"StringEquals": {
            f"{EKS}:sub": "system:serviceaccount:dns:external-dns", f"{EKS}:aud": "sts.amazonaws.com"}})),
        "saml-sso": trust({"Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/sso"},
                           "Action": "sts:AssumeRoleWithSAML"}),
    }
    # the account's OIDC providers, as the AWS and GitHub guides have a user create them (no GitLab provider)
    for host in (GITHUB, EKS):
        e.iam.create_open_id_connect_provider(Url=f"https://{host}", ClientIDList=["sts.amazonaws.com"],
                                              ThumbprintList=["0" * 40])
    for name, document in roles.items():
        e.role(name, trust=document)
    cfg = write_config(tmp_path, aws)
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    inventory = as_json(cfg, "inventory")
    out: dict[str, dict[str, Any]] = {name: {} for name in roles}
    by_arn = {f"arn:aws:iam::{ACCOUNT}:role/{name}": name for name in roles}
    for ident in inventory:
        for a in ident["can_assume"]:
            if a["identity"] in by_arn:
                out[by_arn[a["identity"]]][ident["id"]] = {**a, "tags": ident["tags"], "kind": ident["kind"]}
    return out


def test_an_exact_subject_admits_that_repository_only(workloads: dict[str, dict[str, Any]]) -> None:
    (only,) = workloads["gh-exact"].items()
    assert only[0] == "github:repo:acme/dns" and only[1]["conditional"] is False
    assert "broad_trust" not in only[1]["tags"] and only[1]["kind"] == "ci-workload"
    assert any("repo:acme/dns:ref:refs/heads/main" in v for v in only[1]["via"])
    assert set(workloads["gh-two"]) == {"github:repo:acme/dns", "github:repo:acme/web"}


def test_patterns_and_a_missing_subject_admit_pattern_workloads_marked_broad(
        workloads: dict[str, dict[str, Any]]) -> None:
    assert list(workloads["gh-any-branch"]) == ["github:repo:acme/web"]
    web = workloads["gh-any-branch"]["github:repo:acme/web"]["tags"]
    assert "broad_trust" not in web  # an exact repository: broad only in this trust
    assert "admits any branch" in web[f"broad_trust:arn:aws:iam::{ACCOUNT}:role/gh-any-branch"]
    assert list(workloads["gh-org"]) == ["github:repo:acme/*"]
    org = workloads["gh-org"]["github:repo:acme/*"]
    assert org["tags"]["broad_trust"] == "it admits every repository matching acme/*"
    assert list(workloads["gh-no-sub"]) == ["github:any"]
    assert "no condition naming the repository" in workloads["gh-no-sub"]["github:any"]["tags"]["broad_trust"]


def test_what_the_engine_refuses_admits_nobody(workloads: dict[str, dict[str, Any]]) -> None:
    assert workloads["gh-contradiction"] == {}  # StringEquals main and StringNotLike repo:acme/dns:*
    assert workloads["gh-denied"] == {}  # the trust's own Deny takes it away
    assert workloads["saml-sso"] == {}  # a SAML provider: people, not workloads


def test_a_condition_on_a_key_the_scan_does_not_bind_makes_it_conditional(
        workloads: dict[str, dict[str, Any]]) -> None:
    (only,) = workloads["gh-source-ip"].items()
    assert only[0] == "github:repo:acme/dns" and only[1]["conditional"] is True
    assert any("aws:SourceIp" in v for v in only[1]["via"])


def _per_trust(workloads: dict[str, dict[str, Any]], role: str, workload: str = "github:repo:acme/dns") -> str | None:
    tags = workloads[role][workload]["tags"]
    return tags.get(f"broad_trust:arn:aws:iam::{ACCOUNT}:role/{role}")


def test_github_claim_keys_sts_sets_are_decided_and_read(workloads: dict[str, dict[str, Any]]) -> None:
    # job_workflow_ref pinned to one ref, or repository + an exact ref: exact, unconditional
    for role in ("gh-workflow", "gh-repository-ref", "gh-immutable", "gh-two-operators"):
        (only,) = workloads[role].items()
        assert only[0] == "github:repo:acme/dns" and only[1]["conditional"] is False, role
        assert _per_trust(workloads, role) is None, role
    # only what a contributor chooses: the workflow's name, any pull request; an environment, named
    assert "workflow" in str(_per_trust(workloads, "gh-repository-workflow"))
    assert "any pull request" in str(_per_trust(workloads, "gh-pull-request"))
    assert "environment production" in str(_per_trust(workloads, "gh-environment"))
    env = workloads["gh-environment"]["github:repo:acme/dns"]["tags"]
    assert env[f"broad_trust_environment:arn:aws:iam::{ACCOUNT}:role/gh-environment"] == "acme/dns:production"


def test_keys_sts_does_not_set_and_missing_providers_admit_nobody(workloads: dict[str, dict[str, Any]]) -> None:
    assert workloads["gh-head-ref"] == {}  # head_ref is no condition key of STS: absent, StringEquals false
    assert workloads["gh-literal-star"] == {}  # StringEquals: `*` is literal, no token's sub is repo:acme/*
    assert workloads["gh-wrong-audience"] == {}  # api://elsewhere is not a client id of the provider
    assert workloads["gitlab-no-provider"] == {}  # the account has no gitlab.com provider


def test_another_issuer_s_kubernetes_subject_is_its_service_account(workloads: dict[str, dict[str, Any]]) -> None:
    assert list(workloads["eks-external-dns"]) == [f"k8s:https://{EKS}:dns/external-dns"]
    assert workloads["eks-external-dns"][f"k8s:https://{EKS}:dns/external-dns"]["kind"] == "oidc-workload"

