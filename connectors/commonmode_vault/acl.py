"""Vault/OpenBao ACL policy evaluation: pure code over policy documents, no SDK, no network.

Rules (Vault docs "Policies" — priority matching; vault/acl.go, kept by OpenBao), as summarised in
shared/DOMAIN.md §2.4:
- deny by default; the `root` policy allows everything;
- `*` only at the end, a prefix match; `+` matches exactly one path segment;
- stanzas merge only when their path strings are identical (across policies): capabilities are ORed, and
  a `deny` among them makes the merged rule deny-only;
- one rule decides, with no merging across patterns: an exact (wildcard-free) match wins; otherwise the
  longest-prefix `*` rule and every matching `+` rule compete, ranked: the later first wildcard wins,
  then a pattern not ending in `*`, then fewer `+`, then the longer pattern, then the lexically greater;
- for LIST, the path with and without its trailing slash is tried;
- templated paths (`{{identity.entity.id}}`…) depend on the caller's identity: such a rule's segment
  matches any value, and a decision that rests on it is conditional;
- parameter constraints (`allowed_parameters`, `denied_parameters`, `required_parameters`) limit what a
  create/update/patch may send (a PKI role's `common_name`, a policy's text): a write decided by a rule
  that has them is conditional. Reads send no parameters and are not affected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

CAPABILITIES = frozenset({"create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe",
                          "recover"})
_TEMPLATE = re.compile(r"\{\{[^}]*\}\}")
WRITES = frozenset({"create", "update", "patch"})


class PolicyError(ValueError):
    """A policy that is not valid Vault policy syntax."""


@dataclass(frozen=True)
class Rule:
    """One path stanza after merging identical path strings."""

    path: str
    capabilities: frozenset[str]
    sources: tuple[str, ...]  # "policy dns-reader path \"secret/data/dns/*\""
    templated: bool = False
    constrained: bool = False  # some merged stanza has parameter constraints

    @cached_property
    def is_prefix(self) -> bool:
        return self.path.endswith("*")

    @cached_property
    def is_exact(self) -> bool:
        return not self.is_prefix and "+" not in self.path.split("/") and not self.templated

    @cached_property
    def segment_wildcards(self) -> int:
        return sum(1 for s in self.path.split("/") if s == "+" or _TEMPLATE.fullmatch(s))

    @cached_property
    def first_wildcard(self) -> int:
        positions = [i for i, c in enumerate(self.path) if c == "*"]
        pos = 0
        for seg in self.path.split("/"):
            if seg == "+" or _TEMPLATE.search(seg):
                positions.append(pos)
            pos += len(seg) + 1
        return min(positions) if positions else len(self.path)

    def matches(self, path: str) -> bool:
        if self.is_exact:
            return path == self.path
        if "+" not in self.path.split("/") and not self.templated:
            return path.startswith(self.path[:-1])
        pat, segs = self.path.split("/"), path.split("/")
        for i, p in enumerate(pat):
            if i == len(pat) - 1 and p.endswith("*"):
                return i < len(segs) and _segment_prefix(p[:-1], "/".join(segs[i:]))
            if i >= len(segs) or not _segment_equal(p, segs[i]):
                return False
        return len(pat) == len(segs)

    def rank(self) -> tuple[int, int, int, int, str]:
        """Higher is higher priority (Vault docs "Priority matching")."""
        return (self.first_wildcard, 0 if self.is_prefix else 1, -self.segment_wildcards, len(self.path), self.path)


def _template_regex(segment: str) -> str:
    return ".*".join(re.escape(part) for part in _TEMPLATE.split(segment))


def _segment_equal(pattern: str, segment: str) -> bool:
    if pattern == "+":
        return True
    if _TEMPLATE.search(pattern):
        return re.fullmatch(_template_regex(pattern), segment) is not None
    return pattern == segment


def _segment_prefix(pattern: str, rest: str) -> bool:
    if _TEMPLATE.search(pattern):
        return re.match(_template_regex(pattern), rest) is not None
    if pattern == "+":
        return True
    return rest.startswith(pattern)


def _unquote(value: object) -> object:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


class Stanza(NamedTuple):
    """One `path` block of a policy."""

    path: str
    capabilities: frozenset[str]
    constrained: bool = False  # allowed_/denied_/required_parameters present


PARAMETER_KEYS = ("allowed_parameters", "denied_parameters", "required_parameters")


def parse_policy(text: str, name: str) -> list[Stanza]:
    """The stanzas of one policy, HCL or JSON. Legacy `policy = "write"` is translated."""
    if text.strip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"policy {name}: not JSON ({exc.msg})") from exc
        blocks = data.get("path", {})
        items = list(blocks.items()) if isinstance(blocks, dict) else [kv for b in blocks for kv in b.items()]
    else:
        import hcl2

        try:
            data = hcl2.loads(text)
        except Exception as exc:  # noqa: BLE001 — the HCL parser raises several types
            raise PolicyError(f"policy {name}: not valid HCL ({type(exc).__name__})") from exc
        items = [(str(_unquote(k)), v) for block in data.get("path", []) for k, v in block.items()]
    out = []
    for path, body in items:
        body = body if isinstance(body, dict) else {}
        caps = _unquote(body.get("capabilities", []))
        legacy = _unquote(body.get("policy"))
        if legacy:
            caps = {"deny": ["deny"], "read": ["read", "list"], "write": ["create", "read", "update", "delete", "list"],
                    "sudo": ["create", "read", "update", "delete", "list", "sudo"]}.get(str(legacy), [])
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise PolicyError(f"policy {name}: path {path!r}: capabilities must be a list of strings")
        unknown = set(caps) - CAPABILITIES
        if unknown:
            raise PolicyError(f"policy {name}: path {path!r}: unknown capabilities {sorted(unknown)}")
        if "*" in path[:-1]:
            raise PolicyError(f"policy {name}: path {path!r}: '*' is allowed only at the end")
        out.append(Stanza(path, frozenset(caps), any(_unquote(body.get(k)) for k in PARAMETER_KEYS)))
    return out


@dataclass
class ACL:
    """The merged rules of a set of policies (a token's, an entity's, a role's)."""

    rules: dict[str, Rule] = field(default_factory=dict)
    root: bool = False

    @classmethod
    def build(cls, policies: Iterable[str], documents: Mapping[str, Sequence[Stanza]]) -> ACL:
        acl = cls()
        for name in policies:
            if name == "root":
                acl.root = True
                continue
            for path, caps, constrained in documents.get(name, ()):
                src = f'policy {name} path "{path}"'
                old = acl.rules.get(path)
                merged = caps | (old.capabilities if old else frozenset())
                if "deny" in merged:
                    merged = frozenset({"deny"})
                acl.rules[path] = Rule(path, merged, (*(old.sources if old else ()), src),
                                       templated=bool(_TEMPLATE.search(path)),
                                       constrained=constrained or bool(old and old.constrained))
        return acl

    def decide(self, path: str, list_op: bool = False) -> Rule | None:
        """The one rule that decides for `path` (None: nothing matches, so deny)."""
        path = path.lstrip("/")
        candidates = [path, path.rstrip("/")] if list_op else [path]
        for p in candidates:
            rule = self.rules.get(p)
            if rule is not None and rule.is_exact:
                return rule
        matching = [r for r in self.rules.values() if not r.is_exact and any(r.matches(p) for p in candidates)]
        prefix = [r for r in matching if r.is_prefix and "+" not in r.path.split("/") and not r.templated]
        others = [r for r in matching if r not in prefix]
        pool = others + ([max(prefix, key=lambda r: len(r.path))] if prefix else [])
        return max(pool, key=Rule.rank) if pool else None

    def capabilities(self, path: str, list_op: bool = False) -> frozenset[str]:
        """Capabilities on `path`, as `sys/capabilities` reports them (`deny` when nothing allows)."""
        if self.root:
            return frozenset({"root"})
        rule = self.decide(path, list_op)
        if rule is None or "deny" in rule.capabilities or not rule.capabilities:
            return frozenset({"deny"})
        return rule.capabilities

    def allows(self, path: str, *caps: str) -> tuple[bool, bool, tuple[str, ...]]:
        """Whether any of `caps` is allowed on `path`: (allowed, conditional, the deciding rule's sources)."""
        if self.root:
            return True, False, ("the root policy",)
        rule = self.decide(path)
        if rule is None or "deny" in rule.capabilities:
            return False, False, ()
        ok = bool(rule.capabilities & set(caps))
        if ok and rule.constrained and set(caps) & WRITES:
            return True, True, (*rule.sources, "its parameter constraints are not evaluated")
        return ok, ok and rule.templated, rule.sources
