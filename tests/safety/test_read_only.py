"""Read-only by construction, for every connector that talks to a server (issue 12, "Also prove"): each
connector's client goes through one guard, a write tried through it is refused before any request leaves,
and after a full scan the backends themselves show no write and no secret read: moto's whole state is
unchanged, and OpenBao's audit log holds only metadata reads, LISTs and the documented lookups."""

from __future__ import annotations

import json
import os
import urllib.request

import boto3
import pytest
from tests.connectors.aws.seed import seed as seed_aws
from tests.connectors.vault.seed import seed as seed_vault
from tests.safety.conftest import aws_env, commonmode, proxy

from commonmode_aws.collect import Clients, ReadOnlyViolation
from commonmode_vault.collect import ReadOnlyVault
from commonmode_vault.collect import ReadOnlyViolation as VaultRefused

#: Vault requests a scan may make that are not reads or LISTs: the three documented lookups.
VAULT_LOOKUPS = ("auth/token/lookup-accessor", "sys/capabilities-self", "secret-id-accessor/lookup")


def moto_state(endpoint: str) -> object:
    """Every backend's data as moto holds it (its own `/moto-api/data.json`), without the empty collections
    of backends moto only instantiates when a service is first called."""
    def prune(value: object) -> object:
        if isinstance(value, dict):
            kept = {k: prune(v) for k, v in value.items()}
            return {k: v for k, v in kept.items() if v not in ({}, [])}
        if isinstance(value, list):
            return [prune(v) for v in value]
        return value

    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json") as resp:
        return prune(json.loads(resp.read()))


def test_a_full_aws_scan_changes_nothing_in_moto(aws, tmp_path):
    seed_aws(aws)
    before = moto_state(aws)
    assert {"User", "Role"} <= set(before["iam"]) and "RecordSet" in before["route53"]  # it sees state
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[aws]]\nname = "prod"\nendpoint_url = "{aws}"\n')
    proc = commonmode("scan", "-c", str(cfg), "--no-progress", env=aws_env())
    assert proc.returncode == 0, proc.stderr
    assert moto_state(aws) == before


@pytest.mark.parametrize("service,call,kwargs", [
    ("iam", "create_user", {"UserName": "x"}),
    ("iam", "create_access_key", {"UserName": "dns-bot"}),
    ("secretsmanager", "get_secret_value", {"SecretId": "dns/route53"}),
    ("ssm", "get_parameter", {"Name": "/dns/key", "WithDecryption": True}),
    ("route53", "change_resource_record_sets", {"HostedZoneId": "Z1", "ChangeBatch": {"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": "x.example.com", "Type": "A", "TTL": 60,
                                                   "ResourceRecords": [{"Value": "192.0.2.1"}]}}]}}),
    ("sts", "get_session_token", {}),
])
def test_the_aws_guard_refuses_before_any_request_leaves(aws, service, call, kwargs):
    seen: list[str] = []
    with proxy(aws, lambda method, path, n: seen.append(f"{method} {path}")) as url:
        clients = Clients(boto3.session.Session(**{k.lower(): v for k, v in aws_env().items()
                                                   if k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
                                                region_name="us-east-1"), url, "us-east-1")
        with pytest.raises(ReadOnlyViolation):
            getattr(clients.client(service), call)(**kwargs)
    assert seen == [] and sum(clients.calls.values()) == 0


def test_a_full_vault_scan_shows_no_write_and_no_secret_read_in_the_audit_log(audited, tmp_path):
    seed_vault(audited.url, "arn:aws:iam::123456789012:user/dns-bot")
    mark = audited.mark()
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[vault]]\nname = "ops"\nurl = "{audited.url}"\n')
    proc = commonmode("scan", "-c", str(cfg), "--no-progress", env={**os.environ, "VAULT_TOKEN": "root"})
    assert proc.returncode == 0, proc.stderr
    seen = audited.requests_since(mark)
    assert len(seen) > 20  # the scan did read the cluster
    writes = [r for r in seen if not r.startswith(("read ", "list ")) and not r.endswith(VAULT_LOOKUPS)]
    assert writes == [], writes
    values = [r for r in seen if "/data/" in r or "/subkeys/" in r or "/issue/" in r or "/sign" in r
              or "/creds/" in r or r.startswith("read legacy/")]
    assert values == [], values


@pytest.mark.parametrize("method,path", [
    ("POST", "secret/data/dns/primary"), ("GET", "secret/data/dns/primary"), ("DELETE", "secret/metadata/dns/x"),
    ("POST", "auth/token/create"), ("POST", "sys/policies/acl/x"), ("POST", "pki/issue/web"),
])
def test_the_vault_guard_refuses_before_any_request_leaves(audited, method, path):
    seed_vault(audited.url, "arn:aws:iam::123456789012:user/dns-bot")
    api = ReadOnlyVault(audited.url, "root")
    api.load_mounts({"secret/": {"type": "kv", "options": {"version": "2"}}, "pki/": {"type": "pki"}}, {})
    mark = audited.mark()
    with pytest.raises(VaultRefused):
        api.request(method, path)
    assert audited.requests_since(mark) == [] and sum(api.calls.values()) == 0
