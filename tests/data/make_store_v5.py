"""Writes tests/data/store-v5.db: seven runs of a changing reference estate, by the release that wrote
schema 5 (commit 267584b). Kept to show how the file was made; never run it with a newer release, since the
file stands for what users of that release have on disk.

    git worktree add /tmp/v5 267584b && cd /tmp/v5 && python tests/data/make_store_v5.py OUT.db
"""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.estate import NOW, declared_services, reference_estate

from commonmode.connector import ConnectorResult
from commonmode.correlate import correlate
from commonmode.model import Inventory, RunStatus
from commonmode.store import RunStore


def without(inv: Inventory, ident: str) -> Inventory:
    """The estate with one identity and everything that hangs on it gone."""
    return dataclasses.replace(
        inv, identities=tuple(i for i in inv.identities if i.id != ident),
        credentials=tuple(c for c in inv.credentials if c.identity_id != ident),
        grants=tuple(g for g in inv.grants if ident not in (g.identity_id, g.resource_id)))


def main(out: Path) -> None:
    base = reference_estate()
    first = base.identities[0]
    renamed = dataclasses.replace(base, identities=(dataclasses.replace(first, owner="team-new"),
                                                    *base.identities[1:]))
    halved = dataclasses.replace(renamed, grants=renamed.grants[::2])
    gone = without(halved, base.identities[1].id)
    estates = [  # (inventory, status); None: the run failed before correlation
        (base, RunStatus.OK),
        (halved, RunStatus.OK),        # an owner changed, half the grants gone
        (gone, RunStatus.OK),          # an identity vanished with its credentials and grants
        (halved, RunStatus.OK),        # ... and came back
        (gone, RunStatus.PARTIAL),     # the connector was partial: it missed that identity
        (None, RunStatus.FAILED),      # the connector failed
        (base, RunStatus.OK),          # the estate as at first
    ]
    store = RunStore.open(out, create=True)
    for n, (inv, status) in enumerate(estates):
        corr = None if inv is None else correlate(inv, declared_services=declared_services(), now=NOW)
        started = datetime(2026, 11, 1, 2, 0, tzinfo=UTC) + timedelta(days=n)
        result = ConnectorResult(connector="fake", provider="fake", connector_type="fake", status=status,
                                 gaps=() if status is RunStatus.OK else ("fake: listing timed out",))
        store.record_run(started=started, finished=started + timedelta(minutes=1), config="c.toml",
                         results=[result], correlation=corr, status=status)
    store.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
