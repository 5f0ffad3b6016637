"""Small conversions every connector needs: timestamps, owners from tags, option values, parse-or-gap."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableSequence, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from commonmode.connector import ConnectorSettings, Option
from commonmode.kit.errors import PolicyError

T = TypeVar("T")

#: Go's zero time, which Vault reports for "never" (a secret-id with no expiry).
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"
_NANOSECONDS = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(value: object) -> datetime | None:
    """A provider's timestamp as a datetime, or None when there is none.

    Accepts what SDKs and APIs hand back: a datetime (boto3 parses AWS's own), epoch seconds, or an ISO 8601
    / RFC 3339 string with `Z` and up to nanosecond fractions (Vault and Go APIs; Python keeps microseconds).
    Empty values, Go's zero time and text that is not a timestamp are None: an unreadable date is unknown, not
    an error."""
    if isinstance(value, datetime):
        return value
    if not value or value == _GO_ZERO_TIME:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    text = _NANOSECONDS.sub(r"\1", str(value)).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def owner_from(tags: Mapping[str, Any] | None, keys: Sequence[str]) -> str | None:
    """The owner named by the first of `keys` that `tags` (tags, labels, metadata) holds a non-empty value
    for; None when none does."""
    for k in keys:
        if tags and tags.get(k):
            return str(tags[k])
    return None


def owner_in_description(description: str, keys: Sequence[str]) -> str | None:
    """The owner a free-text description names by the convention `KEY: value` / `KEY=value` (KEY one of
    `keys`): a GCP service account's description, an Entra federated credential's."""
    for key in keys:
        m = re.search(rf"(?<![A-Za-z0-9_-]){re.escape(key)}\s*[:=]\s*([A-Za-z0-9@._/-]+)", description or "",
                      re.IGNORECASE)
        if m:
            return m.group(1).rstrip(".,;)")
    return None


def option_values(settings: ConnectorSettings, options: Mapping[str, Option]) -> dict[str, Any]:
    """The connector's options with every default of `options` filled in where the table leaves a key out.

    config.py fills defaults when it reads a file; settings built in code (benchmarks, tests) may not carry
    them. Either way each default is written once, in the connector's `options`."""
    values = dict(settings.options)
    for key, option in options.items():
        if values.get(key) is None and option.default is not None:
            values[key] = option.default
    return values


def parse_or_gap(parse: Callable[[], T], default: T, gaps: MutableSequence[str], consequence: str) -> T:
    """`parse()`, or `default` with one gap when it raises PolicyError: the policy is left out, and the gap
    says so and what follows (`consequence`, e.g. "so grants it gives are missing")."""
    try:
        return parse()
    except PolicyError as exc:
        gaps.append(f"{exc}: ignored, {consequence}")
        return default
