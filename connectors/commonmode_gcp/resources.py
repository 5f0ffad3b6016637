"""What paths are made of in GCP: Cloud DNS managed zones and record sets, the targets of a routing policy,
Secret Manager (one store per project) and its secrets, Certificate Manager certificates, maps and DNS
authorizations; and the services a `primaryBackup` routing policy discovers.

A primaryBackup record set is a failover pair on its own ("Configure DNS routing policies and health checks":
primary targets are health-checked load balancers or endpoints, the backup a geolocation policy): the primary
path is the record set and its primary targets (with the policy's health check), the backup path the record set
and its backup geo targets. Both paths contain the one record set: whoever can change it changes both (the
shared-identity finding says so). Geo and weighted policies are record sets, not failover pairs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from commonmode.connector import InventoryParts
from commonmode.kit import ids
from commonmode.kit.values import owner_from, parse_timestamp
from commonmode.model import Resource, ResourceKind, Service, Store
from commonmode_gcp.identities import fault_domains
from commonmode_gcp.snapshot import Json, ProjectData, Snapshot

CLOUD_DNS: str = "dns-provider:cloud-dns"


@dataclass(frozen=True)
class Target:
    """A resource the grants are evaluated on: its full resource name and its kind in capabilities.toml."""

    name: str
    kind: str
    resource_id: str  # the inventory id the grant points at (for a service account: its identity)


@dataclass
class Built:
    targets: list[Target] = field(default_factory=list)


def zone_name(project: str, zone: str) -> str:
    return f"//dns.googleapis.com/projects/{project}/managedZones/{zone}"


def rrset_name(project: str, zone: str, name: str, rtype: str) -> str:
    """`//dns.googleapis.com/projects/P/managedZones/Z/rrsets/NAME./TYPE`, the name lower-case with its dot."""
    fqdn = name.lower() if name.endswith(".") else name.lower() + "."
    return f"{zone_name(project, zone)}/rrsets/{fqdn}/{rtype.upper()}"


def in_project(name: str, p: ProjectData) -> str:
    """A relative name `projects/X/…` with X the project id (APIs answer with the number or the id)."""
    head, _, rest = name.partition("/")
    if head == "projects" and "/" in rest:
        return f"projects/{p.id}/{rest.split('/', 1)[1]}"
    return name


def build_resources(snap: Snapshot, out: InventoryParts, connector: str, owner_labels: Sequence[str]) -> Built:
    built = Built()
    for p in snap.projects:
        fds = fault_domains(snap, f"projects/{p.id}")
        _dns(p, fds, out, built, connector, owner_labels)
        _secrets(p, fds, out, built, connector, owner_labels)
        _certificates(p, fds, out, built, connector, owner_labels)
        for sa in p.service_accounts:  # who may act as it: identity.assume edges into the account
            sid = ids.gcp_service_account(str(sa.get("email")), p.id)
            built.targets.append(Target(sid, "service-account", sid))
    return built


def _region(location: str) -> tuple[str, ...]:
    return (f"gcp:region:{location}",) if location and location != "global" else ()


def _dns(p: ProjectData, fds: tuple[str, ...], out: InventoryParts, built: Built, c: str,
         owner_labels: Sequence[str]) -> None:
    plane = f"cloud-dns:project:{p.id}"
    for z in p.zones:
        zid = zone_name(p.id, str(z["name"]))
        labels = dict(z.get("labels") or {})
        dns_name = str(z.get("dnsName") or "")
        public = str(z.get("visibility") or "public") == "public"
        zone = Resource(id=zid, kind=ResourceKind.DNS_ZONE, provider="gcp", name=dns_name.rstrip(".") or z["name"],
                        connector=c, names=(dns_name.rstrip("."),) if dns_name else (), public=public,
                        control_plane=plane, owner=owner_from(labels, owner_labels) or owner_from(p.labels,
                                                                                                  owner_labels),
                        tags={**labels, "zone": str(z["name"]), "visibility": "public" if public else "private"},
                        fault_domains=(*fds, CLOUD_DNS))
        out.resources.append(zone)
        built.targets.append(Target(zid, "dns-managed-zone", zid))
        for rs in p.rrsets.get(str(z["name"])) or []:
            _record(p, z, zone, rs, out, built, c)


def _record(p: ProjectData, z: Json, zone: Resource, rs: Json, out: InventoryParts, built: Built, c: str) -> None:
    rtype = str(rs.get("type") or "").upper()
    fqdn = str(rs.get("name") or "")
    rid = rrset_name(p.id, str(z["name"]), fqdn, rtype)
    policy = rs.get("routingPolicy") or {}
    backup_of = policy.get("primaryBackup") if isinstance(policy, dict) else None
    tags: dict[str, str] = {}
    if rs.get("rrdatas"):
        tags["rrdatas"] = " ".join(str(d) for d in rs["rrdatas"])[:300]
    kind = next((k for k in ("primaryBackup", "geo", "wrr") if isinstance(policy, dict) and k in policy), "")
    if kind:
        tags["routing"] = kind
    name = f"{fqdn.rstrip('.')} {rtype}"
    if backup_of is not None:
        name += " (primaryBackup)"
    record = Resource(id=rid, kind=ResourceKind.DNS_RECORD, provider="gcp", name=name, connector=c,
                      parents=(zone.id,), names=(fqdn.rstrip("."),), public=zone.public,
                      control_plane=zone.control_plane, tags=tags, fault_domains=zone.fault_domains)
    out.resources.append(record)
    built.targets.append(Target(rid, "dns-record-set", rid))
    if backup_of is not None:
        _failover(p, record, backup_of, policy, out, built, c)


def _failover(p: ProjectData, record: Resource, pb: Json, policy: Json, out: InventoryParts, built: Built,
              c: str) -> None:
    """The primaryBackup pair: primary = the record set, its primary targets and their health check; backup =
    the record set and its backup geo targets."""
    primary: list[str] = []
    targets = pb.get("primaryTargets") or {}
    for t in targets.get("internalLoadBalancers") or []:
        project, region = str(t.get("project") or p.id), str(t.get("region") or "")
        ip, port = str(t.get("ipAddress") or "?"), str(t.get("port") or "")
        # the target names no forwarding rule: it is identified by its project, region, address and port
        rid = f"//compute.googleapis.com/projects/{project}/regions/{region}/internalLoadBalancers/{ip}:{port}"
        out.resources.append(Resource(
            id=rid, kind=ResourceKind.ROUTING_CONTROL, provider="gcp", connector=c, parents=(record.id,),
            name=f"primary target {ip}:{port} ({t.get('loadBalancerType', 'load balancer')}, {region})",
            tags={k: str(t[k]) for k in ("loadBalancerType", "ipAddress", "port", "networkUrl") if t.get(k)},
            fault_domains=(f"gcp:project:{project}", *_region(region))))
        primary.append(rid)
        # whoever can retarget its forwarding rule moves the primary (Compute's bindings are the project's and
        # above: the rule itself is not read)
        built.targets.append(Target(rid, "forwarding-rule", rid))
    for ip in targets.get("externalEndpoints") or []:
        rid = f"{record.id}#primary/{ip}"
        out.resources.append(Resource(id=rid, kind=ResourceKind.ROUTING_CONTROL, provider="gcp", connector=c,
                                      parents=(record.id,), name=f"primary external endpoint {ip}",
                                      fault_domains=record.fault_domains))
        primary.append(rid)
    check = policy.get("healthCheck") or pb.get("healthCheck")
    if check:
        hid = "//compute.googleapis.com/" + str(check).split("/compute/v1/", 1)[-1].split("googleapis.com/", 1)[-1]
        out.resources.append(Resource(id=hid, kind=ResourceKind.HEALTH_CHECK, provider="gcp", connector=c,
                                      name=f"health check {str(check).rsplit('/', 1)[-1]}",
                                      fault_domains=record.fault_domains))
        primary.append(hid)
        built.targets.append(Target(hid, "health-check", hid))
    backup: list[str] = []
    for item in (pb.get("backupGeoTargets") or {}).get("items") or []:
        location = str(item.get("location") or "")
        datas = " ".join(str(d) for d in item.get("rrdatas") or [])
        rid = f"{record.id}#backup/{location}"
        out.resources.append(Resource(id=rid, kind=ResourceKind.ROUTING_CONTROL, provider="gcp", connector=c,
                                      parents=(record.id,), name=f"backup geo target {location}: {datas}".strip(),
                                      tags={"location": location, "rrdatas": datas[:300]},
                                      fault_domains=_region(location)))
        backup.append(rid)
    if primary and backup:
        zone_owner = next((r.owner for r in out.resources if r.id == record.parents[0]), None)
        out.services.append(Service(name=record.names[0], primary=(record.id, *primary),
                                    backup=(record.id, *backup), source=c, owner=zone_owner))


def _secrets(p: ProjectData, fds: tuple[str, ...], out: InventoryParts, built: Built, c: str,
             owner_labels: Sequence[str]) -> None:
    if not p.secrets:
        return
    store = Store(id=f"//secretmanager.googleapis.com/projects/{p.id}", provider="gcp", kind="secret-manager",
                  name=f"Secret Manager ({p.id})", connector=c, owner=owner_from(p.labels, owner_labels),
                  fault_domains=fds)
    out.stores.append(store)
    for s in p.secrets:
        sid = str(s["name"]).rsplit("/", 1)[-1]
        rid = f"{store.id}/secrets/{sid}"
        labels = dict(s.get("labels") or {})
        replicas = [str(r.get("location")) for r in ((s.get("replication") or {}).get("userManaged") or {}).get(
            "replicas") or [] if r.get("location")]
        tags: dict[str, Any] = {**labels, "replication": "user-managed " + ",".join(replicas) if replicas
                                else "automatic"}
        if (s.get("rotation") or {}).get("nextRotationTime"):
            tags["nextRotation"] = str(s["rotation"]["nextRotationTime"])
        out.resources.append(Resource(id=rid, kind=ResourceKind.SECRET, provider="gcp", name=f"{p.id}/{sid}",
                                      connector=c, parents=(store.id,), expires=parse_timestamp(s.get("expireTime")),
                                      owner=owner_from(labels, owner_labels), tags=tags,
                                      fault_domains=(*fds, *(f"gcp:region:{r}" for r in replicas))))
        built.targets.append(Target(rid, "secret", rid))


def _certificates(p: ProjectData, fds: tuple[str, ...], out: InventoryParts, built: Built, c: str,
                  owner_labels: Sequence[str]) -> None:
    auths: dict[str, str] = {}
    for a in p.dns_authorizations:
        rid = f"//certificatemanager.googleapis.com/{in_project(str(a['name']), p)}"
        record = (a.get("dnsResourceRecord") or {}).get("name")
        out.resources.append(Resource(id=rid, kind=ResourceKind.CERT_ISSUER, provider="gcp", connector=c,
                                      name=f"DNS authorization {a.get('domain', '')}",
                                      names=(str(a.get("domain")),) if a.get("domain") else (),
                                      tags={"record": str(record)} if record else {},
                                      owner=owner_from(a.get("labels") or {}, owner_labels), fault_domains=fds))
        auths[str(a["name"])] = rid
    for cert in p.certificates:
        rid = f"//certificatemanager.googleapis.com/{in_project(str(cert['name']), p)}"
        managed = cert.get("managed") or {}
        parents = tuple(auths[a] for a in managed.get("dnsAuthorizations") or [] if a in auths)
        location = str(cert["name"]).split("/locations/", 1)[-1].split("/", 1)[0]
        out.resources.append(Resource(id=rid, kind=ResourceKind.CERTIFICATE, provider="gcp", connector=c,
                                      name=str(cert["name"]).rsplit("/", 1)[-1], parents=parents,
                                      names=tuple(str(d) for d in cert.get("sanDnsnames") or managed.get("domains")
                                                  or []),
                                      expires=parse_timestamp(cert.get("expireTime")),
                                      owner=owner_from(cert.get("labels") or {}, owner_labels),
                                      tags={"managed": "google" if managed else "self-managed"},
                                      fault_domains=(*fds, *_region(location))))
        built.targets.append(Target(rid, "certificate", rid))
    for m in p.certificate_maps:
        rid = f"//certificatemanager.googleapis.com/{in_project(str(m['name']), p)}"
        out.resources.append(Resource(id=rid, kind=ResourceKind.CERTIFICATE, provider="gcp", connector=c,
                                      name=f"certificate map {str(m['name']).rsplit('/', 1)[-1]}",
                                      owner=owner_from(m.get("labels") or {}, owner_labels), fault_domains=fds))
        built.targets.append(Target(rid, "certificate-map", rid))
