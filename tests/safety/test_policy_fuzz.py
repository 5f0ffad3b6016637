"""Random policy documents never crash a parser (issue 12, "Also prove"): the AWS and Vault policy parsers
raise only PolicyError, which the connectors record as a gap on that policy while the scan goes on.
Fixed seeds: the same documents every run."""

from __future__ import annotations

import contextlib
import json

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from commonmode_aws import policy as aws_policy
from commonmode_vault import acl as vault_acl

SETTINGS = settings(max_examples=400, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=20)
keys = st.sampled_from(["Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal",
                        "Condition", "Sid", "Statement", "Version"])
statement = st.dictionaries(keys, json_values | st.sampled_from(["Allow", "Deny", "*", "route53:*"]), max_size=6)
aws_documents = (st.fixed_dictionaries({"Statement": st.lists(statement, max_size=4) | statement | json_values})
                 | json_values)


@seed(20261201)
@SETTINGS
@given(aws_documents)
def test_aws_parser_raises_only_policy_error(doc):
    for form in (doc, json.dumps(doc)):
        try:
            statements = aws_policy.parse_policy(form, "fuzz")
        except aws_policy.PolicyError:
            continue
        p = aws_policy.Principal(arn="arn:aws:iam::111111111111:user/u", account="111111111111", kind="user",
                                 policies=statements)
        req = aws_policy.request(p, "route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z1")
        aws_policy.evaluate(p, req, statements)  # evaluating what parsed never raises either


@seed(20261201)
@SETTINGS
@given(st.text(max_size=200))
def test_aws_parser_on_arbitrary_text(text):
    with contextlib.suppress(aws_policy.PolicyError):  # refusing is fine; any other exception fails the test
        aws_policy.parse_policy(text, "fuzz")


hcl_atoms = st.sampled_from(['path', '"secret/*"', '"/secret/data/x"', '{', '}', '[', ']', '=', 'capabilities',
                             '"read"', '"deny"', '"fly"', 'allowed_parameters', '"k"', '[]', ',', '\n', '"+"',
                             'policy', '"write"', '#', '"*"', '{{identity.entity.id}}', 'required_parameters'])
hcl_text = st.lists(hcl_atoms, max_size=30).map(" ".join)
vault_json = st.fixed_dictionaries({"path": st.dictionaries(st.text(max_size=15), json_values, max_size=3)
                                    | json_values}) | json_values


@seed(20261201)
@SETTINGS
@given(hcl_text | st.text(max_size=200) | vault_json.map(json.dumps))
def test_vault_parser_raises_only_policy_error(text):
    try:
        stanzas = vault_acl.parse_policy(text, "fuzz")
    except vault_acl.PolicyError:
        return
    acl = vault_acl.ACL.build(["fuzz"], {"fuzz": stanzas})
    for path in ("secret/data/x", "secret/", "sys/policies/acl/a", ""):
        acl.capabilities(path)
        for engine in ("kv1", "kv2", "pki", ""):
            acl.allows(path, "read", "update", engine=engine)
