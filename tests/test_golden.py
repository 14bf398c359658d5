"""Golden decision cases (OPA style): YAML files in tests/golden/, run against policies/.

Each file holds a list of cases:

    - name: refund above the cap is clamped
      request: {agent, session?, task?, action: {tool, args}}
      history:                       # optional: replayed in the same session first
        - action: {tool, args}
          result: ...                # what the tool returned (fed to gate.observe)
      expect:
        decision: ALLOW | BLOCK | REWRITE
        codes: [reason codes that must appear]
        args: {dotted.path: value after rewrite}
        absent: [substrings absent from every reason message and, unless BLOCK, the executed args]
      xfail: why                     # optional: a known gate bug (strict)

One `Gate` is built per module; cases without an explicit session get a fresh one of their own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gate import Gate
from gate.core.checks import _MISSING, get_path
from gate.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
DECISIONS = {"ALLOW", "BLOCK", "REWRITE"}


def _load_cases() -> list[Any]:
    params = []
    seen: set[str] = set()
    for path in sorted(GOLDEN.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text("utf-8")) or []:
            name = f"{path.stem}:{case['name']}"
            assert name not in seen, f"duplicate golden case name {name}"
            seen.add(name)
            marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if case.get("xfail") else []
            params.append(pytest.param(case, id=name, marks=marks))
    return params


CASES = _load_cases()


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate.from_policies(ROOT / "policies", Settings(audit_path=None))


def test_enough_golden_cases() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES)
def test_golden(gate: Gate, case: dict[str, Any], request: pytest.FixtureRequest) -> None:
    req = dict(case["request"])
    expect = case["expect"]
    assert expect["decision"] in DECISIONS
    history = case.get("history") or []
    if history and "session" not in req:
        req["session"] = f"golden-{request.node.callspec.id}"
    for step in history:
        body = {"agent": req["agent"], "session": req["session"], "action": step["action"]}
        if req.get("task"):
            body["task"] = req["task"]
        d = gate.check(body)
        gate.observe({**body, "result": step.get("result"), "decision_id": d.decision_id})
    decision = gate.check(req)
    codes = [r["code"] for r in decision.reasons]
    trail = [f"{v.check}:{v.outcome}:{v.code}" for v in decision.trail]
    assert decision.decision == expect["decision"], f"got {decision.decision} {codes}; trail {trail}"
    for code in expect.get("codes") or []:
        assert code in codes, f"{code} not in {codes}; trail {trail}"
    for dotted, value in (expect.get("args") or {}).items():
        got = get_path(decision.action["args"], dotted)
        assert got is not _MISSING, f"{dotted} missing from {decision.action['args']}"
        assert got == value, f"{dotted}: {got!r} != {value!r}"
    # A BLOCK executes nothing, so only its reasons are searched; otherwise the executed call too.
    executed = "" if decision.decision == "BLOCK" else json.dumps(decision.action["args"])
    messages = " | ".join(r["message"] for r in decision.reasons)
    for needle in expect.get("absent") or []:
        assert needle not in executed, f"{needle!r} still in the executed args"
        assert needle not in messages, f"{needle!r} in a reason message"
