"""The `[[example]]` config keys: each default written here once."""

from __future__ import annotations

from commonmode.connector import Option

#: `[[example]]` keys; each default is written here once.
OPTIONS: dict[str, Option] = {
    "url": Option(type="string", required=True, help="API base URL", url=True),
    "ca_cert": Option(type="string", help="CA bundle file for TLS (relative to the config)"),
    "owner_keys": Option(type="strings", help="token labels that name an owner, first match wins",
                         default=["owner", "team"]),
}
