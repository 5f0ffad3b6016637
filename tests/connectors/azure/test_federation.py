"""What an Entra federated identity credential admits (identities.federation_edges over the Graph/ARM shape):
the kit's shared workload ids, a flexible credential's `claims['sub'] matches '…'` pattern ("Flexible federated
identity credentials"), and the broad-trust tag a wildcard earns (a repository pattern, any ref or
environment)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("expression", "workload", "broad"), [
    ("claims['sub'] matches 'repo:acme/deploy:ref:refs/heads/*'", "github:repo:acme/deploy",
     "its subject repo:acme/deploy:ref:refs/heads/* admits any ref or environment a contributor can choose"),
    ("claims['sub'] matches 'repo:acme/*:environment:prod'", "github:repo:acme/*",
     "it admits every repository matching acme/*"),
    ("claims['sub'] matches '*'", "github:any", "it admits any repository on GitHub (no repository condition)"),
    ("claims['sub'] matches 'repo:acme/deploy:environment:prod'", "github:repo:acme/deploy", None),
])
def test_a_flexible_federated_credential_admits_its_pattern_and_a_wildcard_is_a_broad_trust(
        expression: str, workload: str, broad: str | None) -> None:
    from commonmode.connector import InventoryParts
    from commonmode_azure.identities import federation_edges

    out = InventoryParts()
    federation_edges(out, "app-1", "deploy", [{"name": "gh", "issuer": "https://token.actions.githubusercontent.com",
                                               "claimsMatchingExpression": {"value": expression,
                                                                            "languageVersion": 1}}],
                     "application", "corp", set())
    (ident,) = out.identities
    assert ident.id == workload and ident.tags.get("broad_trust") == broad
    (g,) = out.grants
    assert g.identity_id == workload and f"claims matching {expression}" in g.via[0]
