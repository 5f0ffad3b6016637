"""Estates built in code for the correlator, store and CLI tests.

`reference_estate()` plants each rule on purpose (and one service done right), and can be written as the
fake connector's JSON so the same estate goes through a real scan.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
C = "fake"  # connector instance name used throughout


def zone(zid: str, apex: str, account: str, public: bool = True, labels: tuple[str, ...] = ()) -> Resource:
    return Resource(id=zid, kind=ResourceKind.DNS_ZONE, provider="aws", name=apex, connector=C, names=(apex,),
                    public=public, control_plane=f"route53:account:{account}",
                    fault_domains=(f"aws:account:{account}", *labels))


def record(rid: str, name: str, zone_res: Resource) -> Resource:
    return Resource(id=rid, kind=ResourceKind.DNS_RECORD, provider="aws", name=name, connector=C, names=(name,),
                    parents=(zone_res.id,), control_plane=zone_res.control_plane, fault_domains=zone_res.fault_domains)


def user(uid: str, account: str, owner: str | None = "team-platform", provider: str = "aws") -> Identity:
    return Identity(id=uid, provider=provider, kind="iam-user", name=uid.rsplit("/", 1)[-1], connector=C, owner=owner,
                    fault_domains=(f"aws:account:{account}",))


def grant(who: str, cap: Capability, what: str, *why: str, conditional: bool = False) -> Grant:
    return Grant(identity_id=who, capability=cap, resource_id=what, via=why or (f"policy of {who}",),
                 connector=C, conditional=conditional)


def inventory(*items: Any, services: tuple[Service, ...] = ()) -> Inventory:
    by = {Identity: [], Credential: [], Store: [], Resource: [], Grant: []}  # type: ignore[var-annotated]
    for it in items:
        by[type(it)].append(it)
    return Inventory(identities=tuple(by[Identity]), credentials=tuple(by[Credential]), stores=tuple(by[Store]),
                     resources=tuple(by[Resource]), grants=tuple(by[Grant]), services=services)


def service(name: str, primary: list[str], backup: list[str], owner: str | None = "team-sre",
            source: str = "declared") -> Service:
    return Service(name=name, primary=tuple(primary), backup=tuple(backup), owner=owner, source=source)


# --- the reference estate ----------------------------------------------------------------------
Z_API = zone("arn:aws:route53:::hostedzone/ZAPI", "example.com", "111111111111", labels=("dns-provider:route53",))
R_API_P = record(f"{Z_API.id}/recordset/api.example.com./A/primary", "api.example.com", Z_API)
R_API_B = record(f"{Z_API.id}/recordset/api.example.com./A/secondary", "api.example.com", Z_API)
DNS_BOT = user("arn:aws:iam::111111111111:user/dns-bot", "111111111111", owner=None)

Z_PAY_P = zone("arn:aws:route53:::hostedzone/ZPAYP", "pay.example.com", "222222222222")
Z_PAY_B = zone("arn:aws:route53:::hostedzone/ZPAYB", "pay-dr.example.net", "333333333333")
R_PAY_P = record(f"{Z_PAY_P.id}/recordset/pay.example.com./A", "pay.example.com", Z_PAY_P)
R_PAY_B = record(f"{Z_PAY_B.id}/recordset/pay-dr.example.net./A", "pay-dr.example.net", Z_PAY_B)
U_PAY_P = user("arn:aws:iam::222222222222:user/pay-dns-primary", "222222222222")
U_PAY_B = user("arn:aws:iam::333333333333:user/pay-dns-backup", "333333333333")
VAULT_MOUNT = Store(id="vault://vault-east/secret", provider="vault", kind="vault-mount", name="secret", connector=C,
                    owner="team-security", fault_domains=("vault:cluster:east-1",))
S_PAY_P = Resource(id="vault://vault-east/secret/data/dns/primary", kind=ResourceKind.SECRET, provider="vault",
                   name="secret/dns/primary", connector=C, parents=(VAULT_MOUNT.id,),
                   fault_domains=("vault:cluster:east-1",))
S_PAY_B = dataclasses.replace(S_PAY_P, id="vault://vault-east/secret/data/dns/backup", name="secret/dns/backup")
CI_ROLE = Identity(id="vault://vault-east/auth/approle/role/ci", provider="vault", kind="vault-role", name="ci",
                   connector=C, owner="team-ci", fault_domains=("vault:cluster:east-1",))
KEY_PAY_P = Credential(id="AKIAPAYPRIMARY", identity_id=U_PAY_P.id, kind="access-key", connector=C,
                       stored_in=S_PAY_P.id, expires=NOW + timedelta(days=5))
KEY_PAY_B = Credential(id="AKIAPAYBACKUP", identity_id=U_PAY_B.id, kind="access-key", connector=C,
                       stored_in=S_PAY_B.id, expires=NOW + timedelta(days=10), created=NOW - timedelta(days=20),
                       last_used=NOW - timedelta(days=1), usage_tracked=True)
KEY_PAY_B_OLD = Credential(id="AKIAPAYBACKUPOLD", identity_id=U_PAY_B.id, kind="access-key", connector=C,
                           created=NOW - timedelta(days=400), last_used=NOW - timedelta(days=200),
                           usage_tracked=True)

Z_LOGIN_P = zone("arn:aws:route53:::hostedzone/ZLOGP", "example.net", "444444444444")
Z_LOGIN_B = zone("arn:aws:route53:::hostedzone/ZLOGB", "example.org", "555555555555")
R_LOGIN_P = record(f"{Z_LOGIN_P.id}/recordset/login.example.net./A", "login.example.net", Z_LOGIN_P)
R_LOGIN_B = record(f"{Z_LOGIN_B.id}/recordset/login.example.org./A", "login.example.org", Z_LOGIN_B)
PKI_WEB = Resource(id="vault://vault-east/pki/issue/web", kind=ResourceKind.CERT_ISSUER, provider="vault",
                   name="pki role web", connector=C, names=("*.example.net", "*.example.org"), owner="team-security",
                   fault_domains=("vault:cluster:east-1",))
U_LOGIN_P = user("arn:aws:iam::444444444444:user/login-dns", "444444444444")
U_LOGIN_B = user("arn:aws:iam::555555555555:user/login-dns-dr", "555555555555")
#: A CI workload admitted by a trust written too broadly (its connector's tag says why), acting in login's backup.
CI_ORG = Identity(id="github:repo:acme/*", provider="github", kind="ci-workload", name="every repository of acme",
                  connector=C, owner="team-ci", tags={"broad_trust": "it admits every repository matching acme/*"})

Z_SPLIT_1 = zone("arn:aws:route53:::hostedzone/ZSPLIT1", "split-a.example", "666666666666")
Z_SPLIT_2 = zone("arn:aws:route53:::hostedzone/ZSPLIT2", "split-b.example", "666666666666")
R_SPLIT_P = record(f"{Z_SPLIT_1.id}/recordset/www.split-a.example./A", "www.split-a.example", Z_SPLIT_1)
R_SPLIT_B = record(f"{Z_SPLIT_2.id}/recordset/www.split-b.example./A", "www.split-b.example", Z_SPLIT_2)
U_SPLIT_P = user("arn:aws:iam::666666666666:user/split-a", "666666666666")
U_SPLIT_B = user("arn:aws:iam::666666666666:user/split-b", "666666666666")

Z_GOOD_P = zone("arn:aws:route53:::hostedzone/ZGOODP", "good.example", "777777777777")
Z_GOOD_B = zone("arn:aws:route53:::hostedzone/ZGOODB", "good-dr.example", "888888888888")
R_GOOD_P = record(f"{Z_GOOD_P.id}/recordset/www.good.example./A", "www.good.example", Z_GOOD_P)
R_GOOD_B = record(f"{Z_GOOD_B.id}/recordset/www.good-dr.example./A", "www.good-dr.example", Z_GOOD_B)
U_GOOD_P = user("arn:aws:iam::777777777777:user/good", "777777777777")
U_GOOD_B = user("arn:aws:iam::888888888888:user/good-dr", "888888888888")

DW, SR = Capability.DNS_WRITE, Capability.SECRET_READ


def reference_items() -> list[Any]:
    return [
        Z_API, R_API_P, R_API_B, DNS_BOT, grant(DNS_BOT.id, DW, Z_API.id, "inline policy dns-bot-r53"),
        Z_PAY_P, Z_PAY_B, R_PAY_P, R_PAY_B, U_PAY_P, U_PAY_B, VAULT_MOUNT, S_PAY_P, S_PAY_B, CI_ROLE,
        KEY_PAY_P, KEY_PAY_B, KEY_PAY_B_OLD,
        grant(U_PAY_P.id, DW, Z_PAY_P.id, "managed policy pay-dns"),
        grant(U_PAY_B.id, DW, Z_PAY_B.id, "managed policy pay-dns-dr"),
        grant(CI_ROLE.id, SR, S_PAY_P.id, "vault policy ci", 'path "secret/data/dns/*" {read}'),
        grant(CI_ROLE.id, SR, S_PAY_B.id, "vault policy ci", 'path "secret/data/dns/*" {read}'),
        Z_LOGIN_P, Z_LOGIN_B, R_LOGIN_P, R_LOGIN_B, PKI_WEB, U_LOGIN_P, U_LOGIN_B,
        grant(U_LOGIN_P.id, DW, Z_LOGIN_P.id), grant(U_LOGIN_B.id, DW, Z_LOGIN_B.id),
        CI_ORG, grant(CI_ORG.id, Capability.IDENTITY_ASSUME, U_LOGIN_B.id, "trust policy of login-dns-dr: "
                      "token.actions.githubusercontent.com:sub StringLike repo:acme/*"),
        Z_SPLIT_1, Z_SPLIT_2, R_SPLIT_P, R_SPLIT_B, U_SPLIT_P, U_SPLIT_B,
        grant(U_SPLIT_P.id, DW, Z_SPLIT_1.id), grant(U_SPLIT_B.id, DW, Z_SPLIT_2.id),
        Z_GOOD_P, Z_GOOD_B, R_GOOD_P, R_GOOD_B, U_GOOD_P, U_GOOD_B,
        grant(U_GOOD_P.id, DW, Z_GOOD_P.id), grant(U_GOOD_B.id, DW, Z_GOOD_B.id),
    ]


def reference_services() -> tuple[Service, ...]:
    return (
        service("api", [R_API_P.id], [R_API_B.id], source=C),  # discovered (failover pair)
        service("payments", [R_PAY_P.id], [R_PAY_B.id]),
        service("login", [R_LOGIN_P.id], [R_LOGIN_B.id]),
        service("split", [R_SPLIT_P.id], [R_SPLIT_B.id], owner=None),
        service("good", [R_GOOD_P.id], [R_GOOD_B.id]),
    )


def reference_estate() -> Inventory:
    """Every entity of the reference estate; services are declared (except api, discovered)."""
    return inventory(*reference_items(), services=tuple(s for s in reference_services() if s.source == C))


def declared_services() -> tuple[Service, ...]:
    return tuple(s for s in reference_services() if s.source == "declared")


# --- the same estate as the fake connector's JSON ------------------------------------------------

def to_json(inv: Inventory) -> dict[str, Any]:
    def enc(obj: Any) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(obj):
            if f.name == "connector":
                continue
            v = getattr(obj, f.name)
            if isinstance(v, datetime):
                v = v.isoformat()
            elif hasattr(v, "value"):
                v = v.value
            elif isinstance(v, tuple):
                v = list(v)
            elif hasattr(v, "items"):
                v = dict(v)
            out[f.name] = v
        return out

    return {
        "identities": [enc(x) for x in inv.identities],
        "credentials": [enc(x) for x in inv.credentials],
        "stores": [enc(x) for x in inv.stores],
        "resources": [enc(x) for x in inv.resources],
        "grants": [enc(x) for x in inv.grants],
        "services": [{"name": s.name, "owner": s.owner, "primary": list(s.primary), "backup": list(s.backup)}
                     for s in inv.services],
    }


def write_config(tmp: Path, inv: Inventory, *, services: tuple[Service, ...] = (), extra: str = "",
                 connector_extra: str = "") -> Path:
    """A commonmode.toml with one fake connector reading `inv`, plus declared services."""
    (tmp / "estate.json").write_text(json.dumps(to_json(inv), indent=1))
    lines = ['[store]', 'path = "commonmode.db"', "", "[[fake]]", f'name = "{C}"', 'estate = "estate.json"',
             connector_extra, ""]
    for s in services:
        lines += ["[[service]]", f'name = "{s.name}"'] + ([f'owner = "{s.owner}"'] if s.owner else []) + [
            f"primary = {json.dumps(list(s.primary))}", f"backup = {json.dumps(list(s.backup))}", ""]
    path = tmp / "commonmode.toml"
    path.write_text("\n".join(lines) + extra)
    return path
