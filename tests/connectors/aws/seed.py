"""Seed a moto server through boto3, as a user would build the estate: two failover services, twenty
identities, and the traps a "roughly right" engine falls into. Each identity's docstring line says what the
engine must conclude and why (the expectations in test_connector.py are derived from these rules)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

ACCOUNT = "123456789012"
CANARY = "canary-SECRET-VALUE-7f3a9c"  # planted secret value: must never appear anywhere commonmode writes


def arn(kind: str, name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:{kind}/{name}"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def trust_account() -> str:
    return doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})


def trust_principal(who: str) -> str:
    return doc({"Effect": "Allow", "Principal": {"AWS": who}, "Action": "sts:AssumeRole"})


@dataclass
class Estate:
    zone_a: str  # example.com: service api
    zone_b: str  # example.net: service www
    hc_api: str
    hc_www: str
    api_primary: str
    api_secondary: str
    www_primary: str
    www_secondary: str
    acme_record: str
    dns_bot_secret: str


def clients(endpoint: str) -> dict[str, Any]:
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
              aws_secret_access_key="testing")
    return {s: boto3.client(s, **kw) for s in ("iam", "route53", "secretsmanager", "acm", "sts")}


def zone_arn(zid: str) -> str:
    return f"arn:aws:route53:::hostedzone/{zid}"


def seed(endpoint: str) -> Estate:
    c = clients(endpoint)
    iam, r53, sm = c["iam"], c["route53"], c["secretsmanager"]
    za = r53.create_hosted_zone(Name="example.com.", CallerReference="a")["HostedZone"]["Id"].rsplit("/", 1)[-1]
    zb = r53.create_hosted_zone(Name="example.net.", CallerReference="b")["HostedZone"]["Id"].rsplit("/", 1)[-1]
    r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=za,
                                 AddTags=[{"Key": "owner", "Value": "team-edge"}])

    def hc(ref: str, ip: str) -> str:
        return r53.create_health_check(CallerReference=ref, HealthCheckConfig={
            "IPAddress": ip, "Port": 443, "Type": "HTTPS", "ResourcePath": "/health"})["HealthCheck"]["Id"]

    hc_api, hc_www = hc("hc-api", "192.0.2.10"), hc("hc-www", "198.51.100.10")

    def failover(zid: str, name: str, hc_id: str, primary_ip: str, secondary_ip: str) -> None:
        r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": {
                "Name": name, "Type": "A", "SetIdentifier": "primary", "Failover": "PRIMARY", "TTL": 60,
                "HealthCheckId": hc_id, "ResourceRecords": [{"Value": primary_ip}]}},
            {"Action": "CREATE", "ResourceRecordSet": {
                "Name": name, "Type": "A", "SetIdentifier": "secondary", "Failover": "SECONDARY", "TTL": 60,
                "ResourceRecords": [{"Value": secondary_ip}]}},
        ]})

    failover(za, "api.example.com.", hc_api, "192.0.2.10", "192.0.2.20")
    failover(zb, "www.example.net.", hc_www, "198.51.100.10", "198.51.100.20")
    r53.change_resource_record_sets(HostedZoneId=za, ChangeBatch={"Changes": [{
        "Action": "CREATE", "ResourceRecordSet": {
            "Name": "_acme-challenge.api.example.com.", "Type": "TXT", "TTL": 60,
            "ResourceRecords": [{"Value": '"x"'}]}}]})

    def role(name: str, trust: str | None = None, *, managed: tuple[str, ...] = (), inline: str | None = None,
             boundary: str | None = None, owner: str | None = "team-platform") -> str:
        kw: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": trust or trust_account()}
        if boundary:
            kw["PermissionsBoundary"] = boundary
        if owner:
            kw["Tags"] = [{"Key": "owner", "Value": owner}]
        iam.create_role(**kw)
        for m in managed:
            iam.attach_role_policy(RoleName=name, PolicyArn=f"arn:aws:iam::aws:policy/{m}")
        if inline:
            iam.put_role_policy(RoleName=name, PolicyName=f"{name}-inline", PolicyDocument=inline)
        return arn("role", name)

    def user(name: str, inline: str | None = None, owner: str | None = "team-platform") -> str:
        iam.create_user(UserName=name, Tags=[{"Key": "owner", "Value": owner}] if owner else [])
        if inline:
            iam.put_user_policy(UserName=name, PolicyName=f"{name}-inline", PolicyDocument=inline)
        return arn("user", name)

    # 1. dns-bot: ChangeResourceRecordSets on zone A only → dns.write on zone A, nothing on zone B.
    user("dns-bot", doc(allow("route53:ChangeResourceRecordSets", zone_arn(za))), owner=None)
    iam.create_access_key(UserName="dns-bot")
    # 2–4. Real AWS managed policies that grant record writes.
    role("r53-full", managed=("AmazonRoute53FullAccess",))
    role("power-user", managed=("PowerUserAccess",))
    role("admin", managed=("AdministratorAccess",))
    # 5–7. Look-alikes that must get nothing.
    role("r53-readonly", managed=("AmazonRoute53ReadOnlyAccess",))
    role("readonly", managed=("ReadOnlyAccess",))
    role("auditor", managed=("SecurityAudit",))
    # 8. ACME-challenge-only: the record-name condition admits only _acme-challenge records.
    role("acme", inline=doc(allow("route53:ChangeResourceRecordSets", zone_arn(za), Condition={
        "ForAllValues:StringLike": {"route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"]},
        "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}})))
    # 9. Full access with an explicit Deny on zone B: dns.write on A only.
    role("denied-b", managed=("AmazonRoute53FullAccess",), inline=doc(
        {"Effect": "Deny", "Action": "route53:ChangeResourceRecordSets", "Resource": zone_arn(zb)}))
    # 10. Administrator capped by a boundary that allows only record changes in zone A.
    iam.create_policy(PolicyName="boundary-zone-a", PolicyDocument=doc(
        allow("route53:ChangeResourceRecordSets", zone_arn(za)), allow("sts:GetCallerIdentity")))
    role("bounded-admin", managed=("AdministratorAccess",), boundary=arn("policy", "boundary-zone-a"))
    # 11. NotResource: everything in route53 except zone B.
    role("not-b", inline=doc({"Effect": "Allow", "Action": "route53:*", "NotResource": zone_arn(zb)}))
    # 12. A condition the scanner cannot settle (source IP): a conditional grant on both zones.
    role("office-only", inline=doc(allow("route53:ChangeResourceRecordSets", "*",
                                         Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})))
    # 13. Can update the api primary's health check: failover.write on it (mixed-case action name).
    role("hc-operator", inline=doc(allow("Route53:updateHealthCheck", f"arn:aws:route53:::healthcheck/{hc_api}")))
    # 14. ci-deployer can assume r53-deployer, whose trust names it directly.
    user("ci-deployer", owner=None)
    role("r53-deployer", trust_principal(arn("user", "ci-deployer")),
         inline=doc(allow("route53:ChangeResourceRecordSets", [zone_arn(za), zone_arn(zb)])))
    # 15. escalator can rewrite r53-readonly's policy: an identity.assume edge, action named.
    user("escalator", doc(allow("iam:PutRolePolicy", arn("role", "r53-readonly"))))
    # 16. self-escalator can write its own policy: it can give itself anything (no boundary, no SCP).
    user("self-escalator", doc(allow("iam:PutUserPolicy", arn("user", "self-escalator"))))
    # 17. Reads dns-bot's stored key: secret.read → the correlator derives identity.assume of dns-bot.
    secret = sm.create_secret(Name="dns/dns-bot-key", SecretString=CANARY,
                              Tags=[{"Key": "commonmode:credential-of", "Value": arn("user", "dns-bot")},
                                    {"Key": "owner", "Value": "team-edge"}])["ARN"]
    role("secret-reader", inline=doc(allow("secretsmanager:GetSecretValue", secret)))
    # 18. No identity policy, but the secret's resource policy names the user: secret.read.
    user("rp-reader")
    sm.put_resource_policy(SecretId=secret, ResourcePolicy=doc(
        {"Effect": "Allow", "Principal": {"AWS": arn("user", "rp-reader")}, "Action": "secretsmanager:GetSecretValue",
         "Resource": "*"}))
    # 19. failover-operator trusts the account root: only callers whose own policy allows AssumeRole get in.
    role("failover-operator", inline=doc(allow("route53:UpdateHealthCheck", f"arn:aws:route53:::healthcheck/{hc_www}")))
    user("oncall", doc(allow("sts:AssumeRole", arn("role", "failover-operator"))))
    # 20. no-assume: trusted through the account root, but no identity allow → cannot assume.
    user("no-assume")
    return Estate(
        zone_a=zone_arn(za), zone_b=zone_arn(zb), hc_api=f"arn:aws:route53:::healthcheck/{hc_api}",
        hc_www=f"arn:aws:route53:::healthcheck/{hc_www}",
        api_primary=f"{zone_arn(za)}/recordset/api.example.com./A/primary",
        api_secondary=f"{zone_arn(za)}/recordset/api.example.com./A/secondary",
        www_primary=f"{zone_arn(zb)}/recordset/www.example.net./A/primary",
        www_secondary=f"{zone_arn(zb)}/recordset/www.example.net./A/secondary",
        acme_record=f"{zone_arn(za)}/recordset/_acme-challenge.api.example.com./TXT",
        dns_bot_secret=secret,
    )
