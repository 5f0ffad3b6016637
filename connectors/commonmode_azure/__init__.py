"""The Azure connector: Entra service principals, applications and managed identities, Azure RBAC across
management groups, subscriptions, resource groups and resources (with deny assignments and conditions), Azure
DNS (public and private), Traffic Manager, Front Door origin groups and Key Vault. Read-only; never reads a
secret's value (client.Guard). Config and semantics: connectors/commonmode_azure/README.md.

The shape every connector follows (docs/connectors.md): this module holds the Connector class (its options in
options.py); client.py the credential, the clients, the read-only guard and the error hook; collect.py the
calls; snapshot.py what they return; build.py and the modules it names the inventory; policy.py the RBAC
evaluation; capabilities.toml which Azure operations give which commonmode capability.

No Azure package is imported here: `commonmode --help` and scans of other providers never load one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from commonmode.connector import ConnectorResult, ConnectorSettings, ProgressFn
from commonmode.errors import UsageError
from commonmode.kit import KitConnector
from commonmode.logs import register_secret
from commonmode_azure.options import CREDENTIALS, OPTIONS

__all__ = ["OPTIONS", "AzureConnector"]

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_TENANT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|"
                     r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_NEEDS_CLIENT_ID = ("client-secret", "client-certificate")


class AzureConnector(KitConnector):
    """`[[azure]]`: one Entra tenant and the subscriptions (or management groups) under it."""

    provider = "azure"
    options = OPTIONS

    def __init__(self, settings: ConnectorSettings) -> None:
        super().__init__(settings)
        where = settings.where or "azure"
        v = self.values
        if not _TENANT.fullmatch(str(v["tenant_id"])):
            raise UsageError(f"{where}.tenant_id: expected the tenant's id (a GUID) or its domain name")
        if v["credential"] not in CREDENTIALS:
            raise UsageError(f"{where}.credential: expected one of {', '.join(CREDENTIALS)}")
        if v["credential"] in _NEEDS_CLIENT_ID and not v.get("client_id"):
            raise UsageError(f"{where}.client_id: required with credential = \"{v['credential']}\"")
        self.secret: str | None = None
        if v["credential"] == "client-secret":
            env = v["client_secret_env"]
            secret = os.environ.get(env)
            if not secret:
                # the key may hold a secret pasted by mistake: name it only when it looks like a variable's name
                shown = (f" {env}" if _ENV_NAME.fullmatch(env)
                         else " (its value is not shown: it is not a variable name)")
                raise UsageError(f"{where}.client_secret_env: the environment variable it names{shown} is not set")
            register_secret(secret)  # never in a log line
            self.secret = secret
        if v["credential"] == "workload-identity":
            # azure-identity reads the federated token's file (and the client id, when the config has none) from
            # the environment the workload-identity webhook or CI sets ("WorkloadIdentityCredential")
            missing = [name for name, needed in (("AZURE_FEDERATED_TOKEN_FILE", True),
                                                 ("AZURE_CLIENT_ID", not v.get("client_id")))
                       if needed and not os.environ.get(name)]
            if missing:
                raise UsageError(f"{where}.credential: \"workload-identity\" needs {' and '.join(missing)} in the "
                                 "environment (set by the workload identity webhook or the CI system)")
        for key in ("client_certificate_path", "ca_bundle"):
            if v.get(key) or (key == "client_certificate_path" and v["credential"] == "client-certificate"):
                if not v.get(key):
                    raise UsageError(f"{where}.{key}: required with credential = \"client-certificate\"")
                path = settings.config_dir / str(v[key])
                if not Path(path).is_file():
                    raise UsageError(f"{where}.{key}: {path} does not exist or is not a file")

    def collect(self, progress: ProgressFn) -> ConnectorResult:
        from commonmode_azure.build import Options, build
        from commonmode_azure.client import AzureErrors, Clients, describe_first_failure
        from commonmode_azure.collect import collect, list_subscriptions

        c = self.collection(progress, AzureErrors())
        assert c.policy is not None
        try:
            clients = Clients.make(self.values, self.settings.config_dir, self.secret, c.policy, c.calls)
        except ValueError as exc:  # azure-identity refuses what it was given (an unreadable certificate, say)
            return c.failed(f"credential = \"{self.values['credential']}\" cannot be used: "
                            f"{str(exc).strip().splitlines()[0]}")
        c.say("listing subscriptions")
        try:
            visible = list_subscriptions(clients)
        except Exception as exc:  # noqa: BLE001 — the connector fails, with one line that says why
            return c.failed(describe_first_failure(exc, self.values))
        snapshot = collect(c, clients, self.values, visible)
        c.say("evaluating role assignments")
        built = build(snapshot, Options.from_values(c.name, self.values))
        return c.finish(built, {**c.call_stats(), "subscriptions": len(snapshot.subscriptions),
                                "role_assignments": sum(len(s.role_assignments) for s in snapshot.subscriptions)})
