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
narrowing: the trust is exact. A trust that names the repository only by its numeric id (`repository_id`, in a
claim or a customised subject) admits `github:repo:#ID` (one repository, its name not known); by its owner's id
only, `github:repo:#OWNER_ID/*`. The immutable subject form pins the repository, not the run: what follows it
is read as for any subject.

Patterns: `*` matches any run of characters (including `:` and `/`), `?` one character (AWS StringLike,
Vault's glob bound_claims_type, Azure's `matches`); each caller passes only the values its provider treats as
patterns or as exact strings (a literal `*` under an exact comparison matches no real token: the caller drops it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
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

#: A trust's conditions on a GitHub token: claim → the values it accepts (any one of them), or a list of such
#: sets that must all hold (two operators on one claim, two `and` clauses); several claims: all.
Conditions = Mapping[str, Sequence[str] | Sequence[Sequence[str]]]


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


def parse_subject(subject: str) -> dict[str, str]:
    """The claims a `sub` value (or pattern) pins, up to its first wildcard or a part the template reader does
    not know (after which anything may follow): `repo:acme/dns:ref:refs/heads/main` → {repo: acme/dns, ref:
    refs/heads/main}; `repo:acme/dns:*` → {repo: acme/dns}."""
    parts = subject.split(":")
    out: dict[str, str] = {}
    i = 0
    while i < len(parts):
        key = parts[i]
        if is_pattern(key):
            return out
        if key == "pull_request":
            out["event_name"] = "pull_request"
            i += 1
            continue
        if key not in _SUBJECT_KEYS or i + 1 >= len(parts):
            return out
        value = parts[i + 1]
        if key == "repo" and "/" not in value:  # `repo:*` or `repo:acme*`: nothing of the repository is pinned
            return out
        if key == "context":  # the default context follows: ref:…, environment:… or pull_request
            i += 1
            continue
        out[key] = value
        if is_pattern(value) and key != "repo":
            return out
        i += 2
    return out


def _sets(values: Sequence[str] | Sequence[Sequence[str]]) -> list[list[str]]:
    """A condition's value sets (each: any one of its values; all sets must hold)."""
    if not values or isinstance(values[0], str):
        return [[str(v) for v in values]]
    return [[str(v) for v in vs] for vs in values]


def _agree(a: str, b: str) -> bool:
    """Some value matches both `a` and `b` (either may be a pattern): the two conditions can hold at once."""
    return matches(a, concrete(b)) or matches(b, concrete(a))


def common(sets: Sequence[Sequence[str]]) -> list[str]:
    """What every set accepts at once: each value of the first set that each other set also accepts, narrowed to
    an exact value another set names where it is a pattern (`repo:acme/*` and `repo:acme/dns:…` →
    `repo:acme/dns:…`)."""
    out: list[str] = []
    for v in sets[0] if sets else ():
        narrowed: str | None = v
        for other in sets[1:]:
            agreeing = [w for w in other if narrowed is not None and _agree(narrowed, w)]
            if not agreeing:
                narrowed = None
                break
            exact = [w for w in agreeing if not is_pattern(w)]
            if is_pattern(narrowed or "") and exact:
                narrowed = exact[0]
        if narrowed is not None and narrowed not in out:
            out.append(narrowed)
    return out


def satisfying(sets: Sequence[Sequence[str]]) -> str | None:
    """A concrete value every set accepts (for an engine's request), or None when they contradict."""
    for v in (v for s in sets for v in s):
        value = concrete(v)
        if all(any(matches(w, value) for w in other) for other in sets):
            return value
    return None


def read(conditions: Conditions) -> list[Reading]:
    """The workloads a trust admits, one reading per workload; [] when the conditions admit no real token (a
    repository no subject pattern matches, a ref the subject contradicts, nothing accepted at all). A trust is
    as broad as its broadest alternative: of several accepted subjects (a branch, and any pull request) for one
    repository, the reading is broad with every reason."""
    conds = {k: _sets(vs) for k, vs in conditions.items()}
    subject_sets = conds.pop("sub", None)
    subjects: list[str | None] = [None] if subject_sets is None else list(common(subject_sets))
    found: dict[str, list[Reading]] = {}
    for sub in subjects:
        for r in _alternatives({} if sub is None else parse_subject(sub), sub, conds):
            found.setdefault(r.workload, []).append(r)
    return [_broadest(found[k]) for k in sorted(found)]


def _broadest(readings: Sequence[Reading]) -> Reading:
    """One workload's readings as one: broad if any is, with every reason; the environment only when every
    broad alternative is narrowed by that same environment alone."""
    broad = [r for r in readings if r.broad]
    if not broad:
        return readings[0]
    why, env = broadest((r.broad, r.environment) for r in broad)
    return Reading(broad[0].workload, why, env, broad[0].attributes, broad[0].subject)


def broadest(trusts: Iterable[tuple[str | None, str | None]]) -> tuple[str | None, str | None]:
    """Several trusts (or alternatives of one) admitting one workload, as (why broad, environment): broad if
    any is, with every reason once; the environment only when every broad one is narrowed by that same
    environment alone (then listing it as protected exempts them all)."""
    broad = [(why, env) for why, env in trusts if why]
    if not broad:
        return None, None
    envs = {env for _, env in broad}
    return "; ".join(dict.fromkeys(str(why) for why, _ in broad)), envs.pop() if len(envs) == 1 else None


def _alternatives(pinned: dict[str, str], sub: str | None,
                  conds: Mapping[str, list[list[str]]]) -> Iterable[Reading]:
    repo_pattern = _strip_ids(pinned["repo"]) if "repo" in pinned else None
    claims = {k: list(v) for k, v in conds.items()}
    for claim, value in pinned.items():  # what the subject pins is one more condition on that claim
        if claim != "repo":
            claims.setdefault(claim, []).append([value])
    if any(not common(sets) for sets in claims.values()):
        return  # two conditions on one claim that no value meets at once (or one that accepts nothing)
    repos, owners = claims.get("repository"), claims.get("repository_owner")
    if repos is not None:
        # the narrower of the two where the subject pins the repository too (an exact name over a pattern)
        candidates = list(dict.fromkeys(
            repo_pattern if repo_pattern is not None and is_pattern(r) and not is_pattern(repo_pattern) else r
            for r in common(repos) if repo_pattern is None or _agree(repo_pattern, r)))
        if owners is not None:
            candidates = [r for r in candidates if all(any(_agree(o, r.split("/", 1)[0]) for o in s) for s in owners)]
    elif repo_pattern is not None:
        owner = repo_pattern.split("/", 1)[0]
        candidates = [repo_pattern] if owners is None or all(any(_agree(o, owner) for o in s) for s in owners) else []
    elif owners is not None:
        candidates = [f"{o}/*" for o in common(owners)]
    elif claims.get("repository_id") and (ids_ := [v for v in common(claims["repository_id"]) if not is_pattern(v)]):
        candidates = [f"#{v}" for v in ids_]  # named by its numeric id only: one repository, name unknown
    elif claims.get("repository_owner_id") and (
            owner_ids := [v for v in common(claims["repository_owner_id"]) if not is_pattern(v)]):
        candidates = [f"#{v}/*" for v in owner_ids]  # every repository of the owner with that id
    else:
        candidates = ["*/*"]
    for repo in candidates:
        yield _reading(repo, sub, claims)


def _reading(repo: str, sub: str | None, claims: Mapping[str, list[list[str]]]) -> Reading:
    owner, _, name = repo.partition("/")
    default = f"repo:{concrete(repo)}:ref:refs/heads/main"
    token_sub = default if sub is None or matches(sub, default) else concrete(sub)
    if not repo.startswith("#") and (is_pattern(owner) or not name):
        where = "it has no condition naming the repository" if repo == "*/*" else \
            f"its repository pattern {repo} leaves the owner open"
        if "job_workflow_ref" in claims and repo == "*/*":
            where += " (a job_workflow_ref condition admits every repository that calls that reusable workflow)"
        return Reading(ids.GITHUB_ANY, f"{where}, so it admits any repository on GitHub", None, (), token_sub)
    if is_pattern(name):
        workload = ids.github_repository(f"{owner}/*")
        return Reading(workload, str(ids.broad_trust(workload)), None, (), token_sub)
    workload = ids.github_repository(repo)
    narrowing: list[str] = []
    open_claims: list[str] = []
    environments: list[str] = []
    for claim, sets in sorted(claims.items()):
        if claim in ("repository", "repository_owner", "repository_id", "repository_owner_id"):
            continue
        exact_sets = [s for s in sets if s and not any(is_pattern(v) for v in s)]
        exact = common(exact_sets) if exact_sets else []
        values = list(dict.fromkeys(v for s in sets for v in s))
        if claim == "event_name" and exact == ["pull_request"]:
            open_claims.append("any pull request (whoever can open one from a branch of the repository)")
        elif claim in _NARROWING and exact and (
                claim not in ("workflow_ref", "job_workflow_ref") or all("@" in v for v in exact)):
            narrowing.append(f"{claim} {', '.join(exact)}")
        elif claim == "environment" and exact:
            environments.extend(exact)
        elif claim in _CHOOSABLE:
            open_claims.append(f"{claim} ({_CHOOSABLE[claim]})")
        elif claim in _NARROWING or claim == "environment":
            open_claims.append(f"{claim} pattern {', '.join(values)} (any {claim} matching it)")
    attributes = tuple(narrowing) + tuple(f"environment {e}" for e in environments)
    shown = repo if not repo.startswith("#") else f"the repository with id {repo[1:]}"
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
        why = (f"{what} admits any branch, tag, environment or pull request of {shown}, which any contributor "
               "can choose")
    return Reading(workload, why, None, attributes, token_sub)
