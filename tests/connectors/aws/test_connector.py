"""`commonmode scan` against a real AWS API (moto's server on 127.0.0.1) seeded through boto3.

The expectations follow from the evaluation rules (see the numbered identities in seed.py), not from a
previous run's output.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from commonmode.cli import app
from commonmode_aws.collect import NEVER, READ_ONLY_OPERATIONS

from .seed import ACCOUNT, CANARY, arn, seed

runner = CliRunner()


def write_config(tmp: Path, endpoint: str, extra: str = "") -> Path:
    cfg = tmp / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[aws]]\nname = "prod"\nendpoint_url = "{endpoint}"\n{extra}')
    return cfg


def cm(cfg: Path, *args: str) -> object:
    return runner.invoke(app, [*args, "-c", str(cfg)], catch_exceptions=False)


def as_json(cfg: Path, *args: str):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, [*args, "-c", str(cfg), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def names(rows: list[dict]) -> set[str]:
    return {r["identity"].rsplit("/", 1)[-1] for r in rows}


@pytest.fixture
def scanned(aws: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    estate = seed(aws)
    cfg = write_config(tmp_path, aws)
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return estate, cfg, json.loads(result.stdout)


def test_access_lists_exactly_who_can_change_each_failover_record(scanned):
    e, cfg, _ = scanned
    everyone = as_json(cfg, "access", e.api_primary)
    # the ACME-only role (8) can write _acme-challenge.example.com TXT: it passes DNS validation for the zone's
    # names (cert.issue on the zone, which contains the record), but it cannot change the record
    assert {r["capability"] for r in everyone if r["identity"].endswith("/acme")} == {"cert.issue"}
    api = [r for r in everyone if not r["identity"].endswith("/acme")]
    # Zone A record writers (1 dns-bot, 2-4 managed full/power/admin, 9 denied only on B, 10 boundary allows A,
    # 11 NotResource B, 12 conditional, 14 r53-deployer, 16 self-escalation), the api health check's
    # operators (13), and those who act as one of them: ci-deployer (trust names it), and the readers of
    # dns-bot's stored key (17 identity policy, 18 resource policy).
    assert names(api) == {"dns-bot", "r53-full", "power-user", "admin", "denied-b", "bounded-admin", "not-b",
                          "office-only", "r53-deployer", "self-escalator", "hc-operator", "ci-deployer",
                          "secret-reader", "rp-reader"}
    www = as_json(cfg, "access", e.www_primary)
    # Zone B: no dns-bot (zone A only), no bounded-admin (boundary), no hc-operator (other health check);
    # failover-operator owns www's health check, and oncall may assume it (trust names the account root and
    # oncall's own policy allows sts:AssumeRole on it). no-assume, trusted the same way, has no such allow.
    assert names(www) == {"r53-full", "power-user", "admin", "denied-b", "not-b", "office-only", "r53-deployer",
                          "self-escalator", "failover-operator", "oncall", "ci-deployer"}
    # look-alikes and the ACME-only role never appear
    for trap in ("r53-readonly", "readonly", "auditor", "acme", "no-assume", "escalator"):
        assert trap not in names(api) | names(www)


def test_conditions_and_denies_are_reported_exactly(scanned):
    e, cfg, _ = scanned
    rows = {r["identity"].rsplit("/", 1)[-1]: r for r in as_json(cfg, "access", e.zone_a) if r["direct"]}
    assert rows["office-only"]["conditional"] is True
    assert rows["dns-bot"]["conditional"] is False
    inventory = {i["name"]: i for i in as_json(cfg, "inventory")}
    denied = {(m["capability"], m["resource"]) for m in inventory["denied-b"]["can_modify"]}
    assert ("dns.write", e.zone_a) in denied and ("dns.write", e.zone_b) not in denied
    acme = {(m["capability"], m["resource"]) for m in inventory["acme"]["can_modify"]}
    # only _acme-challenge TXT records, but that includes _acme-challenge.example.com: ACME DNS-01 for the
    # apex and its wildcard
    assert acme == {("dns.write", e.acme_record), ("cert.issue", e.zone_a)}
    bounded = {(m["capability"], m["resource"]) for m in inventory["bounded-admin"]["can_modify"]}
    # the correlator adds cert.issue: whoever writes a public zone can pass DNS validation for its names
    assert bounded == {("dns.write", e.zone_a), ("cert.issue", e.zone_a)}
    for look_alike in ("r53-readonly", "readonly", "auditor", "no-assume"):
        assert inventory[look_alike]["can_modify"] == [], look_alike
    escal = inventory["escalator"]["can_assume"]
    assert [a["identity"] for a in escal] == [arn("role", "r53-readonly")]
    assert "iam:PutRolePolicy" in escal[0]["via"][0]
    assert [a["identity"] for a in inventory["oncall"]["can_assume"]] == [arn("role", "failover-operator")]
    assert inventory["no-assume"]["can_assume"] == []
    rp = {(m["capability"], m["resource"]) for m in inventory["rp-reader"]["can_modify"]}
    assert rp == {("secret.read", e.dns_bot_secret)}


def test_failover_services_are_discovered_and_findings_raised(scanned):
    e, cfg, summary = scanned
    services = {s["name"]: s for s in as_json(cfg, "services")}
    assert set(services) == {"api.example.com A", "www.example.net A"}
    assert services["api.example.com A"]["primary"] == [e.api_primary]
    assert services["api.example.com A"]["backup"] == [e.api_secondary]
    assert services["api.example.com A"]["owner"] == "team-edge"
    findings = as_json(cfg, "findings")
    by_rule: dict[str, list[dict]] = {}
    for f in findings:
        by_rule.setdefault(f["rule"], []).append(f)
    api_shared = {f["subjects"][0] for f in by_rule["shared-identity"] if f["service"] == "api.example.com A"}
    assert arn("user", "dns-bot") in api_shared and arn("role", "hc-operator") not in api_shared
    assert {f["subjects"][0] for f in by_rule["shared-dns-control-plane"]} == {e.zone_a, e.zone_b}
    assert {f["service"] for f in by_rule["no-independent-recovery"]} == {"api.example.com A", "www.example.net A"}
    gaps = {s for f in by_rule["owner-gap"] for s in f["subjects"]}
    assert {arn("user", "dns-bot"), arn("user", "ci-deployer"), "service:www.example.net A"} <= gaps
    assert arn("role", "admin") not in gaps  # tagged owner
    assert summary["status"] == "ok"


def test_scan_is_read_only_and_never_touches_a_secret_value(scanned, aws):
    _, cfg, _ = scanned
    before = urllib.request.urlopen(f"{aws}/moto-api/data.json").read()
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0
    assert urllib.request.urlopen(f"{aws}/moto-api/data.json").read() == before, "the scan changed AWS state"
    db = (cfg.parent / "cm.db").read_bytes()
    assert CANARY.encode() not in db
    for command in ("findings", "inventory", "services"):
        assert CANARY not in runner.invoke(app, [command, "-c", str(cfg), "--format", "json"]).stdout
    # The operations actually called, as the connector counted them, are all on the read-only list.
    import sqlite3

    conn = sqlite3.connect(cfg.parent / "cm.db")
    stats = json.loads(conn.execute("SELECT stats FROM connector_runs ORDER BY run_id DESC").fetchone()[0])
    called = {k.removeprefix("calls.") for k in stats if k.startswith("calls.")}
    assert called
    # The connector's own count is every request that reached AWS: a scan through a proxy that counts what it
    # forwards reports exactly that many calls.
    (cfg.parent / "proxied").mkdir()
    proxied, result = scan_through_proxy(aws, cfg.parent / "proxied")
    assert result.exit_code == 0
    counted = json.loads(sqlite3.connect(proxied.parent / "cm.db").execute(
        "SELECT stats FROM connector_runs ORDER BY run_id DESC").fetchone()[0])
    assert counted["api_calls"] == len(_Throttler.seen) > 0, (counted["api_calls"], len(_Throttler.seen))
    assert sum(v for k, v in counted.items() if k.startswith("calls.")) == counted["api_calls"]
    for op in called:
        service, name = op.split(":")
        assert name in READ_ONLY_OPERATIONS[service] and name not in NEVER, op
    assert "secretsmanager:GetSecretValue" not in called


def test_read_only_guard_refuses_a_mutating_call(aws):
    import boto3

    from commonmode_aws.collect import Clients, ReadOnlyViolation

    clients = Clients(boto3.session.Session(region_name="us-east-1"), aws, "us-east-1")
    with pytest.raises(ReadOnlyViolation):
        clients.client("iam").create_user(UserName="nope")
    with pytest.raises(ReadOnlyViolation):
        clients.client("secretsmanager").get_secret_value(SecretId="x")
    assert not clients.calls


class _Throttler(BaseHTTPRequestHandler):
    """A proxy in front of moto that answers the first request of chosen operations with a throttling
    error, as AWS does under load; everything else is forwarded unchanged."""

    upstream = ""
    throttle: ClassVar[set[str]] = set()
    throttled: ClassVar[list[str]] = []
    deny: ClassVar[set[str]] = set()
    seen: ClassVar[list[str]] = []  # every operation received
    at: ClassVar[list[tuple[float, str]]] = []  # when each request arrived, and its path

    def log_message(self, *args: object) -> None:
        pass

    def _op(self, body: bytes) -> str:
        target = self.headers.get("X-Amz-Target")
        if target:
            return target.rsplit(".", 1)[-1]
        if b"Action=" in body:
            return body.split(b"Action=", 1)[1].split(b"&", 1)[0].decode()
        return f"{self.command} {self.path.split('?')[0].rsplit('/', 1)[-1]}"

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        op = self._op(body)
        self.seen.append(op)
        self.at.append((time.monotonic(), self.path))
        key = f"{op} {self.path}"
        if op in self.deny:
            payload = json.dumps({"__type": "AccessDeniedException",
                                  "message": f"not authorized to perform {op}"}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if op in self.throttle and key not in self.throttled:
            self.throttled.append(key)
            if self.headers.get("X-Amz-Target"):
                payload = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
                ctype = "application/x-amz-json-1.1"
            else:
                payload = (b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                           b"<Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>")
                ctype = "text/xml"
            self.send_response(400)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        # Forward byte for byte (urllib would add a form Content-Type that REST-XML requests do not carry).
        conn = http.client.HTTPConnection(*self.upstream.removeprefix("http://").split(":"))
        conn.request(self.command, self.path, body=body or None,
                     headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
        resp = conn.getresponse()
        status, headers, data = resp.status, resp.headers, resp.read()
        conn.close()
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _handle


def scan_through_proxy(aws: str, tmp_path: Path, *, throttle: frozenset[str] = frozenset(),
                       deny: frozenset[str] = frozenset(), scan_args: tuple[str, ...] = ()) -> tuple[Path, Any]:
    """A scan of moto through the _Throttler proxy (throttling the first request of `throttle`'s operations,
    denying `deny`'s), with what the proxy saw reset first: the config and the CLI result."""
    _Throttler.upstream, _Throttler.throttle, _Throttler.deny = aws, set(throttle), set(deny)
    _Throttler.throttled, _Throttler.at, _Throttler.seen = [], [], []
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _Throttler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        cfg = write_config(tmp_path, f"http://127.0.0.1:{proxy.server_address[1]}")
        result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", *scan_args], catch_exceptions=False)
    finally:
        proxy.shutdown()
        _Throttler.deny = set()
    return cfg, result


def test_throttling_is_retried_and_no_page_is_lost(aws, tmp_path):
    import boto3

    e = seed(aws)
    r53 = boto3.client("route53", endpoint_url=aws, region_name="us-east-1")
    zid = e.zone_a.rsplit("/", 1)[-1]
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": f"host{i}.example.com.", "Type": "A", "TTL": 60,
                                                   "ResourceRecords": [{"Value": "192.0.2.1"}]}} for i in range(650)]})
    cfg, result = scan_through_proxy(aws, tmp_path, throttle=frozenset({"GetAccountAuthorizationDetails", "GET rrset",
                                                                         "ListSecrets"}))
    assert result.exit_code == 0, result.output
    pages = [k for k in _Throttler.throttled if k.startswith("GET rrset")]
    assert len(pages) >= 3, _Throttler.throttled  # zone A has 3 pages of 300 (the API maximum), each throttled once
    assert any(k.startswith("GetAccountAuthorizationDetails") for k in _Throttler.throttled)
    records = [r for r in as_json(cfg, "inventory") if r["name"] == "admin"]
    assert records  # identities survived the throttled GAAD
    stats = json.loads(__import__("sqlite3").connect(cfg.parent / "cm.db").execute(
        "SELECT stats FROM connector_runs ORDER BY run_id DESC").fetchone()[0])
    # every throttled answer is counted, per API and per account (this scan reaches one account)
    assert stats["throttled.route-53"] == len(pages) and stats[f"throttled.route-53.{ACCOUNT}"] == len(pages)
    assert stats["throttled.iam"] >= 1 and stats["throttled.secrets-manager"] >= 1
    conn = __import__("sqlite3").connect(cfg.parent / "cm.db")
    hosts = conn.execute("SELECT count(*) FROM resources WHERE id LIKE ?",
                         [f"{e.zone_a}/recordset/host%"]).fetchone()[0]
    assert hosts == 650


def test_route53_requests_stay_within_five_in_any_second_at_the_emulator(aws, tmp_path):
    """The polite rate, counted where it matters: at the server. 16 zones make about 20 Route 53 requests;
    no one-second window at the proxy in front of moto may hold more than 5 of them."""
    import boto3

    seed(aws)
    r53 = boto3.client("route53", endpoint_url=aws, region_name="us-east-1")
    for i in range(14):
        r53.create_hosted_zone(Name=f"paced{i}.example.org.", CallerReference=f"paced{i}")
    cfg, result = scan_through_proxy(aws, tmp_path)
    assert result.exit_code == 0, result.output
    route53 = sorted(t for t, path in _Throttler.at if path.startswith("/2013-04-01/"))
    assert len(route53) > 15, len(route53)
    # each request at least a second after the one five before it: at most 5 in any one-second window
    gaps = [b - a for a, b in zip(route53, route53[5:], strict=False)]
    assert min(gaps) >= 1.0, [round(g, 3) for g in gaps]
    stats = json.loads(__import__("sqlite3").connect(cfg.parent / "cm.db").execute(
        "SELECT stats FROM connector_runs ORDER BY run_id DESC").fetchone()[0])
    assert stats["route53_requests_per_second"] == 5 and stats["paced.route53"] > 0
    assert stats["paced_ms.route53"] >= 1000 * (len(route53) // 5 - 1) * 0.9
    # and what the other APIs sent was not slowed by it: IAM answered before the first paced Route 53 call
    others = [t for t, path in _Throttler.at if not path.startswith("/2013-04-01/")]
    assert others and min(others) < route53[5]


def test_access_denied_makes_the_run_partial_not_clean(aws, tmp_path):
    seed(aws)
    cfg, result = scan_through_proxy(aws, tmp_path, deny=frozenset({"ListSecrets"}), scan_args=("--format", "json"))
    assert result.exit_code == 3, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "partial"
    assert summary["connectors"][0]["gaps"] == [
        "account 123456789012: secretsmanager:ListSecrets us-east-1: AccessDeniedException: "
        "not authorized to perform ListSecrets"]
    # what was readable is stored: Route 53 and IAM grants are there
    assert names(as_json(cfg, "access", seed_zone(cfg))) >= {"admin", "dns-bot"}


def seed_zone(cfg: Path) -> str:
    return next(s["primary"][0] for s in as_json(cfg, "services") if s["name"] == "api.example.com A")


def test_account_label_and_record_id_format(scanned):
    e, cfg, _ = scanned
    inv = {i["name"]: i for i in as_json(cfg, "inventory")}
    assert inv["admin"]["fault_domains"] == [f"aws:account:{ACCOUNT}"]
    assert e.api_primary.endswith("/recordset/api.example.com./A/primary")


SECRET_NAME = "dns/dns-bot-key"
SCANNER_POLICY = Path(__file__).resolve().parents[3] / "connectors" / "commonmode_aws" / "scanner-policy.json"


def test_scanner_policy_lists_exactly_the_operations_the_connector_may_call():
    policy = json.loads(SCANNER_POLICY.read_text())
    granted = {a for st in policy["Statement"]
               for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    needed = {f"{svc}:{op}" for svc, ops in READ_ONLY_OPERATIONS.items() for op in ops}
    # sts:GetCallerIdentity needs no permission (AWS answers it for any valid credentials)
    assert granted == needed - {"sts:GetCallerIdentity"}
    assert not {a.split(":")[1] for a in granted} & NEVER


def test_a_scan_under_exactly_the_scanner_policy_succeeds(aws, tmp_path, monkeypatch):
    import boto3

    seed(aws)
    iam = boto3.client("iam", endpoint_url=aws, region_name="us-east-1")
    iam.create_user(UserName="commonmode-scanner")
    iam.put_user_policy(UserName="commonmode-scanner", PolicyName="scanner", PolicyDocument=SCANNER_POLICY.read_text())
    key = iam.create_access_key(UserName="commonmode-scanner")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])

    def enforce(count: str) -> bytes:
        return urllib.request.urlopen(urllib.request.Request(
            f"{aws}/moto-api/reset-auth", data=count.encode(), method="POST",
            headers={"Content-Type": "text/plain"})).read()

    enforce("0")  # from here on moto checks every request against the caller's IAM policies
    try:
        cfg = write_config(tmp_path, aws)
        result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"],
                               catch_exceptions=False)
        summary = json.loads(result.stdout)
        # moto gap: under enforced auth, moto's server rejects every Route 53 request signature, whatever the
        # caller's policy (an AdministratorAccess user gets the same 403 SignatureDoesNotMatch). Everything
        # else must pass under exactly the scanner policy; Route 53 must fail only that way.
        assert summary["connectors"][0]["gaps"] == [
            "account 123456789012: route53:ListHostedZones: HTTP 403 with an error body botocore could not parse",
            "account 123456789012: route53:ListHealthChecks: HTTP 403 with an error body botocore could not parse",
        ], result.output
        inventory = {i["name"]: i for i in as_json(cfg, "inventory")}
        assert {"admin", "dns-bot", "rp-reader"} <= set(inventory)  # IAM under the scanner policy
        assert ("secret.read", SECRET_NAME) in {(m["capability"], m["resource"].split(":")[-1].rsplit("-", 1)[0])
                                                for m in inventory["rp-reader"]["can_modify"]}
        # and the enforcement is real: the same user cannot read a secret value
        sm = boto3.client("secretsmanager", endpoint_url=aws, region_name="us-east-1",
                          aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        with pytest.raises(sm.exceptions.ClientError, match="AccessDenied"):
            sm.get_secret_value(SecretId="dns/dns-bot-key")
    finally:
        enforce("inf")
    # the gap, shown with an administrator's keys
    iam.create_user(UserName="root-like")
    iam.put_user_policy(UserName="root-like", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    admin_key = iam.create_access_key(UserName="root-like")["AccessKey"]
    enforce("0")
    try:
        admin = boto3.client("route53", endpoint_url=aws, region_name="us-east-1",
                             aws_access_key_id=admin_key["AccessKeyId"],
                             aws_secret_access_key=admin_key["SecretAccessKey"])
        with pytest.raises(admin.exceptions.ClientError):
            admin.list_hosted_zones()
    finally:
        enforce("inf")


def test_organization_accounts_are_scanned_through_the_audit_role_and_scps_apply(aws, tmp_path):
    import boto3

    kw = dict(endpoint_url=aws, region_name="us-east-1")
    org = boto3.client("organizations", **kw)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    member = org.create_account(AccountName="dr", Email="dr@example.com")["CreateAccountStatus"]["AccountId"]
    org.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    scp = org.create_policy(Name="no-record-changes", Type="SERVICE_CONTROL_POLICY", Description="",
                            Content=json.dumps({"Version": "2012-10-17", "Statement": [
                                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                                {"Effect": "Deny", "Action": "route53:ChangeResourceRecordSets",
                                 "Resource": "*"}]}))["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=scp, TargetId=root)
    # the same role, with AmazonRoute53FullAccess, in the management account and in the member account
    creds = boto3.client("sts", **kw).assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="seed")["Credentials"]
    in_member = dict(kw, aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                     aws_session_token=creds["SessionToken"])
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})
    for where in (kw, in_member):
        iam = boto3.client("iam", **where)
        iam.create_role(RoleName="dns-admin", AssumeRolePolicyDocument=trust)
        iam.attach_role_policy(RoleName="dns-admin", PolicyArn="arn:aws:iam::aws:policy/AmazonRoute53FullAccess")
    member_zone = boto3.client("route53", **in_member).create_hosted_zone(
        Name="dr.example.org.", CallerReference="dr")["HostedZone"]["Id"].rsplit("/", 1)[-1]
    cfg = write_config(tmp_path, aws, 'assume_role = "OrganizationAccountAccessRole"\n')
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    inventory = {i["id"]: i for i in as_json(cfg, "inventory")}
    member_role = inventory[f"arn:aws:iam::{member}:role/dns-admin"]
    assert member_role["fault_domains"] == [f"aws:account:{member}"]
    caps = {(m["capability"], m["resource"]) for m in member_role["can_modify"]}
    zone = f"arn:aws:route53:::hostedzone/{member_zone}"
    # the root SCP denies record changes in the member account; DeleteHostedZone is still allowed
    assert ("dns.write", zone) not in caps and ("dns.admin", zone) in caps
    # a principal of one account cannot write another account's zone: Route 53 has no resource policies
    mgmt_caps = {(m["capability"], m["resource"]) for m in inventory[arn("role", "dns-admin")]["can_modify"]}
    assert not any(r == zone for _, r in mgmt_caps)
    # the management account's role trusts the management account: cross-account assume needs both sides
    assumers = {a["identity"] for i in inventory.values() for a in i["can_assume"]
                if a["identity"] == f"arn:aws:iam::{member}:role/dns-admin"}
    assert assumers == set()  # nobody in the management account has an identity allow for sts:AssumeRole


def test_rcps_of_a_member_account_cap_secret_reads_only_while_the_policy_type_is_enabled(aws, tmp_path):
    import boto3

    kw = dict(endpoint_url=aws, region_name="us-east-1")
    org = boto3.client("organizations", **kw)
    org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = org.list_roots()["Roots"][0]["Id"]
    member = org.create_account(AccountName="dr", Email="dr@example.com")["CreateAccountStatus"]["AccountId"]
    org.enable_policy_type(RootId=root, PolicyType="RESOURCE_CONTROL_POLICY")
    # the usual data perimeter, and one RCP on the member account denying secret reads to everyone
    perimeter = org.create_policy(Name="org-perimeter", Type="RESOURCE_CONTROL_POLICY", Description="",
                                  Content=json.dumps({"Version": "2012-10-17", "Statement": [{
                                      "Effect": "Deny", "Principal": "*", "Action": "secretsmanager:*", "Resource": "*",
                                      "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": org_id},
                                                    "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}}]}))
    org.attach_policy(PolicyId=perimeter["Policy"]["PolicySummary"]["Id"], TargetId=root)
    no_reads = org.create_policy(Name="no-secret-reads", Type="RESOURCE_CONTROL_POLICY", Description="",
                                 Content=json.dumps({"Version": "2012-10-17", "Statement": [{
                                     "Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue",
                                     "Resource": "*"}]}))
    org.attach_policy(PolicyId=no_reads["Policy"]["PolicySummary"]["Id"], TargetId=member)
    creds = boto3.client("sts", **kw).assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="seed")["Credentials"]
    in_member = dict(kw, aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                     aws_session_token=creds["SessionToken"])
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    secrets = {}
    for acct, where in ((ACCOUNT, kw), (member, in_member)):
        iam = boto3.client("iam", **where)
        iam.create_role(RoleName="dns-sync", AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName="dns-sync", PolicyName="read", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                                                    "Resource": "*"}]}))
        secrets[acct] = boto3.client("secretsmanager", **where).create_secret(
            Name="dns/key", SecretString=CANARY)["ARN"]
    cfg = write_config(tmp_path, aws, 'assume_role = "OrganizationAccountAccessRole"\n')

    def reads() -> set[tuple[str, str]]:
        result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        inventory = {i["id"]: i for i in as_json(cfg, "inventory")}
        return {(acct, m["resource"]) for acct in (ACCOUNT, member)
                for m in inventory[f"arn:aws:iam::{acct}:role/dns-sync"]["can_modify"]
                if m["capability"] == "secret.read"}

    # RCPs never apply in the management account; the member's RCP denies the read (the perimeter RCP is
    # settled by aws:PrincipalOrgID: both roles are in the organization)
    assert reads() == {(ACCOUNT, secrets[ACCOUNT])}
    org.disable_policy_type(RootId=root, PolicyType="RESOURCE_CONTROL_POLICY")
    assert reads() == {(ACCOUNT, secrets[ACCOUNT]), (member, secrets[member])}


def test_ssm_secure_strings_are_secrets_and_readonly_policies_read_them(aws, tmp_path):
    import boto3

    kw = dict(endpoint_url=aws, region_name="us-east-1")
    ssm, iam = boto3.client("ssm", **kw), boto3.client("iam", **kw)
    ssm.put_parameter(Name="/dns/prod/route53-key", Type="SecureString", Value=CANARY,
                      Tags=[{"Key": "owner", "Value": "team-edge"},
                            {"Key": "commonmode:credential-of", "Value": arn("user", "dns-bot")}])
    ssm.put_parameter(Name="/app/other", Type="String", Value="not a secret")  # not a SecureString: not listed
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    iam.create_user(UserName="dns-bot")
    for name in ("ReadOnlyAccess", "AmazonSSMReadOnlyAccess", "AmazonSSMManagedInstanceCore", "SecurityAudit"):
        iam.create_role(RoleName=name.lower(), AssumeRolePolicyDocument=trust)
        iam.attach_role_policy(RoleName=name.lower(), PolicyArn=f"arn:aws:iam::aws:policy/{name}")
    iam.create_role(RoleName="by-path", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="by-path", PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ssm:GetParametersByPath",
                       "Resource": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/dns"}]}))
    cfg = write_config(tmp_path, aws)
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    param = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/dns/prod/route53-key"
    readers = {r["identity"].rsplit("/", 1)[-1] for r in as_json(cfg, "access", param)
               if r["capability"] == "secret.read"}
    # "read-only" policies that read secrets (ssm:Get* under the aws/ssm key, and the usual EC2 instance
    # profile policy); SecurityAudit does not
    assert readers == {"readonlyaccess", "amazonssmreadonlyaccess", "amazonssmmanagedinstancecore", "by-path"}
    inventory = {i["id"]: i for i in as_json(cfg, "inventory")}
    assert not any(m["resource"].endswith("parameter/app/other") for i in inventory.values() for m in i["can_modify"])
    # the commonmode:credential-of tag links the user's credential to the parameter
    assert [c["stored_in"] for c in inventory[arn("user", "dns-bot")]["credentials"]] == [param]
    db = (tmp_path / "cm.db").read_bytes()
    assert CANARY.encode() not in db and CANARY not in result.output


def test_acm_pca_authorities_are_issuers_and_who_can_issue_from_them_is_listed(aws, tmp_path):
    import boto3

    kw = dict(endpoint_url=aws, region_name="us-east-1")
    pca, iam = boto3.client("acm-pca", **kw), boto3.client("iam", **kw)
    ca = pca.create_certificate_authority(
        CertificateAuthorityConfiguration={"KeyAlgorithm": "RSA_2048", "SigningAlgorithm": "SHA256WITHRSA",
                                           "Subject": {"CommonName": "Acme Issuing CA"}},
        CertificateAuthorityType="SUBORDINATE", Tags=[{"Key": "owner", "Value": "team-pki"}])["CertificateAuthorityArn"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="issuer", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="issuer", PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "acm-pca:IssueCertificate", "Resource": ca}]}))
    for name in ("SecurityAudit", "ReadOnlyAccess"):
        iam.create_role(RoleName=name.lower(), AssumeRolePolicyDocument=trust)
        iam.attach_role_policy(RoleName=name.lower(), PolicyArn=f"arn:aws:iam::aws:policy/{name}")
    cfg = write_config(tmp_path, aws)
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    issuers = {r["identity"].rsplit("/", 1)[-1] for r in as_json(cfg, "access", ca) if r["capability"] == "cert.issue"}
    assert issuers == {"issuer"}
