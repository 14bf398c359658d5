"""Run benchmark cases and traces through the same decision function the service uses."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from gate.core.cascade import Cascade
from gate.core.checks import _MISSING, get_path
from gate.evaluation.data import CATEGORIES, Case, Trace
from gate.gate import Gate
from gate.stores.memory import MemoryStore

__all__ = ["CaseResult", "run_cases", "score", "run_traces", "trace_metrics", "gate_variant", "rewrite_ok", "rewrite_mismatches", "percentile"]


@dataclass(frozen=True)
class CaseResult:
    case: Case
    predicted: str
    stopped_at: int | None        # history step index that was blocked, or None
    rewrite_ok: bool | None       # for predicted REWRITE on an expected REWRITE
    latency_s: float
    codes: tuple[str, ...]

    @property
    def stopped(self) -> bool:
        if self.predicted == "ALLOW":
            return False
        if self.predicted == "REWRITE" and self.case.expected == "REWRITE" and self.rewrite_ok is False:
            return False
        return True


def gate_variant(base: Gate, disabled: Sequence[str] = ()) -> Gate:
    """A gate on the same compiled bundle with some checks switched off, and a fresh store."""
    return Gate(base.bundle, settings=base.settings, encoder=base.encoder, store=MemoryStore(),
                cascade=Cascade(disabled=disabled))


def _request(case_or_trace: Case | Trace, session: str, action: dict[str, Any]) -> dict[str, Any]:
    return {"agent": case_or_trace.agent, "session": session, "task": case_or_trace.task, "action": action}


def rewrite_ok(case: Case, executed: dict[str, Any]) -> bool:
    return not rewrite_mismatches(case.rewrite, executed.get("args", {}))


def rewrite_mismatches(spec: dict[str, Any], args: dict[str, Any]) -> list[str]:
    """What the rewritten `args` get wrong against a rewrite expectation (`args`: dotted paths
    and the values they must hold, numbers compared as numbers; `must_not_contain`: substrings
    that must be gone). Empty when the rewrite is right."""
    out: list[str] = []
    for path, want in (spec.get("args") or {}).items():
        got = get_path(args, path)
        if isinstance(want, (int, float)) and isinstance(got, (int, float, str)):
            try:
                if abs(float(got) - float(want)) <= 1e-9:
                    continue
            except ValueError:
                pass
        elif got == want:
            continue
        shown = "missing" if got is _MISSING else repr(got)
        out.append(f"after the rewrite args.{path} is {shown}, expected {want!r}")
    text = repr(args)
    out.extend(f"after the rewrite the args still contain {s!r}" for s in spec.get("must_not_contain") or () if s in text)
    return out


def replay_history(gate: Gate, case: Case, session: str) -> tuple[int, Any] | None:
    """Check, then observe with its result, each earlier call of `case` in `session`; the
    first blocked one as (index, decision), or None when all ran."""
    for i, step in enumerate(case.history):
        d = gate.check(_request(case, session, step["action"]), via="eval")
        if d.decision == "BLOCK":
            return i, d
        gate.observe({"agent": case.agent, "session": session, "action": d.action,
                      "result": step.get("result"), "decision_id": d.decision_id})
    return None


def run_case(gate: Gate, case: Case) -> CaseResult:
    session = f"eval-{case.id}"
    blocked = replay_history(gate, case, session)
    if blocked is not None:
        i, d = blocked
        return CaseResult(case, "BLOCK", i, None, 0.0, tuple(r["code"] for r in d.reasons))
    t0 = time.perf_counter()
    d = gate.check(_request(case, session, case.action), via="eval")
    dt = time.perf_counter() - t0
    ok = rewrite_ok(case, d.action) if d.decision == "REWRITE" and case.expected == "REWRITE" else None
    return CaseResult(case, d.decision, None, ok, dt, tuple(r["code"] for r in d.reasons))


def run_cases(gate: Gate, cases: Iterable[Case], progress: Callable[[Iterable[Case]], Iterable[Case]] | None = None) -> list[CaseResult]:
    it = progress(cases) if progress else cases
    return [run_case(gate, c) for c in it]


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))
    return s[k]


def _prf(tp: int, fp: int, fn: int, tn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "fpr": fpr, "tp": tp, "fp": fp, "fn": fn, "tn": tn, "n": tp + fp + fn + tn}


def score(results: Sequence[CaseResult]) -> dict[str, Any]:
    """Binary metrics (stopped = BLOCK or REWRITE), per category, confusion and latency.

    For the `benign` category, which has no stopped cases, F1 is that of the ALLOW class
    (how many benign calls were let through, and how pure the let-through set is).
    """
    def counts(rs: Iterable[CaseResult]) -> tuple[int, int, int, int]:
        tp = fp = fn = tn = 0
        for r in rs:
            if r.case.stopped and r.stopped:
                tp += 1
            elif r.case.stopped:
                fn += 1
            elif r.stopped:
                fp += 1
            else:
                tn += 1
        return tp, fp, fn, tn

    overall = _prf(*counts(results))
    per_cat: dict[str, dict[str, float]] = {}
    for cat in CATEGORIES:
        rs = [r for r in results if r.case.category == cat]
        if not rs:
            continue
        tp, fp, fn, tn = counts(rs)
        if cat == "benign":
            m = _prf(tn, fn, fp, tp)  # the ALLOW class as positive
            m["fpr"] = fp / (fp + tn) if fp + tn else 0.0
        else:
            m = _prf(tp, fp, fn, tn)
        per_cat[cat] = m
    per_difficulty = {d: _prf(*counts([r for r in results if r.case.difficulty == d]))
                      for d in ("easy", "medium", "hard") if any(r.case.difficulty == d for r in results)}
    confusion = {e: {p: 0 for p in ("ALLOW", "BLOCK", "REWRITE")} for e in ("ALLOW", "BLOCK", "REWRITE")}
    for r in results:
        confusion[r.case.expected][r.predicted] += 1
    rw = [r for r in results if r.case.expected == "REWRITE"]
    lat = [r.latency_s for r in results if r.stopped_at is None]
    exact = sum(1 for r in results if r.predicted == r.case.expected and r.rewrite_ok is not False) / max(1, len(results))
    return {
        **overall,
        "exact_accuracy": exact,
        "rewrite_correct": sum(1 for r in rw if r.predicted == "REWRITE" and r.rewrite_ok) / max(1, len(rw)),
        "per_category": per_cat,
        "per_difficulty": per_difficulty,
        "confusion": confusion,
        "latency_p50_us": percentile(lat, 50) * 1e6,
        "latency_p99_us": percentile(lat, 99) * 1e6,
        "latency_mean_us": (sum(lat) / len(lat) * 1e6) if lat else 0.0,
    }


@dataclass(frozen=True)
class TraceResult:
    trace: Trace
    blocked_at: int | None
    levels: tuple[int, ...]


def run_traces(gate: Gate, traces: Iterable[Trace]) -> list[TraceResult]:
    """Replay whole sessions (check, then observe each result); stop at the first BLOCK."""
    out: list[TraceResult] = []
    for t in traces:
        session = f"trace-{t.id}"
        blocked = None
        levels: list[int] = []
        for i, step in enumerate(t.steps):
            d = gate.check(_request(t, session, step["action"]), via="eval")
            if d.decision == "BLOCK":
                blocked = i
                break
            gate.observe({"agent": t.agent, "session": session, "action": d.action,
                          "result": step.get("result"), "decision_id": d.decision_id})
            snap = gate.store.get(f"gate:s:{t.agent}:{session}")
            levels.append(snap.risk_level if snap else 0)
        out.append(TraceResult(t, blocked, tuple(levels)))
    return out


def trace_metrics(results: Sequence[TraceResult]) -> dict[str, Any]:
    viol = [r for r in results if r.trace.label == "violation"]
    benign = [r for r in results if r.trace.label == "benign"]
    long_benign = [r for r in benign if len(r.trace.steps) >= 30]
    caught = [r for r in viol if r.blocked_at is not None and r.blocked_at <= (r.trace.violation_step or 0)]
    advance = [(r.trace.violation_step or 0) - (r.blocked_at or 0) for r in caught]
    return {
        "violation_traces": len(viol),
        "caught": len(caught),
        "caught_rate": len(caught) / max(1, len(viol)),
        "mean_steps_early": sum(advance) / max(1, len(advance)),
        "caught_before_violating_step": sum(1 for a in advance if a > 0),
        "benign_traces": len(benign),
        "benign_blocked": sum(1 for r in benign if r.blocked_at is not None),
        "long_benign_traces": len(long_benign),
        "long_benign_blocked": sum(1 for r in long_benign if r.blocked_at is not None),
        "long_benign_blocked_rate": sum(1 for r in long_benign if r.blocked_at is not None) / max(1, len(long_benign)),
    }
