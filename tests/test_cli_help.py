"""`--help` as a user reads it, and the flags every command shares (issue 13: 1, 2, and `--help | head`).

The help is checked as click renders it at 80 and 120 columns: nothing of the source text lost (square
brackets), paragraphs filled (no line broken mid-sentence), choices whole, no `<bool>` on flags, a short
description and examples for every command.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from tests.estate import declared_services, reference_estate, write_config
from typer.testing import CliRunner

from commonmode.cli import EXAMPLES, app

runner = CliRunner()
ROOT = typer.main.get_command(app)


def commands() -> dict[str, object]:
    """Every command by its path after `commonmode` ("scan", "findings show")."""
    out: dict[str, object] = {}
    for name, cmd in ROOT.commands.items():  # type: ignore[attr-defined]
        out[name] = cmd
        for sub, subcmd in getattr(cmd, "commands", {}).items():
            out[f"{name} {sub}"] = subcmd
    return out


ALL = sorted(commands())


@functools.cache
def help_text(command: str, columns: int) -> str:
    """`commonmode COMMAND --help` as a terminal of `columns` gets it (a subprocess: click's test runner
    forces 80 columns)."""
    env = {**os.environ, "COLUMNS": str(columns)}
    proc = subprocess.run([sys.executable, "-m", "commonmode.cli", *command.split(), "--help"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def flat(text: str) -> str:
    return " ".join(text.split())


def test_every_command_is_in_the_examples_table():
    assert set(EXAMPLES) == set(ALL)


@pytest.mark.parametrize("command", ALL)
def test_help_keeps_every_square_bracket(command):
    """Rich markup ate `[demo]` of `.[demo]` and `[default: …]`: every bracketed text of the help source is shown."""
    cmd = commands()[command]
    sources = [cmd.help or "", cmd.epilog or ""] + [p.help or "" for p in cmd.params]  # type: ignore[attr-defined]
    bracketed = [m for text in sources for m in re.findall(r"\[[^\[\]\n]*\]", text) if m != "[OPTIONS]"]
    shown = flat(help_text(command, 120))
    for piece in bracketed:
        assert flat(piece) in shown, f"{command} --help lost {piece!r}"
    if command == "demo":
        assert "pip install -e '.[demo]'" in shown


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("command", ALL)
def test_help_paragraphs_are_filled_not_broken_mid_sentence(command, columns):
    """Each line of a prose paragraph is as full as the width allows: the next word would not have fitted."""
    text = help_text(command, columns)
    width = min(columns, 120) - 2
    for line in text.splitlines():  # never inside a hyphenated word (`tickets-github.json`, `--fail-on`)
        assert not re.search(r"\w-$", line), f"{command} --help at {columns} columns breaks a word: {line!r}"
    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        if re.match(r"^  [^\s-]", line) and not re.match(r"^  \S+(\s{2,}|$)", line):  # prose, not a row
            block.append(line)
            continue
        for current, following in itertools.pairwise(block):
            nxt = following.split()[0]
            assert len(current.rstrip()) + 1 + len(nxt) > width, (
                f"{command} --help at {columns} columns breaks a line early: {current!r} / {following!r}")
        block = []


@pytest.mark.parametrize("command", ALL)
def test_help_shows_choices_whole_and_flags_without_a_type(command):
    cmd = commands()[command]
    text = help_text(command, 80)
    assert "<bool>" not in text
    for p in cmd.params:  # type: ignore[attr-defined]
        if p.metavar and "|" in p.metavar:
            assert p.metavar in text, f"{command}: {p.metavar} split across lines"


def test_root_help_gives_every_command_one_line_at_80_columns():
    text = help_text("", 80)
    rows = dict(re.findall(r"^  (\S+)\s{2,}(.+)$", text.split("Commands:", 1)[1].split("\n\n", 1)[0], re.M))
    assert set(rows) == {c.split()[0] for c in ALL}
    for name, line in rows.items():
        assert not line.endswith("..."), f"{name}: short description cut: {line!r}"
        assert len(f"  {name}  {line}") <= 80
    assert "Exit codes" in text


@pytest.mark.parametrize("command", ALL)
def test_every_command_shows_its_examples(command):
    text = help_text(command, 80)
    assert "Examples:" in text
    shown = [line.strip() for line in text.split("Examples:", 1)[1].splitlines() if line.strip()]
    assert shown == list(EXAMPLES[command])
    assert all(e.startswith(f"commonmode {command}") for e in shown)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = write_config(tmp_path_factory.mktemp("flags"), reference_estate(), services=declared_services())
    for _ in range(2):
        assert runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress"]).exit_code == 0
    return cfg


def some_fingerprint(cfg: Path) -> str:
    import json

    result = runner.invoke(app, ["findings", "-c", str(cfg), "-f", "json"])
    return json.loads(result.stdout)[0]["fingerprint"]


def invocations(cfg: Path, out: Path) -> dict[str, list[str]]:
    c = ["-c", str(cfg)]
    return {
        "scan": ["scan", *c, "--no-progress"],
        "findings": ["findings", *c],
        "findings show": ["findings", "show", some_fingerprint(cfg), *c],
        "inventory": ["inventory", *c],
        "access": ["access", "arn:aws:route53:::hostedzone/ZAPI", *c],
        "services": ["services", *c],
        "diff": ["diff", *c],
        "review": ["review", *c],
        "simulate": ["simulate", *c, "--down", "dns-provider:route53"],
        "report": ["report", *c, "--format", "json", "--out", str(out / "report")],
        "tickets": ["tickets", *c],
        "runs": ["runs", *c],
        "prune": ["prune", *c, "--keep-runs", "1", "--dry-run"],
        "connectors": ["connectors"],
        "rules": ["rules"],
        "init": ["init", "--declared", "--out", str(out / "init.toml"), "--force"],
    }


@pytest.mark.parametrize("flag", ["-v", "--verbose", "-q", "--quiet"])
@pytest.mark.parametrize("command", ALL)
def test_every_command_takes_verbose_and_quiet(scanned, tmp_path, command, flag):
    if command == "demo":  # starts emulators: parsing the flag is what is checked here
        ctx = ROOT.commands["demo"].make_context("demo", [flag, "--out", str(tmp_path)])  # type: ignore[attr-defined]
        assert ctx.params["verbose" if flag.startswith(("-v", "--v")) else "quiet"] is True
        return
    if command == "init":
        pytest.importorskip("commonmode.starter")
    args = invocations(scanned, tmp_path)[command]
    result = runner.invoke(app, [*args, flag])
    assert result.exit_code == 0, (args, result.output)
    if flag in ("-q", "--quiet"):
        assert result.stderr == "", (args, result.stderr)


def test_quiet_and_verbose_together_is_a_usage_error(scanned):
    result = runner.invoke(app, ["findings", "-c", str(scanned), "-q", "-v"])
    assert result.exit_code == 2 and "-q/--quiet and -v/--verbose" in result.stderr


def test_quiet_scan_prints_no_warning_and_no_hint(tmp_path):
    """A service with a path resource no connector saw warns on stderr; -q keeps stderr empty, the data stays."""
    import dataclasses

    from estate import service

    extra = (*declared_services(), service("ghost", ["arn:aws:route53:::hostedzone/NOPE/recordset/x./A"],
                                           ["arn:aws:route53:::hostedzone/NOPE2/recordset/y./A"]))
    cfg = write_config(tmp_path, dataclasses.replace(reference_estate()), services=extra)
    loud = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress"])
    assert "warning: service ghost" in loud.stderr and "next: commonmode findings" in loud.stderr
    quiet = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert "run 2: ok" in quiet.stdout and "open by severity" in quiet.stdout


def test_help_into_a_closed_pipe_exits_0():
    """`commonmode --help | head`: click turns EPIPE into exit 1; the reader going away is not a failure."""
    for args in (["--help"], ["scan", "--help"], ["rules"]):
        proc = subprocess.Popen([sys.executable, "-m", "commonmode.cli", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before anything is written
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0, (args, err)
        assert "Traceback" not in err and "Error" not in err
