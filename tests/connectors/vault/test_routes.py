"""The read-only guard decides by route (mount, mount type, API segment), on a real OpenBao server: secrets
named like credentials are scanned, mint and value routes are refused before any request leaves, and a
refused or failed path is one gap, never the end of the connector (issue 11, Vault item 1)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest
from typer.testing import CliRunner

from commonmode.cli import app
from commonmode.connector import ConnectorSettings, no_progress

from .conftest import start_bao
from .seed import canary

runner = CliRunner()
V = "vault://vault-east"
SCANNER_POLICY = Path(__file__).resolve().parents[3] / "connectors" / "commonmode_vault" / "scanner-policy.hcl"
#: The most common secret names there are, and each of them matched a "returns a secret" pattern once.
NAMES = ("token", "key", "api-key", "creds")


def seed_credential_names(url: str) -> None:
    """kv-east (KV v2) and legacy-east (KV v1) hold secrets named token/key/api-key/creds, plus a PKI role and
    an AppRole, so that the guard's refusals have something real to refuse."""
    v = hvac.Client(url=url, token="root")
    v.sys.enable_secrets_engine("kv", path="kv-east", options={"version": "2"})
    v.sys.enable_secrets_engine("kv", path="legacy-east", options={"version": "1"})
    for name in NAMES:
        v.secrets.kv.v2.create_or_update_secret(path=f"mail/{name}", mount_point="kv-east",
                                                secret={"value": canary(f"kv-east/{name}")})
        v.secrets.kv.v2.update_metadata(path=f"mail/{name}", mount_point="kv-east",
                                        custom_metadata={"owner": f"team-mail-{name}", "identity": f"mailer-{name}"})
        v.write(f"legacy-east/mail/{name}", value=canary(f"legacy-east/{name}"))
    v.sys.enable_secrets_engine("pki", path="pki")
    v.secrets.pki.generate_root(type="internal", common_name="Route Test Root")
    v.secrets.pki.create_or_update_role("web", extra_params={"allowed_domains": ["example.com"],
                                                             "allow_subdomains": True})
    v.sys.enable_auth_method("approle")
    v.auth.approle.create_or_update_approle("mailer", token_policies=["default"])


@dataclass
class Audited:
    """An OpenBao dev server with a file audit device: the server's own record of every request it received.
    (OpenBao 2 enables audit devices only from its config file, not through the API.)"""

    url: str
    log: Path

    def mark(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0

    def requests_since(self, mark: int) -> list[str]:
        lines = self.log.read_text().splitlines()[mark:] if self.log.exists() else []
        return [f"{e['request']['operation']} {e['request']['path']}" for e in map(json.loads, lines)
                if e.get("type") == "request"]


@pytest.fixture
def audited(tmp_path: Path) -> Iterator[Audited]:
    log = tmp_path / "audit.log"
    conf = tmp_path / "audit.hcl"
    conf.write_text(f'audit "file" "scan-audit" {{\n  options {{\n    file_path = "{log}"\n  }}\n}}\n')
    server = start_bao(config=conf)
    try:
        yield Audited(url=server.url, log=log)
    finally:
        server.stop()


def config(tmp: Path, url: str) -> Path:
    cfg = tmp / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[vault]]\nname = "vault-east"\nurl = "{url}"\n')
    return cfg


def scan(cfg: Path) -> tuple[int, dict, str]:
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}, result.output


def inventory(cfg: Path) -> dict[str, dict]:
    result = runner.invoke(app, ["inventory", "-c", str(cfg), "--format", "json"], catch_exceptions=False)
    return {i["id"]: i for i in json.loads(result.stdout)}


def stored(cfg: Path) -> tuple[dict[str, str | None], dict[str, str]]:
    """(resource id → owner, credential identity → stored_in) of the last run."""
    conn = sqlite3.connect(cfg.parent / "cm.db")
    owners = dict(conn.execute("SELECT id, owner FROM resources"))
    kept = dict(conn.execute("SELECT identity_id, stored_in FROM credentials WHERE stored_in IS NOT NULL"))
    return owners, kept


def test_secrets_named_token_key_api_key_creds_are_scanned_and_never_read(audited, tmp_path, monkeypatch, caplog):
    seed_credential_names(audited.url)
    mark = audited.mark()
    monkeypatch.setenv("VAULT_TOKEN", "root")
    caplog.set_level(logging.DEBUG)
    cfg = config(tmp_path, audited.url)
    code, summary, output = scan(cfg)
    assert code == 0, output
    assert summary["connectors"][0]["status"] == "ok" and summary["connectors"][0]["gaps"] == []
    owners, kept = stored(cfg)
    db = (tmp_path / "cm.db").read_bytes()
    for name in NAMES:
        rid = f"{V}/kv-east/data/mail/{name}"
        # the metadata was read: owner and the credential link from custom_metadata
        assert owners[rid] == f"team-mail-{name}" and kept[f"mailer-{name}"] == rid
        assert f"{V}/legacy-east/mail/{name}" in owners  # KV v1: the name, listed
        for value in (canary(f"kv-east/{name}"), canary(f"legacy-east/{name}")):
            assert value.encode() not in db and value not in output and value not in caplog.text
    rows = json.loads(runner.invoke(app, ["access", "-c", str(cfg), f"{V}/kv-east/data/mail/token", "--format",
                                          "json"], catch_exceptions=False).stdout)
    assert rows  # the root token's holders are reported on it
    # what the server saw from the scanner: metadata and LISTs, never a value path
    seen = audited.requests_since(mark)
    assert "read kv-east/metadata/mail/token" in seen and "list legacy-east/mail/" in seen
    assert not [p for p in seen if "/data/" in p or p.startswith("read legacy-east/")], seen


@pytest.mark.parametrize("method,path", [
    ("GET", "kv-east/data/mail/token"),               # KV v2 value
    ("GET", "kv-east/subkeys/mail/token"),            # KV v2 key structure
    ("LIST", "kv-east/data/mail"),
    ("GET", "legacy-east/mail/token"),                # KV v1 value
    ("POST", "auth/token/create"),                    # mints a token
    ("GET", "auth/token/lookup-self"),
    ("POST", "auth/token/lookup"),
    ("POST", "pki/issue/web"),                        # issues a certificate and key
    ("GET", "pki/issue/web"),
    ("POST", "pki/sign/web"),
    ("POST", "pki/issuer/default/issue/web"),
    ("POST", "pki/sign-verbatim"),
    ("GET", "pki/roles/web/../../issue/web"),         # a dot segment the server would clean into a mint
    ("GET", "kv-east/metadata/mail/../../data/mail/token"),
    ("GET", "kv-east/metadata//mail/token"),
    ("POST", "auth/approle/role/mailer/secret-id"),   # mints a login
    ("LIST", "auth/approle/role/mailer/secret-id/../../role-id"),
    ("POST", "auth/approle/login"),
    ("GET", "sys/raw/core/mounts"),
    ("GET", "sys/wrapping/lookup"),
    ("GET", "cubbyhole/x"),
    ("GET", "nowhere/metadata/x"),                    # no mount there: nothing to decide a route by
    ("DELETE", "kv-east/metadata/mail/token"),
    ("PUT", "kv-east/metadata/mail/token"),
])
def test_the_guard_refuses_value_and_mint_routes_before_any_request(audited, method, path):
    from commonmode_vault.collect import ReadOnlyVault, ReadOnlyViolation

    seed_credential_names(audited.url)
    api = ReadOnlyVault(audited.url, "root")
    api.load_mounts(api.get("sys/mounts") or {}, api.get("sys/auth") or {})
    mark, before = audited.mark(), sum(api.calls.values())
    with pytest.raises(ReadOnlyViolation, match=r"refused by the read-only guard"):
        api.request(method, path)
    assert sum(api.calls.values()) == before  # refused before anything was sent,
    assert audited.requests_since(mark) == []  # as the server's audit log confirms
    # and the same client still reads metadata, whatever the secret is called
    assert api.get("kv-east/metadata/mail/token")["current_version"] == 1
    assert api.list("legacy-east/mail/") == sorted(NAMES)


def test_a_failed_path_is_one_gap_and_the_rest_of_the_cluster_is_inventoried(bao, tmp_path, monkeypatch):
    seed_credential_names(bao)
    root = hvac.Client(url=bao, token="root")
    root.sys.create_or_update_acl_policy(name="commonmode-scanner", policy=SCANNER_POLICY.read_text())
    root.sys.create_or_update_acl_policy(name="hide-one", policy='path "kv-east/metadata/mail/key" '
                                                                 '{ capabilities = ["deny"] }')
    token = root.auth.token.create(policies=["commonmode-scanner", "hide-one"], no_default_policy=True)
    monkeypatch.setenv("VAULT_TOKEN", token["auth"]["client_token"])
    cfg = config(tmp_path, bao)
    code, summary, output = scan(cfg)
    assert code == 3, output  # partial
    assert summary["connectors"][0]["gaps"] == ["GET kv-east/metadata/mail/key: 403 permission denied"]
    owners, kept = stored(cfg)
    assert {f"mailer-{n}" for n in NAMES if n != "key"} == set(kept)  # the others' metadata was read
    assert owners[f"{V}/kv-east/data/mail/key"] is None  # listed, its metadata not readable
    assert f"{V}/auth/approle/role/mailer" in inventory(cfg)


def test_a_refused_path_is_one_gap_and_the_rest_of_the_cluster_is_inventoried(bao, monkeypatch):
    """The guard of a stricter deployment refuses one metadata path: that path is one gap; the connector goes on."""
    from commonmode_vault import VaultConnector
    from commonmode_vault.collect import ReadOnlyVault, refused

    class Stricter(ReadOnlyVault):
        def check(self, method: str, path: str) -> None:
            if path == "kv-east/metadata/mail/creds":
                raise refused(method, path, "not on this deployment's list")
            super().check(method, path)

    seed_credential_names(bao)
    settings = ConnectorSettings(name="vault-east", connector_type="vault", options={"url": bao})
    monkeypatch.setenv("VAULT_TOKEN", "root")
    connector = VaultConnector(settings)
    api = Stricter(bao, "root")
    try:
        result = connector.collect_from(api, no_progress)
    finally:
        api.close()
    assert result.gaps == ("GET kv-east/metadata/mail/creds: refused by the read-only guard: not on this "
                           "deployment's list",)
    ids = {r.id for r in result.inventory.resources}
    assert {f"{V}/kv-east/data/mail/{n}" for n in ("token", "key", "api-key")} <= ids
    assert f"{V}/pki/issue/web" in ids


def test_a_key_named_like_a_query_is_read_as_itself(bao):
    """`?`, `%` and spaces in a key name are escaped when sent: the guard judged exactly the path the server
    sees, and the metadata read is that key's, not `mail/odd`'s."""
    import requests

    from commonmode_vault.collect import ReadOnlyVault

    headers = {"X-Vault-Token": "root"}
    for path, owner in (("mail/odd%3Fname%25x%20y", "team-odd"), ("mail/odd", "team-plain")):
        requests.post(f"{bao}/v1/secret/data/{path}", headers=headers, json={"data": {"v": canary(path)}},
                      timeout=30).raise_for_status()
        requests.post(f"{bao}/v1/secret/metadata/{path}", headers=headers,
                      json={"custom_metadata": {"owner": owner}}, timeout=30).raise_for_status()
    api = ReadOnlyVault(bao, "root")
    api.load_mounts(api.get("sys/mounts") or {}, api.get("sys/auth") or {})
    assert api.list("secret/metadata/mail/") == ["odd", "odd?name%x y"]
    assert api.get("secret/metadata/mail/odd?name%x y")["custom_metadata"] == {"owner": "team-odd"}
