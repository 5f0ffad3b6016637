"""AWS evaluation rules, one positive and one negative case each (IAM User Guide, "Policy evaluation logic",
"Condition operators", "Resource": https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
and the pages it links). Pure: no SDK, no server."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

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
    allowed = who(allow("route53:ChangeResourceRecordSets", ZONE))
    assert can(allowed, "route53:ChangeResourceRecordSets", ZONE) is Tri.YES


def test_explicit_deny_wins_only_where_it_applies():
    p = who(allow("route53:*"), deny("route53:ChangeResourceRecordSets", ZONE2))
    assert can(p, "route53:ChangeResourceRecordSets", ZONE2) is Tri.NO
    assert can(p, "route53:ChangeResourceRecordSets", ZONE) is Tri.YES


def test_unsettled_deny_makes_access_conditional_and_names_the_deny():
    # issue 11 item 12: the access depends on the key the Deny rests on
    p = who(allow("route53:*"),
            deny("route53:*", Sid="NoMFA", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}}))
    acc = P.evaluate(p, P.request(p, "route53:ChangeResourceRecordSets", ZONE))
    assert acc.result is Tri.MAYBE
    assert any("may remove it" in v and "p statement NoMFA" in v for v in acc.via)
    assert any(v == "conditional: depends on aws:MultiFactorAuthPresent" for v in acc.via)
    settled = who(allow("route53:*"), deny("route53:*", Condition={"StringEquals": {"aws:PrincipalAccount": A}}))
    assert can(settled, "route53:ChangeResourceRecordSets", ZONE) is Tri.NO
    elsewhere = who(allow("route53:*"), deny("route53:*", Condition={"StringEquals": {"aws:PrincipalAccount": B}}))
    assert can(elsewhere, "route53:ChangeResourceRecordSets", ZONE) is Tri.YES
    # a Deny whose conditions contradict each other never applies: access stays unconditional
    never = who(allow("route53:*"), deny("route53:*", Condition={
        "Bool": {"aws:SecureTransport": "true"}, "BoolIfExists": {"aws:SecureTransport": "false"}}))
    assert can(never, "route53:ChangeResourceRecordSets", ZONE) is Tri.YES


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


def test_policy_variable_in_resource_is_resolved_from_the_principal():
    # issue 11 item 17 (was: always MAYBE): the tag decides; no tag, no match
    by_tag = allow("route53:*", "arn:aws:route53:::hostedzone/${aws:PrincipalTag/zone}")
    assert can(dataclasses.replace(who(by_tag), tags={"zone": "Z1"}), "route53:DeleteHostedZone", ZONE) is Tri.YES
    assert can(dataclasses.replace(who(by_tag), tags={"zone": "Z1"}), "route53:DeleteHostedZone", ZONE2) is Tri.NO
    assert can(who(by_tag), "route53:DeleteHostedZone", ZONE) is Tri.NO
    # sessions that may carry session tags: the session's tag is not known
    tagged_sessions = dataclasses.replace(who(by_tag), tags={"zone": "Z2"}, session_tags=True)
    assert can(tagged_sessions, "route53:DeleteHostedZone", ZONE) is Tri.MAYBE


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


def rcp_can(p: P.Principal, action: str, resource: str, levels) -> P.Decision:  # type: ignore[no-untyped-def]
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
    # organization unknown (not readable): access depends on aws:PrincipalOrgID, and via names the Deny
    unknown = rcp_can(who(allow("*")), "secretsmanager:GetSecretValue", SECRET, levels)
    assert unknown.result is Tri.MAYBE and any("cannot settle" in v and "org-perimeter" in v for v in unknown.via)


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


def star(principal: object = "*", **extra: object) -> tuple[P.Statement, ...]:
    return pol({"Effect": "Allow", "Principal": principal, "Action": "secretsmanager:GetSecretValue",
                "Resource": "*", **extra}, name="secret policy")


R53_ONLY = pol(allow("route53:*"), name="boundary")


def test_a_star_principal_grants_the_accounts_users_and_roles_with_no_identity_allow():
    # IAM User Guide, "AWS JSON policy elements: Principal", All principals: "For IAM users and role principals
    # within your account, no other permissions are required"; both spellings of "*" are the same.
    for kind in ("user", "role"):
        assert can(who(kind=kind), "secretsmanager:GetSecretValue", SECRET, star()) is Tri.YES
        assert can(who(kind=kind), "secretsmanager:GetSecretValue", SECRET, star({"AWS": "*"})) is Tri.YES
        # naming the account delegates to the identity policies instead (AWS account principals)
        assert can(who(kind=kind), "secretsmanager:GetSecretValue", SECRET, rp(f"arn:aws:iam::{A}:root")) is Tri.NO
        assert can(who(kind=kind), "secretsmanager:GetSecretValue", SECRET, rp(A)) is Tri.NO
    # other accounts' principals need their own identity-based permission too (cross-account access)
    assert can(who(account=B), "secretsmanager:GetSecretValue", SECRET, star(), resource_account=A) is Tri.NO
    assert can(who(allow("secretsmanager:*"), account=B), "secretsmanager:GetSecretValue", SECRET, star(),
               resource_account=A) is Tri.YES
    # only where the statement applies
    assert can(who(), "secretsmanager:PutSecretValue", SECRET, star()) is Tri.NO


def test_a_star_principal_is_not_capped_by_a_boundary_but_by_a_deny_and_the_guardrails():
    # Same page, IAM role principals: "permissions boundaries or session policies do not limit permissions
    # granted ... with a wildcard(*) in the Principal element, unless the identity-based policies contain an
    # explicit deny" ("Policy evaluation for requests within a single account": the caller is the user or
    # the role session itself, which "*" names).
    for kind in ("user", "role"):
        bounded = who(kind=kind, boundary=R53_ONLY)
        acc = P.evaluate(bounded, P.request(bounded, "secretsmanager:GetSecretValue", SECRET), star())
        assert acc.result is Tri.YES and any("no permissions boundary caps it" in v for v in acc.via), acc
        # naming the role's ARN is capped by its boundary; naming the user's is not
        expected = Tri.YES if kind == "user" else Tri.NO
        assert can(bounded, "secretsmanager:GetSecretValue", SECRET, rp(bounded.arn)) is expected
        assert can(who(deny("secretsmanager:GetSecretValue"), kind=kind), "secretsmanager:GetSecretValue", SECRET,
                   star()) is Tri.NO
        assert can(who(kind=kind, boundary=pol(deny("secretsmanager:*"), name="b")), "secretsmanager:GetSecretValue",
                   SECRET, star()) is Tri.NO
        scps = (pol(allow("route53:*"), name="dns-only"),)
        assert can(who(kind=kind, scps=scps), "secretsmanager:GetSecretValue", SECRET, star()) is Tri.NO


def notprincipal(*names: str, effect: str = "Deny") -> tuple[P.Statement, ...]:
    return pol({"Effect": effect, "NotPrincipal": {"AWS": list(names)}, "Action": "secretsmanager:*",
                "Resource": "*"}, name="secret policy")


ROOT_A = f"arn:aws:iam::{A}:root"


def reader(name: str = "alice", kind: str = "user", boundary=None) -> P.Principal:  # type: ignore[no-untyped-def]
    return who(allow("secretsmanager:*"), kind=kind, name=name, boundary=boundary)


def test_a_notprincipal_deny_denies_every_principal_with_a_boundary():
    # IAM User Guide, "AWS JSON policy elements: NotPrincipal", key points: it "will always deny any IAM principal
    # that has a permissions boundary policy attached, regardless of the values specified".
    alice = reader()
    excepting = notprincipal(alice.arn, ROOT_A)
    assert can(alice, "secretsmanager:GetSecretValue", SECRET, excepting) is Tri.YES
    bounded = reader(boundary=pol(allow("secretsmanager:*"), name="b"))
    assert can(bounded, "secretsmanager:GetSecretValue", SECRET, excepting) is Tri.NO
    assert can(bounded, "secretsmanager:GetSecretValue", SECRET, notprincipal("*")) is Tri.NO
    assert can(reader(), "secretsmanager:GetSecretValue", SECRET, notprincipal("*")) is Tri.YES
    bounded_role = reader("ops", "role", boundary=pol(allow("secretsmanager:*"), name="b"))
    assert can(bounded_role, "secretsmanager:GetSecretValue", SECRET, notprincipal(bounded_role.arn, ROOT_A)) is Tri.NO
    # only where the Deny applies
    assert can(who(allow("*"), kind="user", boundary=pol(allow("*"), name="b")), "route53:DeleteHostedZone", ZONE,
               excepting) is Tri.YES


def test_a_notprincipal_leaves_out_only_the_principals_it_names():
    # Same page, example "IAM user in the same or a different account": with Bob and his account named, "all
    # principals except the user named Bob" are denied; naming an account leaves out the account itself.
    alice, bob = reader("alice"), reader("bob")
    assert can(alice, "secretsmanager:GetSecretValue", SECRET, notprincipal(alice.arn, ROOT_A)) is Tri.YES
    assert can(alice, "secretsmanager:GetSecretValue", SECRET, notprincipal(alice.arn, A)) is Tri.YES
    assert can(bob, "secretsmanager:GetSecretValue", SECRET, notprincipal(alice.arn, ROOT_A)) is Tri.NO
    assert can(bob, "secretsmanager:GetSecretValue", SECRET, notprincipal(ROOT_A)) is Tri.NO
    assert can(bob, "secretsmanager:GetSecretValue", SECRET, notprincipal(f"arn:aws:iam::{B}:root")) is Tri.NO
    # the user without its account: AWS "might deny access to the entire account" (key points): undecided
    assert can(alice, "secretsmanager:GetSecretValue", SECRET, notprincipal(alice.arn)) is Tri.MAYBE
    # a role acts through a session, which is left out only if named (the role example names session, role
    # and account; "Principals must always name a specific session"): the scan knows no session name
    ops = reader("ops", "role")
    session = f"arn:aws:sts::{A}:assumed-role/ops/audit"
    assert can(ops, "secretsmanager:GetSecretValue", SECRET, notprincipal(session, ops.arn, ROOT_A)) is Tri.MAYBE
    assert can(ops, "secretsmanager:GetSecretValue", SECRET, notprincipal(ops.arn, ROOT_A)) is Tri.MAYBE
    assert can(ops, "secretsmanager:GetSecretValue", SECRET, notprincipal(alice.arn, ROOT_A)) is Tri.NO
    assert can(ops, "secretsmanager:GetSecretValue", SECRET,
               notprincipal(f"arn:aws:sts::{A}:assumed-role/other/audit", ROOT_A)) is Tri.NO


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


def test_a_star_trust_lets_the_accounts_principals_assume_without_an_identity_allow():
    # A trust policy is a resource-based policy ("AWS JSON policy elements: Principal", All principals): "*"
    # needs no identity Allow in the role's own account, and no boundary caps it; naming the account does.
    for kind in ("user", "role"):
        assert P.can_assume(who(kind=kind), ROLE, A, trust("*")).result is Tri.YES
        assert P.can_assume(who(kind=kind), ROLE, A, trust({"AWS": "*"})).result is Tri.YES
        assert P.can_assume(who(kind=kind, boundary=R53_ONLY), ROLE, A, trust("*")).result is Tri.YES
        assert P.can_assume(who(kind=kind), ROLE, A, trust({"AWS": ROOT_A})).result is Tri.NO
        assert P.can_assume(who(deny("sts:AssumeRole"), kind=kind), ROLE, A, trust("*")).result is Tri.NO
    # another account's principal still needs its own Allow
    assert P.can_assume(who(account=B), ROLE, A, trust("*")).result is Tri.NO
    assert P.can_assume(who(allow("sts:AssumeRole"), account=B), ROLE, A, trust("*")).result is Tri.YES


def test_a_trust_naming_a_role_is_capped_by_its_boundary_and_one_naming_a_user_is_not():
    # Same page, IAM role principals: naming a role, "the effective permissions for the principal are limited
    # by any policy types that limit permissions for the role. This includes ... permissions boundaries";
    # "Policy evaluation for requests within a single account": naming an IAM user is not limited by its
    # boundary.
    role = who(boundary=R53_ONLY)
    assert P.can_assume(role, ROLE, A, trust({"AWS": role.arn})).result is Tri.NO
    allowing = who(boundary=pol(allow("sts:AssumeRole"), name="b"))
    assert P.can_assume(allowing, ROLE, A, trust({"AWS": allowing.arn})).result is Tri.YES
    assert P.can_assume(who(), ROLE, A, trust({"AWS": who().arn})).result is Tri.YES
    mfa = who(boundary=pol(allow("sts:AssumeRole", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
                           name="b"))
    assert P.can_assume(mfa, ROLE, A, trust({"AWS": mfa.arn})).result is Tri.MAYBE
    user = who(kind="user", boundary=R53_ONLY)
    assert P.can_assume(user, ROLE, A, trust({"AWS": user.arn})).result is Tri.YES
    # the boundary caps the role's ARN, not a "*" next to it
    assert P.can_assume(role, ROLE, A, trust({"AWS": [role.arn, "*"]})).result is Tri.YES


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


# --- unsettled keys: the whole decision is checked in every case (issue 11, items 12 and 19) ------------
# IAM User Guide, "Policy evaluation logic": an explicit Deny in any policy wins. When it rests on a key the
# scanner cannot settle, access depends on that key; Denies that together cover every value leave none.

MFA, SOURCE_IP, MFA_AGE, NOW = ("aws:MultiFactorAuthPresent", "aws:SourceIp", "aws:MultiFactorAuthAge",
                                "aws:CurrentTime")
ENV, TAG_KEYS, SOURCE_ARN = "aws:RequestTag/env", "aws:TagKeys", "aws:SourceArn"

COVERING_DENIES = {
    # BoolIfExists false + Bool true: absent, false and true are all denied
    "mfa": [{"BoolIfExists": {MFA: "false"}}, {"Bool": {MFA: "true"}}],
    "ip-in-and-out": [{"IpAddress": {SOURCE_IP: "10.0.0.0/8"}}, {"NotIpAddress": {SOURCE_IP: "10.0.0.0/8"}}],
    "ip-everywhere-or-none": [{"IpAddress": {SOURCE_IP: ["0.0.0.0/0", "::/0"]}}, {"Null": {SOURCE_IP: "true"}}],
    "ip-nested": [{"IpAddress": {SOURCE_IP: "10.0.0.0/8"}}, {"NotIpAddress": {SOURCE_IP: "10.1.0.0/16"}}],
    "null-true-and-false": [{"Null": {"aws:SourceVpce": "true"}}, {"Null": {"aws:SourceVpce": "false"}}],
    "date-either-side": [{"DateGreaterThan": {NOW: "2026-01-01T00:00:00Z"}},
                         {"DateLessThanEquals": {NOW: "1767225600"}}],  # the same instant, as epoch time
    "numeric-and-absent": [{"NumericLessThan": {MFA_AGE: "3600"}}, {"NumericGreaterThanEquals": {MFA_AGE: "3600"}},
                           {"Null": {MFA_AGE: "true"}}],
    "like-and-not-like": [{"StringLike": {ENV: "prod*"}}, {"StringNotLike": {ENV: "prod*"}}],
    "ignore-case-and-exact": [{"StringEqualsIgnoreCase": {ENV: "PROD"}}, {"StringNotEquals": {ENV: "prod"}}],
    "any-and-all-values": [{"ForAnyValue:StringEquals": {TAG_KEYS: ["owner"]}},
                           {"ForAllValues:StringNotEquals": {TAG_KEYS: ["owner"]}}],
    "arn-like-and-not": [{"ArnLike": {SOURCE_ARN: "arn:aws:s3:::b-*"}},
                         {"ArnNotLike": {SOURCE_ARN: "arn:aws:s3:::b-*"}}],
}


def guarded(*conditions: dict, kind: str = "role", base: dict | None = None) -> P.Principal:
    return who(base or allow("route53:*"), *(deny("*", Sid=f"D{i}", Condition=c) for i, c in enumerate(conditions)),
               kind=kind)


def zone_access(p: P.Principal, **kw) -> P.Decision:  # type: ignore[no-untyped-def]
    return P.evaluate(p, P.request(p, "route53:ChangeResourceRecordSets", ZONE, **kw))


@pytest.mark.parametrize("kind", ["user", "role"])
@pytest.mark.parametrize("case", sorted(COVERING_DENIES))
def test_denies_that_together_cover_every_value_mean_no_access(case, kind):
    conditions = COVERING_DENIES[case]
    acc = zone_access(guarded(*conditions, kind=kind))
    assert acc.result is Tri.NO, acc.via
    assert "each case checked" in acc.via[0] and all(f"p statement D{i}" in " ".join(acc.via)
                                                     for i in range(len(conditions)))
    for i in range(len(conditions)):  # without any one of them, some value is left: conditional
        rest = conditions[:i] + conditions[i + 1:]
        partial = zone_access(guarded(*rest, kind=kind))
        assert partial.result is Tri.MAYBE, (i, partial.via)
        assert any("may remove it" in v for v in partial.via)


def test_bool_denies_cover_every_value_only_where_the_key_is_always_present():
    # aws:MultiFactorAuthPresent is in every request made with temporary credentials (a role's), and absent
    # from requests signed with a user's long-term keys (IAM User Guide, global condition context keys).
    both = ({"Bool": {MFA: "false"}}, {"Bool": {MFA: "true"}})
    assert zone_access(guarded(*both, kind="role")).result is Tri.NO
    assert zone_access(guarded(*both, kind="user")).result is Tri.MAYBE


def test_allows_that_cover_every_value_give_unconditional_access():
    yes, no = (allow("route53:*", Condition={"Bool": {MFA: v}}) for v in ("true", "false"))
    acc = zone_access(who(yes, no))
    assert acc.result is Tri.YES and any("whatever the value of aws:MultiFactorAuthPresent" in v for v in acc.via)
    assert zone_access(who(yes)).result is Tri.MAYBE
    assert zone_access(who(yes, no, kind="user")).result is Tri.MAYBE  # a user's request may lack the key


def test_identity_policy_and_boundary_wanting_opposite_values_mean_no_access():
    # issue 11 item 19, within one request: the identity policy needs MFA false, the boundary MFA true
    def needs(v, name):
        return pol(allow("route53:*", Condition={"Bool": {MFA: v}}), name=name)

    split = P.Principal(arn=f"arn:aws:iam::{A}:role/split", account=A, kind="role",
                        policies=needs("false", "identity"), boundary=needs("true", "boundary"))
    assert zone_access(split).result is Tri.NO
    agree = dataclasses.replace(split, policies=needs("true", "identity"))
    assert zone_access(agree).result is Tri.MAYBE


def test_identity_policy_and_scp_deny_on_the_same_values_mean_no_access():
    dev_only = allow("route53:*", Condition={"StringLike": {ENV: "dev*"}})

    def scp(pattern):
        return (pol(allow("*"), deny("*", Condition={"StringLike": {ENV: pattern}}), name="SCP"),)

    assert zone_access(who(dev_only, scps=scp("dev*"))).result is Tri.NO
    assert zone_access(who(dev_only, scps=scp("prod*"))).result is Tri.MAYBE
    assert zone_access(who(dev_only, scps=scp("d*"))).result is Tri.NO  # every dev* value is also d*


def test_can_assume_reasons_over_the_trust_policy_and_the_callers_policy_together():
    def mfa(v):
        return {"Bool": {MFA: v}}

    root = pol({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "sts:AssumeRole",
                "Condition": mfa("true")}, name="trust")

    def caller(v):
        return who(allow("sts:AssumeRole", Condition=mfa(v)))

    assert P.can_assume(caller("false"), ROLE, A, root).result is Tri.NO
    assert P.can_assume(caller("true"), ROLE, A, root).result is Tri.MAYBE
    # trust naming the caller: its own Deny of the only value the trust accepts leaves nothing
    named = pol({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:role/caller"}, "Action": "sts:AssumeRole",
                 "Condition": mfa("true")}, name="trust")
    assert P.can_assume(guarded({"Bool": {MFA: "true"}}, base=allow("s3:*")), ROLE, A, named).result is Tri.NO
    assert P.can_assume(guarded({"Bool": {MFA: "false"}}, base=allow("s3:*")), ROLE, A, named).result is Tri.MAYBE


def test_too_many_combinations_fall_back_to_conditional():
    many = allow("route53:*", Condition={"StringEquals": {f"aws:RequestTag/k{i}": "v" for i in range(6)}})
    acc = zone_access(guarded(*COVERING_DENIES["mfa"], base=many))
    assert acc.result is Tri.MAYBE and any("too many to check" in v for v in acc.via)
    few = allow("route53:*", Condition={"StringEquals": {f"aws:RequestTag/k{i}": "v" for i in range(2)}})
    assert zone_access(guarded(*COVERING_DENIES["mfa"], base=few)).result is Tri.NO


def test_requested_region_follows_from_global_services_and_regional_arns():
    # IAM User Guide, aws:RequestedRegion: a global service's single endpoint is in us-east-1
    scp = (pol(allow("*"), deny("*", Condition={"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1"]}}),
               name="SCP"),)
    p = who(allow("*"), scps=scp)
    assert can(p, "route53:ChangeResourceRecordSets", ZONE) is Tri.NO
    eu = f"arn:aws:secretsmanager:eu-west-1:{A}:secret:db-AbCdEf"
    assert can(p, "secretsmanager:GetSecretValue", eu) is Tri.YES
    assert can(p, "secretsmanager:GetSecretValue", SECRET) is Tri.NO
    assert P.can_assume(p, ROLE, A, trust({"AWS": p.arn})).result is Tri.MAYBE  # STS: any regional endpoint


# --- set operators on absent and empty keys (issue 11, item 16) -----------------------------------------
# IAM User Guide, "Creating a condition with multiple keys or values": ForAllValues "also returns true if
# there are no keys in the request, or if the key values resolve to a null data set"; ForAnyValue: "For no
# matching key or a null dataset, the condition returns false" — whatever the operator.

SET_BASES = ["StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike",
             "StringNotLike", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "StringEqualsIfExists",
             "StringNotLikeIfExists"]
KEY_VALUE = "arn:aws:s3:::bucket-a"


def tag_keys(op: str, **kw) -> Tri:  # type: ignore[no-untyped-def]
    p = who(allow("route53:*", Condition={op: {TAG_KEYS: [KEY_VALUE]}}))
    return P.evaluate(p, P.request(p, "route53:DeleteHostedZone", ZONE, **kw)).result


@pytest.mark.parametrize("base", SET_BASES)
def test_for_any_value_on_an_absent_or_empty_key_is_false_whatever_the_operator(base):
    assert tag_keys(f"ForAnyValue:{base}", absent={"aws:tagkeys"}) is Tri.NO
    assert tag_keys(f"ForAnyValue:{base}", context={"aws:tagkeys": ()}) is Tri.NO
    # present: one value satisfying the operator is enough
    negated = "Not" in base
    hit = "arn:aws:s3:::bucket-b" if negated else KEY_VALUE
    assert tag_keys(f"ForAnyValue:{base}", context={"aws:tagkeys": (hit, "other")}) is Tri.YES
    miss = KEY_VALUE if negated else "arn:aws:s3:::bucket-b"
    assert tag_keys(f"ForAnyValue:{base}", context={"aws:tagkeys": (miss,)}) is Tri.NO


@pytest.mark.parametrize("base", SET_BASES)
def test_for_all_values_on_an_absent_or_empty_key_is_true_whatever_the_operator(base):
    assert tag_keys(f"ForAllValues:{base}", absent={"aws:tagkeys"}) is Tri.YES
    assert tag_keys(f"ForAllValues:{base}", context={"aws:tagkeys": ()}) is Tri.YES
    negated = "Not" in base
    good, bad = ("arn:aws:s3:::bucket-b", KEY_VALUE) if negated else (KEY_VALUE, "arn:aws:s3:::bucket-b")
    assert tag_keys(f"ForAllValues:{base}", context={"aws:tagkeys": (good,)}) is Tri.YES
    assert tag_keys(f"ForAllValues:{base}", context={"aws:tagkeys": (good, bad)}) is Tri.NO


def test_null_tests_presence_whatever_set_operator_is_written():
    # "Condition operator to check existence of condition keys": true = the key is absent (or null)
    def p(op, v):
        return who(allow("route53:*", Condition={op: {TAG_KEYS: v}}))

    for op in ("Null", "ForAnyValue:Null", "ForAllValues:Null"):
        assert P.evaluate(p(op, "true"), P.request(p(op, "true"), "route53:DeleteHostedZone", ZONE,
                                                   absent={"aws:tagkeys"})).result is Tri.YES
        assert P.evaluate(p(op, "true"), P.request(p(op, "true"), "route53:DeleteHostedZone", ZONE,
                                                   context={"aws:tagkeys": ()})).result is Tri.YES
        assert P.evaluate(p(op, "false"), P.request(p(op, "false"), "route53:DeleteHostedZone", ZONE,
                                                    context={"aws:tagkeys": ("a",)})).result is Tri.YES
        assert P.evaluate(p(op, "true"), P.request(p(op, "true"), "route53:DeleteHostedZone", ZONE,
                                                   context={"aws:tagkeys": ("a",)})).result is Tri.NO
    both = p("Null", ["true", "false"])  # values are ORed
    assert P.evaluate(both, P.request(both, "route53:DeleteHostedZone", ZONE, context={"aws:tagkeys": ("a",)})
                      ).result is Tri.YES


def test_single_valued_operators_on_a_multivalued_key():
    # "Multivalued context keys require a condition set operator": with one value the comparison is plain;
    # with several, IAM documents no rule, so the engine does not guess.
    assert tag_keys("StringEquals", context={"aws:tagkeys": (KEY_VALUE,)}) is Tri.YES
    assert tag_keys("StringEquals", context={"aws:tagkeys": ("other",)}) is Tri.NO
    assert tag_keys("StringEquals", context={"aws:tagkeys": (KEY_VALUE, "other")}) is Tri.MAYBE
    assert tag_keys("StringEquals", context={"aws:tagkeys": ()}) is Tri.NO
    assert tag_keys("StringNotEquals", absent={"aws:tagkeys"}) is Tri.YES


def test_if_exists_passes_on_an_absent_key_and_tests_a_present_one():
    assert tag_keys("StringEqualsIfExists", absent={"aws:tagkeys"}) is Tri.YES
    assert tag_keys("StringEqualsIfExists", context={"aws:tagkeys": ("other",)}) is Tri.NO
    assert tag_keys("StringEqualsIfExists", context={"aws:tagkeys": (KEY_VALUE,)}) is Tri.YES


# --- policy variables (issue 11, item 17; IAM User Guide, "IAM policy elements: Variables and tags") ----


def user(*statements: dict, name: str = "alice", tags=None, unique_id=None) -> P.Principal:  # type: ignore[no-untyped-def]
    return dataclasses.replace(who(*statements, kind="user", name=name), tags=tags or {}, unique_id=unique_id)


def secret(name: str, account: str = A) -> str:
    return f"arn:aws:secretsmanager:us-east-1:{account}:secret:{name}"


def reads(p: P.Principal, name: str, **kw) -> Tri:  # type: ignore[no-untyped-def]
    return can(p, "secretsmanager:GetSecretValue", secret(name), **kw)


def test_aws_username_is_the_users_name_and_a_role_has_none():
    own = allow("secretsmanager:GetSecretValue", secret("${aws:username}/*"))
    assert reads(user(own), "alice/key-AbCdEf") is Tri.YES
    assert reads(user(own), "bob/key-AbCdEf") is Tri.NO
    # "aws:username … requests made using … IAM roles do not include this key": no value, no match
    assert reads(who(own, name="alice"), "alice/key-AbCdEf") is Tri.NO


def test_principal_tag_and_account_variables():
    team = allow("secretsmanager:GetSecretValue", secret("${aws:PrincipalTag/team}/*"))
    assert reads(user(team, tags={"team": "dns"}), "dns/key-AbCdEf") is Tri.YES
    assert reads(user(team, tags={"team": "dns"}), "db/key-AbCdEf") is Tri.NO
    assert reads(user(team), "dns/key-AbCdEf") is Tri.NO
    assert reads(dataclasses.replace(who(team), tags={"team": "dns"}), "dns/key-AbCdEf") is Tri.YES
    mine = allow("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:*:${aws:PrincipalAccount}:secret:*")
    assert reads(who(mine), "x-AbCdEf") is Tri.YES
    assert can(who(mine), "secretsmanager:GetSecretValue", secret("x-AbCdEf", B), resource_account=B) is Tri.NO


def test_userid_is_bound_for_users_with_a_known_id_and_unsettled_for_role_sessions():
    by_id = allow("secretsmanager:GetSecretValue", secret("${aws:userid}-*"))
    assert reads(user(by_id, unique_id="AIDAEXAMPLE"), "AIDAEXAMPLE-AbCdEf") is Tri.YES
    assert reads(user(by_id, unique_id="AIDAEXAMPLE"), "AIDAOTHER-AbCdEf") is Tri.NO
    assert reads(user(by_id), "AIDAEXAMPLE-AbCdEf") is Tri.MAYBE  # the user has an id; the scan did not say
    assert reads(who(by_id), "AROAEXAMPLE:session-AbCdEf") is Tri.MAYBE  # "role-id:caller-specified-name"


def test_a_variable_with_no_value_matches_nothing_and_negated_operators_pass():
    # "Policy variables with no value": StringEquals/StringLike do not match; StringNotEquals does
    ctx = {"aws:resourcetag/team": ("dns",)}
    same = allow("secretsmanager:GetSecretValue",
                 Condition={"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}})
    other = allow("secretsmanager:GetSecretValue",
                  Condition={"StringNotEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}})
    assert reads(user(same, tags={"team": "dns"}), "x-AbCdEf", context=ctx) is Tri.YES
    assert reads(user(same, tags={"team": "db"}), "x-AbCdEf", context=ctx) is Tri.NO
    assert reads(user(same), "x-AbCdEf", context=ctx) is Tri.NO
    assert reads(user(other), "x-AbCdEf", context=ctx) is Tri.YES
    assert reads(user(other, tags={"team": "dns"}), "x-AbCdEf", context=ctx) is Tri.NO
    # in NotResource, an element with no value excludes nothing
    p = user({"Effect": "Allow", "Action": "route53:*",
              "NotResource": "arn:aws:route53:::hostedzone/${aws:PrincipalTag/zone}"})
    assert can(p, "route53:DeleteHostedZone", ZONE) is Tri.YES
    assert can(dataclasses.replace(p, tags={"zone": "Z1"}), "route53:DeleteHostedZone", ZONE) is Tri.NO


def test_default_values_escapes_and_policies_without_version():
    default = allow("secretsmanager:GetSecretValue", secret("${aws:PrincipalTag/team, 'shared'}/*"))
    assert reads(user(default), "shared/key-AbCdEf") is Tri.YES
    assert reads(user(default, tags={"team": "dns"}), "shared/key-AbCdEf") is Tri.NO
    assert reads(user(default, tags={"team": "dns"}), "dns/key-AbCdEf") is Tri.YES
    # ${*}, ${?} and ${$} are literal characters, not wildcards
    star = allow("secretsmanager:GetSecretValue", secret("a${*}b"))
    assert reads(user(star), "a*b") is Tri.YES and reads(user(star), "axb") is Tri.NO
    ask = allow("secretsmanager:GetSecretValue", Condition={"StringLike": {"aws:ResourceTag/n": "a${?}b"}})
    assert reads(user(ask), "x", context={"aws:resourcetag/n": ("a?b",)}) is Tri.YES
    assert reads(user(ask), "x", context={"aws:resourcetag/n": ("axb",)}) is Tri.NO
    dollar = allow("secretsmanager:GetSecretValue", secret("${$}price"))
    assert reads(user(dollar), "$price") is Tri.YES
    # "If you don't include the Version element … variables … are treated as literal strings"
    old = P.parse_policy({"Statement": [allow("secretsmanager:GetSecretValue", secret("${aws:username}/*"))]}, "old")
    legacy = dataclasses.replace(user(), policies=old)
    assert reads(legacy, "alice/key-AbCdEf") is Tri.NO
    assert reads(legacy, "${aws:username}/key-AbCdEf") is Tri.YES


def test_a_variable_on_a_request_key_stays_conditional():
    by_ip = allow("route53:*", "arn:aws:route53:::hostedzone/${aws:SourceIp}")
    acc = zone_access(who(by_ip))
    assert acc.result is Tri.MAYBE and acc.via[-1].startswith("conditional")


# --- every operator compares values once they are bound ------------------------------------------------


def bound(op: str, key: str, value: object, have: str) -> Tri:
    p = who(allow("route53:*", Condition={op: {key: value}}))
    return P.evaluate(p, P.request(p, "route53:DeleteHostedZone", ZONE, context={key.lower(): (have,)})).result


def test_date_operators_take_iso_8601_and_epoch_time():
    assert bound("DateLessThan", NOW, "2026-06-01T00:00:00Z", "2026-01-01T00:00:00Z") is Tri.YES
    assert bound("DateLessThan", NOW, "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z") is Tri.NO
    assert bound("DateEquals", NOW, "1767225600", "2026-01-01T00:00:00Z") is Tri.YES
    assert bound("DateGreaterThanEquals", NOW, "2026-01-01", "2025-12-31T23:59:59Z") is Tri.NO
    assert bound("DateNotEquals", NOW, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z") is Tri.YES


def test_ip_address_operators_match_cidr_blocks_of_both_families():
    assert bound("IpAddress", SOURCE_IP, "203.0.113.0/24", "203.0.113.9") is Tri.YES
    assert bound("IpAddress", SOURCE_IP, "203.0.113.0/24", "203.0.114.1") is Tri.NO
    assert bound("IpAddress", SOURCE_IP, "2001:db8::/32", "2001:db8::1") is Tri.YES
    assert bound("IpAddress", SOURCE_IP, "198.51.100.7", "198.51.100.7") is Tri.YES
    assert bound("NotIpAddress", SOURCE_IP, ["203.0.113.0/24", "10.0.0.0/8"], "10.1.2.3") is Tri.NO
    assert bound("NotIpAddress", SOURCE_IP, ["203.0.113.0/24", "10.0.0.0/8"], "192.0.2.1") is Tri.YES


def test_numeric_operators():
    assert bound("NumericLessThanEquals", MFA_AGE, "3600", "3600") is Tri.YES
    assert bound("NumericLessThanEquals", MFA_AGE, "3600", "3601") is Tri.NO
    assert bound("NumericNotEquals", MFA_AGE, ["1", "2"], "3") is Tri.YES
    assert bound("NumericEquals", MFA_AGE, "1", "not-a-number") is Tri.NO


def test_arn_operators_match_each_component_separately():
    # IAM User Guide, ARN condition operators: a wildcard does not run past a colon, as in StringLike
    assert bound("ArnLike", SOURCE_ARN, "arn:aws:iam::*:role/*", "arn:aws:iam::111111111111:role/x") is Tri.YES
    assert bound("ArnLike", SOURCE_ARN, "arn:aws:iam::*", "arn:aws:iam::111111111111:role/x") is Tri.NO
    assert bound("StringLike", SOURCE_ARN, "arn:aws:iam::*", "arn:aws:iam::111111111111:role/x") is Tri.YES
    assert bound("ArnEquals", SOURCE_ARN, "arn:aws:s3:::b/*", "arn:aws:s3:::b/a:b:c") is Tri.YES
    assert bound("ArnNotLike", SOURCE_ARN, "arn:aws:sqs:*:*:q-?", "arn:aws:sqs:us-east-1:1:q-1") is Tri.NO


# --- soundness of the reasoning over unsettled keys (property-based, fixed seed) -----------------------
# Random statements over a vocabulary of request keys the scanner never knows; the engine answers with the
# keys unsettled, then with each key bound to a concrete value (or absent) drawn from a wider pool than the
# policies use. A YES or NO on the unsettled request must be the answer of every concrete request.


#: key → (operators, policy values, concrete request values); a tuple of values marks a multivalued key.
VOCABULARY: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple]] = {
    SOURCE_IP: (("IpAddress", "NotIpAddress"), ("10.0.0.0/8", "10.1.0.0/16", "203.0.113.7", "::/0", "2001:db8::/32"),
                ("10.1.2.3", "10.200.0.1", "203.0.113.7", "203.0.113.8", "192.0.2.1", "2001:db8::5", "::1")),
    MFA: (("Bool",), ("true", "false"), ("true", "false")),
    MFA_AGE: (("NumericLessThan", "NumericGreaterThanEquals", "NumericEquals", "NumericNotEquals"),
              ("0", "300", "3600"), ("0", "299", "300", "301", "3600", "86400")),
    NOW: (("DateLessThan", "DateGreaterThan", "DateEquals", "DateNotEquals", "DateLessThanEquals"),
          ("2026-01-01T00:00:00Z", "2026-06-01", "1767225600"),
          ("2025-12-31T23:59:59Z", "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-06-01T00:00:00Z",
           "2027-01-01T00:00:00Z")),
    ENV: (("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike",
           "StringNotLike"), ("prod", "Prod", "pr*", "*od", "p?od", "a${*}b", "*"),
          ("prod", "PROD", "pr", "prxod", "pod", "a*b", "axb", "", "zzz", "p?od", "prod-od")),
    SOURCE_ARN: (("ArnLike", "ArnNotLike", "StringLike"), ("arn:aws:s3:::b-*", "arn:aws:s3:::*", "arn:aws:*:*:*:*",
                                                           "arn:aws:iam::*"),
                 ("arn:aws:s3:::b-1", "arn:aws:s3:::c", "arn:aws:sns:us-east-1:1:t", "arn:aws:iam::1:role/r", "x",
                  "arn:aws:s3:::b-1:x")),
    TAG_KEYS: (("ForAnyValue:StringEquals", "ForAllValues:StringEquals", "ForAnyValue:StringNotLike",
                "ForAllValues:StringLike", "ForAnyValue:StringEqualsIfExists"), ("owner", "o*", "env"),
               ((), ("owner",), ("env", "x"), ("owner", "env"), ("Owner",), ("o1", "o2"))),
}
_NEVER_ABSENT = {NOW}  # "always included in the request context"


@st.composite
def conditional_statements(draw: st.DrawFn, keys: tuple[str, ...]) -> list[dict]:
    out = []
    for i in range(draw(st.integers(1, 4))):
        condition: dict[str, dict[str, object]] = {}
        for _ in range(draw(st.integers(0, 2))):
            key = draw(st.sampled_from(keys))
            ops, values, _ = VOCABULARY[key]
            op = draw(st.sampled_from(ops))
            op += "" if op.endswith("IfExists") else draw(st.sampled_from(("", "", "IfExists")))
            op = "Null" if draw(st.integers(0, 9)) == 0 else op
            value = draw(st.sampled_from(("true", "false"))) if op == "Null" else \
                draw(st.lists(st.sampled_from(values), min_size=1, max_size=2, unique=True))
            condition.setdefault(op, {})[key] = value
        effect = draw(st.sampled_from(("Allow", "Allow", "Deny")))
        out.append({"Sid": f"S{i}", "Effect": effect, "Action": "route53:*", "Resource": "*",
                    **({"Condition": condition} if condition else {})})
    return out


@st.composite
def concrete_contexts(draw: st.DrawFn, kind: str) -> tuple[dict[str, tuple[str, ...]], set[str]]:
    ctx: dict[str, tuple[str, ...]] = {}
    absent: set[str] = set()
    for key, (_, _, pool) in VOCABULARY.items():
        always = key in _NEVER_ABSENT or (kind == "role" and key == MFA)
        if not always and draw(st.integers(0, 4)) == 0:
            absent.add(key.lower())
            continue
        value = draw(st.sampled_from(pool))
        ctx[key.lower()] = value if isinstance(value, tuple) else (value,)
    return ctx, absent


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.data())
def test_answers_on_unsettled_keys_hold_for_every_concrete_value(data):
    kind = data.draw(st.sampled_from(("user", "role")))
    # few keys per case, so that several statements compare the same key (where the reasoning has work)
    keys = tuple(data.draw(st.lists(st.sampled_from(sorted(VOCABULARY)), min_size=1, max_size=2, unique=True)))
    statements = data.draw(conditional_statements(keys))
    boundary = data.draw(st.one_of(st.none(), conditional_statements(keys)))
    p = P.Principal(arn=f"arn:aws:iam::{A}:{kind}/caller", account=A, kind=kind,
                    policies=pol(*statements), boundary=None if boundary is None else pol(*boundary, name="b"))
    unsettled = P.evaluate(p, P.request(p, "route53:DeleteHostedZone", ZONE)).result
    for _ in range(6):
        ctx, absent = data.draw(concrete_contexts(kind))
        concrete = P.evaluate(p, P.request(p, "route53:DeleteHostedZone", ZONE, context=ctx, absent=absent)).result
        assert concrete is not Tri.MAYBE, (ctx, absent)
        assert unsettled is Tri.MAYBE or unsettled is concrete, (unsettled, concrete, ctx, absent, statements, boundary)


# --- malformed documents: PolicyError and nothing else (the connector turns it into a gap) ---------------

GOOD = {"Effect": "Allow", "Action": "route53:*", "Resource": "*"}
#: Shapes outside "Grammar of the IAM JSON policy language", each next to the grammar it breaks.
MALFORMED = {
    "statement-null": {"Statement": None},
    "statement-number": {"Statement": 3},
    "statement-string": {"Statement": "Allow everything"},
    "statement-of-strings": {"Statement": ["Allow"]},
    "version-number": {"Version": 2012, "Statement": [GOOD]},
    "version-unknown": {"Version": "2020-01-01", "Statement": [GOOD]},
    "effect-missing": {"Statement": [{"Action": "*", "Resource": "*"}]},
    "sid-object": {"Statement": [{**GOOD, "Sid": {"x": 1}}]},
    "no-action": {"Statement": [{"Effect": "Allow", "Resource": "*"}]},
    "action-and-not-action": {"Statement": [{**GOOD, "NotAction": "iam:*"}]},
    "action-number": {"Statement": [{**GOOD, "Action": 1}]},
    "action-null": {"Statement": [{**GOOD, "Action": None}]},
    "action-list-with-null": {"Statement": [{**GOOD, "Action": ["route53:*", None]}]},
    "action-object": {"Statement": [{**GOOD, "Action": {"route53": "*"}}]},
    "resource-null": {"Statement": [{**GOOD, "Resource": None}]},
    "resource-nested-list": {"Statement": [{**GOOD, "Resource": [["*"]]}]},
    "resource-and-not-resource": {"Statement": [{**GOOD, "NotResource": ZONE}]},
    "condition-list": {"Statement": [{**GOOD, "Condition": [{"Bool": {"aws:SecureTransport": "true"}}]}]},
    "condition-string": {"Statement": [{**GOOD, "Condition": "Bool"}]},
    "condition-null": {"Statement": [{**GOOD, "Condition": None}]},
    "condition-block-list": {"Statement": [{**GOOD, "Condition": {"StringEquals": ["a"]}}]},
    "condition-value-null": {"Statement": [{**GOOD, "Condition": {"StringEquals": {"aws:username": None}}}]},
    "condition-value-object": {"Statement": [{**GOOD, "Condition": {"StringEquals": {"aws:username": {"a": 1}}}}]},
    "condition-value-nested": {"Statement": [{**GOOD, "Condition": {"StringEquals": {"aws:username": [["a"]]}}}]},
    "principal-number": {"Statement": [{**GOOD, "Principal": 5}]},
    "principal-other-string": {"Statement": [{**GOOD, "Principal": "everyone"}]},
    "principal-list": {"Statement": [{**GOOD, "Principal": ["*"]}]},
    "principal-null": {"Statement": [{**GOOD, "Principal": None}]},
    "principal-account-number": {"Statement": [{**GOOD, "Principal": {"AWS": 111111111111}}]},
    "principal-and-not-principal": {"Statement": [{**GOOD, "Principal": "*", "NotPrincipal": {"AWS": ROOT_A}}]},
    # (a dict handed in, not JSON: keys that are not strings)
    "condition-key-number": {"Statement": [{**GOOD, "Condition": {"StringEquals": {1: "x"}}}]},
    "principal-type-number": {"Statement": [{**GOOD, "Principal": {1: "*"}}]},
    "document-list": [GOOD],
    "document-null": None,
    "json-broken": '{"Statement": [',
    "json-of-a-list": "[1, 2]",
    "json-nested-too-deeply": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("shape", sorted(MALFORMED))
def test_a_malformed_document_raises_policy_error(shape):
    with pytest.raises(P.PolicyError):
        P.parse_policy(MALFORMED[shape], shape)


def test_the_grammars_other_forms_parse():
    # one statement as an object, not a list; Version may be left out (then 2008-10-17: no variables)
    [st] = P.parse_policy({"Statement": {**GOOD, "Resource": "arn:aws:iam::${aws:username}"}}, "p")
    assert st.actions == ("route53:*",) and st.variables is False
    # condition values may be numbers and Booleans, which JSON spells true and false
    [st] = P.parse_policy({"Version": "2012-10-17", "Statement": [{**GOOD, "Condition": {
        "Bool": {"aws:SecureTransport": True}, "NumericLessThan": {"aws:MultiFactorAuthAge": [300, 3600.5]}}}]}, "p")
    assert {c.key: c.values for c in st.conditions} == {"aws:SecureTransport": ("true",),
                                                        "aws:MultiFactorAuthAge": ("300", "3600.5")}
    # a trust policy has no Resource; Principal is "*" or an object of types
    [st] = P.parse_policy({"Statement": [{"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com"]},
                                          "Action": "sts:AssumeRole"}]}, "trust")
    assert st.resources == ("*",) and st.principals == {"Service": ("ec2.amazonaws.com",)}
    assert P.parse_policy({"Statement": []}, "empty") == () == P.parse_policy({}, "none")


def test_string_comparisons_over_every_spare_character_still_evaluate():
    # the reasoning over unsettled keys needs a character the policy values do not mention: there always is one
    every = "~#%!^&|`\ue100\ue101"
    p = who(allow("*", Condition={"StringLike": {ENV: every}}), deny("*", Condition={"StringLike": {ENV: every}}))
    assert can(p, "route53:DeleteHostedZone", ZONE) is Tri.NO  # allowed only where it matches, and denied there
    assert can(who(allow("*", Condition={"StringLike": {ENV: every}})), "route53:DeleteHostedZone", ZONE) is Tri.MAYBE


# Random JSON values, and documents that are almost policies (every element drawn from valid values and
# junk), with a fixed seed: parse_policy lets only PolicyError out, and whatever parses evaluates without
# raising, as identity policy, boundary, SCP, resource policy and trust policy.


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12)


def _one_or_list(values: tuple[str, ...]) -> st.SearchStrategy:
    one = st.sampled_from(values) | st.text(max_size=12)
    return one | st.lists(one, max_size=3)


_ACTIONS = ("*", "route53:*", "route53:Change*", "secretsmanager:Get*", "sts:AssumeRole", "s?s:*", "iam:*", "")
_RESOURCES = ("*", ZONE, SECRET, ROLE, "arn:aws:secretsmanager:*:*:secret:${aws:username}/*", "arn:aws:*:::x",
              "arn:aws:route53:::hostedzone/${aws:PrincipalTag/zone, 'Z1'}", "${", "${*}${?}${$}", "arn:")
_PRINCIPALS = ("*", ROOT_A, A, f"arn:aws:iam::{A}:user/alice", f"arn:aws:iam::{A}:role/caller",
               f"arn:aws:sts::{A}:assumed-role/caller/s", "ec2.amazonaws.com")
_KEYS = ("aws:username", "aws:PrincipalTag/team", "aws:SourceIp", "aws:CurrentTime", "aws:MultiFactorAuthPresent",
         "aws:MultiFactorAuthAge", "aws:TagKeys", NAMES, TYPES, "aws:PrincipalArn", "aws:SecureTransport", "")
_OPERATORS = ("StringEquals", "StringNotLike", "StringLikeIfExists", "ForAnyValue:StringLike",
              "ForAllValues:StringNotEquals", "ArnLike", "ArnNotEquals", "Bool", "BoolIfExists", "NumericLessThan",
              "DateGreaterThan", "IpAddress", "NotIpAddress", "Null", "BinaryEquals", "ForSome:StringEquals",
              "Bogus", "ForAnyValue:", ":", "")
_CONDITION_VALUE = st.one_of(
    st.sampled_from(("true", "false", "10.0.0.0/8", "::/0", "300", "2026-01-01T00:00:00Z", "1767225600", "a*b?",
                     "${aws:username}", "${aws:PrincipalTag/team, 'x'}", "arn:aws:iam::*:user/*", "*.example.com",
                     "\\052", "", "nan", "1e999", "~#%!^&|`")),
    st.text(max_size=8), st.booleans(), st.integers(), st.floats(allow_nan=True))
_CONDITION = st.dictionaries(st.sampled_from(_OPERATORS), st.dictionaries(
    st.sampled_from(_KEYS), _CONDITION_VALUE | st.lists(_CONDITION_VALUE, max_size=3), max_size=2), max_size=3)
_PRINCIPAL = st.just("*") | st.dictionaries(st.sampled_from(("AWS", "Service")), _one_or_list(_PRINCIPALS),
                                            min_size=1, max_size=2)
_ELEMENTS = ("Effect", "Sid", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal",
             "Condition")


@st.composite
def _statement(draw: st.DrawFn) -> dict:
    """A statement of the grammar, one time in three with one element replaced or added out of it."""
    out: dict = {"Effect": draw(st.sampled_from(("Allow", "Deny")))}
    out[draw(st.sampled_from(("Action", "NotAction")))] = draw(_one_or_list(_ACTIONS))
    resource = draw(st.sampled_from((None, "Resource", "Resource", "NotResource")))
    if resource:
        out[resource] = draw(_one_or_list(_RESOURCES))
    principal = draw(st.sampled_from((None, None, "Principal", "NotPrincipal")))
    if principal:
        out[principal] = draw(_PRINCIPAL)
    if draw(st.booleans()):
        out["Condition"] = draw(_CONDITION)
    if draw(st.integers(0, 2)) == 0:
        out[draw(st.sampled_from(_ELEMENTS))] = draw(_JSON)
    return out


@st.composite
def _document(draw: st.DrawFn) -> object:
    doc: dict = {"Statement": draw(st.lists(_statement(), max_size=3) | _statement())}
    version = draw(st.sampled_from((None, "2012-10-17", "2012-10-17", "2008-10-17")))
    if version:
        doc["Version"] = version
    if draw(st.integers(0, 5)) == 0:
        doc[draw(st.sampled_from(("Version", "Statement", "Id")))] = draw(_JSON)
    form = draw(st.integers(0, 9))
    return json.dumps(doc) if form == 8 else urllib.parse.quote(json.dumps(doc)) if form == 9 else doc


_DOCUMENTS = st.one_of(_document(), _document(), _document(), _document(), _JSON, st.text(max_size=20))


def _parsed(document: object) -> tuple[P.Statement, ...] | None:
    try:
        return P.parse_policy(document, "fuzz")
    except P.PolicyError:
        return None


@seed(20261211)
@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents=st.lists(_DOCUMENTS, min_size=1, max_size=3), kind=st.sampled_from(("user", "role")),
       bounded=st.booleans())
def test_only_policy_error_escapes_parsing_and_what_parses_evaluates(documents, kind, bounded):
    parsed = [s for s in map(_parsed, documents) if s is not None]
    if not parsed:
        return
    statements = parsed[0]
    p = P.Principal(arn=f"arn:aws:iam::{A}:{kind}/caller", account=A, kind=kind, policies=statements,
                    boundary=parsed[-1] if bounded else None, scp_levels=tuple(parsed[1:]) or None,
                    tags={"team": "dns"})
    records = {k.lower(): v for k, v in ((NAMES, ("www.example.com",)), (TYPES, ("A", "TXT")))}
    for action, resource, context in (("route53:ChangeResourceRecordSets", ZONE, records),
                                      ("secretsmanager:GetSecretValue", SECRET, None)):
        for rp in ((), statements):
            acc = P.evaluate(p, P.request(p, action, resource, context=context), rp, rcp_levels=tuple(parsed))
            assert acc.result in (Tri.YES, Tri.MAYBE, Tri.NO)
    assert P.can_assume(p, ROLE, A, parsed[-1], rcp_levels=tuple(parsed)).result in (Tri.YES, Tri.MAYBE, Tri.NO)
    P.trusts_service(parsed[-1], "ec2.amazonaws.com")
    P.allows_tag_session(parsed[-1])
