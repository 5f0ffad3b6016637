"""The report as a reader sees it: pictures, labels, evidence chains, order, width, files (issue 13: 11-15, 19).

The HTML is read with the standard library's html.parser into a small tree (no extra dependency). The
reference estate (fake connector, no emulators) covers most points; the demo estate (moto and OpenBao, as in
tests/test_demo.py) is the one whose pictures must have no crossing, and the one the browser test renders."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from tests.estate import (
    CI_ROLE,
    DNS_BOT,
    KEY_PAY_B_OLD,
    R_API_B,
    R_API_P,
    VAULT_MOUNT,
    declared_services,
    reference_estate,
    write_config,
)
from typer.testing import CliRunner

from commonmode.cli import app
from commonmode.render import graph
from commonmode.render import report as rp
from commonmode.store import RunStore

runner = CliRunner()
RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1}


# --- a small DOM from html.parser --------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclasses.dataclass
class El:
    tag: str
    attrs: dict[str, str]
    parent: El | None = None
    children: list[Any] = dataclasses.field(default_factory=list)  # El or str

    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    def iter(self) -> Iterator[El]:
        yield self
        for c in self.children:
            if isinstance(c, El):
                yield from c.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[El]:
        return [e for e in self.iter() if (tag is None or e.tag == tag) and (cls is None or cls in e.classes())
                and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def ancestors(self) -> Iterator[El]:
        p = self.parent
        while p is not None:
            yield p
            p = p.parent


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = El("#document", {})
        self.cur = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = El(tag, {k: v or "" for k, v in attrs}, self.cur)
        self.cur.children.append(el)
        if tag not in VOID:
            self.cur = el

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.cur.children.append(El(tag, {k: v or "" for k, v in attrs}, self.cur))

    def handle_endtag(self, tag: str) -> None:
        node: El | None = self.cur
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.cur = node.parent

    def handle_data(self, data: str) -> None:
        self.cur.children.append(data)


def dom(html: str) -> El:
    t = _Tree()
    t.feed(html)
    t.close()
    return t.root


# --- estates --------------------------------------------------------------------------------------------

def cm(cfg: Path, *args: str):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, [*args, "-c", str(cfg)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def without_old_key(inv):  # type: ignore[no-untyped-def]
    return dataclasses.replace(inv, credentials=tuple(c for c in inv.credentials if c.id != KEY_PAY_B_OLD.id))


@pytest.fixture
def one_run(tmp_path: Path) -> Path:
    """Run 1 on the reference estate (tests/test_outputs.py's estate, without its hostile identity)."""
    cfg = write_config(tmp_path, reference_estate(), services=declared_services())
    cm(cfg, "scan", "--no-progress")
    return cfg


@pytest.fixture
def two_runs(one_run: Path) -> Path:
    """And run 2 with the unused backup key removed (one finding resolved)."""
    write_config(one_run.parent, without_old_key(reference_estate()), services=declared_services())
    cm(one_run, "scan", "--no-progress")
    return one_run


def open_store(cfg: Path) -> RunStore:
    return RunStore.open(cfg.parent / "commonmode.db")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's database (real moto and OpenBao, as tests/test_demo.py runs it)."""
    pytest.importorskip("moto", reason="the demo extra is installed with the test extra")
    from commonmode_sandbox.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    saved = dict(os.environ)
    try:
        result = run_demo(out, lambda s: None)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    # a connector that failed would leave its part of the estate out of every picture checked here
    assert result.run_status == "ok", f"the demo's scan was {result.run_status}: {result.gaps}"
    return Path(result.database)


def render(db: Path, out: Path, fmt: str = "html", run: int | None = None) -> rp.ReportPath:
    store = RunStore.open(db)
    try:
        return rp.write(store, store.resolve_run(run), fmt, out)
    finally:
        store.close()


def service_count(db: Path) -> int:
    """How many services the run stored: one picture each."""
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM services WHERE run_id = 1").fetchone()[0])


def services_in(html: str) -> dict[str, El]:
    return {d.attrs["data-service"]: d for d in dom(html).find_all("div", cls="service")}


def picture(service: El, geometry: str = "wide") -> El:
    (svg,) = [s for s in service.find_all("svg", cls="paths") if geometry in s.classes()]
    return svg


def nodes(svg: El) -> list[El]:
    return svg.find_all("g", cls="node")


def node_text(g: El, cls: str) -> str:
    return " ".join(t.text() for t in g.find_all("text", cls=cls))


# --- 11: kind and readable name; the full id on hover and in the table of ids ----------------------------

def test_nodes_show_kind_and_name_with_the_full_id_in_title(two_runs, tmp_path):
    html = render(two_runs.parent / "commonmode.db", tmp_path).read_text()
    store = open_store(two_runs)
    stored = {r["id"]: (r["kind"], r["name"]) for t in ("identities", "stores", "resources")
              for r in store.rows(f"SELECT id, kind, name FROM {t} WHERE run_id = 2")}  # noqa: S608 — t: constant
    store.close()
    services = services_in(html)
    api = {g.attrs["data-id"]: g for g in nodes(picture(services["api"]))}
    bot = api[DNS_BOT.id]
    assert node_text(bot, "kind") == "IAM user" and node_text(bot, "name") == "dns-bot"
    assert bot.find_all("title")[0].text() == DNS_BOT.id
    assert node_text(api[R_API_P.id], "kind") == "DNS record"
    pay = {g.attrs["data-id"]: g for g in nodes(picture(services["payments"]))}
    assert (node_text(pay[VAULT_MOUNT.id], "kind"), node_text(pay[VAULT_MOUNT.id], "name")) == ("Vault mount", "secret")
    assert (node_text(pay[CI_ROLE.id], "kind"), node_text(pay[CI_ROLE.id], "name")) == ("Vault role", "ci")
    # a fault-domain label has no entity: its documented shape says what it is
    cluster = pay["vault:cluster:east-1"]
    assert (node_text(cluster, "kind"), node_text(cluster, "name")) == ("Vault cluster", "fake")
    for svc in services.values():
        for svg in svc.find_all("svg", cls="paths"):
            for g in nodes(svg):
                if "more" in g.classes():
                    continue
                full = g.attrs["data-id"]
                assert g.find_all("title")[0].text() == full  # the full id on hover
                if full in stored:  # the name drawn is the stored name (its start and end, when shortened)
                    name, want = node_text(g, "name").replace(" ", ""), stored[full][1].replace(" ", "")
                    head, _, tail = name.partition("…")
                    assert (want.startswith(head) and want.endswith(tail)) or name.startswith(want), (full, name)
        # and the table of ids lists every box's full id, once
        ids = [c.text() for td in svc.find_all("td", cls="id") for c in td.find_all("code")]
        boxes = [g.attrs["data-id"] for g in nodes(picture(svc)) if "more" not in g.classes()]
        assert sorted(ids) == sorted(boxes)


def test_labels_of_the_demo_estate(demo, tmp_path):
    """The issue's own example: the Vault cluster's UUID label is shown as "Vault cluster vault-east"."""
    html = render(demo, tmp_path).read_text()
    shared = [g for svc in services_in(html).values() for g in nodes(picture(svc))
              if g.attrs["data-column"] == "shared"]
    clusters = [g for g in shared if g.attrs["data-id"].startswith("vault:cluster:")]
    assert clusters and all((node_text(g, "kind"), node_text(g, "name")) == ("Vault cluster", "vault-east")
                            for g in clusters)
    assert all(re.fullmatch(r"vault:cluster:[0-9a-f-]{36}", g.find_all("title")[0].text()) for g in clusters)
    users = [g for g in shared if g.attrs["data-id"].endswith(":user/dns-automation")]
    assert [(node_text(g, "kind"), node_text(g, "name")) for g in users] == [("IAM user", "dns-automation")]


def test_kind_words():
    assert rp.kind_words("iam-user") == "IAM user"
    assert rp.kind_words("vault-role (approle)") == "Vault role"
    assert rp.kind_words("vault-kv-mount") == "Vault KV mount"
    assert rp.kind_words("secret", "vault") == "Vault secret"
    assert rp.kind_words("service-principal") == "service principal"


# --- 12: primary column → shared column ← backup column ---------------------------------------------------

def expected_shared(service: dict[str, Any], findings: list[dict[str, Any]]) -> set[str]:
    """From the JSON report: what pairwise findings name for the service, and any item in both sides' lists."""
    pairwise = {x for f in findings if service["name"] in f["services"] and f["rule"] in rp.PAIRWISE
                for x in f["subjects"]}

    def items(side: dict[str, Any]) -> set[str]:
        return ({r["id"] for r in side["resources"]} | {i["id"] for i in side["identities"]}
                | set(side["credential_stores"]))

    return pairwise | (items(service["primary"]) & items(service["backup"]))


@pytest.mark.parametrize("estate", ["reference", "demo"])
def test_the_shared_column_holds_exactly_the_shared_entities(estate, request, tmp_path):
    db = request.getfixturevalue("two_runs").parent / "commonmode.db" if estate == "reference" else \
        request.getfixturevalue("demo")
    html = render(db, tmp_path).read_text()
    data = json.loads(render(db, tmp_path, "json").read_text())
    pictures = services_in(html)
    assert set(pictures) == {s["name"] for s in data["services"]}
    some_shared = 0
    for s in data["services"]:
        want = expected_shared(s, data["findings"])
        for geometry in ("wide", "narrow"):
            boxes = nodes(picture(pictures[s["name"]], geometry))
            middle = [g for g in boxes if g.attrs["data-column"] == "shared"]
            sides = [g for g in boxes if g.attrs["data-column"] in ("primary", "backup")]
            assert {g.attrs["data-id"] for g in middle} == want, s["name"]
            assert len(middle) == len(want)  # each once
            assert all("shared" in g.classes() for g in middle)  # highlighted
            assert not any("shared" in g.classes() for g in sides)
            assert not {g.attrs.get("data-id") for g in sides} & want  # a shared item is not also drawn on a side
            assert all(node_text(g, "rules") for g in middle)  # and says why it is shared
        some_shared += len(want)
    assert some_shared >= 5


def crossing_pairs(lines: list[tuple[float, float, float, float]]) -> list[tuple[int, int]]:
    """Pairs of segments that intersect other than at an end they share (the test's own geometry)."""
    def orient(a, b, c) -> float:  # type: ignore[no-untyped-def]
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    out = []
    for i, (ax, ay, bx, by) in enumerate(lines):
        for j in range(i + 1, len(lines)):
            cx, cy, dx, dy = lines[j]
            p1, p2, q1, q2 = (ax, ay), (bx, by), (cx, cy), (dx, dy)
            if {p1, p2} & {q1, q2}:
                continue
            d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
            d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
            if d1 * d2 < 0 and d3 * d4 < 0:
                out.append((i, j))
    return out


def edges(svg: El) -> list[El]:
    return svg.find_all("line", cls="edge")


def coords(e: El) -> tuple[float, float, float, float]:
    return tuple(float(e.attrs[k]) for k in ("x1", "y1", "x2", "y2"))  # type: ignore[return-value]


def test_the_crossing_check_finds_crossings():
    assert crossing_pairs([(0, 0, 10, 10), (0, 10, 10, 0)]) == [(0, 1)]
    assert crossing_pairs([(0, 0, 10, 10), (0, 0, 10, 0)]) == []  # one shared end
    assert crossing_pairs([(0, 0, 10, 0), (0, 5, 10, 5)]) == []


def test_layout_orders_the_shared_column_to_remove_crossings():
    """Given in the worst order (every edge crosses), the layout reorders columns to draw no crossing."""
    def it(i: str, group: int = 0) -> graph.Item:
        return graph.Item(id=i, css="resource", kind="k", name=i, group=group)

    primary = [it("p1"), it("p2"), it("p3", 1)]
    shared = [it("s3"), it("s2"), it("s1")]
    backup = [it("b1"), it("b2"), it("b3")]
    links = [graph.Link(side="primary", via=f"p{n}", shared=f"s{n}") for n in (1, 2, 3)] + \
        [graph.Link(side="backup", via=f"b{n}", shared=f"s{4 - n}") for n in (1, 2, 3)]
    as_given = graph.crossings({"primary": primary, "shared": shared, "backup": backup},
                               {"primary": {f"s{n}": f"p{n}" for n in (1, 2, 3)},
                                "backup": {f"s{4 - n}": f"b{n}" for n in (1, 2, 3)}})
    assert as_given == 3
    for g in (graph.WIDE, graph.NARROW):
        pic = graph.layout(primary, shared, backup, links, g)
        assert pic.crossings == 0 and len(pic.edges) == 6
        assert crossing_pairs([(e.x1, e.y1, e.x2, e.y2) for e in pic.edges]) == []
        column = {n.item.id: n.column for n in pic.nodes}
        assert column["p3"] == "primary" and column["s1"] == "shared" and column["b1"] == "backup"
        # groups stay in order on a side: p3 (group 1) is still below p1 and p2
        ys = {n.item.id: n.y for n in pic.nodes}
        assert ys["p3"] > max(ys["p1"], ys["p2"])


def test_the_demo_services_are_drawn_without_crossings(demo, tmp_path):
    html = render(demo, tmp_path).read_text()
    pictures = services_in(html)
    assert len(pictures) == service_count(demo) >= 8
    for name, svc in pictures.items():
        for geometry in ("wide", "narrow"):
            svg = picture(svc, geometry)
            lines = edges(svg)
            assert crossing_pairs([coords(e) for e in lines]) == [], (name, geometry)
            boxes = {g.attrs.get("data-id"): g for g in nodes(svg)}
            middle = [i for i, g in boxes.items() if g.attrs["data-column"] == "shared"]
            # one edge per dependency: every shared item has one edge from each side, and nothing else does
            got = sorted((e.attrs["data-side"], e.attrs["data-to"]) for e in lines)
            assert got == sorted((side, i) for i in middle for side in ("primary", "backup")), name
            for e in lines:  # and each edge runs from its side box's border to the shared box's border
                x1, y1, x2, y2 = coords(e)
                src, dst = boxes[e.attrs["data-from"]], boxes[e.attrs["data-to"]]
                assert src.attrs["data-column"] == e.attrs["data-side"]
                for (x, y), g in (((x1, y1), src), ((x2, y2), dst)):
                    r = g.find_all("rect")[0].attrs
                    left, top = float(r["x"]), float(r["y"])
                    assert x in (left, left + float(r["width"])) and top <= y <= top + float(r["height"])


# --- 13: evidence as numbered chains -------------------------------------------------------------------

def test_evidence_is_a_numbered_chain_of_steps_with_ids_as_code(two_runs, tmp_path):
    db = two_runs.parent / "commonmode.db"
    html = render(db, tmp_path).read_text()
    data = json.loads(render(db, tmp_path, "json").read_text())
    finding = next(f for f in data["findings"] if f["rule"] == "shared-identity" and f["subjects"] == [DNS_BOT.id])
    (el,) = dom(html).find_all("details", data_fingerprint=finding["fingerprint"])
    evidence = el.find_all("div", cls="evidence")[0]
    chains = evidence.find_all("ol", cls="chain")
    assert len(chains) == 2
    for ol, side in zip(chains, ("primary", "backup"), strict=True):
        # the correlator writes a side's chain as one line of steps joined by " ← " or as one line per step
        lines = [x for x in finding["evidence"] if x.startswith(f"{side}: ")]
        steps = [li for li in ol.children if isinstance(li, El) and li.tag == "li"]
        assert len(steps) == sum(x.count(" ← ") + 1 for x in lines) >= 2  # one step per line
        codes = [c.text() for li in steps for c in li.find_all("code")]
        assert codes[0] == DNS_BOT.id  # from the identity ...
        assert steps[-1].text().endswith(f"is in the {side} path")  # ... to the path
        assert DNS_BOT.id in codes and (R_API_P.id if side == "primary" else R_API_B.id) in codes
        assert "←" not in ol.text()
    headings = [h.text() for h in evidence.find_all("div", cls="chain-heading")]
    assert headings == ["primary path:", "backup path:"]
    # Markdown: the same chain, numbered, one step per line, ids in code spans
    md = render(db, tmp_path, "md").read_text()
    section = md.split(f"About: IAM user dns-bot (`{DNS_BOT.id}`)", 1)[1].split("\n### ", 1)[0]
    primary = section.split("primary path:\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(primary) == sum(x.count(" ← ") + 1 for x in finding["evidence"] if x.startswith("primary: "))
    assert all(s.startswith("1. ") for s in primary) and primary[0].startswith(f"1. `{DNS_BOT.id}` has dns.write")
    assert primary[-1].endswith("is in the primary path")


def test_a_chain_inside_a_step_is_a_nested_list():
    cat = {"a:x": rp.Entity(id="a:x", kind="IAM user", name="x", css="identity")}
    c = rp.chain("a:x can fail over (a:x can act as b:y (policy p → statement 1) ← b:y has dns.write on c:z) but "
                 "needs d:w, which the primary path also depends on", cat)
    assert c["heading"] is None and len(c["steps"]) == 1
    step = c["steps"][0]
    assert [len(sub) for sub in step["sub"]] == [2]
    assert rp.chain_ids(c) == ["a:x", "d:w", "a:x", "b:y", "b:y", "c:z"]
    assert any(p["t"] == "code" and p["label"] == "IAM user x" for p in step["parts"])
    via = step["sub"][0][0]["parts"]
    assert any(p["t"] == "group" and p["via"] for p in via)
    # unbalanced parentheses: still split into steps, nothing lost
    flat = rp.chain("primary: a:x (oops ← b:y", cat)
    assert flat["heading"] == "primary path" and len(flat["steps"]) == 2


# --- 14: width; tables scroll instead of wrapping ids ------------------------------------------------------

def test_tables_and_pictures_sit_in_scrolling_wrappers(two_runs, tmp_path):
    html = render(two_runs.parent / "commonmode.db", tmp_path).read_text()
    style = re.search(r"<style>(.*?)</style>", html, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert re.search(r"\.scroll\s*\{[^}]*overflow-x:\s*auto", style)
    assert re.search(r"\.scroll code[^{]*\{[^}]*white-space:\s*nowrap", style)  # ids do not wrap in tables
    assert re.search(r"table\.ids td\.id code\s*\{[^}]*word-break:\s*break-all", style)  # except in the ids table
    assert "max-width:1120px" not in style.replace(" ", "")
    doc = dom(html)
    tables = doc.find_all("table")
    assert len(tables) >= 7
    for t in tables:
        assert any("scroll" in a.classes() for a in t.ancestors()), t.attrs
    for svg in doc.find_all("svg", cls="paths"):
        assert "scroll" in svg.parent.classes()  # type: ignore[union-attr]
    for ol in doc.find_all("ol", cls="chain"):
        assert any("scroll" in a.classes() for a in ol.ancestors())
    # self-contained: no external reference of any kind
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!#|data:)""", html)
    assert "<link" not in html and "@import" not in html and "url(http" not in html


# --- 15: order ----------------------------------------------------------------------------------------------

def test_findings_order_by_severity_then_rule_then_service_in_every_format(two_runs, tmp_path):
    db = two_runs.parent / "commonmode.db"
    html_order = [(d.attrs["data-severity"], d.attrs["data-rule"], d.attrs["data-service"])
                  for d in dom(render(db, tmp_path).read_text()).find_all("details", cls="finding")]
    md = render(db, tmp_path, "md").read_text().split("## Findings", 1)[1].split("## Standards mapping", 1)[0]
    md_order = [tuple(h.split(" · ")) for h in re.findall(r"^### (.+)$", md, re.MULTILINE)]
    data = json.loads(render(db, tmp_path, "json").read_text())
    json_order = [(f["severity"], f["rule"], f["service"] or ", ".join(f["services"])) for f in data["findings"]]
    assert len(html_order) >= 10 and len({s for s, _, _ in html_order}) >= 3
    expected = sorted(json_order, key=lambda t: (-RANK[t[0]], t[1], t[2]))
    assert html_order == md_order == json_order == expected
    assert json_order[0][0] == "critical"


# --- 19: files --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["html", "md", "json"])
def test_each_run_has_its_own_file_and_report_is_the_newest(one_run, tmp_path, fmt):
    db, out = one_run.parent / "commonmode.db", tmp_path / "out"
    first = render(db, out, fmt)
    assert first == out / f"report.{fmt}" and first.latest == first
    assert first.run_report == out / f"report-run-1.{fmt}"
    assert first.read_text() == first.run_report.read_text()
    run1_text = first.run_report.read_text()
    # the next scan, and its report: run 1's file is kept as it was, report.<ext> is run 2's
    write_config(one_run.parent, without_old_key(reference_estate()), services=declared_services())
    cm(one_run, "scan", "--no-progress")
    second = render(db, out, fmt)
    assert second == out / f"report.{fmt}" and second.run_report == out / f"report-run-2.{fmt}"
    assert (out / f"report-run-1.{fmt}").read_text() == run1_text
    assert second.read_text() == second.run_report.read_text() != run1_text
    # a report of the older run rewrites only that run's own file, never the newest report
    again = render(db, out, fmt, run=1)
    assert again == out / f"report-run-1.{fmt}" and again.latest is None
    assert (out / f"report.{fmt}").read_text() == second.run_report.read_text()
    assert sorted(p.name for p in out.iterdir()) == sorted([f"report.{fmt}", f"report-run-1.{fmt}",
                                                           f"report-run-2.{fmt}"])
    for p in out.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    if fmt == "json":
        assert json.loads((out / "report-run-1.json").read_text())["run"]["id"] == 1
        assert json.loads((out / "report.json").read_text())["run"]["id"] == 2
    if fmt == "html":
        assert "<title>commonmode report — run 1</title>" in (out / "report-run-1.html").read_text()


def test_json_leaves_out_what_only_the_templates_use(two_runs, tmp_path):
    data = json.loads(render(two_runs.parent / "commonmode.db", tmp_path, "json").read_text())
    for key in rp.RENDER_ONLY:
        assert key not in data and all(key not in s for s in data["services"]) and \
            all(key not in f for f in data["findings"])


# --- the browser: 1,400 and 800 px -----------------------------------------------------------------------

MEASURE = """<script>
(function () {
  var out = {vw: window.innerWidth, page: document.documentElement.scrollWidth, outside: [], wrapped: [],
             names: [], visible: []};
  var card = document.querySelector("#services .service").getBoundingClientRect();
  var finding = document.querySelector("#findings details").getBoundingClientRect();
  out.card = card.width; out.finding = finding.width;
  function inScroll(el) {
    for (var p = el; p; p = p.parentElement) { if (p.classList && p.classList.contains("scroll")) return true; }
    return false;
  }
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  document.querySelectorAll("main *").forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width && r.right > window.innerWidth + 1 && !inScroll(el)) out.outside.push(el.tagName + "." + el.className);
  });
  document.querySelectorAll("code").forEach(function (c) {
    if (c.closest("table.ids")) return;
    if (c.getClientRects().length > 1) out.wrapped.push(c.textContent);
  });
  document.querySelectorAll(".picture").forEach(function (p) {
    if (getComputedStyle(p).display !== "none") out.visible.push(p.className);
  });
  document.querySelectorAll(".picture").forEach(function (p) {
    if (getComputedStyle(p).display === "none") return;
    p.querySelectorAll("text.name").forEach(function (t) { out.names.push(t.getBoundingClientRect().height); });
  });
  document.body.setAttribute("data-measure", JSON.stringify(out));
})();
</script></body>"""


@pytest.mark.browser
def test_report_uses_the_width_and_never_scrolls_the_page(demo, tmp_path):
    browser = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    report = render(demo, tmp_path / "r")
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", MEASURE))
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}"]
    for width in (1400, 800):
        run = subprocess.run([*base, f"--window-size={width},2200", "--dump-dom", probe.as_uri()],
                             capture_output=True, text=True, timeout=120, check=False)
        found = re.search(r'data-measure="([^"]*)"', run.stdout)
        assert found, run.stderr[-2000:]
        m = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
        assert m["vw"] == width
        assert m["page"] <= width, m  # no horizontal scroll of the page ...
        assert m["outside"] == [], m["outside"][:10]  # ... nothing sticks out except inside a scrolling box
        assert m["wrapped"] == [], m["wrapped"][:10]  # no id breaks across lines outside the table of ids
        assert len(m["visible"]) == service_count(demo)
        assert all(("wide" if width == 1400 else "narrow") in v for v in m["visible"])
        assert m["names"] and min(m["names"]) >= 12, m["names"]  # box names readable at this width
        if width == 1400:
            assert m["card"] >= 0.9 * width and m["finding"] >= 0.9 * width, m
        shot = tmp_path / f"report-{width}.png"
        subprocess.run([*base, f"--window-size={width},2200", f"--screenshot={shot}", report.as_uri()],
                       capture_output=True, timeout=120, check=False)
        assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_the_fix_is_the_rule_s_text_then_numbered_steps_in_html_and_markdown(two_runs, tmp_path):
    """A finding's remediation (one source: the rule's text, then one specific step a line) is shown as a
    paragraph and a numbered list of the steps, not run together into one paragraph."""
    db = two_runs.parent / "commonmode.db"
    data = json.loads(render(db, tmp_path, "json").read_text())
    with_steps = [f for f in data["findings"] if len(f["remediation"].splitlines()) > 1]
    assert with_steps, "the fixture has findings with specific steps"
    tree = dom(render(db, tmp_path).read_text())
    md = render(db, tmp_path, "md").read_text()
    for f in with_steps:
        first, *steps = [line.strip() for line in f["remediation"].splitlines() if line.strip()]
        (el,) = tree.find_all("details", data_fingerprint=f["fingerprint"])
        (ol,) = el.find_all("ol", cls="fix-steps")
        items = [" ".join(li.text().split()) for li in ol.children if isinstance(li, El) and li.tag == "li"]
        assert items == [" ".join(s.split()) for s in steps]
        assert any(" ".join(first.split()) in " ".join(p.text().split()) for p in el.find_all("p"))
    # Markdown: after each "Fix:" paragraph, its steps numbered 1..n, one a line
    fixes = [block.split("\n### ", 1)[0].split("\n\n") for block in md.split("\nFix: ")[1:]]
    numbered = [[line for line in (parts[1].splitlines() if len(parts) > 1 else []) if re.match(r"\d+\. ", line)]
                for parts in fixes]
    assert sorted(len(n) for n in numbered if n) == sorted(
        len([x for x in f["remediation"].splitlines() if x.strip()]) - 1 for f in with_steps)
    assert all(line.startswith(f"{i}. ") for n in numbered for i, line in enumerate(n, 1))
