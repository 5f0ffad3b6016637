"""What paths are made of in Azure: DNS zones and record sets (public and private), Traffic Manager profiles
and endpoints, Front Door origin groups and origins, Key Vaults (stores) with their secrets and certificates;
and the services Traffic Manager's and Front Door's priority routing discover.

Each resource keeps the ARM id its own listing returned (one canonical casing); references to it from
elsewhere (an alias record's target, an endpoint's target) are matched case-insensitively, as ARM compares
ids ("Resource naming and tagging": resource ids are case-insensitive)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from commonmode.connector import InventoryParts
from commonmode.kit.values import owner_from, parse_timestamp
from commonmode.model import Resource, ResourceKind, Service, Store
from commonmode_azure.snapshot import Json, Snapshot, SubscriptionData

#: Key Vault secrets that back a certificate carry the certificate's content type (Key Vault docs, "About
#: Azure Key Vault certificates": the addressable secret holds the certificate with its private key).
CERT_CONTENT_TYPES = frozenset({"application/x-pkcs12", "application/x-pem-file"})


@dataclass(frozen=True)
class Target:
    """A resource the grants are evaluated on: its ARM scope and what kind of thing it is there."""

    resource: Resource
    scope: str  # the ARM id role assignments and deny assignments are matched against
    subscription: str
    kind: str  # "dns-zone" | "dns-record" | "private-dns-zone" | "private-dns-record" | "traffic-manager"
    #        | "traffic-manager-endpoint" | "front-door-origin-group" | "front-door-origin" | "key-vault-secret"
    #        | "key-vault-certificate"
    record_type: str = ""
    vault: Json | None = None  # the Key Vault of a secret or certificate (its access model and policies)


@dataclass
class Built:
    """The resources' part of the build: what grants are evaluated on, and ids by lower-cased ARM id."""

    targets: list[Target] = field(default_factory=list)
    canonical: dict[str, str] = field(default_factory=dict)


def _ts(value: Any) -> datetime | None:
    """Key Vault attributes are Unix seconds; everything else ISO 8601."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return parse_timestamp(value)


def _fds(snap: Snapshot, sub: SubscriptionData, *extra: str) -> tuple[str, ...]:
    return (f"azure:tenant:{sub.tenant_id or snap.tenant_id}", f"azure:subscription:{sub.id}", *extra)


def _region(obj: Json) -> tuple[str, ...]:
    loc = str(obj.get("location") or "").lower().replace(" ", "")
    return (f"azure:region:{loc}",) if loc and loc != "global" else ()


def build_resources(snap: Snapshot, out: InventoryParts, connector: str, owner_tags: Sequence[str]) -> Built:
    """Resources, stores and services of every subscription."""
    built = Built()
    for sub in snap.subscriptions:
        _dns(snap, sub, out, built, connector, owner_tags, private=False)
        _dns(snap, sub, out, built, connector, owner_tags, private=True)
        _traffic_manager(snap, sub, out, built, connector, owner_tags)
        _front_door(snap, sub, out, built, connector, owner_tags)
        _key_vaults(snap, sub, out, built, connector, owner_tags)
    return built


def _add(built: Built, out: InventoryParts, target: Target) -> None:
    out.resources.append(target.resource)
    built.targets.append(target)
    built.canonical.setdefault(target.resource.id.lower(), target.resource.id)


def _dns(snap: Snapshot, sub: SubscriptionData, out: InventoryParts, built: Built, c: str,
         owner_tags: Sequence[str], *, private: bool) -> None:
    zones, records = (sub.private_zones, sub.private_records) if private else (sub.zones, sub.records)
    plane = f"azure-{'private-' if private else ''}dns:subscription:{sub.id}"
    for z in zones:
        props = z.get("properties") or {}
        tags = dict(z.get("tags") or {})
        public = not private and str(props.get("zoneType") or "Public").lower() != "private"
        zone = Resource(id=z["id"], kind=ResourceKind.DNS_ZONE, provider="azure", name=z["name"], connector=c,
                        names=(z["name"],), public=public, control_plane=plane,
                        owner=owner_from(tags, owner_tags), tags=tags,
                        fault_domains=_fds(snap, sub, "dns-provider:azure-dns"))
        _add(built, out, Target(zone, z["id"], sub.id, "private-dns-zone" if private else "dns-zone"))
        for rs in records.get(z["id"]) or []:
            rprops = rs.get("properties") or {}
            rtype = str(rs.get("type") or "").rsplit("/", 1)[-1].upper()
            fqdn = str(rprops.get("fqdn") or (z["name"] if rs["name"] == "@" else f"{rs['name']}.{z['name']}"))
            parents = [zone.id]
            alias = (rprops.get("targetResource") or {}).get("id")
            rtags = dict(rprops.get("metadata") or {})
            if alias:
                rtags["alias"] = str(alias)
            cname = (rprops.get("CNAMERecord") or rprops.get("cnameRecord") or {}).get("cname")
            if cname:
                rtags["cname"] = str(cname)
            res = Resource(id=rs["id"], kind=ResourceKind.DNS_RECORD, provider="azure",
                           name=f"{fqdn.rstrip('.')} {rtype}", connector=c, parents=tuple(parents),
                           names=(fqdn.rstrip("."),), public=public, control_plane=plane, tags=rtags,
                           fault_domains=zone.fault_domains)
            _add(built, out, Target(res, rs["id"], sub.id, "private-dns-record" if private else "dns-record",
                                    record_type=rtype))


def _traffic_manager(snap: Snapshot, sub: SubscriptionData, out: InventoryParts, built: Built, c: str,
                     owner_tags: Sequence[str]) -> None:
    """Profiles and endpoints; a Priority profile with two enabled endpoints is a failover pair: the lowest
    priority number is the primary, the next the backup ("Traffic Manager routing methods": priority 1–1000,
    lower is preferred). The profile itself, and every record that is a CNAME or alias to it, are in both."""
    records = [t for t in built.targets if t.kind == "dns-record" and t.subscription == sub.id]
    # a nested endpoint's traffic goes to a child profile: the child (and whoever can change it) is part of
    # that endpoint's path ("Nested Traffic Manager profiles")
    profiles = {p["id"].lower(): p["id"] for p in sub.profiles}
    for p in sub.profiles:
        props = p.get("properties") or {}
        tags = dict(p.get("tags") or {})
        fqdn = str((props.get("dnsConfig") or {}).get("fqdn") or "").rstrip(".")
        fds = _fds(snap, sub, "dns-provider:azure-traffic-manager")
        profile = Resource(id=p["id"], kind=ResourceKind.ROUTING_CONTROL, provider="azure", name=p["name"],
                           connector=c, names=(fqdn,) if fqdn else (), owner=owner_from(tags, owner_tags),
                           tags={**tags, "routing": str(props.get("trafficRoutingMethod") or "")},
                           fault_domains=fds)
        _add(built, out, Target(profile, p["id"], sub.id, "traffic-manager"))
        endpoints = []
        for e in props.get("endpoints") or []:
            ep = e.get("properties") or {}
            etags = {k: str(ep[k]) for k in ("target", "targetResourceId", "endpointStatus", "priority", "weight")
                     if ep.get(k) is not None}
            child = profiles.get(str(ep.get("targetResourceId") or "").lower()) if str(
                e.get("type") or "").lower().endswith("/nestedendpoints") else None
            res = Resource(id=e["id"], kind=ResourceKind.ROUTING_CONTROL, provider="azure",
                           name=f"{p['name']} endpoint {e['name']}", connector=c,
                           parents=(profile.id, *([child] if child else [])),
                           names=(str(ep["target"]).rstrip("."),) if ep.get("target") else (), tags=etags,
                           fault_domains=(*fds, *_region({"location": ep.get("endpointLocation")})))
            _add(built, out, Target(res, e["id"], sub.id, "traffic-manager-endpoint"))
            if str(ep.get("endpointStatus") or "Enabled").lower() == "enabled" and ep.get("priority") is not None:
                endpoints.append((int(ep["priority"]), res.id))
        pointing = [t.resource.id for t in records
                    if t.resource.tags.get("alias", "").lower() == p["id"].lower()
                    or (fqdn and t.resource.tags.get("cname", "").rstrip(".").lower() == fqdn.lower())]
        if str(props.get("trafficRoutingMethod") or "").lower() == "priority" and len(endpoints) >= 2:
            endpoints.sort()
            shared = (profile.id, *pointing)
            out.services.append(Service(name=fqdn or p["name"], primary=(endpoints[0][1], *shared),
                                        backup=(endpoints[1][1], *shared), source=c, owner=profile.owner))


def _front_door(snap: Snapshot, sub: SubscriptionData, out: InventoryParts, built: Built, c: str,
                owner_tags: Sequence[str]) -> None:
    """Front Door (Standard/Premium) origin groups: origins of the lowest priority are the primary, the next
    priority the backup ("Origins and origin groups in Azure Front Door": priority 1–5, lower first)."""
    for profile in sub.frontdoors:
        tags = dict(profile.get("tags") or {})
        for g in sub.origin_groups.get(profile["id"]) or []:
            group = Resource(id=g["id"], kind=ResourceKind.ROUTING_CONTROL, provider="azure",
                             name=f"{profile['name']}/{g['name']}", connector=c, owner=owner_from(tags, owner_tags),
                             tags=tags, fault_domains=_fds(snap, sub, "dns-provider:azure-front-door"))
            _add(built, out, Target(group, g["id"], sub.id, "front-door-origin-group"))
            tiers: dict[int, list[str]] = {}
            for o in sub.origins.get(g["id"]) or []:
                op = o.get("properties") or {}
                res = Resource(id=o["id"], kind=ResourceKind.ROUTING_CONTROL, provider="azure",
                               name=f"{group.name} origin {o['name']}", connector=c, parents=(group.id,),
                               names=(str(op["hostName"]),) if op.get("hostName") else (),
                               fault_domains=group.fault_domains)
                _add(built, out, Target(res, o["id"], sub.id, "front-door-origin"))
                if str(op.get("enabledState") or "Enabled").lower() == "enabled":
                    tiers.setdefault(int(op.get("priority") or 1), []).append(res.id)
            if len(tiers) >= 2:
                first, second = sorted(tiers)[:2]
                out.services.append(Service(name=group.name, primary=(*tiers[first], group.id),
                                            backup=(*tiers[second], group.id), source=c, owner=group.owner))


def vault_model(vault: Json) -> str:
    """"rbac" or "access-policy": which plane authorizes the vault's data ("Azure RBAC vs. access policies")."""
    return "rbac" if (vault.get("properties") or {}).get("enableRbacAuthorization") else "access-policy"


def _key_vaults(snap: Snapshot, sub: SubscriptionData, out: InventoryParts, built: Built, c: str,
                owner_tags: Sequence[str]) -> None:
    for v in sub.vaults:
        tags = dict(v.get("tags") or {})
        store = Store(id=v["id"], provider="azure", kind=f"key-vault ({vault_model(v)})", name=v["name"],
                      connector=c, owner=owner_from(tags, owner_tags), fault_domains=_fds(snap, sub, *_region(v)))
        out.stores.append(store)
        built.canonical.setdefault(store.id.lower(), store.id)
        for s in sub.secrets.get(v["id"]) or []:
            sprops = s.get("properties") or {}
            attrs = sprops.get("attributes") or {}
            stags = dict(s.get("tags") or {})
            is_cert = str(sprops.get("contentType") or "").lower() in CERT_CONTENT_TYPES
            rid = f"{v['id']}/certificates/{s['name']}" if is_cert else s["id"]
            res = Resource(id=rid, kind=ResourceKind.CERTIFICATE if is_cert else ResourceKind.SECRET,
                           provider="azure", name=f"{v['name']}/{s['name']}", connector=c, parents=(store.id,),
                           expires=_ts(attrs.get("exp")), owner=owner_from(stags, owner_tags), tags=stags,
                           fault_domains=store.fault_domains)
            _add(built, out, Target(res, s["id"], sub.id, "key-vault-certificate" if is_cert else "key-vault-secret",
                                    vault=v))
