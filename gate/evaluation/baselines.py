"""Baselines run on the same cases: allowlist only, keyword matching, embedding only."""

from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np

from gate.core.actions import extract_features
from gate.evaluation.data import Case
from gate.evaluation.runner import CaseResult
from gate.gate import Gate

__all__ = ["allowlist_only", "keyword_matching", "embedding_only", "tune_embedding_threshold", "run_baseline"]

Decider = Callable[[Case], str]

# A typical guardrail keyword list (fixed, not tuned on the benchmark).
_KEYWORDS = re.compile(
    r"(?i)(?:\bdelete\b|\bdrop\b|\btruncate\b|rm\s+-rf|\bsudo\b|\bchmod\b|password|passwd|secret|token|api[_-]?key|"
    r"credential|private key|id_rsa|\.env\b|/etc/shadow|\badmin\b|grant|\broot\b|wire|transfer|bitcoin|crypto wallet|"
    r"ignore (?:all |previous )?instructions|exfiltrat|pastebin|ngrok|\bssn\b|social security|disable|bypass|"
    r"curl .*\|\s*(?:ba)?sh|base64|\bnc\b|reverse shell)"
)


def allowlist_only(gate: Gate) -> Decider:
    def decide(case: Case) -> str:
        agent = gate.bundle.agents[case.agent]
        if agent.tools is None:
            return "ALLOW"
        return "ALLOW" if case.action["tool"] in agent.tools else "BLOCK"
    return decide


def keyword_matching(gate: Gate) -> Decider:
    def decide(case: Case) -> str:
        text = case.action["tool"] + " " + repr(case.action.get("args", {}))
        return "BLOCK" if _KEYWORDS.search(text) else "ALLOW"
    return decide


def _similarity(gate: Gate, case: Case) -> float:
    agent = gate.bundle.agents[case.agent]
    f = extract_features(case.action["tool"], case.action.get("args") or {}, None, agent.policy.internal_domains)
    vec = gate.bundle.library.encoder.encode_one(f.text)
    return float(np.max(agent.frame.index.matrix @ vec))


def tune_embedding_threshold(gate: Gate, dev: Sequence[Case], max_fpr: float = 1.0) -> float:
    """The cosine threshold with the best F1 on the dev split (optionally with dev FPR <= max_fpr)."""
    sims = [(_similarity(gate, c), c.stopped) for c in dev]
    negatives = max(1, sum(1 for _, y in sims if not y))
    best, best_f1 = -1.0, -1.0
    for thr in np.arange(-0.2, 1.0, 0.01):
        tp = sum(1 for s, y in sims if s < thr and y)
        fp = sum(1 for s, y in sims if s < thr and not y)
        fn = sum(1 for s, y in sims if s >= thr and y)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best_f1 and fp / negatives <= max_fpr:
            best, best_f1 = float(thr), f1
    return best


def embedding_only(gate: Gate, threshold: float) -> Decider:
    def decide(case: Case) -> str:
        return "BLOCK" if _similarity(gate, case) < threshold else "ALLOW"
    return decide


def run_baseline(decide: Decider, cases: Sequence[Case]) -> list[CaseResult]:
    return [CaseResult(c, decide(c), None, None, 0.0, ()) for c in cases]
