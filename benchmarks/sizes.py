"""What the benchmarks share: each size in its own process, so that one size's memory and warm caches do not
touch the next (the script is re-run with `--one N` plus `extra` and prints one JSON line, yielded here as a
dict); and for the connector benchmarks whose stand-in runs in a child process, one timed scan and the child's
stop."""

from __future__ import annotations

import cProfile
import importlib
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any


def each_size(script: str, sizes: Iterable[int], *extra: str) -> Iterator[dict[str, Any]]:
    for n in sizes:
        out = subprocess.run([sys.executable, script, "--one", str(n), *extra], capture_output=True, text=True,
                             check=True)
        yield json.loads(out.stdout.strip().splitlines()[-1])


@contextmanager
def timed(module: str, name: str, spent: dict[str, float]) -> Iterator[None]:
    """Time every call of `module.name` into spent[name] (the connector imports build at call time, and build
    calls its parts through its own module's names, so replacing the module attribute reaches them)."""
    mod = importlib.import_module(module)
    original: Callable[..., Any] = getattr(mod, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t

    setattr(mod, name, wrapper)
    try:
        yield
    finally:
        setattr(mod, name, original)


def scan_once(connector: Any, build_module: str, child: subprocess.Popen[str],
              profile: str | None) -> tuple[Any, dict[str, Any]]:
    """One collection through `connector` against the stand-in `child` serves (its build and build_grants of
    `build_module` timed apart, under cProfile into `profile` when given), then the child stopped: the result
    and the measures every connector benchmark prints."""
    assert child.stdin is not None and child.stdout is not None
    spent: dict[str, float] = {}
    profiler = cProfile.Profile() if profile else None
    with timed(build_module, "build", spent), timed(build_module, "build_grants", spent):
        t0, c0 = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        result = connector.collect(lambda *a: None)
        if profiler is not None:
            profiler.disable()
        total_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    child.stdin.write("stop\n")
    child.stdin.flush()
    served = json.loads(child.stdout.readline())
    inv, stats = result.inventory, dict(result.stats)
    build_s = spent.get("build", 0.0)
    return result, {
        "total_s": total_s, "cpu_s": cpu_s, "build_s": build_s, "grants_s": spent.get("build_grants", 0.0),
        "collect_s": total_s - build_s, "api_calls": stats.get("api_calls", 0),
        "calls": {k[len("calls."):]: v for k, v in stats.items() if k.startswith("calls.")},
        "identities": len(inv.identities), "resources": len(inv.resources), "grants": len(inv.grants),
        "services": len(inv.services), "status": result.status.value,
        "requests_served": served["requests"], "writes_refused": len(served["refused"]),
        "standin_failures": served["failures"], "standin_rss_mb": served["rss_mb"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def stop(child: subprocess.Popen[str]) -> None:
    """End the stand-in child if it is still running (our own child, by its handle)."""
    if child.poll() is None:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
