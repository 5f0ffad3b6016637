"""Regression tests for issue 11 (AWS items 11, 13, 14, 15, 18) against moto's server: each estate is seeded
through boto3, the real `commonmode scan` runs, and the exact grants are read back from `commonmode inventory`.

- 11: a record-level Deny (ForAnyValue on the record keys) under a zone-wide Allow, in an identity policy, a
  permissions boundary or an SCP, removes exactly the records it covers;
- 13: one authorization covers a whole change batch (Route 53 Developer Guide, "Using IAM policy conditions for
  fine-grained access control"): a ForAnyValue Allow, or a ForAllValues Deny, is escaped by adding a change;
- 14: the strongest answer over every action of a capability (and of an escalation) decides it;
- 15: an Allow with NotAction grants every action it does not list;
- 18: VPC association acts on private zones only, DNSSEC on public zones only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from typer.testing import CliRunner

from commonmode.cli import app

from .seed import arn, doc

runner = CliRunner()
CRRS = "route53:ChangeResourceRecordSets"
TYPES = "route53:ChangeResourceRecordSetsRecordTypes"
NAMES = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
ACTIONS = "route53:ChangeResourceRecordSetsActions"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def kw(endpoint: str, creds: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    if creds:
        out.update(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                   aws_session_token=creds["SessionToken"])
    return out


def zone_with_records(r53: Any, name: str = "example.com.") -> dict[str, str]:
    """A public zone with an A record, a TXT challenge record and a delegation (NS) besides its apex SOA and NS;
    returns record ids by a short name ("zone" for the zone)."""
    zid = r53.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"].rsplit("/", 1)[-1]
    apex = name.rstrip(".")
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": f"app.{apex}.", "Type": "A", "TTL": 60,
                                                   "ResourceRecords": [{"Value": "192.0.2.1"}]}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": f"_acme-challenge.app.{apex}.", "Type": "TXT", "TTL": 60,
                                                   "ResourceRecords": [{"Value": '"token"'}]}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": f"sub.{apex}.", "Type": "NS", "TTL": 300,
                                                   "ResourceRecords": [{"Value": "ns1.example.org."}]}},
    ]})
    z = f"arn:aws:route53:::hostedzone/{zid}"
    return {"zone": z, "app": f"{z}/recordset/app.{apex}./A", "acme": f"{z}/recordset/_acme-challenge.app.{apex}./TXT",
            "sub-ns": f"{z}/recordset/sub.{apex}./NS", "apex-ns": f"{z}/recordset/{apex}./NS",
            "soa": f"{z}/recordset/{apex}./SOA"}


def role(iam: Any, name: str, *statements: dict[str, Any], boundary: str | None = None,
         managed: tuple[str, ...] = ()) -> None:
    extra = {"PermissionsBoundary": boundary} if boundary else {}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, **extra)
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=doc(*statements))
    for m in managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=f"arn:aws:iam::aws:policy/{m}")


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, condition: dict[str, Any], resource: Any = "*") -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, "Condition": condition}


def scan(endpoint: str, tmp: Path, extra: str = "") -> dict[str, dict[str, Any]]:
    """Run `commonmode scan` and return `commonmode inventory --format json` by identity ARN."""
    cfg = tmp / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[aws]]\nname = "prod"\nendpoint_url = "{endpoint}"\n{extra}')
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    inv = runner.invoke(app, ["inventory", "-c", str(cfg), "--format", "json"], catch_exceptions=False)
    assert inv.exit_code == 0, inv.output
    return {i["id"]: i for i in json.loads(inv.stdout)}


def grants(inventory: dict[str, dict[str, Any]], who: str, capability: str) -> dict[str, dict[str, Any]]:
    """The grants of one capability an identity holds, by resource id (as the connector made them)."""
    return {m["resource"]: m for m in inventory[who]["can_modify"] if m["capability"] == capability}


def written(inventory: dict[str, dict[str, Any]], name: str) -> set[str]:
    return set(grants(inventory, arn("role", name), "dns.write"))


# --- 11: record-level Deny under a zone-wide Allow ------------------------------------------------------


def test_a_record_level_deny_removes_exactly_the_records_it_covers(aws, tmp_path):
    c = {s: boto3.client(s, **kw(aws)) for s in ("iam", "route53")}
    r = zone_with_records(c["route53"])
    ns_guard = deny(CRRS, {"ForAnyValue:StringEquals": {TYPES: ["NS"]}})
    role(c["iam"], "identity-guard", allow(CRRS, r["zone"]), ns_guard)
    c["iam"].create_policy(PolicyName="no-ns", PolicyDocument=doc(allow(CRRS), ns_guard))
    role(c["iam"], "boundary-guard", allow(CRRS), boundary=arn("policy", "no-ns"))
    # a guard on a type the zone has no record of: every existing record stays writable, but not the whole
    # zone (creating an MX record is denied)
    role(c["iam"], "mx-guard", allow(CRRS), deny(CRRS, {"ForAnyValue:StringEquals": {TYPES: ["MX"]}}))
    role(c["iam"], "unguarded", allow(CRRS, r["zone"]))
    inv = scan(aws, tmp_path)
    not_ns = {r["app"], r["acme"], r["soa"]}
    assert written(inv, "identity-guard") == not_ns
    assert written(inv, "boundary-guard") == not_ns
    assert written(inv, "mx-guard") == not_ns | {r["sub-ns"], r["apex-ns"]}
    assert written(inv, "unguarded") == {r["zone"]}
    app_grant = grants(inv, arn("role", "identity-guard"), "dns.write")[r["app"]]
    assert app_grant["conditional"] is False and any("app.example.com A" in v for v in app_grant["via"])
    # without the whole zone, writing _acme-challenge.example.com TXT still passes DNS validation
    for name in ("identity-guard", "boundary-guard", "mx-guard", "unguarded"):
        assert set(grants(inv, arn("role", name), "cert.issue")) == {r["zone"]}, name


def test_a_record_level_deny_in_an_scp_applies_in_a_member_account(aws, tmp_path):
    org = boto3.client("organizations", **kw(aws))
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    member = org.create_account(AccountName="dr", Email="dr@example.com")["CreateAccountStatus"]["AccountId"]
    org.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    guard = org.create_policy(Name="no-delegation-changes", Type="SERVICE_CONTROL_POLICY", Description="",
                              Content=doc(allow("*"), deny(CRRS, {"ForAnyValue:StringEquals": {TYPES: ["NS"]}})))
    org.attach_policy(PolicyId=guard["Policy"]["PolicySummary"]["Id"], TargetId=root)
    creds = boto3.client("sts", **kw(aws)).assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="seed")["Credentials"]
    iam, r53 = boto3.client("iam", **kw(aws, creds)), boto3.client("route53", **kw(aws, creds))
    r = zone_with_records(r53, "dr.example.org.")
    role(iam, "dns-admin", managed=("AmazonRoute53FullAccess",))
    inv = scan(aws, tmp_path, 'assume_role = "OrganizationAccountAccessRole"\n')
    who = f"arn:aws:iam::{member}:role/dns-admin"
    assert set(grants(inv, who, "dns.write")) == {r["app"], r["acme"], r["soa"]}
    assert r["zone"] in grants(inv, who, "dns.admin")  # the SCP denies only record changes with NS in them


# --- 13: one authorization covers the whole change batch ------------------------------------------------


def test_for_any_value_scoping_is_escaped_by_adding_a_change_to_the_batch(aws, tmp_path):
    c = {s: boto3.client(s, **kw(aws)) for s in ("iam", "route53")}
    r = zone_with_records(c["route53"])
    role(c["iam"], "any-acme",
         allow(CRRS, r["zone"], Condition={"ForAnyValue:StringLike": {NAMES: ["_acme-challenge.*"]}}))
    role(c["iam"], "all-acme",
         allow(CRRS, r["zone"], Condition={"ForAllValues:StringLike": {NAMES: ["_acme-challenge.*"]}}))
    # a Deny written with ForAllValues covers only batches made of NS changes alone
    role(c["iam"], "all-ns-deny", allow(CRRS), deny(CRRS, {"ForAllValues:StringEquals": {TYPES: ["NS"]}}))
    role(c["iam"], "types-any-txt", allow(CRRS, Condition={"ForAnyValue:StringEquals": {TYPES: ["TXT"]}}))
    inv = scan(aws, tmp_path)
    # ForAnyValue needs one matching name in the batch: any record changes with an _acme-challenge one
    any_acme = grants(inv, arn("role", "any-acme"), "dns.write")
    assert set(any_acme) == {r["zone"]}
    assert any_acme[r["zone"]]["conditional"] is False
    via = " ".join(any_acme[r["zone"]]["via"])
    assert "by adding a change to _acme-challenge." in via and "scope with ForAllValues" in via, via
    # ForAllValues holds: only challenge records (and so DNS validation for the apex and its wildcard)
    assert written(inv, "all-acme") == {r["acme"]}
    issue = grants(inv, arn("role", "all-acme"), "cert.issue")
    assert set(issue) == {r["zone"]} and "passes ACME DNS-01 validation for example.com" in issue[r["zone"]]["via"][0]
    all_ns = grants(inv, arn("role", "all-ns-deny"), "dns.write")
    assert set(all_ns) == {r["zone"]}
    via = " ".join(all_ns[r["zone"]]["via"])
    assert "by adding a change to" in via and "write the Deny with ForAnyValue" in via, via
    assert written(inv, "types-any-txt") == {r["zone"]}


# --- 14: the strongest answer over every action ---------------------------------------------------------


def test_the_strongest_action_decides_a_capability_and_an_escalation(aws, tmp_path):
    c = {s: boto3.client(s, **kw(aws)) for s in ("iam", "route53")}
    r = zone_with_records(c["route53"])
    hc = c["route53"].create_health_check(CallerReference="hc", HealthCheckConfig={
        "IPAddress": "192.0.2.10", "Port": 443, "Type": "HTTPS", "ResourcePath": "/health"})["HealthCheck"]["Id"]
    hc_arn = f"arn:aws:route53:::healthcheck/{hc}"
    office = {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}
    role(c["iam"], "hc-mixed", allow("route53:UpdateHealthCheck", hc_arn, Condition=office),
         allow("route53:DeleteHealthCheck", hc_arn))
    role(c["iam"], "hc-conditional", allow(["route53:UpdateHealthCheck", "route53:DeleteHealthCheck"], hc_arn,
                                           Condition=office))
    role(c["iam"], "zone-mixed", allow("route53:DeleteHostedZone", r["zone"], Condition=office),
         allow("route53:EnableHostedZoneDNSSEC", r["zone"]))
    # rewriting its own policy only with MFA: what it could grant itself is conditional too
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    c["iam"].create_user(UserName="esc-mfa")
    c["iam"].put_user_policy(UserName="esc-mfa", PolicyName="p", PolicyDocument=doc(
        allow("iam:PutUserPolicy", arn("user", "esc-mfa"), Condition=mfa)))
    c["iam"].create_user(UserName="esc-mixed")
    c["iam"].put_user_policy(UserName="esc-mixed", PolicyName="p", PolicyDocument=doc(
        allow("iam:PutUserPolicy", arn("user", "esc-mixed"), Condition=mfa),
        allow("iam:AttachUserPolicy", arn("user", "esc-mixed"))))
    inv = scan(aws, tmp_path)
    mixed = grants(inv, arn("role", "hc-mixed"), "failover.write")[hc_arn]
    assert mixed["conditional"] is False and any("route53:DeleteHealthCheck" in v for v in mixed["via"]), mixed
    assert grants(inv, arn("role", "hc-conditional"), "failover.write")[hc_arn]["conditional"] is True
    zone = grants(inv, arn("role", "zone-mixed"), "dns.admin")[r["zone"]]
    assert zone["conditional"] is False and any("route53:EnableHostedZoneDNSSEC" in v for v in zone["via"]), zone
    esc = grants(inv, arn("user", "esc-mfa"), "dns.write")[r["zone"]]
    assert esc["conditional"] is True, esc
    esc = grants(inv, arn("user", "esc-mixed"), "dns.write")[r["zone"]]
    assert esc["conditional"] is False and any("iam:AttachUserPolicy" in v for v in esc["via"]), esc


# --- 15: NotAction ------------------------------------------------------------------------------------


def test_an_allow_with_not_action_grants_every_action_it_does_not_list(aws, tmp_path):
    c = {s: boto3.client(s, **kw(aws)) for s in ("iam", "route53")}
    r = zone_with_records(c["route53"])
    hc = c["route53"].create_health_check(CallerReference="hc", HealthCheckConfig={
        "IPAddress": "192.0.2.10", "Port": 443, "Type": "HTTPS", "ResourcePath": "/health"})["HealthCheck"]["Id"]
    hc_arn = f"arn:aws:route53:::healthcheck/{hc}"
    role(c["iam"], "not-delete", {"Effect": "Allow", "NotAction": ["route53:Delete*"], "Resource": r["zone"]})
    role(c["iam"], "not-update", {"Effect": "Allow", "NotAction": "route53:UpdateHealthCheck", "Resource": hc_arn})
    role(c["iam"], "not-route53", {"Effect": "Allow", "NotAction": ["route53:*", "route53domains:*", "iam:*"],
                                   "Resource": "*"})
    role(c["iam"], "victim", allow("route53:*"))
    # every IAM write on the victim but PutRolePolicy: AttachRolePolicy still takes it over
    c["iam"].create_user(UserName="not-put")
    c["iam"].put_user_policy(UserName="not-put", PolicyName="p", PolicyDocument=doc(
        {"Effect": "Allow", "NotAction": "iam:PutRolePolicy", "Resource": arn("role", "victim")}))
    inv = scan(aws, tmp_path)
    admin = grants(inv, arn("role", "not-delete"), "dns.admin")
    assert set(admin) == {r["zone"]} and any("EnableHostedZoneDNSSEC" in v for v in admin[r["zone"]]["via"])
    assert set(grants(inv, arn("role", "not-delete"), "dns.write")) == {r["zone"]}
    hc_grant = grants(inv, arn("role", "not-update"), "failover.write")
    assert set(hc_grant) == {hc_arn} and any("route53:DeleteHealthCheck" in v for v in hc_grant[hc_arn]["via"])
    assert not [m for m in inv[arn("role", "not-route53")]["can_modify"]
                if m["capability"].startswith(("dns", "failover"))]
    takeover = [a for a in inv[arn("user", "not-put")]["can_assume"] if a["identity"] == arn("role", "victim")]
    assert takeover, inv[arn("user", "not-put")]["can_assume"]
    assert "iam:AttachRolePolicy" in takeover[0]["via"][0] and "iam:PutRolePolicy" not in takeover[0]["via"][0]


# --- 18: the zone types an action acts on --------------------------------------------------------------


def test_vpc_association_is_admin_of_private_zones_and_dnssec_of_public_ones(aws, tmp_path):
    c = {s: boto3.client(s, **kw(aws)) for s in ("iam", "route53", "ec2")}
    public = zone_with_records(c["route53"])["zone"]
    vpc = c["ec2"].create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    private = "arn:aws:route53:::hostedzone/" + c["route53"].create_hosted_zone(
        Name="internal.example.", CallerReference="internal", HostedZoneConfig={"PrivateZone": True},
        VPC={"VPCRegion": "us-east-1", "VPCId": vpc})["HostedZone"]["Id"].rsplit("/", 1)[-1]
    role(c["iam"], "vpc-associate",
         allow(["route53:AssociateVPCWithHostedZone", "route53:DisassociateVPCFromHostedZone"]))
    role(c["iam"], "dnssec", allow(["route53:EnableHostedZoneDNSSEC", "route53:CreateKeySigningKey"]))
    role(c["iam"], "deleter", allow("route53:DeleteHostedZone"))
    role(c["iam"], "registrar", allow("route53domains:UpdateDomainNameservers"))
    inv = scan(aws, tmp_path)
    admin = {n: set(grants(inv, arn("role", n), "dns.admin"))
             for n in ("vpc-associate", "dnssec", "deleter", "registrar")}
    assert admin == {"vpc-associate": {private}, "dnssec": {public}, "deleter": {public, private},
                     "registrar": {public}}
