"""commonmode vs principalmapper (PMapper) on the same moto server, same run: who can change a hosted zone?

    python benchmarks/bench_pmapper.py                 # 200, 1000, 2000 roles
    python benchmarks/bench_pmapper.py --sizes 200

For each size, moto's server is seeded with N roles (trust policy naming the account; one inline policy
each: one role in 3 may change the zone's records, one in 20 may call sts:AssumeRole on any role, the rest
unrelated S3 access) and a hosted zone with a failover pair. Then, timed separately:
- commonmode: `commonmode scan` (the real CLI: collection, evaluation, correlation, store), then
  `commonmode access <zone ARN>`;
- PMapper 1.1.5: `pmapper graph create` then `pmapper query "who can do route53:ChangeResourceRecordSets
  with <zone ARN>"`, installed from PyPI into its own virtual environment (.bench-venv/pmapper, created on
  first use) and pointed at moto with AWS_ENDPOINT_URL; it needs a shim for `collections.Mapping` on
  Python 3.10+.
moto's services are warmed up first (motowarm.py), so neither tool pays moto's start-up. Both answers are
compared identity by identity. Needs the [test] extra (moto) and PyPI access once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sizes import each_size

from commonmode_sandbox import servers

HERE = Path(__file__).resolve().parent
VENV = HERE.parent / ".bench-venv" / "pmapper"
SHIM = ("import collections, collections.abc, sys\n"
        "for n in ('Mapping', 'MutableMapping', 'Iterable', 'Sequence'):\n"
        "    setattr(collections, n, getattr(collections.abc, n))\n"
        "from principalmapper.__main__ import main\nsys.argv[0] = 'pmapper'\nsys.exit(main())\n")


def pmapper_python() -> str:
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "principalmapper==1.1.5"], check=True)
    return str(py)


def seed(endpoint: str, n: int) -> str:
    import boto3

    kw = dict(endpoint_url=endpoint, region_name="us-east-1")
    iam, r53 = boto3.client("iam", **kw), boto3.client("route53", **kw)
    zid = r53.create_hosted_zone(Name="example.com.", CallerReference="bench")["HostedZone"]["Id"].rsplit("/", 1)[-1]
    zone = f"arn:aws:route53:::hostedzone/{zid}"
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "api.example.com.", "Type": "A", "SetIdentifier": s,
                                                   "Failover": f, "TTL": 60, "ResourceRecords": [{"Value": ip}]}}
        for s, f, ip in (("p", "PRIMARY", "192.0.2.1"), ("s", "SECONDARY", "192.0.2.2"))]})
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]})
    for i in range(n):
        if i % 20 == 1:
            stmt = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}
        elif i % 3 == 0:
            stmt = {"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets", "Resource": zone}
        else:
            stmt = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}
        iam.create_role(RoleName=f"role{i}", AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName=f"role{i}", PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [stmt]}))
    return zone


PMAPPER_LIMIT_S = 1800  # a PMapper step that runs longer is stopped and reported as such


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float | None, str]:
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=PMAPPER_LIMIT_S)
    except subprocess.TimeoutExpired:
        return None, ""
    return time.perf_counter() - t0, out.stdout


SKIP_PMAPPER = False


def one(n: int) -> dict:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    server = servers.start_moto(managed_policies=False)  # only the estate seeded below
    endpoint = server.url
    try:
        zone = seed(endpoint, n)
        from motowarm import warm_up

        warm_up(endpoint)  # moto's per-service start-up is not counted against either tool
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "commonmode.toml"
            cfg.write_text(f'[store]\npath = "cm.db"\n[[aws]]\nname = "bench"\nendpoint_url = "{endpoint}"\n')
            t0 = time.perf_counter()
            scan = subprocess.run(["commonmode", "scan", "-c", str(cfg), "--no-progress", "--format", "json"],
                                  capture_output=True, text=True)
            cm_scan = time.perf_counter() - t0
            t0 = time.perf_counter()
            access = subprocess.run(["commonmode", "access", zone, "-c", str(cfg), "--format", "json"],
                                    capture_output=True, text=True, check=True)
            cm_query = time.perf_counter() - t0
            import sqlite3

            stats = json.loads(sqlite3.connect(Path(tmp) / "cm.db").execute(
                "SELECT stats FROM connector_runs").fetchone()[0])
        ours = {r["identity"] for r in json.loads(access.stdout) if r["capability"] == "dns.write"}
        if SKIP_PMAPPER:
            return {"roles": n, "cm_scan_s": cm_scan, "cm_query_s": cm_query, "api_calls": stats.get("api_calls"),
                    "cm_count": len(ours)}
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, PYTHONWARNINGS="ignore")
        py = pmapper_python()
        with tempfile.TemporaryDirectory() as home:
            env["HOME"] = home  # PMapper stores its graph under ~/.local/share/principalmapper
            pm_create, _ = _timed([py, "-c", SHIM, "graph", "create", "--include-regions", "us-east-1"], env)
            pm_query, q = (None, "")
            if pm_create is not None:
                pm_query, q = _timed([py, "-c", SHIM, "--account", "123456789012", "query",
                                      f"who can do route53:ChangeResourceRecordSets with {zone}"], env)
        said = re.findall(r"^((?:role|user)/\S+) (?:IS authorized|CAN call)", q, re.M)
        theirs = {f"arn:aws:iam::123456789012:{m}" for m in said}
    finally:
        server.stop()
    return {"roles": n, "cm_scan_s": cm_scan, "cm_query_s": cm_query, "api_calls": stats.get("api_calls"),
            "pm_create_s": pm_create, "pm_query_s": pm_query, "cm_count": len(ours), "pm_count": len(theirs),
            "only_cm": sorted(ours - theirs)[:10], "only_pm": sorted(theirs - ours)[:10],
            "scan_status": json.loads(scan.stdout or "{}").get("status")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 1000, 2000])
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--skip-pmapper", action="store_true", help="measure commonmode only")
    args = ap.parse_args()
    global SKIP_PMAPPER
    SKIP_PMAPPER = args.skip_pmapper
    if args.one:
        print(json.dumps(one(args.one)))
        return
    if SKIP_PMAPPER:
        print("| roles | commonmode scan s | commonmode access s | API calls | identities |\n"
              "|---:|---:|---:|---:|---:|")
        for r in each_size(__file__, args.sizes, "--skip-pmapper"):
            print(f"| {r['roles']:,} | {r['cm_scan_s']:.1f} | {r['cm_query_s']:.1f} | {r['api_calls']} "
                  f"| {r['cm_count']} |", flush=True)
        return
    pmapper_python()
    print(f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}; "
          "moto server on 127.0.0.1; PMapper 1.1.5\n")
    print("| roles | commonmode scan s | commonmode access s | API calls | PMapper graph create s | PMapper query s | "
          "speed-up (PMapper total / commonmode total) | identities (commonmode / PMapper) | same answer |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|---|", flush=True)
    for r in each_size(__file__, args.sizes):
        cm = r["cm_scan_s"] + r["cm_query_s"]
        if r["pm_create_s"] is None or r["pm_query_s"] is None:
            limit = f"> {PMAPPER_LIMIT_S / 60:.0f} min, stopped"
            create = limit if r["pm_create_s"] is None else f"{r['pm_create_s']:.1f}"
            query = "—" if r["pm_create_s"] is None else limit
            at_least = (r["pm_create_s"] or 0) + PMAPPER_LIMIT_S  # what PMapper had used when it was stopped
            print(f"| {r['roles']:,} | {r['cm_scan_s']:.1f} | {r['cm_query_s']:.1f} | {r['api_calls']} | {create} | "
                  f"{query} | > {at_least / cm:.0f}× | {r['cm_count']} / — | — |", flush=True)
            continue
        pm = r["pm_create_s"] + r["pm_query_s"]
        same = ("yes" if not r["only_cm"] and not r["only_pm"]
                else f"no: only commonmode {r['only_cm']}, only PMapper {r['only_pm']}")
        print(f"| {r['roles']:,} | {r['cm_scan_s']:.1f} | {r['cm_query_s']:.1f} | {r['api_calls']} "
              f"| {r['pm_create_s']:.1f} | "
              f"{r['pm_query_s']:.1f} | {pm / cm:.1f}× | {r['cm_count']} / {r['pm_count']} | {same} |", flush=True)


if __name__ == "__main__":
    main()
