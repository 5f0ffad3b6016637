"""A connector for tests only: it "enumerates" an estate described in a JSON file.

It is registered through a .dist-info entry point beside it, exactly as a third-party plugin would be,
so the tests exercise real entry-point discovery and lazy loading. Options:
- estate: JSON file (relative to the config) with identities, credentials, stores, resources, grants, services;
- fail: raise during collection (a connector that breaks);
- gaps: report these gaps and return a partial result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from commonmode.connector import ConnectorResult, ConnectorSettings, Option, ProgressFn
from commonmode.model import Credential, Grant, Identity, Inventory, Resource, RunStatus, Service, Store

_DATES = ("created", "expires", "last_used")


class FakeConnector:
    provider = "fake"
    options: ClassVar[Mapping[str, Option]] = {
        "estate": Option(type="string", required=True, help="JSON estate file"),
        "fail": Option(type="boolean", help="raise during collection", default=False),
        "gaps": Option(type="strings", help="gaps to report (makes the result partial)"),
    }

    def __init__(self, settings: ConnectorSettings) -> None:
        self.settings = settings
        self.path = settings.config_dir / settings.options["estate"]

    def collect(self, progress: ProgressFn) -> ConnectorResult:
        if self.settings.options.get("fail"):
            raise ConnectionError(f"cannot reach the fake provider for {self.settings.name}")
        data = json.loads(Path(self.path).read_text())
        name = self.settings.name
        kinds = [("identities", Identity), ("credentials", Credential), ("stores", Store),
                 ("resources", Resource), ("grants", Grant)]
        built: dict[str, tuple[Any, ...]] = {}
        for i, (key, cls) in enumerate(kinds):
            progress(f"reading {key}", i, len(kinds))
            built[key] = tuple(cls(**_decode(item), connector=name) for item in data.get(key, []))
        services = tuple(Service(**{**s, "primary": tuple(s["primary"]), "backup": tuple(s["backup"])}, source=name)
                         for s in data.get("services", []))
        gaps = tuple(self.settings.options.get("gaps") or ())
        return ConnectorResult(
            connector=name, provider=self.provider, status=RunStatus.PARTIAL if gaps else RunStatus.OK,
            inventory=Inventory(**built, services=services), gaps=gaps, stats={"calls": len(kinds)},
        )


def _decode(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    for key in _DATES:
        if out.get(key):
            out[key] = datetime.fromisoformat(out[key])
    for key in ("via", "parents", "names", "fault_domains"):
        if key in out:
            out[key] = tuple(out[key])
    return out
