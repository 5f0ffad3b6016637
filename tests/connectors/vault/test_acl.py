"""Vault ACL rules, each with a positive and a negative case, checked against the real OpenBao server
(`sys/capabilities`, or real requests where `sys/capabilities` is blind: parameter constraints), plus pure
cases for the evaluator alone. One regression test per issue-11 defect (2, 3, 4, 6); each failed on the
evaluator before the fix."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from commonmode.kit import Decision, Tri
from commonmode_vault.policy import ACL, CAPABILITIES, PolicyError, Stanza, attached_policies, parse_policy, policy_name

from .policygen import CANARY, KV1, KV2, PKI, Bao, ground_truth, probe_for, setup_engines

pytest.importorskip("hvac")  # the session server fixture comes with the test extra


@pytest.fixture(scope="module")
def server(bao_session: str) -> Iterator[Bao]:
    bao = Bao(bao_session)
    setup_engines(bao)
    yield bao


def _token(server: Bao, prefix: str, policies: dict[str, str]) -> tuple[str, ACL]:
    """The policies written under `prefix-<name>`, a token holding exactly them, and the evaluator's ACL."""
    docs = {}
    for name, text in policies.items():
        assert server.policy(f"{prefix}-{name}", text) == 204, text
        docs[f"{prefix}-{name}"] = parse_policy(text, name)
    token, _ = server.token(list(docs))
    return token, ACL.build(docs, docs)


CASES = {
    # rule: (policies {name: hcl}, [(path, expected capabilities)]); each expectation is also the server's
    "exact path beats a glob, even a deny glob": (
        {"a": 'path "secret/*" { capabilities = ["deny"] }\npath "secret/app" { capabilities = ["read"] }'},
        [("secret/app", {"read"}), ("secret/other", {"deny"})]),
    "glob is a prefix match, only at the end": (
        {"a": 'path "secret/foo*" { capabilities = ["read"] }'},
        [("secret/food", {"read"}), ("secret/foo/bar", {"read"}), ("secret/fo", {"deny"})]),
    "a * before the end is a literal character": (
        {"a": 'path "secret/*/x" { capabilities = ["read"] }'},
        [("secret/*/x", {"read"}), ("secret/a/x", {"deny"})]),
    "longest prefix wins, deny does not cross patterns": (
        {"a": 'path "secret/*" { capabilities = ["read", "list"] }\npath "secret/app/*" { capabilities = ["deny"] }'},
        [("secret/app/db", {"deny"}), ("secret/web/db", {"list", "read"})]),
    "plus matches exactly one segment": (
        {"a": 'path "secret/+/teamb" { capabilities = ["read"] }'},
        [("secret/x/teamb", {"read"}), ("secret/x/y/teamb", {"deny"}), ("secret/teamb", {"deny"})]),
    "a + inside a segment is literal": (
        {"a": 'path "secret/a+b/+" { capabilities = ["read"] }'},
        [("secret/a+b/c", {"read"}), ("secret/axb/c", {"deny"})]),
    "identical paths merge across policies; a deny among them makes it deny": (
        {"a": 'path "secret/app" { capabilities = ["read"] }', "b": 'path "secret/app" { capabilities = ["update"] }',
         "c": 'path "secret/db" { capabilities = ["read"] }', "d": 'path "secret/db" { capabilities = ["deny"] }'},
        [("secret/app", {"read", "update"}), ("secret/db", {"deny"})]),
    "later first wildcard wins": (
        {"a": 'path "secret/+/app/*" { capabilities = ["read"] }\n'
              'path "secret/team/+/*" { capabilities = ["update"] }'},
        [("secret/team/app/x", {"update"}), ("secret/other/app/x", {"read"})]),
    "a pattern not ending in * beats one that does": (
        {"a": 'path "secret/team/+" { capabilities = ["read"] }\npath "secret/team/*" { capabilities = ["update"] }'},
        [("secret/team/x", {"read"}), ("secret/team/x/y", {"update"})]),
    "fewer plus segments win": (
        {"a": 'path "secret/a/+/+" { capabilities = ["read"] }\npath "secret/a/b/+" { capabilities = ["update"] }'},
        [("secret/a/b/c", {"update"}), ("secret/a/x/c", {"read"})]),
    "LIST semantics: the exact rule without the trailing slash, then wildcards without it": (
        {"a": 'path "secret/x" { capabilities = ["list"] }\npath "secret/+" { capabilities = ["read"] }\n'
              'path "secret/y/*" { capabilities = ["update"] }'},
        [("secret/x/", {"list"}), ("secret/z/", {"read"}), ("secret/y/", {"update"}), ("secret/x//", {"deny"})]),
    "a rule with no capabilities still wins, and denies": (
        {"a": 'path "secret/x" { capabilities = [] }\npath "secret/*" { capabilities = ["read"] }'},
        [("secret/x", {"deny"}), ("secret/y", {"read"})]),
    "an expired path is gone": (
        {"a": 'path "secret/x" { capabilities = ["read"]\n expiration = "2001-01-01T00:00:00Z" }\n'
              'path "secret/y" { capabilities = ["read"]\n expiration = "2999-01-01T00:00:00Z" }'},
        [("secret/x", {"deny"}), ("secret/y", {"read"})]),
    "a templated path does not apply to a token without an entity": (
        {"a": 'path "secret/{{identity.entity.name}}" { capabilities = ["deny"] }\n'
              'path "secret/*" { capabilities = ["read"] }'},
        [("secret/alice", {"read"}), ("secret/{{identity.entity.name}}", {"read"})]),
    "nothing matches: deny": (
        {"a": 'path "secret/app" { capabilities = ["read"] }'},
        [("secret/app2", {"deny"}), ("sys/policy/x", {"deny"})]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_rule_matches_the_server(server: Bao, name: str) -> None:
    policies, expectations = CASES[name]
    prefix = "".join(c for c in name if c.isalnum())[:40]
    token, acl = _token(server, prefix, policies)
    truth = server.capabilities(token, [p for p, _ in expectations])
    for path, expected in expectations:
        assert set(acl.capabilities(path)) == expected, (path, "evaluator")
        assert truth[path] == expected, (path, "server")


# --- defect 2: policy names -----------------------------------------------------------------------------

def test_policy_names_are_looked_up_as_the_server_attaches_them(server: Bao) -> None:
    """Issue 11 item 2. The server trims and lower-cases names when it stores and when it attaches them;
    a deny in such a policy must be honoured. Failed before: documents keyed "rg2-team-a" were never
    found for "RG2-TEAM-A", so the read came back deny (and the deny was lost elsewhere)."""
    text = ('path "secret/data/rg2/*" { capabilities = ["read"] }\n'
            'path "secret/data/rg2/root" { capabilities = ["deny"] }')
    other = 'path "secret/data/rg2/root" { capabilities = ["read", "update"] }'
    assert server.policy(" RG2-TEAM-A ", text) == 204
    assert server.policy("rg2-Other", other) == 204
    requested = ["RG2-Team-A ", "rg2-team-a", "  RG2-OTHER"]
    token, attached = server.token(requested)
    assert sorted(attached) == sorted(attached_policies(requested)) == ["rg2-other", "rg2-team-a"]
    # documents as the scanner reads them (server names) and as a person typed them: both found
    for docs in ({"rg2-team-a": parse_policy(text, "a"), "rg2-other": parse_policy(other, "b")},
                 {" RG2-TEAM-A ": parse_policy(text, "a"), "rg2-Other": parse_policy(other, "b")}):
        acl = ACL.build(requested, docs)
        paths = ["secret/data/rg2/x", "secret/data/rg2/root"]
        truth = server.capabilities(token, paths)
        assert {p: acl.capabilities(p) for p in paths} == truth
        assert truth["secret/data/rg2/root"] == {"deny"} and truth["secret/data/rg2/x"] == {"read"}
        assert acl.allows("secret/data/rg2/root", "update").result is Tri.NO
        assert acl.allows("secret/data/rg2/x", "read").result is Tri.YES


def test_root_and_default_in_any_spelling(server: Bao) -> None:
    """`ROOT` with other policies attaches root alone; `Default` is `default`; empty names vanish."""
    token, attached = server.token(["Root", "rg2-other"])
    assert attached == ["root"] == list(attached_policies(["Root", "rg2-other"]))
    assert ACL.build(["Root", "rg2-other"], {}).capabilities("any/path") == {"root"}
    assert server.capabilities(token, ["any/path"])["any/path"] == {"root"}
    assert attached_policies([" Default", "", "  "]) == ("default",)
    assert attached_policies(["team"]) == ("team",) and not ACL.build(["team"], {}).root


def test_policy_name_is_lowered_like_go() -> None:
    assert policy_name("\u00a0 Team-A\t") == "team-a"
    assert policy_name("İSTANBUL") == "istanbul"  # Go maps U+0130 to "i"; Python's str.lower() to "i̇"
    assert policy_name("ΟΔΟΣ") == "οδοσ"  # per character: no final sigma, as Go
    assert policy_name("team-a") == "team-a"


# --- defect 3: a leading slash --------------------------------------------------------------------------

def test_leading_slash_is_stripped_and_merges(server: Bao) -> None:
    """Issue 11 item 3. `/secret/...` is `secret/...`: it matches, and merges with the same path written
    without the slash (a deny included). Failed before: "/secret/data/rg3/*" never matched, so the read it
    grants and the deny it holds were both missed. `//x` keeps one slash and matches nothing."""
    policies = {"a": 'path "/secret/data/rg3/*" { capabilities = ["read"] }\n'
                     'path "/secret/data/rg3/root" { capabilities = ["deny"] }\n'
                     'path "//secret/data/rg3/z" { capabilities = ["sudo"] }',
                "b": 'path "secret/data/rg3/*" { capabilities = ["update"] }\n'
                     'path "secret/data/rg3/root" { capabilities = ["read"] }'}
    token, acl = _token(server, "rg3", policies)
    paths = ["secret/data/rg3/x", "secret/data/rg3/root", "secret/data/rg3/z", "/secret/data/rg3/x"]
    truth = server.capabilities(token, paths)
    assert {p: acl.capabilities(p) for p in paths} == truth
    assert truth["secret/data/rg3/x"] == {"read", "update"} and truth["secret/data/rg3/root"] == {"deny"}
    assert truth["secret/data/rg3/z"] == {"read", "update"}  # the "//" rule is "/secret/...": never matched


# --- defect 4: parameter constraints per engine ---------------------------------------------------------

CONSTRAINT_CASES = [
    # (policy, engine, path, capability, what the server does: any | some | no)
    ('required_parameters = ["foo"]', "kv1", f"{KV1}/c1/s", "read", "some"),  # a read must send ?foo=
    ('allowed_parameters = { "value" = [] }', "kv1", f"{KV1}/c2/s", "read", "any"),  # reads send nothing
    ('allowed_parameters { "value" = ["a"] }', "kv1", f"{KV1}/c3/s", "update", "some"),
    ('denied_parameters { "*" = [] }', "kv1", f"{KV1}/c4/s", "update", "no"),  # KV v1 needs a field
    ('denied_parameters = { "*" = [] }', "kv1", f"{KV1}/c5/s", "read", "any"),
    ('allowed_parameters = { "*" = [], "foo" = [] }', "kv1", f"{KV1}/c6/s", "create", "any"),
    ('required_parameters = ["data"]', "kv2", f"{KV2}/data/c7/s", "read", "no"),  # an object in a query
    ('required_parameters = ["foo"]', "kv2", f"{KV2}/data/c8/s", "read", "some"),
    ('allowed_parameters = { "value" = [] }', "kv2", f"{KV2}/data/c9/s", "update", "no"),  # `data` refused
    ('denied_parameters = { "value" = [] }', "kv2", f"{KV2}/data/c10/s", "update", "any"),  # fields unlimited
    ('allowed_parameters { "data" = ["a"] }', "kv2", f"{KV2}/data/c11/s", "create", "no"),  # never a string
    ('allowed_parameters { "data" = [] }', "kv2", f"{KV2}/data/c12/s", "patch", "any"),
    ('required_parameters = ["custom_metadata"]', "kv2", f"{KV2}/metadata/c13/s", "read", "no"),
    ('required_parameters = ["foo"]', "kv2", f"{KV2}/metadata/c14/s", "read", "some"),
    ('allowed_parameters = { "common_name" = ["a"] }', "pki", f"{PKI}/issue/web", "update", "some"),
    ('denied_parameters = { "ttl" = [] }', "pki", f"{PKI}/issue/web", "update", "any"),
    ('denied_parameters = { "common_name" = [] }', "pki", f"{PKI}/issue/nocn", "update", "some"),
    ('required_parameters = ["foo"]\n denied_parameters = { "foo" = [] }', "pki", f"{PKI}/issue/web", "update", "no"),
    ('denied_parameters = { "foo" = ["**"] }\n required_parameters = ["foo"]', "kv1", f"{KV1}/c15/s", "update", "some"),
]


@pytest.mark.parametrize("constraint,engine,path,cap,expected", CONSTRAINT_CASES)
def test_parameter_constraints_per_engine(server: Bao, constraint: str, engine: str, path: str, cap: str,
                                          expected: str) -> None:
    """Issue 11 item 4, checked by real requests (every request of a space covering each class of name
    and value). Failed before: `allows` had no engine and called every constrained read unconditional."""
    text = f'path "{path}" {{\n capabilities = ["{cap}"]\n {constraint}\n}}'
    name = f"rg4-{abs(hash((constraint, path, cap))) % 10**8}"
    token, acl = _token(server, name, {"p": text})
    truth, statuses = ground_truth(server, token, probe_for(engine, path, cap, [text]))
    assert truth == expected, (statuses, "server")
    answer = acl.allows(path, cap, engine=engine, mount=path.split("/")[0] + "/")
    ok, conditional, sources = answer.granted, answer.conditional, answer.via
    assert ("no" if not ok else "some" if conditional else "any") == expected, sources
    if conditional:
        assert len(sources) > 1, "a conditional answer says why"


def test_sys_policy_writes_under_constraints(server: Bao) -> None:
    """A sys path: `sys/policies/acl/<name>` writes carry `policy`; reads under required_parameters must
    send them. Checked by real requests."""
    good = 'path "rg4/x" { capabilities = ["read"] }'
    quoted = good.replace('"', '\\"')
    policies = {"p": 'path "sys/policies/acl/rg4-target" { capabilities = ["read", "update", "create"]\n'
                     f'  allowed_parameters = {{ "policy" = ["{quoted}"] }}\n  required_parameters = ["policy"] }}',
                "q": 'path "sys/policies/acl/rg4-other" { capabilities = ["update", "create"]\n'
                     '  denied_parameters = { "policy" = [] } }'}
    token, acl = _token(server, "rg4sys", policies)
    assert server.call("PUT", "sys/policies/acl/rg4-target", token, body={"policy": good}).status_code == 204
    assert server.call("PUT", "sys/policies/acl/rg4-target", token,
                       body={"policy": 'path "*" { capabilities = ["sudo"] }'}).status_code == 403
    assert server.call("GET", "sys/policies/acl/rg4-target", token).status_code == 403
    assert server.call("GET", "sys/policies/acl/rg4-target", token, params={"policy": good}).status_code == 200
    assert server.call("PUT", "sys/policies/acl/rg4-other", token, body={"policy": good}).status_code == 403
    assert acl.allows("sys/policies/acl/rg4-target", "update", engine="system").result is Tri.MAYBE
    assert acl.allows("sys/policies/acl/rg4-target", "read", engine="system").result is Tri.MAYBE
    assert acl.allows("sys/policies/acl/rg4-other", "update", engine="system").result is Tri.NO


def test_list_and_delete_ignore_parameter_constraints(server: Bao) -> None:
    """Constraints apply to read/create/update/patch only: LIST and DELETE pass without the required
    parameter and with every parameter denied (real requests)."""
    text = (f'path "{KV1}/rg4ld/*" {{ capabilities = ["list", "delete", "read"]\n'
            '  required_parameters = ["foo"]\n  denied_parameters = { "*" = [] } }')
    token, acl = _token(server, "rg4ld", {"p": text})
    server.call("POST", f"{KV1}/rg4ld/x", body={"value": CANARY})
    assert server.call("LIST", f"{KV1}/rg4ld/", token).status_code == 200
    assert server.call("GET", f"{KV1}/rg4ld/x", token).status_code == 403
    assert server.call("DELETE", f"{KV1}/rg4ld/x", token).status_code == 204
    assert acl.allows(f"{KV1}/rg4ld/", "list", engine="kv1").result is Tri.YES
    assert acl.allows(f"{KV1}/rg4ld/x", "delete", engine="kv1").result is Tri.YES
    assert acl.allows(f"{KV1}/rg4ld/x", "read", engine="kv1").result is Tri.NO  # foo required, every parameter denied


def test_constraints_without_an_engine_stay_conditional() -> None:
    """No engine: a constrained read that must send parameters, or any constrained write, is conditional;
    never an unconditional yes. Reads that need nothing stay unconditional."""
    acl = ACL.build(["c"], {"c": parse_policy(
        'path "x/req" { capabilities = ["read", "update"]\n required_parameters = ["foo"] }\n'
        'path "x/allow" { capabilities = ["read", "update"]\n allowed_parameters = { "foo" = [] } }\n'
        'path "x/never" { capabilities = ["update"]\n required_parameters = ["foo"]\n'
        ' denied_parameters = { "*" = [] } }', "c")})
    assert acl.allows("x/req", "read").result is Tri.MAYBE
    assert acl.allows("x/allow", "read").result is Tri.YES
    assert acl.allows("x/allow", "update").result is Tri.MAYBE
    assert acl.allows("x/never", "update").result is Tri.NO
    assert acl.allows("x/req", "list").result is Tri.NO  # not granted at all
    assert acl.allows("x/allow", "update", "read").result is Tri.YES  # the strongest answer of the two


def test_engine_semantics_pure() -> None:
    """What `engine` changes, one positive and one negative case each (the server-backed cases above
    prove the same for KV and PKI)."""
    def allows(hcl: str, path: str, cap: str, engine: str, mount: str = "") -> tuple[bool, bool]:
        acl = ACL.build(["p"], {"p": parse_policy(f'path "{path}" {{ capabilities = ["{cap}"]\n {hcl} }}', "p")})
        answer = acl.allows(path, cap, engine=engine, mount=mount)
        return answer.granted, answer.conditional

    deny_all = 'denied_parameters = { "*" = [] }'
    assert allows(deny_all, "auth/token/create", "update", "token") == (True, False)  # sends nothing
    assert allows(deny_all, "auth/approle/role/r/secret-id", "update", "approle") == (True, False)
    assert allows(deny_all, "auth/approle/role/r", "update", "approle") == (True, True)  # not modelled
    assert allows(deny_all, "kv/a", "update", "kv1") == (False, False)
    assert allows(deny_all, "kv/a", "update", "") == (True, True)  # unknown engine: conservative
    assert allows('allowed_parameters = { "value" = [] }', "secret/data/a", "update", "kv2") == (False, False)
    assert allows('allowed_parameters = { "value" = [] }', "secret/metadata/a", "update", "kv2") == (True, True)
    assert allows('denied_parameters = { "versions" = [] }', "secret/destroy/a", "update", "kv2") == (False, False)
    # the mount pins where the API starts: this secret is literally called data/...
    assert allows('allowed_parameters = { "data" = [] }', "team/data/data/x", "update", "kv2",
                  "team/data/") == (True, False)
    assert allows('allowed_parameters = { "value" = [] }', "pki/issuer/i1/issue/web", "update", "pki") == (True, True)
    assert allows('denied_parameters = { "csr" = [] }', "pki/sign/web", "update", "pki") == (False, False)
    assert allows('denied_parameters = { "policy" = [] }', "sys/policy/x", "update",
                  "system") == (True, False)  # rules=
    assert allows('denied_parameters = { "policy" = [] }', "sys/policies/acl/x", "update", "system") == (False, False)


# --- defect 6: every form the server accepts -------------------------------------------------------------

FORMS = {
    "map": 'path "s/x" { capabilities = ["read"]\n allowed_parameters = { "value" = [] } }',
    "block_quoted": 'path "s/x" { capabilities = ["read"]\n allowed_parameters { "value" = [] } }',
    "block_ident": 'path "s/x" { capabilities = ["read"]\n allowed_parameters { value = [] } }',
    "block_star": 'path "s/x" { capabilities = ["read"]\n denied_parameters { "*" = [] } }',
    "block_two_keys": 'path "s/x" { capabilities = ["read"]\n allowed_parameters { "a" = ["x"]\n "b" = [] } }',
    "block_repeated": 'path "s/x" { capabilities = ["read"]\n allowed_parameters { "a" = ["x"] }\n'
                      ' allowed_parameters { "b" = [] } }',
    "labelled_block": 'path "s/x" { capabilities = ["read"]\n allowed_parameters "value" { } }',
    "map_colon": 'path "s/x" { capabilities = ["read"]\n allowed_parameters = { "value": [] } }',
    "nested_label_assign": 'path "s/x" { capabilities = ["read"]\n allowed_parameters { a "b" = [] } }',
    "params_as_list": 'path "s/x" { capabilities = ["read"]\n allowed_parameters = ["a"] }',
    "param_value_not_list": 'path "s/x" { capabilities = ["read"]\n allowed_parameters = { "a" = "x" } }',
    "values_mixed": 'path "s/x" { capabilities = ["read"]\n allowed_parameters = { "a" = [true, 1, 1.5, {}, ["x"]] } }',
    "required_string": 'path "s/x" { capabilities = ["read"]\n required_parameters = "a" }',
    "required_number": 'path "s/x" { capabilities = ["read"]\n required_parameters = [1] }',
    "required_float": 'path "s/x" { capabilities = ["read"]\n required_parameters = [1.5] }',
    "path_assign": 'path "s/x" = { capabilities = ["read"] }',
    "path_object": 'path = { "s/x" = { capabilities = ["read"] } }',
    "path_no_label": 'path { capabilities = ["read"] }',
    "path_two_labels": 'path "s/x" "y" { capabilities = ["read"] }',
    "path_identifier": 'path s-x.y { capabilities = ["read"] }',
    "path_heredoc": 'path <<EOT\ns/x\nEOT\n{ capabilities = ["read"] }',
    "two_blocks_same": 'path "s/x" { capabilities = ["read"] }\npath "s/x" { capabilities = ["update"] }',
    "capabilities_twice": 'path "s/x" { capabilities = ["read"]\n capabilities = ["update"] }',
    "commas": 'path "s/x" { capabilities = [,"read",,"update",] },\n'
              'path "s/y" { capabilities = ["read"], comment = "c" }',
    "no_comma_in_list": 'path "s/x" { capabilities = ["read" "update"] }',
    "comments": '# c\n// d\n/* e */ path "s/x" { capabilities = ["read"] }',
    "crlf": 'path "s/x" {\r\n capabilities = ["read"]\r\n}',
    "legacy_and_caps": 'path "s/x" { capabilities = ["read"], policy = "write" }',
    "legacy_deny": 'path "s/x" { capabilities = ["read"]\n policy = "deny" }',
    "legacy_bad": 'path "s/x" { policy = "admin" }',
    "deny_first": 'path "s/x" { capabilities = ["deny", "fly"] }',
    "deny_last": 'path "s/x" { capabilities = ["fly", "deny"] }',
    "scan": 'path "s/x" { capabilities = ["scan", "list"] }',
    "root_capability": 'path "s/x" { capabilities = ["root"] }',
    "upper_capability": 'path "s/x" { capabilities = ["READ"] }',
    "capabilities_string": 'path "s/x" { capabilities = "read" }',
    "capability_number": 'path "s/x" { capabilities = [1] }',
    "capability_bool": 'path "s/x" { capabilities = [true] }',
    "key_case": 'path "s/x" { Capabilities = ["read"] }',
    "top_key_case": 'PATH "s/x" { capabilities = ["read"] }',
    "unknown_key": 'path "s/x" { capabilities = ["read"]\n foo = 1 }',
    "unknown_top": 'foo = 1\npath "s/x" { capabilities = ["read"] }',
    "name_string": 'name = "foo"\npath "s/x" { capabilities = ["read"] }',
    "name_number": 'name = 5\npath "s/x" { capabilities = ["read"] }',
    "name_list": 'name = ["a"]\npath "s/x" { capabilities = ["read"] }',
    "plus_star": 'path "s/+*" { capabilities = ["read"] }',
    "unbalanced_template": 'path "s/{{identity.entity.name" { capabilities = ["read"] }',
    "escapes": 'path "s/\\u0078" { capabilities = ["read"] }\npath "s/a\\nb" { capabilities = ["update"] }',
    "bad_escape": 'path "s/\\q" { capabilities = ["read"] }',
    "interpolation": 'path "s/${"x"}" { capabilities = ["read"] }',
    "newline_in_string": 'path "s/x\ny" { capabilities = ["read"] }',
    "single_quotes": "path 's/x' { capabilities = ['read'] }",
    "semicolon": 'path "s/x" { capabilities = ["read"]; }',
    "heredoc_comment": 'path "s/x" { capabilities = ["read"]\n comment = <<-EOT\n   hi\n   EOT\n}',
    "wrapping": 'path "s/x" { capabilities = ["read"]\n min_wrapping_ttl = "1s"\n max_wrapping_ttl = 90 }',
    "wrapping_inverted": 'path "s/x" { capabilities = ["read"]\n min_wrapping_ttl = "10s"\n max_wrapping_ttl = "5s" }',
    "wrapping_bad": 'path "s/x" { capabilities = ["read"]\n max_wrapping_ttl = "abc" }',
    "pagination": 'path "s/x" { capabilities = ["read", "list"]\n pagination_limit = 0x10 }',
    "pagination_float": 'path "s/x" { capabilities = ["read"]\n pagination_limit = 5.5 }',
    "filter_without_list": 'path "s/x" { capabilities = ["read"]\n list_scan_response_keys_filter_path = "{{.key}}" }',
    "expiration_unix": 'path "s/x" { capabilities = ["read"]\n expiration = 4102444800 }',
    "expiration_bad": 'path "s/x" { capabilities = ["read"]\n expiration = "2099-01-01" }',
    "control_group_no_factor": 'path "s/x" { capabilities = ["read"]\n control_group = { ttl = "4h" } }',
    "control_group": 'path "s/x" { capabilities = ["read"]\n control_group "l" { factor "a" {\n'
                     ' controlled_capabilities = ["read"]\n identity { group_names = ["g"]\n approvals = "2" } } } }',
    "control_group_no_approvals": 'path "s/x" { capabilities = ["read"]\n control_group { factor "a" {\n'
                                  ' controlled_capabilities = ["read"]\n identity { group_names = ["g"] } } } }',
    "mfa_methods": 'path "s/x" { capabilities = ["read"]\n mfa_methods = ["m"] }',
    "expired_not_checked": 'path "s/+*" { capabilities = ["fly"]\n expiration = "2001-01-01T00:00:00Z" }',
    "expired_still_decoded": 'path "s/x" { capabilities = ["read"]\n expiration = "2001-01-01T00:00:00Z"\n'
                             ' pagination_limit = "x" }',
    "deny_still_decoded": 'path "s/x" { capabilities = ["deny"]\n allowed_parameters = ["a"] }',
    "deny_not_checked": 'path "s/x" { capabilities = ["deny"]\n max_wrapping_ttl = "abc" }',
    "legacy_deny_hides_bad_capability": 'path "s/x" { capabilities = ["fly"]\n policy = "deny" }',
    "no_body": 'path "s/y" { capabilities = ["read"] }\npath "s/x"',
    "unclosed": 'path "s/x" { capabilities = ["read"]',
    "empty_value": 'path "s/x" { capabilities = }',
    "stray_brace": 'path "s/x" { capabilities = ["read"] }\n{}',
    "json": '{"path": {"s/x": {"capabilities": ["read"], "allowed_parameters": {"value": []}}}}',
    "json_list": '{"path": [{"s/x": {"capabilities": ["read"]}}, {"s/y": {"capabilities": ["update"]}}]}',
    "json_lenient": '{"path": {"s/x": {"capabilities": [,"read",, "update",] "comment": "c"},}} trailing',
    "json_bool_in_list": '{"path": {"s/x": {"capabilities": ["read", true]}}}',
    "json_duplicate_keys": '{"path": {"s/x": {"capabilities": ["read"]}, "s/x": {"capabilities": ["update"]}}}',
    "json_only_parameters": '{"path": {"s/x": {"allowed_parameters": {"a": {}}}}}',
    "json_null": '{"path": {"s/x": {"capabilities": null}}}',
    "json_null_in_list": '{"path": {"s/x": {"capabilities": [null, "read"]}}}',
    "json_double_comma_in_object": '{"path": {"s/x": {"capabilities": ["read"],, "comment": "x"}}}',
    "json_comment": '{"path": {"s/x": {"capabilities": ["read"]}} // hi\n}',
    "json_leading_zero": '{"path": {"s/x": {"capabilities": ["read"], "pagination_limit": 010}}}',
    "json_top_list": '[]',
}
PROBE_PATHS = ["s/x", "s/y", "s/x/", "path", "s-x.y", "s/a\nb", "s/${\"x\"}", "s/*"]


@pytest.mark.parametrize("label", list(FORMS))
def test_policy_forms_are_read_like_the_server(server: Bao, label: str) -> None:
    """Issue 11 item 6, as a class: parse_policy accepts exactly the texts the server accepts, and reads
    each to the same capabilities. Failed before: the HCL1 block forms (`allowed_parameters { "value" = []
    }`) raised PolicyError and the policy was dropped; several forms the server refuses were accepted."""
    text = FORMS[label]
    name = f"rg6-{label.replace('_', '-')}"
    accepted = server.policy(name, text) == 204
    try:
        docs = {name: parse_policy(text, name)}
    except PolicyError:
        assert not accepted, "the server accepts this policy"
        return
    assert accepted, "the server refuses this policy"
    token, _ = server.token([name])
    truth = server.capabilities(token, PROBE_PATHS)
    acl = ACL.build([name], docs)
    assert {p: acl.capabilities(p) for p in PROBE_PATHS} == truth


def test_block_form_constraints_are_enforced(server: Bao) -> None:
    """Issue 11 item 6: the block form is enforced like the map form (real requests), and the evaluator
    reads it. Failed before: PolicyError, so the policy (and its write grant) was missing."""
    text = (f'path "{KV1}/rg6/*" {{ capabilities = ["create", "update", "read"]\n'
            '  allowed_parameters { "value" = ["a*"] } }')
    token, acl = _token(server, "rg6block", {"p": text})
    assert server.call("POST", f"{KV1}/rg6/x", token, body={"value": "ab"}).status_code == 204
    assert server.call("POST", f"{KV1}/rg6/x", token, body={"value": "zz"}).status_code == 403
    assert server.call("POST", f"{KV1}/rg6/x", token, body={"other": "ab"}).status_code == 403
    answer = acl.allows(f"{KV1}/rg6/x", "update", engine="kv1")
    ok, conditional, sources = answer.granted, answer.conditional, answer.via
    assert ok and conditional and any("only the fields" in s for s in sources)
    assert dict(parse_policy(text, "p")[0].allowed or ()) == {"value": ("a*",)}


def test_vault_only_capabilities_are_accepted(server: Bao) -> None:
    """A deliberate difference: OpenBao refuses `subscribe` and `recover`, Vault accepts them; a policy
    read from a Vault server was accepted there, so the parser keeps it rather than dropping it."""
    text = 'path "s/x" { capabilities = ["subscribe", "recover"] }'
    assert server.policy("rg6-vault-only", text) != 204
    assert parse_policy(text, "v")[0].capabilities == {"subscribe", "recover"}
    assert {"subscribe", "recover", "scan"} <= CAPABILITIES


# --- pure cases ------------------------------------------------------------------------------------------

def test_templated_paths_are_conditional_both_ways() -> None:
    """A templated rule applies only to a caller whose entity fills it: a grant it gives and a deny it
    imposes are both conditional; paths it cannot match are decided as usual."""
    acl = ACL.build(["t"], {"t": parse_policy(
        'path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }\n'
        'path "secret/data/shared/{{identity.entity.name}}" { capabilities = ["deny"] }\n'
        'path "secret/data/shared/*" { capabilities = ["read"] }', "t")})
    answer = acl.allows("secret/data/alice/db", "read")
    ok, conditional, sources = answer.granted, answer.conditional, answer.via
    assert ok and conditional and any("caller's identity" in s for s in sources)
    answer = acl.allows("secret/data/shared/alice", "read")  # read unless the caller is alice
    ok, conditional = answer.granted, answer.conditional
    assert ok and conditional
    assert acl.allows("secret/data/shared/a/b", "read").result is Tri.YES  # no template can match
    assert acl.allows("secret/metadata/alice/db", "read").result is Tri.NO
    assert acl.capability_cases("secret/data/shared/alice") == {frozenset({"read"}), frozenset({"deny"})}
    assert acl.capabilities("secret/data/shared/alice") == {"read"}  # sys/capabilities without an entity


def test_deny_and_default_deny() -> None:
    assert ACL.build(["root"], {}).allows("anything/at/all", "update").granted
    assert not ACL.build([], {}).allows("secret/x", "read").granted
    acl = ACL.build(["a", "b"], {"a": parse_policy('path "s/x" { capabilities = ["read"] }', "a"),
                                 "b": parse_policy('path "s/x" { capabilities = ["deny"] }', "b")})
    answer = acl.allows("s/x", "read")
    ok, _, sources = answer.granted, answer.conditional, answer.via
    assert not ok and "denied" in sources


def test_wrapping_expiration_and_enterprise_gates() -> None:
    future = 'expiration = "2999-01-01T00:00:00Z"'
    acl = ACL.build(["p"], {"p": parse_policy(
        'path "a" { capabilities = ["read"]\n min_wrapping_ttl = "1s" }\n'
        f'path "b" {{ capabilities = ["read"]\n {future} }}\n'
        'path "c" { capabilities = ["read"]\n control_group { factor "ops" { controlled_capabilities = ["read"]\n'
        '  identity { group_names = ["ops"]\n approvals = 1 } } } }\n'
        'path "d" { capabilities = ["read"] }', "p")})
    answer = acl.allows("a", "read")
    ok, conditional, sources = answer.granted, answer.conditional, answer.via
    assert ok and not conditional and any("response-wrapped" in s for s in sources)
    answer = acl.allows("b", "read")
    ok, conditional, sources = answer.granted, answer.conditional, answer.via
    assert ok and not conditional and any("until 2999" in s for s in sources)
    answer = acl.allows("c", "read")
    ok, conditional, sources = answer.granted, answer.conditional, answer.via
    assert ok and conditional and any("control-group approval" in s for s in sources)
    assert acl.allows("d", "read") == Decision(Tri.YES, ('policy p path "d"',))
    later = ACL.build(["p"], {"p": parse_policy(f'path "b" {{ capabilities = ["read"]\n {future} }}', "p")},
                      now=datetime(3000, 1, 1, tzinfo=UTC))
    assert later.capabilities("b") == {"deny"}


def test_merged_constraints_follow_the_server() -> None:
    """Identical paths merge constraints: an unconstrained stanza does not lift another's constraint, an
    empty value list wins, required parameters add up; a deny drops them."""
    docs = {"c": parse_policy('path "kv/x" { capabilities = ["update"]\n allowed_parameters = { "a" = ["1"] } }', "c"),
            "d": parse_policy('path "kv/x" { capabilities = ["read"]\n allowed_parameters = { "a" = [] }\n'
                              ' required_parameters = ["b"] }', "d"),
            "p": parse_policy('path "kv/x" { capabilities = ["update"] }', "p")}
    merged = ACL.build(["c", "p"], docs).decide("kv/x")
    assert merged is not None and dict(merged.allowed or ()) == {"a": ("1",)}
    merged = ACL.build(["c", "d"], docs).decide("kv/x")
    assert merged is not None and dict(merged.allowed or ()) == {"a": ()} and merged.required == ("b",)
    # the merged rule requires b but allows only a: no read can pass
    answer = ACL.build(["c", "d"], docs).allows("kv/x", "read", engine="kv1")
    ok, _, sources = answer.granted, answer.conditional, answer.via
    assert not ok and any("'b'" in s for s in sources)


def test_stanzas_are_what_the_server_stores() -> None:
    [s] = parse_policy('{"path": {"/secret/x*": {"capabilities": ["read"], "required_parameters": ["A"]}}}', "json")
    assert s == Stanza(path="secret/x*", written="/secret/x*", capabilities=frozenset({"read"}), required=("A",))
    assert s.constrained and not parse_policy('path "y" { capabilities = ["read"] }', "p")[0].constrained
    with pytest.raises(PolicyError, match="policy bad"):
        parse_policy('path "secret/+*" { capabilities = ["read"] }', "bad")
    with pytest.raises(PolicyError):
        parse_policy('path "secret/x" { capabilities = ["fly"] }', "bad")
    # refused on purpose although the server takes it: its JSON reader mis-nests a list in a list
    with pytest.raises(PolicyError, match="list inside a list"):
        parse_policy('{"path": {"s/x": {"capabilities": [["read"]]}}}', "nested")
    assert CANARY not in repr(parse_policy('path "y" { capabilities = ["read"] }', "p"))
