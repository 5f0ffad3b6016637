"""Differential test: commonmode's AWS policy engine (connectors/commonmode_aws/policy.py) against an
independent IAM simulator, the npm package @cloud-copilot/iam-simulate (issue 11, "How to prove it stays
right").

Hypothesis draws, with a fixed seed, a principal (IAM user or role, with tags), a request commonmode decides
(Route 53 record, health check and DNSSEC changes, Secrets Manager reads and writes in the same or another
account, SSM GetParameter, sts:AssumeRole in the same or another account) and a FULLY specified request
context: every condition key of the vocabulary has a value or is declared absent (policygen.py). Then
identity policies, a permissions boundary, SCP levels, RCP levels and the secret's resource policy or the
role's trust policy, with Allow/Deny, Action/NotAction, Resource/NotResource, wildcards and other case,
conditions over every operator family, set operators on multivalued keys and policy variables. Both engines
answer every case: commonmode must say YES where the simulator says Allowed and NO where it says
ImplicitlyDenied or ExplicitlyDenied; a MAYBE on a fully specified request is a disagreement too.

The simulator runs in one long-lived node process (simulator/simulate.cjs), installed by this test with
`npm ci` from simulator/package-lock.json into a cache directory outside the checkout (`_install`). Without
node and npm, or without the npm registry, the tests here are skipped and say why.

Every class of disagreement found was judged against AWS's documentation:

Simulator wrong, mapped or not generated (each tested in `test_simulator_error`):
- rcp-on-any-service: it applies RCPs to every service; AWS only to those that support them (Organizations
  User Guide, "Resource control policies (RCPs)", supported services: not Route 53, not Systems Manager).
  Mapped: the simulator gets no RCPs for those services, commonmode still does.
- negated-null-variable: StringNot*/ArnNot* against a policy variable with no value fails in the simulator;
  "inverted condition operators like StringNotEquals or StringNotLike do match against a null value" (IAM
  User Guide, "IAM policy elements: Variables and tags", "Policy variables with no value"). Mapped
  (`_null_variables`).
- arn-operator-variable: Arn* operators split the policy value at colons before substituting variables, so
  `arn:aws:iam::${aws:PrincipalAccount}:role/x` never matches; ARN operators take policy variables (same
  page, "Condition element"). Not generated in Arn* operators (still in String* ones).
- short-arn: `arn:aws:secretsmanager:*` matches in an identity Allow but nothing in a NotResource or an RCP;
  a `*` ending a segment runs past colons (IAM User Guide, "IAM JSON policy elements: Resource"). Not
  generated: every pattern has six segments.
- service-wildcard: `arn:aws:*:...` matches in the simulator; "You can't use a wildcard in the service
  segment" (same page). Not generated.
- epoch-date: a Date value in epoch seconds is compared with an ISO date read as milliseconds; both forms are
  valid, epoch is seconds (IAM User Guide, "IAM JSON policy elements: Condition operators", date condition
  operators). Mapped (`_same_date_form`).
- version-2008-variables: `${...}` is substituted in a policy of Version 2008-10-17, where it "is treated as
  literal" ("Variables and tags"). Mapped (`_literal_variables`).
- bare-ip-address: NotIpAddress of a bare IPv4 address does not hold for an IPv6 caller, though it does for
  the same address written /32 (same operator page: an address or a CIDR range). Mapped (`_cidr`).
- notprincipal-account: a NotPrincipal naming an account leaves out every principal of that account; AWS
  leaves out only the principals it names: with Bob and Bob's account named, "all principals except the user
  named Bob" are denied (IAM User Guide, "AWS JSON policy elements: NotPrincipal", example "IAM user in the
  same or a different account"). Mapped (`_named_principals_only`).
Undocumented or invalid, not generated:
- a NotResource entry holding a variable with no value: "will not match any resource" (Variables and tags)
  does not say whether the statement then covers every resource or none; the engines differ.
- NotPrincipal in a trust policy (not allowed: "AWS JSON policy elements: NotPrincipal"), or naming a user
  without its account, or a role or its session (the page: AWS "might" then deny the whole account; a session
  must be named by its own ARN, which the scan cannot know): commonmode says MAYBE there.
commonmode wrong and since fixed (issue 11), compared again by the main test: ForAnyValue on an absent key
true for negated and …IfExists operators (item 16; "Single-valued vs. multivalued context keys"); policy
variables left MAYBE in Resource, NotResource and condition values, and conditions on aws:username and
aws:PrincipalTag/* left MAYBE though the principal settles them (item 17; "Variables and tags"); Date and
IpAddress operators never compared, MAYBE even with the key's value known. And the four below, each with its
smallest case in FIXED_DEFECTS (`test_fixed_defect`): Principal "*" in a same-account resource or trust policy
treated like the account root, so that it needed an identity-policy Allow (star-principal; "AWS JSON policy
elements: Principal", All principals: "no other permissions are required", and no boundary caps it); a trust
policy naming the caller role's ARN not capped by that role's boundary (assume-role-boundary; same page, IAM
role principals); a NotPrincipal Deny leaving out a named principal that has a permissions boundary
(notprincipal-boundary; "AWS JSON policy elements: NotPrincipal", key points: it always denies those); a
NotPrincipal naming an account leaving out all of its principals (notprincipal-account; same page, example).
commonmode wrong and still standing (KNOWN_DEFECTS, none now): left out of the main comparison, each with a
reproducer in REPRODUCERS that `test_every_known_defect_still_stands_and_is_left_out` checks, which starts
failing once the engine is fixed.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings

from commonmode_aws import policy as P
from commonmode_aws.policy import Tri

from . import policygen as G

SIMULATOR = Path(__file__).parent / "simulator"
SEED = 20261211
#: ~3,000 cases take 20-25 s of CPU on this project's 2-core machine (generation is most of it).
EXAMPLES = 3000

# --- installing and running the simulator ------------------------------------------------------------


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "commonmode"


def _install() -> Path:
    """node_modules for simulator/package-lock.json, installed once per lock file and machine.

    Outside the checkout on purpose: a clean clone (CI clones afresh for every run) reuses the install, the
    work tree stays as git has it, and nothing from node_modules can reach the package or the docs tests.
    Installed into a temporary directory and renamed when complete, so an interrupted or concurrent install
    never leaves a half-filled directory that looks finished."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are not installed: the differential test against @cloud-copilot/iam-simulate "
                    "needs them (apt-get install nodejs npm)")
    digest = hashlib.sha256((SIMULATOR / "package.json").read_bytes()
                            + (SIMULATOR / "package-lock.json").read_bytes()).hexdigest()[:16]
    target = _cache_root() / f"iam-simulate-{digest}"
    if (target / ".complete").exists():
        return target / "node_modules"
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=target.parent))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(SIMULATOR / name, work / name)
        # --ignore-scripts: no install script of any dependency runs; the lock file pins every version.
        done = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                              cwd=work, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.skip(f"npm ci of the simulator failed (no npm registry?): {done.stderr.strip()[-600:]}")
        (work / ".complete").write_text("installed by tests/connectors/aws/test_differential.py\n")
        with contextlib.suppress(OSError):  # another run finished first: use its copy
            work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target / "node_modules"


class Simulator:
    """The node process: one JSON request per line in, one JSON answer per line out."""

    def __init__(self, node_modules: Path) -> None:
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 — open while node runs; close() shuts it
        env = {**os.environ, "NODE_PATH": str(node_modules)}
        self._proc = subprocess.Popen(["node", str(SIMULATOR / "simulate.cjs")], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env)
        self._next = 0

    def ask(self, simulation: dict, *, explain: bool = False) -> dict:
        """The simulator's answer to one simulation (see simulate.cjs)."""
        assert self._proc.stdin and self._proc.stdout
        self._next += 1
        self._proc.stdin.write(json.dumps({"id": self._next, "explain": explain, "simulation": simulation}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            self._stderr.seek(0)
            raise RuntimeError(f"the simulator stopped: {self._stderr.read()[-2000:]}")
        answer = json.loads(line)
        assert answer["id"] == self._next, answer
        return answer

    def close(self) -> None:
        assert self._proc.stdin
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    sim = Simulator(_install())
    yield sim
    sim.close()


# --- one case, two engines ---------------------------------------------------------------------------------

#: AWS Organizations User Guide, "Resource control policies (RCPs)", list of AWS services that support RCPs:
#: Amazon S3, AWS STS, AWS KMS, Amazon SQS, AWS Secrets Manager (and later additions this connector decides
#: nothing on). Route 53 and Systems Manager Parameter Store are not among them.
RCP_SERVICES = frozenset({"s3", "sts", "kms", "sqs", "secretsmanager"})


def _statements(doc: dict | None, name: str) -> tuple[P.Statement, ...]:
    return P.parse_policy(doc, name) if doc else ()


def commonmode(case: dict) -> P.Decision:
    """commonmode's answer, called the way the connector calls the engine (build.py): the principal carries
    what the scan knows of it (ARN, kind, tags, organization), the request what the scan binds."""
    w: G.World = case["world"]
    p = P.Principal(
        arn=G.principal_arn(w.kind, w.name), account=G.A, kind=w.kind,
        policies=tuple(s for i, doc in enumerate(case["identity"]) for s in _statements(doc, f"identity-{i}")),
        boundary=_statements(case["boundary"], "boundary") if case["boundary"] else None,
        scp_levels=None if case["scps"] is None else tuple(
            _statements(doc, f"scp-{i}") for i, doc in enumerate(case["scps"])),
        tags=dict(w.tags), org_id=w.org_id)
    rcps = None if case["rcps"] is None else tuple(
        _statements({"Version": "2012-10-17", "Statement": [G.RCP_FULL_ACCESS, *doc["Statement"]]}, f"rcp-{i}")
        for i, doc in enumerate(case["rcps"]))
    # Keys that follow from the principal are not passed: the engine must know them from the Principal, as it
    # must in a scan (build.py passes only what it read about the resource). Except one absence the Principal
    # cannot express: org_id None says "not known to be in an organization", so the case declares
    # aws:PrincipalOrgID absent.
    context = {k: tuple(v) for k, v in w.context.items() if not _derived(k)}
    absent = {k for k in w.absent if not _derived(k) or k == "aws:principalorgid"}
    rp = _statements(case["resource_policy"], "resource-policy")
    if w.action == "sts:AssumeRole":
        return P.can_assume(p, w.resource, w.resource_account, rp, context=context, rcp_levels=rcps, absent=absent)
    req = P.request(p, w.action, w.resource, resource_account=w.resource_account, context=context, absent=absent)
    return P.evaluate(p, req, rp, rcp_levels=rcps)


def _derived(key: str) -> bool:
    k = G.KEY_BY_NAME.get(key)
    return bool(k and k.derived)


#: A character no request value holds: what a policy variable with no value stands for.
NULL = "\u0000"
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_NEGATED_OPERATORS = ("StringNot", "ArnNot")


def _null_variables(doc: dict | None, w: G.World) -> dict | None:
    """IAM User Guide, "IAM policy elements: Variables and tags", "Policy variables with no value": such a
    variable is "effectively null. There is no equal or like value"; StringEquals or StringLike do not match,
    and "inverted condition operators like StringNotEquals or StringNotLike do match against a null value".
    The simulator makes every comparison with an unresolved variable fail, negated ones too; in negated
    String and Arn operators it gets, for such a variable, a character no request value holds, so that the value
    equals and is like nothing (an ARN keeps its shape for the Arn operators), which is what the page says."""
    if doc is None:
        return None
    out = json.loads(json.dumps(doc))
    for st in out["Statement"]:
        for op, block in st.get("Condition", {}).items():
            if not op.split(":")[-1].startswith(_NEGATED_OPERATORS):
                continue
            for key, values in block.items():
                vals = values if isinstance(values, list) else [values]
                vals = [_VARIABLE.sub(lambda m: NULL if m.group(1).lower() in w.absent else m.group(0), v)
                        for v in vals] if doc.get("Version") == "2012-10-17" else vals
                block[key] = vals if isinstance(values, list) else vals[0]
    return out


def _same_date_form(doc: dict | None, w: G.World) -> dict | None:
    """IAM User Guide, "IAM JSON policy elements: Condition operators", date condition operators: a value is an
    ISO 8601 date or epoch (UNIX) time, in seconds. The simulator reads an epoch value as seconds but an ISO
    date as milliseconds, so it compares the two forms wrongly; it gets each Date value in the form the
    request's value has (epoch for aws:EpochTime, ISO for aws:CurrentTime), which is the same instant."""
    if doc is None:
        return None
    out = json.loads(json.dumps(doc))
    for st in out["Statement"]:
        for op, block in st.get("Condition", {}).items():
            if not op.split(":")[-1].startswith("Date"):
                continue
            for key, values in block.items():
                have = w.context.get(key.lower())
                if not have:
                    continue
                vals = [_date_as(v, epoch=have[0].isdigit())
                        for v in (values if isinstance(values, list) else [values])]
                block[key] = vals if isinstance(values, list) else vals[0]
    return out


def _date_as(value: str, *, epoch: bool) -> str:
    if value.isdigit():
        return value if epoch else datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())) if epoch else value


def _cidr(doc: dict | None) -> dict | None:
    """IAM User Guide, "IAM JSON policy elements: Condition operators", IP address condition operators: a
    value is an address or a range in CIDR notation, a single address being its own /32 (/128). The simulator
    finds no IPv6 caller outside a bare IPv4 address (NotIpAddress false), though it does outside the same
    address written /32; it gets every bare address with its prefix length."""
    if doc is None:
        return None
    out = json.loads(json.dumps(doc))
    for st in out["Statement"]:
        for op, block in st.get("Condition", {}).items():
            if op.split(":")[-1].removesuffix("IfExists") in ("IpAddress", "NotIpAddress"):
                for key, values in block.items():
                    vals = [v if "/" in v else f"{v}/128" if ":" in v else f"{v}/32"
                            for v in (values if isinstance(values, list) else [values])]
                    block[key] = vals if isinstance(values, list) else vals[0]
    return out


def _literal_variables(doc: dict | None) -> dict | None:
    """IAM User Guide, "IAM policy elements: Variables and tags": without Version 2012-10-17 "variables like
    ${aws:username} are treated as literal strings in the policy". The simulator substitutes them whatever the
    Version; in a 2008-10-17 policy it gets each `${` written `${$}{`, its escape for a literal `$`."""
    if doc is None or doc.get("Version") == "2012-10-17":
        return doc
    return json.loads(json.dumps(doc).replace("${", "${$}{"))


def _named_principals_only(doc: dict | None) -> dict | None:
    """IAM User Guide, "AWS JSON policy elements: NotPrincipal", example "IAM user in the same or a different
    account": with the user Bob and Bob's account named, "all principals except the user named Bob" are
    denied; the account is named so that AWS does not deny it first, which does not leave out its other
    principals. The simulator leaves out every principal of a named account; where the list names a principal
    of that account too, it gets the list without the account, which leaves out exactly the principals named
    (for callers of that account, which every generated caller is)."""
    if doc is None or not any("NotPrincipal" in st for st in doc["Statement"]):
        return doc
    out = json.loads(json.dumps(doc))
    for st in out["Statement"]:
        names = st.get("NotPrincipal", {}).get("AWS")
        if not isinstance(names, list):
            continue
        for account in {n.split(":")[4] for n in names if n.startswith("arn:aws:iam::") and not n.endswith(":root")}:
            names[:] = [n for n in names if n not in (account, f"arn:aws:iam::{account}:root")]
    return out


def _mapped(doc: dict | None, w: G.World) -> dict | None:
    return _named_principals_only(_cidr(_same_date_form(_null_variables(_literal_variables(doc), w), w)))


def simulation(case: dict, *, mapped: bool = True) -> dict:
    """The same case as an iam-simulate Simulation; `mapped`: with the corrections the module docstring lists
    (`_literal_variables`, `_null_variables`, `_same_date_form`, `_cidr`, `_named_principals_only`, RCPs only
    for RCP_SERVICES)."""
    w: G.World = case["world"]
    if mapped:
        case = {k: v if k == "world" else [_mapped(d, w) for d in v] if isinstance(v, list)
                else _mapped(v, w) for k, v in case.items()}
    service = w.action.split(":", 1)[0]
    # A role acts through a session; its aws:PrincipalArn is the role's ARN (IAM User Guide, "AWS global
    # condition context keys", aws:PrincipalArn), which the context carries.
    caller = (G.principal_arn("user", w.name) if w.kind == "user"
              else f"arn:aws:sts::{G.A}:assumed-role/{w.name}/differential")
    ctx: dict[str, str | list[str]] = {}
    for key, values in w.context.items():
        spec = G.KEY_BY_NAME[key]
        ctx[spec.name] = list(values) if spec.multi else values[0]
    sim: dict = {
        "request": {"principal": caller, "action": w.action,
                    "resource": {"resource": w.resource, "accountId": w.resource_account},
                    "contextVariables": ctx},
        "identityPolicies": [{"name": f"identity-{i}", "policy": doc} for i, doc in enumerate(case["identity"])],
        "serviceControlPolicies": [] if case["scps"] is None else [
            {"orgIdentifier": f"ou-level-{i}", "policies": [{"name": f"scp-{i}", "policy": doc}]}
            for i, doc in enumerate(case["scps"])],
        "resourceControlPolicies": [],
    }
    if case["rcps"] is not None and (service in RCP_SERVICES or not mapped):
        # The simulator applies RCPs to every service; AWS applies them only to the services above (Organizations
        # User Guide, "Resource control policies (RCPs)"). For any other service the simulator gets none, and
        # commonmode still gets them, so the comparison checks that commonmode ignores them there.
        sim["resourceControlPolicies"] = [
            {"orgIdentifier": f"ou-level-{i}",
             "policies": [{"name": f"rcp-{i}", "policy": doc}] if doc["Statement"] else []}
            for i, doc in enumerate(case["rcps"])]
    if case["boundary"] is not None:
        sim["permissionBoundaryPolicies"] = [{"name": "boundary", "policy": case["boundary"]}]
    if case["resource_policy"] is not None:
        sim["resourcePolicy"] = case["resource_policy"]
    return sim


def describe(case: dict, mine: P.Decision, theirs: dict) -> str:
    """A disagreement as a person would read it: the request, the keys the policies mention, every policy."""
    w: G.World = case["world"]
    text = json.dumps({k: v for k, v in case.items() if k != "world"})
    mentioned = {k for k in [*w.context, *w.absent] if k in text.lower()}
    lines = [
        f"commonmode: {mine.result.name} (via {list(mine.via)}); simulator: {theirs.get('result') or theirs}",
        f"request: {w.kind} {w.name} (account {G.A}, tags {w.tags}, org {w.org_id}) {w.action} on "
        f"{w.resource} (account {w.resource_account})",
        f"context: { {k: v for k, v in w.context.items() if k in mentioned} }; absent: "
        f"{sorted(k for k in w.absent if k in mentioned)}",
    ]
    for name in ("identity", "boundary", "scps", "rcps", "resource_policy"):
        if case[name] is not None:
            lines.append(f"{name}: {json.dumps(case[name])}")
    return "\n".join(lines)


def compare(sim: Simulator, case: dict, stats: collections.Counter[str]) -> None:
    """Both answers for one case; fails with the case when they differ."""
    theirs = sim.ask(simulation(case))
    assert "error" not in theirs, f"the simulator refused the case (a generator bug): {theirs}\n{case}"
    assert not theirs["ignored"], f"the simulator dropped context keys {theirs['ignored']} (a generator bug)"
    mine = commonmode(case)
    expected = Tri.YES if theirs["result"] == "Allowed" else Tri.NO
    stats[f"{theirs['result']}"] += 1
    stats[case["world"].action] += 1
    assert mine.result is expected, describe(case, mine, theirs)


# --- the tests -----------------------------------------------------------------------------------------

#: commonmode's errors that stand (FEATURES of the generator): left out of the main comparison, each with a
#: minimal reproducer in REPRODUCERS. When one is fixed its reproducer gives the documented answer,
#: `test_every_known_defect_still_stands_and_is_left_out` fails, and the entry moves to FIXED_DEFECTS: the main
#: comparison then covers the class again. None stands now.
KNOWN_DEFECTS: dict[str, str] = {}


def _run(sim: Simulator, examples: int, leave_out: frozenset[str] = frozenset()) -> collections.Counter[str]:
    stats: collections.Counter[str] = collections.Counter()

    @seed(int(os.environ.get("COMMONMODE_DIFFERENTIAL_SEED", SEED)))
    @settings(derandomize=True, deadline=None, max_examples=examples, database=None, print_blob=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=G.cases(leave_out=leave_out))
    def check(case: dict) -> None:
        compare(sim, case, stats)

    check()
    return stats


def test_commonmode_agrees_with_the_simulator(simulator: Simulator) -> None:
    """Every generated case, every FEATURE but the KNOWN_DEFECTS: the same answer from both engines."""
    started = time.monotonic()
    examples = int(os.environ.get("COMMONMODE_DIFFERENTIAL_EXAMPLES", EXAMPLES))
    stats = _run(simulator, examples, frozenset(KNOWN_DEFECTS) & frozenset(G.FEATURES))
    total = sum(stats[a] for a in G.TARGETS)
    print(f"{total} cases in {time.monotonic() - started:.1f} s: {dict(stats)}")
    # The comparison means something only if both answers are common, and every action is asked.
    assert stats["Allowed"] > total // 10, stats
    assert stats["ImplicitlyDenied"] > total // 10 and stats["ExplicitlyDenied"] > total // 10, stats
    assert all(stats[a] > total // 20 for a in G.TARGETS), stats


def case(action: str, resource: str, *, kind: str = "user", name: str = "alice", tags: dict | None = None,
         org_id: str | None = G.ORG, resource_account: str = G.A, context: dict | None = None,
         absent: tuple[str, ...] = (), identity: tuple[dict, ...] = (), boundary: dict | None = None,
         scps: list | None = None, rcps: list | None = None, resource_policy: dict | None = None) -> dict:
    """One case written by hand (as policygen draws them): statements are lists, keys as AWS spells them."""
    tags = tags or {}
    ctx, gone = {}, set()
    for key, value in G._derived(kind, name, tags, org_id).items():
        (gone.add(key) if value is None else ctx.__setitem__(key, value))
    ctx.update({k.lower(): v if isinstance(v, list) else [v] for k, v in (context or {}).items()})
    gone |= {k.lower() for k in absent}
    if action != G.CRRS:
        gone |= G.RECORD_KEYS
    world = G.World(kind=kind, name=name, tags=tags, org_id=org_id, action=action, resource=resource,
                    resource_account=resource_account, context=ctx, absent=frozenset(gone))

    def doc(statements: list | None) -> dict | None:
        return None if statements is None else {"Version": "2012-10-17", "Statement": statements}

    return {"world": world, "identity": [st if isinstance(st, dict) else doc(list(st)) for st in identity],
            "boundary": doc(boundary),
            "scps": None if scps is None else [doc(level) for level in scps],
            "rcps": None if rcps is None else [doc(level) for level in rcps], "resource_policy": doc(resource_policy)}


def allow(action: str | list, resource: str | list = "*", **extra: object) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


SECRET = G.secret(G.A, "app/db-AbCdEf")
TARGET_ROLE = G.role_arn(G.A, "target")

#: KNOWN_DEFECTS class -> the smallest case that shows it, the documented answer, and whether the (mapped)
#: simulator gives that answer too.
REPRODUCERS: dict[str, tuple[dict, str, bool]] = {}

#: The errors the differential test found in commonmode and issue 11 fixed: the smallest case of each, with the
#: documented answer, which commonmode and the mapped simulator now both give (the raw simulator gives it too
#: where the last field says so). The main comparison covers every class again.
FIXED_DEFECTS = {
    # alice has no identity policy; the secret's policy allows everyone.
    "star-principal": (case(
        "secretsmanager:GetSecretValue", SECRET,
        resource_policy=[allow("secretsmanager:GetSecretValue", Principal="*")]), "Allowed", True),
    # deployer's boundary allows Route 53 only; the target role trusts deployer by ARN.
    "assume-role-boundary": (case(
        "sts:AssumeRole", TARGET_ROLE, kind="role", name="deployer", boundary=[allow("route53:*")],
        resource_policy=[{"Effect": "Allow", "Principal": {"AWS": G.principal_arn("role", "deployer")},
                          "Action": "sts:AssumeRole"}]), "ImplicitlyDenied", True),
    # alice may read the secret, and the secret's policy denies everyone but alice; she has a boundary.
    "notprincipal-boundary": (case(
        "secretsmanager:GetSecretValue", SECRET, identity=([allow("secretsmanager:*")],),
        boundary=[allow("secretsmanager:*")], resource_policy=[{
            "Effect": "Deny", "NotPrincipal": {"AWS": [G.principal_arn("user", "alice"), f"arn:aws:iam::{G.A}:root"]},
            "Action": "secretsmanager:*", "Resource": "*"}]), "ExplicitlyDenied", True),
    # bob may read the secret; its policy denies everyone but alice (named with her account, as advised). The
    # raw simulator leaves bob out too (notprincipal-account in SIMULATOR_ERRORS); mapped, it denies him.
    "notprincipal-account": (case(
        "secretsmanager:GetSecretValue", SECRET, name="bob", identity=([allow("secretsmanager:*")],),
        resource_policy=[{
            "Effect": "Deny", "NotPrincipal": {"AWS": [G.principal_arn("user", "alice"), f"arn:aws:iam::{G.A}:root"]},
            "Action": "secretsmanager:*", "Resource": "*"}]), "ExplicitlyDenied", False),
}


def _tri(result: str) -> Tri:
    return Tri.YES if result == "Allowed" else Tri.NO


def test_every_known_defect_still_stands_and_is_left_out() -> None:
    """Each KNOWN_DEFECTS class (none now) has a reproducer on which commonmode still gives another answer
    than the documented one; once it is fixed this fails, and the class moves to FIXED_DEFECTS, where the
    main comparison covers it again."""
    assert set(REPRODUCERS) == set(KNOWN_DEFECTS)
    for defect in KNOWN_DEFECTS:
        c, documented, _ = REPRODUCERS[defect]
        assert commonmode(c).result is not _tri(documented), f"{defect} is fixed: move it to FIXED_DEFECTS"


def test_known_defect_reproducers(simulator: Simulator) -> None:
    """The reproducers say what they claim: the simulator gives the documented answer where it is right, and
    the generator can leave each class out of the main comparison."""
    assert set(REPRODUCERS) == set(KNOWN_DEFECTS) <= set(G.FEATURES)
    for defect, (c, documented, simulator_agrees) in REPRODUCERS.items():
        if simulator_agrees:
            assert simulator.ask(simulation(c))["result"] == documented, defect


@pytest.mark.parametrize("defect", sorted(FIXED_DEFECTS))
def test_fixed_defect(simulator: Simulator, defect: str) -> None:
    """commonmode gives the documented answer on each fixed class's smallest case, the mapped simulator too,
    and the raw simulator where it is right; and the generator draws the class (the main comparison covers it:
    a FEATURE it does not leave out)."""
    c, documented, raw_agrees = FIXED_DEFECTS[defect]
    assert commonmode(c).result is _tri(documented), commonmode(c)
    assert simulator.ask(simulation(c))["result"] == documented
    assert (simulator.ask(simulation(c, mapped=False))["result"] == documented) is raw_agrees
    assert defect in G.FEATURES and defect not in KNOWN_DEFECTS


#: Each way the simulator departs from AWS's documentation, the smallest case that shows it, the simulator's
#: raw answer there, and the documented answer (which commonmode gives, and the mapped simulator too when the
#: class is mapped rather than left out of generation).
SIMULATOR_ERRORS = {
    # Route 53 is not an RCP service: an RCP Deny of route53:* does not apply (module docstring).
    "rcp-on-any-service": (case(
        G.CRRS, G.ZONE, identity=([allow("route53:*")],), context={
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["www.example.com"],
            "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
            "route53:ChangeResourceRecordSetsActions": ["UPSERT"]},
        rcps=[[{"Effect": "Deny", "Principal": "*", "Action": "route53:*", "Resource": "*"}]]),
        "ExplicitlyDenied", "Allowed"),
    # A role has no aws:username: StringNotEquals against ${aws:username} matches the null value.
    "negated-null-variable": (case(
        "route53:UpdateHealthCheck", G.HEALTH_CHECK, kind="role", name="deployer", tags={"team": "dns"},
        identity=([allow("route53:*", Condition={"StringNotEquals": {"aws:PrincipalTag/team": "${aws:username}"}})],)),
        "ImplicitlyDenied", "Allowed"),
    # ${aws:PrincipalAccount} in the account segment of an ArnEquals value.
    "arn-operator-variable": (case(
        "route53:UpdateHealthCheck", G.HEALTH_CHECK, kind="role", name="deployer", identity=([allow(
            "route53:*",
            Condition={"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::${aws:PrincipalAccount}:role/deployer"}})],)),
        "ImplicitlyDenied", "Allowed"),
    # A NotResource of every secret (a trailing * runs past colons) does not exclude a hosted zone.
    "short-arn": (case(
        "route53:EnableHostedZoneDNSSEC", G.ZONE, identity=([{
            "Effect": "Allow", "Action": "route53:*", "NotResource": "arn:aws:secretsmanager:*"}],)),
        "ImplicitlyDenied", "Allowed"),
    # A wildcard service segment is not a pattern IAM matches.
    "service-wildcard": (case(
        "secretsmanager:GetSecretValue", SECRET,
        identity=([allow("secretsmanager:*", f"arn:aws:*:us-east-1:{G.A}:secret:*")],)),
        "Allowed", "ImplicitlyDenied"),
    # An epoch (seconds) Date value against an ISO request time: 1767225600 is 2026-01-01T00:00:00Z.
    "epoch-date": (case(
        "route53:UpdateHealthCheck", G.HEALTH_CHECK, context={"aws:CurrentTime": "2026-01-01T00:00:00Z"},
        identity=([allow("route53:*", Condition={"DateEquals": {"aws:CurrentTime": "1767225600"}})],)),
        "ImplicitlyDenied", "Allowed"),
    # In a 2008-10-17 policy ${aws:username} is the literal text, which no user ARN holds.
    "version-2008-variables": (case(
        "route53:UpdateHealthCheck", G.HEALTH_CHECK, identity=({"Version": "2008-10-17", "Statement": [allow(
            "route53:*",
            Condition={"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{G.A}:user/${{aws:username}}"}})]},)),
        "Allowed", "ImplicitlyDenied"),
    # The secret's policy denies everyone but alice, named with her account: bob is denied.
    "notprincipal-account": (case(
        "secretsmanager:GetSecretValue", SECRET, name="bob", identity=([allow("secretsmanager:*")],),
        resource_policy=[{
            "Effect": "Deny", "NotPrincipal": {"AWS": [G.principal_arn("user", "alice"), f"arn:aws:iam::{G.A}:root"]},
            "Action": "secretsmanager:*", "Resource": "*"}]), "Allowed", "ExplicitlyDenied"),
    # An IPv6 caller is not the IPv4 address 198.51.100.7, so NotIpAddress holds.
    "bare-ip-address": (case(
        "route53:UpdateHealthCheck", G.HEALTH_CHECK, context={"aws:SourceIp": "2001:db8::7"},
        identity=([allow("route53:*", Condition={"NotIpAddress": {"aws:SourceIp": "198.51.100.7"}})],)),
        "ImplicitlyDenied", "Allowed"),
}
#: The classes the harness corrects (the rest are not generated).
MAPPED = frozenset({"rcp-on-any-service", "negated-null-variable", "epoch-date", "version-2008-variables",
                    "bare-ip-address", "notprincipal-account"})


@pytest.mark.parametrize("error", sorted(SIMULATOR_ERRORS))
def test_simulator_error(simulator: Simulator, error: str) -> None:
    """The simulator still departs from the documentation there (else the mapping or exclusion is moot),
    commonmode gives the documented answer, and a mapped class compares equal once mapped."""
    c, raw, documented = SIMULATOR_ERRORS[error]
    assert simulator.ask(simulation(c, mapped=False))["result"] == raw
    assert commonmode(c).result is _tri(documented), commonmode(c)
    if error in MAPPED:
        assert simulator.ask(simulation(c))["result"] == documented
