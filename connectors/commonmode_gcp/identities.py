"""Service accounts and their user-managed keys (metadata only), with their owners and fault domains.

Service accounts have no labels ("service accounts have no labels", DOMAIN.md §4.1): the owner is read from the
description, by the convention `KEY: value` or `KEY=value` where KEY is one of `owner_labels` (first match
wins). A key's `validBeforeTime` of 9999-12-31 means it never expires ("Create and delete service account keys":
keys without an expiry show the maximum time)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from commonmode.connector import InventoryParts
from commonmode.kit import ids
from commonmode.kit.values import owner_in_description, parse_timestamp
from commonmode.model import Credential, Identity
from commonmode_gcp.snapshot import ProjectData, Snapshot

#: Keys whose validBeforeTime is at or beyond this year never expire.
_NEVER_EXPIRES_YEAR = 9999


def fault_domains(snap: Snapshot, container: str) -> tuple[str, ...]:
    """`gcp:project:P`, every folder above it and the organization (nearest first)."""
    out: list[str] = []
    name: str | None = container
    seen: set[str] = set()
    while name and name not in seen:
        seen.add(name)
        kind, _, value = name.partition("/")
        out.append(f"gcp:{ {'projects': 'project', 'folders': 'folder', 'organizations': 'organization'}[kind]}:"
                   f"{value}")
        name = snap.parents.get(name)
    return tuple(out)


@dataclass
class Accounts:
    """What the grants need: every service account the run read, by email (lower-case) → its identity id."""

    by_email: dict[str, str] = field(default_factory=dict)


def build_identities(snap: Snapshot, out: InventoryParts, connector: str, owner_labels: Sequence[str]) -> Accounts:
    """Service accounts and their keys."""
    known = Accounts()
    for p in snap.projects:
        _project(snap, p, out, connector, owner_labels, known)
    return known


def _project(snap: Snapshot, p: ProjectData, out: InventoryParts, connector: str, owner_labels: Sequence[str],
             known: Accounts) -> None:
    fds = fault_domains(snap, f"projects/{p.id}")
    for sa in p.service_accounts:
        email = str(sa.get("email") or "")
        sid = ids.gcp_service_account(email, p.id)
        known.by_email[email.lower()] = sid
        tags = {k: str(sa[k]) for k in ("uniqueId", "displayName") if sa.get(k)}
        tags["project"] = p.id
        if sa.get("disabled"):
            tags["disabled"] = "true"
        out.identities.append(Identity(id=sid, provider="gcp", kind="service-account", name=email,
                                       connector=connector,
                                       owner=owner_in_description(str(sa.get("description") or ""), owner_labels),
                                       tags=tags, fault_domains=fds))
        for key in p.keys.get(email) or []:
            if key.get("disabled") or key.get("keyType", "USER_MANAGED") != "USER_MANAGED":
                continue  # a disabled key signs nothing; Google-managed keys are rotated by Google
            expires = parse_timestamp(key.get("validBeforeTime"))
            if expires is not None and expires.year >= _NEVER_EXPIRES_YEAR:
                expires = None
            out.credentials.append(Credential(id=f"{sid}/keys/{str(key['name']).rsplit('/', 1)[-1]}",
                                              identity_id=sid, kind="service-account-key", connector=connector,
                                              created=parse_timestamp(key.get("validAfterTime")), expires=expires,
                                              fault_domains=fds, long_lived=True))
