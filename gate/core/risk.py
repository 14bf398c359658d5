"""Session risk in the manner of SafetyDrift: a monotone state, a first-match rule table of
risk levels, and an absorbing Markov chain per task category.

The reported level is one of SAFE, MILD, ELEVATED, CRITICAL and VIOLATED (absorbing). The
chain may be indexed by a finer state: the level and, after it, a few latched facts of the
session (`COMPONENTS`, e.g. whether a secret has been seen). Both only ever grow, so the
chain's states are ordered componentwise and risk never reads lower in a state that
dominates another.

At load each chain's fundamental matrix N = (I - Q)^-1, the expected steps to absorption
t = N·1 and P(violation within k steps) for k = 1..K are precomputed, so the request path
is one projection and one table read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from math import prod
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from gate.core.actions import READ_ONLY_VERBS, ActionFeatures
from gate.core.session import BODY_LEAF, ESCALATION_LEVELS, RISK_LEVELS, SessionSnapshot, egress_targets, escalation_of, is_sanctioned, personal_mailbox, reversibility_of

__all__ = ["RiskState", "risk_level", "advance", "unsanctioned_egress", "egress_to_named_account", "RiskChain", "RiskModel", "estimate_chain", "CATEGORIES",
           "EXPOSURE_NAMES", "ESCALATION_NAMES", "REVERSIBILITY_NAMES", "COMPONENTS", "component_values", "lift_level_chain",
           "estimate_state_chain", "state_shape", "describe_state"]

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


# State components a chain may be indexed by, after the level: name -> (number of values,
# value from (session before the call, projected exposure, projected escalation), what a
# non-zero value says). Each is latched by the session (a set that only grows, a latched
# maximum), so a state never moves to one it does not dominate; "secret" also reads the
# call's own exposure, which a later regulated read can overtake, so the fit counts every
# move towards the componentwise maximum of its two states.
_Component = tuple[int, Callable[[SessionSnapshot, int, int], int], str]
COMPONENTS: dict[str, _Component] = {
    "secret": (2, lambda s, e, c: 1 if s.secrets or e == 3 else 0, "a secret seen"),
    "secret_found": (2, lambda s, e, c: 1 if s.secrets else 0, "a secret found in a tool result"),
    "tainted": (2, lambda s, e, c: 1 if s.tainted else 0, "a destination taken from a tool result"),
    "injected": (2, lambda s, e, c: 1 if s.injections else 0, "an injected instruction in a result"),
    "held": (2, lambda s, e, c: 1 if s.held else 0, "a record whose status forbids acting on it"),
    "pressure": (2, lambda s, e, c: 1 if s.pressure else 0, "a task with social-engineering marks"),
    "unsanctioned": (2, lambda s, e, c: 1 if c >= 3 else 0, "an unsanctioned destination contacted"),
    "exposure": (5, lambda s, e, c: e, "exposure"),
    "escalation": (4, lambda s, e, c: c, "escalation"),
}


def state_shape(components: Sequence[str]) -> tuple[int, ...]:
    """The transient states as a grid: (levels SAFE..CRITICAL, values of each component)."""
    return (TRANSIENT,) + tuple(COMPONENTS[n][0] for n in components)


def component_values(components: Sequence[str], s: SessionSnapshot, exposure: int, escalation: int) -> tuple[int, ...]:
    return tuple(COMPONENTS[n][1](s, exposure, escalation) for n in components)


def describe_state(components: Sequence[str], index: int) -> str:
    """A chain state (a flat index over `state_shape(components)`) in words: the level, then
    the components that are set."""
    shape = state_shape(components)
    width = prod(shape[1:])
    if index >= TRANSIENT * width:
        return RISK_LEVELS[VIOLATED]
    level, sub = divmod(index, width)
    parts = [RISK_LEVELS[level]]
    values = [int(v) for v in np.unravel_index(sub, shape[1:])] if components else []
    for name, v in zip(components, values):
        if name == "exposure":
            parts.append(f"exposure {EXPOSURE_NAMES[v]}")
        elif name == "escalation":
            parts.append(f"escalation {ESCALATION_NAMES[v]}")
        elif v:
            parts.append(COMPONENTS[name][2])
    return ", ".join(parts)


@dataclass(slots=True)
class RiskState:
    """A projected state (treated as immutable; slotted because one is built per call).

    `sub` indexes the model's state components (0 when the chain is over levels only);
    `flags` names the components that are set, for the explanation."""

    exposure: int
    escalation: int
    reversibility: int
    level: int
    sub: int = 0
    flags: tuple[str, ...] = ()

    def describe(self) -> str:
        more = "; " + ", ".join(self.flags) if self.flags else ""
        return (f"{RISK_LEVELS[self.level]} (exposure {EXPOSURE_NAMES[self.exposure]}, "
                f"escalation {ESCALATION_NAMES[self.escalation]}, {REVERSIBILITY_NAMES[self.reversibility]}{more})")


_STORE_VERBS = READ_ONLY_VERBS | {"write"}


def _named_only_in_content(f: ActionFeatures) -> bool:
    """Whether every external address or host of the call appears only in text fields
    (content, body, note...), none in a field of its own."""
    if not f.external_domains:
        return True
    for path, text in f.strings:
        if BODY_LEAF.search(path):
            continue
        low = text.lower()
        if any(d in low for d in f.external_domains):
            return False
    return True


def unsanctioned_egress(f: ActionFeatures, session: SessionSnapshot, agent_named: frozenset[str],
                        internal: tuple[str, ...]) -> bool:
    """Whether the call sends to a destination that neither the task, the identity, a
    system-of-record field nor the internal domains sanction. Most calls name no outbound
    destination; only those build the session's trust set."""
    if f.destination == "internal" and not f.urls and f.verbs <= READ_ONLY_VERBS:
        # A read of an internal system sends nothing anywhere: an address or a host in it is
        # data (a SQL literal, a search term), not a destination. A URL still is (dblink, http).
        return False
    if f.destination == "internal" and not f.urls and f.verbs <= _STORE_VERBS and _named_only_in_content(f):
        # A write into a store the policy declares internal (a file in the workspace, a ticket
        # note) keeps what its text mentions there: `'a@x.test'` in a test file is data, not
        # where the write goes. An address in any other field (a contact e-mail) and a URL still are.
        return False
    targets = egress_targets(f)
    if not targets:
        return False
    trusted = session.trusted(agent_named)
    return any(not is_sanctioned(t, trusted, internal) for t in targets)


def egress_to_named_account(f: ActionFeatures, session: SessionSnapshot, agent_named: frozenset[str], internal: tuple[str, ...]) -> bool:
    """Whether every destination of the call nobody sanctioned is at the ___domain of the account
    the task names, as a record read in this session names it (below). The session-risk
    projection reads such a send as one to a sanctioned destination."""
    targets = egress_targets(f)
    if not targets or not session.task:
        return False
    names = _account_names(session)
    if not names:
        return False
    trusted = session.trusted(agent_named)
    return all(is_sanctioned(t, trusted, internal) or org_named_by_task(t, session, names) for t in targets)


# Round 20h: the account a task names by name ("Send Kirov Systems the renewal quote"), when a
# record read in this session binds an id to that same name (`{account_id: ACC-30419, name: Kirov
# Systems}`, held as `sbind|ACC-30419|n:kirov systems`), is a destination the task sanctions at a
# ___domain that spells the name, as companies' domains do: its consecutive words, each whole or cut to
# a prefix of three letters or more, two words at least when the name has two (`kirovsys.com`,
# `kirov-systems.de`), or its initials (three or more words). A personal mailbox, a destination a
# result put in the session, and a ___domain that adds anything to the name (`kirovsys-billing.com`)
# are not sanctioned by it.
_SBIND_NAME20 = "|n:"
_SECOND_LEVEL20 = frozenset("co com org net ac gov or ne edu".split())


def _account_names(session: SessionSnapshot) -> tuple[tuple[str, ...], ...]:
    task = " ".join(re.sub(r"[^a-z0-9]+", " ", (session.task or "").lower()).split())
    out = []
    for e in session.held:
        if e.startswith("sbind|") and _SBIND_NAME20 in e:
            name = e.rsplit(_SBIND_NAME20, 1)[1]
            words = tuple(re.sub(r"[^a-z0-9]+", " ", name).split())
            if words and f" {' '.join(words)} " in f" {task} " and (len(words) >= 2 or len(words[0]) >= 4):
                out.append(words)
                if len(out) >= 8:
                    break
    return tuple(out)


def _spells(label: str, words: tuple[str, ...]) -> bool:
    """Whether `label` is consecutive `words` (from any one of them), each whole or cut to a
    prefix of three letters or more; a one-word name must be whole and four letters or more."""
    if len(words) >= 3 and label == "".join(w[0] for w in words):
        return True

    def rest(pos: int, j: int, used: int) -> bool:
        if pos == len(label):
            return used >= 2 or used == 1 == len(words) and label == words[0] and len(label) >= 4
        if j >= len(words):
            return False
        w = words[j]
        for n in range(len(w), min(3, len(w)) - 1, -1):
            if label.startswith(w[:n], pos) and rest(pos + n, j + 1, used + 1):
                return True
        return False

    return any(rest(0, j, 0) for j in range(len(words)) if label[:1] == words[j][:1])


def org_named_by_task(target: str, session: SessionSnapshot, names: tuple[tuple[str, ...], ...]) -> bool:
    if "." not in target or target in session.tainted:
        return False
    host = target.rsplit("@", 1)[-1].lower()
    labels = host.split(".")
    if len(labels) < 2 or personal_mailbox(host) or host in session.tainted:
        return False
    label = labels[-3] if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL20 else labels[-2]
    label = label.replace("-", "")
    if len(label) < 4 or len(label) > 40:
        return False
    return any(_spells(label, words) for words in names)


def advance(exposure: int, escalation: int, f: ActionFeatures, unsanctioned: bool) -> tuple[int, int, int]:
    """The state after a call: exposure and escalation only increase."""
    esc = escalation_of(f, unsanctioned)
    rev = reversibility_of(f)
    reads = not f.verbs or bool(f.verbs & {"read", "execute", "other"})
    return max(exposure, f.sensitivity if reads else exposure), max(escalation, esc), rev


def _ordinal(values: np.ndarray, shape: tuple[int, ...], up: bool) -> np.ndarray:
    """Over the grid of transient states: the max (`up`) or min of each state and every state
    it dominates componentwise (a box below it, so one running max/min per axis)."""
    g = values.reshape(shape)
    acc = np.maximum.accumulate if up else np.minimum.accumulate
    for axis in range(len(shape)):
        g = acc(g, axis=axis)
    return g.reshape(-1)


@dataclass(frozen=True)
class RiskChain:
    """Absorbing chain over transient states (levels SAFE..CRITICAL, or a grid of levels by
    state components, flattened row-major) and VIOLATED (absorbing, the last state)."""

    P: np.ndarray              # (n+1, n+1) row-stochastic; moves only to dominating states
    within: np.ndarray         # (K+1, n): P(absorbed within k steps | transient state)
    expected: np.ndarray       # (n,): expected steps to absorption
    absorption: np.ndarray     # (n,): eventual absorption probability (1 when reachable)

    @classmethod
    def from_matrix(cls, P: np.ndarray, K: int, shape: tuple[int, ...] | None = None) -> RiskChain:
        P = np.asarray(P, dtype=np.float64)
        n = P.shape[0] - 1
        shape = shape or (n,)
        if prod(shape) != n:
            raise ValueError(f"a chain over {n} transient states cannot have the shape {shape}")
        Q = P[:n, :n]
        R = P[:n, n:]
        N = np.linalg.inv(np.eye(n) - Q)
        B = N @ R
        t = N @ np.ones(n)
        within = np.zeros((K + 1, n))
        w = np.zeros(n + 1)
        w[n] = 1.0
        for k in range(1, K + 1):
            w = P @ w                     # P^k[:, VIOLATED], one column at a time
            within[k] = w[:n]
        # Risk is ordinal: a state never reads as safer than one it dominates (a higher level,
        # a latched fact added), whatever thin evidence the estimate rests on.
        within = np.stack([_ordinal(row, shape, up=True) for row in within])
        t = _ordinal(t, shape, up=False)
        return cls(P=P, within=within, expected=t, absorption=B[:, 0])


def estimate_chain(sequences: Iterable[list[int]], alpha: float = 0.5, floor: float = 0.02) -> np.ndarray:
    """Transition matrix over levels from level sequences (each ends in VIOLATED for violation traces).

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


def lift_level_chain(P_level: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A level chain as a chain over the finer states: from (level, components) to (level',
    same components) with the level chain's probability, to VIOLATED likewise."""
    m = prod(shape[1:])
    n = TRANSIENT * m
    out = np.zeros((n + 1, n + 1))
    out[n, n] = 1.0
    for lvl in range(TRANSIENT):
        for sub in range(m):
            i = lvl * m + sub
            for to in range(lvl, TRANSIENT):
                out[i, to * m + sub] += P_level[lvl, to]
            out[i, n] = P_level[lvl, VIOLATED]
    return out


def estimate_state_chain(sequences: Iterable[Sequence[int]], shape: tuple[int, ...], prior: np.ndarray,
                         beta: float, floor: float) -> np.ndarray:
    """Transition matrix over the finer states by back-off: each row is the observed moves
    plus `beta` pseudo-moves drawn from `prior` (the coarser chain's row), normalised. A state
    never observed keeps its prior row; with few observations it stays close to it.

    Sequences hold flat state indices, VIOLATED being the number of transient states. A move
    counts towards the componentwise maximum of its two states (the state is latched), and
    every transient row keeps at least `floor` mass on VIOLATED.
    """
    n = prod(shape)
    counts = np.zeros((n + 1, n + 1))
    for seq in sequences:
        for a, b in zip(seq, seq[1:]):
            if b != n:
                b = int(np.ravel_multi_index(np.maximum(np.unravel_index(a, shape), np.unravel_index(b, shape)), shape))
            counts[a, b] += 1
    P = counts + beta * prior
    P[n] = 0.0
    P[n, n] = 1.0
    sums = P.sum(axis=1, keepdims=True)
    P = np.where(sums > 0, P / np.where(sums > 0, sums, 1.0), prior)
    for i in range(n):
        if P[i, n] < floor:
            P[i, i] -= floor - P[i, n]
            P[i, n] = floor
    return P


class RiskModel:
    """Per-category chains with precomputed k-step lookup tables.

    `components` names the session facts the chains are indexed by after the level (none: the
    chains are over the levels alone, as in models written before they existed)."""

    def __init__(self, chains: Mapping[str, RiskChain], horizon: int, components: Sequence[str] = ()) -> None:
        self.chains = dict(chains)
        self.horizon = horizon
        self.components = tuple(components)
        unknown = [c for c in self.components if c not in COMPONENTS]
        if unknown:
            raise ValueError(f"unknown risk state components: {', '.join(unknown)}")
        self.shape = state_shape(self.components)
        self._width = prod(self.shape[1:])       # finer states per level
        self._radix = tuple(COMPONENTS[c][0] for c in self.components)
        self._values = tuple((COMPONENTS[c][0], COMPONENTS[c][1]) for c in self.components)
        # the words for each sub-state's set yes/no facts, read when a verdict explains itself
        self._flags = tuple(
            tuple(COMPONENTS[c][2] for c, v in zip(self.components, np.unravel_index(sub, self._radix))
                  if COMPONENTS[c][0] == 2 and v) if self._radix else ()
            for sub in range(self._width))
        # every state in words, VIOLATED last: a verdict names its projected state per call
        self._names = tuple(describe_state(self.components, i) for i in range(TRANSIENT * self._width + 1))
        for cat, ch in self.chains.items():
            if ch.within.shape[1] != TRANSIENT * self._width:
                raise ValueError(f"the {cat} chain has {ch.within.shape[1]} transient states, not {TRANSIENT * self._width}")
        # The request path reads plain Python floats: (P(violation within horizon), expected
        # steps) per transient state, per category.
        self._at_horizon = {cat: (tuple(float(x) for x in ch.within[horizon]), tuple(float(x) for x in ch.expected))
                            for cat, ch in self.chains.items()}

    def index(self, level: int, sub: int = 0) -> int:
        return level * self._width + sub

    def at_horizon(self, level: int, category: str, sub: int = 0) -> tuple[float, float]:
        """(P(violation within the horizon), expected steps to absorption) from a state."""
        if level >= VIOLATED:
            return 1.0, 0.0
        p, t = self._at_horizon.get(category) or self._at_horizon["general"]
        i = level * self._width + sub
        return p[i], t[i]

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], horizon: int) -> RiskModel:
        K = max(horizon, int(spec.get("max_horizon", 10)))
        components = tuple(spec.get("state") or ())
        shape = state_shape(components)
        chains = {cat: RiskChain.from_matrix(np.array(m), K, shape) for cat, m in spec["matrices"].items()}
        return cls(chains, horizon, components)

    def chain(self, category: str) -> RiskChain:
        return self.chains.get(category) or self.chains["general"]

    def project(self, s: SessionSnapshot, f: ActionFeatures, unsanctioned: bool = False) -> RiskState:
        e, c, r = advance(s.exposure, s.escalation, f, unsanctioned)
        level = max(s.risk_level, risk_level(e, c, r))
        values = self._values
        if not values:
            return RiskState(e, c, r, level)
        if len(values) == 1:
            sub = values[0][1](s, e, c)
        else:
            sub = 0
            for radix, value in values:
                sub = sub * radix + value(s, e, c)
        return RiskState(e, c, r, level, sub, self._flags[sub])

    def state_name(self, index: int) -> str:
        """A chain state (a flat index) in words: the level, then the component values."""
        names = self._names
        return names[index] if 0 <= index < len(names) else describe_state(self.components, index)

    def p_violation(self, state: RiskState, category: str, horizon: int | None = None) -> float:
        if state.level >= VIOLATED:
            return 1.0
        return float(self.chain(category).within[horizon or self.horizon, self.index(state.level, state.sub)])

    def expected_steps(self, state: RiskState, category: str) -> float:
        if state.level >= VIOLATED:
            return 0.0
        return float(self.chain(category).expected[self.index(state.level, state.sub)])
