"""Workload identity federation into GCP service accounts (issue 17), end to end: pools and providers seeded in
the GCP stand-in, `commonmode scan` through the real clients, and `commonmode inventory` showing which external
workload (the kit's shared ids) can act as which service account. Positive and negative cases for each form:
a provider's attribute condition on the repository, its owner, a ref, an environment, a workflow; a binding's
principalSet attribute or principal subject that narrows it (or names what the provider refuses); and an AWS
provider, whose binding names an IAM role of its account (another account's role: nobody)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from tests.connectors.cli import Cli
from tests.connectors.gcp.test_connector_cli import environment, scan, write_config

from commonmode_sandbox.gcp import GcpEstate
from commonmode_sandbox.servers import start_gcp

GITHUB = "https://token.actions.githubusercontent.com"
PROJECT = "acme-ci"
AWS_ACCOUNT, OTHER_ACCOUNT = "111122223333", "999988887777"


@pytest.fixture(scope="module")
def admitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """service account short name → {identity id that can act as it: that identity's inventory entry}."""
    e = GcpEstate(seed=1717)
    org = e.organization["name"]
    e.project(PROJECT, labels={"owner": "ci"})
    mapping = {"google.subject": "assertion.sub", "attribute.repository": "assertion.repository"}

    def pool(name: str, condition: str | None) -> str:
        p = e.workload_identity_pool(PROJECT, name)
        e.workload_identity_provider(p, name, issuer=GITHUB, attribute_mapping=mapping, attribute_condition=condition)
        return str(p["name"])

    def account(short: str, *members: str) -> None:
        sa = e.service_account(PROJECT, short, description="(owner: ci)")
        e.bind(sa["name"], "roles/iam.workloadIdentityUser", list(members))

    exact = pool("exact", "assertion.repository == 'acme/dns' && assertion.ref == 'refs/heads/main'")
    owner = pool("owner", "assertion.repository_owner == 'acme'")
    env = pool("env", "assertion.repository == 'acme/ops' && assertion.environment == 'prod'")
    workflow = pool("workflow", "assertion.repository == 'acme/wf' && assertion.workflow == 'deploy'")
    account("sa-exact", f"principalSet://iam.googleapis.com/{exact}/*")
    account("sa-exact-subject", f"principal://iam.googleapis.com/{exact}/subject/repo:acme/dns:ref:refs/heads/main")
    account("sa-wrong-ref", f"principal://iam.googleapis.com/{exact}/subject/repo:acme/dns:ref:refs/heads/dev")
    account("sa-owner", f"principalSet://iam.googleapis.com/{owner}/*")
    account("sa-owner-repo", f"principalSet://iam.googleapis.com/{owner}/attribute.repository/acme/web")
    account("sa-owner-evil", f"principalSet://iam.googleapis.com/{owner}/attribute.repository/evil/x")
    account("sa-env", f"principalSet://iam.googleapis.com/{env}/*")
    account("sa-workflow", f"principalSet://iam.googleapis.com/{workflow}/*")
    aws = e.workload_identity_pool(PROJECT, "aws")
    e.aws_workload_identity_provider(aws, "aws", account_id=AWS_ACCOUNT)
    role = f"principalSet://iam.googleapis.com/{aws['name']}/attribute.aws_role/arn:aws:sts::"
    account("sa-aws-role", f"{role}{AWS_ACCOUNT}:assumed-role/ops")
    account("sa-aws-other", f"{role}{OTHER_ACCOUNT}:assumed-role/ops")
    account("sa-aws-any", f"principalSet://iam.googleapis.com/{aws['name']}/*")
    # google.subject is the caller's ARN: a role session's is assumed-role/ROLE/SESSION
    account("sa-aws-session", f"principal://iam.googleapis.com/{aws['name']}/subject/arn:aws:sts::{AWS_ACCOUNT}:"
                              "assumed-role/dns-ops/session-1")
    # a binding's value is compared exactly: a `*` in it is a literal no repository has
    account("sa-literal-star", f"principalSet://iam.googleapis.com/{owner}/attribute.repository/acme/*")
    servers = start_gcp(e)
    try:
        folder = tmp_path_factory.mktemp("gcp-federation")
        cfg = write_config(folder, servers, SimpleNamespace(org=org))  # type: ignore[arg-type]
        env_vars = environment(servers, folder)
        proc = scan(cfg, env_vars)
        assert proc.returncode in (0, 3), proc.stderr[-3000:]
        inventory = Cli(cfg, env_vars).json("inventory")
        out: dict[str, dict[str, Any]] = {}
        for ident in inventory:
            for a in ident["can_assume"]:
                short = a["identity"].rsplit("/", 1)[-1].split("@", 1)[0]
                out.setdefault(short, {})[ident["id"]] = {**ident, "conditional": a["conditional"]}
        yield out
        assert servers.failures == [] and servers.refused == []
    finally:
        servers.stop()


def _per_trust(entry: dict[str, Any]) -> list[str]:
    return [v for k, v in entry["tags"].items() if k.startswith("broad_trust:")]


def test_an_exact_provider_and_an_exact_subject_admit_that_repository_unconditionally(
        admitted: dict[str, dict[str, Any]]) -> None:
    for sa in ("sa-exact", "sa-exact-subject"):
        (who, entry), = admitted[sa].items()
        assert who == "github:repo:acme/dns" and entry["conditional"] is False, sa
        assert "broad_trust" not in entry["tags"] and _per_trust(entry) == [], sa
        assert "ci:github-actions" in entry["fault_domains"]


def test_a_binding_that_names_what_the_provider_refuses_admits_nobody(admitted: dict[str, dict[str, Any]]) -> None:
    assert "sa-wrong-ref" not in admitted  # the provider wants refs/heads/main
    assert "sa-owner-evil" not in admitted  # the provider wants acme's repositories
    assert "sa-aws-other" not in admitted  # another AWS account than the provider's
    assert "sa-literal-star" not in admitted


def test_an_owner_condition_is_a_pattern_and_a_binding_narrows_it_to_one_repository_of_any_branch(
        admitted: dict[str, dict[str, Any]]) -> None:
    (who, entry), = admitted["sa-owner"].items()
    assert who == "github:repo:acme/*" and "every repository matching acme/*" in entry["tags"]["broad_trust"]
    (who, entry), = admitted["sa-owner-repo"].items()
    assert who == "github:repo:acme/web" and "broad_trust" not in entry["tags"]
    assert any("admits any branch" in v for v in _per_trust(entry))


def test_an_environment_or_a_workflow_name_alone_is_a_broad_trust_of_that_repository(
        admitted: dict[str, dict[str, Any]]) -> None:
    (who, env), = admitted["sa-env"].items()
    assert who == "github:repo:acme/ops" and any("environment prod" in v for v in _per_trust(env))
    assert [v for k, v in env["tags"].items() if k.startswith("broad_trust_environment:")] == ["acme/ops:prod"]
    (who, wf), = admitted["sa-workflow"].items()
    assert who == "github:repo:acme/wf" and any("workflow" in v for v in _per_trust(wf))


def test_an_aws_provider_admits_the_iam_role_a_binding_names_or_any_principal_of_its_account(
        admitted: dict[str, dict[str, Any]]) -> None:
    (who, entry), = admitted["sa-aws-role"].items()
    assert who == f"arn:aws:iam::{AWS_ACCOUNT}:role/ops" and entry["conditional"] is False
    assert entry["fault_domains"] == [f"aws:account:{AWS_ACCOUNT}"]
    (who, entry), = admitted["sa-aws-session"].items()
    assert who == f"arn:aws:iam::{AWS_ACCOUNT}:role/dns-ops"
    (who, entry), = admitted["sa-aws-any"].items()
    assert who == f"arn:aws:iam::{AWS_ACCOUNT}:root" and entry["name"] == f"any principal of AWS account {AWS_ACCOUNT}"

