"""Leave-one-file-out cross-validation of learned signals over the DEV cases only.

    python bench/learned_cv.py            # the table (Markdown) and a JSON line
    python bench/learned_cv.py --folds    # per held-out file figures too

Question: does a signal *fitted* on dev data generalise across authors better than the hand
rules? Each case file in bench/cases was written by a different author or round, so a held-out
file is the nearest thing to unseen data the dev split offers. For each of the 17 files: fit on
the dev cases of the other 16, score the dev cases of the held-out one, pool the predictions.

Each learned candidate is also shown with its threshold chosen under a looser FPR budget (the
shipped gate's training FPR + 1 or + 2 points) to show what recall it buys with false positives.

Candidates (each one only changes calls that reach the consensus check with nothing rewritten:
what a hard check blocked or rewrote stays as the shipped gate decided it):

- `lr-replace` / `lr-or`: a logistic regression (numpy Newton, L2) over the scores and flags the
  cascade already computed for the call (resonances, drift, risk projection, consensus weight,
  the soft checks' flags) and a few action features (verb classes, sensitivity, destination,
  history length). `replace`: it decides instead of the weight >= 1 veto; `or`: it can only add
  stops to the shipped veto. Its threshold is chosen inside the training folds from their own
  inner leave-one-file-out probabilities: best training F1 at a training FPR no higher than the
  shipped gate's on the same cases.
- `lr-raw`: the same LR without the flags and the consensus weight (the soft checks' thresholds
  and weights were tuned on all of dev by bench/tune.py, so those inputs carry in-sample tuning).
- `lr+session` / `lr-raw+session`: either LR plus what the session holds when the call comes
  (its exposure, escalation and risk level, injections, flow marks; whether the call's values
  were tainted, injected or are held records; which share of them appeared in earlier results,
  the task or earlier calls; refusal words such as "declined", "on hold" in results and task).
- `lr-embedding` (`--embedding-lr`, slow): the same LR with the call's and the task's embeddings.
- `knn`: nearest neighbour over (task imprint, call) pairs of the training files: a call is
  stopped when its best similarity to a training violation minus its best similarity to a
  training benign call reaches a threshold (similarity: a blend of the call and task cosines;
  blend and threshold chosen in the training folds as above). It can only add stops.
- `arch` / `arch+anchors`: the training files' violating calls (their canonical text,
  `ActionFeatures.text`) become archetypes of their case category; with `+anchors` the training
  files' benign calls also become ordinary-work anchors. The held-out file is run through the
  real gate with that library (the harm-resonance check and the consensus unchanged).

Two in-sample lines (fitted and scored on all dev files) are printed for contrast only: they are
what a fitted signal's plain dev figure would claim, and are not estimates of anything.

The shipped gate has no fitted part per fold, so its line is its plain dev figure; its hand
rules were written from all dev files, so that figure is optimistic as a held-out estimate.
Cases are read only through `load_cases(folder, "dev")`, and the script refuses any other split.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.core.actions import flatten_args  # noqa: E402
from gate.core.cascade import _features  # noqa: E402
from gate.core.frame import VectorIndex  # noqa: E402
from gate.core.session import salient_tokens  # noqa: E402
from gate.evaluation.data import Case, load_cases  # noqa: E402
from gate.evaluation.runner import _request, gate_variant, replay_history, rewrite_ok, run_cases  # noqa: E402
from gate.gate import Gate  # noqa: E402
from gate.settings import Settings  # noqa: E402

SPLIT = "dev"          # never anything else: the test split is read once, by the maintainer, at the end
FOCUS = ("financial_fraud", "compliance", "multi_step")
SOFT = ("semantic_scope", "prohibited", "social_pressure", "task_drift", "harm_resonance")
SCORE_KEYS = ("scope", "prohibited", "prohibited_margin", "task_similarity", "drift_ewma", "harm", "harm_margin",
              "p_violation", "current_level", "projected_level")
VERBS = ("pay", "grant", "delete", "configure", "send", "execute", "write", "read")


@dataclass
class Record:
    """One dev case as the shipped gate saw it."""

    case: Case
    file: str
    label: bool                      # the case should be stopped
    shipped: bool                    # the shipped gate stopped it
    open: bool                       # the final call reached the consensus with nothing rewritten
    veto: bool                       # ... and the shipped consensus vetoed it
    x: np.ndarray                    # LR features (zeros when not open)
    call: np.ndarray                 # unit vector of the call (tool blend included)
    task: np.ndarray | None          # unit task imprint
    text: str                        # canonical text of the call


def _stopped(case: Case, decision: str, ok: bool | None) -> bool:
    if decision == "ALLOW":
        return False
    return not (decision == "REWRITE" and case.expected == "REWRITE" and ok is False)


def collect(gate: Gate, cases: Sequence[Case]) -> list[Record]:
    """Run each case as `gate.evaluation.runner.run_case` does, keeping the final decision."""
    g = gate_variant(gate)
    lib = g.bundle.library
    out: list[Record] = []
    for case in cases:
        session = f"eval-{case.id}"
        blocked = replay_history(g, case, session) is not None
        agent = g.bundle.agents[case.agent]
        tool = agent.tools.get(case.action["tool"]) if agent.tools is not None else None
        f = _features(agent, case.action["tool"], case.action.get("args") or {})
        raw, inv = lib.raw_action_vector(tool, f)
        call = (raw * inv).astype(np.float32)
        task = lib.task_vector(case.task) if case.task else None
        x = np.zeros(len(FEATURES) + len(SESSION_FEATURES), dtype=np.float64)
        if blocked:
            out.append(Record(case, case.source, case.stopped, True, False, False, x, call, task, f.text))
            continue
        d = g.check(_request(case, session, case.action), via="eval")
        ok = rewrite_ok(case, d.action) if d.decision == "REWRITE" and case.expected == "REWRITE" else None
        before = g.store.get(f"gate:s:{case.agent}:{session}")     # the session as the final call found it
        last = d.trail[-1]
        is_open = last.check == "consensus" and not any(v.outcome == "rewrite" for v in d.trail)
        if is_open:
            x = np.concatenate([features(d, f, len(case.history), case.task is not None),
                                session_features(case, before)])
        out.append(Record(case, case.source, case.stopped, _stopped(case, d.decision, ok), is_open,
                          is_open and last.outcome == "block", x, call, task, f.text))
    return out


FEATURES = (*SCORE_KEYS, "no_task", "consensus_weight", *(f"flag_{s}" for s in SOFT),
            *(f"verb_{v}" for v in VERBS), "sensitivity", "external", "history_len")


def features(d: Any, f: Any, history: int, has_task: bool) -> np.ndarray:
    s = dict(d.scores)
    flags = {v.check for v in d.trail if v.outcome == "flag"}
    row = [float(s.get(k, 0.0)) for k in SCORE_KEYS]
    row += [0.0 if has_task else 1.0, float(s.get("weight", 0.0))]
    row += [1.0 if c in flags else 0.0 for c in SOFT]
    row += [1.0 if v in f.verbs else 0.0 for v in VERBS]
    row += [float(f.sensitivity), 1.0 if f.destination == "external" else 0.0, float(min(history, 10))]
    return np.array(row, dtype=np.float64)


SESSION_FEATURES = ("steps", "exposure", "escalation", "risk_level", "injections", "value_tainted", "value_injected",
                    "value_held", "secret_seen", "sensitive_seen", "flow_marks", "values_from_results", "values_from_task",
                    "values_from_calls", "refusal_words_results", "refusal_words_task", "no_values")
# Words by which a result or a task says a record or an action is not to be acted on.
_REFUSAL = re.compile(r"(?i)\b(denied|reject\w*|declin\w*|not approved|unapproved|hold|pending|do not|don't|must not|never|"
                      r"expired|revoked|fraud\w*|suspicious|blocked|frozen|opted? out|withdrawn|unverified|not verified|"
                      r"restricted|confidential|disputed|closed|terminated|suspended)\b")


def session_features(case: Case, snap: Any) -> np.ndarray:
    """What the session holds when the final call comes: its state (exposure, escalation, risk,
    injections, flow marks), whether the call's values were tainted, injected or are held records,
    where its values appeared before (results, task, earlier calls), and refusal words."""
    toks: set[str] = set()
    for _, v in flatten_args(case.action.get("args") or {}):
        if isinstance(v, str):
            toks |= salient_tokens(v)
    results = " ".join(json.dumps(s.get("result"), default=str) for s in case.history).lower()
    calls = " ".join(json.dumps(s.get("action"), default=str) for s in case.history).lower()
    task = (case.task or "").lower()
    n = max(1, len(toks))
    if snap is None:
        state = [0.0] * 11
    else:
        held = {h.split("=")[0] for h in snap.held}
        state = [snap.steps, snap.exposure, snap.escalation, snap.risk_level, snap.injections,
                 float(bool(snap.tainted & toks)), float(bool(snap.injected & toks)), float(bool(held & toks)),
                 float(bool(snap.secrets)), float(bool(snap.sensitive)), float(len(snap.marks))]
    seen = [sum(1 for t in toks if t.lower() in text) / n for text in (results, task, calls)]
    return np.array(state + seen + [len(_REFUSAL.findall(results)), len(_REFUSAL.findall(task)), float(not toks)],
                    dtype=np.float64)


# --- metrics ---------------------------------------------------------------------------------

def prf(labels: Sequence[bool], preds: Sequence[bool]) -> dict[str, float]:
    tp = sum(1 for y, p in zip(labels, preds) if y and p)
    fp = sum(1 for y, p in zip(labels, preds) if not y and p)
    fn = sum(1 for y, p in zip(labels, preds) if y and not p)
    tn = sum(1 for y, p in zip(labels, preds) if not y and not p)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "fpr": fp / (fp + tn) if fp + tn else 0.0,
            "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def summary(recs: Sequence[Record], preds: Sequence[bool]) -> dict[str, Any]:
    out = prf([r.label for r in recs], preds)
    for cat in FOCUS:
        idx = [i for i, r in enumerate(recs) if r.case.category == cat]
        out[cat] = prf([recs[i].label for i in idx], [preds[i] for i in idx])
    return out


# --- logistic regression ---------------------------------------------------------------------

def fit_lr(X: np.ndarray, y: np.ndarray, l2: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, scale, weights with bias last): Newton steps on the L2-penalised log loss."""
    mu = X.mean(axis=0)
    sd = X.std(axis=0)
    sd[sd < 1e-9] = 1.0
    Z = np.hstack([(X - mu) / sd, np.ones((len(X), 1))])
    w = np.zeros(Z.shape[1])
    pen = np.full(Z.shape[1], l2)
    pen[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-Z @ w))
        g = Z.T @ (p - y) + pen * w
        H = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(pen) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return mu, sd, w


def predict_lr(model: tuple[np.ndarray, np.ndarray, np.ndarray], X: np.ndarray) -> np.ndarray:
    mu, sd, w = model
    Z = np.hstack([(X - mu) / sd, np.ones((len(X), 1))])
    return 1.0 / (1.0 + np.exp(-Z @ w))


# --- a generic fold driver for the offline candidates ----------------------------------------

Scorer = Callable[[list[Record], list[Record], Any], np.ndarray]   # (train, apply, params) -> score per apply record


def combine(recs: Sequence[Record], score: np.ndarray, thr: float, mode: str) -> list[bool]:
    """Final stop decisions: open calls follow the learned score, the rest stay as shipped."""
    out = []
    for r, s in zip(recs, score):
        if not r.open:
            out.append(r.shipped)
        elif mode == "replace":
            out.append(bool(s >= thr))
        else:
            out.append(r.veto or bool(s >= thr))
    return out


def choose(recs: list[Record], oof: dict[Any, np.ndarray], mode: str, extra_fpr: float = 0.0) -> tuple[Any, float]:
    """Best (params, threshold) by training F1 with training FPR <= the shipped gate's there
    (plus `extra_fpr`). Ties go to the higher threshold (fewer learned stops)."""
    y = np.array([r.label for r in recs])
    shipped = np.array([r.shipped for r in recs])
    is_open = np.array([r.open for r in recs])
    veto = np.array([r.veto for r in recs])
    base_fpr = float((shipped & ~y).sum()) / max(1, int((~y).sum()))
    best: tuple[float, float, Any] | None = None
    for params in sorted(oof, key=repr):
        s = oof[params]
        for t in [*sorted({float(v) for v in s[is_open]}), float("inf")]:
            learned = s >= t
            pred = np.where(is_open, learned if mode == "replace" else (veto | learned), shipped)
            tp = int((pred & y).sum())
            fp = int((pred & ~y).sum())
            fn = int((~pred & y).sum())
            if fp / max(1, int((~y).sum())) > base_fpr + extra_fpr + 1e-12:
                continue
            f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
            if best is None or (f1, t) > (best[0], best[1]):
                best = (f1, t, params)
    assert best is not None
    return best[2], best[1]


def cross_validate(recs: list[Record], scorer: Scorer, grid: Sequence[Any],
                   settings: Sequence[tuple[str, float]]) -> dict[tuple[str, float], tuple[list[bool], list[dict[str, Any]]]]:
    """Pooled held-out predictions (and per-fold details) for each (mode, extra FPR) setting."""
    files = sorted({r.file for r in recs})
    preds: dict[tuple[str, float], dict[int, bool]] = {k: {} for k in settings}
    folds: dict[tuple[str, float], list[dict[str, Any]]] = {k: [] for k in settings}
    for held in files:
        train = [r for r in recs if r.file != held]
        test_idx = [i for i, r in enumerate(recs) if r.file == held]
        test = [recs[i] for i in test_idx]
        # inner leave-one-file-out over the training files: honest scores to choose the threshold on
        oof: dict[Any, np.ndarray] = {}
        for params in grid:
            s = np.zeros(len(train))
            for inner in sorted({r.file for r in train}):
                fit = [r for r in train if r.file != inner]
                idx = [i for i, r in enumerate(train) if r.file == inner]
                s[idx] = scorer(fit, [train[i] for i in idx], params)
            oof[params] = s
        for mode, extra in settings:
            params, thr = choose(train, oof, mode, extra)
            p = combine(test, scorer(train, test, params), thr, mode)
            preds[(mode, extra)].update(zip(test_idx, p))
            folds[(mode, extra)].append({"file": held, "params": params, "threshold": thr,
                                         **prf([r.label for r in test], p)})
    return {k: ([preds[k][i] for i in range(len(recs))], folds[k]) for k in settings}


def lr_scorer(train: list[Record], apply: list[Record], l2: float, cols: Sequence[int] | None = None) -> np.ndarray:
    """Probability of a violation from an LR fitted on the training files' open calls."""
    fit = [r for r in train if r.open]
    X = np.array([r.x for r in fit])
    A = np.array([r.x for r in apply])
    if cols is not None:
        X, A = X[:, cols], A[:, cols]
    y = np.array([1.0 if r.label else 0.0 for r in fit])
    return predict_lr(fit_lr(X, y, l2), A)


CALL_COLS = tuple(range(len(FEATURES)))           # the call's scores, flags and features; no session features
# untuned inputs only: no flag and no consensus weight (their thresholds and weights were tuned on all of dev)
RAW_COLS = tuple(i for i, n in enumerate(FEATURES) if not n.startswith("flag_") and n != "consensus_weight")
SESSION_COLS = tuple(range(len(FEATURES), len(FEATURES) + len(SESSION_FEATURES)))


def lr_embedding_scorer(train: list[Record], apply: list[Record], l2: float) -> np.ndarray:
    """An LR over the call's and the task's embeddings (zeros without a task) and the LR features."""
    def row(r: Record) -> np.ndarray:
        return np.concatenate([r.call, r.task if r.task is not None else np.zeros_like(r.call), r.x[:len(FEATURES)]])
    fit = [r for r in train if r.open]
    y = np.array([1.0 if r.label else 0.0 for r in fit])
    return predict_lr(fit_lr(np.array([row(r) for r in fit]), y, l2), np.array([row(r) for r in apply]))


def lr_call_scorer(train: list[Record], apply: list[Record], l2: float) -> np.ndarray:
    return lr_scorer(train, apply, l2, CALL_COLS)


def lr_raw_scorer(train: list[Record], apply: list[Record], l2: float) -> np.ndarray:
    return lr_scorer(train, apply, l2, RAW_COLS)


def lr_raw_session_scorer(train: list[Record], apply: list[Record], l2: float) -> np.ndarray:
    return lr_scorer(train, apply, l2, RAW_COLS + SESSION_COLS)


def knn_scorer(train: list[Record], apply: list[Record], blend: float) -> np.ndarray:
    """Best similarity to a training violation minus best similarity to a training benign call;
    similarity = (1 - blend) * call cosine + blend * task cosine (call cosine alone without a task)."""
    def mat(rs: list[Record]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        C = np.array([r.call for r in rs], dtype=np.float64)
        T = np.array([r.task if r.task is not None else np.zeros_like(r.call) for r in rs], dtype=np.float64)
        has = np.array([r.task is not None for r in rs])
        return C, T, has
    Ca, Ta, ha = mat(apply)
    Ct, Tt, ht = mat(train)
    both = ha[:, None] & ht[None, :]
    sim = np.where(both, (1 - blend) * (Ca @ Ct.T) + blend * (Ta @ Tt.T), Ca @ Ct.T)
    lab = np.array([r.label for r in train])
    pos = np.where(lab[None, :], sim, -2.0).max(axis=1)
    neg = np.where(~lab[None, :], sim, -2.0).max(axis=1)
    return pos - neg


# --- online candidate: dev violations as archetypes ------------------------------------------

def with_extra_library(gate: Gate, train: list[Record], anchors: bool) -> Gate:
    lib = gate.bundle.library
    enc = lib.encoder
    viol = sorted({(r.case.category, r.text) for r in train if r.label and r.text})
    ben = sorted({r.text for r in train if not r.label and r.text}) if anchors else []
    n_arch = len(lib.archetypes)
    arche_m = np.vstack([lib.stacked[:n_arch], enc.encode([t for _, t in viol])]).astype(np.float32)
    anchor_m = lib.stacked[n_arch:]
    if ben:
        anchor_m = np.vstack([anchor_m, enc.encode(ben)]).astype(np.float32)
    new_lib = replace(
        lib,
        archetypes=VectorIndex(arche_m, lib.archetypes.labels + tuple(f"dev-{i}" for i in range(len(viol)))),
        archetype_categories=lib.archetype_categories + tuple(c for c, _ in viol),
        anchors=VectorIndex(anchor_m, tuple(f"anchor-{i}" for i in range(len(anchor_m)))),
        stacked=np.ascontiguousarray(np.vstack([arche_m, anchor_m]), dtype=np.float32),
        semantic_cache={}, task_cache={}, sessionless={},
    )
    g = gate_variant(gate)
    g._bundle = replace(gate.bundle, library=new_lib)
    return g


def cv_archetypes(gate: Gate, recs: list[Record], anchors: bool) -> list[bool]:
    preds: dict[int, bool] = {}
    for held in sorted({r.file for r in recs}):
        train = [r for r in recs if r.file != held]
        idx = [i for i, r in enumerate(recs) if r.file == held]
        g = with_extra_library(gate, train, anchors)
        for i, res in zip(idx, run_cases(g, [recs[i].case for i in idx])):
            preds[i] = res.stopped
    return [preds[i] for i in range(len(recs))]


# --- report ----------------------------------------------------------------------------------

def row(name: str, m: dict[str, Any]) -> str:
    cats = " | ".join(f"{m[c]['f1']:.3f} ({m[c]['tp']}/{m[c]['tp'] + m[c]['fn']})" for c in FOCUS)
    return (f"| {name} | {m['f1']:.4f} | {m['precision']:.1%} | {m['recall']:.1%} | {m['fpr']:.1%} | "
            f"{m['tp']}/{m['fp']}/{m['fn']}/{m['tn']} | {cats} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default=SPLIT, help="only 'dev' is accepted")
    ap.add_argument("--folds", action="store_true", help="per held-out file figures")
    ap.add_argument("--embedding-lr", action="store_true", help="also the LR over embeddings (slow: a few minutes)")
    ap.add_argument("--skip-archetypes", action="store_true", help="skip the (slower) online archetype candidates")
    a = ap.parse_args()
    if a.split != SPLIT:
        ap.error("this script reads the dev split only")
    t0 = time.perf_counter()
    gate = Gate.from_policies(ROOT / "bench" / "policies", Settings(audit_path=None))
    cases = load_cases(ROOT / "bench" / "cases", SPLIT)
    assert all(c.split == SPLIT for c in cases)
    recs = collect(gate, cases)
    files = sorted({r.file for r in recs})
    print(f"{len(recs)} dev cases in {len(files)} files; {sum(r.open for r in recs)} reach the consensus unrewritten "
          f"({sum(r.open and r.label for r in recs)} of them violations); collected in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr)

    results: dict[str, dict[str, Any]] = {}
    fold_info: dict[str, list[dict[str, Any]]] = {}
    results["shipped gate (dev, no CV: rules written from all dev files)"] = summary(recs, [r.shipped for r in recs])
    results["shipped gate without the consensus veto"] = summary(recs, [r.shipped and not r.veto for r in recs])
    l2_grid = (0.3, 3.0, 30.0)
    settings = [(m, e) for e in (0.0, 0.01, 0.02) for m in ("replace", "or")]
    candidates: list[tuple[str, Scorer, Sequence[Any]]] = [
        ("lr", lr_call_scorer, l2_grid), ("lr-raw", lr_raw_scorer, l2_grid), ("lr+session", lr_scorer, l2_grid),
        ("lr-raw+session", lr_raw_session_scorer, l2_grid), ("knn", knn_scorer, (0.0, 0.3, 0.6))]
    if a.embedding_lr:
        candidates.append(("lr-embedding", lr_embedding_scorer, (10.0, 100.0, 1000.0)))
    for name, scorer, grid in candidates:
        for (mode, extra), (preds, folds) in cross_validate(recs, scorer, grid, settings).items():
            if name == "knn" and mode == "replace":
                continue     # a neighbour margin is no consensus on its own
            label = f"{name}-{mode}" + (f", FPR budget +{extra:.0%}" if extra else "")
            results[f"{label} (LOFO CV)"] = summary(recs, preds)
            fold_info[label] = folds
    # in-sample contrast: fitted and scored on all dev files (what a dev figure of a fitted signal would claim)
    for name, scorer in (("lr", lr_call_scorer), ("lr+session", lr_scorer)):
        s_all = scorer(recs, recs, 0.3)
        _, thr = choose(recs, {0.3: s_all}, "or")
        results[f"{name}-or, in-sample (fit and scored on all dev; not an estimate)"] = summary(recs, combine(recs, s_all, thr, "or"))
    if not a.skip_archetypes:
        for anchors in (False, True):
            name = "arch+anchors" if anchors else "arch"
            results[f"{name} (LOFO CV)"] = summary(recs, cv_archetypes(gate, recs, anchors))
        g = with_extra_library(gate, recs, False)
        results["arch, in-sample (all dev violations as archetypes; not an estimate)"] = summary(
            recs, [r.stopped for r in run_cases(g, [r.case for r in recs])])

    print("| system (dev cases, pooled over held-out files) | F1 | precision | recall | FPR | TP/FP/FN/TN | "
          + " | ".join(f"{c} F1 (stopped/violations)" for c in FOCUS) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(FOCUS))
    for name, m in results.items():
        print(row(name, m))
    if a.folds:
        print("\nshipped gate:")
        for f in files:
            m = prf([r.label for r in recs if r.file == f], [r.shipped for r in recs if r.file == f])
            print(f"  {f:<24} F1 {m['f1']:.3f}  tp/fp/fn/tn {m['tp']}/{m['fp']}/{m['fn']}/{m['tn']}")
        for name, folds in fold_info.items():
            print(f"\n{name}:")
            for f in folds:
                print(f"  {f['file']:<24} params={f['params']!r:<6} thr={f['threshold']:.3f}  "
                      f"F1 {f['f1']:.3f}  tp/fp/fn/tn {f['tp']}/{f['fp']}/{f['fn']}/{f['tn']}")
    print(f"\n({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    print(json.dumps({k: {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in m.items() if not isinstance(vv, dict)}
                      for k, m in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
