"""Who can issue certificates from a PKI mount, and from which CA, on a real OpenBao server (issue 11, Vault
items 5, 7, 8, 9). The server is asked the same question each time (it issues, or refuses), so the
connector's answer is checked against what really happens."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import hvac
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from commonmode.cli import app

runner = CliRunner()
V = "vault://vault-east"


def csr(common_name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    req = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])).sign(key, hashes.SHA256())
    return req.public_bytes(serialization.Encoding.PEM).decode()


def approle(v: hvac.Client, role: str, policy: str) -> str:
    """An AppRole holding exactly one policy with this text; its id in the inventory."""
    v.sys.create_or_update_acl_policy(name=role, policy=policy)
    v.auth.approle.create_or_update_approle(role, token_policies=[role], token_no_default_policy=True)
    return f"{V}/auth/approle/role/{role}"


def token(v: hvac.Client, policy: str) -> str:
    return v.auth.token.create(policies=[policy], no_default_policy=True)["auth"]["client_token"]


def as_token(url: str, tok: str, path: str, body: dict[str, Any]) -> requests.Response:
    """What the server does with this request from that token (the ground truth)."""
    return requests.post(f"{url}/v1/{path}", headers={"X-Vault-Token": tok}, json=body, timeout=10)


def issuer_cn(resp: requests.Response) -> str:
    cert = x509.load_pem_x509_certificate(resp.json()["data"]["certificate"].encode())
    return cert.issuer.rfc4514_string()


def pki_mount(v: hvac.Client, mount: str = "pki", cas: tuple[str, ...] = ("ca-a",)) -> dict[str, str]:
    """A PKI mount with one root CA per name: issuer name → issuer id."""
    v.sys.enable_secrets_engine("pki", path=mount, config={"max_lease_ttl": "87600h"})
    ids = {}
    for ca in cas:
        ids[ca] = v.write(f"{mount}/root/generate/internal", common_name=f"Root {ca}", ttl="8760h",
                          issuer_name=ca)["data"]["issuer_id"]
    return ids


def scan(url: str, tmp: Path, monkeypatch: pytest.MonkeyPatch, extra: str = "") -> Path:
    monkeypatch.setenv("VAULT_TOKEN", "root")
    cfg = tmp / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[vault]]\nname = "vault-east"\nurl = "{url}"\n{extra}')
    result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"], catch_exceptions=False)
    assert result.exit_code in (0, 4), result.output
    assert json.loads(result.stdout)["connectors"][0]["gaps"] == []
    return cfg


def grants(cfg: Path, capability: str) -> dict[tuple[str, str], tuple[bool, list[str]]]:
    """(identity, resource) → (conditional, via) for one capability in the last run."""
    conn = sqlite3.connect(cfg.parent / "cm.db")
    rows = conn.execute("SELECT identity_id, resource_id, conditional, via FROM grants WHERE capability = ?",
                        [capability])
    out: dict[tuple[str, str], tuple[bool, list[str]]] = {}
    for who, what, conditional, via in rows:
        assert (who, what) not in out, f"two {capability} grants for {who} on {what}"
        out[(who, what)] = (bool(conditional), json.loads(via))
    return out


def test_create_without_update_does_not_issue(bao, tmp_path, monkeypatch):
    """Issuing and signing are updates: `create` alone is refused by the server, and grants no cert.issue."""
    v = hvac.Client(url=bao, token="root")
    v.sys.enable_auth_method("approle")
    pki_mount(v)
    v.secrets.pki.create_or_update_role("web", extra_params={"allowed_domains": ["example.com"],
                                                             "allow_subdomains": True, "key_type": "ec"})
    creator = approle(v, "creator", 'path "pki/issue/web" { capabilities = ["create"] }\n'
                                    'path "pki/sign/web" { capabilities = ["create"] }\n'
                                    'path "pki/issuer/+/issue/web" { capabilities = ["create"] }')
    updater = approle(v, "updater", 'path "pki/sign/web" { capabilities = ["update"] }')
    body = {"common_name": "a.example.com"}
    assert as_token(bao, token(v, "creator"), "pki/issue/web", body).status_code == 403
    assert as_token(bao, token(v, "creator"), "pki/sign/web", {**body, "csr": csr("a.example.com")}).status_code == 403
    assert as_token(bao, token(v, "creator"), "pki/issuer/default/issue/web", body).status_code == 403
    assert as_token(bao, token(v, "updater"), "pki/sign/web", {**body, "csr": csr("a.example.com")}).ok
    g = grants(scan(bao, tmp_path, monkeypatch), "cert.issue")
    assert (updater, f"{V}/pki/issue/web") in g
    assert not [k for k in g if k[0] == creator], g


def test_a_capability_reached_through_several_paths_is_conditional_only_if_every_path_is(bao, tmp_path, monkeypatch):
    """issue/web under parameter constraints is conditional; sign/web without them is not: the identity can
    issue for the role's names unconditionally, and the grant says so with the sign/web explanation."""
    v = hvac.Client(url=bao, token="root")
    v.sys.enable_auth_method("approle")
    pki_mount(v)
    v.secrets.pki.create_or_update_role("web", extra_params={"allowed_domains": ["example.com"],
                                                             "allow_subdomains": True, "key_type": "ec"})
    both = approle(v, "both", 'path "pki/issue/web" { capabilities = ["update"]\n'
                              '  allowed_parameters = { "common_name" = ["only.example.com"] } }\n'
                              'path "pki/sign/web" { capabilities = ["update"] }')
    narrow = approle(v, "narrow", 'path "pki/issue/web" { capabilities = ["update"]\n'
                                  '  allowed_parameters = { "common_name" = ["only.example.com"] } }')
    tok = token(v, "both")
    # the server: issue/web only with the allowed name, sign/web for any name the role allows
    assert as_token(bao, tok, "pki/issue/web", {"common_name": "other.example.com"}).status_code == 403
    assert as_token(bao, tok, "pki/sign/web", {"common_name": "other.example.com", "csr": csr("other.example.com")}).ok
    g = grants(scan(bao, tmp_path, monkeypatch), "cert.issue")
    conditional, via = g[(both, f"{V}/pki/issue/web")]
    assert not conditional and "allows update on pki/sign/web" in via
    conditional, via = g[(narrow, f"{V}/pki/issue/web")]  # one path, constrained: conditional
    assert conditional and "allows update on pki/issue/web" in via
