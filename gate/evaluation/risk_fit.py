"""Estimate the session-risk chains from labelled traces (dev split only).

Two procedures:

* over the levels alone (`level_sequences`, `fit_level_spec`; the first model's procedure):
  each trace is replayed through the gate with the session-risk check switched off and
  stopped at its first block; the levels the session reaches after each step are the chain's
  states, a violation trace's labelled violating step becomes the absorbing VIOLATED state,
  and transitions are counted per task category (all categories pooled where a category has
  fewer than `MIN_TRACES` traces).

* over finer states (`record_states`, `state_sequences`, `fit_state_spec`): each trace is
  replayed with the session-risk check switched off and at every step the state that check
  would project for the call is recorded: its level and the latched session facts
  (`gate.core.risk.COMPONENTS`). A trace ends at its first call another check blocks (what
  follows never ran); a violation trace goes to VIOLATED right after its violating step, or
  from where it was stopped. Each state's row backs off to a coarser chain: the category's
  row to the pooled row of the same state, the pooled row to the pooled level chain's row of
  its level (with the facts held), so a state seen a few times stays close to what the
  coarser chain says and an unseen one is the coarser chain's.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from gate.core.cascade import Cascade, CheckRequest, _features, imprint
from gate.core.compiler import load_library_data
from gate.core.risk import (CATEGORIES, COMPONENTS, TRANSIENT, VIOLATED, RiskModel, advance, component_values, describe_state, estimate_chain,
                            estimate_state_chain, lift_level_chain, risk_level, state_shape, unsanctioned_egress)
from gate.core.session import EMPTY_SESSION
from gate.evaluation.data import Trace, load_traces
from gate.evaluation.runner import gate_variant, run_traces
from gate.gate import Gate
from gate.stores import MemoryStore, session_key

__all__ = ["level_sequences", "fit_level_spec", "fit_risk_model", "record_states", "state_sequences", "fit_state_spec",
           "agent_categories", "with_risk_model", "ALL_COMPONENTS", "DEFAULT_COMPONENTS", "DEFAULT_BETA", "DEFAULT_BETA_CATEGORY", "MIN_TRACES", "STOP_AT_BLOCK"]

MIN_TRACES = 6
ALL_COMPONENTS = tuple(COMPONENTS)
# The state the shipped model is indexed by, chosen by leave-one-group-out cross-validation
# over the dev traces (bench/risk_cv.py): the level and whether a secret has been found in a
# tool result. "secret" (also set by a call whose path or text reads as secret) stops one
# more violating trace in cross-validation, but it blocks a read of a secrets template or a
# public key after any code execution (ELEVATED with a secret seen), which the golden suite
# says is allowed ("coding reading a public ssh key is allowed").
DEFAULT_COMPONENTS: tuple[str, ...] = ("secret_found",)
# Pseudo-moves a row borrows from its coarser row: a pooled state's from its level's row
# (`DEFAULT_BETA`), a category's state from the pooled state (`DEFAULT_BETA_CATEGORY`).
# Cross-validation: 45 of 50 violating traces stopped with beta 0.5 or 1, 44 with 2 or 4
# (a fold's ELEVATED-with-a-secret-found row then falls under the threshold); the category's
# back-off is flat from 2 to 12 here, and 12 keeps a category's row from following a single
# visit (with the "secret" state, beta_category below 6 blocks three benign dev cases).
DEFAULT_BETA = 1.0
DEFAULT_BETA_CATEGORY = 12.0
# Which traces end at their first call another check blocks (see `state_sequences`).
# Cross-validation on the traces and the dev cases are the same for all three; with "none" a
# benign trace that goes on past a block (one, 13 steps at CRITICAL after it) takes CRITICAL
# below the threshold in four categories, on evidence of calls that never ran.
STOP_AT_BLOCK = "all"


# --- levels alone -----------------------------------------------------------------------------

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


def fit_level_spec(seqs: Sequence[tuple[str, list[int]]], n_traces: int, alpha: float = 0.5, floor: float = 0.01) -> dict[str, Any]:
    pooled = estimate_chain([s for _, s in seqs], alpha=alpha, floor=floor)
    matrices: dict[str, list[list[float]]] = {}
    counts: dict[str, int] = {}
    for cat in CATEGORIES:
        mine = [s for c, s in seqs if c == cat]
        counts[cat] = len(mine)
        P = estimate_chain(mine, alpha=alpha, floor=floor) if len(mine) >= MIN_TRACES else pooled
        matrices[cat] = np.round(P, 6).tolist()
    return {
        "source": f"fitted on {n_traces} dev-split traces by bench/fit_risk.py --levels",
        "traces_per_category": counts,
        "min_traces_per_category": MIN_TRACES,
        "alpha": alpha,
        "floor": floor,
        "max_horizon": 10,
        "matrices": matrices,
    }


# --- finer states -----------------------------------------------------------------------------

def record_states(gate: Gate, traces: Sequence[Trace]) -> list[list[tuple[int, ...]]]:
    """For each trace, the state the session-risk check projects at each step: (level, value
    of every component in `ALL_COMPONENTS`, 1 if another check blocked the call). The whole
    trace is replayed with the check off; a call another check blocks is still observed
    (unchecked), as if the agent had gone on."""
    variant = gate_variant(gate, ["session_risk"])
    bundle = variant.bundle
    out: list[list[tuple[int, ...]]] = []
    for t in traces:
        session = f"risk-fit-{t.id}"
        agent = bundle.agents[t.agent]
        key = session_key(t.agent, session)
        states: list[tuple[int, ...]] = []
        for step in t.steps:
            action = step["action"]
            req = CheckRequest(t.agent, session, t.task, action["tool"], dict(action.get("args") or {}))
            snap = imprint(bundle, variant.store.get(key) or EMPTY_SESSION, req)
            d = variant.check({"agent": t.agent, "session": session, "task": t.task, "action": action}, via="eval")
            blocked = d.decision == "BLOCK"
            # what the check sees: the call as it would execute (after an earlier rewrite)
            f = _features(agent, req.tool, d.action["args"])
            e, c, r = advance(snap.exposure, snap.escalation, f,
                              unsanctioned_egress(f, snap, agent.named_destinations, agent.policy.internal_domains))
            level = max(snap.risk_level, risk_level(e, c, r))
            states.append((level,) + component_values(ALL_COMPONENTS, snap, e, c) + (int(blocked),))
            body: dict[str, Any] = {"agent": t.agent, "session": session, "action": action if blocked else d.action,
                                    "result": step.get("result")}
            if not blocked:
                body["decision_id"] = d.decision_id
            variant.observe(body)
        out.append(states)
    return out


def state_sequences(traces: Sequence[Trace], records: Sequence[list[tuple[int, ...]]], components: Sequence[str],
                    categories: Sequence[str], stop_at_block: str = STOP_AT_BLOCK) -> list[tuple[str, list[int]]]:
    """(category, [flat state index]) from SAFE with nothing set, through the state projected
    at each step, to VIOLATED right after a violation trace's violating step (or at a
    projected VIOLATED level).

    `stop_at_block` says which traces end at their first call another check blocks ("all",
    "benign" or "none"): the blocked call never ran, so what the trace does after it is not
    where a session goes; a violation trace that ends so goes to VIOLATED from there (its
    label says where it was heading), as in the procedure over levels."""
    cols = [ALL_COMPONENTS.index(c) + 1 for c in components]
    shape = state_shape(components)
    width = int(np.prod(shape[1:]))
    n = TRANSIENT * width
    out: list[tuple[str, list[int]]] = []
    for t, states, cat in zip(traces, records, categories):
        violation = t.label == "violation" and t.violation_step is not None
        last = t.violation_step if violation else None
        stop = stop_at_block == "all" or (stop_at_block == "benign" and not violation)
        seq = [0]
        for i, st in enumerate(states):
            if st[0] >= VIOLATED:
                seq.append(n)
                break
            sub = int(np.ravel_multi_index([st[j] for j in cols], shape[1:])) if cols else 0
            seq.append(st[0] * width + sub)
            if (last is not None and i == last) or (stop and st[-1]):
                if violation:
                    seq.append(n)
                break
        out.append((cat, seq))
    return out


def fit_state_spec(seqs: Sequence[tuple[str, list[int]]], components: Sequence[str], n_traces: int, alpha: float = 0.5,
                   beta: float = DEFAULT_BETA, floor: float = 0.01, per_category: bool = True,
                   beta_category: float | None = DEFAULT_BETA_CATEGORY) -> dict[str, Any]:
    """`beta` pseudo-moves back a pooled state's row off to its level's row, `beta_category`
    (None: `beta`) a category's row to the pooled row of the same state."""
    bc = beta if beta_category is None else beta_category
    shape = state_shape(components)
    width = int(np.prod(shape[1:]))
    n = TRANSIENT * width
    levels = [[VIOLATED if x == n else x // width for x in s] for _, s in seqs]
    coarse = estimate_chain(levels, alpha=alpha, floor=floor)
    pooled = estimate_state_chain([s for _, s in seqs], shape, lift_level_chain(coarse, shape), beta, floor)
    matrices: dict[str, list[list[float]]] = {}
    counts: dict[str, int] = {}
    for cat in CATEGORIES:
        mine = [s for c, s in seqs if c == cat]
        counts[cat] = len(mine)
        P = estimate_state_chain(mine, shape, pooled, bc, floor) if per_category and mine else pooled
        matrices[cat] = np.round(P, 6).tolist()
    return {
        "format": 2,
        "source": f"fitted on {n_traces} dev-split traces by bench/fit_risk.py",
        "state": list(components),
        "states": [describe_state(components, i) for i in range(n + 1)],
        "traces_per_category": counts,
        "alpha": alpha,
        "beta": beta,
        "beta_category": bc,
        "floor": floor,
        "per_category": per_category,
        "max_horizon": 10,
        "matrices": matrices,
    }


def agent_categories(gate: Gate, traces: Sequence[Trace]) -> list[str]:
    """The category whose chain the gate reads for each trace: its agent's policy category."""
    return [gate.bundle.agents[t.agent].category if t.agent in gate.bundle.agents else t.task_category for t in traces]


def fit_risk_model(gate: Gate, trace_dir: Path, components: Sequence[str] | None = DEFAULT_COMPONENTS, alpha: float = 0.5,
                   beta: float = DEFAULT_BETA, floor: float = 0.01, per_category: bool = True,
                   beta_category: float = DEFAULT_BETA_CATEGORY) -> dict[str, Any]:
    """The model spec fitted on every dev-split trace in `trace_dir`; `components=None` fits
    the chains over the levels alone by the first model's procedure."""
    traces = load_traces(trace_dir, "dev")
    if components is None:
        return fit_level_spec(level_sequences(gate, traces), len(traces), alpha=alpha, floor=floor)
    seqs = state_sequences(traces, record_states(gate, traces), components, agent_categories(gate, traces))
    return fit_state_spec(seqs, components, len(traces), alpha=alpha, beta=beta, floor=floor, per_category=per_category,
                          beta_category=beta_category)


def with_risk_model(gate: Gate, model: Mapping[str, Any] | RiskModel | None, horizon: int | None = None,
                    threshold: float | None = None) -> Gate:
    """A gate on the same bundle whose agents with session risk read `model` (a spec, or a
    built model at its own horizon; None: the shipped spec), at `horizon` and `threshold`
    (None: the policy's), with a fresh store and every check on."""
    if isinstance(model, RiskModel) and horizon not in (None, model.horizon):
        raise ValueError(f"the model is built for horizon {model.horizon}, not {horizon}")
    spec = model if isinstance(model, Mapping) else load_library_data()[2]
    models: dict[int, RiskModel] = {}
    agents = {}
    for name, a in gate.bundle.agents.items():
        if a.risk_model is None:
            agents[name] = a
            continue
        h = horizon or a.risk_model.horizon
        m = model if isinstance(model, RiskModel) else models.setdefault(h, RiskModel.from_spec(spec, h))
        agents[name] = replace(a, risk_model=m, risk_threshold=a.risk_threshold if threshold is None else threshold)
    return Gate(replace(gate.bundle, agents=agents), settings=gate.settings, encoder=gate.encoder, store=MemoryStore(), cascade=Cascade())
