"""Failover discovery: Route 53 routing records that say which record set is a service's primary and which its
backup (failover routing; weighted, when the config asks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from commonmode.model import Resource, Service
from commonmode_aws.estate import Options


def failover_services(by_name: Mapping[tuple[str, str], list[tuple[dict[str, Any], Resource]]], zone: Resource,
              opts: Options) -> list[Service]:
    """Failover routing pairs (PRIMARY + SECONDARY under one name and type) become services; weighted pairs
    too when the config asks (the heaviest is the primary)."""
    services = []
    for (name, rtype), members in sorted(by_name.items()):
        primary = [r for rr, r in members if rr.get("Failover") == "PRIMARY"]
        backup = [r for rr, r in members if rr.get("Failover") == "SECONDARY"]
        if primary and backup:
            services.append(Service(name=f"{name.rstrip('.')} {rtype}", primary=tuple(r.id for r in primary),
                                    backup=tuple(r.id for r in backup), source=opts.connector, owner=zone.owner))
            continue
        weighted = sorted(((rr["Weight"], r) for rr, r in members if rr.get("Weight") is not None),
                          key=lambda x: (-x[0], x[1].id))
        if opts.discover_weighted and len(weighted) >= 2:
            services.append(Service(name=f"{name.rstrip('.')} {rtype}", primary=(weighted[0][1].id,),
                                    backup=tuple(r.id for _, r in weighted[1:]), source=opts.connector,
                                    owner=zone.owner))
    return services
