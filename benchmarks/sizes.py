"""Each size of a benchmark in its own process, so that one size's memory and warm caches do not touch the
next: the script is re-run with `--one N` (plus `extra`) and prints one JSON line, yielded here as a dict."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Iterator
from typing import Any


def each_size(script: str, sizes: Iterable[int], *extra: str) -> Iterator[dict[str, Any]]:
    for n in sizes:
        out = subprocess.run([sys.executable, script, "--one", str(n), *extra], capture_output=True, text=True,
                             check=True)
        yield json.loads(out.stdout.strip().splitlines()[-1])
