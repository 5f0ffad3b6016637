"""Which external workloads a Vault jwt/oidc role admits (identities.bound_identities over the role as
`auth/<mount>/role/<name>` returns it): the kit's shared ids, `bound_claims` compared literally unless
`bound_claims_type = "glob"` ("JWT/OIDC auth method (API)", bound_claims_type), and the broad-trust tag a glob
pattern earns."""

from __future__ import annotations

import pytest

from commonmode.kit import ids
from commonmode_vault.identities import bound_identities


@pytest.mark.parametrize(("role", "expected"), [
    ({"bound_claims": {"repository": "acme/dns"}}, ["github:repo:acme/dns"]),
    ({"bound_claims": {"repository": ["acme/dns", "acme/web"]}}, ["github:repo:acme/dns", "github:repo:acme/web"]),
    # "string" (the default): "acme/*" is a literal no repository is called: it admits none
    ({"bound_claims": {"repository": "acme/*"}}, []),
    ({"bound_claims_type": "glob", "bound_claims": {"repository": "acme/*"}}, ["github:repo:acme/*"]),
    ({"bound_subject": "repo:acme/dns:ref:refs/heads/main"}, ["github:repo:acme/dns"]),
    ({"bound_subject": "not-github"}, []),
])
def test_a_jwt_role_admits_the_workloads_its_bound_claims_name(role: dict[str, object], expected: list[str]) -> None:
    assert [who for who, _ in bound_identities("jwt", role)] == expected


def test_a_glob_over_repositories_is_a_broad_trust_and_an_exact_one_is_not() -> None:
    (glob,) = bound_identities("jwt", {"bound_claims_type": "glob", "bound_claims": {"repository": "acme/*"}})
    assert glob[1] == "bound_claims.repository = acme/* (bound_claims_type glob)"
    assert ids.broad_trust(glob[0]) == "it admits every repository matching acme/*"
    (exact,) = bound_identities("oidc", {"bound_claims": {"repository": "acme/dns"}})
    assert ids.broad_trust(exact[0]) is None
