"""One scan: run every configured connector, correlate, store the run.

A connector that raises is recorded as `failed` with a one-line reason; the others' data is still
correlated and stored, and the run is `partial`. Nothing here turns a failure into an empty inventory.

The remediation steps specific to a provider are its connector's data (`remediation.toml` beside the module
of the Connector class, correlate.remediation): the scan reads them from the connector classes it loads and
hands the correlator a mapping provider → steps, so the correlator never names a provider.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from commonmode.config import Config
from commonmode.connector import ConnectorResult, ConnectorSettings, ProgressFn, Registry
from commonmode.correlate import Correlation, ProviderSteps, apply_declarations, correlate, provider_steps
from commonmode.correlate.remediation import RemediationError
from commonmode.errors import UsageError
from commonmode.model import Inventory, Labelled, RunStatus, Service
from commonmode.store import RunInfo, RunStore

log = logging.getLogger(__name__)

MAX_PARALLEL_CONNECTORS = 4
#: How often the scan looks at its connectors (and so how soon it sees Ctrl-C), in seconds.
POLL_SECONDS = 0.05
#: Seconds past a connector's deadline (and two of its timeouts) before the scan stops waiting for it.
WAIT_GRACE = 5


@dataclass(frozen=True)
class ScanOutcome:
    """What `scan` reports: the stored run, each connector's result, and the correlation."""

    run: RunInfo
    results: tuple[ConnectorResult, ...]
    correlation: Correlation | None


def run_status(results: Sequence[ConnectorResult]) -> RunStatus:
    """ok when every connector is ok, failed when none produced data, else partial."""
    if all(r.status is RunStatus.OK for r in results):
        return RunStatus.OK
    if all(r.status is RunStatus.FAILED for r in results):
        return RunStatus.FAILED
    return RunStatus.PARTIAL


def collect_one(registry: Registry, settings: ConnectorSettings, progress: ProgressFn) -> ConnectorResult:
    """Run one connector; any exception becomes a `failed` result naming the connector and the error."""
    cls = registry.load(settings.connector_type)
    log.debug("connector %s (%s): collecting", settings.name, settings.connector_type)
    started = time.monotonic()
    try:
        result = cls(settings).collect(progress)
    except UsageError:
        raise
    except Exception as exc:  # the boundary where a connector's failure becomes a recorded gap
        log.debug("connector %s failed", settings.name, exc_info=True)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return ConnectorResult(
            connector=settings.name, provider=getattr(cls, "provider", settings.connector_type),
            connector_type=settings.connector_type, status=RunStatus.FAILED,
            gaps=(f"{settings.name}: {type(exc).__name__}: {message}".rstrip(": "),),
        )
    inv = result.inventory
    log.debug("connector %s: %s in %.1f s: %d identities, %d resources, %d grants, %d gaps", settings.name,
              result.status.value, time.monotonic() - started, len(inv.identities), len(inv.resources),
              len(inv.grants), len(result.gaps))
    return _stamp(dataclasses.replace(result, connector_type=settings.connector_type), settings)


@dataclass
class _Job:
    settings: ConnectorSettings
    thread: threading.Thread | None = None
    result: ConnectorResult | BaseException | None = None  # or the exception to re-raise in the main thread
    give_up_at: float = 0.0


def collect_all(registry: Registry, connectors: Sequence[ConnectorSettings],
                progress_for: Callable[[str], ProgressFn]) -> tuple[ConnectorResult, ...]:
    """Run the connectors, at most MAX_PARALLEL_CONNECTORS at once, each in a daemon thread with its deadline.

    A connector stops by itself at its deadline (it checks `settings.past_deadline()` between calls, and each
    call is bounded by its timeout). One that has still not returned a grace period later (two timeouts and
    WAIT_GRACE seconds) is recorded `failed` and left behind: a daemon thread never holds the process. The
    main thread waits in short slices, so Ctrl-C (KeyboardInterrupt) stops the scan at once."""
    jobs = [_Job(s) for s in connectors]
    queue = list(jobs)
    while any(j.result is None for j in jobs):
        running = [j for j in jobs if j.thread is not None and j.result is None]
        while queue and len(running) < MAX_PARALLEL_CONNECTORS:
            job = queue.pop(0)
            now = time.monotonic()
            job.settings = dataclasses.replace(job.settings, deadline_at=now + job.settings.deadline)
            job.give_up_at = now + job.settings.deadline + 2 * job.settings.timeout + WAIT_GRACE
            job.thread = threading.Thread(target=_run, args=(job, registry, progress_for(job.settings.name)),
                                          name=f"connector-{job.settings.name}", daemon=True)
            job.thread.start()
            running.append(job)
        time.sleep(POLL_SECONDS)
        for job in running:
            if job.result is None and time.monotonic() > job.give_up_at:
                s = job.settings
                job.result = ConnectorResult(
                    connector=s.name, provider=getattr(registry.load(s.connector_type), "provider", s.connector_type),
                    connector_type=s.connector_type, status=RunStatus.FAILED,
                    gaps=(f"{s.name}: did not finish within its deadline of {s.deadline} s (stopped waiting for "
                          "it; nothing it read is used)",))
    for job in jobs:
        if isinstance(job.result, BaseException):
            raise job.result
    return tuple(job.result for job in jobs if isinstance(job.result, ConnectorResult))


def _run(job: _Job, registry: Registry, progress: ProgressFn) -> None:
    result: ConnectorResult | BaseException
    try:
        result = collect_one(registry, job.settings, progress)
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which re-raises it there
        result = exc
    if job.result is None:  # not already given up on
        job.result = result


def _stamp(result: ConnectorResult, settings: ConnectorSettings) -> ConnectorResult:
    """Add the instance's configured fault_domains to everything it saw."""
    if not settings.fault_domains:
        return result
    extra = settings.fault_domains

    inv = result.inventory
    return dataclasses.replace(result, inventory=dataclasses.replace(
        inv, identities=_labelled(inv.identities, extra), credentials=_labelled(inv.credentials, extra),
        stores=_labelled(inv.stores, extra), resources=_labelled(inv.resources, extra)))


def _labelled(entities: tuple[Labelled, ...], labels: tuple[str, ...]) -> tuple[Labelled, ...]:
    """The entities with `labels` added to their fault domains."""
    out = []
    for entity in entities:
        own: tuple[str, ...] = entity.fault_domains
        out.append(dataclasses.replace(entity, fault_domains=(*own, *labels)))
    return tuple(out)


def connector_package(cls: type) -> str | None:
    """The package a connector class is defined in (where its data files are), or None for a lone module."""
    module = sys.modules.get(cls.__module__)
    return getattr(module, "__package__", None) or None


def remediation_steps(registry: Registry, connector_types: Iterable[str]) -> dict[str, ProviderSteps]:
    """provider → the remediation steps its connector ships, from the classes of `connector_types` (the first
    of two connectors of one provider wins); a connector that ships none adds nothing."""
    found: dict[str, ProviderSteps] = {}
    for name in dict.fromkeys(connector_types):
        cls = registry.load(name)
        package = connector_package(cls)
        try:
            steps = provider_steps(package) if package is not None else None
        except RemediationError as exc:
            raise UsageError(f"connector {name!r}: {exc}") from None
        if steps is not None:
            found.setdefault(cls.provider, steps)
    return found


def builtin_remediation_steps(registry: Registry) -> dict[str, ProviderSteps]:
    """The remediation steps of every built-in connector: for entities whose provider no configured connector
    is (what a declared file or another provider's connector reports). Built-ins are our own code: no plugin
    the config does not name is ever imported."""
    names = [n for n in registry.names() if (e := registry.entry(n)) is not None and e.builtin]
    return remediation_steps(registry, names)


def resolve_aliases(service: Service, aliases: Mapping[str, str]) -> Service:
    """A declared service with the ids written in another accepted spelling replaced by the native id."""
    if not aliases:
        return service
    return dataclasses.replace(service, primary=tuple(aliases.get(i, i) for i in service.primary),
                               backup=tuple(aliases.get(i, i) for i in service.backup))


def scan(
    config: Config,
    registry: Registry,
    store: RunStore,
    *,
    progress_for: Callable[[str], ProgressFn],
    now: datetime | None = None,
) -> ScanOutcome:
    """Collect from every connector in `config`, correlate, and record the run in `store`."""
    if not config.connectors:
        raise UsageError(f"{config.path}: no connector configured; add an [[aws]], [[vault]] or [[declared]] table "
                         "(`commonmode connectors` lists the installed types)")
    started = datetime.now(UTC)
    # a malformed remediation.toml is said before anything is collected
    steps = remediation_steps(registry, (c.connector_type for c in config.connectors))
    results = collect_all(registry, config.connectors, progress_for)
    status = run_status(results)
    correlation = None
    if status is not RunStatus.FAILED:
        inventory = Inventory.merge(r.inventory for r in results)
        declared = {d.subject: d.labels for d in config.fault_domains}
        inventory = apply_declarations(inventory, config.credentials, declared)
        services = tuple(resolve_aliases(s, inventory.aliases) for s in config.services)
        providers = {*(i.provider for i in inventory.identities), *(s.provider for s in inventory.stores),
                     *(r.provider for r in inventory.resources)}
        if providers - set(steps):
            steps = {**builtin_remediation_steps(registry), **steps}
        correlation = correlate(inventory, declared_services=services, now=now,
                                expiry_days=config.expiry_days, unused_key_days=config.unused_key_days,
                                max_key_age_days=config.max_key_age_days,
                                protected_environments=config.protected_environments,
                                remediation=steps)
    run = store.record_run(started=started, config=str(config.path), results=results,
                           correlation=correlation, status=status)
    return ScanOutcome(run=run, results=results, correlation=correlation)
