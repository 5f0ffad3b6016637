"""The declared connector: what no connector can scan, written down in a TOML file.

A secondary DNS provider without a connector, an on-prem BIND server updated with a TSIG key, a CI system
that holds a DNS token: a `[[declared]]` instance reads their identities, resources and grants from a file
and hands them to the correlator like any scanned inventory, so a path through them is followed (a credential
kept in a scanned Vault, a fault domain shared with the primary) instead of ending in "not seen".
It makes no network call. File format: connectors/commonmode_declared/README.md.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from commonmode.config import check_table, parse_date
from commonmode.connector import ConnectorResult, ConnectorSettings, Option, ProgressFn
from commonmode.errors import ConfigError, UsageError
from commonmode.model import Capability, Grant, Identity, Inventory, Resource, ResourceKind, RunStatus

__all__ = ["DeclaredConnector"]

ENTRY_KEYS: Mapping[str, Mapping[str, Option]] = {
    "identity": {
        "id": Option(type="string", required=True, help="unique id, e.g. ns1:apikey:status-failover"),
        "kind": Option(type="string", required=True, help="what it is: api-key, tsig-key, ci-token ..."),
        "name": Option(type="string", help="display name (default: the id)"),
        "owner": Option(type="string", help="accountable team or person"),
        "fault_domains": Option(type="strings", help="labels of what it depends on, e.g. dns-provider:ns1"),
    },
    "resource": {
        "id": Option(type="string", required=True, help="unique id, named in [[service]] primary/backup"),
        "kind": Option(type="string", required=True, help="one of " + ", ".join(k.value for k in ResourceKind)),
        "name": Option(type="string", help="display name (default: the id)"),
        "names": Option(type="strings", help="DNS names: a record's name, a zone's apex, a certificate's domains"),
        "parents": Option(type="strings", help="ids of what it cannot exist without (a record's zone)"),
        "control_plane": Option(type="string", help="the DNS control plane that manages it, e.g. ns1:account:acme"),
        "owner": Option(type="string", help="accountable team or person"),
        "expires": Option(type="string", help="ISO 8601 date or date-time (certificates)"),
        "fault_domains": Option(type="strings", help="labels of what it depends on, e.g. dns-provider:ns1"),
    },
    "grant": {
        "identity": Option(type="string", required=True, help="id of a declared or scanned identity"),
        "capability": Option(type="string", required=True, help="one of " + ", ".join(c.value for c in Capability)),
        "resource": Option(type="string", required=True, help="id of a declared or scanned resource or identity"),
        "via": Option(type="strings", required=True, help="how the grant is known: the key's scope, the ticket ..."),
        "conditional": Option(type="boolean", help="true when it rests on a condition", default=False),
    },
}


class DeclaredConnector:
    """`[[declared]]`: identities, resources and grants read from a TOML file (no network)."""

    provider = "declared"
    options: ClassVar[Mapping[str, Option]] = {
        "file": Option(type="string", required=True, help="the TOML file to read, relative to the config"),
        "provider": Option(type="string", help="provider label of what the file describes, e.g. ns1",
                           default="declared"),
    }

    def __init__(self, settings: ConnectorSettings) -> None:
        self.settings = settings
        self.path = settings.config_dir / settings.options["file"]
        self.provider_label: str = settings.options.get("provider") or "declared"

    def collect(self, progress: ProgressFn) -> ConnectorResult:
        progress(f"reading {self.path.name}", 0, None)
        inventory = self.read()
        progress(f"reading {self.path.name}", 1, 1)
        return ConnectorResult(
            connector=self.settings.name, provider=self.provider_label, status=RunStatus.OK, inventory=inventory,
            stats={"identities": len(inventory.identities), "resources": len(inventory.resources),
                   "grants": len(inventory.grants)},
        )

    def read(self) -> Inventory:
        """Parse and check the file; every problem is a ConfigError naming the file and the key."""
        try:
            where = str(self.path.relative_to(Path.cwd()))
        except ValueError:
            where = str(self.path)
        try:
            raw = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"{self.settings.where or 'declared'}.file: {where} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{where}: cannot read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(where, "", f"not valid TOML: {exc}") from None
        unknown = sorted(set(raw) - set(ENTRY_KEYS))
        if unknown:
            raise ConfigError(where, unknown[0], "unknown section; expected [[identity]], [[resource]] or [[grant]]")
        tables = {key: self._entries(where, key, raw.get(key, [])) for key in ENTRY_KEYS}
        name, prov = self.settings.name, self.provider_label
        identities = tuple(Identity(id=t["id"], provider=prov, kind=t["kind"], name=t.get("name") or t["id"],
                                    connector=name, owner=t.get("owner"),
                                    fault_domains=tuple(t.get("fault_domains", ())))
                           for _, t in tables["identity"])
        resources = []
        for dotted, t in tables["resource"]:
            try:
                kind = ResourceKind(t["kind"])
            except ValueError:
                raise ConfigError(where, f"{dotted}.kind", f"expected {ENTRY_KEYS['resource']['kind'].help}, "
                                                           f"got {t['kind']!r}") from None
            resources.append(Resource(
                id=t["id"], kind=kind, provider=prov, name=t.get("name") or t["id"], connector=name,
                parents=tuple(t.get("parents", ())), names=tuple(t.get("names", ())),
                control_plane=t.get("control_plane"), owner=t.get("owner"),
                expires=parse_date(where, f"{dotted}.expires", t.get("expires")),
                fault_domains=tuple(t.get("fault_domains", ())),
            ))
        grants = []
        for dotted, t in tables["grant"]:
            try:
                capability = Capability(t["capability"])
            except ValueError:
                raise ConfigError(where, f"{dotted}.capability", f"expected {ENTRY_KEYS['grant']['capability'].help}, "
                                                                 f"got {t['capability']!r}") from None
            if not all(step.strip() for step in t["via"]):
                raise ConfigError(where, f"{dotted}.via", "expected non-empty strings saying how the grant is known")
            grants.append(Grant(identity_id=t["identity"], capability=capability, resource_id=t["resource"],
                                via=(f"declared in {self.path.name}", *t["via"]), connector=name,
                                conditional=t["conditional"]))
        self._unique(where, "identity", [t for _, t in tables["identity"]])
        self._unique(where, "resource", [t for _, t in tables["resource"]])
        return Inventory(identities=identities, resources=tuple(resources), grants=tuple(grants))

    @staticmethod
    def _entries(where: str, key: str, value: Any) -> list[tuple[str, dict[str, Any]]]:
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            raise ConfigError(where, key, f"expected an array of tables ([[{key}]])")
        return [(f"{key}[{i}]", check_table(where, f"{key}[{i}]", t, ENTRY_KEYS[key])) for i, t in enumerate(value)]

    @staticmethod
    def _unique(where: str, key: str, tables: list[dict[str, Any]]) -> None:
        seen: set[str] = set()
        for i, t in enumerate(tables):
            if t["id"] in seen:
                raise ConfigError(where, f"{key}[{i}].id", f"expected a unique id; {t['id']!r} is declared twice")
            seen.add(t["id"])

