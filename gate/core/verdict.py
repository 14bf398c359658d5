"""Typed results: a `Verdict` comes from one check; a `Decision` is the final outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

__all__ = ["Outcome", "Patch", "Verdict", "Reason", "Decision"]

Outcome = Literal["pass", "flag", "rewrite", "block"]
DecisionKind = Literal["ALLOW", "BLOCK", "REWRITE"]


# Slotted, not frozen: a frozen dataclass sets every field through object.__setattr__,
# which costs ~40% more per instance on the request path. Treat them as immutable.
@dataclass(slots=True)
class Patch:
    """One typed transform of the arguments: the REWRITE is a logged edit, never silent."""

    path: str          # dotted arg path, list items as path[i]
    op: str            # "clamp" | "drop" | "redact" | "truncate"
    value: Any         # the new value at `path`


@dataclass(slots=True)
class Verdict:
    """What one check concluded. `flag` is soft evidence weighed by the consensus check."""

    check: str
    outcome: Outcome
    code: str
    message: str
    scores: Mapping[str, float] = field(default_factory=dict)
    patches: tuple[Patch, ...] = ()
    weight: float = 0.0

    def reason(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "code": self.code, "message": self.message}
        if self.scores:
            out["scores"] = {k: round(float(v), 4) for k, v in self.scores.items()}
        if self.patches:
            out["patches"] = [{"path": p.path, "op": p.op} for p in self.patches]
        return out


Reason = dict[str, Any]


@dataclass(slots=True)
class Decision:
    """The gate's answer for one call."""

    decision: DecisionKind
    action: dict[str, Any]
    reasons: tuple[Reason, ...]
    decision_id: str
    policy_revision: str
    agent: str
    session: str | None
    scores: Mapping[str, float]
    risk: Mapping[str, Any] | None
    trail: tuple[Verdict, ...]
    model: str
    dry_run: Mapping[str, Any] | None = None   # in dry-run mode: what would have been enforced

    @property
    def allowed(self) -> bool:
        return self.decision != "BLOCK"

    def to_dict(self, *, trail: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "decision": self.decision,
            "action": self.action,
            "reasons": list(self.reasons),
            "decision_id": self.decision_id,
            "policy_revision": self.policy_revision,
            "agent": self.agent,
            "session": self.session,
            "scores": {k: round(float(v), 4) for k, v in self.scores.items()},
            "model": self.model,
        }
        if self.risk is not None:
            out["risk"] = dict(self.risk)
        if self.dry_run is not None:
            out["dry_run"] = dict(self.dry_run)
        if trail:
            out["trail"] = [v.reason() | {"outcome": v.outcome} for v in self.trail]
        return out
