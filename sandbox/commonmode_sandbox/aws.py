"""The sandbox's AWS part: moto's server, and Acme Parcel's AWS estate seeded into it through boto3 as a user
would build it (an organization with management, prod and DR accounts, their zones, records and DNS users).

The order of the calls below is part of the committed sample: moto's ids come from a seeded generator, so
the same calls in the same order give the same ids (see `start`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from commonmode_sandbox.servers import Servers

MGMT = "123456789012"  # moto's default account: the organization's management account
ID_SEED = 20261124  # moto's ids (accounts, zones, keys) are the same every time
#: What a shell needs to reach the emulator (moto accepts any key; no profile, no session token).
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN")  # a user's own would reach past the emulator or fail
IN_AZURE = ("status", "track")  # services whose backup record is in Azure DNS (azure_part.py), not in the DR zone


@dataclass
class AwsEstate:
    """The ids of what was seeded, for the config and the tests."""

    accounts: dict[str, str] = field(default_factory=dict)  # role → account id
    zones: dict[str, str] = field(default_factory=dict)  # zone name → ARN
    records: dict[str, str] = field(default_factory=dict)  # "service/side" → record id
    users: dict[str, str] = field(default_factory=dict)  # name → ARN


def start(servers: Servers) -> str:
    """moto's server, from nothing (even if one ran in this process before), its ids seeded: its URL."""
    moto = servers.start_moto(managed_policies=True)
    moto.reset()
    moto.seed_ids(ID_SEED)
    return moto.url


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _session(endpoint: str, creds: Mapping[str, Any] | None = None) -> dict[str, Any]:
    kw: dict[str, Any] = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    if creds:
        kw.update(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                  aws_session_token=creds["SessionToken"])
    else:
        kw.update(aws_access_key_id="testing", aws_secret_access_key="testing")
    return kw


def seed(endpoint: str) -> AwsEstate:
    """The organization (management, prod and DR accounts), their zones, records and DNS users."""
    import boto3

    est = AwsEstate()
    mgmt = _session(endpoint)
    org = boto3.client("organizations", **mgmt)
    org.create_organization(FeatureSet="ALL")
    est.accounts["management"] = MGMT
    for role in ("prod", "dr"):
        est.accounts[role] = org.create_account(AccountName=f"acme-{role}", Email=f"aws-{role}@acme.example")[
            "CreateAccountStatus"]["AccountId"]
    sts = boto3.client("sts", **mgmt)
    where = {"management": mgmt}
    for role in ("prod", "dr"):
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{est.accounts[role]}:role/OrganizationAccountAccessRole",
                                RoleSessionName="sandbox-seed")["Credentials"]
        where[role] = _session(endpoint, creds)

    def zone(account: str, name: str, owner: str) -> tuple[Any, str]:
        r53 = boto3.client("route53", **where[account])
        zid = r53.create_hosted_zone(Name=name + ".", CallerReference=name)["HostedZone"]["Id"].rsplit("/", 1)[-1]
        r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid,
                                     AddTags=[{"Key": "owner", "Value": owner}])
        est.zones[name] = f"arn:aws:route53:::hostedzone/{zid}"
        return r53, zid

    def record(r53: Any, zid: str, name: str, ip: str, **extra: Any) -> str:
        rr = {"Name": name + ".", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": ip}], **extra}
        r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [{"Action": "CREATE",
                                                                                   "ResourceRecordSet": rr}]})
        rid = f"arn:aws:route53:::hostedzone/{zid}/recordset/{name}./A"
        return f"{rid}/{extra['SetIdentifier']}" if "SetIdentifier" in extra else rid

    def user(account: str, name: str, policy: dict[str, Any], owner: str | None) -> str:
        iam = boto3.client("iam", **where[account])
        iam.create_user(UserName=name, Tags=[{"Key": "owner", "Value": owner}] if owner else [])
        iam.put_user_policy(UserName=name, PolicyName="dns", PolicyDocument=_doc(policy))
        iam.create_access_key(UserName=name)
        arn = f"arn:aws:iam::{est.accounts[account]}:user/{name}"
        est.users[name] = arn
        return arn

    def record_writer(zone_arn: str, *names: str) -> dict[str, Any]:
        # exact Route 53 semantics on display: each user may change only its own records
        return {"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets", "Resource": zone_arn,
                "Condition": {"ForAllValues:StringEquals": {
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames": list(names)}}}

    # api: a failover pair in one zone of the management account, one unowned user can change both
    r53, zid = zone("management", "acme.example", "team-edge")
    hc = r53.create_health_check(CallerReference="api-primary", HealthCheckConfig={
        "IPAddress": "192.0.2.10", "Port": 443, "Type": "HTTPS", "ResourcePath": "/health"})["HealthCheck"]["Id"]
    est.records["api/primary"] = record(r53, zid, "api.acme.example", "192.0.2.10", SetIdentifier="primary",
                                        Failover="PRIMARY", HealthCheckId=hc)
    est.records["api/backup"] = record(r53, zid, "api.acme.example", "198.51.100.10", SetIdentifier="secondary",
                                       Failover="SECONDARY")
    user("management", "dns-automation", {"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets",
                                          "Resource": est.zones["acme.example"]}, owner=None)
    # payments, login, status, docs, track: primary records in prod, backup records in DR (the backups of
    # status and track are in Azure DNS: see azure_part.py)
    r53p, zp = zone("prod", "acme-prod.example", "team-platform")
    r53d, zd = zone("dr", "acme-dr.example", "team-platform-dr")
    for svc, ip in (("pay", "192.0.2.20"), ("login", "192.0.2.30"), ("status", "192.0.2.40"), ("docs", "192.0.2.50"),
                    ("track", "192.0.2.60")):
        est.records[f"{svc}/primary"] = record(r53p, zp, f"{svc}.acme-prod.example", ip)
        if svc not in IN_AZURE:
            backup_ip = ip.replace("192.0.2", "203.0.113")
            est.records[f"{svc}/backup"] = record(r53d, zd, f"{svc}.acme-dr.example", backup_ip)
    owners = {"pay": "team-payments", "login": "team-identity", "status": "team-sre", "track": "team-tracking"}
    for svc, owner in owners.items():
        user("prod", f"{svc}-dns", record_writer(est.zones["acme-prod.example"], f"{svc}.acme-prod.example"), owner)
        if svc not in IN_AZURE:
            user("dr", f"{svc}-dns-dr", record_writer(est.zones["acme-dr.example"], f"{svc}.acme-dr.example"), owner)
    # track's deploy workflow changes its primary record through AWS OIDC, pinned to its main branch (and its
    # backup through an Azure federated credential: azure_part.py): one GitHub repository in both paths. Its
    # preview workflow's role was copied from it without the sub condition, which GitHub's guidance warns of
    # ("Configuring OpenID Connect in Amazon Web Services": without a sub condition any repository can assume it).
    iam = boto3.client("iam", **where["prod"])
    github = "token.actions.githubusercontent.com"
    provider = iam.create_open_id_connect_provider(Url=f"https://{github}", ClientIDList=["sts.amazonaws.com"],
                                                   ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"])
    trusts = {"track-deploy": {f"{github}:aud": "sts.amazonaws.com",
                               f"{github}:sub": "repo:acme/tracking:ref:refs/heads/main"},
              "track-preview": {f"{github}:aud": "sts.amazonaws.com"}}  # no sub: any repository on GitHub
    for name, condition in trusts.items():
        iam.create_role(RoleName=name, Tags=[{"Key": "owner", "Value": "team-tracking"}],
                        AssumeRolePolicyDocument=_doc({
                            "Effect": "Allow", "Principal": {"Federated": provider["OpenIDConnectProviderArn"]},
                            "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": condition}}))
        iam.put_role_policy(RoleName=name, PolicyName="dns", PolicyDocument=_doc(
            record_writer(est.zones["acme-prod.example"], "track.acme-prod.example")))
    # quotes: the quoting API's instance role in the prod account; Google's workload identity federation lets it
    # act as the GCP service account that fails quotes over (gcp_part.py)
    iam.create_role(RoleName="quotes-ops", Tags=[{"Key": "owner", "Value": "team-quotes"}],
                    AssumeRolePolicyDocument=_doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                   "Action": "sts:AssumeRole"}))
    user("prod", "docs-dns", record_writer(est.zones["acme-prod.example"], "docs.acme-prod.example"), "team-docs")
    user("dr", "docs-dns-dr", record_writer(est.zones["acme-dr.example"], "docs.acme-dr.example"), "team-docs")
    return est


def config_table(endpoint: str) -> str:
    """The [[aws]] table a user would write for this estate (one connector, every account through the
    organization's access role)."""
    return (f'[[aws]]\nname = "acme-aws"\nendpoint_url = "{endpoint}"\n'
            'assume_role = "OrganizationAccountAccessRole"\n')
