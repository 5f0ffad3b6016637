"""AppRole roles and their entities on a real OpenBao server (issue 11, Vault item 10): an AppRole login's
entity alias is named by the role's role_id, so the connector reads the role_id (an identifier, not the
secret-id) to match it, keeps it in memory only, and never stores or prints it. `read_role_ids = false`
turns the read off (the old behaviour: owners from secret-id metadata, no entity)."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import hvac
import pytest
import requests
from typer.testing import CliRunner

from commonmode.cli import app

from .seed import canary

runner = CliRunner()
V = "vault://vault-east"
ROLE = f"{V}/auth/approle/role/mailer"
ROLE_ID = "roleid-CANARY-7f3a-mailer-0c1e"  # a custom role_id: findable wherever it leaks
SCANNER_POLICY = Path(__file__).resolve().parents[3] / "connectors" / "commonmode_vault" / "scanner-policy.hcl"


def seed_approle_entity(url: str) -> hvac.Client:
    """AppRole mailer (role_id ROLE_ID) whose entity (alias named by the role_id) has an owner, a policy and a
    group with another policy; the role's own token policy reads nothing; its secret-id metadata names
    another owner."""
    v = hvac.Client(url=url, token="root")
    v.sys.enable_auth_method("approle")
    accessor = v.sys.list_auth_methods()["approle/"]["accessor"]
    for path in ("mail/creds", "mail/relay"):
        v.secrets.kv.v2.create_or_update_secret(path=path, secret={"value": canary(path)})
    v.sys.create_or_update_acl_policy(name="entity-reads",
                                      policy='path "secret/data/mail/creds" { capabilities = ["read"] }')
    v.sys.create_or_update_acl_policy(name="group-reads",
                                      policy='path "secret/data/mail/relay" { capabilities = ["read"] }')
    v.auth.approle.create_or_update_approle("mailer", token_policies=["default"])
    v.write("auth/approle/role/mailer/role-id", role_id=ROLE_ID)
    v.auth.approle.generate_secret_id("mailer", metadata={"owner": "team-from-secret-id"})
    entity = v.secrets.identity.create_or_update_entity(name="mailer-entity", metadata={"owner": "team-mail"},
                                                        policies=["entity-reads"])["data"]["id"]
    v.secrets.identity.create_or_update_entity_alias(name=ROLE_ID, canonical_id=entity, mount_accessor=accessor)
    v.secrets.identity.create_or_update_group(name="mail-team", policies=["group-reads"], member_entity_ids=[entity])
    return v


def scan(url: str, tmp: Path, token: str, monkeypatch: pytest.MonkeyPatch, extra: str = "") -> tuple[Path, str, dict]:
    monkeypatch.setenv("VAULT_TOKEN", token)
    cfg = tmp / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[vault]]\nname = "vault-east"\nurl = "{url}"\n{extra}\n')
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    outputs = result.output + "".join(runner.invoke(app, [c, "-c", str(cfg), "--format", "json"]).output
                                      for c in ("inventory", "findings", "runs"))
    return cfg, outputs, json.loads(result.stdout)


def role_view(cfg: Path) -> tuple[str | None, set[str], list[dict]]:
    """The role's owner, the secrets it can read, and its grants' rows."""
    conn = sqlite3.connect(cfg.parent / "cm.db")
    owner = conn.execute("SELECT owner FROM identities WHERE id = ?", [ROLE]).fetchone()[0]
    rows = [{"capability": c, "resource": r, "via": json.loads(v)} for c, r, v in conn.execute(
        "SELECT capability, resource_id, via FROM grants WHERE identity_id = ?", [ROLE])]
    reads = {r["resource"] for r in rows if r["capability"] == "secret.read"}
    return owner, reads, rows


def scanner_token(v: hvac.Client, deny_role_ids: bool = False) -> str:
    policy = SCANNER_POLICY.read_text()
    if deny_role_ids:
        policy += '\npath "auth/+/role/+/role-id" { capabilities = ["deny"] }\n'
    v.sys.create_or_update_acl_policy(name="commonmode-scanner", policy=policy)
    return v.auth.token.create(policies=["commonmode-scanner"], no_default_policy=True)["auth"]["client_token"]


def test_the_entity_named_by_the_role_id_owns_the_role_and_its_policies_reach_it(bao, tmp_path, monkeypatch, caplog):
    v = seed_approle_entity(bao)
    # the server: a login through the role is that entity, and carries the entity's and group's policies
    secret_id = v.auth.approle.generate_secret_id("mailer")["data"]["secret_id"]
    login = requests.post(f"{bao}/v1/auth/approle/login", json={"role_id": ROLE_ID, "secret_id": secret_id},
                          timeout=10).json()["auth"]
    assert set(login["identity_policies"]) == {"entity-reads", "group-reads"}
    assert requests.get(f"{bao}/v1/secret/data/mail/creds", headers={"X-Vault-Token": login["client_token"]},
                        timeout=10).ok
    caplog.set_level(logging.DEBUG)
    cfg, outputs, summary = scan(bao, tmp_path, scanner_token(v), monkeypatch)
    assert summary["connectors"][0]["gaps"] == []
    owner, reads, rows = role_view(cfg)
    assert owner == "team-mail"
    assert reads == {f"{V}/secret/data/mail/creds", f"{V}/secret/data/mail/relay"}
    via = next(r["via"] for r in rows if r["resource"] == f"{V}/secret/data/mail/creds")
    assert "entity mailer-entity" in via[0]
    assert any(r["capability"] == "identity.assume" and "/identity/entity/id/" in r["resource"] for r in rows)
    # the role_id is an identifier used in memory only: nowhere in the store, the outputs or the logs
    db = (cfg.parent / "cm.db").read_bytes()
    assert ROLE_ID.encode() not in db and ROLE_ID not in outputs and ROLE_ID not in caplog.text
    for path in ("mail/creds", "mail/relay"):
        assert canary(path).encode() not in db and canary(path) not in outputs


def test_without_reading_role_ids_the_old_fallback_applies(bao, tmp_path, monkeypatch, caplog):
    """read_role_ids = false: no role-id request at all (a scanner denied them reports no gap), owner from the
    secret-id metadata, and the entity's policies do not reach the role."""
    v = seed_approle_entity(bao)
    caplog.set_level(logging.DEBUG)
    cfg, outputs, summary = scan(bao, tmp_path, scanner_token(v, deny_role_ids=True), monkeypatch,
                                 extra="read_role_ids = false")
    assert summary["connectors"][0]["gaps"] == []
    owner, reads, _ = role_view(cfg)
    assert owner == "team-from-secret-id" and reads == set()
    assert ROLE_ID.encode() not in (cfg.parent / "cm.db").read_bytes() and ROLE_ID not in outputs + caplog.text


def test_a_role_id_the_scanner_may_not_read_is_one_gap(bao, tmp_path, monkeypatch):
    v = seed_approle_entity(bao)
    monkeypatch.setenv("VAULT_TOKEN", scanner_token(v, deny_role_ids=True))
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[vault]]\nname = "vault-east"\nurl = "{bao}"\n')
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout)["connectors"][0]["gaps"] == [
        "GET auth/approle/role/mailer/role-id: 403 permission denied"]
    assert ROLE_ID not in result.output
