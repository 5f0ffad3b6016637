"""`commonmode scan` against a real OpenBao dev server (and, where both connectors run, moto for AWS)."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import boto3
import hvac
import pytest
from typer.testing import CliRunner

from commonmode.cli import app

from .seed import POLICIES, canary, seed

runner = CliRunner()
ACCOUNT = "123456789012"
V = "vault://vault-east"
SCANNER_POLICY = Path(__file__).resolve().parents[3] / "connectors" / "commonmode_vault" / "scanner-policy.hcl"


def as_json(cfg: Path, *args: str):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, [*args, "-c", str(cfg), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def seed_aws(endpoint: str) -> dict[str, str]:
    kw = dict(endpoint_url=endpoint, region_name="us-east-1")
    r53, iam = boto3.client("route53", **kw), boto3.client("iam", **kw)
    zid = r53.create_hosted_zone(Name="example.com.", CallerReference="z")["HostedZone"]["Id"].rsplit("/", 1)[-1]
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": n, "Type": "A", "TTL": 60,
                                                   "ResourceRecords": [{"Value": "192.0.2.1"}]}}
        for n in ("api.example.com.", "dr.example.com.")]})
    iam.create_user(UserName="dns-bot", Tags=[{"Key": "owner", "Value": "team-edge"}])
    iam.put_user_policy(UserName="dns-bot", PolicyName="dns", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets",
                                                "Resource": f"arn:aws:route53:::hostedzone/{zid}"}]}))
    zone = f"arn:aws:route53:::hostedzone/{zid}"
    return {"zone": zone, "api": f"{zone}/recordset/api.example.com./A", "dr": f"{zone}/recordset/dr.example.com./A",
            "dns_bot": f"arn:aws:iam::{ACCOUNT}:user/dns-bot"}


def write_config(tmp: Path, vault_url: str, aws_url: str | None, aws: dict[str, str] | None, extra: str = "") -> Path:
    cfg = tmp / "commonmode.toml"
    text = (f'[store]\npath = "cm.db"\n\n[[vault]]\nname = "vault-east"\nurl = "{vault_url}"\n'
            f'fault_domains = ["aws:region:us-east-1"]\n{extra}\n')
    if aws_url and aws:
        text += f'\n[[aws]]\nname = "prod"\nendpoint_url = "{aws_url}"\n'
        text += ('\n[[service]]\nname = "api"\nowner = "team-sre"\n'
                 f'primary = ["{aws["api"]}", "secret/dns/primary"]\n'
                 f'backup = ["{aws["dr"]}", "{V}/secret/data/dns/backup"]\n')
    cfg.write_text(text)
    return cfg


@pytest.fixture
def both(bao, aws, tmp_path, monkeypatch, caplog):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VAULT_TOKEN", "root")
    a = seed_aws(aws)
    seed(bao, a["dns_bot"])
    cfg = write_config(tmp_path, bao, aws, a)
    caplog.set_level(logging.DEBUG)
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return a, cfg, result.stdout + result.stderr + caplog.text


def by_rule(cfg: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in as_json(cfg, "findings", "--service", "api"):
        out.setdefault(f["rule"], []).append(f)
    return out


def test_roles_reading_both_dns_secrets_are_shared_identities_and_the_mount_a_shared_store(both):
    _, cfg, _ = both
    f = by_rule(cfg)
    shared = {s for x in f["shared-identity"] for s in x["subjects"]}
    assert f"{V}/auth/approle/role/deployer" in shared
    assert f"{V}/auth/kubernetes/role/dns-sync" in shared
    # primary-only reads one path
    assert f"{V}/auth/approle/role/primary-sync" not in shared
    # careful: the exact deny on dns/backup beats its dns/* read (it still reads dns/primary)
    inv = {i["id"]: i for i in as_json(cfg, "inventory")}
    reads = {m["resource"] for m in inv[f"{V}/auth/approle/role/careful"]["can_modify"]
             if m["capability"] == "secret.read"}
    assert f"{V}/secret/data/dns/primary" in reads and f"{V}/secret/data/dns/backup" not in reads
    assert [x["subjects"] for x in f["shared-secret-store"]] == [[f"{V}/secret"]]


def test_one_pki_role_for_both_hostnames_is_a_shared_certificate_path(both):
    _, cfg, _ = both
    shared = [x["subjects"] for x in by_rule(cfg)["shared-certificate-path"]]
    assert [f"{V}/pki/issue/web"] in shared
    # the role's CA is shared too (it is reached through that role on both sides)
    assert all(s == [f"{V}/pki/issue/web"] or s[0].startswith(f"{V}/pki/issuer/") for s in shared), shared
    access = {r["identity"] for r in as_json(cfg, "access", f"{V}/pki/issue/web")}
    assert f"{V}/auth/approle/role/cert-bot" in access


def test_a_credential_kept_in_vault_ties_the_aws_dns_user_to_the_vault_store(both):
    a, cfg, _ = both
    inv = {i["id"]: i for i in as_json(cfg, "inventory")}
    creds = inv[a["dns_bot"]]["credentials"]
    assert any(c["stored_in"] == f"{V}/secret/data/dns/aws-dns-user" for c in creds)
    # who can change the api record: dns-bot (zone), and through its key in Vault, the bot-key role
    who = {r["identity"] for r in as_json(cfg, "access", a["api"])}
    assert {a["dns_bot"], f"{V}/auth/approle/role/bot-key"} <= who
    assert f"{V}/auth/approle/role/primary-sync" not in who
    # and the Vault store is in both paths' closures: it holds the key of the zone's writer
    stores = {s for x in by_rule(cfg).get("shared-secret-store", []) for s in x["subjects"]}
    assert f"{V}/secret" in stores


def test_owner_gaps_and_owners_from_entity_metadata(both):
    _, cfg, _ = both
    gaps = {s for x in by_rule(cfg)["owner-gap"] for s in x["subjects"]}
    assert f"{V}/auth/approle/role/deployer" in gaps
    inv = {i["id"]: i for i in as_json(cfg, "inventory")}
    assert inv[f"{V}/auth/kubernetes/role/dns-sync"]["owner"] == "team-infra"
    assert inv[f"{V}/auth/approle/role/primary-sync"]["owner"] == "team-dns"
    assert f"{V}/auth/kubernetes/role/dns-sync" not in gaps


def test_policy_writers_can_act_as_every_holder(both):
    _, cfg, _ = both
    inv = {i["id"]: i for i in as_json(cfg, "inventory")}
    assumed = {a["identity"] for a in inv[f"{V}/auth/userpass/users/ops"]["can_assume"]}
    assert f"{V}/auth/approle/role/deployer" in assumed
    assert any("can rewrite policy dns-both" in step for a in inv[f"{V}/auth/userpass/users/ops"]["can_assume"]
               for step in a["via"])


def test_no_canary_anywhere(both):
    _, cfg, text = both
    db = (cfg.parent / "cm.db").read_bytes()
    outputs = "".join(runner.invoke(app, [c, "-c", str(cfg), "--format", "json"]).stdout
                      for c in ("findings", "inventory", "services", "runs"))
    for name in ("dns/primary", "dns/backup", "dns/aws-dns-user", "app/unrelated", "legacy", "password"):
        value = canary(name)
        assert value.encode() not in db, name
        assert value not in text and value not in outputs, name


def test_connector_reads_only_metadata_paths(bao, monkeypatch):
    from commonmode_vault.collect import ReadOnlyVault, ReadOnlyViolation

    client = hvac.Client(url=bao, token="root")
    client.secrets.kv.v2.create_or_update_secret(path="x", secret={"v": canary("x")})
    api = ReadOnlyVault(bao, "root")
    for bad in ("secret/data/x", "secret/metadata/x"):  # before sys/mounts is known, no mount route is allowed
        with pytest.raises(ReadOnlyViolation):
            api.get(bad)
    api.load_mounts(api.get("sys/mounts"), api.get("sys/auth"))
    for bad in ("secret/data/x", "pki/issue/web", "aws/creds/x", "auth/approle/role/r/secret-id", "sys/raw/core"):
        with pytest.raises(ReadOnlyViolation):
            api.get(bad)
    with pytest.raises(ReadOnlyViolation):
        api.lookup("auth/token/create", {})
    assert api.get("secret/metadata/x")["current_version"] == 1
    assert sum(api.calls.values()) == 3


def test_a_scan_with_only_the_scanner_policy_succeeds(bao, tmp_path, monkeypatch):
    seed(bao, f"arn:aws:iam::{ACCOUNT}:user/dns-bot")
    root = hvac.Client(url=bao, token="root")
    root.sys.create_or_update_acl_policy(name="commonmode-scanner", policy=SCANNER_POLICY.read_text())
    token = root.auth.token.create(policies=["commonmode-scanner"], no_default_policy=True)["auth"]["client_token"]
    monkeypatch.setenv("VAULT_TOKEN", token)
    cfg = write_config(tmp_path, bao, None, None)
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["connectors"][0]["gaps"] == []
    inv = {i["id"] for i in as_json(cfg, "inventory")}
    assert f"{V}/auth/kubernetes/role/dns-sync" in inv
    # and that token really cannot read a value
    scanner = hvac.Client(url=bao, token=token)
    with pytest.raises(hvac.exceptions.Forbidden):
        scanner.secrets.kv.v2.read_secret_version(path="dns/primary", raise_on_deleted_version=True)


def test_evaluated_grants_agree_with_the_server(bao, tmp_path, monkeypatch):
    """For every role, the connector's secret.read verdict on each KV path is what sys/capabilities says for
    a token with that role's policies."""
    seed(bao, f"arn:aws:iam::{ACCOUNT}:user/dns-bot")
    monkeypatch.setenv("VAULT_TOKEN", "root")
    cfg = write_config(tmp_path, bao, None, None)
    assert runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress"]).exit_code == 0
    conn = sqlite3.connect(cfg.parent / "cm.db")
    granted = {(i, r) for i, r in conn.execute("SELECT identity_id, resource_id FROM grants WHERE capability = "
                                               "'secret.read' AND resource_id LIKE ?", [f"{V}/secret/data/%"])}
    root = hvac.Client(url=bao, token="root")
    paths = ["secret/data/dns/primary", "secret/data/dns/backup", "secret/data/dns/aws-dns-user",
             "secret/data/app/unrelated"]
    held: set[str] = set()
    verdicts: set[bool] = set()
    for role in ("deployer", "primary-sync", "bot-key", "careful", "cert-bot"):
        pols = root.auth.approle.read_role(role)["data"]["token_policies"]
        held.update(pols)
        token = root.auth.token.create(policies=pols)["auth"]["client_token"]
        caps = root.sys.get_capabilities(paths=paths, token=token)
        for p in paths:
            server = "read" in (caps.get(p) or caps["data"][p])
            verdicts.add(server)
            assert ((f"{V}/auth/approle/role/{role}", f"{V}/{p}") in granted) == server, (role, p)
    # the roles hold the seeded policies (not only `default`), and the server both allows and refuses reads
    assert held and held <= set(POLICIES), held
    assert verdicts == {True, False}


def test_missing_token_is_a_usage_error(bao, tmp_path, monkeypatch):
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    cfg = write_config(tmp_path, bao, None, None)
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress"])
    assert result.exit_code == 2
    assert "VAULT_TOKEN" in result.output


def test_cloud_auth_roles_and_secret_engines_link_cloud_identities(aws, tmp_path, monkeypatch):
    """Through the stand-in (OpenBao lacks these plugins): an aws-auth role bound to an AWS role ARN, whose
    policy reads an aws secret-engine path minting credentials for a DNS-capable AWS role."""
    from .standin import StandIn

    kw = dict(endpoint_url=aws, region_name="us-east-1")
    iam, r53 = boto3.client("iam", **kw), boto3.client("route53", **kw)
    zid = r53.create_hosted_zone(Name="example.com.", CallerReference="z")["HostedZone"]["Id"].rsplit("/", 1)[-1]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="ci-runner", AssumeRolePolicyDocument=trust)
    iam.create_role(RoleName="r53-writer", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="r53-writer", PolicyName="dns", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets",
                                                "Resource": f"arn:aws:route53:::hostedzone/{zid}"}]}))
    monkeypatch.setenv("VAULT_TOKEN", "standin-token")
    with StandIn() as standin:
        cfg = write_config(tmp_path, standin.url, None, None)
        cfg.write_text(cfg.read_text() + f'\n[[aws]]\nname = "prod"\nendpoint_url = "{aws}"\n')
        result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"],
                               catch_exceptions=False)
        requests, refused = list(standin.requests), list(standin.refused)
    assert result.exit_code == 0, result.output
    vault_role = "vault://vault-east/auth/aws/role/dns-failover"
    inv = {i["id"]: i for i in as_json(cfg, "inventory")}
    ci = inv[f"arn:aws:iam::{ACCOUNT}:role/ci-runner"]
    assert [a["identity"] for a in ci["can_assume"]] == [vault_role]
    minted = {a["identity"] for a in inv[vault_role]["can_assume"]}
    assert f"arn:aws:iam::{ACCOUNT}:role/r53-writer" in minted
    who = {r["identity"] for r in as_json(cfg, "access", f"arn:aws:route53:::hostedzone/{zid}")}
    assert {f"arn:aws:iam::{ACCOUNT}:role/r53-writer", vault_role, f"arn:aws:iam::{ACCOUNT}:role/ci-runner"} <= who
    # gcp and azure bindings become edges from those identities (the ids their connectors will use)
    assert ("//iam.googleapis.com/projects/dr-project/serviceAccounts/dns-sync@dr-project.iam.gserviceaccount.com",
            "vault://vault-east/auth/gcp/role/dns-sa") in {
        (row[0], row[1]) for row in sqlite3.connect(cfg.parent / "cm.db").execute(
            "SELECT identity_id, resource_id FROM grants WHERE capability = 'identity.assume'")}
    # only metadata endpoints were asked for: no creds/, sts/, token or key
    assert requests and not [r for r in requests if "/creds/" in r or "/sts/" in r or r.endswith(("/token", "/key"))]
    assert refused == []  # and nothing that writes


def test_create_only_writes_are_conditional_on_existing_secrets(bao, tmp_path, monkeypatch):
    """`create` without `update` writes new keys but cannot overwrite an existing secret (checked on the server,
    KV v1 and v2): such a secret.write is conditional and says why; `update` is a plain write."""
    import requests

    seed(bao, f"arn:aws:iam::{ACCOUNT}:user/dns-bot")
    root = hvac.Client(url=bao, token="root")
    for verb in ("create", "update"):
        root.sys.create_or_update_acl_policy(name=f"kv-{verb}", policy=(
            f'path "secret/data/dns/*" {{ capabilities = ["{verb}"] }}\n'
            f'path "legacy/dns/*" {{ capabilities = ["{verb}"] }}'))
        root.auth.approle.create_or_update_approle(f"kv-{verb}", token_policies=[f"kv-{verb}"])

    def write(verb: str, path: str, body: dict) -> int:
        tok = root.auth.token.create(policies=[f"kv-{verb}"])["auth"]["client_token"]
        return requests.post(f"{bao}/v1/{path}", headers={"X-Vault-Token": tok}, json=body, timeout=10).status_code

    assert write("create", "secret/data/dns/primary", {"data": {"v": "x"}}) == 403  # existing: refused
    assert write("create", "legacy/dns/token", {"v": "x"}) == 403
    assert write("create", "secret/data/dns/brand-new", {"data": {"v": "x"}}) == 200  # new: written
    assert write("create", "legacy/dns/brand-new", {"v": "x"}) == 204
    assert write("update", "secret/data/dns/primary", {"data": {"v": canary("dns/primary")}}) == 200
    assert write("update", "legacy/dns/token", {"v": canary("legacy")}) == 204
    monkeypatch.setenv("VAULT_TOKEN", "root")
    cfg = write_config(tmp_path, bao, None, None)
    assert runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress"]).exit_code == 0
    conn = sqlite3.connect(cfg.parent / "cm.db")
    rows = {(i, r): (bool(c), json.loads(v)) for i, r, c, v in conn.execute(
        "SELECT identity_id, resource_id, conditional, via FROM grants WHERE capability = 'secret.write'")}
    for rid in (f"{V}/secret/data/dns/primary", f"{V}/legacy/dns/token"):
        conditional, via = rows[(f"{V}/auth/approle/role/kv-create", rid)]
        assert conditional and "create only: can write new keys, cannot overwrite this existing secret" in via
        conditional, via = rows[(f"{V}/auth/approle/role/kv-update", rid)]
        assert not conditional and not any("create only" in step for step in via)


def test_an_escalation_reached_through_several_paths_is_conditional_only_if_every_path_is(bao, tmp_path, monkeypatch):
    """Rewriting policy dns-both: sys/policies/acl/<p> under parameter constraints (conditional) and
    sys/policy/<p> without (unconditional) → the identity.assume edge is unconditional; the same for an
    AppRole login minted through secret-id (constrained) or custom-secret-id (not)."""
    import requests

    seed(bao, f"arn:aws:iam::{ACCOUNT}:user/dns-bot")
    root = hvac.Client(url=bao, token="root")
    root.sys.create_or_update_acl_policy(name="two-ways", policy=(
        'path "sys/policies/acl/dns-both" { capabilities = ["update"]\n'
        '  allowed_parameters = { "policy" = ["path \\"x\\" { capabilities = [\\"read\\"] }"] } }\n'
        'path "sys/policy/dns-both" { capabilities = ["update"] }\n'
        'path "auth/approle/role/deployer/secret-id" { capabilities = ["update"]\n'
        '  allowed_parameters = { "metadata" = ["{\\"owner\\":\\"nobody\\"}"] } }\n'
        'path "auth/approle/role/deployer/custom-secret-id" { capabilities = ["update"] }'))
    root.auth.approle.create_or_update_approle("two-ways", token_policies=["two-ways"])
    tok = root.auth.token.create(policies=["two-ways"])["auth"]["client_token"]
    # the server: the unconstrained paths do what the constrained ones would refuse
    assert requests.put(f"{bao}/v1/sys/policy/dns-both", headers={"X-Vault-Token": tok}, timeout=10,
                        json={"policy": POLICIES["dns-both"]}).status_code == 204
    assert requests.post(f"{bao}/v1/auth/approle/role/deployer/custom-secret-id", headers={"X-Vault-Token": tok},
                         json={"secret_id": canary("custom-secret-id")}, timeout=10).ok
    monkeypatch.setenv("VAULT_TOKEN", "root")
    cfg = write_config(tmp_path, bao, None, None)
    assert runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress"]).exit_code == 0
    conn = sqlite3.connect(cfg.parent / "cm.db")
    edges = [(r, bool(c), json.loads(v)) for r, c, v in conn.execute(
        "SELECT resource_id, conditional, via FROM grants WHERE capability = 'identity.assume' AND identity_id = ?",
        [f"{V}/auth/approle/role/two-ways"])]
    deployer = [(c, via) for r, c, via in edges if r == f"{V}/auth/approle/role/deployer"]
    assert len(deployer) == 1, deployer  # one edge: policy rewrite and login are both ways into the deployer
    assert deployer[0][0] is False
    kube = [(c, via) for r, c, via in edges if r == f"{V}/auth/kubernetes/role/dns-sync"]  # holds dns-both too
    assert kube and kube[0][0] is False and any("sys/policy/dns-both" in step for step in kube[0][1])


def test_a_role_whose_token_policies_include_root_grants_nothing(bao, tmp_path, monkeypatch):
    """Logins through an auth role with root among its token policies (in any spelling) fail on the server
    ("auth methods cannot create root tokens"), so the role reaches nothing; the same role without root does."""
    import requests

    seed(bao, f"arn:aws:iam::{ACCOUNT}:user/dns-bot")
    root = hvac.Client(url=bao, token="root")
    root.sys.enable_auth_method("userpass", path="people")
    for user, pols in (("rooted", ["dns-both", "ROOT"]), ("plain", ["dns-both"])):
        root.write(f"auth/people/users/{user}", password="canary-pw-not-read", token_policies=pols)
    logins = {u: requests.post(f"{bao}/v1/auth/people/login/{u}", json={"password": "canary-pw-not-read"},
                               timeout=10).status_code for u in ("rooted", "plain")}
    assert logins == {"rooted": 400, "plain": 200}
    monkeypatch.setenv("VAULT_TOKEN", "root")
    cfg = write_config(tmp_path, bao, None, None)
    assert runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress"]).exit_code == 0
    inventory = {i["id"]: i for i in as_json(cfg, "inventory")}
    rooted, plain = inventory[f"{V}/auth/people/users/rooted"], inventory[f"{V}/auth/people/users/plain"]
    assert rooted["can_modify"] == [] and "auth methods cannot create root tokens" in rooted["tags"]["login"]
    assert {m["resource"] for m in plain["can_modify"] if m["capability"] == "secret.read"} >= {
        f"{V}/secret/data/dns/primary", f"{V}/secret/data/dns/backup"}
