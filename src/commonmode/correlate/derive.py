"""Grants no provider API states but that follow from others.

- Whoever can write records in a public zone can obtain DNS-validated certificates for names in it
  (ACME DNS-01, ACM DNS validation): a derived `cert.issue` grant on the zone, the zone being an issuing path.
- Whoever can read the secret (or the store) where an identity's credential is kept can act as that
  identity: a derived `identity.assume` grant.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from commonmode.correlate.index import Index
from commonmode.model import Capability, Grant, ResourceKind

CORRELATOR = "correlator"
#: The last step of a credential-reader grant's `via`: where the credential is read, which one, whose.
_READS = "secret.read on {place}, which holds credential {credential} of {owner}"
_READS_RX = re.compile(re.escape(_READS).replace(r"\{place\}", "(?P<place>.+)").replace(
    r"\{credential\}", "(?P<credential>.+)").replace(r"\{owner\}", "(?P<owner>.+)"))


def credential_read(g: Grant) -> tuple[str, str] | None:
    """(place, credential id) of a derived credential-reader grant (whoever reads the place can act as the
    credential's owner), else None."""
    if g.connector != CORRELATOR or g.capability is not Capability.IDENTITY_ASSUME or not g.via:
        return None
    m = _READS_RX.fullmatch(g.via[-1])
    return (m.group("place"), m.group("credential")) if m and m.group("owner") == g.resource_id else None


def derived_grants(index: Index) -> list[Grant]:
    """All derived grants, each with a `via` that says how it was derived."""
    return [*_dns_validation(index), *_credential_readers(index)]


def _dns_validation(index: Index) -> Iterator[Grant]:
    for zone in index.resources.values():
        if zone.kind is not ResourceKind.DNS_ZONE or not zone.public:
            continue
        apex = zone.names[0] if zone.names else zone.name
        for g in index.grants_on.get(zone.id, ()):
            if g.capability is Capability.DNS_WRITE:
                yield Grant(
                    identity_id=g.identity_id,
                    capability=Capability.CERT_ISSUE,
                    resource_id=zone.id,
                    via=(
                        *g.via,
                        f"dns.write on public zone {apex} passes DNS validation (ACME DNS-01, ACM) "
                        f"for any name under {apex}",
                    ),
                    conditional=g.conditional,
                    connector=CORRELATOR,
                )


def _credential_readers(index: Index) -> Iterator[Grant]:
    for credentials in index.credentials_of.values():
        for cred in credentials:
            if cred.stored_in is None:
                continue
            places = [cred.stored_in]
            holder = index.resources.get(cred.stored_in)
            if holder is not None:
                places.extend(p for p in holder.parents if p in index.stores)
            for place in places:
                for g in index.grants_on.get(place, ()):
                    if g.capability is not Capability.SECRET_READ or g.identity_id == cred.identity_id:
                        continue
                    yield Grant(
                        identity_id=g.identity_id,
                        capability=Capability.IDENTITY_ASSUME,
                        resource_id=cred.identity_id,
                        via=(*g.via, _READS.format(place=place, credential=cred.id, owner=cred.identity_id)),
                        conditional=g.conditional,
                        connector=CORRELATOR,
                    )
