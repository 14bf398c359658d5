"""Test helpers: a gate over one policy written as text, and replaying a session's earlier
steps as an orchestrator would (check each call, then report what it returned with /v1/observe
semantics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gate import Gate
from gate.settings import Settings


def gate_from_yaml(directory: Path, policy: str, name: str = "agent.yaml") -> Gate:
    """A gate (no audit log) over the single policy `policy`, written into `directory`."""
    (directory / name).write_text(policy)
    return Gate.from_policies(directory, Settings(audit_path=None))


def codes(decision: Any) -> set[str]:
    """The reason codes of a decision."""
    return {r["code"] for r in decision.reasons}


def replay(gate: Gate, agent: str, session: str, task: str | None, steps: list[tuple[dict, Any]], *,
           none_blocked: bool = False) -> None:
    """Check then observe each (action, result) step; with `none_blocked`, every step must pass."""
    for action, result in steps:
        d = gate.check({"agent": agent, "session": session, "task": task, "action": action})
        if none_blocked:
            assert d.decision != "BLOCK", d.reasons
        gate.observe({"agent": agent, "session": session, "action": d.action, "result": result, "decision_id": d.decision_id})


def check_after(gate: Gate, agent: str, session: str, task: str | None, steps: list[tuple[dict, Any]], action: dict) -> Any:
    """Replay `steps` (none may be blocked), then decide `action` in the same session."""
    replay(gate, agent, session, task, steps, none_blocked=True)
    return gate.check({"agent": agent, "session": session, "task": task, "action": action})
