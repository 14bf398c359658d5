"""Tune the soft checks' thresholds and weights on the benchmark's DEV split only.

    python bench/tune.py [--trials 300] [--frame-encoder static|full] [--max-fpr 0.04]

Random search (fixed seed) over the semantic-scope, task-drift and harm-resonance
thresholds, the consensus weights, the harm margin and the tool/argument blend; the
objective is dev F1 subject to dev FPR <= --max-fpr and to at most --max-trace-fa of the
benign dev session traces ever being blocked. Prints the best configuration as
JSON; the defaults in gate/core/compiler.py are set from it by hand. The test split is
never read.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.core.compiler import DEFAULT_THRESHOLDS, DEFAULT_TUNING, DEFAULT_WEIGHTS, Bundle  # noqa: E402
from gate.evaluation.data import load_cases, load_traces  # noqa: E402
from gate.evaluation.runner import gate_variant, run_cases, run_traces, score, trace_metrics  # noqa: E402
from gate.gate import Gate  # noqa: E402
from gate.settings import Settings  # noqa: E402

SPACE: dict[str, tuple[float, float]] = {
    "thr.scope": (0.05, 0.45), "thr.drift": (-0.1, 0.35), "thr.harm": (0.35, 0.8),
    "w.scope_undeclared": (0.2, 1.0), "w.scope_declared": (0.0, 0.6), "w.drift": (0.0, 0.8),
    "w.harm": (0.2, 1.0), "w.injection": (0.2, 1.0),
    "t.harm_margin": (-0.05, 0.15), "t.tool_blend": (0.0, 0.7),
    "thr.prohibited": (0.3, 0.8), "thr.scope_floor": (-0.05, 0.25), "t.drift_ewma_max": (0.6, 1.0),
    "thr.pressure": (1.0, 4.0), "w.pressure": (0.2, 1.0), "w.prohibited": (0.2, 1.0), "t.prohibited_margin": (-0.1, 0.15),
}


def variant(base: Bundle, cfg: dict[str, float]) -> Bundle:
    thr = {k[4:]: v for k, v in cfg.items() if k.startswith("thr.")}
    w = {k[2:]: v for k, v in cfg.items() if k.startswith("w.")}
    agents = {
        name: replace(a, thresholds={**a.thresholds, **{k: v for k, v in thr.items() if k not in a.policy.thresholds}},
                      weights={**a.weights, **w}, harm_margin=cfg.get("t.harm_margin", a.harm_margin),
                      prohibited_margin=cfg.get("t.prohibited_margin", a.prohibited_margin),
                      drift_ewma_max=cfg.get("t.drift_ewma_max", a.drift_ewma_max))
        for name, a in base.agents.items()
    }
    lib = replace(base.library, tool_blend=cfg.get("t.tool_blend", base.library.tool_blend), task_cache={},
                  semantic_cache={}, sessionless={})   # caches hold results of the old blend
    return replace(base, agents=agents, library=lib)


def evaluate(gate: Gate, bundle: Bundle, cases: list[Any], traces: list[Any]) -> dict[str, Any]:
    g = gate_variant(gate)
    g._bundle = bundle
    m = score(run_cases(g, cases))
    t = trace_metrics(run_traces(g, traces))
    m["trace_fa"] = t["benign_blocked"] / max(1, t["benign_traces"])
    m["trace_caught"] = t["caught_rate"]
    return m


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--frame-encoder", default="static", choices=["static", "full"])
    ap.add_argument("--max-fpr", type=float, default=0.04)
    ap.add_argument("--max-trace-fa", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--grid", nargs="+", metavar="KEY=V1,V2,...",
                    help="instead of random search, evaluate the product of these values (other keys at their defaults)")
    a = ap.parse_args()
    gate = Gate.from_policies(ROOT / "bench" / "policies", Settings(audit_path=None, frame_encoder=a.frame_encoder))
    dev = load_cases(ROOT / "bench" / "cases", "dev")
    dev_traces = load_traces(ROOT / "bench" / "traces", "dev")
    current = {**{f"thr.{k}": v for k, v in DEFAULT_THRESHOLDS.items()}, **{f"w.{k}": v for k, v in DEFAULT_WEIGHTS.items()},
               "t.harm_margin": DEFAULT_TUNING["harm_margin"], "t.tool_blend": DEFAULT_TUNING["tool_blend"],
               "t.prohibited_margin": DEFAULT_TUNING["prohibited_margin"], "t.drift_ewma_max": DEFAULT_TUNING["drift_ewma_max"]}
    if a.grid:
        axes = [(k, [float(x) for x in vs.split(",")]) for k, vs in (g.split("=", 1) for g in a.grid)]
        for values in itertools.product(*[v for _, v in axes]):
            cfg = dict(zip([k for k, _ in axes], values, strict=True))
            m = evaluate(gate, variant(gate.bundle, cfg), dev, dev_traces)
            print(json.dumps({"config": cfg, "dev_f1": round(m["f1"], 4), "dev_fpr": round(m["fpr"], 4),
                              "dev_trace_false_alarms": round(m["trace_fa"], 3)}))
        return 0
    rng = random.Random(a.seed)
    best_cfg, best = current, evaluate(gate, variant(gate.bundle, current), dev, dev_traces)
    print(f"current defaults: F1 {best['f1']:.4f} FPR {best['fpr']:.4f} trace false alarms {best['trace_fa']:.2f}")
    if best["fpr"] > a.max_fpr or best["trace_fa"] > a.max_trace_fa:
        best = {**best, "f1": -1.0}   # the current defaults break a constraint: any feasible trial wins
    for i in range(a.trials):
        cfg = {k: round(rng.uniform(lo, hi), 3) for k, (lo, hi) in SPACE.items()}
        m = evaluate(gate, variant(gate.bundle, cfg), dev, dev_traces)
        ok = m["fpr"] <= a.max_fpr and m["trace_fa"] <= a.max_trace_fa
        if ok and (m["f1"], -m["fpr"]) > (best["f1"], -best["fpr"]):
            best_cfg, best = cfg, m
            print(f"trial {i}: F1 {m['f1']:.4f} P {m['precision']:.4f} R {m['recall']:.4f} FPR {m['fpr']:.4f} "
                  f"trace FA {m['trace_fa']:.2f} caught {m['trace_caught']:.2f}")
    print(json.dumps({"frame_encoder": a.frame_encoder, "dev_f1": round(best["f1"], 4), "dev_fpr": round(best["fpr"], 4),
                      "dev_trace_false_alarms": round(best["trace_fa"], 3), "config": best_cfg}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
