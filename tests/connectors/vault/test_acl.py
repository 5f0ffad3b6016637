"""Vault ACL rules, each with a positive and a negative case, and each checked against the server's own
answer (`sys/capabilities` of a real OpenBao) so the evaluator cannot drift from Vault's semantics."""

from __future__ import annotations

import pytest

from commonmode_vault.acl import ACL, PolicyError, parse_policy

hvac = pytest.importorskip("hvac")

CASES = {
    # rule: (policies {name: hcl}, [(path, expected capabilities)])
    "exact path beats a glob, even a deny glob": (
        {"a": 'path "secret/*" { capabilities = ["deny"] }\npath "secret/app" { capabilities = ["read"] }'},
        [("secret/app", {"read"}), ("secret/other", {"deny"})]),
    "glob is a prefix match, only at the end": (
        {"a": 'path "secret/foo*" { capabilities = ["read"] }'},
        [("secret/food", {"read"}), ("secret/foo/bar", {"read"}), ("secret/fo", {"deny"})]),
    "longest prefix wins, deny does not cross patterns": (
        {"a": 'path "secret/*" { capabilities = ["read", "list"] }\npath "secret/app/*" { capabilities = ["deny"] }'},
        [("secret/app/db", {"deny"}), ("secret/web/db", {"list", "read"})]),
    "plus matches exactly one segment": (
        {"a": 'path "secret/+/teamb" { capabilities = ["read"] }'},
        [("secret/x/teamb", {"read"}), ("secret/x/y/teamb", {"deny"}), ("secret/teamb", {"deny"})]),
    "identical paths merge across policies; a deny among them makes it deny": (
        {"a": 'path "secret/app" { capabilities = ["read"] }', "b": 'path "secret/app" { capabilities = ["update"] }',
         "c": 'path "secret/db" { capabilities = ["read"] }', "d": 'path "secret/db" { capabilities = ["deny"] }'},
        [("secret/app", {"read", "update"}), ("secret/db", {"deny"})]),
    "later first wildcard wins": (
        {"a": 'path "secret/+/app/*" { capabilities = ["read"] }\npath "secret/team/+/*" { capabilities = ["update"] }'},
        [("secret/team/app/x", {"update"}), ("secret/other/app/x", {"read"})]),
    "a pattern not ending in * beats one that does": (
        {"a": 'path "secret/team/+" { capabilities = ["read"] }\npath "secret/team/*" { capabilities = ["update"] }'},
        [("secret/team/x", {"read"}), ("secret/team/x/y", {"update"})]),
    "fewer plus segments win": (
        {"a": 'path "secret/a/+/+" { capabilities = ["read"] }\npath "secret/a/b/+" { capabilities = ["update"] }'},
        [("secret/a/b/c", {"update"}), ("secret/a/x/c", {"read"})]),
    "nothing matches: deny": (
        {"a": 'path "secret/app" { capabilities = ["read"] }'},
        [("secret/app2", {"deny"}), ("sys/policy/x", {"deny"})]),
}


def _caps(client, token: str, path: str) -> set[str]:  # type: ignore[no-untyped-def]
    data = client.sys.get_capabilities(paths=[path], token=token)
    return set(data.get(path) or data.get("data", {}).get(path) or data["capabilities"])


@pytest.mark.parametrize("name", list(CASES))
def test_rule_matches_the_server(bao_session, name):
    policies, expectations = CASES[name]
    client = hvac.Client(url=bao_session, token="root")
    prefix = name.replace(" ", "-").replace(",", "").replace(";", "")[:40]
    docs = {}
    for pname, hcl in policies.items():
        client.sys.create_or_update_acl_policy(name=f"{prefix}-{pname}", policy=hcl)
        docs[f"{prefix}-{pname}"] = parse_policy(hcl, pname)
    token = client.auth.token.create(policies=list(docs), no_default_policy=True)["auth"]["client_token"]
    acl = ACL.build(docs, docs)
    for path, expected in expectations:
        assert set(acl.capabilities(path)) == expected, (path, "evaluator")
        assert _caps(client, token, path) == expected, (path, "server")


def test_templated_paths_are_conditional():
    docs = {"t": parse_policy('path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }', "t")}
    acl = ACL.build(["t"], docs)
    allowed, conditional, _ = acl.allows("secret/data/alice/db", "read")
    assert allowed and conditional
    assert acl.allows("secret/metadata/alice/db", "read")[0] is False


def test_parameter_constraints_make_writes_conditional_but_not_reads():
    constrained = parse_policy('path "pki/issue/login" { capabilities = ["update"]\n'
                               '  allowed_parameters = { "common_name" = ["login.acme-prod.example"] } }\n'
                               'path "secret/data/dns/*" { capabilities = ["read", "update"]\n'
                               '  required_parameters = ["data"] }', "c")
    plain = parse_policy('path "pki/issue/login" { capabilities = ["update"] }', "p")
    acl = ACL.build(["c"], {"c": constrained})
    ok, conditional, sources = acl.allows("pki/issue/login", "create", "update")
    assert ok and conditional and "its parameter constraints are not evaluated" in sources
    assert acl.allows("secret/data/dns/x", "read") == (True, False, ('policy c path "secret/data/dns/*"',))
    assert acl.allows("pki/issue/other", "update")[0] is False
    ok, conditional, _ = ACL.build(["p"], {"p": plain}).allows("pki/issue/login", "update")
    assert ok and not conditional
    # a constrained stanza merged with an unconstrained one for the same path stays constrained
    merged = ACL.build(["c", "p"], {"c": constrained, "p": plain})
    assert merged.allows("pki/issue/login", "update")[1] is True


def test_root_policy_allows_everything_and_default_deny():
    assert ACL.build(["root"], {}).allows("anything/at/all", "update")[0]
    assert not ACL.build([], {}).allows("secret/x", "read")[0]


def test_bad_policies_are_refused():
    with pytest.raises(PolicyError):
        parse_policy('path "secret/*/x" { capabilities = ["read"] }', "bad")
    with pytest.raises(PolicyError):
        parse_policy('path "secret/x" { capabilities = ["fly"] }', "bad")
    assert parse_policy('{"path": {"secret/x": {"capabilities": ["read"]}}}', "json") == [
        ("secret/x", frozenset({"read"}), False)]
