"""Leave-one-group-out cross-validation of session-risk model designs over the dev traces.

    python bench/risk_cv.py                          # the standard designs at the policies' horizon/threshold
    python bench/risk_cv.py --model old.json         # also a fixed model file (no fitting: CV = in-sample)
    python bench/risk_cv.py --designs secret --sweep # thresholds 0.3..0.9 x horizons 3, 5, 8
    python bench/risk_cv.py --folds                  # per held-out group figures too

A group is a trace file (bench/traces/*.yaml): the rounds were written by different authors at
different times, so a held-out file is the closest thing to unseen data the dev split offers.
Only dev-split traces are read. For each fold the design is fitted on the other groups' traces
(gate.evaluation.risk_fit), installed as every agent's risk model, and the held-out traces are
run through the gate's own trace runner (gate.evaluation.runner.run_traces, what `gate eval`
reports). Per design: violating traces stopped at or before their violating step (and how many
steps early, on average), and long (30+ step) benign traces ever blocked, in-sample (fitted and
run on all dev traces) and summed over the held-out folds; and the dev cases' F1 and FPR with the
model fitted on all dev traces (the cases are never fitted on). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from gate.evaluation.data import Trace, load_cases, load_traces  # noqa: E402
from gate.evaluation.risk_fit import (DEFAULT_BETA, DEFAULT_BETA_CATEGORY, STOP_AT_BLOCK, agent_categories, with_risk_model, fit_level_spec, fit_state_spec, level_sequences, record_states,  # noqa: E402
                                      state_sequences)
from gate.evaluation.runner import run_cases, run_traces, score, trace_metrics  # noqa: E402
from gate.gate import Gate  # noqa: E402
from gate.settings import Settings  # noqa: E402

# name -> (procedure, state components); "levels" is the first model's procedure
DESIGNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "levels-refit": ("levels", ()),
    "levels-backoff": ("state", ()),
    "secret": ("state", ("secret",)),
    "secret_found": ("state", ("secret_found",)),
    "tainted": ("state", ("tainted",)),
    "injected": ("state", ("injected",)),
    "held": ("state", ("held",)),
    "unsanctioned": ("state", ("unsanctioned",)),
    "pressure": ("state", ("pressure",)),
    "secret+tainted": ("state", ("secret", "tainted")),
    "secret+injected": ("state", ("secret", "injected")),
    "secret+held": ("state", ("secret", "held")),
    "secret_found+injected": ("state", ("secret_found", "injected")),
    "secret+tainted+held+unsanctioned": ("state", ("secret", "tainted", "held", "unsanctioned")),
    "exposure x escalation": ("state", ("exposure", "escalation")),
}


def _counts(results: Sequence[Any]) -> dict[str, float]:
    m = trace_metrics(results)
    return {"violating": m["violation_traces"], "caught": m["caught"], "early_sum": m["mean_steps_early"] * m["caught"],
            "caught_before": m["caught_before_violating_step"], "long_benign": m["long_benign_traces"],
            "long_benign_blocked": m["long_benign_blocked"], "benign": m["benign_traces"], "benign_blocked": m["benign_blocked"]}


def _add(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: a.get(k, 0) + v for k, v in b.items()}


def _fmt(c: dict[str, float]) -> str:
    early = c["early_sum"] / c["caught"] if c["caught"] else 0.0
    return f"{c['caught']:.0f}/{c['violating']:.0f} (early {early:.2f})  long benign {c['long_benign_blocked']:.0f}/{c['long_benign']:.0f}"


class Harness:
    def __init__(self, gate: Gate, traces: list[Trace], alpha: float, beta: float, floor: float, cases: list[Any] | None = None,
                 beta_category: float | None = DEFAULT_BETA_CATEGORY) -> None:
        self.gate, self.traces, self.cases = gate, traces, cases
        self.alpha, self.beta, self.floor, self.beta_category = alpha, beta, floor, beta_category
        self.stop_at_block = STOP_AT_BLOCK
        self.groups = sorted({t.source for t in traces})
        self.records = record_states(gate, traces)        # the check's state at every step, model-free
        self.categories = agent_categories(gate, traces)

    def fit(self, design: str, idx: list[int], per_category: bool = True) -> dict[str, Any]:
        kind, components = DESIGNS[design]
        train = [self.traces[i] for i in idx]
        if kind == "levels":
            return fit_level_spec(level_sequences(self.gate, train), len(train), alpha=self.alpha, floor=self.floor)
        seqs = state_sequences(train, [self.records[i] for i in idx], components, [self.categories[i] for i in idx], self.stop_at_block)
        return fit_state_spec(seqs, components, len(train), alpha=self.alpha, beta=self.beta, floor=self.floor, per_category=per_category,
                              beta_category=self.beta_category)

    def run(self, spec: dict[str, Any] | None, idx: list[int], horizon: int | None, threshold: float | None) -> dict[str, float]:
        return _counts(run_traces(with_risk_model(self.gate, spec, horizon, threshold), [self.traces[i] for i in idx]))

    def evaluate(self, design: str | None, fixed: dict[str, Any] | None = None, horizon: int | None = None,
                 threshold: float | None = None, per_category: bool = True) -> dict[str, Any]:
        everything = list(range(len(self.traces)))
        spec = fixed if design is None else self.fit(design, everything, per_category)
        insample = self.run(spec, everything, horizon, threshold)
        cases = None
        if self.cases:
            # the chains are fitted on traces only: the dev cases are out of sample for every model
            m = score(run_cases(with_risk_model(self.gate, spec, horizon, threshold), self.cases))
            cases = {"f1": round(m["f1"], 4), "fpr": round(m["fpr"], 4), "tp": m["tp"], "fp": m["fp"], "fn": m["fn"], "tn": m["tn"]}
        if design is None:
            return {"in_sample": insample, "cv": insample, "folds": {}, "cases": cases}
        total: dict[str, float] = {}
        folds = {}
        for g in self.groups:
            held = [i for i, t in enumerate(self.traces) if t.source == g]
            train = [i for i, t in enumerate(self.traces) if t.source != g]
            c = self.run(self.fit(design, train, per_category), held, horizon, threshold)
            folds[g] = c
            total = _add(total, c)
        return {"in_sample": insample, "cv": total, "folds": folds, "cases": cases}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(ROOT / "bench"))
    ap.add_argument("--designs", default=",".join(DESIGNS), help="comma-separated names from: " + ", ".join(DESIGNS))
    ap.add_argument("--model", action="append", default=[], help="a fixed model file to measure as is (repeatable)")
    ap.add_argument("--horizon", type=int, default=None, help="override the policies' horizon")
    ap.add_argument("--threshold", type=float, default=None, help="override the policies' threshold")
    ap.add_argument("--pooled", action="store_true", help="one chain for all categories (no per-category rows)")
    ap.add_argument("--sweep", action="store_true", help="thresholds 0.3..0.9 by 0.1 x horizons 3, 5, 8")
    ap.add_argument("--folds", action="store_true", help="print each held-out group's figures")
    ap.add_argument("--no-cases", action="store_true", help="skip the dev cases (run with the model fitted on all dev traces)")
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--beta", type=float, default=DEFAULT_BETA)
    ap.add_argument("--beta-category", type=float, default=DEFAULT_BETA_CATEGORY)
    ap.add_argument("--stop-at-block", choices=("none", "benign", "all"), default=STOP_AT_BLOCK,
                    help="which traces the fit ends at their first call another check blocks")
    ap.add_argument("--floor", type=float, default=0.01)
    a = ap.parse_args()
    bench = Path(a.bench)
    gate = Gate.from_policies(bench / "policies", Settings(audit_path=None))
    traces = load_traces(bench / "traces", "dev")         # never the test split
    t0 = time.perf_counter()
    h = Harness(gate, traces, a.alpha, a.beta, a.floor, None if a.no_cases else load_cases(bench / "cases", "dev"),
                a.beta_category)
    h.stop_at_block = a.stop_at_block
    print(f"{len(traces)} dev traces in {len(h.groups)} groups: " + ", ".join(
        f"{g} {sum(t.source == g for t in traces)}" for g in h.groups), file=sys.stderr)
    settings = [(a.horizon, a.threshold)]
    if a.sweep:
        settings = [(hz, thr / 10) for hz in (3, 5, 8) for thr in range(3, 10)]
    rows: list[dict[str, Any]] = []
    jobs: list[tuple[str, str | None, dict[str, Any] | None]] = [(f"file {p}", None, orjson.loads(Path(p).read_bytes())) for p in a.model]
    jobs += [(d, d, None) for d in a.designs.split(",") if d]
    for label, design, fixed in jobs:
        for hz, thr in settings:
            r = h.evaluate(design, fixed, hz, thr, per_category=not a.pooled)
            tag = f"{label}" + (f" h={hz}" if hz else "") + (f" thr={thr:.1f}" if thr is not None else "")
            c = r["cases"]
            more = f"   dev cases F1 {c['f1']:.4f} FPR {c['fpr']:.4f} (fp {c['fp']}, fn {c['fn']})" if c else ""
            print(f"{tag:40s} in-sample {_fmt(r['in_sample'])}   CV {_fmt(r['cv'])}{more}", flush=True)
            if a.folds:
                for g, c in r["folds"].items():
                    print(f"    {g:22s} {_fmt(c)}")
            rows.append({"design": label, "horizon": hz, "threshold": thr, "pooled": a.pooled, **r})
    print(f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    print(json.dumps({"designs": [{k: v for k, v in r.items() if k != "folds"} for r in rows]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
