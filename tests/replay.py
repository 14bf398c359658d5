"""Replaying a session's earlier steps in tests, as an orchestrator would: check each call,
then report what it returned with /v1/observe semantics."""

from __future__ import annotations

from typing import Any

from gate import Gate


def replay(gate: Gate, agent: str, session: str, task: str | None, steps: list[tuple[dict, Any]], *,
           none_blocked: bool = False) -> None:
    """Check then observe each (action, result) step; with `none_blocked`, every step must pass."""
    for action, result in steps:
        d = gate.check({"agent": agent, "session": session, "task": task, "action": action})
        if none_blocked:
            assert d.decision != "BLOCK", d.reasons
        gate.observe({"agent": agent, "session": session, "action": d.action, "result": result, "decision_id": d.decision_id})
