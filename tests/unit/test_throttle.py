"""kit.SlidingWindow: at most N requests in any window of T seconds (the polite-rate rule), with a clock the
test controls, and with real threads."""

from __future__ import annotations

import random
import threading
import time

import pytest

from commonmode.kit import SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def most_in_any_window(times: list[float], seconds: float) -> int:
    """The largest number of `times` in one half-open interval [t, t + seconds) (two sends one window apart,
    to the last bit of a float, are in different windows)."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - seconds + 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


def token_bucket(arrivals: list[float], capacity: int, rate: float) -> list[float]:
    """When a bucket that starts full and refills at `rate` per second would send each request."""
    tokens, last, out = float(capacity), 0.0, []
    for t in arrivals:
        t = max(t, out[-1] if out else 0.0)
        tokens = min(capacity, tokens + (t - last) * rate)
        if tokens < 1:
            t += (1 - tokens) / rate
            tokens = 1.0
        tokens -= 1
        last = t
        out.append(t)
    return out


def test_a_burst_waits_for_the_window_a_token_bucket_would_let_through() -> None:
    clock = Clock()
    window = SlidingWindow(5, clock=clock, sleep=clock.sleep)
    sends = []
    for _ in range(12):  # all at once
        window.acquire()
        sends.append(clock.now)
    assert sends == [0.0] * 5 + [1.0] * 5 + [2.0] * 2
    # the 6th and the 11th slept; the ones after each went out in the same second, in the order they asked
    assert most_in_any_window(sends, 1.0) == 5 and window.delayed == 2 and window.waited == 2.0
    # the same burst through a bucket of 5 refilled at 5/s: 5 at once, then 4 more before the second is over
    bucket = token_bucket([0.0] * 12, 5, 5.0)
    assert most_in_any_window(bucket, 1.0) == 9


@pytest.mark.parametrize("seed", range(20))
def test_no_window_of_random_arrivals_holds_more_than_the_limit(seed: int) -> None:
    rng = random.Random(seed)
    limit, seconds = rng.randint(1, 8), rng.choice([0.5, 1.0, 2.0])
    clock = Clock()
    window = SlidingWindow(limit, seconds, clock=clock, sleep=clock.sleep)
    sends = []
    for _ in range(200):
        clock.now += rng.choice([0.0, 0.0, rng.random() * seconds / limit, rng.random() * seconds])
        asked = clock.now
        waited = window.acquire()
        assert clock.now == pytest.approx(asked + waited)
        sends.append(clock.now)
    assert most_in_any_window(sends, seconds) <= limit
    # and it never waits when it need not: each wait ends exactly one window after the send `limit` before
    for k in range(limit, len(sends)):
        assert sends[k] >= sends[k - limit] + seconds - 1e-9


def test_requests_spread_out_are_never_delayed() -> None:
    clock = Clock()
    window = SlidingWindow(5, clock=clock, sleep=clock.sleep)
    for k in range(50):
        clock.now = k * 0.25  # 4 a second, exactly (binary fractions)
        assert window.acquire() == 0.0
    assert window.delayed == 0


def test_threads_share_one_window() -> None:
    window = SlidingWindow(5, 0.25)
    sends: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            window.acquire()
            with lock:
                sends.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sends) == 20 and most_in_any_window(sends, 0.25) <= 5


@pytest.mark.parametrize("limit, seconds", [(0, 1.0), (5, 0.0), (-1, 1.0)])
def test_a_rate_needs_a_request_and_a_window(limit: int, seconds: float) -> None:
    with pytest.raises(ValueError, match="at least 1 request per positive window"):
        SlidingWindow(limit, seconds)
