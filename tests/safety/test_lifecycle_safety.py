"""A connector that fails in one run does not make `diff` say its identities lost power, nor regained it in
the next run; diff names the connectors it could not compare (issue 12, 4). Against moto's server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
from tests.safety.conftest import ESTATE, commonmode

from commonmode_sandbox.servers import free_port

CONFIG = """
[store]
path = "cm.db"

[[aws]]
name = "prod"
endpoint_url = "{endpoint}"

[[declared]]
name = "estate"
file = "estate.toml"
"""


def seed(endpoint: str) -> str:
    kw = dict(endpoint_url=endpoint, region_name="us-east-1")
    zone = boto3.client("route53", **kw).create_hosted_zone(Name="example.com.", CallerReference="z")["HostedZone"]
    iam = boto3.client("iam", **kw)
    iam.create_user(UserName="dns-bot")
    iam.put_user_policy(UserName="dns-bot", PolicyName="dns", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets",
                                                "Resource": "*"}]}))
    return zone["Id"].rsplit("/", 1)[-1]


def scan(tmp: Path, endpoint: str) -> int:
    (tmp / "commonmode.toml").write_text(CONFIG.format(endpoint=endpoint))
    return commonmode("scan", "-c", str(tmp / "commonmode.toml"), "--no-progress").returncode


def test_diff_across_a_failed_connector_reports_no_power_change(aws, tmp_path):
    seed(aws)
    (tmp_path / "estate.toml").write_text(ESTATE)
    assert scan(tmp_path, aws) == 0
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens here: the AWS connector fails
    assert scan(tmp_path, dead) == 3
    assert scan(tmp_path, aws) == 0
    cfg = str(tmp_path / "commonmode.toml")
    outage = json.loads(commonmode("diff", "-c", cfg, "--from", "1", "--to", "2", "--format", "json").stdout)
    back = json.loads(commonmode("diff", "-c", cfg, "--from", "2", "--to", "3", "--format", "json").stdout)
    assert outage["not_compared"] == [{"connector": "prod", "from": "ok", "to": "failed"}]
    assert back["not_compared"] == [{"connector": "prod", "from": "failed", "to": "ok"}]
    for d in (outage, back):
        assert d["lost_power"] == [] and d["gained_power"] == [], d
    # a real change in a connector that completed in both runs is still reported
    user = "arn:aws:iam::123456789012:user/dns-bot"
    boto3.client("iam", endpoint_url=aws, region_name="us-east-1").delete_user_policy(UserName="dns-bot",
                                                                                       PolicyName="dns")
    assert scan(tmp_path, aws) == 0
    real = json.loads(commonmode("diff", "-c", cfg, "--format", "json").stdout)
    assert real["not_compared"] == [] and {p["identity"] for p in real["lost_power"]} == {user}
    table = commonmode("diff", "-c", cfg, "--from", "1", "--to", "2").stdout
    assert "not compared" in table and "prod" in table


def test_an_outage_of_the_vault_cluster_does_not_resolve_a_finding_that_rests_on_it(aws, bao, tmp_path):
    """The DNS bot's key is kept in one Vault cluster for both paths: shared-fault-domain vault:cluster:…,
    whose subject is a label no connector reports. Vault rejecting the token must not resolve it."""
    import hvac

    zone = seed(aws)
    r53 = boto3.client("route53", endpoint_url=aws, region_name="us-east-1")
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "api.example.com", "Type": "A", "SetIdentifier": side,
                                                   "Failover": side.upper(), "TTL": 60,
                                                   "ResourceRecords": [{"Value": ip}]}}
        for side, ip in (("primary", "192.0.2.1"), ("secondary", "192.0.2.2"))]})
    v = hvac.Client(url=bao, token="root")
    v.secrets.kv.v2.create_or_update_secret(path="dns/aws-key", secret={"value": "canary-OUTAGE-3c1"})
    v.secrets.kv.v2.update_metadata(path="dns/aws-key", custom_metadata={
        "identity": "arn:aws:iam::123456789012:user/dns-bot", "owner": "team-dns"})
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[aws]]\nname = "prod"\nendpoint_url = "{aws}"\n\n'
                   f'[[vault]]\nname = "ops"\nurl = "{bao}"\n')

    def scan_with(token: str) -> int:
        return commonmode("scan", "-c", str(cfg), "--no-progress", env={**os.environ, "VAULT_TOKEN": token}).returncode

    def vault_findings(run: int) -> dict[str, dict]:
        rows = json.loads(commonmode("findings", "-c", str(cfg), "--run", str(run), "--format", "json").stdout)
        return {f["subjects"][0]: f for f in rows if f["rule"] == "shared-fault-domain"
                and f["subjects"][0].startswith("vault:cluster:")}

    assert scan_with("root") == 0
    before = vault_findings(1)
    assert len(before) == 1
    (label, finding), = before.items()
    assert finding["connectors"] == ["ops", "prod"]  # the evidence rests on both
    assert scan_with("not-the-token") == 3  # Vault rejects the token: its connector fails, the run is partial
    after = vault_findings(2)
    assert after[label]["status"] == "open"
    assert "connector ops did not complete" in after[label]["note"]
    assert scan_with("root") == 0
    assert vault_findings(3)[label]["status"] == "open"
