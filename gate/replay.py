"""Replay an audit log: re-decide every record against the serving bundle and compare.

Each record holds the session state before the call, the request (arguments masked) and
the decision with its reason codes. A record decided under another policy revision is
reported as such; a record whose arguments were masked is replayed on the masked form
(a secret redacted in the log can no longer trip the secret check), and flagged.
Observation records (accepted /v1/observe reports) are counted and skipped: each decision
record carries the session state it was decided on, so replay needs nothing else.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from gate.audit import OBSERVATION
from gate.core.cascade import decide, parse_request
from gate.core.session import SessionSnapshot
from gate.gate import Gate

__all__ = ["replay_record", "replay_file"]


def _snapshot(gate: Gate, d: dict[str, Any] | None) -> SessionSnapshot:
    if not d:
        return SessionSnapshot()
    snap = SessionSnapshot.from_json(orjson.dumps(d))
    if snap.task:
        snap = replace(snap, task_vec=gate.bundle.library.task_vector(snap.task))
    return snap


def replay_record(gate: Gate, rec: dict[str, Any]) -> dict[str, Any]:
    """Re-decide one audit record; returns what differs (empty `diff` when it matches)."""
    req = parse_request({"agent": rec["agent"], "session": rec.get("session"), "task": rec.get("task"),
                         "action": rec["action"]})
    budget = rec.get("budget_before")   # the agent-wide quotas' counters the decision saw
    d, _ = decide(gate.bundle, gate.cascade, _snapshot(gate, rec.get("session_before")), req, "replay",
                  {k: (int(n), float(t)) for k, (n, t) in budget.items()} if isinstance(budget, dict) else None)
    diff: dict[str, Any] = {}
    if d.decision != rec["decision"]:
        diff["decision"] = [rec["decision"], d.decision]
    codes = [r["code"] for r in d.reasons]
    if codes != rec["reasons"]:
        diff["reasons"] = [rec["reasons"], codes]
    return {"decision_id": rec["decision_id"], "diff": diff, "same_revision": rec["policy_revision"] == gate.revision,
            "masked": bool(rec.get("masked"))}


def replay_file(gate: Gate, path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"replayed": 0, "matched": 0, "mismatched": 0, "other_revision": 0, "masked": 0,
                           "masked_differs": 0, "not_replayable": 0, "observations": 0, "mismatches": []}
    with Path(path).open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            rec = orjson.loads(line)
            source = rec.get("source", "core")
            if source == OBSERVATION:
                out["observations"] += 1     # a reported call, not a decision
                continue
            if source != "core":
                # decided by a sidecar's own guard (e.g. a rug-pulled MCP tool), not by the core
                out["not_replayable"] += 1
                continue
            res = replay_record(gate, rec)
            out["replayed"] += 1
            out["other_revision"] += int(not res["same_revision"])
            out["masked"] += int(res["masked"])
            if res["diff"] and res["masked"]:
                out["masked_differs"] += 1   # the log never held the secret that decided it
            elif res["diff"]:
                out["mismatched"] += 1
                out["mismatches"].append(res)
            else:
                out["matched"] += 1
    return out
