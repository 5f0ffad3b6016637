"""Random Vault policy sets (hypothesis strategies) and the real OpenBao server they are checked against.

`Bao` is a thin HTTP client (one keep-alive session: a request costs ~2 ms) for the root token and for
tokens the tests create. `ground_truth` decides by real requests whether a token can do one operation on
one path under parameter constraints, by trying every request of a small space that covers every class of
name and value the generated constraints can tell apart. Tests may read their own canary values; the
scanner never does.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from hypothesis import strategies as st

CANARY = "canary-a1-7f3c"  # planted by the tests; must never appear in the scanner's output


@dataclass
class Bao:
    """A real OpenBao server at `url` (dev mode, root token "root")."""

    url: str
    session: requests.Session = field(default_factory=requests.Session)
    entities: set[str] = field(default_factory=set)  # entities set up for entity_token

    def call(self, method: str, path: str, token: str = "root", *, params: dict[str, Any] | None = None,
             body: Any = None) -> requests.Response:
        headers = {"X-Vault-Token": token}
        if method == "PATCH":
            headers["Content-Type"] = "application/merge-patch+json"
        return self.session.request(method, f"{self.url}/v1/{path}", headers=headers, params=params,
                                    data=None if body is None else json.dumps(body))

    def policy(self, name: str, text: str) -> int:
        """Write a policy as root; the status (204 when the server accepts it)."""
        path = f"sys/policies/acl/{requests.utils.quote(name, safe='')}"
        return self.call("PUT", path, body={"policy": text}).status_code

    def policy_text(self, name: str) -> str:
        return str(self.call("GET", f"sys/policies/acl/{name}").json()["data"]["policy"])

    def token(self, policies: Sequence[str], *, default: bool = False) -> tuple[str, list[str]]:
        """A token created with exactly `policies` (plus `default` when asked): its id and the policies the
        server attached."""
        r = self.call("POST", "auth/token/create", body={"policies": list(policies), "no_default_policy": not default,
                                                         "ttl": "10m"})
        auth = r.json()["auth"]
        return auth["client_token"], list(auth["policies"])

    def entity_token(self, policies: Sequence[str], *, default: bool = False, entity: str = "ab") -> str:
        """A token bound to the entity named `entity` (created on first use, through a token role that
        allows entity aliases), holding `policies`."""
        if entity not in self.entities:  # idempotent: creates or updates by name
            accessor = self.call("GET", "sys/auth").json()["data"]["token/"]["accessor"]
            self.call("POST", f"identity/entity/name/{entity}", body={})
            eid = self.call("GET", f"identity/entity/name/{entity}").json()["data"]["id"]
            self.call("POST", "identity/entity-alias", body={"name": f"alias-{entity}", "canonical_id": eid,
                                                              "mount_accessor": accessor})
            self.call("POST", "auth/token/roles/dt-entity", body={"allowed_entity_aliases": ["*"], "orphan": True})
            self.entities.add(entity)
        r = self.call("POST", "auth/token/create/dt-entity", body={
            "policies": list(policies), "no_default_policy": not default, "entity_alias": f"alias-{entity}",
            "ttl": "10m"})
        return str(r.json()["auth"]["client_token"])

    def capabilities(self, token: str, paths: Sequence[str]) -> dict[str, frozenset[str]]:
        """`sys/capabilities` for `paths`, in one request."""
        data = self.call("POST", "sys/capabilities", body={"token": token, "paths": list(paths)}).json()
        return {p: frozenset(data[p]) for p in paths}

    def mount(self, path: str, kind: str, options: dict[str, str] | None = None) -> None:
        self.call("POST", f"sys/mounts/{path}", body={"type": kind, "options": options or {}})


# --- parameter constraints: the server decides by real requests ----------------------------------------

KV1, KV2, PKI = "dt-kv1", "dt-kv2", "dt-pki"


def setup_engines(bao: Bao) -> None:
    """KV v1, KV v2 and a PKI mount with two roles: `web` (a common_name is required) and `nocn`
    (require_cn=false). EC keys keep issuing fast; no_store keeps certificates out of storage."""
    if f"{KV1}/" in bao.call("GET", "sys/mounts").json()["data"]:
        return  # already set up on this server
    bao.mount(KV1, "kv", {"version": "1"})
    bao.mount(KV2, "kv", {"version": "2"})
    bao.mount(PKI, "pki")
    bao.call("POST", f"{PKI}/root/generate/internal", body={"common_name": "example.com", "key_type": "ec"})
    for role, extra in (("web", {}), ("nocn", {"require_cn": False})):
        bao.call("POST", f"{PKI}/roles/{role}", body={"allow_any_name": True, "key_type": "ec", "ttl": "1h",
                                                        "no_store": True, **extra})


VALUE_PATTERNS = ("a", "b*", "**")  # a literal, a prefix glob, and a glob that matches every string
NAMES = {"kv1": ("foo", "value"), "kv2": ("foo", "value", "data"), "pki": ("common_name", "foo")}


NOT_A_STRING = "<not a string>"  # a number in a JSON body, a repeated query parameter (a list) in a GET


def value_classes(patterns: Iterable[object]) -> tuple[str, ...]:
    """One request value per class the patterns can tell apart: "a" (matches "a"), "bq" (matches "b*"),
    "zz" (matches only "**"; a one-character pattern is literal, strutil.GlobbedStringsMatch), and, when
    "**" is among them, a value that is not a string, which no string pattern matches (OpenBao compares
    other types by equality)."""
    mentioned = set(patterns)
    out = (*(v for v, pat in (("a", "a"), ("bq", "b*")) if pat in mentioned), "zz")
    return (*out, NOT_A_STRING) if "**" in mentioned else out


@dataclass(frozen=True)
class Probe:
    """One operation on one path, and the request space that decides it."""

    engine: str  # kv1 | kv2 | pki
    path: str  # the API path, e.g. dt-kv2/data/e3/s
    cap: str  # read | create | update | patch
    names: tuple[str, ...]  # scalar parameter names (always includes "other")
    classes: tuple[str, ...]

    @property
    def kv2_data(self) -> bool:
        return self.engine == "kv2" and self.path.startswith(f"{KV2}/data/")

    def space(self) -> list[dict[str, Any]]:
        """Every request: each name absent or one value class; for KV v2 data also `data` absent or an
        object."""
        other = ["zz", "zz"] if self.cap == "read" else 7
        dims: list[list[tuple[str, Any]]] = [
            [("", None)] + [(n, other if v == NOT_A_STRING else v) for v in self.classes] for n in self.names]
        if self.kv2_data and self.cap != "read":
            dims.append([("", None), ("data", {"value": CANARY})])
        out = []
        for combo in itertools.product(*dims):
            out.append({k: v for k, v in combo if k})
        return out

    def essential(self) -> list[dict[str, Any]] | None:
        """The ordinary requests: all of them passing means nothing limits this operation (None: the test
        does not model the API, so only "some request passes" can be checked)."""
        if self.cap == "read":
            return [{}]
        strings = [v for v in self.classes if v != NOT_A_STRING]
        if self.engine == "kv1":
            return [{n: v} for n in self.names for v in strings]
        if self.kv2_data:
            return [{"data": {"value": CANARY}}]
        if self.engine == "pki" and "/issue/" in f"/{self.path}":
            return [{"common_name": v} for v in strings]
        return None


def probe_for(engine: str, path: str, cap: str, texts: Iterable[str]) -> Probe:
    """The probe for `cap` on `path` under policies `texts`: the parameter names they mention (plus
    "other", standing for every name they do not) and the value classes their patterns tell apart."""
    names, values = set(), []
    for text in texts:
        for line in text.splitlines():
            names.update(k for k in ("foo", "value", "common_name", "data", "ttl", "custom_metadata")
                         if f'"{k}"' in line.lower())
            values += [v for v in VALUE_PATTERNS if f'"{v}"' in line]
    if engine == "pki":
        names.add("common_name")
    if engine == "kv2" and path.startswith(f"{KV2}/data/") and cap != "read":
        names.discard("data")  # a KV v2 write's `data` is the object dimension of the space
    return Probe(engine=engine, path=path, cap=cap, names=(*sorted(names), "other"), classes=value_classes(values))


def _prepare(bao: Bao, probe: Probe) -> None:
    """The secret exists for read/update/patch and not for create, as root, before each request."""
    if probe.engine == "pki":
        return
    if probe.engine == "kv1":
        if probe.cap == "create":
            bao.call("DELETE", probe.path)
        else:
            bao.call("POST", probe.path, body={"value": CANARY})
        return
    secret = probe.path.split("/", 2)[2]
    if probe.cap == "create":
        bao.call("DELETE", f"{KV2}/metadata/{secret}")
    else:
        bao.call("POST", f"{KV2}/data/{secret}", body={"data": {"value": CANARY}})


def ground_truth(bao: Bao, token: str, probe: Probe) -> tuple[str, dict[str, int]]:
    """"any" (every ordinary request passes), "some" (some request passes, not every ordinary one) or
    "no" (none passes), from real requests; and each request's status."""
    method = {"read": "GET", "create": "POST", "update": "POST", "patch": "PATCH"}[probe.cap]
    statuses: dict[str, int] = {}
    for data in probe.space():
        if probe.cap == "create" or not statuses:  # a create needs the secret gone every time
            _prepare(bao, probe)
        r = bao.call(method, probe.path, token, params=data if method == "GET" else None,
                     body=None if method == "GET" else data)
        statuses[json.dumps(data, sort_keys=True)] = r.status_code
    passed = {k for k, v in statuses.items() if 200 <= v < 300}
    if not passed:
        return "no", statuses
    essential = probe.essential()
    if essential is not None and all(json.dumps(e, sort_keys=True) in passed for e in essential):
        return "any", statuses
    return "some", statuses


# --- strategies -------------------------------------------------------------------------------------------

SEGMENTS = ("a", "b", "ab", "x")
CAPS = ("create", "read", "update", "patch", "delete", "list", "sudo", "scan")
TEMPLATE = "{{identity.entity.name}}"


@st.composite
def policy_path(draw: st.DrawFn) -> str:
    """A policy path under s/: literal segments, `+` segments, a literal `*` or `+` inside a segment, a
    template, an optional trailing `*` (on a segment or alone), trailing `/`, and leading slashes."""
    n = draw(st.integers(1, 3))
    segs = [draw(st.sampled_from((*SEGMENTS, "+", "+", "a*b", "+b", TEMPLATE))) for _ in range(n)]
    head = draw(st.sampled_from(("s", "s", "s", "+")))
    path = "/".join([head, *segs])
    tail = draw(st.sampled_from(("", "", "*", "/*", "/", "x*")))
    path += tail
    if "+*" in path:
        path = path.replace("+*", "+/*")
    return draw(st.sampled_from(("", "", "", "/", "//"))) + path


def _param_block(draw: st.DrawFn, key: str, names: Sequence[str]) -> str:
    chosen = draw(st.lists(st.sampled_from((*names, "*")), min_size=1, max_size=3, unique=True))
    entries = []
    for name in chosen:
        values = [] if name == "*" else draw(st.lists(st.sampled_from(VALUE_PATTERNS), max_size=2, unique=True))
        spelt = draw(st.sampled_from((name, name.upper()))) if name != "*" else name
        entries.append(f'"{spelt}" = {json.dumps(values)}')
    sep = draw(st.sampled_from(("\n    ", ", ")))
    if draw(st.booleans()):  # HCL1 block form
        return f"  {key} {{\n    {sep.join(entries)}\n  }}"
    return f"  {key} = {{ {sep.join(entries)} }}"


def constraints(draw: st.DrawFn, names: Sequence[str]) -> list[str]:
    """Zero to three of required/allowed/denied parameters, in map or HCL1 block form."""
    out = []
    if draw(st.integers(0, 3)) == 0:
        req = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
        out.append(f"  required_parameters = {json.dumps(req)}")
    for key in ("allowed_parameters", "denied_parameters"):
        if draw(st.integers(0, 2)) == 0:
            out.append(_param_block(draw, key, names))
    return out


@st.composite
def stanza(draw: st.DrawFn, path: str | None = None, names: Sequence[str] = ("foo", "value"),
           must: str = "") -> tuple[str, str]:
    """(path, HCL text of one stanza): capabilities (with `must` among them, or sometimes deny, empty, or
    the legacy `policy`), parameter constraints, an expiration in the past or the future."""
    path = path if path is not None else draw(policy_path())
    lines = []
    kind = draw(st.integers(0, 19))
    if kind == 0:
        lines.append(f'  policy = "{draw(st.sampled_from(("read", "write", "deny", "sudo")))}"')
    elif kind == 1:
        lines.append('  capabilities = ["deny"]')
    elif kind == 2:
        lines.append("  capabilities = []")
    else:
        chosen = draw(st.lists(st.sampled_from(CAPS), min_size=0 if must else 1, max_size=4, unique=True))
        chosen = [must, *(c for c in chosen if c != must)] if must else chosen
        lines.append(f"  capabilities = {json.dumps(chosen)}")
    lines.extend(constraints(draw, names))
    exp = draw(st.integers(0, 19))
    if exp == 0:
        lines.append('  expiration = "2001-01-01T00:00:00Z"')
    elif exp == 1:
        lines.append('  expiration = "2999-01-01T00:00:00Z"')
    return path, f'path "{path}" {{\n' + "\n".join(lines) + "\n}"


def spell(draw: st.DrawFn, name: str) -> str:
    """The name in random case with surrounding spaces, as a person might type it."""
    mask = draw(st.integers(0, 255))  # one draw whatever the name's length, so examples replay exactly
    cased = "".join(c.upper() if mask >> (i % 8) & 1 else c for i, c in enumerate(name))
    return draw(st.sampled_from(("", " ", "  "))) + cased + draw(st.sampled_from(("", " ")))


def request_paths(draw: st.DrawFn, policy_paths: Iterable[str], count: int) -> list[str]:
    """Request paths derived from the policies' paths so that many match: `+` and templates filled in (or
    kept literally), a `*` replaced by nothing or a suffix, a segment added or dropped, trailing and
    leading slashes."""
    bases = [p.lstrip("/") for p in policy_paths] or ["s/a"]
    out = []
    for _ in range(count):
        base = draw(st.sampled_from(bases))
        segs = []
        for seg in base.split("/"):
            if seg in ("+", TEMPLATE) or "{{" in seg:
                seg = draw(st.sampled_from((*SEGMENTS, "+", seg)))
            segs.append(seg)
        path = "/".join(segs)
        if path.endswith("*"):
            path = path[:-1] + draw(st.sampled_from(("", "x", "/y", "b/z", "*")))
        edit = draw(st.integers(0, 5))
        if edit == 0:
            path += "/" + draw(st.sampled_from(SEGMENTS))
        elif edit == 1 and "/" in path.strip("/"):
            path = path.rstrip("/").rsplit("/", 1)[0]
        path += draw(st.sampled_from(("", "", "/")))
        path = draw(st.sampled_from(("", "", "/"))) + path
        if path.strip("/"):
            out.append(path)
    return out
