"""Resources of each account that a capability acts on, and the stores secrets live in: Route 53 hosted zones,
record sets and health checks, ARC routing controls, Secrets Manager secrets, SSM SecureString parameters,
ACM PCA certificate authorities and ACM certificates. Each becomes a Target the grant rules decide on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import commonmode_aws.policy as P
from commonmode.kit import owner_from, parse_timestamp
from commonmode.model import Credential, Resource, ResourceKind, Store
from commonmode_aws.estate import RESOURCE_TAG, Estate, Target
from commonmode_aws.ids import (
    health_check_arn,
    parameter_arn,
    parameter_paths,
    record_id,
    record_name,
    unescape,
    zone_arn,
)
from commonmode_aws.services import failover_services
from commonmode_aws.snapshot import AccountData, tags_of


def tag_context(tags: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """aws:ResourceTag/<key> for each tag read (keys compared case-insensitively; every other tag key is then
    known to be absent: pass RESOURCE_TAG in absent_prefixes)."""
    return {f"{RESOURCE_TAG}{k.lower()}": (v,) for k, v in tags.items()}


def add_resources(estate: Estate, acct: AccountData) -> list[Target]:
    """The account's Route 53 zones, record sets and health checks, ARC routing controls, Secrets Manager
    secrets, SSM SecureString parameters, ACM PCA CAs and ACM certificates, with the stores they live in;
    the targets grants are decided on; the failover services its records describe."""
    opts, out = estate.opts, estate.out
    a, c = acct.account, opts.connector
    acct_fd = f"aws:account:{a}"
    targets: list[Target] = []
    hc_by_id = {h["Id"]: h for h in acct.health_checks}
    for h in acct.health_checks:
        cfg = h.get("HealthCheckConfig", {})
        parents: tuple[str, ...] = ()
        if cfg.get("Type") == "RECOVERY_CONTROL" and cfg.get("RoutingControlArn"):
            rc = cfg["RoutingControlArn"]
            rc_res = Resource(id=rc, kind=ResourceKind.ROUTING_CONTROL, provider="aws", name=rc.rsplit("/", 1)[-1],
                              connector=c, fault_domains=(acct_fd,))
            out.resources.append(rc_res)
            targets.append(Target(rc_res, "routingcontrol", rc, a))
            parents = (rc,)
        tags = acct.health_check_tags.get(h["Id"], {})
        # Health checks are changed through Route 53's control plane too (UpdateHealthCheck).
        res = Resource(id=health_check_arn(h["Id"]), kind=ResourceKind.HEALTH_CHECK, provider="aws",
                       name=tags.get("Name", h["Id"]), connector=c, parents=parents,
                       owner=owner_from(tags, opts.owner_tags), tags=tags,
                       fault_domains=(acct_fd, "dns-provider:route53"))
        out.resources.append(res)
        targets.append(Target(res, "healthcheck", res.id, a, absent_prefixes=(RESOURCE_TAG,)))
    for z in acct.zones:
        zid = z["Id"].rsplit("/", 1)[-1]
        tags = acct.zone_tags.get(zid, {})
        public = not z.get("Config", {}).get("PrivateZone", False)
        apex = z["Name"].rstrip(".").lower()
        zres = Resource(id=zone_arn(zid), kind=ResourceKind.DNS_ZONE, provider="aws", name=apex, connector=c,
                        names=(apex,), public=public, control_plane=f"route53:account:{a}",
                        owner=owner_from(tags, opts.owner_tags), tags=tags,
                        fault_domains=(acct_fd, "dns-provider:route53"))
        out.resources.append(zres)
        # Route 53 does not authorize on tags: its hosted-zone requests carry no aws:ResourceTag key (Service
        # Authorization Reference, Route 53: the hostedzone resource type has no tag condition keys).
        zt = Target(zres, "hostedzone", zres.id, a, absent_prefixes=(RESOURCE_TAG,))
        targets.append(zt)
        by_name: dict[tuple[str, str], list[tuple[dict[str, Any], Resource]]] = defaultdict(list)
        for rr in acct.records.get(zid, []):
            record_parents = [zres.id]
            if rr.get("HealthCheckId") and rr["HealthCheckId"] in hc_by_id:
                record_parents.append(health_check_arn(rr["HealthCheckId"]))
            name = record_name(rr["Name"])
            res = Resource(id=record_id(zid, rr), kind=ResourceKind.DNS_RECORD, provider="aws",
                           name=f"{name} {rr['Type']}" + (f" {rr['SetIdentifier']}" if rr.get("SetIdentifier") else ""),
                           connector=c, parents=tuple(record_parents), names=(name.rstrip("."),), public=public,
                           control_plane=zres.control_plane, fault_domains=zres.fault_domains)
            out.resources.append(res)
            zt.records.append((res, P.normalize_record_name(unescape(name)), rr["Type"].upper()))
            by_name[(name, rr["Type"])].append((rr, res))
        out.services.extend(failover_services(by_name, zres, opts))
    for region, secrets in acct.secrets.items():
        store = Store(id=f"aws:secretsmanager:{a}:{region}", provider="aws", kind="secrets-manager",
                      name=f"Secrets Manager {a} {region}", connector=c,
                      fault_domains=(acct_fd, f"aws:region:{region}"))
        if secrets:
            out.stores.append(store)
        for s in secrets:
            tags = tags_of(s.get("Tags"))
            res = Resource(id=s["ARN"], kind=ResourceKind.SECRET, provider="aws", name=s["Name"], connector=c,
                           parents=(store.id,), owner=owner_from(tags, opts.owner_tags), tags=tags,
                           fault_domains=store.fault_domains)
            out.resources.append(res)
            kms = s.get("KmsKeyId")
            note = (f"reading it also needs kms:Decrypt on {kms} (key policy not evaluated)"
                    if kms and not kms.endswith("alias/aws/secretsmanager") else None)
            rp = (estate.statements(s["ResourcePolicy"], f"secret {s['Name']} resource policy")
                  if s.get("ResourcePolicy") else ())
            targets.append(Target(res, "secret", s["ARN"], a, policy=rp, note=note, context=tag_context(tags),
                                   absent_prefixes=(RESOURCE_TAG,)))
            holder = tags.get(opts.credential_tag)
            if holder:
                out.credentials.append(Credential(
                    id=f"{holder}@{s['ARN']}", identity_id=holder, kind="stored-credential", connector=c,
                    stored_in=s["ARN"], fault_domains=store.fault_domains))
    for region, params in acct.parameters.items():
        store = Store(id=f"aws:ssm:{a}:{region}", provider="aws", kind="ssm-parameter-store",
                      name=f"SSM Parameter Store {a} {region}", connector=c,
                      fault_domains=(acct_fd, f"aws:region:{region}"))
        if params:
            out.stores.append(store)
        for prm in params:
            tags = tags_of(prm.get("Tags"))
            name = prm["Name"]
            arn = prm.get("ARN") or parameter_arn(region, a, name)
            res = Resource(id=arn, kind=ResourceKind.SECRET, provider="aws", name=name, connector=c,
                           parents=(store.id,), owner=owner_from(tags, opts.owner_tags), tags=tags,
                           fault_domains=store.fault_domains)
            out.resources.append(res)
            kms = prm.get("KeyId") or "alias/aws/ssm"
            note = (None if kms.endswith("alias/aws/ssm") else
                    f"reading it also needs kms:Decrypt on {kms} (key policy not evaluated)")
            ctx = tag_context(tags)
            targets.append(Target(res, "parameter", arn, a, note=note, context=ctx, absent_prefixes=(RESOURCE_TAG,)))
            for path in parameter_paths(name):  # GetParametersByPath is authorised on the path asked for
                targets.append(Target(res, "parameter-path", parameter_arn(region, a, path), a, note=note,
                                       context=ctx))
            holder = tags.get(opts.credential_tag)
            if holder:
                out.credentials.append(Credential(
                    id=f"{holder}@{arn}", identity_id=holder, kind="stored-credential", connector=c,
                    stored_in=arn, fault_domains=store.fault_domains))
    for region, cas in acct.authorities.items():
        for ca in cas:
            tags = tags_of(ca.get("Tags"))
            subject = (ca.get("CertificateAuthorityConfiguration") or {}).get("Subject") or {}
            res = Resource(id=ca["Arn"], kind=ResourceKind.CERT_ISSUER, provider="aws",
                           name=subject.get("CommonName") or ca["Arn"].rsplit("/", 1)[-1], connector=c,
                           expires=parse_timestamp(ca.get("NotAfter")), owner=owner_from(tags, opts.owner_tags),
                           tags=tags, fault_domains=(acct_fd, f"aws:region:{region}"))
            out.resources.append(res)
            rp = estate.statements(ca["Policy"], f"CA {res.name} resource policy") if ca.get("Policy") else ()
            targets.append(Target(res, "certificate-authority", ca["Arn"], a, policy=rp, context=tag_context(tags),
                                   absent_prefixes=(RESOURCE_TAG,)))
    for region, certs in acct.certificates.items():
        for cert in certs:
            names = tuple(dict.fromkeys([cert.get("DomainName", ""), *cert.get("SubjectAlternativeNames", [])]))
            parents = (cert["CertificateAuthorityArn"],) if cert.get("CertificateAuthorityArn") else ()
            res = Resource(id=cert["CertificateArn"], kind=ResourceKind.CERTIFICATE, provider="aws",
                           name=cert.get("DomainName", cert["CertificateArn"]), connector=c, parents=parents,
                           names=tuple(n.lower() for n in names if n), expires=parse_timestamp(cert.get("NotAfter")),
                           fault_domains=(acct_fd, f"aws:region:{region}"))
            out.resources.append(res)
            targets.append(Target(res, "certificate", res.id, a))
    return targets
