"""`Gate`: the decision core wired to its edges (policies, sessions, audit, metrics).

    >>> gate = Gate.from_policies("policies/")                        # doctest: +SKIP
    >>> gate.check({"agent": "billing-assistant",
    ...             "action": {"tool": "read_invoice", "args": {"invoice_id": "INV-1"}}}).decision
    'ALLOW'

Every entry point (check API, HTTP proxy, MCP gateway, Python) calls `Gate.check`, so a
call gets the same verdict whichever way it arrives.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import orjson
from anyio import to_thread

from gate.audit import OBSERVATION, PENDING_ARGS, PENDING_BEFORE, PENDING_DIGEST, PENDING_EXECUTED, AuditSink, FileAuditSink, NullAuditSink
from gate.core.cascade import MAX_DEPTH, Cascade, CheckRequest, apply_observation, as_executed, decide, parse_request, too_deep
from gate.core.checks import budget_quotas, budget_spend, window_text
from gate.core.compiler import Bundle, compile_bundle
from gate.core.pending import ObserveMatch, match
from gate.core.risk import ESCALATION_NAMES, EXPOSURE_NAMES, REVERSIBILITY_NAMES
from gate.core.session import EMPTY_SESSION, RISK_LEVELS, SessionSnapshot, result_error
from gate.core.verdict import Decision, Verdict
from gate.embeddings.encoders import Encoder, load_static
from gate.errors import GateError, InvalidRequest, PolicyError, SessionUnreadable, StoreUnavailable, UnknownAgent
from gate.metrics import Metrics
from gate.policy.loader import load_policies
from gate.policy.model import Quota
from gate.settings import Settings
from gate.stores import Added, MemoryStore, SessionStore, Spend, budget_key, make_store, session_key, window_start

__all__ = ["Gate", "PROBE_REQUEST"]

log = logging.getLogger("gate")
_SPEND_ATTEMPTS = 4     # decisions of one call racing other spends of the same agent-wide quota
_SEEN_MAX = 4096        # agent-wide quota counters a gate keeps from its last spends (one per agent, quota and window)

# Readiness runs a real decision; this agent is compiled into every bundle's probe.
PROBE_REQUEST = {"tool": "__gate_probe__", "args": {}}


_FULL: list[Encoder] = []


def _frame_encoder(settings: Settings) -> Encoder | None:
    """The full model for the reference side when configured (loaded once per process)."""
    if settings.frame_encoder != "full":
        return None
    if not _FULL:
        from gate.embeddings.encoders import load_full

        _FULL.append(load_full())
    return _FULL[0]


class _DecisionIds:
    """Random 128-bit decision ids (32 hex characters), drawn from the OS 4 KiB at a time: one
    `getrandom` call per 256 decisions instead of one per decision. Thread-safe; a forked child
    starts a fresh buffer, so two processes never share ids."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buf = ""
        self._pos = 0
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._buf, self._pos = "", 0

    def next(self) -> str:
        with self._lock:
            if self._pos >= len(self._buf):
                self._buf, self._pos = os.urandom(4096).hex(), 0
            pos = self._pos
            self._pos = pos + 32
            return self._buf[pos:pos + 32]


_IDS = _DecisionIds()
# What an observation's audit record copies from the caller: a decision id that looks like one,
# an error that is a code (`upstream_unreachable`). Anything else could be free text.
_ID_RX = re.compile(r"[0-9A-Za-z_-]{1,64}")
_CODE_RX = re.compile(r"[a-z][a-z0-9_]{0,63}")

# What a value gate cannot read raises deep in the cascade: an integer beyond the float range
# (OverflowError) or a string with a lone surrogate (not encodable as UTF-8).
UNREADABLE = (OverflowError, UnicodeEncodeError)


def unreadable_value(body: Any, exc: Exception, limit: int = 100_000) -> str:
    """A refusal naming the first value of `body` gate cannot read (walked without recursion,
    at most `limit` values), so the caller can fix its request."""
    return first_unreadable(body, limit) or f"the request holds a value gate cannot read ({type(exc).__name__})"


_JSON_LEAVES = (str, int, float, bool, type(None))


def first_unreadable(body: Any, limit: int = 100_000, *, exact: bool = False) -> str | None:
    """What is wrong with the first value of `body` that is not a readable JSON value, or None.
    Only Python callers can send these (a parsed JSON body holds none of them). With `exact`,
    a subclass of str, int or float counts too (the schema validator refuses those)."""
    stack: list[tuple[str, Any]] = [("", body)]
    seen = 0
    while stack and seen < limit:
        path, v = stack.pop()
        seen += 1
        if isinstance(v, dict):
            for k in v:
                where = f"`{path}`" if path else "the request"
                if type(k) is not str:
                    return f"{where} has a key of type {type(k).__name__}; object keys must be strings"
                if not k.isascii():
                    try:
                        k.encode("utf-8")
                    except UnicodeEncodeError:
                        return f"{where} has a key with a lone surrogate (not valid Unicode text)"
            stack.extend((f"{path}.{k}" if path else str(k), x) for k, x in reversed(list(v.items())))
        elif exact and isinstance(v, _JSON_LEAVES) and type(v) not in _JSON_LEAVES:
            base = next(t.__name__ for t in _JSON_LEAVES if isinstance(v, t))
            return f"`{path}` is a {type(v).__name__} (a subclass of {base}); pass a plain {base}"
        elif isinstance(v, list):
            stack.extend((f"{path}[{i}]", x) for i, x in reversed(list(enumerate(v))))
        elif isinstance(v, int) and not isinstance(v, bool) and abs(v) > 1.7976931348623157e308:
            return f"`{path}` is an integer beyond the range of a 64-bit float"
        elif isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return f"`{path}` holds a lone surrogate (not valid Unicode text)"
        elif not isinstance(v, _JSON_LEAVES):
            return f"`{path}` is a {type(v).__name__}, not a JSON value (string, number, boolean, null, list or object)"
    return None


def _refuse_unreadable(body: Any) -> None:
    """Raise `InvalidRequest` naming the first value of `body` that is not plain JSON, if any
    (called when deciding raised: the caller's value, not gate, is at fault)."""
    why = first_unreadable(body, exact=True)
    if why is not None:
        raise InvalidRequest(why) from None


def _dumps(args: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(args)
    except TypeError:
        # an integer past 64 bits but within a float (orjson writes neither): the stdlib can
        return json.dumps(args).encode()


def _shape(req: CheckRequest) -> dict[str, Any]:
    """The parts of a request `_frozen` names a bad value by (built only to name one)."""
    return {"session": req.session, "task": req.task, "action": {"tool": req.tool, "args": req.args}}


def _frozen(req: CheckRequest) -> bytes:
    """The call's arguments as the JSON bytes its audit record keeps, made before deciding: a
    value JSON cannot carry (a Decimal, a set, a lone surrogate, here or in `session` or
    `task`) is refused, naming it, before the session changes, never after."""
    for text in (req.session, req.task, req.tool):
        if text is not None and not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidRequest(unreadable_value(_shape(req), exc)) from None
    try:
        return orjson.dumps(req.args)
    except TypeError:
        why = first_unreadable(_shape(req), exact=True)
        if why is not None:
            raise InvalidRequest(why) from None
    return _dumps(req.args)


def _spends(agent: str, spending: list[tuple[Quota, float]], now: float) -> list[Spend]:
    """The store entries of what a call spends of its agent-wide quotas (`budget_spend`)."""
    out = []
    for q, amount in spending:
        key, ttl_ms = budget_key(agent, q.id, q.window_s or 1, now)
        out.append(Spend(key, amount, q.max_calls, q.max_total, ttl_ms))
    return out


class Gate:
    """The gate: decides calls against a compiled bundle and keeps sessions, audit and metrics."""

    def __init__(
        self,
        bundle: Bundle,
        *,
        settings: Settings | None = None,
        encoder: Encoder,
        store: SessionStore | None = None,
        audit: AuditSink | None = None,
        metrics: Metrics | None = None,
        cascade: Cascade | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._clock = clock or time.time     # wall clock of the agent-wide quotas' windows
        self._bundle = bundle
        self.encoder = encoder
        self.store = store if store is not None else make_store(self.settings)   # an empty MemoryStore is falsy (__len__)
        self.metrics = metrics or Metrics()
        self.audit = audit or NullAuditSink()
        self.cascade = cascade or Cascade()
        self.last_reload_error: str | None = None
        self._inline = isinstance(self.store, MemoryStore)
        # The agent-wide quota counters this process last saw, by store key (the key holds the
        # window's start, so a new window starts unseen): calls are decided on them, and the
        # store's conditional add proves an ALLOW still fits (`_decide_spending`).
        self._seen: dict[str, tuple[int, float]] = {}
        self._reload_lock = threading.Lock()
        self.metrics.agents.set(len(bundle.agents))

    # construction -------------------------------------------------------------------------
    @classmethod
    def from_policies(
        cls,
        directory: str | Path,
        settings: Settings | None = None,
        *,
        encoder: Encoder | None = None,
        store: SessionStore | None = None,
        audit: AuditSink | None = None,
        metrics: Metrics | None = None,
        cascade: Cascade | None = None,
        clock: Callable[[], float] | None = None,
    ) -> Gate:
        """Load, validate and compile every policy in `directory` (raises `PolicyError`)."""
        settings = replace(settings or Settings(audit_path=None), policies=Path(directory))
        encoder = encoder or load_static(settings.artifact_dir)
        frame = _frame_encoder(settings)
        bundle = compile_bundle(load_policies(directory), encoder, overrides=dict(settings.tuning), frame_encoder=frame,
                                semantic_cache=settings.semantic_cache)
        metrics = metrics or Metrics()
        if audit is None and settings.audit_path is not None:
            audit = FileAuditSink(settings.audit_path, settings.audit_queue, on_drop=metrics.audit_dropped.inc,
                                  key=settings.audit_key.encode() if settings.audit_key else None)
        return cls(bundle, settings=settings, encoder=encoder, store=store, audit=audit, metrics=metrics, cascade=cascade,
                   clock=clock)

    @property
    def bundle(self) -> Bundle:
        return self._bundle

    @property
    def revision(self) -> str:
        return self._bundle.revision

    def reload(self) -> bool:
        """Rebuild the bundle from the policies directory and swap it in atomically.

        On any error the last good bundle keeps serving and `last_reload_error` says why.
        """
        with self._reload_lock:
            try:
                policies = load_policies(self.settings.policies)
                bundle = compile_bundle(policies, self.encoder, overrides=dict(self.settings.tuning),
                                        frame_encoder=_frame_encoder(self.settings),
                                        semantic_cache=self.settings.semantic_cache)
            except PolicyError as exc:
                self.last_reload_error = exc.message
                self.metrics.reloads.labels("refused").inc()
                return False
            except Exception as exc:   # noqa: BLE001 - a fault of gate itself: keep serving the last good bundle
                log.exception("reload failed while compiling the policies; the last good bundle keeps serving")
                self.last_reload_error = f"internal error while compiling the policies ({type(exc).__name__}: {exc})"
                self.metrics.reloads.labels("refused").inc()
                return False
            self._bundle = bundle
            self.last_reload_error = None
            self.metrics.reloads.labels("ok").inc()
            self.metrics.agents.set(len(bundle.agents))
            return True

    # deciding -----------------------------------------------------------------------------
    def check(self, request: dict[str, Any] | CheckRequest, *, via: str = "python") -> Decision:
        """Decide one proposed call. Bad input raises a `RequestError`; a BLOCK is a result."""
        req = request if isinstance(request, CheckRequest) else parse_request(request)
        frozen = _frozen(req)
        bundle = self._bundle
        decision_id = _IDS.next()
        t0 = time.perf_counter()
        before: SessionSnapshot | None = None
        dry_run = self.settings.mode == "dry-run"
        compiled = bundle.agents.get(req.agent)
        plan = budget_quotas(compiled.policy, req.tool) if compiled is not None and compiled.policy.quotas else ()
        budget: dict[str, tuple[int, float]] | None = None
        held: list[Spend] = []      # what this call spent of the agent-wide quotas

        def step(snap: SessionSnapshot) -> tuple[Decision, SessionSnapshot]:
            nonlocal before, budget
            before = snap if req.session is not None else None
            if not plan:
                d, new = decide(bundle, self.cascade, snap, req, decision_id)
                return as_executed(bundle, snap, req, d, new) if dry_run else (d, new)
            if held:      # the store re-runs a transaction that lost a race: undo its spend first
                self._refund(held)
            d, new, budget = self._decide_spending(bundle, snap, req, decision_id, plan, dry_run, held)
            return d, new

        try:
            try:
                if req.session is None:
                    decision, _ = step(EMPTY_SESSION)
                else:
                    decision = self.store.transact(session_key(req.agent, req.session), step)
            except StoreUnavailable as exc:
                self.metrics.store_errors.inc()
                if held:
                    self._refund_quietly(held)
                decision = self._fail_closed(bundle, req, decision_id, exc)
        except UNREADABLE as exc:
            # JSON parsed by orjson cannot hold these; a Python caller or a stdlib-parsed body can
            raise InvalidRequest(unreadable_value(request, exc)) from None
        except GateError:
            raise
        except Exception:
            # a Python caller's object (a set, a Decimal, a non-str key, a value whose __str__
            # raises) that a check could not read: refused, naming it
            _refuse_unreadable(request)
            raise
        elapsed = time.perf_counter() - t0
        self._count(req.agent, decision, via, elapsed)
        self._audit(req, decision, before, via, elapsed, budget=budget, frozen=frozen)
        return decision

    # agent-wide quotas (`per: agent`) ------------------------------------------------------
    def _budget_store(self) -> SessionStore:
        if not callable(getattr(self.store, "spend", None)):
            raise StoreUnavailable(f"{type(self.store).__name__} keeps no agent-wide quota counters (counters, spend, refund)")
        return self.store

    def _refund(self, held: list[Spend]) -> None:
        """Take back a spend whose decision did not stand (its counters are read again next time)."""
        self._forget(held)
        self._budget_store().refund(held)
        held.clear()

    def _refund_quietly(self, held: list[Spend]) -> None:
        """`_refund`, but a store that is down keeps the spend (the agent is under-credited,
        never over-spent)."""
        try:
            self._refund(held)
        except StoreUnavailable as exc:
            log.warning("could not take back an agent-wide quota spend: %s", exc.message)
        held.clear()

    def _read_budget(self, plan: tuple[Quota, ...], keys: list[str]) -> dict[str, tuple[int, float]]:
        """The counters of `plan`'s quotas (`keys`) as the store holds them now (kept, too)."""
        counters = self._budget_store().counters(keys)
        self._remember(keys, counters)
        return dict(zip((q.id for q in plan), counters))

    def _remember(self, keys: list[str], counters: list[tuple[int, float]]) -> None:
        """Keep the counters the store answered for `keys` (bounded: emptied when full)."""
        seen = self._seen
        if len(seen) >= _SEEN_MAX:
            seen.clear()
        for k, c in zip(keys, counters):
            seen[k] = c

    def _forget(self, entries: list[Spend]) -> None:
        for e in entries:
            self._seen.pop(e.key, None)

    def _spent(self, entries: list[Spend], out: Added | list[tuple[int, float]] | None) -> list[tuple[int, float]] | None:
        """What `store.spend` answered: None when the add was made (the counters it left are
        kept), else the current counters (kept too). A store that answers a made add with None
        (written before `Added`) leaves the counters to be read again."""
        if out is None:
            self._forget(entries)
            return None
        if isinstance(out, Added):
            self._remember([e.key for e in entries], out.after)
            return None
        self._remember([e.key for e in entries], out)
        return out

    def _decide_spending(self, bundle: Bundle, snap: SessionSnapshot, req: CheckRequest, decision_id: str,
                         plan: tuple[Quota, ...], dry_run: bool, held: list[Spend],
                         ) -> tuple[Decision, SessionSnapshot, dict[str, tuple[int, float]]]:
        """Decide a call that falls under agent-wide quotas, then spend them atomically.

        The call is decided on the counters this gate saw last (what its last spend of each
        quota left), or, when it has none, on counters read from the store. An executed call
        (allowed or rewritten, or anything in dry-run) spends its quotas through the store's
        conditional add. When the add no longer fits (another call of the agent spent in
        between), the store answers the current counters and the call is decided again on
        them (a clamp shrinks, or the quota blocks), so two replicas can never both spend the
        last of a quota.

        Why the counters seen last are enough: only the quota check reads them, and an ALLOW
        means it passed every agent-wide quota the unchanged arguments fall under. The store
        then adds exactly those quotas, each only if the call still fits its real counters, and
        a call that fits passes the quota check on those counters too: the same ALLOW. Any other
        outcome (a clamp, a block, or any rewrite) may have been shaped by counters that are
        low (other replicas spent) or high (a refund, a reset), so it is decided again on
        counters read from the store before anything is spent or answered. Dry-run, whose add
        is forced and so proves nothing, always reads them."""
        store = self._budget_store()
        now = self._clock()
        keys = [budget_key(req.agent, q.id, q.window_s or 1, now)[0] for q in plan]
        seen = self._seen
        known = [seen.get(k) for k in keys]
        stale = not dry_run and None not in known      # deciding on counters seen earlier
        budget = {q.id: c for q, c in zip(plan, known) if c is not None} if stale else self._read_budget(plan, keys)
        for _ in range(_SPEND_ATTEMPTS):
            d, new = decide(bundle, self.cascade, snap, req, decision_id, budget)
            if stale and d.decision != "ALLOW":
                budget = self._read_budget(plan, keys)
                stale = False
                d, new = decide(bundle, self.cascade, snap, req, decision_id, budget)
            if dry_run:
                d, new = as_executed(bundle, snap, req, d, new)
            if d.decision == "BLOCK":
                return d, new, budget
            spending = budget_spend(plan, req.tool, d.action["args"])
            if not spending:
                return d, new, budget
            entries = _spends(req.agent, spending, now)
            current = self._spent(entries, store.spend(entries, force=dry_run))
            if current is None:
                held.extend(entries)
                return d, new, budget
            budget = budget | {q.id: c for (q, _), c in zip(spending, current)}
            stale = stale and len(spending) < len(plan)    # every quota now holds the store's counters
        v = Verdict("quotas", "block", "quota_contended",
                    f"the agent's quota counters kept changing under concurrent calls ({_SPEND_ATTEMPTS} attempts); refused rather than overspent")
        d = Decision("BLOCK", {"tool": req.tool, "args": req.args}, (v.reason(),), decision_id, bundle.revision, req.agent,
                     req.session, {}, None, (v,), bundle.model)
        return d, snap, budget

    def _spend_observed(self, bundle: Bundle, req: CheckRequest) -> list[Spend]:
        """A reported call the gate did not count at check time spends the agent's quotas
        (it ran, whatever the limits); returns what it spent."""
        compiled = bundle.agents.get(req.agent)
        plan = budget_quotas(compiled.policy, req.tool) if compiled is not None and compiled.policy.quotas else ()
        if not plan:
            return []
        entries = _spends(req.agent, budget_spend(plan, req.tool, req.args), self._clock())
        if entries:
            self._spent(entries, self._budget_store().spend(entries, force=True))
        return entries

    def agent_quotas(self, agent: str) -> list[dict[str, Any]]:
        """The agent-wide quotas of `agent` in their current windows: limits, what is spent,
        and when the window ends (epoch seconds). Raises `UnknownAgent`, `StoreUnavailable`."""
        compiled = self._bundle.agents.get(agent)
        if compiled is None:
            raise UnknownAgent(f"unknown agent {agent!r}")
        quotas = [q for q in compiled.policy.quotas if q.agent_wide]
        if not quotas:
            return []
        now = self._clock()
        keys = [budget_key(agent, q.id, q.window_s or 1, now)[0] for q in quotas]
        out = []
        for q, (calls, total) in zip(quotas, self._budget_store().counters(keys)):
            w = q.window_s or 1
            start = window_start(now, w)
            row: dict[str, Any] = {"id": q.id, "window": window_text(w), "window_start": start, "window_end": start + w,
                                   "calls": calls}
            if q.max_calls is not None:
                row |= {"max_calls": q.max_calls, "calls_left": max(q.max_calls - calls, 0)}
            if q.max_total is not None:
                row |= {"sum": q.sum, "total": round(total, 6), "max_total": q.max_total,
                        "total_left": round(max(q.max_total - total, 0.0), 6)}
            out.append(row)
        return out

    async def acheck(self, request: dict[str, Any], *, via: str) -> Decision:
        """`check` for async entry points (API, proxy, MCP). With the in-memory store the
        decision is pure CPU (~0.1–0.2 ms) and runs inline; with a networked store it runs in
        a worker thread so the event loop never waits on Redis."""
        if self._inline:
            return self.check(request, via=via)
        return await to_thread.run_sync(lambda: self.check(request, via=via))

    async def aobserve(self, body: dict[str, Any], *, via: str = "python") -> dict[str, Any]:
        """`observe` for async entry points (same threading rule as `acheck`)."""
        if self._inline:
            return self.observe(body, via=via)
        return await to_thread.run_sync(lambda: self.observe(body, via=via))

    async def aagent_quotas(self, agent: str) -> list[dict[str, Any]]:
        """`agent_quotas` for async entry points (same threading rule as `acheck`)."""
        if self._inline:
            return self.agent_quotas(agent)
        return await to_thread.run_sync(lambda: self.agent_quotas(agent))

    async def asession(self, agent: str, session: str) -> dict[str, Any] | None:
        """`session` for async entry points (same threading rule as `acheck`)."""
        if self._inline:
            return self.session(agent, session)
        return await to_thread.run_sync(lambda: self.session(agent, session))

    def _count(self, agent: str, decision: Decision, via: str, elapsed: float | None) -> None:
        """Metrics of one decision (the enforced decision in dry-run); `elapsed` None for a
        decision the core did not time (a sidecar's own refusal)."""
        enforced = decision.dry_run["decision"] if decision.dry_run is not None else decision.decision
        flagged = [(v.check, v.outcome) for v in decision.trail if v.outcome != "pass"]
        self.metrics.stats.record((agent, enforced, via), flagged, elapsed)

    def _fail_closed(self, bundle: Bundle, req: CheckRequest, decision_id: str, exc: StoreUnavailable) -> Decision:
        what = "session snapshot unreadable" if isinstance(exc, SessionUnreadable) else "session store unavailable"
        v = Verdict("session_store", "block", exc.code, f"{what}: {exc.message}")
        return Decision("BLOCK", {"tool": req.tool, "args": req.args}, (v.reason(),), decision_id,
                        bundle.revision, req.agent, req.session, {}, None, (v,), bundle.model)

    def refuse(self, request: dict[str, Any], check: str, code: str, message: str, *, via: str) -> Decision:
        """A BLOCK decided by a sidecar before the core saw the call (the MCP gateway's tool
        guard: a rug-pulled or poisoned tool). It gets a decision id, is counted in the metrics
        and written to the audit log like any decision; `gate replay` reports such records as
        not replayable by the core (the guard's state is not in the log)."""
        req = parse_request(request)
        bundle = self._bundle
        v = Verdict(check, "block", code, message)
        d = Decision("BLOCK", {"tool": req.tool, "args": req.args}, (v.reason(),), _IDS.next(),
                     bundle.revision, req.agent, req.session, {}, None, (v,), bundle.model)
        self._count(req.agent, d, via, None)
        self._audit(req, d, None, via, 0.0, source=check)
        return d

    def observe(self, body: dict[str, Any], *, via: str = "python") -> dict[str, Any]:
        """Record a call the caller executed, and what it returned (session state, provenance).

        The call is counted (a step, and its quotas) unless it is one the gate allowed and has
        not yet seen reported: the one `decision_id` names, with the same tool and arguments,
        or without a `decision_id` the oldest such call with the same tool and arguments
        (`gate.core.pending`). `counted` says which (`matched` or `new`); `mismatch` why a
        given `decision_id` did not match. An accepted report is written to the audit log
        (`_audit_observation`); a refused one (bad input, store down) is not."""
        req = parse_request(body)
        if req.session is None:
            raise InvalidRequest("`session` is required to observe a call")
        decision_id = body.get("decision_id")
        if too_deep(body.get("result")):
            raise InvalidRequest(f"`result` nests deeper than {MAX_DEPTH} levels")
        frozen = _frozen(req)
        bundle = self._bundle

        held: list[Spend] = []      # what a call the check did not count spent of the agent-wide quotas

        def step(snap: SessionSnapshot) -> tuple[tuple[SessionSnapshot, ObserveMatch], SessionSnapshot]:
            if held:      # a re-run transaction: undo the earlier attempt's spend
                self._refund(held)
            how, snap = match(snap, decision_id, req.tool, req.args)
            new = apply_observation(bundle, snap, req, body.get("result"), how.counted == "matched")
            if how.counted == "new":
                held.extend(self._spend_observed(bundle, req))
            return (new, how), new

        try:
            new, how = self.store.transact(session_key(req.agent, req.session), step)
        except StoreUnavailable:
            self.metrics.store_errors.inc()
            if held:
                self._refund_quietly(held)
            raise
        except UNREADABLE as exc:
            raise InvalidRequest(unreadable_value(body, exc)) from None
        except GateError:
            raise
        except Exception:
            _refuse_unreadable(body)
            raise
        if how.mismatch is not None:
            self.metrics.observe_mismatches.labels(how.mismatch).inc()
        self._audit_observation(req, decision_id, body.get("result"), how, new, bundle.revision, via, frozen)
        return {
            "session": req.session,
            "steps": new.steps,
            "risk_level": RISK_LEVELS[new.risk_level],
            "tainted_destinations": len(new.tainted),
            "secrets_seen": len(new.secrets),
            "policy_revision": bundle.revision,
            "counted": how.counted,
            "mismatch": how.mismatch,
        }

    def session(self, agent: str, session: str) -> dict[str, Any] | None:
        """What the gate holds about one session, as levels, counts and quota usage (no raw
        values: destinations and fingerprints are counted, not listed). None when the store has
        no such session (never seen, or expired). Raises `UnknownAgent`, `StoreUnavailable`."""
        if not (0 < len(agent) <= 256 and 0 < len(session) <= 256):
            raise InvalidRequest("agent and session ids are 1 to 256 characters")
        bundle = self._bundle
        compiled = bundle.agents.get(agent)
        if compiled is None:
            raise UnknownAgent(f"unknown agent {agent!r}")
        try:
            snap = self.store.get(session_key(agent, session))
        except StoreUnavailable:
            self.metrics.store_errors.inc()
            raise
        if snap is None:
            return None
        used = {i: (n, t) for i, n, t in snap.usage}
        quotas = []
        for q in compiled.policy.quotas:
            if q.agent_wide:
                continue     # the agent's, not the session's: `agent_quotas`
            n, t = used.get(q.id, (0, 0.0))
            view: dict[str, Any] = {"id": q.id, "calls": n}
            if q.max_calls is not None:
                view |= {"max_calls": q.max_calls, "calls_left": max(q.max_calls - n, 0)}
            if q.max_total is not None:
                view |= {"total": round(t, 6), "max_total": q.max_total, "total_left": round(max(q.max_total - t, 0.0), 6)}
            quotas.append(view)
        return {
            "agent": agent,
            "session": session,
            "task": snap.task,
            "steps": snap.steps,
            "blocks": snap.blocks,
            "pending_observations": len(snap.pending),   # allowed calls not yet reported to observe
            "risk": {"level": RISK_LEVELS[snap.risk_level], "exposure": EXPOSURE_NAMES[snap.exposure],
                     "escalation": ESCALATION_NAMES[snap.escalation], "reversibility": REVERSIBILITY_NAMES[snap.reversibility],
                     "drift": round(snap.drift, 4)},
            "provenance": {"tainted_destinations": len(snap.tainted), "vouched_destinations": len(snap.vouched),
                           "secrets_seen": len(snap.secrets), "sensitive_values": len(snap.sensitive),
                           "injections": snap.injections},
            "quotas": quotas,
            "policy_revision": bundle.revision,
        }

    def _audit(self, req: CheckRequest, d: Decision, before: SessionSnapshot | None, via: str, elapsed: float,
               source: str = "core", budget: dict[str, tuple[int, float]] | None = None, frozen: bytes | None = None) -> None:
        """Queue the decision's audit record. Only cheap work happens here (the arguments are
        frozen as JSON bytes); masking, digests and the session summary are done by the
        sink's writer thread (`gate.audit.finalize`)."""
        if isinstance(self.audit, NullAuditSink):
            return
        self.audit.write({
            "ts": time.time(),
            "decision_id": d.decision_id,
            "policy_revision": d.policy_revision,
            "model": d.model,
            "via": via,
            "agent": req.agent,
            "session": req.session,
            "task": req.task,
            "tool": req.tool,
            "decision": d.decision,
            "reasons": [r["code"] for r in d.reasons],
            "checks": [f"{v.check}:{v.outcome}:{v.code}" for v in d.trail],
            "latency_us": round(elapsed * 1e6, 1),
            "source": source,
            PENDING_ARGS: frozen if frozen is not None else _frozen(req),
            PENDING_EXECUTED: _dumps(d.action["args"]) if d.action["args"] is not req.args else None,
            PENDING_BEFORE: before,
            **({"budget_before": {k: [n, t] for k, (n, t) in budget.items()}} if budget is not None else {}),
        })

    def _audit_observation(self, req: CheckRequest, decision_id: Any, result: Any, how: ObserveMatch,
                           after: SessionSnapshot, revision: str, via: str, frozen: bytes) -> None:
        """Queue the record of an accepted observe report, in the decisions' chain: what it
        names and how it was counted, the arguments as a digest only (computed by the writer
        thread), whether the result carried an error and, when the error is a code, the code.
        No argument or result text."""
        if isinstance(self.audit, NullAuditSink):
            return
        failed = result_error(result)
        record: dict[str, Any] = {
            "ts": time.time(),
            "source": OBSERVATION,
            "event": "observation",
            "via": via,
            "decision_id": decision_id if isinstance(decision_id, str) and _ID_RX.fullmatch(decision_id) else None,
            "policy_revision": revision,
            "agent": req.agent,
            "session": req.session,
            "tool": req.tool,
            "counted": how.counted,
            "mismatch": how.mismatch,
            "result_error": failed,
            "steps": after.steps,
            "risk_level": RISK_LEVELS[after.risk_level],
            PENDING_DIGEST: frozen,
        }
        if decision_id is not None and record["decision_id"] is None:
            record["decision_id_malformed"] = True     # not logged: it is caller text, not an id gate issued
        if failed and isinstance(result, dict):
            code = result.get("error")
            if isinstance(code, str) and _CODE_RX.fullmatch(code):
                record["error_code"] = code
        self.audit.write(record)

    # health -------------------------------------------------------------------------------
    def ready(self) -> tuple[bool, str]:
        """Ready when policies are loaded and a real decision succeeds end to end."""
        bundle = self._bundle
        if not bundle.agents:
            return False, "no policies loaded"
        agent = sorted(bundle.agents)[0]
        try:
            d, _ = decide(bundle, self.cascade, SessionSnapshot(), parse_request({"agent": agent, "action": PROBE_REQUEST}), "probe")
        except GateError as exc:
            return False, f"probe decision failed: {exc.message}"
        try:
            self.store.ping()
        except StoreUnavailable as exc:
            return False, f"session store unavailable: {exc.message}"
        if d.decision not in ("ALLOW", "BLOCK", "REWRITE"):
            return False, "probe decision malformed"
        why = f"last reload refused: {self.last_reload_error}" if self.last_reload_error else "ok"
        return True, why

    def close(self) -> None:
        self.audit.close()
        self.store.close()

