"""One three-valued answer, with the chain of reasons that gave it: what every permission engine returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Tri(enum.IntEnum):
    """A three-valued answer, ordered so that `min` is AND and `max` is OR. MAYBE: it depends on something
    the scanner cannot know (a condition it cannot settle); the grant built from it is `conditional`."""

    NO = 0
    MAYBE = 1
    YES = 2

    def __invert__(self) -> Tri:  # three-valued NOT, not int's bitwise ~
        return Tri(2 - int(self))


@dataclass(frozen=True)
class Decision:
    """Whether a request (an action, a capability on a path) is allowed, and why: `via` names the policies,
    statements or rules that decided it, in order, as the grant's `via` will."""

    result: Tri
    via: tuple[str, ...]

    @property
    def granted(self) -> bool:
        """Allowed, surely or under a condition."""
        return self.result is not Tri.NO

    @property
    def conditional(self) -> bool:
        """Allowed only under a condition the scanner cannot settle."""
        return self.result is Tri.MAYBE
