"""Narrow get_* functions, and the collection loop into one typed raw snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from commonmode.kit import Collection
from commonmode_example.client import Client


@dataclass
class Snapshot:
    """What the connector read, as the API returned it."""

    account: str
    zones: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)


def get_account(api: Client) -> str:
    return str(api.get("v1/account")["id"])


def get_zones(api: Client) -> list[dict[str, Any]]:
    return list(api.get("v1/zones")["zones"])


def get_tokens(api: Client) -> list[dict[str, Any]]:
    """Every API token, page by page (the API's `next` names the next page)."""
    tokens: list[dict[str, Any]] = []
    page: str | None = "0"
    while page is not None:
        body = api.get("v1/tokens", {"page": page})
        tokens += body["tokens"]
        page = body.get("next")
    return tokens


def collect(c: Collection, api: Client, account: str) -> Snapshot:
    """Each call is one attempt: a refused one is a gap, and the run goes on."""
    return Snapshot(account=account, zones=c.attempt("zones", lambda: get_zones(api), []),
                    tokens=c.attempt("tokens", lambda: get_tokens(api), []))
