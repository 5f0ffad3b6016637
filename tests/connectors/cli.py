"""Running the real CLI against a scanned config, for the connector tests: `commonmode <command> -c CONFIG` in
a subprocess with the test's environment, its output as text or as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Cli:
    """The CLI on one config, with the environment the scan ran in."""

    config: Path
    env: dict[str, str]

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "commonmode.cli", *args, "-c", str(self.config)],
                              capture_output=True, text=True, env=self.env, timeout=120)
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--format", "json").stdout)
