"""The exceptions every connector shares."""

from __future__ import annotations


class ReadOnlyViolation(RuntimeError):
    """A client's read-only guard refused an operation before anything was sent: it is not on the
    connector's allow-list of read-only metadata operations. The message names the operation."""


class PolicyError(ValueError):
    """A policy document outside its language's grammar. Parsers raise this and nothing else, so a
    connector records the policy as a gap (`parse_or_gap`) and goes on."""


class DeadlineReached(RuntimeError):
    """A request not sent because the connector's deadline had passed. A client raises it before each attempt
    (a retry included), so a call in flight at the deadline ends after its current attempt, and the run records
    one gap for it."""

    def __init__(self, deadline: int) -> None:
        super().__init__(f"not read, the connector's deadline of {deadline} s was reached")
