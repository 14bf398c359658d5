"""The session-risk chain over finer states (level x latched session facts): the lookup is the
matrix computation, risk is ordinal over the state order, the back-off estimate is a proper
absorbing chain, models over levels alone still load, and a state the chain deems dangerous
is blocked by the gate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gate import Gate
from gate.core.risk import COMPONENTS, TRANSIENT, RiskChain, RiskModel, estimate_chain, estimate_state_chain, lift_level_chain, state_shape
from gate.evaluation.data import Trace
from gate.evaluation.risk_fit import state_sequences, with_risk_model
from gate.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def _raw_within(P: np.ndarray, k: int) -> np.ndarray:
    n = P.shape[0] - 1
    return np.linalg.matrix_power(P, k)[:n, n]


# --- old models ---------------------------------------------------------------------------------

P_HAND = np.array([
    [0.60, 0.20, 0.10, 0.05, 0.05],
    [0.00, 0.50, 0.20, 0.10, 0.20],
    [0.00, 0.00, 0.50, 0.20, 0.30],
    [0.00, 0.00, 0.00, 0.60, 0.40],
    [0.00, 0.00, 0.00, 0.00, 1.00],
])


def test_a_model_over_levels_alone_still_loads_and_reads_the_level_chain() -> None:
    old = {"source": "levels", "max_horizon": 10, "matrices": {"general": P_HAND.tolist(), "technical": P_HAND.tolist()}}
    model = RiskModel.from_spec(old, 3)
    assert model.components == ()
    for level in range(TRANSIENT):
        p, _ = model.at_horizon(level, "data")                         # unknown category -> general
        assert p == pytest.approx(np.maximum.accumulate(_raw_within(P_HAND, 3))[level])
    assert model.at_horizon(3, "general")[1] == pytest.approx(2.5)


def test_a_model_must_match_its_state_components() -> None:
    with pytest.raises(ValueError):
        RiskModel.from_spec({"state": ["secret"], "matrices": {"general": P_HAND.tolist()}}, 5)
    with pytest.raises(ValueError):
        RiskModel({"general": RiskChain.from_matrix(P_HAND, 5)}, 5, ("no_such_fact",))


# --- estimation ---------------------------------------------------------------------------------

def test_back_off_rows_are_stochastic_absorbing_and_borrow_from_the_coarser_row() -> None:
    comps = ("secret",)
    shape = state_shape(comps)
    n = int(np.prod(shape))
    coarse = estimate_chain([[0, 0, 1, 4], [0, 1, 1, 2, 4], [0, 0, 0]], alpha=0.5, floor=0.01)
    prior = lift_level_chain(coarse, shape)
    # states: level*2 + secret; (MILD, secret) = 3 goes to VIOLATED twice, (MILD) = 2 stays
    seqs = [[0, 2, 2, 2, 2], [0, 3, 3, n], [0, 3, n], [0, 2, 3, 2]]     # the last moves down: counted at the max
    P = estimate_state_chain(seqs, shape, prior, beta=2.0, floor=0.01)
    np.testing.assert_allclose(P.sum(axis=1), np.ones(n + 1))
    assert P[n, n] == 1.0 and np.all(P[:n, n] >= 0.01 - 1e-12)
    # (ELEVATED, secret) = 5 was never seen: its row is the prior's
    np.testing.assert_allclose(P[5], prior[5])
    # the observed hazard of (MILD, secret) pulls its row above (MILD)'s
    assert P[3, n] > P[2, n]
    # a fact never unlatches: no mass from (MILD, secret) back to (MILD)
    assert P[3, 2] == 0.0
    # with no observations the back-off chain is its prior, and the lifted level chain reads
    # exactly as the level chain whatever the facts
    same = estimate_state_chain([], shape, prior, beta=2.0, floor=0.0)
    np.testing.assert_allclose(same, prior)
    lifted = RiskChain.from_matrix(prior, 5, shape)
    levels = RiskChain.from_matrix(coarse, 5)
    for i in range(n):
        assert lifted.within[5, i] == pytest.approx(levels.within[5, i // 2])


def test_sequences_end_in_violated_after_the_violating_step_or_at_a_block() -> None:
    def trace(label: str, v: int | None) -> Trace:
        return Trace(id="t", agent="a", task=None, task_category="general", label=label, violation_step=v, split="dev", steps=())
    # record: (level, every component..., blocked)
    width = len(COMPONENTS)
    secret = [0] * width
    secret[list(COMPONENTS).index("secret")] = 1
    rec = [(0, *[0] * width, 0), (1, *[0] * width, 0), (2, *secret, 0), (2, *secret, 1), (2, *secret, 0)]
    n = TRANSIENT * 2
    (_, viol), = state_sequences([trace("violation", 2)], [rec], ("secret",), ["general"], "all")
    assert viol == [0, 0, 2, 5, n]
    (_, stopped), = state_sequences([trace("violation", 4)], [rec], ("secret",), ["general"], "all")
    assert stopped == [0, 0, 2, 5, 5, n]                                # stopped by the block at step 3
    (_, on), = state_sequences([trace("violation", 4)], [rec], ("secret",), ["general"], "none")
    assert on == [0, 0, 2, 5, 5, 5, n]
    (_, benign), = state_sequences([trace("benign", None)], [rec], ("secret",), ["general"], "all")
    assert benign == [0, 0, 2, 5, 5]


# --- the gate enforces what the chain says --------------------------------------------------------

POLICY = """
agent: vault-reader
identity: Reads service configuration and runbooks for the platform team.
purposes: [read configuration and runbooks]
task_category: technical
tools:
  - name: read_doc
    description: Read an internal runbook
    effect: {verb: read, sensitivity: internal, destination: internal}
  - name: read_secret
    description: Read a credential from the vault
    effect: {verb: read, sensitivity: secret, destination: internal}
"""


def _hand_model(danger: float) -> RiskModel:
    """Level x secret seen: (MILD, secret seen) moves to VIOLATED with probability `danger`
    per step; every other state almost never does."""
    shape = state_shape(("secret",))
    n = int(np.prod(shape))
    P = np.zeros((n + 1, n + 1))
    for i in range(n):
        P[i, i], P[i, n] = 0.99, 0.01
    P[3, 3], P[3, n] = 1 - danger, danger
    P[n, n] = 1.0
    return RiskModel({"general": RiskChain.from_matrix(P, 10, shape)}, 5, ("secret",))


def test_a_state_the_chain_deems_dangerous_is_blocked_and_explained(tmp_path: Path) -> None:
    (tmp_path / "vault.yaml").write_text(POLICY)
    base = Gate.from_policies(tmp_path, Settings(audit_path=None))
    doc = {"agent": "vault-reader", "session": "s", "action": {"tool": "read_doc", "args": {"name": "deploy runbook"}}}
    secret = {"agent": "vault-reader", "session": "s", "action": {"tool": "read_secret", "args": {"name": "db password"}}}
    g = with_risk_model(base, _hand_model(0.5))
    d = g.check(doc)
    assert d.decision == "ALLOW" and d.risk["p_violation"] < 0.6
    d = g.check(secret)
    assert d.decision == "BLOCK" and d.reasons[0]["code"] == "risk_threshold"
    assert "a secret seen" in d.reasons[0]["message"]
    assert d.risk["projected_level"] == "MILD" and d.risk["projected_state"] == "MILD, a secret seen"
    assert d.scores["p_violation"] == pytest.approx(1 - 0.5 ** 5) and d.risk["p_violation"] == round(1 - 0.5 ** 5, 4)
    # the same state, deemed safe, passes
    safe = with_risk_model(base, _hand_model(0.01))
    assert safe.check(doc).decision == "ALLOW" and safe.check(secret).decision == "ALLOW"


def test_the_risk_summary_of_a_level_model_has_no_state() -> None:
    gate = Gate.from_policies(BENCH / "policies", Settings(audit_path=None))
    old = {"max_horizon": 10, "matrices": {c: P_HAND.tolist() for c in ("general",)}}
    g = with_risk_model(gate, old)
    d = g.check({"agent": "coding-assistant", "session": "x", "action": {"tool": "list_dir", "args": {"path": "/workspace"}}})
    assert d.risk is not None and "projected_state" not in d.risk and "p_violation" in d.risk
