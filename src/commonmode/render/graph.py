"""The service picture of the HTML report: primary column → shared column ← backup column.

Pure layout, no store and no markup: the report gives the three columns' items and, for each shared item, the
item of each side through which that side depends on it; this returns boxes and straight edges in SVG user
units, and the template draws them (escaping every label).

Each shared item gets at most one edge per side, so between two neighbouring columns the edges form stars
around the side items. The order of the shared column, and of each side column within its groups (resources,
identities, credential stores), is chosen to minimise edge crossings: barycentre sweeps as in Sugiyama-style
layered drawing (each item moves to the mean position of its neighbours), and, for a small shared column, every
order of it is tried. Columns are vertical lines, so two edges between the same two columns cross exactly when
their ends are in opposite orders: `crossings` counts them from the orders (tests/test_report.py checks the
drawn coordinates with its own segment-intersection test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import permutations


@dataclass(frozen=True, kw_only=True, slots=True)
class Geometry:
    """Sizes in SVG user units. The report draws each picture twice, wide for a desktop window and narrow for a
    window under ~1,100 px, and CSS shows the one that fits, so that text stays readable at either width."""

    name: str
    width: int
    column_w: int
    name_chars: int  # characters of a name per line at the template's font size for this geometry
    kind_chars: int
    top: int = 44
    side_h: int = 44
    shared_h: int = 60
    line_h: int = 17  # a second line of name
    row_gap: int = 10
    group_gap: int = 8

    @property
    def gap(self) -> int:
        """The room for arrows between two columns."""
        return (self.width - 3 * self.column_w) // 2

    def x(self, column: str) -> int:
        """The left edge of a column."""
        return {"primary": 0, "shared": self.column_w + self.gap, "backup": 2 * (self.column_w + self.gap)}[column]


#: 1200 units wide, scaled to the page (names in 15-unit bold, up to ~0.6 em a character: 31 fit in a box)
WIDE = Geometry(name="wide", width=1200, column_w=320, name_chars=31, kind_chars=44)
#: 760 units wide, for an 800 px window (names in 14-unit bold)
NARROW = Geometry(name="narrow", width=760, column_w=220, name_chars=22, kind_chars=32)
#: Brute-force the shared column's order up to this many items (7! = 5,040 orders, each a few comparisons).
EXHAUSTIVE_UP_TO = 7


@dataclass(frozen=True, kw_only=True, slots=True)
class Item:
    """One box: an entity (or a "+ N more" summary) in one column."""

    id: str  # the entity's full id (`more:<side>` for a summary box)
    css: str  # what it is, as a CSS class: resource, identity, store, label, more
    kind: str  # readable kind: "IAM user", "Vault cluster"
    name: str  # readable name: "dns-automation", "vault-east"
    group: int = 0  # side columns keep their groups in this order (resources, identities, stores)
    rules: tuple[str, ...] = ()  # shared items: the rules that name it (or why it is shared)


@dataclass(frozen=True, kw_only=True, slots=True)
class Link:
    """`shared` depends, on `side` ("primary" or "backup"), through that side's item `via`."""

    side: str
    via: str
    shared: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Node:
    """A placed box."""

    item: Item
    column: str  # primary, shared, backup
    x: int
    y: int
    w: int
    h: int
    kind_text: str  # the kind as drawn (shortened in the middle when too long)
    name_lines: tuple[str, ...]  # the name as drawn: one or two lines

    @property
    def cy(self) -> int:
        """Where arrows meet the box: its vertical middle."""
        return self.y + self.h // 2


@dataclass(frozen=True, kw_only=True, slots=True)
class Edge:
    """A straight arrow from a side box's inner border to a shared box's border."""

    side: str
    source: str  # the side item's id
    target: str  # the shared item's id
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Picture:
    """Everything the template draws for one service in one geometry."""

    geometry: str  # wide or narrow
    width: int
    height: int
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    crossings: int  # edge crossings of the order chosen (0 for every demo service)
    headers: dict[str, int]  # x of each column's heading


def fit(text: str, n: int) -> str:
    """`text` in at most `n` characters, shortened in the middle so that its start (kind, account) and its end
    (name) both stay readable."""
    if len(text) <= n:
        return text
    head = (n - 1) // 2
    return text[:head] + "…" + text[len(text) - (n - 1 - head):]


def wrap(text: str, n: int) -> tuple[str, ...]:
    """`text` on one line of at most `n` characters, or two, broken after a separator (space . / - : @) so
    that no word is cut; what still does not fit is shortened in the middle."""
    if len(text) <= n:
        return (text,)
    cut = max((i + 1 for i, ch in enumerate(text[:n]) if ch in " ./-:@_"), default=0)
    if cut < n // 3:
        return (fit(text, n),)
    return (text[:cut].rstrip(), fit(text[cut:].lstrip(), n))


def layout(primary: Sequence[Item], shared: Sequence[Item], backup: Sequence[Item], links: Iterable[Link],
           geometry: Geometry = WIDE) -> Picture:
    """Place the three columns and one edge per link, in the order with the fewest crossings found."""
    cols = {"primary": list(primary), "shared": list(shared), "backup": list(backup)}
    ids = {c: {it.id for it in items} for c, items in cols.items()}
    anchor: dict[str, dict[str, str]] = {"primary": {}, "backup": {}}
    for ln in links:
        if ln.shared in ids["shared"] and ln.via in ids[ln.side] and ln.via:
            anchor[ln.side].setdefault(ln.shared, ln.via)
    order = _best_order(cols, anchor)
    g = geometry
    nodes, where = _place(order, anchor, g)
    edges = []
    for s in order["shared"]:
        target = where[("shared", s.id)]
        for side in ("primary", "backup"):
            via = anchor[side].get(s.id)
            if via is None:
                continue
            src = where[(side, via)]
            x1 = src.x + src.w if side == "primary" else src.x
            x2 = target.x if side == "primary" else target.x + target.w
            edges.append(Edge(side=side, source=via, target=s.id, x1=x1, y1=src.cy, x2=x2, y2=target.cy))
    height = max([g.top, *(n.y + n.h for n in nodes)]) + 12
    return Picture(geometry=g.name, width=g.width, height=height, nodes=tuple(nodes), edges=tuple(edges),
                   crossings=crossings(order, anchor), headers={c: g.x(c) for c in ("primary", "shared", "backup")})


def crossings(order: dict[str, list[Item]], anchor: dict[str, dict[str, str]]) -> int:
    """Crossing pairs among the edges between each side column and the shared column, from their orders."""
    rank_s = {it.id: i for i, it in enumerate(order["shared"])}
    total = 0
    for side in ("primary", "backup"):
        rank = {it.id: i for i, it in enumerate(order[side])}
        ends = [(rank[via], rank_s[s]) for s, via in anchor[side].items()]
        total += sum(1 for i, (a1, b1) in enumerate(ends) for a2, b2 in ends[i + 1:] if (a1 - a2) * (b1 - b2) < 0)
    return total


def _best_order(cols: dict[str, list[Item]], anchor: dict[str, dict[str, str]]) -> dict[str, list[Item]]:
    def around(shared: list[Item]) -> dict[str, list[Item]]:
        """The side columns reordered (inside their groups) to follow an order of the shared column."""
        return {"shared": shared, **{side: _within_groups(cols[side], shared, anchor[side])
                                     for side in ("primary", "backup")}}

    best = {c: list(items) for c, items in cols.items()}
    best_n = crossings(best, anchor)
    order = best
    for _ in range(8):  # barycentre sweeps: shared by its ends' positions, then the sides by the shared ones
        if best_n == 0:
            return best
        order = around(_by_barycentre(order["shared"], [_position(order[side], anchor[side]) for side in
                                                        ("primary", "backup")]))
        n = crossings(order, anchor)
        if n < best_n:
            best, best_n = order, n
    if len(cols["shared"]) <= EXHAUSTIVE_UP_TO:
        for perm in permutations(cols["shared"]):
            trial = around(list(perm))
            n = crossings(trial, anchor)
            if n < best_n:
                best, best_n = trial, n
                if n == 0:
                    break
    return best


def _position(column: list[Item], anchor: dict[str, str]) -> Callable[[Item], float | None]:
    """A shared item's relative position in `column`: where the item it depends on through sits."""
    return lambda s: _rank(column, anchor.get(s.id))


def _rank(items: list[Item], item_id: str | None) -> float | None:
    if item_id is None:
        return None
    return next(i for i, it in enumerate(items) if it.id == item_id) / max(len(items) - 1, 1)


def _by_barycentre(items: list[Item], positions: Sequence[Callable[[Item], float | None]]) -> list[Item]:
    """Sort by the mean of the neighbours' relative positions; an item without neighbours keeps its place."""
    def key(pair: tuple[int, Item]) -> tuple[float, int]:
        i, it = pair
        known = [p for p in (f(it) for f in positions) if p is not None]
        return (sum(known) / len(known) if known else i / max(len(items) - 1, 1), i)
    return [it for _, it in sorted(enumerate(items), key=key)]


def _within_groups(items: list[Item], shared: list[Item], anchor: dict[str, str]) -> list[Item]:
    """Reorder a side column inside each group by the mean position of the shared items it leads to."""
    users: dict[str, list[float]] = {}
    for s, via in anchor.items():
        users.setdefault(via, []).append(_rank(shared, s) or 0.0)
    out: list[Item] = []
    for g in sorted({it.group for it in items}):
        members = [it for it in items if it.group == g]
        out += _by_barycentre(members, [lambda it: (sum(users[it.id]) / len(users[it.id])) if it.id in users else None])
    return out


def _place(order: dict[str, list[Item]], anchor: dict[str, dict[str, str]],
           g: Geometry) -> tuple[list[Node], dict[tuple[str, str], Node]]:
    nodes: list[Node] = []
    where: dict[tuple[str, str], Node] = {}
    for side in ("primary", "backup"):
        y, group = g.top, None
        for it in order[side]:
            if group is not None and it.group != group:
                y += g.group_gap
            group = it.group
            node = _node(it, side, y, g.side_h, g)
            nodes.append(node)
            where[(side, it.id)] = node
            y += node.h + g.row_gap
    # a shared box sits level with the mean of the boxes that lead to it, below the previous one
    y = g.top
    for it in order["shared"]:
        ends = [where[(side, anchor[side][it.id])].cy for side in ("primary", "backup") if it.id in anchor[side]]
        probe = _node(it, "shared", 0, g.shared_h, g)
        wanted = int(sum(ends) / len(ends) - probe.h / 2) if ends else y
        node = _node(it, "shared", max(y, wanted), g.shared_h, g)
        nodes.append(node)
        where[("shared", it.id)] = node
        y = node.y + node.h + g.row_gap
    return nodes, where


def _node(it: Item, column: str, y: int, h: int, g: Geometry) -> Node:
    lines = wrap(it.name, g.name_chars)
    return Node(item=it, column=column, x=g.x(column), y=y, w=g.column_w, h=h + g.line_h * (len(lines) - 1),
                kind_text=fit(it.kind, g.kind_chars), name_lines=lines)


__all__ = ["NARROW", "WIDE", "Edge", "Geometry", "Item", "Link", "Node", "Picture", "crossings", "fit", "layout",
           "wrap"]
