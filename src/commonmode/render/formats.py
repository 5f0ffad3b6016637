"""Listing output: one place maps each --format to its renderer. Data goes to stdout only.

JSON and CSV carry every value whole. Only terminal tables shorten, and only to fit the terminal: an id loses
the middle and keeps its kind and its name (`arn:aws:iam::1234…:role/dns-bot`), text is cut at a word, and a
column of prose wraps between words, never inside one.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import os
import re
import shutil
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TextIO


class ListFormat(str, enum.Enum):
    """Formats every listing command accepts."""

    table = "table"
    json = "json"
    csv = "csv"


#: A column as (header, how to get the cell from a row): CSV and the `--long` table.
Column = tuple[str, Callable[[Mapping[str, Any]], Any]]

#: How a compact table column may shorten: never ("fixed"), an id in the middle ("id"; a list shows its first
#: id and "+N"), text at the end at a word ("text"), or prose wrapped between words ("wrap").
Fit = Literal["fixed", "id", "text", "wrap"]


@dataclass(frozen=True)
class Col:
    """A column of the default (compact) table: one line per row unless the column wraps."""

    header: str
    get: Callable[[Mapping[str, Any]], Any]
    fit: Fit = "fixed"
    min: int = 12
    align: Literal["left", "right"] = "left"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not execute: values starting with = + - @ (or tab/CR) get a leading '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, tuple)):
        text = "; ".join(safe_cell(v) if not isinstance(v, (dict, list)) else json.dumps(v) for v in value)
        return "'" + text if text.startswith(_FORMULA_START) else text
    elif isinstance(value, dict):
        text = json.dumps(value, sort_keys=True)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


#: What a terminal would act on in a name: C0/C1 controls (ESC starts colour and OSC 8 hyperlink sequences),
#: DEL, line and paragraph separators, bidi overrides. Table cells show a space instead; JSON and CSV stay exact.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every control character replaced by a space (for terminal output)."""
    return _CONTROL.sub(" ", text)


# --- shortening, for tables only --------------------------------------------------------------------------

ELLIPSIS = "…"
#: The kind an id starts with: an ARN's `arn:partition:service:`, a URL-like scheme (`vault://`), a GCP full
#: resource name's `//service/`, a label's `provider:` (README, "Ids").
_KIND = re.compile(r"arn:[^:/]*:[^:/]*:|[a-z][a-z0-9+.-]*://|//[^/]+/|[a-z0-9-]+:")
#: How much of what follows the kind (an account, a cluster) a shortened id keeps before the ellipsis when
#: there is room; the rest of the room goes to the name's side.
_AFTER_KIND = 8


#: `labelled()`'s form: a readable name, then the opaque id it stands for.
_LABELLED = re.compile(r"(?P<name>[^()]+) \((?P<id>[^()]+)\)")


def labelled(identity_id: str, name: str | None) -> str:
    """An identity as a person reads it: its id alone when the id already says its name (an ARN, a Vault
    path), else `name (id)` (an Entra object id is a bare GUID: `dns-bot (8c7d7431-…)`)."""
    last = re.split(r"[/:]", name.strip("/:"))[-1] if name else ""
    if not last or last.lower() in identity_id.lower():
        return identity_id
    return f"{name} ({identity_id})"


def shorten_id(value: str, width: int) -> str:
    """`value` in at most `width` characters, the middle replaced by "…": its kind (`arn:aws:iam:`,
    `vault://`) and its name with the segment before it (`:role/dns-bot`) are kept, and the room left goes
    first to what follows the kind (an account, a cluster): `arn:aws:iam::1234…:role/dns-bot`. When both do
    not fit the name and its segment win (`…:role/dns-bot`); a name too long by itself (a UUID) keeps the kind
    and its own end (`vault:…2766afe`). A Route 53 record's name is its whole `name./TYPE/set` (README,
    "Ids"), kept from its start when it alone is too long."""
    if len(value) <= width:
        return value
    if width <= 1:
        return ELLIPSIS[:width]
    pair = _LABELLED.fullmatch(value)
    if pair is not None:  # `name (id)`: the name whole when it fits with some of the id, else the name cut
        name, inner = pair["name"], pair["id"]
        room = width - len(name) - 3
        return f"{name} ({shorten_id(inner, room)})" if room >= 4 else name[:width - 1] + ELLIPSIS
    budget = width - 1
    m = _KIND.match(value)
    head = m.group(0) if m else ""
    record = value.find("/recordset/")
    if record >= 0:
        start = pre = record + len("/recordset/")
    else:
        cut = max(value.rfind("/", len(head)), value.rfind(":", len(head)))
        if cut == len(value) - 1:  # a trailing separator: the name is the segment before it
            cut = max(value.rfind("/", len(head), cut), value.rfind(":", len(head), cut))
        start = cut + 1 if cut >= len(head) else len(value)
        before = max(value.rfind("/", len(head), max(cut, 0)), value.rfind(":", len(head), max(cut, 0)))
        pre = before if before >= len(head) else start  # ":role/" before "dns-bot"
    name, right = value[start:], value[pre:]
    if len(head) + len(right) <= budget:
        room = budget - len(head) - len(right)
        left = min(room, _AFTER_KIND)
        return value[:len(head) + left] + ELLIPSIS + value[pre - (room - left):]
    if len(name) <= budget:  # the name, its segment and as much before them as fits
        return ELLIPSIS + value[len(value) - budget:]
    if record >= 0:
        return name[:budget] + ELLIPSIS
    if len(head) < budget // 2:  # a long name (a UUID): the kind, then the name's end
        return head + ELLIPSIS + value[len(value) - (budget - len(head)):]
    keep = budget // 2
    return value[:budget - keep] + ELLIPSIS + value[len(value) - keep:]


def shorten_ids(values: Sequence[str], width: int) -> str:
    """A list of ids in `width`: all of them when they fit, else the first one shortened and "+N"."""
    whole = ", ".join(values)
    if len(whole) <= width or not values:
        return whole
    more = f" +{len(values) - 1}" if len(values) > 1 else ""
    return shorten_id(values[0], max(width - len(more), 1)) + more


def shorten_text(text: str, width: int) -> str:
    """`text` cut to `width` at a word boundary, ending in "…"."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    cut = text[:width - 1]
    space = cut.rfind(" ")
    if space >= width // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;") + ELLIPSIS


def when(value: Any) -> str:
    """A timestamp for a table: `2026-11-24 12:00:05 UTC` (no microseconds, UTC said); a date stays a date.
    JSON keeps the stored ISO 8601 text with its offset."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return text
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def count(n: int, one: str, many: str | None = None) -> str:
    """`1 finding`, `3 findings`."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


# --- rendering --------------------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "\n".join(_cell(v) for v in value)  # our own line breaks, between values
    if isinstance(value, dict):
        return printable(json.dumps(value, sort_keys=True))
    return printable(str(value))


def emit(rows: Sequence[Mapping[str, Any]], fmt: ListFormat, columns: Sequence[Column], out: TextIO,
         *, title: str | None = None, document: Any = None, compact: Sequence[Col] | None = None,
         long: bool = False) -> None:
    """Write `rows` in `fmt`. JSON writes `document` when given (a wrapper object), else the rows; CSV writes
    `columns` whole. A table is `compact` (one line per row, fitted to the terminal) unless `long` is asked or
    no compact columns are given; the long table folds every value whole."""
    if fmt is ListFormat.json:
        json.dump(document if document is not None else list(rows), out, indent=2, default=str)
        out.write("\n")
    elif fmt is ListFormat.csv:
        w = csv.writer(out, lineterminator="\n")
        w.writerow([h for h, _ in columns])
        for row in rows:
            w.writerow([safe_cell(get(row)) for _, get in columns])
    elif fmt is ListFormat.table:
        if compact is not None and not long:
            write_table(rows, compact, out, title=title)
        else:
            _long_table(rows, columns, out, title=title)
    else:  # pragma: no cover - exhaustive over ListFormat
        raise AssertionError(fmt)


def _long_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], out: TextIO, *,
                title: str | None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False, header_style="bold")
    for header, _ in columns:
        table.add_column(header, overflow="fold")
    for row in rows:  # Text, not markup: `[link=…]` in a name is shown, not obeyed
        table.add_row(*(Text(_cell(get(row))) for _, get in columns))
    width = terminal_width(out)
    Console(file=out, width=width or 200, soft_wrap=False).print(table)
    if not rows:
        out.write("(none)\n")


def terminal_width(out: TextIO) -> int | None:
    """Columns to fit a table into: the terminal's width (COLUMNS wins, as `shutil` reads it), COLUMNS when
    stdout is not a terminal but COLUMNS is set, else None: a pipe gets every value whole."""
    try:
        tty = out.isatty()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        tty = False
    if tty:
        return shutil.get_terminal_size().columns
    env = os.environ.get("COLUMNS", "")
    return int(env) if env.isdigit() and int(env) > 0 else None


_GAP = 2


def _flat(value: Any) -> Any:
    """A cell's value for a compact table: a string, or a list of strings for an id list."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return [printable(str(v)) for v in value]
    return printable(str(value))


def _natural(value: Any, fit: Fit) -> int:
    if isinstance(value, list):
        return max(map(len, value), default=0) if fit == "wrap" else len(", ".join(value))
    return len(value)


def _widths(natural: list[int], cols: Sequence[Col], width: int | None) -> list[int]:
    """Column widths that fit `width`: fixed columns keep theirs; each flexible column keeps its floor (its
    `min`) and a share of the rest in proportion to what it would need beyond it, so a long id keeps more
    than a short kind."""
    total = sum(natural) + _GAP * (len(natural) - 1)
    if width is None or total <= width:
        return natural
    flex = [i for i, c in enumerate(cols) if c.fit != "fixed"]
    room = width - (total - sum(natural[i] for i in flex))
    floors = {i: min(natural[i], max(cols[i].min, min(len(cols[i].header), 12))) for i in flex}
    spare = room - sum(floors.values())
    need = sum(natural[i] - floors[i] for i in flex)
    widths = list(natural)
    for i in flex:
        widths[i] = floors[i] + (max(spare, 0) * (natural[i] - floors[i]) // need if need else 0)
    left = room - sum(widths[i] for i in flex)
    for i in sorted(flex, key=lambda i: natural[i] - widths[i], reverse=True):  # rounding: hand out the rest
        give = max(min(left, natural[i] - widths[i]), 0)
        widths[i] += give
        left -= give
    return widths


def _lines(value: Any, col: Col, width: int) -> list[str]:
    """A cell's lines: one, except in a wrapping column, where each item of a list starts a line and text
    wraps between words (a word longer than the column, an id, is shortened in the middle)."""
    if isinstance(value, list):
        if col.fit == "wrap":
            return [line for item in value for line in _wrapped(item, width)] or [""]
        return [shorten_ids(value, width) if col.fit == "id" else ", ".join(value)]
    if col.fit == "id":
        return [shorten_id(value, width)]
    if col.fit == "text":
        return [shorten_text(value, width)]
    if col.fit == "wrap":
        return _wrapped(value, width)
    return [value]


def _wrapped(text: str, width: int) -> list[str]:
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]
    return [line if len(line) <= width else shorten_id(line, width) for line in lines]


def write_table(rows: Sequence[Mapping[str, Any]], cols: Sequence[Col], out: TextIO, *,
                title: str | None = None) -> None:
    """A compact table: upper-case headers, columns two spaces apart, fitted to the terminal's width by
    shortening the flexible columns; nothing is ever wrapped inside a word."""
    if title:
        out.write(printable(title) + "\n")
    if not rows:
        out.write("(none)\n")
        return
    cells = [[_flat(c.get(r)) for c in cols] for r in rows]
    headers = [c.header.upper() for c in cols]
    natural = [max([len(h)] + [_natural(row[i], cols[i].fit) for row in cells]) for i, h in enumerate(headers)]
    widths = _widths(natural, cols, terminal_width(out))
    last = len(cols) - 1

    def line(parts: list[str]) -> str:
        padded = []
        for i, (text, col) in enumerate(zip(parts, cols, strict=True)):
            if col.align == "right":
                padded.append(text.rjust(widths[i]))
            else:
                padded.append(text if i == last else text.ljust(widths[i]))
        return (" " * _GAP).join(padded).rstrip() + "\n"

    out.write(line([shorten_text(h, widths[i]) for i, h in enumerate(headers)]))
    for row in cells:
        blocks = [_lines(v, c, w) for v, c, w in zip(row, cols, widths, strict=True)]
        for k in range(max(len(b) for b in blocks)):
            out.write(line([b[k] if k < len(b) else "" for b in blocks]))
