"""Hostile names from the estate stay text (issue 12, 10 and 11): in Markdown tickets, GitHub issue bodies,
the review and the Markdown report no link, image, heading, HTML or mention comes from estate data; terminal
tables carry no control sequence. The estate is a real OpenBao server whose entity metadata and KV
custom_metadata hold the hostile values (Vault stores any string there, newlines and ESC included)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

hvac = pytest.importorskip("hvac")
markdown_it = pytest.importorskip("markdown_it")


HOSTILE = ("](http://evil.example/x) [click here\n## Approved by security\n<script>alert(1)</script> "
           "<img src=x onerror=alert(1)> @acme/security-team ![img](http://evil.example/i.png) "
           "www.evil.example \x1b]8;;http://evil.example\x1b\\osc-link\x1b]8;;\x1b\\ \x1b[31mred\x1b[0m "
           "[link=http://evil.example]rich[/link] \u202eevil")


@pytest.fixture
def hostile_estate(bao, tmp_path):
    v = hvac.Client(url=bao, token="root")
    v.sys.create_or_update_acl_policy(name="dns-both", policy='path "secret/data/dns/*" { capabilities = ["read"] }')
    for path in ("dns/primary", "dns/backup"):
        v.secrets.kv.v2.create_or_update_secret(path=path, secret={"value": "canary-HOSTILE-7d2e"})
        # KV custom_metadata refuses unprintable characters; entity metadata below takes them all
        v.secrets.kv.v2.update_metadata(path=path, custom_metadata={"owner": re.sub("[^ -~]", "", HOSTILE)})
    v.sys.enable_auth_method("userpass")
    accessor = v.sys.list_auth_methods()["userpass/"]["accessor"]
    v.auth.userpass.create_or_update_user("dns-bot", password="canary-HOSTILE-pw", token_policies=["dns-both"])
    entity = v.secrets.identity.create_or_update_entity(name="dns-bot", metadata={"owner": HOSTILE})["data"]["id"]
    v.secrets.identity.create_or_update_entity_alias(name="dns-bot", canonical_id=entity, mount_accessor=accessor)
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[vault]]\nname = "ops"\nurl = "{bao}"\n\n'
                   '[[service]]\nname = "api ## Approved"\nowner = "@acme/edge"\n'
                   'primary = ["secret/dns/primary"]\nbackup = ["secret/dns/backup"]\n')
    return cfg


def run(cfg: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([sys.executable, "-m", "commonmode.cli", *args, "-c", str(cfg)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "VAULT_TOKEN": "root", **(env or {})})
    assert proc.returncode in (0, 3, 4), proc.stderr
    return proc.stdout


def assert_inert(markdown: str, *, headings_allowed: int) -> None:
    """markdown-it (CommonMark + GFM tables and strikethrough) finds nothing the estate injected. GitHub's
    autolinks (www., http://, which markdown-it's fuzzier linkify does not match the same way) and mentions are
    checked on the rendered text."""
    md = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
    tokens = md.parse(markdown)
    injected = [(c.type, t.content) for t in tokens for c in [t, *(t.children or [])]
                if c.type in ("link_open", "image", "html_inline", "html_block")]
    assert not injected, injected
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert len(headings) <= headings_allowed and not any(h.startswith("Approved") for h in headings), headings
    text = " ".join(c.content for t in tokens for c in (t.children or []) if c.type == "text")
    assert not re.search(r"@[A-Za-z0-9]", text), "a mention would reach GitHub"
    assert not re.search(r"(?i)\bwww\.|https?://", text), "GitHub would autolink this"
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e]", markdown), "control characters"


def test_markdown_outputs_render_estate_names_as_text(hostile_estate):
    cfg = hostile_estate
    run(cfg, "scan", "--no-progress")
    tickets = run(cfg, "tickets")
    assert "evil.example" in tickets  # the value is there, shown ...
    n = len(re.findall(r"^## CM-", tickets, re.M))
    assert n >= 1
    assert_inert(tickets, headings_allowed=n)  # ... and inert: one heading per ticket, none injected
    for issue in json.loads(run(cfg, "tickets", "--format", "github-json")):
        marker, body = issue["body"].split("\n", 1)  # our own dedup marker is the one HTML comment
        assert re.fullmatch(r"<!-- commonmode:CM-[0-9a-f]{10} state:[a-z ]+ -->", marker)
        assert_inert(body, headings_allowed=0)
        assert all(re.fullmatch(r"[A-Za-z0-9._:-]{1,50}", label) for label in issue["labels"]), issue["labels"]
    review = run(cfg, "review", "--format", "md")
    assert_inert(review, headings_allowed=len(re.findall(r"^#{1,3} ", review, re.M)))
    out = hostile_estate.parent / "out"
    run(cfg, "report", "--format", "md", "--out", str(out))
    report = (out / "report.md").read_text()
    assert "### api ## Approved" in report  # the service name, shown (mid-line, "##" is only text)
    assert_inert(report, headings_allowed=len(re.findall(r"^#", report, re.M)))


@pytest.mark.parametrize("env", [{}, {"FORCE_COLOR": "1", "COLUMNS": "120"}])
def test_terminal_tables_carry_no_control_sequence_from_names(hostile_estate, env):
    cfg = hostile_estate
    run(cfg, "scan", "--no-progress")
    for args in (["findings"], ["inventory"], ["services"], ["review"], ["access", "vault://ops/secret/data/dns/backup"]):
        out = run(cfg, *args, env=env)
        assert "\x1b]" not in out, args  # no OSC (hyperlink, title) sequence, ever
        assert "\u202e" not in out and "\x07" not in out, args
        if not env:
            assert "\x1b" not in out, args  # not a terminal: no escape sequence at all
        else:  # our own colours only: the estate's "[31m" is shown as text, its ESC replaced
            assert "\x1b[31mred" not in out, args
    # JSON stays exact: the data is the data
    owners = {i["owner"] for i in json.loads(run(cfg, "inventory", "--format", "json"))}
    assert HOSTILE in owners
