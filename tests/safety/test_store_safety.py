"""Stores that are not what they seem, two scans at once, file modes, history from an older release
(issue 12, points 6, 8, 12, 13, 15, 16). Every test runs the real `commonmode` command in a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.safety.conftest import CONFIG, ESTATE, commonmode

from commonmode.store.schema import SCHEMA_VERSION

V1_STORE = Path(__file__).resolve().parent.parent / "data" / "store-v1.db"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("commonmode: error: "), proc.stderr
    return lines[0]


def foreign_db(path: Path, *tables: str) -> Path:
    conn = sqlite3.connect(path)
    for t in tables:
        conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, note TEXT)")
        conn.execute(f"INSERT INTO {t} (note) VALUES ('theirs')")  # noqa: S608 — t: a table name the test chose
    conn.commit()
    conn.close()
    return path


# --- 12: someone else's SQLite file is never touched -----------------------------------------------------


@pytest.mark.parametrize("tables", [("customers",), ("runs", "customers"), ("meta", "runs")])
def test_scan_refuses_another_applications_database_and_leaves_it_unchanged(estate, tmp_path, tables):
    other = foreign_db(tmp_path / "other-app.db", *tables)
    before = digest(other)
    proc = commonmode("scan", "-c", str(estate), "--db", str(other))
    assert proc.returncode == 2
    assert "not a commonmode database" in one_error_line(proc)
    assert digest(other) == before


@pytest.mark.parametrize("command", [["findings"], ["runs"], ["inventory"], ["diff"], ["report", "--format", "json"]])
def test_read_commands_never_change_someone_elses_database(tmp_path, command):
    other = foreign_db(tmp_path / "other-app.db", "customers")
    before = digest(other)
    proc = commonmode(*command, "--db", str(other), cwd=tmp_path)
    assert proc.returncode == 2 and "not a commonmode database" in one_error_line(proc)
    assert digest(other) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other-app.db"]  # no -wal, -shm, report


def test_scan_refuses_a_file_that_is_not_sqlite(estate, tmp_path):
    notes = tmp_path / "notes.db"
    notes.write_text("my notes\n")
    proc = commonmode("scan", "-c", str(estate), "--db", str(notes))
    assert proc.returncode == 2 and "not an SQLite database" in one_error_line(proc)
    assert notes.read_text() == "my notes\n"


def test_scan_creates_a_store_in_an_empty_file(estate, tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    assert commonmode("scan", "-c", str(estate), "--db", str(empty)).returncode == 0
    assert sqlite3.connect(empty).execute("SELECT count(*) FROM runs").fetchone() == (1,)


def test_a_read_command_on_a_missing_store_creates_nothing(tmp_path):
    proc = commonmode("findings", "--db", str(tmp_path / "nope.db"), cwd=tmp_path)
    line = one_error_line(proc)
    assert proc.returncode == 2 and "run `commonmode scan` first" in line
    assert "pass --db" not in line  # --db was passed: do not tell the user to pass it
    assert list(tmp_path.iterdir()) == []


# --- 13: a store on a read-only mount is readable ------------------------------------------------------------


def _unshare_works() -> bool:
    if sys.platform != "linux" or not shutil.which("unshare") or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs root and mount namespaces (unshare -m) for a read-only mount")
def test_a_store_on_a_read_only_mount_can_be_read(estate, tmp_path):
    assert commonmode("scan", "-c", str(estate)).returncode == 0
    ro = tmp_path / "ro"
    ro.mkdir()
    script = (f"mount --bind -o ro {tmp_path} {ro} && exec {sys.executable} -m commonmode.cli findings "
              f"--db {ro / 'cm.db'} --format json")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert {f["rule"] for f in json.loads(proc.stdout)} >= {"shared-identity"}


# --- 16: migrations; a store written by the previous release ----------------------------------------------


def test_a_version_1_store_reads_as_before_and_scan_migrates_it(estate, tmp_path):
    db = tmp_path / "cm.db"
    shutil.copy(V1_STORE, db)
    before = digest(db)
    runs = commonmode("runs", "--db", str(db), "--format", "json")
    assert runs.returncode == 0, runs.stderr
    assert [r["id"] for r in json.loads(runs.stdout)] == [1, 2]
    findings = commonmode("findings", "--db", str(db), "--run", "1", "--format", "json")
    assert findings.returncode == 0 and len(json.loads(findings.stdout)) == 18
    diff = commonmode("diff", "--db", str(db), "--format", "json")
    assert diff.returncode == 0 and json.loads(diff.stdout)["new_findings"]
    assert digest(db) == before  # reading migrated nothing
    assert commonmode("scan", "-c", str(estate)).returncode == 0
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    assert conn.execute("SELECT id, version FROM runs ORDER BY id").fetchall() == [(1, None), (2, None), (3, "0.1.0")]
    assert conn.execute("PRAGMA application_id").fetchone()[0] != 0
    # the history carries on: run 3 adds its own findings and keeps run 2's open, since the connector they
    # rest on ("fake") did not run in run 3
    rows = conn.execute("SELECT status, first_seen_run, note FROM findings WHERE run_id = 3").fetchall()
    carried = [r for r in rows if r[2] == "not re-evaluated: connector fake did not complete in this run"]
    summary = json.loads(conn.execute("SELECT summary FROM runs WHERE id = 3").fetchone()[0])
    assert len(carried) == summary["findings"]["carried"] > 0
    assert {s for s, _, _ in carried} == {"open"} and {f for _, f, _ in carried} <= {1, 2}
    assert any(s == "new" and f == 3 for s, f, _ in rows)


def test_a_store_newer_than_this_release_is_refused_and_left_alone(estate, tmp_path):
    db = tmp_path / "cm.db"
    assert commonmode("scan", "-c", str(estate)).returncode == 0
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = digest(db)
    for args in (["scan", "-c", str(estate)], ["findings", "--db", str(db)]):
        proc = commonmode(*args)
        assert proc.returncode == 2 and "newer than this commonmode understands" in one_error_line(proc)
    assert digest(db) == before


# --- 6: one scan at a time, no stale lock -----------------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from commonmode.store import ScanLock
with ScanLock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def hold_lock(db: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_scan_is_refused_at_once_naming_the_holder(estate, tmp_path):
    holder = hold_lock(tmp_path / "cm.db")
    try:
        t0 = time.monotonic()
        proc = commonmode("scan", "-c", str(estate))
        assert time.monotonic() - t0 < 20
        assert proc.returncode == 2
        assert f"another scan is running on {tmp_path / 'cm.db'} (pid {holder.pid})" in one_error_line(proc)
        t0 = time.monotonic()
        waited = commonmode("scan", "-c", str(estate), "--wait", "1.5")
        assert waited.returncode == 2 and time.monotonic() - t0 >= 1.5
    finally:
        holder.kill()
        holder.wait()
    # killed with SIGKILL: the kernel released the lock, nothing stale is left behind
    assert holder.returncode == -signal.SIGKILL
    assert commonmode("scan", "-c", str(estate)).returncode == 0


def test_a_waiting_scan_goes_ahead_when_the_first_one_finishes(estate, tmp_path):
    holder = hold_lock(tmp_path / "cm.db")
    waiting = subprocess.Popen([sys.executable, "-m", "commonmode.cli", "scan", "-c", str(estate), "--wait", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert waiting.poll() is None  # still waiting
    holder.kill()
    holder.wait()
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err


# --- 8: what commonmode writes is private, whatever the umask -----------------------------------------------


def test_database_reports_and_tickets_are_private_whatever_the_umask(tmp_path):
    (tmp_path / "estate.toml").write_text(ESTATE)
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text(CONFIG.format(db="state/cm.db"))
    assert commonmode("scan", "-c", str(cfg), umask=0o022).returncode == 0
    # a reader holds the WAL open while we look, so the -wal and -shm files exist
    reader = sqlite3.connect(tmp_path / "state" / "cm.db")
    reader.execute("SELECT count(*) FROM runs").fetchone()
    assert commonmode("report", "-c", str(cfg), "--out", str(tmp_path / "out" / "r"), umask=0o022).returncode == 0
    assert commonmode("tickets", "-c", str(cfg), "--out", str(tmp_path / "out" / "t"), umask=0o022).returncode == 0
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode)
             for p in [tmp_path / "state", *(tmp_path / "state").iterdir(), *(tmp_path / "out").rglob("*")]}
    reader.close()
    assert modes == {
        "state": 0o700, "state/cm.db": 0o600, "state/cm.db-wal": 0o600, "state/cm.db-shm": 0o600,
        "state/cm.db.lock": 0o600, "out/r": 0o700, "out/r/report.html": 0o600,
        "out/r/report-run-1.html": 0o600, "out/t": 0o700,
        "out/t/tickets.md": 0o600,
    }
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700


# --- 15: a closed stdout ends quietly ------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["findings"], ["inventory"],
                                     ["access", "r53:zone/acme/api.acme.example/A/primary"]])
def test_a_listing_piped_into_head_ends_quietly(estate, tmp_path, command):
    assert commonmode("scan", "-c", str(estate)).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "commonmode.cli", *command, "-c", str(estate), "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written, as `| head` is after its lines
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and err == "", err
