"""Which external workloads a Vault jwt/oidc role admits (identities.bound_identities over the role as
`auth/<mount>/role/<name>` returns it): the kit's shared ids, `bound_claims` compared literally unless
`bound_claims_type = "glob"` ("JWT/OIDC auth method (API)", bound_claims_type), and the broad-trust tag a glob
pattern earns; and the same end to end, through `commonmode scan` against an OpenBao dev server with a jwt auth
mount and roles of each form."""

from __future__ import annotations

import pytest

from commonmode.kit import ids
from commonmode_vault.identities import bound_identities

GH = ids.GITHUB_ISSUER
AUD = {"bound_audiences": ["https://github.com/acme"]}


@pytest.mark.parametrize(("role", "expected"), [
    ({"bound_claims": {"repository": "acme/dns"}}, ["github:repo:acme/dns"]),
    ({"bound_claims": {"repository": ["acme/dns", "acme/web"]}}, ["github:repo:acme/dns", "github:repo:acme/web"]),
    # "string" (the default): "acme/*" is a literal no repository is called: it admits none
    ({"bound_claims": {"repository": "acme/*"}}, []),
    ({"bound_claims_type": "glob", "bound_claims": {"repository": "acme/*"}}, ["github:repo:acme/*"]),
    ({"bound_subject": "repo:acme/dns:ref:refs/heads/main"}, ["github:repo:acme/dns"]),
    ({"bound_subject": "not-github"}, []),  # no issuer known, nothing GitHub's: not read
])
def test_a_jwt_role_admits_the_workloads_its_bound_claims_name(role: dict[str, object], expected: list[str]) -> None:
    assert [b.who for b in bound_identities("jwt", {**AUD, **role})] == expected


@pytest.mark.parametrize("role", [
    {"bound_claims": {"repository": "acme/dns"}},  # no bound_audiences: a token with `aud` is refused
    {"bound_audiences": ["x"], "role_type": "oidc", "bound_claims": {"repository": "acme/dns"}},  # a person's login
    {"bound_audiences": ["x"], "bound_subject": "repo:acme/*"},  # bound_subject is compared exactly
    {"bound_audiences": ["x"], "bound_claims_type": "glob", "bound_claims": {"repository": "acme/dn?"}},  # `?` literal
])
def test_roles_that_admit_no_github_workload(role: dict[str, object]) -> None:
    assert bound_identities("jwt", role, GH) == []


@pytest.mark.parametrize(("role", "who", "whole", "per_trust"), [
    ({"bound_claims_type": "glob", "bound_claims": {"repository": "acme/*"}}, "github:repo:acme/*",
     "every repository matching acme/*", None),
    ({"bound_audiences": ["https://github.com/acme"]}, "github:any", "any repository on GitHub", None),
    ({"bound_claims": {"repository": "acme/dns", "ref": "refs/heads/main"}}, "github:repo:acme/dns", None, None),
    ({"bound_claims": {"repository": "acme/dns"}}, "github:repo:acme/dns", None, "names only the repository"),
    ({"bound_claims": {"repository": "acme/dns", "workflow": "deploy"}}, "github:repo:acme/dns", None, "workflow"),
    ({"bound_claims_type": "glob", "bound_claims": {"sub": "repo:acme/dns:ref:refs/heads/*"}},
     "github:repo:acme/dns", None, "ref pattern refs/heads/*"),
    ({"bound_subject": "repo:acme/dns:environment:prod"}, "github:repo:acme/dns", None, "environment prod"),
    ({"bound_subject": "repo:acme@7/dns@9:ref:refs/heads/main"}, "github:repo:acme/dns", None, None),
])
def test_each_trigger_and_exemption_of_a_github_role(role: dict[str, object], who: str, whole: str | None,
                                                     per_trust: str | None) -> None:
    from commonmode.kit.workloads import Admissions

    (b,) = bound_identities("jwt", {**AUD, **role}, GH)
    assert b.who == who
    admitted = Admissions("v")
    admitted.admit(b.who, "vault://v/auth/github/role/r", b.broad, b.environment)
    (ident,) = admitted.identities()
    assert (whole is None) == ("broad_trust" not in ident.tags)
    assert whole is None or whole in ident.tags["broad_trust"]
    tagged = ident.tags.get("broad_trust:vault://v/auth/github/role/r")
    assert (per_trust is None) == (tagged is None) and (per_trust is None or per_trust in str(tagged))


def test_another_issuer_s_subject_and_a_role_without_bounds() -> None:
    k8s = "https://kubernetes.default.svc.cluster.local"
    (sa,) = bound_identities("jwt", {**AUD, "bound_subject": "system:serviceaccount:dns:external-dns"}, k8s)
    assert sa.who == f"k8s:{k8s}:dns/external-dns" and sa.broad is None
    (anyone,) = bound_identities("jwt", {"bound_audiences": ["vault"]}, k8s)
    assert anyone.who == f"oidc:{k8s}:*" and "any token of the issuer" in str(anyone.broad)


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
        "any-branch": {"bound_claims": {"sub": "repo:acme/api:*"}, "bound_claims_type": "glob"},
        "environment": {"bound_subject": "repo:acme/ops:environment:production"},
        "audience-only": {},  # bound_audiences alone: any repository on GitHub can ask for that audience
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
                    "github:repo:acme/web": ["subject"], "github:repo:acme/api": ["any-branch"],
                    "github:repo:acme/ops": ["environment"], "github:any": ["audience-only"]}
    assert inventory["github:repo:acme/*"]["tags"]["broad_trust"] == "it admits every repository matching acme/*"
    assert "any repository on GitHub" in inventory["github:any"]["tags"]["broad_trust"]
    assert "broad_trust" not in inventory["github:repo:acme/web"]["tags"]  # one branch: exact
    api = inventory["github:repo:acme/api"]["tags"]
    assert any(k.startswith("broad_trust:") and "admits any branch" in v for k, v in api.items())
    ops = inventory["github:repo:acme/ops"]["tags"]
    assert [v for k, v in ops.items() if k.startswith("broad_trust_environment:")] == ["acme/ops:production"]
    assert "ci:github-actions" in inventory["github:repo:acme/dns"]["fault_domains"]


# --- the scanner's reading against OpenBao's own login decision ------------------------------------------------

#: Role forms (each with role_type and bound_audiences as given) and the repositories whose workflow tokens try to
#: log in through each; each token carries what the role's other bounds ask (branch main, environment
#: production), so that a login succeeds exactly when the role admits the repository.
_ROLE_FORMS: dict[str, dict[str, object]] = {
    "exact": {"bound_claims": {"repository": "acme/dns"}},
    "two": {"bound_claims": {"repository": ["acme/dns", "acme/web"]}},
    "glob": {"bound_claims": {"repository": "acme/*"}, "bound_claims_type": "glob"},
    "literal-star": {"bound_claims": {"repository": "acme/*"}},
    "glob-question": {"bound_claims": {"repository": "acme/dn?"}, "bound_claims_type": "glob"},
    "subject": {"bound_subject": "repo:acme/web:ref:refs/heads/main"},
    "subject-pattern": {"bound_subject": "repo:acme/*"},
    "glob-subject": {"bound_claims": {"sub": "repo:acme/*"}, "bound_claims_type": "glob"},
    "environment": {"bound_subject": "repo:acme/ops:environment:production"},
    "audience-only": {},
    "no-audience": {"bound_claims": {"repository": "acme/dns"}, "bound_audiences": []},
}
_REPOSITORIES = ("acme/dns", "acme/web", "acme/ops", "evil/x")


def _covers(workload: str, repository: str) -> bool:
    if workload == ids.GITHUB_ANY:
        return True
    repo = ids.repository_of(workload) or ""
    return repo == repository or (repo.endswith("/*") and repository.startswith(repo[:-1]))


def test_the_scanner_admits_a_repository_exactly_when_openbao_logs_its_workflow_in(root, bao) -> None:
    import time

    import hvac
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    root.sys.enable_auth_method("jwt", path="gh")
    root.auth.jwt.configure(jwt_validation_pubkeys=[public], bound_issuer=GH, path="gh")
    for name, form in _ROLE_FORMS.items():
        bounds = {"bound_audiences": ["https://github.com/acme"], **form}
        root.auth.jwt.create_role(name, role_type="jwt", user_claim="sub", token_policies=["default"],
                                  allowed_redirect_uris=[], path="gh", **bounds)
    now = int(time.time())
    disagreements = []
    for name in _ROLE_FORMS:
        stored = root.read(f"auth/gh/role/{name}")["data"]  # the role as the scanner reads it
        admitted = [b.who for b in bound_identities("jwt", stored, GH)]
        for repository in _REPOSITORIES:
            context = "environment:production" if repository == "acme/ops" else "ref:refs/heads/main"
            token = jwt.encode({"iss": GH, "aud": "https://github.com/acme", "sub": f"repo:{repository}:{context}",
                                "repository": repository, "repository_owner": repository.split("/")[0],
                                "ref": "refs/heads/main", "iat": now, "nbf": now - 5, "exp": now + 300},
                               key, algorithm="RS256")
            try:
                hvac.Client(url=bao).write("auth/gh/login", role=name, jwt=token)
                logged_in = True
            except hvac.exceptions.VaultError:
                logged_in = False
            scanner = any(_covers(w, repository) for w in admitted)
            if scanner != logged_in:
                disagreements.append((name, repository, admitted, logged_in))
    assert disagreements == []
