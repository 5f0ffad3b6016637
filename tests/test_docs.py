"""README and docs say what the code does: every command, rule, capability, exit code and JSON field."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from tests.estate import declared_services, reference_estate, write_config
from typer.testing import CliRunner

from commonmode.cli import app
from commonmode.correlate import RULES
from commonmode.errors import ExitCode
from commonmode.model import Capability

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
runner = CliRunner()


def section(title: str) -> str:
    """The README text under a `##`/`###` heading, up to the next heading of any level."""
    m = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ |\Z)", README, re.S | re.M)
    assert m, f"README has no section {title!r}"
    return m.group(1)


def table_first_column(text: str) -> list[str]:
    return [cell.strip("` ") for cell in re.findall(r"^\| *([^|]+?) *\|", text, re.M)
            if not set(cell) <= set("-: ") and cell.strip() not in ("command", "rule", "capability", "code", "key")]


def cli_commands() -> dict[str, Any]:
    """Every command by its words after `commonmode` ("scan", "findings show"), as click sees it."""
    root = typer.main.get_command(app)
    out: dict[str, Any] = {}
    for name, cmd in root.commands.items():  # type: ignore[attr-defined]
        out[name] = cmd
        for sub, subcmd in getattr(cmd, "commands", {}).items():
            out[f"{name} {sub}"] = subcmd
    return out


def command_rows() -> dict[str, str]:
    """README's command table: {"findings show": the row's text}."""
    rows = {}
    for m in re.finditer(r"^\| `commonmode ([^`]+)` \| (.*) \|$", section("Commands"), re.M):
        words = [w for w in m.group(1).split() if not w.isupper() and not w.startswith("[")]
        rows[" ".join(words)] = m.group(2)
    return rows


def test_commands_table_matches_the_cli():
    assert set(command_rows()) == set(cli_commands())


def test_every_flag_the_commands_table_names_exists():
    commands = cli_commands()
    for name, text in command_rows().items():
        flags = {opt for p in commands[name].params for opt in p.opts}
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text):
            assert flag in flags, f"README says `commonmode {name}` takes {flag}; it does not"


def test_every_example_in_help_is_in_readme_and_parses():
    """The examples each --help ends with are README's "Examples" block, and each one parses as written
    (options, choices and arguments), without running."""
    from commonmode.cli import EXAMPLES

    block = re.search(r"```sh\n(.*?)```", section("Examples"), re.S)
    assert block
    documented = [line for line in block.group(1).splitlines() if line.strip()]
    assert documented == [e for examples in EXAMPLES.values() for e in examples]
    assert set(EXAMPLES) == set(cli_commands())
    root = typer.main.get_command(app)
    for example in documented:
        words = shlex.split(example)[1:]
        ctx = root.make_context("commonmode", list(words))  # type: ignore[attr-defined]
        cmd, rest = root, unparsed(ctx)
        while rest and getattr(cmd, "commands", None) and rest[0] in cmd.commands:  # type: ignore[attr-defined]
            name, cmd = rest[0], cmd.commands[rest[0]]  # type: ignore[attr-defined]
            ctx = cmd.make_context(name, list(rest[1:]), parent=ctx)
            rest = unparsed(ctx) if getattr(cmd, "commands", None) else list(ctx.args)
        assert cmd is not root and not rest, example


def unparsed(ctx: Any) -> list[str]:
    """What a group left for its subcommand (click 8.2 renamed `protected_args`)."""
    protected = getattr(ctx, "_protected_args", None)
    if protected is None:
        protected = ctx.protected_args
    return [*protected, *ctx.args]


def test_minimal_configs_load(tmp_path):
    """README's minimal config per provider: each one is a config the loader accepts as it is."""
    from commonmode.config import load_config
    from commonmode.connector import Registry

    blocks = re.findall(r"```toml\n(.*?)```", section("A minimal config per provider"), re.S)
    assert len(blocks) >= 4
    kinds = set()
    for i, text in enumerate(blocks):
        path = tmp_path / f"c{i}.toml"
        path.write_text(text)
        cfg = load_config(path, Registry.discover())
        kinds |= {c.connector_type for c in cfg.connectors}
    assert kinds == {"aws", "azure", "gcp", "vault", "declared"}


def test_rules_table_matches_the_registry():
    assert set(table_first_column(section("Rules"))) == set(RULES)


def test_capabilities_table_matches_the_vocabulary():
    assert set(table_first_column(section("Capabilities"))) == {c.value for c in Capability}


def test_exit_code_table_matches_the_contract():
    assert {int(c) for c in table_first_column(section("Exit codes"))} == {int(c) for c in ExitCode}


def test_readme_test_command_is_what_ci_runs():
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    assert len(blocks) >= 2, "README's quick start must have an install+run command and a test command"
    test_command = blocks[1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()
    # then the lint and type gate, whose configuration is in pyproject.toml
    assert "python3 -m ruff check . && python3 -m mypy" in ci.splitlines()


def test_readme_config_example_is_valid_toml_with_known_sections():
    example = re.search(r"```toml\n(.*?)```", section("Configuration"), re.S)
    assert example
    data = tomllib.loads(example.group(1))
    assert {"store", "correlate", "service", "credential", "fault_domain"} <= set(data)


def documented_fields(name: str) -> set[str]:
    """Field names listed for one output in README's "JSON output" section."""
    m = re.search(rf"^- `{name}`: (.*?)(?=^- `|\Z)", section("JSON output"), re.S | re.M)
    assert m, f"README does not document the JSON of {name}"
    text = m.group(1).replace("\n", " ")
    start = text.index("`{") + 2
    fields, depth, current = [], 0, ""
    for ch in text[start:]:
        if depth == 0 and ch in ",}":
            fields.append(current.split(":")[0].strip())
            current = ""
            if ch == "}":
                break
            continue
        depth += ch in "[{"
        depth -= ch in "]}"
        current += ch
    return set(fields)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = write_config(tmp_path_factory.mktemp("docs"), reference_estate(), services=declared_services())
    for _ in range(2):
        assert runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress"]).exit_code == 0
    return cfg


def out(cfg: Path, *args: str):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, [*args, "-c", str(cfg), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("command", ["findings", "inventory", "services", "runs"])
def test_list_json_fields_are_documented(scanned, command):
    rows = out(scanned, command)
    assert rows, f"{command} returned nothing to check"
    assert set(rows[0]) == documented_fields(command)


def test_access_json_fields_are_documented(scanned):
    rid = out(scanned, "services")[0]["primary"][0]
    rows = out(scanned, "access", rid)
    assert rows and set(rows[0]) == documented_fields("access")


def test_inventory_nested_fields_are_documented(scanned):
    text = section("JSON output")
    rows = out(scanned, "inventory")
    modify = next(r["can_modify"][0] for r in rows if r["can_modify"])
    assert "`[{" + ", ".join(modify) + "}]`" in text.replace("\n  ", " ")
    creds = next(r["credentials"][0] for r in rows if r["credentials"])
    assert "`[{" + ", ".join(creds) + "}]`" in text.replace("\n  ", " ")


def test_diff_and_scan_json_fields_are_documented(scanned):
    assert set(out(scanned, "diff")) == documented_fields("diff")
    result = runner.invoke(app, ["scan", "-c", str(scanned), "--no-progress", "--format", "json"])
    assert set(json.loads(result.stdout)) == documented_fields("scan")


@pytest.mark.parametrize("package", ["commonmode_aws", "commonmode_vault", "commonmode_declared"])
def test_every_connector_option_is_documented(package):
    from commonmode.connector import Registry

    registry = Registry.discover()
    name = package.removeprefix("commonmode_")
    cls = registry.load(name)
    text = (ROOT / "connectors" / package / "README.md").read_text()
    documented = set(table_first_column(text.split("## Config", 1)[1].split("\n## ", 1)[0]))
    from commonmode.config import COMMON_OPTIONS

    assert documented == set(cls.options) | set(COMMON_OPTIONS)


def test_simulate_json_fields_are_documented(scanned):
    doc = out(scanned, "simulate", "--down", "dns-provider:route53")
    assert set(doc) == documented_fields("simulate")
    text = section("JSON output").replace("\n  ", " ")
    assert "services: [{" + ", ".join(k for k in doc["services"][0] if k != "can_switch") in text
    switcher = next(s["can_switch"][0] for s in doc["services"] if s["can_switch"])
    assert "can_switch: [{" + ", ".join(switcher) + "}]" in text


def test_readme_simulate_matrix_is_the_sample_report_s():
    sample = (ROOT / "reports" / "sample" / "report.md").read_text()
    m = re.search(r"^\| service \| AWS down .*?(?=\n\n)", sample, re.S | re.M)
    assert m, "the sample report has no What if matrix"
    assert "\n".join("   " + line for line in m.group(0).splitlines()) in README
