"""A provider's remediation steps, as its connector ships them: data, filled in from the finding's subject.

A connector package may hold `remediation.toml` beside the module of its Connector class (package data,
read with importlib.resources; none is fine: its entities then get the rules' generic steps):

    [steps]                      # rule name → the steps for a finding about one of this provider's entities
    shared-identity = ["Remove the backup zone from {subject}'s policies, or deny it there.", ...]

    [values.auth_mount]          # a value the steps name that is part of one of the subject's fields
    field = "id"                 # id, name or kind
    pattern = "/auth/([^/]*)"    # a regular expression with one group: the value is what it matched
    default = "auth"             # when the field does not match

Placeholders are written `{name}` (a literal brace `{{` or `}}`): `{subject}` the finding's subjects joined
by commas, `{subjects}` joined by ", ", the subject entity's `{id}`, `{name}`, `{kind}`, `{provider}` and
`{connector}`, and every name of `[values]`. The correlator stays provider-agnostic: it picks the steps by the
subject entity's own `provider` field and the rule, and fills them in; what they say is the connector's.
"""

from __future__ import annotations

import importlib.resources
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from commonmode.kit.tables import Table, TableError

FILENAME = "remediation.toml"

#: The placeholders every template may use: the finding's subjects.
SUBJECT_FIELDS = frozenset({"subject", "subjects"})
#: The subject entity's own fields a provider's steps may name (and derived values may be read from).
ENTITY_FIELDS = frozenset({"id", "name", "kind", "provider", "connector"})


class RemediationError(TableError):
    """A remediation.toml is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Derived:
    """A value the steps name, read from one of the subject entity's fields by a pattern."""

    field: str
    pattern: re.Pattern[str]
    default: str

    def value(self, entity: Any) -> str:
        """What the pattern's group matched in the entity's field, or the default."""
        m = self.pattern.search(str(getattr(entity, self.field, "") or ""))
        return m.group(1) if m is not None else self.default


@dataclass(frozen=True)
class ProviderSteps:
    """One provider's remediation steps per rule, and the derived values they name."""

    source: str  # where they come from, for messages: `commonmode_aws/remediation.toml`
    steps: Mapping[str, tuple[str, ...]]
    values: Mapping[str, Derived] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", MappingProxyType(dict(self.steps)))
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))


def placeholders(template: str) -> set[str]:
    """The placeholder names of a template; ValueError for one that is not a plain `{name}`."""
    names = set()
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"{{{name}}} is not a plain {{name}} placeholder (write a literal brace as {{{{ or }}}})")
        names.add(name)
    return names


def fill(templates: Iterable[str], subjects: tuple[str, ...], entity: Any | None = None,
         values: Mapping[str, Derived] | None = None) -> list[str]:
    """The templates with their placeholders filled from the subjects and the subject entity (if any)."""
    known: dict[str, str] = {"subject": ",".join(subjects), "subjects": ", ".join(subjects)}
    if entity is not None:
        known.update({f: str(getattr(entity, f, "") or "") for f in ENTITY_FIELDS})
        known.update({name: d.value(entity) for name, d in (values or {}).items()})
    return [t.format_map(known) for t in templates]


def parse_steps(text: str, where: str, rules: Iterable[str]) -> ProviderSteps:
    """A remediation.toml's text, checked: known rules, non-empty steps, placeholders it can fill."""
    try:
        table = Table.parse(text, where)
    except TableError as exc:
        raise RemediationError(str(exc)) from None
    data = table.data
    if set(data) - {"steps", "values"}:
        raise RemediationError(f"{where}: unknown tables {sorted(set(data) - {'steps', 'values'})} "
                               "(expected [steps] and [values])")
    values: dict[str, Derived] = {}
    raw_values = data.get("values", {})
    if not isinstance(raw_values, dict):
        raise RemediationError(f"{where}: values: expected a table of [values.<name>] tables")
    for name, spec in raw_values.items():
        key = f"values.{name}"
        if not name.isidentifier() or name in SUBJECT_FIELDS | ENTITY_FIELDS:
            raise RemediationError(f"{where}: {key}: expected a name (letters, digits, _) other than "
                                   f"{', '.join(sorted(SUBJECT_FIELDS | ENTITY_FIELDS))}")
        if not isinstance(spec, dict) or set(spec) != {"field", "pattern", "default"}:
            raise RemediationError(f"{where}: {key}: expected the keys field, pattern and default")
        if spec["field"] not in ENTITY_FIELDS or not isinstance(spec["default"], str):
            raise RemediationError(f"{where}: {key}: expected field one of {', '.join(sorted(ENTITY_FIELDS))} and "
                                   "a string default")
        try:
            pattern = re.compile(spec["pattern"])
        except (re.error, TypeError) as exc:
            raise RemediationError(f"{where}: {key}.pattern: not a regular expression ({exc})") from None
        if pattern.groups != 1:
            raise RemediationError(f"{where}: {key}.pattern: expected exactly one group, the value")
        values[name] = Derived(spec["field"], pattern, spec["default"])
    steps: dict[str, tuple[str, ...]] = {}
    raw_steps = data.get("steps", {})
    if not isinstance(raw_steps, dict):
        raise RemediationError(f"{where}: steps: expected a table of rule = [steps]")
    allowed = SUBJECT_FIELDS | ENTITY_FIELDS | set(values)
    known_rules = set(rules)
    for rule, lines in raw_steps.items():
        key = f"steps.{rule}"
        if rule not in known_rules:
            raise RemediationError(f"{where}: {key}: expected a rule whose steps come from data "
                                   f"({', '.join(sorted(known_rules))})")
        try:
            lines = table.strings(lines, key)
        except TableError as exc:
            raise RemediationError(str(exc)) from None
        for i, line in enumerate(lines):
            try:
                unknown = placeholders(line) - allowed
            except ValueError as exc:
                raise RemediationError(f"{where}: {key}[{i}]: {exc}") from None
            if unknown:
                raise RemediationError(f"{where}: {key}[{i}]: unknown placeholders {sorted(unknown)} "
                                       f"(expected {', '.join(sorted(allowed))})")
            if "\n" in line:
                raise RemediationError(f"{where}: {key}[{i}]: expected one line (each step is one line)")
        steps[rule] = lines
    return ProviderSteps(source=where, steps=steps, values=values)


def load_steps(package: str, rules: Iterable[str]) -> ProviderSteps | None:
    """The remediation.toml of `package` (package data), or None when it ships none."""
    resource = importlib.resources.files(package).joinpath(FILENAME)
    if not resource.is_file():
        return None
    where = f"{package}/{FILENAME}"
    try:
        text = resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RemediationError(f"{where}: cannot be read ({exc})") from None
    return parse_steps(text, where, rules)
