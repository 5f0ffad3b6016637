"""Seed an OpenBao server through hvac, as an operator would. Every secret value is a canary."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import hvac
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CANARY = "canary-VAULT-VALUE-{}-5e1d"


def canary(name: str) -> str:
    return CANARY.format(name)


def _ca_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k8s-test-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


POLICIES = {
    "dns-both": 'path "secret/data/dns/*" { capabilities = ["read"] }',
    "dns-primary-only": 'path "secret/data/dns/primary" { capabilities = ["read"] }',
    "bot-key-reader": 'path "secret/data/dns/aws-dns-user" { capabilities = ["read"] }',
    "web-certs": 'path "pki/issue/web" { capabilities = ["update"] }',
    "policy-admin": 'path "sys/policies/acl/*" { capabilities = ["create", "update", "read", "list"] }',
    "deny-backup": ('path "secret/data/dns/*" { capabilities = ["read"] }\n'
                    'path "secret/data/dns/backup" { capabilities = ["deny"] }'),
}


@dataclass
class VaultEstate:
    kubernetes_accessor: str


def seed(url: str, aws_user_arn: str) -> VaultEstate:
    v = hvac.Client(url=url, token="root")
    for name, hcl in POLICIES.items():
        v.sys.create_or_update_acl_policy(name=name, policy=hcl)
    # KV v2 at secret/ (the dev server's default)
    for path in ("dns/primary", "dns/backup", "dns/aws-dns-user", "app/unrelated"):
        v.secrets.kv.v2.create_or_update_secret(path=path, secret={"value": canary(path)})
    v.secrets.kv.v2.update_metadata(path="dns/aws-dns-user", custom_metadata={"identity": aws_user_arn,
                                                                              "owner": "team-edge"})
    v.secrets.kv.v2.update_metadata(path="dns/primary", custom_metadata={"owner": "team-dns"})
    # a KV v1 mount: names are listed, values never read
    v.sys.enable_secrets_engine("kv", path="legacy", options={"version": "1"})
    v.write("legacy/dns/token", value=canary("legacy"))
    # AppRoles: deployer reads both DNS secrets and has no owner anywhere; the owned one reads the primary only
    v.sys.enable_auth_method("approle")
    v.auth.approle.create_or_update_approle("deployer", token_policies=["dns-both"])
    v.auth.approle.create_or_update_approle("primary-sync", token_policies=["dns-primary-only"])
    v.auth.approle.generate_secret_id("primary-sync", metadata={"owner": "team-dns"})
    v.auth.approle.generate_secret_id("deployer")
    v.auth.approle.create_or_update_approle("bot-key", token_policies=["bot-key-reader"])
    v.auth.approle.create_or_update_approle("careful", token_policies=["deny-backup"])
    # kubernetes: dns-sync reads both; its entity (alias infra/dns-sync) records the owner
    v.sys.enable_auth_method("kubernetes")
    v.auth.kubernetes.configure(kubernetes_host="https://127.0.0.1:6443", kubernetes_ca_cert=_ca_pem(),
                                disable_local_ca_jwt=True)
    v.auth.kubernetes.create_role("dns-sync", bound_service_account_names=["dns-sync"],
                                  bound_service_account_namespaces=["infra"], policies=["dns-both"])
    accessor = v.sys.list_auth_methods()["kubernetes/"]["accessor"]
    entity = v.secrets.identity.create_or_update_entity(name="dns-sync-entity", metadata={"owner": "team-infra"})
    v.secrets.identity.create_or_update_entity_alias(name="infra/dns-sync", canonical_id=entity["data"]["id"],
                                                     mount_accessor=accessor)
    # userpass: an operator who can rewrite any policy (escalation into everyone holding one)
    v.sys.enable_auth_method("userpass")
    v.auth.userpass.create_or_update_user("ops", password=canary("password"), policies=["policy-admin"])
    # PKI: one role issues for every name under example.com, so for both paths' hostnames
    v.sys.enable_secrets_engine("pki", path="pki", config={"max_lease_ttl": "87600h"})
    v.secrets.pki.generate_root(type="internal", common_name="Example Root", extra_params={"ttl": "8760h"})
    v.secrets.pki.create_or_update_role("web", extra_params={"allowed_domains": ["example.com"],
                                                             "allow_subdomains": True})
    v.auth.approle.create_or_update_approle("cert-bot", token_policies=["web-certs"])
    return VaultEstate(kubernetes_accessor=accessor)
