"""The only module that talks to Vault. Every request goes through `ReadOnlyVault`, which allows GET and
LIST on metadata paths and two lookups that Vault exposes as POST, and refuses anything that returns a
secret value, key material or a token — before the request is sent.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hvac
import requests
from hvac import exceptions as hvac_exc

#: Paths that return secret values, key material or tokens, or mint credentials. Checked on every request.
NEVER = [re.compile(p) for p in (
    r"(^|/)data/",            # KV v2 values (only refused on KV v2 mounts: see _check)
    r"(^|/)issue/", r"(^|/)sign(/|$|-verbatim|-intermediate|-self-issued)", r"(^|/)creds/", r"(^|/)static-creds/",
    r"(^|/)sts/", r"(^|/)(token|key)$", r"^auth/token/create", r"^auth/token/lookup$", r"^auth/token/lookup-self",
    r"^sys/raw", r"(^|/)role-id$", r"(^|/)secret-id$", r"^sys/wrapping/", r"^cubbyhole/", r"(^|/)export/",
    r"(^|/)decrypt/", r"(^|/)subkeys/",
)]

#: The POST endpoints that only look metadata up (Vault exposes them as POST so that ids stay out of URLs).
POST_LOOKUPS = [re.compile(p) for p in (r"^auth/token/lookup-accessor$", r"^auth/[^ ]+/role/[^/]+/secret-id-accessor/lookup$")]


class ReadOnlyViolation(RuntimeError):
    """The connector tried a request that is not a read-only metadata request."""


class VaultError(RuntimeError):
    """A request failed: the message names the path and the server's answer."""

    def __init__(self, path: str, status: int | str, detail: str) -> None:
        self.path, self.status = path, status
        super().__init__(f"{path}: {status} {detail}".strip())


class ReadOnlyVault:
    """GET/LIST metadata client with retries (429/5xx with backoff) and a count of calls."""

    def __init__(self, url: str, token: str, namespace: str | None = None, verify: bool | str = True,
                 timeout: int = 30, retries: int = 5) -> None:
        self._args = dict(url=url, token=token, namespace=namespace, verify=verify, timeout=timeout)
        self._local = threading.local()  # one HTTP session per thread: requests.Session is not thread-safe
        self.retries = retries
        self.calls: Counter[str] = Counter()
        self.kv_values: list[str] = []  # mounts (with slash) whose plain paths are values: KV v1
        self.kv2: list[str] = []
        self._lock = threading.Lock()
        self._pool: Any = None
        self._pool_size = 0

    def _check(self, method: str, path: str) -> None:
        path = path.lstrip("/")
        if method == "POST":
            if not any(p.search(path) for p in POST_LOOKUPS):
                raise ReadOnlyViolation(f"refused POST {path}: not a metadata lookup")
            return
        if method not in ("GET", "LIST"):
            raise ReadOnlyViolation(f"refused {method} {path}")
        if method == "GET" and any(path.startswith(m) for m in self.kv_values):
            raise ReadOnlyViolation(f"refused GET {path}: a KV v1 read returns the secret's value")
        for pattern in NEVER:
            if pattern.pattern == r"(^|/)data/":
                if method == "GET" and any(path.startswith(m + "data/") for m in self.kv2):
                    raise ReadOnlyViolation(f"refused GET {path}: KV v2 data returns the secret's value")
                continue
            if method == "GET" and pattern.search(path):
                raise ReadOnlyViolation(f"refused GET {path}: it returns or mints a secret")

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        self._check(method, path)
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = hvac.Client(**self._args)
        adapter = client.adapter
        url = f"/v1/{path.lstrip('/')}"
        for attempt in range(self.retries + 1):
            try:
                with self._lock:
                    self.calls[method] += 1
                if method == "GET":
                    return adapter.get(url)
                if method == "LIST":
                    return adapter.list(url)
                return adapter.post(url, json=body or {})
            except hvac_exc.InvalidPath:
                return None  # 404: nothing there (an empty list, a missing key)
            except (hvac_exc.RateLimitExceeded, hvac_exc.InternalServerError, hvac_exc.BadGateway,
                    hvac_exc.VaultDown, requests.ConnectionError) as exc:
                if attempt == self.retries:
                    raise VaultError(path, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "") from exc
                time.sleep(min(0.2 * 2 ** attempt, 5))
            except hvac_exc.Forbidden as exc:
                raise VaultError(path, 403, "permission denied") from exc
            except hvac_exc.VaultError as exc:
                raise VaultError(path, type(exc).__name__, (str(exc).splitlines() or [""])[0]) from exc
        raise AssertionError("unreachable")

    def get(self, path: str) -> dict[str, Any] | None:
        resp = self._request("GET", path)
        return _data(resp)

    def list(self, path: str) -> list[str]:
        resp = self._request("LIST", path)
        data = _data(resp) or {}
        return list(data.get("keys", []))

    def lookup(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        return _data(self._request("POST", path, body))

    def get_many(self, paths: list[str], workers: int = 8) -> list[dict[str, Any] | None]:
        """GET several metadata paths concurrently (bounded), in order; a failed one raises VaultError.

        The worker threads (and their HTTP sessions) are kept for the next call until close()."""
        from concurrent.futures import ThreadPoolExecutor

        if len(paths) < 2 or workers < 2:
            return [self.get(p) for p in paths]
        if self._pool is None or self._pool_size != workers:
            self.close()
            self._pool, self._pool_size = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vault"), workers
        return list(self._pool.map(self.get, paths))

    def close(self) -> None:
        """Stop the worker threads of get_many (if any)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def walk(self, base: str) -> Iterator[str]:
        """Every leaf key under a LIST-able path, depth first (keys ending in / are folders)."""
        stack = [""]
        while stack:
            prefix = stack.pop()
            for key in sorted(self.list(f"{base}{prefix}"), reverse=True):
                if key.endswith("/"):
                    stack.append(prefix + key)
                else:
                    yield prefix + key


def _data(resp: Any) -> Any:
    if resp is None:
        return None
    if isinstance(resp, dict):
        return resp.get("data", resp)
    try:
        body = resp.json()
    except ValueError:
        return None
    return body.get("data", body) if isinstance(body, dict) else body
