"""Compatibility name: the Vault evaluator is policy.py and its HCL1 reader hcl.py. Kept because callers
outside the connector (tests/safety) import `commonmode_vault.acl`."""

from __future__ import annotations

from commonmode_vault.policy import (
    ACL,
    CAPABILITIES,
    WRITES,
    PolicyError,
    Rule,
    Stanza,
    attached_policies,
    parse_policy,
    policy_name,
)

__all__ = ["ACL", "CAPABILITIES", "WRITES", "PolicyError", "Rule", "Stanza", "attached_policies", "parse_policy",
           "policy_name"]
