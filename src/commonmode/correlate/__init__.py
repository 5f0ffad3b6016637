"""The correlator: provider-agnostic, pure code over an Inventory.

`correlate()` adds derived grants, merges discovered and declared services (declared wins), computes each
path's dependency closure, and runs every rule in RULES. Cost grows with the estate and with what each
closure reaches; nothing loops over pairs of identities.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from commonmode.correlate.closure import Closure, compute_closure
from commonmode.correlate.derive import derived_grants
from commonmode.correlate.failover import FailoverGraph, build_graphs
from commonmode.correlate.index import Index
from commonmode.correlate.remediation import ProviderSteps, load_steps
from commonmode.correlate.rules import RULES, Context, RecoveryOption, data_rules, fingerprint, recovery_options
from commonmode.model import Credential, Finding, Inventory, Labelled, Service

__all__ = [
    "RULES",
    "Correlation",
    "ProviderSteps",
    "apply_declarations",
    "correlate",
    "fingerprint",
    "merge_services",
    "provider_steps",
]


@dataclass(frozen=True)
class Correlation:
    """The correlator's output: the enriched inventory, the services it judged, and what it found."""

    inventory: Inventory
    services: tuple[Service, ...]
    findings: tuple[Finding, ...]
    recovery: tuple[RecoveryOption, ...]
    closures: Mapping[str, tuple[Closure, Closure]]
    #: per service, what failing over needs (correlate.failover): what `simulate` answers scenarios from
    failover: tuple[FailoverGraph, ...] = ()

    def missing(self, service: str) -> list[str]:
        """Path resource ids of `service` that no connector reported."""
        p, b = self.closures[service]
        return [*p.missing, *b.missing]


def merge_services(discovered: Iterable[Service], declared: Iterable[Service]) -> tuple[Service, ...]:
    """Discovered and declared failover pairs, one per name; a declared one replaces a discovered one."""
    by_name: dict[str, Service] = {}
    for s in discovered:
        by_name.setdefault(s.name, s)
    for s in declared:
        by_name[s.name] = s
    return tuple(by_name[n] for n in sorted(by_name))


def apply_declarations(
    inventory: Inventory,
    credentials: Sequence[Credential] = (),
    fault_domains: Mapping[str, Sequence[str]] | None = None,
) -> Inventory:
    """Add config-declared credential links, and config-declared fault-domain labels to the entities named."""
    extra = dict(fault_domains or {})

    def label(entity: Labelled) -> Labelled:
        more: Sequence[str] = extra.get(entity.id, ())
        return dataclasses.replace(entity, fault_domains=(*entity.fault_domains, *more)) if more else entity

    return Inventory(
        identities=tuple(label(x) for x in inventory.identities),
        credentials=tuple(label(x) for x in (*inventory.credentials, *credentials)),
        stores=tuple(label(x) for x in inventory.stores),
        resources=tuple(label(x) for x in inventory.resources),
        grants=inventory.grants,
        services=inventory.services,
        aliases=inventory.aliases,
    )


def provider_steps(package: str) -> ProviderSteps | None:
    """The remediation steps a connector package ships (its `remediation.toml`), or None when it ships none."""
    return load_steps(package, data_rules())


def correlate(
    inventory: Inventory,
    *,
    declared_services: Iterable[Service] = (),
    now: datetime | None = None,
    expiry_days: int = 30,
    unused_key_days: int = 90,
    max_key_age_days: int = 90,
    protected_environments: Sequence[str] = (),
    remediation: Mapping[str, ProviderSteps] | None = None,
) -> Correlation:
    """Run every rule over `inventory` and return the findings, stable-sorted.

    `remediation` maps a provider (an entity's `provider` field) to the steps its connector ships; a finding
    about an entity of a provider without them gets the rule's generic steps."""
    index = Index(inventory)
    extra = derived_grants(index)
    index.add_grants(extra)
    enriched = dataclasses.replace(inventory, grants=(*inventory.grants, *extra))
    services = merge_services(inventory.services, declared_services)
    closures = {
        s.name: (compute_closure(index, "primary", s.primary), compute_closure(index, "backup", s.backup))
        for s in services
    }
    ctx = Context(
        index=index,
        services=services,
        closures=closures,
        now=now or datetime.now(UTC),
        expiry_days=expiry_days,
        unused_key_days=unused_key_days,
        max_key_age_days=max_key_age_days,
        protected_environments=tuple(protected_environments),
        recovery={},
        remediation=dict(remediation or {}),
    )
    for s in services:
        ctx.recovery[s.name] = recovery_options(ctx, s)
    findings: dict[str, Finding] = {}
    for rule in RULES.values():
        for f in rule.check(ctx):
            findings.setdefault(f.fingerprint, f)
    ordered = sorted(findings.values(), key=lambda f: (-f.severity.rank, f.rule, f.services, f.subjects))
    return Correlation(
        inventory=enriched,
        services=services,
        findings=tuple(ordered),
        recovery=tuple(o for s in services for o in ctx.recovery[s.name]),
        closures=closures,
        failover=build_graphs(index, closures),
    )
