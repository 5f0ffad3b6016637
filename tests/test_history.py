"""The interval store (schema 6): rows stored once with the runs they held in, carried rows, the migration
of a schema-5 store, diff and inventory on intervals, prune, and Datasette."""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
import shutil
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.estate import NOW, declared_services, reference_estate

from commonmode.connector import ConnectorResult
from commonmode.correlate import correlate
from commonmode.model import Capability, Grant, Inventory, RunStatus
from commonmode.store import RunStore, queries
from commonmode.store.history import content_hash, prune
from commonmode.store.schema import SCHEMA_VERSION
from commonmode.store.tables import HISTORY

DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(DATA))
from store_answers import answers  # noqa: E402 — tests/data's script, shared with the file's making


def record(store: RunStore, inv: Inventory | None, status: RunStatus = RunStatus.OK, day: int = 0):  # type: ignore[no-untyped-def]
    corr = None if inv is None else correlate(inv, declared_services=declared_services(), now=NOW)
    started = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=day)
    result = ConnectorResult(connector="fake", provider="fake", connector_type="fake", status=status,
                             gaps=() if status is RunStatus.OK else ("fake: listing timed out",))
    return store.record_run(started=started, finished=started, config="c.toml", results=[result],
                            correlation=corr, status=status)


def history(store: RunStore, table: str, where: str = "1", params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    return store.rows(f"SELECT * FROM {table}_history WHERE {where} ORDER BY history_id", params)  # noqa: S608 — test constants


def view(store: RunStore, table: str, run: int) -> list[dict[str, Any]]:
    return [dict(r) for r in store.rows(f"SELECT * FROM {table} WHERE run_id = ?", [run])]  # noqa: S608 — constant


def without(inv: Inventory, ident: str) -> Inventory:
    return dataclasses.replace(
        inv, identities=tuple(i for i in inv.identities if i.id != ident),
        credentials=tuple(c for c in inv.credentials if c.identity_id != ident),
        grants=tuple(g for g in inv.grants if ident not in (g.identity_id, g.resource_id)))


def renamed(inv: Inventory, ident: str, owner: str) -> Inventory:
    return dataclasses.replace(inv, identities=tuple(
        dataclasses.replace(i, owner=owner) if i.id == ident else i for i in inv.identities))


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    s = RunStore.open(tmp_path / "cm.db", create=True)
    yield s
    s.close()


BASE = reference_estate()
WHO = BASE.identities[2].id  # pay-dns-backup: an identity with credentials and grants
OTHER = BASE.identities[3].id
WHO_OWNER, OTHER_OWNER = BASE.identities[2].owner, BASE.identities[3].owner


# --- intervals ---------------------------------------------------------------------------------------------


def test_an_unchanged_run_inserts_nothing(store: RunStore) -> None:
    record(store, BASE)
    before = {t: len(history(store, t)) for t in HISTORY}
    assert all(before[t] for t in ("identities", "grants", "credentials", "resources", "services", "recovery",
                                   "failover", "findings")), before
    run2 = record(store, BASE, day=1)
    assert {t: len(history(store, t)) for t in HISTORY} == before
    assert set(run2.summary["history"]) == set(HISTORY) - {"findings"}
    assert all(v == {"added": 0, "closed": 0} for v in run2.summary["history"].values()), run2.summary["history"]
    # ... and both runs read the same, findings' lifecycle aside (new in run 1, open in run 2)
    for t in HISTORY:
        if t != "findings":
            one, two = view(store, t, 1), view(store, t, 2)
            assert [{**r, "run_id": 0} for r in one] == [{**r, "run_id": 0} for r in two] and one, t
    assert {r["status"] for r in view(store, "findings", 1)} == {"new"}
    assert {r["status"] for r in view(store, "findings", 2)} == {"open"}


def test_a_changed_row_closes_its_interval_and_opens_another(store: RunStore) -> None:
    record(store, BASE)
    record(store, BASE, day=1)
    record(store, renamed(BASE, WHO, "team-new"), day=2)
    rows = history(store, "identities", "id = ?", (WHO,))
    assert [(r["first_run"], r["last_run"], r["owner"]) for r in rows] == [(1, 2, WHO_OWNER),
                                                                          (3, None, "team-new")]
    assert [r["owner"] for r in view(store, "identities", 2) if r["id"] == WHO] == [WHO_OWNER]
    assert [r["owner"] for r in view(store, "identities", 3) if r["id"] == WHO] == ["team-new"]
    assert [r["owner"] for r in store.rows("SELECT owner FROM identities_current WHERE id = ?", [WHO])] == ["team-new"]
    # nothing else changed: only that identity's row was added
    assert len(history(store, "identities")) == len(BASE.identities) + 1


def test_a_vanished_row_closes_and_one_that_comes_back_opens_a_new_interval(store: RunStore) -> None:
    record(store, BASE)
    record(store, without(BASE, WHO), day=1)
    assert WHO not in {r["id"] for r in view(store, "identities", 2)}
    assert not [g for g in view(store, "grants", 2) if g["identity_id"] == WHO]
    record(store, BASE, day=2)
    assert [(r["first_run"], r["last_run"]) for r in history(store, "identities", "id = ?", (WHO,))] == [
        (1, 1), (3, None)]
    grants = history(store, "grants", "identity_id = ?", (WHO,))
    assert grants and {(r["first_run"], r["last_run"]) for r in grants} == {(1, 1), (3, None)}
    assert WHO in {r["id"] for r in view(store, "identities", 3)}


def test_a_partial_connector_s_unseen_rows_are_carried_and_counted(store: RunStore) -> None:
    record(store, BASE)
    # partial: it missed WHO, and saw OTHER changed
    partial = renamed(without(BASE, WHO), OTHER, "team-moved")
    run2 = record(store, partial, RunStatus.PARTIAL, day=1)
    ident = {(r["id"], r["owner"]) for r in view(store, "identities", 2)}
    assert (WHO, WHO_OWNER) in ident  # carried: still there, still open
    assert history(store, "identities", "id = ?", (WHO,))[0]["last_run"] is None
    # OTHER: the connector saw it change, so its old row ends even though the connector was partial
    assert [(r["first_run"], r["last_run"], r["owner"]) for r in history(store, "identities", "id = ?", (OTHER,))] \
        == [(1, 1, OTHER_OWNER), (2, None, "team-moved")]
    carried = json.loads(store.rows("SELECT carried FROM connector_runs WHERE run_id = 2")[0]["carried"])
    lost = without(BASE, WHO)
    assert carried["identities"] == 1
    assert carried["grants"] == len(BASE.grants) - len(lost.grants) > 0
    assert carried["credentials"] == len(BASE.credentials) - len(lost.credentials) > 0
    assert run2.summary["carried"] == {"fake": carried}
    # every service was seen (declared, or discovered again): the services, their recovery options and
    # failover graphs are what this run's correlation computed
    assert not set(carried) & {"services", "recovery", "failover"}
    # the next complete run that does not see WHO closes it at the run before
    record(store, partial, day=2)
    assert [(r["first_run"], r["last_run"]) for r in history(store, "identities", "id = ?", (WHO,))] == [(1, 2)]
    assert json.loads(store.rows("SELECT carried FROM connector_runs WHERE run_id = 3")[0]["carried"]) == {}


def test_a_run_that_failed_before_correlation_carries_everything(store: RunStore) -> None:
    record(store, BASE)
    before = {t: len(history(store, t)) for t in HISTORY if t != "findings"}
    run2 = record(store, None, RunStatus.FAILED, day=1)
    assert {t: len(history(store, t)) for t in before} == before
    assert view(store, "identities", 2) == [{**r, "run_id": 2} for r in view(store, "identities", 1)]
    counts = run2.summary["carried"]
    assert counts["fake"]["identities"] == len(BASE.identities)
    grants = correlate(BASE, declared_services=declared_services(), now=NOW).inventory.grants
    assert counts["fake"]["grants"] == sum(g.connector == "fake" for g in grants) > 0
    assert counts["(derived)"]["grants"] == sum(g.connector == "correlator" for g in grants) > 0  # derived
    assert counts["(derived)"]["services"] == before["services"]
    assert {r["status"] for r in view(store, "findings", 2)} == {"open"}  # carried by the lifecycle


def test_identical_grants_are_kept_as_copies(store: RunStore) -> None:
    g = Grant(identity_id=WHO, capability=Capability.DNS_WRITE, resource_id="arn:aws:route53:::hostedzone/ZAPI",
              via=("a copy",), connector="fake")
    twice = dataclasses.replace(BASE, grants=(*BASE.grants, g, g))
    record(store, twice)
    record(store, twice, day=1)
    assert len([r for r in view(store, "grants", 2) if r["via"] == '["a copy"]']) == 2
    record(store, dataclasses.replace(BASE, grants=(*BASE.grants, g)), day=2)
    assert len([r for r in view(store, "grants", 3) if r["via"] == '["a copy"]']) == 1


def test_the_content_hash_tells_types_and_none_apart() -> None:
    rows = [("a", 1, None), ("a", "1", None), ("a", 1, "None"), ("a", True, None), ("a", 1.0, None), ("a", 1)]
    assert len({content_hash(r) for r in rows}) == len(rows)
    assert content_hash(("x", "".join(["sy", "nthetic"]))) == content_hash(("x", "synthetic"))  # not interning


# --- diff and inventory --run on intervals -----------------------------------------------------------------


def _random_estate(rng: random.Random, inv: Inventory) -> Inventory:
    """The reference estate with a random part of its grants dropped, edited or added."""
    grants = []
    for g in inv.grants:
        roll = rng.random()
        if roll < 0.2:
            continue
        if roll < 0.35:
            g = dataclasses.replace(g, via=(*g.via, f"edit {rng.randrange(3)}"))
        grants.append(g)
    ids = [i.id for i in inv.identities]
    targets = sorted({g.resource_id for g in inv.grants})
    for _ in range(rng.randrange(4)):
        grants.append(Grant(identity_id=rng.choice(ids), capability=rng.choice([Capability.DNS_WRITE,
                            Capability.FAILOVER_WRITE, Capability.SECRET_READ]), resource_id=rng.choice(targets),
                            via=(f"random {rng.randrange(5)}",), connector="fake"))
    return dataclasses.replace(inv, grants=tuple(grants))


def test_diff_over_intervals_equals_comparing_the_runs_copies(store: RunStore) -> None:
    rng = random.Random(19)
    statuses = [RunStatus.OK, RunStatus.OK, RunStatus.PARTIAL, RunStatus.OK, RunStatus.OK, RunStatus.OK]
    for day, status in enumerate(statuses):
        record(store, _random_estate(rng, BASE), status, day=day)
    runs = store.runs()
    compared = 0
    for a in runs:
        for b in runs:
            d = queries.diff(store, a, b)
            skip = [c["connector"] for c in d["not_compared"]]
            by_copies = (queries._power_by_copies(store, b, a, skip), queries._power_by_copies(store, a, b, skip))
            assert (d["gained_power"], d["lost_power"]) == by_copies, (a.id, b.id)
            compared += bool(d["gained_power"] or d["lost_power"])
    assert compared > 10  # the estates did differ in power


def test_inventory_and_diff_of_older_runs_read_their_intervals(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from commonmode.cli import app

    db = tmp_path / "cm.db"
    s = RunStore.open(db, create=True)
    record(s, BASE)
    record(s, without(renamed(BASE, OTHER, "team-moved"), WHO), day=1)
    s.close()
    run = CliRunner().invoke

    def inventory(n: int) -> dict[str, Any]:
        out = run(app, ["inventory", "--db", str(db), "--run", str(n), "--format", "json"])
        assert out.exit_code == 0, out.output
        return {i["id"]: i for i in json.loads(out.output)}

    one, two = inventory(1), inventory(2)
    assert one[OTHER]["owner"] == OTHER_OWNER != "team-moved" and two[OTHER]["owner"] == "team-moved"
    assert WHO in one and WHO not in two and one[WHO]["can_modify"]
    out = run(app, ["diff", "--db", str(db), "--from", "1", "--to", "2", "--format", "json"])
    assert out.exit_code == 0, out.output
    lost = json.loads(out.output)["lost_power"]
    assert {p["identity"] for p in lost} == {WHO}
    assert {(p["capability"], p["resource"]) for p in lost} == {
        (m["capability"], m["resource"]) for m in one[WHO]["can_modify"]
        if m["capability"] in {c.value for c in queries.STEERING}}


# --- the migration of a store written by the release with schema 5 ------------------------------------------


def _comparable(got: dict[str, Any]) -> dict[str, Any]:
    """Answers as the migration must keep them. What says which release wrote them is dropped. `access` rows
    of one resource are compared as a set: since schema 6 they come in a fixed order (identity, capability,
    …), where the release that wrote store-v5 listed them in the order the run stored them, which a history
    table cannot keep (a row is stored in the run it first held in)."""
    for r in got["runs"].values():
        r["report"].pop("generator", None)
        r["report"].pop("schema_version", None)
        r["access"] = {k: sorted(v, key=lambda row: json.dumps(row, sort_keys=True)) for k, v in r["access"].items()}
    return got


def _answers(store: RunStore, *, exact: bool = False) -> dict[str, Any]:
    got = json.loads(json.dumps(answers(store), sort_keys=True, default=str))
    if exact:
        return got
    return _comparable(got)


def test_a_schema_5_store_migrates_in_place_and_every_query_answers_as_before(tmp_path: Path) -> None:
    db = tmp_path / "cm.db"
    shutil.copy(DATA / "store-v5.db", db)
    want = _comparable(json.loads(gzip.decompress((DATA / "store-v5-answers.json.gz").read_bytes())))
    old = RunStore.open(db)  # read as it is (read commands never migrate): the same answers
    assert not old.intervals and _answers(old) == want
    exactly = _answers(old, exact=True)
    copies = {t: old.rows(f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in HISTORY}  # noqa: S608 — constants
    old.close()
    store = RunStore.open(db, create=True)  # what scan does: migrate
    assert store.intervals
    assert store.rows("SELECT value FROM meta WHERE key = 'schema_version'")[0][0] == str(SCHEMA_VERSION)
    assert _answers(store) == want
    # and this release's answers, row order and all, are the same before and after the migration
    assert _answers(store, exact=True) == exactly
    names = {r[0] for r in store.rows("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not {n for n in names if n.endswith("_legacy")} and not names & set(HISTORY)
    stored = {t: len(history(store, t)) for t in HISTORY}
    assert all(stored[t] < copies[t] for t in ("identities", "grants", "resources", "findings")), (stored, copies)
    assert {t: store.rows(f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in HISTORY} == copies  # noqa: S608
    # run 7 held the first estate again: a new run of it adds no inventory row (the hashes of migrated rows
    # are those of new ones)
    run8 = record(store, BASE, day=8)
    added = {t: v["added"] for t, v in run8.summary["history"].items()}
    assert {t: n for t, n in added.items() if t not in ("services", "recovery", "failover")} == {
        "identities": 0, "credentials": 0, "stores": 0, "resources": 0, "grants": 0}, added
    assert store.rows("PRAGMA foreign_key_check") == []
    store.close()


def test_a_failed_migration_leaves_the_store_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from commonmode.store import history as hist

    db = tmp_path / "cm.db"
    shutil.copy(DATA / "store-v5.db", db)
    calls = {"n": 0}
    real = hist.Intervals.advance

    def breaks_half_way(self, *a, **k):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(hist.Intervals, "advance", breaks_half_way)
    with pytest.raises(KeyboardInterrupt):
        RunStore.open(db, create=True)
    monkeypatch.undo()
    old = RunStore.open(db)
    assert not old.intervals and old.rows("SELECT value FROM meta")[0][0] == "5"
    assert len(old.runs()) == 7 and old.rows("SELECT count(*) FROM grants")[0][0] == 94
    old.close()


# --- prune -------------------------------------------------------------------------------------------------


def _seven_runs(store: RunStore) -> None:
    estates = [BASE, BASE, renamed(BASE, WHO, "team-new"), without(BASE, OTHER), BASE, BASE,
               renamed(BASE, OTHER, "x")]
    for day, inv in enumerate(estates):
        record(store, inv, day=day)


def test_prune_keeps_the_last_runs_and_their_answers(store: RunStore) -> None:
    _seven_runs(store)
    full = _answers(store)
    pruned = prune(store.conn, 5)
    assert pruned.runs == [1, 2, 3, 4]
    assert [r.id for r in store.runs()] == [5, 6, 7]
    kept = _answers(store)
    assert kept["runs"].keys() == {"5", "6", "7"}
    assert {k: v for k, v in kept["runs"].items() if k != "5"} == {k: full["runs"][k] for k in ("6", "7")}
    # run 5 reads the same, except what compares it with its previous run, which is gone
    for part in ("report", "tickets"):
        assert kept["runs"]["5"].pop(part) != full["runs"]["5"].pop(part)
    assert kept["runs"]["5"] == full["runs"]["5"]
    assert kept["diffs"] == {k: v for k, v in full["diffs"].items() if min(map(int, k.split("-"))) >= 5}
    for t in HISTORY:  # no interval starts or ends before the first kept run
        assert not store.rows(f"SELECT 1 FROM {t}_history WHERE first_run < 5 OR last_run < 5")  # noqa: S608
    assert pruned.rows["identities"] >= 2  # WHO's and OTHER's closed rows ended before run 5
    assert pruned.rows["findings"] > 0
    assert store.rows("PRAGMA foreign_key_check") == []
    # the lifecycle carries on: a finding resolved by the next run says so
    run8 = record(store, without(BASE, WHO), day=8)
    assert run8.summary["findings"]["resolved"] > 0


def test_prune_command_keep_runs_before_and_dry_run(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from commonmode.cli import app

    db = tmp_path / "cm.db"
    s = RunStore.open(db, create=True)
    _seven_runs(s)
    s.close()
    run = CliRunner().invoke
    out = run(app, ["prune", "--db", str(db), "--keep-runs", "3", "--dry-run", "--format", "json"])
    assert out.exit_code == 0, out.output
    plan = json.loads(out.output)
    assert plan["runs"] == [1, 2, 3, 4] and plan["dry_run"] and plan["freed_bytes"] is None
    assert [r.id for r in RunStore.open(db).runs()] == list(range(1, 8))  # a dry run changes nothing
    size = db.stat().st_size
    out = run(app, ["prune", "--db", str(db), "--keep-runs", "3"])
    assert out.exit_code == 0, out.output
    assert "pruned runs 1–4" in out.output and "freed" in out.output
    assert db.stat().st_size < size  # VACUUM gave the pages back
    # --before: runs started before that day (run 5 started 2026-11-05); the newest run is always kept
    out = run(app, ["prune", "--db", str(db), "--before", "2026-11-07", "--format", "json"])
    assert out.exit_code == 0 and json.loads(out.output)["runs"] == [5, 6]
    out = run(app, ["prune", "--db", str(db), "--before", "2030-01-01"])
    assert out.exit_code == 0 and "nothing to prune" in out.output and "newest run" in out.output
    assert [r.id for r in RunStore.open(db).runs()] == [7]


@pytest.mark.parametrize("args, said", [
    ([], "pass --keep-runs N or --before DATE"),
    (["--keep-runs", "2", "--before", "2026-11-01"], "not both"),
    (["--keep-runs", "0"], "--keep-runs"),
    (["--before", "yesterday"], "--before 'yesterday': expected a date"),
])
def test_prune_usage_errors(tmp_path: Path, args: list[str], said: str) -> None:
    from typer.testing import CliRunner

    from commonmode.cli import app

    db = tmp_path / "cm.db"
    s = RunStore.open(db, create=True)
    record(s, BASE)
    s.close()
    out = CliRunner().invoke(app, ["prune", "--db", str(db), *args])
    assert out.exit_code == 2 and said in out.output, out.output


def test_prune_of_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from commonmode.cli import app

    out = CliRunner().invoke(app, ["prune", "--db", str(tmp_path / "nope.db"), "--keep-runs", "1"])
    assert out.exit_code == 2 and "no commonmode database here" in out.output
    assert list(tmp_path.iterdir()) == []


# --- Datasette ---------------------------------------------------------------------------------------------


def test_datasette_opens_the_store_and_its_views(store: RunStore) -> None:
    import asyncio

    import datasette.app as datasette  # the test extra installs it

    _seven_runs(store)
    ds = datasette.Datasette([str(store.path)])

    async def get(path: str) -> Any:
        response = await ds.client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        return response.json()

    async def main() -> None:
        name = store.path.stem
        tables = {t["name"] for t in (await get(f"/{name}.json"))["tables"]}
        views = {v["name"] for v in (await get(f"/{name}.json"))["views"]}
        assert {f"{t}_history" for t in HISTORY} <= tables
        assert {*HISTORY, *(f"{t}_current" for t in HISTORY)} <= views
        rows = (await get(f"/{name}/identities.json?run_id=3&id={WHO}&_shape=array"))
        assert [r["owner"] for r in rows] == ["team-new"]
        current = await get(f"/{name}/grants_current.json?_shape=array&_size=max")
        assert len(current) == len(view(store, "grants", 7))

    asyncio.run(main())


# --- grouped comparison: digests never hide a change -----------------------------------------------------------


def test_a_group_carried_twice_is_counted_each_time_and_closed_by_the_next_complete_run(store: RunStore) -> None:
    record(store, BASE)
    gone = without(BASE, WHO)
    for day in (1, 2):  # two partial runs in a row that miss WHO
        run = record(store, gone, RunStatus.PARTIAL, day=day)
        assert run.summary["carried"]["fake"]["grants"] > 0, day
        assert WHO in {g["identity_id"] for g in view(store, "grants", run.id)}
    record(store, gone, day=3)
    # the connector's grants were carried through both; the correlator's (derived) hold what each run derived
    assert {(r["first_run"], r["last_run"]) for r in history(
        store, "grants", "identity_id = ? AND connector = 'fake'", (WHO,))} == {(1, 3)}
    assert {(r["first_run"], r["last_run"]) for r in history(
        store, "grants", "identity_id = ? AND connector = 'correlator'", (WHO,))} == {(1, 1)}
    assert [(r["first_run"], r["last_run"]) for r in history(store, "identities", "id = ?", (WHO,))] == [(1, 3)]


def test_after_the_migration_a_vanished_identity_closes(tmp_path: Path) -> None:
    db = tmp_path / "cm.db"
    shutil.copy(DATA / "store-v5.db", db)
    store = RunStore.open(db, create=True)
    assert store.rows("SELECT count(*) FROM history_digests WHERE digest = x''")[0][0] > 0  # all to compare
    record(store, without(BASE, WHO), day=8)
    held = history(store, "grants", "identity_id = ? AND first_run <= 7 AND (last_run IS NULL OR last_run >= 7)",
                   (WHO,))
    assert held and {r["last_run"] for r in held} == {7}  # what run 7 held of it ended there
    assert [r["last_run"] for r in history(store, "identities", "id = ? AND last_run IS NULL", (WHO,))] == []
    record(store, without(BASE, WHO), day=9)  # and an unchanged run after it is compared by digest
    assert all(v == {"added": 0, "closed": 0} for v in store.latest_run().summary["history"].values())
    store.close()


def test_one_id_from_two_connectors_is_one_row_the_last_given(store: RunStore) -> None:
    zone = BASE.resources[0]
    twin = dataclasses.replace(zone, connector="other", name="seen twice")
    inv = dataclasses.replace(BASE, resources=(*BASE.resources, twin))
    record(store, inv)
    assert [r["name"] for r in view(store, "resources", 1) if r["id"] == zone.id] == ["seen twice"]
    record(store, BASE, day=1)  # the twin's connector is gone: the first connector's row is back
    assert [r["name"] for r in view(store, "resources", 2) if r["id"] == zone.id] == [zone.name]


class _Correlation:
    """What record_run reads of a correlation, for estates the model below follows without correlating."""

    def __init__(self, inv: Inventory) -> None:
        self.inventory, self.findings, self.services, self.recovery, self.failover = inv, (), (), (), ()

    def missing(self, name: str) -> list[str]:
        return []


def _estate(rng: random.Random) -> Inventory:
    """A random estate from a small pool, over two connectors, so that runs share, change and lose rows."""
    from commonmode.model import Identity

    identities = [Identity(id=f"id{n}", provider="aws", kind="iam-role", name=f"n{n}",
                           connector=f"c{rng.randrange(2)}" if rng.random() < 0.2 else f"c{n % 2}",
                           owner=rng.choice([None, "team-a", "team-b"])) for n in range(12) if rng.random() < 0.8]
    grants = [Grant(identity_id=f"id{rng.randrange(12)}", capability=rng.choice(list(Capability)),
                    resource_id=f"r{rng.randrange(4)}", via=(rng.choice(["p1", "p2"]),),
                    connector=f"c{rng.randrange(2)}")
              for _ in range(rng.randrange(10, 30))]
    return Inventory(identities=tuple(identities), grants=tuple(grants))


def _rows(inv: Inventory) -> dict[str, list[tuple[Any, ...]]]:
    from commonmode.store import _JsonCache, inventory_rows

    out: dict[str, list[tuple[Any, ...]]] = {}
    for name, rows in inventory_rows(_Correlation(inv), _JsonCache()):
        if name in ("identities", "grants"):
            out[name] = list(rows.rows_of({g.identity_id for g in inv.grants})) if hasattr(rows, "rows_of") \
                else list(rows)
    return out


def test_the_store_follows_a_model_of_intervals_over_random_runs(store: RunStore) -> None:
    """Each run's view equals what a plain model says it held: what the run saw (one row per key, the last
    given), plus, for a connector that failed or was partial, the rows it had in the run before that the run
    did not see (under their key, for identities); a failed run holds what the run before held."""
    from collections import Counter as Multiset

    rng = random.Random(2026)
    expected: dict[int, dict[str, Multiset[tuple[Any, ...]]]] = {}
    before: dict[str, Multiset[tuple[Any, ...]]] = {"identities": Multiset(), "grants": Multiset()}
    for day in range(40):
        roll = rng.random()
        status = RunStatus.FAILED if roll < 0.1 else RunStatus.PARTIAL if roll < 0.45 else RunStatus.OK
        partial = {f"c{rng.randrange(2)}"} if status is RunStatus.PARTIAL else {"c0", "c1"}
        # in a partial run, the connector that did not complete was partial or failed outright
        bad = RunStatus.FAILED if status is RunStatus.FAILED or rng.random() < 0.3 else RunStatus.PARTIAL
        inv = _estate(rng)
        results = [ConnectorResult(connector=c, provider="aws", connector_type="aws",
                                   status=bad if c in partial and status is not RunStatus.OK else RunStatus.OK,
                                   gaps=(f"{c}: listing timed out",) if c in partial and status is not RunStatus.OK
                                   else ()) for c in ("c0", "c1")]
        started = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day)
        run = store.record_run(started=started, finished=started, config="c.toml", results=results,
                               correlation=None if status is RunStatus.FAILED else _Correlation(inv), status=status)
        if status is RunStatus.FAILED:
            now = {t: Multiset(rows) for t, rows in before.items()}
        else:
            seen = _rows(inv)
            carry = {c for c in ("c0", "c1") if status is not RunStatus.OK and c in partial}
            ids = {r[0]: r for r in seen["identities"]}
            now = {"identities": Multiset(ids.values()), "grants": Multiset(seen["grants"])}
            now["identities"].update(r for r in before["identities"] if r[5] in carry and r[0] not in ids)
            now["grants"].update(r for r, n in (before["grants"] - Multiset(seen["grants"])).items()
                                 for _ in range(n) if r[4] in carry)
        expected[run.id] = now
        before = now
        for run_id, want in expected.items():  # closing an interval must not change what an earlier run held
            for table, rows in want.items():
                got = Multiset(tuple(r[c] for c in HISTORY[table].columns) for r in view(store, table, run_id))
                assert got == rows, (day, run_id, table, got - rows, rows - got)
    statuses = Multiset(r.status for r in store.runs())
    assert statuses[RunStatus.PARTIAL] and statuses[RunStatus.FAILED] and statuses[RunStatus.OK]
    failed_alone = store.rows("SELECT count(*) FROM connector_runs c JOIN runs r ON r.id = c.run_id "
                              "WHERE c.status = 'failed' AND r.status = 'partial'")[0][0]
    moved = store.rows("SELECT count(*) FROM (SELECT id FROM identities_history GROUP BY id "
                       "HAVING count(DISTINCT connector) > 1)")[0][0]
    assert failed_alone and moved  # a connector failed while the run correlated; ids moved between connectors


# --- inventory's filters, asked in SQL ------------------------------------------------------------------------


def test_inventory_filters_give_what_filtering_the_whole_inventory_gives(store: RunStore) -> None:
    record(store, BASE)
    record(store, renamed(without(BASE, OTHER), WHO, "team-new"), day=1)
    for run in store.runs():
        whole = queries.inventory(store, run)
        assert whole
        for kind in {i["kind"] for i in whole}:
            assert queries.inventory(store, run, kind=kind) == [i for i in whole if i["kind"] == kind]
        for cap in [c.value for c in Capability]:
            want = [i for i in whole if any(m["capability"] == cap for m in [*i["can_modify"], *i["can_assume"]])]
            assert queries.inventory(store, run, can=cap) == want, cap
        for i in whole:
            assert queries.inventory(store, run, identity=i["id"]) == [i]
            assert queries.inventory(store, run, identity=i["id"], connector="nobody") == []


def test_inventory_id_of_an_unknown_identity_is_a_usage_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from commonmode.cli import app

    db = tmp_path / "cm.db"
    s = RunStore.open(db, create=True)
    record(s, BASE)
    s.close()
    out = CliRunner().invoke(app, ["inventory", "--db", str(db), "--id", WHO[:-1], "--format", "json"])
    assert out.exit_code == 2 and "no identity with this id in run 1" in out.output and WHO in out.output
    out = CliRunner().invoke(app, ["inventory", "--db", str(db), "--id", WHO, "--format", "json"])
    assert out.exit_code == 0 and [i["id"] for i in json.loads(out.output)] == [WHO]


def test_the_store_names_derived_grants_as_the_correlator_does() -> None:
    from commonmode.correlate.derive import CORRELATOR
    from commonmode.store.history import CORRELATOR as named

    assert named == CORRELATOR


def test_a_hand_edit_of_open_rows_is_compared_again_next_run(store: RunStore) -> None:
    record(store, BASE)
    one = store.rows("SELECT history_id FROM grants_history WHERE connector = 'fake' LIMIT 1")[0][0]
    store.conn.execute("DELETE FROM grants_history WHERE history_id = ?", (one,))
    store.conn.execute("DELETE FROM failover_history")
    store.conn.execute("UPDATE identities_history SET owner = 'edited' WHERE id = ?", (WHO,))
    record(store, BASE, day=1)  # the same estate: what the edit took away is stored again
    assert len(view(store, "grants", 2)) == len(correlate(BASE, declared_services=declared_services(),
                                                          now=NOW).inventory.grants)
    assert len(view(store, "failover", 2)) == len(view(store, "services", 2)) > 0
    assert [r["owner"] for r in view(store, "identities", 2) if r["id"] == WHO] == [WHO_OWNER]


def test_a_grant_whose_via_is_a_list_is_stored_as_the_tuple_is(store: RunStore) -> None:
    g = BASE.grants[0]
    listed = Grant(identity_id=g.identity_id, capability=g.capability, resource_id=g.resource_id,
                   via=list(g.via), connector=g.connector)  # type: ignore[arg-type]  # as a plugin might
    assert listed == g
    record(store, BASE)
    record(store, dataclasses.replace(BASE, grants=(listed, *BASE.grants[1:])), day=1)
    assert store.latest_run().summary["history"]["grants"] == {"added": 0, "closed": 0}


def test_access_answers_do_not_depend_on_the_order_rows_were_stored_in(tmp_path: Path) -> None:
    zone = "arn:aws:route53:::hostedzone/ZAPI"
    a = Grant(identity_id=WHO, capability=Capability.DNS_WRITE, resource_id=zone, via=("policy A",), connector="fake")
    b = dataclasses.replace(a, via=("policy B",))
    answers_of = []
    for order in ((a, b), (b, a)):
        s = RunStore.open(tmp_path / f"{order[0].via[0]}.db", create=True)
        record(s, dataclasses.replace(BASE, grants=(*BASE.grants, *order)))
        answers_of.append(queries.access(s, s.latest_run(), zone))
        s.close()
    assert answers_of[0] == answers_of[1]
    assert [r["chain"][0] for r in answers_of[0] if r["identity"] == WHO and r["capability"] == "dns.write"] == [
        f"{WHO} has dns.write on {zone} (policy A)"]


def test_prune_dry_run_on_an_older_store_changes_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from commonmode.cli import app

    db = tmp_path / "cm.db"
    shutil.copy(DATA / "store-v5.db", db)
    before = db.read_bytes()
    out = CliRunner().invoke(app, ["prune", "--db", str(db), "--keep-runs", "2", "--format", "json", "--dry-run"])
    assert out.exit_code == 0, out.output
    plan = json.loads(out.output)
    assert plan["runs"] == [1, 2, 3, 4, 5] and plan["rows"] == {} and "migrates it first" in plan["note"]
    assert db.read_bytes() == before
    out = CliRunner().invoke(app, ["prune", "--db", str(db), "--keep-runs", "2", "--format", "json"])
    assert out.exit_code == 0 and json.loads(out.output)["runs"] == [1, 2, 3, 4, 5]
    s = RunStore.open(db)
    assert s.intervals and [r.id for r in s.runs()] == [6, 7]
    s.close()


def test_prune_waits_for_a_scan_and_before_stops_at_the_first_run_after_the_date(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from commonmode.cli import app
    from commonmode.store import ScanLock

    db = tmp_path / "cm.db"
    s = RunStore.open(db, create=True)
    for day in (4, 0, 9):  # started on the 5th, the 1st, the 10th: clocks are not always in order
        record(s, BASE, day=day)
    s.close()
    with ScanLock(db):  # a scan is storing a run
        out = CliRunner().invoke(app, ["prune", "--db", str(db), "--keep-runs", "1"])
    assert out.exit_code == 2 and "another scan is running" in out.output
    # before the 3rd: run 1 started after it, so nothing before run 1 goes (run 2 stays, though older)
    out = CliRunner().invoke(app, ["prune", "--db", str(db), "--before", "2026-11-03", "--format", "json"])
    assert out.exit_code == 0 and json.loads(out.output)["runs"] == []
    out = CliRunner().invoke(app, ["prune", "--db", str(db), "--before", "2026-11-06", "--format", "json"])
    assert out.exit_code == 0 and json.loads(out.output)["runs"] == [1, 2]


def test_a_service_a_partial_connector_missed_is_carried_with_its_recovery_and_failover(store: RunStore) -> None:
    api = [x for x in BASE.services if x.source == "fake"]
    assert [x.name for x in api] == ["api"]  # discovered by the connector, not declared
    record(store, BASE)
    missed = dataclasses.replace(BASE, services=())
    run2 = record(store, missed, RunStatus.PARTIAL, day=1)
    for table in ("services", "recovery", "failover"):
        one = [r for r in view(store, table, 1) if r.get("name", r.get("service")) == "api"]
        two = [r for r in view(store, table, 2) if r.get("name", r.get("service")) == "api"]
        assert one and [{**r, "run_id": 0} for r in two] == [{**r, "run_id": 0} for r in one], table
        assert run2.summary["carried"]["fake"][table] == len(one), table
    run3 = record(store, missed, day=2)  # complete: the connector no longer reports it
    assert not [r for r in view(store, "services", 3) if r["name"] == "api"]
    assert not [r for r in view(store, "recovery", 3) if r["service"] == "api"]
    assert "carried" not in run3.summary


def test_scan_says_what_a_partial_connector_s_run_kept_from_before(tmp_path: Path) -> None:
    from tests.estate import write_config
    from typer.testing import CliRunner

    from commonmode.cli import app

    first = tmp_path / "one"
    first.mkdir()
    cfg = write_config(first, BASE, services=declared_services())
    assert CliRunner().invoke(app, ["scan", "-c", str(cfg), "--no-progress"]).exit_code == 0
    # the same store, the connector now partial and missing WHO
    (first / "estate.json").unlink()
    partial = write_config(first, without(BASE, WHO), services=declared_services(),
                           connector_extra='gaps = ["fake: listing timed out"]')
    out = CliRunner().invoke(app, ["scan", "-c", str(partial), "--no-progress"])
    assert out.exit_code == 3, out.output
    line = next(x for x in out.output.splitlines() if x.startswith("kept from the run before"))
    creds = sum(c.identity_id == WHO for c in BASE.credentials)
    assert creds > 1 and f"fake: {creds} credentials" in line and "1 identity" in line, line
    runs = CliRunner().invoke(app, ["runs", "-c", str(partial), "--format", "json"])
    assert json.loads(runs.output)[-1]["summary"]["carried"]["fake"]["identities"] == 1
