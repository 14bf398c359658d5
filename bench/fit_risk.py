"""Fit the session-risk Markov chains on the benchmark's dev-split traces.

    python bench/fit_risk.py                  # writes gate/data/risk_model.json (level x secret seen)
    python bench/fit_risk.py --state secret,tainted --out /tmp/m.json
    python bench/fit_risk.py --levels         # chains over the levels alone (the first model's procedure)
    python bench/fit_risk.py --print          # prints the k-step tables only

The state components are those of gate.core.risk.COMPONENTS; which of them pays is measured
by leave-one-group-out cross-validation (bench/risk_cv.py), not here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.core.risk import RiskModel  # noqa: E402
from gate.evaluation.risk_fit import DEFAULT_BETA, DEFAULT_BETA_CATEGORY, DEFAULT_COMPONENTS, fit_risk_model  # noqa: E402
from gate.gate import Gate  # noqa: E402
from gate.settings import Settings  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(ROOT / "bench"))
    ap.add_argument("--out", default=str(ROOT / "gate" / "data" / "risk_model.json"))
    ap.add_argument("--state", default=",".join(DEFAULT_COMPONENTS), help="comma-separated state components after the level")
    ap.add_argument("--levels", action="store_true", help="chains over the levels alone")
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--beta", type=float, default=DEFAULT_BETA, help="pseudo-moves a pooled state's row borrows from its level's")
    ap.add_argument("--beta-category", type=float, default=DEFAULT_BETA_CATEGORY,
                    help="pseudo-moves a category's row borrows from the pooled row")
    ap.add_argument("--floor", type=float, default=0.01)
    ap.add_argument("--pooled", action="store_true", help="one chain for every category")
    ap.add_argument("--print", action="store_true", dest="only_print")
    a = ap.parse_args()
    gate = Gate.from_policies(Path(a.bench) / "policies", Settings(audit_path=None))
    components = None if a.levels else tuple(c for c in a.state.split(",") if c)
    spec = fit_risk_model(gate, Path(a.bench) / "traces", components=components, alpha=a.alpha, beta=a.beta, floor=a.floor,
                          per_category=not a.pooled, beta_category=a.beta_category)
    model = RiskModel.from_spec(spec, 5)
    n = model.chain("general").within.shape[1]
    for cat in spec["matrices"]:
        chain = model.chain(cat)
        print(f"{cat} ({spec['traces_per_category'][cat]} traces)")
        for i in range(n):
            print(f"  {model.state_name(i):40s} P(viol<=1)={chain.within[1, i]:.3f} P(viol<=5)={chain.within[5, i]:.3f} "
                  f"E[steps]={chain.expected[i]:.1f}")
    if not a.only_print:
        Path(a.out).write_text(json.dumps(spec, indent=1) + "\n", "utf-8")
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
