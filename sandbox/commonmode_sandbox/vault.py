"""The sandbox's Vault part: two OpenBao dev servers, vault-east (us-east-1) and vault-west (us-west-2),
seeded through hvac with the DNS automation credentials (the IAM users' keys, the Azure service principals'
client secrets and a GCP service account's key), the AppRoles that read them and a PKI role that issues for both
login hostnames; then, as an operator would, a scanner token holding only the connector's published read-only
policy, and the root token revoked.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from typing import Any

from commonmode_sandbox.servers import Servers

ROOT_TOKEN = "sandbox-root"  # the dev servers' root token, used only to seed; revoked before the scan
#: cluster name → the fault domain it runs in, and the variable that holds its scanner token
CLUSTERS = {"vault-east": "aws:region:us-east-1", "vault-west": "aws:region:us-west-2"}
TOKEN_ENVS = {"vault-east": "COMMONMODE_SANDBOX_VAULT_EAST_TOKEN", "vault-west": "COMMONMODE_SANDBOX_VAULT_WEST_TOKEN"}


def start(servers: Servers) -> dict[str, str]:
    """One OpenBao dev server per cluster: name → URL."""
    return {name: servers.start_bao(name, ROOT_TOKEN).url for name in CLUSTERS}


def seed(urls: Mapping[str, str], identities: Mapping[str, str]) -> dict[str, str]:
    """Seed both clusters. Each secret is one identity's key, and its KV metadata names that identity by the id
    its own connector reports: `identities` maps the names used below (IAM user names, `azure:<app name>`,
    `gcp:<account id>`) to those ids (an ARN; a service principal's object id; a service account's resource
    name). Secret values are placeholders, never read back.
    Returns each cluster's scanner token."""
    import hvac

    # Any: several of hvac's secrets-engine and sys methods are not annotated
    e: Any = hvac.Client(url=urls["vault-east"], token=ROOT_TOKEN)
    w: Any = hvac.Client(url=urls["vault-west"], token=ROOT_TOKEN)

    def keep(client: Any, path: str, user: str, owner: str) -> None:
        key = {"azure": "client_secret", "gcp": "service_account_key_json"}.get(user.partition(":")[0],
                                                                               "aws_secret_access_key")
        client.secrets.kv.v2.create_or_update_secret(path=path, secret={key: "sandbox-placeholder"})
        client.secrets.kv.v2.update_metadata(path=path, custom_metadata={"identity": identities[user], "owner": owner})

    keep(e, "dns/automation", "dns-automation", "team-edge")
    keep(e, "dns/pay-primary", "pay-dns", "team-payments")
    keep(e, "dns/pay-dr", "pay-dns-dr", "team-payments")
    keep(e, "dns/login-primary", "login-dns", "team-identity")
    keep(w, "dns/login-dr", "login-dns-dr", "team-identity")
    keep(e, "dns/status-primary", "status-dns", "team-sre")
    keep(w, "dns/status-dr", "azure:status-dns-dr", "team-sre-dr")  # status: the backup's secret in vault-west
    keep(e, "dns/docs-primary", "docs-dns", "team-docs")
    keep(w, "dns/docs-dr", "docs-dns-dr", "team-docs")
    # track: the Route 53 user's key and the Azure service principal's secret, side by side in one mount
    keep(e, "dns/track-primary", "track-dns", "team-tracking")
    keep(e, "dns/track-dr", "azure:track-dns-dr", "team-tracking")
    # rates (GCP): the key of the service account that can change its record, in the same mount
    keep(e, "dns/rates-gcp", "gcp:rates-dns", "team-rates")
    for client in (e, w):
        client.sys.enable_auth_method("approle")
    e.sys.create_or_update_acl_policy(name="pay-dns-sync",
                                      policy='path "secret/data/dns/pay-*" { capabilities = ["read"] }')
    e.auth.approle.create_or_update_approle("pay-dns-sync", token_policies=["pay-dns-sync"], secret_id_ttl="240h")
    e.auth.approle.generate_secret_id("pay-dns-sync", metadata={"owner": "team-payments"})
    e.sys.create_or_update_acl_policy(name="automation",
                                      policy='path "secret/data/dns/automation" { capabilities = ["read"] }')
    e.auth.approle.create_or_update_approle("automation", token_policies=["automation"])
    e.auth.approle.generate_secret_id("automation")
    e.sys.create_or_update_acl_policy(name="status-sync",
                                      policy='path "secret/data/dns/status-primary" { capabilities = ["read"] }')
    e.auth.approle.create_or_update_approle("status-sync", token_policies=["status-sync"])
    e.auth.approle.generate_secret_id("status-sync", metadata={"owner": "team-sre"})
    w.sys.create_or_update_acl_policy(name="status-dr-sync",
                                      policy='path "secret/data/dns/status-dr" { capabilities = ["read"] }')
    w.auth.approle.create_or_update_approle("status-dr-sync", token_policies=["status-dr-sync"])
    w.auth.approle.generate_secret_id("status-dr-sync", metadata={"owner": "team-sre-dr"})
    # track: one reader per side, each of its own secret only; what they share is the mount
    for role, secret in (("track-sync", "track-primary"), ("track-dr-sync", "track-dr")):
        e.sys.create_or_update_acl_policy(name=role,
                                          policy=f'path "secret/data/dns/{secret}" {{ capabilities = ["read"] }}')
        e.auth.approle.create_or_update_approle(role, token_policies=[role])
        e.auth.approle.generate_secret_id(role, metadata={"owner": "team-tracking"})
    # one PKI role issues for both login hostnames
    e.sys.enable_secrets_engine("pki", path="pki", config={"max_lease_ttl": "87600h"})
    e.secrets.pki.generate_root(type="internal", common_name="Acme Parcel Root", extra_params={"ttl": "8760h"})
    e.secrets.pki.create_or_update_role("login", extra_params={
        "allowed_domains": ["login.acme-prod.example", "login.acme-dr.example"], "allow_bare_domains": True})
    e.sys.tune_mount_configuration("secret", description="DNS automation credentials owner=team-security")
    w.sys.tune_mount_configuration("secret", description="DR credentials owner=team-sre-dr")
    # the policy the Vault connector publishes for its scanner, as an operator would install it
    policy = importlib.resources.files("commonmode_vault").joinpath("scanner-policy.hcl").read_text()
    tokens = {}
    for name, client in (("vault-east", e), ("vault-west", w)):
        client.sys.create_or_update_acl_policy(name="commonmode-scanner", policy=policy)
        # an orphan, so that revoking the root token below does not revoke it
        tokens[name] = client.auth.token.create(policies=["commonmode-scanner"], no_default_policy=True, ttl="24h",
                                                no_parent=True, meta={"owner": "team-security"})["auth"]["client_token"]
        client.auth.token.revoke_self()  # no root token left behind
    return tokens


def env(tokens: Mapping[str, str]) -> dict[str, str]:
    """The variables that hold each cluster's scanner token (named in the config, never written in it)."""
    return {TOKEN_ENVS[name]: token for name, token in tokens.items()}


def config_tables(urls: Mapping[str, str]) -> str:
    """One [[vault]] table per cluster: its URL, its token by variable name, the fault domain it runs in."""
    return "\n".join(f'[[vault]]\nname = "{name}"\nurl = "{urls[name]}"\ntoken_env = "{TOKEN_ENVS[name]}"\n'
                     f'fault_domains = ["{domain}"]\n' for name, domain in CLUSTERS.items())
