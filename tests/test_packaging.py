"""Packaging and plugin boundaries: core never imports a connector or the sandbox (but for the `demo`
command); connectors load lazily via entry points."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from commonmode.connector import Registry

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "src" / "commonmode"
HEAVY = ("boto3", "botocore", "hvac", "azure", "google", "msgraph", "moto", "grpc")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


#: The sandbox's own package root: it seeds the emulators through the SDKs, as a user would (IAM writes and all),
#: so it lives outside the read-only core, which imports it only inside the `demo` command.
SANDBOX = ROOT / "sandbox" / "commonmode_sandbox"


def test_core_never_imports_a_connector_package_or_cloud_sdk():
    offenders = []
    for path in CORE.rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            if (top.startswith("commonmode_") and top != "commonmode_sandbox") or top in HEAVY:
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def _sandbox_imports(tree: ast.AST) -> list[ast.AST]:
    return [n for n in ast.walk(tree)
            if (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "commonmode_sandbox" for a in n.names))
            or (isinstance(n, ast.ImportFrom) and n.level == 0 and n.module
                and n.module.split(".")[0] == "commonmode_sandbox")]


def test_only_the_demo_command_imports_the_sandbox_and_only_when_it_runs():
    assert (SANDBOX / "__init__.py").exists() and not (CORE / "sandbox").exists()
    importers = sorted(p.relative_to(ROOT).as_posix() for root in (CORE, ROOT / "connectors") for p in root.rglob("*.py")
                       if _sandbox_imports(ast.parse(p.read_text())))
    assert importers == ["src/commonmode/cli.py"]
    tree = ast.parse((CORE / "cli.py").read_text())
    demo = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "demo"]
    assert len(demo) == 1
    inside = {id(n) for n in _sandbox_imports(demo[0])}
    assert inside and all(id(n) in inside for n in _sandbox_imports(tree)), "cli.py imports the sandbox outside demo()"


def test_the_sandbox_imports_no_sdk_until_it_starts_something():
    # so that the tests' fixtures, the benchmarks and `commonmode demo` can import it and say what is missing
    offenders = []
    for path in SANDBOX.glob("*.py"):
        tree = ast.parse(path.read_text())
        top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in top_level:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in HEAVY]
    assert offenders == []


def test_help_imports_no_cloud_sdk(plugin_env):
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom commonmode.cli import app\n"
            "r = CliRunner().invoke(app, ['--help'])\nassert r.exit_code == 0, r.output\n"
            "r = CliRunner().invoke(app, ['connectors'])\nassert r.exit_code == 0, r.output\n"
            "r = CliRunner().invoke(app, ['demo', '--help'])\nassert r.exit_code == 0, r.output\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m.startswith('commonmode_')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=plugin_env, check=True)
    assert out.stdout.strip() == "[]"  # no SDK, no moto, no connector and not the sandbox (commonmode_sandbox)


def test_plugin_is_discovered_by_entry_point_and_loaded_only_when_named(plugin_env, tmp_path):
    (tmp_path / "e.json").write_text("{}")
    (tmp_path / "commonmode.toml").write_text('[[fake]]\nname = "x"\nestate = "e.json"\n')
    code = ("import sys\nfrom pathlib import Path\nfrom commonmode.connector import Registry\n"
            "from commonmode.config import load_config\nreg = Registry.discover()\n"
            "assert 'fake' in reg.names() and 'commonmode_fake' not in sys.modules\n"
            f"load_config(Path({str(tmp_path / 'commonmode.toml')!r}), reg)\n"
            "assert 'commonmode_fake' in sys.modules\nprint(reg.entry('fake').distribution)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=plugin_env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "commonmode-fake"


def _ep(name: str, dist: str, value: str) -> SimpleNamespace:
    def load():
        raise AssertionError(f"{dist}'s {name} must never be imported")

    return SimpleNamespace(name=name, value=value, dist=SimpleNamespace(name=dist), load=load)


def test_builtin_wins_a_name_clash_and_the_shadowed_plugin_is_not_loaded():
    reg = Registry.from_entry_points([
        _ep("aws", "evil-plugin", "evil:Conn"),
        _ep("aws", "commonmode", "commonmode_aws:AwsConnector"),
        _ep("extra", "plugin-a", "a:Conn"),
        _ep("extra", "plugin-b", "b:Conn"),
    ])
    assert reg.entry("aws").distribution == "commonmode" and reg.entry("aws").builtin
    assert reg.entry("extra").distribution == "plugin-a"
    assert sorted(reg.shadowed) == ["aws from evil-plugin", "extra from plugin-b"]


def test_unknown_connector_name_is_a_usage_error():
    import pytest

    from commonmode.errors import UsageError

    with pytest.raises(UsageError, match="no connector named 'nope'"):
        Registry.from_entry_points([]).load("nope")

