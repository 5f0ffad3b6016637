"""Deadlines and interrupts (issue 12, 3 and 5), against moto's server and endpoints that misbehave:
nothing listening, a socket that accepts and never answers, and a proxy that answers the first requests and
then hangs. Durations are bounds on what a user waits (a hang would be minutes), not benchmarks."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from tests.safety.conftest import ESTATE, aws_env, commonmode, proxy

from commonmode_sandbox.servers import free_port


def config(tmp: Path, endpoint: str, extra: str = "") -> Path:
    cfg = tmp / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[aws]]\nname = "prod"\nendpoint_url = "{endpoint}"\n{extra}')
    return cfg


@pytest.fixture
def hangs_after_first_calls(aws) -> Iterator[str]:
    """moto behind a proxy that forwards three requests and then never answers."""
    with proxy(aws, lambda method, path, n: None if n < 3 else "hang") as url:
        yield url


def timed(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    proc = commonmode(*args, env=aws_env())
    return proc, time.monotonic() - t0


def test_nothing_listening_is_a_failed_connector_with_one_clear_line(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    proc, took = timed("scan", "-c", str(config(tmp_path, dead)), "--no-progress", "--format", "json")
    assert proc.returncode == 1  # an AWS-only scan whose connector failed
    (connector,) = json.loads(proc.stdout)["connectors"]
    assert connector["status"] == "failed"
    assert connector["gaps"] == [f"aws prod: cannot connect to {dead}: connection refused or unreachable"]
    assert took < 15, took


def test_a_black_holed_endpoint_fails_within_its_timeout(tmp_path, black_hole):
    proc, took = timed("scan", "-c", str(config(tmp_path, black_hole, "timeout = 2\n")), "--no-progress",
                       "--format", "json")
    assert proc.returncode == 1
    (connector,) = json.loads(proc.stdout)["connectors"]
    assert connector["gaps"] == [f"aws prod: no answer from {black_hole} within the timeout"]
    assert took < 20, took  # 2 attempts × 2 s, not 6 × 60 s


def test_a_hang_after_the_first_calls_stops_at_the_deadline_and_the_run_is_partial(tmp_path, aws,
                                                                                  hangs_after_first_calls):
    boto3.client("iam", endpoint_url=aws, region_name="us-east-1").create_user(UserName="dns-bot")
    # moto loads a service's backend on its first request; warm STS (the connector's first call) directly.
    # The timeout is 4 s, not 1 s: CI twice saw both attempts of the first call take over 1 s on a busy
    # machine, and a first call that fails fails the connector (correctly), which is not what this test is
    # about. What it measures is the proxy's hang after the first answers, bounded by the 12 s deadline.
    boto3.client("sts", endpoint_url=aws, region_name="us-east-1").get_caller_identity()
    cfg = config(tmp_path, hangs_after_first_calls, "timeout = 4\ndeadline = 12\n")
    proc, took = timed("scan", "-c", str(cfg), "--no-progress", "--format", "json")
    assert proc.returncode == 3, (proc.stderr, json.loads(proc.stdout or "{}").get("connectors"))
    (connector,) = json.loads(proc.stdout)["connectors"]
    assert connector["status"] == "partial"
    assert any("deadline of 12 s was reached" in g for g in connector["gaps"]), connector["gaps"]
    assert took < 12 + 30, took


def test_past_the_deadline_not_even_a_retry_is_sent(black_hole):
    """botocore retries a timed-out call by itself; the AWS client factory checks the deadline before every
    attempt ('before-send'), so a call in flight at the deadline ends after its current attempt and the scan
    never has to give up on the connector (which would fail it instead of recording what was not read)."""
    from commonmode.kit import CallCounter, CallPolicy, DeadlineReached
    from commonmode_aws.client import Clients

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="us-east-1")
    past = CallPolicy(read_timeout=30, attempts=4, deadline=7, past_deadline=lambda: True)
    clients = Clients(session, black_hole, "us-east-1", policy=past, calls=CallCounter())
    t0 = time.monotonic()
    with pytest.raises(DeadlineReached, match="deadline of 7 s was reached"):
        clients.client("sts").get_caller_identity()
    assert time.monotonic() - t0 < 5  # not 4 attempts of 30 s against a socket that never answers


def test_ctrl_c_stops_at_once_stores_nothing_and_exits_130(tmp_path, black_hole):
    (tmp_path / "estate.toml").write_text(ESTATE)
    cfg = config(tmp_path, black_hole, "timeout = 60\n")
    cfg.write_text(cfg.read_text() + '\n[[declared]]\nname = "estate"\nfile = "estate.toml"\n')
    proc = subprocess.Popen([sys.executable, "-m", "commonmode.cli", "scan", "-c", str(cfg), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=aws_env())
    time.sleep(3)  # the AWS connector now waits on a request that will never be answered
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 2
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["commonmode: interrupted: this run was not stored"]
    assert sqlite3.connect(tmp_path / "cm.db").execute("SELECT count(*) FROM runs").fetchone() == (0,)
    # the lock went with the process: the next scan runs (the declared connector alone is enough to store)
    cfg.write_text(cfg.read_text().replace(black_hole, f"http://127.0.0.1:{free_port()}"))
    assert commonmode("scan", "-c", str(cfg), "--no-progress", env=aws_env()).returncode == 3


def big_estate(n: int) -> str:
    parts = []
    for i in range(n):
        parts.append(f'[[identity]]\nid = "bot:{i}"\nkind = "api-key"\nowner = "team"\n')
        parts.append(f'[[resource]]\nid = "rec:{i}"\nkind = "dns-record"\nnames = ["r{i}.example"]\n')
        parts.append(f'[[grant]]\nidentity = "bot:{i}"\ncapability = "dns.write"\nresource = "rec:{i}"\n'
                     'via = ["declared"]\n')
    return "\n".join(parts)


def test_sigkill_at_any_moment_leaves_the_previous_runs_intact(tmp_path):
    (tmp_path / "estate.toml").write_text(big_estate(6000))
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text('[store]\npath = "cm.db"\n\n[[declared]]\nname = "estate"\nfile = "estate.toml"\n')
    assert commonmode("scan", "-c", str(cfg), "--no-progress").returncode == 0
    t0 = time.monotonic()
    assert commonmode("scan", "-c", str(cfg), "--no-progress").returncode == 0
    whole = time.monotonic() - t0
    db = tmp_path / "cm.db"
    grants = sqlite3.connect(db).execute("SELECT count(*) FROM grants WHERE run_id = 1").fetchone()[0]
    assert grants >= 6000
    for fraction in (0.3, 0.6, 0.8, 0.9, 0.95):  # collecting, correlating, writing the run
        runs_before = sqlite3.connect(db).execute("SELECT count(*) FROM runs").fetchone()[0]
        proc = subprocess.Popen([sys.executable, "-m", "commonmode.cli", "scan", "-c", str(cfg), "--no-progress"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(whole * fraction)
        proc.kill()
        proc.wait()
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        runs = conn.execute("SELECT id FROM runs ORDER BY id").fetchall()
        assert len(runs) in (runs_before, runs_before + 1)  # the run is all there, or not at all
        last = runs[-1][0]
        assert conn.execute("SELECT count(*) FROM grants WHERE run_id = ?", (last,)).fetchone()[0] == grants
        conn.close()
    assert commonmode("scan", "-c", str(cfg), "--no-progress").returncode == 0


def test_a_refused_credential_fails_the_connector_with_one_line(tmp_path, aws):
    """sts:GetCallerIdentity answered 403 InvalidClientTokenId (what AWS says of a revoked key): failed at once."""
    refused = (403, '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                    '<Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.'
                    '</Message></Error><RequestId>x</RequestId></ErrorResponse>')
    with proxy(aws, lambda method, path, n: refused) as url:
        proc, took = timed("scan", "-c", str(config(tmp_path, url)), "--no-progress", "--format", "json")
    assert proc.returncode == 1
    (connector,) = json.loads(proc.stdout)["connectors"]
    assert connector["gaps"] == ["aws prod: the credential was refused by sts:GetCallerIdentity: "
                                 "InvalidClientTokenId: The security token included in the request is invalid."]
    assert took < 15, took
