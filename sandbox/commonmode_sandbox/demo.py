"""`commonmode demo`: start the local emulators, seed Acme Parcel, scan it for real, write the outputs."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from commonmode_sandbox import azure_part, estate, gcp_part
from commonmode_sandbox.estate import Running, SeededEstate
from commonmode_sandbox.servers import Servers, bao_binary, require


class Started(TypedDict):
    """What the demo started: moto's endpoint, each OpenBao cluster's URL, and their process ids (in order), the
    Azure stand-in's URL per API (token endpoint, ARM, Graph), and the GCP stand-ins' addresses (gcp_part.addresses:
    the IAM port, the REST APIs' root URL, the gRPC server behind the IAM port)."""

    aws: str
    vault: dict[str, str]
    pids: list[int]
    azure: dict[str, str]
    gcp: dict[str, str]


@dataclass
class DemoResult:
    config: Path
    database: Path
    outputs: dict[str, Path]
    run_status: str
    findings: dict[str, int]
    estate: SeededEstate
    gaps: list[str]
    started: Started
    env: dict[str, str]  # what a shell needs to scan the sandbox by hand
    #: secret values the sandbox holds that no output may contain: the Azure stand-in's (its applications'
    #: client secrets, the scanner's among them, and every access token it issued during the scan) and the GCP
    #: stand-ins' (secret payloads, the scanner's private key, every access token they issued)
    canaries: list[str]
    #: writes the Azure and GCP stand-ins refused ("azure: METHOD path", "gcp: …"): a read-only scan makes none
    refused: list[str]
    standin_failures: list[str]  # the stand-ins' handler errors ("azure: …", "gcp: …"): a stand-in bug when not empty


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

    require(*estate.NEEDS, *azure_part.NEEDS, *gcp_part.NEEDS)  # before anything starts or is written
    bao_binary()
    private_dir(out)
    db = out / "commonmode.db"
    for stale in (db, out / "commonmode.db-wal", out / "commonmode.db-shm"):
        stale.unlink(missing_ok=True)
    servers = Servers()
    running: Running | None = None
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        running = estate.start(servers, say, out)  # it writes the files the config names, beside it
        cfg = out / "commonmode.toml"
        write_private(cfg, running.config_text())
        say("scanning with the real connectors (aws, vault ×2, azure, gcp) …")
        registry = Registry.discover()
        config = load_config(cfg, registry)
        store = RunStore.open(db, create=True)
        try:
            outcome = scan(config, registry, store, progress_for=lambda name: no_progress)
            run = outcome.run
            outputs: dict[str, Path] = {
                "report": rp.write(store, run, "html", out),
                "report (markdown)": rp.write(store, run, "md", out),
            }
            outputs["review"] = write_private(out / "review.md", rv.to_markdown(rv.review(store, run), run))
            items = tk.tickets(store, run)
            outputs["tickets"] = write_private(out / "tickets.md", tk.to_markdown(items))
            # the same names as in reports/sample (scripts/sample.py FILES)
            outputs["tickets (jira csv)"] = write_private(out / "tickets-jira.csv", tk.to_jira_csv(items))
            outputs["tickets (github json)"] = write_private(out / "tickets-github.json", tk.to_github_json(items))
        finally:
            store.close()
        result = DemoResult(config=cfg, database=db, outputs=outputs, run_status=run.status.value,
                            findings=dict(run.summary.get("findings", {})), estate=running.estate,
                            gaps=[g for r in outcome.results for g in r.gaps],
                            started={"aws": running.aws, "vault": dict(running.vaults), "pids": servers.pids,
                                     "azure": azure_part.addresses(running.azure),
                                     "gcp": gcp_part.addresses(running.gcp)},
                            env=running.env(),
                            canaries=[*running.azure_seed.estate.canaries(), *running.gcp_seed.estate.canaries()],
                            refused=[*(f"azure: {r}" for r in running.azure.refused),
                                     *(f"gcp: {r}" for r in running.gcp.refused)],
                            standin_failures=[*(f"azure: {f}" for f in running.azure.failures),
                                              *(f"gcp: {f}" for f in running.gcp.failures)])
        if keep:
            _keep(result, tell or say, say)
        return result
    finally:
        if running is not None:
            running.close()
        servers.close()
        signal.signal(signal.SIGTERM, previous)


#: The last line `demo --keep` says before it waits.
WAITING = "the emulators stay up until you press Ctrl-C"


def kept(result: DemoResult) -> list[str]:
    """Everything a user needs while the emulators stay up: where each one listens and its process id,
    the outputs, the config, and the shell lines to scan the sandbox by hand."""
    vault_pids = dict(zip(result.started["vault"], result.started["pids"], strict=True))  # one pid per OpenBao server
    cfg = result.config
    return [
        "the sandbox is up (127.0.0.1 only):",
        f"  aws (moto server): {result.started['aws']}, in this process (pid {os.getpid()})",
        *(f"  {name} (OpenBao dev server): {url}, pid {vault_pids[name]}"
          for name, url in result.started["vault"].items()),
        *(f"  azure {api} (commonmode's stand-in): {url}, in this process (pid {os.getpid()})"
          for api, url in result.started["azure"].items()),
        f"  azure's test CA (the config's ca_bundle): {cfg.parent / azure_part.CA_FILE}",
        *(f"  gcp {api} (commonmode's stand-in): {address}, in this process (pid {os.getpid()})"
          for api, address in result.started["gcp"].items()),
        f"  gcp's test CA (the config's ca_bundle): {cfg.parent / gcp_part.CA_FILE}",
        f"  gcp's scanner key ({gcp_part.CREDENTIALS_ENV}): {cfg.parent / gcp_part.KEY_FILE}",
        *describe(result),
        "to scan it by hand, in another shell:",
        *(f"  export {k}={v}" for k, v in result.env.items()),
        f"  commonmode scan -c {cfg}",
        f"  commonmode review -c {cfg}",
        f"  commonmode simulate -c {cfg} --down dns-provider:route53",
        f"  commonmode access -c {cfg} <resource id from `commonmode services -c {cfg}`>",
        f"{WAITING} (or SIGTERM to pid {os.getpid()}); then every one of them is stopped.",
    ]


def _keep(result: DemoResult, tell: Callable[[str], None], say: Callable[[str], None]) -> None:
    """Say everything first, then wait for Ctrl-C (or SIGTERM, which run_demo turns into the same)."""
    for line in kept(result):
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


__all__ = ["WAITING", "DemoResult", "Started", "describe", "kept", "run_demo"]
