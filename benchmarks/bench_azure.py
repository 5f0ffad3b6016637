"""Azure connector benchmark: N role assignments in a local Azure stand-in, one scan, time and calls.

    python benchmarks/bench_azure.py                        # 100, 500 and 2,000 role assignments
    python benchmarks/bench_azure.py --assignments 5000
    python benchmarks/bench_azure.py --assignments 2000 --profile /tmp/azure.prof   # cProfile of the scan

Needs the [test] extra (the Azure SDKs, azure-identity, trustme). The estate (`seed_estate`) grows with N:
service principals (one per 5 assignments), user-assigned managed identities (one per 25) and groups (one
per 100), a few subscriptions under a management group (at least 3, and never more than 3,000 assignments
in one: Azure allows 4,000), DNS zones with a dozen record sets each, Traffic Manager priority profiles
(failover pairs, each behind a CNAME), Key Vaults in both access models with secret metadata. The
assignments go mostly to service principals, a few to the busiest ones (a skewed pick), some to groups and
managed identities, at every scope: the management group, subscriptions, resource groups and resources.

The stand-in (commonmode_sandbox.azure, started by commonmode_sandbox.servers.start_azure, one HTTPS server
per API under a test CA) runs in a child process of its own, so its CPU and memory are not the scanner's.
The scan is AzureConnector.collect with the real management SDKs and a real azure-identity
ClientSecretCredential. Page sizes are what Azure serves: Microsoft Graph 100 items a page when no `$top`
is sent (the connector sends none); ARM 1,000 (see ARM_PAGE). Each size runs in its own process.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sizes import each_size, scan_once, stop

#: ARM's page of role assignments. "Role Assignments - List For Scope" documents nextLink/$skipToken paging but
#: no page size (https://learn.microsoft.com/rest/api/authorization/role-assignments/list-for-scope); 1,000 is
#: the assumption here. It hardly matters on Azure: a subscription holds at most 4,000 role assignments
#: ("Troubleshoot Azure RBAC limits", https://learn.microsoft.com/azure/role-based-access-control/troubleshoot-limits),
#: so the listing is at most 4 pages of 1,000 per subscription. The stand-in has one ARM page size for every
#: listing: DNS zones and record sets come 100 a page on Azure ("If not specified, returns up to 100",
#: https://learn.microsoft.com/rest/api/dns/record-sets/list-all-by-dns-zone), so the estate keeps fewer than
#: 100 zones per subscription and record sets per zone, and those listings take one page under either size.
ARM_PAGE = 1000
#: Microsoft Graph's page when no `$top` is sent: 100 ("List applications": "The default and maximum page sizes
#: are 100 and 999 application objects", https://learn.microsoft.com/graph/api/application-list; the service
#: principal list pages the same way; paging: https://learn.microsoft.com/graph/paging).
GRAPH_PAGE = 100

GITHUB = "https://token.actions.githubusercontent.com"
MG = "/providers/Microsoft.Management/managementGroups/platform"


def seed_estate(n: int, *, seed: int = 15, arm_page: int = ARM_PAGE) -> tuple[Any, dict[str, int]]:
    """An AzureEstate with exactly `n` role assignments (and what it holds, counted)."""
    from commonmode_sandbox.azure import AzureEstate

    rng = random.Random(seed)
    e = AzureEstate(seed=seed, page_size=arm_page)
    now = datetime.datetime.now(datetime.UTC)
    e.management_group("platform")
    n_subs = max(3, math.ceil(n / 3000))
    subs = [e.subscription(f"sub-{i}", management_group="platform")["subscriptionId"] for i in range(n_subs)]
    users = [e.user(f"Owner {i}")["id"] for i in range(max(5, n // 100))]
    rgs: dict[str, list[str]] = {kind: [] for kind in ("dns", "edge", "secrets", "identity", "app")}
    for s in subs:
        for kind in rgs:
            for k in range(1 if kind != "app" else max(2, n // (250 * n_subs))):
                rgs[kind].append(e.resource_group(s, f"{kind}-{k}"))

    # directory: applications with their service principals, owners, client secrets, federated credentials
    apps: list[str] = []
    sps: list[str] = []
    for i in range(max(10, n // 5)):
        a = e.application(f"app-{i}")
        apps.append(a["id"])
        sps.append(e.service_principal_for(a["appId"])["id"])
        if rng.random() < 0.9:
            e.add_owner(a["id"], rng.choice(users))
        days = rng.randint(5, 25) if rng.random() < 0.05 else rng.randint(60, 700)
        e.password_credential(a["id"], display_name="ci", end=now + datetime.timedelta(days=days))
        if rng.random() < 0.1:
            e.app_federated_credential(a["id"], "github", issuer=GITHUB,
                                       subject=f"repo:acme/app-{i}:ref:refs/heads/main")
    mis: list[tuple[str, str]] = []  # (ARM id, service principal object id)
    for i in range(max(2, n // 25)):
        mi = e.user_assigned_identity(rgs["identity"][i % len(rgs["identity"])], f"mi-{i}",
                                      tags={"owner": f"team-{i % 10}"})
        mis.append((mi["id"], e.service_principal_for(mi["properties"]["clientId"])["id"]))
        if rng.random() < 0.2:
            e.federated_identity_credential(mi["id"], "deploy", issuer=GITHUB,
                                            subject=f"repo:acme/deploy-{i}:environment:prod")
    groups = [e.group(f"group-{i}", members=rng.sample(sps, 5))["id"] for i in range(max(2, n // 100))]

    # resources
    zones, records, profiles, vaults, secrets = [], [], [], [], []
    for i in range(max(3, n // 100)):
        z = e.dns_zone(rgs["dns"][i % len(rgs["dns"])], f"zone{i}.example", tags={"owner": f"team-{i % 10}"})
        zones.append(z["id"])
        for k in range(6):
            records.append(e.record_set(z["id"], f"host{k}", "A", records=[f"192.0.2.{k + 1}"])["id"])
        records.append(e.record_set(z["id"], "www", "CNAME", records=f"host0.zone{i}.example")["id"])
        records.append(e.record_set(z["id"], "@", "TXT", records=["v=spf1 -all"])["id"])
        records.append(e.record_set(z["id"], "@", "MX", records=[(10, f"mail.zone{i}.example")])["id"])
    for i in range(max(2, n // 200)):
        p = e.traffic_manager_profile(rgs["edge"][i % len(rgs["edge"])], f"tm-{i}", tags={"owner": f"team-{i % 10}"})
        e.traffic_manager_endpoint(p["id"], "primary", target=f"primary-{i}.example.net", priority=1)
        e.traffic_manager_endpoint(p["id"], "backup", target=f"backup-{i}.example.org", priority=2)
        profiles.append(p["id"])
        # its public name: a CNAME in one zone, as a service's DNS is
        records.append(e.record_set(zones[i % len(zones)], f"svc{i}", "CNAME",
                                    records=f"tm-{i}.trafficmanager.net")["id"])
    for i in range(max(2, n // 200)):
        rbac = i % 2 == 0
        v = e.key_vault(rgs["secrets"][i % len(rgs["secrets"])], f"kv-{i}", rbac=rbac)
        vaults.append((v["id"], rbac))
        for k in range(5):
            expires = now + datetime.timedelta(days=rng.randint(10, 400)) if k % 2 else None
            secrets.append(e.vault_secret(v["id"], f"secret-{k}", expires=expires)["id"])
        if not rbac:
            for sp in rng.sample(sps, 3):
                e.vault_access_policy(v["id"], sp, secrets=["get", "list"] + (["set"] if rng.random() < 0.3 else []))
    for s_i in range(len(subs)):
        pz = e.private_zone(rgs["dns"][s_i], f"internal{s_i}.example")
        for k in range(3):
            e.private_record_set(pz["id"], f"db{k}", "A", records=[f"10.0.0.{k + 1}"])
        # a deny assignment (as a managed application's or a blueprint's): Traffic Manager writes on the edge
        # resource group for everyone but one deployment principal
        e.deny_assignment(rgs["edge"][s_i], name="protect traffic manager",
                          actions=["Microsoft.Network/trafficManagerProfiles/*"],
                          exclude_principals=[(rng.choice(sps), "ServicePrincipal")])

    def skewed(pool: list[str]) -> str:
        return pool[int(len(pool) * rng.random() ** 2)]  # a few busy principals, a long tail of quiet ones

    def principal() -> tuple[str, str]:
        r = rng.random()
        if r < 0.8:
            return skewed(sps), "ServicePrincipal"
        if r < 0.9:
            return skewed([m[1] for m in mis]), "ServicePrincipal"  # ARM names managed identities so
        return rng.choice(groups), "Group"

    def scope_and_role() -> tuple[str, str]:
        r = rng.random()
        if r < 0.03:
            return MG, rng.choice(["Reader"] * 4 + ["Contributor"])
        if r < 0.10:
            return f"/subscriptions/{rng.choice(subs)}", rng.choice(
                ["Reader"] * 12 + ["Contributor"] * 6 + ["Owner", "User Access Administrator"])
        if r < 0.40:
            kind = rng.choice(list(rgs))
            role = {"dns": ["DNS Zone Contributor", "Reader"], "edge": ["Traffic Manager Contributor",
                                                                       "Network Contributor"],
                    "secrets": ["Key Vault Secrets User", "Key Vault Secrets Officer", "Key Vault Reader"],
                    "identity": ["Managed Identity Operator", "Managed Identity Contributor"],
                    "app": ["Reader", "Contributor"]}[kind]
            return rng.choice(rgs[kind]), rng.choice(role)
        kind = rng.choice(["zone", "record", "record", "profile", "vault", "secret", "identity"])
        if kind == "zone":
            return rng.choice(zones), "DNS Zone Contributor"
        if kind == "record":
            return rng.choice(records), "DNS Zone Contributor"
        if kind == "profile":
            return rng.choice(profiles), "Traffic Manager Contributor"
        if kind == "vault":
            vid, rbac = rng.choice(vaults)
            return vid, "Key Vault Secrets User" if rbac else "Key Vault Contributor"
        if kind == "secret":
            return rng.choice(secrets), "Key Vault Secrets User"
        return rng.choice(mis)[0], rng.choice(["Managed Identity Operator",
                                               "Managed Identity Federated Identity Credential Contributor"])

    seen: set[tuple[str, str, str]] = set()
    by_scope: Counter[str] = Counter()
    while len(seen) < n:
        (pid, ptype), (scope, role) = principal(), scope_and_role()
        if (pid, scope.lower(), role) in seen:
            continue
        seen.add((pid, scope.lower(), role))
        condition = None
        if role == "Key Vault Secrets User" and rng.random() < 0.05:
            # an ABAC condition (Key Vault data actions support them): only secrets tagged for the app
            condition = ("@Resource[Microsoft.KeyVault/vaults/secrets:tags:app<$key_case_sensitive$>] "
                         "StringEquals 'web'")
        e.role_assignment(scope, pid, role, principal_type=ptype, condition=condition,
                          condition_version="2.0" if condition else None)
        by_scope["management group" if scope == MG else "subscription" if scope.count("/") == 2
                 else "resource group" if scope.count("/") == 4 else "resource"] += 1
    summary = {"subscriptions": len(subs), "applications": len(apps), "managed_identities": len(mis),
               "groups": len(groups), "dns_zones": len(zones), "record_sets": len(records) + 2 * len(zones),
               "traffic_manager_profiles": len(profiles), "key_vaults": len(vaults), "vault_secrets": len(secrets),
               **{f"assignments at {k}": v for k, v in by_scope.items()}}
    return e, summary


class _PageSized:
    """The estate as one API sees it, with that API's page size (the stand-in has one for all; ARM and Graph
    page differently)."""

    def __init__(self, estate: Any, page_size: int) -> None:
        self._estate = estate
        self.page_size = page_size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._estate, name)


def serve(n: int, seed: int, arm_page: int, graph_page: int) -> None:
    """The child process: seed the estate, start the stand-in, say where it is (one JSON line on stdout), and
    when stdin says stop (or closes), stop it and report what it served."""
    from commonmode_sandbox.servers import start_azure

    t0 = time.perf_counter()
    estate, summary = seed_estate(n, seed=seed, arm_page=arm_page)
    seed_s = time.perf_counter() - t0
    servers = start_azure(estate, separate=True)
    try:
        pages = {"arm": arm_page, "graph": graph_page}
        swapped = set()
        for stand_in in servers.stand_ins:
            for api in stand_in.apis:
                if api.name in pages:
                    api.estate = _PageSized(estate, pages[api.name])
                    swapped.add(api.name)
        if swapped != set(pages):
            raise SystemExit(f"bench_azure: the stand-in's APIs are not where expected (found {sorted(swapped)})")
        cred = estate.client_secret_for_scanner()
        print(json.dumps({"authority": servers.authority_url, "arm": servers.arm_url, "graph": servers.graph_url,
                          "ca_file": servers.ca_file, "tenant_id": cred.tenant_id, "client_id": cred.client_id,
                          "secret": cred.secret, "seed_s": seed_s, "estate": summary}), flush=True)
        sys.stdin.readline()
        print(json.dumps({"requests": len(servers.requests), "refused": servers.refused,
                          "failures": servers.failures[:5],
                          "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
    finally:
        servers.stop()


def one(n: int, seed: int, arm_page: int, graph_page: int, profile: str | None) -> dict[str, Any]:
    """One size: start the stand-in (child process), scan it once, measure."""
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(n), "--seed", str(seed),
                              "--arm-page", str(arm_page), "--graph-page", str(graph_page)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        line = child.stdout.readline()
        if not line:
            raise SystemExit(f"bench_azure: the stand-in did not start (exit {child.wait()})")
        where = json.loads(line)
        os.environ["BENCH_AZURE_SECRET"] = where.pop("secret")
        from commonmode.connector import ConnectorSettings
        from commonmode_azure import AzureConnector

        ca = Path(where["ca_file"])
        options = {"tenant_id": where["tenant_id"], "credential": "client-secret", "client_id": where["client_id"],
                   "client_secret_env": "BENCH_AZURE_SECRET", "authority": where["authority"],
                   "arm_endpoint": where["arm"], "graph_endpoint": where["graph"], "ca_bundle": ca.name}
        connector = AzureConnector(ConnectorSettings(name="bench", connector_type="azure", options=options,
                                                     config_dir=ca.parent, timeout=60, deadline=3600))
        result, measured = scan_once(connector, "commonmode_azure.build", child, profile)
    finally:
        stop(child)
    stats = dict(result.stats)
    return {"assignments": n, "role_assignments_read": stats.get("role_assignments", 0),
            "seed_s": where["seed_s"], "estate": where["estate"],
            **measured, "gaps": list(result.gaps[:5])}


def report(rows: list[dict[str, Any]]) -> None:
    """The tables, in Markdown."""
    print(f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}; Azure "
          f"stand-in on 127.0.0.1 in its own process; pages: ARM {ARM_PAGE}, Graph {GRAPH_PAGE}\n")
    print("| role assignments | service principals + managed identities | resources | API calls | collect s "
          "| build s (of which grants) | total s | scanner CPU s | grants | services | status | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        est = r["estate"]
        print(f"| {r['assignments']:,} | {est['applications']:,} + {est['managed_identities']:,} "
              f"| {r['resources']:,} | {r['api_calls']:,} | {r['collect_s']:.2f} "
              f"| {r['build_s']:.2f} ({r['grants_s']:.2f}) | {r['total_s']:.2f} | {r['cpu_s']:.2f} | {r['grants']:,} "
              f"| {r['services']:,} | {r['status']} | {r['peak_rss_mb']:.0f} |")
    ops = sorted({op for r in rows for op in r["calls"]}, key=lambda op: (-rows[-1]["calls"].get(op, 0), op))
    print("\nAPI calls per operation\n")
    print("| operation | " + " | ".join(f"{r['assignments']:,}" for r in rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for op in ops:
        print(f"| `{op}` | " + " | ".join(f"{r['calls'].get(op, 0):,}" for r in rows) + " |")
    print("\nEstates\n")
    keys = list(rows[-1]["estate"])
    print("| | " + " | ".join(f"{r['assignments']:,}" for r in rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for k in keys:
        print(f"| {k.replace('_', ' ')} | " + " | ".join(f"{r['estate'].get(k, 0):,}" for r in rows) + " |")
    for r in rows:
        problems = [*r["gaps"], *r["standin_failures"]]
        if r["writes_refused"] or problems or r["role_assignments_read"] < r["assignments"]:
            print(f"\n{r['assignments']}: writes refused {r['writes_refused']}, role assignments read "
                  f"{r['role_assignments_read']}, gaps/failures: {problems}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assignments", type=int, nargs="+", default=[100, 500, 2000],
                    help="role assignment counts, one scan each [default: 100 500 2000]")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--profile", metavar="FILE", help="cProfile the scan of the (last) size into FILE (pstats)")
    ap.add_argument("--json", action="store_true", help="also print each size's measurements as JSON")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--arm-page", type=int, default=ARM_PAGE, help=argparse.SUPPRESS)
    ap.add_argument("--graph-page", type=int, default=GRAPH_PAGE, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.seed, args.arm_page, args.graph_page)
        return
    if args.one:
        print(json.dumps(one(args.one, args.seed, args.arm_page, args.graph_page, args.profile)))
        return
    rows = []
    for i, n in enumerate(args.assignments):
        extra = ["--seed", str(args.seed)]
        if args.profile and i == len(args.assignments) - 1:
            extra += ["--profile", args.profile]
        (r,) = each_size(__file__, [n], *extra)
        rows.append(r)
        print(f"measured {n} role assignments", file=sys.stderr)
    report(rows)
    if args.json:
        for r in rows:
            print(json.dumps(r))


if __name__ == "__main__":
    main()
