"""Listing output: one place maps each --format to its renderer. Data goes to stdout only."""

from __future__ import annotations

import csv
import enum
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO


class ListFormat(str, enum.Enum):
    """Formats every listing command accepts."""

    table = "table"
    json = "json"
    csv = "csv"


#: A column: (header, how to get the cell from a row).
Column = tuple[str, Callable[[Mapping[str, Any]], Any]]

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
         *, title: str | None = None, document: Any = None) -> None:
    """Write `rows` in `fmt`. JSON writes `document` when given (a wrapper object), else the rows."""
    if fmt is ListFormat.json:
        json.dump(document if document is not None else list(rows), out, indent=2, default=str)
        out.write("\n")
    elif fmt is ListFormat.csv:
        w = csv.writer(out, lineterminator="\n")
        w.writerow([h for h, _ in columns])
        for row in rows:
            w.writerow([safe_cell(get(row)) for _, get in columns])
    elif fmt is ListFormat.table:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, show_lines=False, header_style="bold")
        for header, _ in columns:
            table.add_column(header, overflow="fold")
        for row in rows:  # Text, not markup: `[link=…]` in a name is shown, not obeyed
            table.add_row(*(Text(_cell(get(row))) for _, get in columns))
        Console(file=out, width=_width(out), soft_wrap=False).print(table)
        if not rows:
            out.write("(none)\n")
    else:  # pragma: no cover - exhaustive over ListFormat
        raise AssertionError(fmt)


def _width(out: TextIO) -> int | None:
    try:
        return None if out.isatty() else 200
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return 200
