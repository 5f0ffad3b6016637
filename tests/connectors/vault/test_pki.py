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


def resource_parents(cfg: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(cfg.parent / "cm.db")
    return {rid: json.loads(parents) for rid, parents in conn.execute("SELECT id, parents FROM resources")}


def test_the_issuer_in_the_path_overrides_the_roles_issuer(bao, tmp_path, monkeypatch):
    """pki/issuer/<ref>/issue|sign/<role> issue from <ref>, whatever the role's issuer_ref says (checked on the
    server): someone who can only use pki/issuer/ca-b/issue/web reaches ca-b, not the role's ca-a; refs by id
    and by name are the same issuer; sign-verbatim signs any name."""
    v = hvac.Client(url=bao, token="root")
    v.sys.enable_auth_method("approle")
    ids = pki_mount(v, cas=("ca-a", "ca-b"))
    v.write("pki/config/issuers", default=ids["ca-a"])
    v.secrets.pki.create_or_update_role("web", extra_params={"allowed_domains": ["example.com"], "key_type": "ec",
                                                             "allow_subdomains": True, "issuer_ref": "ca-a"})
    via_b = approle(v, "via-b", 'path "pki/issuer/ca-b/issue/web" { capabilities = ["update"] }')
    via_b_id = approle(v, "via-b-id", f'path "pki/issuer/{ids["ca-b"]}/sign/web" {{ capabilities = ["update"] }}')
    via_a = approle(v, "via-a", f'path "pki/issuer/{ids["ca-a"]}/issue/web" {{ capabilities = ["update"] }}')
    verbatim = approle(v, "verbatim", 'path "pki/issuer/ca-b/sign-verbatim" { capabilities = ["update"] }')
    plain = approle(v, "plain", 'path "pki/issue/web" { capabilities = ["update"] }')
    # the server: the path's issuer signs, not the role's
    body = {"common_name": "a.example.com"}
    assert issuer_cn(as_token(bao, token(v, "via-b"), "pki/issuer/ca-b/issue/web", body)) == "CN=Root ca-b"
    assert issuer_cn(as_token(bao, token(v, "via-b-id"), f"pki/issuer/{ids['ca-b']}/sign/web",
                              {**body, "csr": csr("a.example.com")})) == "CN=Root ca-b"
    assert issuer_cn(as_token(bao, token(v, "plain"), "pki/issue/web", body)) == "CN=Root ca-a"
    assert issuer_cn(as_token(bao, token(v, "verbatim"), "pki/issuer/ca-b/sign-verbatim",
                              {"csr": csr("anything.other.org")})) == "CN=Root ca-b"
    cfg = scan(bao, tmp_path, monkeypatch)
    g, parents = grants(cfg, "cert.issue"), resource_parents(cfg)
    a, b = f"{V}/pki/issuer/{ids['ca-a']}", f"{V}/pki/issuer/{ids['ca-b']}"
    role, role_at_b = f"{V}/pki/issue/web", f"{V}/pki/issuer/{ids['ca-b']}/issue/web"
    assert parents[role] == [a] and parents[role_at_b] == [b]
    assert {k[1] for k in g if k[0] == via_b} == {role_at_b}  # reaches ca-b only
    assert {k[1] for k in g if k[0] == via_b_id} == {role_at_b}  # by id or by name: one issuer
    assert {k[1] for k in g if k[0] == via_a} == {role}  # ca-a is the role's own issuer: the role itself
    assert {k[1] for k in g if k[0] == plain} == {role}
    signer = f"{V}/pki/issuer/{ids['ca-b']}/sign-verbatim"
    assert {k[1] for k in g if k[0] == verbatim} == {signer} and parents[signer] == [b]
    conn = sqlite3.connect(cfg.parent / "cm.db")
    assert json.loads(conn.execute("SELECT names FROM resources WHERE id = ?", [signer]).fetchone()[0]) == ["*"]
    assert json.loads(conn.execute("SELECT names FROM resources WHERE id = ?", [role_at_b]).fetchone()[0]) == \
        ["*.example.com"]


def test_a_roles_default_issuer_is_the_mounts_configured_default(bao, tmp_path, monkeypatch):
    """issuer_ref = "default" means `<mount>/config/issuers` default, not the first issuer listed; a ref by
    name names that issuer."""
    v = hvac.Client(url=bao, token="root")
    ids = pki_mount(v, cas=("ca-a", "ca-b"))
    last = max(ids.values())  # LIST issuers is sorted by id: make the default the one listed last
    v.write("pki/config/issuers", default=last)
    v.secrets.pki.create_or_update_role("by-default", extra_params={"allowed_domains": ["example.com"],
                                                                    "allow_bare_domains": True})
    first_name = next(n for n, i in ids.items() if i != last)
    v.secrets.pki.create_or_update_role("by-name", extra_params={"allowed_domains": ["example.com"],
                                                                 "issuer_ref": first_name})
    default_cn = f"CN=Root {next(n for n, i in ids.items() if i == last)}"
    assert issuer_cn(requests.post(f"{bao}/v1/pki/issue/by-default", headers={"X-Vault-Token": "root"}, timeout=10,
                                   json={"common_name": "example.com"})) == default_cn
    parents = resource_parents(scan(bao, tmp_path, monkeypatch))
    assert parents[f"{V}/pki/issue/by-default"] == [f"{V}/pki/issuer/{last}"]
    assert parents[f"{V}/pki/issue/by-name"] == [f"{V}/pki/issuer/{ids[first_name]}"]


DECLARED = """
[[resource]]
id = "dns:api.example.com"
kind = "dns-record"
names = ["api.example.com"]

[[resource]]
id = "dns:dr.example.com"
kind = "dns-record"
names = ["dr.example.com"]
"""


@pytest.mark.parametrize("declared_by", ["names", "roles"])
def test_two_roles_on_one_ca_are_a_shared_certificate_path(bao, tmp_path, monkeypatch, declared_by):
    """The primary's names are issued by role web-primary, the backup's by web-backup, both on mount pki with
    one CA: the CA is the shared certificate path (whether the paths name their hostnames or the roles)."""
    v = hvac.Client(url=bao, token="root")
    ids = pki_mount(v, cas=("ca-a",))
    for role, name in (("web-primary", "api.example.com"), ("web-backup", "dr.example.com")):
        v.secrets.pki.create_or_update_role(role, extra_params={"allowed_domains": [name], "allow_bare_domains": True})
    (tmp_path / "dns.toml").write_text(DECLARED)
    paths = (("dns:api.example.com", "dns:dr.example.com") if declared_by == "names" else
             (f"{V}/pki/issue/web-primary", f"{V}/pki/issue/web-backup"))
    cfg = scan(bao, tmp_path, monkeypatch, extra=(
        '\n[[declared]]\nname = "dns"\nfile = "dns.toml"\n'
        f'\n[[service]]\nname = "api"\nowner = "team-sre"\nprimary = ["{paths[0]}"]\nbackup = ["{paths[1]}"]\n'))
    found = json.loads(runner.invoke(app, ["findings", "-c", str(cfg), "--service", "api", "--format", "json"],
                                     catch_exceptions=False).stdout)
    shared = [f for f in found if f["rule"] == "shared-certificate-path"]
    assert [f["subjects"] for f in shared] == [[f"{V}/pki/issuer/{ids['ca-a']}"]]
    evidence = " ".join(shared[0]["evidence"])
    assert "web-primary" in evidence and "web-backup" in evidence


def test_roles_on_two_cas_share_no_certificate_path(bao, tmp_path, monkeypatch):
    v = hvac.Client(url=bao, token="root")
    pki_mount(v, "pki", cas=("ca-a",))
    pki_mount(v, "pki-dr", cas=("ca-dr",))
    for mount, name in (("pki", "api.example.com"), ("pki-dr", "dr.example.com")):
        v.write(f"{mount}/roles/web", allowed_domains=[name], allow_bare_domains=True)
    (tmp_path / "dns.toml").write_text(DECLARED)
    cfg = scan(bao, tmp_path, monkeypatch, extra=(
        '\n[[declared]]\nname = "dns"\nfile = "dns.toml"\n'
        '\n[[service]]\nname = "api"\nowner = "team-sre"\nprimary = ["dns:api.example.com"]\n'
        'backup = ["dns:dr.example.com"]\n'))
    found = json.loads(runner.invoke(app, ["findings", "-c", str(cfg), "--service", "api", "--format", "json"],
                                     catch_exceptions=False).stdout)
    assert not [f for f in found if f["rule"] == "shared-certificate-path"]
