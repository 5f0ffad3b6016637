"""What every connector class starts from: its settings, its option values with the defaults filled in, and
the run's Collection. A connector subclasses it, names `provider` and `options`, and writes `collect`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from commonmode.connector import ConnectorResult, ConnectorSettings, Option, ProgressFn
from commonmode.kit.client import CallPolicy
from commonmode.kit.collection import Collection, Errors
from commonmode.kit.values import option_values


class KitConnector:
    """A Connector (commonmode.connector.Connector) built on the kit."""

    provider: ClassVar[str]
    options: ClassVar[Mapping[str, Option]]

    def __init__(self, settings: ConnectorSettings) -> None:
        self.settings = settings
        self.values: dict[str, Any] = option_values(settings, self.options)

    def collection(self, progress: ProgressFn, errors: Errors, policy: CallPolicy | None = None) -> Collection:
        """A new run: its gaps, call counts, progress and policy (default: from the settings)."""
        return Collection(self.settings, self.provider, progress, errors, policy)

    def collect(self, progress: ProgressFn) -> ConnectorResult:  # pragma: no cover — each connector writes its own
        raise NotImplementedError
