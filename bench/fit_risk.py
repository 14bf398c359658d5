"""Fit the session-risk Markov chains on the benchmark's dev-split traces.

    python bench/fit_risk.py            # writes gate/data/risk_model.json
    python bench/fit_risk.py --print    # prints the matrices and k-step tables only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.core.risk import RiskChain  # noqa: E402
from gate.core.session import RISK_LEVELS  # noqa: E402
from gate.evaluation.risk_fit import fit_risk_model  # noqa: E402
from gate.gate import Gate  # noqa: E402
from gate.settings import Settings  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(ROOT / "bench"))
    ap.add_argument("--out", default=str(ROOT / "gate" / "data" / "risk_model.json"))
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--floor", type=float, default=0.01)
    ap.add_argument("--print", action="store_true", dest="only_print")
    a = ap.parse_args()
    gate = Gate.from_policies(Path(a.bench) / "policies", Settings(audit_path=None))
    spec = fit_risk_model(gate, Path(a.bench) / "traces", alpha=a.alpha, floor=a.floor)
    for cat, P in spec["matrices"].items():
        chain = RiskChain.from_matrix(np.array(P), 10)
        print(f"{cat} ({spec['traces_per_category'][cat]} traces)")
        for i, lvl in enumerate(RISK_LEVELS[:-1]):
            print(f"  {lvl:9s} P(viol<=1)={chain.within[1, i]:.3f} P(viol<=5)={chain.within[5, i]:.3f} E[steps]={chain.expected[i]:.1f}")
    if not a.only_print:
        Path(a.out).write_text(json.dumps(spec, indent=1) + "\n", "utf-8")
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
