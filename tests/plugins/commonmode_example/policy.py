"""Pure evaluation: what a token's scopes allow. No SDK, no network.

A scope is `zone:<pattern>:<action>` (`*` a wildcard), optionally followed by `?ip=<cidr>`: then the token
works only from those addresses, which the scanner cannot know, so the answer is MAYBE."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from commonmode.kit import Decision, PolicyError, Tri


def parse_scope(scope: str) -> tuple[str, str, bool]:
    """(zone pattern, action, conditional) of one scope; PolicyError when it is not one."""
    body, _, condition = scope.partition("?")
    parts = body.split(":")
    if len(parts) != 3 or parts[0] != "zone" or not parts[1] or parts[2] not in ("read", "write"):
        raise PolicyError(f"scope {scope!r} is not zone:<pattern>:read|write")
    return parts[1], parts[2], bool(condition)


def can_write(scopes: Sequence[tuple[str, str, bool, str]], zone: str) -> Decision:
    """Whether scopes (pattern, action, conditional, as written) let a token change records in `zone`."""
    best, via = Tri.NO, ["no scope allows writing it"]
    for pattern, action, conditional, written in scopes:
        if action == "write" and fnmatch.fnmatchcase(zone, pattern):
            result = Tri.MAYBE if conditional else Tri.YES
            if result > best:
                best, via = result, [f"scope {written}"]
    if best is Tri.MAYBE:
        via.append("conditional: the scope limits source addresses, which the scanner cannot know")
    return Decision(best, tuple(via))
