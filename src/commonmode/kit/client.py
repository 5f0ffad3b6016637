"""How a connector's client calls its provider: timeouts, retries with backoff, and the connector's
deadline, in one object built from the connector's settings (the common `timeout` and `deadline` keys).

botocore has its own retry machinery (the AWS client factory hands it `attempts` and the timeouts); a client
on any other SDK or plain HTTP runs its loop with `delay(attempt)` and stops sending past the deadline."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock

from commonmode.connector import CONNECT_TIMEOUT, ConnectorSettings


def _never() -> bool:
    return False


@dataclass(frozen=True, kw_only=True)
class CallPolicy:
    """Timeouts (seconds), attempts per call (the first included) with exponential backoff between them, and
    whether the connector's deadline has passed (then nothing more is sent)."""

    read_timeout: int = 30
    connect_timeout: int = CONNECT_TIMEOUT
    attempts: int = 4
    backoff: float = 0.2  # seconds before the second attempt; doubled each time
    max_backoff: float = 5.0
    deadline: int = 900  # seconds, for messages
    past_deadline: Callable[[], bool] = _never

    @classmethod
    def from_settings(cls, settings: ConnectorSettings, *, attempts: int = 4) -> CallPolicy:
        """The policy of one connector instance: its `timeout` (connecting: at most CONNECT_TIMEOUT) and its
        `deadline`, as the scan set it."""
        return cls(read_timeout=settings.timeout, connect_timeout=settings.connect_timeout, attempts=attempts,
                   deadline=settings.deadline, past_deadline=settings.past_deadline)

    def with_attempts(self, attempts: int) -> CallPolicy:
        """The same policy with another number of attempts (a first call that should fail fast)."""
        return dataclasses.replace(self, attempts=attempts)

    @property
    def timeouts(self) -> tuple[int, int]:
        """(connect, read) as `requests` takes them; connecting never waits longer than reading."""
        return min(self.connect_timeout, self.read_timeout), self.read_timeout

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (0 for the first) before the next one."""
        return min(self.backoff * 2.0 ** attempt, self.max_backoff)


class CallCounter(Counter[str]):
    """Calls made, by operation: a Counter that threads can add to. A connector's stats report it."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = Lock()

    def add(self, operation: str, n: int = 1) -> None:
        """Count `n` (one) call of `operation`."""
        with self._lock:
            self[operation] += n
