"""What a federated trust's conditions on a GitHub Actions token admit, read the same way by every connector:
the repository (or pattern of repositories) it lets in, as the kit's shared id, and why the trust is too broad
when it is. Each connector turns its own trust document into `Conditions` (claim → accepted values; AWS trust
conditions on `token.actions.githubusercontent.com:CLAIM`, an Azure federated credential's subject or
`claims['…']` expression, Vault's bound_subject and bound_claims, a GCP provider's attribute condition) and
calls `read`.

The token (GitHub, "OpenID Connect reference", https://docs.github.com/en/actions/reference/openid-connect-reference):
- `sub` is a sequence of `key:value` parts. By default `repo:OWNER/REPO:` then the context: `ref:refs/heads/B`
  or `ref:refs/tags/T` for a push, `environment:NAME` for a job that names an environment, `pull_request` for a
  pull request. An owner or repository may customise the template (other claims as `key:value`, e.g.
  `repository_owner_id:…`, `job_workflow_ref:…`, and `context`, which stands for the default context).
- Immutable subjects (GitHub docs pull request 45221, "Immutable subject claims"; the changelog of
  2026-04-23): `repo:OWNER@OWNER_ID/REPO@REPO_ID:…`: the ids pin the owner and repository even if a name is
  later reused. They name the same repository, so the workload is the same id; the form is exact.
- Claims beside `sub`: `repository`, `repository_owner` (and their `_id`s) identify the repository; `ref`,
  `environment`, `workflow_ref`, `job_workflow_ref` (`OWNER/REPO/PATH@REF`), `actor`, `sha` narrow it to some
  runs; `workflow` (the workflow's name), `head_ref`, `base_ref` (a pull request's branches), `event_name` are
  chosen by whoever pushes a workflow file, opens a pull request or starts a run.

What is too broad (issue 17's `broad-federated-trust` triggers):
- no condition naming the repository: any repository on GitHub (`github:any`); a wildcard owner likewise;
- a wildcard repository: every repository of the owner (`github:repo:OWNER/*`);
- an exact repository whose other conditions only restrict claims anyone who can push a branch, open a pull
  request or start a workflow there chooses: none at all, a `ref` pattern (any branch matching it), a pull
  request, `workflow`, `head_ref`, `base_ref`, `event_name`, a `job_workflow_ref`/`workflow_ref` pattern;
- an exact repository narrowed only by an environment: exact when that environment has protection rules
  (required reviewers, deployment branches), which the scanner cannot see in GitHub; so the reading names the
  environment (`environment`) and the correlator exempts it when the config lists it as protected
  (`[correlate] protected_environments`).
A condition on an exact `ref`, `actor`, `sha`, or a `workflow_ref`/`job_workflow_ref` pinned to one ref is a
narrowing: the trust is exact. Not read: a trust that names the repository only by its numeric id
(`repository_id`, `repository_owner_id` without a name or an immutable subject) reads as naming no repository.

Patterns: `*` matches any run of characters (including `:` and `/`), `?` one character (AWS StringLike,
Vault's glob bound_claims_type, Azure's `matches`); each caller passes only the values its provider treats as
patterns or as exact strings (a literal `*` under an exact comparison matches no real token: the caller drops it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from commonmode.kit import ids

#: Claims that narrow the runs of a repository when exact (the reading is then exact).
_NARROWING = ("ref", "actor", "actor_id", "sha", "workflow_ref", "job_workflow_ref", "workflow_sha",
              "job_workflow_sha")
#: Claims whoever can push a workflow file, open a pull request or start a run chooses.
_CHOOSABLE = {
    "workflow": "the workflow's name, which whoever pushes a workflow file sets",
    "head_ref": "a pull request's source branch, which whoever opens it names",
    "base_ref": "a pull request's target branch, which whoever opens it names",
    "event_name": "the event that started the run",
    "ref_type": "whether the ref is a branch or a tag",
}
#: Keys of a (customised) subject template whose part has a value; `pull_request` has none.
_SUBJECT_KEYS = frozenset({"repo", "ref", "environment", "job_workflow_ref", "workflow_ref", "workflow",
                           "repository", "repository_id", "repository_owner", "repository_owner_id", "actor",
                           "actor_id", "event_name", "head_ref", "base_ref", "ref_type", "repository_visibility",
                           "runner_environment", "sha", "job_workflow_sha", "workflow_sha", "context",
                           "enterprise", "enterprise_id", "run_attempt"})

#: A trust's conditions on a GitHub token: claim → the values it accepts (any one of them; several claims: all).
Conditions = Mapping[str, Iterable[str]]


@dataclass(frozen=True)
class Reading:
    """One workload a trust admits: its shared id (`github:repo:O/R`, `github:repo:O/*`, `github:any`), why the
    trust is too broad (None when exact), the environment that alone narrows it (`O/R:NAME`, exempt when it is
    protected), what the trust pins (`ref refs/heads/main`, …: the grant's attributes), and a `sub` a token of
    that workload could carry (for an engine that evaluates the trust on a request)."""

    workload: str
    broad: str | None
    environment: str | None
    attributes: tuple[str, ...]
    subject: str


def is_pattern(value: str) -> bool:
    return "*" in value or "?" in value


def matches(pattern: str, value: str) -> bool:
    """`value` matches `pattern` (`*` any run of characters, `?` one; case-sensitive, as GitHub's claims are)."""
    rx = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(rx, value, re.DOTALL) is not None


def concrete(pattern: str) -> str:
    """A value the pattern matches (each wildcard one `x`)."""
    return pattern.replace("*", "x").replace("?", "x")


def _strip_ids(repo: str) -> str:
    """`owner@123/name@456` (the immutable form) → `owner/name`; a name without ids unchanged."""
    owner, _, name = repo.partition("/")
    return f"{re.sub(r'@[0-9]+$', '', owner)}/{re.sub(r'@[0-9]+$', '', name)}" if name else repo


def parse_subject(subject: str) -> tuple[dict[str, str], bool]:
    """The claims a `sub` value (or pattern) pins, and whether its end is open (a wildcard, or a part the
    template reader does not know, after which anything may follow). `repo:acme/dns:ref:refs/heads/main` →
    ({repo: acme/dns, ref: refs/heads/main}, False); `repo:acme/dns:*` → ({repo: acme/dns}, True)."""
    parts = subject.split(":")
    out: dict[str, str] = {}
    i = 0
    while i < len(parts):
        key = parts[i]
        if is_pattern(key):
            return out, True
        if key == "pull_request":
            out["event_name"] = "pull_request"
            i += 1
            continue
        if key not in _SUBJECT_KEYS or i + 1 >= len(parts):
            return out, True
        value = parts[i + 1]
        if key == "repo" and "/" not in value:  # `repo:*` or `repo:acme*`: nothing of the repository is pinned
            return out, True
        if key == "context":  # the default context follows: ref:…, environment:… or pull_request
            i += 1
            continue
        if is_pattern(value) and key != "repo":
            out[key] = value
            return out, True
        out[key] = value
        i += 2
    return out, False


def read(conditions: Conditions) -> list[Reading]:
    """The workloads a trust admits, one reading per alternative (each accepted `sub`, each accepted
    repository); [] when the conditions admit no real token (a repository that no subject pattern matches)."""
    conds = {k: [str(v) for v in vs] for k, vs in conditions.items()}
    subjects = conds.pop("sub", None)
    alternatives: list[tuple[dict[str, str], bool, str | None]] = []
    if subjects is None:
        alternatives.append(({}, True, None))
    for s in subjects or ():
        pinned, open_end = parse_subject(s)
        alternatives.append((pinned, open_end, s))
    out: dict[str, Reading] = {}
    for pinned, open_end, sub in alternatives:
        for r in _alternatives(pinned, open_end, sub, conds):
            if r.workload not in out or (out[r.workload].broad and not r.broad):
                out[r.workload] = r  # the narrowest reading of one workload stands for it
    return [out[k] for k in sorted(out)]


def _agree(a: str, b: str) -> bool:
    """Some value matches both `a` and `b` (either may be a pattern): the two conditions can hold at once."""
    return matches(a, concrete(b)) or matches(b, concrete(a))


def _values(conds: Mapping[str, list[str]], *keys: str) -> list[str] | None:
    got = [v for k in keys for v in conds.get(k, ())]
    return got if any(k in conds for k in keys) else None


def _alternatives(pinned: dict[str, str], open_end: bool, sub: str | None,
                  conds: Mapping[str, list[str]]) -> Iterable[Reading]:
    repo_pattern = _strip_ids(pinned["repo"]) if "repo" in pinned else None
    for claim, value in pinned.items():  # a claim the subject pins must also satisfy that claim's own condition
        if claim != "repo" and claim in conds and not any(
                _agree(c, value) for c in conds[claim]):
            return
    repos = _values(conds, "repository")
    owners = _values(conds, "repository_owner")
    if repos is not None:
        names = [r for r in repos if repo_pattern is None or matches(repo_pattern, concrete(r))
                 or matches(r, concrete(repo_pattern))]
        if owners is not None:
            names = [r for r in names if any(matches(o, r.split("/", 1)[0]) for o in owners)]
        candidates = names
    elif repo_pattern is not None:
        owner = repo_pattern.split("/", 1)[0]
        candidates = [repo_pattern] if owners is None or any(_agree(o, owner) for o in owners) else []
    elif owners is not None:
        candidates = [f"{o}/*" for o in owners]
    else:
        candidates = ["*/*"]
    for repo in candidates:
        yield _reading(repo, pinned, open_end, sub, conds)


def _reading(repo: str, pinned: Mapping[str, str], open_end: bool, sub: str | None,
             conds: Mapping[str, list[str]]) -> Reading:
    owner, _, name = repo.partition("/")
    default = f"repo:{concrete(repo)}:ref:refs/heads/main"
    token_sub = default if sub is None or matches(sub, default) else concrete(sub)
    if is_pattern(owner) or not name:
        where = "it has no condition naming the repository" if repo == "*/*" else \
            f"its repository pattern {repo} leaves the owner open"
        if "job_workflow_ref" in conds and repo == "*/*":
            where += " (a job_workflow_ref condition admits every repository that calls that reusable workflow)"
        return Reading(ids.GITHUB_ANY, f"{where}, so it admits any repository on GitHub", None, (), token_sub)
    if is_pattern(name):
        workload = ids.github_repository(f"{owner}/*")
        return Reading(workload, str(ids.broad_trust(workload)), None, (), token_sub)
    workload = ids.github_repository(repo)
    claims: dict[str, list[str]] = {k: [v] for k, v in pinned.items() if k != "repo"}
    for k, vs in conds.items():
        if k not in ("repository", "repository_owner"):
            claims.setdefault(k, []).extend(vs)
    narrowing: list[str] = []
    open_claims: list[str] = []
    environments: list[str] = []
    for claim, values in sorted(claims.items()):
        values = list(dict.fromkeys(values))
        exact = [v for v in values if not is_pattern(v)]
        if claim == "event_name" and values == ["pull_request"]:
            open_claims.append("any pull request (whoever can open one from a branch of the repository)")
        elif claim in _NARROWING and exact and len(exact) == len(values) and (
                claim not in ("workflow_ref", "job_workflow_ref") or all("@" in v for v in exact)):
            narrowing.append(f"{claim} {', '.join(exact)}")
        elif claim == "environment" and exact and len(exact) == len(values):
            environments.extend(exact)
        elif claim in _CHOOSABLE:
            open_claims.append(f"{claim} ({_CHOOSABLE[claim]})")
        elif claim in _NARROWING or claim == "environment":
            open_claims.append(f"{claim} pattern {', '.join(values)} (any {claim} matching it)")
    attributes = tuple(narrowing) + tuple(f"environment {e}" for e in environments)
    if narrowing:
        return Reading(workload, None, None, attributes, token_sub)
    if environments:
        env = f"{repo}:{environments[0]}" if len(environments) == 1 else None
        why = (f"its only condition beyond the repository is the environment {' or '.join(environments)}, which "
               "any workflow run of the repository can name unless the environment has protection rules "
               "(required reviewers or deployment branches)")
        return Reading(workload, why, env, attributes, token_sub)
    if open_claims:
        why = ("its conditions beyond the repository are only on what a contributor chooses: "
               + "; ".join(open_claims))
    else:
        what = f"its subject condition {sub}" if sub is not None else "it names only the repository, and"
        why = f"{what} admits any branch, tag, environment or pull request of {repo}, which any contributor can choose"
    return Reading(workload, why, None, attributes, token_sub)
