"""The `[[vault]]` config keys this connector takes: each default written here once, read by the
Connector class and the build alike."""

from __future__ import annotations

from commonmode.connector import Option

#: `[[vault]]` keys; each default is written here once (the build reads them from here too).
OPTIONS: dict[str, Option] = {
    "url": Option(type="string", required=True, help="cluster address, e.g. https://vault.example.com:8200",
                  url=True),
    "token_env": Option(type="string", help="name of the env var holding the scanner's token", default="VAULT_TOKEN",
                        names_a_secret=True),
    "namespace": Option(type="string", help="Vault Enterprise / OpenBao namespace"),
    "ca_cert": Option(type="string", help="CA bundle file for TLS (relative to the config)"),
    "owner_keys": Option(type="strings", help="metadata keys that name an owner, first match wins",
                         default=["owner", "team"]),
    "credential_keys": Option(type="strings", help="KV custom_metadata keys naming the identity whose credential "
                                                   "the secret holds", default=["identity", "nhi"]),
    "long_lived_days": Option(type="integer", help="tokens living longer than this are listed", default=30,
                              minimum=0, maximum=36500),
    "max_kv_paths": Option(type="integer", help="stop walking a KV mount after this many keys (a gap)",
                           default=200000, minimum=1, maximum=100_000_000),
    "max_workers": Option(type="integer", help="concurrent metadata requests", default=8, minimum=1, maximum=64),
    "read_role_ids": Option(type="boolean", help="read each AppRole's role_id (an identifier, not the secret-id) "
                                                 "to match the entity aliases named by it; kept in memory only, "
                                                 "never stored", default=True),
}
