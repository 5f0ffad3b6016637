"""The client factory: base URL, CA bundle, the CallPolicy's timeouts, retries and deadline, a read-only
guard, the call counter; and the connector's error hook."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests

from commonmode.connector import ConnectorSettings
from commonmode.kit import CallCounter, CallPolicy, Collection, Errors, Failure, ReadOnlyViolation

#: Every request the connector may send: GETs of these paths only.
READ_ONLY_PATHS = frozenset({"v1/account", "v1/zones", "v1/tokens"})


class ApiError(RuntimeError):
    """A request the provider refused or failed; `status` is its HTTP status."""

    def __init__(self, path: str, status: int) -> None:
        self.status = status
        super().__init__(f"GET {path}: HTTP {status}")


class Client:
    """GET-only JSON client with retries on 429 and 5xx, and a guard that refuses anything else."""

    def __init__(self, url: str, verify: bool | str, policy: CallPolicy, calls: CallCounter) -> None:
        self.url, self.verify, self.policy, self.calls = url.rstrip("/"), verify, policy, calls
        self.session = requests.Session()

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The JSON answer of `GET path`."""
        if path not in READ_ONLY_PATHS:
            raise ReadOnlyViolation(f"GET {path}: refused by the read-only guard: not a listed read")
        for attempt in range(self.policy.attempts):
            if self.policy.past_deadline():
                raise ApiError(path, 0)
            self.calls.add(f"GET {path}")
            resp = self.session.get(f"{self.url}/{path}", params=params, verify=self.verify,
                                    timeout=self.policy.timeouts)
            if resp.status_code in (429, 500, 502, 503, 504) and attempt < self.policy.attempts - 1:
                time.sleep(self.policy.delay(attempt))
                continue
            if resp.status_code != 200:
                raise ApiError(path, resp.status_code)
            return resp.json()
        raise AssertionError("unreachable")


def connect(settings: ConnectorSettings, values: Mapping[str, Any], c: Collection) -> Client:
    """The connector's client, with the run's policy and call counter."""
    assert c.policy is not None
    ca = values.get("ca_cert")
    return Client(values["url"], str(settings.config_dir / ca) if ca else True, c.policy, c.calls)


class ExampleErrors(Errors):
    """404: the thing is not there (absent, no gap); any other refusal or failure: a gap; the guard: fatal."""

    def classify(self, what: str, exc: Exception) -> Failure:
        if isinstance(exc, ReadOnlyViolation):
            return Failure.FATAL
        if isinstance(exc, ApiError) and exc.status == 404:
            return Failure.ABSENT
        return Failure.GAP

    def describe(self, what: str, exc: Exception) -> str:
        return f"{what}: {exc}"
