"""Exit codes and the exceptions that map onto them. Only cli.py turns these into process exits."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """The exit-code contract (README, "Exit codes")."""

    OK = 0
    FAILED = 1  # the run failed: every connector failed, or the scan itself broke
    USAGE = 2  # bad command line, bad config, unknown run id, missing database
    PARTIAL = 3  # some connector failed; what the others saw is stored
    THRESHOLD = 4  # --fail-on: open findings at or above the threshold exist


class CommonmodeError(Exception):
    """An error with a one-line message meant for the user, and the exit code it maps to."""

    exit_code = ExitCode.FAILED


class UsageError(CommonmodeError):
    """The input is wrong: config, command line, run id. The message names what and where."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A config file problem: `file: dotted.key: expected ...`."""

    def __init__(self, file: str, key: str, expected: str) -> None:
        self.file, self.key, self.expected = file, key, expected
        super().__init__(f"{file}: {key}: {expected}" if key else f"{file}: {expected}")
