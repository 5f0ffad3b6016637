"""Web identity federation: which external workloads a role's trust policy lets in through
`sts:AssumeRoleWithWebIdentity`, as identity.assume grants from the kit's shared workload ids
(`github:repo:o/r`, `github:repo:o/*`, `github:any`, `k8s:…`, `oidc:ISSUER:SUBJECT`).

Rules (IAM User Guide, "Create a role for OpenID Connect federation" and "Available keys for AWS OIDC
federation": a statement's Principal `{"Federated": "arn:aws:iam::ACCOUNT:oidc-provider/HOST"}` trusts tokens
of the issuer `https://HOST` registered in that account; its conditions test the token's claims as `HOST:sub`,
`HOST:aud`; STS accepts a token only if its `aud` is one of the provider's client ids (CreateOpenIDConnectProvider,
ClientIDList). Since January 2026 STS also sets, for GitHub's issuer, `HOST:actor`, `:actor_id`,
`:job_workflow_ref`, `:repository`, `:repository_id`, `:workflow`, `:ref`, `:environment`, `:enterprise_id`
(What's New, "AWS STS supports validation of identity provider claims", 2026-01). GitHub's guidance,
"Configuring OpenID Connect in Amazon Web Services": without a condition on `sub` any repository's workflow can
assume the role):

- A trust naming a provider the account does not have (ListOpenIDConnectProviders read the account) lets no
  one in. The audiences tried are the provider's client ids (else the trust's `aud` values, else
  `sts.amazonaws.com`, GitHub's documented audience for AWS).
- GitHub's issuer: a condition on any other `HOST:CLAIM` tests a key STS does not set (absent: false under
  StringEquals, true under a negated operator, as for any absent key). The trust's StringEquals/StringLike
  conditions (also under ForAnyValue) on `HOST:CLAIM` are read by the kit (commonmode.kit.github.read): which
  repository or pattern they admit, and whether the trust is too broad (no repository condition, a wildcard
  owner or repository, or only conditions a contributor chooses). A StringEquals value with a wildcard is
  literal and matches no real token.
- Another issuer: each `HOST:sub` value is one workload (kit.ids.workload_of_subject: a GitLab project, a
  Kubernetes service account, else `oidc:ISSUER:SUBJECT`); with none, every subject of the issuer.
- Each candidate is then decided by the policy engine itself (`policy.statement_applies`) on a token that
  candidate would present (its `sub`, an audience above, and the claims the trust names, each a value its
  condition accepts): every condition is evaluated exactly as for any other request, and one on a claim the
  scanner does not bind makes the grant conditional. A Deny statement of the same trust that applies takes it
  away (conditionally, when it rests on such a claim).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from commonmode.kit import Tri, github, ids
from commonmode.kit.workloads import Admissions
from commonmode.model import Capability, Grant
from commonmode_aws import policy as P
from commonmode_aws.estate import Estate

_OIDC_PROVIDER = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):oidc-provider/(.+)")
_POSITIVE = ("StringEquals", "StringLike", "StringEqualsIgnoreCase", "ForAnyValue:StringEquals",
             "ForAnyValue:StringLike", "ForAnyValue:StringEqualsIgnoreCase")
_ACTION = "sts:AssumeRoleWithWebIdentity"
#: GitHub's documented audience for AWS, and the default of aws-actions/configure-aws-credentials.
_DEFAULT_AUD = "sts.amazonaws.com"
#: The GitHub claims STS sets as condition keys besides sub and aud (see the module docstring).
_GITHUB_KEYS = ("actor", "actor_id", "job_workflow_ref", "repository", "repository_id", "workflow", "ref",
                "environment", "enterprise_id")


@dataclass(frozen=True)
class Candidate:
    """A workload a statement may admit, the claims of a token it would present, and why the trust is broad."""

    workload: str
    claims: dict[str, str]
    broad: str | None = None
    environment: str | None = None
    absent: frozenset[str] = frozenset()  # claim keys STS never sets for this issuer


def _conditions(st: P.Statement, host: str) -> dict[str, list[list[str]]]:
    """claim → the value sets of the statement's positive string conditions on `HOST:claim`: one set per
    condition (any of its values), all of which must hold (IAM: several operators in one statement are ANDed)."""
    prefix = f"{host}:".lower()
    out: dict[str, list[list[str]]] = {}
    for c in st.conditions:
        key = c.key.lower()
        if c.operator in _POSITIVE and key.startswith(prefix) and key != f"{prefix}aud":
            like = c.operator.endswith("StringLike")
            out.setdefault(key[len(prefix):], []).append([v for v in c.values if like or not github.is_pattern(v)])
    return out


def candidates(st: P.Statement, host: str) -> Iterator[Candidate]:
    """Each workload the statement may admit (see the module docstring)."""
    conds = _conditions(st, host)
    if f"https://{host}".rstrip("/") == ids.GITHUB_ISSUER:
        prefix = f"{host}:".lower()
        absent = frozenset(c.key.lower() for c in st.conditions if c.key.lower().startswith(prefix)
                           and c.key.lower()[len(prefix):] not in ("sub", "aud", *_GITHUB_KEYS))
        for r in github.read(conds):
            claims = {"sub": github.satisfying([*conds.get("sub", []), [r.subject]]) or r.subject}
            repo = ids.repository_of(r.workload)
            for key in _GITHUB_KEYS:
                if key in conds:
                    sets = [*conds[key], [repo]] if key == "repository" and repo and "*" not in repo else conds[key]
                    value = github.satisfying(sets)
                    if value is not None:
                        claims[key] = value
            yield Candidate(r.workload, claims, r.broad, r.environment, absent)
        return
    subjects = [v for v in (conds["sub"][0] if "sub" in conds else [])
                if all(any(github.matches(w, github.concrete(v)) for w in s) for s in conds["sub"][1:])] \
        if "sub" in conds else None
    if subjects is None:
        yield Candidate(ids.oidc_workload(f"https://{host}"), {"sub": "any"},
                        "it has no condition on the token's subject")
        return
    for s in subjects:
        workload = ids.workload_of_subject(f"https://{host}", s)
        broad = ids.broad_trust(workload) or (f"its subject condition {s} is a pattern" if github.is_pattern(s)
                                              else None)
        yield Candidate(workload, {"sub": github.concrete(s)}, broad)


def federated_edges(estate: Estate) -> None:
    """identity.assume grants from every external workload a role's trust lets in (see the module docstring)."""
    admitted = Admissions(estate.opts.connector)
    for role, statements in sorted(estate.trust.items()):
        account = ids.account_of(role)
        for st in statements:
            if st.effect != "Allow" or st.principals is None or st.not_principal:
                continue
            for fed in st.principals.get("Federated", ()):
                m = _OIDC_PROVIDER.fullmatch(fed)
                if m is None:  # SAML providers, Cognito, the public identity providers: not workloads
                    continue
                providers = estate.oidc_providers.get(m.group(1))
                if providers is not None and fed not in providers:
                    continue  # the account has no such provider: STS accepts no token for it
                audiences = (providers or {}).get(fed, {}).get("ClientIDList") or None
                for cand in candidates(st, m.group(2)):
                    _decide(estate, role, account, st, statements, fed, m.group(2), cand, audiences, admitted)
    estate.out.identities.extend(admitted.identities({i.id for i in estate.out.identities}))


def _decide(estate: Estate, role: str, account: str, st: P.Statement, statements: tuple[P.Statement, ...],
            fed: str, host: str, cand: Candidate, audiences: list[str] | None, admitted: Admissions) -> None:
    aud_key = f"{host}:aud".lower()
    from_provider = audiences is not None
    deny_steps: list[str] = []
    if audiences is None:
        auds = [v for c in st.conditions if c.key.lower() == aud_key and c.operator in _POSITIVE for v in c.values]
        audiences = [github.concrete(auds[0]) if auds else _DEFAULT_AUD]
    best, best_aud = Tri.NO, audiences[0]
    for aud in audiences:
        context = {f"{host}:{k}".lower(): (v,) for k, v in cand.claims.items()}
        context[aud_key] = (aud,)
        req = P.Request(action=_ACTION, resource=role, principal=fed, account=account, context=context,
                        absent=cand.absent)
        allowed = P.statement_applies(st, req)
        via_deny: list[str] = []
        for other in statements:
            if other.effect != "Deny" or other.principals is None:
                continue
            if fed not in other.principals.get("Federated", ()) and "*" not in other.principals.get("AWS", ()):
                continue
            denied = P.statement_applies(other, req)
            if denied is not Tri.NO and allowed is not Tri.NO:
                allowed = min(allowed, ~denied)
                via_deny.append(f"unless {other.source} denies it")
        if allowed > best:
            best, best_aud, deny_steps = allowed, aud, via_deny
    if best is Tri.NO:
        return
    via = [f"{st.source}: {fed} may call {_ACTION}"]
    via += [f"when {c.key} {c.operator} {', '.join(c.values)}" for c in st.conditions]
    if from_provider:
        via.append(f"with audience {best_aud} (a client id of the provider)")
    via += deny_steps
    admitted.admit(cand.workload, role, cand.broad, cand.environment)
    estate.out.grants.append(Grant(identity_id=cand.workload, capability=Capability.IDENTITY_ASSUME,
                                   resource_id=role, via=tuple(via), connector=estate.opts.connector,
                                   conditional=best is Tri.MAYBE))
