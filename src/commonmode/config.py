"""`commonmode.toml` → a typed Config.

Every error is one line naming the file, the dotted key and what was expected, e.g.
`commonmode.toml: aws[0].endpoint_url: expected a string, got 5`. Secrets are never in the config:
connectors take the *names* of environment variables or profiles.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from commonmode.connector import ConnectorSettings, Option, Registry
from commonmode.errors import ConfigError, UsageError
from commonmode.logs import register_secret
from commonmode.model import Credential, Service

DEFAULT_CONFIG = "commonmode.toml"
CONFIG_ENV = "COMMONMODE_CONFIG"
DEFAULT_DB = "commonmode.db"

#: Keys every `[[<connector>]]` table may carry, whatever the connector.
COMMON_OPTIONS: Mapping[str, Option] = {
    "name": Option(type="string", required=True, help="unique name of this connector instance; used in ids"),
    "fault_domains": Option(type="strings", help="labels added to everything this instance sees"),
    "timeout": Option(type="integer", help="seconds to wait for one answer (connecting: at most 10)", default=30,
                      minimum=1, maximum=600),
    "deadline": Option(type="integer", help="seconds this connector may take in all; past it, what it has not "
                       "read is a gap and the run is partial", default=900, minimum=5, maximum=86400),
}

SECTION_KEYS: Mapping[str, Mapping[str, Option]] = {
    "store": {"path": Option(type="string", help="SQLite database file, relative to the config file")},
    "correlate": {
        "expiry_days": Option(type="integer", help="credential-expiry warns this many days ahead", default=30,
                              minimum=1, maximum=36500),
        "unused_key_days": Option(type="integer", help="a key unused this long is flagged", default=90,
                                  minimum=1, maximum=36500),
        "max_key_age_days": Option(type="integer", help="a long-lived key (an AWS access key, a GCP service "
                                                        "account key) older than this is flagged", default=90,
                                   minimum=1, maximum=36500),
        "protected_environments": Option(
            type="strings", help="GitHub environments with protection rules (required reviewers or deployment "
                                 "branches), as OWNER/REPO:ENVIRONMENT (`*` matches any run of characters): a "
                                 "federated trust narrowed only by one of them is not a broad-federated-trust"),
    },
    "service": {
        "name": Option(type="string", required=True, help="service name"),
        "owner": Option(type="string", help="accountable team or person"),
        "primary": Option(type="strings", required=True, help="resource ids of the primary path"),
        "backup": Option(type="strings", required=True, help="resource ids of the backup path"),
    },
    "credential": {
        "identity": Option(type="string", required=True, help="id of the identity whose credential this is"),
        "stored_in": Option(type="string", required=True, help="id of the store or secret resource holding it"),
        "kind": Option(type="string", help="kind of credential", default="declared"),
        "expires": Option(type="string", help="ISO 8601 date or date-time"),
    },
    "fault_domain": {
        "subject": Option(type="string", required=True, help="id of an identity, store or resource"),
        "labels": Option(type="strings", required=True, help="fault-domain labels to add to it"),
    },
}
ARRAY_SECTIONS = frozenset({"service", "credential", "fault_domain"})


@dataclass(frozen=True, kw_only=True)
class DeclaredFaultDomain:
    """Labels a config adds to one entity (where a CI system or a cluster runs)."""

    subject: str
    labels: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Config:
    """The parsed, validated config file."""

    path: Path
    store_path: Path
    connectors: tuple[ConnectorSettings, ...] = ()
    services: tuple[Service, ...] = ()
    credentials: tuple[Credential, ...] = ()
    fault_domains: tuple[DeclaredFaultDomain, ...] = ()
    expiry_days: int = 30
    unused_key_days: int = 90
    max_key_age_days: int = 90
    protected_environments: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """-c/--config, else $COMMONMODE_CONFIG, else ./commonmode.toml."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: Path, registry: Registry) -> Config:
    """Read and validate `path`. Connector tables are checked against the options of the connector they name."""
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{where}: config file not found (pass -c/--config or set {CONFIG_ENV})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: cannot read config: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, "", f"invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(where, "", "invalid TOML: nested too deeply") from None
    base = path.resolve().parent

    connectors: list[ConnectorSettings] = []
    for key, value in raw.items():
        if key in SECTION_KEYS:
            continue
        if registry.entry(key) is None:
            known = sorted([*SECTION_KEYS, *registry.names()])
            raise ConfigError(where, key, f"unknown key; expected one of {', '.join(known)}")
        connectors.extend(_connector_tables(where, key, value, registry, base))
    names: dict[str, str] = {}
    for c in connectors:
        if c.name in names:
            raise ConfigError(where, f"{c.where.split(': ', 1)[1]}.name",
                              f"duplicate connector name {c.name!r} (also {names[c.name]})")
        names[c.name] = c.where.split(": ", 1)[1]

    store = _table(where, "store", raw.get("store", {}))
    correlate = _table(where, "correlate", raw.get("correlate", {}))
    services = [_service(where, f"service[{i}]", t) for i, t in enumerate(_array(where, "service", raw))]
    seen: set[str] = set()
    for i, s in enumerate(services):
        if s.name in seen:
            raise ConfigError(where, f"service[{i}].name", f"duplicate service name {s.name!r}")
        seen.add(s.name)
    credentials = [_credential(where, f"credential[{i}]", t) for i, t in enumerate(_array(where, "credential", raw))]
    domains = [
        DeclaredFaultDomain(subject=t["subject"], labels=tuple(t["labels"]))
        for i, t in enumerate(_array(where, "fault_domain", raw))
    ]
    return Config(
        path=path,
        store_path=base / store.get("path", DEFAULT_DB),
        connectors=tuple(connectors),
        services=tuple(services),
        credentials=tuple(credentials),
        fault_domains=tuple(domains),
        expiry_days=correlate.get("expiry_days", 30),
        unused_key_days=correlate.get("unused_key_days", 90),
        max_key_age_days=correlate.get("max_key_age_days", 90),
        protected_environments=tuple(correlate.get("protected_environments", ())),
    )


def _connector_tables(where: str, key: str, value: object, registry: Registry, base: Path) -> list[ConnectorSettings]:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError(where, key, f"expected an array of tables ([[{key}]]), got {_show(value)}")
    cls = registry.load(key)
    options = {**COMMON_OPTIONS, **cls.options}
    out = []
    for i, table in enumerate(value):
        dotted = f"{key}[{i}]"
        checked = check_table(where, dotted, table, options)
        out.append(
            ConnectorSettings(
                name=checked.pop("name"),
                connector_type=key,
                fault_domains=tuple(checked.pop("fault_domains", ())),
                timeout=checked.pop("timeout"),
                deadline=checked.pop("deadline"),
                options=checked,
                config_dir=base,
                where=f"{where}: {dotted}",
            )
        )
    return out


def _array(where: str, key: str, raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError(where, key, f"expected an array of tables ([[{key}]]), got {_show(value)}")
    return [check_table(where, f"{key}[{i}]", t, SECTION_KEYS[key]) for i, t in enumerate(value)]


def _table(where: str, key: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(where, key, f"expected a table ([{key}]), got {_show(value)}")
    return check_table(where, key, value, SECTION_KEYS[key])


def check_table(where: str, dotted: str, table: Mapping[str, Any], options: Mapping[str, Option]) -> dict[str, Any]:
    """`table` checked against `options` (unknown, missing or mistyped keys raise ConfigError naming
    `where` and `dotted.key`), with defaults filled in. Connectors use it for their own files too."""
    for key, value in table.items():
        option = options.get(key)
        if option is None:
            raise ConfigError(where, f"{dotted}.{key}", f"unknown key; expected one of {', '.join(sorted(options))}")
        if not option.check(value):
            # a key that names a secret may hold the secret itself by mistake: say its type, never its value
            got = _kind(value) if option.names_a_secret else _show(value)
            raise ConfigError(where, f"{dotted}.{key}", f"expected {option.expected}, got {got}")
        if option.names_a_secret and isinstance(value, str):
            register_secret(value)
    out = dict(table)
    for key, option in options.items():
        if key not in out:
            if option.required:
                raise ConfigError(where, f"{dotted}.{key}", f"missing; expected {option.expected} ({option.help})")
            if option.default is not None:
                out[key] = option.default
        elif option.required and option.type in ("string", "strings") and not out[key]:
            raise ConfigError(where, f"{dotted}.{key}", f"expected a non-empty {option.expected.removeprefix('a ')}")
    return out


def _service(where: str, dotted: str, t: Mapping[str, Any]) -> Service:
    return Service(
        name=t["name"], owner=t.get("owner"), primary=tuple(t["primary"]), backup=tuple(t["backup"]), source="declared"
    )


def _credential(where: str, dotted: str, t: Mapping[str, Any]) -> Credential:
    expires = parse_date(where, f"{dotted}.expires", t.get("expires"))
    return Credential(
        id=f"config:credential:{t['identity']}@{t['stored_in']}",
        identity_id=t["identity"],
        kind=t["kind"],
        connector="config",
        stored_in=t["stored_in"],
        expires=expires,
    )


def parse_date(where: str, dotted: str, value: str | None) -> datetime | None:
    """An ISO 8601 date or date-time from a config-like file (UTC when no zone is given), or None."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(where, dotted, f"expected an ISO 8601 date, got {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _kind(value: object) -> str:
    kind = {str: "a string", int: "an integer", bool: "a boolean", float: "a float", list: "an array", dict: "a table"}
    return kind.get(type(value), type(value).__name__)


def _show(value: object) -> str:
    text = repr(value)
    return f"{_kind(value)} {text if len(text) <= 40 else text[:37] + '...'}"
