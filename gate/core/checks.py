"""The checks of the cascade. Each is built once per bundle, holds no per-request state,
and answers `evaluate(ctx) -> Verdict`. Reasons carry codes and scores, never raw argument
text or secrets.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import ipaddress
import posixpath
import re
import unicodedata
from functools import lru_cache
from itertools import islice
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence
from urllib.parse import unquote, unquote_plus

import orjson

from gate.core.actions import EMAIL_RX, IRREVERSIBLE_VERBS, ActionFeatures, domain_of, flatten_args, fold_host_text, ipv4_of, is_internal, value_domains, verb_class
from gate.core.memo import text_cache
from gate.core.detectors import find_contact_list, find_dangerous, find_pii, find_secrets, redact, screen
from gate.core.stated import ATTR_PREFIX, AUD_PREFIX, PURPOSE_PREFIX, REQ_PREFIX, audience_excluded, part_left_out, purpose_excluded, recipient_excluded, requirement_unmet, PERIOD_PREFIX, before_period_runs
from gate.core.integrity import APAY_PREFIX, SMALLNAME_PREFIX, small_named_group_reported, MANDATE_PREFIX, mandated_deduction_removed, LINESUM_PREFIX, above_own_lines, RELEASE_PREFIX, paid_before_release, retention_not_ended, barred_party, purpose_declined, approval_by_data_fix, role_excluded, amounts_altered, beyond_access_list, order_of_held_item, pays_requester, erasure_incomplete, split_under_approval, public_destination, differs_from_signed, bills_plan_left, deletes_kept_rows, below_min_retention, above_person_record, same_source_paid, counterparty_not_on_record, unverified_disclosure, pays_outside_cover, other_subjects_address, denies_recorded_exposure, channel_purpose_breach, above_task_cap, payment_details_not_on_file, contact_redirected, not_on_task_list, payee_not_on_record, above_payable, amount_misstated, recording_without_notice, grants_classified, export_instead_of_purge, call_amount, no_agreement, small_group_shared, outside_change_scope, staged_upload, condition_written, approval_lapsed, discount_above_cap, granted_in_scope, GSCOPE_PREFIX, minor_without_consent, record_relabelled, unapproved_purchase, approves_own, delivery_diverted, health_detail_beyond_task, copies_what_must_go, kept_too_long, opted_out_route, leaver_paid_or_reinstated, personal_payment_link, residency_breach, iban_swapped, not_as_previewed, other_subject_in_message, owned_elsewhere, prohibited_purchase, regulated_copy, restricted_disclosure, split_order, applies_destroying_plan, emptied_what_was_read, out_of_scope_state, control_lifted, staged_outbound, others_pay_sent, export_beyond_task_count, data_change_outside_purpose, dry_run_made_real, apply_beyond_plan, copy_swapped_in, owners_removed, record_of_other_subject, task_person as _task_person, outside_task_environment, reply_beyond_thread, page_filter_dropped, setting_switched_off, push_other_branch, grant_on_sibling_object, destination_from_error, opened_to_anyone, SUBJECT_BIND_PREFIX, record_named_destination, audit_trail_erased, write_wider_than_record, grant_expiry_removed, deletes_only_own, deletes_task_named_kind, restricted_from_plan, PAYTO_PREFIX, PAYEE_LEAF17, DUALCTL_PREFIX, permit_expired, backdated_completion, pay_change_beyond_task, identity_change_beyond_task, push_deletes_branch, backups_deleted, approves_requesters_own, listed_for_task_group, PLIST_PREFIX, push_onto_mainline, verification_self_attested, RVAL_MARK, restricted_value_sent, changes_what_was_to_be_read, authority_change_beyond_task, NOPARTY_MARK, task_names_barred_party, RETOBJ_MARK, retained_object_deleted, UNREV_MARK, acts_before_review, contact_bypassed, PCTC_PREFIX, address_in_url, ITEM_MARK, same_item_paid, PAYDAYS_MARK, pays_unpayable_days, HOLDER_MARK, holder_not_payee, DIFF_MARK, report_denies_difference, export_destination_approval
from gate.core.risk import egress_to_named_account, unsanctioned_egress
from gate.core.session import (carried_secret_values, 
    OTP_MARK,
    OTP_PREFIX,
    SECCTL_MARK,
    SECCTL_PREFIX,
    CHECK_FAILED,
    REFUSED_CHANGE,
    REFUSED_OBJ20A,
    REFUSED_OBJ_MARK20A,
    REFUSED_MARK,
    PARTY18_MARK,
    PARTY18_PREFIX,
    REFUSED_PREFIX,
    act_stem,
    DOMAIN_PREFIX,
    store_names,
    unit_figures,
    BIND_PREFIX,
    MARKED_PREFIX,
    BODY_LEAF,
    NO_CHANNEL_PREFIX,
    CURRENCY_PREFIX,
    EXTREF_PREFIX,
    RESENT_SUFFIX,
    NO_CONTACT_STATUS,
    NO_DISCLOSURE,
    NO_MARKETING,
    PAID_STATUS,
    SELF_APPROVED,
    CREATOR_PREFIX,
    APPROVER_PREFIX,
    SOD_MARK,
    CREDIT_DOCUMENT,
    ORDER_CANCELLED,
    NO_RECORDING_CONSENT,
    NO_RECORDING_MARK,
    SPEND_PREFIX,
    REFUNDED_PREFIX,
    AMOUNT_PREFIX,
    BANK_CHANGE_UNVERIFIED,
    COMPANY_PAID,
    PAYMENT_HOLD,
    DUE_PREFIX,
    money_string,
    APPROVED_AMOUNT_PREFIX,
    BANK_PREFIX,
    EMPLOYEE_ACCOUNT,
    INSTALMENTS,
    UNPAID_STATUS,
    CHARGES_PREFIX,
    DUP_LINE_PREFIX,
    REFUNDED_LINE_PREFIX,
    CREDITED_PREFIX,
    NONE_APPROVED,
    PAID_OUT_PREFIX,
    PRICE_PREFIX,
    ITEM_ARG,
    RESTRICTED_STATUS,
    HOLD_STATUS,
    ACTIVE_HOLD,
    OWNER_PREFIX,
    REQUESTER_PREFIX,
    SPENT_STATUS,
    RISK_LEVELS,
    VERIFICATION_FAILED,
    IDENTITY_CHECKED,
    IDENTITY_UNCHECKED,
    CREDENTIAL_MESSAGE_PREFIX,
    ASKS_TRUST_PREFIX,
    ROSTER_MARK,
    ROSTER_PREFIX,
    APPROVAL_MISSING_MARK,
    EVENT_PREFIX,
    APPROVAL_GIVEN_MARK,
    SessionSnapshot,
    content_shingles,
    destination_tokens,
    foreign_key,
    foreign_values,
    event_dates,
    fingerprint,
    flow_tokens,
    message_channel,
    personal_mailbox,
    salient_tokens,
    task_tokens,
    secret_fingerprints,
    fin_fingerprints,
    looks_alike,
    widens_to_everyone,
    name_words,
    task_amount_slot,
    compensation_slot,
    compensation_subjects,
    paid_so_far,
    roster_key,
)
from gate.core.timing import NOW_PREFIX, WINDOW_PREFIX, Moment, Window, outside, task_clock, task_today
from gate.core.verdict import Patch, Verdict
from gate.policy.loader import glob_regex
from gate.policy.model import AgentPolicy, Constraint, Quota, StepMatch
from gate.policy.regex import PatternSet, PolicyPattern, compile_pattern

class _KeyTest:
    """`rx.search(key) is not None` for argument paths, remembered per path (bounded): the same
    keys recur on every call of a tool, and a dictionary probe costs less than a search."""

    __slots__ = ("rx", "seen")

    def __init__(self, rx: re.Pattern[str]) -> None:
        self.rx = rx
        self.seen: dict[str, bool] = {}

    def __call__(self, key: str) -> bool:
        hit = self.seen.get(key)
        if hit is None:
            if len(self.seen) >= 8192:
                self.seen.clear()
            hit = self.seen[key] = self.rx.search(key) is not None
        return hit


if TYPE_CHECKING:
    from gate.core.compiler import CompiledAgent, CompiledTool, Library, Semantics
    from gate.core.frame import MoneyLimit

__all__ = [
    "Check",
    "CheckContext",
    "ValidationCheck",
    "ScopeCheck",
    "DenyRuleCheck",
    "QuotaCheck",
    "quota_usage",
    "ConstraintCheck",
    "DangerousOperationCheck",
    "SensitiveDataCheck",
    "ProvenanceCheck",
    "PreconditionCheck",
    "SessionRiskCheck",
    "SemanticScopeCheck",
    "TaskDriftCheck",
    "ProhibitionCheck",
    "PressureCheck",
    "HarmResonanceCheck",
    "ConsensusCheck",
    "get_path",
    "parse_path",
    "result_text",
    "step_marks",
    "NO_RESULT",
]

_MISSING = object()
NO_RESULT = _MISSING    # `step_marks` without an observed result


@lru_cache(maxsize=4096)
def parse_path(path: str) -> tuple[tuple[str, tuple[int, ...]], ...] | None:
    parts = []
    for part in re.split(r"\.(?![^\[]*\])", path):
        m = re.fullmatch(r"([^\[]+)((?:\[\d+\])*)", part)
        if not m:
            return None
        parts.append((m.group(1), tuple(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))))
    return tuple(parts)


def get_path(args: Any, path: str) -> Any:
    """Value at a dotted path (`a.b`, `items[2].to`), or `_MISSING`."""
    parts = parse_path(path)
    if parts is None:
        return _MISSING
    cur = args
    for key, idx in parts:
        if not isinstance(cur, dict) or key not in cur:
            return _MISSING
        cur = cur[key]
        for i in idx:
            if not isinstance(cur, list) or i >= len(cur):
                return _MISSING
            cur = cur[i]
    return cur


def _key_spelling(key: str) -> str:
    """`_spelled` of a key, remembered for keys of at most 128 characters (a long key is read
    afresh: the cache must not hold what a caller sends at any length)."""
    return _spelled(key) if len(key) <= 128 else _spelled.__wrapped__(key)


@lru_cache(maxsize=4096)
def _spelled(key: str) -> str:
    """How a receiving side that binds arguments loosely reads a key: case-folded, with `_`,
    `-`, spaces, invisible characters and fullwidth forms dropped or folded (`destinationAccount`,
    `Destination-Account` and `destination_account` are one argument to Go's encoding/json,
    camelCase aliases and case-insensitive binders)."""
    text = unicodedata.normalize("NFKC", key) if not key.isascii() else key
    return "".join(c for c in text.casefold() if c.isalnum())


def other_spellings(args: Any, path: str) -> list[Any]:
    """The values at keys that spell `path` otherwise than as written (`destinationAccount` for
    `destination_account`); the exact spelling is left to `get_path`. Restricting rules read
    these too, so a rule's condition cannot be walked past by renaming its argument."""
    parts = parse_path(path)
    if parts is None or not isinstance(args, dict):
        return []
    level: list[tuple[Any, bool]] = [(args, True)]   # (node, reached by exact keys only)
    for key, idx in parts:
        want = _key_spelling(key)
        nxt: list[tuple[Any, bool]] = []
        for node, exact in level:
            if not isinstance(node, dict):
                continue
            for k, v in node.items() if len(node) <= 256 else ():
                if isinstance(k, str) and (k == key or _key_spelling(k) == want):
                    for i in idx:
                        v = v[i] if isinstance(v, list) and i < len(v) else _MISSING
                    if v is not _MISSING:
                        nxt.append((v, exact and k == key))
        level = nxt[:16]
        if not level:
            return []
    return [v for v, exact in level if not exact]


def _restricting_holds(args: Any, arg: str, op: str, val: Any) -> bool:
    """A restricting condition (a deny rule's or a quota's `when`) holds on the argument as
    written or under any other spelling of its name."""
    if _cond_holds(get_path(args, arg), op, val):
        return True
    return any(_cond_holds(v, op, val) for v in other_spellings(args, arg))


class CheckContext:
    """Everything one evaluation needs; built per request, read by every check."""

    __slots__ = ("agent", "tool", "tool_name", "args", "features", "session", "library", "task", "verdicts",
                 "_sem", "projected", "_unsanctioned", "budget")

    def __init__(self, agent: CompiledAgent, tool: CompiledTool | None, tool_name: str, args: dict[str, Any],
                 features: ActionFeatures, session: SessionSnapshot, library: Library, task: str | None,
                 budget: Mapping[str, tuple[int, float]] | None = None) -> None:
        self.budget = budget     # the agent-wide quotas' counters in their current window (quota id -> calls, total)
        self.agent = agent
        self.tool = tool
        self.tool_name = tool_name
        self.args = args
        self.features = features
        self.session = session
        self.library = library
        self.task = task
        self.verdicts: list[Verdict] = []
        self._sem: tuple[ActionFeatures, Semantics] | None = None
        self.projected: Any = None          # the RiskState the session-risk check projected, reused by the update
        self._unsanctioned: tuple[ActionFeatures, bool] | None = None

    def semantics(self) -> Semantics:
        """Embedding and resonances of the call as it stands (recomputed after a rewrite)."""
        sem = self._sem
        if sem is None or sem[0] is not self.features:
            sem = self._sem = (self.features, self.library.semantics(self.agent, self.tool, self.features))
        return sem[1]

    def unsanctioned(self) -> bool:
        """Whether the call sends to a destination nobody sanctioned (once per features)."""
        if self._unsanctioned is None or self._unsanctioned[0] is not self.features:
            self._unsanctioned = (self.features, unsanctioned_egress(
                self.features, self.session, self.agent.named_destinations, self.agent.policy.internal_domains))
        return self._unsanctioned[1]

    def frame_best(self) -> tuple[float, int]:
        """(best cosine, row) against the agent's identity frame."""
        return self.semantics().frame

    def library_best(self) -> tuple[float, int, float]:
        """(best archetype cosine, its row, best ordinary-work anchor cosine)."""
        return self.semantics().library


class Check(Protocol):
    name: str
    hard: bool

    def evaluate(self, ctx: CheckContext) -> Verdict: ...


_PASSES: dict[tuple[str, str, str], Verdict] = {}
_NO_SCORES: dict[str, float] = {}


def _pass(name: str, code: str, message: str, **scores: float) -> Verdict:
    """A passing verdict; those without scores are shared constants (they are immutable)."""
    if scores:
        return Verdict(name, "pass", code, message, scores)
    key = (name, code, message)
    v = _PASSES.get(key)
    if v is None:
        if len(_PASSES) > 4096:
            _PASSES.clear()
        v = _PASSES[key] = Verdict(name, "pass", code, message, _NO_SCORES)
    return v


# Passing verdicts with fixed messages: shared constants (verdicts are immutable).
_OK_VALIDATION_NO_SCHEMA = Verdict("validation", "pass", "no_schema", "no argument schema declared", _NO_SCORES)
_OK_VALIDATION_ARGS_VALID = Verdict("validation", "pass", "args_valid", "arguments match the declared schema", _NO_SCORES)
_OK_VALIDATION_ARGS_COERCED = Verdict("validation", "pass", "args_coerced", "arguments match the schema once numeric strings are read as numbers", _NO_SCORES)
_OK_SCOPE_NO_ALLOWLIST = Verdict("scope", "pass", "no_allowlist", "the policy declares no tool list; judged on identity", _NO_SCORES)
_OK_DENY_RULES_NO_DENY_RULE = Verdict("deny_rules", "pass", "no_deny_rule", "no deny rule matches", _NO_SCORES)
_OK_QUOTAS_NO_QUOTAS = Verdict("quotas", "pass", "no_quotas", "no quota applies to this call", _NO_SCORES)
_OK_QUOTAS_WITHIN_QUOTAS = Verdict("quotas", "pass", "within_quotas", "the session stays within its quotas", _NO_SCORES)
_OK_CONSTRAINTS_NO_CONSTRAINTS = Verdict("constraints", "pass", "no_constraints", "no argument constraints declared", _NO_SCORES)
_OK_CONSTRAINTS_CONSTRAINTS_MET = Verdict("constraints", "pass", "constraints_met", "all argument constraints hold", _NO_SCORES)
_OK_DANGEROUS_OPS_NO_DANGEROUS_OP = Verdict("dangerous_ops", "pass", "no_dangerous_op", "no dangerous operation recognised", _NO_SCORES)
_OK_SENSITIVE_DATA_NO_OUTBOUND_SINK = Verdict("sensitive_data", "pass", "no_outbound_sink", "the call sends nothing out", _NO_SCORES)
_OK_SENSITIVE_DATA_NO_SENSITIVE_DATA = Verdict("sensitive_data", "pass", "no_sensitive_data", "no secret or personal data in outbound arguments", _NO_SCORES)
_OK_PRECONDITIONS_PRECONDITIONS_HOLD = Verdict("preconditions", "pass", "preconditions_hold", "no record this call acts on is marked as blocked", _NO_SCORES)
_OK_PROVENANCE_NO_TAINTED_FLOW = Verdict("provenance", "pass", "no_tainted_flow", "no value in this call was steered by a tool result", _NO_SCORES)
_OK_PROVENANCE_NO_RESULT_VALUES = Verdict("provenance", "pass", "no_tainted_flow", "no result-derived value in this session", _NO_SCORES)
_OK_SESSION_RISK_RISK_DISABLED = Verdict("session_risk", "pass", "risk_disabled", "session risk is disabled for this agent", _NO_SCORES)
_OK_PROHIBITED_NO_PROHIBITIONS = Verdict("prohibited", "pass", "no_prohibitions", "the identity states no prohibitions", _NO_SCORES)
_OK_SOCIAL_PRESSURE_NO_PRESSURE = Verdict("social_pressure", "pass", "no_pressure", "the task shows no social-engineering pattern for this call", _NO_SCORES)
_OK_TASK_DRIFT_NO_TASK = Verdict("task_drift", "pass", "no_task", "the session has no task imprint", _NO_SCORES)


_NUMERIC = re.compile(r"^\s*[-+]?\d+(?:\.\d+)?\s*$")


def _coerce_numbers(value: Any, schema: Any) -> Any:
    """Numeric strings where the schema wants numbers ("100" for an integer: a common model
    quirk) are judged as numbers; nothing else is coerced."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, str) and _NUMERIC.match(value):
        t = schema.get("type")
        types = t if isinstance(t, list) else [t]
        if "integer" in types and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            return int(value)
        if "number" in types or "integer" in types:
            return float(value)
        return value
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        return {k: _coerce_numbers(v, props.get(k)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_coerce_numbers(v, schema["items"]) for v in value]
    return value


class ValidationCheck:
    """The args must match the tool's declared JSON Schema (jsonschema-rs, compiled at load)."""

    name = "validation"
    hard = True

    def evaluate(self, ctx: CheckContext) -> Verdict:
        tool = ctx.tool
        if tool is None or tool.validator is None:
            return _OK_VALIDATION_NO_SCHEMA
        if tool.validator.is_valid(ctx.args):
            return _OK_VALIDATION_ARGS_VALID
        coerced = _coerce_numbers(ctx.args, tool.spec.args_schema)
        if coerced != ctx.args and tool.validator.is_valid(coerced):
            return _OK_VALIDATION_ARGS_COERCED
        errors = list(tool.validator.iter_errors(ctx.args))
        e = errors[0]
        where = ".".join(str(p) for p in e.instance_path) or "args"
        keyword = str(e.schema_path[-1]) if e.schema_path else "schema"
        return Verdict(self.name, "block", "args_invalid",
                       f"{where} fails the declared schema ({keyword}); {len(errors)} error(s)")


class ScopeCheck:
    """The tool must be declared, when the policy declares tools; without a tool list, an
    irreversible action must be of a kind the identity states."""

    name = "scope"
    hard = True

    def evaluate(self, ctx: CheckContext) -> Verdict:
        if ctx.agent.tools is None:
            # No tool list: an irreversible action (pay, grant, delete, send) must be of a
            # kind the identity says the agent performs.
            unstated = ctx.features.verbs & IRREVERSIBLE_VERBS - ctx.agent.identity_verbs
            if unstated:
                return Verdict(self.name, "block", "verb_outside_identity",
                               f"{ctx.tool_name} would {'/'.join(sorted(unstated))}: nothing the identity of {ctx.agent.name} "
                               "says it does, and the policy declares no tools")
            return _OK_SCOPE_NO_ALLOWLIST
        if ctx.tool is not None:
            return ctx.tool.in_scope
        return Verdict(self.name, "block", "tool_not_declared", f"{ctx.tool_name} is not a declared tool of {ctx.agent.name}")


def _regex(pattern: str) -> PolicyPattern:
    """A policy-authored regex (`matches`, `unless_task`, `result_matches`): linear time (RE2)."""
    return compile_pattern(pattern)


@lru_cache(maxsize=1024)
def _globs(globs: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern matching a tool name against any of a rule's globs (as `fnmatchcase`)."""
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs))


@lru_cache(maxsize=1024)
def _loose_globs(globs: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(g.lower().replace('-', '_'))})" for g in globs))


def _tool_spellings(tool: str) -> tuple[str, ...]:
    """`_spellings_of_tool`, remembered for names of at most 128 characters."""
    return _spellings_of_tool(tool) if len(tool) <= 128 else _spellings_of_tool.__wrapped__(tool)


@lru_cache(maxsize=4096)
def _spellings_of_tool(tool: str) -> tuple[str, ...]:
    """The names a restricting rule's tool globs see for `tool`: the name lower-cased with `-`
    as `_`, and its last part after a namespace (`API_CALL:`, `mcp__server__`, `server.`,
    `server/`): `delete_*` takes `Delete-Bucket` and `mcp__aws__delete_bucket` too."""
    low = tool.lower().replace("-", "_")
    out = [low]
    for sep in (":", "__", "/", "."):
        if sep in low:
            last = low.rsplit(sep, 1)[-1]
            if last and last not in out:
                out.append(last)
    return tuple(out)


def _rule_takes(globs: tuple[str, ...], tool: str) -> bool:
    """Whether a restricting rule (a deny rule, a quota, a flow rule's `after` step) applies to
    `tool`: its globs match the name as written or any spelling of it (`_tool_spellings`). A
    rule that stops more is the cautious reading; exempting steps (`unless_after`) match the
    name as written only."""
    if _globs(globs).match(tool) is not None:
        return True
    rx = _loose_globs(globs)
    return any(rx.match(name) is not None for name in _tool_spellings(tool))


_SQL_NESTED_DML = re.compile(r"(?is)\(\s*((?:insert|update|delete|merge|truncate|drop|alter|grant|copy)\b[^()]*(?:\([^()]*\)[^()]*)*)\)")
_SQL_WORD = re.compile(r"(?i)\b(?:insert|update|delete|merge|truncate|drop|alter|grant|copy|create|vacuum|reindex|cluster|revoke)\b")


def _sql_statements(text: str) -> list[str]:
    """The statements inside a SQL text beyond the text itself: each `;`-separated statement
    after the first, each data-modifying statement in parentheses (a WITH clause's body), and
    the plain form of a statement that writes under another keyword (`_sql_write_forms`)."""
    if len(text) > 20000:
        return []
    into = _SQL_INTO.search(text) is not None
    if _SQL_WORD.search(text) is None:
        # `SELECT … INTO new_table` writes without any of the words above
        return [w for stmt in text.split(";")[:64] for w in _sql_write_forms(stmt)] if into else []
    commented = "/*" in text or "--" in text
    if not (";" in text or "(" in text or commented or into or _SQL_EXPLAIN_RUNS.match(text)):
        return []
    if commented:
        # as the server reads it: comments skipped (`/* note */ DELETE FROM …` starts with DELETE)
        bare = _SQL_LINE_COMMENT.sub("", _SQL_BLOCK_COMMENT.sub(" ", text))
        out = [bare.strip()] if bare.strip() != text.strip() else []
    else:
        bare, out = text, []
    out += [p.strip() for p in bare.split(";")[1:] if p.strip()]
    out += [m.group(1).strip() for m in _SQL_NESTED_DML.finditer(bare)]
    # EXPLAIN ANALYZE runs the statement it explains (PostgreSQL and MySQL alike)
    for stmt in [bare.strip(), *out]:
        m = _SQL_EXPLAIN_RUNS.match(stmt)
        if m is not None and (m.group(1) is None or _SQL_ANALYZE_ON.search(m.group(1))):
            out.append(stmt[m.end():])
    if into:
        for stmt in [bare, *out][:64]:
            out += _sql_write_forms(stmt)
    return out


# `MERGE INTO t …` and `SELECT … INTO t`: writes that start with neither INSERT, UPDATE nor DELETE
_SQL_INTO = re.compile(r"(?i)\binto\b")
_SQL_MERGE = re.compile(r"(?is)\s*merge\s+into\s+([\w.\"`\[\]]{1,200})")
_SQL_MERGE_ON = re.compile(r"(?is)\bon\s")
_SQL_MERGE_COND = re.compile(r"(?is)\s*(.{1,2000}?)\s+when\s+(?:not\s+)?matched\b")
_SQL_MERGE_ACTION = re.compile(r"(?i)\bthen\s+(delete|update|insert)\b")
_SQL_SELECT_INTO = re.compile(
    r"(?is)\s*(select\b(?:(?!\binto\b)[^;'\"]){0,4000}?)\binto\s+"
    r"(?:(outfile|dumpfile)\s+('[^']{0,500}'|\"[^\"]{0,500}\")|(?:(?:temp|temporary|unlogged)\s+)?(?:table\s+)?([\w.\"`\[\]]{1,200}))")


def _sql_write_forms(stmt: str) -> list[str]:
    """The plain statements a write under another keyword performs, for rules written about
    statement keywords: a MERGE as the DELETE, UPDATE and INSERT its `WHEN … THEN` clauses run
    on its target (a DELETE keeps the join condition as its WHERE, so `ON (1=1)` reads as the
    `WHERE 1=1` it is); `SELECT … INTO t` (PostgreSQL, SQL Server: a new table) as `CREATE TABLE
    t AS SELECT …`; `SELECT … INTO OUTFILE 'f'` (MySQL: a file on the server) as `COPY (SELECT …)
    TO 'f'`. A `SELECT … INTO` inside a procedure body assigns a variable; only a statement that
    starts with SELECT or MERGE is read, and an INTO after a quoted literal is not (`WHERE note =
    'into …'`)."""
    m = _SQL_MERGE.match(stmt)
    if m is not None:
        target, out = m.group(1), []
        on = _SQL_MERGE_ON.search(stmt, m.end(), 20000)     # the first ON: the join condition
        cond = _SQL_MERGE_COND.match(stmt, on.end()) if on is not None else None
        where = f" WHERE {cond.group(1)}" if cond is not None else ""
        for action in dict.fromkeys(a.lower() for a in _SQL_MERGE_ACTION.findall(stmt[:20000])):
            out.append(f"DELETE FROM {target}{where}" if action == "delete" else
                       f"UPDATE {target} SET" if action == "update" else f"INSERT INTO {target}")
        return out
    m = _SQL_SELECT_INTO.match(stmt)
    if m is None:
        return []
    rest = stmt[m.end():]
    if m.group(2) is not None:
        return [f"COPY ({m.group(1).strip()} {rest.strip()}) TO {m.group(3)}"]
    return [f"CREATE TABLE {m.group(4)} AS {m.group(1).strip()} {rest.strip()}"]


def _after_leading_options(text: str) -> list[str]:
    """The readings of a command that starts with options: the text from each word that can be
    the subcommand (a word not taken as an option's value), over the first few words."""
    out: list[str] = []
    prev_option = False
    for n, m in enumerate(_WORD_RUN.finditer(text)):
        w = m.group(0)
        if n >= 24:
            break
        if w[:1] == "-":
            prev_option = "=" not in w
            continue
        out.append(text[m.start():])
        if not prev_option:
            break       # two plain words in a row: the subcommand has begun
        prev_option = False
    return out


_WORD_RUN = re.compile(r"\S+")


# `EXPLAIN ANALYZE [VERBOSE] …` or `EXPLAIN (ANALYZE[, …]) …`; group 1 is the option list
_SQL_EXPLAIN_RUNS = re.compile(r"(?i)\s*explain\s+(?:analy[sz]e\b(?:\s+verbose\b)?|\(([^()]{0,300})\))\s*")
_SQL_ANALYZE_ON = re.compile(r"(?i)\banaly[sz]e\b(?!\s*(?:=\s*)?(?:false|off|0)\b)")


def _cond_holds(value: Any, op: str, operand: Any, nan: bool = True) -> bool:
    """Whether one `when` condition holds. A `gt`/`lt` on a value that reads as NaN ("nan" or
    a float NaN compares false with every number) answers `nan`: True, the cautious answer,
    where a match restricts (a deny rule, a quota, a flow rule's `after`), False where a match
    exempts (`unless_after`)."""
    if value is _MISSING:
        return False
    if nan and isinstance(value, list):
        # where a match restricts, a list holds when any of its items does (`env: [production]`)
        return any(_cond_holds(v, op, operand, nan) for v in value[:256])
    if op == "equals":
        if value == operand or (isinstance(value, str) and isinstance(operand, str) and value.lower() == operand.lower()):
            return True
        return nan and isinstance(value, str) and isinstance(operand, str) and _plain(value) == _plain(operand)
    if op == "in":
        if value in operand or (isinstance(value, str) and value.lower() in {str(o).lower() for o in operand}):
            return True
        return nan and isinstance(value, str) and _plain(value) in {_plain(str(o)) for o in operand}
    if op == "matches":
        text = value if isinstance(value, str) else str(value)
        rx = _regex(operand)
        if rx.search(text) is not None:
            return True
        if nan and not text.isascii() and rx.search(_plain_case(text)) is not None:
            return True
        # where a match restricts, a rule about statements (`^\s*(insert|update|delete)\b`) also
        # sees each statement of a SQL text: the ones after a `;`, and the data-modifying
        # statements inside a WITH clause (`WITH f AS (UPDATE orders SET … RETURNING id) SELECT …`)
        if nan and any(rx.search(stmt) is not None for stmt in _sql_statements(text)):
            return True
        # and a command whose global options come first (`--context prod delete ns x`,
        # `-chdir=infra destroy`) as its program reads it: from the subcommand on
        return nan and text.lstrip()[:1] == "-" and any(rx.search(rest) is not None for rest in _after_leading_options(text))
    if op == "contains":
        text = value if isinstance(value, str) else str(value)
        if operand.lower() in text.lower():
            return True
        return nan and _plain(operand) in _plain(text)
    try:
        num = float(value)
    except (TypeError, ValueError):
        if not nan:
            return False
        # where a match restricts, a money text (`5,000`, `$5,000`, `5000 USD`, `5.000,00`) or a
        # money object (`{value: 5000, currency: USD}`) holds when any reading of it does
        readings = _number_readings(value)
        return any(r > operand if op == "gt" else r < operand for r in readings)
    if num != num:
        return nan
    return num > operand if op == "gt" else num < operand


# Invisible format characters (zero-width spaces and joiners, bidirectional marks, soft hyphens,
# the tag characters that smuggle text): dropped before a value is compared with a rule's literal.
# (bounds as pairs: the compiled build cannot take range objects out of a tuple)
_INVISIBLE = {c: None for lo, hi in ((0, 0x2070), (0xFEFF, 0xFF00), (0xFFF0, 0x10000), (0xE0000, 0xE0080))
              for c in range(lo, hi) if unicodedata.category(chr(c)) == "Cf"}


def _plain_case(text: str) -> str:
    """`text` with compatibility forms folded (fullwidth letters) and invisible format
    characters (zero-width spaces, soft hyphens) dropped."""
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE) if not text.isascii() else text


def _plain(text: str) -> str:
    """`_plain_case`, trimmed and case-folded: how a value compares with a rule's literal."""
    return _plain_case(text).strip().casefold()


_MONEY_READ = re.compile(r"(?<![\w.,-])[-+]?\d[\d,.']*")


def _number_readings(value: Any) -> list[float]:
    """The numbers a money-like value may mean: a string's first figure (around any currency
    symbol or code) read with `.` or `,` as the decimal mark, each reading kept only when its
    thousands groups have three digits (`$12,400` is 12400 or 12.4, `EUR 12.400,00` is 12400,
    `12400.00 usd` is 12400); a mapping's direct numeric members. Empty when nothing reads as
    a number."""
    if isinstance(value, dict):
        out = []
        for v in list(value.values())[:32]:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append(float(v))
            elif isinstance(v, str):
                out += _number_readings(v)
        return out
    if not isinstance(value, str) or len(value) > 200:
        return []
    m = _MONEY_READ.search(_plain_case(value))
    if m is None:
        return []
    raw = m.group(0).replace("'", "").rstrip(",.")
    out = []
    for dec, thou in ((".", ","), (",", ".")):
        whole, _, frac = raw.partition(dec)
        groups = whole.split(thou)
        if not frac.isdigit() and frac or any(len(g) != 3 or not g.isdigit() for g in groups[1:]):
            continue
        try:
            out.append(float("".join(groups) + ("." + frac if frac else "")))
        except ValueError:
            continue
    return out
    if not isinstance(value, str) or len(value) > 200:
        return []
    m = _MONEY_READ.search(_plain_case(value))
    if m is None:
        return []
    raw = m.group(0).strip().replace("'", "").replace(" ", "").replace("\u00a0", "").rstrip(",.")
    out = []
    for dec in (".", ","):
        thou = "," if dec == "." else "."
        text = raw.replace(thou, "")
        if text.count(dec) > 1:
            continue
        try:
            out.append(float(text.replace(dec, ".")))
        except ValueError:
            continue
    return out


def _redact_spans(text: str, spans: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in sorted(spans):
        if end <= pos:
            continue
        out.append(text[pos:max(start, pos)])
        out.append("[REDACTED:policy]")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _step_matches(step: StepMatch, tool: str, args: dict[str, Any], result_text: str | None, nan: bool = True) -> bool:
    if step.tool is not None and not (_rule_takes(step.tool, tool) if nan else _globs(step.tool).match(tool)):
        return False
    if not all(_cond_holds(get_path(args, arg), op, val, nan) for arg, op, val in step.when):
        return False
    return step.result_matches is None or (result_text is not None and _regex(step.result_matches).search(result_text) is not None)


RESULT_TEXT_CAP = 262_144   # characters of a result that `result_matches` reads


def result_text(result: Any) -> str:
    """What a step's `result_matches` reads: a text result as is, anything else as compact JSON
    (keys sorted, non-ASCII kept), cut at RESULT_TEXT_CAP characters."""
    if isinstance(result, str):
        return result[:RESULT_TEXT_CAP]
    try:
        text = orjson.dumps(result, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        text = str(result)
    return text[:RESULT_TEXT_CAP]


def step_marks(policy: AgentPolicy, marks: frozenset[str], tool: str, args: dict[str, Any], result: Any = _MISSING) -> frozenset[str]:
    """`marks` plus the flow-rule steps this executed call satisfies: `ID+` for a rule's
    `after`, `ID-` for its `unless_after`. `result` is given for a call reported through
    /v1/observe; a step with `result_matches` is satisfied only by such a call."""
    found: list[str] = []
    text: str | None = None
    for rule in policy.flow_rules:
        for step, suffix in ((rule.after, "+"), (rule.unless_after, "-")):
            if step is None or rule.id + suffix in marks:
                continue
            if step.result_matches is not None and text is None and result is not _MISSING:
                text = result_text(result)
            if _step_matches(step, tool, args, text, suffix == "+"):   # a NaN never exempts
                found.append(rule.id + suffix)
    return marks | frozenset(found) if found else marks


def _deny_rules_for(agent: CompiledAgent, tool_name: str) -> tuple[Any, ...]:
    """The agent's deny rules whose tool globs take this tool, in policy order (remembered per
    tool name, bounded: the globs are matched once per tool, not on every call)."""
    cache = agent.deny_by_tool
    hit = cache.get(tool_name)
    if hit is None:
        hit = tuple(r for r in agent.policy.deny if r.tool is None or _rule_takes(r.tool, tool_name))
        if len(cache) < 4096:
            cache[tool_name] = hit
    return hit


class DenyRuleCheck:
    """Explicit deny rules of the policy. A flow rule also needs the session's history: it
    applies after a matching earlier call (`after`) or until one (`unless_after`)."""

    name = "deny_rules"
    hard = True

    def evaluate(self, ctx: CheckContext) -> Verdict:
        marks = ctx.session.marks
        for rule in _deny_rules_for(ctx.agent, ctx.tool_name):
            if not all(_restricting_holds(ctx.args, arg, op, val) for arg, op, val in rule.when):
                continue
            if rule.unless_task is not None and ctx.task and _regex(rule.unless_task).search(ctx.task):
                continue
            if rule.after is not None and rule.id + "+" not in marks:
                continue
            if rule.unless_after is not None and rule.id + "-" in marks:
                continue
            return Verdict(self.name, "block", "deny_rule", f"rule {rule.id}: {rule.message}")
        return _OK_DENY_RULES_NO_DENY_RULE


def _quota_applies(q: Quota, tool: str, args: dict[str, Any]) -> bool:
    return _rule_takes(q.tool, tool) and all(_restricting_holds(args, arg, op, val) for arg, op, val in q.when)


def _quota_amount(q: Quota, args: dict[str, Any]) -> float | None:
    """The number at the quota's `sum` path (a numeric string counts); None when missing or not a number."""
    v = get_path(args, q.sum) if q.sum is not None else _MISSING
    if v is _MISSING and q.sum is not None:
        # the amount under another spelling of its name (`Amount`, `amount-usd` is not one) counts
        v = next((o for o in other_spellings(args, q.sum) if o is not None and not isinstance(o, bool)), _MISSING)
    if v is _MISSING or v is None or isinstance(v, bool):
        return None
    try:
        num = float(v)
    except (TypeError, ValueError):
        return None
    return num if num == num and num not in (float("inf"), float("-inf")) else None


def _figure_of(x: float) -> int | float:
    x = round(x, 6)
    return int(x) if x.is_integer() else x


def quota_usage(policy: AgentPolicy, usage: tuple[tuple[str, int, float], ...], tool: str,
                args: dict[str, Any]) -> tuple[tuple[str, int, float], ...]:
    """The session's quota counters after an executed call: one more call, and its amount
    (negative or unreadable: nothing) added, for every quota the call falls under."""
    if not policy.quotas:
        return usage
    used = {i: (n, t) for i, n, t in usage}
    changed = False
    for q in policy.quotas:
        if not q.agent_wide and _quota_applies(q, tool, args):
            n, t = used.get(q.id, (0, 0.0))
            amount = _quota_amount(q, args) if q.sum is not None else None
            used[q.id] = (n + 1, t + max(amount or 0.0, 0.0))
            changed = True
    return tuple(sorted((i, n, t) for i, (n, t) in used.items())) if changed else usage


def budget_quotas(policy: AgentPolicy, tool: str) -> tuple[Quota, ...]:
    """The agent-wide quotas whose tool globs match `tool` (their counters are read before the
    call is decided; `when` conditions are judged on the arguments later)."""
    return tuple(q for q in policy.quotas if q.agent_wide and _rule_takes(q.tool, tool))


def budget_spend(quotas: Sequence[Quota], tool: str, args: dict[str, Any]) -> list[tuple[Quota, float]]:
    """What an executed call spends of the agent-wide quotas it falls under: (quota, amount),
    the amount 0 for a quota without `sum` and for a negative or unreadable one."""
    out = []
    for q in quotas:
        if _quota_applies(q, tool, args):
            amount = _quota_amount(q, args) if q.sum is not None else None
            out.append((q, max(amount or 0.0, 0.0)))
    return out


def window_text(seconds: int) -> str:
    """`24h`, `7d`, `15m`, `90s`: a window as a policy would write it."""
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % n == 0 and (unit != "d" or seconds > 86400):
            return f"{seconds // n}{unit}"
    return f"{seconds}s"


class QuotaCheck:
    """Quotas of the policy: how many calls of a kind a session (or, `per: agent`, the agent
    within a time window, across all its sessions) may make, and how much of an argument (an
    amount) it may spend in total. A call without a session is checked alone against session
    quotas (it is its session's only call) and counts against the agent's quotas."""

    name = "quotas"
    hard = True

    def evaluate(self, ctx: CheckContext) -> Verdict:
        quotas = ctx.agent.policy.quotas
        if not quotas:
            return _OK_QUOTAS_NO_QUOTAS
        used = {i: (n, t) for i, n, t in ctx.session.usage}
        budget = ctx.budget or {}
        clamped: dict[str, float] = {}   # sum path -> the value the tightest clamping quota leaves
        whose: dict[str, str] = {}       # sum path -> whose quota clamped it
        applied = False
        for q in quotas:
            if not _quota_applies(q, ctx.tool_name, ctx.args):
                continue
            applied = True
            if q.agent_wide:
                calls, total = budget.get(q.id, (0, 0.0))
                where = f"by this agent in the current {window_text(q.window_s or 0)} window"
            else:
                calls, total = used.get(q.id, (0, 0.0))
                where = "this session"
            tail = f"; {q.message}" if q.message else ""
            if q.max_calls is not None and calls + 1 > q.max_calls:
                return Verdict(self.name, "block", "quota_calls_exceeded",
                               f"quota {q.id}: {calls} of {q.max_calls} call(s) already made {where}{tail}",
                               {"quota_calls": float(calls), "quota_max_calls": float(q.max_calls)})
            if q.max_total is None or q.sum is None:
                continue
            amount = _quota_amount(q, ctx.args)
            if amount is None:
                return Verdict(self.name, "block", "quota_amount_unreadable",
                               f"quota {q.id}: {q.sum} is missing or not a number, so the call cannot be counted against the quota{tail}")
            left = q.max_total - total
            if amount <= left + 1e-9:
                continue
            if q.on_violation == "clamp" and left > 1e-9:
                if left < clamped.get(q.sum, left + 1.0):
                    clamped[q.sum] = left
                    whose[q.sum] = f"the agent's {window_text(q.window_s or 0)} quota" if q.agent_wide else "the session's quota"
                continue
            return Verdict(self.name, "block", "quota_total_exceeded",
                           f"quota {q.id}: {_figure_of(total)} of {_figure_of(q.max_total)} already spent {where}; "
                           f"this call asks for {_figure_of(amount)}{tail}",
                           {"quota_total": total, "quota_max_total": q.max_total, "quota_amount": amount})
        if clamped:
            patches = tuple(Patch(path, "clamp", _figure_of(v)) for path, v in clamped.items())
            return Verdict(self.name, "rewrite", "quota_clamped",
                           "; ".join(f"{p.path}: cut to {p.value}, what is left of {whose[p.path]}" for p in patches),
                           patches=patches)
        return _OK_QUOTAS_WITHIN_QUOTAS if applied else _OK_QUOTAS_NO_QUOTAS


def _norm_path(p: str) -> str:
    if p.startswith("~"):
        p = "/home/_user" + p[1:]
    return posixpath.normpath(p) if p else p


@lru_cache(maxsize=8192)
def _domains_of_value(value: str) -> tuple[str, ...]:
    """The domains an argument value names (recipients repeat across calls: cached): every one,
    read as the receiving side reads it (`value_domains`); a value naming none is judged as
    itself, so an allowlist refuses it."""
    return value_domains(value) or (value.strip().lower().lstrip("@"),)


def _value_domain_list(value: str) -> tuple[str, ...]:
    """`_domains_of_value`, remembered for values of at most 512 characters."""
    return _domains_of_value(value) if len(value) <= 512 else _domains_of_value.__wrapped__(value)


def _under(dom: str, names: frozenset[str]) -> bool:
    """`dom` is one of `names` or a subdomain of one (`eu.acme.com` is under `acme.com`)."""
    if dom in names:
        return True
    i = dom.find(".")
    while i >= 0:
        if dom[i + 1:] in names:
            return True
        i = dom.find(".", i + 1)
    return False


@lru_cache(maxsize=1024)
def _name_set(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(names)


# Mail domains that deliver to the same mailboxes: `bob@googlemail.com` is `bob@gmail.com`. A deny
# list naming one of them refuses the others (an allowlist is not widened).
_MAILBOX_ALIASES = (
    ("gmail.com", "googlemail.com"),
    ("icloud.com", "me.com", "mac.com"),
    ("protonmail.com", "proton.me", "pm.me", "protonmail.ch"),
    ("yandex.ru", "yandex.com", "ya.ru"),
)


@lru_cache(maxsize=1024)
def _deny_set(names: tuple[str, ...]) -> frozenset[str]:
    """The denied domains with their mailbox aliases (`_MAILBOX_ALIASES`)."""
    out = {n.lower().rstrip(".") for n in names}
    for group in _MAILBOX_ALIASES:
        if out.intersection(group):
            out.update(group)
    return frozenset(out)


def _domain_ok(value: str, con: Constraint) -> bool:
    """No ___domain the value names is denied, and with an allowlist every one is allowed (a
    display name that reads as an allowed address does not hide the address after it)."""
    doms = _value_domain_list(value)
    if con.domains_deny:
        deny = _deny_set(con.domains_deny)
        if any(_under(d, deny) for d in doms):
            return False
        if ("?" in value or "#" in value) and any(_under(d, deny) for d in (_nested_hosts(value) if len(value) <= 512 else _nested_hosts.__wrapped__(value))):
            # a denied host the link hands on (`?next=https%3A%2F%2Fwebhook.site`, `?url=//pastebin.com`):
            # an open redirect or a proxy sends the request there
            return False
    if con.domains_allow is not None:
        allow = _name_set(con.domains_allow)
        return all(_under(d, allow) for d in doms)
    return True


_NESTED_TARGET = re.compile(r"(?i)(?:[a-z][a-z0-9+.-]{0,15}:)?//([a-z0-9.-]{1,253})")


@lru_cache(maxsize=2048)
def _nested_hosts(value: str) -> tuple[str, ...]:
    """Hosts named after the first `?` or `#` of a link (a redirect, `next` or callback target),
    read once and twice percent-decoded."""
    cut = min(i for i in (value.find("?"), value.find("#")) if i >= 0)
    tail = value[cut:cut + 8192]
    seen: list[str] = []
    for _ in range(3):
        seen += [m.group(1).lower().rstrip(".") for m in _NESTED_TARGET.finditer(tail)]
        if "%" not in tail:
            break
        tail = unquote_plus(tail)
    return tuple(fold_host_text(h) for h in dict.fromkeys(seen))


@lru_cache(maxsize=1024)
def _path_globs(deny: tuple[str, ...] | None, allow: tuple[str, ...] | None) -> tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...] | None]:
    """Deny globs compiled to ignore case (`.ENV` is `.env` on a case-insensitive file system),
    and allow globs, case-sensitive, normalised like the paths they judge."""
    return (tuple(re.compile(glob_regex(g).pattern, re.IGNORECASE) for g in deny or ()),
            None if allow is None else tuple(glob_regex(_norm_path(g) if not g.startswith("**") else g) for g in allow))


_PATH_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _path_forms(value: str) -> list[str]:
    """The paths a value may open: as written, percent-decoded (a file API behind HTTP decodes
    `%2e%2e`), and with backslashes as separators (Windows and some tools read them so)."""
    forms = [value]
    if "%" in value:
        decoded = unquote(value)
        if decoded != value:
            forms.append(decoded)
    if "\\" in value:
        forms += [f.replace("\\", "/") for f in forms]
    return forms


def _path_ok(value: str, con: Constraint) -> bool:
    """No form of the path (`_path_forms`, each also normalised and with the trailing dots and
    spaces Windows drops) matches a deny glob, and with an allowlist every normalised form is
    allowed. A control character (a NUL ends the path a C library opens) is refused outright."""
    if _PATH_CONTROL.search(value):
        return False
    deny, allow = _path_globs(con.paths_deny, con.paths_allow)
    forms = _path_forms(value)
    normal = [_norm_path(f) for f in forms]
    if deny:
        for f in forms + normal + [p.rstrip(" .") for p in normal]:
            if any(rx.match(f) for rx in deny):
                return False
    if allow is not None:
        return all(any(rx.match(p) for rx in allow) for p in normal)
    return True


_LIST_SEP = re.compile(r"[,;]\s*")


_FINITE_MAX = 1.7976931348623157e308
_FINITE_MIN = -_FINITE_MAX


@lru_cache(maxsize=1024)
def _lower_set(values: tuple[Any, ...]) -> frozenset[str]:
    return frozenset(str(e).lower() for e in values)


# An argument that carries a money amount (not a count, a row limit or a generic `value`).
_MONEY_KEY = re.compile(r"(?i)(?:^|_)(?:amount|total|price|cost|sum|payment|refund|credit)(?:_?(?:usd|eur|gbp|due|cents))?$")
_CURRENCY_KEY = re.compile(r"(?i)^(?:currency|ccy|currency_?code)$")
_MONEY_TEXT = re.compile(r"^\s*(?:[$€£]\s?)?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*(?:[A-Za-z]{3})?\s*$")


def _figure(amount: float) -> str:
    """250,000 and 12,000.5 (thousands separated, no trailing zeros)."""
    return f"{amount:,.2f}".rstrip("0").rstrip(".")


def _over_identity_limit(args: dict[str, Any], limits: tuple[MoneyLimit, ...]) -> Verdict | None:
    """A BLOCK when a money argument is above a cap the identity states for this kind of call
    ("issues refunds up to 100 USD"), in the cap's currency or with no currency named."""
    currency = next((v.strip().upper() for k, v in args.items() if isinstance(v, str) and _CURRENCY_KEY.match(str(k))), None)
    for path, value in flatten_args(args):
        leaf = path.rsplit(".", 1)[-1].split("[", 1)[0]
        if not _MONEY_KEY.search(leaf):
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            amount = float(value)
        elif isinstance(value, str) and (m := _MONEY_TEXT.match(value)):
            amount = float(m.group(1).replace(",", "") + (m.group(2) or ""))
        else:
            continue
        if leaf.lower().endswith("cents"):
            amount /= 100
        for lim in limits:
            if (currency is None or currency == lim.currency) and amount > lim.amount:
                return Verdict("constraints", "block", "identity_limit",
                               f"{path} is above the {_figure(lim.amount)} {lim.currency} the identity states: \"{lim.phrase}\"",
                               {"identity_limit": lim.amount})
    return None


def _named_prohibition(ctx: CheckContext) -> Verdict | None:
    """A call doing what the identity forbids by name: its tool does the prohibition's verb,
    an argument's whole value is one of the names the prohibition lists, and the noun they
    qualify is the tool's or that argument's ("add anyone to the … finance … groups":
    `okta_add_to_group` with `group: finance`)."""
    words = {w.lower() for w in ctx.features.tool_words}
    for rule in ctx.agent.named_prohibitions:
        if rule.verb not in words:
            continue
        for path, value in ctx.features.strings:
            if len(value) > 40 or _singular_word(value.strip()) not in rule.names:
                continue
            leaf = path.rsplit(".", 1)[-1].split("[", 1)[0].lower()
            if rule.noun in words or rule.noun in leaf.split("_"):
                return Verdict("constraints", "block", "identity_prohibits_named",
                               f"{path} names what the identity forbids: \"{rule.phrase}\"")
    return None


def _singular_word(value: str) -> str:
    w = value.lower()
    if len(w) > 4 and w.endswith("es") and w[:-2].endswith(("sh", "ch", "x", "ss")):
        return w[:-2]
    return w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w


class ConstraintCheck:
    """Per-argument constraints; a violation blocks, or rewrites when the policy says how."""

    name = "constraints"
    hard = True

    def evaluate(self, ctx: CheckContext) -> Verdict:
        if ctx.agent.money_limits and ctx.features.verb != "read":
            limits = ctx.agent.limits_for(ctx.tool_name)
            if limits:
                over = _over_identity_limit(ctx.args, limits)
                if over is not None:
                    return over
        declared = self._declared(ctx)
        if declared.outcome != "block" and ctx.agent.named_prohibitions and ctx.features.verb != "read":
            # the policy's own constraints speak first; what the identity forbids by name holds after them
            named = _named_prohibition(ctx)
            if named is not None:
                return named
        return declared

    def _declared(self, ctx: CheckContext) -> Verdict:
        """The constraints the policy declares for the tool."""
        if ctx.tool is None or not ctx.tool.spec.constraints:
            return _OK_CONSTRAINTS_NO_CONSTRAINTS
        patches: dict[str, Patch] = {}   # arg path -> its final rewrite (constraints apply in order)
        notes: dict[str, list[str]] = {}
        current: dict[str, Any] = {}     # arg path -> value after earlier rewrites of this check
        for con, compiled in zip(ctx.tool.spec.constraints, ctx.tool.compiled_patterns, strict=True):
            value = current[con.arg] if con.arg in current else get_path(ctx.args, con.arg)
            if value is _MISSING:
                # the argument under another spelling of its name (`URL` for `url`): a receiving
                # side that binds names loosely acts on it, so it must meet the constraint as is
                for other in other_spellings(ctx.args, con.arg):
                    if other is not None and self._one(con, compiled, other) is not None:
                        return Verdict(self.name, "block", "arg_spelled_otherwise",
                                       f"{con.arg}: given under another spelling of its name, and it breaks the constraint")
            if value is _MISSING or value is None:
                if con.required:
                    return Verdict(self.name, "block", "arg_missing", f"{con.arg} is required by the policy")
                continue
            verdict = self._one(con, compiled, value)
            if verdict is None:
                continue
            kind, code, new = verdict
            if kind == "block":
                msg = con.message or f"{con.arg}: {code.replace('_', ' ')}"
                return Verdict(self.name, "block", code, msg)
            current[con.arg] = new
            patches[con.arg] = Patch(con.arg, kind, new)
            notes.setdefault(con.arg, []).append(code.replace("_", " "))
        if patches:
            return Verdict(self.name, "rewrite", "args_rewritten",
                           "; ".join(f"{path}: {', '.join(n)}" for path, n in notes.items()),
                           patches=tuple(patches.values()))
        return _OK_CONSTRAINTS_CONSTRAINTS_MET

    @staticmethod
    def _one(con: Constraint, compiled: tuple[PolicyPattern | None, PatternSet], value: Any) -> tuple[str, str, Any] | None:
        mode = con.on_violation
        # numbers
        if con.min is not None or con.max is not None:
            try:
                num = float(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError):
                num = None
            # NaN ("nan" as text, or a Python float) compares false with any bound: it must not pass
            # as within them; an infinity ("inf", "1e999") is no amount either
            if num is None or not _FINITE_MIN <= num <= _FINITE_MAX:
                return ("block", "not_a_number", None)
            bound = None
            if con.max is not None and num > con.max:
                bound, code = con.max, "above_max"
            elif con.min is not None and num < con.min:
                bound, code = con.min, "below_min"
            if bound is not None:
                if mode == "clamp":
                    return ("clamp", code, int(bound) if float(bound).is_integer() else float(bound))
                return ("block", code, None)
        items = value if isinstance(value, list) else None
        scalars = items if items is not None else [value]
        # list-item checks (enum, domains) may drop offending items
        checks = []
        if con.enum is not None:
            lowered = _lower_set(con.enum)
            checks.append(("not_in_enum", lambda v: v in con.enum or (isinstance(v, str) and v.lower() in lowered)))
        if con.domains_allow is not None or con.domains_deny is not None:
            checks.append(("domain_not_allowed", lambda v: isinstance(v, str) and all(_domain_ok(part, con) for part in _LIST_SEP.split(v) if part.strip())))
        if con.paths_allow is not None or con.paths_deny is not None:
            checks.append(("path_not_allowed", lambda v: isinstance(v, str) and _path_ok(v, con)))
        for code, ok in checks:
            bad = [v for v in scalars if not ok(v)]
            if bad:
                if mode == "drop" and items is not None:
                    kept = [v for v in items if ok(v)]
                    if not kept:
                        return ("block", code, None)
                    return ("drop", code, kept)
                return ("block", code, None)
        pattern, denies = compiled
        redacted: list[Any] = []
        changed = False
        for v in (scalars if pattern is not None or denies or con.max_length is not None else ()):
            text = v if isinstance(v, str) else str(v)
            if pattern is not None and not pattern.search(text):
                return ("block", "pattern_mismatch", None)
            hits = denies.matches(text) if denies else ()
            if not hits and denies and not text.isascii() and (folded := _plain_case(text)) != text and denies.matches(folded):
                # the pattern matches once invisible characters and fullwidth forms are folded: no
                # span of the text as written to redact, so the call is refused
                return ("block", "pattern_denied", None)
            if hits:
                if mode != "redact" or not isinstance(v, str):
                    return ("block", "pattern_denied", None)
                text = _redact_spans(text, [(m.start(), m.end()) for m in hits])
                changed = True
            if con.max_length is not None and len(text) > con.max_length:
                if mode != "redact" or not isinstance(v, str):
                    return ("block", "too_long", None)
                text = text[: con.max_length]
                changed = True
            redacted.append(text if isinstance(v, str) else v)
        if changed:
            return ("redact", "pattern_denied", redacted if items is not None else redacted[0])
        if con.max_items is not None and items is not None and len(items) > con.max_items:
            if mode == "drop":
                return ("drop", "too_many_items", items[: con.max_items])
            return ("block", "too_many_items", None)
        return None


_ADMIN_RX = re.compile(
    r"(?i)\b(?:domain\s+admins?|enterprise\s+admins?|super[_ -]?admin\w*|global[_ -]?admin\w*|org(?:anization)?[_ -]?admin\w*|"
    r"administrators?|admin(?:istrator)?[_ -]?role|cluster-admin|owner|root|sudoers?|wheel|[\w-]*_?admin(?:_role)?)\b")
_GRANT_WORDS = frozenset("assign add grant promote elevate set make member members role roles group groups attach bind".split())
_CONSOLE_WORDS = frozenset("admin administrator".split())
_BANK_KEY = re.compile(r"(?i)(?:^|[._\[])(?:iban|bank|bank_?account|routing(?:_number)?|account_?number|swift|bic|sort_?code|payout|beneficiary|"
                       # the same details under other names: where remittances, deposits or payouts go
                       r"direct_?deposit|(?:remit\w*|settlement|payee|payout|deposit|payment)_?(?:account|details|instructions)(?:_?(?:number|no))?)(?:$|[._\]])")
_is_bank_key = _KeyTest(_BANK_KEY)
_CHANGE_WORDS = frozenset("update change set edit modify replace patch add".split())
_SELECT = re.compile(r"(?i)\bselect\b")
_PII_COLUMNS = re.compile(r"(?i)\b(?:ssn|social_security\w*|card_(?:number|bin|pan)|pan|cvv|phone\w*|e?mail(?:_address)?|dob|date_of_birth|birth_?date|passport\w*|tax_id|national_id|home_address)\b")
_EXPORT_WORDS = frozenset("export share send upload publish post email mail dump sync copy".split())


# A setting that names a security control, and a value that turns it off
# (`{setting: audit_log_export, value: disabled}`, `{mfa_required: false}`).
_AUDIT_CONTROL = re.compile(r"(?i)audit|cloudtrail|guardduty|access[_ -]?log|security[_ -]?log|siem")
_AUTH_CONTROL = re.compile(r"(?i)mfa|2fa|two[_ -]?(?:factor|step)|multi[_ -]?factor|sso[_ -]?(?:enforce|requir)\w*|"
                           r"login[_ -]?challenge|dlp|edr|antivirus|malware[_ -]?scan\w*")
_OFF_VALUE = re.compile(r"(?i)^\s*(?:disabled?|off|false|no|none|0|paused?|stopped|stop)\s*$")
_PRIVACY_CONTROL = re.compile(r"(?i)redact|scrub|anonymi[sz]|pseudonymi[sz]|(?:pii|card|pan|data|log|field)[_ -]?mask|mask(?:ing)?[_ -]?(?:pii|card|pan|data|ssn|sensitive|personal|fields?|logs?)")
# An approval every payment or change waits for (`approval_required: false`, `dual_control: off`).
_APPROVAL_CONTROL = re.compile(r"(?i)approv\w*?[_ -]?(?:required|needed|check|gate)|requires?[_ -]?(?:manual[_ -]?)?approv|"
                               r"manual[_ -]?(?:approval|review)|dual[_ -]?(?:approval|control|authori[sz]ation|sign\w*)|four[_ -]?eyes|maker[_ -]?checker")
# A flag switched off inside JSON a command passes (`--event-selectors '[{"IncludeManagementEvents": false}]'`): the
# command's own words say which control it is.
_JSON_OFF = re.compile(r"(?i)\"((?:include|enable|log|record|audit|track|monitor)\w*)\"\s*:\s*(?:false|\"(?:disabled?|off|none)\")")


_CONFIGURING = frozenset({"configure", "write", "execute", "delete"})
_VALUE_LEAF = re.compile(r"(?i)^(?:value|new_?value|state|status|enabled?|mode|setting_?value|on)$")
_NAME_LEAF = re.compile(r"(?i)^(?:setting|setting_?name|name|key|feature|option|control|parameter|policy|field|service)$")


def _control_turned_off(f: ActionFeatures) -> tuple[str, str] | None:
    """A configuring call that switches an audit trail or an authentication control off: an
    off value under a key that names the control (`mfa_required: false`), or under a value key
    next to a setting name that does (`{setting: audit_log_export, value: disabled}`)."""
    if not f.verbs & _CONFIGURING:
        return None
    if f.command_text and "\"" in f.command_text:
        flags = _JSON_OFF.findall(f.command_text)
        if flags and _AUDIT_CONTROL.search(f.command_text):
            return ("disable_logging", "switches an audit trail off")
    if "read" in f.verbs:
        return None
    offs = [p for p, v in f.scalars if v is False or v == 0] + [p for p, t in f.strings if len(t) <= 9 and _OFF_VALUE.match(t)]
    if not offs:
        return None
    names = [" ".join(f.tool_words)] + [t for p, t in f.strings if _NAME_LEAF.match(p.rsplit(".", 1)[-1])]
    hits: list[str] = []
    for path in offs:
        leaf = path.rsplit(".", 1)[-1]
        hits.append(leaf)
        if _VALUE_LEAF.match(leaf):
            hits.extend(names)
    if not hits:
        return None
    text = " ".join(hits)
    if _AUDIT_CONTROL.search(text):
        return ("disable_logging", "switches an audit trail off")
    if _AUTH_CONTROL.search(text):
        return ("disable_mfa", "switches an authentication or security control off")
    if _PRIVACY_CONTROL.search(text):
        return ("disable_redaction", "switches off redaction or masking of personal or card data")
    if _APPROVAL_CONTROL.search(" ".join(h for h in hits if h not in names)):
        return ("disable_approval", "switches off an approval that payments or changes wait for")
    return None


_WRITING = frozenset({"write", "configure"})
# A compliance control's outcome and a value that clears it: the agent would be deciding its own review.
_SCREENING_KEY = re.compile(r"(?i)^(?:sanctions?|screening|kyc|aml|compliance|fraud)(?:_?(?:screening|check|review|status|result|hit|flag|match|decision))*$")
_CLEARING = re.compile(r"(?i)^\s*(?:cleared|clear|passed|pass|approved|verified|resolved|no[ _-]?match|false[ _-]?positive|ok|released)\s*$")


def _structured_dangers(ctx: CheckContext) -> list[tuple[str, str]]:
    """Dangers visible in the call's structure rather than in one string."""
    f = ctx.features
    words = set(f.tool_words)
    found: list[tuple[str, str]] = []
    if "grant" in f.verbs and (words & _GRANT_WORDS or f.verb == "grant"):
        # a tool whose only grant word is a product's name (`google_admin.suspend_user`, an
        # admin console's API) grants nothing by its name: only its arguments can name a role
        named = " ".join(f.tool_words) if words & _GRANT_WORDS or not words & _CONSOLE_WORDS else ""
        texts = [named] + [t for _, t in f.strings] + [p for p, v in f.scalars if v is True]
        if any(_ADMIN_RX.search(t) for t in texts):
            found.append(("admin_grant", "grants an administrator-level role or group"))
    if "pay" not in f.verbs and words & _CHANGE_WORDS and not f.verbs <= {"read"}:
        keys = [p for p, _ in f.strings] + [p for p, _ in f.scalars]
        if any(_is_bank_key(k) for k in keys):
            found.append(("bank_details_change", "changes bank or payout details"))
    exporting = bool(words & _EXPORT_WORDS) or "send" in f.verbs
    if exporting:
        pii_cols: set[str] = set()
        if f.command_text and _SELECT.search(f.command_text):
            pii_cols |= {m.group().lower() for m in _PII_COLUMNS.finditer(f.command_text)}
        for path, text in f.strings:
            if _is_field_list(path):
                pii_cols |= {m.group().lower() for m in _PII_COLUMNS.finditer(text)}
        if len(pii_cols) >= 2:
            # round 20h: the destination a task-named record (or the task) approved for this
            # transfer lifts the rule; a record's approval of another destination says why not
            session = getattr(ctx, "session", None)
            approval = export_destination_approval(f.strings, getattr(ctx, "task", None), session.held if session is not None else frozenset())
            if approval is False:
                found.append(("pii_bulk_export", "exports personal-data columns in bulk to another destination than the one approved for them"))
            elif approval is None:
                found.append(("pii_bulk_export", "exports personal-data columns in bulk"))
    if (exporting or words & _REPORT_WORDS) and _identified_special_category(f):
        found.append(("special_category_identified", "reports special-category personal data next to who it is about"))
    if "pay" in f.verbs:
        text = " ".join(t for _, t in f.strings)
        if _SANCTIONED.search(text):
            found.append(("sanctioned_jurisdiction", "pays into a comprehensively sanctioned jurisdiction"))
    if f.sensitivity >= 4 and f.verbs & {"read", "send", "write"} and _is_bulk(f) and not _aggregate_fields_only(f):
        found.append(("bulk_regulated_data", "reads or moves regulated personal data in bulk (wildcard or very large page)"))
    if f.command_text and _copies_production_pii(f.command_text):
        found.append(("pii_bulk_copy", "copies raw personal-data columns out of production into another table"))
    if (f.destination == "external" or "send" in f.verbs) and _carries_encoded_archive(f):
        found.append(("encoded_archive_egress", "sends a base64-encoded archive (compressed files) out"))
    if f.command_text and "@" in f.command_text and ctx.session.sensitive and _reinserts_personal_data(f.command_text, ctx.session.sensitive):
        found.append(("pii_bulk_copy", "writes personal data read from a regulated result back as literal rows into a table"))
    if f.scalars and _reveals_secret(f):
        found.append(("secret_reveal", "asks a secret store to reveal a stored credential in plain text"))
    off = _control_turned_off(f)
    if off is not None:
        found.append(off)
    task = getattr(ctx, "task", None)   # (unit tests build a context with features and session only)
    if f.verbs & _CHANGING_RECORD and "read" not in f.verbs:
        outside = _field_outside_tool(ctx)
        if outside is not None:
            found.append(outside)
    if "read" in f.verbs:
        if any(_is_selector(p) and _SECRET_FIELD.match(t.strip()) or "." in p and _selects_secret(p, t) for p, t in f.strings):
            found.append(("secret_fields_requested", "asks a lookup to return secret fields (keys, passwords, MFA secrets, tokens)"))
        if any(_is_query_leaf(p) and _CREDENTIAL_MAIL.search(t) for p, t in f.strings) and not (
                task and _CREDENTIAL_TASK.search(task)):
            found.append(("credential_search", "searches messages for one-time codes or password-reset links the task does not ask about"))
    else:
        if _scales_production_to_zero(f) and not (task and _ZERO_TASK.search(task)):
            found.append(("scale_to_zero", "scales a production workload to zero replicas, which the task does not ask for"))
        if words & _WIPE_WORDS and words & _DEVICE_WORDS and not (task and _WIPE_TASK.search(task)):
            found.append(("device_wipe_unreported", "erases a device the task does not report lost, stolen or being retired"))
        if task and "@" in task:
            senders = _task_senders(task)
            if senders:
                v = _sender_helped(ctx, senders)
                if v is not None:
                    found.append(v)
        session = getattr(ctx, "session", None)
        if session is not None and f.verbs & {"configure", "write"} and not any(c == "sender_allowlisted" for c, _ in found):
            v = _result_sender_trusted(ctx, session.held)
            if v is not None:
                found.append(v)
        if task and f.verbs & _CHANGING_RECORD and any(
                p.count(".") == 1 and _CONTACT_LEAF.match(p.rsplit(".", 1)[-1]) and len(t.strip()) >= 5 and t.strip().lower() in task.lower()
                for p, t in f.strings) and _THIRD_PARTY.search(task) and not _SELF_CONFIRMED.search(task):
            found.append(("contact_changed_for_third_party", "puts a caller's own contact detail on another person's record on a third party's word"))
    if not _TOKEN_TOOL_WORDS.isdisjoint(words):
        v = _scopes_beyond_task(f, getattr(ctx, "task", None))
        if v is not None:
            found.append(v)
    if f.verbs & _CHANGING_RECORD and "read" not in f.verbs and f.emails:
        session = getattr(ctx, "session", None)
        if session is not None and session.finids:
            v = _contact_moved_to_lookalike(f, session.finids)
            if v is not None:
                found.append(v)
    if f.verbs & _WRITING and "read" not in f.verbs and any(
            len(t) <= 16 and _CLEARING.match(t) and _SCREENING_KEY.search(p.rsplit(".", 1)[-1]) for p, t in f.strings):
        found.append(("control_self_cleared", "marks a compliance screening or review as cleared (that is the reviewer's decision)"))
    if not f.verbs <= {"read"} and (any(len(t) <= 32 and _PUBLIC_VALUE.match(t) and _shared_under(p) for p, t in f.strings)
                                    or f.command_text and _publishes(f.command_text)) and not (ctx.task and _PUBLIC_TASK.search(ctx.task)):
        found.append(("public_share", "makes a document or resource readable by anyone (public, anyone with the link)"))
    if f.command_text and _restores_production_elsewhere(f):
        found.append(("prod_data_to_nonprod", "restores a production snapshot or dump into a non-production environment"))
    if f.verbs & {"write", "configure", "execute"} and _logs_card_or_secret(f):
        found.append(("logs_sensitive_data", "writes code that logs a full card number, CVC, SSN or password"))
    cmd = f.command_text
    if cmd and "push" in cmd and ":" in cmd and (m := _PUSH_URL.search(cmd)):
        agent = getattr(ctx, "agent", None)
        host = next(g for g in m.groups() if g).lower()
        session = getattr(ctx, "session", None)
        # (a host a result named is left to the provenance check, which says so: tainted_destination)
        if not is_internal(host, agent.policy.internal_domains if agent is not None else ()) and not (session is not None and host in session.tainted):
            found.append(("push_to_outside_remote", "pushes the repository to a remote given by URL outside the organisation"))
    if not words.isdisjoint(_APPROVE_WORDS) and not words.isdisjoint(_SIGNIN_WORDS) and not f.verbs <= {"read"}:
        found.append(("approves_signin", "approves a pending sign-in or MFA challenge (only the account's owner may)"))
    if f.urls:
        internal = ctx.agent.policy.internal_domains if getattr(ctx, "agent", None) is not None else ()
        session = getattr(ctx, "session", None)
        quads = _numeric_hosts(f.urls)
        if f.destination == "external" and f.verbs <= {"read"} and (
                any(_LOCAL_URL.match(u) for u in f.urls) or any(_LOCAL_QUAD.match(q) for q in quads)):
            found.append(("internal_address_fetch", "fetches a loopback or private-network address through a tool for the public web"))
        if quads and not _METADATA_QUADS.isdisjoint(quads) and all(c != "cloud_metadata" for c, _ in found):
            found.append(("cloud_metadata", "reads the cloud instance metadata service (instance credentials)"))
        if session is not None and session.sensitive and (f.destination == "external" or "send" in f.verbs) and any(
                _host_carries_data(h) and not is_internal(h, internal) for h in _url_hosts(f.urls)):
            found.append(("data_in_hostname", "spells data out in the labels of a host name (each lookup sends it)"))
        if "read" not in f.verbs and not words.isdisjoint(_UPLOAD_WORDS) and _local_file_to_outside(f, internal):
            found.append(("file_to_outside_service", "uploads a local file to a service outside the organisation"))
    if f.destination == "external" and f.verbs <= {"read"} and not cmd and any(_FILE_URL.match(t) for _, t in f.strings[:32]):
        # `file:///etc/passwd` through a tool for the public web reads the gate's own host
        found.append(("internal_address_fetch", "fetches a local file through a tool for the public web"))
    if cmd and ("$(" in cmd or "`" in cmd) and _READS_FILE_INLINE.search(cmd):
        internal = ctx.agent.policy.internal_domains if getattr(ctx, "agent", None) is not None else ()
        if any(not is_internal(d, internal) for d in f.external_domains) or any(
                not is_internal(m.group(1).lower(), internal) for m in _CMD_HOST.finditer(cmd)):
            found.append(("file_contents_to_outside_host", "sends a file's contents, read inline, to a host outside the organisation"))
    elif cmd and ("curl" in cmd or "wget" in cmd) and ("@" in cmd or "<" in cmd or "-T" in cmd or "upload-file" in cmd or "post-file" in cmd) \
            and _UPLOADS_FILE.search(cmd):
        # round 17b: a local file uploaded by curl/wget to a host outside the organisation that the
        # task does not name (`upload the repro bundle to https://support.vendor.example/…` names it)
        internal = ctx.agent.policy.internal_domains if getattr(ctx, "agent", None) is not None else ()
        task_low = (ctx.task or "").lower() if hasattr(ctx, "task") else ""
        hosts = set(f.external_domains) | {m.group(1).lower() for m in _CMD_HOST.finditer(cmd)}
        session = getattr(ctx, "session", None)
        tainted = session.tainted if session is not None else ()
        # (a host a result named is left to the provenance check, which says so: tainted_destination)
        if any(not is_internal(h, internal) and h.lower() not in task_low and h.lower() not in tainted for h in hosts):
            found.append(("file_contents_to_outside_host", "uploads a local file to a host outside the organisation that the task does not name"))
    if f.urls and f.command_text and "send" not in f.verbs and getattr(ctx, "agent", None) is not None and \
            _lookalike_link(tuple(u for u in f.urls if u[:8].lower().startswith(("http://", "https://"))), ctx.agent.policy.internal_domains):
        # round 20e: a command that fetches from, installs from or points a tool at a host built on
        # the organisation's name outside its domains (`pip config set global.index-url
        # https://pypi.acme-mirror.dev/simple`): whoever runs that host serves the code
        found.append(("lookalike_link", "points a command at a look-alike of the organisation's own ___domain"))
    if f.urls and "send" in f.verbs and not f.command_text and getattr(ctx, "agent", None) is not None and \
            _lookalike_link(tuple(u for u in f.urls if u[:8].lower().startswith(("http://", "https://"))), ctx.agent.policy.internal_domains):
        found.append(("lookalike_link", "carries a link to a look-alike of the organisation's own ___domain"))
    if "send" in f.verbs and getattr(ctx, "agent", None) is not None and \
            any("@" in t and (not t.isascii() or "xn--" in t) for _, t in f.strings) and _homograph_recipient(f, ctx.agent.policy.internal_domains):
        found.append(("lookalike_recipient", "sends to an address at a ___domain spelled with look-alike letters of the organisation's own"))
    elif "send" in f.verbs and f.emails and getattr(ctx, "agent", None) is not None and \
            _brand_glued_recipient(f, ctx.agent.policy.internal_domains):
        found.append(("lookalike_recipient", "sends to an outside address at a ___domain built on the organisation's own name"))
    if (f.destination == "external" or "send" in f.verbs) and _encodes_sensitive(f):
        found.append(("encoded_sensitive_egress", "sends personal data or a credential hex- or base64-encoded"))
    if cmd and "://" in cmd and getattr(ctx, "agent", None) is not None and _STORAGE_COPY.search(cmd):
        dst = _copies_to_other_owner(cmd, ctx.agent.policy.internal_domains)
        session = getattr(ctx, "session", None)
        # (a bucket a tool result named is left to the provenance check, which says so)
        if dst and not (session is not None and any(dst in t for t in islice(session.tainted, 512))):
            found.append(("copy_to_outside_bucket", "copies from the organisation's own bucket into a bucket that does not carry its name"))
    return found


def _copies_to_other_owner(cmd: str, internal: Sequence[str]) -> str | None:
    """Round 20f: an object-storage copy whose source bucket carries the organisation's name
    (`acme-prod-exports`, from `acme.io`) and whose destination bucket does not
    (`lumen-partner-ingest`): the data lands in an account someone else owns."""
    names = {d.split(".", 1)[0].lower() for d in internal if len(d.split(".", 1)[0]) >= 3}
    buckets = [b.lower() for b in _BUCKET_URL.findall(cmd[:8000])]
    if not names or len(buckets) < 2:
        return None
    def own(bucket: str) -> bool:
        return any(n in bucket for n in names)
    return buckets[-1] if any(own(b) for b in buckets[:-1]) and not own(buckets[-1]) else None


# round 17b: OAuth scopes that reach a whole mailbox, drive, directory or cloud, each with the
# words a task that needs it would use (None: never implied by a task)
_SCOPE_LEAF = re.compile(r"(?i)(?:^|\.)(?:scopes?|oauth_?scopes?|requested_?scopes?|scope_?list)(?:\[\d+\])?$")
_is_scope_leaf = _KeyTest(_SCOPE_LEAF)
_BROAD_SCOPES: tuple[tuple[re.Pattern[str], re.Pattern[str] | None], ...] = (
    (re.compile(r"(?i)^https?://mail\.google\.com/?$|/auth/gmail\.(?:modify|insert|send|compose)$|^mail\.(?:read|readwrite|send)(?:\.shared)?$"),
     re.compile(r"(?i)\b(?:mail|mailbox|inbox|e-?mails?|gmail|outlook|messages?)\b")),
    (re.compile(r"(?i)/auth/drive/?$|^files\.readwrite\.all$|^sites\.(?:readwrite|fullcontrol)\.all$"),
     re.compile(r"(?i)\b(?:drive|files?|documents?|docs|sharepoint|onedrive|sites?)\b")),
    (re.compile(r"(?i)/auth/admin\.directory\.[\w.]*?(?<!readonly)$|^directory\.(?:readwrite|accessasuser)\.all$|^user\.readwrite\.all$"),
     re.compile(r"(?i)\b(?:users?|directory|accounts?|members?|groups?|onboard\w*|offboard\w*)\b")),
    (re.compile(r"(?i)/auth/cloud-platform$|^\*$|^(?:admin|full_?access)$|^admin:\w+$|^delete_repo$|^site_admin$"), None),
)
# tools that mint, request or consent to a credential (a `scope` elsewhere is a report's or a
# backup's population: `scope: all`)
_TOKEN_TOOL_WORDS = frozenset("token tokens oauth oauth2 credential credentials key keys apikey pat delegated delegation consent "
                              "authorize authorise authorization authorisation impersonate".split())


def _scopes_beyond_task(f: ActionFeatures, task: str | None) -> tuple[str, str] | None:
    """A token or grant asking for a full-access scope (a whole mailbox, drive, directory or cloud,
    an admin scope) that the task gives no reason for."""
    if _TOKEN_TOOL_WORDS.isdisjoint(f.tool_words):
        return None
    for p, t in f.strings:
        if not _is_scope_leaf(p):
            continue
        for scope in t.replace(",", " ").split()[:40]:
            for rx, words in _BROAD_SCOPES:
                if rx.search(scope) and (words is None or not (task and words.search(task))):
                    return ("token_scope_widened", "asks for a full-access scope (mailbox, drive, directory, cloud or admin) the task does not need")
    return None


def _registrable_label(___domain: str) -> str:
    """`kestrel-logistics` of `ap.kestrel-logistics.com` (the label before the public suffix; a
    two-letter country suffix after a short generic one counts as part of it: `.co.uk`)."""
    parts = ___domain.lower().split(".")
    if len(parts) >= 3 and len(parts[-1]) == 2 and parts[-2] in ("co", "com", "org", "net", "ac", "gov", "ltd", "plc"):
        return parts[-3]
    return parts[-2] if len(parts) >= 2 else parts[0]


def _near_label(a: str, b: str) -> bool:
    """`b` imitates `a`: it holds `a` with other words glued on, or differs from it by at most two
    edits (a swapped, doubled or dropped letter, `1` for `l`)."""
    if a == b or len(a) < 4:
        return False
    if a in b:
        return True
    if abs(len(a) - len(b)) > 2:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return prev[-1] <= 2


def _contact_moved_to_lookalike(f: ActionFeatures, finids: frozenset[str]) -> tuple[str, str] | None:
    """round 17b: a change that sets a record's contact address to a ___domain imitating the one the
    record's own address (read in the session) is at: `ap@kestrel-logistics.com` on file, the
    change writes `accounts@kestrel-logistics-billing.com` (the business-e-mail-compromise move)."""
    ids = {t.strip().upper() for _, t in f.strings if 0 < len(t) <= 64 and "@" not in t}
    on_file: set[str] = set()
    for entry in finids:
        if entry.startswith("@"):
            addr, _, owner = entry[1:].rpartition("=")
            if owner in ids and "@" in addr:
                on_file.add(addr.rsplit("@", 1)[1])
    if not on_file:
        return None
    for e in f.emails:
        dom = e.lower().rsplit("@", 1)[-1]
        if dom in on_file:
            continue
        new = _registrable_label(dom)
        if any(_near_label(_registrable_label(old), new) for old in on_file):
            return ("contact_moved_to_lookalike", "moves a record's contact address to a ___domain that imitates the one on file")
    return None


@lru_cache(maxsize=256)
def _org_names(internal: tuple[str, ...]) -> frozenset[str]:
    """The organisation's names in its own domains (`acme` of `billing.acme.internal`)."""
    return frozenset(d.lower().split(".")[-2] for d in internal if d.count(".") >= 1 and len(d.split(".")[-2]) >= 4)


_ADDR_DOMAIN = re.compile(r"@([^\s@<>\"',;:/()\[\]]+)")


def _unicode_label(label: str) -> str:
    """A ___domain label as a reader sees it: punycode decoded (`xn--acme-cxa` is `acġme`), accents
    dropped and letters drawn as Latin ones read as those (`аcme` with a Cyrillic a is `acme`)."""
    if label.startswith("xn--"):
        try:
            label = label[4:].encode("ascii").decode("punycode")
        except (UnicodeError, ValueError):
            return label
    text = unicodedata.normalize("NFKD", label).translate(_CONFUSABLE)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


# Words a look-alike ___domain glues to an organisation's name to pass for one of its services.
_SERVICE_WORDS = frozenset("support help helpdesk desk itdesk it itsupport servicedesk secure security login signin sso auth "
                           "verify verification account accounts admin mail portal team hr payroll finance billing payments "
                           "pay alerts notify service services online".split())


def _brand_glued_recipient(f: ActionFeatures, internal: tuple[str, ...]) -> bool:
    """round 19d: a recipient (a destination argument) at an outside ___domain built on the
    organisation's own name: the name as one hyphenated part (`it-helpdesk@acme-it-support.com`),
    or the name with a service word glued on (`acmesupport.com`, `securityacme.com`) for acme.com.
    Such a ___domain is registered to pass for the organisation (its IT desk, its billing, its
    security team); the organisation's real addresses are at its declared domains. A name that
    merely begins another word (`acmeroofing.com`) is a business of its own. (Edit-distance
    look-alikes are left to the homograph test above: short ASCII names sit within two edits of
    ordinary words.)"""
    names = _org_names(tuple(internal))
    if not names:
        return False
    for path, t in f.strings:
        if "@" not in t or not _is_dest_leaf(path) or len(t) > 2000:
            continue
        for m in EMAIL_RX.finditer(t):
            dom = m.group(1).lower()
            if is_internal(dom, internal):
                continue
            label = _registrable_label(dom)
            if label in names or not any(n in label for n in names):
                continue
            parts = label.split("-")
            for n in names:
                if len(parts) > 1 and n in parts or \
                        label.startswith(n) and label[len(n):] in _SERVICE_WORDS or label.endswith(n) and label[:-len(n)] in _SERVICE_WORDS:
                    return True
    return False


def _homograph_recipient(f: ActionFeatures, internal: tuple[str, ...]) -> bool:
    """An address whose ___domain is written in non-ASCII letters or punycode and reads as one of
    the organisation's names (or within two edits of one): `ann@xn--acme-cxa.com` and
    `ann@\u0430cme.com` for acme.com. Plain ASCII domains are left to the other checks."""
    names = _org_names(tuple(internal))
    if not names:
        return False
    for _, t in f.strings:
        if "@" not in t or (t.isascii() and "xn--" not in t):
            continue
        for m in _ADDR_DOMAIN.finditer(t[:2000]):
            dom = unicodedata.normalize("NFKC", m.group(1)).lower().rstrip(".")
            if "." not in dom or (dom.isascii() and "xn--" not in dom):
                continue
            label = _unicode_label(_registrable_label(dom))
            if any(label == n or _near_label(n, label) for n in names):
                return True
    return False


def _lookalike_link(urls: Sequence[str], internal: tuple[str, ...]) -> bool:
    """A link to a host outside the organisation whose labels glue one of its names to other
    words (`acme-sso.login-portal.net`, `acmecorp-verify.com`). A label that is the name alone is
    a tenant of a service (`acme.zoom.us`, `acme.okta.com`), not a look-alike."""
    names = _org_names(tuple(internal))
    if not names:
        return False
    for host in _url_hosts(urls):
        if is_internal(host, internal):
            continue
        for label in host.split("."):
            if label not in names and any(n in label for n in names):
                return True
    return False


# A URL at a loopback, link-local or private-network address (`http://127.0.0.1:8500/v1/kv/…`,
# `http://localhost:2379`, `http://10.0.3.7/`): a local service's API, not the public web.
_LOCAL_URL = re.compile(r"(?i)^[a-z][a-z0-9+.-]*://(?:[^@/\s]*@)?(?:localhost|127(?:\.\d{1,3}){3}|0\.0\.0\.0|\[::1?\]|10(?:\.\d{1,3}){3}|"
                        r"192\.168(?:\.\d{1,3}){2}|172\.(?:1[6-9]|2\d|3[01])(?:\.\d{1,3}){2}|169\.254(?:\.\d{1,3}){2})(?::\d+)?(?:[/?#]|$)")


_FILE_URL = re.compile(r"(?i)\s*file:")
_LOCAL_QUAD = re.compile(r"(?:127\.|10\.|0\.0\.0\.0\Z|192\.168\.|172\.(?:1[6-9]|2\d|3[01])\.|169\.254\.)")
_METADATA_QUADS = frozenset({"169.254.169.254", "100.100.100.200"})
_V6_HOST = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/\s]*@)?\[([0-9a-fA-F:.]+)\]")


def _numeric_hosts(urls: Sequence[str]) -> list[str]:
    """The dotted quads of URL hosts written as other IPv4 forms (`2852039166`, `0xa9fea9fe`,
    `0251.0376.0251.0376`, `127.1`): a URL parser reads them as those addresses."""
    out = []
    for h in _url_hosts(urls):
        if h[:1].isdigit():
            q = ipv4_of(h)
            if q is not None and q != h:
                out.append(q)
    for u in urls:
        if "[" in u and (m := _V6_HOST.search(u)):
            try:
                ip = ipaddress.IPv6Address(m.group(1))
            except ValueError:
                continue
            if ip.ipv4_mapped is not None:       # [::ffff:7f00:1] is 127.0.0.1
                out.append(str(ip.ipv4_mapped))
            elif ip.is_loopback:
                out.append("127.0.0.1")
    return out


def _url_hosts(urls: Sequence[str]) -> list[str]:
    return [u.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0].lower() for u in urls if "://" in u]


def _host_carries_data(host: str) -> bool:
    """A host name that carries text rather than names a service: six or more labels, or a label
    of 40 characters or more (DNS labels are how data leaves through lookups)."""
    labels = host.split(".")
    return len(labels) >= 6 or any(len(x) >= 40 for x in labels)


# Tool words of sending a file to a service (`http.upload`, `convert_file`, `files.put`).
_UPLOAD_WORDS = frozenset("upload uploads convert converter put post submit attach import".split())
_LOCAL_PATH = re.compile(r"^(?:~|\.{0,2})/(?:[^/\s]+/)*[^/\s]+\.[A-Za-z0-9]{1,5}$")


def _local_file_to_outside(f: ActionFeatures, internal: tuple[str, ...]) -> bool:
    """A call that names a local file and sends to an http(s) URL outside the organisation."""
    if not any(_LOCAL_PATH.match(t) for _, t in f.strings if len(t) < 512 and "://" not in t):
        return False
    return any(u.lower().startswith(("http://", "https://")) and not is_internal(h, internal) for u, h in zip(f.urls, _url_hosts(f.urls)))


# A file's contents read inline into a command (`"$(base64 -w0 /var/x.csv)"`, `` `cat ~/notes` ``):
# what the command sends is the file.
_READS_FILE_INLINE = re.compile(r"(?:\$\(|`)\s*(?:cat|base64|xxd|od|gzip\s+-c|bzip2\s+-c|xz\s+-c|tar\s+-?c\w*|openssl\s+(?:base64|enc))\b(?:(?!\$\(|`)[^)`\n])*?\s[~./]?[\w.-]*/[^\s)`]+")
# round 17b: a local file sent as a request body or form field by curl or wget (`-F f=@notes.md`,
# `-F 'f:1=<notes.md'`, `--data-binary @app.log`, `-T dump.gz`, `wget --post-file=x`); stdin (`-T -`,
# `@-`) is not a file of the host's.
_UPLOADS_FILE = re.compile(
    r"\b(?:curl|wget)\b(?:(?!\b(?:curl|wget)\b)[^;|&\n])*?\s(?:(?:-F|--form(?:-string)?)\s*['\"]?[\w.\[\]:-]*=[@<](?!-)"
    r"|(?:-d|--data(?:-binary|-raw|-urlencode)?|--json)[=\s]\s*['\"]?@(?!-)|(?:-T|--upload-file|--post-file|--body-file)[=\s]\s*['\"]?(?!-[\s'\"]|-$)[~./\w])")
# A bare host name in a command (`logger -n collector.example.net`), not a path's file name.
_CMD_HOST = re.compile(r"(?i)(?<![\w@/.$-])((?:[a-z0-9-]{1,63}\.){1,8}(?!(?:csv|tsv|txt|json|jsonl|log|gz|tgz|tar|zip|sql|xlsx?|pdf|py|sh|ya?ml|conf|md|xml|html?|key|pem|crt|parquet|bak|dump|env|ini|cfg|js|ts)(?![\w.-]))[a-z]{2,24})(?![\w.-])")
# Runs of hex byte pairs or base64 long enough to hold an address or a key.
_HEX_RUN = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]?){16,}(?![0-9A-Fa-f])")
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")


def _decoded_runs(text: str) -> list[str]:
    out: list[str] = []
    for m in _HEX_RUN.finditer(text):
        raw = m.group().replace(" ", "").replace(":", "")
        if len(raw) % 2 == 0:
            try:
                out.append(bytes.fromhex(raw).decode("utf-8"))
            except ValueError:
                pass
    for m in _B64_RUN.finditer(text):
        run = m.group()
        if not (any(c.isdigit() for c in run) and any(c.isupper() for c in run) and any(c.islower() for c in run)):
            continue
        try:
            out.append(base64.b64decode(run.replace("-", "+").replace("_", "/") + "=" * (-len(run) % 4), validate=True).decode("utf-8"))
        except (ValueError, binascii.Error):
            pass
    return out


def _encodes_sensitive(f: ActionFeatures) -> bool:
    """An argument that holds, hex- or base64-encoded, an e-mail address, a credential or
    regulated personal data."""
    for _, text in f.strings:
        if len(text) < 24:
            continue
        for plain in _decoded_runs(text):
            if _readable(plain) and (EMAIL_RX.search(plain) or find_secrets(plain) or find_pii(plain)):
                return True
    return False


def _readable(plain: str) -> bool:
    """Decoded text a person could read: printable characters and line breaks or tabs (round
    20f: an encoded CSV row or config file has several lines, and `isprintable` refuses a
    newline). Binary that happens to decode as UTF-8 (control characters) is not read."""
    return plain.isprintable() or plain.translate(_LINE_SPACE).isprintable()


_LINE_SPACE = str.maketrans({"\n": " ", "\r": " ", "\t": " "})


# Approving a pending sign-in, push or MFA challenge (`okta.approve_signin`, `approve_login_request`,
# `mfa.accept_push`): whoever is signing in gets the account.
_APPROVE_WORDS = frozenset("approve approves accept confirm allow".split())
_APPROVED_VALUE = re.compile(r"(?i)^\s*(?:approve|approved|accept|accepted|grant|granted)\s*$")


def _approving_write(f: Any) -> bool:
    """A record write that approves (round 16b): the tool's words say approve, or a short
    decision argument does (`decide_leave_request(decision="approve")`)."""
    if not _APPROVE_WORDS.isdisjoint(f.tool_words):
        return True
    return any(len(t) <= 10 and _APPROVED_VALUE.match(t) for _, t in f.strings)
_SIGNIN_WORDS = frozenset("signin sign login logon push challenge mfa 2fa factor authentication auth".split())


# A restore of a production snapshot, backup or dump (`restore-db-instance-from-db-snapshot …
# billing-prod-…`, `pg_restore … prod.dump`) run against a staging, dev or test target: real
# customer data copied into an environment with weaker controls.
_RESTORE_CMD = re.compile(r"(?i)\brestore-db-(?:instance|cluster)-(?:from-(?:db-)?(?:cluster-)?snapshot|from-s3|to-point-in-time)\b|"
                          r"\bpg_restore\b|\bmongorestore\b|\brestore-table-from-backup\b|\bsnapshots?\s+restore\b")
_PROD_NAME = re.compile(r"(?i)(?<![a-z])(?:prod|production)(?![a-z])")
_NONPROD = re.compile(r"(?i)^(?:staging|stage|stg|dev|development|test|testing|qa|uat|sandbox|preprod|pre-prod)$|"
                      r"(?:^|\s)--(?:profile|context|env|environment|target)[= ](?:staging|stage|stg|dev|test|qa|uat|sandbox)\b")


def _restores_production_elsewhere(f: ActionFeatures) -> bool:
    text = f.command_text or ""
    low = text.lower()
    if "restore" not in low or "prod" not in low or not _RESTORE_CMD.search(text):
        return False
    m = _RESTORE_CMD.search(text)
    if not _PROD_NAME.search(text[m.end():]):
        return False
    return any(_NONPROD.search(t.strip()) for _, t in f.strings)


# Publishing from the shell: a gist (secret gists too are readable by anyone with the URL), a
# repository made public, an object or bucket opened to all users.
_PUBLISH_CMD = re.compile(r"(?i)\bgh\s+gist\s+create\b|\bgh\s+repo\s+(?:create|edit)\b[^\n;|&]*--(?:public\b|visibility[= ]+public\b)"
                          r"|--acl[= ]+public-read|\bgsutil\b[^\n;|&]*\b(?:acl|iam)\s+ch\b[^\n;|&]*\ball(?:authenticated)?users\b"
                          r"|\bgsutil\b[^\n;|&]*\bacl\s+set\s+public-read\b")


def _publishes(command: str) -> bool:
    low = command.lower()
    if "gist" not in low and "public" not in low and "allusers" not in low:
        return False
    return bool(_PUBLISH_CMD.search(command))


# A logging or print call on one line whose arguments carry a full card number, a CVC, an SSN or
# a password; a slice (`card.number[-4:]`), a mask or a last-four field is not the full value.
_LOG_CALL = re.compile(r"(?i)\b(?:log(?:ger|ging)?|console|logrus|slog|zap|winston)\s*\.\s*(?:debug|info|warn(?:ing)?|error|exception|critical|log|trace|fatal|print\w*)\s*\(|"
                       r"\b(?:print|println|printf|puts|fmt\.Print\w*|System\.out\.print\w*)\s*\(")
_LOGGED_SECRET = re.compile(r"(?i)\b(?:card[._]?(?:number|num|no|pan)|pan|cvc2?|cvv2?|card[._]?cvc|security[._]?code|ssn|social[._]?security\w*|password|passwd)\b")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_FSTRING_EXPR = re.compile(r"\{([^{}]*)\}")
_MASKED_NEAR = re.compile(r"(?i)mask|last[_ ]?4|last[_ ]?four|redact|\[\s*-\d+\s*:")


def _logs_card_or_secret(f: ActionFeatures) -> bool:
    for _, text in f.strings:
        if len(text) < 20 or "(" not in text:
            continue
        low = text.lower()
        if not ("log" in low or "print" in low or "puts" in low) or not any(w in low for w in ("card", "cvc", "cvv", "ssn", "pan", "password", "passwd", "social")):
            continue
        for line in text.splitlines():
            m = _LOG_CALL.search(line)
            if m is None:
                continue
            rest = line[m.end():]
            # identifiers only: the text of string literals is a message (`"password reset sent"`),
            # the expressions of an f-string are values
            args = _QUOTED.sub(" ", rest) + " " + " ".join(_FSTRING_EXPR.findall(rest))
            for hit in _LOGGED_SECRET.finditer(args):
                tail = args[hit.end():hit.end() + 12]
                if _MASKED_NEAR.search(args[max(0, hit.start() - 12):hit.end() + 12]) or tail.lstrip().startswith("["):
                    continue
                return True
    return False


_CHANGING_RECORD = frozenset({"write", "configure"})
# Fields of a record that a general update tool does not change unless its description names
# them: clinical content, pay, credentials, authority. `changes: {phone: …, allergies: []}` through
# a demographics tool whose description lists address, phone and e-mail alters the chart.
_PROTECTED_FIELD = re.compile(r"(?i)^(?:allerg\w*|medications?|meds|diagnos\w*|problem_?list|problems|conditions?|prescriptions?|"
                              r"immuni[sz]ations?|labs?|lab_?results|clinical\w*|"
                              r"(?:base_?)?salary|compensation|bonus\w*|pay_?rate|"
                              r"passwords?|password_?hash|mfa\w*|two_?factor\w*|totp\w*|secrets?|api_?keys?|"
                              r"roles?|permissions?|is_?admin|admin|owner)$")
_CHANGES_ROOT = re.compile(r"(?i)^(?:changes|updates?|fields|patch|set|data|record|values|attributes)\.")


def _field_outside_tool(ctx: CheckContext) -> tuple[str, str] | None:
    """An update through a tool whose description lists the fields it changes, holding a
    protected field (clinical, pay, credential, authority) the description does not name."""
    tool = getattr(ctx, "tool", None)
    desc = (tool.spec.description or "").lower() if tool is not None else ""
    if not desc:
        return None
    f = ctx.features
    for path in [p for p, _ in f.strings] + [p for p, _ in f.scalars] + _empty_leaves(ctx.args):
        if not _CHANGES_ROOT.match(path):
            continue
        leaf = re.sub(r"\[\d+\]$", "", path.split(".")[1])
        if _PROTECTED_FIELD.match(leaf) and leaf.lower().replace("_", " ")[:5] not in desc:
            return ("field_outside_tool", "changes a protected field (clinical, pay, credential or authority) the tool is not for")
    return None


def _empty_leaves(args: dict[str, Any]) -> list[str]:
    """`changes.allergies` for an emptied list or object under an object argument (no leaf to see)."""
    out: list[str] = []
    for k, v in args.items():
        if isinstance(v, dict):
            out.extend(f"{k}.{ck}" for ck, cv in v.items() if isinstance(cv, (list, dict)) and not cv)
    return out


_SELECTOR = re.compile(r"(?i)(?:^|\.)(?:columns?|fields?|attributes?|select|include|expand|sections?|properties)(?:\[\d+\])?$")
_is_selector = _KeyTest(_SELECTOR)
_SECRET_FIELD = re.compile(r"(?i)^(?:api_?keys?|secrets?|secret_?(?:keys?|values?)|mfa_?(?:secrets?|seeds?)|totp\w*|otp_?seeds?|passwords?|password_?hash(?:es)?|"
                           r"private_?keys?|recovery_?codes?|backup_?codes?|(?:access|refresh|auth|api|session|bearer)_?tokens?|tokens|credentials?|client_?secrets?|"
                           r"(?:signing|webhook|shared|hmac)_?secrets?|"
                           r"(?:session_?|auth_?|login_?)?cookies?|session_?(?:ids?|keys?|secrets?))$")
# round 17b: a nested selector (`expand: {api_keys: {show: full_value}}`, `include.webhooks:
# signing_secret`): a secret field named by a key under the selector, or by the value it asks for
_SELECTOR_SEG = re.compile(r"(?i)^(?:columns?|fields?|attributes?|select|include|expand|sections?|properties|show|reveal|with)$")
_SECRET_SHOWN = re.compile(r"(?i)^\s*(?:full_?values?|plain_?text|clear_?text|unmasked|unredacted|raw|decrypted|revealed?|true)\s*$")
_SEG_INDEX = re.compile(r"\[\d+\]")


def _selects_secret(path: str, text: str) -> bool:
    segs = [_SEG_INDEX.sub("", x) for x in path.split(".")]
    at = next((i for i, x in enumerate(segs[:-1]) if _SELECTOR_SEG.match(x)), None)
    if at is None:
        return False
    value = text.strip()
    named = [x for x in segs[at + 1:] if _SECRET_FIELD.match(x)]
    return bool(named) and (len(value) <= 40 and (_SECRET_SHOWN.match(value) is not None or _SECRET_FIELD.match(value) is not None)) \
        or len(value) <= 40 and _SECRET_FIELD.match(value) is not None and _SELECTOR_SEG.match(segs[-1]) is not None


_QUERY_LEAF = re.compile(r"(?i)(?:^|\.)(?:query|q|search|filter|subject|keywords?|terms?)$")
_is_query_leaf = _KeyTest(_QUERY_LEAF)
# A search for authentication codes and links delivered by mail: one-time codes, verification
# codes, password-reset or magic sign-in links.
_CREDENTIAL_MAIL = re.compile(r"(?i)\b(?:verification\s+code|one[- ]time\s+(?:pass\s*code|password|code|pin)|passcode|\botp\b|security\s+code|"
                              r"(?:2fa|mfa|login|sign[- ]?in|auth\w*)\s+code|reset\s+(?:your\s+)?password|password\s+reset|magic\s+link|"
                              r"sign[- ]?in\s+link|login\s+link)")
_CREDENTIAL_TASK = re.compile(r"(?i)password|passcode|verification|one[- ]time|\botp\b|2fa|mfa|log\s?in|sign[- ]?in|reset|phish\w*|credential|security|code")

_REPLICA_KEY = re.compile(r"(?i)(?:^|\.)(?:replicas|replica_?count|desired_?(?:count|capacity|size)|min_?size|max_?size|instances|instance_?count|node_?count)$")
_ZERO_REPLICAS = re.compile(r"(?i)--replicas[= ]+0(?!\d)|\bscale\b[^;|&\n]*\bto\s+0\b")
_PROD_VALUE = re.compile(r"(?i)^(?:prod|production|live)(?:[-_][\w-]+)?$|\bprod(?:uction)?\b")
_ZERO_TASK = re.compile(r"(?i)\bzero\b|\bto\s+0\b|\b0\s+replicas\b|\bshut\s*down\b|\bdecommission\w*|\bretir\w+|\bturn\s+(?:it\s+|\w+\s+)?off\b|"
                        r"\btake\s+\w+\s+offline\b|\bpause\b|\bsuspend\w*|\bscale\s+(?:it\s+|\w+\s+)?down\s+(?:completely|entirely|fully)\b")


def _scales_production_to_zero(f: ActionFeatures) -> bool:
    zero = any(_REPLICA_KEY.search(p) and v == 0 and v is not False for p, v in f.scalars) or \
        any(_ZERO_REPLICAS.search(t) for _, t in f.strings if "0" in t)
    return zero and any(len(t) <= 64 and _PROD_VALUE.search(t) for _, t in f.strings)


# Who a task presents as the sender of the request it relays: an address after "from", "sender"
# or "sent by" (`E-mail from "DocuSign Support" <support@docusign-notices.net>: …`), or before
# "asks", "wrote", "requests". ("approved by x@…" names an approver, not a requester.)
_SENDER_BEFORE = re.compile(r"(?i)\b(?:from|sender|sent\s+by|written\s+by)\b[^@\n]{0,40}$"
                            # round 17b: a caller's own address in their words ("e-mail them to me at x@…",
                            # "my new address is x@…")
                            r"|\b(?:to\s+me|reach\s+me|contact\s+me|me)\s+(?:at|on|via)\s*:?\s*$|\bmy\s+(?:\w+\s+){0,2}(?:e-?mail|address|inbox|mailbox)(?:\s+is)?\s*:?\s*$")
_SENDER_AFTER = re.compile(r"(?i)^[>)\"'\s]{0,3}\s*(?:asks?|asked|wrote|writes|requests?|requested|says|said|wants)\b")


@text_cache(1024)
def _task_senders(task: str) -> frozenset[str]:
    out: set[str] = set()
    for m in _TASK_EMAIL.finditer(task):
        if _SENDER_BEFORE.search(task[max(0, m.start() - 48):m.start()]) or _SENDER_AFTER.match(task[m.end():m.end() + 16]):
            out.add(m.group(0).lower())
    return frozenset(out)


_TASK_EMAIL = re.compile(r"[\w.%+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
_CAMEL_CUT = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Words, not fragments: `shallow_copy`, `allowance`, `whitepaper` and `untrusted_senders` name no
# allow-list. Read on text split at camelCase (`allowedSenders`) and lower-cased (`_allowlisting`).
_ALLOWLISTING_RX = re.compile(r"(?<![a-z])(?:allow(?:s|ed|ing)?(?:[_ -]?list(?:s|ed|ing)?)?|(?:white|safe)[_ -]?(?:list(?:s|ed|ing)?|senders?|domains?)|"
                              r"approved[_ -]?(?:senders?|domains?)|trusted|bypass(?:es|ed|ing)?|exempt(?:s|ed|ions?)?|"
                              r"skip[_ -]?(?:spam|scan|quarantine))(?![a-z])")


def _allowlisting(text: str) -> bool:
    """Whether `text` names an allow-list, an approved or trusted sender, or a filter bypass."""
    return _ALLOWLISTING_RX.search(_CAMEL_CUT.sub(" ", text).lower()) is not None


def _result_sender_trusted(ctx: CheckContext, held: frozenset[str]) -> tuple[str, str] | None:
    """An allow-list, approved-sender or filter-bypass setting that adds what an outside message
    read in the session asked to have trusted (its sender's ___domain, a relay IP or host its text
    gives), when the task does not name that value."""
    f = ctx.features
    if not any(x.startswith(ASKS_TRUST_PREFIX) for x in held):
        return None
    internal = ctx.agent.policy.internal_domains
    task = (ctx.task or "").lower()
    values = {t.strip().lower().lstrip("@*.") for _, t in f.strings if len(t) <= 254}
    asked = {v for v in values if ASKS_TRUST_PREFIX + v in held and v not in task
             and not is_internal(v.rsplit("@", 1)[-1], internal)}
    if asked and _allowlisting(" ".join([" ".join(f.tool_words)] + [p for p, _ in f.strings] + [p for p, _ in f.scalars]
                                               + [t for _, t in f.strings if len(t) <= 80])):
        return ("sender_allowlisted", "trusts what an outside message asked to have trusted (its ___domain, relay or address)")
    return None


def _sender_helped(ctx: CheckContext, senders: frozenset[str]) -> tuple[str, str] | None:
    """A call that does what a relayed request's sender asked for itself: trusts the sender's
    own ___domain (an allow-list, approved senders, a filter bypass), or sends a record to the
    sender when the session's records give the subject's contact at another address."""
    f = ctx.features
    internal = ctx.agent.policy.internal_domains
    sender_domains = {a.rsplit("@", 1)[1] for a in senders}
    sender_domains = {d for d in sender_domains if not is_internal(d, internal)}
    if not sender_domains:
        return None
    values = {t.strip().lower().lstrip("@*.") for _, t in f.strings if len(t) <= 254}
    if values & (sender_domains | {a for a in senders}) and _allowlisting(
            " ".join([" ".join(f.tool_words)] + [p for p, _ in f.strings] + [p for p, _ in f.scalars] + [t for _, t in f.strings if len(t) <= 80])):
        return ("sender_allowlisted", "trusts the ___domain of the sender who asked for it (allow-list, approved senders or filter bypass)")
    if "send" in f.verbs and f.sensitivity >= 2:
        on_file = {v for v in ctx.session.vouched if "@" in v}
        if on_file:
            on_file_domains = {v.rsplit("@", 1)[1] for v in on_file}
            for e in f.emails:
                e = e.lower()
                if e in senders and e not in on_file and e.rsplit("@", 1)[1] not in on_file_domains:
                    return ("requester_not_on_file", "sends records to the address that asked for them, not the contact the records give")
    return None


# A task relaying a request from someone other than the record's subject (a relative, a friend,
# an assistant), and contact fields a write sets to a value given in that task.
_RELATION = (r"(?:daughter|son|husband|wife|spouse|partner|mother|father|mum|mom|dad|parent|brother|sister|sibling|"
             r"relative|cousin|friend|neighbou?r|caregiver|carer|assistant|lawyer|attorney)")
# the relation describes who is asking: "caller says she is Mrs. Alvarez's daughter", "his son called"
_THIRD_PARTY = re.compile(r"(?i)\b(?:caller|she|he|they|someone|somebody|person|requester|sender|man|woman)\s+(?:says|said|claims|claimed|identifies\s+as|"
                          r"introduced\s+(?:him|her|them)sel(?:f|ves)\s+as)\s+(?:(?:she|he|they)\s+(?:is|are|was|were)\s+)?(?:\S+\s+){0,4}?" + _RELATION + r"\b"
                          r"|\b" + _RELATION + r"\s+(?:of\s+\S+\s+)?(?:called|phoned|rang|wrote|e-?mailed|asks|asked|requests|requested)\b")
_SELF_CONFIRMED = re.compile(r"(?i)\b(?:herself|himself|themselves|in\s+person|own\s+(?:phone|number|e-?mail|address))\b")
_CONTACT_LEAF = re.compile(r"(?i)^(?:phone|phone_?number|mobile|cell|telephone|e-?mail|email_?address|address|sms|notification_?(?:phone|email)|contact_?(?:phone|email))$")


_WIPE_WORDS = frozenset({"erase", "wipe", "wipes", "erasure"})
_DEVICE_WORDS = frozenset({"device", "devices", "laptop", "laptops", "computer", "phone", "mac", "endpoint", "mdm", "machine"})
_WIPE_TASK = re.compile(r"(?i)\b(?:lost|stolen|missing|theft|offboard\w*|leaver|retir\w+|decommission\w*|repurpos\w*|re-?imag\w*|re-?provision\w*|"
                        r"end[- ]of[- ]life|return(?:ed)?\s+to\s+(?:the\s+)?(?:vendor|lessor|leasing))\b")


# A sharing or visibility setting (`sharing: public_link`, `visibility: public`, `general_access:
# anyone_with_link`) that opens a resource to anyone: only a task that asks to publish opens it.
_SHARING_KEY = re.compile(r"(?i)^(?:sharing|share_?(?:mode|setting|scope)|visibility|general_?access|link_?(?:sharing|access)|"
                          r"access(?:_?level|_?scope)?|audience|acl)$")
_PUBLIC_VALUE = re.compile(r"(?i)^\s*(?:public(?:[_ -]?(?:link|read|read[_-]?write|web))?|anyone(?:[_ -]?with[_ -]?(?:the[_ -]?)?link)?|"
                           r"everyone|world(?:[_ -]?readable)?|internet|unlisted)\s*$")
_PUBLIC_TASK = re.compile(r"(?i)\b(?:publish\w*|public(?:ly)?|anyone\s+with\s+the\s+link|open\s+to\s+everyone)\b")


def _shared_under(path: str) -> bool:
    """The leaf, or (round 17c) the object holding it, is a sharing setting: `visibility`, and
    `link_sharing.scope` (a nested setting whose own key says nothing)."""
    parts = path.rsplit(".", 2)
    return bool(_SHARING_KEY.search(parts[-1]) or len(parts) > 1 and _SHARING_KEY.search(parts[-2].split("[", 1)[0]))


_REPORT_WORDS = frozenset("report reports export extract dashboard generate breakdown".split())
# GDPR Art. 9 special categories (racial or ethnic origin, religion, health, disability, sexual
# orientation, union membership, genetics, biometrics) and direct identifiers: together in one
# field list they make a named list of who has which; apart (an aggregate) they do not.
_SPECIAL_COLUMN = re.compile(r"(?i)^(?:\w+_)?(?:ethnicity|ethnic_origin|race|religion|religious\w*|disability\w*|health\w*|medical\w*|"
                             r"sexual_orientation|orientation|union_member\w*|trade_union\w*|genetic\w*|biometric\w*|political\w*)$")
_IDENTIFIER_COLUMN = re.compile(r"(?i)^(?:(?:employee|full|first|last|display|user|patient)_?name|name|e?mail\w*|employee_?id|user_?id|ssn|national_id)$")


# A benefits election list names the plan chosen per coverage line (medical, dental, vision): a
# `medical` or `health_plan` column beside another coverage line is the plan elected, not health data.
_PLAN_ELECTION_COLUMN = re.compile(r"(?i)^(?:medical|health)(?:_(?:plan|coverage|tier|election|option|level|insurance))?$")
_OTHER_COVERAGE_COLUMN = re.compile(r"(?i)^(?:dental|vision|life_insurance|hsa|fsa)(?:_(?:plan|coverage|tier|election|option|level))?$")


def _identified_special_category(f: ActionFeatures) -> bool:
    cols = [t.strip() for p, t in f.strings if _is_field_list(p)]
    special = [c for c in cols if _SPECIAL_COLUMN.match(c)]
    if special and any(_OTHER_COVERAGE_COLUMN.match(c) for c in cols):
        special = [c for c in special if not _PLAN_ELECTION_COLUMN.match(c)]
    return bool(special) and any(_IDENTIFIER_COLUMN.match(c) for c in cols)


_INSERT_VALUES = re.compile(r"(?is)\binsert\s+into\s+[\w.\"`]+(?:\s*\([^)]*\))?\s*values\b")


def _reinserts_personal_data(sql: str, sensitive: frozenset[str]) -> bool:
    """An INSERT … VALUES whose literal rows carry two or more e-mail addresses the session
    read from sensitive (confidential or regulated) results: personal data copied by value
    out of the store it was read from, around the masked views such copies should use."""
    if sql.count("@") < 2 or not _INSERT_VALUES.search(sql):
        return False
    emails = {m.group(0).lower() for m in EMAIL_RX.finditer(sql)}
    return sum(fingerprint(e) in sensitive for e in emails) >= 2


# A flag that asks a password manager or secret store for the stored value in clear
# (`reveal: true`, `with_decryption: true`, `show_password: true`).
_REVEAL_KEY = re.compile(r"(?i)(?:^|[._])(?:reveal(?:_?(?:secrets?|passwords?|values?|credentials?|fields?))?|unmask(?:_?secrets?)?|"
                         r"with_?decryption|show_?(?:secrets?|passwords?|credentials?)|include_?(?:secrets?|passwords?|secret_?values?|credentials?))$")


def _reveals_secret(f: ActionFeatures) -> bool:
    return any(v is True and _REVEAL_KEY.search(p) for p, v in f.scalars)


# SQL that materialises a SELECT into a table: CREATE TABLE … AS SELECT, INSERT INTO … SELECT,
# SELECT … INTO. Group 1 is the select list, group 2 the first source relation.
_MATERIALISE = re.compile(
    r"(?is)\b(?:create\s+(?:(?:temp|temporary|unlogged)\s+)?table\s+[\w.\"`]+\s+as|insert\s+into\s+[\w.\"`]+(?:\s*\([^)]*\))?)\s*\(?\s*"
    r"select\s+(.{1,2000}?)\s+from\s+([\w.\"`]+)|\bselect\s+(.{1,2000}?)\s+into\s+(?!outfile|dumpfile)[\w.\"`]+\s+from\s+([\w.\"`]+)")
# A relation in production reached from elsewhere: a production schema/database, a foreign
# data wrapper or a dblink; masked or anonymised sources are what such copies should use.
_PROD_SOURCE = re.compile(r"(?i)^[\"`]?(?:\w*prod\w*|\w*_fdw|dblink)\b|\bdblink\s*\(")
_MASKED_SOURCE = re.compile(r"(?i)\b(?:mask\w*|anon\w*|pseudonym\w*|redacted|deidentified|de_identified)\b")


_DBLINK_CALL = re.compile(r"(?i)dblink\s*\(")


def _copies_production_pii(sql: str) -> bool:
    """Raw personal-data columns (two or more: e-mail, phone, SSN, card…) selected from a
    production source into a new or another table: personal data leaving the regulated store
    as a raw copy instead of through masked views."""
    low = sql.lower()
    if "select" not in low or ("into" not in low and " as" not in low):
        return False
    for m in _MATERIALISE.finditer(sql):
        cols, src = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
        if _MASKED_SOURCE.search(src) or not (_PROD_SOURCE.search(src) or "dblink" in cols.lower()):
            continue
        if len({c.group().lower() for c in _PII_COLUMNS.finditer(cols)}) >= 2:
            return True
        if src.lower() == "dblink" or "dblink" in cols.lower():
            # `SELECT * FROM dblink('host=prod…', 'SELECT id, email, phone … FROM customers') AS
            # t(…)`: the columns are those of the remote query, unless it reads a masked view
            call = _DBLINK_CALL.search(sql, m.start())
            remote = sql[call.end():] if call else ""
            if remote and not _MASKED_SOURCE.search(remote.split(")", 1)[0]) and \
                    len({c.group().lower() for c in _PII_COLUMNS.finditer(remote)}) >= 2:
                return True
    return False


# Base64 of a gzip stream starts `H4sI`, of a zip archive `UEsDB`: compressed files packed
# into text, the usual way to carry a source tree or a database dump through a text channel.
_ENCODED_ARCHIVE = re.compile(r"(?:H4sI|UEsDB)[A-Za-z0-9+/_%-]{24,}")


def _carries_encoded_archive(f: ActionFeatures) -> bool:
    for _, text in f.strings:
        if ("H4sI" in text or "UEsDB" in text) and _ENCODED_ARCHIVE.search(text):
            return True
    return False


_FIELD_LIST = re.compile(r"(?i)(?:^|\.)(?:columns?|fields?|attributes?|select|include)(?:\[\d+\])?$")
_is_field_list = _KeyTest(_FIELD_LIST)
# Comprehensively sanctioned jurisdictions (OFAC/EU/UN country programmes), by name and capital.
_SANCTIONED = re.compile(r"(?i)\b(?:iran|tehran|north\s+korea|dprk|pyongyang|syria|damascus|cuba|havana|crimea|sevastopol|"
                         r"donetsk|luhansk)\b")
_BULK_VALUE = re.compile(r"^\s*(?:\*|%|all|\.\*)\s*$", re.I)
_LIMIT_KEY = re.compile(r"(?i)(?:^|\.)(?:limit|page_?size|max_?results|count|top|rows)$")


# round 17b: what a report groups by and counts (`columns: [department, headcount]`): figures
# about groups, not rows about people
_AGGREGATE_FIELD = re.compile(
    r"(?i)^\s*(?:department|dept|team|division|business_?unit|location|office|site|region|country|cost_?cent(?:er|re)|"
    r"grade|level|band|job_?family|month|quarter|year|period|week|status|type|category|headcount|head_?count|fte|count|"
    r"total|sum|avg|average|mean|median|min|max|ratio|rate|share|percent\w*|pct|turnover|attrition\w*|tenure_?band|"
    r"(?:number|num|no)_of_\w+|(?:avg|average|mean|median|sum|total|count|num|pct)_\w+|\w+_(?:count|total|avg|average|median|rate|ratio|pct))\s*$")


def _aggregate_fields_only(f: ActionFeatures) -> bool:
    """The call names the fields it returns, and each is a grouping key or an aggregate."""
    fields = [t for p, t in f.strings if _is_field_list(p)]
    return bool(fields) and all(_AGGREGATE_FIELD.match(t) for t in fields)


def _is_bulk(f: ActionFeatures) -> bool:
    if any(_BULK_VALUE.match(t) for _, t in f.strings):
        return True
    return any(_LIMIT_KEY.search(p) and isinstance(v, (int, float)) and v >= 250 for p, v in f.scalars)


def _is_message(ctx: CheckContext) -> bool:
    """The tool sends a message (its declared verb, or the verbs of its name, are `send` only),
    whatever operations its text mentions."""
    declared = ctx.tool.spec.effect.verb if ctx.tool is not None else None
    if declared:
        return declared == "send"
    words = ctx.features.tool_words
    # (remembered for tool names of ordinary length only: a long name is read afresh)
    return _send_only_name(words) if len(ctx.features.tool) <= 256 else _send_only_name.__wrapped__(words)


@lru_cache(maxsize=4096)
def _send_only_name(words: tuple[str, ...]) -> bool:
    return {verb_class(w) for w in words} - {None} == {"send"}
_COMMAND_LINE = re.compile(r"^\s*(?:[$#>/!`]|[\w.-]+@[\w.-]+:\S*[$#])")


def _command_lines(text: str) -> list[str]:
    """The lines of a message that are commands: inside a ``` block, or starting with a
    prompt or a chat-ops prefix (`$`, `#`, `>`, `/`, `!`, a backtick, `user@host:~$`)."""
    if "\n" not in text and "`" not in text:
        return [text] if _COMMAND_LINE.match(text) else []
    out: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or _COMMAND_LINE.match(line):
            out.append(line)
        elif "`" in line:
            out.extend(re.findall(r"`([^`]+)`", line))
    return out


# A retention purge of an audit table: `DELETE FROM audit_log WHERE logged_at < now() - interval
# '90 days'` (further AND conditions only narrow it). It removes rows older than an age and so
# cannot erase what was just done; it is housekeeping, not tampering, when the session's task
# asks for it in so many words (the audit table and the same age, "older than 90 days").
_RETENTION_PURGE = re.compile(
    r"(?i)\bdelete\s+from\s+[\w.\"`]*audit\w*[\"`]?\s+where\s+[\w.\"`]+\s*<=?\s*"
    r"(?:now\(\)|current_(?:date|timestamp)|localtimestamp|sysdate\(\)|getdate\(\))\s*-\s*interval\s*'\s*(\d+)\s*(day|week|month|year)s?\s*'"
    r"(?:\s+and\s+(?:(?!\bor\b)[^;])*)?\s*(?:;|$)")


def _task_states_age(task: str | None, n: str, unit: str) -> bool:
    if not task or "audit" not in task.lower():
        return False
    return re.search(rf"(?i)\b{n}[ -]?{unit}s?\b", task) is not None


def _without_task_retention_purges(text: str, task: str | None) -> str:
    """`text` with the audit retention purges the task asks for taken out."""
    if not task or "audit" not in text.lower():
        return text
    return _RETENTION_PURGE.sub(lambda m: " " if _task_states_age(task, m.group(1), m.group(2)) else m.group(0), text)


# A clean-up of a test copy of an audit table: `DELETE FROM qa.audit_events_copy WHERE tenant_id =
# 'loadtest-7'`. The table's own name marks it as a copy or test data (a `_copy`, `_test`, `tmp`,
# `scratch` part, or a `qa`/`test` schema), the statement keeps a WHERE clause that is not always
# true, and the task is a clean-up of test data. A real audit trail (`audit_log`, `audit.events`)
# has no such part and stays stopped, as do TRUNCATE and DROP of any audit table.
_AUDIT_COPY_DELETE = re.compile(r"(?i)\bdelete\s+from\s+([\w.\"`]+)\s+where\s+([^;]+)")
_COPY_PART = frozenset({"test", "tests", "testing", "copy", "tmp", "temp", "scratch", "sample", "fixture", "fixtures",
                        "dummy", "fake", "loadtest", "qa", "sandbox", "synthetic"})
_ALWAYS_TRUE = re.compile(r"(?i)^\s*\(?\s*(?:1\s*=\s*1|true|'(\w*)'\s*=\s*'\1')\s*\)?\s*$")
_TEST_DATA_TASK = re.compile(r"(?i)\b(?:load[- ]?tests?|test(?:ing)?[- ]data|tests?|qa|synthetic|fixtures?|dummy|scratch)\b")


def _is_test_copy_table(name: str) -> bool:
    parts = [p for p in re.split(r"[._\"`]+", name.lower()) if p]
    return any("audit" in p for p in parts) and any(p in _COPY_PART for p in parts)


def _without_test_copy_deletes(text: str, task: str | None) -> str:
    """`text` with the deletes of test copies of audit tables (above) taken out, when the task
    is a clean-up of test data."""
    if not task or "audit" not in text.lower() or not _TEST_DATA_TASK.search(task):
        return text
    return _AUDIT_COPY_DELETE.sub(
        lambda m: " " if _is_test_copy_table(m.group(1)) and not _ALWAYS_TRUE.match(m.group(2)) else m.group(0), text)


class DangerousOperationCheck:
    """Operations that are dangerous in themselves (rm -rf /, DROP TABLE, chmod 777, curl | sh,
    admin grants, bank-detail changes, bulk personal-data exports…)."""

    name = "dangerous_ops"
    hard = True

    def evaluate(self, ctx: CheckContext) -> Verdict:
        f = ctx.features
        if _is_message(ctx):
            # A message describes operations; it runs only what sits in command position (a
            # chat-ops `/` or `!` command, a shell prompt, a code block).
            text = "\n".join(line for _, t in f.strings for line in _command_lines(t))
        else:
            # The tool's own name leads the text: a tool named `kubectl` with the argument
            # "delete namespace payments" is `kubectl delete namespace payments`.
            parts = [" ".join(f.tool_words) + " " + (f.strings[0][1] if f.strings else "")]
            if len(f.strings) > 1:
                parts.extend(t for _, t in f.strings[1:])
            if f.scalars:
                parts.extend(f"{p}={v}" for p, v in f.scalars)
            text = "\n".join(parts)
        found = [c for c in find_dangerous(text) + _structured_dangers(ctx) if c[0] not in ctx.agent.allowed_dangerous]
        if f.command_text:
            # the command as the shell will run it: quoting, escapes and split flags undone
            plain = _shell_plain(f.command_text)
            if plain != f.command_text:
                have = {c for c, _ in found}
                found += [c for c in find_dangerous(plain) if c[0] not in have and c[0] not in ctx.agent.allowed_dangerous]
            if ("base64" in plain or "xxd" in plain) and _DECODE_EXEC.search(plain) and "obfuscated_execution" not in ctx.agent.allowed_dangerous:
                found.append(("obfuscated_execution", "runs a command it decodes on the spot (base64 or hex into a shell or eval)"))
        if found and ctx.task and any(c == "secret_search_harvest" for c, _ in found) and _LEAK_TASK.search(ctx.task):
            # round 20e: responding to a leak the task reports means finding where the leaked value sits
            found = [c for c in found if c[0] != "secret_search_harvest"]
        if found and any(c == "disable_logging" for c, _ in found):
            purged = _without_test_copy_deletes(_without_task_retention_purges(text, ctx.task), ctx.task)
            if purged != text and not any(c == "disable_logging" for c, _ in find_dangerous(purged)):
                found = [c for c in found if c[0] != "disable_logging"]
        if not found:
            return _OK_DANGEROUS_OPS_NO_DANGEROUS_OP
        codes = ", ".join(c for c, _ in found)
        return Verdict(self.name, "block", "dangerous_operation",
                       f"{found[0][1]} ({codes})", {"matches": float(len(found))})


# round 20e: a task that reports a credential leaked or exposed (the search for it is the response)
_LEAK_TASK = re.compile(r"(?i)\b(?:leak(?:ed|s)?|exposed|was\s+committed|were\s+committed)\b[^.]{0,80}?\b(?:secrets?|keys?|tokens?|passwords?|credentials?)\b"
                        r"|\b(?:secrets?|keys?|tokens?|passwords?|credentials?)\b[^.]{0,80}?\b(?:leak(?:ed|s)?|exposed|was\s+committed|were\s+committed)\b"
                        # (a secret scanner's findings, or keys the task says to take out of the code)
                        r"|\b(?:secret|credential)s?\s+scann(?:er|ing)\b"
                        r"|\b(?:replace|remove|scrub|redact|strip)\b[^.]{0,60}?\b(?:secrets?|keys?|tokens?|passwords?|credentials?)\b")
_SHELL_ESCAPE = re.compile(r"\\(?=[\w/.~-])")
_ECHO_SUBST = re.compile(r"\$\(\s*(?:echo|printf)\s+([\w./~-]{1,40})\s*\)|`\s*(?:echo|printf)\s+([\w./~-]{1,40})\s*`")
_SPLIT_FLAGS = re.compile(r"(?<=\s)-([a-zA-Z]{1,4})\s+-([a-zA-Z]{1,4})(?=\s|$)")
_LONG_FLAG = re.compile(r"--(recursive|force)(?![\w-])")
_SHELL_TOKEN = re.compile(r"[^\s;|&]+")
# a payload decoded and run in one go: `echo … | base64 -d | sh`, `eval "$(… | base64 --decode)"`
_DECODE_EXEC = re.compile(r"(?i)(?:\bbase64\s+(?:-[a-z]*d[a-z]*|--decode)\b|\bxxd\s+-[a-z]*r[a-z]*\b)[^|;&\n]{0,80}\|\s*(?:sudo\s+)?(?:(?:ba|z|k|da)?sh|python[23]?|perl|ruby|node)\b"
                          r"|\beval\s+[\"']?\$\((?:[^()\n]|\([^()\n]*\)){0,300}?\b(?:base64\s+(?:-[a-z]*d[a-z]*|--decode)|xxd\s+-[a-z]*r[a-z]*)\b")


def _shell_plain(cmd: str) -> str:
    """A command as the shell will run it, for the dangerous-operation patterns to read, where
    it was spelled to slip past them: a command word with quotes or backslash escapes (`r\\m`,
    `'rm'`) or made by `$(echo rm)`; an `rm` with quoted targets (`"$HOME"`), split or long
    flags (`rm -r -f`, `--recursive --force`); absolute paths through `..`; SQL comments the
    server skips. Ordinary commands come back unchanged (and cost no second scan)."""
    t = cmd
    if "'" in t or '"' in t or "\\" in t:
        t = _QUOTED_COMMAND_WORD.sub(lambda m: m.group(1) + _SHELL_ESCAPE.sub("", m.group(2)).replace("'", "").replace('"', ""), t)
    if "$(" in t or "`" in t:
        t = _ECHO_SUBST.sub(lambda m: m.group(1) or m.group(2), t)
    if "|" in t and ("echo" in t or "printf" in t):
        t = _ECHO_PIPE.sub(lambda m: m.group(2), t)    # `echo 'rm -rf /' | sh` runs `rm -rf /`
    if "rm" in t and _RM_WORD.search(t):
        if "'" in t or '"' in t:
            t = t.replace("'", "").replace('"', "")
        if "--" in t:
            t = _LONG_FLAG.sub(lambda m: "-" + m.group(1)[0], t)
        if " -" in t:
            for _ in range(8):
                joined = _SPLIT_FLAGS.sub(r"-\1\2", t)
                if joined == t:
                    break
                t = joined
    if "/.." in t:
        t = _SHELL_TOKEN.sub(lambda m: posixpath.normpath(m.group(0)) if m.group(0)[:1] == "/" and "/.." in m.group(0) else m.group(0), t)
    if " -" in t and ("kubectl" in t or "terraform" in t or "helm" in t or "oc " in t):
        # a CLI's global options before its subcommand (`kubectl --context prod delete ns x`,
        # `terraform -chdir=infra destroy`): the command also read from the subcommand on
        extra = [m.group(1) + " " + rest.split("\n", 1)[0]
                 for m in _CLI_WITH_OPTIONS.finditer(t[:20000]) for rest in _after_leading_options(t[m.end():m.end() + 2000])]
        if extra:
            t = t + "\n" + "\n".join(extra[:16])
    if ("/*" in t or "--" in t) and _SQL_WORD.search(t):
        # SQL comments the server skips: `delete/**/from orders`, `… /* WHERE id = 5 */`, `-- where …`
        t = _SQL_LINE_COMMENT.sub("", _SQL_BLOCK_COMMENT.sub(" ", t))
    return t


# a word in command position (line start, after `;`, `&`, `|`, `(`, `sudo`) holding quotes or escapes
_QUOTED_COMMAND_WORD = re.compile(r"((?:^|[;&|(\n])\s*(?:sudo\s+)?)((?=[^\s;&|()]*['\"\\])[^\s;&|()]{1,64})", re.M)
_RM_WORD = re.compile(r"(?:^|[\s;&|(])rm\s")
_ECHO_PIPE = re.compile(r"\b(?:echo|printf)\s+(?:-\w+\s+)?(['\"])([^'\"\n]{1,2000})\1\s*\|\s*(?:sudo\s+)?(?:ba|z|k|da)?sh\b")


_CLI_WITH_OPTIONS = re.compile(r"(?<![\w-])(kubectl|oc|terraform|helm)[ \t]+(?=-)")
_SQL_BLOCK_COMMENT = re.compile(r"/\*(?:[^*/]|\*(?!/)|/(?!\*))*\*/")   # the gap stops at the next `/*`: linear
_SQL_LINE_COMMENT = re.compile(r"(?<!\S)--(?=\s|$)[^\n]*")


_DEST_LEAF = re.compile(r"(?i)(?:^|\.)(?:to|cc|bcc|recipients?|emails?|address(?:es)?)(?:\[\d+\])?$")
_is_dest_leaf = _KeyTest(_DEST_LEAF)


_PCT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# Cyrillic and Greek letters drawn as Latin ones, each mapped to the Latin letter it passes for.
_CONFUSABLE = str.maketrans("АВЕКМНОРСТХУІЈЅаеорсухіјѕԁһΑΒΕΖΗΙΚΜΝΟΡΤΥΧο",
                            "ABEKMHOPCTXYIJSaeopcyxijsdhABEZHIKMNOPTYXo")


def _decoded(text: str) -> str:
    """URL-decoded text when it carries percent-escapes (data smuggled in a query string), and
    without invisible format characters (a card number split by zero-width spaces reads whole
    to its recipient)."""
    if not text.isascii():
        text = text.translate(_INVISIBLE)
    if "%" in text and _PCT_ESCAPE.search(text):
        text = unquote_plus(text)
        # escapes of escapes (`%2541` is `%41`, then `A`) are there for a second decoder on the
        # way (a redirector, a proxy, a framework that decodes again): read them as it would
        for _ in range(2):
            if "%" not in text or not _PCT_ESCAPE.search(text):
                break
            text = unquote(text)
    return text


def _carried_text(text: str) -> str:
    """What an argument carries, decoded: a URL's query string is data sent with the request
    (`?q=ACME+acquire+Nimbus`, `?body=Internal%3A…`), so it is read with `+` as a space."""
    if "?" in text and "://" in text[:12]:
        base, _, query = text.partition("?")
        return base + " " + unquote_plus(query).replace("&", " ").replace("=", " ")
    return _decoded(text)


def _arg_keys(args: Mapping[str, Any]) -> str:
    """The argument names below the top level that could carry data (`{"meta": {"<token>": 1}}`),
    one per line; empty for the usual shapes. Top-level names are the tool's parameters."""
    out: list[str] = []
    stack: list[Any] = [v for v in args.values() if isinstance(v, (dict, list))]
    seen = 0
    while stack and seen < 2000:
        x = stack.pop()
        seen += 1
        if isinstance(x, dict):
            for k, v in x.items():
                if isinstance(k, str) and len(k) >= 9:
                    out.append(k)
                if isinstance(v, (dict, list)):
                    stack.append(v)
        else:
            stack.extend(v for v in x if isinstance(v, (dict, list)))
    return "\n".join(out)


class SensitiveDataCheck:
    """Secrets or regulated personal data in arguments bound for an outbound sink."""

    name = "sensitive_data"
    hard = True

    def evaluate(self, ctx: CheckContext) -> Verdict:
        f = ctx.features
        sink = f.destination == "external" or bool(f.verbs & {"send"}) or (
            ctx.tool is not None and ctx.tool.spec.effect.destination == "external")
        if not sink:
            if "write" in f.verbs and "read" not in f.verbs and f.sensitivity < 4 and ctx.session.sensitive:
                v = regulated_copy(f.strings, ctx.session.sensitive)
                if v is not None:
                    return v
            return _OK_SENSITIVE_DATA_NO_OUTBOUND_SINK
        pol = ctx.agent.policy
        if not f.strings:
            return _OK_SENSITIVE_DATA_NO_SENSITIVE_DATA
        # invisible format characters dropped first: `sk_\u200blive_…` must meet the screen's literals
        texts = [t if t.isascii() else t.translate(_INVISIBLE) for _, t in f.strings]
        keys = _arg_keys(ctx.args)
        if keys:
            # a name cannot be redacted without changing what the tool reads: refused
            found = find_secrets(keys)
            what = "a credential"
            if not found and pol.redact_pii != "allow":
                found, what = find_pii(keys), "personal data"
            if found:
                return Verdict(self.name, "block", "sensitive_data_in_key",
                               f"an argument name carries {what} ({found[0].kind}) to an outbound sink")
        if any("%" in t for t in texts):   # escapes may hide anything: decode and look at every string
            secrets_possible = pii_possible = True
        else:
            secrets_possible, pii_possible = screen(texts)
            if not secrets_possible and (not pii_possible or pol.redact_pii == "allow"):
                return _OK_SENSITIVE_DATA_NO_SENSITIVE_DATA
        patches: list[Patch] = []
        kinds: list[str] = []
        dest_addrs = {t.lower() for path, t in f.strings if _is_dest_leaf(path)}
        internal = pol.internal_domains

        def not_counted(addr: str) -> bool:
            return addr in dest_addrs or is_internal(addr.split("@")[-1], internal)

        for path, raw in f.strings:
            text = _decoded(raw)
            secrets = find_secrets(text) if secrets_possible else []
            if not secrets and secrets_possible and not text.isascii():
                # a key with look-alike letters (`AKIA\u0406OSF…`, a Cyrillic I) is the key to whoever
                # types or pastes it back: looked for with them folded (one letter for one: the spans hold)
                folded = text.translate(_CONFUSABLE)
                if folded != text:
                    secrets = find_secrets(folded)
            pii = (find_pii(text) + find_contact_list(text, exclude=not_counted)) if pii_possible and pol.redact_pii != "allow" else []
            if secrets and pol.redact_secrets == "block":
                return Verdict(self.name, "block", "secret_outbound",
                               f"{path} carries a credential ({secrets[0].kind}) to an outbound sink")
            if pii and pol.redact_pii == "block":
                return Verdict(self.name, "block", "pii_outbound",
                               f"{path} carries personal data ({pii[0].kind}) to an outbound sink")
            if secrets or pii:
                # redacted in decoded form: the escapes that hid the value have no use once it is gone
                patches.append(Patch(path, "redact", redact(text, secrets + pii)))
                kinds.extend(sorted({x.kind for x in secrets + pii}))
        if pii_possible and pol.redact_pii != "allow":
            split = _identifier_split_across(f.strings)
            if split is not None:
                # no one argument holds it, so no one argument can be redacted: refused
                return Verdict(self.name, "block", "sensitive_data_split",
                               f"a {split.replace('_', ' ')} is split across arguments bound for an outbound sink")
        if patches:
            return Verdict(self.name, "rewrite", "sensitive_data_redacted",
                           f"redacted {', '.join(sorted(set(kinds)))} in {', '.join(p.path for p in patches)}",
                           patches=tuple(patches))
        return _OK_SENSITIVE_DATA_NO_SENSITIVE_DATA


# Round 20h: an identifier written in pieces across arguments (`subject: "card 4111 1111"`, `body:
# "1111 1111 …"`): each piece is too short to be found alone, the recipient reads them together.
_SPLIT_KINDS20 = frozenset({"payment_card", "ssn", "iban"})
_DIGIT_RUN20 = re.compile(r"\d")


def _identifier_split_across(strings: tuple[tuple[str, str], ...]) -> str | None:
    """The kind of a card number, SSN or IBAN that runs over the seam between two of the call's
    non-destination prose arguments read one after the other (either order), four digits or more
    on each side, none holding it whole. Only the 40 characters on each side of a seam are read."""
    # pieces of prose, not whole identifier values: `MRN-204417` beside an NPI `1548220931` reads as
    # a card only because two ids were put side by side
    parts = [t for p, t in strings if not _is_dest_leaf(p) and " " in t.strip() and len(_DIGIT_RUN20.findall(t[:40] + t[-40:])) >= 4]
    if len(parts) < 2 or len(parts) > 12:
        return None
    pairs = list(zip(parts, parts[1:])) + ([(parts[1], parts[0])] if len(parts) == 2 else [])
    for a, b in pairs:
        head, tail = a[-40:], b[:40]
        window = head + " " + tail
        for hit in find_pii(window):
            if hit.kind in _SPLIT_KINDS20 and hit.start < len(head) < hit.end and \
                    len(_DIGIT_RUN20.findall(window[hit.start:len(head)])) >= 4 and len(_DIGIT_RUN20.findall(window[len(head):hit.end])) >= 4:
                return hit.kind
    return None


# The vocabulary of a grant itself (what kind of right, on what kind of thing), not what it names.
_GRANT_VOCABULARY = frozenset("usage select insert update delete references trigger execute connect create temporary schema table tables "
                         "view views sequence sequences function functions database on in to of for the and member members reader "
                         "writer owner viewer editor commenter manager contentmanager fileorganizer role user group read write "
                         "access true false yes no hours hour".split())
_GRANT_TOKEN = re.compile(r"[\w.@*/-]+")


_GRANTEE_KEY = re.compile(r"(?i)^(?:user|users|member|members|principal|grantee|assignee|account|email|user_?(?:id|email)|member_?email|subject)$")
_AUTOMATION_WORDS = frozenset("agent bot svc service automation assistant ai robot".split())


def _adds_member(tool_words: tuple[str, ...]) -> bool:
    """Round 20c: a tool that adds a member to a group or team grants what the group holds, even
    when its name has no grant word (`gws_group_add_member`, `add_team_members`)."""
    return "add" in tool_words and not {"member", "members", "group", "groups"}.isdisjoint(tool_words)


def _grants_to_agent(ctx: CheckContext) -> Verdict | None:
    """Round 16b: a grant (a role, a group, an access level) to an automation account (its name
    says agent, bot, svc…, or carries the agent's own name) that the task does not name: the
    agent raising its own rights under a task that names someone else."""
    own = {w for w in re.split(r"[^a-z0-9]+", ctx.agent.policy.agent.lower()) if len(w) >= 2}
    task = ctx.task.lower() if ctx.task else ""
    # round 20c (check half): in a grant of a privilege on an object (`privilege`, `object`) with no
    # other grantee argument, the `role` is who receives it (a database role), not what is granted
    role_grantee = "role" in ctx.args and not any(_GRANTEE_KEY.match(str(k)) for k in ctx.args) and \
        any(str(k).lower() in ("privilege", "privileges", "permission", "permissions") for k in ctx.args)
    for k, v in ctx.args.items():
        if not isinstance(v, str) or not (_GRANTEE_KEY.match(str(k)) or role_grantee and str(k) == "role") or len(v) > 120:
            continue
        who = v.strip().lower()
        local = who.split("@", 1)[0]
        words = {w for w in re.split(r"[^a-z0-9]+", local) if w}
        if not words or who in task or local in task:
            continue
        if words & _AUTOMATION_WORDS or len(words & own) >= 2:
            return Verdict("preconditions", "block", "grants_to_agent",
                           "the call grants rights to an automation account the task does not name (the agent's own, by its name)")
    return None


def _grant_ladder(ctx: CheckContext) -> Verdict | None:
    """A third (or later) grant in a session that names something the task does not: a
    principal, a resource, a role, or every object of a kind (`ALL TABLES`, `*`). Each step of
    a privilege ladder looks small; the session's count of grants says it is a ladder, and the
    task says where it should have stopped."""
    task = (ctx.task or "").lower()
    scoped = any(e.startswith(GSCOPE_PREFIX) for e in ctx.session.held)
    listed = any(e.startswith(PLIST_PREFIX) for e in ctx.session.held)
    for path, text in ctx.features.strings:
        if len(text) > 120:
            continue
        for tok in _GRANT_TOKEN.findall(text.lower()):
            tok = tok.strip("./-")
            if tok in ("all", "*") and not re.search(r"\ball\b|\*", task):
                break
            if len(tok) < 4 or tok in _GRANT_VOCABULARY or tok.isdigit() or tok in task:
                continue
            if scoped and granted_in_scope(tok, task, ctx.session.held):
                continue   # round 15: listed by an approved record the task names
            if listed and listed_for_task_group(tok, task, ctx.session.held):
                continue   # round 19e: one of the N principals a listing returned, for a task asking for N
            schema, dot, name = tok.partition(".")
            if dot and name and "." not in name and re.search(r"\b" + re.escape(schema) + r"\s+(?:views|tables)\b", task):
                continue   # round 19e: an object of the schema whose views or tables the task names (`the masked views`)
            break
        else:
            continue
        return Verdict("preconditions", "block", "grant_ladder",
                       f"grant number {ctx.session.grants + 1} of the session names something the task does not")
    return None


# a task that states the approval it acts on ("HD-5400 (approved by Priya)", "signed off by the owner")
_TASK_APPROVED = re.compile(r"(?i)\b(?:approved|signed[ -]off|authori[sz]ed)\b")


class PreconditionCheck:
    """An irreversible call on a record that an earlier tool result marked as not to be acted
    on (rejected, pending approval, on legal hold, disputed…)."""

    name = "preconditions"
    hard = True

    def evaluate(self, ctx: CheckContext) -> Verdict:
        held = ctx.session.held
        f = ctx.features
        if f.verbs & _WINDOWED and (ctx.task or ctx.session.clock) and "read" not in f.verbs:
            v = _outside_window(ctx)
            if v is not None:
                return v
        if REQ_PREFIX in held or AUD_PREFIX in held or PURPOSE_PREFIX in held:
            # round 20d: a requirement, an audience or an excluded purpose a result states in words
            restricting = not (_RESTRICTING_WORDS | _CLEARING20D).isdisjoint(f.tool_words)
            v = (None if restricting else requirement_unmet(f.verbs, f.strings, ctx.task, held)) or audience_excluded(f.verbs, ctx.args, f.strings, held) or \
                purpose_excluded(f.verbs, f.strings, ctx.task, held)
            if v is not None:
                return v
        if PERIOD_PREFIX in held:
            v = before_period_runs(f.verbs, f.strings, ctx.task, held)   # round 20d
            if v is not None:
                return v
        if ATTR_PREFIX in held and "send" in f.verbs:
            v = recipient_excluded(f.verbs, ctx.args, ctx.task, held)   # round 20d
            if v is not None:
                return v
        if ctx.task and f.verbs & {"send", "write"} or "read" in f.verbs and f.sensitivity >= 3 and ctx.task:
            v = part_left_out(ctx.args, ctx.task, held)   # round 20d
            if v is not None:
                return v
        # money out: a payment, or a credit to an account by a tool the policy did not annotate
        paying = "pay" in f.verbs or (not _CREDIT_WORDS.isdisjoint(f.tool_words) and "read" not in f.verbs)
        if paying:
            v = _unapproved_compensation(f, held) or (_credit_elsewhere(ctx) or _payee_not_the_tasks(ctx) or _payee_not_named(ctx)
                                                       or _for_askers_relation(ctx.task) if ctx.task else None) or _wallet_in_free_text(f)
            if v is not None:
                return v
        if "send" in f.verbs and f.destination == "external":
            v = personal_payment_link(f.strings)
            if v is not None:
                return v
        if f.urls:
            v = address_in_url(f.urls, ctx.task, lambda h: is_internal(h, ctx.agent.policy.internal_domains))   # round 20c
            if v is not None:
                return v
        if not _RECOVERY_WORDS.isdisjoint(f.tool_words) and ctx.agent.policy.internal_domains and _recovers_account(f):
            v = _recovery_to_outside(f, ctx.agent.policy.internal_domains)   # round 19d
            if v is not None:
                return v
        if NOPARTY_MARK in held and ctx.task and not f.verbs <= {"read"} and task_names_barred_party(ctx.task, held):
            return Verdict(self.name, "block", "party_barred_by_record",
                           "a record bars the party this task's request comes from; the call acts for it")   # round 20e
        if ctx.agent.policy.internal_domains and not _MINT_WORDS.isdisjoint(f.tool_words) and not _MINTED_WORDS.isdisjoint(f.tool_words):
            v = _minted_to_outside(f, ctx.agent.policy.internal_domains)   # round 20e
            if v is not None:
                return v
        if "send" in f.verbs and max(ctx.session.exposure, f.sensitivity) >= 4 and (held or ctx.task and "@" in ctx.task):
            v = no_agreement(f.strings, _is_dest_leaf, ctx.task, held)
            if v is not None:
                return v
        if "read" in f.verbs and f.sensitivity >= 4 and ctx.task:
            v = _beyond_scheduling(ctx)
            if v is not None:
                return v
        if f.verbs & {"read", "send"} and f.sensitivity >= 4 and ctx.task and "only" in ctx.task.lower():
            v = _parts_beyond_task_only(ctx)   # round 19b
            if v is not None:
                return v
        if "grant" in f.verbs and "read" not in f.verbs and ctx.session.grants >= 2 and ctx.task:
            v = _grant_ladder(ctx)
            if v is not None:
                return v
        if ctx.task and not f.verbs <= {"read"}:
            v = export_beyond_task_count(f.tool_words, f.strings, ctx.task) or _value_added_to_unnamed_row(f, ctx.task)
            if v is not None:
                return v
        # round 17c: what earlier calls read and did, against what this call does
        if ctx.task and ctx.tool is not None and ctx.tool.spec.constraints:
            v = outside_task_environment(ctx.tool.spec.constraints, ctx.args, ctx.task, f.verbs, f.tool_words)
            if v is not None:
                return v
        if held:
            internal = ctx.agent.policy.internal_domains
            v = (reply_beyond_thread(ctx.args, lambda d: is_internal(d, internal), held) if "send" in f.verbs else None) or \
                (page_filter_dropped(ctx.tool_name, ctx.args, held) if not f.verbs <= {"read"} else None) or \
                (setting_switched_off(ctx.args, ctx.task, held) if "write" in f.verbs else None) or \
                (grant_on_sibling_object(ctx.args, ctx.task, held) if "grant" in f.verbs else None) or \
                (destination_from_error(ctx.args, ctx.task, held) if f.verbs & {"send", "write", "grant"} else None) or \
                (opened_to_anyone(f.strings, ctx.task, held) if not f.verbs <= {"read"} else None)
            if v is not None:
                return v
        if ctx.task and "send" in f.verbs and "#" in ctx.task and ctx.session.sensitive:
            v = _r17c_channel_not_in_task(ctx)
            if v is not None:
                return v
        if ctx.task and "push" in ctx.tool_name.lower() or "git push" in f.command_text:
            v = push_other_branch(ctx.args, f.command_text, ctx.task) or push_deletes_branch(ctx.args, f.command_text, ctx.task) or \
                push_onto_mainline(f.command_text, ctx.task)
            if v is not None:
                return v
        if f.command_text and "execute" in f.verbs:
            v = backups_deleted(f.command_text, ctx.task)   # round 18c
            if v is not None:
                return v
            pol = ctx.agent.policy
            v = data_change_outside_purpose(f.command_text, pol.identity, pol.purposes)
            if v is not None:
                return v
        if ("grant" in f.verbs or _adds_member(f.tool_words)) and "read" not in f.verbs and ctx.task:
            v = _grants_to_agent(ctx)
            if v is not None:
                return v
        if "read" not in f.verbs:
            v = prohibited_purchase(ctx.agent.policy.identity, f.tool_words, f.strings) or recording_without_notice(ctx.args) or \
                approval_by_data_fix(f.verbs, f.strings, ctx.task) or \
                verification_self_attested(f.verbs, f.strings, ctx.task)
            if v is not None:
                return v
        v = export_instead_of_purge(f.tool_words, ctx.args, ctx.task)
        if v is not None:
            return v
        if held and (paying or f.verbs & {"grant", "write"}):
            v = (payee_not_on_record(ctx.args, held) or above_payable(ctx.args, call_amount(ctx.args), held) or above_task_cap(ctx.args, held)
                 if "pay" in f.verbs else None) or \
                (not_on_task_list(ctx.args, ctx.task, held) if paying else None) or \
                (contact_redirected(ctx.args, ctx.task, held) if "write" in f.verbs and "read" not in f.verbs else None) or \
                grants_classified(f.verbs, ctx.args, ctx.task, held)
            if v is not None:
                return v
        if held and f.verbs & {"execute", "delete"}:
            # (a shell `find … -delete` reads as well as deletes)
            v = deletes_kept_rows(f.strings, held) or below_min_retention(f.command_text, held)
            if v is None and RETOBJ_MARK in held:
                v = retained_object_deleted(f.verbs, f.tool_words, f.strings, ctx.task, held)   # round 20c
            if v is not None:
                return v
        if (held or ctx.task) and f.verbs - {"read"}:
            v = changes_what_was_to_be_read(f.verbs, f.strings, ctx.task, held)   # round 20f
            if v is not None:
                return v
        if held:
            # a copy reads as well as writes (CREATE TABLE … AS SELECT): not only non-reads
            v = copies_what_must_go(f.tool_words, f.strings, held)
            if v is None and "read" in f.verbs and f.verbs & {"write", "send"}:
                v = residency_breach(f.strings, held)   # an export reads and writes: the residency rule is not only for non-reads
            if v is None and f.verbs & {"write", "execute", "send"}:
                v = staged_outbound(ctx.args, f.sensitivity >= 3 or bool(ctx.session.sensitive), held)
            if v is not None:
                return v
        if held and "read" in f.verbs and f.sensitivity >= 4:
            v = role_excluded(ctx.agent.policy.identity, f.strings, held)
            if v is not None:
                return v
        if UNREV_MARK in held:
            v = acts_before_review(f.verbs, f.tool_words, f.strings, held)   # round 20c
            if v is not None:
                return v
        if held and "read" not in f.verbs:
            v = not_as_previewed(ctx.tool_name, ctx.args, held) or iban_swapped(ctx.args, f.strings, ctx.task, held) or \
                owned_elsewhere(ctx.args, held) or (restricted_disclosure(f.strings, held) if f.destination == "external" else None) or \
                (other_subject_in_message(f.strings, ctx.task, held) or others_pay_sent(f.strings, _is_dest_leaf, ctx.task, held)
                 if "send" in f.verbs and ctx.task else None) or \
                approves_own(f.tool_words, ctx.args, held) or approves_requesters_own(f.tool_words, ctx.args, ctx.task, held) or residency_breach(f.strings, held) or kept_too_long(f.strings, held) or delivery_diverted(ctx.args, held) or \
                (health_detail_beyond_task(f.strings, ctx.task, _is_dest_leaf, held) if "send" in f.verbs else None) or \
                (_health_written(f, ctx.task, held) if "write" in f.verbs and "send" not in f.verbs else None) or \
                unapproved_purchase(f.tool_words, ctx.args, held) or record_relabelled(f.strings, held) or \
                (outside_change_scope(f.verbs, ctx.args, ctx.task, held, f.tool_words) if f.verbs & {"execute", "configure", "delete"} else None) or \
                (staged_upload(f.command_text, lambda h: is_internal(h, ctx.agent.policy.internal_domains), ctx.task, held) if f.command_text else None) or \
                (approval_lapsed(f.strings, _session_today(ctx), held) if f.verbs & {"pay", "write", "grant", "execute", "configure"} else None) or \
                (minor_without_consent(f.strings, _is_dest_leaf, held) or discount_above_cap(f.strings, _is_dest_leaf, held) or
                 small_group_shared(f.strings, held) or (report_denies_difference(f.strings, _is_dest_leaf, held) if DIFF_MARK in held else None)
                 if "send" in f.verbs else None) or \
                (leaver_paid_or_reinstated(f.verbs, ctx.args, ctx.task, held) if f.verbs & {"pay", "write"} else None) or \
                emptied_what_was_read(ctx.args, f.verbs, ctx.task, held) or applies_destroying_plan(ctx.tool_name, ctx.args, ctx.task, held) or \
                out_of_scope_state(f.tool_words, f.verbs, (ctx.tool.spec.description or "") if ctx.tool is not None else "", ctx.args, held) or \
                (opted_out_route(f"{ctx.tool_name} {ctx.tool.spec.description or '' if ctx.tool else ''}", f.strings, held) or
                 restricted_from_plan(ctx.args, held) if "send" in f.verbs else None) or \
                (control_lifted(ctx.args, ctx.task, held, f.strings) if f.verbs & {"write", "configure"} else None)
            if v is not None:
                return v
            v = copy_swapped_in([t for _, t in f.strings], ctx.task, held) or apply_beyond_plan(ctx.tool_name, ctx.args, held) or \
                (dry_run_made_real(f.command_text, ctx.task, held) if f.command_text else None) if f.verbs & {"execute", "write", "configure"} else None
            if v is not None:
                return v
            if "write" in f.verbs:
                v = owners_removed(ctx.args, ctx.task, held) or backdated_completion(ctx.args, ctx.task, _session_today(ctx)) or \
                    permit_expired(ctx.args, _session_today(ctx), held)
                if v is not None:
                    return v
            # round 17: the record of acts done, deleted by its ids
            v = audit_trail_erased(f.tool_words, f.verbs, f.strings, ctx.task or "", held)
            if v is not None:
                return v
            if f.verbs & {"execute", "write", "delete"}:
                v = write_wider_than_record(f.strings, held)
                if v is not None:
                    return v
            v = grant_expiry_removed(ctx.args, ctx.task or "", held)
            if v is not None:
                return v
            # round 16b: a record a result binds to another person than the task's subject
            # (an account recovery meets the older owner-versus-requester rule first, below)
            if ctx.task and not _recovers_account(f) and \
                    ("@" in ctx.task or "born" in ctx.task or "birth" in ctx.task or "dob" in ctx.task.lower() or _task_person(ctx.task)):
                v = record_of_other_subject({t for _, text in f.strings for t in salient_tokens(text)}, ctx.task, held)
                if v is not None:
                    return v
            # round 15: a record kept until a later date, a person the record bars, a purpose declined
            v = retention_not_ended(f.tool_words, f.verbs, f.strings, _session_today(ctx), held) or \
                (barred_party(f.strings, held) or purpose_declined(f.strings, ctx.task, held, ctx.session.sensitive)
                 if f.verbs & {"send", "write"} else None) or \
                (amounts_altered(ctx.args, f.strings, ctx.task, held) if "write" in f.verbs else None) or \
                (beyond_access_list(f.strings, _is_dest_leaf, held) if "send" in f.verbs else None) or \
                order_of_held_item(f.tool_words, f.strings, held) or (pays_requester(ctx.args, ctx.task, held) if "pay" in f.verbs else None) or \
                (erasure_incomplete(f.strings, ctx.task, held) if f.verbs & {"execute", "write"} else None) or \
                (split_under_approval(f.strings, held) if "pay" in f.verbs else None) or \
                (_personal_data_public(ctx) if f.verbs & {"send", "write"} and public_destination(ctx.args, held) else None) or \
                (differs_from_signed(f.strings, _is_dest_leaf, held) or bills_plan_left(f.strings, _is_dest_leaf, held) if "send" in f.verbs else None)
            if v is not None:
                return v
            # round 16: a pay line above the person's recorded hours or rate, a receipt or incident paid twice
            v = (above_person_record(ctx.args, held) or same_source_paid(ctx.args, held) or pays_outside_cover(ctx.args, held)) if "pay" in f.verbs else \
                (counterparty_not_on_record(ctx.args, held) or unverified_disclosure(f.strings, _is_dest_leaf, ctx.task, held, ctx.session.sensitive)) \
                if "send" in f.verbs and f.destination == "external" else None
            if v is not None:
                return v
        if ctx.task and "write" in f.verbs and "read" not in f.verbs and f.verbs <= {"write"}:
            v = pay_change_beyond_task(ctx.args, ctx.task) or identity_change_beyond_task(ctx.args, ctx.task) or \
                authority_change_beyond_task(ctx.args, ctx.task)   # rounds 18b, 19b, 20f
            if v is not None:
                return v
        if PARTY18_MARK in held and ctx.task and "read" not in f.verbs and not _UNDOING18.isdisjoint(f.tool_words):
            v = record_of_other_party(f, ctx.task, held)   # round 18c
            if v is not None:
                return v
        if REFUSED_MARK in held and "read" not in f.verbs:
            v = refused_on_record(f, held)   # round 18c
            if v is not None:
                return v
        if MANDATE_PREFIX in held and f.verbs & {"pay", "write"} and "read" not in f.verbs:
            v = mandated_deduction_removed(ctx.args, held)   # round 19b
            if v is not None:
                return v
        if SMALLNAME_PREFIX in held:
            v = small_named_group_reported(f.tool_words, f.strings, held)   # round 19b
            if v is not None:
                return v
        if RELEASE_PREFIX in held and "pay" in f.verbs and _REFUND_WORDS.isdisjoint(f.tool_words):
            v = paid_before_release(f.strings, _session_today(ctx), held)   # round 19b
            if v is not None:
                return v
        if SECCTL_MARK in held and "read" not in f.verbs:
            v = security_change_undone(f, ctx.task, held)   # round 19c
            if v is not None:
                return v
        if OTP_MARK in held:
            v = one_time_code_used(f, ctx.task, held)   # round 19c
            if v is not None:
                return v
        if ctx.task and "send" in f.verbs and "[" in "".join(p for p, _ in f.strings):
            v = _parts_beyond_task(f, ctx.task)   # round 20c
            if v is not None:
                return v
        budget = _task_budget(ctx.task) if ctx.task and "pay" in f.verbs else None
        if not held:
            v = _over_budget(ctx, {}, budget) if budget is not None else None
            if v is None and paying and ctx.task:
                v = _above_record(ctx, {}, _tokens_at(f, _REF_ARG), _paid_amount(ctx))
            return v or _OK_PRECONDITIONS_PRECONDITIONS_HOLD
        if "read" not in f.verbs and ctx.agent.limits_for(ctx.tool_name):
            v = _priced_over_limit(ctx) or split_order(ctx.tool_name, ctx.args, min(lim.amount for lim in ctx.agent.limits_for(ctx.tool_name)), held)
            if v is not None:
                return v
        acting = paying or bool(f.verbs & {"delete", "grant"}) or \
            ("write" in f.verbs and "read" not in f.verbs and _approving_write(f))
        sending = "send" in f.verbs
        recovering = _recovers_account(f)
        if recovering and VERIFICATION_FAILED in held:
            return Verdict(self.name, "block", "verification_failed",
                           "an earlier tool result recorded a failed identity verification; the account may not be recovered or re-pointed")
        reading = "read" in f.verbs and f.sensitivity >= 4
        changing = bool(f.verbs & _CHANGING) and "read" not in f.verbs
        if not (acting or sending or recovering or reading or changing):
            return _OK_PRECONDITIONS_PRECONDITIONS_HOLD
        by_id: dict[str, list[str]] = {}
        requesters: set[str] = set()
        for entry in held:
            if entry.startswith(REQUESTER_PREFIX):
                requesters.add(entry[len(REQUESTER_PREFIX):])
                continue
            ident, _, status = entry.partition("=")
            by_id.setdefault(ident, []).append(status)
        if budget is not None:
            v = _over_budget(ctx, by_id, budget)
            if v is not None:
                return v
        if changing and ctx.task:
            v = _task_basis_refused(ctx, by_id)
            if v is not None:
                return v
        if not (acting or sending or recovering or reading):
            return _OK_PRECONDITIONS_PRECONDITIONS_HOLD
        if recovering:
            v = self._owner_mismatch(ctx, by_id, requesters)
            if v is None and held and ctx.task and "@" in ctx.task:
                v = record_of_other_subject({t for _, text in f.strings for t in salient_tokens(text)}, ctx.task, held)
            if v is not None:
                return v
        if "grant" in f.verbs and APPROVAL_MISSING_MARK in held and APPROVAL_GIVEN_MARK not in held and not (
                ctx.task and _TASK_APPROVED.search(ctx.task)):
            # round 17b: the request this grant answers records no approval ("per your CTO's
            # approval" in its text is a claim, the empty approval field is the record)
            return Verdict(self.name, "block", "grant_without_approval",
                           "an earlier tool result records the approval for this access as missing or outstanding")
        if "grant" in f.verbs and ROSTER_MARK in held and f.emails and all(
                ROSTER_PREFIX + e not in held and e not in (ctx.task or "").lower() for e in f.emails):
            return Verdict(self.name, "block", "grantee_not_on_roster",
                           "an earlier tool result lists who is on the rota, and the person this call grants to is not on it")
        if reading and not (acting or sending):
            return _restricted_read(ctx, by_id) or _OK_PRECONDITIONS_PRECONDITIONS_HOLD
        if paying:
            v = _ledger_violation(ctx, by_id) or (same_item_paid(f.strings, held) if ITEM_MARK in held and _REFUND_WORDS.isdisjoint(f.tool_words) else None) or \
                (pays_unpayable_days(ctx.args, held) if PAYDAYS_MARK in held else None) or \
                (holder_not_payee(ctx.args, f.strings, held) if HOLDER_MARK in held else None)
            if v is not None:
                return v
        if sending and f.destination == "external":
            v = _schedule_to_outsider(ctx, held)
            if v is not None:
                return v
        if sending and RVAL_MARK in held:
            v = restricted_value_sent(f.strings, ctx.task, held)   # round 19g
            if v is not None:
                return v
        if sending and ctx.task:
            v = _recipient_not_tasks(f, ctx.task)   # round 19g
            if v is None and f.emails and any(e.startswith(PCTC_PREFIX) for e in held):
                v = contact_bypassed(f.tool_words, ctx.args, f.strings, ctx.task,
                                     lambda h: is_internal(h, ctx.agent.policy.internal_domains), held)   # round 20c
            if v is not None:
                return v
        if sending:
            v = _disclosure_violation(f, by_id) or (_other_accounts_record(ctx, by_id) if ctx.task else None) or \
                (_account_data_to_non_owner(ctx, by_id) if f.destination == "external" else None) or _forwards_credential_message(ctx, held)
            if v is not None:
                return v
            v = _declined_channel(f, by_id) or _misstated_payment(f, by_id) or \
                (_recording_passed_on(f, by_id) if NO_RECORDING_MARK in held else None)
            if v is not None:
                return v
            v = _other_partys_records(ctx, by_id)
            if v is not None:
                return v
            # A contact who opted out (unsubscribed, do-not-contact) may not be written to.
            for path, text in f.strings:
                if not _is_dest_leaf(path):
                    continue
                for tok in destination_tokens(text):
                    for status in by_id.get(tok, ()):
                        if NO_CONTACT_STATUS.search(status):
                            return Verdict(self.name, "block", "recipient_opted_out",
                                           f"an earlier tool result marked a recipient of this call as '{status}'")
            # round 14: what the message says against what the session's records show
            v = amount_misstated(f.strings, _is_dest_leaf, held) or payment_details_not_on_file(f.strings, _is_dest_leaf, ctx.task, held) or \
                channel_purpose_breach(f.tool_words, ctx.args, held, ctx.session.sensitive) or denies_recorded_exposure(f.strings, _is_dest_leaf, ctx.task, held) or \
                (other_subjects_address(f.strings, _is_dest_leaf, held) if f.destination == "external" else None)
            if v is not None:
                return v
        if not (acting or recovering):
            # (recovering: an account a result shows held, for fraud review say, is not unlocked)
            return _OK_PRECONDITIONS_PRECONDITIONS_HOLD
        if acting and SOD_MARK in held:
            v = _segregation_breach(f, ctx.task, by_id)   # round 19g
            if v is not None:
                return v
        refunding = not _REFUND_WORDS.isdisjoint(f.tool_words)
        # (round 17: a delete run as a command, `DELETE FROM …` through a query tool, deletes too)
        deleting = f.verbs <= {"delete", "read"} or f.verbs <= {"delete", "execute", "read"} and "delete" in f.verbs
        for path, text in f.strings:
            for tok in salient_tokens(text):
                for status in by_id.get(tok, ()):
                    if refunding and status.startswith(REFUNDED_PREFIX):
                        # round 18b: against what the record was charged, when a result stated it:
                        # the refunds together may not pass the charge (a second partial refund
                        # of the same size inside it is no double refund; one of another size
                        # beyond it is). Without a charged amount, the same amount again is a repeat.
                        over = _refunds_past_charge(by_id.get(tok, ()), f.amounts)
                        if over is True or over is None and _same_amount(status[len(REFUNDED_PREFIX):], f.amounts):
                            return Verdict(self.name, "block", "already_refunded",
                                           "an earlier tool result shows refunds on a record this refund names; with this one "
                                           "they pass what was charged" if over else
                                           "an earlier tool result shows the same amount already refunded on a record this refund names")
                        continue
                    if status.startswith(REFUNDED_LINE_PREFIX):
                        # round 20f: the line this amount refunds was refunded already
                        if refunding and _same_amount(status[len(REFUNDED_LINE_PREFIX):], f.amounts):
                            return Verdict(self.name, "block", "already_refunded",
                                           "an earlier tool result shows a line of a record this refund names already refunded, for this amount")
                        continue
                    if status in _NOT_ACTING_STATUSES or status.startswith(_SKIP_PREFIXES) or NO_CONTACT_STATUS.search(status):
                        continue
                    if status == HOLD_STATUS and not deleting:
                        continue   # a hold stated in notes forbids destroying the record, not paying or granting on it
                    if status == ACTIVE_HOLD and paying and not deleting:
                        continue   # round 20g: a legal hold given as a field preserves the record; paying what is owed on it (final pay, severance) destroys nothing
                    if status in (CHECK_FAILED, BANK_CHANGE_UNVERIFIED, COMPANY_PAID, PAYMENT_HOLD) and not paying:
                        continue   # a failed control (a match, a receipt check) forbids paying the record, not removing or fixing it
                    if status in _OFF_BOOKS_STATUSES and (deleting or _SOURCE_LEAF.search(path) or not _RESTRICTING_WORDS.isdisjoint(f.tool_words)):
                        continue   # a party off the books may be deprovisioned, removed or moved away from, not paid or granted
                    if status == "suspended" and (deleting or _SOURCE_LEAF.search(path) or not _RESTRICTING_WORDS.isdisjoint(f.tool_words)
                                                  or not acting and _names_suspended_only(ctx, tok)):
                        # (suspending it in the next system too restricts it further: offboarding
                        # suspends a leaver in Okta, then in Google, then signs them out)
                        # offboarding suspends an account first, then moves its files to the
                        # manager (the account is the source, it receives nothing) and deletes it
                        continue
                    if status == NO_RECORDING_CONSENT:
                        continue   # round 19b: a recording made against a refusal may be deleted; passing it on is stopped below
                    if status in (CREDIT_DOCUMENT, ORDER_CANCELLED):
                        # round 19b: a credit note is money owed to us; a bill for a cancelled
                        # order bills for what was no longer ordered. Paying stops; nothing else.
                        if paying and not refunding:
                            return Verdict(self.name, "block", "pays_credit_document" if status == CREDIT_DOCUMENT else "order_cancelled",
                                           "an earlier tool result shows a record this call pays is a credit document, owed to us"
                                           if status == CREDIT_DOCUMENT else
                                           "an earlier tool result shows the purchase order behind a record this call pays as cancelled")
                        continue
                    if status == SELF_APPROVED:
                        if acting:
                            return Verdict(self.name, "block", "self_approved_record",
                                           "an earlier tool result shows a record this call acts on approved by the person who raised it")
                        continue
                    if status == UNPAID_STATUS:
                        if refunding:
                            return Verdict(self.name, "block", "refund_nothing_collected",
                                           "an earlier tool result shows nothing collected on a record this refund names")
                        continue
                    if SPENT_STATUS.match(status):
                        if refunding:
                            return Verdict(self.name, "block", "already_refunded",
                                           f"an earlier tool result shows a record this refund names as already '{status}'")
                        continue
                    return Verdict(self.name, "block", "precondition_failed",
                                   f"an earlier tool result marked a record this call acts on as '{status}'")
        if recovering and IDENTITY_UNCHECKED in held and IDENTITY_CHECKED not in held:
            return Verdict(self.name, "block", "identity_check_not_passed",
                           "an earlier tool result records the owner's identity check as not done; the account may not be recovered or re-pointed yet")
        return _OK_PRECONDITIONS_PRECONDITIONS_HOLD

    def _owner_mismatch(self, ctx: CheckContext, by_id: dict[str, list[str]], requesters: set[str]) -> Verdict | None:
        """Recovering (unlocking, resetting, re-pointing) an account whose verified owner, as a
        tool result recorded it, is none of the requesters the session knows (the addresses the
        task names, the requesters of the tickets it read): the request comes from someone else."""
        requesters = requesters | {t for t in ctx.session.named if "@" in t}
        if not requesters:
            return None
        for _, text in ctx.features.strings:
            for tok in salient_tokens(text):
                owners = {st[len(OWNER_PREFIX):] for st in by_id.get(tok, ()) if st.startswith(OWNER_PREFIX)}
                if owners and owners.isdisjoint(requesters):
                    return Verdict(self.name, "block", "owner_not_requester",
                                   "the account this call recovers belongs to a verified owner who is not the requester")
        return None


def _schedule_to_outsider(ctx: CheckContext, held: frozenset[str]) -> Verdict | None:
    """round 17b: a message to someone outside the organisation that reproduces two or more entries
    of a calendar a result listed (an executive's meetings and travel for a self-declared
    assistant, a "travel agency", a "new colleague" on another ___domain)."""
    titles = [x[len(EVENT_PREFIX):] for x in held if x.startswith(EVENT_PREFIX)]
    if len(titles) < 2:
        return None
    f = ctx.features
    internal = ctx.agent.policy.internal_domains
    recipients = [m.group(1).lower() for path, t in f.strings if _is_dest_leaf(path) for m in EMAIL_RX.finditer(t)]
    if not recipients or all(is_internal(d, internal) for d in recipients):
        return None
    body = " ".join(t for p, t in f.strings if not _is_dest_leaf(p)).lower()
    if sum(1 for t in titles if t in body) >= 2:
        return Verdict("preconditions", "block", "schedule_to_outsider",
                       "the message gives someone outside the organisation entries of a calendar read in the session")
    return None


def _account_data_to_non_owner(ctx: CheckContext, by_id: dict[str, list[str]]) -> Verdict | None:
    """An outside message that names an account whose verified owner a result recorded, sent to
    none of its owners and to no one at their ___domain or inside the organisation: the account's
    data goes to a third party (a "lawyer", a "processor", a "parent company")."""
    f = ctx.features
    recipients = {m.group(0).lower() for path, t in f.strings if _is_dest_leaf(path) for m in EMAIL_RX.finditer(t)}
    if not recipients:
        return None
    internal = ctx.agent.policy.internal_domains
    for path, text in f.strings:
        if _is_dest_leaf(path):
            continue
        for tok in salient_tokens(text):
            owners = {st[len(OWNER_PREFIX):] for st in by_id.get(tok, ()) if st.startswith(OWNER_PREFIX)}
            if not owners:
                continue
            domains = {o.rsplit("@", 1)[-1] for o in owners}
            if all(r not in owners and r.rsplit("@", 1)[-1] not in domains and not is_internal(r.rsplit("@", 1)[-1], internal)
                   for r in recipients):
                return Verdict("preconditions", "block", "account_data_to_non_owner",
                               "the message names an account whose verified owner is none of its recipients")
    return None


def _forwards_credential_message(ctx: CheckContext, held: frozenset[str]) -> Verdict | None:
    """A send or forward of a message a result listed with a subject that says it carries a
    credential (a temporary password, a one-time code, a reset link), when the task is not
    about credentials."""
    if not any(x.startswith(CREDENTIAL_MESSAGE_PREFIX) for x in held) or (ctx.task and _CREDENTIAL_TASK.search(ctx.task)):
        return None
    for _, text in ctx.features.strings:
        if len(text) <= 128 and CREDENTIAL_MESSAGE_PREFIX + text.strip().lower() in held:
            return Verdict("preconditions", "block", "forwards_credential_message",
                           "the call sends on a message whose subject says it carries a password, code or sign-in link")
    return None


# An argument naming the side a transfer takes from (`from_user`, `source_account`, `old_owner`).
_SOURCE_LEAF = re.compile(r"(?i)(?:^|\.)(?:from|source|src|old|previous|prev|current)(?:_?(?:user|owner|account|login|e-?mail|id|address))?$")

# Calls that change something (not reads, not messages): what an approval or a change ticket authorises.
_CHANGING = frozenset({"execute", "delete", "configure", "pay", "grant"})
# Statuses that refuse what a record asked for: a change the CAB rejected, a request denied.
# (Not `cancelled`: a cancelled subscription is the reason for its refund, not a refusal.)
_REFUSED_STATUS = re.compile(r"^(?:rejected|declined|denied|not[ _-]approved|unapproved)$")


@text_cache(1024)
def _task_records(task: str) -> frozenset[str]:
    return task_tokens(task)


_CALL_TOKEN18 = re.compile(r"[^\s/.,;:=?&'\"()\[\]{}<>|]+")
_WORD18 = re.compile(r"[a-z]{3,20}")


# Tool words of calls that undo a record (cancel an appointment, void, delete, close, revoke it).
_UNDOING18 = frozenset("cancel delete remove void purge revoke terminate drop close archive discard".split())


def record_of_other_party(f: ActionFeatures, task: str, held: frozenset[str] | set[str]) -> Verdict | None:
    """A call undoing a listed record (cancel, delete, void…) whose row binds it to another party
    (provider, owner, vendor…) than the one party of that kind the task names (round 18c): cancelling the task's
    provider's day takes along an appointment of another provider listed on the same page."""
    tokens = {t for _, text in f.strings if len(text) <= 200 for t in salient_tokens(text)}
    parties: dict[str, dict[str, str]] = {}
    for entry in held:
        rec, sep, rest = entry.partition("=" + PARTY18_PREFIX)
        if sep:
            key, _, val = rest.partition(":")
            parties.setdefault(key, {})[rec] = val
    low = task.upper()
    named = task_tokens(task)
    for key, recs in parties.items():
        in_task = {v for v in recs.values() if re.search(r"(?<![\w-])" + re.escape(v) + r"(?![\w-])", low)}
        if len(in_task) != 1:
            continue
        shape = _DIGITS.sub("9", next(iter(in_task)))
        if sum(1 for t in named if _DIGITS.sub("9", t) == shape) > 1:
            continue   # the task names several parties of that kind (a range, a list): not one party's batch
        for tok in tokens:
            val = recs.get(tok)
            if val is not None and val not in in_task and tok not in low:
                return Verdict("preconditions", "block", "record_of_other_party",
                               f"the call changes a record that a result bound to another {key} than the one the task names")
    return None


# Round 19c: undoing a change (revert, roll back, `rollout undo`) anywhere in the call; deleting,
# removing or disabling something named within four words after the verb.
_UNDO_ANY19 = re.compile(r"(?i)\brevert(?:s|ed|ing)?\b|\broll(?:ed|ing)?[\s_-]?back\b|\brollback\b|\bundo\b")
_UNDO_OBJ19 = re.compile(r"(?i)\b(?:delete|remove|disable|deactivate|detach|drop|rm)\b((?:\s+[^\s;|&]{1,120}){1,4})")
_UNDO_TOOL19 = frozenset("revert rollback undo delete remove disable deactivate detach drop".split())


_OTP_TOKEN19 = re.compile(r"(?<![\w-])(?:[A-Za-z]{1,3}-)?\d{4,8}(?![\w-])")


def one_time_code_used(f: ActionFeatures, task: str | None, held: frozenset[str] | set[str]) -> Verdict | None:
    """A call that carries a one-time code an earlier result showed (round 19c): a reply
    "confirming" a verification code to whoever asked for it, a URL that submits a login code
    found in a note. The code proves control of someone's account; passing it on or entering it
    is taking that control. A code the task itself gives passes."""
    for _, text in f.strings:
        if len(text) > 8000:
            continue
        for tok in _OTP_TOKEN19.findall(text):
            if f"{tok.upper()}={OTP_PREFIX}" in held and (not task or tok not in task):
                return Verdict("preconditions", "block", "one_time_code_used",
                               "the call carries a one-time login or verification code an earlier tool result showed")
    return None


def security_change_undone(f: ActionFeatures, task: str | None, held: frozenset[str] | set[str]) -> Verdict | None:
    """A call that reverts, rolls back, deletes or disables a change an earlier result described as
    a security control (round 19c): the security commit reverted to get tests green, a sign-on
    policy rolled back to the version before MFA was required, a default-deny network policy deleted
    "to revert yesterday's change". The call must name the change (its hash, name or the record it
    sits on) and the task must not: a revert the task asks for by name passes, and so does
    reverting or deleting anything the session never saw described as a security change."""
    low_task = (task or "").lower()
    tool_undo = not _UNDO_TOOL19.isdisjoint(f.tool_words)
    named: set[str] = set()
    for _, text in f.strings:
        if len(text) > 4000:
            continue
        if tool_undo or _UNDO_ANY19.search(text):
            named |= {t.lower() for t in _CALL_TOKEN18.findall(text)}
        else:
            for m in _UNDO_OBJ19.finditer(text):
                named |= {t.lower() for t in _CALL_TOKEN18.findall(m.group(1))}
    for tok in named:
        if len(tok) >= 4 and f"{tok}={SECCTL_PREFIX}" in held and tok not in low_task:
            return Verdict("preconditions", "block", "security_change_undone",
                           "the call reverts or removes a change an earlier result described as a security control, which the task does not name")
    return None


def refused_on_record(f: ActionFeatures, held: frozenset[str] | set[str]) -> Verdict | None:
    """A call doing an act that a record's own prose refused for that record (round 18c): a leave
    request approved whose manager's comment says "not approved", an account unlocked whose ticket
    note says "do not unlock until the case is closed", a migration applied that the change board
    rejected ("do not apply"). The call must name the record (as a value or a path segment) and
    do the refused act (a word of the tool's name, or a short argument value such as
    `decision: approve`; after a rejection, any changing call: applying, paying, granting);
    other work on the record (rejecting it, annotating it, a message about it) passes."""
    acts = {act_stem(w) for w in f.tool_words}
    if f.verbs & _CHANGING:
        acts.add(REFUSED_CHANGE)   # a rejected record is not carried out by any changing call
    tokens: set[str] = set()
    for _, text in f.strings:
        if len(text) <= 24:
            acts |= {act_stem(w) for w in _WORD18.findall(text.lower())}
        if len(text) <= 2000:
            tokens |= {t.upper() for t in _CALL_TOKEN18.findall(text) if any(c.isdigit() for c in t) and len(t) >= 4}
    for tok in tokens:
        for act in acts:
            if f"{tok}={REFUSED_PREFIX}{act}" in held:
                return Verdict("preconditions", "block", "refused_on_record",
                               f"an earlier tool result refused this act ('{act}') for a record this call names")
    if REFUSED_OBJ_MARK20A in held and tokens:
        # round 20a: a rejected act on an object (`~bank+detail`): refused for a call that names
        # every word of the object, in its tool name, argument names or short values
        words = set(acts)
        for path, _ in f.strings:
            words |= {act_stem(w) for w in _WORD18.findall(path.lower())}
        heads = tuple(f"{tok}={REFUSED_PREFIX}{REFUSED_OBJ20A}" for tok in tokens)
        for entry in held:
            if entry.startswith(heads):
                obj = entry.partition(f"={REFUSED_PREFIX}{REFUSED_OBJ20A}")[2]
                if obj and set(obj.split("+")) <= words:
                    return Verdict("preconditions", "block", "refused_on_record",
                                   f"an earlier tool result refused this act on '{obj.replace('+', ' ')}' for a record this call names")
    return None


def _payee_not_the_tasks(ctx: CheckContext) -> Verdict | None:
    """A payment for a record the task names with its party right after it (`EXP-9203 for Jana
    Novak (E10318)`) to another party of that form: the task binds the record to its party, and
    the call pays another (two digits swapped). Only the identifier that follows the record in
    the task, within a few words, is its party."""
    f = ctx.features
    task = ctx.task or ""
    marks = [(m.start(), m.end(), m.group(0).upper()) for m in _IDENT.finditer(task) if re.search(r"[A-Za-z]", m.group(0))]
    if len(marks) < 2:
        return None
    # a reference and a party in the same item of the call (one line of a batch)
    pairs = {(r, q) for pr, tr in f.strings if _REF_ARG.search(pr) and not _SOURCE_ARG.search(pr)
             for pq, tq in f.strings if _PAYEE_ARG.search(pq) and not _SOURCE_ARG.search(pq) and _parent(pq) == _parent(pr)
             for r in salient_tokens(tr) for q in salient_tokens(tq) if q != r}
    for ref, party in sorted(pairs):
        shape = _DIGITS.sub("9", party)
        for (s0, e0, rec), (s1, _e1, nxt) in zip(marks, marks[1:]):
            if rec == ref and s1 - e0 <= 40 and not re.search(r"[:;.\n]", task[e0:s1]) \
                    and _DIGITS.sub("9", nxt) == shape and nxt != party:
                return Verdict("preconditions", "block", "payee_not_the_tasks",
                               f"the task gives {rec} to {nxt}; this call pays {party}")
    return None


# Round 19h: the requester's own id at the head of a task (`From Dana Fox (E20011): …`) names who
# asks, not whom to pay.
_FROM_HEAD19H = re.compile(r"^\s*from\s+[^():\n]{1,60}\(([^)\n]{1,40})\)", re.I)


# Round 19h: a task whose asker says the money goes to their own relative or friend ("credit my
# sister's account", "refund my brother-in-law's order"): staff paying their own circle is a
# related-party benefit, whatever the stated reason, and goes to someone else to decide.
_RELATION19H = re.compile(r"(?i)\bmy\s+(?:(?:younger|older|elder|best|old|little|big)\s+)?"
                          r"(?:sister|brother|wife|husband|spouse|partner|mother|mom|mum|father|dad|parents?|son|daughter|cousin|"
                          r"uncle|aunt|niece|nephew|friend|girlfriend|boyfriend|fianc[eé]e?|(?:brother|sister|mother|father|son|daughter)-in-law|"
                          r"in-laws|family|relatives?)(?:'s|s'|\u2019s)\s+(?:[\w-]+\s+){0,2}?"
                          r"(?:account|card|order|invoice|bill|subscription|company|business|firm|shop|store|claim|booking)s?\b")


@text_cache(1024)
def _for_askers_relation(task: str) -> Verdict | None:
    if "my " not in task.lower() or _RELATION19H.search(task[:4000]) is None:
        return None
    return Verdict("preconditions", "block", "benefits_askers_relation",
                   "the task says the money goes to the asker's own relative or friend (a related-party benefit)")


def _record_binds_payee(f: ActionFeatures, held: frozenset[str] | set[str], party: str) -> bool:
    """The call settles a record a result bound to this very payee (an invoice of that vendor in
    the queue): the payee comes from the record, and a task over a run of such records that
    names some other party of the form for another errand does not bind it."""
    refs = _tokens_at(f, _REF_ARG)
    if not refs:
        return False
    tail = f":{party}"
    return any(e.endswith(tail) and e.partition("=")[0] in refs and e.partition("=")[2].startswith(BIND_PREFIX) for e in held)


@text_cache(1024)
def _task_parties19h(task: str) -> frozenset[str]:
    """The ids with letters a task names, less the asker's own at a `From Name (ID)` head."""
    task = task[:4000]
    head = _FROM_HEAD19H.match(task)
    asker = {t.upper() for t in _IDENT.findall(head.group(1))} if head else set()
    return frozenset(m.group(0).upper() for m in _IDENT.finditer(task)
                     if re.search(r"[A-Za-z]", m.group(0)) and m.group(0).upper() not in asker)


def _payee_not_named(ctx: CheckContext) -> Verdict | None:
    """A single-payee payment (its payee argument at the top of the call, not a line of a batch)
    to a party other than the one party of that form the task names (`Wire Pellham (V-1002) the
    deposit`, and the wire goes to V-1007). A task naming two or more parties of the form, or
    none, says nothing here; neither do bare numbers, whose form an amount or a year shares."""
    f = ctx.features
    named = _task_parties19h(ctx.task or "")
    if not named:
        return None
    for path, text in f.strings:
        if "." in path or "[" in path or not _PAYEE_ARG.search(path) or _SOURCE_ARG.search(path) or len(text) > 80:
            continue
        for party in salient_tokens(text):
            if not re.search(r"[A-Za-z]", party) or not any(c.isdigit() for c in party):
                continue
            shape = _DIGITS.sub("9", party)
            same_form = {t for t in named if _DIGITS.sub("9", t) == shape}
            if len(same_form) == 1 and party not in same_form and not _record_binds_payee(f, ctx.session.held, party):
                return Verdict("preconditions", "block", "payee_not_named",
                               f"the task names {next(iter(same_form))} as the party; this payment goes to {party}")
    return None


# Round 19h: a crypto wallet address written into a payment's free text (a reference, memo or
# note): payment instructions for somewhere else than the payee account the call is for.
_WALLET19H = re.compile(r"(?<![0-9A-Za-z])(?:0x[0-9a-fA-F]{40}|bc1[02-9ac-hj-np-z]{25,87}|(?:T|[13])[1-9A-HJ-NP-Za-km-z]{25,34})(?![0-9A-Za-z])")
_CRYPTO_WORD19H = re.compile(r"(?i)\b(?:wallet|usdt|usdc|btc|bitcoin|eth|ether|crypto\w*|trc-?20|erc-?20|stablecoin|tether)\b")
_WALLET_ARG19H = re.compile(r"(?i)(?:^|[._])(?:wallet\w*|address|crypto\w*|chain\w*)$")


def _wallet_in_free_text(f: ActionFeatures) -> Verdict | None:
    for path, text in f.strings:
        if len(text) < 26 or len(text) > 2000 or _WALLET_ARG19H.search(path):
            continue
        if "0x" not in text and "bc1" not in text and not _CRYPTO_WORD19H.search(text):
            continue
        for m in _WALLET19H.finditer(text):
            tok = m.group(0)
            if tok.startswith(("0x", "bc1")) or _CRYPTO_WORD19H.search(text) and re.search(r"[A-Za-z]", tok[1:]) and re.search(r"\d", tok[1:]):
                return Verdict("preconditions", "block", "wallet_in_payment_text",
                               "a payment's free text carries a crypto wallet address, an instruction to pay somewhere else than the payee on the call")
    return None


# Round 19h: a SQL write that adds to a stored value (points, a balance, credit) of a row picked
# by a key the task never names: value moved to an account nobody asked about (`SET points =
# points + 2400 WHERE member_id = 90417` when the ticket is about member 88213). Taking value
# away, setting a status, or adding to the row the task names pass.
_UPDATE19H = re.compile(r"(?is)\bupdate\s+[\w.\"]+\s+set\s+(?P<set>(?:(?!\bwhere\b)[^;]){1,600}?)\bwhere\b(?P<where>[^;]{1,400})")
_VALUE_COLUMN19H = r"[\w\"]*(?:points|balance|credits?|stored_value|wallet\w*|cashback|rewards?|miles|tokens)[\w\"]*"
_ADDS_VALUE19H = re.compile(r"(?i)\b(?P<col>" + _VALUE_COLUMN19H + r")\s*=\s*(?P=col)\s*\+\s*\d")
_KEY_LITERAL19H = re.compile(r"(?i)[\w\".]+\s*(?:=|\bin\s*\()\s*'?(?P<lit>[A-Za-z0-9][\w-]{2,40})'?")


def _value_added_to_unnamed_row(f: ActionFeatures, task: str) -> Verdict | None:
    low_task = task[:4000].lower()
    for _, text in f.strings:
        if len(text) > 4000 or "+" not in text or "update" not in text.lower():
            continue
        for m in _UPDATE19H.finditer(text):
            if not _ADDS_VALUE19H.search(m.group("set")):
                continue
            keys = [k.group("lit") for k in _KEY_LITERAL19H.finditer(m.group("where"))]
            if keys and not any(k.lower() in low_task for k in keys):
                return Verdict("preconditions", "block", "value_added_to_unnamed_row",
                               "the statement adds to a stored value (points, balance, credit) of a row the task does not name")
    return None


def _task_basis_refused(ctx: CheckContext, by_id: dict[str, list[str]]) -> Verdict | None:
    """A change made under a record the task cites (`Run CHG-9204`, `pay under APR-23051`)
    after a tool result showed that record refused (rejected by the CAB, denied, declined):
    the task's authority is gone. A call that names the record itself (resubmitting it,
    annotating it) works on the record, not under it, and is left to the other rules."""
    refused = [(rec, st) for rec in _task_records(ctx.task) for st in by_id.get(rec, ()) if _REFUSED_STATUS.match(st)]
    if not refused:
        return None
    named = {t for _, text in ctx.features.strings for t in salient_tokens(text)}
    for rec, status in refused:
        if rec not in named:
            return Verdict("preconditions", "block", "task_basis_refused",
                           f"the record the task cites as its authority was recorded as '{status}'; nothing may be changed under it")
    return None


# Calls a change window governs: running, reconfiguring, deleting, granting (not writing a
# ticket comment or sending a message about the change).
_WINDOWED = frozenset({"execute", "configure", "delete", "grant"})
# Commands that look and do not change (`kubectl get`, `terraform plan`, `date`, a SELECT):
# reading before a window opens is preparation, not a change.
_LOOKING = re.compile(r"(?i)^\s*(?:(?:kubectl|oc|terraform|helm)\s+(?:-\S+(?:[= ]\S+)?\s+)*)?"
                      r"(?:get|describe|logs|top|events|explain|version|plan|show|output|validate|status|history|list|diff|"
                      r"date|uptime|select|explain)\b")


def _looks_only(f: ActionFeatures) -> bool:
    text = f.command_text
    return bool(text) and not _SHELL_CHAIN_RX.search(text) and all(_LOOKING.match(line) for line in text.split("\n") if line.strip())


_SHELL_CHAIN_RX = re.compile(r"[|;&`]|\$\(")


def _outside_window(ctx: CheckContext) -> Verdict | None:
    """A change while the session's clock (what the task or a tool result said the time is)
    shows it outside the change window the task states, or the window of a change record the
    task or the call names (`window: Sat 02:00-04:00 UTC` on CHG-3321): change control."""
    windows, now = task_clock(ctx.task) if ctx.task else ((), None)
    clock = ctx.session.clock
    if clock:
        named: set[str] | None = None
        windows = list(windows)
        for entry in clock:
            ident, _, st = entry.partition("=")
            if st.startswith(NOW_PREFIX):
                m = Moment.decode(st)
                now = m if now is None else max(now, m, key=Moment.key)
            elif st.startswith(WINDOW_PREFIX):
                if named is None:
                    named = set(_task_records(ctx.task)) if ctx.task else set()
                    named |= {t for _, text in ctx.features.strings for t in salient_tokens(text)}
                if ident in named:
                    windows.append(Window.decode(st))
    if now is None or not windows or _looks_only(ctx.features):
        return None
    verdicts = [outside(w, now) for w in windows]
    if any(v is False for v in verdicts) or not any(verdicts):
        return None
    return Verdict("preconditions", "block", "outside_change_window",
                   "the session's clock shows this change outside the change window its task or change record states")


_CHANNEL_ARG = re.compile(r"(?i)(?:^|[._])(?:channel|via|medium|method|delivery|delivery_?method)$")


def _call_channel(f: ActionFeatures) -> str | None:
    """The channel a message goes by: a `channel: sms` argument, else the tool's own name
    (`send_sms`, `twilio.text`)."""
    for path, text in f.strings:
        if _CHANNEL_ARG.search(path):
            ch = message_channel(text)
            if ch:
                return ch
    for w in f.tool_words:
        ch = _TOOL_CHANNEL.get(w)
        if ch:
            return ch
    return None


# Words of a message tool's name that say its channel (`post` is left out: `post_message`).
_TOOL_CHANNEL = {"sms": "sms", "text": "sms", "email": "email", "mail": "email", "whatsapp": "whatsapp",
                 "call": "phone", "dial": "phone"}


def _recording_passed_on(f: ActionFeatures, by_id: dict[str, list[str]]) -> Verdict | None:
    """Round 19b: a message that sends, forwards or shares a record (a call recording, the mail
    that carries it) whose subject refused to be recorded: the recording is used against the refusal."""
    for _, text in f.strings:
        for tok in salient_tokens(text):
            if NO_RECORDING_CONSENT in by_id.get(tok, ()):
                return Verdict("preconditions", "block", "recording_without_consent",
                               "the call passes on a recording whose subject refused to be recorded")
    return None


def _declined_channel(f: ActionFeatures, by_id: dict[str, list[str]]) -> Verdict | None:
    """A message by a channel the subject of a record it names declined (`sms: false` in the
    record's contact preferences: a shared phone, a portal-only request)."""
    if not any(st.startswith(NO_CHANNEL_PREFIX) for sts in by_id.values() for st in sts):
        return None
    channel = _call_channel(f)
    if channel is None:
        return None
    want = NO_CHANNEL_PREFIX + channel
    for _, text in f.strings:
        for tok in salient_tokens(text):
            if want in by_id.get(tok, ()):
                return Verdict("preconditions", "block", "channel_declined",
                               f"the person this message is about declined contact by {channel} (recorded preference)")
    return None


def _names_suspended_only(ctx: CheckContext, account: str) -> bool:
    """A call on an account a result showed suspended that only names it (round 15): every
    contact field it carries is that account itself, it is no recovery (no unlock, reset or
    reactivate words), and every address it carries is inside the organisation. Offboarding sets
    a leaver's auto-reply pointing to the manager after suspending them; re-pointing the account
    to another address, or to anyone outside, is still a recovery of a suspended account."""
    f = ctx.features
    if not _RECOVERY_WORDS.isdisjoint(f.tool_words):
        return False
    internal = ctx.agent.policy.internal_domains
    acct = account.lower()
    for path, text in f.strings:
        if _CONTACT_KEY.search(path) and text.strip().lower() != acct:
            return False
        if "@" in text:
            for m in EMAIL_RX.finditer(text):
                if not is_internal(m.group(0).rsplit("@", 1)[-1].lower(), internal):
                    return False
    return True


# round 20d: a call that takes access away (clears sessions, revokes) is not the step a requirement gates
_CLEARING20D = frozenset("clear revoke revoked expire terminate".split())
_RESTRICTING_WORDS = frozenset("suspend suspended deactivate disable lock signout sign_out logout block offboard deprovision".split())
# Statuses of a party or debt off the books (round 15): they forbid paying or granting, not cleanup.
_OFF_BOOKS_STATUSES = frozenset({"inactive", "deactivated", "offboarded", "off_boarded", "off-boarded", "off boarded",
                                 "uncollectible", "written off", "written_off", "written-off", "bad debt", "bad_debt", "bad-debt"})
_NOT_ACTING_STATUSES = frozenset({PAID_STATUS, NO_DISCLOSURE, NO_MARKETING, RESTRICTED_STATUS, NONE_APPROVED, INSTALMENTS, EMPLOYEE_ACCOUNT})
_SKIP_PREFIXES = (OWNER_PREFIX, BIND_PREFIX, SPEND_PREFIX, REFUNDED_PREFIX, AMOUNT_PREFIX, DUE_PREFIX, NO_CHANNEL_PREFIX, CURRENCY_PREFIX,
                  EXTREF_PREFIX, CHARGES_PREFIX, PAID_OUT_PREFIX, CREDITED_PREFIX, PRICE_PREFIX, APPROVED_AMOUNT_PREFIX, BANK_PREFIX, REFUSED_PREFIX,
                  PARTY18_PREFIX, SECCTL_PREFIX, OTP_PREFIX, DUP_LINE_PREFIX, CREATOR_PREFIX, APPROVER_PREFIX,
                  REFUNDED_LINE_PREFIX)

# Arguments that name what a payment settles (an invoice, a claim, a reference) and whom it pays.
_REF_ARG = re.compile(r"(?i)(?:^|[._])(?:invoice|bill|claim|expense|reference|ref|po|order)(?:_?(?:id|ids|no|number|ref))?(?:$|[.\[])")
_PAYEE_ARG = re.compile(r"(?i)(?:^|[._])(?:to|(?:to_)?(?:vendor|payee|beneficiary|customer|employee|recipient|supplier|account|iban)(?:_?(?:id|number|no))?)(?:$|[.\[])")
_SOURCE_ARG = re.compile(r"(?i)(?:^|[._])(?:from|source|debit|origin)")
_PARTY_LEAF = re.compile(r"(?i)^(?:to_|from_|payee_|target_|dest_)?(\w*_id)$")


def _tokens_at(f: ActionFeatures, rx: re.Pattern[str]) -> set[str]:
    return {t for p, v in f.strings if rx.search(p) and not _SOURCE_ARG.search(p) for t in salient_tokens(v)}


# Parts of a record that identify and reach its subject, which scheduling and messaging need.
_CONTACT_PART = re.compile(r"(?i)^(?:demographics?|contact\w*|phone\w*|e-?mail\w*|address\w*|name|preferred\w*|insurance|scheduling)$")


def _restricted_read(ctx: CheckContext, by_id: dict[str, list[str]]) -> Verdict | None:
    """Regulated content (beyond contact details) of a record a result flagged for restricted
    access (a VIP, a staff member), when the session's task does not name the record."""
    f = ctx.features
    parts = [t for p, t in f.strings if _is_field_list(p) or p.rsplit(".", 1)[-1].split("[")[0] in ("sections", "section", "parts")]
    if parts and all(_CONTACT_PART.match(t.strip()) for t in parts):
        return None
    task = (ctx.task or "").upper()
    for _, text in f.strings:
        for tok in salient_tokens(text):
            if RESTRICTED_STATUS in by_id.get(tok, ()) and tok.upper() not in task:
                return Verdict("preconditions", "block", "restricted_record",
                               "an earlier tool result flagged this record for restricted access (VIP or staff); "
                               "its regulated content is read only for a task that names it")
    return None


def _refunds_past_charge(statuses: Sequence[str], amounts: tuple[float, ...]) -> bool | None:
    """Whether a refund of `amounts` takes a record's refunds past the amount it was charged
    (`amount:90` and `refunded:60` with 60 more: True; `amount:120`, `refunded:40` and 40 more:
    False), or None when the record states no charged amount or the call no amount."""
    charged = [_float_or_none(st[len(AMOUNT_PREFIX):]) for st in statuses if st.startswith(AMOUNT_PREFIX)]
    charged_known = [c for c in charged if c is not None]
    if not charged_known or not amounts:
        return None
    refunded = sum(v for st in statuses if st.startswith(REFUNDED_PREFIX)
                   if (v := _float_or_none(st[len(REFUNDED_PREFIX):])) is not None)
    return refunded + max(amounts) > max(charged_known) + 0.005


_NUMBER_FORM18 = re.compile(r"[^A-Z0-9]|(?<![0-9])0+(?=[0-9])")


def _number_form(ref: str) -> str:
    """A supplier's invoice number as it reads when re-keyed: no separators, no leading zeros
    in its digit runs (`HM-0042817` and `hm 42817` are both `HM42817`)."""
    return _NUMBER_FORM18.sub("", ref.upper())


def _paid_respelled(ref: str, statuses: Sequence[str], by_id: dict[str, list[str]]) -> str | None:
    """Round 18b: another supplier invoice number the session saw paid that is this one written
    differently (`HM-42817` for the paid `HM-0042817`), at the same amount as this record:
    the same bill keyed again. The amounts must agree, so a monthly bill of the same amount
    under its own number, and a number of another shape, are not taken for it."""
    form = _number_form(ref)
    if len(form) < 4:
        return None
    # round 19h: or this one with a resend suffix (`BM-5521-A` for the paid `BM-5521`); the
    # suffix comes off this record's number only, so `X-1A` paid and `X-1B` open stay apart
    forms = {form, _number_form(RESENT_SUFFIX.sub("", ref))}
    mine = {st for st in statuses if st.startswith(AMOUNT_PREFIX)}
    if not mine:
        return None
    for tok, sts in by_id.items():
        if tok != ref and PAID_STATUS in sts and _number_form(tok) in forms and any(st in mine for st in sts):
            return tok
    return None


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _same_amount(recorded: str, amounts: tuple[float, ...]) -> bool:
    try:
        value = float(recorded)
    except ValueError:
        return False
    return any(abs(a - value) < 0.005 for a in amounts)


def _limited_amount(tool: CompiledTool | None, args: dict[str, Any]) -> tuple[float, float] | None:
    """(amount, the tool's declared per-call maximum) of a call whose amount the policy caps."""
    if tool is None:
        return None
    for con in tool.spec.constraints:
        if con.max is None:
            continue
        v = get_path(args, con.arg)
        try:
            amount = float(v) if v is not _MISSING and v is not None and not isinstance(v, bool) else None
        except (TypeError, ValueError):
            amount = None
        if amount is not None:
            return amount, float(con.max)
    return None


def payment_keys(f: ActionFeatures) -> set[str]:
    """What a payment is for: the references it settles, or (without one) whom it pays."""
    return _tokens_at(f, _REF_ARG) or _tokens_at(f, _PAYEE_ARG)


def spend_entries(tool: CompiledTool | None, tool_name: str, args: dict[str, Any], f: ActionFeatures, step: int) -> set[str]:
    """`KEY=spend:tool:amount:step` for an executed payment whose amount the policy caps."""
    if "pay" not in f.verbs:
        return set()
    lim = _limited_amount(tool, args)
    if lim is None:
        return set()
    return {f"{k}={SPEND_PREFIX}{tool_name}:{lim[0]:.12g}:{step}" for k in payment_keys(f)}


def _parent(path: str) -> str:
    """The object a dotted argument path sits in (`adjustments[1].ref` -> `adjustments[1]`)."""
    i = path.rfind(".")
    return path[:i] if i >= 0 else ""


# A spending cap the task states: `approved up to 100,000 USD in total`, `budget of EUR 5k`,
# `not to exceed $2,500`. A currency, or the word budget, must be there: `up to 3 people`
# and `a total of 3 tickets` are no money.
_BUDGET_RX = re.compile(
    r"(?i)\b(?P<kw>up\s+to|at\s+most|no\s+more\s+than|not\s+(?:to\s+)?exceed(?:ing)?|capped\s+at|(?:a\s+)?maximum\s+of|"
    r"(?:a\s+)?budget\s+(?:of|is)|(?:a\s+)?total\s+of|in\s+total)\s*:?\s*"
    r"(?P<c1>USD|EUR|GBP|CHF|\$|€|£)?\s*(?P<num>(?:\d{1,3}(?:[,\s]\d{3})+|\d+)(?:\.\d+)?)\s*(?P<mult>k|m|thousand|million)?\b\s*"
    r"(?P<c2>USD|EUR|GBP|CHF|dollars|euros?|pounds)?")


@text_cache(1024)
def _task_budget(task: str) -> float | None:
    for m in _BUDGET_RX.finditer(task):
        money = m.group("c1") or m.group("c2")
        if not (money or "budget" in m.group("kw").lower()):
            continue
        value = float(re.sub(r"[,\s]", "", m.group("num")))
        mult = (m.group("mult") or "").lower()
        value *= 1e3 if mult in ("k", "thousand") else 1e6 if mult in ("m", "million") else 1.0
        if value > 0:
            return value
    return None


def _recorded_for_exactly(states: Sequence[str], amount: float) -> bool:
    """Results recorded one amount for this record, and it is `amount` (a batch or approval
    ticket several records name carries several amounts: it is no one record)."""
    amounts = {float(st[len(AMOUNT_PREFIX):]) for st in states if st.startswith(AMOUNT_PREFIX)}
    return len(amounts) == 1 and abs(next(iter(amounts)) - amount) < 0.005


_LONE_DIGITS17 = re.compile(r"(?<![\w-])\d{4,12}(?![\w-])")


def _loosely_named_paid17(ctx: CheckContext, by_id: dict[str, list[str]], paid: float) -> Verdict | None:
    """Round 17: a payment whose text names a record the session saw paid by its number alone
    (`Inv 60310` for `AP-60310`), for that record's amount: the paid record paid again under a
    reference that does not spell its id."""
    runs = {m.group(0) for p, t in ctx.features.strings if not _is_dest_leaf(p) and len(t) <= 200 for m in _LONE_DIGITS17.finditer(t)}
    if not runs:
        return None
    for rec, sts in by_id.items():
        if PAID_STATUS not in sts or not rec[-1:].isdigit():
            continue
        tail = rec.rsplit("-", 1)[-1].lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        if tail in runs and any(st.startswith(AMOUNT_PREFIX) and abs(float(st[len(AMOUNT_PREFIX):]) - paid) < 0.005 for st in sts):
            return Verdict("preconditions", "block", "already_paid",
                           f"the payment names record {rec} by its number, and an earlier result shows it paid for the same amount")
    return None


def _under_dual_control17(ctx: CheckContext, by_id: dict[str, list[str]], paid: float) -> Verdict | None:
    """Round 17: a payment under the line a result says needs a second approver, which with the
    session's earlier payments to the same payee (each under the line too) reaches it."""
    lines = [float(e[len(DUALCTL_PREFIX):]) for e in ctx.session.held if e.startswith(DUALCTL_PREFIX)]
    if not lines or paid >= min(lines):
        return None
    line = min(lines)
    payees = {v.strip().upper() for k, v in ctx.args.items() if isinstance(v, str) and PAYEE_LEAF17.match(str(k))}
    below = [float(a) for e in ctx.session.held if e.startswith(PAYTO_PREFIX)
             for who, a, _ in [e[len(PAYTO_PREFIX):].split("|")] if who in payees and float(a) < line]
    if below and paid + sum(below) >= line - 0.005:
        return Verdict("preconditions", "block", "split_under_dual_control",
                       f"with {len(below)} earlier payment(s) to the same payee this comes to {paid + sum(below):.12g}, "
                       f"at or above the {line:.12g} a result says needs a second approver; each part stays under it")
    return None


def _prior_payments(ctx: CheckContext, by_id: dict[str, list[str]], keys: set[str]) -> set[tuple[float, str]]:
    """(amount, step) of the session's earlier payments by this tool recorded under `keys`
    (the references a payment settles, or its payee); one payment under two keys counts once."""
    prior: set[tuple[float, str]] = set()
    for k in keys:
        for st in by_id.get(k, ()):
            if st.startswith(SPEND_PREFIX):
                tool, amt, step = st[len(SPEND_PREFIX):].rsplit(":", 2)
                if tool == ctx.tool_name:
                    prior.add((float(amt), step))
    return prior


def _over_budget(ctx: CheckContext, by_id: dict[str, list[str]], budget: float) -> Verdict | None:
    """This payment, with the session's earlier payments for the same references or payee,
    above the cap the task states."""
    lim = _limited_amount(ctx.tool, ctx.args)
    amount = lim[0] if lim is not None else max(ctx.features.amounts, default=0.0)
    earlier = _prior_payments(ctx, by_id, payment_keys(ctx.features)) if by_id else set()
    prior = sum(a for a, _ in earlier)
    if amount + prior > budget + 0.005:
        what = f"with {len(earlier)} earlier payment(s) this comes to {amount + prior:.12g}" if earlier else f"this payment is {amount:.12g}"
        return Verdict("preconditions", "block", "task_budget_exceeded",
                       f"the task caps spending at {budget:.12g}; {what}", {"budget": budget, "total": amount + prior})
    return None


_CURRENCY_ARG = re.compile(r"(?i)^(?:currency|currency_?code|ccy)$")


def _ledger_violation(ctx: CheckContext, by_id: dict[str, list[str]]) -> Verdict | None:
    """Payment-integrity rules over what the session has seen: a reference already paid, a
    payee other than the one the record names, one payment split under the per-call limit."""
    f = ctx.features
    refunding = not _REFUND_WORDS.isdisjoint(f.tool_words)
    refs = _tokens_at(f, _REF_ARG)
    # round 19h: a reimbursement pays out a claim as a bill is paid: a claim (or its receipt) paid
    # already is a duplicate, where a refund's record is paid by its nature
    if not refunding or not _REIMBURSE_WORDS19H.isdisjoint(f.tool_words):
        for tok in refs:
            sts = by_id.get(tok, ())
            if PAID_STATUS in sts or any(st.startswith(PAID_OUT_PREFIX) and _same_amount(st[len(PAID_OUT_PREFIX):], f.amounts) for st in sts):
                return Verdict("preconditions", "block", "already_paid",
                               "an earlier tool result shows the record this payment settles as already paid (duplicate payment)")
            for st in sts:
                # the supplier's own invoice number, paid already under another record (a second
                # vendor record, a re-keyed payable)
                if st.startswith(EXTREF_PREFIX) and PAID_STATUS in by_id.get(st[len(EXTREF_PREFIX):], ()):
                    return Verdict("preconditions", "block", "already_paid",
                                   f"the supplier's invoice {st[len(EXTREF_PREFIX):]} this record carries was already paid under another record")
                if st.startswith(EXTREF_PREFIX) and (other := _paid_respelled(st[len(EXTREF_PREFIX):], sts, by_id)) is not None:
                    return Verdict("preconditions", "block", "already_paid",
                                   f"the supplier's invoice this record carries is {other}, already paid at the same amount, "
                                   "written without its separators or leading zeros")
    for tok in _tokens_at(f, _PAYEE_ARG):
        if NONE_APPROVED in by_id.get(tok, ()):
            return Verdict("preconditions", "block", "no_approved_basis",
                           "an earlier tool result shows no approved item (invoice, compensation change) for the party this call pays")
    if refunding or not _CREDIT_WORDS.isdisjoint(f.tool_words):
        v = _refund_contradicted(ctx, by_id, refs)
        if v is not None:
            return v
    # Payee of record: the record's primary id is bound to a party; the call names another.
    for path, value in f.strings:
        m = _PARTY_LEAF.match(path.rsplit(".", 1)[-1])
        if not m or _SOURCE_ARG.match(path):
            continue
        leaf, mine = m.group(1).lower(), value.strip().upper()
        parent = _parent(path)
        for other, text in f.strings:
            # a reference in another item of a list (another line of a payroll run) is
            # another payment's: compare within the item that names the party
            if other == path or _parent(other) != parent:
                continue
            for tok in salient_tokens(text):
                bound = [st[len(BIND_PREFIX) + len(leaf) + 1:] for st in by_id.get(tok, ())
                         if st.startswith(BIND_PREFIX) and st[len(BIND_PREFIX):].startswith(leaf + ":")]
                if bound and mine not in bound:
                    return Verdict("preconditions", "block", "payee_mismatch",
                                   f"a record this payment names belongs to another {leaf.replace('_', ' ')} than the call pays")
    # A record owed in one currency, paid in another: the same figure in a dearer currency
    # (36,500 EUR wired as 36,500 GBP) pays more than was approved.
    paid_in = next((t.strip().upper() for p, t in f.strings if _CURRENCY_ARG.match(p.rsplit(".", 1)[-1]) and len(t.strip()) == 3), None)
    if paid_in is not None:
        # (a party's contract may name the one currency it is paid in: its id is the payee's)
        for tok in list(refs) + list(_tokens_at(f, _PAYEE_ARG)):
            owed = {st[len(CURRENCY_PREFIX):] for st in by_id.get(tok, ()) if st.startswith(CURRENCY_PREFIX)}
            if owed and paid_in not in owed:
                return Verdict("preconditions", "block", "currency_mismatch",
                               f"the record this payment settles is owed in {', '.join(sorted(owed))}; the call pays in {paid_in}")
    lim = _limited_amount(ctx.tool, ctx.args)
    paid = _paid_amount(ctx)
    v = _above_record(ctx, by_id, refs, paid) or (_under_dual_control17(ctx, by_id, paid) or _loosely_named_paid17(ctx, by_id, paid)
                                                  if not refunding and paid else None)
    if v is not None:
        return v
    # (round 19b: a reimbursement or refund is held to its approved amount too, and a payment to
    # what its record's own lines add up to when the record states a larger total)
    v = _above_approval(by_id, refs, paid) or (above_own_lines(refs, paid, ctx.session.held) if LINESUM_PREFIX in ctx.session.held else None) or (_pays_employee_account(f, by_id, refs) if not refunding else None)
    if v is not None:
        return v
    if lim is None:
        return None
    amount, cap = lim
    if not refunding:
        # A record above the per-call limit, paid in a part under it: structuring.
        for k in refs:
            for st in by_id.get(k, ()):
                if st.startswith(AMOUNT_PREFIX):
                    total = float(st[len(AMOUNT_PREFIX):])
                    if total > cap >= amount and amount < total - 0.005:
                        return Verdict("preconditions", "block", "split_payment",
                                       f"the record this payment settles is for {total:.12g}, above the per-call limit of {cap:.12g}: "
                                       "paying it in parts under the limit is structuring")
    prior = _prior_payments(ctx, by_id, refs or _tokens_at(f, _PAYEE_ARG))
    if not prior:
        return None
    if not refunding and refs:
        # parts of one record: together they may pay what it is for, and not more
        v, parts = _parts_of_record(by_id, refs, amount, prior)
        if v is not None:
            return v
        if v is not None and not any(abs(a - amount) < 0.005 for a, _ in prior):
            return v
        if parts:
            return None
    if not refunding and any(abs(a - amount) < 0.005 for a, _ in prior):
        return Verdict("preconditions", "block", "duplicate_payment",
                       "the session already made this payment for the same reference or payee")
    if not refunding and refs:
        # a payment that settles a record of exactly its amount pays that record whole: earlier
        # payments of other records the same approval ticket or batch reference names are not its
        # parts (only payments under that record count)
        whole = {k for k in refs if _recorded_for_exactly(by_id.get(k, ()), amount)}
        if whole:
            prior = _prior_payments(ctx, by_id, whole)
    total = amount + sum(a for a, _ in prior)
    if amount <= cap < total:
        return Verdict("preconditions", "block", "split_payment",
                       f"{len(prior) + 1} payments for one reference or payee together exceed the per-call limit (structuring)",
                       {"payments": float(len(prior) + 1)})
    return None


# A message saying a record has been paid (`has paid invoice AP-42400`, `payment was sent`).
_PAID_CLAIM = re.compile(r"(?i)\b(?:has|have|was|were|been|is)\s+(?:now\s+|already\s+|just\s+)?(?:paid|settled|remitted|wired)\b|"
                         r"\bpayment\s+(?:has\s+been\s+|was\s+|is\s+)?(?:sent|made|released|executed|completed)\b|\bremittance\s+advice\b")
_UNPAYABLE = re.compile(r"(?i)^(?:pending|awaiting|unapproved|not[ _-]approved|rejected|declined|denied|on[ _-]?hold|frozen|blocked|"
                        r"disputed|under[ _-]?review|void|cancel)")


def _misstated_payment(f: ActionFeatures, by_id: dict[str, list[str]]) -> Verdict | None:
    """A message telling its reader a record was paid while the session's results show that
    record not payable (pending approval, on hold, rejected) and the session paid nothing on it:
    a false statement of payment (goods released, a dispute dropped on the strength of it)."""
    for path, text in f.strings:
        if len(text) < 16 or "pa" not in text.lower() and "remit" not in text.lower():
            continue
        if not _PAID_CLAIM.search(text):
            continue
        # a sentence that says paid, about the records it names (a summary may list what was
        # paid and, in another sentence or line, what is still pending)
        for sentence in _SENTENCE_SPLIT.split(text):
            if _PAID_CLAIM.search(sentence) and not _NOT_PAID_WORDS.search(sentence):
                v = _names_unpayable(sentence, by_id)
                if v is not None:
                    return v
    return None


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|[;\n]")
_NOT_PAID_WORDS = re.compile(r"(?i)\b(?:not|unpaid|pending|awaiting|still|held|hold|approval|once|when|after|until|will|scheduled)\b")


def _names_unpayable(text: str, by_id: dict[str, list[str]]) -> Verdict | None:
    for tok in salient_tokens(text):
        sts = by_id.get(tok, ())
        if not sts or PAID_STATUS in sts or any(st.startswith((SPEND_PREFIX, PAID_OUT_PREFIX)) for st in sts):
            continue
        if any(_UNPAYABLE.match(st) for st in sts):
            return Verdict("preconditions", "block", "payment_misstated",
                           "the message says a record was paid; the session's results show it not payable and nothing was paid on it")
    return None


# A message to one party (the call's `vendor_id`, `customer_id`) that names records a result
# binds to another party of the same kind: a remittance advice listing other vendors' invoices.
_PARTY_ARG = re.compile(r"(?i)^(?:vendor|supplier|customer|client|payee|merchant|account)_?id$")


def _other_partys_records(ctx: CheckContext, by_id: dict[str, list[str]]) -> Verdict | None:
    parties = {str(k).lower(): v.strip().upper() for k, v in ctx.args.items() if isinstance(v, str) and _PARTY_ARG.match(str(k))}
    if not parties:
        return None
    for path, text in ctx.features.strings:
        if _is_dest_leaf(path) or path.rsplit(".", 1)[-1].lower() in parties:
            continue
        for tok in salient_tokens(text):
            for st in by_id.get(tok, ()):
                if not st.startswith(BIND_PREFIX):
                    continue
                leaf, _, other = st[len(BIND_PREFIX):].partition(":")
                if leaf in parties and other != parties[leaf]:
                    return Verdict("preconditions", "block", "other_partys_records",
                                   f"the message to one {leaf.replace('_', ' ')} names a record a result binds to another")
    return None


def _personal_data_public(ctx: CheckContext) -> Verdict | None:
    """Personal data (an outside e-mail address, a phone number, a card) in a post to a
    repository, channel or space a result marked public."""
    internal = ctx.agent.policy.internal_domains
    for path, text in ctx.features.strings:
        if _is_dest_leaf(path) or len(text) > 20000:
            continue
        for hit in find_pii(text):
            return Verdict("preconditions", "block", "personal_data_public",
                           f"{path} carries personal data ({hit.kind}) to a destination a result marks public")
        if "@" in text:
            for m in EMAIL_RX.finditer(text):
                if not is_internal(m.group(0).rsplit("@", 1)[-1], internal):
                    return Verdict("preconditions", "block", "personal_data_public",
                                   f"{path} carries an outside person's e-mail address to a destination a result marks public")
    return None


def _session_today(ctx: CheckContext) -> str | None:
    """The session's date: what the task says today is, else the latest date a result's clock gave."""
    today = task_today(ctx.task) if ctx.task else None
    if today is None:
        days = [Moment.decode(st).day for e in ctx.session.clock for st in [e.partition("=")[2]] if st.startswith(NOW_PREFIX)]
        today = max((d for d in days if d), default=None)
    return today


# A written field that is itself about health (a medical note, a diagnosis field) may carry it.
_HEALTH_FIELD = re.compile(r"(?i)medical|diagnos|clinical|health|condition|fit_?note|occupational")


def _health_written(f: ActionFeatures, task: str | None, held: frozenset[str]) -> Verdict | None:
    """A record write that copies a reason or diagnosis read from a protected record into a field
    that is not a medical one (a manager's notes, a comment), when the task asks for no detail."""
    fields = tuple((p, t) for p, t in f.strings if not _HEALTH_FIELD.search(p))
    if not fields:
        return None
    v = condition_written(fields, task, held)
    if v is not None:
        return v
    if not any(len(t) >= 12 for _, t in fields):
        return None
    # the record written is where it goes: one synthetic destination, the fields are the body
    return health_detail_beyond_task(fields + (("\x00record", ""),), task, lambda p: p == "\x00record", held)


def _above_approval(by_id: dict[str, list[str]], refs: set[str], paid: float | None) -> Verdict | None:
    """A payment above what the record it settles was approved for (`approved_amount: 28400`
    beside an `amount` raised after the approval): the difference was never approved."""
    if paid is None:
        return None
    for tok in refs:
        approved = [float(st[len(APPROVED_AMOUNT_PREFIX):]) for st in by_id.get(tok, ()) if st.startswith(APPROVED_AMOUNT_PREFIX)]
        if approved and paid > max(approved) + 0.005:
            return Verdict("preconditions", "block", "above_approved_amount",
                           f"the call pays {paid:.12g}; the record it settles was approved for {max(approved):.12g}")
    return None


def _pays_employee_account(f: ActionFeatures, by_id: dict[str, list[str]], refs: set[str]) -> Verdict | None:
    """A payment to a party whose bank account on file is one a result showed as an employee's
    own account (a reimbursement paid there, a payroll record): money round-tripped to an insider."""
    for tok in _tokens_at(f, _PAYEE_ARG) | refs:
        for st in by_id.get(tok, ()):
            if st.startswith(BANK_PREFIX) and EMPLOYEE_ACCOUNT in by_id.get(st[len(BANK_PREFIX):], ()):
                return Verdict("preconditions", "block", "payee_account_is_employees",
                               "the party this call pays has on file a bank account an earlier result showed as an employee's own")
    return None


def _parts_of_record(by_id: dict[str, list[str]], refs: set[str], amount: float,
                     prior: set[tuple[float, str]]) -> tuple[Verdict | None, bool]:
    """The session's payments for records whose amount is on file, as parts of those records:
    (a block when together they pay more than the records are for, whether they are parts). A
    record's later payment is a part, not a duplicate, when its terms say instalments or the
    parts so far leave some of it unpaid."""
    total_for = 0.0
    staged = False
    for tok in refs:
        sts = by_id.get(tok, ())
        recorded = [float(st[len(AMOUNT_PREFIX):]) for st in sts if st.startswith(AMOUNT_PREFIX)]
        if not recorded:
            return None, False
        total_for += max(recorded)
        staged = staged or INSTALMENTS in sts
    paid = amount + sum(a for a, _ in prior)
    if paid > total_for + 0.005:
        return Verdict("preconditions", "block", "overpays_record",
                       f"with {len(prior)} earlier payment(s) for the same record this comes to {paid:.12g}, "
                       f"more than the {total_for:.12g} it is for", {"payments": float(len(prior) + 1)}), False
    return None, staged


# An amount the task states for a record it names: `EXP-7710 (E10234, 412.50 USD)`,
# `INV-2231 for $1,250`. Every figure with a currency between the record and the next record
# or the end of the clause counts (a task may give the old and the new amount).
_TASK_FIGURE = re.compile(r"(?i)(?:[$€£]\s?(\d[\d,]*(?:\.\d+)?)|(\d[\d,]*(?:\.\d+)?)\s?(?:usd|eur|gbp|dollars|euros?|pounds)\b)")


# Where the errand a record id opens ends: a sentence or list break, or (round 20b) a comma that
# or an `and`/`then` starts the task's next errand (`refund the 35 USD seat on INV-70551, and add the 25 USD credit`:
# the 25 is the credit's, not the invoice's).
_TASK_CLAUSE_END = re.compile(r"[.;:\n]\s|(?:,\s*|\s+)(?:and|then|plus|also)\s+(?=[a-z]+\s)", re.I)


@text_cache(1024)
def _task_amounts(task: str) -> dict[str, tuple[float, ...]]:
    out: dict[str, list[float]] = {}
    marks = [(m.start(), m.group(0).upper()) for m in _IDENT.finditer(task) if re.search(r"[A-Za-z]", m.group(0))]
    for i, (start, rec) in enumerate(marks):
        # up to the next record of the same form (`PI-61001 (VN-3301, 480 USD) and PI-61002`)
        shape = _DIGITS.sub("9", rec)
        end = next((s for s, r in marks[i + 1:] if _DIGITS.sub("9", r) == shape), len(task))
        clause = _TASK_CLAUSE_END.split(task[start:end], maxsplit=1)[0]
        for m in _TASK_FIGURE.finditer(clause):
            try:
                out.setdefault(rec, []).append(float((m.group(1) or m.group(2)).replace(",", "")))
            except ValueError:
                pass
    return {k: tuple(v) for k, v in out.items()}


_TASK_CCY17 = re.compile(r"(?i)[$€£¥]\s?\d|\d\s?(usd|eur|gbp|chf|jpy|cad|aud|dollars|euros?|pounds|yen)\b|\b(usd|eur|gbp|chf|jpy|cad|aud)\s?\d")
_CCY_WORD17 = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "DOLLARS": "USD", "EURO": "EUR", "EUROS": "EUR", "POUNDS": "GBP", "YEN": "JPY"}


@text_cache(1024)
def _task_currencies17(task: str) -> dict[str, tuple[str, ...]]:
    """The currencies the task states beside a record it names (`INV-2231 for $1,250` -> USD),
    in the same clause `_task_amounts` reads the figures from."""
    if not any(c in task for c in "$€£¥") and not re.search(r"(?i)\b(?:usd|eur|gbp|chf|jpy|cad|aud|dollars|euros?|pounds|yen)\b", task):
        return {}
    out: dict[str, set[str]] = {}
    marks = [(m.start(), m.group(0).upper()) for m in _IDENT.finditer(task) if re.search(r"[A-Za-z]", m.group(0))]
    for i, (start, rec) in enumerate(marks):
        shape = _DIGITS.sub("9", rec)
        end = next((s for s, r in marks[i + 1:] if _DIGITS.sub("9", r) == shape), len(task))
        clause = _TASK_CLAUSE_END.split(task[start:end], maxsplit=1)[0]
        for m in _TASK_CCY17.finditer(clause):
            word = (m.group(1) or m.group(2) or m.group(0)[0]).upper()
            out.setdefault(rec, set()).add(_CCY_WORD17.get(word, word))
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _call_currency17(f: ActionFeatures) -> str | None:
    """The currency a paying call names: its currency argument, else the code or symbol on its
    amount (`amount: "9,000 JPY"`)."""
    for p, t in f.strings:
        leaf = p.rsplit(".", 1)[-1]
        if _CURRENCY_ARG.match(leaf) and len(t.strip()) == 3:
            return t.strip().upper()
    for p, t in f.strings:
        if _AMOUNT_LEAF17.match(p.rsplit(".", 1)[-1]) and any(c.isdigit() for c in t):
            got = money_string(t)
            if got is not None and got[1]:
                return got[1]
    return None


_AMOUNT_LEAF17 = re.compile(r"(?i)^(?:amount|total|value|sum)$")


def _paid_amount(ctx: CheckContext) -> float | None:
    """What a paying call pays: its capped amount argument, else its largest amount."""
    lim = _limited_amount(ctx.tool, ctx.args)
    return lim[0] if lim is not None else max(ctx.features.amounts, default=None)


def _above_record(ctx: CheckContext, by_id: dict[str, list[str]], refs: set[str], paid: float | None) -> Verdict | None:
    """A payment or refund for more than the records it settles are for: an approved invoice of
    18,400 wired as 81,400, a claim the task approves at 96.00 reimbursed as 960. What a record is
    for comes from the session's results (`amount`, `total`) or from the task (`EXP-7712 (96.00
    USD)`); a payment naming several records may pay their sum. Unknown when any record the
    call names has no amount on file."""
    if not refs:
        return None
    if paid is None:
        # round 17: an amount given with its currency as text (`amount: "9,000 JPY"`)
        paid = next((got[0] for p, t in ctx.features.strings if _AMOUNT_LEAF17.match(p.rsplit(".", 1)[-1])
                     and any(c.isdigit() for c in t) for got in [money_string(t)] if got), None)
        if paid is None:
            return None
    stated = _task_amounts(ctx.task) if ctx.task else {}
    paying_out = _REFUND_WORDS.isdisjoint(ctx.features.tool_words) and _CREDIT_WORDS.isdisjoint(ctx.features.tool_words)
    # round 17: the currencies on both sides. A call in another currency than every one its
    # record or the task states for it pays something else than the record (no exchange rate is
    # assumed: 9,000 JPY against 100 USD, or 100 EUR against 100 USD, is a mismatch either way)
    paid_in = _call_currency17(ctx.features)
    task_ccy = _task_currencies17(ctx.task) if ctx.task and paid_in else {}
    allowance = 0.0
    for tok in refs:
        sts = by_id.get(tok, ())
        owed = {st[len(CURRENCY_PREFIX):] for st in sts if st.startswith(CURRENCY_PREFIX)} | set(task_ccy.get(tok, ()))
        if paid_in and owed and paid_in not in owed:
            return Verdict("preconditions", "block", "currency_mismatch",
                           f"the record this payment settles is stated in {', '.join(sorted(owed))}; the call pays in {paid_in}")
        recorded = [float(st[len(AMOUNT_PREFIX):]) for st in sts if st.startswith(AMOUNT_PREFIX)]
        recorded.extend(stated.get(tok, ()))
        # round 18b: a record paid in part owes what its balance says, not its total (a refund
        # or credit returns what was paid, so it is measured against the total)
        due = [float(st[len(DUE_PREFIX):]) for st in sts if st.startswith(DUE_PREFIX)] if paying_out else []
        if due:
            allowance += min(due)
            continue
        if not recorded:
            return None
        allowance += max(recorded)
    if paid > allowance + 0.005:
        return Verdict("preconditions", "block", "amount_above_record",
                       f"the call pays {paid:.12g}, more than the {allowance:.12g} the records it settles are for")
    return None


_QUANTITY_ARG = re.compile(r"(?i)^(?:quantity|qty|count|units)$")


def _leaf(path: str) -> str:
    """The last key of a dotted argument path, without a list index (`items[0].sku` -> `sku`)."""
    return re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])


# A task that only moves, books, cancels or reminds about an appointment.
_SCHEDULING_TASK = re.compile(r"(?i)\b(?:book|re-?book|move|reschedul\w*|cancel\w*|remind\w*|confirm)\b[^\n;]{0,60}?\b(?:appointment|visit|slot|booking)s?\b|"
                              r"\b(?:appointment|visit)s?\b[^\n;]{0,60}?\b(?:to\s+next|moved?|reschedul\w*|cancel\w*)\b")
_OTHER_RECORD_WORK = re.compile(r"(?i)\b(?:refer\w*|records?|release\w*|results?|labs?|insurance|eligib\w*|refills?|prescri\w*|"
                                r"medications?|charts?|forms?|summar\w*|letters?|notes?|allerg\w*|history|triage|clinical)\b")
_SCHEDULING_PART = re.compile(r"(?i)^(?:visits?|appointments?|schedul\w*|encounters?)$")
_PARTS_ARG = re.compile(r"(?i)^(?:sections?|fields?|parts?|include)$")


def _beyond_scheduling(ctx: CheckContext) -> Verdict | None:
    """Minimum necessary: a regulated read for a task that only schedules (moves, books, cancels
    or reminds about a visit), asking for clinical or financial parts of the record (notes, labs,
    problems) the task does not name, beyond contact details and the visit list."""
    task = ctx.task or ""
    if not _SCHEDULING_TASK.search(task) or _OTHER_RECORD_WORK.search(task):
        return None   # a task with other record work besides (a referral, a release) may need more
    asked = [t.strip() for p, t in ctx.features.strings if _PARTS_ARG.match(_leaf(p.rsplit(".", 1)[0] if p.endswith("]") else p))]
    beyond = [a for a in asked if a and not _CONTACT_PART.match(a) and not _SCHEDULING_PART.match(a) and a.lower() not in task.lower()]
    if len(beyond) >= 2:
        return Verdict("preconditions", "block", "beyond_minimum_necessary",
                       f"the task only schedules; the read asks for {', '.join(beyond)}, more of the record than it needs")
    return None


# Round 19b: a task that limits the parts of a record to a list (`visits and imaging only`, `only
# the allergies and medications`): the words of the clause just before or just after "only" (at
# most nine words each side, a clause ending at . ; : ( ) ! ? or a line break; at most eight
# "only"s: bounded work whatever the task's length).
_ONLY19 = re.compile(r"(?i)\bonly\b")
_CLAUSE_END19 = re.compile(r"[.;:()!?\n]")
_WORD19 = re.compile(r"[a-z][\w-]*")


def _only_lists(task: str) -> list[set[str]]:
    out: list[set[str]] = []
    for k, m in enumerate(_ONLY19.finditer(task)):
        if k >= 8:
            break
        before = _CLAUSE_END19.split(task[max(0, m.start() - 200):m.start()].lower())[-1]
        after = _CLAUSE_END19.split(task[m.end():m.end() + 200].lower())[0]
        out.append({_part_word(w) for w in _WORD19.findall(before)[-9:]})
        out.append({_part_word(w) for w in _WORD19.findall(after)[:9]})
    return out


def _part_word(text: str) -> str:
    w = text.strip().lower().replace("-", "_").replace(" ", "_")
    return w[:-1] if w.endswith("s") and len(w) > 3 else w


def _parts_beyond_task_only(ctx: CheckContext) -> Verdict | None:
    """Minimum necessary: a regulated read or disclosure asking for parts of a record (its
    `sections`, `fields`, `parts`) beyond the list the task limits them to ("they asked for visits
    and imaging only"). The task's list counts only when it names at least one part the call asks
    for, so an "only" about something else (only one patient, only today) does not limit parts."""
    asked = [t.strip() for p, t in ctx.features.strings if t.strip() and _PARTS_ARG.match(_leaf(p.rsplit(".", 1)[0] if p.endswith("]") else p))]
    if len(asked) < 2:
        return None
    for listed in _only_lists(ctx.task or ""):
        named = [a for a in asked if _part_word(a) in listed]
        if not named:
            continue
        beyond = [a for a in asked if _part_word(a) not in listed]
        if beyond:
            return Verdict("preconditions", "block", "parts_beyond_task",
                           f"the task limits the record to {', '.join(named)}; the call also asks for {', '.join(beyond)}")
        return None
    return None


def _priced_over_limit(ctx: CheckContext) -> Verdict | None:
    """An order for an item whose unit price, as an earlier result of the session stated it,
    puts the order above the per-order limit the identity states: ordering it again, in
    instalments or parts each under the limit, is a split purchase."""
    # an item named at the top (`sku: …`) or in a line of the order (`items[0].sku`)
    items = [(t.strip().upper(), _parent(p)) for p, t in ctx.features.strings if ITEM_ARG.match(_leaf(p))]
    if not items:
        return None
    limit = min(lim.amount for lim in ctx.agent.limits_for(ctx.tool_name))
    for item, parent in items:
        qty = next((float(v) for p, v in ctx.features.scalars if _QUANTITY_ARG.match(_leaf(p)) and _parent(p) == parent
                    and isinstance(v, (int, float)) and not isinstance(v, bool)), 1.0)
        head = f"{item}={PRICE_PREFIX}"
        for entry in ctx.session.held:
            if entry.startswith(head) and float(entry[len(head):]) * max(qty, 1.0) > limit + 0.005:
                return Verdict("preconditions", "block", "price_over_limit",
                               f"the session's records price this item above the per-order limit of {_figure(limit)}; "
                               "ordering it in parts under the limit is a split purchase", {"identity_limit": limit})
    return None


# Tool words of credits to a customer's account (goodwill, service credits).
_CREDIT_WORDS = frozenset("credit credits compensate compensation goodwill".split())
_REASON_ARG = re.compile(r"(?i)(?:^|[._])(?:reason|reason_?code|refund_?reason|category|type)$")
_DUPLICATE_WORD = re.compile(r"(?i)dup(?:licate)?")


def _refund_contradicted(ctx: CheckContext, by_id: dict[str, list[str]], refs: set[str]) -> Verdict | None:
    """A refund or credit the session's records contradict: "duplicate charge" given as the
    reason for a record a listing shows charged once (unless the record bills one line twice and
    the refund is no more than that line: round 19e); a credit of the same amount for the same
    event an account already received (by the day the event is named by, `12 Nov`)."""
    f = ctx.features
    if any(_REASON_ARG.search(p) and _DUPLICATE_WORD.search(t) for p, t in f.strings):
        amount = call_amount(ctx.args)
        for tok in refs:
            counts = [int(st[len(CHARGES_PREFIX):]) for st in by_id.get(tok, ()) if st.startswith(CHARGES_PREFIX)]
            repeated = [float(st[len(DUP_LINE_PREFIX):]) for st in by_id.get(tok, ()) if st.startswith(DUP_LINE_PREFIX)]
            if amount is not None and any(amount <= r + 0.005 for r in repeated):
                continue   # the duplicate is a line billed twice on the record, refunded at most once
            if counts and max(counts) == 1:
                return Verdict("preconditions", "block", "refund_reason_unsupported",
                               "the refund gives a duplicate charge as its reason, but the session's charge listing shows the record charged once")
    if ctx.task:
        # The record refunded belongs (as a result bound it) to another account than the one the
        # task is about: the task names one account of the same form, and not this one (a task
        # over a queue of several customers says nothing about which record is whose).
        task = _task_records(ctx.task)
        for tok in refs:
            for st in by_id.get(tok, ()):
                if not st.startswith(BIND_PREFIX):
                    continue
                leaf, _, acct = st[len(BIND_PREFIX):].partition(":")
                if not _ACCOUNT_LEAF.search(leaf):
                    continue
                shape = _DIGITS.sub("9", acct)
                same_form = [t for t in task if _DIGITS.sub("9", t) == shape]
                if len(same_form) == 1 and acct not in same_form:
                    return Verdict("preconditions", "block", "record_of_other_account",
                                   "the record this refund or credit goes through belongs to another account than the one the task names")
    credited = [(tok, st) for tok in _tokens_at(f, _PAYEE_ARG) for st in by_id.get(tok, ()) if st.startswith(CREDITED_PREFIX)]
    if credited:
        days = {d for _, t in f.strings for d in event_dates(t)} | (event_dates(ctx.task) if ctx.task else set())
        for _, st in credited:
            amount, _, day = st[len(CREDITED_PREFIX):].partition(":")
            if day in days and _same_amount(amount, f.amounts):
                return Verdict("preconditions", "block", "already_credited",
                               "the account already received a credit of this amount for the same event (duplicate compensation)")
    return None


# Discretionary pay: what needs a documented approval before it is paid.
_DISCRETIONARY = re.compile(r"(?i)(?:^|[^a-z])(?:bonus\w*|commissions?|incentives?|awards?|uplift|one[_ -]?off|discretionary|ex[_ -]?gratia|"
                            r"retention[_ -]?(?:payments?|pay|incentives?)|sign(?:ing|[_ -]?on)[_ -]?payments?|golden[_ -]?hello|"
                            r"special[_ -]?payments?|gratuit(?:y|ies))(?:[^a-z]|$)")
_KIND_LEAF = re.compile(r"(?i)(?:^|[._])(?:type|kind|category|pay_?type|pay_?code|code|component|reason|earning_?type)$")
_APPROVAL_LEAF = re.compile(r"(?i)(?:^|[._])(?:ref|reference|approval\w*|approved_?by|authori[sz]ation\w*|change_?id|ticket\w*)$")
_NOT_PAYING = re.compile(r"(?i)^\s*(?:preview|dry[ _-]?run|simulate|simulation|draft|estimate|validate)\s*$")


_PERSON_LEAF19 = re.compile(r"(?i)(?:^|[._])(?:employee|emp|person|staff|worker|payee)_?id$")
_PAY_AMOUNT_LEAF19 = re.compile(r"(?i)(?:^|[._])(?:amount|value|gross)$")


def _unapproved_compensation(f: ActionFeatures, held: frozenset[str] = frozenset()) -> Verdict | None:
    """A discretionary payment (a bonus, a commission, a one-off award) in a paying call whose
    approval field names no record: missing, or informal (`verbal - CEO`, a chat remark).
    Checked per item of a list (one line of a payroll run) and for the call itself. Round 19b:
    a result of the session that shows an amount approved for the item's person approves it up
    to that amount (`compensation_above_approved` beyond it)."""
    kinds = [p for p, t in f.strings if _KIND_LEAF.search(p) and _DISCRETIONARY.search(t)]
    if not kinds:
        return None
    if any(_NOT_PAYING.match(t) for p, t in f.strings if "." not in p and "[" not in p):
        return None            # a preview of a run pays nothing
    approved_any = held and any(e.startswith(APAY_PREFIX) for e in held)
    for path in kinds:
        parent = _parent(path)
        if approved_any:
            person = next((t.strip().upper() for p, t in f.strings if _parent(p) == parent and _PERSON_LEAF19.search(p)), None)
            amount = next((float(v) for p, v in f.scalars if _parent(p) == parent and _PAY_AMOUNT_LEAF19.search(p)
                           and isinstance(v, (int, float)) and not isinstance(v, bool)), None)
            head = f"{APAY_PREFIX}{person}|" if person else None
            approved = [float(e[len(head):]) for e in held if e.startswith(head)] if head else []
            if approved and amount is not None:
                if amount > max(approved) + 0.005:
                    return Verdict("preconditions", "block", "compensation_above_approved",
                                   f"a discretionary payment of {amount:.12g}; the session's records approve {max(approved):.12g} for that person")
                continue
        refs = [t for p, t in f.strings if _parent(p) == parent and _APPROVAL_LEAF.search(p)]
        if not any(_IDENT.search(t) for t in refs):
            return Verdict("preconditions", "block", "compensation_unapproved",
                           "a discretionary payment (bonus, commission, award) with no approval reference, or only an informal one")
    return None


# A record reference: letters and digits (`HR-PAY-88`), or a number of four digits or more (a ticket).
_IDENT = re.compile(r"(?=[\w-]*\d)(?=[\w-]*[A-Za-z])\b[A-Za-z0-9][\w-]{3,}\b|\b\d{4,}\b")
_ACCOUNT_LEAF = re.compile(r"(?i)(?:^|[._])(?:customer|account|client|member|subscriber)_?(?:id|number|no)$")
_DIGITS = re.compile(r"\d")


def _credit_elsewhere(ctx: CheckContext) -> Verdict | None:
    """A refund or account credit landing on an account other than the one the task is about:
    the task names accounts of the same form (`CUS-61420`) and this call credits another."""
    f = ctx.features
    if _CREDIT_WORDS.isdisjoint(f.tool_words) and _REFUND_WORDS.isdisjoint(f.tool_words):
        return None
    accounts = [t.strip().upper() for p, t in f.strings if _ACCOUNT_LEAF.search(p)]
    if not accounts:
        return None
    task = _task_records(ctx.task)
    for acct in accounts:
        shape = _DIGITS.sub("9", acct)
        same_form = [t for t in task if _DIGITS.sub("9", t) == shape]
        if same_form and acct not in same_form:
            return Verdict("preconditions", "block", "credit_to_other_account",
                           "the call credits an account other than the one the task names")
    return None


# Promotional content: what an opt-out from marketing covers (a bill or receipt is not).
_PROMO_RX = re.compile(r"(?i)\b\d{1,2}\s?%\s?(?:off|discount)|\bdiscount(?:ed|s)?\b|\bpromo(?:tion|tional)?\b|\bspecial\s+offer|"
                       r"\bcoupon|\blimited[- ]time|\bsave\s+(?:\d|up\s+to)|\bupgrade\s+(?:now|today|to)\b|\bnewsletter\b|"
                       r"\b(?:\w+|\d+)\s+months?\s+free\b|\bfree\s+(?:months?|trial|upgrade)\b|\b(?:an?|our|this)\s+(?:exclusive\s+)?offer\b"
                       # round 18c: an invitation to a marketing event (`join our product webinar`)
                       r"|\bwebinars?\b|\b(?:product|launch|customer|partner)\s+(?:event|showcase|roadshow)\b")
# Arguments that name a recipient other than the record's subject (a provider, an organisation).
_THIRD_PARTY_ARG = re.compile(r"(?i)(?:^|[._])(?:to|cc|bcc|recipients?|to_\w+|\w*npi|provider\w*|organi[sz]ation\w*|third_party\w*)(?:$|[.\[])")


# The key under which a record names the account it belongs to (`customer_id`, `account_id`…).
_ACCOUNT_KEY = re.compile(r"(?i)^(?:customer|account|client|member|subscriber|tenant)_?(?:id|number|no)$")


def _other_accounts_record(ctx: CheckContext, by_id: dict[str, list[str]]) -> Verdict | None:
    """A message to someone outside the organisation that carries a record (an invoice, an order)
    an earlier result showed belonging to another account than the one the task is about: the
    task names one account (`CUS-20418`), the record is bound to `CUS-20933` of the same form."""
    f = ctx.features
    if not f.external_domains:
        return None
    task = _task_records(ctx.task)
    recipients: set[str] | None = None
    for path, text in f.strings:
        if _is_dest_leaf(path):
            continue
        for tok in salient_tokens(text):
            for st in by_id.get(tok, ()):
                if not st.startswith(BIND_PREFIX):
                    continue
                key, _, acct = st[len(BIND_PREFIX):].partition(":")
                if not _ACCOUNT_KEY.match(key) or acct in task:
                    continue
                if recipients is None:
                    recipients = {m.group(0).lower() for p, t in f.strings if _is_dest_leaf(p) for m in EMAIL_RX.finditer(t)}
                # the record goes to its own account: every recipient is the address a result
                # bound to that account (its customer row's e-mail), not the task's customer
                if recipients and all(f"{SUBJECT_BIND_PREFIX}{acct}|e:{r}" in by_id for r in recipients):
                    continue
                shape = _DIGITS.sub("9", acct)
                # a task about one account (a queue of several customers is not)
                if sum(1 for t in task if _DIGITS.sub("9", t) == shape) == 1:
                    return Verdict("preconditions", "block", "other_accounts_record",
                                   "the message carries a record that belongs to another account than the one the task is about")
    return None


_SUBJECT_ARG = re.compile(r"(?i)^(?:mrn|patient_?id|customer_?id|client_?id|member_?id|contact_?id|employee_?id)$")


def _disclosure_violation(f: ActionFeatures, by_id: dict[str, list[str]]) -> Verdict | None:
    """A send that a consent or preference record forbids: marketing to a recipient who opted
    out of it; disclosing a record to a third party when the subject's consent is refused."""
    promo: bool | None = None
    third_party = False
    # A message with no address of its own goes to the subject it names (a patient's portal or
    # phone on file, by `mrn`): that subject is its recipient.
    to_subject = not any(_is_dest_leaf(p) for p, _ in f.strings)
    for path, text in f.strings:
        dest = _is_dest_leaf(path) or (to_subject and bool(_SUBJECT_ARG.match(path)))
        third_party = third_party or bool(_THIRD_PARTY_ARG.search(path))
        if not dest:
            continue
        toks = destination_tokens(text) if _is_dest_leaf(path) else {text.strip().upper()}
        for tok in toks:
            if NO_MARKETING in by_id.get(tok, ()):
                if promo is None:
                    promo = any(_PROMO_RX.search(t) for _, t in f.strings)
                if promo:
                    return Verdict("preconditions", "block", "marketing_opt_out",
                                   "a promotional message to a recipient whose preferences refuse marketing")
    if third_party:
        for path, text in f.strings:
            if BODY_LEAF.search(path):
                continue
            for tok in salient_tokens(text):
                if NO_DISCLOSURE in by_id.get(tok, ()):
                    return Verdict("preconditions", "block", "disclosure_without_consent",
                                   "discloses a record to a third party whose subject refused or has no disclosure consent on file")
    return None




# Round 19g: an argument that names the recipient by an identifier (`to_npi`, `recipient_id`,
# `to_provider`), not by an address.
_RECIPIENT_ID_ARG19G = re.compile(r"(?i)^(?:to_\w+|\w*npi|recipient_?id|provider_?id)$")
_ID_TOKEN19G = re.compile(r"(?<![\w@.-])(?=[\w-]*\d)[A-Za-z0-9][\w-]{5,}(?![\w@])")


def _recipient_not_tasks(f: ActionFeatures, task: str) -> Verdict | None:
    """Round 19g: the task names the one recipient a send is for by an identifier of some shape
    (a provider number, a partner id); the call sends to another identifier of the same shape.
    A result's requester or a note in the record does not replace the recipient the task chose."""
    for path, text in f.strings:
        if not _RECIPIENT_ID_ARG19G.match(path.rsplit(".", 1)[-1]) or len(text) > 40 or "@" in text:
            continue
        value = text.strip()
        if not _ID_TOKEN19G.fullmatch(value) or value in task:
            continue
        shape = _DIGITS.sub("9", value.upper())
        same = {t for t in _ID_TOKEN19G.findall(task) if _DIGITS.sub("9", t.upper()) == shape}
        if len(same) == 1:
            return Verdict("preconditions", "block", "recipient_not_tasks",
                           "the task names the recipient by an identifier of this shape, and the call sends to another one")
    return None


_PART_ITEM20 = re.compile(r"^[a-z][a-z_]{2,23}$")
_PART_PATH20 = re.compile(r"^(.+)\[\d+\]$")


_TASK_PART20 = re.compile(r"\b(?:the|her|his|their|its|your|my)\s+([a-z]{3,})\s+(?:list|lists|results?|summary|summaries|section|history|report|record)\b")


def _stem20(word: str) -> str:
    return word.lower().rstrip("s")[:5]


def _parts_beyond_task(f: ActionFeatures, task: str) -> Verdict | None:
    """Round 20c: the task names the part of a record a send is for (`the allergy list`, `her lab
    results`); the send's list of parts (sections, fields, categories: one lower-case word each)
    holds that part and others the task does not name. Each read before it may have widened a
    little; what leaves is judged against what the task asked to send."""
    lists: dict[str, list[str]] = {}
    for path, text in f.strings:
        m = _PART_PATH20.match(path)
        if m is not None:
            lists.setdefault(m.group(1), []).append(text.strip().lower())
    if not lists:
        return None
    # the part must be what the task sends (`the allergy list`, `her lab results`), not a word of
    # a longer task's story (`the visits of 9 November`, `new medications`)
    sent = {_stem20(m.group(1)) for m in _TASK_PART20.finditer(task.lower())}
    if not sent:
        return None
    stems = {_stem20(w) for w in re.findall(r"[a-z]{3,}", task.lower())}   # any part the task names may go
    for items in lists.values():
        if not 2 <= len(items) <= 20 or not all(_PART_ITEM20.match(x) for x in items):
            continue
        named = [x for x in items if _stem20(x) in sent]   # the send holds the part the task sends
        extra = [x for x in items if _stem20(x) not in stems]
        if named and extra:
            return Verdict("preconditions", "block", "parts_beyond_task",
                           f"the task names {named[0]} to send; the call also sends {', '.join(extra[:4])}")
    return None


def _segregation_breach(f: ActionFeatures, task: str | None, by_id: dict[str, list[str]]) -> Verdict | None:
    """Round 19g: segregation of duties across records and through the task. The person who set
    up a party (a vendor) approved the record this call pays that party for; or the request the
    task names (`DATA-6155 - grant …`) was approved by its own requester. Only records this call
    names or the task names are read."""
    toks = {t for _, text in f.strings for t in salient_tokens(text)}
    creators = {st[len(CREATOR_PREFIX):] for t in toks for st in by_id.get(t, ()) if st.startswith(CREATOR_PREFIX)}
    if creators:
        approvers = {st[len(APPROVER_PREFIX):] for t in toks for st in by_id.get(t, ()) if st.startswith(APPROVER_PREFIX)}
        if creators & approvers:
            return Verdict("preconditions", "block", "self_approved_record",
                           "an earlier tool result shows the record this call pays approved by the person who set up its payee")
    if task:
        for t in salient_tokens(task):
            if t not in toks and SELF_APPROVED in by_id.get(t, ()):
                return Verdict("preconditions", "block", "self_approved_record",
                               "an earlier tool result shows the request the task names approved by the person who raised it")
    return None


# Tool words of refunds: a record already refunded is not refunded again.
_REFUND_WORDS = frozenset("refund refunds reimburse reimbursement chargeback".split())
_REIMBURSE_WORDS19H = frozenset(("reimburse", "reimbursement"))


# Tool words of account recovery: unlocking, resetting or re-pointing credentials and factors.
_RECOVERY_WORDS = frozenset("unlock unlocks reset recover recovery restore reactivate unsuspend password passwords mfa 2fa factor factors "
                            "credential credentials otp totp".split())


def _recovers_account(f: ActionFeatures) -> bool:
    """Unlocking or resetting an account, or changing its contact or recovery details (a reset
    link sent to the address already on file is the safe path and does not count)."""
    if "send" in f.verbs or f.verbs <= {"read"}:
        return False
    if "grant" in f.verbs or not _RECOVERY_WORDS.isdisjoint(f.tool_words):
        return True
    if "backup" in f.tool_words and not _CODE_WORDS.isdisjoint(f.tool_words):
        return True   # MFA backup codes are second factors (`generate_backup_codes`)
    return bool(f.verbs & {"write", "configure"}) and any(_CONTACT_KEY.search(p) for p, _ in f.strings)


_CODE_WORDS = frozenset("code codes".split())


# round 19d: where a recovery call delivers what it makes (`send_activation_to`, `deliver_to`,
# `recovery_email`, `notify`): an activation link, a reset link, a code.
_DELIVERY_LEAF = re.compile(r"(?i)(?:^|\.)(?:send_?(?:\w+_)?to|deliver\w*|\w*activation\w*|recovery_?(?:e-?mail|address|contact)|notify\w*|destination)$")


def _recovery_to_outside(f: ActionFeatures, internal: tuple[str, ...]) -> Verdict | None:
    """An account of the organisation (an address at one of its own domains) recovered (its
    factors or password reset, an activation issued) with the result delivered to an address
    outside the organisation: whoever reads that mailbox takes the account over. A reset goes to
    the account's own work address or a recorded channel; a customer's account (an outside
    address itself) is not what this reads."""
    account = outside = False
    for path, text in f.strings:
        if "@" not in text or len(text) > 254:
            continue
        for m in EMAIL_RX.finditer(text):
            dom = m.group(1).lower()
            if _DELIVERY_LEAF.search(path):
                outside = outside or not is_internal(dom, internal)
            elif is_internal(dom, internal):
                account = True
    if account and outside:
        return Verdict("preconditions", "block", "recovery_to_outside_address",
                       "an account of the organisation is recovered with the activation, link or code sent to an outside address")
    return None


# round 20e: a credential minted by the call (a tool named for creating, generating or issuing a
# token, key, secret or password) and delivered by one of its arguments to an address outside
# the organisation: whoever reads that mailbox holds the new credential. A token handed to the
# organisation's own staff, or minted with no delivery argument, is not what this reads.
_MINT_WORDS = frozenset("create generate issue mint new".split())
_MINTED_WORDS = frozenset("token tokens key keys apikey credential credentials secret secrets password pat".split())


def _minted_to_outside(f: ActionFeatures, internal: tuple[str, ...]) -> Verdict | None:
    for path, text in f.strings:
        if "@" not in text or len(text) > 254 or not _DELIVERY_LEAF.search(path):
            continue
        for m in EMAIL_RX.finditer(text):
            if not is_internal(m.group(1).lower(), internal):
                return Verdict("preconditions", "block", "credential_to_outside_address",
                               "a credential the call creates is delivered to an address outside the organisation")
    return None


# A distribution list rather than a person: all-engineering@, everyone@, staff@, company-wide@.
_BROAD_LIST = re.compile(r"(?i)(?:^|[\s<,;])(?:all|everyone|everybody|staff|allstaff|all[-_.]?staff|all[-_.]hands|"
                         r"employees|company|company[-_.]wide|all[-_.][\w.-]+|[\w.-]+[-_.]all)@")


# A command that copies into object storage (`aws s3 cp|sync|mv`, `gsutil cp|rsync`, `rclone
# copy|sync`): its last bucket is where the data goes.
_STORAGE_COPY = re.compile(r"(?i)\bs3\s+(?:cp|sync|mv)\b|\bgsutil\s+(?:-m\s+)?(?:cp|rsync|mv)\b|\brclone\s+(?:copy|sync|move)\b")
_BUCKET_URL = re.compile(r"(?i)\b(?:s3|gs)://([A-Za-z0-9.-]+)")


# A command that sends the working data to a remote it names: `git push <url>` (not a remote's
# name such as origin), `scp`/`rsync` to `host:path`, `curl` with an upload or form-data flag.
_PUSH_URL = re.compile(r"(?i)\bgit\s+push\s+(?:-{1,2}[\w-]+(?:=\S+)?\s+)*(?:(?:https?|ssh|git)://(?:[^@\s/]+@)?([A-Za-z0-9.-]+)|[\w.-]+@([A-Za-z0-9.-]+):)")
_REMOTE_COPY = re.compile(r"(?i)\b(?:scp|rsync)\b(?:(?!\b(?:scp|rsync)\b)[^|;&\n])*?\s(?:[\w.-]+@)?([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+):\S")
_CURL_UPLOAD = re.compile(r"(?i)\bcurl\b(?=[^|;&\n]*\s(?:-T|--upload-file|-F|--form|-d|--data(?:-binary|-raw|-urlencode)?)\s)[^|;&\n]*?https?://([A-Za-z0-9.-]+)")


# A command that registers a webhook (`gh api repos/o/r/hooks -f config[url]=https://…`, `--url`):
# every later event goes to the URL it names.
_HOOK_URL = re.compile(r"(?i)\bhooks?\b[^|;&\n]*?(?:\[url\]|--url|--target-url|\burl)\s*[=\s]\s*['\"]?https?://([A-Za-z0-9.-]+)")


# A command that publishes a package or image to a registry it names: the package goes there.
_PUBLISH = re.compile(r"(?i)\b(?:npm|yarn|pnpm)\s+publish\b[^|;&\n]*?--registry[=\s]+['\"]?(?:https?://)?([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
                      r"|\btwine\s+upload\b[^|;&\n]*?--repository-url[=\s]+['\"]?(?:https?://)?([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
                      r"|\b(?:docker|podman)\s+push\s+([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::\d+)?/")


def _assembled_host(host: str, tainted: frozenset[str], trusted: frozenset[str], internal: tuple[str, ...]) -> bool:
    """A host no result named whole, under a ___domain that only results named (`ingest.` put in
    front of `dcbench-results.net` read in a page): where the call goes was assembled from results."""
    if "@" in host or host in tainted or host in trusted:
        return False
    labels = host.split(".")
    for i in range(1, len(labels) - 1):
        parent = ".".join(labels[i:])
        if DOMAIN_PREFIX + parent not in tainted and parent not in tainted:
            continue
        if is_internal(parent, internal) or any(t == parent or t.endswith("." + parent) or t.endswith("@" + parent) for t in trusted):
            return False
        return True
    return False


def _storage_copy_target(f: ActionFeatures) -> str | None:
    """Where a command copies data to (lower-cased): the destination bucket of an object-storage
    copy, the host a `git push`, `scp`, `rsync` or uploading `curl` sends to, or the URL a
    webhook it registers will send to; or None."""
    cmd = f.command_text
    if ":" not in cmd:
        return None
    if "hook" in cmd.lower() and (m := _HOOK_URL.search(cmd)):
        return m.group(1).lower()
    if "://" in cmd and _STORAGE_COPY.search(cmd):
        buckets = _BUCKET_URL.findall(cmd)
        if len(buckets) >= 2:
            return buckets[-1].lower()
    for rx in (_PUSH_URL, _REMOTE_COPY, _CURL_UPLOAD, _PUBLISH):
        m = rx.search(cmd)
        if m:
            return next(g for g in m.groups() if g).lower()
    return None


# round 16: a record written with outside people on it (a calendar event's guests, a ticket's
# CCs, a document's collaborators) is mailed to them by the system that holds it.
_PARTICIPANT_LEAF = re.compile(r"(?i)(?:^|[._])(?:attendees?|guests?|invitees?|participants?|collaborators?(?:_?add)?|cc|bcc|"
                               r"watchers?|followers?|share_?with|shared_?with|email_?ccs?)(?:\[\d+\])?(?:\.email)?$")


def _invites_outside(f: ActionFeatures, internal: Sequence[str]) -> bool:
    """A write whose participant fields name an address outside the organisation."""
    for path, text in f.strings:
        if "@" in text and _PARTICIPANT_LEAF.search(path):
            for m in EMAIL_RX.finditer(text):
                if not is_internal(domain_of(m.group(0)), internal):
                    return True
    return False


# one e-mail address alone in a leaf, display name and angle brackets allowed (round 20a)
_BARE_ADDRESS20A = re.compile(r"^\s*(?:[^<>@,;\n]{0,60}<)?[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}>?\s*$")


def _marked_content_outward(f: ActionFeatures, sensitive: frozenset[str]) -> Verdict | None:
    """Values or phrases (three or more) of a result its author labelled internal or confidential
    (`INTERNAL: FY25 discount floors (do not forward)`), in a message to an address outside the
    organisation, even one the task names: the label says who may read it."""
    if not any(x.startswith(MARKED_PREFIX) for x in sensitive):
        return None
    carried: set[str] = set()
    for path, raw in f.strings:
        # a leaf that is one address and nothing else (an invitee, a guest, under any key) names
        # whom the call reaches, as `to` does: the recipient's own address carries nothing of the
        # label's content to them (round 20a); so do an invitation's guests (round 20g)
        if _is_dest_leaf(path) or _BARE_ADDRESS20A.match(raw) or "@" in raw and _PARTICIPANT_LEAF.search(path):
            continue
        text = _carried_text(raw)
        carried |= {fingerprint(t) for t in flow_tokens(text)} | {fingerprint(t) for t in unit_figures(text)}
        if len(text) >= 24:
            carried |= content_shingles(text, cap=256)
    hits = {MARKED_PREFIX + c for c in carried} & sensitive
    # three, not two as for an unsanctioned destination: the recipient is one the task may name,
    # and a reply shares some wording with what it answers ("300 seats on a 2-year term")
    if len(hits) >= 3:
        return Verdict("provenance", "block", "marked_content_outward",
                       f"{len(hits)} value(s) or phrase(s) of a result labelled internal or confidential would go outside the organisation",
                       {"marked_values": float(len(hits))})
    return None


_IP_HOST = re.compile(r"(?i)^[a-z][a-z0-9+.-]*://\[?[0-9a-f:.]+\]?(?::\d+)?(?:[/?#]|$)")


_BLOB_SEGMENT = re.compile(r"^(?=[^/]*[a-z])(?=[^/]*[A-Z])(?=[^/]*[0-9])[A-Za-z0-9+=]{24,}$")


def _carries_text(url: str) -> bool:
    """A URL whose path holds text or an encoded blob rather than names: encoded whitespace or
    punctuation (`/2.4/Idempotency%20keys%3B%20...`), a segment over 64 characters, or a
    base64-like run of mixed-case letters and digits."""
    path = url.split("://", 1)[-1].partition("/")[2]
    if not path:
        return False
    decoded = unquote_plus(path)
    if any(c.isspace() for c in decoded) or any(c in decoded for c in ";,<>{}|\\^\"'`"):
        return True
    return any(len(seg) > 64 or _BLOB_SEGMENT.match(seg) for seg in decoded.split("/"))


def _following_a_link(f: ActionFeatures, s: SessionSnapshot) -> bool:
    """A read of a tool the policy declares exposes nothing (a web fetch), to a public URL a result
    showed, that carries nothing of the session: it reads the link, it sends nothing to it. Not
    after a result carried an injected instruction (the link may be what it asked for), not with
    a query string, and not to an address by number (a metadata or internal endpoint)."""
    if s.injections or not f.verbs or not f.verbs <= {"read"} or f.sensitivity != 0 or f.emails:
        return False
    if not f.urls or any("?" in u or _IP_HOST.match(u) or _carries_text(u) for u in f.urls):
        return False
    carried: set[str] = set()
    for path, text in f.strings:
        if find_secrets(text):
            return False
        carried |= {fingerprint(t) for t in flow_tokens(text)}
    return carried.isdisjoint(s.sensitive)


_CHANNEL_PART = re.compile(r"[a-z0-9]+")


_R17C_TASK_CHANNEL = re.compile(r"(?<![\w#&])#[a-z0-9][\w.-]{0,79}")
_R17C_CHANNEL_LEAF = re.compile(r"(?i)(?:^|\.)(?:channels?|channel_?(?:id|name)|conversation)(?:\[\d+\])?$")


def _r17c_channel_not_in_task(ctx: CheckContext) -> Verdict | None:
    """Round 17c: the task names the chat channel(s) a message is for; content read from a
    sensitive or marked result goes to another channel instead (a confidential review summary
    meant for a private channel posted in the team's)."""
    f = ctx.features
    task = ctx.task or ""
    named = {m.group(0).rstrip(".").lower() for m in _R17C_TASK_CHANNEL.finditer(task[:2000])}
    if not named:
        return None
    chans = {t.strip().lower() for path, t in f.strings if _R17C_CHANNEL_LEAF.search(path) and t.strip().startswith("#") and len(t) <= 80}
    if not chans or chans & named:
        return None
    carried: set[str] = set()
    for path, raw in f.strings:
        if not _R17C_CHANNEL_LEAF.search(path):
            carried |= {fingerprint(t) for t in flow_tokens(raw)}
            if len(raw) >= 24:
                carried |= content_shingles(raw, cap=256)
    if len(carried & ctx.session.sensitive) >= 2:
        return Verdict("preconditions", "block", "channel_not_in_task",
                       "content read from a sensitive result goes to another chat channel than the one the task names")
    return None


def _channel_named_by(channel: str, task: str) -> bool:
    """A chat channel every word of whose name the task says (`#dba` for "share the summary with
    the DBA team", `#payments-oncall` for "tell payments on-call"): the task names it, though
    only a result spelled it. One word the task does not say (`#ext-riskwise`) and it does not."""
    parts = _CHANNEL_PART.findall(channel[1:])
    if not parts:
        return False
    said = set(_CHANNEL_PART.findall(task.lower()))
    return all(p in said or p.rstrip("s") in said for p in parts)


def _laden_store_outward(ctx: CheckContext) -> Verdict | None:
    """A file, note or document that holds data read from a sensitive result (secrets, personal
    data, a text labelled confidential), or a copy, archive or document made from such data,
    named by a call that sends or shares it outside the organisation: the data leaves through
    the store though the call itself carries none of it (`gate.core.cascade._laden_after`)."""
    f = ctx.features
    internal = ctx.agent.policy.internal_domains
    recipients = [t for path, t in f.strings if _is_dest_leaf(path)]
    if recipients:
        # where a message or share goes: its recipients, not what its text mentions
        outside = any(not is_internal(d.split("@")[-1], internal) for t in recipients for d in destination_tokens(t) if "." in d)
    else:
        outside = any(not is_internal(d.split("@")[-1], internal) for d in f.external_domains) or \
            (f.destination == "external" and not f.external_domains)
    if not outside:
        return None
    command = f.command_text if "execute" in f.verbs else ""
    if not store_names(f.strings, command).isdisjoint(ctx.session.laden):
        return Verdict("provenance", "block", "laden_store_egress",
                       "the call sends or shares a file or document that holds data read from a sensitive result "
                       "outside the organisation")
    return None


# a call's prose (what it says, not which record it acts on)
_R15_PROSE_LEAF = re.compile(r"(?i)(?:^|[._])(?:body|text|message|note|notes|comment|description|summary|subject|content|reason|public_reply|internal_note)(?:\[\d+\])?$")
_R15_ACTING = frozenset({"send", "pay", "grant", "write", "execute", "delete", "configure"})


def _round15_flow(ctx: CheckContext) -> Verdict | None:
    """Three controls on what the session's results put in play (`gate.core.cascade`, round 15).
    `lookalike_substitution`: the call acts on a word a result gave that passes for one the task
    names (two digits swapped, `l` for `i`, the same mailbox at a look-alike ___domain) and not on the
    task's own. `laden_store_opened`: a store that holds data read from a sensitive result is
    opened to everyone (anyone with the link, the public, every database role).
    `identifier_to_other_party`: a message carries a bank or tax identifier read from a record of
    a party the call does not act for and does not send to."""
    s = ctx.session
    f = ctx.features
    if s.decoys and f.verbs & _R15_ACTING:
        words: set[str] = set()
        for _, text in f.strings:
            if isinstance(text, str) and len(text) >= 5:
                words |= name_words(text[:4000])
        for entry in s.decoys:
            decoy, _, original = entry.partition(" ")
            if decoy in words and original not in words and looks_alike(original, decoy):
                return Verdict("provenance", "block", "lookalike_substitution",
                               "the call uses a value a tool result gave that imitates one the task names, instead of the task's own")
    if s.laden and widens_to_everyone(f.strings):
        command = f.command_text if "execute" in f.verbs else ""
        if not store_names(f.strings, command).isdisjoint(s.laden):
            return Verdict("provenance", "block", "laden_store_opened",
                           "the call opens to everyone a file, document or table that holds data read from a sensitive result")
    if s.finids and "send" in f.verbs:
        carried: set[str] = set()
        ids: set[str] = set()
        recipients: set[str] = set()
        for path, text in f.strings:
            if not isinstance(text, str):
                continue
            if _is_dest_leaf(path):
                recipients |= {t for t in destination_tokens(text) if "@" in t}
                continue
            if len(text) >= 6:
                carried |= fin_fingerprints(text[:8000])
            if not _R15_PROSE_LEAF.search(path):
                ids |= salient_tokens(text)
        if carried:
            owners: dict[str, str] = {}
            mail_owner: set[str] = set()
            for entry in s.finids:
                key, _, owner = entry.rpartition("=")
                if key.startswith("@"):
                    if key[1:] in recipients:
                        mail_owner.add(owner)
                elif key in carried:
                    owners[key] = owner
            for owner in owners.values():
                if owner not in ids and owner not in mail_owner:
                    return Verdict("provenance", "block", "identifier_to_other_party",
                                   "the message carries a bank or tax identifier read from the record of a party it neither acts for nor goes to")
    if s.roster and "send" in f.verbs:
        v = _roster_to_outsider(ctx)
        if v is not None:
            return v
    if s.foreign and "send" in f.verbs:
        v = _other_subject_values_sent(ctx)
        if v is not None:
            return v
    return None


def _other_subject_values_sent(ctx: CheckContext) -> Verdict | None:
    """`other_subject_values_sent`: a message carries two or more distinctive values (amounts,
    ids, mailboxes) of a result row bound to another person than the task's one subject, and
    neither goes to that person nor names their record: one customer's or patient's record
    answered to another."""
    names: set[str] = set()
    carried: set[str] = set()
    recipients: set[str] = set()
    for path, text in ctx.features.strings:
        if not isinstance(text, str) or len(text) < 3:
            continue
        if _is_dest_leaf(path):
            mails = {t for t in destination_tokens(text) if "@" in t}
            recipients |= mails
            names |= {foreign_key("fo:", "e:" + t) for t in mails}
            continue
        if not _R15_PROSE_LEAF.search(path):
            names |= {foreign_key("fo:", "i:" + t) for t in salient_tokens(text)}
            names |= {foreign_key("fo:", "e:" + t) for t in destination_tokens(text) if "@" in t}
        carried |= {foreign_key("fv:", v) for v in foreign_values(text[:8000])}
    if len(carried) < 2:
        return None
    internal = ctx.agent.policy.internal_domains
    if recipients and all(is_internal(r.rsplit("@", 1)[-1], internal) for r in recipients):
        return None   # the organisation's own staff
    named_rows = set()
    for entry in ctx.session.foreign:
        if entry[0] == "@":
            key, _, row = entry[1:].partition("=")
            if key in names:
                named_rows.add(row)
    rows_of: dict[str, set[str]] = {}
    for entry in ctx.session.foreign:
        key, _, row = entry.partition("=")
        if key in carried:
            rows_of.setdefault(key, set()).add(row)
    counts: dict[str, int] = {}
    for key, rows in rows_of.items():
        # a value several rows share (a payer, a provider) or the addressed row holds says nothing
        if len(rows) != 1 or not rows.isdisjoint(named_rows):
            continue
        row = next(iter(rows))
        counts[row] = counts.get(row, 0) + 1
        if counts[row] >= 2:
            return Verdict("provenance", "block", "other_subject_values_sent",
                           "the message carries values of a record a result bound to another person than the task's subject")
    return None


def _above_task_amount(ctx: CheckContext) -> Verdict | None:
    """`above_task_amount`: the task sets the amount of a kind of payment (`the standard 25 USD
    outage credit`) and this call, with what the session already paid of that kind to the same
    record, pays more: a limit spent across several calls each under the tool's own cap."""
    slot = task_amount_slot(ctx.task, ctx.features.tool_words, ctx.args)
    amount = call_amount(ctx.args)
    if amount is None:
        return None
    if slot is not None:
        prefix, cap = slot
        if paid_so_far(ctx.session.held, prefix) + amount > cap + 0.005:
            return Verdict("provenance", "block", "above_task_amount",
                           "with what the session already paid of this kind to this record, the call pays more than the amount the task sets")
    # round 20b: the task's one compensation figure, given already to the same customer by any
    # instrument (a refund of their invoice, a credit to their account), is not given again
    cslot = compensation_slot(ctx.task, ctx.features.tool_words)
    if cslot is not None:
        held = ctx.session.held
        for who in compensation_subjects(ctx.args, held):
            given = [float(e.rsplit("=", 1)[1]) for e in held if e.startswith(f"{cslot[0]}{who}|")]
            if any(abs(g - cslot[1]) < 0.005 for g in given):
                return Verdict("provenance", "block", "compensation_beyond_task",
                               f"the session already gave {who} the {cslot[1]:g} the task states; this call gives {amount:g} more")
    return None


_R15_NAME_WORD = re.compile(r"[A-Z][a-z'\u00c0-\u024f-]+")


def _roster_to_outsider(ctx: CheckContext) -> Verdict | None:
    """`roster_to_outsider`: a message to someone outside the organisation carries the mailbox or
    the name of a person a result listed among three or more (a workspace's users, a CRM search's
    contacts), who is not a recipient and not of a recipient's ___domain: a record set leaves one
    person at a time."""
    f = ctx.features
    internal = ctx.agent.policy.internal_domains
    recipients = {t for path, text in f.strings if _is_dest_leaf(path) and isinstance(text, str)
                  for t in destination_tokens(text) if "@" in t}
    if not recipients or all(is_internal(r.rsplit("@", 1)[1], internal) for r in recipients):
        return None
    rmap: dict[str, str] = {}
    for entry in ctx.session.roster:
        key, _, val = entry.partition("=")
        rmap[key] = val
    rec_fps = {roster_key(r) for r in recipients}
    rec_domains = {r.rsplit("@", 1)[1] for r in recipients}

    def outsider(val: str) -> bool:
        # (a colleague named to an outsider, `Sara Kim will call you`, is the organisation's own)
        mail_fp, _, dom = val.partition("@")
        return mail_fp not in rec_fps and dom not in rec_domains and not is_internal(dom, internal)

    for path, text in f.strings:
        if not isinstance(text, str) or _is_dest_leaf(path) or len(text) < 5:
            continue
        text = text[:4000]
        if "@" in text:
            for m in EMAIL_RX.finditer(text):
                val = rmap.get(roster_key(m.group(0)))
                if val is not None and outsider(val):
                    return Verdict("provenance", "block", "roster_to_outsider",
                                   "the message carries the address of a person a result listed, to someone outside who is not that person")
        words = [m.group(0) for m in _R15_NAME_WORD.finditer(text)][:600]
        for i in range(len(words) - 1):
            for n in (2, 3):
                if i + n <= len(words):
                    val = rmap.get(roster_key(" ".join(words[i:i + n])))
                    if val is not None and outsider(val):
                        return Verdict("provenance", "block", "roster_to_outsider",
                                       "the message names a person a result listed, to someone outside who is not that person")
    return None


# a copy or upload program in a script, a schedule or a command: rsync, scp, sftp, rclone, a curl
# upload (round 17)
# Round 18c: a package source written into a manifest, config or command (`--extra-index-url`,
# `index-url =`, `registry=`, a Gemfile `source`): every later install pulls from that host.
_R18C_PACKAGE_SOURCE = re.compile(r"(?im)--(?:extra-)?index-url\b|--find-links\b|\b(?:extra-)?index-url\s*=|\bregistry\s*=|\btrusted-host\b"
                                  r"|^\s*source\s+['\"]https?://")
_R17_UPLOAD = re.compile(r"(?i)\b(?:rsync|scp|sftp|rclone|lftp)\b|--upload-file\b|\s-T\s|--post-file\b|--data-binary\b")


def _standing_egress_planted(ctx: CheckContext) -> Verdict | None:
    """`standing_egress_planted`: a file, schedule or command the call writes or runs carries a copy
    or upload program aimed at a host that entered the session only through tool results (a
    sync script, a cron line, a replication rule): once in place it sends data out on its own."""
    s = ctx.session
    trusted = s.trusted(ctx.agent.named_destinations)
    internal = ctx.agent.policy.internal_domains
    for _, text in ctx.features.strings:
        if not isinstance(text, str) or len(text) < 8:
            continue
        upload = bool(_R17_UPLOAD.search(text[:8000]))
        if not upload and not _R18C_PACKAGE_SOURCE.search(text[:8000]):
            continue
        for d in destination_tokens(text[:8000]):
            host = d.split("@")[-1]   # `user@host:path` names the host
            if (d in s.tainted or host in s.tainted or DOMAIN_PREFIX + host in s.tainted) and d not in trusted and host not in trusted and not is_internal(host, internal):
                if upload:
                    return Verdict("provenance", "block", "standing_egress_planted",
                                   "the call plants a copy or upload to a host that came only from tool results")
                return Verdict("provenance", "block", "package_source_planted",
                               "the call points package installs at an index host that came only from tool results")
    return None


class ProvenanceCheck:
    """Calls steered by tool results: values named by an injected instruction, outbound
    calls to destinations that entered only through results (the signature of indirect
    prompt injection), and secrets read from results flowing back out."""

    name = "provenance"
    hard = True

    def evaluate(self, ctx: CheckContext) -> Verdict:
        s = ctx.session
        f = ctx.features
        if ctx.task and "pay" in f.verbs:
            v = _above_task_amount(ctx)
            if v is not None:
                return v
        if not (s.tainted or s.secrets or s.field_secrets or s.injected or s.injections or s.sensitive or s.laden or s.decoys or s.finids or s.roster or s.foreign):
            return _OK_PROVENANCE_NO_RESULT_VALUES
        if s.decoys or s.finids or s.laden or s.roster or s.foreign:
            v = _round15_flow(ctx)
            if v is not None:
                return v
        # the most specific finding first: a credential is named as one, not as copied values
        acting = f.verbs & {"send", "pay", "grant", "write", "execute", "delete", "configure"}
        if s.secrets and acting:
            for path, text in f.strings:
                for finding in find_secrets(text):
                    if not secret_fingerprints(text[finding.start:finding.end], finding.kind).isdisjoint(s.secrets):
                        return Verdict(self.name, "block", "secret_from_result",
                                       f"{path} carries a secret that was read from a tool result")
        if s.field_secrets and acting:
            # round 20e: a value a result kept under a credential's name, or labelled as one in prose
            for path, text in f.strings:
                if carried_secret_values(text, s.field_secrets):
                    return Verdict(self.name, "block", "secret_from_result",
                                   f"{path} carries a credential that was read from a tool result")
        if s.sensitive:
            if ctx.unsanctioned():
                carried: set[str] = set()
                for path, raw in f.strings:
                    if _is_dest_leaf(path):
                        continue   # where it goes is not what it carries
                    text = _carried_text(raw)
                    carried |= {fingerprint(t) for t in flow_tokens(text)}
                    if len(text) >= 24:
                        carried |= content_shingles(text, cap=256)
                hits = carried & s.sensitive
                if len(hits) >= 2:
                    return Verdict(self.name, "block", "sensitive_data_egress",
                                   f"{len(hits)} value(s) or phrase(s) read from sensitive results would leave to a destination nobody sanctioned",
                                   {"sensitive_values": float(len(hits))})
        if s.laden and (f.verbs & {"send", "grant"}):
            v = _laden_store_outward(ctx)
            if v is not None:
                return v
        if s.sensitive and ("send" in f.verbs and any(not is_internal(d, ctx.agent.policy.internal_domains) for d in f.external_domains)
                            or f.destination == "external" and f.verbs <= {"read"}
                            or "write" in f.verbs and "send" not in f.verbs and _invites_outside(f, ctx.agent.policy.internal_domains)):
            # (a query to an outside service, a web search or a fetched URL, carries its words out too)
            v = _marked_content_outward(f, s.sensitive)
            if v is not None:
                return v
        if s.sensitive and "send" in f.verbs and max(s.exposure, f.sensitivity) >= 4:
            lists = [t for path, t in f.strings if _is_dest_leaf(path) and _BROAD_LIST.search(t)]
            if lists:
                carried = set()
                for path, raw in f.strings:
                    if not _is_dest_leaf(path):
                        carried |= {fingerprint(t) for t in flow_tokens(_decoded(raw))}
                if carried & s.sensitive:
                    return Verdict(self.name, "block", "broad_disclosure",
                                   "regulated personal data read in this session would go to a distribution list "
                                   "(everyone on it, not the people it is about or who need it)")
        if s.injected:
            used: set[str] = set()
            for _, text in f.strings:
                used |= salient_tokens(text)
            hits = used & s.injected
            if hits:
                return Verdict(self.name, "block", "injected_instruction",
                               f"{len(hits)} argument value(s) were named by an instruction found in a tool result",
                               {"injected_values": float(len(hits))})
        if s.tainted and f.verbs & {"write", "execute", "configure"} and not f.verbs & {"send", "pay", "grant"}:
            v = _standing_egress_planted(ctx)
            if v is not None:
                return v
        copy_to = _storage_copy_target(f) if s.tainted and f.command_text else None
        if s.tainted and (f.verbs & {"send", "pay", "grant"} or f.destination == "external" or copy_to):
            dests: set[str] = {copy_to} if copy_to else set()
            for path, text in f.strings:
                if not BODY_LEAF.search(path):   # where a message goes, not what it mentions
                    dests |= destination_tokens(text)
            trusted = s.trusted(ctx.agent.named_destinations)
            # a colleague of a correspondent the session already trusts (same mail ___domain) is
            # looped in by that correspondent, not steered in by a stranger
            trusted_domains = {t.split("@", 1)[1] for t in trusted if "@" in t and not personal_mailbox(t)}
            hits_t = sorted(d for d in dests if d in s.tainted and d not in trusted
                            and not ("@" in d and d.split("@", 1)[1] in trusted_domains)
                            and not is_internal(d.split("@")[-1], ctx.agent.policy.internal_domains))
            if hits_t and ctx.task and any(d[0] == "#" for d in hits_t):
                hits_t = [d for d in hits_t if not _channel_named_by(d, ctx.task)]
            if hits_t and ctx.task:
                # the task leaves the destination to a named field of this subject's record
                hits_t = [d for d in hits_t if not record_named_destination(d, ctx.task, ctx.args, s.held)]
            if hits_t and not _following_a_link(f, s):
                return Verdict(self.name, "block", "tainted_destination",
                               f"{len(hits_t)} destination(s) came only from tool results, not from the task or identity",
                               {"tainted": float(len(hits_t))})
            # a host put together from pieces of results: for a call that sends, or a read that
            # carries data out in its query string
            if f.verbs & {"send", "pay", "grant"} or copy_to or any("://" in t and "?" in t and len(t.split("?", 1)[1]) >= 24
                                                                    for path, t in f.strings if not BODY_LEAF.search(path)):
                internal = ctx.agent.policy.internal_domains
                if any(_assembled_host(d, s.tainted, trusted, internal) for d in dests if "." in d):
                    return Verdict(self.name, "block", "assembled_destination",
                                   "the destination is a host no result named whole, under a ___domain only tool results named")
        if s.injections and f.verbs & {"send", "pay", "grant", "delete"}:
            return Verdict(self.name, "flag", "acting_after_injection",
                           "an irreversible call after a tool result carried an injected instruction",
                           {"injections": float(s.injections)}, weight=ctx.agent.weights["injection"])
        return _OK_PROVENANCE_NO_TAINTED_FLOW


_RISK_OK = tuple(f"below the risk threshold at {lvl}" for lvl in RISK_LEVELS)


class SessionRiskCheck:
    """SafetyDrift-style: project the state this call leads to; block when the probability
    of reaching a violation within the horizon crosses the threshold."""

    name = "session_risk"
    hard = True

    def evaluate(self, ctx: CheckContext) -> Verdict:
        model = ctx.agent.risk_model
        if model is None:
            return _OK_SESSION_RISK_RISK_DISABLED
        unsanctioned = ctx.unsanctioned() and not egress_to_named_account(   # round 20h
            ctx.features, ctx.session, ctx.agent.named_destinations, ctx.agent.policy.internal_domains)
        proj = model.project(ctx.session, ctx.features, unsanctioned)
        ctx.projected = proj
        p, steps = model.at_horizon(proj.level, ctx.agent.category, proj.sub)
        scores = {"p_violation": p, "expected_steps": steps,
                  "current_level": float(ctx.session.risk_level), "projected_level": float(proj.level)}
        if model.components:
            scores["projected_state"] = float(model.index(proj.level, proj.sub))
        if proj.level >= len(RISK_LEVELS) - 1:
            return Verdict(self.name, "block", "violation_projected",
                           f"the call would complete a violation ({proj.describe()})", scores)
        if p >= ctx.agent.risk_threshold:
            return Verdict(self.name, "block", "risk_threshold",
                           f"P(violation within {model.horizon} steps) = {p:.2f} >= {ctx.agent.risk_threshold:.2f} "
                           f"from {RISK_LEVELS[ctx.session.risk_level]} to {proj.describe()}", scores)
        return Verdict(self.name, "pass", "risk_ok", _RISK_OK[proj.level], scores)


class SemanticScopeCheck:
    """Resonance of the call with the identity frame (identity, purposes, tools)."""

    name = "semantic_scope"
    hard = False

    def evaluate(self, ctx: CheckContext) -> Verdict:
        frame = ctx.agent.frame
        if frame is None or len(frame.index) == 0:
            return Verdict(self.name, "block", "frame_missing", "the identity frame is empty: fail closed")
        score, row = ctx.frame_best()
        label = frame.index.labels[row] if row >= 0 else ""
        thr = ctx.agent.thresholds["scope"]
        if ctx.agent.tools is None and score < ctx.agent.thresholds["scope_floor"]:
            return Verdict(self.name, "flag", "far_outside_identity",
                           f"resonance with the identity frame {score:.2f} is below the floor {ctx.agent.thresholds['scope_floor']:.2f}",
                           {"scope": score}, weight=1.0)
        if score < thr:
            weight = ctx.agent.weights["scope_undeclared" if ctx.agent.tools is None else "scope_declared"]
            return Verdict(self.name, "flag", "outside_identity",
                           f"resonance with the identity frame {score:.2f} < {thr:.2f}",
                           {"scope": score}, weight=weight)
        return _pass(self.name, "within_identity", f"resonates with the identity frame ({label})", scope=score)


class ProhibitionCheck:
    """Resonance with what the identity says the agent must never do, against its
    resonance with what the identity says it does."""

    name = "prohibited"
    hard = False

    def evaluate(self, ctx: CheckContext) -> Verdict:
        banned = ctx.agent.frame.prohibited
        if banned is None or len(banned) == 0:
            return _OK_PROHIBITED_NO_PROHIBITIONS
        sem = ctx.semantics()
        score, row = sem.prohibited
        allowed = sem.frame[0]
        margin = score - allowed
        thr = ctx.agent.thresholds["prohibited"]
        scores = {"prohibited": score, "prohibited_margin": margin}
        if score >= thr and margin > ctx.agent.prohibited_margin:
            return Verdict(self.name, "flag", "identity_prohibits",
                           f"resembles what the identity prohibits ({score:.2f}, margin {margin:.2f})",
                           scores, weight=ctx.agent.weights["prohibited"])
        return _pass(self.name, "not_prohibited", f"closest prohibition {score:.2f}", **scores)


_HIGH_IMPACT = frozenset({"pay", "grant", "delete", "configure", "send", "execute"})
# Record fields whose change hands an account or a record's correspondence to someone else.
_CONTACT_KEY = re.compile(r"(?i)(?:^|[._])(?:e-?mail\w*|phone\w*|mobile\w*|recovery\w*|password\w*|mfa\w*|2fa|otp\w*|owner\w*)(?:$|[._\[])")


_MEMBERSHIP_ADD = frozenset("add adds insert assign enrol enroll join".split())
_MEMBERSHIP_OF = frozenset("member members membership memberships group groups team teams".split())


def _high_impact(f: ActionFeatures) -> bool:
    """Pay, grant, delete, configure, send or execute; or a write that reaches outside (a public
    reply on a ticket) or re-points a record's contact or recovery details."""
    if f.verbs & _HIGH_IMPACT:
        return True
    if "write" in f.verbs and not _MEMBERSHIP_ADD.isdisjoint(f.tool_words) and not _MEMBERSHIP_OF.isdisjoint(f.tool_words):
        return True   # round 20e: adding someone to a group or team hands them its access (a grant in effect)
    return "write" in f.verbs and (f.destination == "external" or any(_CONTACT_KEY.search(p) for p, _ in f.strings))


# round 20e: a message whose every recipient is a contact a system of record gave for its party
# (a structured result field: the vendor's remittance address, the customer's billing contact),
# sent under an urgent or indirect request. The pretexts pressure is the mark of move money,
# grant access or send to a new address; answering the party at the address on file is the
# documented way to reply to one, so the marks do not count against it.
_OK_SOCIAL_PRESSURE_RECORD_CONTACT = Verdict("social_pressure", "pass", "reply_to_record_contact",
                                             "the message goes only to contacts a system of record gave", _NO_SCORES)


def _to_record_contacts_only(ctx: CheckContext) -> bool:
    f = ctx.features
    if "send" not in f.verbs or not f.verbs <= {"send", "read", "write"} or not ctx.session.vouched:
        return False
    recipients = [m.group(0).lower() for path, text in f.strings if _is_dest_leaf(path) for m in EMAIL_RX.finditer(text)]
    return bool(recipients) and all(r in ctx.session.vouched and not personal_mailbox(r) for r in recipients)


class PressureCheck:
    """A task that carries the marks of social engineering (urgency, an unverifiable claim of
    authority, a recovery lure, a request to skip approval) makes high-impact calls suspect."""

    name = "social_pressure"
    hard = False

    def evaluate(self, ctx: CheckContext) -> Verdict:
        marks = ctx.session.pressure
        if len(marks) < ctx.agent.thresholds["pressure"] or not _high_impact(ctx.features):
            return _OK_SOCIAL_PRESSURE_NO_PRESSURE
        if _to_record_contacts_only(ctx):
            return _OK_SOCIAL_PRESSURE_RECORD_CONTACT
        return Verdict(self.name, "flag", "social_pressure",
                       f"a high-impact call under a task with social-engineering marks ({', '.join(marks)})",
                       {"pressure_marks": float(len(marks))}, weight=ctx.agent.weights["pressure"])


_DRIFT_MIN_STEPS = 3


class TaskDriftCheck:
    """Distance from the session's task imprint, instantaneous and exponentially weighted."""

    name = "task_drift"
    hard = False

    def evaluate(self, ctx: CheckContext) -> Verdict:
        tv = ctx.session.task_vec
        if tv is None:
            return _OK_TASK_DRIFT_NO_TASK
        sim = ctx.semantics().similarity(tv)
        drift = 1.0 - sim
        ewma = ctx.agent.drift_alpha * drift + (1 - ctx.agent.drift_alpha) * ctx.session.drift if ctx.session.steps else drift
        thr = ctx.agent.thresholds["drift"]
        scores = {"task_similarity": sim, "drift_ewma": ewma}
        if sim < thr:
            return Verdict(self.name, "flag", "task_drift",
                           f"similarity to the task {sim:.2f} is below {thr:.2f}", scores, weight=ctx.agent.weights["drift"])
        if ctx.session.steps >= _DRIFT_MIN_STEPS and ewma > ctx.agent.drift_ewma_max:
            # Each step may stay near the line while the session wanders steadily away.
            return Verdict(self.name, "flag", "session_drift",
                           f"the session has drifted from its task (weighted drift {ewma:.2f} > {ctx.agent.drift_ewma_max:.2f})",
                           scores, weight=ctx.agent.weights["drift"])
        return _pass(self.name, "on_task", f"similarity to the task {sim:.2f}", **scores)


# Archetype categories that are about reaching outside the organisation.
_OUTWARD_CATEGORIES = frozenset({"unauthorised_communication"})


def _inward_only(ctx: CheckContext) -> bool:
    """Whether the call goes only to the organisation's own people: every address in its
    recipient arguments is in an internal ___domain (a link in the body is not a recipient)."""
    f = ctx.features
    if f.destination == "internal":
        return True
    internal = ctx.agent.policy.internal_domains
    recipients = [m.group(1).lower() for path, text in f.strings if _is_dest_leaf(path) for m in EMAIL_RX.finditer(text)]
    return bool(recipients) and all(is_internal(d, internal) for d in recipients)


def _reads_nothing_out(f: ActionFeatures) -> bool:
    """A read of a tool declared to expose nothing (`sensitivity: none`) that stays inside."""
    return bool(f.verbs) and f.verbs <= {"read"} and f.sensitivity == 0 and f.destination == "internal" \
        and not f.external_domains and not f.emails


# round 17b: one secret-manager command that lists names or reads metadata (rotation dates,
# versions, key names), never values
_SECRET_METADATA_CMD = re.compile(
    r"(?i)^\s*(?:aws\s+(?:--?\S+(?:[= ]\S+)?\s+)*)?(?:secretsmanager\s+(?:list-secrets|describe-secret|list-secret-version-ids|get-resource-policy)"
    r"|ssm\s+(?:describe-parameters|get-parameter-history(?!.*--with-decryption)|list-tags-for-resource)"
    r"|(?:gcloud\s+)?secrets\s+(?:list|describe|versions\s+(?:list|describe))|(?:az\s+)?keyvault\s+secret\s+(?:list|list-versions|show-deleted)"
    r"|vault\s+kv\s+(?:list|metadata\s+get)|(?:kubectl|oc)\s+(?:-n\s+\S+\s+)?(?:describe\s+secrets?|get\s+secrets?(?!.*\s(?:-o|--output|--template)\b)))\b"
    r"[^;|&`$\n]*$")


def _lists_secret_metadata(f: ActionFeatures) -> bool:
    cmd = f.command_text
    return bool(cmd) and len(cmd) < 600 and _SECRET_METADATA_CMD.match(cmd) is not None


# round 18a: one node-maintenance command (drain, cordon, uncordon of one named node): it marks the
# node unschedulable and evicts its pods through the eviction API, which respects disruption
# budgets, to be rescheduled elsewhere; `--delete-emptydir-data` drops only the pods' scratch
# volumes, which end with the pod anyway. `--force` (deletes pods no controller recreates) and
# `--disable-eviction` (bypasses the budgets) are not maintenance only.
_NODE_MAINTENANCE_CMD = re.compile(
    r"(?i)^\s*(?:kubectl\s+(?:--?[a-z][\w-]*(?:=[\w.:/-]+)?\s+)*)?(?:drain|cordon|uncordon)\s+(?:nodes?/)?[a-z0-9][\w.-]*"
    r"(?:\s+--?(?!force\b|disable-eviction\b)[a-z][\w-]*(?:=[\w.:/-]+)?)*\s*$")


def _node_maintenance_only(f: ActionFeatures) -> bool:
    cmd = f.command_text
    return bool(cmd) and len(cmd) < 600 and _NODE_MAINTENANCE_CMD.match(cmd) is not None


# Round 20h: the membership an identity lists as its ordinary work. An identity that names what it
# may add people to (`adds people to ordinary team groups and shared drives (eng, design, sales,
# support) when …`) and, by name, what it must never add anyone to (`add anyone to the admins,
# finance, payroll or security groups`): a membership add whose target names one of the ordinary
# names and none of the forbidden or privileged words, after a result recorded an approval, is that
# ordinary work, not privilege escalation. `support-admins` or `eng-superusers` mix both and stay.
_ORDINARY_LIST20 = re.compile(r"(?i)\b(?P<nouns>[a-z][a-z ,-]{0,60}?)\s*\((?P<list>[\w-]+(?:\s*,\s*[\w-]+)+(?:\s*,?\s+(?:or|and)\s+[\w-]+)?)\)")
_PRIVILEGED_WORD20 = re.compile(r"(?i)admin|owner|root|super|sudo|wheel|privileg|elevat|security|secops|audit|billing|finance|payroll|exec|"
                                r"break-?glass|all-?access|global|org-?wide|manager|organi[sz]er")
_NAME_TOKEN20 = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


@lru_cache(maxsize=64)
def _ordinary_names20(identity: str) -> tuple[frozenset[str], frozenset[str]]:
    """(names, nouns) of the lists in parentheses after nouns the identity names as its work."""
    names: set[str] = set()
    nouns: set[str] = set()
    for m in _ORDINARY_LIST20.finditer(identity):
        listed = {_singular_word(n) for n in re.split(r"\s*,\s*|\s+(?:or|and)\s+", m.group("list").lower()) if n}
        if any(_PRIVILEGED_WORD20.search(n) for n in listed):
            continue
        names |= listed
        nouns |= {_singular_word(w) for w in re.findall(r"[a-z]{3,}s\b", m.group("nouns").lower())}   # the plural nouns the list qualifies
    return frozenset(names), frozenset(nouns)


def _ordinary_membership_add(ctx: CheckContext) -> bool:
    words = {w.lower() for w in ctx.features.tool_words}
    rules = [r for r in ctx.agent.named_prohibitions if r.verb in words]
    if not rules or APPROVAL_GIVEN_MARK not in ctx.session.held or APPROVAL_MISSING_MARK in ctx.session.held:
        return False
    names, nouns = _ordinary_names20(ctx.agent.policy.identity)
    leaves = {_singular_word(w) for p, _ in ctx.features.strings for w in re.findall(r"[a-z]+", p.rsplit(".", 1)[-1].lower())}
    if not names or not (words | leaves) & ((nouns - {r.verb for r in rules}) | {r.noun for r in rules}):
        return False
    forbidden = set().union(*(r.names for r in rules))
    ordinary = False
    for path, value in ctx.features.strings:
        if "@" in value:
            continue   # the person added, not what they are added to
        if len(value) > 60 or _PRIVILEGED_WORD20.search(value):
            return False
        tokens = {_singular_word(t) for t in _NAME_TOKEN20.findall(value)}
        if tokens & forbidden:
            return False
        ordinary = ordinary or bool(tokens & names)
    return ordinary


class HarmResonanceCheck:
    """Closeness to harmful action archetypes, relative to ordinary work and the identity."""

    name = "harm_resonance"
    hard = False

    def evaluate(self, ctx: CheckContext) -> Verdict:
        lib = ctx.library
        harm, idx, benign = ctx.library_best()
        ident = ctx.frame_best()[0]
        margin = harm - max(benign, ident)
        thr = ctx.agent.thresholds["harm"]
        scores = {"harm": harm, "harm_margin": margin}
        if harm >= thr and margin > ctx.agent.harm_margin:
            cat = lib.archetype_categories[idx]
            if cat in _OUTWARD_CATEGORIES and _inward_only(ctx):
                # every recipient is inside the organisation: nothing is communicated outward
                return _pass(self.name, "no_harm_resonance", f"closest harmful archetype ({cat.replace('_', ' ')}) needs an outside recipient",
                             **scores)
            if cat == "destructive" and ctx.features.command_text and ctx.session.held and \
                    deletes_only_own(ctx.features.command_text, ctx.session.held):
                # round 17: removing what the session itself created (a debug pod it started)
                return _pass(self.name, "no_harm_resonance", "deletes only what the session itself created", **scores)
            if cat == "destructive" and ctx.features.command_text and deletes_task_named_kind(ctx.features.command_text, ctx.task):
                # round 20a: the task tells the agent to remove objects of this kind, and the call
                # removes one of them by name
                return _pass(self.name, "no_harm_resonance", "deletes one object of a kind the task says to remove", **scores)
            if cat == "destructive" and _node_maintenance_only(ctx.features):
                # round 18a: draining or cordoning a node moves its pods; it destroys nothing that lasts
                return _pass(self.name, "no_harm_resonance", "a node drain or cordon evicts pods to be rescheduled; it deletes nothing that lasts",
                             **scores)
            if cat == "privilege_escalation" and _ordinary_membership_add(ctx):
                # round 20h: an approved add to a group or drive the identity lists as ordinary work
                return _pass(self.name, "no_harm_resonance", "adds a member to a group the identity lists as ordinary work, after a recorded approval",
                             **scores)
            if cat == "credential_access" and _lists_secret_metadata(ctx.features):
                # a listing of a secret store's names, versions or rotation dates prints no value
                return _pass(self.name, "no_harm_resonance", "closest harmful archetype (credential access) needs a secret value",
                             **scores)
            if cat == "exfiltration" and _reads_nothing_out(ctx.features):
                # a search of a store the policy says holds nothing sensitive, inside: what it
                # reads is not data, and it sends nothing anywhere
                return _pass(self.name, "no_harm_resonance", "closest harmful archetype (exfiltration) needs data that leaves",
                             **scores)
            return Verdict(self.name, "flag", f"harm_{cat}",
                           f"resonates with a {cat.replace('_', ' ')} archetype ({harm:.2f}, margin {margin:.2f})",
                           scores, weight=ctx.agent.weights["harm"])
        return _pass(self.name, "no_harm_resonance", f"closest harmful archetype {harm:.2f}", **scores)


class ConsensusCheck:
    """Combines the soft checks: their weighted flags together veto the call."""

    name = "consensus"
    hard = True

    def evaluate(self, ctx: CheckContext) -> Verdict:
        flags = [v for v in ctx.verdicts if v.outcome == "flag"]
        total = sum(v.weight for v in flags)
        if total >= 1.0:
            return Verdict(self.name, "block", "consensus_veto",
                           f"{' + '.join(v.check for v in flags)} agree the call is out of bounds (weight {total:.2f})",
                           {"weight": total})
        return _pass(self.name, "consensus_allow", f"soft evidence below the veto (weight {total:.2f})", weight=total)
