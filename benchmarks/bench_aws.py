"""AWS connector benchmark: seed N roles with policies into moto's server, scan, report wall time and API calls.

    python benchmarks/bench_aws.py                  # 500, 1000, 2000 roles
    python benchmarks/bench_aws.py --sizes 2000

Needs the [test] extra (moto). Each role has tags, a trust policy naming the account and one inline policy
(record writes on one of 20 zones, secret reads, or nothing DNS-related); one role in 20 may call
sts:AssumeRole on any role. 20 users with one access key each. The scan's API calls are counted by the
connector itself (its read-only guard sees every call). moto's services are warmed up first (motowarm.py), so
its one-time backend start-up is not timed; peak RSS includes moto's server, which runs in this process.
Note: moto answers GetAccountAuthorizationDetails
in one page whatever its size, so against moto the IAM part is one call; against AWS it is one call per
page of (at most) 1,000 entities.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time

from sizes import each_size

from commonmode_sandbox import servers


def one(n_roles: int) -> dict:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    import boto3

    from commonmode.connector import ConnectorSettings
    from commonmode_aws import AwsConnector

    server = servers.start_moto(managed_policies=False)  # only the estate seeded below
    endpoint = server.url
    try:
        kw = dict(endpoint_url=endpoint, region_name="us-east-1")
        iam, r53 = boto3.client("iam", **kw), boto3.client("route53", **kw)
        zones = [r53.create_hosted_zone(Name=f"z{i}.example.com.", CallerReference=f"z{i}")["HostedZone"]["Id"]
                 .rsplit("/", 1)[-1] for i in range(20)]
        for i, z in enumerate(zones):
            r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [
                {"Action": "CREATE", "ResourceRecordSet": {
                    "Name": f"svc.z{i}.example.com.", "Type": "A", "SetIdentifier": ident, "Failover": role, "TTL": 60,
                    "ResourceRecords": [{"Value": ip}]}}
                for ident, role, ip in (("p", "PRIMARY", "192.0.2.1"), ("s", "SECONDARY", "192.0.2.2"))]})
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]})
        t0 = time.perf_counter()
        for i in range(n_roles):
            iam.create_role(RoleName=f"role{i}", AssumeRolePolicyDocument=trust,
                            Tags=[{"Key": "owner", "Value": f"team-{i % 40}"}])
            if i % 20 == 0:
                stmt = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}
            elif i % 3 == 0:
                stmt = {"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets",
                        "Resource": f"arn:aws:route53:::hostedzone/{zones[i % 20]}"}
            else:
                stmt = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}
            iam.put_role_policy(RoleName=f"role{i}", PolicyName="p", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [stmt]}))
        for i in range(20):
            iam.create_user(UserName=f"user{i}")
            iam.create_access_key(UserName=f"user{i}")
        seed_s = time.perf_counter() - t0
        from motowarm import warm_up

        warm_up(endpoint)
        # the collection's own cost: Route 53 unpaced (at most 50 a second; a real account's default is 5,
        # which puts a floor of requests / 5 seconds under a scan: bench_aws.py measures what is above it)
        connector = AwsConnector(ConnectorSettings(name="bench", connector_type="aws",
                                                   options={"endpoint_url": endpoint,
                                                            "route53_requests_per_second": 50}))
        t1 = time.perf_counter()
        result = connector.collect(lambda *a: None)
        scan_s = time.perf_counter() - t1
    finally:
        server.stop()
    return {"roles": n_roles, "seed_s": seed_s, "scan_s": scan_s, "api_calls": result.stats["api_calls"],
            "grants": len(result.inventory.grants), "services": len(result.inventory.services),
            "status": result.status.value,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    rows = []
    for r in each_size(__file__, args.sizes):
        rows.append(r)
        print(f"measured {r['roles']} roles", file=sys.stderr)
    print(f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}; "
          f"moto server on 127.0.0.1\n")
    print("| roles | API calls | scan wall s | grants | services | status | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        print(f"| {r['roles']:,} | {r['api_calls']} | {r['scan_s']:.2f} | {r['grants']:,} | {r['services']} | "
              f"{r['status']} | {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
