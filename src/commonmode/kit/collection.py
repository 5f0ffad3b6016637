"""One connector run: what it asked, what it could not see, and the result it returns.

A `Collection` runs each call through `attempt`: progress is shown, the deadline is checked, and a failure
is classified by the connector's one error hook (`Errors`) as absent (nothing there: the default, no gap),
a gap (recorded, the run becomes partial) or fatal (re-raised: the connector stops). `finish()` turns the
gaps and the call counts into the ConnectorResult. A refused call is never an empty list."""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from commonmode.connector import ConnectorResult, ConnectorSettings, InventoryParts, ProgressFn
from commonmode.kit.client import CallCounter, CallPolicy
from commonmode.kit.errors import DeadlineReached, ReadOnlyViolation
from commonmode.model import Inventory, RunStatus

log = logging.getLogger(__name__)

T = TypeVar("T")


class Failure(enum.Enum):
    """What a failed call means for the run."""

    ABSENT = "absent"  # the thing is not there (an organization not in use): the default, no gap
    GAP = "gap"  # not seen: recorded, the run is partial
    FATAL = "fatal"  # the connector cannot go on: re-raised


class Errors:
    """A connector's error hook: how its failures are classified and said. The default: a read-only
    violation is fatal, every other Exception a gap named by its type and message. Subclass it once per
    connector (and nowhere else)."""

    def classify(self, what: str, exc: Exception) -> Failure:
        """What a failure of the call `what` means."""
        return Failure.FATAL if isinstance(exc, ReadOnlyViolation) else Failure.GAP

    def describe(self, what: str, exc: Exception) -> str:
        """The gap, one line: which call, and the provider's answer in its own words."""
        if isinstance(exc, DeadlineReached):
            return f"{what}: {exc}"
        return f"{what}: {type(exc).__name__}: {exc}"


@dataclass
class Collection:
    """The state of one connector run, shared by every thread of it; `within()` views share it too."""

    settings: ConnectorSettings
    provider: str
    progress: ProgressFn
    errors: Errors = field(default_factory=Errors)
    policy: CallPolicy | None = None  # default: CallPolicy.from_settings(settings)
    gaps: list[str] = field(default_factory=list)
    calls: CallCounter = field(default_factory=CallCounter)
    gap_prefix: str = ""  # a view's scope, e.g. "account 111122223333: "
    progress_prefix: str = ""

    def __post_init__(self) -> None:
        if self.policy is None:
            self.policy = CallPolicy.from_settings(self.settings)

    @property
    def name(self) -> str:
        """The connector instance's name."""
        return self.settings.name

    def within(self, *, gaps: str = "", progress: str = "") -> Collection:
        """A view for one part of the run (an account, a region) whose gaps and progress lines start with
        these prefixes; gaps, calls and policy are the same objects."""
        return dataclasses.replace(self, gap_prefix=self.gap_prefix + gaps,
                                   progress_prefix=self.progress_prefix + progress)

    def say(self, what: str, done: int = 0, total: int | None = None) -> None:
        """Show progress."""
        self.progress(f"{self.progress_prefix}{what}", done, total)

    def gap(self, text: str) -> None:
        """Record something the run could not see (in this view's scope)."""
        self.gaps.append(f"{self.gap_prefix}{text}")

    def past_deadline(self, what: str) -> bool:
        """True, with a gap for `what`, once the connector's deadline has passed: nothing more is read."""
        assert self.policy is not None
        if not self.policy.past_deadline():
            return False
        self.deadline_gap(what)
        return True

    def deadline_gap(self, what: str) -> None:
        """Record that `what` was not read because the connector's deadline was reached."""
        self.gap(f"{what}: not read, the connector's deadline of {self.settings.deadline} s was reached")

    def attempt(self, what: str, fn: Callable[[], T], default: T, *, deadline: bool = True, note: str = "") -> T:
        """`fn()`, or `default` when it fails (a gap naming `what`, or nothing when the hook calls it absent)
        or when the deadline has passed (checked unless `deadline` is False). A fatal failure is re-raised.
        `note` is added to the gap: what the run does without it."""
        self.say(what)
        if deadline and self.past_deadline(what):
            return default
        try:
            return fn()
        except Exception as exc:  # the connector's hook decides; nothing is swallowed unrecorded
            kind = self.errors.classify(what, exc)
            if kind is Failure.FATAL:
                raise
            if kind is Failure.GAP:
                self.gap(self.errors.describe(what, exc) + (f"; {note}" if note else ""))
            else:
                log.debug("%s: absent (%s)", what, type(exc).__name__)
            return default

    def call_stats(self) -> dict[str, int]:
        """`api_calls` and one `calls.<operation>` per operation counted, for the result's stats."""
        return {"api_calls": sum(self.calls.values()), **{f"calls.{k}": v for k, v in sorted(self.calls.items())}}

    def failed(self, reason: str) -> ConnectorResult:
        """The result of a run that could not start (cannot connect, credential refused): one gap,
        `<provider> <name>: <reason>`."""
        return ConnectorResult(connector=self.name, provider=self.provider, status=RunStatus.FAILED,
                               gaps=(f"{self.provider} {self.name}: {reason}",))

    def finish(self, built: InventoryParts | Inventory, stats: Mapping[str, int] | None = None) -> ConnectorResult:
        """The run's result: its inventory, every gap (the run's, then the build's), `partial` when there is
        any, and its stats (by default the call counts)."""
        gaps = [*self.gaps, *(built.gaps if isinstance(built, InventoryParts) else ())]
        inventory = built.inventory() if isinstance(built, InventoryParts) else built
        return ConnectorResult(connector=self.name, provider=self.provider,
                               status=RunStatus.PARTIAL if gaps else RunStatus.OK, inventory=inventory,
                               gaps=tuple(gaps), stats=dict(self.call_stats() if stats is None else stats))
