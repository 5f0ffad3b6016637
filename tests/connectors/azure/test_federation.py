"""What an Entra federated identity credential admits (identities.federation_edges over the Graph/ARM shape):
the kit's shared workload ids, for an exact subject and for a flexible credential's expression ("Flexible
federated identity credentials": `claims['sub'] matches '…'`, `eq`, clauses joined by `and`,
`claims['job_workflow_ref']`), and the broad-trust tags each trigger earns; the end-to-end scan through the
Azure stand-in is tests/connectors/azure/test_connector_cli.py (its estate federates two GitHub workflows)."""

from __future__ import annotations

from typing import Any

import pytest

GITHUB = "https://token.actions.githubusercontent.com"
TARGET = "azure:object:app-1"


def _admit(fic: dict[str, Any], gaps: list[str] | None = None) -> tuple[Any, Any]:
    from commonmode.connector import InventoryParts
    from commonmode.kit.workloads import Admissions
    from commonmode_azure.identities import federation_edges

    out = InventoryParts()
    admitted = Admissions("corp")
    federation_edges(admitted, out, TARGET, "deploy", [{"name": "gh", "issuer": GITHUB, **fic}], "application",
                     "corp")
    out.identities.extend(admitted.identities())
    if gaps is not None:
        gaps.extend(out.gaps)
    return out.identities, out.grants


def _flexible(expression: str) -> dict[str, Any]:
    return {"claimsMatchingExpression": {"value": expression, "languageVersion": 1}}


@pytest.mark.parametrize(("fic", "workload", "whole", "per_trust"), [
    # exact: a branch, a reusable workflow pinned to a ref, the immutable form
    ({"subject": "repo:acme/deploy:ref:refs/heads/main"}, "github:repo:acme/deploy", None, None),
    (_flexible("claims['sub'] matches 'repo:acme/deploy:*' and "
               "claims['job_workflow_ref'] eq 'acme/ci/.github/workflows/dns.yml@refs/heads/main'"),
     "github:repo:acme/deploy", None, None),
    ({"subject": "repo:acme@11/deploy@22:ref:refs/heads/main"}, "github:repo:acme/deploy", None, None),
    # broad as a whole: a repository pattern, any repository
    (_flexible("claims['sub'] matches 'repo:acme/*:environment:prod'"), "github:repo:acme/*",
     "it admits every repository matching acme/*", None),
    (_flexible("claims['sub'] matches '*'"), "github:any", "any repository on GitHub", None),
    # broad in this trust: any branch, any pull request, an environment (exempt once listed as protected)
    (_flexible("claims['sub'] matches 'repo:acme/deploy:ref:refs/heads/*'"), "github:repo:acme/deploy", None,
     "ref pattern refs/heads/*"),
    ({"subject": "repo:acme/deploy:pull_request"}, "github:repo:acme/deploy", None, "any pull request"),
    ({"subject": "repo:acme/deploy:environment:prod"}, "github:repo:acme/deploy", None, "environment prod"),
])
def test_each_condition_form_admits_its_workload_and_each_trigger_is_tagged(
        fic: dict[str, Any], workload: str, whole: str | None, per_trust: str | None) -> None:
    (ident,), (grant,) = _admit(fic)
    assert ident.id == grant.identity_id == workload and grant.resource_id == TARGET
    assert (whole is None) == ("broad_trust" not in ident.tags)
    if whole:
        assert whole in ident.tags["broad_trust"]
    tagged = ident.tags.get(f"broad_trust:{TARGET}")
    assert (per_trust is None) == (tagged is None) and (per_trust is None or per_trust in str(tagged))
    assert grant.conditional is False


def test_a_credential_s_description_names_the_workload_s_owner() -> None:
    (ident,), _ = _admit({"subject": "repo:acme/deploy:ref:refs/heads/main", "description": "DR (owner: team-dr)"})
    assert ident.owner == "team-dr"
    (ident,), _ = _admit({"subject": "repo:acme/deploy:ref:refs/heads/main", "description": "deploys the DR zone"})
    assert ident.owner is None


def test_an_environment_trust_names_its_environment_for_the_protected_list() -> None:
    (ident,), _ = _admit({"subject": "repo:acme/deploy:environment:prod"})
    assert ident.tags[f"broad_trust_environment:{TARGET}"] == "acme/deploy:prod"


def test_a_literal_wildcard_admits_nobody_and_an_unread_expression_is_conditional() -> None:
    # `subject` and `eq` compare exactly: no token's subject is `repo:acme/*`
    assert _admit({"subject": "repo:acme/*"}) == ([], [])
    assert _admit(_flexible("claims['sub'] eq 'repo:acme/*'")) == ([], [])
    # clauses joined by `and` must all hold: a pattern and an exact value on one claim intersect
    (ident,), _ = _admit(_flexible("claims['sub'] matches 'repo:acme/*' and "
                                   "claims['sub'] eq 'repo:acme/deploy:ref:refs/heads/main'"))
    assert ident.id == "github:repo:acme/deploy" and not any(k.startswith("broad_trust") for k in ident.tags)
    assert _admit(_flexible("claims['sub'] matches 'repo:acme/*' and claims['sub'] eq 'repo:evil/x:ref:main'")) == (
        [], [])
    # an expression the scanner does not read, or none returned (Graph v1.0 omits it): any repository may,
    # conditionally, and the scan says what it could not read (a gap, not a broad-trust finding)
    for fic, said in ((_flexible("claims['sub'] startswith 'repo:acme/'"), "is not read by the scanner"),
                      ({"subject": None}, "Graph returned no subject and no claimsMatchingExpression")):
        gaps: list[str] = []
        (ident,), (grant,) = _admit(fic, gaps)
        assert ident.id == "github:any" and grant.conditional is True
        assert ident.tags.get("broad_trust") == "it admits any repository on GitHub (no repository condition)"
        assert len(gaps) == 1 and said in gaps[0] and "federated credential gh on application deploy" in gaps[0]


def test_another_issuer_s_subject_is_its_workload_and_a_pattern_is_broad() -> None:
    from commonmode.connector import InventoryParts
    from commonmode.kit.workloads import Admissions
    from commonmode_azure.identities import federation_edges

    aks = "https://eastus.oic.prod-aks.azure.com/tenant/cluster/"
    out, admitted = InventoryParts(), Admissions("corp")
    federation_edges(admitted, out, TARGET, "dns", [
        {"name": "k8s", "issuer": aks, "subject": "system:serviceaccount:dns:external-dns"},
        {"name": "tfc", "issuer": "https://app.terraform.io",
         **_flexible("claims['sub'] matches 'organization:acme:project:dns:workspace:*:run_phase:apply'")},
    ], "managed identity", "corp")
    got = {i.id: i for i in admitted.identities()}
    assert set(got) == {f"k8s:{aks.rstrip('/')}:dns/external-dns",
                        "oidc:https://app.terraform.io:organization:acme:project:dns:workspace:*:run_phase:apply"}
    assert "broad_trust" not in got[f"k8s:{aks.rstrip('/')}:dns/external-dns"].tags
    assert "every subject matching" in got[
        "oidc:https://app.terraform.io:organization:acme:project:dns:workspace:*:run_phase:apply"].tags["broad_trust"]
