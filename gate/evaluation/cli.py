"""`gate eval`: run the benchmark, baselines and ablations; write the report and chart."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gate.core.cascade import CHECK_NAMES
from gate.evaluation.baselines import allowlist_only, embedding_only, keyword_matching, run_baseline, tune_embedding_threshold
from gate.evaluation.data import load_cases, load_traces
from gate.evaluation.report import write_chart, write_report
from gate.evaluation.runner import gate_variant, run_cases, run_traces, score, trace_metrics

__all__ = ["run_eval"]


def _headline(m: dict[str, Any]) -> dict[str, Any]:
    return {k: round(m[k], 4) if isinstance(m[k], float) else m[k] for k in ("f1", "precision", "recall", "fpr", "n")}


def run_eval(args: argparse.Namespace) -> int:
    from gate.gate import Gate
    from gate.settings import Settings

    bench = Path(args.bench)
    gate = Gate.from_policies(bench / "policies", Settings(audit_path=None))
    cases = load_cases(bench / "cases", args.split)
    progress = None
    if not args.no_progress and sys.stderr.isatty() or getattr(args, "progress", False):
        from tqdm import tqdm

        def _bar(it):  # type: ignore[no-untyped-def]
            return tqdm(list(it), desc=f"gate eval ({args.split})", unit="case", file=sys.stderr)
        progress = _bar
    results = run_cases(gate, cases, progress)
    main = score(results)
    rows: dict[str, dict[str, Any]] = {"gate": main}
    if not args.no_baselines:
        dev = load_cases(bench / "cases", "dev")
        thr = tune_embedding_threshold(gate, dev)
        thr5 = tune_embedding_threshold(gate, dev, max_fpr=0.05)
        rows["baseline: allowlist only"] = score(run_baseline(allowlist_only(gate), cases))
        rows["baseline: keyword matching"] = score(run_baseline(keyword_matching(gate), cases))
        rows[f"baseline: embedding only (thr {thr:.2f}, best dev F1)"] = score(run_baseline(embedding_only(gate, thr), cases))
        rows[f"baseline: embedding only (thr {thr5:.2f}, best dev F1 at dev FPR <= 5%)"] = score(run_baseline(embedding_only(gate, thr5), cases))
        quotas = any(a.policy.quotas for a in gate.bundle.agents.values())
        for name in CHECK_NAMES:
            if name == "quotas" and not quotas:
                continue   # no benchmark policy declares a quota: without it is the full run
            rows[f"ablation: without {name}"] = score(run_cases(gate_variant(gate, [name]), cases))
    traces = None
    tdir = bench / "traces"
    if tdir.is_dir() and any(tdir.glob("*.yaml")):
        traces = trace_metrics(run_traces(gate_variant(gate), load_traces(tdir, args.split)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = f"gate eval --split {args.split}" + (" --no-baselines" if args.no_baselines else "")
    write_report(out / f"report-{args.split}.md", args.split, main, rows, traces, command)
    write_chart(out / f"chart-{args.split}.png", main, rows, args.split)
    print(f"split={args.split} n={main['n']} F1={main['f1']:.4f} precision={main['precision']:.4f} "
          f"recall={main['recall']:.4f} FPR={main['fpr']:.4f} exact={main['exact_accuracy']:.4f} "
          f"p50={main['latency_p50_us']:.0f}us p99={main['latency_p99_us']:.0f}us", file=sys.stderr)
    for cat, m in main["per_category"].items():
        print(f"  {cat:22s} n={m['n']:4d} F1={m['f1']:.3f} P={m['precision']:.3f} R={m['recall']:.3f} FPR={m['fpr']:.3f}", file=sys.stderr)
    for name, m in rows.items():
        if name != "gate":
            print(f"  {name:52s} F1={m['f1']:.4f} FPR={m['fpr']:.4f}", file=sys.stderr)
    if traces:
        print(f"  traces: {json.dumps(traces)}", file=sys.stderr)
    print(f"report: {out / f'report-{args.split}.md'}  chart: {out / f'chart-{args.split}.png'}", file=sys.stderr)
    if args.json:
        head = _headline(main)
        head.update({"split": args.split, "exact_accuracy": round(main["exact_accuracy"], 4),
                     "latency_p50_us": round(main["latency_p50_us"], 1), "latency_p99_us": round(main["latency_p99_us"], 1),
                     "per_category_f1": {c: round(m["f1"], 4) for c, m in main["per_category"].items()},
                     "baselines": {n: round(m["f1"], 4) for n, m in rows.items() if n != "gate"}})
        if traces:
            head["traces"] = traces
        print(json.dumps(head))
    return 0
