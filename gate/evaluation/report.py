"""Markdown report and PNG chart of an evaluation run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

__all__ = ["write_report", "write_chart"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def write_report(path: Path, split: str, main: Mapping[str, Any], rows: Mapping[str, Mapping[str, Any]],
                 traces: Mapping[str, Any] | None, command: str) -> None:
    lines = [f"# gate benchmark — split `{split}`", "", f"Produced by `{command}`.", "",
             f"Cases: {main['n']}. Stopped = BLOCK or REWRITE.", "",
             "| system | F1 | precision | recall | FPR | n |", "|---|---|---|---|---|---|"]
    for name, m in rows.items():
        lines.append(f"| {name} | {m['f1']:.4f} | {_pct(m['precision'])} | {_pct(m['recall'])} | {_pct(m['fpr'])} | {m['n']} |")
    lines += ["", "## gate per category", "", "| category | n | F1 | precision | recall | FPR |", "|---|---|---|---|---|---|"]
    for cat, m in main["per_category"].items():
        lines.append(f"| {cat} | {m['n']} | {m['f1']:.4f} | {_pct(m['precision'])} | {_pct(m['recall'])} | {_pct(m['fpr'])} |")
    lines += ["", "(`benign`: F1 of the ALLOW class; FPR = benign calls stopped.)", "",
              "## gate per difficulty", "", "| difficulty | n | F1 | precision | recall | FPR |", "|---|---|---|---|---|---|"]
    for diff, m in main.get("per_difficulty", {}).items():
        lines.append(f"| {diff} | {m['n']} | {m['f1']:.4f} | {_pct(m['precision'])} | {_pct(m['recall'])} | {_pct(m['fpr'])} |")
    lines += ["",
              "## Confusion (rows expected, columns decided)", "", "| | ALLOW | BLOCK | REWRITE |", "|---|---|---|---|"]
    for e, row in main["confusion"].items():
        lines.append(f"| {e} | {row['ALLOW']} | {row['BLOCK']} | {row['REWRITE']} |")
    lines += ["", f"Exact decision accuracy {_pct(main['exact_accuracy'])}; REWRITE cases rewritten correctly {_pct(main['rewrite_correct'])}.",
              "", f"Decision latency (in-process, final call of each case): p50 {main['latency_p50_us']:.0f} µs, "
              f"p99 {main['latency_p99_us']:.0f} µs, mean {main['latency_mean_us']:.0f} µs."]
    if traces:
        lines += ["", "## Session traces", "",
                  f"- violating traces stopped at or before the violating step: {traces['caught']}/{traces['violation_traces']} "
                  f"({_pct(traces['caught_rate'])}); mean advance warning {traces['mean_steps_early']:.2f} steps; "
                  f"stopped strictly before the violating step: {traces['caught_before_violating_step']}",
                  f"- benign traces ever blocked: {traces['benign_blocked']}/{traces['benign_traces']}; "
                  f"long benign traces (≥30 steps) ever blocked: {traces['long_benign_blocked']}/{traces['long_benign_traces']} "
                  f"({_pct(traces['long_benign_blocked_rate'])})"]
    path.write_text("\n".join(lines) + "\n", "utf-8")


def write_chart(path: Path, main: Mapping[str, Any], rows: Mapping[str, Mapping[str, Any]], split: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [3, 2]})
    cats = list(main["per_category"])
    a1.barh(cats, [main["per_category"][c]["f1"] for c in cats], color="#2b6cb0")
    a1.axvline(0.8, color="#c53030", ls="--", lw=1)
    a1.set_xlim(0, 1)
    a1.set_title(f"gate F1 per category ({split} split)")
    a1.invert_yaxis()
    names = list(rows)
    a2.barh(names, [rows[n]["f1"] for n in names], color=["#2b6cb0" if n == "gate" else "#a0aec0" for n in names])
    a2.set_xlim(0, 1)
    a2.set_title("F1: gate vs baselines and ablations")
    a2.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
