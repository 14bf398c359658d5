"""The typed, immutable form of a policy file (what the loader produces, the compiler consumes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

__all__ = ["ToolEffect", "Constraint", "ToolSpec", "StepMatch", "DenyRule", "Quota", "AgentPolicy"]


@dataclass(frozen=True)
class ToolEffect:
    """Declared effect of a tool; `None` fields are inferred from the call."""

    verb: str | None = None
    sensitivity: str | None = None
    destination: str | None = None
    reversible: str | None = None


@dataclass(frozen=True)
class Constraint:
    """A constraint on one argument (`arg` is a dotted path into the args)."""

    arg: str
    min: float | None = None
    max: float | None = None
    enum: tuple[Any, ...] | None = None
    domains_allow: tuple[str, ...] | None = None
    domains_deny: tuple[str, ...] | None = None
    paths_allow: tuple[str, ...] | None = None
    paths_deny: tuple[str, ...] | None = None
    pattern: str | None = None
    pattern_deny: tuple[str, ...] | None = None
    max_items: int | None = None
    max_length: int | None = None
    required: bool = False
    on_violation: str = "block"
    message: str | None = None


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str = ""
    effect: ToolEffect = field(default_factory=ToolEffect)
    args_schema: dict[str, Any] | None = None
    constraints: tuple[Constraint, ...] = ()


@dataclass(frozen=True)
class StepMatch:
    """An earlier call of the session that a flow rule looks for: its tool, conditions on its
    arguments and, for a call reported through /v1/observe, a regex over its result."""

    tool: tuple[str, ...] | None = None               # globs on the tool name (any matches); None: any tool
    when: tuple[tuple[str, str, Any], ...] = ()       # (arg path, operator, operand) on that call's args
    result_matches: str | None = None                 # regex over the observed result (compact JSON; a text result as is)


@dataclass(frozen=True)
class DenyRule:
    id: str
    tool: tuple[str, ...] | None            # globs on the tool name (any matches); None: every tool
    when: tuple[tuple[str, str, Any], ...]  # (arg path, operator, operand)
    message: str
    unless_task: str | None = None          # regex: the rule does not apply when the session task matches
    after: StepMatch | None = None          # applies only once an earlier call of the session matched this
    unless_after: StepMatch | None = None   # does not apply once an earlier call of the session matched this

    @property
    def flow(self) -> bool:
        return self.after is not None or self.unless_after is not None


@dataclass(frozen=True)
class Quota:
    """A quota: how many matching calls, and how much of one argument in total (an amount),
    one session may spend (`per: session`), or the agent across all its sessions and
    sessionless calls within a fixed time window (`per: agent`, `window_s`). Counted over the
    executed calls: allowed by /v1/check (as rewritten) or reported by /v1/observe."""

    id: str
    tool: tuple[str, ...]                   # globs on the tool name (any matches)
    when: tuple[tuple[str, str, Any], ...] = ()   # only calls whose args match count
    max_calls: int | None = None
    sum: str | None = None                  # dotted arg path whose numbers are added up
    max_total: float | None = None
    on_violation: str = "block"             # block | clamp (cut `sum` to what is left)
    message: str | None = None
    per: str = "session"                    # session | agent (every session and sessionless call of the agent)
    window_s: int | None = None             # per: agent: the counters reset every window (UTC-aligned)

    @property
    def agent_wide(self) -> bool:
        return self.per == "agent"


@dataclass(frozen=True)
class AgentPolicy:
    """One agent's policy, as written (validated, not yet compiled)."""

    agent: str
    identity: str
    source: str
    purposes: tuple[str, ...] = ()
    task_category: str = "general"
    internal_domains: tuple[str, ...] = ()
    tools: tuple[ToolSpec, ...] | None = None
    deny: tuple[DenyRule, ...] = ()
    redact_secrets: str = "rewrite"
    redact_pii: str = "rewrite"
    thresholds: dict[str, float] = field(default_factory=dict)
    risk: dict[str, Any] = field(default_factory=dict)
    credentials: tuple[str, ...] = ()
    allow_operations: tuple[str, ...] = ()      # built-in dangerous-operation codes this agent may run
    flow_rules: tuple[DenyRule, ...] = ()       # the deny rules with `after` / `unless_after` (a subset of `deny`)
    quotas: tuple[Quota, ...] = ()
    trusted_results: tuple[str, ...] = ()       # tool globs whose results vouch for the destinations they name
    untrusted_results: tuple[str, ...] = ()     # tool globs whose results taint every destination they name

    def result_trust(self, tool: str) -> str | None:
        """"trusted", "untrusted" or None (judged by the shape of the result) for `tool`'s results."""
        if self.untrusted_results and any(fnmatchcase(tool, g) for g in self.untrusted_results):
            return "untrusted"
        if self.trusted_results and any(fnmatchcase(tool, g) for g in self.trusted_results):
            return "trusted"
        return None
