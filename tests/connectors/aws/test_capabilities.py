"""Every entry of capabilities.toml, with a positive and a negative case, through the real transform
(build.py) over GAAD-shaped data. Pure: no server."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from commonmode.model import Capability
from commonmode_aws.actions import CAPABILITIES_FILE, CapabilityTableError, load_actions, parse_actions
from commonmode_aws.build import Options, build
from commonmode_aws.snapshot import AccountData

A = "111111111111"
TABLE = load_actions()
ZONE_ID = "Z1"
PRIVATE_ZONE_ID = "Z2"
PRIVATE_ZONE = f"arn:aws:route53:::hostedzone/{PRIVATE_ZONE_ID}"
HC = "hc-1"
RC = f"arn:aws:route53-recovery-control::{A}:controlpanel/cp/routingcontrol/rc1"
SECRET = f"arn:aws:secretsmanager:us-east-1:{A}:secret:db-AbCdEf"
CERT = f"arn:aws:acm:us-east-1:{A}:certificate/c1"
PCA = f"arn:aws:acm-pca:us-east-1:{A}:certificate-authority/ca1"
PARAM = f"arn:aws:ssm:us-east-1:{A}:parameter/dns/prod/key"

#: Look-alike read actions per service: they must never give a capability.
READS = {
    "route53": "route53:Get*", "route53domains": "route53domains:Get*", "secretsmanager": "secretsmanager:Describe*",
    "acm": "acm:Describe*", "acm-pca": "acm-pca:Get*", "route53-recovery-cluster": "route53-recovery-cluster:Get*",
    "sts": "sts:GetCallerIdentity", "iam": "iam:Get*", "lambda": "lambda:Get*", "ec2": "ec2:Describe*",
    "cloudformation": "cloudformation:Describe*", "codebuild": "codebuild:BatchGet*",
    "ssm": "ssm:Describe*",
}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def role(name: str, *statements: dict[str, Any], trust: dict[str, Any] | None = None,
         managed: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"RoleName": name, "Arn": f"arn:aws:iam::{A}:role/{name}", "Path": "/",
            "AssumeRolePolicyDocument": trust or doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                                                      "Action": "sts:AssumeRole"}),
            "RolePolicyList": [{"PolicyName": "inline", "PolicyDocument": doc(*statements)}] if statements else [],
            "AttachedManagedPolicies": [{"PolicyArn": m, "PolicyName": m.rsplit("/", 1)[-1]} for m in managed]}


def user(name: str, *statements: dict[str, Any], groups: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"UserName": name, "Arn": f"arn:aws:iam::{A}:user/{name}", "Path": "/", "GroupList": list(groups),
            "UserPolicyList": [{"PolicyName": "inline", "PolicyDocument": doc(*statements)}] if statements else [],
            "AttachedManagedPolicies": []}


def estate(users=(), roles=(), groups=(), policies=()) -> AccountData:  # type: ignore[no-untyped-def]
    return AccountData(
        account=A,
        gaad={"UserDetailList": list(users), "RoleDetailList": list(roles), "GroupDetailList": list(groups),
              "Policies": list(policies)},
        zones=[{"Id": f"/hostedzone/{ZONE_ID}", "Name": "example.com.", "Config": {"PrivateZone": False}},
               {"Id": f"/hostedzone/{PRIVATE_ZONE_ID}", "Name": "internal.example.", "Config": {"PrivateZone": True}}],
        records={ZONE_ID: [{"Name": "api.example.com.", "Type": "A", "TTL": 60, "HealthCheckId": HC,
                            "ResourceRecords": [{"Value": "192.0.2.1"}]}],
                 PRIVATE_ZONE_ID: [{"Name": "db.internal.example.", "Type": "A", "TTL": 60,
                                    "ResourceRecords": [{"Value": "10.0.0.1"}]}]},
        health_checks=[{"Id": HC, "HealthCheckConfig": {"Type": "RECOVERY_CONTROL", "RoutingControlArn": RC}}],
        secrets={"us-east-1": [{"ARN": SECRET, "Name": "db", "Tags": []}]},
        parameters={"us-east-1": [{"Name": "/dns/prod/key", "Type": "SecureString", "KeyId": "alias/aws/ssm",
                                   "Tags": []}]},
        authorities={"us-east-1": [{"Arn": PCA, "Type": "SUBORDINATE", "Status": "ACTIVE", "Tags": [],
                                    "CertificateAuthorityConfiguration": {"Subject": {"CommonName": "Acme Issuing"}}}]},
        certificates={"us-east-1": [
            {"CertificateArn": CERT, "DomainName": "api.example.com", "CertificateAuthorityArn": PCA,
             "NotAfter": datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC)}]},
    )


RESOURCE_OF = {
    "hostedzone": f"arn:aws:route53:::hostedzone/{ZONE_ID}", "*": f"arn:aws:route53:::hostedzone/{ZONE_ID}",
    "healthcheck": f"arn:aws:route53:::healthcheck/{HC}", "routingcontrol": RC, "secret": SECRET,
    "certificate": CERT, "parameter": PARAM, "parameter-path": PARAM, "certificate-authority": PCA,
}


def grants(data: AccountData) -> set[tuple[str, str, str]]:
    return {(g.identity_id.rsplit("/", 1)[-1], g.capability.value, g.resource_id)
            for g in build([data], Options(connector="t"), TABLE).grants}


CASES = [(e, a) for e in TABLE.capabilities if e.capability is not Capability.IDENTITY_ASSUME for a in e.actions]


ZONE_OF_TYPE = {"public": RESOURCE_OF["hostedzone"], "private": PRIVATE_ZONE}


@pytest.mark.parametrize("entry,action", CASES, ids=[f"{e.capability.value}:{a}" for e, a in CASES])
def test_each_action_gives_its_capability_and_a_read_does_not(entry, action):
    yes = grants(estate(roles=[role("yes", {"Effect": "Allow", "Action": action, "Resource": "*"})]))
    if entry.zone_types:
        # on the zone types it acts on, and on no other (capabilities.toml zone_types)
        for kind, zone in ZONE_OF_TYPE.items():
            if kind in entry.zone_types:
                assert ("yes", entry.capability.value, zone) in yes, kind
            else:
                assert ("yes", entry.capability.value, zone) not in yes, kind
    else:
        assert ("yes", entry.capability.value, RESOURCE_OF[entry.resource]) in yes
    read = READS[action.split(":")[0]]
    no = grants(estate(roles=[role("no", {"Effect": "Allow", "Action": read, "Resource": "*"})]))
    assert not any(g[1] == entry.capability.value for g in no), no


def test_acm_pca_issue_is_cert_issue_on_the_ca_and_its_resource_policy_counts_across_accounts():
    ca_role = role("ca", {"Effect": "Allow", "Action": "acm-pca:IssueCertificate", "Resource": PCA})
    other = role("other", {"Effect": "Allow", "Action": "acm-pca:IssueCertificate",
                           "Resource": "arn:aws:acm-pca:us-east-1:111111111111:certificate-authority/ca2"})
    got = grants(estate(roles=[ca_role, other]))
    assert ("ca", "cert.issue", PCA) in got and not any(g[0] == "other" for g in got)
    # the certificate the CA issued has it as a parent: issuing there is on the certificate's path
    data = estate()
    [cert] = [r for r in build([data], Options(connector="t"), TABLE).resources if r.id == CERT]
    assert cert.parents == (PCA,)
    # a CA shared with another account (RAM) through its resource policy: both sides must allow
    B = "222222222222"
    shared = estate()
    shared.authorities["us-east-1"][0]["Policy"] = doc({"Effect": "Allow", "Principal": {"AWS": B},
                                                        "Action": "acm-pca:IssueCertificate", "Resource": PCA})
    caller = role("b-issuer", {"Effect": "Allow", "Action": "acm-pca:IssueCertificate", "Resource": PCA})
    caller["Arn"] = f"arn:aws:iam::{B}:role/b-issuer"
    b_data = AccountData(account=B, gaad={"UserDetailList": [], "RoleDetailList": [caller], "GroupDetailList": [],
                                          "Policies": []})
    got = {(g.identity_id, g.capability.value, g.resource_id) for g in build([shared, b_data], Options(connector="t"),
                                                                              TABLE).grants}
    assert (caller["Arn"], "cert.issue", PCA) in got
    got = {(g.identity_id, g.capability.value, g.resource_id) for g in build([estate(), b_data], Options(connector="t"),
                                                                              TABLE).grants}
    assert (caller["Arn"], "cert.issue", PCA) not in got


def test_sts_assume_role_entry():
    data = estate(users=[user("caller", {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
                         user("stranger", {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"})],
                  roles=[role("target")])
    got = grants(data)
    assert ("caller", "identity.assume", f"arn:aws:iam::{A}:role/target") in got
    assert not any(g[0] == "stranger" for g in got)


ESCALATIONS = [(t, a) for t, acts in TABLE.escalation.items() for a in acts]


@pytest.mark.parametrize("target,action", ESCALATIONS, ids=[a for _, a in ESCALATIONS])
def test_each_escalation_is_an_assume_edge(target, action):
    victim_role = role("victim-role",
                       {"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets", "Resource": "*"},
                       managed=(f"arn:aws:iam::{A}:policy/dns",))
    victim_user = user("victim-user", groups=("dns-team",))
    policies = [{"Arn": f"arn:aws:iam::{A}:policy/dns", "PolicyName": "dns", "PolicyVersionList": [
        {"IsDefaultVersion": True, "Document": doc({"Effect": "Allow", "Action": "route53:*", "Resource": "*"})}]}]
    groups = [{"GroupName": "dns-team", "Arn": f"arn:aws:iam::{A}:group/dns-team", "GroupPolicyList": [],
               "AttachedManagedPolicies": []}]
    tarn = {"role": victim_role["Arn"], "user": victim_user["Arn"], "policy": f"arn:aws:iam::{A}:policy/dns",
            "group": f"arn:aws:iam::{A}:group/dns-team"}[target]
    attacker = user("attacker", {"Effect": "Allow", "Action": action, "Resource": tarn})
    got = grants(estate(users=[attacker, victim_user], roles=[victim_role], groups=groups, policies=policies))
    victim = {"role": "victim-role", "user": "victim-user", "policy": "victim-role", "group": "victim-user"}[target]
    edge = ("attacker", "identity.assume", f"arn:aws:iam::{A}:{'role' if victim == 'victim-role' else 'user'}/{victim}")
    if action == "iam:AddUserToGroup":
        # adding itself to the group gains the group's policies: the attacker's own power, not an edge
        assert not any(g[0] == "attacker" and g[1] == "identity.assume" for g in got)
        return
    assert edge in got, sorted(got)
    reader = user("attacker", {"Effect": "Allow", "Action": READS["iam"], "Resource": tarn})
    got = grants(estate(users=[reader, victim_user], roles=[victim_role], groups=groups, policies=policies))
    assert not any(g[0] == "attacker" for g in got)


def test_writing_its_own_policy_makes_an_identity_as_powerful_as_its_guardrails():
    me = f"arn:aws:iam::{A}:user/me"
    got = grants(estate(users=[user("me", {"Effect": "Allow", "Action": "iam:PutUserPolicy", "Resource": me})]))
    assert ("me", "dns.write", RESOURCE_OF["hostedzone"]) in got
    other = grants(estate(users=[user("me", {"Effect": "Allow", "Action": "iam:PutUserPolicy",
                                             "Resource": f"arn:aws:iam::{A}:user/else"}), user("else")]))
    assert ("me", "dns.write", RESOURCE_OF["hostedzone"]) not in other


PASSROLE = [(svc, a) for svc, acts in TABLE.passrole.items() for a in acts]


@pytest.mark.parametrize("service,compute", PASSROLE, ids=[f"{s}:{a}" for s, a in PASSROLE])
def test_passrole_with_compute_is_an_assume_edge(service, compute):
    target = role("runner", {"Effect": "Allow", "Action": "route53:*", "Resource": "*"},
                  trust=doc({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}))
    both = user("dev", {"Effect": "Allow", "Action": ["iam:PassRole", compute], "Resource": "*"})
    assert ("dev", "identity.assume", target["Arn"]) in grants(estate(users=[both], roles=[target]))
    pass_only = user("dev", {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})
    assert ("dev", "identity.assume", target["Arn"]) not in grants(estate(users=[pass_only], roles=[target]))
    wrong_service = user("dev", {"Effect": "Allow", "Action": ["iam:PassRole", compute], "Resource": "*",
                                 "Condition": {"StringEquals": {"iam:PassedToService": "nothing.amazonaws.com"}}})
    assert ("dev", "identity.assume", target["Arn"]) not in grants(estate(users=[wrong_service], roles=[target]))


def test_joining_a_group_gains_its_policies():
    group = {"GroupName": "dns-team", "Arn": f"arn:aws:iam::{A}:group/dns-team", "AttachedManagedPolicies": [],
             "GroupPolicyList": [{"PolicyName": "dns", "PolicyDocument": doc(
                 {"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets", "Resource": "*"})}]}
    joiner = user("joiner", {"Effect": "Allow", "Action": "iam:AddUserToGroup", "Resource": group["Arn"]})
    got = grants(estate(users=[joiner], groups=[group]))
    assert ("joiner", "dns.write", RESOURCE_OF["hostedzone"]) in got
    other = {**group, "Arn": f"arn:aws:iam::{A}:group/other", "GroupName": "other"}
    got = grants(estate(users=[joiner], groups=[other]))
    assert not any(g[0] == "joiner" for g in got)


def test_get_parameters_by_path_is_decided_on_the_paths_the_parameter_is_under():
    def by_path(resource: str) -> set[tuple[str, str, str]]:
        return grants(estate(roles=[role("r", {"Effect": "Allow", "Action": "ssm:GetParametersByPath",
                                               "Resource": resource})]))

    read = ("r", "secret.read", PARAM)
    base = f"arn:aws:ssm:us-east-1:{A}:parameter/"
    assert read in by_path(base + "dns/prod")  # its parent
    assert read in by_path(base + "dns")  # recursively, from higher up
    assert read in by_path(base)  # from /
    assert read in by_path(base + "dns/*")  # matches the path /dns/prod
    # the parameter's own ARN, a sibling path, or only what lies below its parent are not a path asked for
    assert read not in by_path(PARAM)
    assert read not in by_path(base + "dns/staging")
    assert read not in by_path(base + "dns/prod/*")


def test_a_customer_kms_key_makes_a_parameter_read_conditional():
    data = estate(roles=[role("r", {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"})])
    data.parameters["us-east-1"][0]["KeyId"] = f"arn:aws:kms:us-east-1:{A}:key/k1"
    [g] = [g for g in build([data], Options(connector="t"), TABLE).grants if g.resource_id == PARAM]
    assert g.conditional and any("kms:Decrypt" in v for v in g.via)
    aws_ssm = estate(roles=[role("r", {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"})])
    [g] = [g for g in build([aws_ssm], Options(connector="t"), TABLE).grants if g.resource_id == PARAM]
    assert not g.conditional


# --- the table's zone types (issue 11, item 18) ----------------------------------------------------------

TOML_ENTRY = """
[[capability]]
capability = "dns.admin"
resource = "{resource}"
{zone_types}actions = ["route53:DeleteHostedZone"]

[[escalation]]
target = "role"
actions = ["iam:PutRolePolicy"]

[[passrole]]
service = "ec2.amazonaws.com"
actions = ["ec2:RunInstances"]
"""


def table(resource: str = "hostedzone", zone_types: str | None = '["public", "private"]') -> str:
    return TOML_ENTRY.format(resource=resource, zone_types=f"zone_types = {zone_types}\n" if zone_types else "")


def test_every_zone_entry_of_the_shipped_table_names_its_zone_types():
    for e in TABLE.capabilities:
        assert bool(e.zone_types) == (e.resource in ("hostedzone", "*")), e
    by_action = {a: e.zone_types for e in TABLE.capabilities for a in e.actions}
    assert by_action["route53:AssociateVPCWithHostedZone"] == {"private"}
    assert by_action["route53:DisassociateVPCFromHostedZone"] == {"private"}
    assert by_action["route53:EnableHostedZoneDNSSEC"] == by_action["route53:CreateKeySigningKey"] == {"public"}
    assert (by_action["route53:DeleteHostedZone"] == by_action["route53:ChangeResourceRecordSets"]
            == {"public", "private"})
    assert by_action["route53domains:UpdateDomainNameservers"] == {"public"}


@pytest.mark.parametrize("resource,zone_types,error", [
    ("hostedzone", None, "capability[0].zone_types: missing"),
    ("*", None, "capability[0].zone_types: missing"),
    ("hostedzone", "[]", "capability[0].zone_types: expected a non-empty list of strings"),
    ("hostedzone", '"private"', "capability[0].zone_types: expected a non-empty list of strings"),
    ("hostedzone", '["public", "vpc"]', 'capability[0].zone_types: expected distinct values from "public", "private"'),
    ("hostedzone", '["public", "public"]', "capability[0].zone_types: expected distinct values"),
    ("secret", '["public"]', "capability[0].zone_types: only entries decided on hosted zones"),
])
def test_a_missing_or_invalid_zone_types_is_an_error_naming_the_entry(resource, zone_types, error):
    with pytest.raises(CapabilityTableError, match="^" + CAPABILITIES_FILE + ": " + error.replace("[", r"\[")):
        parse_actions(table(resource, zone_types))


def test_a_valid_table_parses_and_a_broken_one_is_refused():
    parsed = parse_actions(table())
    assert parsed.capabilities[0].zone_types == {"public", "private"}
    assert parse_actions(table("secret", None)).capabilities[0].zone_types == frozenset()
    with pytest.raises(CapabilityTableError, match="unknown keys"):
        parse_actions(table().replace("zone_types", "zone_type"))
    with pytest.raises(CapabilityTableError, match=r"capability\[0\].capability: expected one of"):
        parse_actions(table().replace('"dns.admin"', '"dns.own"'))
    with pytest.raises(CapabilityTableError, match="not valid TOML"):
        parse_actions("[[capability]\n")


# --- the strongest answer over every action (issue 11, item 14) ----------------------------------------

OFFICE = {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}
HC_ARN = f"arn:aws:route53:::healthcheck/{HC}"


def grant_map(data: AccountData) -> dict[tuple[str, str, str], Any]:
    return {(g.identity_id.rsplit("/", 1)[-1], g.capability.value, g.resource_id): g
            for g in build([data], Options(connector="t"), TABLE).grants}


@pytest.mark.parametrize("first,second", [("route53:UpdateHealthCheck", "route53:DeleteHealthCheck"),
                                          ("route53:DeleteHealthCheck", "route53:UpdateHealthCheck")])
def test_an_unconditional_action_beats_a_conditional_one_whatever_their_order(first, second):
    got = grant_map(estate(roles=[role("r", {"Effect": "Allow", "Action": first, "Resource": "*", "Condition": OFFICE},
                                       {"Effect": "Allow", "Action": second, "Resource": "*"})]))
    g = got[("r", "failover.write", HC_ARN)]
    assert not g.conditional and any(v == f"{second} allowed" for v in g.via), g.via
    got = grant_map(estate(roles=[role("r", {"Effect": "Allow", "Action": [first, second], "Resource": "*",
                                             "Condition": OFFICE})]))
    g = got[("r", "failover.write", HC_ARN)]
    assert g.conditional and "route53:UpdateHealthCheck, route53:DeleteHealthCheck allowed" in g.via, g.via


def test_a_registrar_action_can_make_dns_admin_unconditional_and_a_zone_action_can_too():
    zone = RESOURCE_OF["hostedzone"]
    got = grant_map(estate(roles=[role("r", {"Effect": "Allow", "Action": "route53:DeleteHostedZone", "Resource": "*",
                                             "Condition": OFFICE},
                                       {"Effect": "Allow", "Action": "route53domains:UpdateDomainNameservers",
                                        "Resource": "*"})]))
    g = got[("r", "dns.admin", zone)]
    assert not g.conditional and any("registrar" in v and "UpdateDomainNameservers" in v for v in g.via)
    got = grant_map(estate(roles=[role("r", {"Effect": "Allow", "Action": "route53domains:*", "Resource": "*",
                                             "Condition": OFFICE},
                                       {"Effect": "Allow", "Action": "route53:DeleteHostedZone", "Resource": "*"})]))
    assert not got[("r", "dns.admin", zone)].conditional


def test_passrole_takes_the_strongest_compute_action_and_a_conditional_trust_caps_it():
    target = role("runner", {"Effect": "Allow", "Action": "route53:*", "Resource": "*"},
                  trust=doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                             "Action": "sts:AssumeRole"}))
    dev = user("dev",
               {"Effect": "Allow", "Action": ["iam:PassRole", "ec2:AssociateIamInstanceProfile"], "Resource": "*"},
               {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*", "Condition": OFFICE})
    g = grant_map(estate(users=[dev], roles=[target]))[("dev", "identity.assume", target["Arn"])]
    assert not g.conditional and "ec2:AssociateIamInstanceProfile" in g.via[0], g.via
    guarded = role("runner", {"Effect": "Allow", "Action": "route53:*", "Resource": "*"}, trust=doc(
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole",
         "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}}}))
    g = grant_map(estate(users=[dev], roles=[guarded]))[("dev", "identity.assume", target["Arn"])]
    assert g.conditional and any("trust of ec2.amazonaws.com" in v for v in g.via), g.via


def test_escalating_only_under_a_condition_makes_what_it_gives_conditional():
    me = f"arn:aws:iam::{A}:user/me"
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    got = grant_map(estate(users=[user("me", {"Effect": "Allow", "Action": "iam:PutUserPolicy", "Resource": me,
                                              "Condition": mfa})]))
    assert got[("me", "dns.write", RESOURCE_OF["hostedzone"])].conditional
    got = grant_map(estate(users=[user("me", {"Effect": "Allow", "Action": "iam:PutUserPolicy", "Resource": me,
                                              "Condition": mfa},
                                       {"Effect": "Allow", "Action": "iam:AttachUserPolicy", "Resource": me})]))
    g = got[("me", "dns.write", RESOURCE_OF["hostedzone"])]
    assert not g.conditional and g.via[0].startswith("iam:AttachUserPolicy on"), g.via
    group = {"GroupName": "dns-team", "Arn": f"arn:aws:iam::{A}:group/dns-team", "AttachedManagedPolicies": [],
             "GroupPolicyList": [{"PolicyName": "dns", "PolicyDocument": doc(
                 {"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets", "Resource": "*"})}]}
    joiner = user("joiner", {"Effect": "Allow", "Action": "iam:AddUserToGroup", "Resource": group["Arn"],
                             "Condition": mfa})
    joined = grant_map(estate(users=[joiner], groups=[group]))
    assert joined[("joiner", "dns.write", RESOURCE_OF["hostedzone"])].conditional


# --- NotAction pre-filters (issue 11, item 15) ----------------------------------------------------------


def test_not_action_allows_every_action_it_does_not_list_through_every_pre_filter():
    zone = RESOURCE_OF["hostedzone"]
    got = grants(estate(roles=[role("r", {"Effect": "Allow", "NotAction": ["route53:Delete*"], "Resource": "*"})]))
    assert {("r", "dns.admin", zone), ("r", "dns.write", zone), ("r", "failover.write", HC_ARN)} <= got
    # and what it lists is not allowed: only DeleteHostedZone and DeleteHealthCheck, nothing else of theirs
    got = grants(estate(roles=[role("r", {"Effect": "Allow", "NotAction": ["route53:Update*", "route53:Delete*"],
                                          "Resource": HC_ARN})]))
    assert ("r", "failover.write", HC_ARN) not in got
    # escalation: every IAM write on a role but the one listed
    victim = role("victim", {"Effect": "Allow", "Action": "route53:*", "Resource": "*"})
    attacker = user("attacker", {"Effect": "Allow", "NotAction": "iam:PutRolePolicy", "Resource": victim["Arn"]})
    assert ("attacker", "identity.assume", victim["Arn"]) in grants(estate(users=[attacker], roles=[victim]))
    # assuming a role whose trust names the account: NotAction that leaves sts:AssumeRole in
    caller = user("caller", {"Effect": "Allow", "NotAction": ["iam:*", "sts:GetSessionToken"], "Resource": "*"})
    assert ("caller", "identity.assume", victim["Arn"]) in grants(estate(users=[caller], roles=[victim]))
    blocked = user("caller", {"Effect": "Allow", "NotAction": ["iam:*", "sts:*"], "Resource": "*"})
    assert ("caller", "identity.assume", victim["Arn"]) not in grants(estate(users=[blocked], roles=[victim]))


# --- record-level decisions and change batches (issue 11, items 11 and 13) -----------------------------

CRRS = "route53:ChangeResourceRecordSets"
ZONE = RESOURCE_OF["hostedzone"]
API = f"{ZONE}/recordset/api.example.com./A"
WILDCARD = f"{ZONE}/recordset/\\052.example.com./A"
TYPES, NAMES, ACTIONS = (f"route53:ChangeResourceRecordSets{k}" for k in ("RecordTypes", "NormalizedRecordNames",
                                                                          "Actions"))


def dns_grants(*statements: dict[str, Any], scp: dict[str, Any] | None = None) -> dict[str, Any]:
    """dns.write grants of one role on the public zone and its records, by resource id."""
    data = estate(roles=[role("r", *statements)])
    data.records[ZONE_ID].append({"Name": "\\052.example.com.", "Type": "A", "TTL": 60,
                                  "ResourceRecords": [{"Value": "192.0.2.9"}]})
    if scp is not None:
        data.scp_levels = [[("FullAWSAccess", doc({"Effect": "Allow", "Action": "*", "Resource": "*"})),
                            ("guard", doc(scp))]]
    return {g.resource_id: g for g in build([data], Options(connector="t"), TABLE).grants
            if g.capability is Capability.DNS_WRITE and g.resource_id.startswith(ZONE)}


def test_a_record_level_deny_in_an_scp_leaves_the_other_records_and_not_the_zone():
    got = dns_grants({"Effect": "Allow", "Action": CRRS, "Resource": "*"},
                     scp={"Effect": "Deny", "Action": CRRS, "Resource": "*",
                          "Condition": {"ForAnyValue:StringEquals": {TYPES: ["NS"]}}})
    # the apex NS is not listed here, yet it always exists and stays denied: no grant on the whole zone
    assert set(got) == {API, WILDCARD}
    assert not got[API].conditional and got[API].via[0] == f"{CRRS} (UPSERT) allowed for api.example.com A"
    assert set(dns_grants({"Effect": "Allow", "Action": CRRS, "Resource": "*"})) == {ZONE}


def test_a_wildcard_record_is_matched_by_its_normalized_name_once_escaped():
    got = dns_grants({"Effect": "Allow", "Action": CRRS, "Resource": "*",
                      "Condition": {"ForAllValues:StringEquals": {NAMES: ["\\052.example.com"]}}})
    assert set(got) == {WILDCARD}


def test_for_any_value_allow_is_met_by_a_new_record_the_pattern_admits():
    got = dns_grants({"Effect": "Allow", "Action": CRRS, "Resource": "*",
                      "Condition": {"ForAnyValue:StringLike": {NAMES: ["_acme-challenge.*"]}}},
                     {"Effect": "Deny", "Action": CRRS, "Resource": "*",
                      "Condition": {"ForAnyValue:StringEquals": {TYPES: ["TXT"]}}})
    # no TXT record can be written, so not the whole zone; every other record, with a new _acme-challenge
    # record of another type beside it
    assert set(got) == {API, WILDCARD}
    via = got[API].via[0]
    assert "by adding a change to _acme-challenge.example.com A (a new record) in the same batch" in via, via
    assert "ForAnyValue scoping does not hold; scope with ForAllValues" in via


def test_a_witness_that_defeats_another_allow_is_still_found():
    # the second Allow fails on the witness's type, so the witness is risky: tried on its own
    got = dns_grants({"Effect": "Allow", "Action": CRRS, "Resource": "*",
                      "Condition": {"ForAnyValue:StringLike": {NAMES: ["_acme-challenge.*"]}}},
                     {"Effect": "Allow", "Action": CRRS, "Resource": "*",
                      "Condition": {"ForAllValues:StringEquals": {TYPES: ["MX"]}}})
    assert set(got) == {ZONE} and not got[ZONE].conditional
    assert any("by adding a change to _acme-challenge." in v for v in got[ZONE].via), got[ZONE].via


def test_a_for_all_values_deny_is_escaped_by_adding_a_change_it_does_not_cover():
    got = dns_grants({"Effect": "Allow", "Action": CRRS, "Resource": "*"},
                     {"Effect": "Deny", "Action": CRRS, "Resource": "*",
                      "Condition": {"ForAllValues:StringEquals": {TYPES: ["NS"]}}})
    assert set(got) == {ZONE}
    assert any("write the Deny with ForAnyValue" in v for v in got[ZONE].via), got[ZONE].via
    # written with ForAnyValue it holds: every record but NS ones
    got = dns_grants({"Effect": "Allow", "Action": CRRS, "Resource": "*"},
                     {"Effect": "Deny", "Action": CRRS, "Resource": "*",
                      "Condition": {"ForAnyValue:StringEquals": {TYPES: ["NS"]}}})
    assert set(got) == {API, WILDCARD}


def test_an_action_scope_without_upsert_still_replaces_records_but_not_the_apex_soa():
    got = dns_grants({"Effect": "Allow", "Action": CRRS, "Resource": "*",
                      "Condition": {"ForAllValues:StringEquals": {ACTIONS: ["CREATE", "DELETE"]}}})
    # DELETE and CREATE in one batch replace a record; the apex SOA and NS can only be UPSERTed
    assert set(got) == {API, WILDCARD}
    assert got[API].via[0] == f"{CRRS} (DELETE) allowed for api.example.com A"
    got = dns_grants({"Effect": "Allow", "Action": CRRS, "Resource": "*",
                      "Condition": {"ForAllValues:StringEquals": {ACTIONS: ["UPSERT"]}}})
    assert set(got) == {ZONE}  # UPSERT creates a record that does not exist yet


def test_a_batch_answer_keeps_an_unsettled_condition_of_the_allow():
    got = dns_grants({"Effect": "Allow", "Action": CRRS, "Resource": "*",
                      "Condition": {"ForAnyValue:StringEquals": {TYPES: ["TXT"]},
                                    "IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}})
    assert set(got) == {ZONE} and got[ZONE].conditional
    assert any("by adding a change to other-new-record.example.com TXT (a new record)" in v for v in got[ZONE].via)


def test_writing_the_apex_acme_challenge_alone_is_cert_issue_on_a_public_zone_only():
    def issue(names: list[str]) -> set[str]:
        data = estate(roles=[role("r", {"Effect": "Allow", "Action": CRRS, "Resource": "*", "Condition": {
            "ForAllValues:StringLike": {NAMES: names}, "ForAllValues:StringEquals": {TYPES: ["TXT"]}}})])
        return {g.resource_id for g in build([data], Options(connector="t"), TABLE).grants
                if g.capability is Capability.CERT_ISSUE}

    assert issue(["_acme-challenge.*"]) == {ZONE}  # the private zone's challenge record validates nothing
    assert issue(["_acme-challenge.example.com"]) == {ZONE}
    assert issue(["_acme-challenge.api.example.com"]) == set()  # one name's certificate, not the zone's
