"""Synthetic estates for the core benchmarks: deterministic, shaped like a real multi-account estate.

Per 100 identities: one service (primary and backup record, usually in different accounts' zones),
10 grants per identity on zones, records, secrets and issuers; 20% of identities are roles that users
and CI principals can assume (depth ≤ 2, as in real estates: user → role → role); credentials of DNS
automation users are kept in a few secret paths under Vault-like mounts, read by a small pool of
automation roles.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from commonmode.model import (
    Capability, Credential, Grant, Identity, Inventory, Resource, ResourceKind, Service, Store,
)

C = "synthetic"
#: capabilities that make sense on each kind of resource (a grant generator that ignores this builds nonsense)
CAPS = {
    ResourceKind.DNS_ZONE: [Capability.DNS_WRITE, Capability.DNS_WRITE, Capability.DNS_ADMIN],
    ResourceKind.DNS_RECORD: [Capability.DNS_WRITE, Capability.FAILOVER_WRITE],
    ResourceKind.SECRET: [Capability.SECRET_READ, Capability.SECRET_READ, Capability.SECRET_WRITE],
    ResourceKind.CERT_ISSUER: [Capability.CERT_ISSUE],
}


def build(n_identities: int, grants_per_identity: int = 10, seed: int = 1) -> tuple[Inventory, tuple[Service, ...]]:
    """An estate of `n_identities` identities, about `grants_per_identity` grants each, one service per 100."""
    rng = random.Random(seed)
    now = datetime(2026, 11, 24, tzinfo=timezone.utc)
    n_services = max(1, n_identities // 100)
    n_accounts = max(2, n_identities // 1000)
    accounts = [f"{100000000000 + i}" for i in range(n_accounts)]
    zones, records, secrets, issuers, stores = [], [], [], [], []
    for a in accounts:
        for z in range(5):
            apex = f"z{z}.acct{a}.example"
            zones.append(Resource(id=f"arn:aws:route53:::hostedzone/Z{a}{z}", kind=ResourceKind.DNS_ZONE,
                                  provider="aws", name=apex, connector=C, names=(apex,), public=z % 2 == 0,
                                  control_plane=f"route53:account:{a}", fault_domains=(f"aws:account:{a}",)))
    for m in range(max(2, n_accounts // 10)):
        stores.append(Store(id=f"vault://v{m % 3}/kv{m}", provider="vault", kind="vault-mount", name=f"kv{m}",
                            connector=C, owner=None if m % 4 == 0 else "team-sec",
                            fault_domains=(f"vault:cluster:v{m % 3}",)))
    services = []
    for s in range(n_services):
        zp, zb = rng.choice(zones), rng.choice(zones)
        rp = Resource(id=f"{zp.id}/recordset/svc{s}.{zp.name}./A/primary", kind=ResourceKind.DNS_RECORD,
                      provider="aws", name=f"svc{s}", connector=C, names=(f"svc{s}.{zp.name}",), parents=(zp.id,),
                      control_plane=zp.control_plane, fault_domains=zp.fault_domains)
        rb = Resource(id=f"{zb.id}/recordset/svc{s}.{zb.name}./A/secondary", kind=ResourceKind.DNS_RECORD,
                      provider="aws", name=f"svc{s}-dr", connector=C, names=(f"svc{s}.{zb.name}",),
                      parents=(zb.id,), control_plane=zb.control_plane, fault_domains=zb.fault_domains)
        records += [rp, rb]
        services.append(Service(name=f"svc{s}", primary=(rp.id,), backup=(rb.id,), source="declared",
                                owner=None if s % 10 == 0 else f"team-{s % 50}"))
    for k in range(n_identities // 2):
        st = rng.choice(stores)
        secrets.append(Resource(id=f"{st.id}/data/app{k}", kind=ResourceKind.SECRET, provider="vault",
                                name=f"app{k}", connector=C, parents=(st.id,), fault_domains=st.fault_domains))
    for k in range(max(1, n_accounts)):
        issuers.append(Resource(id=f"vault://v{k % 3}/pki/issue/role{k}", kind=ResourceKind.CERT_ISSUER,
                                provider="vault", name=f"role{k}", connector=C,
                                names=(f"*.z{k % 5}.acct{accounts[k % n_accounts]}.example",),
                                fault_domains=(f"vault:cluster:v{k % 3}",)))
    # Secrets that hold NHI credentials are few and read by a few automation roles, as in real estates;
    # the other secrets are application secrets that any identity may be granted.
    holders = secrets[: max(1, n_identities // 40)]
    targets = zones + records + secrets[len(holders):] + issuers
    identities, grants, credentials = [], [], []
    roles: list[str] = []
    vias = [(f"policy p{i}", f"statement {j}") for i in range(200) for j in range(3)]
    for i in range(n_identities):
        a = accounts[i % n_accounts]
        is_role = i % 5 == 0
        iid = f"arn:aws:iam::{a}:{'role' if is_role else 'user'}/nhi{i}"
        identities.append(Identity(id=iid, provider="aws", kind="iam-role" if is_role else "iam-user",
                                   name=f"nhi{i}", connector=C, owner=None if i % 7 == 0 else f"team-{i % 50}",
                                   fault_domains=(f"aws:account:{a}",)))
        n_assume = 1 if (roles and not is_role and i % 3 == 0) else 0
        for _ in range(n_assume):
            grants.append(Grant(identity_id=iid, capability=Capability.IDENTITY_ASSUME, resource_id=rng.choice(roles),
                                via=("trust policy names this principal",), connector=C))
        for _ in range(grants_per_identity - n_assume):
            target = rng.choice(targets)
            grants.append(Grant(identity_id=iid, capability=rng.choice(CAPS[target.kind]), resource_id=target.id,
                                via=rng.choice(vias), connector=C, conditional=rng.random() < 0.05))
        if is_role:
            roles.append(iid)
        elif i % 4 == 1:
            credentials.append(Credential(
                id=f"AKIA{i:016d}", identity_id=iid, kind="access-key", connector=C,
                created=now - timedelta(days=rng.randint(1, 900)), last_used=now - timedelta(days=rng.randint(0, 200)),
                expires=None, usage_tracked=True, stored_in=rng.choice(holders).id if i % 8 == 1 else None))
    automation = roles[: max(2, len(roles) // 100)]
    for h in holders:
        for reader in rng.sample(automation, 2):
            grants.append(Grant(identity_id=reader, capability=Capability.SECRET_READ, resource_id=h.id,
                                via=("vault policy automation", f'path "{h.name}" {{read}}'), connector=C))
    inv = Inventory(identities=tuple(identities), credentials=tuple(credentials), stores=tuple(stores),
                    resources=tuple(zones + records + secrets + issuers), grants=tuple(grants))
    return inv, tuple(services)
