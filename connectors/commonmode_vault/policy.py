"""Vault/OpenBao ACL policy evaluation: pure code over policy documents, no SDK, no network.

Sources: OpenBao docs "Policies" (concepts/policies: "Policy syntax", "Templated policies", "Path
expiration", "Parameter constraints", "Required response wrapping TTLs"), the same page in Vault's docs,
and the server itself. Every rule below was checked against OpenBao 2.7.2 (`sys/capabilities` and real
requests); tests/connectors/vault/test_acl.py and test_acl_differential.py keep checking it. Where the
server and the docs disagree, the server is followed and the comment says so.

Policy text (the HCL1 reader is hcl.py; this module decodes its object model into stanzas)
- Read as the server reads it: HCL1 (not HCL2), or HCL1's lenient JSON reader when the text starts with
  `{`. A block and an assignment are the same (`allowed_parameters { "value" = [] }` is
  `allowed_parameters = { "value" = [] }`); repeated keys add up (two `capabilities` lists are joined,
  parameter blocks merge). What the server refuses raises PolicyError: unknown keys, bad capabilities,
  `+*`, `path "x" = {...}`, `key: value`, bad durations, dates or integers, unbalanced `{{ }}`, invalid
  control groups. One thing it accepts is refused on purpose: a JSON list inside a list, which the
  server's reader mis-nests.
- Each block is read in the server's order: every field is decoded (type errors refuse the policy); a
  block past its `expiration` is dropped unchecked; one leading `/` is removed from the path; the legacy
  `policy = "read" | "write" | "sudo" | "deny"` is added; a `deny` in the capabilities ends them (the
  block is deny-only, its parameter constraints dropped).
- `*` is a glob only as the last character (elsewhere it is literal); a path with `/+` (or `+`, `+/...`)
  is matched segment by segment, `+` matching any one segment, a `+` inside a segment being literal.
- Capabilities: create read update patch delete list sudo deny scan (OpenBao); Vault's subscribe and
  recover are accepted too, because a policy stored on a Vault server was accepted by it.

Policy names: trimmed of surrounding whitespace and lower-cased wherever the server stores or attaches
them (sdk policyutil SanitizePolicies); empty names and duplicates dropped; `root` in any spelling leaves
only `root`. `ACL.build` applies this to the names it is given and to the documents' keys.

Which rule decides (deny by default; `root` allows everything)
- Blocks merge only when their path strings are identical after normalisation, across policies:
  capabilities ORed, a deny making the merged rule deny-only, parameter constraints merged (value lists
  appended, an empty list winning; required parameters joined), the lesser wrapping TTLs and page limit.
- An exact rule wins; otherwise the one longest plain `*` prefix and every matching `+` rule compete: the
  later first `+`/`*` wins, then a pattern not ending in `*`, then fewer `+` segments, then the longer
  pattern, then the lexically greater. The winner alone applies: "deny wins" only within it.
- LIST (and `sys/capabilities`, which evaluates as LIST) also tries the exact rule for the path without one
  trailing `/`, and, when no wildcard rule matched, the wildcard rules for that path.
- Templated paths (`{{identity.entity.name}}`...) apply only to a caller whose entity fills them (a bad
  template, or a value the entity lacks, drops the path). `capabilities` answers as `sys/capabilities`
  does for a token without an entity; `capability_cases` and `allows` consider every way the templates can
  resolve for the path (left out, or filled in and then merged and ranked like any rule), and a decision
  that differs between them is conditional.

Parameter constraints apply to read, create, update and patch, not to list or delete; a GET's query
parameters are its data. A request with no parameters passes `allowed` and `denied`; `required` names
must be sent (lower-case); `denied "*"` refuses any request with parameters; `allowed` limits names (and
values) unless it is only `"*"`. Values are compared as the server does: `a*`, `*a`, `*a*` globs, a
one-character value literal, other types by equality, so a denied list of strings never stops a number,
or a list (a repeated query parameter). What a request must carry depends on the engine, `allows(...,
engine=, mount=)`: KV v1 writes carry the secret's fields; KV v2 writes carry one `data` object, which
string values never match, and a read cannot carry an object field in its query string; PKI issue carries
`common_name` (or nothing, for a role with require_cn=false), sign a `csr`; `sys/policies/acl/<n>` a
`policy` (`sys/policy/<n>` also `rules`); token create and AppRole secret-id need nothing. `allows` says
no when no request the engine accepts passes, conditional (saying what is needed) when only some do, and
plain yes when the ordinary request passes with any content; other engines and APIs stay conditional
when constrained. Response-wrapping TTL bounds mean the request must be wrapped (noted, not conditional);
control groups (OpenBao and Vault Enterprise hold the response for approval) and `mfa_methods` (Vault
Enterprise step-up MFA) make a grant conditional.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from itertools import islice, product
from math import prod

from commonmode.kit import Decision, PolicyError, Tri
from commonmode_vault.hcl import GO_SPACE, Item, List, Lit, Obj, Value, go_int, parse_text

CAPABILITIES = frozenset({"create", "read", "update", "patch", "delete", "list", "sudo", "deny", "scan",
                          "subscribe", "recover"})
WRITES = frozenset({"create", "update", "patch"})
_CONSTRAINED_OPS = WRITES | {"read"}
_TEMPLATE = re.compile(r"\{\{[^}]*\}\}")


# --- policy names ----------------------------------------------------------------------------------------

def policy_name(name: str) -> str:
    """A policy name as the server stores and attaches it: surrounding whitespace trimmed and lower-cased
    character by character, as Go's strings.ToLower does (so `İ` is `i` and a final `Σ` is `σ`)."""
    return "".join("i" if ch == "\u0130" else ch.lower() for ch in name.strip(GO_SPACE))


def attached_policies(names: Iterable[str]) -> tuple[str, ...]:
    """The policy set a token holds for `names` (policyutil SanitizePolicies): names normalised, empty
    ones and duplicates dropped, and `root` in any spelling leaving only `root`."""
    out = sorted({policy_name(n) for n in names} - {""})
    return ("root",) if "root" in out else tuple(out)


# --- decoding the HCL1 object model into stanzas (hcl v1 decoder.go semantics) ---------------------------

def _filter(items: Sequence[Item], key: str) -> list[Item]:
    return [Item(i.keys[1:], i.value) for i in items if i.keys and i.keys[0].lower() == key.lower()]


#: One value the decoder reads for a struct field: a literal, a list, or items (a block, or an object's).
Field = Lit | List | tuple[Item, ...]


def _field(items: Sequence[Item], key: str) -> list[Field]:
    """What the decoder reads for one struct field: the labelled items as one list, then each assigned
    value (an object's items count as a list), in order."""
    matches = _filter(items, key)
    labelled = [i for i in matches if i.keys]
    out: list[Field] = [tuple(labelled)] if labelled else []
    out.extend(i.value.items if isinstance(i.value, Obj) else i.value for i in matches if not i.keys)
    return out


def _string(node: object, where: str) -> str:
    """hcl decodeString: strings and heredocs by value, integers by their text; not floats, bools or
    objects (the server refuses them)."""
    if isinstance(node, Lit) and node.kind in ("STRING", "HEREDOC", "NUMBER"):
        return node.text
    raise PolicyError(f"{where}: unknown type for string")


def _strings(items: Sequence[Item], key: str, where: str) -> list[str]:
    out: list[str] = []
    for node in _field(items, key):
        elements = node.items if isinstance(node, List) else node
        if isinstance(elements, Lit):
            raise PolicyError(f"{where}: {key}: unknown slice type")
        out.extend(_string(e, f"{where}: {key}") for e in elements)
    return out


def _last_string(items: Sequence[Item], key: str, where: str) -> str | None:
    """A string field: the last assignment wins; a block or object is refused."""
    values = [_string(n, f"{where}: {key}") for n in _field(items, key)]
    return values[-1] if values else None


def _interface(node: object, where: str) -> object:
    if isinstance(node, Lit):
        if node.kind == "NULL":
            raise PolicyError(f"{where}: cannot decode null")
        return node.value
    if isinstance(node, List):
        return tuple(_interface(e, where) for e in node.items)
    if isinstance(node, Obj):
        return tuple(sorted((i.keys[0] if i.keys else "", _interface(i.value, where)) for i in node.items))
    raise PolicyError(f"{where}: cannot decode into interface")


def _parameter_map(items: Sequence[Item], key: str, where: str) -> dict[str, tuple[object, ...]] | None:
    """`allowed_parameters` / `denied_parameters`: name → values (() = any value), names lower-cased as the
    server does. Block and assignment forms, repeated blocks and repeated names add up."""
    nodes = _field(items, key)
    if not nodes:
        return None
    out: dict[str, list[object]] = {}
    for node in nodes:
        if not isinstance(node, tuple):
            raise PolicyError(f"{where}: {key}: not an object type for map")
        done: set[str] = set()
        for item in node:
            if not item.keys:
                raise PolicyError(f"{where}: {key}: map must have string keys")
            name = item.keys[0]
            if name in done:
                continue
            value: Value | tuple[Item, ...] = item.value
            if len(item.keys) > 1:
                done.add(name)
                value = tuple(_filter(node, name))
            if isinstance(value, List):
                values = [_interface(e, where) for e in value.items]
            elif isinstance(value, Obj):
                values = [_interface(value, where)]
            else:
                raise PolicyError(f"{where}: {key}.{name}: unknown slice type")
            out.setdefault(name, []).extend(values)
    merged: dict[str, tuple[object, ...]] = {}
    for name, values in out.items():
        # The server lower-cases names; for a clash ("A" and "a") it keeps one list at random, so keep the
        # union, "any value" if either says so.
        low = name.lower()
        merged[low] = () if (low in merged and not merged[low]) or not values else (*merged.get(low, ()), *values)
    return merged


_GO_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h|d)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(node: object, where: str) -> float:
    """parseutil.ParseDurationSecond: a number of seconds, or a Go duration (with `d` for days)."""
    if isinstance(node, Lit) and node.kind in ("NUMBER", "FLOAT") and isinstance(node.value, int | float):
        return float(node.value)
    text = node.text.strip() if isinstance(node, Lit) and node.kind in ("STRING", "HEREDOC") else None
    if text is None:
        raise PolicyError(f"{where}: invalid duration")
    if text == "":
        return 0.0
    if re.fullmatch(r"[-+]?\d+", text):
        return float(text)
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.removeprefix("+"))
    parts = _GO_DURATION.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise PolicyError(f"{where}: invalid duration {text!r}")
    return sign * sum(float(n) * _UNITS[u] for n, u in parts)


def _expiration(text: str, where: str) -> datetime:
    """parseutil.ParseAbsoluteTime: RFC 3339 (with a zone) or seconds since the epoch."""
    if re.fullmatch(r"\d+", text.strip()):
        return datetime.fromtimestamp(int(text.strip()), tz=UTC)
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})", text.strip())
    if m is None:
        raise PolicyError(f"{where}: invalid expiration time {text!r}")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(m.group(1) + (m.group(2) or "")[:7] + zone)


_Params = tuple[tuple[str, tuple[object, ...]], ...]  # parameter name → values (() = any value), by name


@dataclass(frozen=True, kw_only=True)
class Stanza:
    """One `path` block of a policy, as the server reads it."""

    path: str  # one leading "/" stripped; a trailing "*" kept
    capabilities: frozenset[str]
    written: str = ""  # the path as the policy spells it
    allowed: _Params | None = None  # None: no allowed_parameters at all
    denied: _Params | None = None
    required: tuple[str, ...] = ()
    min_wrapping_ttl: float = 0.0
    max_wrapping_ttl: float = 0.0
    pagination_limit: int = 0
    expiration: datetime | None = None
    checks: tuple[str, ...] = ()  # Enterprise gates the server attaches: "control_group", "mfa_methods"

    @property
    def constrained(self) -> bool:
        """Whether the stanza has parameter constraints."""
        return bool(self.allowed or self.denied or self.required)


_PATH_KEYS = frozenset({"comment", "policy", "capabilities", "allowed_parameters", "denied_parameters",
                        "required_parameters", "min_wrapping_ttl", "max_wrapping_ttl", "mfa_methods",
                        "pagination_limit", "expiration", "list_scan_response_keys_filter_path",
                        "control_group"})
_LEGACY = {"deny": ("deny",), "read": ("read", "list"), "write": ("create", "read", "update", "delete", "list"),
           "sudo": ("create", "read", "update", "delete", "list", "sudo")}


def parse_policy(text: str, name: str, *, now: datetime | None = None) -> list[Stanza]:
    """The stanzas of one policy (HCL1 or JSON) as the server reads them, without those expired at `now`
    (default: the current time); PolicyError when the server would refuse it."""
    try:
        items = parse_text(text)
        for item in items:
            if item.keys[0] not in ("name", "path"):
                raise PolicyError(f"invalid key {item.keys[0]!r}")
        _last_string(items, "name", "root.name")
        now = now or datetime.now(UTC)
        return [s for s in (_stanza(i, now) for i in _filter(items, "path")) if s is not None]
    except PolicyError as exc:
        raise PolicyError(f"policy {name}: {exc}") from None


def _stanza(item: Item, now: datetime) -> Stanza | None:
    """One path block, in the server's order (policy.go parsePaths): key checks, decoding every field (type
    errors refuse the policy), expiration (an expired block is dropped unchecked), the path, the legacy
    policy, capabilities (a deny ends it), then the checks of the remaining fields."""
    key = item.keys[0] if item.keys else "path"
    where = f"path {key!r}"
    if key.count("{{") != key.count("}}"):
        raise PolicyError(f"{where}: unbalanced templating characters")
    if not isinstance(item.value, Obj):
        raise PolicyError(f"{where}: cannot check HCL keys of {type(item.value).__name__}")
    body = item.value.items
    for i in body:
        if i.keys[0] not in _PATH_KEYS:
            raise PolicyError(f"{where}: invalid key {i.keys[0]!r}")
    checks = _checks(body, where)
    caps = _strings(body, "capabilities", where)
    legacy = _last_string(body, "policy", where)
    allowed = _parameter_map(body, "allowed_parameters", where)
    denied = _parameter_map(body, "denied_parameters", where)
    required = tuple(dict.fromkeys(_strings(body, "required_parameters", where)))
    wrap_nodes = {k: _field(body, k)[-1] for k in ("min_wrapping_ttl", "max_wrapping_ttl") if _field(body, k)}
    limit = _pagination(body, where)
    raw_expiration = _last_string(body, "expiration", where)
    expiration = _expiration(raw_expiration, where) if raw_expiration else None
    if expiration is not None and expiration <= now:
        return None
    path = key[1:] if key.startswith("/") else key
    if "+*" in path:
        raise PolicyError(f"{where}: invalid use of wildcards ('+*' is forbidden)")
    if legacy:
        if legacy not in _LEGACY:
            raise PolicyError(f"{where}: invalid policy {legacy!r}")
        caps = list(_LEGACY["deny"]) if legacy == "deny" else caps + list(_LEGACY[legacy])
    for cap in caps:
        if cap == "deny":  # the server stops here: deny alone, its parameter constraints dropped
            return Stanza(path=path, written=key, capabilities=frozenset({"deny"}), checks=checks,
                          expiration=expiration)
        if cap not in CAPABILITIES:
            raise PolicyError(f"{where}: invalid capability {cap!r}")
    wrap = {k: _seconds(v, f"{where}: {k}") for k, v in wrap_nodes.items()}
    if wrap.get("min_wrapping_ttl") and wrap.get("max_wrapping_ttl") and \
            wrap["max_wrapping_ttl"] < wrap["min_wrapping_ttl"]:
        raise PolicyError(f"{where}: max_wrapping_ttl cannot be less than min_wrapping_ttl")
    if _field(body, "list_scan_response_keys_filter_path") and "list" not in caps:
        raise PolicyError(f"{where}: list_scan_response_keys_filter_path needs the list capability")
    return Stanza(path=path, written=key, capabilities=frozenset(caps),
                  allowed=None if allowed is None else tuple(sorted(allowed.items())),
                  denied=None if denied is None else tuple(sorted(denied.items())), required=required,
                  min_wrapping_ttl=wrap.get("min_wrapping_ttl", 0.0),
                  max_wrapping_ttl=wrap.get("max_wrapping_ttl", 0.0),
                  pagination_limit=limit, expiration=expiration, checks=checks)


def _pagination(body: Sequence[Item], where: str) -> int:
    values = [_int(node, f"{where}: pagination_limit") for node in _field(body, "pagination_limit")]
    return values[-1] if values else 0


def _int(node: object, where: str) -> int:
    """hcl decodeInt: an integer literal, or a string holding one (Go's base prefixes); nothing else."""
    if isinstance(node, Lit) and node.kind == "NUMBER" and isinstance(node.value, int):
        return node.value
    if isinstance(node, Lit) and node.kind == "STRING" and re.fullmatch(r"[-+]?(0[xX][0-9a-fA-F]+|\d+)", node.text):
        return go_int(node.text)
    raise PolicyError(f"{where}: not an integer")


_OPERATIONS = frozenset({"create", "read", "update", "delete", "list", "patch", "scan", "help", "revoke", "renew",
                         "rollback", "alias-lookahead", "resolve-role", "header"})


def _checks(body: Sequence[Item], where: str) -> tuple[str, ...]:
    """The approval gates of a block: `control_group` (enforced by OpenBao and Vault Enterprise: the
    response waits for approval), validated as the server does, and `mfa_methods` (Vault Enterprise
    step-up MFA)."""
    groups = _filter(body, "control_group")  # hclutil.WhenHCLKeyPresent: each block, labelled or not
    for group in groups:
        items = group.value.items if isinstance(group.value, Obj) else None
        if items is None or any(i.keys[0] not in ("ttl", "self_auth_allowed", "factor") for i in items):
            raise PolicyError(f"{where}: control_group: invalid")
        for ttl in _field(items, "ttl"):
            _seconds(ttl, f"{where}: control_group ttl")
        factors = [f for f in items if f.keys[0] == "factor"]
        if not factors:
            raise PolicyError(f"{where}: control_group requires at least one factor")
        for factor in factors:
            _control_factor(factor, where)
    out = ["control_group"] if groups else []
    if _strings(body, "mfa_methods", where):
        out.append("mfa_methods")
    return tuple(out)


def _control_factor(factor: Item, where: str) -> None:
    """A `factor "name" { controlled_capabilities = [...]  identity { group_names = [...]  approvals = n } }`."""
    body = factor.value.items if isinstance(factor.value, Obj) and len(factor.keys) == 2 else None
    if body is None or any(i.keys[0] not in ("controlled_capabilities", "identity") for i in body):
        raise PolicyError(f"{where}: control_group factor: invalid")
    ops = _strings(body, "controlled_capabilities", where)
    if not ops or not set(ops) <= _OPERATIONS:
        raise PolicyError(f"{where}: control_group factor: missing or invalid controlled capabilities")
    identity = [n for n in _field(body, "identity") if isinstance(n, tuple)]
    groups = [g for n in identity for g in _strings(n, "group_names", where)]
    approvals = [_int(v, f"{where}: approvals") for n in identity for v in _field(n, "approvals")]
    if not groups:
        raise PolicyError(f"{where}: control_group factor: missing approving groups")
    if not approvals or approvals[-1] <= 0:
        raise PolicyError(f"{where}: control_group factor: missing required approvals")


# --- rules ------------------------------------------------------------------------------------------------

def _is_segmented(path: str) -> bool:
    """acl.go's HasSegmentWildcards: such a path is matched segment by segment."""
    return path == "+" or "/+" in path or path.startswith("+/")


@dataclass(frozen=True, kw_only=True)
class Rule:
    """The merged stanzas of one path string (after normalisation), across the policies of a set."""

    path: str
    capabilities: frozenset[str]
    sources: tuple[str, ...]  # 'policy dns-reader path "secret/data/dns/*"'
    templated: bool = False
    allowed: _Params | None = None
    denied: _Params | None = None
    required: tuple[str, ...] = ()
    min_wrapping_ttl: float = 0.0
    max_wrapping_ttl: float = 0.0
    pagination_limit: int = 0
    checks: tuple[str, ...] = ()
    expires: datetime | None = None  # the earliest expiration among its stanzas

    @property
    def constrained(self) -> bool:
        """Whether parameter constraints apply to requests this rule decides."""
        return bool(self.allowed or self.denied or self.required)

    @cached_property
    def kind(self) -> str:
        """"segment" (matched segment by segment), "prefix" (a plain `*` prefix) or "exact"."""
        if _is_segmented(self.path):
            return "segment"
        return "prefix" if self.path.endswith("*") else "exact"

    @cached_property
    def is_prefix(self) -> bool:
        return self.path.endswith("*")

    @cached_property
    def parts(self) -> tuple[str, ...]:
        """The segments of the pattern (without a trailing `*`)."""
        return tuple((self.path[:-1] if self.is_prefix else self.path).split("/"))

    @property
    def is_exact(self) -> bool:
        return self.kind == "exact" and not self.templated

    @cached_property
    def segment_wildcards(self) -> int:
        return sum(1 for s in self.path.split("/") if s == "+")

    @cached_property
    def first_wildcard(self) -> int:
        """Where the first `+` or `*` is, as acl.go ranks it (for a templated rule: its first template,
        since everything from there depends on the caller)."""
        positions = [len(self.path)]
        if self.kind == "prefix":
            positions.append(len(self.path) - 1)
        if self.kind == "segment":
            positions.append(self.path.index("+"))
        if self.templated:
            m = _TEMPLATE.search(self.path)
            positions.append(m.start() if m else len(self.path))
        return min(positions)

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(_pattern_regex(self.path, self.kind))

    def matches(self, path: str) -> bool:
        """Whether this rule matches request `path` (leading `/` stripped); a template matches any value
        without `/`."""
        if not self.templated:
            return _match(self, path)
        return self._pattern.fullmatch(path) is not None

    def rank(self) -> tuple[int, int, int, int, str]:
        """Higher is higher priority (docs "Policy syntax", acl.go's sort)."""
        stem = self.path[:-1] if self.is_prefix else self.path
        return self.first_wildcard, 0 if self.is_prefix else 1, -self.segment_wildcards, len(stem), stem


def _pattern_regex(path: str, kind: str) -> str:
    """A regex for a templated path: each template is a value without `/`; `+` one segment."""
    body, prefix = (path[:-1], True) if path.endswith("*") else (path, False)
    parts = []
    for seg in body.split("/"):
        if kind == "segment" and seg == "+":
            parts.append("[^/]*")
        else:
            parts.append("[^/]*".join(re.escape(p) for p in _TEMPLATE.split(seg)))
    return "/".join(parts) + (".*" if prefix else "")


def _match(rule: Rule, path: str, have: Sequence[str] | None = None) -> bool:
    """acl.go's matching of one non-templated rule against a request path (`have`: its segments)."""
    if rule.kind == "exact":
        return path == rule.path
    if rule.kind == "prefix":
        return path.startswith(rule.path[:-1])
    want, prefix = rule.parts, rule.is_prefix
    have = path.split("/") if have is None else have
    if len(have) < len(want) or (not prefix and len(have) != len(want)):
        return False
    last = len(want) - 1
    for i, part in enumerate(want):
        if part != "+" and part != have[i] and not (prefix and i == last and have[i].startswith(part)):
            return False
    return True


def _merge(old: Rule | None, new: Rule) -> Rule:
    """Two stanzas (or rules) for one path string, merged as acl.go's NewACL does."""
    if old is None:
        return new
    sources = (*old.sources, *new.sources)
    if "deny" in old.capabilities or "deny" in new.capabilities:
        return replace(old, capabilities=frozenset({"deny"}), sources=sources, allowed=None, denied=None)
    return replace(old, capabilities=old.capabilities | new.capabilities, sources=sources,
                   allowed=_merge_params(old.allowed, new.allowed), denied=_merge_params(old.denied, new.denied),
                   required=tuple(dict.fromkeys((*old.required, *new.required))),
                   min_wrapping_ttl=_lesser(old.min_wrapping_ttl, new.min_wrapping_ttl),
                   max_wrapping_ttl=_lesser(old.max_wrapping_ttl, new.max_wrapping_ttl),
                   pagination_limit=int(_lesser(old.pagination_limit, new.pagination_limit)),
                   checks=tuple(dict.fromkeys((*old.checks, *new.checks))),
                   expires=min((e for e in (old.expires, new.expires) if e), default=None))


def _lesser(a: float, b: float) -> float:
    return min(x for x in (a, b) if x > 0) if a > 0 or b > 0 else 0.0


def _merge_params(old: _Params | None, new: _Params | None) -> _Params | None:
    """Allowed/denied maps of identical paths: values append, and an empty list (any value) wins."""
    if not new:
        return old
    if old is None:
        return new
    merged = dict(old)
    for name, values in new:
        merged[name] = () if not values or (name in merged and not merged[name]) else (*values, *merged.get(name, ()))
    return tuple(sorted(merged.items()))


@dataclass(frozen=True)
class _Index:
    """The rules as acl.go keeps them: exact paths, plain prefixes, and segment rules (these by their
    number of segments, which a non-`*` one must equal)."""

    exact: Mapping[str, Rule]
    prefix: Mapping[str, Rule]  # keyed by the prefix (the path without its "*")
    segment: Mapping[int, tuple[Rule, ...]]  # non-prefix segment rules by segment count
    segment_prefix: tuple[Rule, ...]

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> _Index:
        exact, prefix, segment, segment_prefix = {}, {}, defaultdict(list), []
        for r in rules:
            if r.kind == "exact":
                exact[r.path] = r
            elif r.kind == "prefix":
                prefix[r.path[:-1]] = r
            elif r.is_prefix:
                segment_prefix.append(r)
            else:
                segment[len(r.parts)].append(r)
        return cls(exact, prefix, {n: tuple(v) for n, v in segment.items()}, tuple(segment_prefix))

    def decide(self, path: str, list_op: bool) -> Rule | None:
        """acl.go AllowOperation's choice of rule for `path`."""
        if path in self.exact:
            return self.exact[path]
        trimmed = path[:-1] if path.endswith("/") else path
        if list_op and trimmed in self.exact:
            return self.exact[trimmed]
        found = self.nonexact(path)
        if found is None and list_op and path.endswith("/"):
            found = self.nonexact(trimmed)
        return found

    def nonexact(self, path: str) -> Rule | None:
        have = path.split("/")
        pool = [r for r in (*self.segment.get(len(have), ()), *self.segment_prefix) if _match(r, path, have)]
        for n in range(len(path), -1, -1):  # the one longest plain prefix
            if path[:n] in self.prefix:
                pool.append(self.prefix[path[:n]])
                break
        return max(pool, key=Rule.rank) if pool else None


# --- what a request must carry, per engine ----------------------------------------------------------------

@dataclass(frozen=True)
class _Shape:
    """The top-level parameters an ordinary request of one API carries."""

    keys: tuple[tuple[str, str], ...] = ()  # (name, "scalar" | "object")
    free: bool = False  # at least one field the caller names (KV v1: the secret's fields)
    caveat: str = ""  # the engine may refuse this form: then at best conditional
    unsendable: frozenset[str] = frozenset()  # object fields a read's query string cannot carry


_NONE = (_Shape(),)
# A read carries its parameters in the query string, as strings; the endpoint refuses a string for a field
# it types as an object ("Field validation failed"), so a read that must send one never passes.
_READ_SHAPES: tuple[tuple[str, re.Pattern[str], tuple[_Shape, ...]], ...] = tuple(
    (engine, re.compile(rx), (_Shape(unsendable=frozenset(fields)),)) for engine, rx, fields in (
        ("kv2", r"data/.+", ("data", "options")),
        ("kv2", r"metadata/.+", ("custom_metadata",)),
    ))
# (engine, regex over the path after the mount) → alternatives for a write; a request passes if one does.
# KV v1/v2: OpenBao API docs "KV secrets engine - version 1/2"; PKI: "PKI secrets engine (API)";
# sys/policies/acl: "/sys/policies"; token create and AppRole secret-id take only optional fields.
# KV v2: the "Policies" docs say parameter constraints are "not supported" there. The server does apply
# them, to the request's top-level keys (`data`, `options`): a constraint naming a secret's field cannot
# limit it, but `allowed_parameters = {"value" = []}` refuses every write (no `data`), and a required
# `data` refuses every read. We follow the server.
_WRITE_SHAPES: tuple[tuple[str, re.Pattern[str], tuple[_Shape, ...]], ...] = tuple(
    (engine, re.compile(rx), shapes) for engine, rx, shapes in (
        ("kv1", r".+", (_Shape(free=True),)),
        ("kv2", r"data/.+", (_Shape(keys=(("data", "object"),)),)),
        ("kv2", r"(delete|undelete|destroy)/.+", (_Shape(keys=(("versions", "scalar"),)),)),
        ("pki", r"(issuer/[^/]+/)?issue/[^/]+", (_Shape(keys=(("common_name", "scalar"),)), _Shape(
            caveat="a request without common_name, which only a role with require_cn=false accepts"))),
        ("pki", r"(issuer/[^/]+/)?sign(-verbatim)?(/[^/]+)?|(root|issuer/[^/]+)/sign-intermediate",
         (_Shape(keys=(("csr", "scalar"),)),)),
        ("system", r"policies/acl/[^/]+", (_Shape(keys=(("policy", "scalar"),)),)),
        ("system", r"policy/[^/]+", (_Shape(keys=(("policy", "scalar"),)), _Shape(keys=(("rules", "scalar"),)))),
        ("token", r"create(-orphan)?(/[^/]+)?", _NONE),
        ("approle", r"role/[^/]+/secret-id", _NONE),
    ))
_MOUNTS = {"system": "sys/", "token": "auth/token/", "identity": "identity/"}


_ENGINES = {"generic": "kv1", "kv-v1": "kv1", "kv-v2": "kv2"}  # older and plugin names of the same engines


def _shapes(table: Sequence[tuple[str, re.Pattern[str], tuple[_Shape, ...]]], engine: str, mount: str,
            path: str) -> tuple[_Shape, ...] | None:
    """What a request to `path` carries, or None when the engine or API is not in `table`. Without a
    mount, the first API the path can be read as (after at least one mount segment)."""
    engine = _ENGINES.get(engine, engine)
    mount = mount or _MOUNTS.get(engine, "")
    for name, rx, shapes in table:
        if name != engine:
            continue
        if mount:
            if path.startswith(mount.rstrip("/") + "/") and rx.fullmatch(path[len(mount.rstrip("/")) + 1:]):
                return shapes
        elif re.fullmatch(r"[^/]+(/[^/]+)*?/(" + rx.pattern + ")", path):  # mount unknown: shortest one
            return shapes
    return None


_ANY, _SOME, _NO = "any", "some", "no"


def _admits(name: str, kind: str, allowed: Mapping[str, tuple[object, ...]],
            denied: Mapping[str, tuple[object, ...]]) -> str:
    """Whether the constraints let a request carry `name`: with any value, only some values, or not.
    The docs say `"*"` takes only `[]`; the server also accepts `"*" = ["x"]` and lets every name through
    then, values unchecked, as here. A denied list of values never refuses a name outright: some value of
    another type passes (acl.go valueInSlice compares non-strings by equality; Vault 1.21 changed how
    lists are compared, OpenBao 2.7.2 has not)."""
    restricted = False
    if name in denied:
        if not denied[name]:
            return _NO
        restricted = kind != "object"  # a string, number or bool never equals an object
    if allowed and not (len(allowed) == 1 and "*" in allowed):
        if name in allowed:
            values = allowed[name]
            if values and kind == "object" and all(not isinstance(v, tuple) for v in values):
                return _NO
            restricted = restricted or bool(values)
        elif "*" not in allowed:
            return _NO
    return _SOME if restricted else _ANY


def _admits_all(allowed: Mapping[str, tuple[object, ...]]) -> bool:
    """Whether `allowed_parameters` lets every name through with any value: absent, only `"*"`, or `"*"`
    with every other name at `[]`."""
    if not allowed or (len(allowed) == 1 and "*" in allowed):
        return True
    return "*" in allowed and all(not v for k, v in allowed.items() if k != "*")


def _parameter_answer(rule: Rule, op: str, shapes: tuple[_Shape, ...] | None) -> tuple[str, str]:
    """(any|some|no, why) for an `op` request under the rule's parameter constraints."""
    allowed, denied = dict(rule.allowed or ()), dict(rule.denied or ())
    required = tuple(p.lower() for p in rule.required)
    if shapes is None:
        bad = [p for p in required if "*" in denied or _admits(p, "scalar", allowed, denied) == _NO]
        if bad:
            return _NO, f"required parameter {bad[0]!r} is one its constraints refuse"
        return _SOME, "its parameter constraints limit this request and what it needs is not modelled here"
    answers = [_shape_answer(s, required, allowed, denied) for s in shapes]
    best = min(answers, key=lambda a: (_ANY, _SOME, _NO).index(a[0]))
    return best


def _shape_answer(shape: _Shape, required: Sequence[str], allowed: Mapping[str, tuple[object, ...]],
                  denied: Mapping[str, tuple[object, ...]]) -> tuple[str, str]:
    need = dict(shape.keys)
    for p in required:
        need.setdefault(p, "scalar")
    unsendable = sorted(shape.unsendable & set(required))
    if unsendable:
        return _NO, f"required parameter {unsendable[0]!r} is an object, which a read's query string cannot carry"
    # Docs: denied "*" "will deny any parameter"; acl.go checks it only when the request has parameters,
    # so a request that needs none still passes.
    if (need or shape.free) and "*" in denied:
        return _NO, 'denied_parameters "*" refuses every request with parameters'
    verdicts = {name: _admits(name, kind, allowed, denied) for name, kind in need.items()}
    refused = [n for n, v in verdicts.items() if v == _NO]
    if refused:
        return _NO, f"its parameter constraints refuse {refused[0]!r}, which the request needs"
    limits = [f"{p!r} must be sent" for p in required if p not in dict(shape.keys)]
    limits += [f"{n!r} only with some values" for n, v in verdicts.items() if v == _SOME]
    if shape.free:
        named = [n for n in allowed if n != "*" and _admits(n, "scalar", allowed, denied) != _NO]
        if allowed and "*" not in allowed and not named:
            return _NO, "its parameter constraints admit no field"
        if denied or not _admits_all(allowed):
            limits.append("only the fields and values its parameter constraints admit")
    if shape.caveat:
        return _SOME, f"only {shape.caveat}"
    if limits:
        return _SOME, "; ".join(limits)
    return _ANY, "its parameter constraints do not limit this request"


# --- the ACL ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class ACL:
    """The merged rules of a set of policies (a token's, an entity's, a role's)."""

    rules: Mapping[str, Rule] = field(default_factory=dict)  # by normalised path string
    root: bool = False

    @classmethod
    def build(cls, policies: Iterable[str], documents: Mapping[str, Sequence[Stanza]], *,
              now: datetime | None = None) -> ACL:
        """The ACL of a token holding `policies`, looked up in `documents` by name the way the server
        does (trimmed, lower-cased); stanzas past their expiration are left out."""
        names = attached_policies(policies)
        if names == ("root",):
            return cls(root=True)
        docs = {policy_name(k): v for k, v in documents.items()}
        now = now or datetime.now(UTC)
        rules: dict[str, Rule] = {}
        for name in names:
            for s in docs.get(name, ()):
                if s.expiration is not None and s.expiration <= now:
                    continue
                source = f'policy {name} path "{s.written or s.path}"'
                rule = Rule(path=s.path, capabilities=s.capabilities, sources=(source,),
                            templated="{{" in s.path, allowed=s.allowed, denied=s.denied, required=s.required,
                            min_wrapping_ttl=s.min_wrapping_ttl, max_wrapping_ttl=s.max_wrapping_ttl,
                            pagination_limit=s.pagination_limit, checks=s.checks, expires=s.expiration)
                rules[s.path] = _merge(rules.get(s.path), rule)
        return cls(rules=rules)

    @cached_property
    def _index(self) -> _Index:
        return _Index.of(r for r in self.rules.values() if not r.templated)

    @cached_property
    def _templated(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules.values() if r.templated and _valid_template(r.path))

    def decide(self, path: str, list_op: bool = False) -> Rule | None:
        """The one rule that decides for `path` for a caller without an entity (None: deny)."""
        return self._index.decide(path.lstrip("/"), list_op)

    def capabilities(self, path: str) -> frozenset[str]:
        """Capabilities on `path` exactly as `sys/capabilities` reports them for a token without an entity
        (it evaluates as LIST; `deny` when nothing allows; `root` for the root policy)."""
        if self.root:
            return frozenset({"root"})
        rule = self.decide(path, list_op=True)
        if rule is None or "deny" in rule.capabilities or not rule.capabilities:
            return frozenset({"deny"})
        return rule.capabilities

    def capability_cases(self, path: str) -> frozenset[frozenset[str]]:
        """Every answer `sys/capabilities` can give on `path`, over the callers templated paths can resolve
        for (one answer when no templated path could match)."""
        if self.root:
            return frozenset({frozenset({"root"})})
        return frozenset(frozenset({"deny"}) if r is None or "deny" in r.capabilities or not r.capabilities
                         else r.capabilities for r in self._cases(path.lstrip("/"), True))

    def allows(self, path: str, *caps: str, engine: str = "", mount: str = "") -> Decision:
        """Whether a request needing any of `caps` on `path` can pass: YES, MAYBE (only some requests pass,
        or it depends on the caller) or NO, with the deciding rule's sources plus explanations as `via`.
        `engine` is what serves the path ("kv1", "kv2", or the mount type sys/mounts or sys/auth reports:
        "pki", "system", "token", "approle", …; "" = unknown) and decides what parameter constraints do;
        `mount` (e.g. "secret/") pins where its API starts."""
        if self.root:
            return Decision(Tri.YES, ("the root policy",))
        path = path.lstrip("/")
        cases = {op: self._cases(path, op) for op in {cap in ("list", "scan") for cap in caps}}
        answers = [self._cap_answer(path, cap, engine, mount, cases[cap in ("list", "scan")]) for cap in caps]
        granted = [a for a in answers if a[0] != _NO]
        if not granted:
            return Decision(Tri.NO, _dedupe(s for a in answers for s in a[1]))
        best = min(granted, key=lambda a: (_ANY, _SOME).index(a[0]))
        return Decision(Tri.MAYBE if best[0] == _SOME else Tri.YES, best[1])

    def _cap_answer(self, path: str, cap: str, engine: str, mount: str,
                    cases: list[Rule | None]) -> tuple[str, tuple[str, ...]]:
        """One capability, over every way the templated paths that could match resolve for the caller."""
        undecided = _UNDECIDED in cases and any(cap in t.capabilities for t in self._templated)
        cases = [c for c in cases if c is not _UNDECIDED or undecided]
        results = [(_rule_answer(rule, cap, path, engine, mount), rule) for rule in cases]
        verdicts = {verdict for (verdict, _), rule in results if rule is not _UNDECIDED}
        if undecided:
            verdicts.add(_SOME)

        def explained(entries: Iterable[tuple[tuple[str, tuple[str, ...]], Rule | None]]) -> tuple[str, ...]:
            return _dedupe(s for (_, why), rule in entries for s in (*(rule.sources if rule else ()), *why))

        if len(verdicts) == 1:
            return verdicts.pop(), explained(results)
        templates = ", ".join(f'"{t.path}"' for t in self._templated if t.matches(path))
        granted = [r for r in results if r[0][0] != _NO]
        return _SOME, (*explained(granted), f"depends on the caller's identity (templated path {templates})")

    def _cases(self, path: str, list_op: bool) -> list[Rule | None]:
        """The deciding rule for each way the templated rules that could match `path` resolve: left out (no
        entity, or values that do not match) or filled in with values that make them match. Each is then
        ranked and merged like any rule (docs "Templated policies": the server fills them in first). Past
        _MAX_CASES combinations, the _UNDECIDED rule stands for the rest."""
        base = self._index.decide(path, list_op)
        candidates = [path] + ([path[:-1]] if list_op and path.endswith("/") else [])
        options = []
        for t in self._templated:
            filled = _dedupe(c for p in candidates for c in _fillings(t, p))
            if filled:
                options.append([None, *(replace(t, path=c, templated=False) for c in filled)])
        cases: list[Rule | None] = [base]
        if prod(len(o) for o in options) > _MAX_CASES:
            return [*cases, _UNDECIDED]
        for choice in islice(product(*options), 1, None):  # the first choice is "none applies": base
            rules = dict(self.rules)
            for r in choice:
                if r is not None:
                    old = rules.get(r.path)
                    rules[r.path] = _merge(None if old is None or old.templated else old, r)
            cases.append(_Index.of(r for r in rules.values() if not r.templated).decide(path, list_op))
        return cases


_MAX_CASES = 256
# Stands for the combinations of templated paths not enumerated: it may allow or not, so it keeps any
# answer conditional (and a "no" becomes "conditional").
_UNDECIDED = Rule(path="", capabilities=frozenset(), sources=("too many templated paths to decide every case",))


def _rule_answer(rule: Rule | None, cap: str, path: str, engine: str, mount: str) -> tuple[str, tuple[str, ...]]:
    """(any|some|no, explanations) for one capability under the deciding rule."""
    if rule is _UNDECIDED:
        return _SOME, ()
    if rule is None:
        return _NO, ()
    if "deny" in rule.capabilities:
        return _NO, ("denied",)
    if cap not in rule.capabilities:
        return _NO, ()
    notes: list[str] = []
    if rule.min_wrapping_ttl and rule.max_wrapping_ttl and rule.max_wrapping_ttl < rule.min_wrapping_ttl:
        return _NO, ("its merged min_wrapping_ttl exceeds its max_wrapping_ttl, so no request passes",)
    if rule.min_wrapping_ttl or rule.max_wrapping_ttl:
        notes.append("requests must be response-wrapped (docs: required response wrapping TTLs)")
    if rule.expires:
        notes.append(f"until {rule.expires.isoformat()} (path expiration)")
    verdict = _ANY
    if rule.checks:
        verdict = _SOME
        notes.append({"control_group": "needs control-group approval before the response is released",
                      "mfa_methods": "needs step-up MFA (mfa_methods: Vault Enterprise enforces it, OpenBao not)"}
                     [rule.checks[0]] if len(rule.checks) == 1 else "needs control-group approval and step-up MFA")
    if cap in _CONSTRAINED_OPS and rule.constrained:
        shapes = _shapes(_READ_SHAPES, engine, mount, path) or _NONE if cap == "read" else \
            _shapes(_WRITE_SHAPES, engine, mount, path)
        answer, why = _parameter_answer(rule, cap, shapes)
        if answer == _NO:
            return _NO, (f"no {cap} passes: {why}",)
        notes.append(f"{cap}: {why}" if answer == _SOME or _ENGINES.get(engine, engine) != "kv2" else
                     f"{cap}: KV v2 keeps a secret's fields inside 'data', which these constraints do not limit")
        verdict = _SOME if answer == _SOME else verdict
    if cap in ("list", "scan") and rule.pagination_limit > 0 and "limit" in (p.lower() for p in rule.required):
        verdict = _SOME
        notes.append(f"{cap} must send a limit of at most {rule.pagination_limit}")
    return verdict, tuple(notes)


_TEMPLATE_NAMES = re.compile(
    r"identity\.(entity\.(id|name|metadata\.[^{}]+"
    r"|aliases\.[^.{}]+\.(id|name|metadata\.[^{}]+|custom_metadata\.[^{}]+))"
    r"|groups\.(ids\.[^.{}]+\.name|names\.[^.{}]+\.id))")


def _valid_template(path: str) -> bool:
    """Whether every template in `path` is one the server can fill (docs "Templated policies"); others make
    the server skip the path."""
    return all(_TEMPLATE_NAMES.fullmatch(m.group(0)[2:-2].strip()) for m in _TEMPLATE.finditer(path))


def _fillings(rule: Rule, path: str) -> list[str]:
    """The concrete path strings the templated `rule` can become that match request `path` (values hold
    no `/`); for a trailing `*`, every prefix the template can end on."""
    if not rule.matches(path):
        return []
    body, prefix = (rule.path[:-1], True) if rule.is_prefix else (rule.path, False)
    if not prefix:
        want, have = body.split("/"), path.split("/")
        return ["/".join(h if _TEMPLATE.search(w) else w for w, h in zip(want, have, strict=False))]
    regex = re.compile(_pattern_regex(body, "segment" if _is_segmented(rule.path) else "prefix"))
    out = []
    for n in range(len(path) + 1):
        if regex.fullmatch(path[:n]):
            stem = path[:n]
            if _is_segmented(rule.path):  # keep its `+` segments
                stem = "/".join("+" if w == "+" else h for w, h in zip(body.split("/"), stem.split("/"), strict=False))
            out.append(stem + "*")
    return out


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


__all__ = ["ACL", "CAPABILITIES", "WRITES", "PolicyError", "Rule", "Stanza", "attached_policies", "parse_policy",
           "policy_name"]
