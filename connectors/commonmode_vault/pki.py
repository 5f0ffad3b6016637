"""PKI: issuers (CAs) and roles (issuing paths), and every route that issues from them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from commonmode.model import Resource, ResourceKind
from commonmode_vault.estate import Estate, Target
from commonmode_vault.snapshot import ClusterData


def add_pki(estate: Estate, data: ClusterData) -> list[Target]:
    """PKI mounts: each issuer (a CA) and each role (an issuing path, parented at the issuer it issues from),
    and the routes that issue from them, all updates (PKI API docs; checked on OpenBao):
    - `issue/<role>`, `sign/<role>`, `sign-verbatim/<role>` issue from the role's `issuer_ref` ("default" is
      the mount's configured default, `<mount>/config/issuers`, not the first issuer listed);
    - `issuer/<ref>/issue|sign/<role>` and `issuer/<ref>/sign-verbatim[/<role>]` from the issuer in the path
      (by id, name or `default`), whatever the role says: for an issuer other than the role's, that is a
      resource of its own, `<mount>issuer/<id>/issue/<role>`, with the role's names and that issuer as parent;
    - `sign-verbatim` signs a CSR as it is (any name), from the issuer the request names.
    Route resources go to `lazy`: reported only when someone can use them."""
    out, c, base, cluster, lazy = estate.out, estate.opts.connector, estate.base, estate.cluster, estate.lazy
    targets: list[Target] = []
    refs: dict[str, dict[str, str]] = defaultdict(dict)  # mount → issuer ref (id, name, "default") → id
    labels: dict[tuple[str, str], str] = {}
    for mount, iid, issuer in data.pki_issuers:
        name = str(issuer.get("issuer_name") or "")
        refs[mount][iid] = iid
        if name:
            refs[mount].setdefault(name, iid)
        labels[(mount, iid)] = name or iid
        out.resources.append(Resource(id=f"{base}/{mount}issuer/{iid}", kind=ResourceKind.CERT_ISSUER, provider="vault",
                                      name=name or iid, connector=c, expires=not_after(issuer.get("certificate")),
                                      fault_domains=tuple(cluster)))
    for mount, default in data.pki_defaults.items():
        if default in refs[mount].values():
            refs[mount]["default"] = default
    def route(mount: str, pattern: str, rid: str, explain: str = "", **values: str) -> None:
        # what a capability on the route means comes from capabilities.toml, by the route's pattern
        targets.append(Target(mount + pattern.format(**values), rid, "pki", mount, estate.table.ways("pki", pattern),
                              explain=explain))

    def signer(mount: str, iid: str) -> str:
        rid = f"{base}/{mount}issuer/{iid}/sign-verbatim"
        lazy.setdefault(rid, Resource(
            id=rid, kind=ResourceKind.CERT_ISSUER, provider="vault",
            name=f"{mount}issuer/{labels[(mount, iid)]}/sign-verbatim", connector=c,
            parents=(f"{base}/{mount}issuer/{iid}",), names=("*",), fault_domains=tuple(cluster)))
        return rid

    verbatim = "sign-verbatim signs the CSR as it is: any name"
    for mount, name, role in data.pki_roles:
        rid = f"{base}/{mount}issue/{name}"
        names = pki_names(role)
        own = refs[mount].get(str(role.get("issuer_ref") or "default"))
        out.resources.append(Resource(id=rid, kind=ResourceKind.CERT_ISSUER, provider="vault",
                                      name=f"{mount}roles/{name}", connector=c,
                                      parents=(f"{base}/{mount}issuer/{own}",) if own else (), names=names,
                                      fault_domains=tuple(cluster)))
        route(mount, "issue/{role}", rid, role=name)
        route(mount, "sign/{role}", rid, role=name)
        if own:
            route(mount, "sign-verbatim/{role}", signer(mount, own), verbatim, role=name)
        for ref, iid in sorted(refs[mount].items()):
            at = rid if iid == own else f"{base}/{mount}issuer/{iid}/issue/{name}"
            if at != rid:
                lazy.setdefault(at, Resource(
                    id=at, kind=ResourceKind.CERT_ISSUER, provider="vault", connector=c, names=names,
                    name=f"{mount}roles/{name} from issuer {labels[(mount, iid)]}",
                    parents=(f"{base}/{mount}issuer/{iid}",), fault_domains=tuple(cluster)))
            why = f"the issuer in the path ({labels[(mount, iid)]}) signs, whatever the role's issuer_ref"
            route(mount, "issuer/{ref}/issue/{role}", at, why, ref=ref, role=name)
            route(mount, "issuer/{ref}/sign/{role}", at, why, ref=ref, role=name)
            route(mount, "issuer/{ref}/sign-verbatim/{role}", signer(mount, iid), verbatim, ref=ref, role=name)
    for mount, by_ref in refs.items():
        for ref, iid in sorted(by_ref.items()):
            route(mount, "issuer/{ref}/sign-verbatim", signer(mount, iid), verbatim, ref=ref)
        for iid in sorted(set(by_ref.values())):  # the request's issuer_ref picks any issuer of the mount
            route(mount, "sign-verbatim", signer(mount, iid), f"{verbatim}, from the issuer the request names")
    return targets


def pki_names(role: Mapping[str, Any]) -> tuple[str, ...]:
    if role.get("allow_any_name"):
        return ("*",)
    names: list[str] = []
    for d in role.get("allowed_domains") or []:
        d = str(d).lower()
        if role.get("allow_bare_domains") or (role.get("allow_glob_domains") and "*" in d):
            names.append(d)
        if role.get("allow_subdomains"):
            names.append(f"*.{d}")
        if role.get("allow_glob_domains") and "*" in d and d not in names:
            names.append(d)
    return tuple(dict.fromkeys(names))


def not_after(pem: Any) -> datetime | None:
    if not pem:
        return None
    try:
        from cryptography import x509

        return x509.load_pem_x509_certificate(str(pem).encode()).not_valid_after_utc
    except Exception:  # noqa: BLE001 — an unreadable certificate only loses its expiry
        return None
