"""Estate data into Markdown as inert text: no link, image, heading, HTML, list or mention can come from a
name, tag or metadata value (issue 12: owner tags like `](http://evil.example/x)`, metadata with a newline
and `## Approved`, `@team`, raw `<script>`).

- `code(v)`: an id or name in a code span (CommonMark "Code spans": a backtick run longer than any inside,
  padded with spaces), where nothing is interpreted, and GitHub makes no mention or autolink.
- `text(v)`: prose that carries estate values (evidence lines): ASCII punctuation that means something in
  CommonMark is backslash-escaped ("Backslash escapes": any ASCII punctuation may be), and the triggers of
  GitHub's autolinks ("Autolinks (extension)": `www.`, `http(s)://`, `ftp://`) and mentions (`@name`), which act on text
  after parsing so that a backslash cannot stop them, are broken with an invisible WORD JOINER (U+2060).
- Both remove newlines and control characters (C0, C1, bidi overrides), so a value is one inline run.
"""

from __future__ import annotations

import re
from typing import Any

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
#: Inline constructs (emphasis, code, links, images, HTML, entities, tables, strikethrough) ...
_SPECIAL = re.compile(r"([\\`*_{}\[\]()!|<>~&])")
#: ... and the block constructs a value could open at the start of a line (heading, list, quote, setext).
_LEADING = re.compile(r"^(\d+)([.)])|^([#+\-=>])")
_JOIN = "\u2060"
#: GitHub autolinks http://, https://, ftp:// and www. ("Autolinks (extension)"; other schemes such as
#: vault:// are not links) and mentions @name.
_TRIGGERS = re.compile(r"(?i)(@)(?=[a-z0-9])|(\b(?:https?|ftp):)(?=//)|\b(www)(?=\\?\.)")


def inline(value: Any) -> str:
    """`value` as one line: control characters and line breaks become a space."""
    return _CONTROL.sub(" ", "" if value is None else str(value)).strip()


def text(value: Any) -> str:
    """Estate-derived prose, escaped so that Markdown shows it literally."""
    escaped = _SPECIAL.sub(r"\\\1", inline(value))
    escaped = _LEADING.sub(lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(1) else f"\\{m.group(3)}", escaped)
    return _TRIGGERS.sub(lambda m: next(g for g in m.groups() if g) + _JOIN, escaped)


def code(value: Any) -> str:
    """An id or name as a code span (empty values as an em dash)."""
    v = inline(value)
    if not v:
        return "—"
    fence = "`" * (max((len(r) for r in re.findall(r"`+", v)), default=0) + 1)
    pad = " " if v.startswith("`") or v.endswith("`") or fence != "`" else ""
    return f"{fence}{pad}{v}{pad}{fence}"


def codes(values: Any, sep: str = ", ") -> str:
    """Several ids, each in its own code span."""
    return sep.join(code(v) for v in values) or "—"


_LABEL = re.compile(r"[^A-Za-z0-9._:-]+")


def label(value: Any) -> str:
    """A GitHub label from estate data: letters, digits and `._:-` only, at most 50 characters (GitHub's
    limit for a label name)."""
    return _LABEL.sub("-", inline(value)).strip("-")[:50] or "unknown"
