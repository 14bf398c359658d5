"""Policy files: the typed model, the loader that validates them whole, and the linter."""

from __future__ import annotations

from gate.policy.loader import load_policies, load_policy_file, policy_schema
from gate.policy.model import AgentPolicy, Constraint, DenyRule, ToolEffect, ToolSpec

__all__ = [
    "AgentPolicy",
    "Constraint",
    "DenyRule",
    "ToolEffect",
    "ToolSpec",
    "load_policies",
    "load_policy_file",
    "policy_schema",
]
