"""Synthetic estates for the core benchmarks: deterministic, shaped like a real multi-account estate.

Per 100 identities: one service (primary and backup record, usually in different accounts' zones),
10 grants per identity on zones, records, secrets and issuers, 90% of them inside the identity's own
account; 20% of identities are roles that users in the same account can assume; one user in eight keeps
its access key in one of its account's credential-holder secrets, which the account's two automation
roles read (so those roles can act as the users).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from commonmode.model import (
    Capability,
    Credential,
    Grant,
    Identity,
    Inventory,
    Resource,
    ResourceKind,
    Service,
    Store,
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
    now = datetime(2026, 11, 24, tzinfo=UTC)
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
    # Each account has its own application secrets, credential-holder secrets and pool of automation roles.
    # Identities work mostly inside their own account (90% of grants), as in real estates; without that
    # locality a random graph of assume edges percolates into one component holding every identity.
    secrets_of: dict[str, list[Resource]] = {a: [] for a in accounts}
    holders_of: dict[str, list[Resource]] = {a: [] for a in accounts}
    per_account = max(1, n_identities // n_accounts)
    for a_i, a in enumerate(accounts):
        for k in range(per_account // 2):
            st = stores[(a_i + k) % len(stores)]
            res = Resource(id=f"{st.id}/data/{a}/app{k}", kind=ResourceKind.SECRET, provider="vault",
                           name=f"{a}/app{k}", connector=C, parents=(st.id,), fault_domains=st.fault_domains)
            secrets.append(res)
            (holders_of[a] if k < max(1, per_account // 40) else secrets_of[a]).append(res)
    for k in range(max(1, n_accounts)):
        issuers.append(Resource(id=f"vault://v{k % 3}/pki/issue/role{k}", kind=ResourceKind.CERT_ISSUER,
                                provider="vault", name=f"role{k}", connector=C,
                                names=(f"*.z{k % 5}.acct{accounts[k % n_accounts]}.example",),
                                fault_domains=(f"vault:cluster:v{k % 3}",)))
    zones_of = {a: [z for z in zones if z.control_plane == f"route53:account:{a}"] for a in accounts}
    records_of: dict[str, list[Resource]] = {a: [] for a in accounts}
    for r in records:
        records_of[r.control_plane.rsplit(":", 1)[1]].append(r)
    targets_of = {a: zones_of[a] + records_of[a] + secrets_of[a] + issuers[i % len(issuers):][:1]
                  for i, a in enumerate(accounts)}
    identities, grants, credentials = [], [], []
    roles_of: dict[str, list[str]] = {a: [] for a in accounts}
    vias = [(f"policy p{i}", f"statement {j}") for i in range(200) for j in range(3)]
    for i in range(n_identities):
        a = accounts[i % n_accounts]
        is_role = i % 5 == 0
        iid = f"arn:aws:iam::{a}:{'role' if is_role else 'user'}/nhi{i}"
        identities.append(Identity(id=iid, provider="aws", kind="iam-role" if is_role else "iam-user",
                                   name=f"nhi{i}", connector=C, owner=None if i % 7 == 0 else f"team-{i % 50}",
                                   fault_domains=(f"aws:account:{a}",)))
        roles = roles_of[a]
        n_assume = 1 if (roles and not is_role and i % 3 == 0) else 0
        for _ in range(n_assume):
            grants.append(Grant(identity_id=iid, capability=Capability.IDENTITY_ASSUME, resource_id=rng.choice(roles),
                                via=("trust policy names this principal",), connector=C))
        for _ in range(grants_per_identity - n_assume):
            home = a if rng.random() < 0.9 else rng.choice(accounts)
            target = rng.choice(targets_of[home])
            grants.append(Grant(identity_id=iid, capability=rng.choice(CAPS[target.kind]), resource_id=target.id,
                                via=rng.choice(vias), connector=C, conditional=rng.random() < 0.05))
        if is_role:
            roles.append(iid)
        elif i % 4 == 1:
            credentials.append(Credential(
                id=f"AKIA{i:016d}", identity_id=iid, kind="access-key", connector=C,
                created=now - timedelta(days=rng.randint(1, 900)), last_used=now - timedelta(days=rng.randint(0, 200)),
                expires=None, usage_tracked=True, stored_in=rng.choice(holders_of[a]).id if i % 8 == 1 else None))
    # Secrets that hold NHI credentials are read only by the account's two automation roles.
    for a in accounts:
        automation = roles_of[a][:2]
        for h in holders_of[a]:
            for reader in automation:
                grants.append(Grant(identity_id=reader, capability=Capability.SECRET_READ, resource_id=h.id,
                                    via=("vault policy automation", f'path "{h.name}" {{read}}'), connector=C))
    inv = Inventory(identities=tuple(identities), credentials=tuple(credentials), stores=tuple(stores),
                    resources=tuple(zones + records + secrets + issuers), grants=tuple(grants))
    return inv, tuple(services)
