"""`commonmode demo`: start the local emulators, seed Acme Parcel, scan it for real, write the outputs."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from commonmode.sandbox.estate import DECLARED_FILE, SeededEstate, config_text, declared_text, seed_aws, seed_vault
from commonmode.sandbox.servers import Sandbox

VAULT_TOKEN = "sandbox-root"  # the dev servers' root token, used only to seed; revoked before the scan
TOKEN_ENVS = {"vault-east": "COMMONMODE_SANDBOX_VAULT_EAST_TOKEN", "vault-west": "COMMONMODE_SANDBOX_VAULT_WEST_TOKEN"}


@dataclass
class DemoResult:
    config: Path
    database: Path
    outputs: dict[str, Path]
    run_status: str
    findings: dict[str, int]
    estate: SeededEstate
    gaps: list[str]
    started: dict[str, object]  # what was started: {"aws": endpoint, "vault": {name: url}, "pids": [...]}


def sandbox_env(tokens: dict[str, str]) -> dict[str, str]:
    """What a shell needs to scan the sandbox by hand (emulator credentials and the scanner tokens)."""
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            **{TOKEN_ENVS[name]: token for name, token in tokens.items()}}


def start(sandbox: Sandbox, say: Callable[[str], None]) -> tuple[SeededEstate, str, str, dict[str, str]]:
    say("starting moto's AWS server and two OpenBao dev servers on 127.0.0.1 …")
    aws = sandbox.start_aws()
    east = sandbox.start_vault("vault-east", VAULT_TOKEN)
    west = sandbox.start_vault("vault-west", VAULT_TOKEN)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    os.environ.update(sandbox_env({}))
    say("seeding Acme Parcel: an organization with 3 AWS accounts, 2 Vault clusters, 5 services …")
    est = seed_aws(aws)
    tokens = seed_vault(east, west, VAULT_TOKEN, est)
    os.environ.update(sandbox_env(tokens))
    return est, east, west, tokens


def run_demo(out: Path, say: Callable[[str], None], *, keep: bool = False,
             tell: Callable[[str], None] | None = None) -> DemoResult:
    """The whole job on the sandbox: scan, store, report, review, tickets (Markdown, Jira CSV, GitHub JSON).

    `say` gets progress lines. With `keep`, the emulators stay up until Ctrl-C (or SIGTERM): before waiting,
    `tell` (default: `say`) gets every line a user needs (`kept`): addresses, process ids, outputs, config,
    and the shell exports; the last one starts with WAITING."""
    from commonmode.config import load_config
    from commonmode.connector import Registry, no_progress
    from commonmode.files import private_dir, write_private
    from commonmode.render import report as rp
    from commonmode.render import review as rv
    from commonmode.render import tickets as tk
    from commonmode.scan import scan
    from commonmode.store import RunStore

    private_dir(out)
    db = out / "commonmode.db"
    for stale in (db, out / "commonmode.db-wal", out / "commonmode.db-shm"):
        stale.unlink(missing_ok=True)
    sandbox = Sandbox()
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        est, east, west, tokens = start(sandbox, say)
        cfg = out / "commonmode.toml"
        write_private(cfg, config_text(sandbox.aws, east, west, est))
        write_private(out / DECLARED_FILE, declared_text())
        say(f"scanning with the real connectors (aws, vault ×2, and {DECLARED_FILE} for NS1, which has none) …")
        registry = Registry.discover()
        config = load_config(cfg, registry)
        store = RunStore.open(db, create=True)
        try:
            outcome = scan(config, registry, store, progress_for=lambda name: no_progress)
            run = outcome.run
            outputs = {
                "report": rp.write(store, run, "html", out),
                "report (markdown)": rp.write(store, run, "md", out),
            }
            outputs["review"] = write_private(out / "review.md", rv.to_markdown(rv.review(store, run), run))
            items = tk.tickets(store, run)
            outputs["tickets"] = write_private(out / "tickets.md", tk.to_markdown(items))
            # the same names as in reports/sample (sandbox/sample.py FILES)
            outputs["tickets (jira csv)"] = write_private(out / "tickets-jira.csv", tk.to_jira_csv(items))
            outputs["tickets (github json)"] = write_private(out / "tickets-github.json", tk.to_github_json(items))
        finally:
            store.close()
        result = DemoResult(config=cfg, database=db, outputs=outputs, run_status=run.status.value,
                            findings=dict(run.summary.get("findings", {})), estate=est,
                            gaps=[g for r in outcome.results for g in r.gaps],
                            started={"aws": sandbox.aws, "vault": dict(sandbox.vaults), "pids": sandbox.pids})
        if keep:
            _keep(result, tokens, tell or say, say)
        return result
    finally:
        sandbox.close()
        signal.signal(signal.SIGTERM, previous)


#: The last line `demo --keep` says before it waits.
WAITING = "the emulators stay up until you press Ctrl-C"


def kept(result: DemoResult, tokens: dict[str, str]) -> list[str]:
    """Everything a user needs while the emulators stay up: where each one listens and its process id,
    the outputs, the config, and the shell lines to scan the sandbox by hand."""
    vault_pids = dict(zip(result.started["vault"], result.started["pids"]))  # type: ignore[call-overload]
    cfg = result.config
    return [
        "the sandbox is up (127.0.0.1 only):",
        f"  aws (moto server): {result.started['aws']}, in this process (pid {os.getpid()})",
        *(f"  {name} (OpenBao dev server): {url}, pid {vault_pids[name]}"
          for name, url in result.started["vault"].items()),  # type: ignore[attr-defined]
        *describe(result),
        "to scan it by hand, in another shell:",
        *(f"  export {k}={v}" for k, v in sandbox_env(tokens).items()),
        f"  commonmode scan -c {cfg}",
        f"  commonmode review -c {cfg}",
        f"  commonmode access -c {cfg} <resource id from `commonmode services -c {cfg}`>",
        f"{WAITING} (or SIGTERM to pid {os.getpid()}); then every one of them is stopped.",
    ]


def _keep(result: DemoResult, tokens: dict[str, str], tell: Callable[[str], None],
          say: Callable[[str], None]) -> None:
    """Say everything first, then wait for Ctrl-C (or SIGTERM, which run_demo turns into the same)."""
    for line in kept(result, tokens):
        tell(line)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        say("stopping the emulators …")


def describe(result: DemoResult) -> list[str]:
    f = result.findings
    return [f"scan: {result.run_status}; {f.get('new', 0)} findings",
            *(f"gap: {g}" for g in result.gaps),
            *(f"{name}: {path}" for name, path in result.outputs.items()),
            f"config: {result.config}", f"database: {result.database}"]


__all__ = ["run_demo", "describe", "kept", "DemoResult", "WAITING"]
