"""Config that is not what it seems ends as one `commonmode: error:` line and exit 2, naming the key and the
accepted range, storing nothing; a value in a key that names a secret is never echoed (issue 12, 9 and 14)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from tests.safety.conftest import aws_env, commonmode
from tests.safety.test_store_safety import one_error_line

SECRETISH = "AKIAQ7CANARY4PROFILE/wJalrXUtnFEMIK7MDENGbPxRfiCY"


def config(tmp_path: Path, text: str) -> Path:
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text('[store]\npath = "cm.db"\n' + text)
    return cfg


@pytest.mark.parametrize(("text", "key", "expected"), [
    ("[correlate]\nexpiry_days = 99999999999\n", "correlate.expiry_days", "an integer from 1 to 36500"),
    ("[correlate]\nunused_key_days = -3\n", "correlate.unused_key_days", "an integer from 1 to 36500"),
    ('[[aws]]\nname = "prod"\nmax_workers = -5\n', "aws[0].max_workers", "an integer from 1 to 64"),
    ('[[aws]]\nname = "prod"\nmax_workers = 0\n', "aws[0].max_workers", "an integer from 1 to 64"),
    ('[[aws]]\nname = "prod"\nendpoint_url = "htp:/127.0.0.1:5000"\n', "aws[0].endpoint_url",
     "an http:// or https:// URL with a host"),
    ('[[aws]]\nname = "prod"\nendpoint_url = "http://127.0.0.1:99999"\n', "aws[0].endpoint_url",
     "an http:// or https:// URL with a host"),
    ('[[aws]]\nname = "prod"\nendpoint_url = "http:// spaced.example"\n', "aws[0].endpoint_url",
     "an http:// or https:// URL with a host"),
    ('[[vault]]\nname = "ops"\nurl = "https://v:8200"\nmax_kv_paths = -1\n', "vault[0].max_kv_paths",
     "an integer from 1 to 100000000"),
    ('[[vault]]\nname = "ops"\nurl = "https://v:8200"\nmax_workers = -5\n', "vault[0].max_workers",
     "an integer from 1 to 64"),
    ('[[vault]]\nname = "ops"\nurl = "vault.example.com:8200"\n', "vault[0].url", "an http:// or https:// URL"),
    ('[[vault]]\nname = "ops"\nurl = "https://v:8200"\ntimeout = 0\n', "vault[0].timeout", "an integer from 1 to 600"),
    ('[[aws]]\nname = "prod"\ndeadline = 99999999999\n', "aws[0].deadline", "an integer from 5 to 86400"),
])
def test_out_of_range_and_malformed_values_are_config_errors(tmp_path, text, key, expected):
    proc = commonmode("scan", "-c", str(config(tmp_path, text)), env=aws_env())
    line = one_error_line(proc)
    assert proc.returncode == 2
    assert f"commonmode.toml: {key}: expected {expected}" in line
    assert not (tmp_path / "cm.db").exists()  # a config error stores no run


def test_deeply_nested_toml_is_a_config_error(tmp_path):
    cfg = config(tmp_path, "x = " + "[" * 20000 + "]" * 20000 + "\n")
    proc = commonmode("findings", "-c", str(cfg))
    assert proc.returncode == 2 and "commonmode.toml: invalid TOML: nested too deeply" in one_error_line(proc)


def test_a_secret_pasted_into_profile_is_never_printed_or_stored(tmp_path):
    cfg = config(tmp_path, f'[[aws]]\nname = "prod"\nprofile = "{SECRETISH}"\n')
    proc = commonmode("scan", "-c", str(cfg), env=aws_env())
    assert proc.returncode == 2
    assert "aws[0].profile: the profile it names is not in the AWS config" in one_error_line(proc)
    for flags in ([], ["-v"], ["-v", "--debug-sdk"]):
        proc = commonmode("scan", "-c", str(cfg), *flags, env=aws_env())
        assert proc.returncode == 2
        assert "AKIAQ7" not in proc.stdout + proc.stderr, flags
    db = tmp_path / "cm.db"
    if db.exists():
        dump = "\n".join(sqlite3.connect(db).iterdump())
        assert SECRETISH not in dump


def test_a_secret_in_a_key_of_the_wrong_type_is_named_not_shown(tmp_path):
    cfg = config(tmp_path, f'[[aws]]\nname = "prod"\nprofile = ["{SECRETISH}"]\n')
    proc = commonmode("scan", "-c", str(cfg), env=aws_env())
    line = one_error_line(proc)
    assert proc.returncode == 2 and "aws[0].profile: expected a string, got an array" in line
    assert SECRETISH not in proc.stdout + proc.stderr


def test_a_token_pasted_into_token_env_is_never_printed(tmp_path):
    token = "hvs.CAESIQ7canaryTOKENvalue9f3e"
    cfg = config(tmp_path, f'[[vault]]\nname = "ops"\nurl = "http://127.0.0.1:1"\ntoken_env = "{token}"\n')
    proc = commonmode("scan", "-c", str(cfg), env={k: v for k, v in os.environ.items() if k != "VAULT_TOKEN"})
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert "vault[0].token_env: the environment variable it names" in line and "is not set" in line
    assert token not in proc.stdout + proc.stderr and "canaryTOKEN" not in proc.stdout + proc.stderr


def test_a_missing_token_variable_is_named_when_it_is_a_name(tmp_path):
    cfg = config(tmp_path, '[[vault]]\nname = "ops"\nurl = "http://127.0.0.1:1"\ntoken_env = "OPS_VAULT_TOKEN"\n')
    proc = commonmode("scan", "-c", str(cfg), env={k: v for k, v in os.environ.items() if k != "OPS_VAULT_TOKEN"})
    assert proc.returncode == 2 and "OPS_VAULT_TOKEN is not set" in one_error_line(proc)
