"""Web identity federation: which external workloads a role's trust policy lets in through
`sts:AssumeRoleWithWebIdentity`, as identity.assume grants from the kit's shared workload ids
(`github:repo:o/r`, `github:repo:o/*`, `github:any`, `k8s:…`, `oidc:ISSUER:SUBJECT`).

Rules (IAM User Guide, "Create a role for OpenID Connect federation" and "Available keys for AWS OIDC
federation": a statement's Principal `{"Federated": "arn:aws:iam::ACCOUNT:oidc-provider/HOST"}` trusts tokens
of the issuer `https://HOST`; its conditions test the token's claims as `HOST:sub`, `HOST:aud` and, for some
issuers, further claims; GitHub's guidance, "Configuring OpenID Connect in Amazon Web Services": without a
condition on `sub` any repository's workflow can assume the role):

- The workloads a statement may admit are read from its conditions on `HOST:sub` (StringEquals or StringLike,
  also under ForAnyValue): each value one workload, a pattern a pattern workload; with none, every subject of
  the issuer (`github:any` for GitHub's).
- Each candidate is then decided by the policy engine itself (`policy.statement_applies`) on a token that
  candidate would present (its subject; `aud` as the statement requires it, else `sts.amazonaws.com`): every
  condition is evaluated exactly as for any other request, and one on a claim the scanner does not bind (a
  workflow ref, an actor) makes the grant conditional. A Deny statement of the same trust that applies takes it
  away (conditionally, when it rests on such a claim).
- Where a subject pattern leaves the repository open (an owner or repository wildcard) or the part after it
  (any branch, environment or pull request), the workload is tagged `broad_trust`, which the
  broad-federated-trust rule reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from commonmode.kit import Tri, ids
from commonmode.kit.workloads import workload_identity
from commonmode.model import Capability, Grant
from commonmode_aws import policy as P
from commonmode_aws.estate import Estate

_OIDC_PROVIDER = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):oidc-provider/(.+)")
_POSITIVE = ("StringEquals", "StringLike", "ForAnyValue:StringEquals", "ForAnyValue:StringLike")
_ACTION = "sts:AssumeRoleWithWebIdentity"
#: GitHub's documented audience for AWS, and the default of aws-actions/configure-aws-credentials.
_DEFAULT_AUD = "sts.amazonaws.com"
_GITHUB_SUBJECT = re.compile(r"repo:(?P<repo>[^:]+)(?::(?P<rest>.*))?")


def _concrete(pattern: str) -> str:
    """A value that matches a StringLike pattern (`*`, `?` each stand for one `x`)."""
    return pattern.replace("*", "x").replace("?", "x")


def _github(subject: str) -> tuple[str, str | None]:
    """(workload, why broad) of a GitHub subject pattern."""
    m = _GITHUB_SUBJECT.fullmatch(subject)
    if subject in ("*", "repo:*") or m is None or m.group("repo").split("/", 1)[0] in ("*", "") or "/" not in \
            m.group("repo"):
        return ids.GITHUB_ANY, ids.broad_trust(ids.GITHUB_ANY)
    repo = m.group("repo")
    if "*" in repo or "?" in repo:
        owner = repo.split("/", 1)[0]
        if "*" in owner or "?" in owner:
            return ids.GITHUB_ANY, ids.broad_trust(ids.GITHUB_ANY)
        workload = ids.github_repository(f"{owner}/*")
        return workload, ids.broad_trust(workload)
    rest = m.group("rest") or ""
    if "*" in rest or "?" in rest or not rest:
        return ids.github_repository(repo), (f"its subject condition {subject} admits any ref, environment or pull "
                                             "request of the repository, which any contributor can choose")
    return ids.github_repository(repo), None


def candidates(st: P.Statement, host: str) -> Iterator[tuple[str, str, str | None]]:
    """(workload, the subject its token carries, why broad) for each workload the statement may admit."""
    key = f"{host}:sub".lower()
    subjects = [v for c in st.conditions if c.key.lower() == key and c.operator in _POSITIVE for v in c.values]
    github = f"https://{host}".rstrip("/") == ids.GITHUB_ISSUER
    if not subjects:
        if github:
            yield ids.GITHUB_ANY, "repo:anyone/anything:ref:refs/heads/main", \
                "it has no condition on the token's subject: " + str(ids.broad_trust(ids.GITHUB_ANY))
        else:
            any_subject = ids.oidc_workload(f"https://{host}")
            yield any_subject, "any", "it has no condition on the token's subject"
        return
    for s in subjects:
        token_subject = _concrete(s)
        if github:
            workload, broad = _github(s)
        else:
            workload = ids.workload_of_subject(f"https://{host}", s)
            broad = ids.broad_trust(workload) or (f"its subject condition {s} is a pattern" if "*" in s or "?" in s
                                                  else None)
        yield workload, token_subject, broad


def federated_edges(estate: Estate) -> None:
    """identity.assume grants from every external workload a role's trust lets in (see the module docstring)."""
    seen = {i.id for i in estate.out.identities}
    for role, statements in sorted(estate.trust.items()):
        account = ids.account_of(role)
        for st in statements:
            if st.effect != "Allow" or st.principals is None or st.not_principal:
                continue
            for fed in st.principals.get("Federated", ()):
                m = _OIDC_PROVIDER.fullmatch(fed)
                if m is None:  # SAML providers, Cognito, the public identity providers: not workloads
                    continue
                host = m.group(2)
                for workload, subject, broad in candidates(st, host):
                    _decide(estate, role, account, st, statements, fed, host, workload, subject, broad, seen)


def _decide(estate: Estate, role: str, account: str, st: P.Statement, statements: tuple[P.Statement, ...],
            fed: str, host: str, workload: str, subject: str, broad: str | None, seen: set[str]) -> None:
    aud_key = f"{host}:aud".lower()
    auds = [v for c in st.conditions if c.key.lower() == aud_key and c.operator in _POSITIVE for v in c.values]
    req = P.Request(action=_ACTION, resource=role, principal=fed, account=account,
                    context={f"{host}:sub".lower(): (subject,),
                             aud_key: (_concrete(auds[0]) if auds else _DEFAULT_AUD,)})
    allowed = P.statement_applies(st, req)
    if allowed is Tri.NO:
        return
    via = [f"{st.source}: {fed} may call {_ACTION}"]
    via += [f"when {c.key} {c.operator} {', '.join(c.values)}" for c in st.conditions]
    for other in statements:
        if other.effect != "Deny" or other.principals is None:
            continue
        if fed not in other.principals.get("Federated", ()) and "*" not in other.principals.get("AWS", ()):
            continue
        denied = P.statement_applies(other, req)
        if denied is not Tri.NO:
            allowed = min(allowed, ~denied)
            via.append(f"unless {other.source} denies it")
    if allowed is Tri.NO:
        return
    if workload not in seen:
        seen.add(workload)
        estate.out.identities.append(workload_identity(workload, estate.opts.connector, broad))
    estate.out.grants.append(Grant(identity_id=workload, capability=Capability.IDENTITY_ASSUME, resource_id=role,
                                   via=tuple(via), connector=estate.opts.connector,
                                   conditional=allowed is Tri.MAYBE))
