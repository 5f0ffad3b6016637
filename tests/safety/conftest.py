"""A small estate the declared connector reads (a real connector, no server), and helpers that run the real
`commonmode` command in a subprocess, as cron or CI would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ESTATE = """
[[identity]]
id = "r53:user:dns-bot"
kind = "api-key"
owner = "team-sre"
fault_domains = ["dns-provider:route53"]

[[resource]]
id = "r53:zone/acme/api.acme.example/A/primary"
kind = "dns-record"
names = ["api.acme.example"]
fault_domains = ["dns-provider:route53"]

[[resource]]
id = "r53:zone/acme/api.acme.example/A/backup"
kind = "dns-record"
names = ["api.acme.example"]
fault_domains = ["dns-provider:route53"]

[[grant]]
identity = "r53:user:dns-bot"
capability = "dns.write"
resource = "r53:zone/acme/api.acme.example/A/primary"
via = ["the key's scope: every record"]

[[grant]]
identity = "r53:user:dns-bot"
capability = "dns.write"
resource = "r53:zone/acme/api.acme.example/A/backup"
via = ["the key's scope: every record"]
"""

CONFIG = """
[store]
path = "{db}"

[[declared]]
name = "estate"
file = "estate.toml"

[[service]]
name = "api"
owner = "team-edge"
primary = ["r53:zone/acme/api.acme.example/A/primary"]
backup = ["r53:zone/acme/api.acme.example/A/backup"]
"""


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    """A config (store at cm.db beside it) whose scan finds a shared identity."""
    (tmp_path / "estate.toml").write_text(ESTATE)
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text(CONFIG.format(db="cm.db"))
    return cfg


def aws_env() -> dict[str, str]:
    """The environment of a scan with dummy AWS keys and no AWS config files (what the moto tests use)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    return env


def commonmode(*args: str, cwd: Path | None = None, umask: int | None = None,
               **kw: object) -> subprocess.CompletedProcess[str]:
    """Run the installed `commonmode` command (this interpreter's) and capture what it prints."""
    def preexec() -> None:
        if umask is not None:
            os.umask(umask)
    return subprocess.run([sys.executable, "-m", "commonmode.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, preexec_fn=preexec, **kw)  # type: ignore[call-overload]
