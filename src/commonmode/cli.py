"""The `commonmode` command. Thin: parse options, call the core, render; the one place errors become exit codes.

Exit codes: 0 ok, 1 failed, 2 usage/config error, 3 partial (some connector failed), 4 --fail-on threshold.

Help is click's plain formatter (`rich_markup_mode=None`): rich markup would eat every `[...]` of the help
text (`.[demo]`, `[default: …]`) and break lines mid-sentence. Each command's examples are its epilog, kept
line by line with click's `\\b` marker (click docs, "Documenting Scripts": preventing rewrapping).
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer 0.2x vendors click as typer._click; older releases use click itself
    from typer._click.exceptions import UsageError as ClickUsageError
    from typer._click.formatting import HelpFormatter
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.exceptions import UsageError as ClickUsageError  # type: ignore[assignment]  # click's own name
    from click.formatting import HelpFormatter  # type: ignore[assignment]  # the same class, click's own name

from commonmode.errors import CommonmodeError, ExitCode, UsageError
from commonmode.logs import OWN, debugging
from commonmode.logs import configure as configure_logging

if TYPE_CHECKING:  # these modules are imported lazily, by the commands that need them
    from commonmode.config import Config
    from commonmode.connector import Registry
    from commonmode.model import Severity
    from commonmode.store import RunInfo, RunStore

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 120}

#: Every command's examples, shown at the end of its --help and listed in README ("Examples"); the docs test
#: checks that each one parses and is in README.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "init": ("commonmode init --aws --vault", "commonmode init --declared --out /etc/commonmode/commonmode.toml"),
    "scan": ("commonmode scan -c prod.toml", "commonmode scan -c prod.toml --fail-on high -q",
             "commonmode scan -c prod.toml --profile audit --region eu-west-1"),
    "findings": ("commonmode findings -c prod.toml", "commonmode findings --severity high --service api",
                 "commonmode findings --format ocsf"),
    "findings show": ("commonmode findings show 4e25f7c2", "commonmode findings show 4e25f7c2 --format json"),
    "inventory": ("commonmode inventory --can dns.write", "commonmode inventory --kind iam-role --format csv",
                  "commonmode inventory --id arn:aws:iam::123456789012:role/dns-bot"),
    "access": ("commonmode access arn:aws:route53:::hostedzone/Z123",
               "commonmode access vault://ops/secret --long"),
    "services": ("commonmode services", "commonmode services --format json"),
    "diff": ("commonmode diff", "commonmode diff --from 3 --to 5 --format json"),
    "review": ("commonmode review", "commonmode review api --format markdown"),
    "simulate": ("commonmode simulate", "commonmode simulate --down dns-provider:route53",
                 "commonmode simulate --down aws:region:us-east-1 --down vault://vault-east/secret --service payments",
                 "commonmode simulate --down-provider aws --format json",
                 "commonmode simulate --scenarios outages.toml --format markdown"),
    "report": ("commonmode report -c prod.toml", "commonmode report --format markdown --out wiki"),
    "tickets": ("commonmode tickets", "commonmode tickets --format jira-csv --out tickets"),
    "runs": ("commonmode runs", "commonmode runs --format csv"),
    "prune": ("commonmode prune --keep-runs 90", "commonmode prune --before 2026-01-01 --dry-run"),
    "connectors": ("commonmode connectors",),
    "rules": ("commonmode rules", "commonmode rules --format json"),
    "demo": ("commonmode demo", "commonmode demo --keep --out /tmp/commonmode-demo"),
}


def _epilog(command: str, note: str = "") -> str:
    lines = "\n".join(f"  {e}" for e in EXAMPLES[command])
    return (note + "\n\n" if note else "") + f"Examples:\n\n\b\n{lines}"


#: A hyphen click's wrapper does not break at (U+2011), put in for the wrapping and taken out after it.
_KEEP = "\u2011"


def _unbroken(text: str) -> str:
    return re.sub(r"(?<=\w)-(?=\w)", _KEEP, text)


class _HelpFormatter(HelpFormatter):
    """click's formatter, except that it never breaks a line inside a hyphenated word (`tickets-github.json`,
    `--fail-on`), which a reader would copy broken: textwrap breaks on hyphens by default (Python docs,
    textwrap.TextWrapper.break_on_hyphens)."""

    def write_text(self, text: str) -> None:
        super().write_text(_unbroken(text))

    def write_dl(self, rows: Sequence[tuple[str, str]], *args: Any, **kwargs: Any) -> None:
        super().write_dl([(term, _unbroken(text)) for term, text in rows], *args, **kwargs)

    def getvalue(self) -> str:
        return super().getvalue().replace(_KEEP, "-")


class _Context(typer.Context):
    formatter_class = _HelpFormatter


class _Command(TyperCommand):
    context_class = _Context


class _Group(TyperGroup):
    context_class = _Context


class _InOrder(_Group):
    """Commands listed in the order of a session (init, scan, findings, …), not in registration order."""

    def list_commands(self, ctx: Any) -> list[str]:
        order = [name.split()[0] for name in EXAMPLES]
        return sorted(super().list_commands(ctx), key=lambda n: order.index(n) if n in order else len(order))


app = typer.Typer(
    name="commonmode",
    cls=_InOrder,
    help="Find what a service's primary and backup paths share — identities, secret stores, certificate "
    "paths, DNS control planes, fault domains — before an incident does.\n\n"
    "Typical use: `commonmode init`, `commonmode scan` (cron/CI), then `commonmode findings`, "
    "`commonmode access ID`, `commonmode diff`. Every command takes -v/--verbose and -q/--quiet; every "
    "listing takes --format table|json|csv.\n\n"
    "Exit codes: 0 ok, 1 failed, 2 usage/config error, 3 partial scan, 4 --fail-on threshold reached.",
    epilog="Examples:\n\n\b\n  commonmode init --aws\n  commonmode scan -c commonmode.toml\n"
    "  commonmode findings -c commonmode.toml\n  commonmode findings show 4e25f7c2",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)

F = TypeVar("F", bound=Callable[..., Any])


def _choice(choices: Sequence[str], aliases: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """A parser for a choice option: case-insensitive, with aliases (`md` for `markdown`); the value returned
    is always one of `choices`."""
    def parse(value: str) -> str:
        v = str(value).lower()
        v = (aliases or {}).get(v, v)
        if v not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(repr(c) for c in choices)}")
        return v

    return parse


def _metavar(choices: Sequence[str]) -> str:
    return "<" + "|".join(choices) + ">"


LIST_FORMATS = ("table", "json", "csv")
FINDINGS_FORMATS = (*LIST_FORMATS, "ocsf")
REVIEW_FORMATS = (*LIST_FORMATS, "markdown")
REPORT_FORMATS = ("html", "markdown", "json", "ocsf")
TICKET_FORMATS = ("markdown", "jira-csv", "github-json", "json")
MARKDOWN_ALIAS = {"md": "markdown"}
SEVERITIES = ("critical", "high", "medium", "low")
#: The file `tickets --out DIR` writes for each format (the demo and reports/sample use the same names).
TICKET_FILES = {"markdown": "tickets.md", "jira-csv": "tickets-jira.csv", "github-json": "tickets-github.json",
                "json": "tickets.json"}


def _format_option(choices: Sequence[str], help: str = "Output format.",
                   aliases: Mapping[str, str] | None = None) -> Any:
    return typer.Option("--format", "-f", parser=_choice(choices, aliases), metavar=_metavar(choices), help=help)


ConfigOpt = Annotated[Path | None, typer.Option(
    "-c", "--config", help="Config file [default: $COMMONMODE_CONFIG or ./commonmode.toml].", show_default=False)]
DbOpt = Annotated[Path | None, typer.Option(
    "--db", help="SQLite database to use instead of the one the config's [store] path names.", show_default=False)]
RunOpt = Annotated[str | None, typer.Option(
    "--run", metavar="<id|latest|previous>", help="Run id, 'latest' or 'previous' (see `commonmode runs`) "
    "[default: latest].", show_default=False)]
VerboseOpt = Annotated[bool, typer.Option(
    "-v", "--verbose", help="commonmode's debug log (and tracebacks) on stderr.")]
QuietOpt = Annotated[bool, typer.Option(
    "-q", "--quiet", help="No progress, notes or warnings on stderr: only the data on stdout, and errors.")]
DebugSdkOpt = Annotated[bool, typer.Option(
    "--debug-sdk", help="Also the SDKs' wire logs (requests and responses), with credentials redacted.")]
LongOpt = Annotated[bool, typer.Option(
    "--long", help="The long table: every value whole, folded over several lines.")]
ListFormatOpt = Annotated[str, _format_option(LIST_FORMATS)]

#: -q: set by `_setup`; `_note` prints nothing while it is on.
_quiet = False


def _setup(verbose: bool = False, quiet: bool = False, debug_sdk: bool = False) -> None:
    """Logging for -v/--debug-sdk, and -q: commonmode's own log only at error level, no notes, no progress."""
    global _quiet
    if quiet and (verbose or debug_sdk):
        raise UsageError("-q/--quiet and -v/--verbose (or --debug-sdk) ask for opposite things; pass one")
    _quiet = quiet
    configure_logging(verbose, debug_sdk)
    if quiet:
        for name in OWN:
            logging.getLogger(name).setLevel(logging.ERROR)


def _note(text: str) -> None:
    """A progress line, note or warning on stderr (not data); -q silences it."""
    if not _quiet:
        typer.echo(text, err=True)


def handles_errors(fn: F) -> F:
    """Turn CommonmodeError into one line on stderr and its exit code; never show a traceback unless -v."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CommonmodeError as exc:
            typer.echo(f"commonmode: error: {exc}", err=True)
            raise typer.Exit(int(exc.exit_code)) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            _stdout_closed()
            raise typer.Exit(int(ExitCode.OK)) from None
        except Exception as exc:
            if debugging():
                raise
            typer.echo(f"commonmode: internal error: {type(exc).__name__}: {exc} (run with -v for details)", err=True)
            raise typer.Exit(int(ExitCode.FAILED)) from None

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps fn's signature; mypy sees (*args, **kwargs)


@contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C or SIGTERM during a scan: one line, exit 130, at once. Nothing half-done is stored (a run is one
    transaction, which SQLite rolls back), and the kernel releases the store's lock. The process ends with
    os._exit, because connector threads may still wait on a request for up to their timeout and the
    interpreter would join them on a normal exit."""
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except KeyboardInterrupt:
        sys.stdout.flush()
        sys.stderr.write("commonmode: interrupted: this run was not stored\n")
        sys.stderr.flush()
        os._exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stdout_closed() -> None:
    """The reader of stdout went away (`commonmode findings | head`): end quietly. Point stdout at /dev/null so
    that the interpreter's final flush does not fail again (Python docs, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _registry() -> Registry:
    from commonmode.connector import Registry

    return Registry.discover()


def _store_path(config: Path | None, db: Path | None) -> tuple[Path, str]:
    """The store named by --db, else by the config's [store] path, else ./commonmode.db; and the hint that
    ends the message for a missing file."""
    from commonmode.config import DEFAULT_DB, load_config, resolve_config_path

    if db is not None:
        return db, ""
    path = resolve_config_path(config)
    if config is None and not path.exists():
        return Path(DEFAULT_DB), " (or pass -c/--config or --db)"
    return load_config(path, _registry()).store_path, " (or pass --db)"


def _open_store(config: Path | None, db: Path | None, *, create: bool = False) -> RunStore:
    """The store named by --db, else by the config's [store] path, else ./commonmode.db."""
    from commonmode.store import RunStore

    path, hint = _store_path(config, db)
    return RunStore.open(path, create=create, hint=hint)


def _runs_named(ids: Sequence[int]) -> str:
    """`1–4, 7` for the stored run ids."""
    if not ids:
        return "none"
    parts, start, prev = [], ids[0], ids[0]
    for i in [*ids[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}–{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(parts)


def _run(store: RunStore, spec: str | int | None, flag: str = "--run") -> RunInfo:
    """The run a flag names; an unknown one is a usage error naming the flag and the stored runs."""
    try:
        return store.resolve_run(spec)
    except UsageError as exc:
        if spec in (None, "latest"):
            raise  # no run stored at all: the message says to scan first
        ids = [r.id for r in store.runs()]
        raise UsageError(f"{flag}: {exc}; stored runs: {_runs_named(ids)}") from None


def _known(flag: str, what: str, value: str, known: Sequence[str], where: str = "", plural: str = "") -> None:
    """A usage error naming the flag and the closest known names, unless `value` is known."""
    from commonmode.store.queries import did_you_mean

    if value not in known:
        raise UsageError(f"{flag}: no {what} {value!r}{where}; {did_you_mean(value, known, what=plural or what + 's')}")


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str], Callable[[str, int, int | None], None]]]:
    """A per-connector progress bar on stderr when it is a terminal; silent otherwise."""
    from commonmode.connector import no_progress

    if not enabled:
        yield lambda name: no_progress
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.fields[connector]:<16}"), TextColumn("{task.description:<40}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        def for_connector(name: str) -> Callable[[str, int, int | None], None]:
            task = bar.add_task("starting", total=None, connector=name)

            def update(description: str, done: int, total: int | None) -> None:
                bar.update(task, description=description, completed=done, total=total)

            return update

        yield for_connector


def _severity(value: str | None, flag: str) -> Severity | None:
    """The Severity a flag names; a usage error naming that flag otherwise."""
    from commonmode.model import Severity

    if value is None:
        return None
    try:
        return Severity(value.lower())
    except ValueError:
        raise UsageError(f"{flag}: expected one of critical, high, medium, low; got {value!r}") from None


# --- init ---------------------------------------------------------------------------------------------------

@app.command(cls=_Command, short_help="Write a commented starter commonmode.toml.", epilog=_epilog(
    "init", "With no provider flag the starter has a table for each provider; delete what you do not use."))
@handles_errors
def init(
    aws: Annotated[bool, typer.Option("--aws", help="An [[aws]] table (one account, or an organization).")] = False,
    azure: Annotated[bool, typer.Option("--azure", help="An [[azure]] table (one Entra tenant and its "
                                        "subscriptions).")] = False,
    gcp: Annotated[bool, typer.Option("--gcp", help="A [[gcp]] table (an organization, folders or "
                                      "projects).")] = False,
    vault: Annotated[bool, typer.Option("--vault", help="A [[vault]] table (one Vault or OpenBao cluster).")] = False,
    declared: Annotated[bool, typer.Option("--declared", help="A [[declared]] table: a file for what no connector "
                                           "scans (a second DNS provider, a CI token).")] = False,
    out: Annotated[str, typer.Option("--out", metavar="<path>", help="File to write, or a folder (existing, or "
                                     "ending in /) to write commonmode.toml into.")] = "commonmode.toml",
    force: Annotated[bool, typer.Option("--force", help="Overwrite the file if it exists.")] = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a commented starter config for the providers asked: every key a first scan needs, with the
    read-only permissions it relies on explained in the comments. Nothing is scanned or contacted.

    The file is created private (0600). An existing file is left alone unless --force.
    """
    from commonmode.config import DEFAULT_CONFIG
    from commonmode.files import write_private
    from commonmode.starter import starter_config

    _setup(verbose, quiet)
    target = Path(out) / DEFAULT_CONFIG if out.endswith(("/", os.sep)) or Path(out).is_dir() else Path(out)
    if target.exists() and not force:
        raise UsageError(f"{target}: already exists; pass --force to overwrite it, or --out another path")
    asked_for = (("aws", aws), ("azure", azure), ("gcp", gcp), ("vault", vault), ("declared", declared))
    providers = {name for name, asked in asked_for if asked}
    text = starter_config(providers or {name for name, _ in asked_for})
    write_private(target, text)
    typer.echo(f"wrote {target}")
    _note(f"next: edit it (names of profiles and env vars, never secrets), then `commonmode scan -c {target}`")


# --- scan ---------------------------------------------------------------------------------------------------

#: scan's override flags: each sets one key of the one connector instance of a type the config has.
OVERRIDES: dict[str, tuple[str, str]] = {"--profile": ("aws", "profile"), "--region": ("aws", "region")}


def _override(cfg: Config, flag: str, value: str) -> Config:
    """`cfg` with `flag`'s key set on its one instance of the connector type the flag belongs to; a usage
    error when there is no such instance or more than one (then the setting lives in the config)."""
    import dataclasses

    from commonmode.logs import register_secret

    kind, key = OVERRIDES[flag]
    instances = [c for c in cfg.connectors if c.connector_type == kind]
    if len(instances) != 1:
        names = ", ".join(c.name for c in instances)
        raise UsageError(f"{flag}: sets `{key}` of the one [[{kind}]] table, but {cfg.path} has {len(instances)}"
                         f"{f' ({names})' if names else ''}; set `{key}` in the [[{kind}]] table it belongs to")
    if key == "profile":
        register_secret(value)  # a key that names a secret: never echoed (README, "Security model")
    one = instances[0]
    changed = dataclasses.replace(one, options={**one.options, key: value})
    return dataclasses.replace(cfg, connectors=tuple(changed if c is one else c for c in cfg.connectors))


@app.command(cls=_Command, short_help="Run every configured connector, correlate, store the run.", epilog=_epilog(
    "scan", "Connector settings live in the config, one table per instance ([[aws]], [[vault]], [[declared]]; "
    "`commonmode init` writes a starter). --profile and --region set that key of the config's one [[aws]] table "
    "for this run only; with several [[aws]] tables they are refused."))
@handles_errors
def scan(
    config: ConfigOpt = None,
    db: DbOpt = None,
    fail_on: Annotated[str | None, typer.Option(
        "--fail-on", metavar=_metavar(SEVERITIES), help="Exit 4 when open findings at or above this severity exist.",
        show_default=False)] = None,
    fmt: ListFormatOpt = "table",
    profile: Annotated[str | None, typer.Option(
        "--profile", metavar="<name>", help="AWS profile for the config's one [[aws]] table (its `profile` key).",
        show_default=False)] = None,
    region: Annotated[str | None, typer.Option(
        "--region", metavar="<region>", help="AWS region for the config's one [[aws]] table (its `region` key).",
        show_default=False)] = None,
    progress: Annotated[bool | None, typer.Option(
        "--progress/--no-progress", help="Progress bars [default: on when stderr is a terminal, off with -q].",
        show_default=False)] = None,
    wait: Annotated[float, typer.Option(
        "--wait", help="If another scan holds the store, wait up to this many seconds for it (then exit 2).",
        min=0)] = 0,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    debug_sdk: DebugSdkOpt = False,
) -> None:
    """Run every configured connector, correlate, and store the run.

    Exit 0 when every connector succeeded, 3 when some failed (the rest is stored and their findings stay
    open), 1 when all failed; with --fail-on, 4 when open findings at or above that severity exist.
    """
    from commonmode.config import load_config, resolve_config_path
    from commonmode.model import RunStatus, Severity
    from commonmode.render.formats import Col, ListFormat, emit
    from commonmode.scan import scan as run_scan
    from commonmode.store import RunStore, ScanLock, queries

    _setup(verbose, quiet, debug_sdk)
    threshold = _severity(fail_on, "--fail-on")
    registry = _registry()
    cfg = load_config(resolve_config_path(config), registry)
    for flag, value in (("--profile", profile), ("--region", region)):
        if value is not None:
            cfg = _override(cfg, flag, value)
    path = db or cfg.store_path
    show_progress = (sys.stderr.isatty() and not quiet) if progress is None else progress
    with ScanLock(path, wait=wait), _interruptible():  # the lock before collecting: a second scan must wait
        store = RunStore.open(path, create=True)
        try:
            with _progress(show_progress) as progress_for:
                outcome = run_scan(cfg, registry, store, progress_for=progress_for)
            active = [f for f in queries.findings(store, outcome.run) if f["status"] != "resolved"]
        finally:
            store.close()
    if outcome.correlation is not None:
        for svc in outcome.correlation.services:
            missing = outcome.correlation.missing(svc.name)
            if missing:
                _note(f"commonmode: warning: service {svc.name}: {len(missing)} path resource(s) not seen by any "
                      f"connector, so it is judged on what was seen: {', '.join(missing[:3])}"
                      f"{' …' if len(missing) > 3 else ''}")
    summary = {
        "run": outcome.run.id,
        "status": outcome.run.status.value,
        "database": str(db or cfg.store_path),
        "connectors": [{"name": r.connector, "type": r.connector_type, "status": r.status.value,
                        "gaps": list(r.gaps)} for r in outcome.results],
        "findings": outcome.run.summary.get("findings", {}),
        "open_by_severity": {s.value: sum(f["severity"] == s.value for f in active) for s in Severity},
    }
    fmt_ = ListFormat(fmt)
    if fmt_ is ListFormat.json:
        emit([], fmt_, [], sys.stdout, document=summary)
    else:
        rows = [{"connector": r.connector, "type": r.connector_type, "status": r.status.value,
                 "gaps": list(r.gaps)} for r in outcome.results]
        emit(rows, fmt_, [("connector", lambda r: r["connector"]), ("type", lambda r: r["type"]),
                          ("status", lambda r: r["status"]), ("gaps", lambda r: r["gaps"])], sys.stdout,
             title=f"run {outcome.run.id}: {outcome.run.status.value}",
             compact=[Col("connector", lambda r: r["connector"], "text"), Col("type", lambda r: r["type"]),
                      Col("status", lambda r: r["status"]),
                      Col("gaps", lambda r: r["gaps"] or "none", "wrap", min=20)])
        if fmt_ is ListFormat.table:
            t = summary["findings"]
            sev = ", ".join(f"{k} {v}" for k, v in summary["open_by_severity"].items())
            typer.echo(f"findings: {t.get('new', 0)} new, {t.get('open', 0)} still open, {t.get('resolved', 0)} "
                       f"resolved, {t.get('carried', 0)} kept open (connector failed)")
            typer.echo(f"open by severity: {sev}")
            carried = outcome.run.summary.get("carried", {})
            if carried:
                from commonmode.render.formats import count

                typer.echo("kept from the run before (connector did not complete): " + "; ".join(
                    f"{name}: " + ", ".join(count(n, *_ROWS_OF.get(table, (table, table)))
                                            for table, n in sorted(by.items()))
                    for name, by in sorted(carried.items())))
            _note(f"next: commonmode findings --db {summary['database']}")
    status = outcome.run.status
    if status is RunStatus.FAILED:
        raise typer.Exit(int(ExitCode.FAILED))
    if threshold is not None and any(Severity(f["severity"]).rank >= threshold.rank for f in active):
        raise typer.Exit(int(ExitCode.THRESHOLD))
    if status is RunStatus.PARTIAL:
        raise typer.Exit(int(ExitCode.PARTIAL))


# --- findings -----------------------------------------------------------------------------------------------

findings_app = typer.Typer(cls=_Group, rich_markup_mode=None, context_settings=CONTEXT, add_completion=False,
                           subcommand_metavar="[show FINGERPRINT]")
app.add_typer(findings_app, name="findings", short_help="List a run's findings; `findings show ID` shows one whole.",
              epilog=_epilog("findings", "One line per finding, most severe first; `commonmode findings show "
                             "FINGERPRINT` (a prefix is enough) prints one whole, with its evidence chain and its "
                             "remediation; --long shows every finding whole."))


def _subject(f: Mapping[str, Any]) -> list[str]:
    return list(f["subjects"])


@findings_app.callback(invoke_without_command=True)
@handles_errors
def findings(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Option("--service", metavar="<name>",
                                                help="Only findings about this service.")] = None,
    rule: Annotated[str | None, typer.Option("--rule", metavar="<rule>",
                                             help="Only this rule (see `commonmode rules`).")] = None,
    severity: Annotated[str | None, typer.Option(
        "--severity", metavar=_metavar(SEVERITIES), help="Only findings at least this severe.")] = None,
    status: Annotated[str | None, typer.Option(
        "--status", parser=_choice(("new", "open", "resolved")), metavar="<new|open|resolved>",
        help="Only findings in this state.")] = None,
    run: RunOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[str, _format_option(FINDINGS_FORMATS, "Output format; ocsf: a JSON list of OCSF Detection "
                                       "Findings (class 2004).")] = "table",
    long: LongOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List the findings of a run (default: the latest), most severe first."""
    if ctx.invoked_subcommand is not None:  # `findings show`: its own options, these as fallbacks
        ctx.obj = {"run": run, "config": config, "db": db}
        return
    from commonmode.correlate import RULES
    from commonmode.render.formats import Col, ListFormat, emit
    from commonmode.store import queries

    _setup(verbose, quiet)
    if rule is not None:
        _known("--rule", "rule", rule, list(RULES))
    sev = _severity(severity, "--severity")
    store = _open_store(config, db)
    try:
        r = _run(store, run)
        if service is not None:
            _known("--service", "service", service, _service_names(store, r), f" in run {r.id}")
        rows = queries.findings(store, r, service=service, rule=rule, severity=sev.value if sev else None,
                                status=status)
        if fmt == "ocsf":
            from commonmode.render.ocsf import to_ocsf

            sys.stdout.write(json.dumps(to_ocsf(store, r, rows), indent=2) + "\n")
            return
    finally:
        store.close()
    emit(rows, ListFormat(fmt), [
        ("severity", lambda f: f["severity"]), ("status", lambda f: f["status"]), ("rule", lambda f: f["rule"]),
        ("service", lambda f: f["service"] or ", ".join(f["services"])), ("subjects", lambda f: f["subjects"]),
        ("evidence", lambda f: f["evidence"]), ("fingerprint", lambda f: f["fingerprint"]),
    ], sys.stdout, title=f"findings of run {r.id}", long=long, compact=[
        Col("severity", lambda f: f["severity"]), Col("rule", lambda f: f["rule"]),
        Col("service", lambda f: f["service"] or ", ".join(f["services"]), "text", min=8),
        Col("subject", _subject, "id", min=16), Col("status", lambda f: f["status"]),
        Col("id", lambda f: f["fingerprint"][:8]),
    ])


def _service_names(store: RunStore, run: RunInfo) -> list[str]:
    return [r["name"] for r in store.rows("SELECT name FROM services WHERE run_id = ? ORDER BY name", [run.id])]


@findings_app.command("show", cls=_Command, short_help="One finding whole: its evidence chain and its remediation.",
                      epilog=_epilog("findings show"))
@handles_errors
def findings_show(
    ctx: typer.Context,
    fingerprint: Annotated[str, typer.Argument(help="A finding's fingerprint, or the start of it (the ID column).")],
    run: RunOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[str, _format_option(("table", "json"), "table: the finding in words; json: its fields.")] = "table",
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """One finding whole: what, where, its evidence as a numbered chain, and how to fix it.

    An ambiguous prefix is a usage error that lists the findings it matches.
    """
    from commonmode.render.formats import printable, terminal_width
    from commonmode.store import queries

    _setup(verbose, quiet)
    parent = ctx.obj or {}
    store = _open_store(config or parent.get("config"), db or parent.get("db"))
    try:
        r = _run(store, run or parent.get("run"))
        wanted = fingerprint.strip().lower()
        matches = [f for f in queries.findings(store, r) if f["fingerprint"].startswith(wanted)]
        if not matches:
            elsewhere = [row["run_id"] for row in store.rows(
                "SELECT DISTINCT run_id FROM findings WHERE fingerprint LIKE ? ORDER BY run_id", [wanted + "%"])]
            where = (f"; it is in run {_runs_named(elsewhere)} (pass --run)" if elsewhere else
                     " (the ID column of `commonmode findings` lists them)")
            raise UsageError(f"{fingerprint}: no finding of run {r.id} has a fingerprint starting so{where}")
    finally:
        store.close()
    if len(matches) > 1:
        listed = "; ".join(f"{f['fingerprint']} ({f['rule']}, {f['service'] or ', '.join(f['services'])})"
                           for f in matches[:10])
        more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
        raise UsageError(f"{fingerprint}: {len(matches)} findings of run {r.id} start so: {listed}{more}; "
                         "give more of the fingerprint")
    f = matches[0]
    if fmt == "json":
        sys.stdout.write(json.dumps(f, indent=2) + "\n")
        return
    for line in _finding_words(f, terminal_width(sys.stdout)):
        typer.echo(printable(line))


def _finding_words(f: Mapping[str, Any], width: int | None) -> list[str]:
    """A finding as text for a terminal: a head line, its fields, the evidence numbered, the remediation;
    wrapped between words to `width` (none when not a terminal)."""
    import textwrap

    def wrap(text: str, indent: str, first: str = "") -> list[str]:
        if width is None:
            return [(first or indent) + text]
        return textwrap.wrap(text, max(width, 40), initial_indent=first or indent, subsequent_indent=indent,
                             break_long_words=False, break_on_hyphens=False) or [first or indent]

    services = ", ".join(f["services"]) or "-"
    lines = [f"{f['severity'].upper()}  {f['rule']}  {services}  ({f['status']})", ""]
    fields = [("fingerprint", f["fingerprint"]), ("service", f["service"] or services),
              ("subjects", ", ".join(f["subjects"])), ("connectors", ", ".join(f["connectors"])),
              ("first seen", f"run {f['first_seen_run']} (this is run {f['run']})")]
    if f["note"]:
        fields.append(("note", f["note"]))
    for name, value in fields:
        lines += wrap(value, " " * 14, f"{name:<12}  ")
    lines += ["", "Evidence"]
    for i, step in enumerate(f["evidence"], 1):
        lines += wrap(step, "      ", f"  {i:>2}. ")
    lines += ["", "Remediation"]
    for para in str(f["remediation"] or "").split("\n"):
        lines += wrap(para, "  ")
    return lines


# --- inventory, access, services, diff ----------------------------------------------------------------------

def _modify_words(i: Mapping[str, Any]) -> str:
    counts: dict[str, int] = {}
    for m in i["can_modify"]:
        counts[m["capability"]] = counts.get(m["capability"], 0) + 1
    words = [f"{cap} {n}" for cap, n in counts.items()]
    if i["can_assume"]:
        words.append(f"acts as {len(i['can_assume'])}")
    return ", ".join(words) or "nothing"


def _credential_words(i: Mapping[str, Any]) -> str:
    from commonmode.render.formats import when

    creds = i["credentials"]
    if not creds:
        return "none"
    expiring = sorted(c["expires"] for c in creds if c["expires"])
    return f"{len(creds)}" + (f", next expires {when(expiring[0])}" if expiring else ", no expiry")


@app.command(cls=_Command, short_help="Identities: what each can modify, whom it acts as, credentials.",
             epilog=_epilog("inventory", "The table counts what each identity can modify; --long, json and csv "
                            "list every grant and credential."))
@handles_errors
def inventory(
    kind: Annotated[str | None, typer.Option("--kind", metavar="<kind>", help="Only identities of this kind (iam-role, "
                                                "vault-role, …).")] = None,
    connector: Annotated[str | None, typer.Option("--connector", metavar="<name>",
                                                  help="Only identities this connector instance saw.")] = None,
    can: Annotated[str | None, typer.Option("--can", metavar="<capability>",
                                            help="Only identities with this capability on something "
                                            "(see README, Capabilities).")] = None,
    identity: Annotated[str | None, typer.Option("--id", metavar="<identity-id>",
                                                 help="Only this identity (its id, as `inventory` lists it).")] = None,
    run: RunOpt = None, config: ConfigOpt = None, db: DbOpt = None,
    fmt: ListFormatOpt = "table",
    long: LongOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Identities, what DNS/failover/secret/certificate resources each can modify, whom each can act as, their
    credentials and owner."""
    from commonmode.model import Capability
    from commonmode.render.formats import Col, ListFormat, emit, when
    from commonmode.store import queries

    _setup(verbose, quiet)
    if can is not None:
        _known("--can", "capability", can, [c.value for c in Capability], plural="capabilities")
    store = _open_store(config, db)
    try:
        r = _run(store, run)
        if kind is not None:
            _known("--kind", "identity kind", kind, queries.inventory_values(store, r, "kind"), f" in run {r.id}")
        if connector is not None:
            _known("--connector", "connector", connector, queries.inventory_values(store, r, "connector"),
                   f" in run {r.id}")
        rows = queries.inventory(store, r, kind=kind, connector=connector, can=can, identity=identity)
        if identity is not None and not rows and identity not in queries.identity_ids(store, r):
            raise UsageError(f"--id {identity}: no identity with this id in run {r.id}; "
                             + queries.did_you_mean(identity, queries.identity_ids(store, r), show_known=False))
    finally:
        store.close()
    emit(rows, ListFormat(fmt), [
        ("id", lambda i: i["id"]), ("kind", lambda i: i["kind"]), ("owner", lambda i: i["owner"]),
        ("can_modify", lambda i: [f"{m['capability']}{'?' if m['conditional'] else ''} {m['resource']}"
                                  for m in i["can_modify"]]),
        ("can_assume", lambda i: [a["identity"] for a in i["can_assume"]]),
        ("credentials", lambda i: [f"{c['kind']} {c['id']}" + (f" expires {when(c['expires'])}" if c["expires"]
                                                              else "") for c in i["credentials"]]),
    ], sys.stdout, title=f"inventory of run {r.id}" + (" ('?' = conditional)" if long else ""), long=long, compact=[
        Col("id", lambda i: i["id"], "id", min=20), Col("kind", lambda i: i["kind"], "text", min=8),
        Col("owner", lambda i: i["owner"] or "none", "text", min=10),
        Col("can modify", _modify_words, "wrap", min=14), Col("credentials", _credential_words, "wrap", min=12),
    ])


def _acting_as(a: Mapping[str, Any]) -> str:
    """`direct`, or the identity whose grant it uses (the last one it can act as along the chain)."""
    if a["direct"]:
        return "direct"
    holders = [step.split(" can act as ", 1)[1].split(" (", 1)[0] for step in a["chain"] if " can act as " in step]
    return holders[-1] if holders else "direct"


@app.command(cls=_Command, short_help="Who can do what to one resource, and through which chain.", epilog=_epilog(
    "access", "On a container (a hosted zone, a Vault mount) it also lists the grants on everything inside it; "
    "ON names the resource each grant is on."))
@handles_errors
def access(
    resource_id: Annotated[str, typer.Argument(help="A resource, store or identity id (see `commonmode inventory`).")],
    run: RunOpt = None, config: ConfigOpt = None, db: DbOpt = None,
    fmt: ListFormatOpt = "table",
    long: LongOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Who can do what to one resource, and the chain that gives it: grants on it, on what contains it, and on
    what is inside it, and who can act as those holders."""
    from commonmode.render.formats import Col, ListFormat, emit, labelled
    from commonmode.store import queries

    _setup(verbose, quiet)
    store = _open_store(config, db)
    try:
        r = _run(store, run)
        rows = queries.access(store, r, resource_id)
    finally:
        store.close()
    emit(rows, ListFormat(fmt), [
        ("identity", lambda a: a["identity"]), ("owner", lambda a: a["owner"]),
        ("capability", lambda a: a["capability"] + (" (conditional)" if a["conditional"] else "")),
        ("on", lambda a: a["on"]), ("chain", lambda a: a["chain"]),
    ], sys.stdout, title=f"access to {resource_id} (run {r.id})", long=long, compact=[
        Col("identity", lambda a: labelled(a["identity"], a.get("identity_name")), "id", min=20),
        Col("capability", lambda a: a["capability"] + ("?" if a["conditional"] else "")),
        Col("on", lambda a: "itself" if a["on"] == resource_id else a["on"], "id", min=16),
        Col("acting as", _acting_as, "id", min=12),
        Col("owner", lambda a: a["owner"] or "none", "text", min=10),
    ])


@app.command(cls=_Command, short_help="Failover pairs, their paths, and who can recover them.",
             epilog=_epilog("services"))
@handles_errors
def services(
    run: RunOpt = None, config: ConfigOpt = None, db: DbOpt = None,
    fmt: ListFormatOpt = "table",
    long: LongOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Failover pairs found by connectors and declared in the config, with their path resources and who can
    fail each over without depending on the primary."""
    from commonmode.render.formats import Col, ListFormat, emit
    from commonmode.store import queries

    _setup(verbose, quiet)
    store = _open_store(config, db)
    try:
        r = _run(store, run)
        rows = queries.services(store, r)
    finally:
        store.close()
    emit(rows, ListFormat(fmt), [
        ("name", lambda s: s["name"]), ("owner", lambda s: s["owner"]), ("source", lambda s: s["source"]),
        ("primary", lambda s: s["primary"]), ("backup", lambda s: s["backup"]),
        ("independent recovery via", lambda s: s["independent_recovery_via"] or "nobody"),
        ("missing", lambda s: s["missing"]),
    ], sys.stdout, title=f"services of run {r.id}", long=long, compact=[
        Col("name", lambda s: s["name"], "text", min=10), Col("owner", lambda s: s["owner"] or "none", "text", min=10),
        Col("primary", lambda s: s["primary"], "id", min=14), Col("backup", lambda s: s["backup"], "id", min=14),
        Col("recovery via", lambda s: s["independent_recovery_via"] or "nobody", "id", min=12),
        Col("missing", lambda s: len(s["missing"]), align="right"),
    ])


@app.command(cls=_Command, short_help="What changed between two runs.", epilog=_epilog("diff"))
@handles_errors
def diff(
    from_run: Annotated[str | None, typer.Option("--from", metavar="<run>",
                                                 help="Older run [default: the one before --to].",
                                                 show_default=False)] = None,
    to_run: Annotated[str | None, typer.Option("--to", metavar="<run>", help="Newer run [default: latest].",
                                                  show_default=False)] = None,
    config: ConfigOpt = None, db: DbOpt = None,
    fmt: ListFormatOpt = "table",
    long: LongOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """What changed between two runs: new and resolved findings, identities that gained or lost DNS/failover
    power."""
    from commonmode.render.formats import Col, ListFormat, emit
    from commonmode.store import queries

    _setup(verbose, quiet)
    store = _open_store(config, db)
    try:
        new = _run(store, to_run or "latest", "--to")
        if from_run is not None:
            old = _run(store, from_run, "--from")
        else:
            earlier = [x for x in store.runs() if x.id < new.id]
            if not earlier:
                raise UsageError(f"--from: no run before run {new.id} to compare it with; stored runs: "
                                 f"{_runs_named([x.id for x in store.runs()])}")
            old = earlier[-1]
        d = queries.diff(store, old, new)
    finally:
        store.close()
    rows = ([{"change": "new finding", "what": f["rule"], "subject": f["subjects"], "service": f["services"]}
             for f in d["new_findings"]]
            + [{"change": "resolved finding", "what": f["rule"], "subject": f["subjects"], "service": f["services"]}
               for f in d["resolved_findings"]]
            + [{"change": "gained power", "what": p["capability"], "subject": p["identity"], "service": p["resource"]}
               for p in d["gained_power"]]
            + [{"change": "lost power", "what": p["capability"], "subject": p["identity"], "service": p["resource"]}
               for p in d["lost_power"]]
            + [{"change": "not compared", "what": c["connector"], "subject": f"run {d['from']}: {c['from']}, "
                f"run {d['to']}: {c['to']}", "service": "its grants are left out of the power comparison"}
               for c in d["not_compared"]])
    emit(rows, ListFormat(fmt), [("change", lambda x: x["change"]), ("rule / capability", lambda x: x["what"]),
                                 ("subject", lambda x: x["subject"]), ("service / resource", lambda x: x["service"])],
         sys.stdout, title=f"diff run {old.id} → run {new.id}", document=d, long=long, compact=[
             Col("change", lambda x: x["change"]), Col("rule / capability", lambda x: x["what"], "text", min=10),
             Col("subject", lambda x: x["subject"], "id", min=16),
             Col("service / resource", lambda x: x["service"], "id", min=16)])


# --- demo, report, review, tickets --------------------------------------------------------------------------

@app.command(cls=_Command, short_help="The whole job on a local sandbox estate (no cloud account).",
             epilog=_epilog("demo"))
@handles_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Where the sandbox config, database and outputs go.")] = Path(
        "reports/demo"),
    keep: Annotated[bool, typer.Option("--keep", help="Leave the emulators running (until Ctrl-C) and print how "
                                       "to scan them by hand.")] = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run the whole job on a local SANDBOX estate: no cloud account, nothing leaves 127.0.0.1.

    Starts moto's AWS server, two OpenBao dev servers and the Azure and GCP stand-ins, seeds a fictional company
    with eight services, runs the real `scan` through the real connectors, writes the HTML report, the review and
    the tickets, and stops every process it started. Needs the demo extra: pip install -e '.[demo]'.
    """
    from commonmode_sandbox.demo import describe, run_demo  # the sandbox: only this command imports it

    _setup(verbose, quiet)
    _note("commonmode demo: this is a SANDBOX — local emulators on 127.0.0.1 and a fictional estate; "
          "no cloud account is touched.")
    try:
        # with --keep, what a user needs while the emulators run (addresses, pids, outputs, exports) is data:
        # stdout, before the wait, and -q does not hide it; it is not printed again when they stop
        result = run_demo(out, _note, keep=keep, tell=typer.echo)
    except KeyboardInterrupt:
        typer.echo("commonmode: interrupted; every emulator was stopped", err=True)
        raise typer.Exit(130) from None
    if keep:
        return
    for line in describe(result):
        typer.echo(line)
    _note(f"open {result.outputs['report']} in a browser; then: commonmode review -c {result.config}, "
          f"commonmode simulate -c {result.config}")


def _report_dir(config: Path | None, db: Path | None) -> Path:
    """Where `report` writes without --out: the config file's folder, else the database's (so a cron job's
    reports sit with its config, not in whatever folder it was started from)."""
    from commonmode.config import resolve_config_path

    if db is None or config is not None:
        path = resolve_config_path(config)
        if path.exists():
            return path.resolve().parent
    if db is not None:
        return db.resolve().parent
    return Path.cwd()


def _written(result: Any) -> list[Path]:
    """Every file `render.report.write` wrote: the run's own `report-run-<id>.<ext>` and, for the newest run,
    the latest copy `report.<ext>` (its ReportPath carries both); a plain path is one file."""
    both = [getattr(result, "run_report", None), getattr(result, "latest", None)]
    paths = [Path(p) for p in both if p is not None]
    return list(dict.fromkeys(paths)) or [Path(result)]


@app.command(cls=_Command, short_help="Write the run report (HTML, Markdown, JSON or OCSF).", epilog=_epilog(
    "report", "Without --out the report goes next to the config (the config file's folder; with only --db, the "
    "database's folder)."))
@handles_errors
def report(
    run: RunOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[str, _format_option(REPORT_FORMATS, "Report format (md is accepted for markdown).",
                                       MARKDOWN_ALIAS)] = "html",
    out: Annotated[Path | None, typer.Option("--out", help="Directory to write the report into [default: the "
                                                "config file's folder].", show_default=False)] = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write the run report: summary, changes since the previous run, each service's two paths with what
    they share, findings with their evidence, standards mapping, inventory.

    HTML is one self-contained file (no network); Markdown suits wikis and pull requests; JSON is for
    other tools (schema in docs/report.md); OCSF is a JSON list of Detection Findings (class 2004), one per
    finding, for a SIEM or security lake.
    """
    from commonmode.render import report as rp

    _setup(verbose, quiet)
    target = out if out is not None else _report_dir(config, db)
    store = _open_store(config, db)
    try:
        r = _run(store, run)
        if fmt == "ocsf":
            from commonmode.files import write_private
            from commonmode.render.ocsf import to_ocsf

            body = json.dumps(to_ocsf(store, r), indent=2) + "\n"  # named as render.report.write names files
            paths = [write_private(target / f"report-run-{r.id}.ocsf.json", body)]
            if store.runs()[-1].id == r.id:
                paths.append(write_private(target / "report.ocsf.json", body))
        else:
            paths = _written(rp.write(store, r, {"markdown": "md"}.get(fmt, fmt), target))
    finally:
        store.close()
    for p in paths:
        typer.echo(f"report written to {p}")


@app.command(cls=_Command, short_help="Who can fail each service over when the primary is down.",
             epilog=_epilog("review", "The table has one block per service; csv has one row per service and "
                            "identity; json and markdown carry each identity's chain and fault domains."))
@handles_errors
def review(
    service: Annotated[str | None, typer.Argument(help="One service [default: every service].",
                                                     show_default=False)] = None,
    run: RunOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[str, _format_option(REVIEW_FORMATS, "Output format (md is accepted for markdown).",
                                       MARKDOWN_ALIAS)] = "table",
    long: LongOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Who can fail each service over when the primary is down: the recovery-permission review.

    For each identity that can change the backup path's DNS or failover state: how it gets there, where its
    credentials live, the fault domains it needs, and whether it works without anything the primary path
    depends on. Ends with a verdict per service.
    """
    from commonmode.render import review as rv
    from commonmode.render.formats import ListFormat, emit, printable, terminal_width

    _setup(verbose, quiet)
    store = _open_store(config, db)
    try:
        r = _run(store, run)
        entries = rv.review(store, r, service)
    finally:
        store.close()
    if fmt == "markdown":
        sys.stdout.write(rv.to_markdown(entries, r))
        return
    flat = rv.rows(entries)
    columns = [("service", lambda o: o["service"]), ("verdict", lambda o: o["verdict"]),
               ("identity", lambda o: o["identity"]), ("independent", lambda o: o["independent"]),
               ("why", lambda o: o["why"]), ("owner", lambda o: o["owner"]), ("changes", lambda o: o["changes"]),
               ("conditional", lambda o: o["conditional"]), ("credentials", lambda o: o["credentials"]),
               ("chain", lambda o: o["chain"])]
    if fmt != "table" or long:
        emit(flat, ListFormat(fmt), columns, sys.stdout, document=entries, long=True,
             title=f"recovery-permission review of run {r.id}")
        return
    for line in _review_words(entries, terminal_width(sys.stdout)):
        sys.stdout.write(printable(line) + "\n")


def _review_words(entries: list[dict[str, Any]], width: int | None) -> list[str]:
    """The review for a terminal: per service its verdict, then per identity that can fail it over whether it
    is independent of the primary (and what it shares with it), its owner and its credentials in words;
    wrapped between words to `width`, an id longer than a line shortened in the middle."""
    import textwrap

    from commonmode.render import review as rv
    from commonmode.render.formats import labelled, shorten_id

    def wrap(text: str, first: str, rest: str) -> list[str]:
        if width is None:
            return [first + text]
        room = max(width, 40)
        lines = textwrap.wrap(text, room, initial_indent=first, subsequent_indent=rest, break_long_words=False,
                              break_on_hyphens=False) or [first]
        return [line if len(line) <= room else line[:len(rest)] + shorten_id(line[len(rest):], room - len(rest))
                for line in lines]

    out: list[str] = []
    for e in entries:
        out += wrap(f"{e['service']} (owner: {e['owner'] or 'none'}): {e['verdict']}", "", "  ")
        if not e["can_fail_over"]:
            out += wrap("nobody can change the backup path's DNS or failover state", "  ", "  ")
        for o in e["can_fail_over"]:
            mark = "✓" if o["independent"] else "✗"
            out += wrap(f"{labelled(o['identity'], o['name'])} (owner: {o['owner'] or 'none'})", f"  {mark} ",
                        "      ")
            shared = o["shared_with_primary"]
            out += wrap("independent of the primary: " + ("yes, it shares nothing with it" if o["independent"] else
                        f"no, it shares {len(shared)} with it: " + ", ".join(shared)), "      ", "        ")
            out += wrap(f"changes {o['changes']}" + (" (conditional grant)" if o["conditional"] else ""),
                        "      ", "        ")
            for c in o["credentials"]:
                out += wrap("credential " + rv.credential_words(c), "      ", "        ")
            if not o["credentials"]:
                out += wrap("no credential recorded", "      ", "        ")
        out.append("")
    return out or ["(none)"]


@app.command(cls=_Command, short_help="What if a provider, region, cluster, CI system or credential is down?",
             epilog=_epilog("simulate", "Several --down (and --down-provider) are one scenario: all down at once. "
                            "With no --down, the standard scenarios (each provider's control plane, each region "
                            "holding a primary, each Vault cluster, the CI system) as a matrix. A --scenarios "
                            "file holds [[scenario]] tables: name, down = [...], down_provider = [...]."))
@handles_errors
def simulate(
    down: Annotated[list[str] | None, typer.Option(
        "--down", metavar="<label|id>", help="A fault-domain label (dns-provider:route53, aws:region:us-east-1, "
        "vault:cluster:ID, ci:github-actions, azure:tenant:ID) or an entity id (an identity, credential, store "
        "or resource: unavailable or revoked). Repeat for more.", show_default=False)] = None,
    down_provider: Annotated[list[str] | None, typer.Option(
        "--down-provider", metavar="<provider>", help="Every label of that provider's control plane: aws, azure, "
        "gcp, vault, github, gitlab, kubernetes. Repeatable.", show_default=False)] = None,
    scenarios: Annotated[Path | None, typer.Option(
        "--scenarios", help="A TOML file of named scenarios: prints a service × scenario matrix.",
        show_default=False)] = None,
    service: Annotated[str | None, typer.Option("--service", help="One service [default: every service].",
                                                show_default=False)] = None,
    run: RunOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[str, _format_option(REVIEW_FORMATS, "Output format (md is accepted for markdown).",
                                       MARKDOWN_ALIAS)] = "table",
    long: LongOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Which services still fail over, and who can still do it, when something is down: from a stored run,
    no provider is called.

    For each service: whether its backup path still resolves and serves (nothing it needs is down), and who can
    still switch traffic to it: each identity that can change the backup's DNS or failover state whose whole
    chain (itself, whom it acts as, a credential it can start with and where that is kept, their providers)
    avoids what is down. Verdict: `fails over`, `backup up, nobody can switch`, `backup down`.
    """
    from commonmode import simulate as sm
    from commonmode.render import simulate as rs
    from commonmode.render.formats import Col, ListFormat, emit
    from commonmode.store.queries import did_you_mean

    _setup(verbose, quiet)
    if scenarios is not None and (down or down_provider):
        raise UsageError("--scenarios and --down/--down-provider: pass the scenarios in the file, or one scenario "
                         "on the command line")
    store = _open_store(config, db)
    try:
        r = _run(store, run)
        sim = sm.load(store, r)
        if service is not None and service not in sim.graphs:
            raise UsageError(f"--service {service!r}: no such service in run {r.id}: "
                             + did_you_mean(service, sim.graphs, what="services"))
        if scenarios is not None:
            wanted = sm.read_scenarios(scenarios)
            where = str(scenarios)
        elif down or down_provider:
            name = ", ".join([*(down or []), *(f"{p} (provider)" for p in down_provider or [])])
            wanted = [sm.Scenario(name=name, down=tuple(down or ()), providers=tuple(down_provider or ()))]
            where = "--down"
        else:
            wanted = sm.standard_scenarios(store, r, sim)
            where = "standard scenarios"
        for note in sm.check(store, r, sim, wanted, where):
            if where != "standard scenarios":  # a standard scenario nothing depends on is an answer, not a slip
                _note(note)
        results = sm.run_scenarios(sim, wanted, [service] if service else None)
    finally:
        store.close()
    if fmt == "markdown":
        sys.stdout.write(rs.to_markdown(results, r.id))
        return
    if fmt == "json":
        document: Any = results[0].to_json() if len(results) == 1 and where == "--down" else [
            x.to_json() for x in results]
        emit([], ListFormat.json, [], sys.stdout, document=document)
        return
    flat = rs.rows(results)
    columns = [("scenario", lambda o: o["scenario"]), ("service", lambda o: o["service"]),
               ("verdict", lambda o: o["verdict"]), ("backup_up", lambda o: o["backup_up"]),
               ("can_switch", lambda o: o["can_switch"]), ("blocked_by", lambda o: o["blocked_by"])]
    if fmt == "csv" or long:
        emit(flat, ListFormat(fmt), columns, sys.stdout, long=True, title=f"simulation on run {r.id}")
        return
    if len(results) == 1:
        emit(flat, ListFormat.table, columns, sys.stdout, title=f"run {r.id}, down: {', '.join(results[0].down)}",
             compact=[Col("service", lambda o: o["service"], "text"), Col("verdict", lambda o: o["verdict"]),
                      Col("who can still switch, or what blocks it", lambda o: o["detail"], "wrap")])
        return
    def cell(name: str) -> Callable[[Mapping[str, Any]], Any]:
        return lambda o: o[name]

    emit(rs.matrix(results), ListFormat.table, [], sys.stdout, title=f"run {r.id}: service × scenario",
         compact=[Col("service", cell("service"), "text"), *(Col(x.scenario.name, cell(x.scenario.name), "wrap")
                                                            for x in results)])


@app.command(cls=_Command, short_help="Remediation tickets, one per owner's group of findings.",
             epilog=_epilog("tickets"))
@handles_errors
def tickets(
    run: RunOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[str, _format_option(TICKET_FORMATS, "Ticket format (md is accepted for markdown).",
                                       MARKDOWN_ALIAS)] = "markdown",
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write into this directory instead of stdout: tickets.md (markdown), tickets-jira.csv "
        "(jira-csv), tickets-github.json (github-json) or tickets.json (json).", show_default=False)] = None,
    min_severity: Annotated[str | None, typer.Option(
        "--min-severity", metavar=_metavar(SEVERITIES), help="Only tickets at least this severe.")] = None,
    include_open: Annotated[bool, typer.Option(
        "--all", help="Also list tickets already filed by an earlier run.")] = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Remediation tickets: one per group of findings one owner can fix, routed to that owner.

    Deduplicated across runs: only groups that are new since the previous run are listed (plus "can be
    closed" entries for groups resolved since); --all adds the ones still open.
    """
    from commonmode.files import write_private
    from commonmode.render import tickets as tk

    _setup(verbose, quiet)
    sev = _severity(min_severity, "--min-severity")
    store = _open_store(config, db)
    try:
        items = tk.tickets(store, _run(store, run), min_severity=sev.value if sev else None,
                           include_open=include_open)
    finally:
        store.close()
    render: dict[str, Callable[[list[dict[str, Any]]], str]] = {
        "markdown": tk.to_markdown, "jira-csv": tk.to_jira_csv, "github-json": tk.to_github_json,
        "json": lambda xs: json.dumps(xs, indent=2) + "\n",
    }
    body = render[fmt](items)
    if out is None:
        sys.stdout.write(body)
        return
    name = write_private(out / TICKET_FILES[fmt], body)
    typer.echo(f"{len(items)} ticket(s) written to {name}")


# --- runs, connectors, rules --------------------------------------------------------------------------------

#: What a row of each history table is, in words (singular, plural).
_ROWS_OF = {"identities": ("identity", "identities"), "credentials": ("credential", "credentials"),
            "stores": ("store", "stores"), "resources": ("resource", "resources"), "grants": ("grant", "grants"),
            "services": ("service", "services"), "recovery": ("recovery option", "recovery options"),
            "failover": ("failover graph", "failover graphs")}


def _findings_words(summary: Mapping[str, Any]) -> str:
    f = summary.get("findings", {})
    words = [f"{f.get('new', 0)} new", f"{f.get('open', 0)} open", f"{f.get('resolved', 0)} resolved"]
    if f.get("carried"):
        words.append(f"{f['carried']} kept open")
    return ", ".join(words)


def _estate_words(summary: Mapping[str, Any]) -> str:
    from commonmode.render.formats import count

    words = [count(summary.get("identities", 0), "identity", "identities"), count(summary.get("grants", 0), "grant"),
             count(summary.get("services", 0), "service")]
    bad = [f"{name} {status}" for name, status in summary.get("connectors", {}).items() if status != "ok"]
    carried = [f"kept {count(sum(by.values()), 'row')} of {name} from before"
               for name, by in summary.get("carried", {}).items()]
    return ", ".join(words) + (f"; {', '.join([*bad, *carried])}" if bad or carried else "")


@app.command(cls=_Command, short_help="Stored runs with their status and counts.", epilog=_epilog("runs"))
@handles_errors
def runs(config: ConfigOpt = None, db: DbOpt = None, fmt: ListFormatOpt = "table", long: LongOpt = False,
         verbose: VerboseOpt = False, quiet: QuietOpt = False) -> None:
    """Stored runs with their status, what each saw and its findings by lifecycle."""
    from commonmode.render.formats import Col, ListFormat, emit, when

    _setup(verbose, quiet)
    store = _open_store(config, db)
    try:
        rows = [{"id": r.id, "started": r.started, "finished": r.finished, "status": r.status.value,
                 "summary": dict(r.summary)} for r in store.runs()]
    finally:
        store.close()
    emit(rows, ListFormat(fmt), [("id", lambda r: r["id"]), ("started", lambda r: r["started"]),
                                 ("finished", lambda r: r["finished"]), ("status", lambda r: r["status"]),
                                 ("summary", lambda r: r["summary"])], sys.stdout, long=long, compact=[
        Col("id", lambda r: r["id"], align="right"), Col("started", lambda r: when(r["started"])),
        Col("status", lambda r: r["status"]), Col("findings", lambda r: _findings_words(r["summary"]), "wrap", min=14),
        Col("saw", lambda r: _estate_words(r["summary"]), "wrap", min=14)])


def _prune_from(runs: Sequence[RunInfo], keep_runs: int | None, before: str | None) -> tuple[int | None, str]:
    """The first run `prune` keeps (None: nothing to prune) and a note for the user. Runs go in id order, and
    what is dropped is always every run before the first kept one: with --before, the runs up to the first
    that started on or after DATE (a run started before it but stored after a later one stays)."""
    if (keep_runs is None) == (before is None):
        raise UsageError("prune: pass --keep-runs N or --before DATE" + (", not both" if keep_runs else ""))
    if keep_runs is not None:
        if keep_runs < 1:
            raise UsageError(f"--keep-runs {keep_runs}: expected at least 1 (the newest run is always kept)")
        return (runs[-keep_runs].id if len(runs) > keep_runs else None), ""
    assert before is not None
    try:
        cut = datetime.fromisoformat(before)
    except ValueError:
        raise UsageError(f"--before {before!r}: expected a date or time (2026-01-31, 2026-01-31T12:00:00+00:00)") \
            from None
    cut = cut if cut.tzinfo else cut.replace(tzinfo=UTC)
    older = list(itertools.takewhile(lambda r: datetime.fromisoformat(r.started) < cut, runs))
    note = ""
    if older and len(older) == len(runs):
        older = older[:-1]
        note = f"; the newest run (run {runs[-1].id}) is always kept"
    return (runs[len(older)].id if older else None), note


@app.command(cls=_Command, short_help="Drop old runs and the history only they hold; give the space back.",
             epilog=_epilog("prune", "Rows that still held in the first kept run stay (they start there); "
                            "findings keep their first_seen_run. Takes the scan lock: it waits for no scan "
                            "unless --wait. A store written before schema 6 is migrated first (not with "
                            "--dry-run, which changes nothing)."))
@handles_errors
def prune(
    keep_runs: Annotated[int | None, typer.Option(
        "--keep-runs", metavar="N", help="Keep the newest N runs; drop the older ones.", show_default=False)] = None,
    before: Annotated[str | None, typer.Option(
        "--before", metavar="DATE", help="Drop the runs started before DATE (YYYY-MM-DD, or an ISO time; UTC "
        "unless it names a zone).", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be dropped, and change nothing.")] = False,
    wait: Annotated[float, typer.Option(
        "--wait", help="If a scan holds the store, wait up to this many seconds for it (then exit 2).", min=0)] = 0,
    config: ConfigOpt = None, db: DbOpt = None,
    fmt: Annotated[str, _format_option(("table", "json"))] = "table",
    verbose: VerboseOpt = False, quiet: QuietOpt = False,
) -> None:
    """Drop the runs before a point, their connector statuses and findings, and every history row that ended
    before it, then VACUUM the file and say what that freed."""
    from commonmode.render.formats import count
    from commonmode.store import RunStore, ScanLock
    from commonmode.store.history import Pruned, prunable
    from commonmode.store.history import prune as drop

    _setup(verbose, quiet)
    path, hint = _store_path(config, db)
    report: dict[str, Any] = {"database": str(path), "dry_run": dry_run, "runs": [], "rows": {},
                              "bytes_before": _file_bytes(path), "bytes_after": None, "freed_bytes": None}
    store = RunStore.open(path, hint=hint)  # read-only: the checks of every read command, nothing written
    try:
        first, note = _prune_from(store.runs(), keep_runs, before)  # usage errors before any lock
        done = Pruned(runs=[], rows={})
        if dry_run and first is not None:
            if store.intervals:
                done = prunable(store.conn, first)
            else:
                done = Pruned(runs=[r.id for r in store.runs() if r.id < first], rows={})
                note += (f"; {path} predates history intervals (schema 6): prune without --dry-run migrates it "
                         "first, and history rows are counted after that")
    finally:
        store.close()
    busy = False
    if not dry_run and first is not None:
        with ScanLock(path, wait=wait), _interruptible():
            store = RunStore.open(path, create=True)
            try:
                first, note = _prune_from(store.runs(), keep_runs, before)  # again: a scan may have just ended
                if first is not None:
                    done = drop(store.conn, first)
                    store.conn.execute("VACUUM")
                    store.conn.execute("PRAGMA busy_timeout = 2000")  # a reader keeps the WAL: do not wait a minute
                    busy = bool(store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
            finally:
                store.close()
        report["bytes_after"] = _file_bytes(path)
        report["freed_bytes"] = max(0, report["bytes_before"] - report["bytes_after"])
        if busy:
            note += ("; another process has the database open, so its write-ahead log keeps the space until it "
                     "closes")
    report.update(runs=done.runs, rows=done.rows, note=note.lstrip("; "))
    if fmt == "json":
        typer.echo(json.dumps(report, indent=2))
        return
    if not report["runs"]:
        typer.echo(f"nothing to prune in {path}{note}")
        return
    rows = f" and {count(sum(report['rows'].values()), 'history row')} that ended before run {first}" \
        if report["rows"] else f" (run {first} is the first kept)"
    what = f"runs {_runs_named(report['runs'])} ({count(len(report['runs']), 'run')}){rows}"
    if dry_run:
        typer.echo(f"would prune {what}{note}; nothing was changed (--dry-run)")
        return
    typer.echo(f"pruned {what}{note}; {path} went from {_bytes_words(report['bytes_before'])} to "
               f"{_bytes_words(report['bytes_after'])} (freed {_bytes_words(report['freed_bytes'])})")


def _bytes_words(n: int) -> str:
    """`812 KB`, `3.4 MB`, `1.2 GB` (powers of 1000, as `ls -h --si`)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def _file_bytes(db: Path) -> int:
    """The database's size with its WAL."""
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())


@app.command(cls=_Command, short_help="Installed connectors (nothing is imported).", epilog=_epilog("connectors"))
@handles_errors
def connectors(fmt: ListFormatOpt = "table", verbose: VerboseOpt = False, quiet: QuietOpt = False) -> None:
    """Installed connectors (entry points in the `commonmode.connectors` group), without importing them."""
    from commonmode.render.formats import Col, ListFormat, emit

    _setup(verbose, quiet)
    reg = _registry()
    rows = []
    for name in reg.names():
        e = reg.entry(name)
        assert e is not None
        rows.append({"name": name, "distribution": e.distribution, "builtin": e.builtin, "target": e.entry_point.value})
    rows += [{"name": s, "distribution": "", "builtin": False, "target": "shadowed: not loaded"} for s in reg.shadowed]
    emit(rows, ListFormat(fmt), [("name", lambda r: r["name"]), ("distribution", lambda r: r["distribution"]),
                                 ("built-in", lambda r: r["builtin"]), ("entry point", lambda r: r["target"])],
         sys.stdout, compact=[Col("name", lambda r: r["name"]),
                              Col("distribution", lambda r: r["distribution"], "text"),
                              Col("built-in", lambda r: r["builtin"]),
                              Col("entry point", lambda r: r["target"], "text", min=16)])


@app.command(cls=_Command, short_help="The rules findings come from, and how to fix each.", epilog=_epilog("rules"))
@handles_errors
def rules(fmt: ListFormatOpt = "table", long: LongOpt = False, verbose: VerboseOpt = False,
          quiet: QuietOpt = False) -> None:
    """The rules findings come from: what each finds, how it decides severity, and how to fix it."""
    from commonmode.correlate import RULES
    from commonmode.render.formats import Col, ListFormat, emit

    _setup(verbose, quiet)
    rows = [{"rule": r.name, "summary": r.summary, "severity": getattr(r, "severity_rule", None),
             "remediation": r.remediation} for r in RULES.values()]
    emit(rows, ListFormat(fmt), [("rule", lambda r: r["rule"]), ("summary", lambda r: r["summary"]),
                                 ("severity", lambda r: r["severity"]), ("remediation", lambda r: r["remediation"])],
         sys.stdout, long=long, compact=[Col("rule", lambda r: r["rule"]),
                                         Col("finds", lambda r: r["summary"], "wrap", min=20),
                                         Col("remediation", lambda r: r["remediation"], "wrap", min=20)])


def _version(value: bool) -> None:
    if value:
        from commonmode import __version__

        typer.echo(f"commonmode {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                                callback=_version)] = False) -> None:
    """Find what a service's primary and backup paths share."""


def main() -> None:
    """Console-script entry point. A usage error (unknown flag, bad choice, missing argument) is one line on
    stderr starting `commonmode: error:` and exit 2, as every other usage error is (README, "Exit codes"):
    click's own boxed message is not shown. A reader that goes away (`commonmode --help | head`) ends it
    quietly with 0."""
    try:
        code = app(standalone_mode=False)
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not in the interpreter's final flush
    except ClickUsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        message = exc.format_message().replace("Value error, ", "")
        if not message.strip():  # no command at all: the help was shown, as no_args_is_help asks
            raise SystemExit(exc.exit_code) from None
        typer.echo(f"commonmode: error: {message}{hint}", err=True)
        raise SystemExit(int(ExitCode.USAGE)) from None
    except typer.Abort:
        typer.echo("commonmode: interrupted", err=True)
        raise SystemExit(130) from None
    except BrokenPipeError:  # `commonmode --help | head`: the reader went away
        _stdout_closed()
        raise SystemExit(0) from None
    except SystemExit as exc:
        # typer's main turns EPIPE (help written to a closed pipe) into exit 1 after wrapping stdout in click's
        # PacifyFlushWrapper, which marks exactly that case: the reader went away, which is not a failure.
        if exc.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
            raise SystemExit(0) from None
        raise
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
