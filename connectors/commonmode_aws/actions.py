"""capabilities.toml: which AWS actions give which commonmode capability on which resource type, which IAM
writes are privilege escalation, and which compute actions make iam:PassRole one. Data, validated on load."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from commonmode.kit.tables import Table, TableError, read_table
from commonmode.model import Capability

CAPABILITIES_FILE = "capabilities.toml"
#: The kinds of hosted zone an action can act on (`zone_types` in capabilities.toml).
ZONE_TYPES = ("public", "private")
#: Entries on these resource types are decided on hosted zones, so they must say which zone types they act on.
_ZONE_RESOURCES = frozenset({"hostedzone", "*"})
_ENTRY_KEYS = frozenset({"capability", "resource", "actions", "zone_types"})


#: capabilities.toml cannot be read or is malformed; the message names the file and the entry's key.
CapabilityTableError = TableError


@dataclass(frozen=True, kw_only=True)
class CapabilityEntry:
    """Actions that give `capability` on resources of type `resource`; on hosted zones, only on zones of
    `zone_types` (an action acting on private zones only gives nothing on a public one)."""

    capability: Capability
    resource: str
    actions: tuple[str, ...]
    zone_types: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class ActionTable:
    """capabilities.toml, parsed and validated."""

    capabilities: tuple[CapabilityEntry, ...]
    escalation: Mapping[str, tuple[str, ...]]  # target type → actions
    passrole: Mapping[str, tuple[str, ...]]  # service principal → compute actions

    def for_resource(self, resource_type: str) -> list[CapabilityEntry]:
        """The entries decided on resources of this type."""
        return [e for e in self.capabilities if e.resource == resource_type]


def load_actions() -> ActionTable:
    """Read capabilities.toml from the package (importlib.resources, never the working directory)."""
    return parse_actions(read_table("commonmode_aws", CAPABILITIES_FILE))


def parse_actions(text: str, where: str = CAPABILITIES_FILE) -> ActionTable:
    """The action table in `text`, validated: known capability names, non-empty action lists, and
    `zone_types` (a list from "public", "private") on exactly the entries decided on hosted zones."""
    t = Table.parse(text, where)
    fail, strings, tables = t.fail, t.strings, t.tables
    entries = []
    for i, e in enumerate(tables("capability")):
        key = f"capability[{i}]"
        t.known_keys(e, key, _ENTRY_KEYS)
        cap = t.capability(e.get("capability"), f"{key}.capability")
        resource = e.get("resource")
        if not isinstance(resource, str) or not resource:
            raise fail(f"{key}.resource", "expected a resource type (a string)")
        zones: tuple[str, ...] = ()
        if resource in _ZONE_RESOURCES:
            if "zone_types" not in e:
                raise fail(f"{key}.zone_types",
                           'missing: say which hosted zones its actions act on ("public", "private")')
            zones = strings(e["zone_types"], f"{key}.zone_types")
            if not set(zones) <= set(ZONE_TYPES) or len(set(zones)) != len(zones):
                raise fail(f"{key}.zone_types",
                           f'expected distinct values from "public", "private", got {list(zones)}')
        elif "zone_types" in e:
            raise fail(f"{key}.zone_types",
                       'only entries decided on hosted zones (resource "hostedzone" or "*") have one')
        entries.append(CapabilityEntry(capability=cap, resource=resource,
                                       actions=strings(e.get("actions"), f"{key}.actions"),
                                       zone_types=frozenset(zones)))
    escalation = {}
    for i, e in enumerate(tables("escalation")):
        if not isinstance(e.get("target"), str):
            raise fail(f"escalation[{i}].target", "expected an IAM resource type (a string)")
        escalation[e["target"]] = strings(e.get("actions"), f"escalation[{i}].actions")
    passrole = {}
    for i, e in enumerate(tables("passrole")):
        if not isinstance(e.get("service"), str):
            raise fail(f"passrole[{i}].service", "expected a service principal (a string)")
        passrole[e["service"]] = strings(e.get("actions"), f"passrole[{i}].actions")
    return ActionTable(capabilities=tuple(entries), escalation=escalation, passrole=passrole)

