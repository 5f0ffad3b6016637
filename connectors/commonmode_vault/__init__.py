"""The Vault / OpenBao connector: auth roles, entities, groups, long-lived tokens, ACL policies, KV metadata,
PKI roles and issuers, and the roles of the aws/azure/gcp/database secret engines. Read-only; never reads a
secret's value (client.ReadOnlyVault's route guard). Config and semantics: connectors/commonmode_vault/README.md.

The shape every connector follows (docs/connectors.md): this module holds the Connector class (its
options in options.py); client.py the client factory, guard and error hook; collect.py the calls and the
collection loop; snapshot.py what it returns; build.py and the modules it names the inventory; policy.py
(and hcl.py) the evaluation; capabilities.toml which Vault capabilities give which commonmode capability.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from commonmode.connector import ConnectorResult, ConnectorSettings, ProgressFn
from commonmode.errors import UsageError
from commonmode.kit import Collection, KitConnector
from commonmode.logs import register_secret
from commonmode_vault.options import OPTIONS

log = logging.getLogger(__name__)

__all__ = ["OPTIONS", "VaultConnector"]

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


class VaultConnector(KitConnector):
    """`[[vault]]`: one Vault or OpenBao cluster (optionally one namespace)."""

    provider = "vault"
    options = OPTIONS

    def __init__(self, settings: ConnectorSettings) -> None:
        super().__init__(settings)
        env = self.values["token_env"]
        token = os.environ.get(env)
        if not token:
            # token_env may hold a token pasted by mistake: name it only when it looks like a variable's name
            shown = f" {env}" if _ENV_NAME.fullmatch(env) else " (its value is not shown: it is not a variable name)"
            raise UsageError(f"{settings.where or 'vault'}.token_env: the environment variable it names{shown} "
                             "is not set")
        register_secret(token)  # never in a log line, --debug-sdk included
        self.url: str = self.values["url"]
        self.token = token

    def collect(self, progress: ProgressFn) -> ConnectorResult:
        from commonmode_vault.client import VaultErrors, connect

        c = self.collection(progress, VaultErrors())
        assert c.policy is not None
        api = connect(self.settings, self.token, namespace=self.values.get("namespace"),
                      ca_cert=self.values.get("ca_cert"), policy=c.policy, calls=c.calls)
        try:
            return self.collect_from(api, c)
        finally:
            api.close()

    def collect_from(self, api: Any, c: Collection | ProgressFn) -> ConnectorResult:
        """The run through an already made client (`c`: the run's Collection, or only a progress function)."""
        from commonmode_vault.build import Options, build
        from commonmode_vault.client import VaultErrors
        from commonmode_vault.collect import collect, first_calls

        if not isinstance(c, Collection):
            c = Collection(self.settings, self.provider, c, VaultErrors(), calls=api.calls)  # the client's counter
        refused = first_calls(api)
        if refused:
            return c.failed(refused)
        data = collect(c, api, self.values)
        c.say("evaluating policies")
        built = build(data, Options.from_values(c.name, self.values))
        return c.finish(built, {**c.call_stats(), "kv_paths": sum(len(v[1]) for v in data.kv.values()),
                                "roles": len(data.roles)})
