"""AWS evaluation rules, one positive and one negative case each (IAM User Guide, "Policy evaluation logic",
"Condition operators", "Resource"; shared/DOMAIN.md §2.1). Pure: no SDK, no server."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse

import pytest

from commonmode_aws import policy as P
from commonmode_aws.policy import Tri

A, B = "111111111111", "222222222222"
ZONE = "arn:aws:route53:::hostedzone/Z1"
ZONE2 = "arn:aws:route53:::hostedzone/Z2"
SECRET = f"arn:aws:secretsmanager:us-east-1:{A}:secret:db-AbCdEf"
ROLE = f"arn:aws:iam::{A}:role/target"


def pol(*statements: dict, name: str = "p") -> tuple[P.Statement, ...]:
    return P.parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, name)


def allow(action, resource="*", **extra) -> dict:  # type: ignore[no-untyped-def]
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:  # type: ignore[no-untyped-def]
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def who(*statements: dict, kind: str = "role", account: str = A, boundary=None, scps=None, name="caller"):  # type: ignore[no-untyped-def]
    return P.Principal(arn=f"arn:aws:iam::{account}:{kind}/{name}", account=account, kind=kind,
                       policies=pol(*statements), boundary=boundary, scp_levels=scps)


def can(p: P.Principal, action: str, resource: str, rp=(), **kw) -> Tri:  # type: ignore[no-untyped-def]
    return P.evaluate(p, P.request(p, action, resource, **kw), rp).result


# --- defaults, deny, actions, resources -----------------------------------------------------------


def test_default_deny():
    assert can(who(), "route53:ChangeResourceRecordSets", ZONE) is Tri.NO
    assert can(who(allow("route53:ChangeResourceRecordSets", ZONE)), "route53:ChangeResourceRecordSets", ZONE) is Tri.YES


def test_explicit_deny_wins_only_where_it_applies():
    p = who(allow("route53:*"), deny("route53:ChangeResourceRecordSets", ZONE2))
    assert can(p, "route53:ChangeResourceRecordSets", ZONE2) is Tri.NO
    assert can(p, "route53:ChangeResourceRecordSets", ZONE) is Tri.YES


def test_unsettled_deny_does_not_remove_access_and_says_so():
    p = who(allow("route53:*"), deny("route53:*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}}))
    acc = P.evaluate(p, P.request(p, "route53:ChangeResourceRecordSets", ZONE))
    assert acc.result is Tri.YES
    assert any("cannot settle" in v for v in acc.via)
    settled = who(allow("route53:*"), deny("route53:*", Condition={"StringEquals": {"aws:PrincipalAccount": A}}))
    assert can(settled, "route53:ChangeResourceRecordSets", ZONE) is Tri.NO


def test_action_wildcards_are_case_insensitive():
    assert can(who(allow("Route53:change*")), "route53:ChangeResourceRecordSets", ZONE) is Tri.YES
    assert can(who(allow("route53:Change?esourceRecordSets")), "route53:ChangeResourceRecordSets", ZONE) is Tri.YES
    assert can(who(allow("route53domains:*")), "route53:ChangeResourceRecordSets", ZONE) is Tri.NO


def test_not_action_allows_everything_else():
    p = who({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"})
    assert can(p, "route53:ChangeResourceRecordSets", ZONE) is Tri.YES
    assert can(p, "iam:PutRolePolicy", ROLE) is Tri.NO


def test_resource_wildcards_are_case_sensitive():
    assert can(who(allow("route53:*", "arn:aws:route53:::hostedzone/Z*")), "route53:DeleteHostedZone", ZONE) is Tri.YES
    assert can(who(allow("route53:*", "arn:aws:route53:::hostedzone/z*")), "route53:DeleteHostedZone", ZONE) is Tri.NO


def test_not_resource():
    p = who({"Effect": "Allow", "Action": "route53:*", "NotResource": ZONE2})
    assert can(p, "route53:ChangeResourceRecordSets", ZONE) is Tri.YES
    assert can(p, "route53:ChangeResourceRecordSets", ZONE2) is Tri.NO


def test_service_segment_cannot_be_wildcarded():
    assert can(who(allow("route53:*", "arn:aws:route*:::hostedzone/Z1")), "route53:DeleteHostedZone", ZONE) is Tri.NO
    assert can(who(allow("route53:*", "arn:aws:route53:::*")), "route53:DeleteHostedZone", ZONE) is Tri.YES


def test_policy_variable_in_resource_is_conditional():
    p = who(allow("route53:*", "arn:aws:route53:::hostedzone/${aws:PrincipalTag/zone}"))
    assert can(p, "route53:DeleteHostedZone", ZONE) is Tri.MAYBE


def test_url_encoded_documents_parse():
    text = urllib.parse.quote(json.dumps({"Statement": [allow("route53:*")]}))
    assert P.parse_policy(text, "x")[0].actions == ("route53:*",)
    with pytest.raises(P.PolicyError):
        P.parse_policy({"Statement": [{"Effect": "Maybe"}]}, "bad")


# --- guardrails ---------------------------------------------------------------------------------------


def test_permissions_boundary_caps_identity_policies():
    boundary = pol(allow("route53:ChangeResourceRecordSets", ZONE), name="boundary")
    p = who(allow("*"), boundary=boundary)
    assert can(p, "route53:ChangeResourceRecordSets", ZONE) is Tri.YES
    assert can(p, "route53:ChangeResourceRecordSets", ZONE2) is Tri.NO
    assert can(p, "secretsmanager:GetSecretValue", SECRET) is Tri.NO


def test_every_scp_level_must_allow_and_a_level_is_a_union():
    root = pol(allow("*"), name="FullAWSAccess")
    ou = pol(allow("route53:*"), name="dns-only") + pol(allow("secretsmanager:Describe*"), name="describe")
    p = who(allow("*"), scps=(root, ou))
    assert can(p, "route53:ChangeResourceRecordSets", ZONE) is Tri.YES
    assert can(p, "secretsmanager:GetSecretValue", SECRET) is Tri.NO


def test_scp_deny_wins_and_management_account_is_exempt():
    scps = (pol(allow("*"), deny("route53:ChangeResourceRecordSets"), name="no-dns"),)
    assert can(who(allow("*"), scps=scps), "route53:ChangeResourceRecordSets", ZONE) is Tri.NO
    assert can(who(allow("*"), scps=None), "route53:ChangeResourceRecordSets", ZONE) is Tri.YES


# --- resource policies ------------------------------------------------------------------------------


def rp(principal: str) -> tuple[P.Statement, ...]:
    return pol({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "secretsmanager:GetSecretValue",
                "Resource": "*"}, name="secret policy")


# --- resource control policies (the resource account's guardrail) ------------------------------------

RCP_FULL = pol({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}, name="RCPFullAWSAccess")
ORG = "o-acme1234"
PERIMETER = pol({"Effect": "Deny", "Principal": "*", "Action": ["secretsmanager:*", "sts:AssumeRole"], "Resource": "*",
                 "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG},
                               "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}}, name="org-perimeter")


def rcp_can(p: P.Principal, action: str, resource: str, levels) -> P.Access:  # type: ignore[no-untyped-def]
    return P.evaluate(p, P.request(p, action, resource, resource_account=A), rcp_levels=levels)


def test_rcp_deny_wins_on_the_services_rcps_cover_and_only_there():
    levels = (RCP_FULL + pol(deny("secretsmanager:GetSecretValue", Principal="*"), name="no-reads"), RCP_FULL)
    p = who(allow("*"))
    assert rcp_can(p, "secretsmanager:GetSecretValue", SECRET, levels).result is Tri.NO
    assert rcp_can(p, "secretsmanager:GetSecretValue", SECRET, (RCP_FULL, RCP_FULL)).result is Tri.YES
    # Route 53 is not a service RCPs cover: the same deny-everything RCP leaves record changes alone
    everything = (pol({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}, name="nothing"),)
    assert rcp_can(p, "route53:ChangeResourceRecordSets", ZONE, everything).result is Tri.YES
    assert rcp_can(p, "secretsmanager:GetSecretValue", SECRET, everything).result is Tri.NO


def test_every_rcp_level_must_allow():
    assert rcp_can(who(allow("*")), "secretsmanager:GetSecretValue", SECRET, (RCP_FULL, ())).result is Tri.NO
    assert rcp_can(who(allow("*")), "secretsmanager:GetSecretValue", SECRET, (RCP_FULL, RCP_FULL)).result is Tri.YES


def test_rcps_do_not_apply_in_the_management_account_or_to_service_linked_roles():
    nothing = (pol({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}, name="nothing"),)
    assert rcp_can(who(allow("*")), "secretsmanager:GetSecretValue", SECRET, None).result is Tri.YES
    linked = dataclasses.replace(who(allow("*")), service_linked=True)
    assert rcp_can(linked, "secretsmanager:GetSecretValue", SECRET, nothing).result is Tri.YES
    assert rcp_can(who(allow("*")), "secretsmanager:GetSecretValue", SECRET, nothing).result is Tri.NO


def test_org_perimeter_rcp_is_settled_by_the_principals_organization():
    levels = (RCP_FULL + PERIMETER,)
    inside = dataclasses.replace(who(allow("*")), org_id=ORG)
    outside = dataclasses.replace(who(allow("*")), org_id="o-other")
    assert rcp_can(inside, "secretsmanager:GetSecretValue", SECRET, levels).result is Tri.YES
    assert rcp_can(outside, "secretsmanager:GetSecretValue", SECRET, levels).result is Tri.NO
    # organization unknown (not readable): the Deny rests on a condition the scanner cannot settle
    unknown = rcp_can(who(allow("*")), "secretsmanager:GetSecretValue", SECRET, levels)
    assert unknown.result is Tri.YES and any("cannot settle" in v and "org-perimeter" in v for v in unknown.via)


def test_rcps_of_the_role_account_cap_assume_role():
    levels = (RCP_FULL + PERIMETER,)
    trust = pol({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"}, "Action": "sts:AssumeRole"})
    inside = dataclasses.replace(who(allow("sts:AssumeRole"), account=B), org_id=ORG)
    outside = dataclasses.replace(who(allow("sts:AssumeRole"), account=B), org_id="o-other")
    assert P.can_assume(inside, ROLE, A, trust, rcp_levels=levels).result is Tri.YES
    assert P.can_assume(outside, ROLE, A, trust, rcp_levels=levels).result is Tri.NO
    assert P.can_assume(outside, ROLE, A, trust, rcp_levels=None).result is Tri.YES
    # a same-account trust naming the principal is still capped by the account's RCPs
    named = pol({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:role/caller"}, "Action": "sts:AssumeRole"})
    local = dataclasses.replace(who(), org_id="o-other")
    assert P.can_assume(local, ROLE, A, named, rcp_levels=None).result is Tri.YES
    assert P.can_assume(local, ROLE, A, named, rcp_levels=levels).result is Tri.NO


def test_resource_policy_naming_the_user_grants_without_identity_allow():
    user = who(kind="user")
    assert can(user, "secretsmanager:GetSecretValue", SECRET, rp(user.arn)) is Tri.YES
    assert can(user, "secretsmanager:GetSecretValue", SECRET, rp(f"arn:aws:iam::{A}:root")) is Tri.NO


def test_resource_policy_naming_a_role_is_still_capped_by_its_boundary():
    boundary = pol(allow("route53:*"), name="boundary")
    role = who(kind="role", boundary=boundary)
    assert can(role, "secretsmanager:GetSecretValue", SECRET, rp(role.arn)) is Tri.NO
    assert can(who(kind="role"), "secretsmanager:GetSecretValue", SECRET, rp(who(kind="role").arn)) is Tri.YES
    user = who(kind="user", boundary=boundary)
    assert can(user, "secretsmanager:GetSecretValue", SECRET, rp(user.arn)) is Tri.YES


def test_cross_account_needs_both_sides():
    p = who(allow("secretsmanager:GetSecretValue"), account=B)
    assert can(p, "secretsmanager:GetSecretValue", SECRET, rp(p.arn), resource_account=A) is Tri.YES
    assert can(p, "secretsmanager:GetSecretValue", SECRET, (), resource_account=A) is Tri.NO
    assert can(who(account=B), "secretsmanager:GetSecretValue", SECRET, rp(f"arn:aws:iam::{B}:root"),
               resource_account=A) is Tri.NO


# --- trust policies -----------------------------------------------------------------------------------


def trust(principal: object, *extra: dict) -> tuple[P.Statement, ...]:
    return pol({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}, *extra, name="trust")


def test_trust_naming_the_principal_is_enough_in_the_same_account():
    p = who(kind="user")
    assert P.can_assume(p, ROLE, A, trust({"AWS": p.arn})).result is Tri.YES
    assert P.can_assume(p, ROLE, A, trust({"AWS": f"arn:aws:iam::{A}:user/other"})).result is Tri.NO


def test_trust_naming_the_account_also_needs_an_identity_allow():
    root = trust({"AWS": f"arn:aws:iam::{A}:root"})
    assert P.can_assume(who(allow("sts:AssumeRole", ROLE)), ROLE, A, root).result is Tri.YES
    assert P.can_assume(who(), ROLE, A, root).result is Tri.NO
    assert P.can_assume(who(), ROLE, A, trust({"AWS": A})).result is Tri.NO


def test_cross_account_trust_needs_an_identity_allow_even_when_named():
    p = who(account=B)
    named = trust({"AWS": p.arn})
    assert P.can_assume(p, ROLE, A, named).result is Tri.NO
    assert P.can_assume(who(allow("sts:AssumeRole"), account=B), ROLE, A, named).result is Tri.YES


def test_trust_deny_and_trust_conditions():
    p = who(kind="user")
    denied = trust({"AWS": p.arn}, {"Effect": "Deny", "Principal": {"AWS": p.arn}, "Action": "sts:AssumeRole"})
    assert P.can_assume(p, ROLE, A, denied).result is Tri.NO
    ext = pol({"Effect": "Allow", "Principal": {"AWS": p.arn}, "Action": "sts:AssumeRole",
               "Condition": {"StringEquals": {"sts:ExternalId": "x"}}}, name="trust")
    assert P.can_assume(p, ROLE, A, ext).result is Tri.MAYBE
    by_arn = pol({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "sts:AssumeRole",
                  "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{A}:user/ci-*"}}}, name="trust")
    ci = who(allow("sts:AssumeRole"), kind="user", name="ci-deploy")
    assert P.can_assume(ci, ROLE, A, by_arn).result is Tri.YES
    assert P.can_assume(who(allow("sts:AssumeRole"), kind="user", name="dev"), ROLE, A, by_arn).result is Tri.NO


def test_service_trust_for_passrole():
    t = trust({"Service": "lambda.amazonaws.com"})
    assert P.trusts_service(t, "lambda.amazonaws.com") is Tri.YES
    assert P.trusts_service(t, "ec2.amazonaws.com") is Tri.NO


# --- conditions ---------------------------------------------------------------------------------------

NAMES = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
TYPES = "route53:ChangeResourceRecordSetsRecordTypes"


def record_request(p: P.Principal, name: str | None, rtype: str = "A") -> Tri:
    ctx = {} if name is None else {NAMES.lower(): (P.normalize_record_name(name),), TYPES.lower(): (rtype,),
                                   "route53:changeresourcerecordsetsactions": ("UPSERT",)}
    absent = {NAMES.lower(), TYPES.lower(), "route53:changeresourcerecordsetsactions"} if name is None else ()
    return P.evaluate(p, P.request(p, "route53:ChangeResourceRecordSets", ZONE, context=ctx, absent=absent)).result


def cond(op: str, key: str, value: object) -> P.Principal:
    return who(allow("route53:ChangeResourceRecordSets", ZONE, Condition={op: {key: value}}))


def test_record_name_conditions_are_bound_to_the_concrete_record():
    acme = cond("ForAllValues:StringLike", NAMES, ["_acme-challenge.*"])
    assert record_request(acme, "_acme-challenge.api.example.com.") is Tri.YES
    assert record_request(acme, "api.example.com.") is Tri.NO


def test_absent_key_is_false_but_negated_operators_are_true():
    assert record_request(cond("StringEquals", NAMES, "api.example.com"), None) is Tri.NO
    assert record_request(cond("StringNotEquals", NAMES, "api.example.com"), None) is Tri.YES


def test_if_exists_and_null():
    assert record_request(cond("StringEqualsIfExists", NAMES, "x.example.com"), None) is Tri.YES
    assert record_request(cond("StringEqualsIfExists", NAMES, "x.example.com"), "api.example.com") is Tri.NO
    assert record_request(cond("Null", NAMES, "true"), None) is Tri.YES
    assert record_request(cond("Null", NAMES, "true"), "api.example.com") is Tri.NO


def test_for_all_values_is_vacuous_and_for_any_value_needs_one():
    assert record_request(cond("ForAllValues:StringEquals", TYPES, ["TXT"]), None) is Tri.YES
    assert record_request(cond("ForAnyValue:StringEquals", TYPES, ["TXT"]), None) is Tri.NO
    assert record_request(cond("ForAnyValue:StringEquals", TYPES, ["TXT"]), "a.example.com", "TXT") is Tri.YES


def test_values_are_ored_and_keys_are_anded():
    ored = cond("StringEquals", TYPES, ["A", "AAAA"])
    assert record_request(ored, "api.example.com", "AAAA") is Tri.YES
    assert record_request(ored, "api.example.com", "CNAME") is Tri.NO
    anded = who(allow("route53:ChangeResourceRecordSets", ZONE, Condition={
        "StringEquals": {TYPES: "TXT"}, "StringLike": {NAMES: "_acme-challenge.*"}}))
    assert record_request(anded, "_acme-challenge.x.example.com", "TXT") is Tri.YES
    assert record_request(anded, "_acme-challenge.x.example.com", "A") is Tri.NO


def test_unknown_keys_make_the_grant_conditional():
    assert record_request(cond("IpAddress", "aws:SourceIp", "203.0.113.0/24"), "api.example.com") is Tri.MAYBE
    assert record_request(cond("StringEquals", "aws:PrincipalAccount", B), "api.example.com") is Tri.NO


def test_record_name_normalisation():
    assert P.normalize_record_name("*.Example.COM.") == "\\052.example.com"
    assert P.normalize_record_name("_acme-challenge.example.com") == "_acme-challenge.example.com"
