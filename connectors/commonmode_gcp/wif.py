"""Workload identity federation: which external workloads a workload identity pool provider admits, from its
issuer, attributeMapping and attributeCondition (CEL). Pure code over the REST shape of
projects.locations.workloadIdentityPools.providers (name, disabled, state, oidc.issuerUri, attributeMapping,
attributeCondition: https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers).

Rules, from Google's documentation ("Workload Identity Federation", Attribute mappings and Attribute conditions:
https://cloud.google.com/iam/docs/workload-identity-federation#mapping, and "Configure Workload Identity
Federation with deployment pipelines", GitHub Actions:
https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines):

- A token is accepted only if the attribute condition, a CEL expression over `assertion.*` (the token's claims),
  `attribute.*` and `google.*` (the mapped attributes), is true; with no condition every token of the issuer is
  accepted. GitHub's issuer (`https://token.actions.githubusercontent.com`) is shared by every repository on
  GitHub, so a GitHub provider without a condition admits any repository on GitHub (`github:any`).
- `attribute.X` and `google.subject` are what `attributeMapping` assigns them; a mapping that is not a plain
  `assertion.CLAIM` cannot be followed here.
- GitHub's claims: `repository` (`owner/name`), `repository_owner`, `sub` (`repo:owner/name:…`) (GitHub, "OpenID
  Connect reference": https://docs.github.com/en/actions/reference/openid-connect-reference).

What the scanner settles: `==` and `in [...]` on any of the token's claims (`assertion.C`, or an attribute
mapped from exactly `assertion.C`), and `startsWith('…')` on the subject (a `sub` pattern), combined with `&&`
and `||` and parentheses. Each conjunction's claims are read by the kit (commonmode.kit.github.read): the
repository or pattern admitted, and whether the trust is too broad (no repository condition, an owner only, or
only conditions a contributor chooses: a workflow's name, any ref, a pull request; an environment, exempt once
listed as protected). Any other clause (`!=`, other functions, a claim of a computed attribute) narrows who is
admitted in a way the scanner does not model: the admission is conditional (MAYBE) and `via` quotes the
clause. An expression it cannot parse admits, conditionally, whatever the issuer can present.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from commonmode.kit import Decision, PolicyError, Tri, github, ids

GITHUB_ISSUER: Final = ids.GITHUB_ISSUER
#: Any repository on GitHub (the kit's id for an unrestricted GitHub trust).
GITHUB_ANY: Final = ids.GITHUB_ANY
_TOKEN = re.compile(r"\s*(?:(\|\||&&|==|!=|\(|\)|\[|\]|,)|('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|"
                    r"([A-Za-z_][A-Za-z0-9_.]*)(\s*\()?)")


@dataclass(frozen=True, kw_only=True)
class Provider:
    """A workload identity pool provider: its name, OIDC issuer ("" for AWS or SAML providers), attribute mapping
    and condition, and whether it is disabled (or deleted)."""

    name: str
    issuer: str
    attribute_mapping: Mapping[str, str] = field(default_factory=dict)
    attribute_condition: str | None = None
    disabled: bool = False
    aws_account: str = ""  # an AWS provider's account (`aws.accountId`)

    @classmethod
    def parse(cls, obj: Any) -> Provider:
        """From the REST shape (`oidc.issuerUri`, `attributeMapping`, `attributeCondition`, `disabled`, `state`)."""
        if not isinstance(obj, Mapping) or not isinstance(obj.get("name"), str):
            raise PolicyError(f"workload identity provider: expected an object with a name, got {obj!r}")
        oidc = obj.get("oidc") or {}
        mapping = obj.get("attributeMapping") or {}
        if not isinstance(mapping, Mapping) or not all(isinstance(v, str) for v in mapping.values()):
            raise PolicyError(f"{obj['name']}.attributeMapping: expected an object of strings")
        cond = obj.get("attributeCondition") or None
        if cond is not None and not isinstance(cond, str):
            raise PolicyError(f"{obj['name']}.attributeCondition: expected a string")
        aws = obj.get("aws") or {}
        return cls(name=obj["name"], issuer=str(oidc.get("issuerUri", "")) if isinstance(oidc, Mapping) else "",
                   attribute_mapping=dict(mapping), attribute_condition=cond,
                   aws_account=str(aws.get("accountId") or "") if isinstance(aws, Mapping) else "",
                   disabled=bool(obj.get("disabled")) or obj.get("state") == "DELETED")

    @property
    def pool(self) -> str:
        """The pool's name (`projects/N/locations/global/workloadIdentityPools/P`)."""
        return self.name.split("/providers/", 1)[0]

    @property
    def github(self) -> bool:
        """A provider for GitHub Actions (github.com's shared issuer)."""
        return self.issuer.rstrip("/") == GITHUB_ISSUER


@dataclass(frozen=True)
class Admitted:
    """One external workload a provider admits (`github:repo:owner/name`, `github:repo:owner/*`,
    `github:any`, or `oidc:ISSUER:*` for another issuer), how surely (`decision`, its `via` why), why the trust
    is too broad and the environment that alone narrows it (kit.github.Reading), and the GitHub claims its
    conjunction accepts (claim → values), which a binding's principal narrows further (grants._narrow)."""

    workload: str
    decision: Decision
    broad: str | None = None
    environment: str | None = None
    claims: Mapping[str, frozenset[str]] = field(default_factory=dict)


# --- a small CEL reader: ==, !=, in [...], &&, ||, parentheses, and anything else as an opaque clause ---------------

@dataclass(frozen=True)
class _Clause:
    """A comparison the scanner settles (`claim` == one of `values`), or an opaque one (`claim` None)."""

    claim: str | None
    values: frozenset[str]
    text: str


class _Unparsed(Exception):
    pass


def _tokens(expr: str) -> list[str]:
    out, pos = [], 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise _Unparsed(expr[pos:])
        out.append(m.group(0).strip())
        pos = m.end()
    return out


def _literal(tok: str) -> str | None:
    if len(tok) >= 2 and tok[0] == tok[-1] and tok[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", tok[1:-1])
    return None


class _Reader:
    """Reads a CEL expression into disjunctive normal form: a list of conjunctions of clauses."""

    def __init__(self, expr: str, resolve: Mapping[str, str]) -> None:
        self.toks = _tokens(expr)
        self.at = 0
        self.resolve = resolve

    def peek(self) -> str | None:
        return self.toks[self.at] if self.at < len(self.toks) else None

    def take(self) -> str:
        if self.at >= len(self.toks):
            raise _Unparsed("unexpected end")
        self.at += 1
        return self.toks[self.at - 1]

    def parse(self) -> list[list[_Clause]]:
        dnf = self.disjunction()
        if self.peek() is not None:
            raise _Unparsed(self.peek() or "")
        return dnf

    def disjunction(self) -> list[list[_Clause]]:
        out = self.conjunction()
        while self.peek() == "||":
            self.take()
            out = out + self.conjunction()
        return out

    def conjunction(self) -> list[list[_Clause]]:
        out = self.atom()
        while self.peek() == "&&":
            self.take()
            right = self.atom()
            out = [a + b for a in out for b in right]
        return out

    def atom(self) -> list[list[_Clause]]:
        if self.peek() == "(":
            self.take()
            inner = self.disjunction()
            if self.take() != ")":
                raise _Unparsed("expected )")
            return inner
        return [[self.comparison()]]

    def operand(self) -> str:
        """One operand as its text; a function call (`x.startsWith('a')`) is read whole, to its ')'."""
        tok = self.take()
        if tok.endswith("("):
            depth, parts = 1, [tok]
            while depth:
                t = self.take()
                depth += t.count("(") - (t == ")")
                parts.append(t)
            return "".join(parts)
        if tok == "[":
            parts = [tok]
            while (t := self.take()) != "]":
                parts.append(t)
            return "".join([*parts, "]"])
        return tok

    def comparison(self) -> _Clause:
        left = self.operand()
        op = self.peek()
        if op not in ("==", "!=", "in"):
            return self.prefix(left) or _Clause(None, frozenset(), left)
        self.take()
        right = self.operand()
        text = f"{left} {op} {right}"
        if op == "!=":
            return _Clause(None, frozenset(), text)
        ref, lit = (left, right) if _literal(right) is not None or right.startswith("[") else (right, left)
        claim = self.resolve.get(ref)
        if op == "in":
            values = [_literal(v) for v in lit.strip("[]").split(",") if v]
            if not lit.startswith("[") or any(v is None for v in values):
                return _Clause(None, frozenset(), text)
            # compared exactly: a value with `*` or `?` is literal, and no repository or ref can contain one
            vals = frozenset(v for v in values if v is not None and not github.is_pattern(v))
        else:
            one = _literal(lit)
            if one is None:
                return _Clause(None, frozenset(), text)
            vals = frozenset({one}) if not github.is_pattern(one) else frozenset()
        return _Clause(claim, vals, text) if claim else _Clause(None, frozenset(), text)

    def prefix(self, text: str) -> _Clause | None:
        """`REF.startsWith('…')` on the subject: a `sub` pattern (the prefix, then anything)."""
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_.]*)\.startsWith\(('(?:[^']*)'|\"(?:[^\"]*)\")\)", text)
        if not m or self.resolve.get(m.group(1)) != "sub":
            return None
        value = _literal(m.group(2)) or ""
        return _Clause("sub", frozenset({value + "*"}), text) if value and not github.is_pattern(value) else None


def _references(provider: Provider) -> dict[str, str]:
    """Which CEL names stand for which claim: `assertion.C` itself, and every mapped attribute whose mapping is
    exactly `assertion.C`."""
    refs: dict[str, str] = {}
    for target, source in provider.attribute_mapping.items():
        m = re.fullmatch(r"\s*assertion\.([A-Za-z_][A-Za-z0-9_]*)\s*", source)
        if m:
            refs[target] = m.group(1)
    return refs


class _Refs(dict[str, str]):
    """_references, and any `assertion.C` as the claim C."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if key.startswith("assertion.") and key.count(".") == 1:
            return key.removeprefix("assertion.")
        return super().get(key, default)


def read_claims(claims: Mapping[str, frozenset[str]], result: Tri, steps: tuple[str, ...]) -> list[Admitted]:
    """The workloads a conjunction of exact (and `sub` prefix) claim conditions admits, read by the kit."""
    conds = {k: sorted(v) for k, v in claims.items()}
    return [Admitted(r.workload, Decision(result, steps), r.broad, r.environment, dict(claims))
            for r in github.read(conds)]


def _conjunction(clauses: list[_Clause], via: str) -> list[Admitted]:
    claims: dict[str, frozenset[str]] = {}
    result, extra = Tri.YES, list[str]()
    for c in clauses:
        if c.claim is None:
            result, extra = Tri.MAYBE, [*extra, c.text]
            continue
        if c.claim in claims:  # two conditions on one claim: the values both accept
            prior = claims[c.claim]
            c_values = frozenset(v for v in c.values if any(github.matches(p, github.concrete(v)) for p in prior)) | \
                frozenset(p for p in prior if any(github.matches(v, github.concrete(p)) for v in c.values))
            claims[c.claim] = frozenset(v for v in c_values if not github.is_pattern(v)) or c_values
        else:
            claims[c.claim] = c.values
    steps = (via, *(f"and only when {t}" for t in extra))
    return read_claims(claims, result, steps)


def admits(provider: Provider) -> list[Admitted]:
    """The external workloads `provider` admits, each with how surely; none when it is disabled. A GitHub
    provider: `github:repo:acme/dns` for `assertion.repository == 'acme/dns'`, `github:repo:acme/*`
    for `assertion.repository_owner == 'acme'`, `github:any` with no condition; another issuer: `oidc:ISSUER:*`."""
    if provider.disabled:
        return []
    cond = provider.attribute_condition
    if provider.aws_account:
        # "Configure Workload Identity Federation with AWS": any principal of the account signs the
        # GetCallerIdentity request the token exchange checks (no IAM permission needed); a binding names a role
        who = f"arn:aws:iam::{provider.aws_account}:root"
        if cond is None:
            return [Admitted(who, Decision(Tri.YES, (f"{provider.name}: any principal of AWS account "
                                                     f"{provider.aws_account}, no attribute condition",)))]
        return [Admitted(who, Decision(Tri.MAYBE, (f"{provider.name}: principals of AWS account "
                                                   f"{provider.aws_account} when {cond}",)))]
    if not provider.github:
        who = ids.oidc_workload(provider.issuer) if provider.issuer else f"external:{provider.name}"
        if cond is None:
            return [Admitted(who, Decision(Tri.YES, (f"{provider.name}: any token of {who}, no attribute condition",)))]
        return [Admitted(who, Decision(Tri.MAYBE, (f"{provider.name}: tokens of {who} when {cond}",)))]
    if cond is None:
        return read_claims({}, Tri.YES, (
            f"{provider.name}: GitHub's issuer with no attribute condition admits every repository on GitHub",))
    via = f"{provider.name}: attribute condition {cond}"
    try:
        dnf = _Reader(cond, _Refs(_references(provider))).parse()
    except _Unparsed:
        return [Admitted(GITHUB_ANY, Decision(Tri.MAYBE, (f"{via} (not understood by the scanner)",)))]
    best: dict[str, Admitted] = {}
    for conj in dnf:
        for a in _conjunction(conj, via):
            best[a.workload] = merge(best[a.workload], a) if a.workload in best else a
    return sorted(best.values(), key=lambda a: a.workload)


def merge(a: Admitted, b: Admitted) -> Admitted:
    """Two alternatives that admit one workload (`||`, two bindings): as surely as the surer one, and as broad as
    the broader one (every reason; the environment only if it alone narrows each broad one)."""
    sure = a if a.decision.result >= b.decision.result else b
    if not (a.broad or b.broad):
        return sure
    why, env = github.broadest(((a.broad, a.environment), (b.broad, b.environment)))
    return Admitted(sure.workload, sure.decision, why, env, sure.claims)
