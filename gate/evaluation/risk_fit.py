"""Estimate the session-risk chains from labelled traces (dev split only).

Each trace is replayed through the gate with the session-risk check switched off, so the
levels are those the state machine reaches on its own; a violation trace's labelled
violating step becomes the absorbing VIOLATED state. Transitions are counted per task
category (falling back to all categories pooled where a category has too few traces).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gate.core.risk import CATEGORIES, VIOLATED, estimate_chain
from gate.evaluation.data import Trace, load_traces
from gate.evaluation.runner import gate_variant, run_traces
from gate.gate import Gate

__all__ = ["level_sequences", "fit_risk_model"]

MIN_TRACES = 6


def level_sequences(gate: Gate, traces: Sequence[Trace]) -> list[tuple[str, list[int]]]:
    """(task category, [level after each step]) with VIOLATED at the labelled step."""
    variant = gate_variant(gate, ["session_risk"])
    out: list[tuple[str, list[int]]] = []
    for r in run_traces(variant, traces):
        t = r.trace
        levels = [0] + list(r.levels)
        if t.label == "violation" and t.violation_step is not None:
            levels = levels[: t.violation_step + 1] + [VIOLATED]
        out.append((t.task_category, levels))
    return out


def fit_risk_model(gate: Gate, trace_dir: Path, alpha: float = 0.5, floor: float = 0.01) -> dict[str, Any]:
    traces = load_traces(trace_dir, "dev")
    seqs = level_sequences(gate, traces)
    pooled = estimate_chain([s for _, s in seqs], alpha=alpha, floor=floor)
    matrices: dict[str, list[list[float]]] = {}
    counts: dict[str, int] = {}
    for cat in CATEGORIES:
        mine = [s for c, s in seqs if c == cat]
        counts[cat] = len(mine)
        P = estimate_chain(mine, alpha=alpha, floor=floor) if len(mine) >= MIN_TRACES else pooled
        matrices[cat] = np.round(P, 6).tolist()
    return {
        "source": f"fitted on {len(traces)} dev-split traces by bench/fit_risk.py",
        "traces_per_category": counts,
        "min_traces_per_category": MIN_TRACES,
        "alpha": alpha,
        "floor": floor,
        "max_horizon": 10,
        "matrices": matrices,
    }
