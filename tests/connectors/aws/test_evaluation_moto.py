"""Regression tests for issue 11's AWS evaluation items 12, 16, 17 and 19, and for the engine defects the
differential test found (test_differential.py: Principal "*", a role's boundary on a trust policy naming it,
NotPrincipal with permissions boundaries and with an account), end to end: the estate is seeded into moto's
server through boto3 as a user would build it, `commonmode scan` reads it, and the grants are read back with
`commonmode inventory`. Each identity's comment says what the engine must conclude and which rule (IAM User
Guide page) says so; every test has identities that must and must not get the access.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from commonmode.cli import app

from .seed import ACCOUNT, allow, arn, doc, trust_account
from .test_connector import as_json, runner, write_config

MFA = "aws:MultiFactorAuthPresent"


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


class Estate:
    """boto3 clients on the moto server, and helpers that create identities the way a user would."""

    def __init__(self, endpoint: str) -> None:
        kw = dict(endpoint_url=endpoint, region_name="us-east-1")
        self.iam, self.r53, self.sm = (boto3.client(s, **kw) for s in ("iam", "route53", "secretsmanager"))

    def zone(self, name: str) -> str:
        return self.r53.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"].rsplit("/", 1)[-1]

    def health_check(self, ref: str) -> str:
        return self.r53.create_health_check(CallerReference=ref, HealthCheckConfig={
            "IPAddress": "192.0.2.10", "Port": 443, "Type": "HTTPS", "ResourcePath": "/health"})["HealthCheck"]["Id"]

    def role(self, name: str, *statements: dict[str, Any], trust: str | None = None,
             boundary: str | None = None) -> None:
        kw: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": trust or trust_account()}
        if boundary:
            kw["PermissionsBoundary"] = boundary
        self.iam.create_role(**kw)
        if statements:
            self.iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=doc(*statements))

    def user(self, name: str, *statements: dict[str, Any], tags: dict[str, str] | None = None) -> None:
        # No boundary here: moto 5.2 keeps no user permissions boundary (GAAD and GetUser omit it), so the
        # user cases of boundary rules are pure tests (test_policy.py).
        self.iam.create_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
        if statements:
            self.iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=doc(*statements))

    def managed(self, name: str, *statements: dict[str, Any]) -> str:
        return self.iam.create_policy(PolicyName=name, PolicyDocument=doc(*statements))["Policy"]["Arn"]

    def secret(self, name: str, *policy: dict[str, Any]) -> str:
        """A secret, with a resource policy of these statements (none without)."""
        secret_arn = self.sm.create_secret(Name=name, SecretString="x")["ARN"]
        if policy:
            self.sm.put_resource_policy(SecretId=secret_arn, ResourcePolicy=doc(*policy))
        return secret_arn


def scan(endpoint: str, tmp: Path) -> dict[str, dict[str, Any]]:
    """Run `commonmode scan` and return the inventory by identity name."""
    cfg = write_config(tmp, endpoint)
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "ok"
    return {i["name"]: i for i in as_json(cfg, "inventory")}


def grants(identity: dict[str, Any], capability: str) -> dict[str, dict[str, Any]]:
    """resource → the grant, for one capability of one identity."""
    return {m["resource"]: m for m in identity["can_modify"] if m["capability"] == capability}


def zone_arn(zid: str) -> str:
    return f"arn:aws:route53:::hostedzone/{zid}"


def health_check_arn(hc: str) -> str:
    return f"arn:aws:route53:::healthcheck/{hc}"


def test_unsettled_denies_make_access_conditional_and_complementary_ones_remove_it(aws, tmp_path):
    """Item 12. IAM User Guide, "Policy evaluation logic": an explicit Deny wins; here it rests on a key the
    scan cannot know (MFA, source address), so access depends on that key — unless the Denies together
    cover every value of it."""
    e = Estate(aws)
    z = zone_arn(e.zone("example.com."))
    records = allow("route53:ChangeResourceRecordSets", z)
    # conditional: denied without MFA, allowed with it; the Deny is named in via
    e.role("mfa-guarded", records, deny("*", Sid="NoMFA", Condition={"BoolIfExists": {MFA: "false"}}))
    e.user("mfa-guarded-user", records, deny("*", Sid="NoMFA", Condition={"BoolIfExists": {MFA: "false"}}))
    e.role("office-deny", records,
           deny("*", Sid="NotOffice", Condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    # no access: absent or false is denied by the first, true by the second
    e.role("mfa-both", records, deny("*", Condition={"BoolIfExists": {MFA: "false"}}),
           deny("*", Condition={"Bool": {MFA: "true"}}))
    # no access: inside and outside the same network
    e.role("ip-both", records, deny("*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
           deny("*", Condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    # no access: the key is either absent or present
    e.role("null-both", records, deny("*", Condition={"Null": {"aws:SourceVpce": "true"}}),
           deny("*", Condition={"Null": {"aws:SourceVpce": "false"}}))
    # control: a Deny the scan settles removes access, one that never applies leaves it
    e.role("settled", records, deny("*", Condition={"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}))
    e.role("other-account", records, deny("*", Condition={"StringEquals": {"aws:PrincipalAccount": "210987654321"}}))
    inv = scan(aws, tmp_path)
    for name in ("mfa-guarded", "mfa-guarded-user", "office-deny"):
        grant = grants(inv[name], "dns.write")[z]
        assert grant["conditional"] is True, name
        assert any("may remove it" in v and ("NoMFA" in v or "NotOffice" in v) for v in grant["via"]), grant
    for name in ("mfa-both", "ip-both", "null-both", "settled"):
        assert grants(inv[name], "dns.write") == {}, name
    assert grants(inv["other-account"], "dns.write")[z]["conditional"] is False


def test_for_any_value_on_an_absent_key_is_false_whatever_the_operator(aws, tmp_path):
    """Item 16. IAM User Guide, "Creating a condition with multiple keys or values": ForAnyValue returns
    false "for no matching key or a null dataset", ForAllValues true. Route 53's record keys are absent from
    UpdateHealthCheck requests (Route 53 Developer Guide: they exist on ChangeResourceRecordSets only)."""
    e = Estate(aws)
    hc = health_check_arn(e.health_check("hc"))
    types = "route53:ChangeResourceRecordSetsRecordTypes"
    names = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
    update = "route53:UpdateHealthCheck"
    # the Allow's condition is false: no failover.write
    e.role("any-not-equals", allow(update, Condition={"ForAnyValue:StringNotEquals": {types: ["NS"]}}))
    e.role("any-if-exists", allow(update, Condition={"ForAnyValue:StringEqualsIfExists": {types: ["A"]}}))
    # the Deny's condition is false: the Allow stands, unconditionally
    e.role("deny-any-not-like", allow(update), deny(update, Condition={"ForAnyValue:StringNotLike": {names: ["x.*"]}}))
    # ForAllValues is vacuously true: the Allow applies, the Deny too
    e.role("all-values", allow(update, Condition={"ForAllValues:StringEquals": {types: ["A"]}}))
    e.role("deny-all-values", allow(update), deny(update, Condition={"ForAllValues:StringEquals": {types: ["A"]}}))
    inv = scan(aws, tmp_path)
    assert grants(inv["any-not-equals"], "failover.write") == {}
    assert grants(inv["any-if-exists"], "failover.write") == {}
    assert grants(inv["deny-any-not-like"], "failover.write")[hc]["conditional"] is False
    assert grants(inv["all-values"], "failover.write")[hc]["conditional"] is False
    assert grants(inv["deny-all-values"], "failover.write") == {}


def test_policy_variables_are_resolved_from_the_principal(aws, tmp_path):
    """Item 17. IAM User Guide, "IAM policy elements: Variables and tags": variables take the principal's
    values (aws:username for IAM users only, its tags, its account); "Policy variables with no value": an
    element whose variable has no value matches nothing; a default value is used instead; ${*} is a literal."""
    e = Estate(aws)
    za, zb = e.zone("example.com."), e.zone("example.net.")
    by_tag = allow("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/${aws:PrincipalTag/zone}")
    e.user("tagged", by_tag, tags={"zone": za})  # zone A only, unconditionally
    e.user("untagged", by_tag)  # no tag: nothing
    e.user("defaulted", allow("route53:ChangeResourceRecordSets",
                              f"arn:aws:route53:::hostedzone/${{aws:PrincipalTag/zone, '{zb}'}}"))  # zone B
    # Secrets Manager authorizes on resource tags (Route 53 does not: AWS Knowledge Center, "Why aren't my
    # IAM policies evaluating the tags on my resources?"): carol reads the secret tagged owner=carol only
    e.user("carol", allow("secretsmanager:GetSecretValue", "*",
                          Condition={"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}}))
    e.role("literal-star", allow("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/${*}"))  # none
    own = allow("secretsmanager:GetSecretValue",
                f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:${{aws:username}}/*")
    e.user("alice", own)
    e.role("alice-role", own)  # a role has no aws:username: nothing
    e.role("in-my-account", allow("secretsmanager:GetSecretValue",
                                  "arn:aws:secretsmanager:*:${aws:PrincipalAccount}:secret:*"))
    mine = e.sm.create_secret(Name="alice/api-key", SecretString="x")["ARN"]
    theirs = e.sm.create_secret(Name="bob/api-key", SecretString="x")["ARN"]
    carols, daves = (e.sm.create_secret(Name=f"shared/{who}", SecretString="x", Tags=[{"Key": "owner", "Value": who}])
                     ["ARN"] for who in ("carol", "dave"))
    inv = scan(aws, tmp_path)

    def unconditional(name: str, capability: str) -> set[str]:
        got = grants(inv[name], capability)
        assert all(not g["conditional"] for g in got.values()), (name, got)
        return set(got)

    assert unconditional("tagged", "dns.write") == {zone_arn(za)}
    assert unconditional("untagged", "dns.write") == set()
    assert unconditional("defaulted", "dns.write") == {zone_arn(zb)}
    carol = grants(inv["carol"], "secret.read")
    assert carol[carols]["conditional"] is False and daves not in carol
    assert unconditional("literal-star", "dns.write") == set()
    assert unconditional("alice", "secret.read") == {mine}
    assert unconditional("alice-role", "secret.read") == set()
    assert unconditional("in-my-account", "secret.read") == {mine, theirs, carols, daves}


def test_conditions_that_contradict_along_one_evaluation_mean_no_access(aws, tmp_path):
    """Item 19. Within one request the identity policy and the permissions boundary must both allow (IAM
    User Guide, "Permissions boundaries for IAM entities"); for sts:AssumeRole through a trust policy naming
    the account, the trust policy and the caller's own policy must both allow. When they want opposite
    values of one key, nothing is left."""
    e = Estate(aws)
    z = zone_arn(e.zone("example.com."))
    hc = e.health_check("hc")

    def wants(v):
        return {"Bool": {MFA: v}}

    boundary = e.managed("mfa-boundary", allow("route53:*", Condition=wants("true")), allow("sts:AssumeRole"))
    e.role("split", allow("route53:ChangeResourceRecordSets", z, Condition=wants("false")), boundary=boundary)
    e.role("agree", allow("route53:ChangeResourceRecordSets", z, Condition=wants("true")), boundary=boundary)
    e.role("operator", allow("route53:UpdateHealthCheck", health_check_arn(hc)), trust=doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole",
         "Condition": wants("true")}))
    e.user("no-mfa-caller", allow("sts:AssumeRole", arn("role", "operator"), Condition=wants("false")))
    e.user("mfa-caller", allow("sts:AssumeRole", arn("role", "operator"), Condition=wants("true")))
    inv = scan(aws, tmp_path)
    assert grants(inv["split"], "dns.write") == {}
    assert grants(inv["agree"], "dns.write")[z]["conditional"] is True
    assert [a["identity"] for a in inv["no-mfa-caller"]["can_assume"]] == []
    assumed = {a["identity"]: a for a in inv["mfa-caller"]["can_assume"]}
    assert assumed[arn("role", "operator")]["conditional"] is True


def test_what_the_scan_knows_of_principals_and_resources_settles_conditions_only_where_aws_would(aws, tmp_path):
    """The build passes the engine what decides a request and no more. A role whose trust allows
    sts:TagSession has session tags the scan cannot know (IAM User Guide, "Passing session tags in AWS STS"):
    its principal-tag conditions stay conditional; a user's tags are its tags. Route 53 requests carry no
    aws:ResourceTag (Service Authorization Reference: no tag keys on hostedzone), so a zone's own tags never
    satisfy a ResourceTag condition; a secret's do, and a tag it lacks is known to be absent. A user's
    aws:userid is its UserId."""
    e = Estate(aws)
    za = e.zone("example.com.")
    e.r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=za,
                                   AddTags=[{"Key": "team", "Value": "dns"}])
    by_team = allow("route53:ChangeResourceRecordSets", "*",
                    Condition={"StringEquals": {"aws:PrincipalTag/team": "dns"}})
    tagging = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": ["sts:AssumeRole", "sts:TagSession"]}]})
    e.role("session-tagged", by_team, trust=tagging)
    e.iam.tag_role(RoleName="session-tagged", Tags=[{"Key": "team", "Value": "dns"}])
    e.role("role-tagged", by_team)
    e.iam.tag_role(RoleName="role-tagged", Tags=[{"Key": "team", "Value": "dns"}])
    e.role("zone-tag", allow("route53:ChangeResourceRecordSets", "*",
                             Condition={"StringEquals": {"aws:ResourceTag/team": "dns"}}))
    e.role("secret-tag", allow("secretsmanager:GetSecretValue", "*",
                               Condition={"StringEquals": {"aws:ResourceTag/team": "dns"}}))
    e.role("no-secret-tag", allow("secretsmanager:GetSecretValue", "*",
                                  Condition={"Null": {"aws:ResourceTag/missing": "false"}}))
    e.user("me")
    me = e.iam.get_user(UserName="me")["User"]["UserId"]
    by_id = {"Condition": {"StringEquals": {"aws:userid": me}}}
    e.iam.put_user_policy(UserName="me", PolicyName="inline", PolicyDocument=doc(
        allow("secretsmanager:GetSecretValue", "*", **by_id)))
    e.user("not-me", allow("secretsmanager:GetSecretValue", "*", **by_id))
    secret = e.sm.create_secret(Name="dns/key", SecretString="x", Tags=[{"Key": "team", "Value": "dns"}])["ARN"]
    inv = scan(aws, tmp_path)
    zone = zone_arn(za)
    assert grants(inv["session-tagged"], "dns.write")[zone]["conditional"] is True
    assert grants(inv["role-tagged"], "dns.write")[zone]["conditional"] is False
    assert zone not in grants(inv["zone-tag"], "dns.write")
    assert grants(inv["secret-tag"], "secret.read")[secret]["conditional"] is False
    assert secret not in grants(inv["no-secret-tag"], "secret.read")
    assert grants(inv["me"], "secret.read")[secret]["conditional"] is False
    assert secret not in grants(inv["not-me"], "secret.read")


def assumable(identity: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """role ARN → the sts:AssumeRole grant, for one identity."""
    return {a["identity"]: a for a in identity["can_assume"]}


READ = "secretsmanager:GetSecretValue"


def test_principal_star_in_a_same_account_resource_or_trust_policy_needs_no_identity_allow(aws, tmp_path):
    """Principal "*" (test_differential.py, star-principal). IAM User Guide, "AWS JSON policy elements:
    Principal", All principals: a resource-based policy naming "*" grants IAM users and role principals of its
    own account access with "no other permissions"; same page, IAM role principals: boundaries and session
    policies do not limit what a "*" Principal grants, only an explicit Deny does. Naming the account root
    delegates to the identity policies instead (AWS account principals). A trust policy is a resource-based
    policy: "*" lets the account's principals assume the role without an identity Allow of sts:AssumeRole."""
    e = Estate(aws)
    open_secret = e.secret("open/db", allow(READ, Principal="*"))
    aws_star = e.secret("open/api", allow(READ, Principal={"AWS": "*"}))
    delegated = e.secret("delegated/db", allow(READ, Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    r53 = e.managed("route53-only", allow("route53:*"))
    e.user("no-policy")  # both open secrets, not the delegated one
    e.role("bounded", boundary=r53)  # the boundary does not cap "*": both open secrets
    e.role("denied", deny(READ))  # an explicit Deny still wins: nothing
    # trust policies: "*" against the account root
    e.role("open-role", trust=doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}))
    e.role("root-role", trust=trust_account())
    # its only sts:AssumeRole Allow is on a third role: "*" lets it into open-role, root-role needs that Allow
    e.user("assumer", allow("sts:AssumeRole", arn("role", "elsewhere")))
    e.user("refused", allow("sts:AssumeRole", arn("role", "elsewhere")),
           deny("sts:AssumeRole", arn("role", "open-role")))
    e.user("no-assume-policy")  # no identity policy at all: "*" in the trust policy is enough
    inv = scan(aws, tmp_path)
    for name in ("no-policy", "bounded"):
        got = grants(inv[name], "secret.read")
        assert set(got) == {open_secret, aws_star}, (name, got)
        assert not any(g["conditional"] for g in got.values()), got
    assert delegated not in grants(inv["no-policy"], "secret.read")
    assert grants(inv["denied"], "secret.read") == {}
    assert set(assumable(inv["assumer"])) == {arn("role", "open-role")}
    assert assumable(inv["assumer"])[arn("role", "open-role")]["conditional"] is False
    assert assumable(inv["refused"]) == {}
    assert set(assumable(inv["no-assume-policy"])) == {arn("role", "open-role")}


def test_a_trust_policy_naming_a_role_is_capped_by_that_roles_boundary(aws, tmp_path):
    """test_differential.py, assume-role-boundary. IAM User Guide, "AWS JSON policy elements: Principal", IAM
    role principals: when a resource-based policy names a role, the role's permissions boundary limits the
    effective permissions; "Policy evaluation for requests within a single account": one naming an IAM user is
    not limited by the user's boundary. So a trust policy naming the caller is enough for a user whatever its
    boundary, and for a role only where its boundary allows sts:AssumeRole."""
    e = Estate(aws)
    r53 = e.managed("route53-only", allow("route53:*"))
    r53_and_sts = e.managed("route53-and-sts", allow("route53:*"), allow("sts:AssumeRole"))
    e.role("capped-deployer", boundary=r53)  # its boundary does not allow sts:AssumeRole: no
    e.role("deployer", boundary=r53_and_sts)  # yes
    e.role("unbounded")  # yes
    e.user("named-user")  # yes (its boundary would not cap it: test_policy.py, moto keeps no user boundary)
    e.user("other-user", allow("route53:*"))  # not named, and no identity Allow of sts:AssumeRole: no
    named = [arn("role", "capped-deployer"), arn("role", "deployer"), arn("role", "unbounded"),
             arn("user", "named-user")]
    e.role("target", trust=doc({"Effect": "Allow", "Principal": {"AWS": named}, "Action": "sts:AssumeRole"}))
    inv = scan(aws, tmp_path)
    target = arn("role", "target")
    assert target not in assumable(inv["capped-deployer"])
    assert target not in assumable(inv["other-user"])
    for name in ("deployer", "unbounded", "named-user"):
        assert assumable(inv[name])[target]["conditional"] is False, name


def test_a_notprincipal_deny_always_denies_a_principal_with_a_permissions_boundary(aws, tmp_path):
    """test_differential.py, notprincipal-boundary. IAM User Guide, "AWS JSON policy elements: NotPrincipal",
    key points: a resource-policy Deny with NotPrincipal "will always deny any IAM principal that has a
    permissions boundary policy attached, regardless of the values specified in the NotPrincipal element"."""
    e = Estate(aws)
    everything = e.managed("secrets-boundary", allow("secretsmanager:*"))
    guarded = e.secret("guarded/db", {"Effect": "Deny", "NotPrincipal": {"AWS": [
        arn("user", "alice"), arn("role", "ops"), arn("role", "bounded-ops"), f"arn:aws:iam::{ACCOUNT}:root"]},
        "Action": "secretsmanager:*", "Resource": "*"})
    e.user("alice", allow("secretsmanager:*"))  # named with its account: excepted, reads it
    # named with its account, no boundary: excepted only if its session is named too (the page's role example
    # names the session; the scan does not know session names): conditional
    e.role("ops", allow("secretsmanager:*"))
    e.role("bounded-ops", allow("secretsmanager:*"), boundary=everything)  # named, but bounded: denied
    inv = scan(aws, tmp_path)
    assert guarded not in grants(inv["bounded-ops"], "secret.read")
    assert grants(inv["alice"], "secret.read")[guarded]["conditional"] is False
    assert grants(inv["ops"], "secret.read")[guarded]["conditional"] is True


def test_a_notprincipal_naming_an_account_excepts_only_the_principals_it_names(aws, tmp_path):
    """test_differential.py, notprincipal-account. IAM User Guide, "AWS JSON policy elements: NotPrincipal",
    example "IAM user in the same or a different account": with the user Bob and Bob's account named, "all
    principals except the user named Bob" are explicitly denied; the account's ARN is there so that the
    account itself is not denied first, it does not except the account's other users and roles."""
    e = Estate(aws)
    guarded = e.secret("guarded/db", {"Effect": "Deny", "NotPrincipal": {"AWS": [
        arn("user", "alice"), f"arn:aws:iam::{ACCOUNT}:root"]}, "Action": "secretsmanager:*", "Resource": "*"})
    e.user("alice", allow("secretsmanager:*"))  # named: reads it
    e.user("bob", allow("secretsmanager:*"))  # same account, not named: denied
    e.role("ops", allow("secretsmanager:*"))  # likewise
    inv = scan(aws, tmp_path)
    assert grants(inv["alice"], "secret.read")[guarded]["conditional"] is False
    assert guarded not in grants(inv["bob"], "secret.read")
    assert guarded not in grants(inv["ops"], "secret.read")
