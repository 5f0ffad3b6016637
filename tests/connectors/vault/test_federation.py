"""Which external workloads a Vault jwt/oidc role admits (identities.bound_identities over the role as
`auth/<mount>/role/<name>` returns it): the kit's shared ids, `bound_claims` compared literally unless
`bound_claims_type = "glob"` ("JWT/OIDC auth method (API)", bound_claims_type), and the broad-trust tag a glob
pattern earns; and the same end to end, through `commonmode scan` against an OpenBao dev server with a jwt auth
mount and roles of each form."""

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


# --- against OpenBao: jwt roles as the server stores them ----------------------------------------------------

def _public_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_jwt_roles_read_from_openbao_become_grants_from_the_shared_workload_ids(root, bao, tmp_path,
                                                                                monkeypatch) -> None:
    import json

    from commonmode.cli import app

    from .test_connector import as_json, runner, write_config

    root.sys.create_or_update_policy("dns-read", 'path "secret/data/dns/*" { capabilities = ["read"] }')
    root.sys.enable_auth_method("jwt", path="github")
    root.auth.jwt.configure(jwt_validation_pubkeys=[_public_key_pem()], bound_issuer=ids.GITHUB_ISSUER,
                            path="github")
    roles = {
        "exact": {"bound_claims": {"repository": "acme/dns"}},
        "glob": {"bound_claims": {"repository": "acme/*"}, "bound_claims_type": "glob"},
        "literal": {"bound_claims": {"repository": "acme/*"}},  # bound_claims_type "string": a literal '*'
        "subject": {"bound_subject": "repo:acme/web:ref:refs/heads/main"},
    }
    for name, bounds in roles.items():
        root.auth.jwt.create_role(name, role_type="jwt", user_claim="sub", token_policies=["dns-read"],
                                  allowed_redirect_uris=[],
                                  bound_audiences=["https://github.com/acme"], path="github", **bounds)
    monkeypatch.setenv("VAULT_TOKEN", "root")
    cfg = write_config(tmp_path, bao, None, None)
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "ok"
    inventory = {i["id"]: i for i in as_json(cfg, "inventory")}
    into = {wid: sorted(a["identity"].rsplit("/", 1)[-1] for a in inventory[wid]["can_assume"])
            for wid in inventory if wid.startswith("github:")}
    assert into == {"github:repo:acme/dns": ["exact"], "github:repo:acme/*": ["glob"],
                    "github:repo:acme/web": ["subject"]}
    assert inventory["github:repo:acme/*"]["tags"]["broad_trust"] == "it admits every repository matching acme/*"
    assert "broad_trust" not in inventory["github:repo:acme/dns"]["tags"]
    assert "ci:github-actions" in inventory["github:repo:acme/dns"]["fault_domains"]
