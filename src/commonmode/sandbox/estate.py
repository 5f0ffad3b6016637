"""The sandbox estate: a fictional company, Acme Parcel, seeded into local emulators through the real SDKs.

Its story, service by service (each finding is planted on purpose; tests/test_demo.py asserts them all):
- api.acme.example: Route 53 failover with both records in one hosted zone of the management account, and
  one unowned automation user (`dns-automation`) who can change both: shared identity, shared zone,
  nobody can fail over without the primary's dependencies; its key sits in vault-east.
- payments: primary DNS in the prod account, backup in the DR account, written by two users limited to
  their own records — but both users' keys are kept in one Vault mount (vault-east `secret/`), and one
  AppRole (`pay-dns-sync`, whose login expires in 10 days) reads both.
- login: separate accounts and keys, but both hostnames' certificates come from one PKI role.
- status: done right. Primary DNS in Route 53 (prod account), backup at a second DNS provider (NS1, which
  commonmode has no connector for, so it is written down in ns1.toml and read by the `declared` connector);
  the NS1 key is kept in vault-west and read by vault-west's own AppRole, owned by the DR team. Nothing the
  primary depends on is needed to fail over: independent recovery is possible.
- docs: declared without an owner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MGMT = "123456789012"
#: status's backup lives at NS1: declared in DECLARED_FILE (no connector scans NS1)
DECLARED_FILE = "ns1.toml"
NS1_ZONE = "ns1:zone/acme-status.example"
NS1_RECORD = f"{NS1_ZONE}/status.acme-status.example/A"
NS1_KEY = "ns1:apikey:status-failover"


@dataclass
class SeededEstate:
    """Ids a config and a test need."""

    accounts: dict[str, str] = field(default_factory=dict)  # role → account id
    zones: dict[str, str] = field(default_factory=dict)  # zone name → ARN
    records: dict[str, str] = field(default_factory=dict)  # "service/side" → record id
    users: dict[str, str] = field(default_factory=dict)  # name → ARN


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _session(endpoint: str, creds: dict[str, str] | None = None) -> dict[str, Any]:
    kw: dict[str, Any] = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    if creds:
        kw.update(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                  aws_session_token=creds["SessionToken"])
    else:
        kw.update(aws_access_key_id="testing", aws_secret_access_key="testing")
    return kw


def seed_aws(endpoint: str) -> SeededEstate:
    """The organization (management, prod and DR accounts), their zones, records and DNS users."""
    import boto3

    est = SeededEstate()
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
        r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid, AddTags=[{"Key": "owner", "Value": owner}])
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
    # payments, login, status, docs: primary records in prod, backup records in DR
    r53p, zp = zone("prod", "acme-prod.example", "team-platform")
    r53d, zd = zone("dr", "acme-dr.example", "team-platform-dr")
    for svc, ip in (("pay", "192.0.2.20"), ("login", "192.0.2.30"), ("status", "192.0.2.40"), ("docs", "192.0.2.50")):
        est.records[f"{svc}/primary"] = record(r53p, zp, f"{svc}.acme-prod.example", ip)
        if svc != "status":
            est.records[f"{svc}/backup"] = record(r53d, zd, f"{svc}.acme-dr.example", ip.replace("192.0.2", "203.0.113"))
    est.records["status/backup"] = NS1_RECORD  # at NS1, see declared_text()
    owners = {"pay": "team-payments", "login": "team-identity", "status": "team-sre"}
    for svc, owner in owners.items():
        user("prod", f"{svc}-dns", record_writer(est.zones["acme-prod.example"], f"{svc}.acme-prod.example"), owner)
        if svc != "status":
            user("dr", f"{svc}-dns-dr", record_writer(est.zones["acme-dr.example"], f"{svc}.acme-dr.example"), owner)
    user("prod", "docs-dns", record_writer(est.zones["acme-prod.example"], "docs.acme-prod.example"), "team-docs")
    user("dr", "docs-dns-dr", record_writer(est.zones["acme-dr.example"], "docs.acme-dr.example"), "team-docs")
    return est


def seed_vault(east: str, west: str, token: str, est: SeededEstate) -> dict[str, str]:
    """vault-east (us-east-1) and vault-west (us-west-2): the DNS users' keys, the AppRoles that read them,
    and a PKI role that issues for both login hostnames. Secret values are placeholders, never read back.

    Then, as an operator would: a scanner token holding only the connector's published read-only policy,
    and the root token revoked. Returns the scanner token of each cluster."""
    import importlib.resources

    import hvac

    e = hvac.Client(url=east, token=token)
    w = hvac.Client(url=west, token=token)

    def keep(client: Any, path: str, user: str, owner: str) -> None:
        client.secrets.kv.v2.create_or_update_secret(path=path, secret={"aws_secret_access_key": "sandbox-placeholder"})
        identity = est.users.get(user, user)  # an IAM user's name, or a declared identity's id
        client.secrets.kv.v2.update_metadata(path=path, custom_metadata={"identity": identity, "owner": owner})

    keep(e, "dns/automation", "dns-automation", "team-edge")
    keep(e, "dns/pay-primary", "pay-dns", "team-payments")
    keep(e, "dns/pay-dr", "pay-dns-dr", "team-payments")
    keep(e, "dns/login-primary", "login-dns", "team-identity")
    keep(w, "dns/login-dr", "login-dns-dr", "team-identity")
    keep(e, "dns/status-primary", "status-dns", "team-sre")
    keep(w, "dns/status-dr", NS1_KEY, "team-sre-dr")
    keep(e, "dns/docs-primary", "docs-dns", "team-docs")
    keep(w, "dns/docs-dr", "docs-dns-dr", "team-docs")
    for client in (e, w):
        client.sys.enable_auth_method("approle")
    e.sys.create_or_update_acl_policy(name="pay-dns-sync", policy='path "secret/data/dns/pay-*" { capabilities = ["read"] }')
    e.auth.approle.create_or_update_approle("pay-dns-sync", token_policies=["pay-dns-sync"], secret_id_ttl="240h")
    e.auth.approle.generate_secret_id("pay-dns-sync", metadata={"owner": "team-payments"})
    e.sys.create_or_update_acl_policy(name="automation", policy='path "secret/data/dns/automation" { capabilities = ["read"] }')
    e.auth.approle.create_or_update_approle("automation", token_policies=["automation"])
    e.auth.approle.generate_secret_id("automation")
    e.sys.create_or_update_acl_policy(name="status-sync", policy='path "secret/data/dns/status-primary" { capabilities = ["read"] }')
    e.auth.approle.create_or_update_approle("status-sync", token_policies=["status-sync"])
    e.auth.approle.generate_secret_id("status-sync", metadata={"owner": "team-sre"})
    w.sys.create_or_update_acl_policy(name="status-dr-sync", policy='path "secret/data/dns/status-dr" { capabilities = ["read"] }')
    w.auth.approle.create_or_update_approle("status-dr-sync", token_policies=["status-dr-sync"])
    w.auth.approle.generate_secret_id("status-dr-sync", metadata={"owner": "team-sre-dr"})
    # one PKI role issues for both login hostnames
    e.sys.enable_secrets_engine("pki", path="pki", config={"max_lease_ttl": "87600h"})
    e.secrets.pki.generate_root(type="internal", common_name="Acme Parcel Root", extra_params={"ttl": "8760h"})
    e.secrets.pki.create_or_update_role("login", extra_params={
        "allowed_domains": ["login.acme-prod.example", "login.acme-dr.example"], "allow_bare_domains": True})
    e.sys.tune_mount_configuration("secret", description="DNS automation credentials owner=team-security")
    w.sys.tune_mount_configuration("secret", description="DR credentials owner=team-sre-dr")
    policy = importlib.resources.files("commonmode_vault").joinpath("scanner-policy.hcl").read_text()
    tokens = {}
    for name, client in (("vault-east", e), ("vault-west", w)):
        client.sys.create_or_update_acl_policy(name="commonmode-scanner", policy=policy)
        # an orphan, so that revoking the root token below does not revoke it
        tokens[name] = client.auth.token.create(policies=["commonmode-scanner"], no_default_policy=True, ttl="24h",
                                                no_parent=True, meta={"owner": "team-security"})["auth"]["client_token"]
        client.auth.token.revoke_self()  # no root token left behind
    return tokens


def config_text(aws: str, east: str, west: str, est: SeededEstate, *, db: str = "commonmode.db") -> str:
    """The commonmode.toml a user would write for this estate."""
    r = est.records

    def svc(name: str, key: str, owner: str | None) -> str:
        own = f'owner = "{owner}"\n' if owner else ""
        return (f'[[service]]\nname = "{name}"\n{own}primary = ["{r[key + "/primary"]}"]\n'
                f'backup = ["{r[key + "/backup"]}"]\n')

    return "\n".join([
        "# Sandbox config written by `commonmode demo`: every endpoint is a local emulator on 127.0.0.1.",
        f'[store]\npath = "{db}"\n',
        f'[[aws]]\nname = "acme-aws"\nendpoint_url = "{aws}"\nassume_role = "OrganizationAccountAccessRole"\n',
        f'[[vault]]\nname = "vault-east"\nurl = "{east}"\ntoken_env = "COMMONMODE_SANDBOX_VAULT_EAST_TOKEN"\n'
        'fault_domains = ["aws:region:us-east-1"]\n',
        f'[[vault]]\nname = "vault-west"\nurl = "{west}"\ntoken_env = "COMMONMODE_SANDBOX_VAULT_WEST_TOKEN"\n'
        'fault_domains = ["aws:region:us-west-2"]\n',
        f'[[declared]]\nname = "ns1"\nprovider = "ns1"\nfile = "{DECLARED_FILE}"\n',
        svc("payments", "pay", "team-payments"),
        svc("login", "login", "team-identity"),
        svc("status", "status", "team-sre"),
        svc("docs", "docs", None),
    ])


def declared_text() -> str:
    """ns1.toml: the backup path of `status` at NS1, written down as its team would (no connector scans NS1)."""
    return f"""# What commonmode cannot scan: the status page's backup DNS at NS1 (secondary DNS provider).
# Reviewed by team-sre-dr; the key's scope is from NS1's console (API key settings).

[[identity]]
id = "{NS1_KEY}"
kind = "api-key"
name = "status-failover (NS1 API key)"
owner = "team-sre-dr"
fault_domains = ["dns-provider:ns1"]

[[resource]]
id = "{NS1_ZONE}"
kind = "dns-zone"
name = "acme-status.example (NS1)"
names = ["acme-status.example"]
control_plane = "ns1:account:acme"
fault_domains = ["dns-provider:ns1"]

[[resource]]
id = "{NS1_RECORD}"
kind = "dns-record"
name = "status.acme-status.example A (NS1)"
names = ["status.acme-status.example"]
parents = ["{NS1_ZONE}"]
control_plane = "ns1:account:acme"
fault_domains = ["dns-provider:ns1"]

[[grant]]
identity = "{NS1_KEY}"
capability = "dns.write"
resource = "{NS1_ZONE}"
via = ["NS1 API key with DNS zone write access limited to acme-status.example"]
"""
