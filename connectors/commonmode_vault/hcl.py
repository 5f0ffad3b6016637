"""HCL1, as Vault and OpenBao read policy text: hashicorp/hcl v1's scanner and parser (enough for policies),
and its lenient JSON reader for text that starts with `{`. Produces the object model (items with keys and
values) that policy.py decodes into stanzas. Pure code; raises PolicyError and nothing else."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from commonmode.kit import PolicyError

# Go's unicode.IsSpace: what strings.TrimSpace removes (around a policy name; before a JSON policy's `{`).
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
           "\u2028\u2029\u202f\u205f\u3000"


#: A literal's decoded value: str (STRING, HEREDOC), int (NUMBER), float (FLOAT), bool (BOOL), None (NULL).
Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Lit:
    kind: str  # STRING HEREDOC NUMBER FLOAT BOOL NULL
    text: str
    value: Scalar


@dataclass(frozen=True)
class List:
    items: tuple[Value, ...]


@dataclass(frozen=True)
class Obj:
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Item:
    keys: tuple[str, ...]
    value: Value


#: What a key is assigned, or a list holds.
Value = Lit | List | Obj


_PUNCT = {"{": "LBRACE", "}": "RBRACE", "[": "LBRACK", "]": "RBRACK", ",": "COMMA", "=": "ASSIGN",
          ".": "PERIOD", "+": "ADD", "-": "SUB"}
_NUMBER = re.compile(r"-?(0[xX][0-9a-fA-F]+|\d+(\.\d+)?([eE][-+]?\d+)?)")
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
                   '"': '"'}


class _Lexer:
    """HCL1's scanner (hashicorp/hcl v1 hcl/scanner), enough for policies: identifiers, numbers, strings
    with escapes and `${...}` kept verbatim, heredocs, `#`, `//` and `/* */` comments."""

    def __init__(self, text: str) -> None:
        self.text, self.i, self.line, self.col = text, 0, 1, 1

    def fail(self, msg: str) -> PolicyError:
        return PolicyError(f"At {self.line}:{self.col}: {msg}")

    def advance(self, n: int = 1) -> None:
        for ch in self.text[self.i:self.i + n]:
            self.line, self.col = (self.line + 1, 1) if ch == "\n" else (self.line, self.col + 1)
        self.i += n

    def tokens(self) -> Iterator[tuple[str, object]]:
        t = self.text
        while True:
            while self.i < len(t) and t[self.i] in " \t\r\n":
                self.advance()
            if self.i >= len(t):
                yield "EOF", None
                return
            ch = t[self.i]
            if ch == "#" or t.startswith("//", self.i):
                end = t.find("\n", self.i)
                self.advance((len(t) if end < 0 else end) - self.i)
            elif t.startswith("/*", self.i):
                end = t.find("*/", self.i + 2)
                if end < 0:
                    raise self.fail("comment not terminated")
                self.advance(end + 2 - self.i)
            elif ch == "/":
                raise self.fail("expected '/' for comment")
            elif ch.isalpha() or ch == "_":
                j = self.i
                while j < len(t) and (t[j].isalnum() or t[j] in "_-."):
                    j += 1
                word = t[self.i:j]
                self.advance(j - self.i)
                yield ("BOOL", word == "true") if word in ("true", "false") else ("IDENT", word)
            elif ch.isdigit() or (ch == "-" and t[self.i + 1:self.i + 2].isdigit()):
                m = _NUMBER.match(t, self.i)
                assert m is not None
                self.advance(m.end() - self.i)
                kind = "FLOAT" if m.group(2) or m.group(3) else "NUMBER"
                yield kind, m.group(0)
            elif ch == '"':
                yield "STRING", self.string()
            elif t.startswith("<<", self.i):
                yield "HEREDOC", self.heredoc()
            elif ch in _PUNCT:
                self.advance()
                yield _PUNCT[ch], ch
            else:
                raise self.fail("illegal char")

    def string(self) -> str:
        t, depth = self.text, 0
        out: list[str] = []
        self.advance()
        while True:
            if self.i >= len(t) or (t[self.i] == "\n" and depth == 0):
                raise self.fail("literal not terminated")
            ch = t[self.i]
            if depth == 0 and ch == '"':
                self.advance()
                return "".join(out)
            if t.startswith("${", self.i):
                depth += 1
                out.append("${")
                self.advance(2)
                continue
            if depth and ch == "}":
                depth -= 1
            elif depth and ch == "{":
                depth += 1
            if ch == "\\" and depth == 0:
                out.append(self.escape())
                continue
            out.append(ch)
            self.advance()

    def escape(self) -> str:
        t = self.text
        nxt = t[self.i + 1:self.i + 2]
        if nxt in _SIMPLE_ESCAPES:
            self.advance(2)
            return _SIMPLE_ESCAPES[nxt]
        for lead, size, base in (("x", 2, 16), ("u", 4, 16), ("U", 8, 16)):
            digits = t[self.i + 2:self.i + 2 + size]
            if nxt == lead and len(digits) == size and all(c in "0123456789abcdefABCDEF" for c in digits):
                self.advance(2 + size)
                return chr(int(digits, base))
        digits = t[self.i + 1:self.i + 4]
        if len(digits) == 3 and all(c in "01234567" for c in digits):
            self.advance(4)
            return chr(int(digits, 8))
        raise self.fail("illegal char escape")

    def heredoc(self) -> str:
        t = self.text
        m = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)\r?\n").match(t, self.i)
        if m is None:
            raise self.fail("heredoc expected marker")
        lines: list[str] = []
        pos = m.end()
        while pos <= len(t):
            end = t.find("\n", pos)
            line = t[pos:] if end < 0 else t[pos:end]
            if (line.strip() if m.group(1) else line.rstrip("\r")) == m.group(2):
                self.advance((len(t) if end < 0 else end) - self.i)
                if m.group(1):  # <<- removes the closing marker's indentation from every line
                    indent = line[:len(line) - len(line.lstrip())]
                    if all(x.startswith(indent) or not x.strip() for x in lines):
                        lines = [x[len(indent):] for x in lines]
                return "".join(x + "\n" for x in lines)
            if end < 0:
                break
            lines.append(line)
            pos = end + 1
        raise self.fail("heredoc not terminated")


class _Parser:
    """HCL1's parser (hcl/parser): object items `key key... { }` or `key = value`, optional commas
    between items and list elements (a comma is required between list elements)."""

    def __init__(self, text: str) -> None:
        self.lexer = _Lexer(text)
        self.stream = self.lexer.tokens()
        self.tok: tuple[str, object] = next(self.stream)

    def fail(self, msg: str) -> PolicyError:
        return self.lexer.fail(msg)

    def take(self) -> tuple[str, object]:
        tok, self.tok = self.tok, (next(self.stream) if self.tok[0] != "EOF" else self.tok)
        return tok

    def object_list(self, nested: bool) -> tuple[Item, ...]:
        items: list[Item] = []
        while not (self.tok[0] == "EOF" or (nested and self.tok[0] == "RBRACE")):
            items.append(self.item())
            if self.tok[0] == "COMMA":
                self.take()
        return tuple(items)

    def item(self) -> Item:
        keys: list[str] = []
        while self.tok[0] in ("IDENT", "STRING"):
            keys.append(str(self.take()[1]))
        kind = self.tok[0]
        if kind == "ASSIGN":
            if len(keys) > 1:
                raise self.fail("nested object expected: LBRACE got: ASSIGN")
            if not keys:
                raise self.fail("expected: IDENT | STRING | ASSIGN | LBRACE got: ASSIGN")
            self.take()
            return Item(tuple(keys), self.value())
        if kind == "LBRACE":
            if not keys:
                raise self.fail("expected: IDENT | STRING got: LBRACE")
            return Item(tuple(keys), self.obj())
        if keys:
            raise self.fail(f"key {' '.join(keys)!r} expected start of object ('{{') or assignment ('=')")
        raise self.fail(f"expected: IDENT | STRING | ASSIGN | LBRACE got: {kind}")

    def value(self) -> Value:
        kind, text = self.tok
        if kind in ("NUMBER", "FLOAT", "BOOL", "STRING", "HEREDOC"):
            self.take()
            return literal(kind, text)
        if kind == "LBRACE":
            return self.obj()
        if kind == "LBRACK":
            return self.list()
        raise self.fail(f"Unknown token: {kind} {text}")

    def obj(self) -> Obj:
        self.take()
        items = self.object_list(nested=True)
        if self.tok[0] != "RBRACE":
            raise self.fail(f"object expected closing RBRACE got: {self.tok[0]}")
        self.take()
        return Obj(items)

    def list(self) -> List:
        self.take()
        out: list[Value] = []
        need_comma = False
        while True:
            kind = self.tok[0]
            if kind == "RBRACK":
                self.take()
                return List(tuple(out))
            if kind == "COMMA":
                self.take()
                need_comma = False
                continue
            if kind not in ("NUMBER", "FLOAT", "STRING", "HEREDOC", "BOOL", "LBRACE", "LBRACK"):
                raise self.fail(f"unexpected token while parsing list: {kind}")
            if need_comma:
                raise self.fail(f"error parsing list, expected comma or list end, got: {kind}")
            out.append(self.value())
            need_comma = True


def go_int(text: str) -> int:
    """strconv.ParseInt(text, 0, 64): decimal, 0x hexadecimal or 0-led octal."""
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if digits[:2].lower() == "0x":
        return sign * int(digits[2:], 16)
    return sign * int(digits, 8 if len(digits) > 1 and digits.startswith("0") else 10)


def literal(kind: str, text: object) -> Lit:
    if kind == "NUMBER":
        return Lit(kind, str(text), go_int(str(text)))
    if kind == "FLOAT":
        return Lit(kind, str(text), float(str(text)))
    if kind == "BOOL":
        return Lit(kind, "true" if text else "false", bool(text))
    return Lit(kind, str(text), str(text))


_JSON_TOKEN = re.compile(r'''\s*(?:
      (?P<str>"(?:[^"\\\n]|\\.)*")
    | (?P<num>-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.]))   # a leading 0 only alone, as the server
    | (?P<word>true|false|null)(?!\w)
    | (?P<punct>[{}\[\],:]))''', re.VERBOSE)


class _Json:
    """HCL1's own JSON reader (hcl/json/parser), which a JSON policy goes through: commas are optional and
    may repeat in lists, `true`/`false` inside a list are dropped, an unclosed object ends at the end of
    the text, and anything after the root object is ignored. A list inside a list is refused: the server's
    reader lets the inner `]` close the outer list too and reads the rest at the wrong level."""

    def __init__(self, text: str) -> None:
        self.text, self.i = text, 0

    def fail(self, msg: str) -> PolicyError:
        return PolicyError(f"{msg} (JSON, at character {self.i})")

    def peek(self) -> tuple[str, str]:
        if not self.text[self.i:].strip():
            return "EOF", ""
        m = _JSON_TOKEN.match(self.text, self.i)
        if m is None:
            raise self.fail("illegal char")
        kind = next(k for k in ("str", "num", "word", "punct") if m.group(k) is not None)
        return kind, m.group(kind)

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] != "EOF":
            m = _JSON_TOKEN.match(self.text, self.i)
            assert m is not None
            self.i = m.end()
        return tok

    def root(self) -> Obj:
        _, text = self.take()
        if text != "{":
            raise self.fail("does not contain a root object")
        return self.obj()

    def obj(self) -> Obj:
        items: list[Item] = []
        while True:
            kind, text = self.take()
            if kind == "EOF" or text == "}":
                return Obj(tuple(items))
            if kind != "str":
                raise self.fail(f"expected: STRING got: {text}")
            if self.take()[1] != ":":
                raise self.fail("expected: COLON")
            items.append(Item((json.loads(text),), self.value(self.take())))
            if self.peek()[1] == ",":
                self.take()

    def value(self, tok: tuple[str, str]) -> Value:
        kind, text = tok
        if text == "{":
            return self.obj()
        if text == "[":
            return List(tuple(self.elements()))
        if kind == "str":
            return Lit("STRING", json.loads(text), json.loads(text))
        if kind == "num":
            return Lit("FLOAT", text, float(text)) if re.search(r"[.eE]", text) else Lit("NUMBER", text, int(text))
        if kind == "word":
            return Lit("NULL", "null", None) if text == "null" else Lit("BOOL", text, text == "true")
        raise self.fail(f"unexpected token {text or kind}")

    def elements(self) -> list[Value]:
        out: list[Value] = []
        while True:
            tok = self.take()
            if tok[1] == "]":
                return out
            if tok[1] == "," or tok[1] in ("true", "false"):
                continue
            if tok[0] == "EOF" or tok[1] in ("null", ":", "}"):
                raise self.fail(f"unexpected token while parsing list: {tok[1] or tok[0]}")
            if tok[1] == "[":
                raise self.fail("a list inside a list, which the server's JSON reader mis-nests: not evaluated")
            out.append(self.value(tok))


def _flatten(node: Value) -> Value:
    """HCL1's JSON flattening (json/parser flatten.go): an object whose values are all objects becomes
    items with longer keys, and a list of objects becomes repeated items, so `{"path": {"x": {...}}}` is
    `path "x" {...}`."""
    if isinstance(node, List):
        return List(tuple(_flatten(e) for e in node.items))
    if not isinstance(node, Obj):
        return node
    out: list[Item] = []
    frontier = list(node.items)
    while frontier:
        item = frontier.pop()
        v = item.value
        if isinstance(v, Obj) and v.items and all(isinstance(s.value, Obj) for s in v.items):
            frontier.extend(Item(item.keys + s.keys, s.value) for s in v.items)
        elif isinstance(v, List) and v.items and all(isinstance(e, Obj) for e in v.items):
            frontier.extend(Item(item.keys, e) for e in v.items)
        else:
            out.append(item)
    return Obj(tuple(Item(i.keys, _flatten(i.value)) for i in reversed(out)))


def parse_text(text: str) -> tuple[Item, ...]:
    if text.strip(GO_SPACE).startswith("{"):
        flat = _flatten(_Json(text).root())
        assert isinstance(flat, Obj)
        return flat.items
    return _Parser(text).object_list(nested=False)
