"""The one decision function: request -> checks in a fixed order -> one combining rule.

Order (cheapest first): validation, scope, deny rules, argument constraints, dangerous
operations, preconditions (records an earlier result marked rejected, on hold…), provenance (before redaction: a secret read from a result and sent back out
is an attempt to stop, not to tidy), sensitive data, session risk, semantic scope, prohibitions of the identity,
social pressure in the task, task drift, harm resonance, consensus. A hard block short-circuits; BLOCK > REWRITE > ALLOW; the whole
trail of verdicts is kept for the audit record.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import Any, Mapping, Sequence

from gate.core.actions import READ_ONLY_VERBS, extract_features
from gate.core.checks import (
    parse_path,
    spend_entries,
    step_marks,
    NO_RESULT,
    Check,
    CheckContext,
    ConsensusCheck,
    ConstraintCheck,
    DangerousOperationCheck,
    DenyRuleCheck,
    HarmResonanceCheck,
    PreconditionCheck,
    PressureCheck,
    ProhibitionCheck,
    ProvenanceCheck,
    QuotaCheck,
    ScopeCheck,
    SemanticScopeCheck,
    SensitiveDataCheck,
    SessionRiskCheck,
    TaskDriftCheck,
    ValidationCheck,
    quota_usage,
)
from gate.core.compiler import Bundle, CompiledAgent
from gate.core.pending import remember
from gate.core.stated import part_entries, period_entries, recipient_entries, stated_entries
from gate.core.session import table_rows
from gate.core.integrity import approved_pay_entries, small_named_group_entries, mandate_entries, line_sum_entries, release_entries, retain_until_entries, barred_entries, declined_purpose_entries, suppression_entries, excluded_role_entries, file_amount_entries, acl_text_entries, sheet_entries, pii_column_entries, approval_split_entries, public_destination_entries, signed_terms_entries, plan_change_entries, kept_entries, min_retention_entries, person_limit_entries, source_ref_entries, subject_field_entries, outside_cover_entries, held_line_entries, subject_email_entries, affected_entries, channel_limit_entries, task_cap_entries, account_entries, contact_entries, task_list_entries, payee_entries, payable_entries, paid_amount_entries, classified_entries, discount_field_entries, call_amount, agreement_entries, small_group_entries, change_scope_entries, staged_entries, health_term_entries, approval_until_entries, catalogue_entries, csvcat_entries, discount_cap_entries, minor_entries, created_entries, health_entries, shipto_entries, leaver_entries, maxret_entries, nocopy_entries, nochange_entries, optout_entries, residency_entries, iban_entries, order_entries, owned_entries, preview_entries, regread_entries, restricted_entries, destroy_plan_entries, read_target_entries, state_entries, grant_scope_entries, listing_bind_entries, pay_entries, outbound_entries, dry_run_entries, planned_entries, copy_table_entries, owner_file_entries, subject_bind_entries, error_dest_entries, share_held_entries, thread_entries, page_where_entries, setting_entries, object_name_entries, record_destination_entries, trail_entries, onerow_entries, expiry_entries, made_entries, plan_restriction_entries, payto_entries, dual_control_entries, permit_entries, principal_list_entries, restricted_value_entries, restricted_party_entries, retained_object_entries, unreviewed_entries, party_contact_entries, item_entries, payable_day_entries, holder_entries, difference_entries, approved_destination_entries
from gate.core.risk import advance, risk_level, unsanctioned_egress
from gate.core.actions import flatten_args
from gate.core.session import EMPTY_SESSION, FLOW_CAP, HOT_PREFIX, LADEN_CAP, MARKED_PREFIX, RISK_LEVELS, SessionSnapshot, approved_listing, clock_entries, item_prices, held_records, result_failed, result_provenance, salient_tokens, store_names, carried_values, DECOY_CAP, FINID_CAP, decoy_entries, finid_entries, task_amount_slot, compensation_slot, compensation_subjects, ROSTER_CAP, roster_entries, FOREIGN_CAP, foreign_entries
from gate.core.verdict import Decision, Patch, Reason, Verdict
from gate.errors import InvalidRequest, UnknownAgent

__all__ = ["Cascade", "CheckRequest", "parse_request", "decide", "apply_observation", "as_executed", "CHECK_NAMES"]

MAX_TEXT = 64_000


def default_checks() -> tuple[Check, ...]:
    return (
        ValidationCheck(), ScopeCheck(), DenyRuleCheck(), ConstraintCheck(), QuotaCheck(), DangerousOperationCheck(),
        PreconditionCheck(), ProvenanceCheck(), SensitiveDataCheck(), SessionRiskCheck(), SemanticScopeCheck(),
        ProhibitionCheck(), PressureCheck(), TaskDriftCheck(), HarmResonanceCheck(), ConsensusCheck(),
    )


CHECK_NAMES = tuple(c.name for c in default_checks())


class CheckRequest:
    """A validated request: agent, optional session and task, and the proposed call."""

    __slots__ = ("agent", "session", "task", "tool", "args")

    def __init__(self, agent: str, session: str | None, task: str | None, tool: str, args: dict[str, Any]) -> None:
        self.agent, self.session, self.task, self.tool, self.args = agent, session, task, tool, args


def _need_str(d: Mapping[str, Any], key: str, *, optional: bool = False, limit: int = 256) -> str | None:
    v = d.get(key)
    if v is None:
        if optional:
            return None
        raise InvalidRequest(f"`{key}` is required")
    if not isinstance(v, str):
        raise InvalidRequest(f"`{key}` must be a string, not {type(v).__name__}")
    if not optional and not v.strip():
        raise InvalidRequest(f"`{key}` must not be empty")
    if len(v) > limit:
        raise InvalidRequest(f"`{key}` is longer than {limit} characters")
    return v


MAX_DEPTH = 64


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests dicts/lists deeper than `limit` (checked without recursion)."""
    if type(value) is dict and limit > 1:
        for v in value.values():
            if isinstance(v, (dict, list)):
                break
        else:
            return False                  # flat arguments: most calls
    stack = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            if d >= limit:
                return True
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            if d >= limit:
                return True
            stack.extend((x, d + 1) for x in v)
    return False


def _ok_str(v: Any, limit: int) -> bool:
    """The common case of `_need_str`, inline-cheap: a non-blank string within the limit."""
    return type(v) is str and 0 < len(v) <= limit and not v.isspace()


def parse_request(body: Any) -> CheckRequest:
    """Validate the shape of a /v1/check body; raises `InvalidRequest` naming the problem."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    agent = body.get("agent")
    if not _ok_str(agent, 256):
        agent = _need_str(body, "agent")
    session = body.get("session")
    if session is not None and not _ok_str(session, 256):
        session = _need_str(body, "session", optional=True)
        if session is not None:   # "" or blank: no key GET /v1/sessions/{agent}/{session} could name
            raise InvalidRequest("`session` must not be empty or blank; leave it out for a call outside any session")
    task = body.get("task")
    if task is not None and not (type(task) is str and len(task) <= MAX_TEXT):
        task = _need_str(body, "task", optional=True, limit=MAX_TEXT)
    action = body.get("action")
    if not isinstance(action, dict):
        raise InvalidRequest("`action` is required and must be an object with `tool` and `args`")
    tool = action.get("tool")
    if not _ok_str(tool, 512):
        tool = _need_str(action, "tool", limit=512)
    args = action.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise InvalidRequest(f"`action.args` must be an object, not {type(args).__name__}")
    if too_deep(args):
        raise InvalidRequest(f"`action.args` nests deeper than {MAX_DEPTH} levels")
    if task is not None and task.isspace():
        task = None     # a blank task is no task: the session's first non-empty task is its imprint
    return CheckRequest(agent or "", session, task or None, tool or "", args)


def _apply_patches(args: dict[str, Any], patches: Sequence[Patch]) -> dict[str, Any]:
    """A copy of `args` with each patch's value set at its path (paths parsed as `get_path` does)."""
    out = copy.deepcopy(args)
    for p in patches:
        parts = parse_path(p.path)
        if not parts:
            continue
        cur: Any = out
        steps: list[str | int] = [s for key, idx in parts for s in (key, *idx)]
        for step in steps[:-1]:
            cur = cur[step]
        cur[steps[-1]] = p.value
    return out


class Cascade:
    """The ordered checks and the combining rule. Built once per bundle."""

    def __init__(self, checks: Sequence[Check] | None = None, disabled: Sequence[str] = ()) -> None:
        self.checks = tuple(c for c in (checks or default_checks()) if c.name not in set(disabled))
        self._evaluators = tuple(c.evaluate for c in self.checks)   # bound once, not per call

    def describe(self) -> str:
        return " -> ".join(f"{c.name}{'!' if c.hard else ''}" for c in self.checks)

    def run(self, ctx: CheckContext) -> tuple[str, list[Verdict], list[Patch]]:
        """Evaluate the checks in order. After a rewrite the later checks judge the call as
        it will execute (patched args, features recomputed), not as it was proposed."""
        patches: list[Patch] = []
        verdicts = ctx.verdicts
        add = verdicts.append
        for evaluate in self._evaluators:
            v = evaluate(ctx)
            add(v)
            o = v.outcome
            if o == "pass" or o == "flag":
                continue
            if o == "block":
                return "BLOCK", verdicts, patches
            patches.extend(v.patches)            # rewrite
            ctx.args = _apply_patches(ctx.args, v.patches)
            ctx.features = _features(ctx.agent, ctx.tool_name, ctx.args)
        return ("REWRITE" if patches else "ALLOW"), verdicts, patches


def _features(agent: CompiledAgent, tool_name: str, args: dict[str, Any]) -> Any:
    tool = agent.tools.get(tool_name) if agent.tools is not None else None
    return extract_features(tool_name, args, tool.spec.effect if tool else None, agent.policy.internal_domains,
                            tool.spec.description if tool else "")


def _agent(bundle: Bundle, name: str) -> CompiledAgent:
    agent = bundle.agents.get(name)
    if agent is None:
        raise UnknownAgent(f"unknown agent {name!r}")
    return agent


def imprint(bundle: Bundle, snap: SessionSnapshot, req: CheckRequest) -> SessionSnapshot:
    """Bind the session to its agent and imprint the first non-empty task."""
    if snap is EMPTY_SESSION and req.session is None and (req.task is None or len(req.task) <= 4096):
        # A sessionless call's starting state depends on (agent, task) only: share it (a task of
        # any length is imprinted afresh, so the cache never holds what a caller sends at length).
        key = (req.agent, req.task)
        cache = bundle.library.sessionless
        hit = cache.get(key)
        if hit is None:
            hit = _imprint(bundle, snap, req)
            if len(cache) >= 4096:
                cache.clear()
            cache[key] = hit
        return hit
    return _imprint(bundle, snap, req)


def _imprint(bundle: Bundle, snap: SessionSnapshot, req: CheckRequest) -> SessionSnapshot:
    changes: dict[str, Any] = {}
    if not snap.agent:
        changes["agent"], changes["session"] = req.agent, req.session or ""
    if req.task and not snap.task:
        vec, named, pressure = bundle.library.task_imprint(req.task)
        changes.update(task=req.task, task_vec=vec, named=snap.named | named if snap.named else named, pressure=pressure)
    elif snap.task_vec is not None and snap.task_vec.shape != (bundle.library.encoder.dim,) and snap.task:
        # imprinted by a replica with another encoder (a snapshot from another model version)
        changes["task_vec"] = bundle.library.task_vector(snap.task)
    return snap.evolve(**changes) if changes else snap


_SCOPE_CHECKS = frozenset({"scope", "semantic_scope"})


def decide(
    bundle: Bundle,
    cascade: Cascade,
    snap: SessionSnapshot,
    req: CheckRequest,
    decision_id: str,
    budget: Mapping[str, tuple[int, float]] | None = None,
) -> tuple[Decision, SessionSnapshot]:
    """Decide one call. Pure: same (bundle, snapshot, request, budget) -> same decision and
    update. `budget` holds the counters of the agent-wide quotas (`per: agent`) in their
    current window, as the store had them: quota id -> (calls, total)."""
    agent = _agent(bundle, req.agent)
    if snap.agent and snap.agent != req.agent:
        raise InvalidRequest(f"session {req.session!r} belongs to another agent")
    snap = imprint(bundle, snap, req)
    tool = agent.tools.get(req.tool) if agent.tools is not None else None
    features = _features(agent, req.tool, req.args)
    ctx = CheckContext(agent, tool, req.tool, req.args, features, snap, bundle.library, snap.task, budget)
    outcome, trail, patches = cascade.run(ctx)
    args = ctx.args if outcome == "REWRITE" else req.args
    # One pass over the trail: the scores, and the reasons — a BLOCK gives its blocking and
    # flagging verdicts; an ALLOW/REWRITE its rewrites, flags and the two scope verdicts.
    scores: dict[str, float] = {}
    found: list[Reason] = []
    blocked = outcome == "BLOCK"
    for v in trail:
        if v.scores:
            scores.update(v.scores)
        o = v.outcome
        if o == "pass":
            if not blocked and v.check in _SCOPE_CHECKS:
                found.append(v.reason())
        elif o == "flag" or o == ("block" if blocked else "rewrite"):
            found.append(v.reason())
    reasons = tuple(found)
    if blocked:
        new = snap.evolve(blocks=snap.blocks + 1)
    else:
        # A call without a session has no state to carry forward. One with a session is counted
        # now and stays pending until /v1/observe reports it (`gate.core.pending`).
        if req.session is not None:
            new = remember(_advance(agent, snap, req.tool, args, ctx.features, ctx), decision_id, req.tool, args)
        else:
            new = snap
    risk = _risk_summary(agent, snap, new, scores)
    decision = Decision(
        decision=outcome, action={"tool": req.tool, "args": args}, reasons=reasons,
        decision_id=decision_id, policy_revision=bundle.revision, agent=req.agent,
        session=req.session, scores=scores, risk=risk, trail=tuple(trail), model=bundle.model,
    )
    return decision, new


def as_executed(bundle: Bundle, snap: SessionSnapshot, req: CheckRequest, d: Decision,
                new: SessionSnapshot) -> tuple[Decision, SessionSnapshot]:
    """Dry-run: the call runs whatever was decided. The returned decision is an ALLOW of the
    proposed call that carries the enforced decision in `dry_run`; the session advances as if
    the call had been allowed, and the proposed call is what stays pending until it is observed.
    `snap` is the state before the call, `new` the one `decide` made."""
    if d.decision == "ALLOW":
        return d, new
    agent = _agent(bundle, req.agent)
    snap = imprint(bundle, snap, req)
    if req.session is not None:
        new = remember(_advance(agent, snap, req.tool, req.args, None, None), d.decision_id, req.tool, req.args)
    else:
        new = snap
    shadow = {"decision": d.decision, "action": d.action, "reasons": list(d.reasons)}
    note = {"check": "mode", "code": "dry_run", "message": f"dry-run: would have been {d.decision}; the call runs unchanged"}
    out = replace(d, decision="ALLOW", action={"tool": req.tool, "args": req.args}, reasons=(note,) + d.reasons, dry_run=shadow)
    return out, new


def _advance(agent: CompiledAgent, snap: SessionSnapshot, tool: str, args: dict[str, Any], features: Any, ctx: CheckContext | None,
             result: Any = NO_RESULT) -> SessionSnapshot:
    """The session after an executed call; `result` is what an observed call returned."""
    if features is None:
        features = _features(agent, tool, args)
    if ctx is not None and ctx.projected is not None:
        e, c, r = ctx.projected.exposure, ctx.projected.escalation, ctx.projected.reversibility
    else:
        unsanctioned = unsanctioned_egress(features, snap, agent.named_destinations, agent.policy.internal_domains)
        e, c, r = advance(snap.exposure, snap.escalation, features, unsanctioned)
    level = max(snap.risk_level, risk_level(e, c, r))
    drift = snap.drift
    if ctx is not None and snap.task_vec is not None:
        d = 1.0 - ctx.semantics().similarity(snap.task_vec)
        drift = d if snap.steps == 0 else agent.drift_alpha * d + (1 - agent.drift_alpha) * snap.drift
    marks = step_marks(agent.policy, snap.marks, tool, args, result) if agent.policy.flow_rules else snap.marks
    usage = quota_usage(agent.policy, snap.usage, tool, args) if agent.policy.quotas else snap.usage
    grants = snap.grants + 1 if "grant" in features.verbs and "read" not in features.verbs else snap.grants
    return snap.evolve(steps=snap.steps + 1, exposure=e, escalation=c, reversibility=r, risk_level=level, drift=drift, marks=marks,
                       usage=usage, grants=grants)


def _risk_summary(agent: CompiledAgent, before: SessionSnapshot, after: SessionSnapshot, scores: Mapping[str, float]) -> dict[str, Any] | None:
    if agent.risk_model is None:
        return None
    out: dict[str, Any] = {
        "level": RISK_LEVELS[after.risk_level],
        "previous_level": RISK_LEVELS[before.risk_level],
        "horizon": agent.risk_model.horizon,
        "category": agent.category,
    }
    if "p_violation" in scores:
        out["p_violation"] = round(scores["p_violation"], 4)
        out["expected_steps"] = round(scores["expected_steps"], 2)
        out["projected_level"] = RISK_LEVELS[int(scores["projected_level"])]
        if "projected_state" in scores:
            out["projected_state"] = agent.risk_model.state_name(int(scores["projected_state"]))
    return out


# An argument that cites the authority for a call (the ticket or change it works under) rather
# than the record it acts on.
_REFERENCE_LEAF = re.compile(r"(?i)(?:^|\.)(?:ticket|ticket_?(?:id|key|ref)|change|change_?(?:id|ref|request)|chg|case|case_?id|jira|jira_?key)$")


# The prose of a call that changes something (`reason: duplicate draft, see BIL-3310`): records it
# cites there are context, not what the call acted on, so its result's status is not theirs.
_PROSE_LEAF = re.compile(r"(?i)(?:^|[._])(?:reason|justification|memo|note|notes|comment|description|summary|body|message|text)$")


def _record_ids(args: dict[str, Any], reading: bool) -> set[str]:
    """The ids a top-level status in a call's result belongs to: the tokens of the call's
    arguments, less the ___domain of an address it names (a ___domain is every address in it, not a
    record) and, for a call that changes something, the ticket or change it cites and the records
    its prose mentions (its result reports what it changed, not the state of the ticket that
    authorised it)."""
    out: set[str] = set()
    for path, v in flatten_args(args):
        if not isinstance(v, str) or (not reading and (_REFERENCE_LEAF.search(path) or _PROSE_LEAF.search(path))):
            continue
        toks = salient_tokens(v)
        if "@" in v:
            toks -= {t.rsplit("@", 1)[1] for t in toks if "@" in t}
        out |= toks
    return out


# The readers of record rows (an object per record) that a table's rows feed as well.
_ROW_READERS17 = (permit_entries, leaver_entries, optout_entries, approval_until_entries, payable_entries, payee_entries,
                  retain_until_entries, barred_entries, suppression_entries, minor_entries, person_limit_entries,
                  source_ref_entries, outside_cover_entries, contact_entries, account_entries)


def apply_observation(bundle: Bundle, snap: SessionSnapshot, req: CheckRequest, result: Any, checked: bool) -> SessionSnapshot:
    """Advance a session by a call the caller executed, and record its result's provenance.

    The state is monotone (max of levels), so observing a call that was already checked
    only adds what its result revealed; `checked` says the check already counted the call
    (`gate.core.pending.match` decides it), so its step and quotas are not counted again.
    """
    agent = _agent(bundle, req.agent)
    snap = imprint(bundle, snap, req)
    features = _features(agent, req.tool, req.args)
    # the result can satisfy a flow rule's `result_matches` that the bare call does not
    advanced = _advance(agent, snap, req.tool, req.args, features, None, result)
    if checked:
        # the check already counted this call (steps, quotas)
        advanced = advanced.evolve(steps=snap.steps, usage=snap.usage, grants=snap.grants)
    prov = result_provenance(result, agent.policy.internal_domains, agent.policy.result_trust(req.tool))
    trusted = advanced.trusted(agent.named_destinations) | prov.vouched
    e = max(advanced.exposure, prov.exposure)
    level = max(advanced.risk_level, risk_level(e, advanced.escalation, advanced.reversibility))
    task_tokens = salient_tokens(advanced.task or "")
    injected = frozenset(t for t in prov.injected if t not in task_tokens and t not in advanced.contacted)
    contacted = advanced.contacted
    if not advanced.injections and len(contacted) < 256:
        # Values the caller chose before anything tried to steer it are its own.
        for _, text in flatten_args(req.args):
            if isinstance(text, str):
                contacted |= salient_tokens(text)
    sensitive = advanced.sensitive
    if prov.values and max(prov.exposure, features.sensitivity) >= 2 and len(sensitive) < FLOW_CAP:
        # sorted: which values fit under the cap must not depend on set iteration order
        sensitive = sensitive | frozenset(sorted(prov.values)[: FLOW_CAP - len(sensitive)])
        if prov.marked and len(sensitive) < FLOW_CAP:
            sensitive = sensitive | frozenset(MARKED_PREFIX + v for v in sorted(prov.marked_values or prov.values)[: FLOW_CAP - len(sensitive)])
    laden = _laden_after(advanced, features, req.args, result, prov)
    decoys, finids, roster, foreign = advanced.decoys, advanced.finids, advanced.roster, advanced.foreign
    if isinstance(result, (dict, list)) and result and not result_failed(result):
        if advanced.task and len(decoys) < DECOY_CAP:
            found_decoys = decoy_entries(advanced.task, result)
            if found_decoys:
                decoys = decoys | frozenset(sorted(found_decoys)[: DECOY_CAP - len(decoys)])
        if len(finids) < FINID_CAP:
            found_finids = finid_entries(result)
            if found_finids:
                finids = finids | frozenset(sorted(found_finids)[: FINID_CAP - len(finids)])
        if len(roster) < ROSTER_CAP:
            found_roster = roster_entries(result)
            if found_roster:
                roster = roster | frozenset(sorted(found_roster)[: ROSTER_CAP - len(roster)])
        if advanced.task and len(foreign) < FOREIGN_CAP and ("@" in advanced.task or "-" in advanced.task):
            found_foreign = foreign_entries(advanced.task, result, agent.policy.internal_domains)
            if found_foreign:
                foreign = foreign | frozenset(sorted(found_foreign)[: FOREIGN_CAP - len(foreign)])
    call_ids = {t for _, v in flatten_args(req.args) if isinstance(v, str) for t in salient_tokens(v)}
    found = held_records(result, _record_ids(req.args, features.verbs <= READ_ONLY_VERBS))
    if features.verbs <= READ_ONLY_VERBS:
        found |= approved_listing(req.args, result, call_ids)
    if not result_failed(result):
        # an item's unit price, whether a catalogue read or a quote returned it
        found |= item_prices(req.args, result)
    elif not features.verbs & {"send", "write"}:
        # round 17c: where a failing read's error message says to put something
        found |= error_dest_entries(result)
    tool = agent.tools.get(req.tool) if agent.tools is not None else None
    if not result_failed(result):
        found |= spend_entries(tool, req.tool, req.args, features, advanced.steps)
        found |= order_entries(bool(agent.limits_for(req.tool)), req.tool, req.args, features.verbs, advanced.steps)
        found |= preview_entries(req.tool, req.args)
        found |= iban_entries(req.args, features.verbs, result)
        found |= owned_entries(result)
        found |= restricted_entries(result)
        found |= restricted_value_entries(result)   # round 19g
        found |= retained_object_entries(req.args, features.command_text, result)   # round 20c
        found |= unreviewed_entries(result)   # round 20c
        found |= party_contact_entries(result)   # round 20c
        found |= stated_entries(result)   # round 20d
        found |= part_entries(result)   # round 20d
        found |= recipient_entries(result)   # round 20d
        found |= period_entries(result)   # round 20d
        found |= regread_entries(req.args, features.verbs, features.sensitivity, result)
        found |= created_entries(features.tool_words, features.verbs, result)
        found |= residency_entries(result)
        found |= approved_destination_entries(req.args, features.verbs, advanced.task, result)   # round 20h
        found |= leaver_entries(result)
        found |= record_destination_entries(req.args, features.verbs, result)
        found |= optout_entries(result)
        found |= outbound_entries(result, agent.policy.internal_domains)
        found |= pay_entries(result)
        found |= listing_bind_entries(req.args, features.verbs, result)
        found |= maxret_entries(result)
        found |= nocopy_entries(result)
        found |= nochange_entries(result)   # round 20f
        found |= shipto_entries(result)
        found |= health_entries(features.verbs, features.sensitivity, result)
        found |= catalogue_entries(req.args, result)
        found |= minor_entries(result)
        found |= approval_until_entries(result)
        found |= csvcat_entries(features.verbs, result)
        found |= discount_cap_entries(result)
        found |= discount_field_entries(result)
        found |= payee_entries(result)
        found |= expiry_entries(req.args, features.verbs, result)   # round 17
        if features.command_text:
            found |= made_entries(features.verbs, features.command_text, result)
        found |= payable_entries(result)
        found |= classified_entries(result)
        found |= account_entries(result)
        found |= contact_entries(result)
        found |= task_list_entries(result)
        found |= task_cap_entries(advanced.task, result)
        found |= channel_limit_entries(result)
        found |= affected_entries(result)
        found |= subject_email_entries(result)
        found |= paid_amount_entries(features.verbs, req.args, call_amount(req.args), result)
        found |= health_term_entries(features.verbs, features.sensitivity, result)
        if features.command_text:
            found |= staged_entries(features.command_text)
        found |= change_scope_entries(result)
        found |= grant_scope_entries(advanced.task, result)
        found |= principal_list_entries(result)
        found |= small_group_entries(result)
        found |= agreement_entries(result)
        found |= read_target_entries(req.args, features.verbs, result)
        found |= state_entries(result)
        found |= destroy_plan_entries(req.tool, req.args, result)
        if "pay" in features.verbs and advanced.task:
            slot = task_amount_slot(advanced.task, features.tool_words, req.args)
            paid = call_amount(req.args) if slot is not None else None
            if slot is not None and paid is not None:
                found.add(f"{slot[0]}{advanced.steps}={paid:.2f}")
            cslot = compensation_slot(advanced.task, features.tool_words)   # round 20b
            paid = call_amount(req.args) if cslot is not None else None
            if cslot is not None and paid is not None:
                found.update(f"{cslot[0]}{who}|{advanced.steps}={paid:.2f}" for who in compensation_subjects(req.args, advanced.held))
        # round 15
        found |= retain_until_entries(result)
        found |= barred_entries(result)
        found |= declined_purpose_entries(result)
        found |= suppression_entries(result)
        found |= excluded_role_entries(result)
        found |= file_amount_entries(req.args, features.verbs, result)
        found |= acl_text_entries(result)
        found |= sheet_entries(result)
        found |= approved_pay_entries(result)   # round 19b
        found |= release_entries(result)   # round 19b
        found |= line_sum_entries(result)   # round 19b
        found |= mandate_entries(result)   # round 19b
        found |= small_named_group_entries(result)   # round 19b
        found |= pii_column_entries(req.args, result)
        found |= approval_split_entries(result)
        found |= public_destination_entries(result)
        found |= signed_terms_entries(result)
        found |= plan_change_entries(result)
        found |= kept_entries(result)
        found |= min_retention_entries(result)
        # round 16
        found |= person_limit_entries(result)
        found |= source_ref_entries(result)
        found |= subject_field_entries(result)
        found |= outside_cover_entries(result)
        found |= held_line_entries(result)
        found |= permit_entries(result)   # round 17
        found |= item_entries(result)   # round 20b
        found |= payable_day_entries(result)   # round 20b
        found |= holder_entries(result)   # round 20b
        found |= difference_entries(result, advanced.steps)   # round 20b
        found |= dual_control_entries(result)
        found |= plan_restriction_entries(result)
        found |= payto_entries(features.verbs, req.args, call_amount(req.args), advanced.steps)
        # round 16b
        found |= subject_bind_entries(result)
        # round 17
        if "read" in features.verbs and "delete" not in features.verbs:
            found |= trail_entries(result)
        if advanced.task and features.strings:
            found |= onerow_entries(features.strings, advanced.task)
        found |= owner_file_entries(req.args, features.verbs, result)
        found |= planned_entries(req.tool, req.args)
        if features.command_text:
            found |= dry_run_entries(features.command_text)
        if not features.verbs <= READ_ONLY_VERBS:
            found |= copy_table_entries([v for _, v in features.strings])
        # round 17c
        found |= thread_entries(req.args, features.verbs, result)
        found |= page_where_entries(req.tool, req.args)
        found |= setting_entries(req.args, features.verbs, result)
        found |= object_name_entries(features.verbs, result)
        found |= share_held_entries(result)
        found |= restricted_party_entries(result)   # round 20e
        # round 17: the rows of a table given as text or as columns and rows are records too:
        # the record-row readers see them as objects
        if isinstance(result, str) and "\n" in result or isinstance(result, (dict, list)):
            rows = table_rows(result)
            if rows:
                for reader in _ROW_READERS17:
                    found |= reader(rows)
    clock = clock_entries(found)
    if clock:
        found -= clock
        clock = advanced.clock | frozenset(sorted(clock)[:64])
    held = advanced.held | frozenset(sorted(found)[:256])
    return advanced.evolve(
        exposure=e, risk_level=level, sensitive=sensitive, laden=laden, decoys=decoys, finids=finids, roster=roster, foreign=foreign, held=_capped(held), clock=_capped(clock, 256) if clock else advanced.clock,
        tainted=_capped((advanced.tainted | frozenset(d for d in prov.tainted if d not in trusted)) - prov.vouched),
        vouched=_capped(advanced.vouched | prov.vouched), secrets=_capped(advanced.secrets | prov.secrets), field_secrets=_capped(advanced.field_secrets | prov.field_secrets),
        injected=_capped(advanced.injected | injected), injections=advanced.injections + int(prov.injection),
        contacted=frozenset(sorted(contacted)[:256]))


def _laden_after(snap: SessionSnapshot, features: Any, args: dict[str, Any], result: Any, prov: Any) -> frozenset[str]:
    """The stores that hold data read from sensitive results, after this observed call.

    A result that holds secrets or personal data, or that its author labelled confidential, is
    hot: the stores the call names become laden (the file, note or document read) and the
    fingerprints of its values are kept (`^` + fingerprint). A call that writes or runs
    something (not a message) and carries hot data (two of those values or phrases, or the name
    of a laden store) makes the stores it names, and the ones its result names, laden too (the
    scratch file written, the copy or archive made, the document created)."""
    laden = snap.laden
    hot_read = prov.exposure >= 3 or prov.marked
    if not (hot_read or laden):
        return laden
    command = features.command_text if "execute" in features.verbs else ""
    if hot_read and len(laden) < LADEN_CAP:
        laden = laden | frozenset(sorted(store_names(features.strings, command))[: LADEN_CAP - len(laden)])
        laden = laden | frozenset(sorted(HOT_PREFIX + v for v in prov.values)[: LADEN_CAP - len(laden)])
    if len(laden) >= LADEN_CAP or features.verbs <= READ_ONLY_VERBS or "send" in features.verbs \
            or not features.verbs & {"write", "execute", "configure"}:
        return laden
    named = store_names(features.strings, command, targets=True)
    if isinstance(result, dict) and not result_failed(result):
        named |= store_names([(p, v) for p, v in flatten_args(result) if isinstance(v, str) and len(v) <= 200], targets=True)
    if not named or named <= laden:
        return laden
    carries = not named.isdisjoint(snap.laden)
    if not carries and any(x.startswith(HOT_PREFIX) for x in snap.laden):
        carries = len({HOT_PREFIX + c for c in carried_values(features.strings)} & snap.laden) >= 2
    if not carries:
        return laden
    return laden | frozenset(sorted(named)[: LADEN_CAP - len(laden)])


PROVENANCE_CAP = 4096


def _capped(values: frozenset[str], cap: int = PROVENANCE_CAP) -> frozenset[str]:
    """Provenance sets are bounded so a session's snapshot stays small (a sorted prefix: the
    same on every replica, whatever the set's iteration order)."""
    return values if len(values) <= cap else frozenset(sorted(values)[:cap])
