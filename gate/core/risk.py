"""Session risk in the manner of SafetyDrift: a monotone state, a first-match rule table of
risk levels, and an absorbing Markov chain over those levels per task category.

At load the chain's fundamental matrix N = (I - Q)^-1, the expected steps to absorption
t = N·1 and P(violation within k steps) for k = 1..K are precomputed, so the request path
is one projection and one table read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from gate.core.actions import READ_ONLY_VERBS, ActionFeatures
from gate.core.session import ESCALATION_LEVELS, RISK_LEVELS, SessionSnapshot, egress_targets, escalation_of, is_sanctioned, reversibility_of

__all__ = ["RiskState", "risk_level", "advance", "unsanctioned_egress", "RiskChain", "RiskModel", "estimate_chain", "CATEGORIES",
           "EXPOSURE_NAMES", "ESCALATION_NAMES", "REVERSIBILITY_NAMES"]

CATEGORIES = ("communication", "technical", "financial", "data", "general")
TRANSIENT = len(RISK_LEVELS) - 1   # SAFE..CRITICAL
VIOLATED = TRANSIENT
EXPOSURE_NAMES = ("none", "internal", "confidential", "secret", "regulated")
ESCALATION_NAMES = ESCALATION_LEVELS
REVERSIBILITY_NAMES = ("reversible", "partial", "irreversible")


def risk_level(exposure: int, escalation: int, reversibility: int) -> int:
    """First-match rule table from (exposure, escalation, reversibility) to a risk level."""
    sensitive = exposure >= 3            # secrets or regulated personal data seen
    if sensitive and escalation >= 3 and reversibility >= 2:
        return 4                          # VIOLATED: sensitive data + irreversible network action
    if sensitive and escalation >= 3:
        return 3
    if exposure >= 2 and escalation >= 3 and reversibility >= 2:
        return 3                          # confidential data already left through an irreversible send
    if sensitive and escalation >= 2:
        return 2
    if exposure >= 2 and escalation >= 2:
        return 2
    if sensitive or escalation >= 3 or exposure >= 2:
        return 1
    return 0


@dataclass(slots=True)
class RiskState:
    """A projected state (treated as immutable; slotted because one is built per call)."""

    exposure: int
    escalation: int
    reversibility: int
    level: int

    def describe(self) -> str:
        return (f"{RISK_LEVELS[self.level]} (exposure {EXPOSURE_NAMES[self.exposure]}, "
                f"escalation {ESCALATION_NAMES[self.escalation]}, {REVERSIBILITY_NAMES[self.reversibility]})")


def unsanctioned_egress(f: ActionFeatures, session: SessionSnapshot, agent_named: frozenset[str],
                        internal: tuple[str, ...]) -> bool:
    """Whether the call sends to a destination that neither the task, the identity, a
    system-of-record field nor the internal domains sanction. Most calls name no outbound
    destination; only those build the session's trust set."""
    if f.destination == "internal" and not f.urls and f.verbs <= READ_ONLY_VERBS:
        # A read of an internal system sends nothing anywhere: an address or a host in it is
        # data (a SQL literal, a search term), not a destination. A URL still is (dblink, http).
        return False
    targets = egress_targets(f)
    if not targets:
        return False
    trusted = session.trusted(agent_named)
    return any(not is_sanctioned(t, trusted, internal) for t in targets)


def advance(exposure: int, escalation: int, f: ActionFeatures, unsanctioned: bool) -> tuple[int, int, int]:
    """The state after a call: exposure and escalation only increase."""
    esc = escalation_of(f, unsanctioned)
    rev = reversibility_of(f)
    reads = not f.verbs or bool(f.verbs & {"read", "execute", "other"})
    return max(exposure, f.sensitivity if reads else exposure), max(escalation, esc), rev


@dataclass(frozen=True)
class RiskChain:
    """Absorbing chain over levels SAFE..CRITICAL (transient) and VIOLATED (absorbing)."""

    P: np.ndarray              # (5, 5) row-stochastic, upper-triangular (risk never decreases)
    within: np.ndarray         # (K+1, 4): P(absorbed within k steps | transient level)
    expected: np.ndarray       # (4,): expected steps to absorption
    absorption: np.ndarray     # (4,): eventual absorption probability (1 when reachable)

    @classmethod
    def from_matrix(cls, P: np.ndarray, K: int) -> RiskChain:
        P = np.asarray(P, dtype=np.float64)
        Q = P[:TRANSIENT, :TRANSIENT]
        R = P[:TRANSIENT, TRANSIENT:]
        N = np.linalg.inv(np.eye(TRANSIENT) - Q)
        B = N @ R
        t = N @ np.ones(TRANSIENT)
        within = np.zeros((K + 1, TRANSIENT))
        Pk = np.eye(P.shape[0])
        for k in range(1, K + 1):
            Pk = Pk @ P
            within[k] = Pk[:TRANSIENT, VIOLATED]
        # Risk is ordinal: a higher level never reads as safer than a lower one, whatever
        # thin evidence the estimate rests on (running max across levels).
        within = np.maximum.accumulate(within, axis=1)
        t = np.minimum.accumulate(t)
        return cls(P=P, within=within, expected=t, absorption=B[:, 0])


def estimate_chain(sequences: Iterable[list[int]], alpha: float = 0.5, floor: float = 0.02) -> np.ndarray:
    """Transition matrix from level sequences (each ends in VIOLATED for violation traces).

    Add-`alpha` smoothing over the allowed (non-decreasing) moves; a row never observed
    gets a conservative prior: as likely to climb as the most dangerous observed row above.
    Every transient row keeps at least `floor` mass on VIOLATED, so no state is called safe
    forever on thin evidence.
    """
    n = len(RISK_LEVELS)
    counts = np.zeros((n, n))
    for seq in sequences:
        for a, b in zip(seq, seq[1:]):
            counts[a, max(a, b)] += 1
    P = np.zeros((n, n))
    P[VIOLATED, VIOLATED] = 1.0
    for i in range(TRANSIENT - 1, -1, -1):
        row = counts[i].copy()
        row[:i] = 0
        if row.sum() == 0:
            above = P[i + 1] if i + 1 < TRANSIENT else np.eye(n)[VIOLATED]
            P[i, i:] = 0.0
            P[i, i] = 0.5
            P[i, i + 1:] += 0.5 * above[i + 1:]
        else:
            row[i:] += alpha
            P[i] = row / row.sum()
        if P[i, VIOLATED] < floor:
            P[i, i] -= floor - P[i, VIOLATED]
            P[i, VIOLATED] = floor
    return P


class RiskModel:
    """Per-category chains with precomputed k-step lookup tables."""

    def __init__(self, chains: Mapping[str, RiskChain], horizon: int) -> None:
        self.chains = dict(chains)
        self.horizon = horizon
        # The request path reads plain Python floats: (P(violation within horizon), expected
        # steps) per transient level, per category.
        self._at_horizon = {cat: (tuple(float(x) for x in ch.within[horizon]), tuple(float(x) for x in ch.expected))
                            for cat, ch in self.chains.items()}

    def at_horizon(self, level: int, category: str) -> tuple[float, float]:
        """(P(violation within the horizon), expected steps to absorption) from `level`."""
        if level >= VIOLATED:
            return 1.0, 0.0
        p, t = self._at_horizon.get(category) or self._at_horizon["general"]
        return p[level], t[level]

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], horizon: int) -> RiskModel:
        K = max(horizon, int(spec.get("max_horizon", 10)))
        chains = {cat: RiskChain.from_matrix(np.array(m), K) for cat, m in spec["matrices"].items()}
        return cls(chains, horizon)

    def chain(self, category: str) -> RiskChain:
        return self.chains.get(category) or self.chains["general"]

    def project(self, s: SessionSnapshot, f: ActionFeatures, unsanctioned: bool = False) -> RiskState:
        e, c, r = advance(s.exposure, s.escalation, f, unsanctioned)
        return RiskState(e, c, r, max(s.risk_level, risk_level(e, c, r)))

    def p_violation(self, state: RiskState, category: str, horizon: int | None = None) -> float:
        if state.level >= VIOLATED:
            return 1.0
        return float(self.chain(category).within[horizon or self.horizon, state.level])

    def expected_steps(self, state: RiskState, category: str) -> float:
        if state.level >= VIOLATED:
            return 0.0
        return float(self.chain(category).expected[state.level])
