"""The ids this connector reports for what has no ARN of its own (a record set) or whose ARN is spelled by
hand (a hosted zone, a health check, a parameter path), and the names they are built from.

Route 53 ids follow README "Ids": a record set is its zone's ARN + `/recordset/<name>/<type>[/<set id>]`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from commonmode.kit import ids


def parameter_arn(region: str, account: str, name: str) -> str:
    """An SSM parameter's (or path's) ARN: the name without its leading slash after `parameter/`."""
    return ids.arn("ssm", f"parameter/{name.lstrip('/')}", account=account, region=region)


def parameter_paths(name: str) -> list[str]:
    """The paths GetParametersByPath can return `name` from: every ancestor of a hierarchical name, from
    its parent up to `/` (recursively beyond the parent). A name without a leading slash has none."""
    if not name.startswith("/"):
        return []
    parts = name.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[:i]) for i in range(len(parts), 0, -1)] + ["/"]


def zone_arn(zone_id: str) -> str:
    """A hosted zone's ARN from its id (`Z123` or `/hostedzone/Z123`, as ListHostedZones spells it)."""
    return ids.arn("route53", f"hostedzone/{zone_id.rsplit('/', 1)[-1]}")


def record_id(zone_id: str, rr: Mapping[str, Any]) -> str:
    """`<zone ARN>/recordset/<name>/<type>[/<set identifier>]`, name lower-case with the trailing dot."""
    name = record_name(rr["Name"])
    rid = f"{zone_arn(zone_id)}/recordset/{name}/{rr['Type']}"
    return f"{rid}/{rr['SetIdentifier']}" if rr.get("SetIdentifier") else rid


def record_name(name: str) -> str:
    """A record set's name as ids spell it: lower-case, with the trailing dot."""
    # Route 53 returns some characters octal-escaped (\052 for *); ids keep its spelling, lower-cased.
    name = name.lower()
    return name if name.endswith(".") else name + "."


def unescape(name: str) -> str:
    """A name as Route 53 lists it (`\\052.example.com.`) back to its characters (`*.example.com.`), so that
    normalising it for the record-level keys escapes each character once."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), name)


def health_check_arn(hc_id: str) -> str:
    """A Route 53 health check's ARN."""
    return ids.arn("route53", f"healthcheck/{hc_id}")

