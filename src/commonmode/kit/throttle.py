"""Polite request rates: at most N requests in any window of T seconds, per target and API.

A provider's API budget is shared with the automation it protects (external-dns, cert-manager, the failover
tooling itself): a scanner that spends it can make production calls fail during the very incident it
prepares for. So a connector paces itself below the documented rate, before the provider has to throttle it.

The limit is a sliding window, not a token bucket: a bucket that starts full with N tokens and refills at N
per second lets through N at once and N more within the same second (2N in one window); the window lets
through at most N in *any* interval of T seconds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from threading import Lock

__all__ = ["SlidingWindow"]


class SlidingWindow:
    """`acquire()` before each request: it waits, when needed, until sending keeps at most `limit` requests
    in every interval of `seconds` (each request's send time is at least `seconds` after the send time
    `limit` requests before it). Thread-safe: the threads of one connector share one window per target."""

    def __init__(self, limit: int, seconds: float = 1.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if limit < 1 or seconds <= 0:
            raise ValueError(f"a rate needs at least 1 request per positive window, got {limit} per {seconds} s")
        self.limit, self.seconds = limit, seconds
        self._clock, self._sleep = clock, sleep
        self._sent: deque[float] = deque(maxlen=limit)  # the last `limit` send times
        self._lock = Lock()
        #: how many requests had to wait, and how long in all
        self.delayed = 0
        self.waited = 0.0

    def acquire(self) -> float:
        """Wait for a free place in the window, take it, and return how long that took (0.0: no wait). The
        lock is held while waiting, so the requests of all threads go out in the order they asked."""
        with self._lock:
            now = self._clock()
            wait = 0.0
            if len(self._sent) == self.limit:
                wait = self._sent[0] + self.seconds - now
                if wait > 0:
                    self._sleep(wait)
                    now = max(self._clock(), self._sent[0] + self.seconds)
                    self.delayed += 1
                    self.waited += wait
                else:
                    wait = 0.0
            self._sent.append(now)
            return wait
