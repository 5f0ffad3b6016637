"""The starter config `commonmode init` writes (issue 13: 21): valid as written, every real key explained,
nothing to fill in that does not look like a placeholder, and no secret asked for."""

from __future__ import annotations

import itertools
import re
import tomllib
from pathlib import Path

import pytest

from commonmode.config import COMMON_OPTIONS, SECTION_KEYS, load_config
from commonmode.connector import Registry
from commonmode.errors import UsageError
from commonmode.starter import PLACEHOLDER, starter_config

BUILT_IN = ("aws", "vault", "declared")
SETS = [set(c) for n in range(1, 4) for c in itertools.combinations(BUILT_IN, n)]
SETTING = re.compile(r"^(# )?([A-Za-z0-9_-]+) = (.+)$")  # a TOML bare key
TABLE = re.compile(r"^(# )?\[\[?([a-z_]+)\]\]?$")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover()


def tables(text: str) -> dict[str, dict[str, tuple[bool, str]]]:
    """Per table header: each key written, whether it is set (not commented out), and its value."""
    out: dict[str, dict[str, tuple[bool, str]]] = {}
    current = ""
    for line in text.splitlines():
        if m := TABLE.match(line):
            current = m.group(2)
            out.setdefault(current, {})
        elif m := SETTING.match(line):
            assert current, line
            out[current][m.group(2)] = (m.group(1) is None, m.group(3))
    return out


def uncomment_everything(text: str) -> str:
    return "\n".join(line.removeprefix("# ") if SETTING.match(line) or TABLE.match(line) else line
                     for line in text.splitlines())


@pytest.mark.parametrize("providers", SETS, ids=["+".join(sorted(s)) for s in SETS])
def test_the_starter_loads_as_written_and_with_every_key_uncommented(providers, registry, tmp_path):
    text = starter_config(providers, registry)
    path = tmp_path / "commonmode.toml"
    path.write_text(text)
    cfg = load_config(path, registry)
    assert sorted(c.connector_type for c in cfg.connectors) == sorted(providers)
    assert cfg.store_path == tmp_path / "commonmode.db" and not cfg.services
    # the commented-out examples are valid values too: uncomment them all
    path.write_text(uncomment_everything(text))
    full = load_config(path, registry)
    assert len(full.services) == len(full.credentials) == len(full.fault_domains) == 1
    assert sorted(c.connector_type for c in full.connectors) == sorted(providers)


@pytest.mark.parametrize("provider", [*BUILT_IN, "fake"])
def test_every_option_of_the_connector_is_in_the_starter_with_its_meaning(provider, registry):
    text = starter_config({provider}, registry)
    written = tables(text)
    options = {**COMMON_OPTIONS, **registry.load(provider).options}
    assert set(written[provider]) == set(options)
    for section, keys in SECTION_KEYS.items():
        assert set(written[section]) == set(keys), section
    lines = text.splitlines()
    for key, option in options.items():
        at = next(i for i, line in enumerate(lines) if SETTING.match(line) and SETTING.match(line).group(2) == key
                  and i > lines.index(f"[[{provider}]]"))
        explanation = []
        for line in reversed(lines[:at]):
            if not line.startswith("# ") or SETTING.match(line) or TABLE.match(line):
                break
            explanation.insert(0, line[2:])
        said = " ".join(explanation)
        assert option.help[1:] in said, (key, said)  # the loader's own words for the key
        if option.required:
            assert "required" in said
        elif option.default is not None:
            assert "default" in said


@pytest.mark.parametrize("providers", SETS, ids=["+".join(sorted(s)) for s in SETS])
def test_what_is_to_fill_in_is_an_obvious_placeholder_and_defaults_are_the_real_ones(providers, registry):
    text = starter_config(providers, registry)
    data = tomllib.loads(text)
    for provider in providers:
        (table,) = data[provider]
        options = {**COMMON_OPTIONS, **registry.load(provider).options}
        assert set(table) == {k for k, o in options.items() if o.required}  # only what must be filled in is set
        for key, value in table.items():
            assert PLACEHOLDER in str(value), (provider, key, value)
    everything = tomllib.loads(uncomment_everything(text))
    for provider in providers:
        (table,) = everything[provider]
        options = {**COMMON_OPTIONS, **registry.load(provider).options}
        for key, value in table.items():
            option = options[key]
            if option.default is not None and PLACEHOLDER not in str(value) and key != "regions":
                assert value == option.default, (provider, key)
            if option.names_a_secret:  # a name of a variable or a profile, never something like a secret
                assert re.fullmatch(r"[A-Za-z0-9_-]+", value) and (value == option.default or PLACEHOLDER in value)
                assert not tomllib.loads(text)[provider][0].get(key), "a secret's name is not set for the user"
    for line in text.splitlines():
        assert len(line) <= 100 or SETTING.match(line), line


def test_an_unknown_provider_names_the_installed_ones(registry):
    with pytest.raises(UsageError, match=r"no connector named 'azur'.*aws"):
        starter_config({"azur"}, registry)


def test_the_starter_says_secrets_go_by_name_and_points_at_the_read_only_policies(registry):
    text = starter_config(set(BUILT_IN), registry)
    prose = " ".join(line.removeprefix("# ") for line in text.splitlines())
    assert "never reads a secret's value" in prose and "NAME of an environment variable or profile" in prose
    assert "scanner-policy.json" in text and "scanner-policy.hcl" in text
    assert text.index("[[aws]]") < text.index("[[vault]]") < text.index("[[declared]]")


def test_the_starter_path_is_relative_to_the_config(registry, tmp_path):
    sub = tmp_path / "etc"
    sub.mkdir()
    (sub / "commonmode.toml").write_text(starter_config({"vault"}, registry))
    assert load_config(sub / "commonmode.toml", registry).store_path == sub / "commonmode.db"
    assert Path(tomllib.loads(starter_config({"vault"}, registry))["store"]["path"]).name == "commonmode.db"
