"""The client factory: the only code that talks to Vault. Every request goes through `ReadOnlyVault` (endpoint,
namespace, CA bundle, the CallPolicy's timeouts, retries with backoff and deadline, a call counter), whose
guard decides by ROUTE: which mount the path is under (the longest mount prefix from sys/mounts and
sys/auth), that mount's type, and the API segment after it. Only the read-only metadata routes listed in
`SECRET_ROUTES`, `AUTH_ROUTES` and `BUILTIN_ROUTES` are sent; everything else (a value, key material, a token,
a mint, any write) is refused before the request leaves. What a secret is called never matters: `kv/metadata/x/token`
is metadata on a KV v2 mount, `auth/token/create` is a mint. scanner-policy.hcl grants exactly these routes.

The connector's error hook (`VaultErrors`) is here too: a refused or failed request is a gap naming it.
"""

from __future__ import annotations

import builtins
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import hvac
import requests
from hvac import exceptions as hvac_exc

from commonmode.connector import ConnectorSettings
from commonmode.kit import CallCounter, CallPolicy, Errors, Failure, ReadOnlyViolation

# A route pattern is the API path after the mount: `{name}` is one segment, `{path}` one or more. LIST
# patterns are matched without the trailing slash LIST requests carry.
Routes = tuple[tuple[str, str], ...]

_ROLES = (("LIST", "role"), ("GET", "role/{name}"))
#: Secret engines, by mount type (KV by version). Vault API docs for each engine: KV v2 "Read secret
#: metadata"/"List secrets" (metadata/, never data/ or subkeys/); KV v1 "List secrets" (a GET returns the
#: value); PKI "List roles"/"Read role", "List issuers"/"Read issuer" (the issuer's certificate, public),
#: "Read issuers configuration" (which issuer is the default); aws/azure "Read role"; gcp "Read roleset",
#: "Read static account", "Read impersonated account"; database "Read role"/"Read static role".
SECRET_ROUTES: dict[str, Routes] = {
    "kv2": (("LIST", "metadata"), ("LIST", "metadata/{path}"), ("GET", "metadata/{path}")),
    "kv1": (("LIST", ""), ("LIST", "{path}")),
    "pki": (("LIST", "roles"), ("GET", "roles/{name}"), ("LIST", "issuers"), ("GET", "issuer/{name}"),
            ("GET", "config/issuers")),
    "aws": (("LIST", "roles"), ("GET", "roles/{name}")),
    "azure": (("LIST", "roles"), ("GET", "roles/{name}")),
    "gcp": (("LIST", "rolesets"), ("GET", "roleset/{name}"), ("LIST", "static-accounts"),
            ("GET", "static-account/{name}"), ("LIST", "impersonated-accounts"),
            ("GET", "impersonated-account/{name}")),
    "database": (("LIST", "roles"), ("GET", "roles/{name}"), ("LIST", "static-roles"), ("GET", "static-roles/{name}")),
}
#: Auth methods, by type. AppRole: "Read AppRole role ID" returns the role_id, an identifier (the secret
#: half of a login is the secret-id, which is never read: only accessor listings and accessor lookups,
#: which return its metadata). Token: accessors and lookup by accessor (metadata, never a token).
AUTH_ROUTES: dict[str, Routes] = {
    "approle": (*_ROLES, ("GET", "role/{name}/role-id"), ("LIST", "role/{name}/secret-id"),
                ("POST", "role/{name}/secret-id-accessor/lookup")),
    "token": (("LIST", "accessors"), ("POST", "lookup-accessor")),
    **dict.fromkeys(("kubernetes", "aws", "azure", "gcp"), _ROLES),
    # JWT/OIDC auth (API) "Read config": which issuer the mount trusts (bound_issuer, oidc_discovery_url,
    # jwks_url; the OIDC client secret is write-only and never returned, and the connector keeps only those)
    **dict.fromkeys(("jwt", "oidc"), (*_ROLES, ("GET", "config"))),
    "cert": (("LIST", "certs"), ("GET", "certs/{name}")),
    "userpass": (("LIST", "users"), ("GET", "users/{name}")),
}
#: sys/ and identity/ are always mounted there; auth/token/ too (it cannot be moved or disabled).
BUILTIN_ROUTES: dict[str, Routes] = {
    # sys/capabilities-self answers which capabilities the caller's own token has on the paths it names:
    # the connector's first authenticated call, which says whether the token is accepted at all.
    "system": (("GET", "health"), ("GET", "auth"), ("GET", "mounts"), ("LIST", "policies/acl"),
               ("GET", "policies/acl/{name}"), ("POST", "capabilities-self")),
    "identity": (("LIST", "entity/id"), ("GET", "entity/id/{name}"), ("LIST", "group/id"), ("GET", "group/id/{name}")),
}
BUILTIN_MOUNTS = {"sys/": ("system", BUILTIN_ROUTES["system"]), "identity/": ("identity", BUILTIN_ROUTES["identity"]),
                  "auth/token/": ("token", AUTH_ROUTES["token"])}


def _compile(pattern: str) -> re.Pattern[str]:
    parts = [{"{name}": "[^/]+", "{path}": "[^/]+(?:/[^/]+)*"}.get(seg, re.escape(seg)) for seg in pattern.split("/")]
    return re.compile("/".join(parts) if pattern else "")


_COMPILED: dict[str, re.Pattern[str]] = {}


def _route_allows(routes: Routes, method: str, rest: str) -> bool:
    for m, pattern in routes:
        if m == method:
            rx = _COMPILED.get(pattern) or _COMPILED.setdefault(pattern, _compile(pattern))
            if rx.fullmatch(rest):
                return True
    return False


def engine_of(info: Mapping[str, Any]) -> str:
    """The engine name of a sys/mounts or sys/auth entry: `kv1`/`kv2` for KV (type `kv` or `generic`, by
    `options.version`, v1 when absent), else its `type`."""
    kind = str(info.get("type") or "")
    if kind in ("kv", "generic"):
        return "kv2" if str((info.get("options") or {}).get("version") or "1") == "2" else "kv1"
    return kind


#: The status of a request not sent because the connector's deadline had passed.
DEADLINE = "not read"


def refused(method: str, path: str, reason: str) -> ReadOnlyViolation:
    """The guard's refusal of one request, naming it and why."""
    return ReadOnlyViolation(f"{method} {path}: refused by the read-only guard: {reason}")


class VaultError(RuntimeError):
    """A request failed: the message names the method, the path and the server's answer."""

    def __init__(self, method: str, path: str, status: int | str, detail: str) -> None:
        self.method, self.path, self.status, self.detail = method, path, status, detail
        super().__init__(f"{method} {path}: {status} {detail}".strip())


class Mounts:
    """Which mount a path is under (the longest mount prefix), and that mount's engine and routes."""

    def __init__(self) -> None:
        self._table: dict[str, tuple[str, Routes]] = dict(BUILTIN_MOUNTS)

    def load(self, secret_mounts: Mapping[str, Any], auth_mounts: Mapping[str, Any]) -> None:
        """Add the mounts of sys/mounts and sys/auth (auth paths under `auth/`). A type the connector has
        no routes for gets none: everything under it is refused."""
        for mount, info in secret_mounts.items():
            if isinstance(info, dict) and mount not in BUILTIN_MOUNTS:
                engine = engine_of(info)
                self._table[_slash(mount)] = (engine, SECRET_ROUTES.get(engine, ()))
        for mount, info in auth_mounts.items():
            if isinstance(info, dict) and f"auth/{mount}" not in BUILTIN_MOUNTS:
                engine = engine_of(info)
                self._table[_slash(f"auth/{mount}")] = (engine, AUTH_ROUTES.get(engine, ()))

    def resolve(self, path: str) -> tuple[str, str, Routes] | None:
        """(mount, engine, routes) of the longest mount that `path` lies under, None when there is none."""
        segments = path.rstrip("/").split("/")
        for i in range(len(segments), 0, -1):
            mount = "/".join(segments[:i]) + "/"
            if mount in self._table:
                return mount, *self._table[mount]
        return None


def _slash(mount: str) -> str:
    return mount.lstrip("/").rstrip("/") + "/"


class ReadOnlyVault:
    """GET/LIST metadata client with retries (429/5xx with backoff), a route guard, and a count of calls."""

    def __init__(self, url: str, token: str, namespace: str | None = None, verify: bool | str = True, *,
                 policy: CallPolicy | None = None, calls: CallCounter | None = None) -> None:
        self.policy = policy or CallPolicy()
        self.url = url
        self._token, self._namespace, self._verify = token, namespace, verify
        self._local = threading.local()  # one HTTP session per thread: requests.Session is not thread-safe
        self.calls = CallCounter() if calls is None else calls
        self.mounts = Mounts()
        self._pool: Any = None
        self._pool_size = 0

    def load_mounts(self, secret_mounts: Mapping[str, Any], auth_mounts: Mapping[str, Any]) -> None:
        """Tell the guard which mounts exist (sys/mounts and sys/auth data): paths are judged by them."""
        self.mounts.load(secret_mounts, auth_mounts)

    def check(self, method: str, path: str) -> None:
        """Raise ReadOnlyViolation unless `method path` is a read-only metadata route of the mount it is under."""
        if method not in ("GET", "LIST", "POST"):
            raise refused(method, path, "only GET, LIST and the POST lookups are sent")
        rest = path[:-1] if method == "LIST" and path.endswith("/") else path
        segments = rest.split("/") if rest else []
        # The server cleans `.`/`..` and empty segments into another path (and redirects): judge only what
        # is sent as it is. `?`/`#` are escaped when sent, so they cannot start a query.
        if path.startswith("/") or any(s in ("", ".", "..") for s in segments) or any(ord(c) < 32 for c in path):
            raise refused(method, path, "empty, '.' or '..' segments would name another path")
        found = self.mounts.resolve(rest)
        if found is None:
            raise refused(method, path, "it is under no mount of sys/mounts or sys/auth")
        mount, engine, routes = found
        sub = rest[len(mount):]  # "" for the mount itself (LIST of a KV v1 mount's top level)
        if not _route_allows(routes, method, sub):
            raise refused(method, path, f"not a read-only metadata route of the {engine or 'unknown'} "
                                                  f"mount {mount}")

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                attempts: int | None = None) -> Any:
        """Send one request the guard allows: the parsed `data` (None for Vault's empty answer). Raises
        ReadOnlyViolation before sending anything else, VaultError when the server refuses or fails or
        cannot be reached (after the policy's attempts, or `attempts`, with backoff on 429, 5xx, connection
        errors, timeouts), or when the connector's deadline has passed (nothing more is sent)."""
        self.check(method, path)
        attempts = self.policy.attempts if attempts is None else attempts
        client = getattr(self._local, "client", None)
        if client is None:
            # requests takes (connect, read) timeouts and hvac passes `timeout` through to it (requests docs,
            # "Advanced Usage: Timeouts": https://requests.readthedocs.io/en/latest/user/advanced/#timeouts)
            client = self._local.client = hvac.Client(
                url=self.url, token=self._token, namespace=self._namespace, verify=self._verify,
                timeout=self.policy.timeouts)  # type: ignore[arg-type]  # types-hvac types timeout as int only
        adapter = client.adapter
        url = "/v1/" + urllib.parse.quote(path, safe="/")  # a key named `a?b` is that key, not a query
        for attempt in range(attempts):
            if self.policy.past_deadline():
                raise VaultError(method, path, DEADLINE, "the connector's deadline was reached")
            try:
                self.calls.add(method)
                if method == "GET":
                    return _data(adapter.get(url))
                if method == "LIST":
                    return _data(adapter.list(url))
                return _data(adapter.post(url, json=body or {}))
            except hvac_exc.InvalidPath as exc:
                # Vault answers 404 with an empty error list for a LIST with no keys (hashicorp/vault#1368,
                # kept for compatibility; openbao/openbao#213) and for a key that is not there. Any other
                # 404 (no handler for the route: a disabled mount, a wrong namespace; a proxy's page) means
                # the scanner could not see what it expected: a gap, never "nothing there".
                if exc.errors == []:
                    return None
                errors = [exc.errors] if isinstance(exc.errors, str) else builtins.list(exc.errors or ())
                detail = errors[0] if errors else (str(exc) or "not found")
                raise VaultError(method, path, 404, str(detail).splitlines()[0]) from exc
            except (hvac_exc.RateLimitExceeded, hvac_exc.InternalServerError, hvac_exc.BadGateway,
                    hvac_exc.VaultDown, requests.ConnectionError, requests.Timeout) as exc:
                if attempt == attempts - 1:
                    raise VaultError(method, path, *_transport_failure(exc, self.url)) from exc
                time.sleep(self.policy.delay(attempt))
            except hvac_exc.Forbidden as exc:
                raise VaultError(method, path, 403, "permission denied") from exc
            except hvac_exc.VaultError as exc:
                raise VaultError(method, path, type(exc).__name__, (str(exc).splitlines() or [""])[0]) from exc
        raise AssertionError("unreachable")

    def get(self, path: str) -> dict[str, Any] | None:
        data: dict[str, Any] | None = self.request("GET", path)  # a GET's `data` is a JSON object
        return data

    def list(self, path: str) -> list[str]:
        data = self.request("LIST", path) or {}
        return list(data.get("keys", []))

    def lookup(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        data: dict[str, Any] | None = self.request("POST", path, body)  # a lookup's `data` is a JSON object
        return data

    # `builtins.list` below: inside this class, `list` is the method above.
    def get_many(self, paths: Sequence[str], workers: int = 8) -> builtins.list[Any]:
        """GET several metadata paths concurrently (bounded), in order. Each item is the path's data, or the
        ReadOnlyViolation/VaultError that path met: one failed path never loses the others.

        The worker threads (and their HTTP sessions) are kept for the next call until close()."""
        from concurrent.futures import ThreadPoolExecutor

        if len(paths) < 2 or workers < 2:
            return [self._get_or_error(p) for p in paths]
        if self._pool is None or self._pool_size != workers:
            self.close()
            self._pool, self._pool_size = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vault"), workers
        return list(self._pool.map(self._get_or_error, paths))

    def _get_or_error(self, path: str) -> Any:
        try:
            return self.get(path)
        except (ReadOnlyViolation, VaultError) as exc:
            return exc

    def close(self) -> None:
        """Stop the worker threads of get_many (if any)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def walk(self, base: str, errors: builtins.list[str] | None = None) -> Iterator[str]:
        """Every leaf key under a LIST-able path, depth first (keys ending in / are folders). A folder that
        cannot be listed is one entry in `errors` (raised when `errors` is None); the walk goes on."""
        stack = [""]
        while stack:
            prefix = stack.pop()
            try:
                keys = self.list(f"{base}{prefix}")
            except (ReadOnlyViolation, VaultError) as exc:
                if errors is None:
                    raise
                errors.append(str(exc))
                continue
            for key in sorted(keys, reverse=True):
                if key.endswith("/"):
                    stack.append(prefix + key)
                else:
                    yield prefix + key


def _transport_failure(exc: Exception, url: str) -> tuple[str, str]:
    """(status, detail) of a request that got no usable answer, in words: cannot connect, TLS, timeout."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "cannot connect", f"to {url}: TLS failure"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "cannot connect", f"to {url}: timed out"
    if isinstance(exc, requests.Timeout):
        return "no answer", f"from {url} within the timeout"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect", f"to {url}: connection refused or unreachable"
    if isinstance(exc, hvac_exc.VaultDown):
        return "503", "Vault is sealed or in maintenance"
    return type(exc).__name__, (str(exc).splitlines() or [""])[0]


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


def connect(settings: ConnectorSettings, token: str, *, namespace: str | None, ca_cert: str | None,
            policy: CallPolicy, calls: CallCounter) -> ReadOnlyVault:
    """The connector's client: its URL and namespace, the CA bundle (relative to the config), its policy."""
    verify: bool | str = str(settings.config_dir / ca_cert) if ca_cert else True
    return ReadOnlyVault(settings.options["url"], token, namespace=namespace, verify=verify, policy=policy,
                         calls=calls)


class VaultErrors(Errors):
    """The Vault connector's error hook: a request the guard refused or the server failed is a gap, in the
    request's own words (`GET sys/auth: 403 permission denied`); anything else stops the connector."""

    def classify(self, what: str, exc: Exception) -> Failure:
        return Failure.GAP if isinstance(exc, (ReadOnlyViolation, VaultError)) else Failure.FATAL

    def describe(self, what: str, exc: Exception) -> str:
        return str(exc)
