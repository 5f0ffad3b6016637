"""Every entry of capabilities.toml, with a positive and a negative case, through the real transform
(build.py) over GAAD-shaped data. Pure: no server."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from commonmode.model import Capability
from commonmode_aws.build import AccountData, Options, build, load_actions

A = "111111111111"
TABLE = load_actions()
ZONE_ID = "Z1"
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
        zones=[{"Id": f"/hostedzone/{ZONE_ID}", "Name": "example.com.", "Config": {"PrivateZone": False}}],
        records={ZONE_ID: [{"Name": "api.example.com.", "Type": "A", "TTL": 60, "HealthCheckId": HC,
                            "ResourceRecords": [{"Value": "192.0.2.1"}]}]},
        health_checks=[{"Id": HC, "HealthCheckConfig": {"Type": "RECOVERY_CONTROL", "RoutingControlArn": RC}}],
        secrets={"us-east-1": [{"ARN": SECRET, "Name": "db", "Tags": []}]},
        parameters={"us-east-1": [{"Name": "/dns/prod/key", "Type": "SecureString", "KeyId": "alias/aws/ssm",
                                   "Tags": []}]},
        authorities={"us-east-1": [{"Arn": PCA, "Type": "SUBORDINATE", "Status": "ACTIVE", "Tags": [],
                                    "CertificateAuthorityConfiguration": {"Subject": {"CommonName": "Acme Issuing"}}}]},
        certificates={"us-east-1": [
            {"CertificateArn": CERT, "DomainName": "api.example.com", "CertificateAuthorityArn": PCA,
             "NotAfter": datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)}]},
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


@pytest.mark.parametrize("entry,action", CASES, ids=[f"{e.capability.value}:{a}" for e, a in CASES])
def test_each_action_gives_its_capability_and_a_read_does_not(entry, action):
    target = RESOURCE_OF[entry.resource]
    yes = grants(estate(roles=[role("yes", {"Effect": "Allow", "Action": action, "Resource": "*"})]))
    assert ("yes", entry.capability.value, target) in yes
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
    victim_role = role("victim-role", {"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets", "Resource": "*"},
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
