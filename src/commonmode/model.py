"""The typed inventory every connector returns and the correlator reads.

Connectors translate provider data into these objects; raw SDK dicts never leave a connector.
All classes are frozen and keyword-only so that a half-built entity cannot be passed around,
and the ones that carry an explanation (`Grant.via`, `Finding.evidence`) refuse to be built without it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TypeVar


class Capability(str, enum.Enum):
    """The fixed capability vocabulary: what an identity can do to a resource."""

    DNS_WRITE = "dns.write"
    DNS_ADMIN = "dns.admin"
    FAILOVER_WRITE = "failover.write"
    SECRET_READ = "secret.read"  # noqa: S105 - a capability name, not a password
    SECRET_WRITE = "secret.write"  # noqa: S105 - a capability name, not a password
    CERT_ISSUE = "cert.issue"
    IDENTITY_ASSUME = "identity.assume"


#: Capabilities that change where traffic goes: these are "DNS/failover power".
STEERING = frozenset({Capability.DNS_WRITE, Capability.DNS_ADMIN, Capability.FAILOVER_WRITE})


class Severity(str, enum.Enum):
    """Finding severity, ordered from most to least severe by `rank`."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """4 for critical down to 1 for low, so `a.rank >= b.rank` means "at least as severe"."""
        return {"critical": 4, "high": 3, "medium": 2, "low": 1}[self.value]


class RunStatus(str, enum.Enum):
    """Outcome of a scan run or of one connector within it."""

    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"


class FindingStatus(str, enum.Enum):
    """Lifecycle of a finding across runs."""

    NEW = "new"
    OPEN = "open"
    RESOLVED = "resolved"


class ResourceKind(str, enum.Enum):
    """What a path is made of."""

    DNS_ZONE = "dns-zone"
    DNS_RECORD = "dns-record"
    HEALTH_CHECK = "health-check"
    ROUTING_CONTROL = "routing-control"  # traffic/routing policy, ARC routing control, traffic manager
    SECRET = "secret"  # noqa: S105 - a resource kind, not a password
    CERTIFICATE = "certificate"
    CERT_ISSUER = "cert-issuer"  # PKI role, ACM PCA, Key Vault issuer

    @property
    def is_dns(self) -> bool:
        """True for the kinds that live in a DNS control plane."""
        return self in (ResourceKind.DNS_ZONE, ResourceKind.DNS_RECORD)


#: Owner values that name nobody (OWASP NHI1: an owner gap).
PLACEHOLDER_OWNERS = frozenset({"", "tbd", "tba", "unknown", "n/a", "na", "none", "null", "-", "todo", "?"})


def has_owner(owner: str | None) -> bool:
    """True when `owner` names an accountable person or team rather than nobody or a placeholder."""
    return owner is not None and owner.strip().lower() not in PLACEHOLDER_OWNERS


def _frozen_map(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(value or {}))


def _labels(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(value)))


@dataclass(frozen=True, kw_only=True, slots=True)
class Identity:
    """A non-human identity: IAM user or role, service principal, service account, Vault role or entity..."""

    id: str
    provider: str
    kind: str
    name: str
    connector: str
    owner: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    fault_domains: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(self, "id", "provider", "kind", "connector")
        object.__setattr__(self, "tags", _frozen_map(self.tags))
        object.__setattr__(self, "fault_domains", _labels(self.fault_domains))


@dataclass(frozen=True, kw_only=True, slots=True)
class Credential:
    """Something that lets a holder act as an identity. Never carries the secret's value."""

    id: str
    identity_id: str
    kind: str
    connector: str
    created: datetime | None = None
    expires: datetime | None = None
    last_used: datetime | None = None
    stored_in: str | None = None  # a Store id, or the id of the secret Resource that holds it
    usage_tracked: bool = False  # the provider reports last use (AWS access keys): "unused" can be judged
    fault_domains: tuple[str, ...] = ()
    #: a static key meant to be rotated (an AWS access key, a GCP service account key): past
    #: correlate.max_key_age_days its age alone is a finding
    long_lived: bool = False

    def __post_init__(self) -> None:
        _require(self, "id", "identity_id", "kind", "connector")
        object.__setattr__(self, "fault_domains", _labels(self.fault_domains))


@dataclass(frozen=True, kw_only=True, slots=True)
class Store:
    """Where credentials and secrets live: a Vault mount, a Secrets Manager account+region, a Key Vault."""

    id: str
    provider: str
    kind: str
    name: str
    connector: str
    owner: str | None = None
    fault_domains: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(self, "id", "provider", "kind", "connector")
        object.__setattr__(self, "fault_domains", _labels(self.fault_domains))


@dataclass(frozen=True, kw_only=True, slots=True)
class Resource:
    """Anything a path is made of.

    `parents` are the ids of what the resource cannot exist without: a record's zone and health check,
    a secret's store, a certificate's issuer. `names` are DNS names: a zone's apex, a record's name, a
    certificate's domains, or the patterns an issuer may issue for (`*.example.com` = any name below).
    `control_plane` labels the DNS control plane that manages a zone or record (`route53:account:1111...`).
    """

    id: str
    kind: ResourceKind
    provider: str
    name: str
    connector: str
    parents: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    public: bool | None = None
    control_plane: str | None = None
    expires: datetime | None = None
    owner: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    fault_domains: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(self, "id", "provider", "connector")
        object.__setattr__(self, "kind", ResourceKind(self.kind))
        object.__setattr__(self, "names", tuple(normalize_dns_name(n) for n in self.names))
        object.__setattr__(self, "tags", _frozen_map(self.tags))
        object.__setattr__(self, "fault_domains", _labels(self.fault_domains))


#: An entity that carries fault-domain labels (what config and connector instances may add labels to).
Labelled = TypeVar("Labelled", Identity, Credential, Store, Resource)


@dataclass(frozen=True, kw_only=True, slots=True)
class Grant:
    """identity → capability → resource, with the chain of policies that gives it.

    `conditional` is true when the grant rests on a condition the scanner could not settle.
    """

    identity_id: str
    capability: Capability
    resource_id: str
    via: tuple[str, ...]
    connector: str
    conditional: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "capability", Capability(self.capability))
        steps: tuple[object, ...] = self.via  # checked as data: a connector may hand over anything
        if not steps or not all(isinstance(step, str) and step for step in steps):
            raise ValueError(f"grant {self.identity_id} {self.capability.value} {self.resource_id}: "
                             "via must explain it")
        if type(steps) is not tuple:  # a list from a plugin: hashable, and the same row as the tuple
            object.__setattr__(self, "via", tuple(steps))
        _require(self, "identity_id", "resource_id", "connector")


@dataclass(frozen=True, kw_only=True, slots=True)
class Service:
    """A failover pair: the resources of the primary path and of the backup path."""

    name: str
    primary: tuple[str, ...]
    backup: tuple[str, ...]
    source: str  # "declared" or the connector that discovered it
    owner: str | None = None

    def __post_init__(self) -> None:
        _require(self, "name", "source")
        if not self.primary or not self.backup:
            raise ValueError(f"service {self.name!r}: both primary and backup need at least one resource")


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """A common-mode dependency or hygiene problem, with the evidence that proves it."""

    rule: str
    severity: Severity
    services: tuple[str, ...]
    subjects: tuple[str, ...]
    evidence: tuple[str, ...]
    remediation: str
    fingerprint: str
    connectors: tuple[str, ...] = ()  # whose data the evidence rests on (lifecycle: not resolved if they failed)

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))
        if not self.evidence:
            raise ValueError(f"finding {self.rule} {self.subjects}: evidence must not be empty")
        _require(self, "rule", "remediation", "fingerprint")

    @property
    def service(self) -> str | None:
        """The service the finding is about, or None for a finding that spans several (owner gaps)."""
        return self.services[0] if len(self.services) == 1 else None


@dataclass(frozen=True, kw_only=True, slots=True)
class Inventory:
    """Everything one or more connectors saw."""

    identities: tuple[Identity, ...] = ()
    credentials: tuple[Credential, ...] = ()
    stores: tuple[Store, ...] = ()
    resources: tuple[Resource, ...] = ()
    grants: tuple[Grant, ...] = ()
    services: tuple[Service, ...] = ()
    #: other spellings of ids that people write in config (`secret/dns/primary` for a KV v2 path's id)
    aliases: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def merge(parts: Iterable[Inventory]) -> Inventory:
        """Concatenate inventories. Connectors share ids only for external workloads (a GitHub repository two
        clouds trust is one identity): those are reconciled into one, their tags and fault domains united."""
        parts = list(parts)
        return Inventory(
            identities=_merge_identities(x for p in parts for x in p.identities),
            credentials=tuple(x for p in parts for x in p.credentials),
            stores=tuple(x for p in parts for x in p.stores),
            resources=tuple(x for p in parts for x in p.resources),
            grants=tuple(x for p in parts for x in p.grants),
            services=tuple(x for p in parts for x in p.services),
            aliases=_merge_aliases(p.aliases for p in parts),
        )


def _merge_identities(identities: Iterable[Identity]) -> tuple[Identity, ...]:
    """One identity per id, in first-seen order: the first as it is, with every tag (a key two connectors give
    different values keeps both, joined by "; ") and every fault domain of the others."""
    out: dict[str, Identity] = {}
    for i in identities:
        first = out.get(i.id)
        if first is None:
            out[i.id] = i
            continue
        tags = dict(first.tags)
        for k, v in i.tags.items():
            if k not in tags or not tags[k]:
                tags[k] = v
            elif v and v not in tags[k].split("; "):
                tags[k] = f"{tags[k]}; {v}"
        out[i.id] = dataclasses.replace(first, tags=tags, fault_domains=(*first.fault_domains, *i.fault_domains))
    return tuple(out.values())


def _merge_aliases(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Union of alias maps; an alias two connectors resolve differently is ambiguous and dropped."""
    out: dict[str, str] = {}
    clash: set[str] = set()
    for m in maps:
        for k, v in m.items():
            if k in out and out[k] != v:
                clash.add(k)
            out.setdefault(k, v)
    return {k: v for k, v in out.items() if k not in clash}


def normalize_dns_name(name: str) -> str:
    """Lower-case, no trailing dot: the form names are compared in."""
    return name.strip().rstrip(".").lower()


def _require(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{type(obj).__name__}.{name} must be a non-empty string, got {value!r}")
