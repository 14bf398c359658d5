"""Compile policies once into an immutable bundle the request path only reads.

At load: JSON Schemas become validators, regexes compile, identity texts become vectors in
each agent's reference frame, the archetype library is embedded, and the risk chains'
k-step tables are precomputed. The bundle's revision is a content hash of everything that
can change a verdict, so a logged decision can be replayed against the same revision.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping, Sequence

import jsonschema_rs
import numpy as np
import orjson

from gate.core.actions import ActionFeatures, split_words, verb_class
from gate.core.frame import IdentityFrame, MoneyLimit, NamedProhibition, VectorIndex, money_limits, named_prohibitions, split_identity, stems
from gate.core.verdict import Verdict
from gate.core.risk import RiskModel
from gate.core.session import destination_tokens, pressure_of
from gate.embeddings.encoders import Encoder
from gate.policy.loader import load_yaml
from gate.policy.model import AgentPolicy, ToolSpec
from gate.policy.regex import PatternSet, PolicyPattern, compile_pattern

__all__ = ["DEFAULT_THRESHOLDS", "DEFAULT_WEIGHTS", "CompiledTool", "CompiledAgent", "Library", "Bundle", "compile_bundle"]

# Defaults tuned on the benchmark's dev split only (`python bench/tune.py --trials 500`, seed 17,
# then `--grid thr.pressure=1,2,3 w.pressure=0.6,0.8,1.0`); a policy's `thresholds` win. The
# test split is never used for tuning.
DEFAULT_THRESHOLDS: dict[str, float] = {"scope": 0.284, "drift": 0.075, "harm": 0.584, "prohibited": 0.448, "scope_floor": 0.12, "pressure": 2}
DEFAULT_WEIGHTS: dict[str, float] = {"scope_undeclared": 0.46, "scope_declared": 0.056, "drift": 0.461, "harm": 0.884, "injection": 0.205, "prohibited": 0.48, "pressure": 1.0}
DEFAULT_TUNING: dict[str, float] = {"harm_margin": 0.121, "prohibited_margin": -0.086, "drift_alpha": 0.3, "drift_ewma_max": 0.95, "tool_blend": 0.08}
DEFAULT_RISK = {"horizon": 5, "threshold": 0.6, "enabled": True}  # threshold tuned on dev traces


@dataclass(frozen=True)
class CompiledTool:
    spec: ToolSpec
    validator: Any | None                 # a compiled jsonschema-rs validator
    compiled_patterns: tuple[tuple[PolicyPattern | None, PatternSet], ...]
    vec: np.ndarray                       # embedding of the tool's name and description
    blend_vec: np.ndarray                 # tool_blend * vec, precomputed for the hot path
    in_scope: Verdict                     # the scope check's passing verdict for this tool


@dataclass(frozen=True)
class CompiledAgent:
    name: str
    policy: AgentPolicy
    tools: Mapping[str, CompiledTool] | None
    frame: IdentityFrame
    thresholds: Mapping[str, float]
    weights: Mapping[str, float]
    harm_margin: float
    prohibited_margin: float
    drift_alpha: float
    drift_ewma_max: float
    category: str
    risk_model: RiskModel | None
    risk_threshold: float
    named_destinations: frozenset[str]
    allowed_dangerous: frozenset[str] = frozenset()
    money_limits: tuple[MoneyLimit, ...] = ()     # money caps the identity text states
    identity_verbs: frozenset[str] = frozenset()  # verb classes the identity speaks about (`identity_verbs`)
    named_prohibitions: tuple[NamedProhibition, ...] = ()   # "never add anyone to the admins, finance … groups"
    limits_by_tool: dict[str, tuple[MoneyLimit, ...]] = field(default_factory=dict, compare=False, init=False, repr=False)
    deny_by_tool: dict[str, tuple[Any, ...]] = field(default_factory=dict, compare=False, init=False, repr=False)   # see checks._deny_rules_for

    def limits_for(self, tool_name: str) -> tuple[MoneyLimit, ...]:
        """The identity's money caps that speak about this tool (by the words of its name). A
        declared tool with an explicit `max` constraint has its own cap: none apply."""
        hit = self.limits_by_tool.get(tool_name)
        if hit is None:
            spec = self.tools.get(tool_name) if self.tools is not None else None
            if spec is not None and any(c.max is not None for c in spec.spec.constraints):
                hit = ()
            else:
                words = stems(tool_name)
                hit = tuple(sorted((lim for lim in self.money_limits if lim.about & words), key=lambda lim: lim.amount))
            if len(self.limits_by_tool) < 4096:
                self.limits_by_tool[tool_name] = hit
        return hit


class Semantics:
    """What the embedding says about one call (see `Library.semantics`). The call's vector is
    kept unnormalised with its inverse length: cosines are scaled as scalars. Immutable by
    convention (cached, shared)."""

    __slots__ = ("raw", "inv_norm", "frame", "prohibited", "library")

    def __init__(self, raw: np.ndarray, inv_norm: float, frame: tuple[float, int],
                 prohibited: tuple[float, int], library: tuple[float, int, float]) -> None:
        self.raw = raw                    # direction of the call's embedding (not unit length)
        self.inv_norm = inv_norm          # 1 / |raw| (0.0 for an empty text)
        self.frame = frame                # best identity-frame cosine and its row
        self.prohibited = prohibited      # best prohibition cosine and its row
        self.library = library            # best archetype cosine, its row, best anchor cosine

    def similarity(self, unit: np.ndarray) -> float:
        """Cosine between the call and a unit vector (e.g. the session's task imprint)."""
        return float(self.raw.dot(unit)) * self.inv_norm


def _best(index: VectorIndex | None, raw: np.ndarray, inv: float) -> tuple[float, int]:
    if index is None:
        return -1.0, -1
    score, row = index.best(raw)
    return (score * inv, row) if row >= 0 else (score, row)


@dataclass(frozen=True)
class Library:
    """Shared across agents: archetypes, ordinary-work anchors and the hot-path encoder."""

    encoder: Encoder
    archetypes: VectorIndex
    archetype_categories: tuple[str, ...]
    anchors: VectorIndex
    tool_blend: float
    stacked: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32), compare=False)
    task_cache: dict[str, tuple[np.ndarray, frozenset[str], tuple[str, ...]]] = field(default_factory=dict, compare=False)
    sessionless: dict[tuple[str, str | None], Any] = field(default_factory=dict, compare=False)   # (agent, task) -> imprinted start
    semantic_cache_size: int = 8192
    semantic_cache: dict[tuple[str, str, str], Semantics] = field(default_factory=dict, compare=False)

    def semantics(self, agent: CompiledAgent, tool: CompiledTool | None, f: ActionFeatures) -> Semantics:
        """The call's embedding and its resonances (identity frame, prohibitions, archetypes
        and ordinary-work anchors). A pure function of (agent, tool, canonical text); the
        canonical text leaves identifiers and numbers out, so calls that differ only in ids
        (`read_invoice INV-1009` / `INV-4532`) share one entry. Bounded; a miss only costs time."""
        key = (agent.name, f.tool, f.text)
        cache = self.semantic_cache
        hit = cache.get(key)
        if hit is not None:
            return hit
        raw, inv = self.raw_action_vector(tool, f)
        frame = agent.frame
        scores = self.stacked.dot(raw)        # archetypes, then ordinary-work anchors
        n = len(self.archetypes)
        row = int(scores[:n].argmax())
        # argmax, not .max(): ndarray.max runs through numpy's Python-level _methods wrapper
        anchor = float(scores[n + int(scores[n:].argmax())]) * inv if scores.shape[0] > n else -1.0
        library = (float(scores[row]) * inv, row, anchor)
        joint = frame.joint if frame is not None else None
        if joint is not None:
            # identity and prohibition rows in one product; argmax per part, as `_best` would
            s = joint.dot(raw)
            k = len(frame.index)
            r = int(s[:k].argmax())
            best = (float(s[r]) * inv, r)
            if s.shape[0] > k:
                r = int(s[k:].argmax())
                banned = (float(s[k + r]) * inv, r)
            else:
                banned = (-1.0, -1)
        else:
            best = _best(frame.index if frame is not None else None, raw, inv)
            banned = _best(frame.prohibited if frame is not None else None, raw, inv)
        hit = Semantics(raw, inv, best, banned, library)
        if self.semantic_cache_size > 0:
            if len(cache) >= self.semantic_cache_size:
                cache.clear()
            cache[key] = hit
        return hit

    def task_imprint(self, task: str) -> tuple[np.ndarray, frozenset[str], tuple[str, ...]]:
        """The task's vector, the destinations it names and its social-engineering marks.
        Tasks repeat across sessions and sessionless calls, so all three are cached (bounded)."""
        cache = self.task_cache
        hit = cache.get(task)
        if hit is None:
            hit = (self.encoder.encode_one(task), frozenset(destination_tokens(task)), pressure_of(task))
            if len(cache) >= 4096:
                cache.clear()
            cache[task] = hit
        return hit

    def task_vector(self, task: str) -> np.ndarray:
        return self.task_imprint(task)[0]

    def raw_action_vector(self, tool: CompiledTool | None, f: ActionFeatures) -> tuple[np.ndarray, float]:
        """(vector, 1/length) of the call, the tool blend included: `action_vector` without
        the final normalisation (cosines scale by the returned factor)."""
        enc = self.encoder
        raw = getattr(enc, "encode_raw", None)
        if raw is not None:
            w, n = raw(f.text)
        else:
            w = np.array(enc.encode_one(f.text), dtype=np.float32)   # a writable copy
            n = math.sqrt(float(w.dot(w)))
        b = self.tool_blend
        if tool is not None and b > 0:
            if n > 0:
                w *= (1.0 - b) / n
            w += tool.blend_vec
            n = math.sqrt(float(w.dot(w)))
        return w, (1.0 / n if n > 0 else 0.0)


@dataclass(frozen=True)
class Bundle:
    agents: Mapping[str, CompiledAgent]
    library: Library
    revision: str
    model: str
    settings: Mapping[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=4)
def _data_text(name: str) -> str:
    return resources.files("gate.data").joinpath(name).read_text("utf-8")


def load_library_data() -> tuple[list[dict[str, str]], list[str], dict[str, Any]]:
    """(archetypes, benign anchors, risk model spec) shipped in gate/data."""
    arche = load_yaml(_data_text("archetypes.yaml"))
    anchors = load_yaml(_data_text("benign_anchors.yaml"))
    if isinstance(arche, dict):
        arche = arche.get("archetypes", [])
    if isinstance(anchors, dict):
        anchors = anchors.get("anchors", [])
    anchors = [a["text"] if isinstance(a, dict) else str(a) for a in anchors]
    risk = orjson.loads(_data_text("risk_model.json"))
    return arche, anchors, risk


class _EncodeCache:
    """Encodes each distinct text once per compile (many agents share identity text)."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.cache: dict[str, np.ndarray] = {}

    def prime(self, texts: Sequence[str]) -> None:
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        for i in range(0, len(todo), 256):
            chunk = todo[i:i + 256]
            for t, v in zip(chunk, self.encoder.encode(chunk)):
                self.cache[t] = v

    def matrix(self, texts: Sequence[str]) -> np.ndarray:
        self.prime(texts)
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([self.cache[t] for t in texts]).astype(np.float32)


def tool_text(spec: ToolSpec) -> str:
    words = " ".join(split_words(spec.name))
    return f"{words}: {spec.description}" if spec.description else words


@lru_cache(maxsize=4096)
def _identity_parts(identity: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`split_identity`, once per distinct text (the frame, the prohibitions and the identity
    verbs all read it, and many agents share one identity)."""
    affirmative, prohibited = split_identity(identity)
    return tuple(affirmative), tuple(prohibited)


def _frame_texts(p: AgentPolicy) -> list[str]:
    texts = [*_identity_parts(p.identity)[0], *p.purposes]
    if p.tools:
        texts += [tool_text(t) for t in p.tools]
    return list(dict.fromkeys(texts))


def _money_limits(p: AgentPolicy) -> tuple[MoneyLimit, ...]:
    """The identity's and the purposes' money caps, each once."""
    seen: dict[tuple[float, str, frozenset[str]], MoneyLimit] = {}
    for text in (p.identity, *p.purposes):
        for lim in money_limits(text):
            seen.setdefault((lim.amount, lim.currency, lim.about), lim)
    return tuple(seen.values())


_WORD = re.compile(r"[A-Za-z]+")   # prose words (split_words caches tool names for the hot path)


def identity_verbs(p: AgentPolicy) -> frozenset[str]:
    """The verb classes the identity speaks about: the words of what it says the agent does
    (affirmative statements and purposes: "rotates, compresses and archives log files, restarts
    the shipper" gives configure, delete, write and execute), and the leading verb of each thing
    it says the agent must not do ("never grant admin roles" bounds granting rather than
    excluding it: the prohibition check judges those calls)."""
    affirmative, prohibited = _identity_parts(p.identity)
    found: set[str] = set()
    for text in (*affirmative, *p.purposes):
        for word in _WORD.findall(text):
            v = verb_class(word)
            if v is not None:
                found.add(v)
    for clause in prohibited:
        words = _WORD.findall(clause)
        v = verb_class(words[0]) if words else None
        if v is not None:
            found.add(v)
    return frozenset(found)


def _prohibited_texts(p: AgentPolicy) -> list[str]:
    return list(dict.fromkeys(_identity_parts(p.identity)[1]))


def _compile_tool(spec: ToolSpec, cache: _EncodeCache, blend: float) -> CompiledTool:
    # offline: a `$ref` to a URL or a file is refused at lint, never fetched or read here
    validator = jsonschema_rs.validator_for(spec.args_schema, offline=True) if spec.args_schema else None
    pats = tuple(
        (compile_pattern(c.pattern) if c.pattern else None, PatternSet(c.pattern_deny or ()))
        for c in spec.constraints
    )
    vec = cache.matrix([tool_text(spec)])[0]
    return CompiledTool(spec, validator, pats, vec, (blend * vec).astype(np.float32),
                        Verdict("scope", "pass", "tool_in_scope", f"{spec.name} is declared"))


def revision_of(policies: Sequence[AgentPolicy], extra: Sequence[bytes]) -> str:
    h = hashlib.sha256()
    for p in sorted(policies, key=lambda p: p.agent):
        h.update(orjson.dumps(repr(replace(p, source=Path(p.source).name))))  # content, not location
    for e in extra:
        h.update(e)
    return h.hexdigest()[:16]


def compile_bundle(
    policies: Sequence[AgentPolicy],
    encoder: Encoder,
    *,
    overrides: Mapping[str, Any] | None = None,
    frame_encoder: Encoder | None = None,
    semantic_cache: int = 8192,
) -> Bundle:
    """Compile validated policies into the immutable bundle the core evaluates against.

    `encoder` is the hot-path encoder (calls, tasks). `frame_encoder`, when given, embeds
    the reference side (identity frames, tools, archetypes, anchors) instead; the static
    encoder is distilled to approximate it, so both sides share one space.
    `semantic_cache` bounds the per-canonical-text cache of embeddings and resonances
    (0 disables it; it changes no decision, only time).
    """
    overrides = dict(overrides or {})
    arche, anchors, risk_spec = load_library_data()
    cache = _EncodeCache(frame_encoder or encoder)
    cache.prime([a["text"] for a in arche] + anchors + [t for p in policies for t in _frame_texts(p) + _prohibited_texts(p)])
    tuning = {**DEFAULT_TUNING, **overrides.get("tuning", {})}
    arche_m = cache.matrix([a["text"] for a in arche])
    anchor_m = cache.matrix(anchors)
    library = Library(
        encoder=encoder,
        archetypes=VectorIndex(arche_m, tuple(a["id"] for a in arche)),
        archetype_categories=tuple(a["category"] for a in arche),
        anchors=VectorIndex(anchor_m, tuple(f"anchor-{i}" for i in range(len(anchors)))),
        tool_blend=float(tuning["tool_blend"]),
        stacked=np.ascontiguousarray(np.vstack([arche_m, anchor_m]), dtype=np.float32),
        semantic_cache_size=int(semantic_cache),
    )
    agents: dict[str, CompiledAgent] = {}
    risk_models: dict[int, RiskModel] = {}
    for p in policies:
        texts = _frame_texts(p)
        tools = None if p.tools is None else {t.name: _compile_tool(t, cache, library.tool_blend) for t in p.tools}
        banned = _prohibited_texts(p)
        frame = IdentityFrame(
            VectorIndex(cache.matrix(texts), tuple(texts)),
            VectorIndex(cache.matrix(banned), tuple(banned)) if banned else None,
        )
        risk = {**DEFAULT_RISK, **overrides.get("risk", {}), **p.risk}
        named = destination_tokens(p.identity + "\n" + "\n".join(p.purposes))
        agents[p.agent] = CompiledAgent(
            name=p.agent,
            policy=p,
            tools=tools,
            frame=frame,
            thresholds={**DEFAULT_THRESHOLDS, **overrides.get("thresholds", {}), **p.thresholds},
            weights={**DEFAULT_WEIGHTS, **overrides.get("weights", {})},
            harm_margin=float(tuning["harm_margin"]),
            prohibited_margin=float(tuning["prohibited_margin"]),
            drift_alpha=float(tuning["drift_alpha"]),
            drift_ewma_max=float(tuning["drift_ewma_max"]),
            category=p.task_category,
            risk_model=(risk_models.setdefault(int(risk["horizon"]), RiskModel.from_spec(risk_spec, int(risk["horizon"])))
                        if risk["enabled"] else None),
            risk_threshold=float(risk["threshold"]),
            named_destinations=frozenset(named),
            allowed_dangerous=frozenset(p.allow_operations),
            money_limits=_money_limits(p),
            identity_verbs=identity_verbs(p),
            named_prohibitions=named_prohibitions(_identity_parts(p.identity)[1]),
        )
    extra = [
        _data_text("archetypes.yaml").encode(),
        _data_text("benign_anchors.yaml").encode(),
        _data_text("risk_model.json").encode(),
        encoder.fingerprint.encode(),
        (frame_encoder.fingerprint if frame_encoder is not None else "").encode(),
        orjson.dumps(overrides, option=orjson.OPT_SORT_KEYS),
    ]
    model = f"{encoder.name}@{encoder.fingerprint[:19]}"
    if frame_encoder is not None:
        model += f"+frame:{frame_encoder.name}@{frame_encoder.fingerprint[:19]}"
    return Bundle(agents=agents, library=library, revision=revision_of(policies, extra), model=model, settings=overrides)
