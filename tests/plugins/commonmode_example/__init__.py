"""The example connector of docs/connectors.md: a DNS provider's API tokens and zones, written with the
connector kit in the shape every connector has. Registered like a third-party plugin (the .dist-info beside
it); tests/plugins/test_example_connector.py runs it against the shared HTTP stand-in.

The provider (imaginary, so the example stays small): `GET /v1/account` names the account, `GET /v1/zones`
lists zones, `GET /v1/tokens?page=N` lists API tokens with their scopes, a page at a time.
"""

from __future__ import annotations

from commonmode.connector import ConnectorResult, ProgressFn
from commonmode.kit import KitConnector
from commonmode_example.options import OPTIONS

__all__ = ["OPTIONS", "ExampleConnector"]


class ExampleConnector(KitConnector):
    """`[[example]]`: one account of the example DNS provider."""

    provider = "example"
    options = OPTIONS

    def collect(self, progress: ProgressFn) -> ConnectorResult:
        from commonmode_example.build import build
        from commonmode_example.client import ExampleErrors, connect
        from commonmode_example.collect import collect, get_account

        c = self.collection(progress, ExampleErrors())
        api = connect(self.settings, self.values, c)
        try:
            account = get_account(api)  # the first call says whether we can connect and are let in
        except Exception as exc:  # noqa: BLE001 — the connector fails, with one line that says why
            return c.failed(f"cannot read the account at {self.values['url']}: {exc}")
        snapshot = collect(c, api, account)
        c.say("evaluating token scopes")
        return c.finish(build(snapshot, connector=c.name, owner_keys=tuple(self.values["owner_keys"])))
