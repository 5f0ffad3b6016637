"""GCP connector benchmark: an organization of N projects in the local GCP stand-ins, one scan, time and calls.

    python benchmarks/bench_gcp.py                           # 2, 10, 40 and 100 projects
    python benchmarks/bench_gcp.py --projects 100 --accounts 12
    python benchmarks/bench_gcp.py --projects 40 --profile /tmp/gcp.prof   # cProfile of the scan

Needs the [test] extra (google-cloud-iam, google-auth, trustme). The estate (`seed_estate`, reproducible from
--seed and N) grows with N projects: folders platform/dns, apps and sandbox under the organization (the
projects spread over them, a few at the organization itself); per project `--accounts` service accounts (one
or two user-managed keys each, one in six of them 400 days old; one in ten without an owner in its
description), a custom role, an allow policy of a dozen predefined roles (members mostly the project's own
service accounts, some of other projects', a few users, a Cloud Identity group, now and then a deleted
member; one project in three with a conditional binding), bindings on some service accounts (Token Creator,
Service Account User: the impersonation chains), one public managed zone with a primaryBackup record, a
dozen plain records and a zone-level binding, three secrets with a secret-level binding each, one
certificate; a deny policy on record changes in one project in five; a couple of bindings on the folders and
the organization; three Cloud Identity groups the scanner can read (one nested in another); a workload
identity pool with a GitHub provider (conditioned on the repository owner) in the first project, its
principal sets bound to one deployer per project. One zone in 20 projects is large (600 records): its record
set listing takes two pages.

The stand-ins (commonmode_sandbox.gcp: the gRPC IAM services and the HTTPS REST APIs behind one TLS front,
started by commonmode_sandbox.servers.start_gcp) run in a child process of their own, so their CPU and memory
are not the scanner's. The scan is GcpConnector.collect with the real clients (google-auth's AuthorizedSession,
google-cloud-iam's gRPC clients), credentials from GOOGLE_APPLICATION_CREDENTIALS (the scanner's key file,
its token_uri at the stand-in) and `ca_bundle` the stand-in's CA. Each size runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sizes import each_size, scan_once, stop

#: The stand-in's page size where a request names none (IAM v2 ListPolicies; the gRPC key listing is not
#: paged). The connector names its own on every other list: REST lists 500 (pageSize, Cloud DNS maxResults),
#: ListServiceAccounts 100, ListRoles 1,000; Google serves at most what is asked and may serve less. 100 is
#: ListServiceAccounts' maximum ("Method: projects.serviceAccounts.list": "The default is 20, and the maximum
#: is 100"), a realistic page for a list that leaves the size to the server (Cloud DNS
#: "resourceRecordSets.list": "If unspecified, the server decides how many results to return").
PAGE_SIZE = 100
#: Records in the large zones (one in 20 projects): two pages of the connector's 500.
LARGE_ZONE = 600
GITHUB = "https://token.actions.githubusercontent.com"
CONDITION = {"title": "business hours", "expression": 'request.time.getHours("Europe/Berlin") < 18'}
#: The project-level roles an allow policy draws from, with how often each is bound (Cloud DNS, Secret
#: Manager, IAM and the basic roles: what the connector evaluates; the stand-in serves these 24 roles).
PROJECT_ROLES = (["roles/viewer"] * 3 + ["roles/dns.reader"] * 2 + ["roles/dns.admin"] * 2
                 + ["roles/secretmanager.secretAccessor"] * 2
                 + ["roles/editor", "roles/owner", "roles/iam.serviceAccountUser",
                    "roles/iam.serviceAccountTokenCreator", "roles/iam.serviceAccountKeyAdmin",
                    "roles/iam.serviceAccountAdmin", "roles/iam.securityReviewer", "roles/iam.roleAdmin",
                    "roles/compute.loadBalancerAdmin", "roles/compute.networkAdmin", "roles/secretmanager.viewer",
                    "roles/secretmanager.admin", "roles/certificatemanager.editor", "roles/dns.peer",
                    "roles/resourcemanager.projectIamAdmin"])
#: What the custom role of every project holds: the record changes of the Changes API and nothing else.
RECORD_EDITOR = ["dns.changes.create", "dns.changes.get", "dns.managedZones.get", "dns.managedZones.list",
                 "dns.resourceRecordSets.create", "dns.resourceRecordSets.delete", "dns.resourceRecordSets.get",
                 "dns.resourceRecordSets.list", "dns.resourceRecordSets.update"]


def seed_estate(n: int, *, seed: int, accounts: int, page_size: int) -> tuple[Any, dict[str, int]]:
    """An organization of `n` projects (see the module docstring) and what it holds, counted."""
    from commonmode_sandbox.gcp import GcpEstate

    rng = random.Random(f"{seed}:{n}:{accounts}")  # ids and picks of a fictional estate, not a secret
    e = GcpEstate(seed=seed, page_size=page_size)
    org = e.organization["name"]
    platform_f = e.folder("platform")
    dns_f = e.folder("dns", parent=platform_f["name"])
    apps_f = e.folder("apps")
    sandbox_f = e.folder("sandbox")
    parents = [dns_f["name"], apps_f["name"], apps_f["name"], sandbox_f["name"], org]
    pids = [f"bench-{i:03d}" for i in range(n)]
    emails: dict[str, list[str]] = {}
    deployer: dict[str, str] = {}
    counts = {"folders": 4, "projects": n, "service_accounts": 0, "keys": 0, "managed_zones": 0, "record_sets": 0,
              "secrets": 0, "groups": 0, "deny_policies": 0, "bindings": 0, "members_bound": 0,
              "conditional_bindings": 0}

    def bind(resource: str, role: str, members: list[str], condition: dict[str, str] | None = None) -> None:
        e.bind(resource, role, members, condition=condition)
        counts["bindings"] += 1
        counts["members_bound"] += len(members)
        counts["conditional_bindings"] += condition is not None

    for i, pid in enumerate(pids):
        e.project(pid, parent=parents[i % len(parents)], labels={"owner": f"team-{i % 7}", "env": "prod"})
        emails[pid] = []
        for k in range(accounts):
            short = "deployer" if k == 0 else f"app-{k}"
            owned = rng.random() >= 0.1
            sa = e.service_account(pid, short, description=f"{short} (owner: team-{i % 7})" if owned else short)
            emails[pid].append(sa["email"])
            for _ in range(rng.choice([1, 1, 2])):
                e.service_account_key(sa["email"], age_days=400 if rng.random() < 1 / 6 else rng.randint(1, 80))
                counts["keys"] += 1
        deployer[pid] = emails[pid][0]
        counts["service_accounts"] += accounts
    pool = e.workload_identity_pool(pids[0], "github")
    e.workload_identity_provider(pool, "github-example", issuer=GITHUB,
                                 attribute_mapping={"google.subject": "assertion.sub",
                                                    "attribute.repository": "assertion.repository",
                                                    "attribute.repository_owner": "assertion.repository_owner"},
                                 attribute_condition="assertion.repository_owner == 'example'")
    everyone = [f"serviceAccount:{m}" for pid in pids for m in emails[pid]]

    def members(pid: str) -> list[str]:
        """One to four members: mostly the project's own service accounts, some another project's, a user."""
        own = [f"serviceAccount:{m}" for m in emails[pid]]
        out: set[str] = set()
        for _ in range(rng.choice([1, 1, 2, 2, 3, 4])):
            r = rng.random()
            if r < 0.75:
                out.add(own[int(len(own) * rng.random() ** 2)])  # a few busy accounts, a long tail
            elif r < 0.9:
                out.add(rng.choice(everyone))
            else:
                out.add(f"user:dev{rng.randrange(20)}@example.com")
        return sorted(out)

    for i, pid in enumerate(pids):
        project = f"projects/{pid}"
        role = e.custom_role(project, "recordEditor", RECORD_EDITOR, title="Record editor")
        for r in [*sorted(set(rng.sample(PROJECT_ROLES, 12))), role["name"]]:
            extra = ["group:dns-admins@example.com"] if r == "roles/dns.admin" and rng.random() < 0.3 else []
            extra += ([f"deleted:serviceAccount:old-{i}@{pid}.iam.gserviceaccount.com?uid={rng.randrange(10**20)}"]
                      if rng.random() < 0.02 else [])
            bind(project, r, members(pid) + extra)
        if i % 3 == 0:
            bind(project, "roles/dns.admin", members(pid), condition=CONDITION)
        for k, email in enumerate(emails[pid]):
            if k and rng.random() < 0.5:
                who = [f"serviceAccount:{rng.choice(emails[pid])}"]
                bind(f"{project}/serviceAccounts/{email}",
                     rng.choice(["roles/iam.serviceAccountTokenCreator", "roles/iam.serviceAccountUser"]), who)
        bind(f"{project}/serviceAccounts/{deployer[pid]}", "roles/iam.workloadIdentityUser",
             [f"principalSet://iam.googleapis.com/{pool['name']}/attribute.repository/example/app-{i}"])
        zone, dns = f"zone-{i}", f"p{i}.example.com."
        e.managed_zone(pid, zone, dns, labels={"owner": f"team-{i % 7}"})
        e.record_set(pid, zone, f"api.{dns}", "A", routing_policy=e.primary_backup(
            [e.internal_load_balancer(f"10.{i % 250}.0.5", project=pid, region="us-east1",
                                      network=f"https://www.googleapis.com/compute/v1/projects/{pid}/global/networks/"
                                              "prod")],
            {"us-west1": [f"203.0.113.{i % 250 + 1}"]}))
        plain = LARGE_ZONE if i % 20 == 19 else 12
        for k in range(plain):
            kind = k % 4
            if kind == 0:
                e.record_set(pid, zone, f"www{k}.{dns}", "CNAME", rrdatas=[f"api.{dns}"])
            elif kind == 3:
                e.record_set(pid, zone, f"txt{k}.{dns}", "TXT", rrdatas=[f'"v=spf1 -all {k}"'])
            else:
                e.record_set(pid, zone, f"host{k}.{dns}", "A", rrdatas=[f"10.{i % 250}.{k // 250}.{k % 250}"])
        counts["managed_zones"] += 1
        counts["record_sets"] += plain + 1
        bind(f"{project}/managedZones/{zone}", "roles/dns.admin", members(pid)[:2])
        for k in range(3):
            e.secret(pid, f"secret-{k}", labels={"owner": f"team-{i % 7}"}, expire_in_days=rng.randint(20, 400))
            bind(f"{project}/secrets/secret-{k}", "roles/secretmanager.secretAccessor", members(pid)[:2])
        counts["secrets"] += 3
        e.certificate(pid, f"cert-{i}", [f"api.{dns}".rstrip(".")], expires_in_days=rng.randint(10, 80))
        if i % 5 == 0:
            e.deny_policy(project, "no-record-changes", [{
                "deniedPrincipals": [f"principal://iam.googleapis.com/projects/-/serviceAccounts/"
                                     f"{rng.choice(emails[pid])}"],
                "deniedPermissions": ["dns.googleapis.com/changes.create"]}])
            counts["deny_policies"] += 1
    # Cloud Identity groups, readable by the scanner (a nested one among them): their members get what they get
    e.group("dns-admins@example.com", list(dict.fromkeys(["dev0@example.com", "dev1@example.com",
                                                          emails[pids[0]][1], emails[pids[-1]][1]])))
    e.group("netops@example.com", ["dev2@example.com", "dns-admins@example.com"])
    e.group("app-readers@example.com", [*(f"dev{k}@example.com" for k in range(3, 12)), "netops@example.com"])
    counts["groups"] = 3
    # a couple of bindings on the folders and the organization, reaching every project below
    bind(platform_f["name"], "roles/dns.admin", [f"serviceAccount:{deployer[pids[0]]}"])
    bind(apps_f["name"], "roles/viewer", ["group:app-readers@example.com"])
    bind(sandbox_f["name"], "roles/editor", [f"serviceAccount:{rng.choice(everyone).split(':', 1)[1]}"])
    bind(org, "roles/iam.securityReviewer", [f"serviceAccount:{emails[pids[0]][-1]}"])
    bind(org, "roles/dns.reader", ["group:netops@example.com"])
    return e, counts


def serve(n: int, seed: int, accounts: int, page_size: int) -> None:
    """The child process: seed the estate, start the stand-ins, say where they are (one JSON line on stdout),
    and when stdin says stop (or closes), stop them and report what they served."""
    from commonmode_sandbox.servers import start_gcp

    t0 = time.perf_counter()
    estate, counts = seed_estate(n, seed=seed, accounts=accounts, page_size=page_size)
    seed_s = time.perf_counter() - t0
    servers = start_gcp(estate)
    try:
        print(json.dumps({"organization": estate.organization["name"], "ca_file": servers.ca_file,
                          "key_file": servers.key_file, "api_endpoints": servers.api_endpoints, "seed_s": seed_s,
                          "estate": counts}), flush=True)
        sys.stdin.readline()
        print(json.dumps({"requests": len(servers.requests), "refused": servers.refused,
                          "failures": servers.failures[:5],
                          "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
    finally:
        servers.stop()


def one(n: int, seed: int, accounts: int, page_size: int, profile: str | None) -> dict[str, Any]:
    """One size: start the stand-ins (child process), scan them once, measure."""
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(n), "--seed", str(seed), "--accounts",
                              str(accounts), "--page-size", str(page_size)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        line = child.stdout.readline()
        if not line:
            raise SystemExit(f"bench_gcp: the stand-ins did not start (exit {child.wait()})")
        where = json.loads(line)
        # Application Default Credentials: the scanner's key file; the CA comes from ca_bundle alone
        os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = where["key_file"]
        for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
            os.environ.pop(name, None)
        from commonmode.connector import ConnectorSettings
        from commonmode_gcp import GcpConnector

        ca = Path(where["ca_file"])
        options = {"organization": where["organization"], "ca_bundle": ca.name,
                   "api_endpoints": where["api_endpoints"]}
        connector = GcpConnector(ConnectorSettings(name="bench", connector_type="gcp", options=options,
                                                   config_dir=ca.parent, timeout=60, deadline=3600))
        result, measured = scan_once(connector, "commonmode_gcp.build", child, profile)
    finally:
        stop(child)
    stats = dict(result.stats)
    return {"projects": n, "projects_read": stats.get("projects", 0), "bindings_read": stats.get("bindings", 0),
            "seed_s": where["seed_s"], "estate": where["estate"],
            **measured, "gaps": len(result.gaps), "gaps_sample": list(result.gaps[:5])}


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def report(rows: list[dict[str, Any]], accounts: int, page_size: int) -> None:
    """The tables, in Markdown."""
    print(f"Machine: {os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}, "
          f"{platform.system()}; GCP stand-ins on 127.0.0.1 in their own process; {accounts} service accounts a "
          f"project; stand-in page {page_size}; load average (1 min) before and after each size: "
          + ", ".join(f"{r['load'][0]:.2f}–{r['load'][1]:.2f}" for r in rows) + "\n")
    print("| projects | service accounts | bindings (members) | record sets | API calls | collect s "
          "| build s (of which grants) | total s | scanner CPU s | grants | services | status (gaps) | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        est = r["estate"]
        print(f"| {r['projects']:,} | {est['service_accounts']:,} | {r['bindings_read']:,} "
              f"({est['members_bound']:,}) | {est['record_sets']:,} | {r['api_calls']:,} | {r['collect_s']:.2f} "
              f"| {r['build_s']:.2f} ({r['grants_s']:.2f}) | {r['total_s']:.2f} | {r['cpu_s']:.2f} | {r['grants']:,} "
              f"| {r['services']:,} | {r['status']} ({r['gaps']}) | {r['peak_rss_mb']:.0f} |")
    ops = sorted({op for r in rows for op in r["calls"]}, key=lambda op: (-rows[-1]["calls"].get(op, 0), op))
    print("\nAPI calls per operation\n")
    print("| operation | " + " | ".join(f"{r['projects']:,} projects" for r in rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for op in ops:
        print(f"| `{op}` | " + " | ".join(f"{r['calls'].get(op, 0):,}" for r in rows) + " |")
    print("\nEstates\n")
    keys = list(rows[-1]["estate"])
    print("| | " + " | ".join(f"{r['projects']:,} projects" for r in rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for k in keys:
        print(f"| {k.replace('_', ' ')} | " + " | ".join(f"{r['estate'].get(k, 0):,}" for r in rows) + " |")
    for r in rows:
        est = r["estate"]
        if (r["writes_refused"] or r["standin_failures"] or r["projects_read"] != r["projects"]
                or r["bindings_read"] != est["bindings"]):
            print(f"\n{r['projects']} projects: writes refused {r['writes_refused']}, projects read "
                  f"{r['projects_read']}, bindings read {r['bindings_read']} of {est['bindings']}, stand-in "
                  f"failures: {r['standin_failures']}", file=sys.stderr)
        if r["gaps"]:
            print(f"{r['projects']} projects: {r['gaps']} gaps, e.g. {r['gaps_sample'][:2]}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", type=int, nargs="+", default=[2, 10, 40, 100],
                    help="project counts, one scan each [default: 2 10 40 100]")
    ap.add_argument("--accounts", type=int, default=8, help="service accounts per project [default: 8]")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--page-size", type=int, default=PAGE_SIZE,
                    help=f"the stand-ins' page where a request names none [default: {PAGE_SIZE}]")
    ap.add_argument("--profile", metavar="FILE", help="cProfile the scan of the (last) size into FILE (pstats)")
    ap.add_argument("--json", action="store_true", help="also print each size's measurements as JSON")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.accounts < 2:
        ap.error("--accounts: at least 2 (a deployer and one more)")
    if args.serve:
        serve(args.serve, args.seed, args.accounts, args.page_size)
        return
    if args.one:
        print(json.dumps(one(args.one, args.seed, args.accounts, args.page_size, args.profile)))
        return
    rows = []
    for i, n in enumerate(args.projects):
        extra = ["--seed", str(args.seed), "--accounts", str(args.accounts), "--page-size", str(args.page_size)]
        if args.profile and i == len(args.projects) - 1:
            extra += ["--profile", args.profile]
        load_before = os.getloadavg()[0]
        (r,) = each_size(__file__, [n], *extra)
        r["load"] = (load_before, os.getloadavg()[0])
        rows.append(r)
        print(f"measured {n} projects", file=sys.stderr)
    report(rows, args.accounts, args.page_size)
    if args.json:
        for r in rows:
            print(json.dumps(r))


if __name__ == "__main__":
    main()
