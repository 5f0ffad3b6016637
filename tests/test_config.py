"""Config parsing: typed result, and one clear line naming file, key and expectation for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from commonmode.config import load_config
from commonmode.connector import Registry
from commonmode.errors import ConfigError, ExitCode, UsageError

GOOD = """
[store]
path = "data/cm.db"

[correlate]
expiry_days = 14

[[fake]]
name = "east"
estate = "estate.json"
fault_domains = ["dc:frankfurt"]

[[service]]
name = "api"
owner = "team-api"
primary = ["a"]
backup = ["b"]

[[credential]]
identity = "arn:aws:iam::1:user/u"
stored_in = "vault://east/secret/data/dns/backup"
expires = "2027-01-01"

[[fault_domain]]
subject = "vault://east/auth/approle/role/ci"
labels = ["ci:github-actions"]
"""


def load(tmp_path: Path, text: str):
    p = tmp_path / "commonmode.toml"
    p.write_text(text)
    return load_config(p, Registry.discover())


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(UsageError) as exc:
        load(tmp_path, text)
    assert exc.value.exit_code == ExitCode.USAGE
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_good_config_is_typed(tmp_path):
    cfg = load(tmp_path, GOOD)
    assert cfg.store_path == tmp_path.resolve() / "data" / "cm.db"
    assert cfg.expiry_days == 14 and cfg.unused_key_days == 90
    (conn,) = cfg.connectors
    assert (conn.name, conn.connector_type, conn.fault_domains) == ("east", "fake", ("dc:frankfurt",))
    assert conn.options == {"estate": "estate.json", "fail": False}
    assert cfg.services[0].primary == ("a",) and cfg.services[0].source == "declared"
    assert cfg.credentials[0].stored_in == "vault://east/secret/data/dns/backup"
    assert cfg.credentials[0].expires is not None and cfg.credentials[0].expires.tzinfo is not None
    assert cfg.fault_domains[0].labels == ("ci:github-actions",)


@pytest.mark.parametrize("text, expected", [
    ('[[fake]]\nname = "x"\nestate = 5\n', "commonmode.toml: fake[0].estate: expected a string, got an integer 5"),
    ('[[fake]]\nname = "x"\n', "commonmode.toml: fake[0].estate: missing; expected a string"),
    ('[[fake]]\nname = "x"\nestate = "e"\nregion = "us"\n', "commonmode.toml: fake[0].region: unknown key"),
    ('[[fake]]\nname = "x"\nestate = "e"\nfault_domains = "dc1"\n',
     "commonmode.toml: fake[0].fault_domains: expected a list of strings"),
    ('[[azurre]]\nname = "x"\n', "commonmode.toml: azurre: unknown key; expected one of"),
    ('[store]\npath = 1\n', "commonmode.toml: store.path: expected a string"),
    ('[[service]]\nname = "s"\nprimary = ["a"]\n', "commonmode.toml: service[0].backup: missing"),
    ('[[service]]\nname = "s"\nprimary = []\nbackup = ["b"]\n',
     "commonmode.toml: service[0].primary: expected a non-empty"),
    ('[[service]]\nname = "s"\nprimary = ["a"]\nbackup = ["b"]\n'
     '[[service]]\nname = "s"\nprimary = ["a"]\nbackup = ["b"]\n',
     "commonmode.toml: service[1].name: duplicate service name 's'"),
    ('[[fake]]\nname = "x"\nestate = "e"\n[[fake]]\nname = "x"\nestate = "f"\n',
     "commonmode.toml: fake[1].name: duplicate connector name 'x'"),
    ('[[credential]]\nidentity = "i"\nstored_in = "s"\nexpires = "soon"\n',
     "commonmode.toml: credential[0].expires: expected an ISO 8601 date"),
    ('[correlate]\nexpiry_days = 0\n',
     "commonmode.toml: correlate.expiry_days: expected an integer from 1 to 36500, got an integer 0"),
    ('fake = "x"\n', "commonmode.toml: fake: expected an array of tables ([[fake]])"),
    ('[store\n', "commonmode.toml: invalid TOML"),
])
def test_bad_input_names_file_key_and_expectation(tmp_path, text, expected):
    message = error(tmp_path, text)
    assert message.startswith(str(tmp_path / "commonmode.toml")), message
    assert expected.replace("commonmode.toml", str(tmp_path / "commonmode.toml")) in message, message


def test_missing_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(UsageError, match=r"config file not found .*COMMONMODE_CONFIG"):
        load_config(tmp_path / "nope.toml", Registry.discover())


def test_error_is_a_config_error_with_parts(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, '[[fake]]\nname = "x"\nestate = true\n')
    assert exc.value.key == "fake[0].estate" and exc.value.expected.startswith("expected a string")
