"""Cost of the session-risk check per decision, over the benchmark's dev cases.

    python bench/risk_cost.py            # p50 / p90 / p99 in microseconds; the last line is JSON

Each dev case's history is replayed through the gate, then the check context of its final call
is built as the decision function builds it, and `SessionRiskCheck.evaluate` is timed on a
fresh context (projection, state lookup, verdict) `--repeat` times; a case's figure is the
median of its repeats, the percentiles are over cases. Target: <= 10 us per decision.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.core.cascade import CheckRequest, _features, imprint  # noqa: E402
from gate.core.checks import CheckContext, SessionRiskCheck  # noqa: E402
from gate.core.session import EMPTY_SESSION  # noqa: E402
from gate.evaluation.data import load_cases  # noqa: E402
from gate.evaluation.runner import gate_variant, percentile  # noqa: E402
from gate.gate import Gate  # noqa: E402
from gate.settings import Settings  # noqa: E402
from gate.stores import session_key  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(ROOT / "bench"))
    ap.add_argument("--repeat", type=int, default=200)
    a = ap.parse_args()
    base = Gate.from_policies(Path(a.bench) / "policies", Settings(audit_path=None))
    gate = gate_variant(base)
    check = SessionRiskCheck()
    per_case: list[float] = []
    for case in load_cases(Path(a.bench) / "cases", "dev"):
        session = f"cost-{case.id}"
        stopped = False
        for step in case.history:
            d = gate.check({"agent": case.agent, "session": session, "task": case.task, "action": step["action"]})
            if d.decision == "BLOCK":
                stopped = True
                break
            gate.observe({"agent": case.agent, "session": session, "action": d.action, "result": step.get("result"),
                          "decision_id": d.decision_id})
        if stopped:
            continue
        agent = gate.bundle.agents[case.agent]
        req = CheckRequest(case.agent, session, case.task, case.action["tool"], dict(case.action.get("args") or {}))
        snap = imprint(gate.bundle, gate.store.get(session_key(case.agent, session)) or EMPTY_SESSION, req)
        tool = agent.tools.get(req.tool) if agent.tools is not None else None
        features = _features(agent, req.tool, req.args)
        times = []
        for _ in range(a.repeat):
            ctx = CheckContext(agent, tool, req.tool, req.args, features, snap, gate.bundle.library, snap.task)
            t0 = time.perf_counter()
            check.evaluate(ctx)
            times.append(time.perf_counter() - t0)
        per_case.append(statistics.median(times) * 1e6)
    out = {"cases": len(per_case), "p50_us": round(percentile(per_case, 50), 2), "p90_us": round(percentile(per_case, 90), 2),
           "p99_us": round(percentile(per_case, 99), 2), "max_us": round(max(per_case), 2)}
    print(f"session_risk check over {out['cases']} dev cases: p50 {out['p50_us']} us, p90 {out['p90_us']} us, "
          f"p99 {out['p99_us']} us (target <= 10 us)")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
